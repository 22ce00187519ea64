"""Canonicalization, common-subexpression elimination, dead-code elimination and
loop-invariant code motion: the passes that clean up after every other one."""

from __future__ import annotations

from collections import ChainMap
from typing import ClassVar

from hyc.ir import Block, ForOp, ModuleOp, Operation
from hyc.ir.dialects import buf
from hyc.record import record

from .effects import Effects
from .manager import Pass, register_pass
from .rewrite import Rewriter, apply_greedily


@register_pass
@record
class Canonicalize(Pass):
    """Fold constants and apply every op's simplification patterns until nothing changes.

    Runs each op's ``fold`` (``x + -0.0``, ``x * 1``, ``neg(neg(x))``, ``select`` on a constant
    condition, sizes of static dimensions, ...), evaluates pure ops whose operands are all
    constants, applies the ops' rewrite patterns (transpose of transpose, reshape of reshape,
    ``scf.if`` on a constant, loops that never run, ...) and erases unused pure ops, driven by
    a worklist (passes/rewrite.py) so that the work grows linearly with the program.
    """

    name: ClassVar[str] = "canonicalize"
    max_rounds: int = 20

    def run(self, module: ModuleOp) -> bool:
        return apply_greedily(module, Effects(module), max_rounds=self.max_rounds)


def _key(op: Operation) -> tuple:
    return (op.name, tuple(id(v) for v in op.operands), tuple(sorted(op.attributes.items())),
            tuple(r.type for r in op.results))


@register_pass
@record
class CSE(Pass):
    """Merge pure ops that compute the same thing from the same operands.

    An op is replaced by an equal one that dominates it (earlier in its block or in an
    enclosing one). Ops with side effects (``hy.print``, calls of printing functions) and
    ops with regions are never merged.
    """

    name: ClassVar[str] = "cse"

    def run(self, module: ModuleOp) -> bool:
        self.effects = Effects(module)
        changed = [self._block(func.regions[0].block, ChainMap()) for func in module.functions]
        return any(changed)

    def _block(self, block: Block, seen: ChainMap) -> bool:
        """Whether anything in ``block`` (or the blocks inside it) was merged."""
        rewriter = Rewriter(deferred=True)
        changed = False
        for op in list(block.ops):
            for region in op.regions:
                for inner in region.blocks:
                    changed |= self._block(inner, seen.new_child())
            if not self.effects.is_pure(op):
                continue
            key = _key(op)
            if key in seen:
                rewriter.replace(op, list(seen[key].results))
            else:
                seen[key] = op
        rewriter.finish()
        return changed or rewriter.changed


@register_pass
@record
class DCE(Pass):
    """Erase ops whose results are unused and that have no side effects.

    Loops and branches whose results are unused go too when nothing inside them prints;
    ``hy.print`` and calls of functions that print always stay.
    """

    name: ClassVar[str] = "dce"

    def run(self, module: ModuleOp) -> bool:
        effects = Effects(module)

        def step(op: Operation, rewriter: Rewriter, _: Effects) -> None:
            if op.results and not effects.has_effects(op) and all(not r.uses for r in op.results):
                rewriter.erase(op)

        return apply_greedily(module, effects, step)


@register_pass
@record
class LICM(Pass):
    """Hoist loop-invariant pure ops out of `scf.for` and `buf.parallel` bodies.

    An op moves in front of its loop when it is pure and all its operands are defined
    outside the loop (or by ops already hoisted). Hoisting is safe even for loops that run
    zero times, since pure hy ops never trap.
    """

    name: ClassVar[str] = "licm"

    def run(self, module: ModuleOp) -> bool:
        effects = Effects(module)
        loops = [op for op in module.walk() if isinstance(op, ForOp | buf.ParallelOp)]
        hoisted = [self._hoist(loop, effects) for loop in loops[::-1]]
        return any(hoisted)

    def _hoist(self, loop: Operation, effects: Effects) -> bool:
        """Whether an op left ``loop``."""
        inside = loop.defined_inside()
        moved = False
        for op in list(loop.regions[0].block.ops):
            if effects.is_pure(op) and not any(v in inside for v in op.operands):
                op.move_before(loop)
                inside.difference_update(op.results)
                moved = True
        return moved
