"""Fusion: elementwise chains and DAGs become one ``hy.fused`` op, and an elementwise
consumer of a matmul becomes the matmul's epilogue (``hy.fused_matmul``).

A backend lowers each fused op to one loop nest that reads every input once, so no
intermediate tensor is ever written to memory.
"""

from __future__ import annotations

from typing import ClassVar

from hyc.ir import Block, ModuleOp, Operation, OpResult, Region, Value
from hyc.ir.dialects import hy
from hyc.ir.opdef import Elementwise
from hyc.ir.shapes import broadcast_shapes, shapes_compatible
from hyc.ir.types import TensorType, Type, element_type, shape_of
from hyc.record import record

from .manager import Pass, register_pass
from .rewrite import Rewriter


def producer(value: Value, block: Block) -> Operation | None:
    if isinstance(value, OpResult) and value.op.parent is block:
        return value.op
    return None


def fusible(op: Operation) -> bool:
    return Elementwise in op.traits and isinstance(op.results[0].type, TensorType)


def scalar_constant(op: Operation | None) -> bool:
    return isinstance(op, hy.ConstantOp) and not shape_of(op.result.type)


def derivable(inputs: list[Value], result: Type) -> bool:
    """The inputs broadcast to exactly the result shape, dynamic sizes included."""
    combined: tuple | None = ()
    for v in inputs:
        combined = broadcast_shapes(combined, shape_of(v.type)) if combined is not None else None
    out = shape_of(result)
    if combined is None or not shapes_compatible(combined, out):
        return False
    for axis, d in enumerate(out):  # a run-time size must come from an input that has it
        if not isinstance(d, int):
            aligned = [shape_of(v.type)[axis - (len(out) - len(shape_of(v.type)))]
                       for v in inputs if axis >= len(out) - len(shape_of(v.type))]
            if d not in aligned:
                return False
    return True


def build_fused(members: list[Operation], root: Operation, inputs: list[Value],
                aliases: dict[Value, Value]) -> hy.FusedOp:
    """A hy.fused computing ``root`` from ``inputs``; ``aliases`` maps absorbed broadcasts
    and scalar constants to what stands for them in the body."""
    body = Block([element_type(v.type) for v in inputs])
    mapping: dict[Value, Value] = dict(zip(inputs, body.args))
    for op in members:
        for v in op.operands:
            if v not in mapping and v in aliases:
                source = aliases[v]
                if source in mapping:
                    mapping[v] = mapping[source]
                else:  # a scalar constant: copy it into the body
                    assert isinstance(source, OpResult)
                    body.append(clone := source.op.clone({}))
                    mapping[v] = clone.result
        clone = op.clone(mapping, element_type)
        for result in clone.results:
            result.name_hint = None  # scalars in the body, not the tensors they were named for
        body.append(clone)
    body.append(hy.HyYieldOp([mapping[root.result]], loc=root.loc))
    return hy.FusedOp(inputs, [root.result.type], regions=[Region([body])], loc=root.loc)


