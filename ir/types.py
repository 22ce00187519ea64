"""IR types: scalars, tensors (value semantics), buffers (memrefs) and function types.

A tensor dimension is an ``int`` (static size), ``"?"`` (dynamic, anonymous) or any other
string (dynamic, named: ``tensor<Nx512xf32>``).  Rank-0 values are scalar types, never
``tensor<f32>``: one spelling per meaning keeps type checks simple.
"""

from __future__ import annotations

import re

import numpy as np

from hyc.record import record

Dim = int | str
DYNAMIC = "?"
Shape = tuple[Dim, ...]

_BARE_DIM_NAME = re.compile(r"[A-Za-wyzA-Z_][A-Za-wyz0-9_]*")
MEMORY_SPACES = ("host", "global", "shared")


class Type:
    """Base class of all IR types; subclasses are frozen records (hashable, comparable)."""


@record(frozen=True)
class FloatType(Type):
    width: int

    def __str__(self) -> str:
        return f"f{self.width}"


@record(frozen=True)
class IntegerType(Type):
    """Signless integer; ``i1`` is the boolean type."""

    width: int

    def __str__(self) -> str:
        return f"i{self.width}"


@record(frozen=True)
class IndexType(Type):
    """Machine-sized integer used for sizes, dimensions and loop induction variables."""

    def __str__(self) -> str:
        return "index"


ScalarType = FloatType | IntegerType | IndexType


def format_dim(dim: Dim) -> str:
    if isinstance(dim, int) or dim == DYNAMIC:
        return str(dim)
    # 'x' separates dims, so a name holding an 'x' is quoted.
    return dim if _BARE_DIM_NAME.fullmatch(dim) else '"' + dim + '"'


def _format_shaped(kind: str, shape: Shape, element: Type, suffix: str = "") -> str:
    dims = "".join(format_dim(d) + "x" for d in shape)
    return f"{kind}<{dims}{element}{suffix}>"


# The most elements a static shape may hold (and so the largest static size): a buffer's byte
# count must fit in 64 bits with room to spare.
MAX_STATIC_ELEMENTS = 2**48


def static_size_problem(shape: Shape) -> str | None:
    """Why a shape's static sizes cannot be compiled, or None."""
    total = 1
    for d in shape:
        if isinstance(d, int):
            if d > MAX_STATIC_ELEMENTS:
                return f"the size {_abbreviated(d)} is too large (at most 2**48)"
            total *= d
    if total > MAX_STATIC_ELEMENTS:
        return f"{_abbreviated(total)} elements are too many for one tensor (at most 2**48)"
    return None


def _abbreviated(n: int) -> str:
    text = str(n) if n.bit_length() < 200 else f"a {len(hex(n)) * 6 // 5}-digit number"
    return text


@record(frozen=True)
class TensorType(Type):
    """An immutable n-d array value (rank >= 1)."""

    shape: Shape
    element: ScalarType

    def __post_init__(self) -> None:
        if not self.shape:
            raise ValueError("rank-0 tensors are spelled as scalar types")

    def __str__(self) -> str:
        return _format_shaped("tensor", self.shape, self.element)


@record(frozen=True)
class MemRefType(Type):
    """A buffer in a memory space (``host``, device ``global`` or device ``shared``)."""

    shape: Shape
    element: ScalarType
    space: str = "host"

    def __str__(self) -> str:
        suffix = "" if self.space == "host" else f", {self.space}"
        return _format_shaped("memref", self.shape, self.element, suffix)


@record(frozen=True)
class FunctionType(Type):
    inputs: tuple[Type, ...]
    results: tuple[Type, ...]

    def __str__(self) -> str:
        return f"({', '.join(map(str, self.inputs))}) -> {format_result_types(self.results)}"


def format_result_types(types: tuple[Type, ...] | list[Type]) -> str:
    if len(types) == 1 and not isinstance(types[0], FunctionType):
        return str(types[0])
    return "(" + ", ".join(map(str, types)) + ")"


f32 = FloatType(32)
f64 = FloatType(64)
i1 = IntegerType(1)
i32 = IntegerType(32)
i64 = IntegerType(64)
index = IndexType()

SCALAR_TYPES: dict[str, ScalarType] = {str(t): t for t in (f32, f64, i1, i32, i64, index)}

_DTYPES: dict[Type, np.dtype] = {f32: np.dtype(np.float32), f64: np.dtype(np.float64), i1: np.dtype(np.bool_),
           i32: np.dtype(np.int32), i64: np.dtype(np.int64), index: np.dtype(np.int64)}


def is_scalar(t: Type) -> bool:
    return isinstance(t, (FloatType, IntegerType, IndexType))


def is_value_type(t: Type) -> bool:
    """Scalar or tensor: the types that tensor-level ops compute on."""
    return is_scalar(t) or isinstance(t, TensorType)


def element_type(t: Type) -> ScalarType:
    if isinstance(t, (TensorType, MemRefType)):
        return t.element
    assert is_scalar(t), t
    return t  # type: ignore[return-value]


def shape_of(t: Type) -> Shape:
    return t.shape if isinstance(t, (TensorType, MemRefType)) else ()


def make_type(element: ScalarType, shape: Shape) -> Type:
    """The value type with this element and shape: a scalar for shape ()."""
    return TensorType(tuple(shape), element) if len(shape) else element


def is_float(t: Type) -> bool:
    return isinstance(element_type(t), FloatType)


def is_bool(t: Type) -> bool:
    return element_type(t) == i1


def is_integer(t: Type) -> bool:
    """Integer arithmetic types: i32, i64, index (not the boolean i1)."""
    return isinstance(element_type(t), (IntegerType, IndexType)) and not is_bool(t)


def is_numeric(t: Type) -> bool:
    return is_float(t) or is_integer(t)


def numpy_dtype(t: Type) -> np.dtype:
    return _DTYPES[element_type(t)]


def scalar_type_for_dtype(dtype: np.dtype) -> ScalarType | None:
    for t in (f32, f64, i1, i32, i64):
        if _DTYPES[t] == dtype:
            return t
    return None


def is_static(shape: Shape) -> bool:
    return all(isinstance(d, int) for d in shape)


def static_shape(t: Type) -> tuple[int, ...]:
    """The shape of a type whose dims are all static (checked)."""
    shape = shape_of(t)
    assert is_static(shape), f"{t} has dynamic dimensions"
    return tuple(int(d) for d in shape)


def element_count(shape: Shape) -> int | None:
    """Number of elements, or None when a dimension is dynamic."""
    if not is_static(shape):
        return None
    count = 1
    for d in shape:
        count *= int(d)
    return count
