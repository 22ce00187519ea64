"""Shape refinement: dimensions that become known (after inlining, folding or through
constant sizes) propagate forward into the types of the ops that use them."""

from __future__ import annotations

from typing import ClassVar

from hyc.ir import ModuleOp, Operation
from hyc.ir.dialects import hy
from hyc.ir.shapes import types_compatible
from hyc.ir.types import Type, element_type, make_type, shape_of
from hyc.record import record

from .manager import Pass, register_pass
from .rewrite import Rewriter, constant_value


def more_static(new: Type, old: Type) -> bool:
    """``new`` is compatible with ``old`` and knows more of its dimensions."""
    if new == old or not types_compatible(new, old):
        return False
    def known(t: Type) -> int:
        return sum(2 if isinstance(d, int) else 1 if d != "?" else 0 for d in shape_of(t))
    return known(new) > known(old)


@register_pass
@record
class RefineShapes(Pass):
    """Propagate dimensions that become known into the types of later ops.

    Each op's result type is re-inferred from its operands and replaced when the inference
    knows more (a ``?`` or a name becomes a size, a ``?`` becomes a name). Sizes given to
    ``hy.broadcast_to``/``hy.reshape`` as constants become static dimensions of the result.
    """

    name: ClassVar[str] = "refine-shapes"

    def run(self, module: ModuleOp) -> None:
        for op in list(module.walk()):
            if op.parent is None:
                continue
            if isinstance(op, hy.tensor.SizedResultOp):
                op = self.constant_sizes(op)
            inferred = None
            try:
                inferred = op.infer_result_types([v.type for v in op.operands], op.attributes)
            except Exception:  # an ill-typed op: the verifier reports it
                continue
            for result, t in zip(op.results, inferred or []):
                if more_static(t, result.type):
                    result.type = t

    @staticmethod
    def constant_sizes(op: Operation) -> Operation:
        sizes = op.operands[1:]
        known = [constant_value(v) for v in sizes]
        if all(k is None for k in known):
            return op
        shape, remaining, it = [], [], iter(zip(sizes, known))
        for d in shape_of(op.result.type):
            if isinstance(d, int):
                shape.append(d)
                continue
            value, constant = next(it)
            if constant is None:
                shape.append(d)
                remaining.append(value)
            else:
                shape.append(int(constant.array))
        new_type = make_type(element_type(op.result.type), tuple(shape))
        new = type(op)([op.operands[0], *remaining], [new_type], dict(op.attributes), loc=op.loc)
        rewriter = Rewriter()
        rewriter.insert_before(op, new)
        new.result.name_hint = op.result.name_hint
        rewriter.replace(op, [new.result])
        return new
