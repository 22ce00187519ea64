"""How each tensor-level op becomes loops over buffers (used by the bufferize pass): the rule
registry, the loop-building helpers, and the rules by op family."""

from hyc.ir import Operation
from hyc.ir.opdef import Elementwise
from hyc.ir.types import shape_of

from . import fused, linalg, printing, tensor  # noqa: F401  (each registers its rules)
from .elementwise import lower_elementwise
from .loop_building import (
    LoopBuilder,
    check_equal,
    const,
    dims_of,
    emit_body,
    load,
    parallel,
    sequential,
    store,
)
from .rules import RULES, Rule, rule


def lowering_rule(op: Operation) -> Rule | None:
    found = RULES.get(type(op))
    if found is None and Elementwise in op.traits and shape_of(op.results[0].type):
        return lower_elementwise
    return found


__all__ = ["RULES", "LoopBuilder", "Rule", "check_equal", "const", "dims_of", "emit_body", "load",
           "lowering_rule", "parallel", "rule", "sequential", "store"]
