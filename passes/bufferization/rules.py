"""The registry of bufferization rules: how each tensor-level op becomes loops over buffers.

Every rule reads its operands through ``lower.get`` (buffers for tensors, scalars as they
are), allocates its result with ``lower.alloc`` and returns it. The rules live beside the op
families they lower (``elementwise.py``, ``fused.py``, ``linalg.py``, ``tensor.py``,
``printing.py``, as in ``ir/dialects/hy/``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hyc.ir import Operation, Value

if TYPE_CHECKING:
    from ..bufferize import FunctionBufferization

Rule = Callable[["FunctionBufferization", Operation], list[Value]]
RULES: dict[type[Operation], Rule] = {}


def rule(*op_classes: type[Operation]) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for cls in op_classes:
            RULES[cls] = fn
        return fn
    return register
