"""Bufferization of elementwise ops: one parallel loop over the output."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hyc.ir import Operation, Value
from hyc.ir.types import MemRefType, Type, element_type, shape_of

from .loop_building import Access, broadcast_dims, dims_of, parallel, store

if TYPE_CHECKING:
    from ..bufferize import FunctionBufferization


def _scalar_clone(lower: FunctionBufferization, op: Operation, scalars: list[Value]) -> Value:
    clone = op.clone(dict(zip(op.operands, scalars)), element_type)
    return lower.b.insert(clone).result


def lower_elementwise(lower: FunctionBufferization, op: Operation) -> list[Value]:
    inputs = [lower.get(v) for v in op.operands]
    return elementwise(lower, op, inputs, op.result.type,
                       lambda scalars: _scalar_clone(lower, op, scalars), strict=True)


def elementwise(lower: FunctionBufferization, op: Operation, inputs: list[Value], out_type: Type,
                compute: Callable[[list[Value]], Value], strict: bool) -> list[Value]:
    dims = broadcast_dims(lower, inputs, out_type) if not strict else None
    if strict:
        first = next((v for v in inputs if isinstance(v.type, MemRefType)), None)
        dims = dims_of(lower, first) if first is not None else []
    assert dims is not None
    accesses = [Access(lower, v, dims, strict, op.name) for v in inputs]
    if not shape_of(out_type):  # every input is a scalar: no buffer at all
        return [compute([a.read(lower, []) for a in accesses])]
    out = lower.in_place_target(op, out_type) or lower.alloc(out_type, dims)

    def body(ivs: list[Value]) -> None:
        store(lower, compute([a.read(lower, ivs) for a in accesses]), out, ivs)

    parallel(lower, dims, body)
    return [out]
