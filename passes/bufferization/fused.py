"""Bufferization of ``hy.fused``: its body inlined into one parallel loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hyc.ir import Operation, Value
from hyc.ir.dialects import hy

from .elementwise import elementwise
from .loop_building import emit_body
from .rules import rule

if TYPE_CHECKING:
    from ..bufferize import FunctionBufferization


@rule(hy.FusedOp)
def _fused(lower: FunctionBufferization, op: Operation) -> list[Value]:
    inputs = [lower.get(v) for v in op.operands]
    return elementwise(lower, op, inputs, op.result.type,
                       lambda scalars: emit_body(lower, op.regions[0].block, scalars), strict=False)
