"""Native entries that take Python objects: the fast path of a compiled call.

``i32 @NAME_entry(ptr args, ptr results, ptr table)`` reads the numpy arrays of the argument
tuple and of the result tuple straight from their objects (data pointer, rank, sizes,
flags, dtype), checks them (exact ndarray type, dtype, C-contiguity, rank, static sizes,
named sizes agreeing), packs the argument words and calls the packed function. Anything
unexpected returns -1 and the Python wrapper redoes the call on its careful path, which
also produces the errors. ``table`` holds this process's addresses of ``numpy.ndarray``
and the dtype objects, so that cached machine code never bakes in an address.

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


def address_table() -> ctypes.Array:  # type: ignore[type-arg]
    """This process's addresses the entries compare with: ndarray, then each dtype."""
    return (ctypes.c_int64 * (1 + len(DTYPE_ORDER)))(
        id(np.ndarray), *(id(np.dtype(d)) for d in DTYPE_ORDER))


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


def _fields(b: ir.IRBuilder, obj: ir.Value):  # type: ignore[no-untyped-def]
    def field(name: str, t: ir.IntType) -> ir.Value:
        return b.load(b.bitcast(b.gep(obj, [ir.Constant(I64, ARRAY[name])]), ir.PointerType(t)))
    return field


def _require(b: ir.IRBuilder, condition: ir.Value, otherwise: ir.Block) -> None:
    ok = b.append_basic_block("ok")
    b.cbranch(condition, ok, otherwise)
    b.position_at_end(ok)
