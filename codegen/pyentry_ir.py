"""The LLVM IR of the native entries that take Python objects (codegen/pyentry.py says what
they do and holds what they need at run time)."""

from __future__ import annotations

from llvmlite import ir

from hyc.ir import FuncOp
from hyc.ir.types import DYNAMIC, Type, numpy_dtype, shape_of

from .pyentry import ARRAY, C_API, C_CONTIGUOUS, DTYPE_ORDER, TABLE, TABLE_SYMBOL, TUPLE_ITEMS, WRITEABLE

I8P = ir.PointerType(ir.IntType(8))
I64 = ir.IntType(64)
I32 = ir.IntType(32)
ENTRY = ir.FunctionType(I32, [I8P, I8P, ir.PointerType(I64)])


def emit_entry(module: ir.Module, func: FuncOp, packed: ir.Function, name: str) -> None:
    """The entry: every array checked (the results too, which may be a caller's ``out=``:
    writeable, and sharing no memory with another array of the call), its words packed."""
    fn = ir.Function(module, ENTRY, name)
    args, results, table = fn.args
    entry = fn.append_basic_block("entry")
    slow = fn.append_basic_block("slow")
    b = ir.IRBuilder(entry)
    types: list[Type] = [*func.type.inputs, *func.type.results]
    words = b.alloca(I64, ir.Constant(I64, sum(1 + len(shape_of(t)) for t in types)))
    named: dict[str, ir.Value] = {}
    extents: list[tuple[ir.Value, ir.Value]] = []  # each array's bytes: [start, end)
    offset = 0
    for i, t in enumerate(types):
        is_input = i < len(func.type.inputs)
        tuple_ = args if is_input else results
        index = i if is_input else i - len(func.type.inputs)
        obj = b.load(b.bitcast(b.gep(tuple_, [ir.Constant(I64, TUPLE_ITEMS + 8 * index)]),
                               ir.PointerType(I8P)))
        field = _fields(b, obj)
        _require(b, b.icmp_signed("==", field("type", I64), b.load(table)), slow)
        dtype = numpy_dtype(t)
        expected = b.load(b.gep(table, [ir.Constant(I64, 1 + DTYPE_ORDER.index(dtype.type))]))
        _require(b, b.icmp_signed("==", field("descr", I64), expected), slow)
        wanted = C_CONTIGUOUS | (0 if is_input else WRITEABLE)
        flags = b.and_(field("flags", I32), ir.Constant(I32, wanted))
        _require(b, b.icmp_signed("==", flags, ir.Constant(I32, wanted)), slow)
        _require(b, b.icmp_signed("==", field("nd", I32), ir.Constant(I32, len(shape_of(t)))),
                 slow)
        dims = b.inttoptr(field("dims", I64), ir.PointerType(I64))
        data = field("data", I64)
        b.store(data, b.gep(words, [ir.Constant(I64, offset)]))
        nbytes: ir.Value = ir.Constant(I64, dtype.itemsize)
        for axis, d in enumerate(shape_of(t)):
            size = b.load(b.gep(dims, [ir.Constant(I64, axis)]))
            nbytes = b.mul(nbytes, size)
            if isinstance(d, int):
                _require(b, b.icmp_signed("==", size, ir.Constant(I64, d)), slow)
            elif d != DYNAMIC:  # a result's names are all bound by the arguments
                if d in named:
                    _require(b, b.icmp_signed("==", size, named[d]), slow)
                else:
                    named[d] = size
            b.store(size, b.gep(words, [ir.Constant(I64, offset + 1 + axis)]))
        end = b.add(data, nbytes)
        if not is_input:  # results are computed in place: numpy's rule for out= overlaps
            for start_other, end_other in extents:
                overlap = b.and_(b.icmp_unsigned("<", data, end_other),
                                 b.icmp_unsigned("<", start_other, end))
                _require(b, b.not_(overlap), slow)
        extents.append((data, end))
        offset += 1 + len(shape_of(t))
    b.ret(b.call(packed, [words]))
    ir.IRBuilder(slow).ret(ir.Constant(I32, -1))
    _emit_builtin(module, fn, name[: -len("_entry")] + "_py")


def _emit_builtin(module: ir.Module, entry: ir.Function, name: str) -> None:
    """``NAME_py(self, (args, results))``: the entry, without the GIL, its status an int."""
    table_type = ir.ArrayType(I64, len(TABLE))
    table = module.globals.get(TABLE_SYMBOL) or ir.GlobalVariable(module, table_type, TABLE_SYMBOL)
    fn = ir.Function(module, ir.FunctionType(I8P, [I8P, I8P]), name)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    pair = fn.args[1]
    items = [b.load(b.bitcast(b.gep(pair, [ir.Constant(I64, TUPLE_ITEMS + 8 * i)]),
                              ir.PointerType(I8P))) for i in (0, 1)]
    first = b.gep(table, [ir.Constant(I32, 0), ir.Constant(I32, 0)])

    def c_api(function: str, type_: ir.FunctionType) -> ir.Value:
        index = 1 + len(DTYPE_ORDER) + C_API.index(function)
        slot = b.gep(table, [ir.Constant(I32, 0), ir.Constant(I32, index)])
        return b.inttoptr(b.load(slot), ir.PointerType(type_))

    saved = b.call(c_api("PyEval_SaveThread", ir.FunctionType(I8P, [])), [])
    status = b.call(entry, [*items, first])
    b.call(c_api("PyEval_RestoreThread", ir.FunctionType(ir.VoidType(), [I8P])), [saved])
    b.ret(b.call(c_api("PyLong_FromLong", ir.FunctionType(I8P, [I64])), [b.sext(status, I64)]))


def _fields(b: ir.IRBuilder, obj: ir.Value):
    def field(name: str, t: ir.IntType) -> ir.Value:
        return b.load(b.bitcast(b.gep(obj, [ir.Constant(I64, ARRAY[name])]), ir.PointerType(t)))
    return field


def _require(b: ir.IRBuilder, condition: ir.Value, otherwise: ir.Block) -> None:
    ok = b.append_basic_block("ok")
    b.cbranch(condition, ok, otherwise)
    b.position_at_end(ok)
