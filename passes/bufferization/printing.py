"""Bufferization of ``hy.print``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hyc.ir import Operation, Value
from hyc.ir.dialects import buf, hy

from .rules import rule

if TYPE_CHECKING:
    from ..bufferize import FunctionBufferization


@rule(hy.PrintOp)
def _print(lower: FunctionBufferization, op: Operation) -> list[Value]:
    lower.b.create(buf.PrintOp, [lower.get(v) for v in op.operands], result_types=[])
    return []
