"""Bufferization of the tensor ops: broadcasts, constants, sizes, transposes, reshapes,
slices and concatenations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hyc.ir import Operation, Value
from hyc.ir.dialects import buf, hy
from hyc.ir.types import MemRefType, element_type, shape_of

from .loop_building import Access, binary, check_equal, const, dims_of, load, parallel, store
from .rules import rule

if TYPE_CHECKING:
    from ..bufferize import FunctionBufferization


def _result_dims(lower: FunctionBufferization, op: Operation) -> list[Value]:
    """The result's sizes: its static ones, and the size operands for the others."""
    sizes = iter(lower.get(v) for v in op.operands[1:])
    return [const(lower, d) if isinstance(d, int) else next(sizes) for d in shape_of(op.result.type)]


@rule(hy.BroadcastToOp)
def _broadcast(lower: FunctionBufferization, op: Operation) -> list[Value]:
    source = lower.get(op.operands[0])
    dims = _result_dims(lower, op)
    accesses = Access(lower, source, dims, False, op.name)
    out = lower.alloc(op.result.type, dims)
    parallel(lower, dims, lambda ivs: store(lower, accesses.read(lower, ivs), out, ivs))
    return [out]


@rule(hy.ConstantOp)
def _constant(lower: FunctionBufferization, op: Operation) -> list[Value]:
    if not shape_of(op.result.type):
        return [lower.b.insert(op.clone({})).result]
    memref = MemRefType(shape_of(op.result.type), element_type(op.result.type))
    return [lower.b.create(buf.ConstantOp, [], dict(op.attributes), [memref]).result]


@rule(hy.DimOp)
def _dim(lower: FunctionBufferization, op: Operation) -> list[Value]:
    return [lower.b.create(buf.DimOp, [lower.get(op.operands[0])], dict(op.attributes)).result]


@rule(hy.TransposeOp)
def _transpose(lower: FunctionBufferization, op: Operation) -> list[Value]:
    source = lower.get(op.operands[0])
    perm = list(op.permutation)
    in_dims = dims_of(lower, source)
    dims = [in_dims[p] for p in perm]
    out = lower.alloc(op.result.type, dims)

    def body(ivs: list[Value]) -> None:
        indices: list[Value] = [const(lower, 0)] * len(perm)
        for out_axis, in_axis in enumerate(perm):
            indices[in_axis] = ivs[out_axis]
        store(lower, load(lower, source, indices), out, ivs)

    parallel(lower, dims, body)
    return [out]


@rule(hy.ReshapeOp)
def _reshape(lower: FunctionBufferization, op: Operation) -> list[Value]:
    source = lower.get(op.operands[0])
    dims = _result_dims(lower, op)
    count_in, count_out = const(lower, 1), const(lower, 1)
    for d in dims_of(lower, source):
        count_in = binary(lower, hy.MulOp, count_in, d)
    for d in dims:
        count_out = binary(lower, hy.MulOp, count_out, d)
    check_equal(lower, count_in, count_out, "hy.reshape: the element counts differ at run time", code="E1006")
    out = lower.alloc(op.result.type, dims)
    lower.b.create(buf.CopyOp, [source, out], result_types=[])
    return [out]


def _slice_axis(lower: FunctionBufferization, size: Value, start: int, stop: int,
                step: int) -> tuple[Value, Value]:
    """Python's ``slice(start, stop, step).indices(size)``: the first index and the count."""
    zero, n = const(lower, 0), size
    if step > 0:
        lo, hi = zero, n
    else:
        lo, hi = const(lower, -1), binary(lower, hy.SubOp, n, const(lower, 1))

    def clamp(bound: int) -> Value:
        if bound < 0:
            return binary(lower, hy.MaximumOp, binary(lower, hy.AddOp, const(lower, bound), n), lo)
        return binary(lower, hy.MinimumOp, const(lower, bound), hi)

    first, last = clamp(start), clamp(stop)
    span = binary(lower, hy.SubOp, last, first) if step > 0 else binary(lower, hy.SubOp, first, last)
    span = binary(lower, hy.MaximumOp, span, zero)
    magnitude = abs(step)
    count = binary(lower, hy.DivOp, binary(lower, hy.AddOp, span, const(lower, magnitude - 1)),
                   const(lower, magnitude))
    return first, count


@rule(hy.SliceOp)
def _slice(lower: FunctionBufferization, op: Operation) -> list[Value]:
    source = lower.get(op.operands[0])
    bounds = list(zip(op.starts, op.stops, op.steps))
    plans = [_slice_axis(lower, d, *b) for d, b in zip(dims_of(lower, source), bounds)]
    dims = [count for _, count in plans]
    out = lower.alloc(op.result.type, dims)

    def body(ivs: list[Value]) -> None:
        indices = [binary(lower, hy.AddOp, first, binary(lower, hy.MulOp, iv,
                                                           const(lower, step)))
                   for (first, _), iv, (_, _, step) in zip(plans, ivs, bounds)]
        store(lower, load(lower, source, indices), out, ivs)

    parallel(lower, dims, body)
    return [out]


@rule(hy.ConcatOp)
def _concat(lower: FunctionBufferization, op: Operation) -> list[Value]:
    inputs = [lower.get(v) for v in op.operands]
    axis = op.axis
    dims = dims_of(lower, inputs[0])
    total = dims[axis]
    for v in inputs[1:]:
        other = dims_of(lower, v)
        for i, (a, b) in enumerate(zip(dims, other)):
            if i != axis:
                check_equal(lower, a, b, "hy.concat: operand sizes differ at run time", code="E1006")
        total = binary(lower, hy.AddOp, total, other[axis])
    out = lower.alloc(op.result.type, dims[:axis] + [total] + dims[axis + 1:])
    offset = const(lower, 0)
    for v in inputs:
        own = dims_of(lower, v)

        def body(ivs: list[Value], v: Value = v, offset: Value = offset) -> None:
            target = list(ivs)
            target[axis] = binary(lower, hy.AddOp, ivs[axis], offset)
            store(lower, load(lower, v, ivs), out, target)

        parallel(lower, own, body)
        offset = binary(lower, hy.AddOp, offset, own[axis])
    return [out]
