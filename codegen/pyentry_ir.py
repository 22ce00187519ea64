"""The LLVM IR of the native entries that take Python objects (codegen/pyentry.py says what
they do and holds what they need at run time).

An entry's checks are the runtime's ``hyc_check_arrays``, driven by a constant table that
describes the function's arrays; an entry is then a few instructions, where checks spelled
out per array were a fifth of a model's LLVM work (the MLP's seven arrays: 480 lines of IR).
The table, per array: the index of its dtype in ``DTYPE_ORDER``, its element's bytes, its
rank, then a word per axis: a size it must have (>= 0), ``FREE`` (any), or ``-2 - w``: equal
to word ``w`` of the packed words (an earlier array's size of the same name).
"""

from __future__ import annotations

from llvmlite import ir

from hyc.ir import FuncOp
from hyc.ir.types import DYNAMIC, numpy_dtype, shape_of

from .lowering import count_loop
from .pyentry import ARRAY, C_API, C_CONTIGUOUS, DTYPE_ORDER, TABLE, TABLE_SYMBOL, TUPLE_ITEMS, WRITEABLE
from .symbols import CHECK_ARRAYS

I8P = ir.PointerType(ir.IntType(8))
I64 = ir.IntType(64)
I64P = ir.PointerType(I64)
I32 = ir.IntType(32)
ENTRY = ir.FunctionType(I32, [I8P, I8P, I64P])
# i32 hyc_check_arrays(args, results, table, descriptor, words): 0, or -1 for the careful path
CHECK = ir.FunctionType(I32, [I8P, I8P, I64P, I64P, I64P])
FREE = -1


def descriptor(func: FuncOp) -> list[int]:
    """The table ``hyc_check_arrays`` checks ``func``'s arrays against: the count of arrays
    and of arguments, then each array's words (the module docstring)."""
    types = [*func.type.inputs, *func.type.results]
    words = [len(types), len(func.type.inputs)]
    named: dict[str, int] = {}  # a size's name -> its word among the packed words
    at = 0
    for t in types:
        dtype, shape = numpy_dtype(t), shape_of(t)
        words += [DTYPE_ORDER.index(dtype.type), dtype.itemsize, len(shape)]
        for axis, d in enumerate(shape):
            if isinstance(d, int):
                words.append(d)
            elif d != DYNAMIC and d in named:  # a result's names are all bound by the arguments
                words.append(-2 - named[d])
            else:
                if d != DYNAMIC:
                    named[d] = at + 1 + axis
                words.append(FREE)
        at += 1 + len(shape)
    return words


def emit_entry(module: ir.Module, func: FuncOp, packed: ir.Function, name: str) -> None:
    """The entry: every array checked by the runtime against the function's table (the
    results too, which may be a caller's ``out=``: writeable, and sharing no memory with
    another array of the call), its words packed, then the packed function called."""
    table_words = descriptor(func)
    table_type = ir.ArrayType(I64, len(table_words))
    table = ir.GlobalVariable(module, table_type, name + ".arrays")
    table.initializer = ir.Constant(table_type, table_words)
    table.global_constant, table.linkage, table.unnamed_addr = True, "private", True
    fn = ir.Function(module, ENTRY, name)
    args, results, addresses = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    count = sum(1 + len(shape_of(t)) for t in (*func.type.inputs, *func.type.results))
    words = b.alloca(I64, ir.Constant(I64, count))
    check = module.globals.get(CHECK_ARRAYS) or ir.Function(module, CHECK, CHECK_ARRAYS)
    status = b.call(check, [args, results, addresses,
                            b.gep(table, [ir.Constant(I32, 0), ir.Constant(I32, 0)]), words])
    with b.if_then(b.icmp_signed("!=", status, ir.Constant(I32, 0)), likely=False):
        b.ret(ir.Constant(I32, -1))
    b.ret(b.call(packed, [words]))
    _emit_builtin(module, fn, name[: -len("_entry")] + "_py")


