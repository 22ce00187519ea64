"""Shape algebra shared by op type inference, the verifier and the frontends.

Two dimensions are *compatible* unless both are static and differ: a dynamic dimension
(``?`` or a name) may turn out to be anything at run time, where the interpreter and the
compiled code's argument checks enforce it.
"""

from __future__ import annotations

from collections.abc import Callable

from .types import (
    DYNAMIC,
    Dim,
    MemRefType,
    Shape,
    TensorType,
    Type,
    element_type,
    is_value_type,
    shape_of,
)


def dims_compatible(a: Dim, b: Dim) -> bool:
    return a == b or not (isinstance(a, int) and isinstance(b, int))


def shapes_compatible(a: Shape, b: Shape) -> bool:
    return len(a) == len(b) and all(dims_compatible(x, y) for x, y in zip(a, b))


def merge_dims(a: Dim, b: Dim) -> Dim:
    """The more specific of two compatible dims: static, then named, then ``?``."""
    if isinstance(a, int):
        return a
    if isinstance(b, int):
        return b
    return a if a != DYNAMIC else b


def merge_shapes(a: Shape, b: Shape) -> Shape:
    return tuple(merge_dims(x, y) for x, y in zip(a, b))


def types_compatible(a: Type, b: Type) -> bool:
    """Same kind and element type, same rank, compatible dims (and memory space)."""
    if a == b:
        return True
    if type(a) is not type(b) or not isinstance(a, (TensorType, MemRefType)):
        return False
    if isinstance(a, MemRefType) and isinstance(b, MemRefType) and a.space != b.space:
        return False
    return element_type(a) == element_type(b) and shapes_compatible(a.shape, shape_of(b))


def broadcastable_to(source: Shape, target: Shape) -> bool:
    """numpy's rule, right-aligned: each source dim is 1 or matches the target dim."""
    if len(source) > len(target):
        return False
    tail = target[len(target) - len(source):]
    return all(s == 1 or dims_compatible(s, t) for s, t in zip(source, tail))


def broadcast_shapes(a: Shape, b: Shape,
                     agree: Callable[[Dim, Dim], bool] = dims_compatible) -> Shape | None:
    """The numpy broadcast of two shapes, or None if they cannot broadcast.

    ``agree`` decides whether two dimensions, neither of them 1, may be the same size: the
    IR accepts any that are not different sizes; the frontend is stricter about names.
    """
    rank = max(len(a), len(b))
    a = (1,) * (rank - len(a)) + tuple(a)
    b = (1,) * (rank - len(b)) + tuple(b)
    out: list[Dim] = []
    for x, y in zip(a, b):
        if x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        elif agree(x, y):
            out.append(merge_dims(x, y))
        else:
            return None
    return tuple(out)


def dynamic_dim_count(shape: Shape) -> int:
    return sum(1 for d in shape if not isinstance(d, int))


def value_shape(t: Type) -> Shape:
    assert is_value_type(t), t
    return shape_of(t)
