"""How each tensor-level op becomes loops over buffers (used by the bufferize pass).

Every rule reads its operands through ``lower.get`` (buffers for tensors, scalars as they
are), allocates its result with ``lower.alloc`` and returns it. Sizes that are only known at
run time are compared with ``buf.check`` before any loop touches memory, so compiled code
reports the interpreter's errors instead of reading out of bounds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hyc.ir import Block, Operation, Region, Value
from hyc.ir.attributes import Attribute, BoolAttr, IntAttr, StringAttr
from hyc.ir.core import OpResult
from hyc.ir.dialects import buf, hy
from hyc.ir.dialects.scf import ForOp
from hyc.ir.opdef import Elementwise
from hyc.ir.types import (
    MemRefType,
    Type,
    element_type,
    index,
    is_float,
    numpy_dtype,
    shape_of,
)

if TYPE_CHECKING:
    from .bufferize import FunctionBufferization

Rule = Callable[["FunctionBufferization", Operation], list[Value]]
RULES: dict[type[Operation], Rule] = {}


def rule(*op_classes: type[Operation]) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for cls in op_classes:
            RULES[cls] = fn
        return fn
    return register


# -- helpers over index arithmetic ----------------------------------------------------------------
def const(lower: FunctionBufferization, value: int) -> Value:
    return lower.b.constant(index, value)


def binary(lower: FunctionBufferization, cls: type[Operation], a: Value, b: Value,
           attributes: dict[str, Attribute] | None = None) -> Value:
    return lower.b.create(cls, [a, b], attributes or {}).result


def check(lower: FunctionBufferization, condition: Value, message: str) -> None:
    lower.b.create(buf.CheckOp, [condition], {"message": StringAttr(message)}, result_types=[])


def check_equal(lower: FunctionBufferization, a: Value, b: Value, message: str) -> None:
    if a is not b:
        check(lower, binary(lower, hy.EqOp, a, b), message)


def require_elements(lower: FunctionBufferization, op: Operation, sizes: list[Value]) -> None:
    """The interpreter's error for an extreme (max, argmax, ...) of an empty axis."""
    for size in sizes:
        check(lower, binary(lower, hy.GtOp, size, const(lower, 0)),
              f"{op.name} of an empty axis (numpy: zero-size array to a reduction that has no "
              "identity)")


def dims_of(lower: FunctionBufferization, value: Value) -> list[Value]:
    """Index values for each dimension of a buffer (constants where static). A named dimension
    is the function's one value for that name; another read once in a block is reused there,
    so that rules can see two sizes are the same."""
    sizes = []
    for axis, d in enumerate(shape_of(value.type)):
        if isinstance(d, int):
            sizes.append(const(lower, d))
            continue
        if d in lower.named_dims:
            sizes.append(lower.named_dims[d])
            continue
        key = (value, axis, lower.b.block)
        if key not in lower.dim_cache:
            lower.dim_cache[key] = lower.b.create(buf.DimOp, [value], {"axis": IntAttr(axis)}).result
        sizes.append(lower.dim_cache[key])
    return sizes


def parallel(lower: FunctionBufferization, sizes: list[Value],
             body: Callable[[list[Value]], None]) -> None:
    """A ``buf.parallel`` nest over ``sizes`` whose body ``body(ivs)`` fills."""
    if not sizes:
        body([])
        return
    loop = lower.b.insert(buf.ParallelOp.create(sizes, loc=lower.b.loc))
    with lower.b.at_end(loop.body):
        body(list(loop.body.args))
        lower.b.create(buf.EndOp, [], result_types=[])


def sequential(lower: FunctionBufferization, size: Value, init: list[Value],
               body: Callable[[Value, list[Value]], list[Value]]) -> list[Value]:
    """An ``scf.for`` from 0 to ``size`` carrying scalars; ``body(iv, carried) -> next``."""
    loop = lower.b.insert(ForOp.create(const(lower, 0), size, const(lower, 1), init,
                                       loc=lower.b.loc))
    with lower.b.at_end(loop.body):
        from hyc.ir import YieldOp
        lower.b.create(YieldOp, body(loop.body.args[0], list(loop.body.args[1:])),
                       result_types=[])
    return list(loop.results)


def load(lower: FunctionBufferization, source: Value, indices: list[Value]) -> Value:
    if not isinstance(source.type, MemRefType):
        return source  # a scalar
    return lower.b.create(buf.LoadOp, [source, *indices],
                          result_types=[element_type(source.type)]).result


def store(lower: FunctionBufferization, value: Value, target: Value, indices: list[Value]) -> None:
    lower.b.create(buf.StoreOp, [value, target, *indices], result_types=[])


