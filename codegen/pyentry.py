"""Native entries that take Python objects: the fast path of a compiled call.

``i32 @NAME_entry(ptr args, ptr results, ptr table)`` reads the numpy arrays of the argument
tuple and of the result tuple straight from their objects (data pointer, rank, sizes,
flags, dtype), checks them (exact ndarray type, dtype, C-contiguity, rank, static sizes,
named sizes agreeing), packs the argument words and calls the packed function. Anything
unexpected returns -1 and the Python wrapper redoes the call on its careful path, which
also produces the errors. ``table`` holds this process's addresses of ``numpy.ndarray``
and the dtype objects, so that cached machine code never bakes in an address.

``ptr @NAME_py(ptr self, ptr pair)`` is the same entry as a Python builtin function
(``METH_VARARGS``, made with ``PyCFunction_NewEx``): ``f(args, results)`` returns the status
as an int. It releases the GIL around the entry, as ctypes would, at a sixth of ctypes'
cost per call. It finds the table through the process symbol ``hyc_entry_table``, which
also holds the addresses of the three C-API functions it calls.

The object layouts (CPython's tuple, numpy's array) are probed when hyc loads; where they
differ, no entry is used.
"""

from __future__ import annotations

import ctypes

import numpy as np
from llvmlite import ir

from hyc.ir import FuncOp
from hyc.ir.types import DYNAMIC, Type, is_scalar, numpy_dtype, shape_of

I8P = ir.PointerType(ir.IntType(8))
I64 = ir.IntType(64)
I32 = ir.IntType(32)
ENTRY = ir.FunctionType(I32, [I8P, I8P, ir.PointerType(I64)])
DTYPE_ORDER = [np.float32, np.float64, np.int32, np.int64, np.bool_]
C_CONTIGUOUS = 0x1

# CPython 3 on 64-bit: a tuple's items follow its refcount, type and size.
TUPLE_ITEMS = 24
# numpy's array object: refcount, type, then data, nd, dimensions, strides, base, descr, flags.
ARRAY = {"type": 8, "data": 16, "nd": 24, "dims": 32, "descr": 56, "flags": 64}


def _word(address: int) -> int:
    return ctypes.c_int64.from_address(address).value


def layout_ok() -> bool:
    """Whether the object layouts above are this process's."""
    a = np.zeros((2, 3), np.float32)
    holder = (a,)
    base = id(a)
    try:
        dims = _word(base + ARRAY["dims"])
        return bool(_word(base + ARRAY["type"]) == id(np.ndarray)
                and _word(base + ARRAY["data"]) == a.ctypes.data
                and ctypes.c_int32.from_address(base + ARRAY["nd"]).value == 2
                and _word(dims) == 2 and _word(dims + 8) == 3
                and _word(base + ARRAY["descr"]) == id(a.dtype)
                and ctypes.c_int32.from_address(base + ARRAY["flags"]).value & C_CONTIGUOUS
                and _word(id(holder) + TUPLE_ITEMS) == base)
    except (ValueError, OSError):
        return False


C_API = ["PyEval_SaveThread", "PyEval_RestoreThread", "PyLong_FromLong"]  # after the dtypes


def address_table() -> ctypes.Array:
    """This process's addresses the entries use: ndarray, each dtype, then the C-API functions."""
    functions = [ctypes.cast(getattr(ctypes.pythonapi, f), ctypes.c_void_p).value or 0 for f in C_API]
    return (ctypes.c_int64 * (1 + len(DTYPE_ORDER) + len(C_API)))(
        id(np.ndarray), *(id(np.dtype(d)) for d in DTYPE_ORDER), *functions)


TABLE = address_table()
TABLE_SYMBOL = "hyc_entry_table"


class _MethodDef(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("meth", ctypes.c_void_p), ("flags", ctypes.c_int),
                ("doc", ctypes.c_char_p)]


_METH_VARARGS = 1
_new_builtin = ctypes.pythonapi.PyCFunction_NewEx
_new_builtin.restype = ctypes.py_object
_new_builtin.argtypes = [ctypes.POINTER(_MethodDef), ctypes.py_object, ctypes.py_object]


class Builtin:
    """A Python builtin function around a native ``NAME_py`` entry (keeps its definition alive)."""

    def __init__(self, name: str, address: int) -> None:
        self.definition = _MethodDef(name.encode(), address, _METH_VARARGS, None)
        self.function = _new_builtin(ctypes.byref(self.definition), None, None)


def supported(func: FuncOp) -> bool:
    return not any(is_scalar(t) for t in (*func.type.inputs, *func.type.results))


def emit_entry(module: ir.Module, func: FuncOp, packed: ir.Function, name: str) -> None:
    fn = ir.Function(module, ENTRY, name)
    args, results, table = fn.args
    entry = fn.append_basic_block("entry")
    slow = fn.append_basic_block("slow")
    b = ir.IRBuilder(entry)
    types: list[Type] = [*func.type.inputs, *func.type.results]
    words = b.alloca(I64, ir.Constant(I64, sum(1 + len(shape_of(t)) for t in types)))
    named: dict[str, ir.Value] = {}
    offset = 0
    for i, t in enumerate(types):
        is_input = i < len(func.type.inputs)
        tuple_ = args if is_input else results
        index = i if is_input else i - len(func.type.inputs)
        obj = b.load(b.bitcast(b.gep(tuple_, [ir.Constant(I64, TUPLE_ITEMS + 8 * index)]),
                               ir.PointerType(I8P)))
        field = _fields(b, obj)
        if is_input:  # results are arrays the wrapper just made: no checks
            _require(b, b.icmp_signed("==", field("type", I64), b.load(table)), slow)
            code = DTYPE_ORDER.index(numpy_dtype(t).type)
            expected = b.load(b.gep(table, [ir.Constant(I64, 1 + code)]))
            _require(b, b.icmp_signed("==", field("descr", I64), expected), slow)
            flags = b.and_(field("flags", I32), ir.Constant(I32, C_CONTIGUOUS))
            _require(b, b.icmp_signed("!=", flags, ir.Constant(I32, 0)), slow)
            _require(b, b.icmp_signed("==", field("nd", I32), ir.Constant(I32, len(shape_of(t)))),
                     slow)
        dims = b.inttoptr(field("dims", I64), ir.PointerType(I64))
        b.store(field("data", I64), b.gep(words, [ir.Constant(I64, offset)]))
        for axis, d in enumerate(shape_of(t)):
            size = b.load(b.gep(dims, [ir.Constant(I64, axis)]))
            if is_input and isinstance(d, int):
                _require(b, b.icmp_signed("==", size, ir.Constant(I64, d)), slow)
            elif is_input and d != DYNAMIC:
                if d in named:
                    _require(b, b.icmp_signed("==", size, named[d]), slow)
                else:
                    named[d] = size
            b.store(size, b.gep(words, [ir.Constant(I64, offset + 1 + axis)]))
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
