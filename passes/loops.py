"""Target-neutral passes at the loop level (``buf``), which every backend starts from.

- ``outline-parallel``: a ``buf.parallel`` becomes a function of its own, called for each
  point by ``buf.dispatch`` with the values it captured as explicit arguments (MLIR's
  ``gpu-kernel-outlining``): CPU threads split the dispatch's range, a GPU grid maps it.
- ``expand-matmul``: ``buf.matmul`` and its epilogue become a parallel loop over the output
  around a sequential reduction: the portable form every target can compile (the CPU keeps
  its register-blocked kernel for ``buf.matmul``).
- ``parallelize-reductions``: a reduction loop over a large range becomes partial results
  of chunks (a parallel loop: threads or a grid split it) combined by a short loop.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from hyc.ir import Builder, ForOp, FuncOp, ModuleOp, Operation, Value, YieldOp
from hyc.ir.attributes import DenseAttr, IntAttr, SymbolRefAttr
from hyc.ir.core import OpResult
from hyc.ir.dialects import buf, hy
from hyc.ir.opdef import Pure
from hyc.ir.types import MemRefType, element_type, index, is_float, numpy_dtype, shape_of
from hyc.record import record

from .bufferization import LoopBuilder, emit_body, load, parallel, sequential, store
from .manager import Pass, register_pass


@register_pass
@record
class OutlineParallel(Pass):
    """Outline each top-level ``buf.parallel`` into a function run by ``buf.dispatch``.

    A loop directly in a function body (with ``nested``, also one in sequential loops and
    branches, though never one inside another parallel loop) whose body holds nothing that
    may stop the function (a check, an allocation, a call, a print, ...) becomes
    ``@<function>.parallel<k>(ivs..., captured...)``; scalar constants it uses are copied
    into the new function rather than passed. Other loops stay as they are (they run on the
    calling thread).
    """

    name: ClassVar[str] = "outline-parallel"
    nested: bool = False

    def run(self, module: ModuleOp) -> None:
        taken = {f.sym_name for f in module.functions}
        for func in list(module.functions):
            assert isinstance(func, FuncOp)
            anchor: Operation = func
            for loop in self.candidates(func):
                if any(buf.may_stop(op) for op in loop.walk() if op is not loop):
                    continue
                name = _fresh(f"{func.sym_name}.parallel", taken)
                body = outline(loop, name)
                module.body.insert(module.body.ops.index(anchor) + 1, body)
                anchor = body


    def candidates(self, func: FuncOp) -> list[buf.ParallelOp]:
        if not self.nested:
            return [op for op in func.body.ops if isinstance(op, buf.ParallelOp)]
        found: list[buf.ParallelOp] = []

        def visit(op: Operation) -> None:
            if isinstance(op, buf.ParallelOp):
                found.append(op)  # and not the loops inside it
                return
            for region in op.regions:
                for block in region.blocks:
                    for inner in block.ops:
                        visit(inner)

        for op in func.body.ops:
            visit(op)
        return found


def _fresh(stem: str, taken: set[str]) -> str:
    k = 0
    while f"{stem}{k}" in taken:
        k += 1
    taken.add(f"{stem}{k}")
    return f"{stem}{k}"


def _is_scalar_constant(value: Value) -> bool:
    op = getattr(value, "op", None)
    return op is not None and op.name == "hy.constant" and not shape_of(value.type)


def outline(loop: buf.ParallelOp, name: str) -> FuncOp:
    """Replace ``loop`` by a ``buf.dispatch`` of a new function ``name`` (returned, not yet in
    the module)."""
    sizes = list(loop.operands)
    outside = [v for v in loop.values_from_outside() if v not in sizes or _used_inside(loop, v)]
    constants = [v for v in outside if _is_scalar_constant(v)]
    captured = [v for v in outside if v not in constants]
    ivs = list(loop.body.args)
    names = [a.name_hint or f"i{k}" for k, a in enumerate(ivs)] + [v.name_hint for v in captured]
    func = FuncOp.create(name, [index] * len(ivs) + [v.type for v in captured], [], names,
                         loop.loc)
    mapping: dict[Value, Value] = dict(zip(ivs, func.body.args))
    mapping.update(zip(captured, func.body.args[len(ivs):]))
    builder = Builder(func.body, loop.loc)
    for c in constants:
        mapping[c] = builder.insert(c.op.clone({})).result
    for op in loop.body.ops:
        if isinstance(op, buf.EndOp):
            break
        builder.insert(op.clone(mapping))
    from hyc.ir import ReturnOp
    builder.create(ReturnOp, [], result_types=[])
    attributes = {"body": SymbolRefAttr(name), "rank": IntAttr(len(sizes))}
    if "grain" in loop.attributes:
        attributes["grain"] = loop.attributes["grain"]
    dispatch = buf.DispatchOp([*sizes, *captured], [], attributes, loc=loop.loc)
    assert loop.parent is not None
    loop.parent.insert(loop.parent.ops.index(loop), dispatch)
    loop.erase()
    return func


def _used_inside(loop: Operation, value: Value) -> bool:
    return any(value in op.operands for op in loop.walk() if op is not loop)


@register_pass
@record
class ExpandMatmul(Pass):
    """Expand ``buf.matmul`` into a parallel loop over the output around a reduction loop.

    Each output element is ``epilogue(sum_k lhs[..., i, k] * rhs[..., k, j], extras...)``,
    with numpy's matmul shapes (vectors, batches broadcast) and the extras broadcast to the
    output: the portable form of a matmul, for targets without a tuned kernel.
    """

    name: ClassVar[str] = "expand-matmul"

    def run(self, module: ModuleOp) -> None:
        for op in [op for op in module.walk() if isinstance(op, buf.MatmulOp)]:
            expand_matmul(op)


def expand_matmul(op: buf.MatmulOp) -> None:
    lhs, rhs, out = op.operands[:3]
    extras = list(op.operands[3:])
    b = LoopBuilder(Builder(loc=op.loc))
    b.b.set_insertion_point_before(op)
    a_rank, b_rank = len(shape_of(lhs.type)), len(shape_of(rhs.type))
    out_dims = b.dims(out)
    k_size = b.dims(lhs)[-1]
    product = element_type(lhs.type)
    zero = b.b.constant(product, 0)

    def operand_at(operand: Value, batch: list[Value], rows: list[Value]) -> Value:
        own = shape_of(operand.type)[:len(shape_of(operand.type)) - len(rows)]
        return load(b, operand, b.broadcast_indices(operand, batch[len(batch) - len(own):],
                                                    len(own)) + rows)

    def element(ivs: list[Value]) -> None:
        batch = ivs[:len(ivs) - (a_rank > 1) - (b_rank > 1)]
        i = [ivs[len(batch)]] if a_rank > 1 else []
        j = [ivs[-1]] if b_rank > 1 else []

        def step(k: Value, carried: list[Value]) -> list[Value]:
            x = operand_at(lhs, batch, [*i, k])
            y = operand_at(rhs, batch, [k, *j])
            return [b.binary(hy.AddOp, carried[0], b.binary(hy.MulOp, x, y))]

        (acc,) = sequential(b, k_size, [zero], step)
        args = [acc] + [extra_at(b, e, ivs) for e in extras]
        store(b, emit_body(b, op.regions[0].block, args), out, ivs)

    parallel(b, out_dims, element)
    op.erase()


def extra_at(b: LoopBuilder, extra: Value, ivs: list[Value]) -> Value:
    """One element of an epilogue input, broadcast to the output index ``ivs``."""
    if not isinstance(extra.type, MemRefType):
        return extra
    rank = len(extra.type.shape)
    return load(b, extra, b.broadcast_indices(extra, ivs[len(ivs) - rank:], rank))


@register_pass
@record
class ParallelizeReductions(Pass):
    """Split a reduction loop over a large range into chunks reduced in parallel.

    A top-level ``scf.for`` from 0 with step 1 carrying one scalar, whose body computes a
    value from the index alone (loads and pure arithmetic) and folds it into the carried
    value with an associative, commutative op (integer ``hy.add``/``hy.mul``, float
    ``hy.add`` marked ``reassoc``, ``hy.maximum``, ``hy.minimum``, ``hy.and``, ``hy.or``)
    becomes: a ``buf.parallel`` over the chunks of ``grain`` elements, each reducing its
    chunk from the op's identity into a buffer of partial results, then a loop combining the
    partial results from the original initial value. Loops known to run fewer than
    ``2 * grain`` times are left alone.
    """

    name: ClassVar[str] = "parallelize-reductions"
    grain: int = 4096

    def run(self, module: ModuleOp) -> None:
        for func in module.functions:
            assert isinstance(func, FuncOp)
            for loop in [op for op in func.body.ops if isinstance(op, ForOp)]:
                combine = reduction_combine(loop)
                if combine is not None and not _known_below(loop.operands[1], 2 * self.grain):
                    _split_reduction(loop, combine, max(self.grain, 1))


def _constant_int(value: Value) -> int | None:
    attr = value.op.attributes.get("value") if isinstance(value, OpResult) and \
        value.op.name == "hy.constant" else None
    return int(attr.array) if isinstance(attr, DenseAttr) and attr.array.ndim == 0 else None


def _known_below(value: Value, bound: int) -> bool:
    known = _constant_int(value)
    return known is not None and known < bound


def reduction_combine(loop: ForOp) -> Operation | None:
    """The op folding each element into the carried value, if ``loop`` is a reduction this
    pass can split."""
    if len(loop.results) != 1 or _constant_int(loop.operands[0]) != 0 or \
            _constant_int(loop.operands[2]) != 1 or not shape_of(loop.results[0].type) == ():
        return None
    body = loop.body
    acc = body.args[1]
    end = body.ops[-1]
    combine = end.operands[0].op if isinstance(end, YieldOp) and \
        isinstance(end.operands[0], OpResult) else None
    if combine is None or combine.parent is not body or type(combine) not in _IDENTITIES or \
            acc not in combine.operands or len(acc.uses) != 1:
        return None
    if is_float(acc.type) and (isinstance(combine, hy.MulOp) or isinstance(combine, hy.AddOp)
                               and not combine.attributes.get("reassoc")):
        return None  # float sums regroup only where allowed; float products never
    for op in body.ops[:-1]:
        if op.regions or not (Pure in op.traits or isinstance(op, buf.LoadOp)):
            return None
    return combine


def identity_of(combine: Operation, t: object) -> object:
    dtype = numpy_dtype(t)
    kind = _IDENTITIES[type(combine)]
    if kind == "max":
        return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min
    if kind == "min":
        return np.inf if dtype.kind == "f" else np.iinfo(dtype).max
    return kind


_IDENTITIES: dict[type, object] = {hy.AddOp: 0, hy.MulOp: 1, hy.MaximumOp: "max",
                                   hy.MinimumOp: "min", hy.AndOp: True, hy.OrOp: False}


def _split_reduction(loop: ForOp, combine: Operation, grain: int) -> None:
    t = loop.results[0].type
    b = Builder(loc=loop.loc)
    b.set_insertion_point_before(loop)
    size = loop.operands[1]
    step = loop.operands[2]
    chunk = b.constant(index, grain)
    rounded = b.create(hy.AddOp, [size, b.constant(index, grain - 1)]).result
    count = b.create(hy.DivOp, [rounded, chunk]).result
    partial = b.create(buf.AllocOp, [count], result_types=[MemRefType(("?",), t)]).result
    chunks = b.insert(buf.ParallelOp.create([count], loc=loop.loc))
    chunks.attributes["grain"] = IntAttr(grain)
    attributes = {k: v for k, v in combine.attributes.items()}
    with b.at_end(chunks.body):
        c = chunks.body.args[0]
        lower = b.create(hy.MulOp, [c, chunk]).result
        upper = b.create(hy.MinimumOp, [b.create(hy.AddOp, [lower, chunk]).result, size]).result
        part = b.insert(ForOp.create(lower, upper, step, [b.constant(t, identity_of(combine, t))],
                                     loc=loop.loc))
        mapping: dict[Value, Value] = dict(zip(loop.body.args, part.body.args))
        with b.at_end(part.body):
            for op in loop.body.ops:
                b.insert(op.clone(mapping))
        b.create(buf.StoreOp, [part.results[0], partial, c], result_types=[])
        b.create(buf.EndOp, [], result_types=[])
    total = b.insert(ForOp.create(b.constant(index, 0), count, step, [loop.operands[3]],
                                  loc=loop.loc))
    with b.at_end(total.body):
        k, acc = total.body.args
        value = b.create(buf.LoadOp, [partial, k], result_types=[t]).result
        operands = [acc, value] if combine.operands[0] is loop.body.args[1] else [value, acc]
        folded = b.create(type(combine), operands, dict(attributes), result_types=[t]).result
        b.create(YieldOp, [folded], result_types=[])
    b.create(buf.FreeOp, [partial], result_types=[])
    loop.results[0].replace_all_uses_with(total.results[0])
    loop.erase()
