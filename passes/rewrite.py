"""The one rewrite driver: folds and rewrite patterns applied greedily until nothing changes.

Ops declare their simplifications beside their definitions (``fold`` and
``canonicalization_patterns``); this module applies them, folds every pure op whose operands
are all constants by running its reference semantics (``evaluate``), and erases ops whose
results nobody uses and that have no side effects.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from hyc.ir import Block, DenseAttr, HycError, Operation, OpResult, Value
from hyc.ir.attributes import Attribute
from hyc.ir.dialects import hy
from hyc.ir.opdef import Pure
from hyc.ir.types import element_type, is_static, make_type, numpy_dtype, shape_of

from .effects import Effects

# Folding a constant bigger than this (unless all its elements are equal) would bloat the IR.
FOLD_ELEMENT_LIMIT = 1024


def constant_value(value: Value) -> DenseAttr | None:
    if isinstance(value, OpResult) and isinstance(value.op, hy.ConstantOp):
        return value.op.attributes["value"]
    return None


def is_splat_of(value: Value, number: float) -> bool:
    """Whether ``value`` is a constant with every element equal to ``number``."""
    attr = constant_value(value)
    if attr is None or attr.array.size == 0:
        return False
    flat = attr.array.reshape(-1)
    return bool(np.all(flat == number)) and (number != 0 or not np.signbit(flat).any())


class Rewriter:
    """What patterns may do to the IR. It tracks that something changed and tells the driver
    which ops to look at again: new ops, users of replaced values, producers of erased ops'
    operands (they may have become dead)."""

    def __init__(self, revisit: Callable[[Operation], None] = lambda op: None,
                 deferred: bool = False) -> None:
        self.changed = False
        self.revisit = revisit
        # Deferred: erased ops stay listed (marked) in their blocks until finish(), which
        # takes them out with one pass per block: erasing k ops of an n-op block costs O(n),
        # not O(k n). Only for walks that skip erased ops (the greedy driver, CSE).
        self.deferred = deferred
        self.holding: list[Block] = []

    def set_operand(self, op: Operation, index: int, value: Value) -> None:
        """Change one operand of ``op`` in place."""
        op.set_operand(index, value)
        self.changed = True
        self.revisit(op)

    def insert_before(self, anchor: Operation, op: Operation) -> Operation:
        assert anchor.parent is not None
        anchor.parent.insert(anchor.parent.ops.index(anchor), op)
        self.changed = True
        self.revisit(op)
        return op

    def constant(self, anchor: Operation, attr: DenseAttr) -> Value:
        op = hy.ConstantOp(result_types=[attr.type], attributes={"value": attr}, loc=anchor.loc)
        return self.insert_before(anchor, op).result

    def replace(self, op: Operation, values: list[Value]) -> None:
        for result, value in zip(op.results, values):
            if value.name_hint is None:
                value.name_hint = result.name_hint
            for use in result.uses:
                self.revisit(use.op)
            result.replace_all_uses_with(value)
        self.erase(op)

    def erase(self, op: Operation) -> None:
        for operand in op.operands:
            if isinstance(operand, OpResult):
                self.revisit(operand.op)
        if op.parent is not None and self.deferred:
            self.holding.append(op.parent)
        op.erase(unlink=not self.deferred)
        self.changed = True

    def finish(self) -> None:
        """Take erased ops out of their blocks (once per block)."""
        for block in dict.fromkeys(self.holding):
            block.drop_erased()
        self.holding.clear()

    def inline_block_before(self, block: Block, anchor: Operation) -> list[Value]:
        """Move a region's ops (all but its terminator) before ``anchor``; return the
        terminator's operands."""
        terminator = block.ops[-1]
        for op in block.ops[:-1]:
            if op.erased:
                op.detach()
            else:
                op.move_before(anchor)
                self.changed = True
                self.revisit(op)
        return list(terminator.operands)


def constant_for(result: Value, array: np.ndarray) -> DenseAttr:
    """A constant holding ``array`` for ``result``: of its type, or, where the type leaves
    dimensions open, of the shape the value turned out to have."""
    t = result.type
    if not is_static(shape_of(t)):
        t = make_type(element_type(t), np.shape(array))
    return DenseAttr.from_values(t, np.asarray(array, numpy_dtype(t)))


def small(attr: DenseAttr) -> bool:
    return attr.array.size <= FOLD_ELEMENT_LIMIT or attr.is_splat()


def fold_constants(op: Operation) -> list[Attribute] | None:
    """Run a pure op on constant operands (its reference semantics) and keep small results."""
    if Pure not in op.traits or not op.operands or type(op).evaluate is Operation.evaluate:
        return None
    attrs = [constant_value(v) for v in op.operands]
    if any(a is None for a in attrs):
        return None
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            results = op.evaluate([a.array for a in attrs])  # type: ignore[union-attr]
        except Exception:  # e.g. a shape error the program would hit at run time: leave it
            return None
    if any(np.size(array) > FOLD_ELEMENT_LIMIT and not _uniform(array) for array in results):
        return None
    try:
        out = [constant_for(result, array) for result, array in zip(op.results, results)]
    except HycError:  # too large to hold as a constant: it stays a computation
        return None
    return out if all(small(a) for a in out) else None


def _uniform(array: np.ndarray) -> bool:
    flat = np.asarray(array).reshape(-1)
    return bool(flat.size) and bool(np.all(flat == flat[0]))


def simplify(op: Operation, rewriter: Rewriter, effects: Effects) -> None:
    """One attempt at every simplification of ``op``."""
    if not effects.has_effects(op) and all(not r.uses for r in op.results) and op.results:
        rewriter.erase(op)
        return
    folded = op.fold([constant_value(v) for v in op.operands]) or fold_constants(op)
    if folded is not None:
        values = [f if isinstance(f, Value) else rewriter.constant(op, f) for f in folded]
        rewriter.replace(op, values)
        return
    for pattern in type(op).canonicalization_patterns:
        if pattern(op, rewriter):
            return


def apply_greedily(root: Operation, effects: Effects,
                   step: Callable[[Operation, Rewriter, Effects], None] = simplify,
                   max_rounds: int = 20) -> bool:
    """Apply ``step`` to every op under ``root`` until nothing changes, as MLIR's greedy
    driver does: a worklist of ops (defs before uses) to which a change adds the ops it may
    enable, so the work grows with the changes, not with rounds over the whole IR. A round
    that changed something is followed by another over all ops (up to ``max_rounds``), which
    confirms the fixed point."""
    changed_any = False
    for _ in range(max_rounds):
        changed = _run_worklist(root, effects, step)
        changed_any |= changed
        if not changed:
            break
    return changed_any


def _run_worklist(root: Operation, effects: Effects,
                  step: Callable[[Operation, Rewriter, Effects], None]) -> bool:
    stack = [op for op in root.walk() if op is not root]
    stack.reverse()  # popped from the end: first op first
    queued = set(stack)

    def revisit(op: Operation) -> None:
        if op not in queued:
            queued.add(op)
            stack.append(op)

    rewriter = Rewriter(revisit, deferred=True)
    while stack:
        op = stack.pop()
        queued.discard(op)
        if not op.erased:
            step(op, rewriter, effects)
    rewriter.finish()
    return rewriter.changed