@register_pass
@record
class FuseElementwise(Pass):
    """Fuse chains and DAGs of elementwise ops (broadcasts included) into ``hy.fused``.

    Starting from each elementwise op that produces a tensor, the group grows through the
    producers of its operands whose results are used only inside the group (so nothing is
    computed twice), up to ``max-ops`` ops. ``hy.broadcast_to`` feeding the group is
    absorbed when the inputs still determine the output shape; scalar constants are copied
    into the body.
    """

    name: ClassVar[str] = "fuse-elementwise"
    max_ops: int = 16

    def run(self, module: ModuleOp) -> None:
        blocks = [b for op in module.walk() for r in op.regions for b in r.blocks]
        for block in blocks:
            # positions, for ordering a group's members; a fused op takes its root's place
            self.position = {op: i for i, op in enumerate(block.ops)}
            self.rewriter = Rewriter(deferred=True)
            for root in reversed(list(block.ops)):
                if root.parent is block and not root.erased and fusible(root):
                    self.fuse_from(root, block)
            self.rewriter.finish()

    def grow(self, root: Operation, block: Block) -> list[Operation]:
        members, frontier = {root}, [root]
        while frontier:
            op = frontier.pop()
            for v in op.operands:
                p = producer(v, block)
                if (p is None or p in members or not fusible(p) or len(members) >= self.max_ops
                        or any(u.op not in members for r in p.results for u in r.uses)):
                    continue
                members.add(p)
                frontier.append(p)
        return sorted(members, key=self.position.__getitem__)

    def fuse_from(self, root: Operation, block: Block) -> None:
        members = self.grow(root, block)
        inside = {r for op in members for r in op.results}
        inputs: list[Value] = []
        aliases: dict[Value, Value] = {}
        for v in (v for op in members for v in op.operands):
            if v in inside or v in inputs or v in aliases:
                continue
            p = producer(v, block)
            if scalar_constant(p):
                aliases[v] = v
            elif isinstance(p, hy.BroadcastToOp) and all(u.op in members for u in v.uses):
                aliases[v] = p.operands[0]
            else:
                inputs.append(v)
        for v, source in list(aliases.items()):  # absorb broadcasts only where sizes stay known
            if source is not v and not scalar_constant(producer(source, block)):
                trial = [x for x in inputs] + ([source] if source not in inputs else [])
                if derivable(trial, root.result.type):
                    inputs = trial
                else:
                    del aliases[v]
                    inputs.append(v)
        absorbed = [v for v, source in aliases.items() if source is not v]
        if len(members) < 2 and not absorbed:
            return
        if not derivable(inputs, root.result.type):
            return
        fused = build_fused(members, root, inputs, aliases)
        rewriter = self.rewriter
        rewriter.insert_before(root, fused)
        self.position[fused] = self.position[root]
        fused.result.name_hint = root.result.name_hint
        root.result.replace_all_uses_with(fused.result)
        for op in reversed(members):
            rewriter.erase(op)
        for v in absorbed:
            if not v.uses:
                rewriter.erase(v.op)


@register_pass
@record
class FuseMatmulEpilogue(Pass):
    """Fuse the elementwise consumer of a matmul into the matmul as its epilogue.

    ``relu(x @ w + b)``, once fused elementwise, becomes one ``hy.fused_matmul`` whose body
    adds the bias and applies the activation to each product element as it is computed.
    The matmul's result must feed only that consumer, unbroadcast.
    """

    name: ClassVar[str] = "fuse-matmul-epilogue"

    def run(self, module: ModuleOp) -> None:
        for op in list(module.walk()):
            if op.parent is not None and (isinstance(op, hy.FusedOp) or fusible(op)):
                self.fuse(op)

    def fuse(self, consumer: Operation) -> None:
        block = consumer.parent
        assert block is not None
        product = next((v for v in consumer.operands
                        if isinstance(producer(v, block), hy.MatmulOp) and len(v.uses) == 1
                        and shape_of(v.type) == shape_of(consumer.results[0].type)), None)
        if product is None:
            return
        fused = consumer if isinstance(consumer, hy.FusedOp) else build_fused(
            [consumer], consumer, list(dict.fromkeys(consumer.operands)), {})
        matmul = producer(product, block)
        assert matmul is not None
        self.merge(fused, consumer, matmul, fused.operands.index(product))

    @staticmethod
    def merge(fused: Operation, consumer: Operation, matmul: Operation, position: int) -> None:
        extras = [v for j, v in enumerate(fused.operands) if j != position]
        old_args = fused.regions[0].block.args
        body = Block([old_args[position].type, *(a.type for j, a in enumerate(old_args)
                                                   if j != position)])
        mapping: dict[Value, Value] = {old_args[position]: body.args[0]}
        mapping.update(zip([a for j, a in enumerate(old_args) if j != position], body.args[1:]))
        for op in fused.regions[0].block.ops:
            body.append(op.clone(mapping))
        new = hy.FusedMatmulOp([*matmul.operands, *extras], [consumer.results[0].type],
                               regions=[Region([body])], loc=consumer.loc)
        rewriter = Rewriter()
        rewriter.insert_before(consumer, new)
        new.result.name_hint = consumer.results[0].name_hint
        rewriter.replace(consumer, [new.result])
        if fused is not consumer:
            fused.drop_all_references()
        rewriter.erase(matmul)