# -- broadcasting -----------------------------------------------------------------------------------
class Access:
    """How one input is read at an output index: numpy broadcasting decided at run time for
    dynamic sizes (a size-1 dimension reads index 0)."""

    def __init__(self, lower: FunctionBufferization, source: Value, out_dims: list[Value],
                 strict: bool, what: str) -> None:
        self.source = source
        self.offset = len(out_dims) - len(shape_of(source.type))
        self.stretch: list[Value | None | bool] = []  # per input axis: True = always index 0
        self.splat: Value | None = None
        producer = source.op if isinstance(source, OpResult) else None
        if isinstance(producer, buf.ConstantOp) and producer.attributes["value"].is_splat():  # type: ignore[attr-defined]
            # every element is the same: read it once, as a scalar constant, not from memory
            self.splat = lower.b.constant(element_type(source.type),
                                          producer.attributes["value"].array.reshape(-1)[0])  # type: ignore[attr-defined]
            return
        if not isinstance(source.type, MemRefType):
            return
        for axis, (d, size) in enumerate(zip(shape_of(source.type), dims_of(lower, source))):
            out = out_dims[axis + self.offset]
            if size is out:  # the very size of the output: nothing to check or stretch
                self.stretch.append(None)
            elif d == 1 and not strict:
                self.stretch.append(True)
            elif isinstance(d, int) and not strict:
                check_equal(lower, size, out, f"{what}: size {d} does not broadcast")
                self.stretch.append(None)
            elif strict:
                check_equal(lower, size, out, f"{what}: operand sizes differ at run time")
                self.stretch.append(None)
            else:
                one = binary(lower, hy.EqOp, size, const(lower, 1))
                ok = binary(lower, hy.OrOp, one, binary(lower, hy.EqOp, size, out))
                check(lower, ok, f"{what}: sizes do not broadcast at run time")
                self.stretch.append(one)

    def read(self, lower: FunctionBufferization, ivs: list[Value]) -> Value:
        if self.splat is not None:
            return self.splat
        indices = []
        for axis, stretch in enumerate(self.stretch):
            iv = ivs[axis + self.offset]
            if stretch is True:
                iv = const(lower, 0)
            elif stretch is not None:
                iv = lower.b.create(hy.SelectOp, [stretch, const(lower, 0), iv]).result  # type: ignore[list-item]
            indices.append(iv)
        return load(lower, self.source, indices)


def broadcast_dims(lower: FunctionBufferization, inputs: list[Value], out_type: Type) -> list[Value]:
    """The output sizes: static ones as constants, run-time ones numpy's broadcast of the
    inputs' aligned sizes (a 1 gives way to the other size, even 0; Access checks the rest)."""
    shape = shape_of(out_type)
    out = []
    for axis, d in enumerate(shape):
        if isinstance(d, int):
            out.append(const(lower, d))
            continue
        if d in lower.named_dims:
            out.append(lower.named_dims[d])
            continue
        candidates = []
        for v in inputs:
            rank = len(shape_of(v.type))
            if isinstance(v.type, MemRefType) and axis >= len(shape) - rank:
                candidates.append(dims_of(lower, v)[axis - (len(shape) - rank)])
        size = candidates[0]
        for other in candidates[1:]:
            is_one = binary(lower, hy.EqOp, size, const(lower, 1))
            size = lower.b.create(hy.SelectOp, [is_one, other, size]).result
        out.append(size)
    return out


def emit_body(lower: FunctionBufferization, body: Block, args: list[Value]) -> Value:
    """Copy a per-element body (hy.fused style) inline; the yielded scalar."""
    mapping: dict[Value, Value] = dict(zip(body.args, args))
    for op in body.ops[:-1]:
        lower.b.insert(op.clone(mapping))
    return mapping.get(body.ops[-1].operands[0], body.ops[-1].operands[0])


def elementwise(lower: FunctionBufferization, op: Operation, inputs: list[Value], out_type: Type,
                compute: Callable[[list[Value]], Value], strict: bool) -> list[Value]:
    dims = broadcast_dims(lower, inputs, out_type) if not strict else None
    if strict:
        first = next((v for v in inputs if isinstance(v.type, MemRefType)), None)
        dims = dims_of(lower, first) if first is not None else []
    assert dims is not None
    accesses = [Access(lower, v, dims, strict, op.name) for v in inputs]
    if not shape_of(out_type):  # every input is a scalar: no buffer at all
        return [compute([a.read(lower, []) for a in accesses])]
    out = lower.in_place_target(op, out_type) or lower.alloc(out_type, dims)

    def body(ivs: list[Value]) -> None:
        store(lower, compute([a.read(lower, ivs) for a in accesses]), out, ivs)

    parallel(lower, dims, body)
    return [out]


# -- rules --------------------------------------------------------------------------------------------
def _scalar_clone(lower: FunctionBufferization, op: Operation, scalars: list[Value]) -> Value:
    clone = op.clone(dict(zip(op.operands, scalars)), element_type)  # type: ignore[arg-type]
    return lower.b.insert(clone).result


