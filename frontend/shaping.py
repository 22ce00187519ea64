"""Shape plumbing shared by both frontends: numpy broadcasting made explicit in hy IR.

A dynamic dimension of a result needs an ``index`` operand for its size; these helpers
read it (``hy.dim``) from whichever source value carries that dimension.
"""

from __future__ import annotations

from collections.abc import Sequence

from hyc.ir import Builder, Value
from hyc.ir.attributes import IntAttr
from hyc.ir.dialects import hy
from hyc.ir.types import Shape, element_type, make_type, shape_of


def size_of(b: Builder, target: Shape, axis: int, sources: Sequence[Value]) -> Value:
    """An index value for the dynamic dimension ``target[axis]`` (right-aligned), read from
    the first source that has it."""
    rank = len(target)
    for v in sources:
        shape = shape_of(v.type)
        j = axis - (rank - len(shape))
        if j >= 0 and shape[j] == target[axis]:
            return b.create(hy.DimOp, [v], {"axis": IntAttr(j)}).result
    raise AssertionError(f"no source for dimension {axis} of {target}")


def broadcast_value(b: Builder, value: Value, target: Shape, sources: Sequence[Value]) -> Value:
    """``value`` broadcast to ``target`` by numpy's rules (itself if it has that shape)."""
    if shape_of(value.type) == tuple(target):
        return value
    sizes = [size_of(b, target, i, sources) for i, d in enumerate(target) if not isinstance(d, int)]
    result = make_type(element_type(value.type), target)
    return b.create(hy.BroadcastToOp, [value, *sizes], result_types=[result]).result
