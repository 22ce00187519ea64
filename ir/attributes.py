"""Compile-time constant attributes attached to operations (``{axis = 1, keepdims = true}``)."""

from __future__ import annotations

import json
import math

import numpy as np

from hyc.record import record

from .diagnostics import VerifyError
from .types import Type, is_scalar, numpy_dtype, static_shape

# Dense constants above this many elements print as a hex blob instead of a nested list.
DENSE_LIST_LIMIT = 64


class Attribute:
    """Base class of attributes; subclasses are frozen records (hashable, comparable)."""


_F64 = np.dtype(np.float64)


def format_float(value: float, dtype: np.dtype = _F64) -> str:
    """Shortest text that parses back to exactly ``value`` at ``dtype``, always float-looking."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = str(dtype.type(value))
    if dtype.type(float(text)) != dtype.type(value):  # decimal->f64->f32 double rounding
        text = repr(float(value))
    if not any(c in text for c in ".einf"):
        text += ".0"
    return text


@record(frozen=True)
class IntAttr(Attribute):
    value: int

    def __str__(self) -> str:
        return str(self.value)


@record(frozen=True)
class FloatAttr(Attribute):
    value: float

    def __eq__(self, other: object) -> bool:  # NaN attributes are equal to themselves
        return isinstance(other, FloatAttr) and (
            self.value == other.value or (math.isnan(self.value) and math.isnan(other.value)))

    def __hash__(self) -> int:
        return hash(("float", repr(self.value)))

    def __str__(self) -> str:
        return format_float(self.value)


@record(frozen=True)
class BoolAttr(Attribute):
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@record(frozen=True)
class StringAttr(Attribute):
    value: str

    def __str__(self) -> str:
        return json.dumps(self.value)


@record(frozen=True)
class TypeAttr(Attribute):
    value: Type

    def __str__(self) -> str:
        return str(self.value)


@record(frozen=True)
class SymbolRefAttr(Attribute):
    """A reference to a symbol (a function) by name: ``@mlp``."""

    value: str

    def __str__(self) -> str:
        return "@" + self.value


@record(frozen=True)
class ArrayAttr(Attribute):
    value: tuple[Attribute, ...]

    def __str__(self) -> str:
        return "[" + ", ".join(map(str, self.value)) + "]"


# The most elements a constant may have: the compiler holds (and embeds) every one of them.
CONSTANT_ELEMENT_LIMIT = 2**27


@record(frozen=True, eq=False)
class DenseAttr(Attribute):
    """A constant scalar or tensor: ``dense<[1.0, 2.0]> : tensor<2xf32>``.

    The type must be static; values are held as a read-only numpy array of its dtype.
    """

    type: Type
    array: np.ndarray

    @staticmethod
    def from_values(type_: Type, values: object) -> DenseAttr:
        dtype = numpy_dtype(type_)
        shape = static_shape(type_)
        if math.prod(shape) > CONSTANT_ELEMENT_LIMIT:
            raise VerifyError(f"a constant {type_} is too large to build while compiling (more "
                              f"than 2**{CONSTANT_ELEMENT_LIMIT.bit_length() - 1} elements)", code="E0714")
        array = np.array(values, dtype=dtype)
        if array.shape != shape:
            array = np.broadcast_to(array, shape).copy()
        array.setflags(write=False)
        return DenseAttr(type_, array)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, DenseAttr) and self.type == other.type
                and self.array.tobytes() == other.array.tobytes())

    def __hash__(self) -> int:
        return hash((self.type, self.array.tobytes()))

    def is_splat(self) -> bool:
        flat = self.array.reshape(-1)
        return flat.size > 0 and bool(np.all(flat.view(np.uint8).reshape(flat.size, -1)
                                             == flat[:1].view(np.uint8)))

    def _literal(self) -> str:
        dtype = self.array.dtype
        if is_scalar(self.type) or self.is_splat():
            return _format_element(self.array.reshape(-1)[0], dtype)
        if self.array.size > DENSE_LIST_LIMIT or self.array.size == 0:
            return '"0x' + self.array.astype(dtype.newbyteorder("<")).tobytes().hex().upper() + '"'
        return _format_nested(self.array, dtype)

    def __str__(self) -> str:
        return f"dense<{self._literal()}> : {self.type}"


def _format_element(value: object, dtype: np.dtype) -> str:
    if dtype == np.bool_:
        return "true" if value else "false"
    if dtype.kind == "f":
        return format_float(float(value), dtype)  # type: ignore[arg-type]
    return str(int(value))  # type: ignore[call-overload]


def _format_nested(array: np.ndarray, dtype: np.dtype) -> str:
    if array.ndim == 0:
        return _format_element(array[()], dtype)
    return "[" + ", ".join(_format_nested(a, dtype) for a in array) + "]"


def dense_from_hex(type_: Type, hex_digits: str) -> DenseAttr:
    """Inverse of the hex form: little-endian raw element bytes."""
    dtype = numpy_dtype(type_).newbyteorder("<")
    raw = np.frombuffer(bytes.fromhex(hex_digits), dtype=dtype)
    return DenseAttr.from_values(type_, raw.reshape(static_shape(type_)))


def int_array(values: list[int] | tuple[int, ...]) -> ArrayAttr:
    return ArrayAttr(tuple(IntAttr(int(v)) for v in values))


def scalar_dense(type_: Type, value: object) -> DenseAttr:
    return DenseAttr.from_values(type_, value)


def as_python(attr: Attribute) -> object:
    """The plain Python value of an attribute (tuples for arrays, ndarray for dense)."""
    if isinstance(attr, ArrayAttr):
        return tuple(as_python(a) for a in attr.value)
    if isinstance(attr, DenseAttr):
        return attr.array
    return attr.value  # type: ignore[attr-defined]


__all__ = ["Attribute", "IntAttr", "FloatAttr", "BoolAttr", "StringAttr", "TypeAttr",
           "SymbolRefAttr", "ArrayAttr", "DenseAttr", "dense_from_hex", "int_array",
           "scalar_dense", "as_python", "format_float"]
