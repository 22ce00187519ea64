"""Bufferization of matmuls (``buf.matmul``, kept whole for the backends' kernels),
reductions and softmax."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hyc.ir import Block, Operation, Region, Value
from hyc.ir.attributes import BoolAttr
from hyc.ir.dialects import buf, hy
from hyc.ir.types import MemRefType, element_type, is_float, numpy_dtype, shape_of

from .loop_building import (
    binary,
    check_equal,
    const,
    dims_of,
    emit_body,
    load,
    parallel,
    require_elements,
    sequential,
    store,
)
from .rules import rule

if TYPE_CHECKING:
    from ..bufferize import FunctionBufferization


def _matmul_dims(lower: FunctionBufferization, op: Operation, lhs: Value, rhs: Value) -> list[Value]:
    a, b = dims_of(lower, lhs), dims_of(lower, rhs)
    k_rhs = b[0] if len(b) == 1 else b[-2]
    check_equal(lower, a[-1], k_rhs, f"{op.name}: inner dimensions differ at run time", code="E1006")
    rows = a[-2:-1] if len(a) > 1 else []
    cols = b[-1:] if len(b) > 1 else []
    batch_a, batch_b = a[:-2], b[:-2]
    batch = []
    for i in range(max(len(batch_a), len(batch_b))):
        x = batch_a[i - (max(len(batch_a), len(batch_b)) - len(batch_a))] \
            if i >= max(len(batch_a), len(batch_b)) - len(batch_a) else None
        y = batch_b[i - (max(len(batch_a), len(batch_b)) - len(batch_b))] \
            if i >= max(len(batch_a), len(batch_b)) - len(batch_b) else None
        if x is not None and y is not None:
            is_one = binary(lower, hy.EqOp, x, const(lower, 1))
            batch.append(lower.b.create(hy.SelectOp, [is_one, y, x]).result)
        else:
            batch.append(x or y)
    return batch + rows + cols


@rule(hy.MatmulOp, hy.FusedMatmulOp)
def _matmul(lower: FunctionBufferization, op: Operation) -> list[Value]:
    lhs, rhs = lower.get(op.operands[0]), lower.get(op.operands[1])
    extras = [lower.get(v) for v in op.operands[2:]]
    dims = _matmul_dims(lower, op, lhs, rhs)
    product = element_type(op.operands[0].type)
    if op.regions:
        region = op.regions[0].clone({}, lambda t: t)
    else:  # a plain matmul: the epilogue stores the product as it is
        block = Block([product])
        block.append(hy.HyYieldOp([block.args[0]], loc=op.loc))
        region = Region([block])
    if not shape_of(op.result.type):  # vector . vector: a dot product, then the epilogue
        zero = lower.b.constant(product, 0)
        (dot,) = sequential(lower, dims_of(lower, lhs)[0], [zero], lambda iv, c: [binary(
            lower, hy.AddOp, c[0], binary(lower, hy.MulOp, load(lower, lhs, [iv]),
                                          load(lower, rhs, [iv])))])
        return [emit_body(lower, region.block, [dot, *extras])]
    out = lower.alloc(op.result.type, dims)
    lower.b.insert(buf.MatmulOp([lhs, rhs, out, *extras], [], regions=[region], loc=op.loc))
    return [out]


@rule(hy.SumOp, hy.ProdOp, hy.MeanOp, hy.MaxOp, hy.MinOp)
def _reduce(lower: FunctionBufferization, op: Operation) -> list[Value]:
    source = lower.get(op.operands[0])
    if not isinstance(source.type, MemRefType):
        return [source]
    in_dims = dims_of(lower, source)
    axes = list(op.axes)
    keep = bool(op.keepdims)
    element = element_type(op.result.type)
    kept = [i for i in range(len(in_dims)) if i not in axes]
    out_dims = [const(lower, 1) if i in axes else in_dims[i]
                for i in range(len(in_dims)) if keep or i not in axes]
    # A float sum is defined up to rounding (numpy's own order is pairwise): letting LLVM
    # regroup it makes it a vector reduction.
    combine = op.combine
    regroup = {"reassoc": BoolAttr(True)} if combine is hy.AddOp and is_float(element) else None
    if op.needs_elements:
        require_elements(lower, op, [in_dims[a] for a in axes])

    def reduce_at(ivs: list[Value]) -> Value:
        outer = dict(zip(kept, ivs if not keep else [ivs[i] for i in kept]))
        acc = lower.b.constant(element, op.identity(numpy_dtype(element)))

        def nest(level: int, index_map: dict[int, Value], acc: Value) -> Value:
            if level == len(axes):
                value = load(lower, source, [index_map[i] for i in range(len(in_dims))])
                return binary(lower, combine, acc, value, regroup)
            axis = axes[level]
            return sequential(lower, in_dims[axis], [acc], lambda iv, carried: [
                nest(level + 1, {**index_map, axis: iv}, carried[0])])[0]

        total = nest(0, dict(outer), acc)
        if isinstance(op, hy.MeanOp):
            count = const(lower, 1)
            for axis in axes:
                count = binary(lower, hy.MulOp, count, in_dims[axis])
            as_float = lower.b.create(hy.CastOp, [count], result_types=[element]).result
            total = binary(lower, hy.DivOp, total, as_float)
        return total

    if not out_dims:
        return [reduce_at([])]
    out = lower.alloc(op.result.type, out_dims)
    parallel(lower, out_dims, lambda ivs: store(lower, reduce_at(ivs), out, ivs))
    return [out]


@rule(hy.ArgmaxOp, hy.ArgminOp)
def _arg_extremum(lower: FunctionBufferization, op: Operation) -> list[Value]:
    """A sequential loop along the axis carrying the best value and its index; a NaN wins
    once, and nothing beats it afterwards (numpy's first NaN)."""
    source = lower.get(op.operands[0])
    in_dims = dims_of(lower, source)
    axis, keep = op.attributes["axis"].value, bool(op.keepdims)
    element = element_type(op.operands[0].type)
    kept = [i for i in range(len(in_dims)) if i != axis]
    out_dims = [const(lower, 1) if i == axis else in_dims[i]
                for i in range(len(in_dims)) if keep or i != axis]
    beats = hy.GtOp if op.order == ">" else hy.LtOp
    require_elements(lower, op, [in_dims[axis]])

    def at(ivs: list[Value]) -> Value:
        outer = dict(zip(kept, ivs if not keep else [ivs[i] for i in kept]))
        start = lower.b.constant(element, op.start(numpy_dtype(element)))

        def step(iv: Value, carried: list[Value]) -> list[Value]:
            best, best_index = carried
            value = load(lower, source, [iv if i == axis else outer[i] for i in range(len(in_dims))])
            wins = binary(lower, beats, value, best)
            if is_float(element):
                fresh_nan = binary(lower, hy.AndOp, binary(lower, hy.NeOp, value, value),
                                   binary(lower, hy.EqOp, best, best))
                wins = binary(lower, hy.OrOp, wins, fresh_nan)
            return [lower.b.create(hy.SelectOp, [wins, value, best]).result,
                    lower.b.create(hy.SelectOp, [wins, iv, best_index]).result]

        _, index = sequential(lower, in_dims[axis], [start, const(lower, 0)], step)
        return lower.b.create(hy.CastOp, [index], result_types=[element_type(op.result.type)]).result

    if not out_dims:
        return [at([])]
    out = lower.alloc(op.result.type, out_dims)
    parallel(lower, out_dims, lambda ivs: store(lower, at(ivs), out, ivs))
    return [out]


@rule(hy.SoftmaxOp)
def _softmax(lower: FunctionBufferization, op: Operation) -> list[Value]:
    source = lower.get(op.operands[0])
    dims = dims_of(lower, source)
    axis = op.axis
    element = element_type(op.result.type)
    out = lower.alloc(op.result.type, dims)
    outer = [d for i, d in enumerate(dims) if i != axis]

    def at(ivs: list[Value], iv: Value) -> list[Value]:
        return ivs[:axis] + [iv] + ivs[axis:]

    def body(ivs: list[Value]) -> None:
        lowest = lower.b.constant(element, float("-inf"))
        (peak,) = sequential(lower, dims[axis], [lowest], lambda iv, c: [binary(
            lower, hy.MaximumOp, c[0], load(lower, source, at(ivs, iv)))])

        def exp_at(iv: Value) -> Value:
            shifted = binary(lower, hy.SubOp, load(lower, source, at(ivs, iv)), peak)
            return lower.b.create(hy.ExpOp, [shifted]).result

        (total,) = sequential(lower, dims[axis], [lower.b.constant(element, 0.0)],
                              lambda iv, c: [binary(lower, hy.AddOp, c[0], exp_at(iv))])

        def write(iv: Value, carried: list[Value]) -> list[Value]:
            store(lower, binary(lower, hy.DivOp, exp_at(iv), total), out, at(ivs, iv))
            return []

        sequential(lower, dims[axis], [], write)

    parallel(lower, outer, body)
    return [out]