def check_arrays_module() -> ir.Module:
    """The runtime's ``hyc_check_arrays``: each array of the call (the argument tuple's, then
    the result tuple's) is an exact ndarray of its dtype, C-contiguous (and writeable, for a
    result), of its rank and sizes; a result shares no memory with an array before it. Its
    data pointer and sizes go to ``words``, as the packed function takes them."""
    module = ir.Module("hyc.check_arrays")
    fn = ir.Function(module, CHECK, CHECK_ARRAYS)
    args, results, addresses, table, words = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    fail = fn.append_basic_block("fail")

    def word(pointer: ir.Value, index: ir.Value) -> ir.Value:
        return b.load(b.gep(pointer, [index]))

    def constant(value: int) -> ir.Constant:
        return ir.Constant(I64, value)

    arrays, inputs = word(table, constant(0)), word(table, constant(1))
    extents = b.alloca(I64, b.mul(arrays, constant(2)))  # each array's bytes: [start, end)
    place, at = b.alloca(I64), b.alloca(I64)  # where the next array's table and words begin
    nbytes = b.alloca(I64)
    b.store(constant(2), place)
    b.store(constant(0), at)

    def require(condition: ir.Value) -> None:
        ok = fn.append_basic_block("ok")
        b.cbranch(condition, ok, fail)
        b.position_at_end(ok)

    def array(i: ir.Value) -> None:
        p, w = b.load(place), b.load(at)
        is_input = b.icmp_signed("<", i, inputs)
        items = b.select(is_input, args, results)
        index = b.select(is_input, i, b.sub(i, inputs))
        obj = b.load(b.bitcast(b.gep(items, [b.add(constant(TUPLE_ITEMS), b.mul(index, constant(8)))]),
                               ir.PointerType(I8P)))

        def field(name: str, t: ir.IntType) -> ir.Value:
            return b.load(b.bitcast(b.gep(obj, [constant(ARRAY[name])]), ir.PointerType(t)))

        require(b.icmp_signed("==", field("type", I64), word(addresses, constant(0))))
        dtype = b.add(word(table, p), constant(1))
        require(b.icmp_signed("==", field("descr", I64), word(addresses, dtype)))
        wanted = b.select(is_input, ir.Constant(I32, C_CONTIGUOUS),
                          ir.Constant(I32, C_CONTIGUOUS | WRITEABLE))
        require(b.icmp_signed("==", b.and_(field("flags", I32), wanted), wanted))
        rank = word(table, b.add(p, constant(2)))
        require(b.icmp_signed("==", b.sext(field("nd", I32), I64), rank))
        dims = b.inttoptr(field("dims", I64), I64P)
        data = field("data", I64)
        b.store(data, b.gep(words, [w]))
        b.store(word(table, b.add(p, constant(1))), nbytes)

        def axis(a: ir.Value) -> None:
            size = word(dims, a)
            wanted = word(table, b.add(b.add(p, constant(3)), a))
            named = b.icmp_signed("<=", wanted, constant(-2))
            # a named size: the word it must equal (its own word otherwise, read as FREE)
            expected = b.select(named, word(words, b.select(named, b.sub(constant(-2), wanted),
                                                            constant(0))), wanted)
            require(b.or_(b.icmp_signed("==", wanted, constant(FREE)),
                          b.icmp_signed("==", size, expected)))
            b.store(size, b.gep(words, [b.add(b.add(w, constant(1)), a)]))
            b.store(b.mul(b.load(nbytes), size), nbytes)
        count_loop(b, constant(0), rank, axis)
        end = b.add(data, b.load(nbytes))

        def apart(j: ir.Value) -> None:  # numpy's rule for out= overlaps: results are in place
            start_j = word(extents, b.mul(j, constant(2)))
            end_j = word(extents, b.add(b.mul(j, constant(2)), constant(1)))
            require(b.not_(b.and_(b.icmp_unsigned("<", data, end_j), b.icmp_unsigned("<", start_j, end))))
        count_loop(b, b.select(is_input, i, constant(0)), i, apart)
        b.store(data, b.gep(extents, [b.mul(i, constant(2))]))
        b.store(end, b.gep(extents, [b.add(b.mul(i, constant(2)), constant(1))]))
        b.store(b.add(p, b.add(rank, constant(3))), place)
        b.store(b.add(w, b.add(rank, constant(1))), at)
    count_loop(b, constant(0), arrays, array)
    b.ret(ir.Constant(I32, 0))
    ir.IRBuilder(fail).ret(ir.Constant(I32, -1))
    return module


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
