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

from hyc.ir import Block, DenseAttr, Operation, OpResult, Value
from hyc.ir.attributes import Attribute
from hyc.ir.dialects import hy
from hyc.ir.opdef import Pure
from hyc.ir.types import element_type, is_static, make_type, numpy_dtype, shape_of

from .effects import Effects

# Folding a constant bigger than this (unless all its elements are equal) would bloat the IR.
FOLD_ELEMENT_LIMIT = 1024


def constant_value(value: Value) -> DenseAttr | None:
    if isinstance(value, OpResult) and isinstance(value.op, hy.ConstantOp):
        return value.op.attributes["value"]  # type: ignore[return-value]
    return None


def is_splat_of(value: Value, number: float) -> bool:
    """Whether ``value`` is a constant with every element equal to ``number``."""
    attr = constant_value(value)
    if attr is None or attr.array.size == 0:
        return False
    flat = attr.array.reshape(-1)
    return bool(np.all(flat == number)) and (number != 0 or not np.signbit(flat).any())


class Rewriter:
    """What patterns may do to the IR; it tracks that something changed."""

    def __init__(self) -> None:
        self.changed = False

    def insert_before(self, anchor: Operation, op: Operation) -> Operation:
        assert anchor.parent is not None
        anchor.parent.insert(anchor.parent.ops.index(anchor), op)
        self.changed = True
        return op

    def constant(self, anchor: Operation, attr: DenseAttr) -> Value:
        op = hy.ConstantOp(result_types=[attr.type], attributes={"value": attr}, loc=anchor.loc)
        return self.insert_before(anchor, op).result

    def replace(self, op: Operation, values: list[Value]) -> None:
        for result, value in zip(op.results, values):
            if value.name_hint is None:
                value.name_hint = result.name_hint
            result.replace_all_uses_with(value)
        self.erase(op)

    def erase(self, op: Operation) -> None:
        op.erase()
        self.changed = True

    def inline_block_before(self, block: Block, anchor: Operation) -> list[Value]:
        """Move a region's ops (all but its terminator) before ``anchor``; return the
        terminator's operands."""
        terminator = block.ops[-1]
        for op in block.ops[:-1]:
            op.parent = None
            self.insert_before(anchor, op)
        block.ops = [terminator]
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
    out = [constant_for(result, array) for result, array in zip(op.results, results)]
    return out if all(small(a) for a in out) else None  # type: ignore[return-value]


def simplify(op: Operation, rewriter: Rewriter, effects: Effects) -> None:
    """One attempt at every simplification of ``op``."""
    if not effects.has_effects(op) and all(not r.uses for r in op.results) and op.results:
        rewriter.erase(op)
        return
    folded = op.fold([constant_value(v) for v in op.operands]) or fold_constants(op)
    if folded is not None:
        values = [f if isinstance(f, Value) else rewriter.constant(op, f) for f in folded]  # type: ignore[arg-type]
        rewriter.replace(op, values)
        return
    for pattern in type(op).canonicalization_patterns:
        if pattern(op, rewriter):
            return


def _attached(op: Operation, root: Operation) -> bool:
    while op is not root:
        block = op.parent
        if block is None or block.parent is None or block.parent.parent is None:
            return False
        if op not in block.ops:
            return False
        op = block.parent.parent
    return True


def apply_greedily(root: Operation, effects: Effects,
                   step: Callable[[Operation, Rewriter, Effects], None] = simplify,
                   max_rounds: int = 20) -> bool:
    """Apply ``step`` to every op under ``root`` (innermost first) until nothing changes."""
    changed_any = False
    for _ in range(max_rounds):
        rewriter = Rewriter()
        for op in reversed(list(root.walk())):
            if op is not root and _attached(op, root):
                step(op, rewriter, effects)
        changed_any |= rewriter.changed
        if not rewriter.changed:
            break
    return changed_any