def lower_elementwise(lower: FunctionBufferization, op: Operation) -> list[Value]:
    inputs = [lower.get(v) for v in op.operands]
    return elementwise(lower, op, inputs, op.result.type,
                       lambda scalars: _scalar_clone(lower, op, scalars), strict=True)


@rule(hy.FusedOp)
def _fused(lower: FunctionBufferization, op: Operation) -> list[Value]:
    inputs = [lower.get(v) for v in op.operands]
    return elementwise(lower, op, inputs, op.result.type,
                       lambda scalars: emit_body(lower, op.regions[0].block, scalars), strict=False)


@rule(hy.BroadcastToOp)
def _broadcast(lower: FunctionBufferization, op: Operation) -> list[Value]:
    source = lower.get(op.operands[0])
    sizes = iter(lower.get(v) for v in op.operands[1:])
    dims = [const(lower, d) if isinstance(d, int) else next(sizes)
            for d in shape_of(op.result.type)]
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


def _matmul_dims(lower: FunctionBufferization, op: Operation, lhs: Value, rhs: Value) -> list[Value]:
    a, b = dims_of(lower, lhs), dims_of(lower, rhs)
    k_rhs = b[0] if len(b) == 1 else b[-2]
    check_equal(lower, a[-1], k_rhs, f"{op.name}: inner dimensions differ at run time")
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
    return batch + rows + cols  # type: ignore[return-value]


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
    axes = list(op.axes)  # type: ignore[attr-defined]
    keep = bool(op.keepdims)  # type: ignore[attr-defined]
    element = element_type(op.result.type)
    kept = [i for i in range(len(in_dims)) if i not in axes]
    out_dims = [const(lower, 1) if i in axes else in_dims[i]
                for i in range(len(in_dims)) if keep or i not in axes]
    # A float sum is defined up to rounding (numpy's own order is pairwise): letting LLVM
    # regroup it makes it a vector reduction.
    combine = op.combine  # type: ignore[attr-defined]
    regroup = {"reassoc": BoolAttr(True)} if combine is hy.AddOp and is_float(element) else None
    if op.needs_elements:  # type: ignore[attr-defined]
        require_elements(lower, op, [in_dims[a] for a in axes])

    def reduce_at(ivs: list[Value]) -> Value:
        outer = dict(zip(kept, ivs if not keep else [ivs[i] for i in kept]))
        acc = lower.b.constant(element, op.identity(numpy_dtype(element)))  # type: ignore[attr-defined]

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
    axis, keep = op.attributes["axis"].value, bool(op.keepdims)  # type: ignore[attr-defined]
    element = element_type(op.operands[0].type)
    kept = [i for i in range(len(in_dims)) if i != axis]
    out_dims = [const(lower, 1) if i == axis else in_dims[i]
                for i in range(len(in_dims)) if keep or i != axis]
    beats = hy.GtOp if op.order == ">" else hy.LtOp  # type: ignore[attr-defined]
    require_elements(lower, op, [in_dims[axis]])

    def at(ivs: list[Value]) -> Value:
        outer = dict(zip(kept, ivs if not keep else [ivs[i] for i in kept]))
        start = lower.b.constant(element, op.start(numpy_dtype(element)))  # type: ignore[attr-defined]

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
    axis = op.axis  # type: ignore[attr-defined]
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


@rule(hy.TransposeOp)
def _transpose(lower: FunctionBufferization, op: Operation) -> list[Value]:
    source = lower.get(op.operands[0])
    perm = list(op.permutation)  # type: ignore[attr-defined]
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
    sizes = iter(lower.get(v) for v in op.operands[1:])
    dims = [const(lower, d) if isinstance(d, int) else next(sizes)
            for d in shape_of(op.result.type)]
    count_in, count_out = const(lower, 1), const(lower, 1)
    for d in dims_of(lower, source):
        count_in = binary(lower, hy.MulOp, count_in, d)
    for d in dims:
        count_out = binary(lower, hy.MulOp, count_out, d)
    check_equal(lower, count_in, count_out, "hy.reshape: the element counts differ at run time")
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
    bounds = list(zip(op.starts, op.stops, op.steps))  # type: ignore[attr-defined]
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
    axis = op.axis  # type: ignore[attr-defined]
    dims = dims_of(lower, inputs[0])
    total = dims[axis]
    for v in inputs[1:]:
        other = dims_of(lower, v)
        for i, (a, b) in enumerate(zip(dims, other)):
            if i != axis:
                check_equal(lower, a, b, "hy.concat: operand sizes differ at run time")
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


@rule(hy.PrintOp)
def _print(lower: FunctionBufferization, op: Operation) -> list[Value]:
    lower.b.create(buf.PrintOp, [lower.get(v) for v in op.operands], result_types=[])
    return []


def lowering_rule(op: Operation) -> Rule | None:
    found = RULES.get(type(op))
    if found is None and Elementwise in op.traits and shape_of(op.results[0].type):
        return lower_elementwise
    return found

