"""Elementwise ``hy`` ops: arithmetic, math functions, comparisons, logic, select, cast.

Elementwise operands have equal shapes (compatible dims) and equal element types: numpy
broadcasting is made explicit by ``hy.broadcast_to`` and dtype promotion by ``hy.cast``, so
every backend lowers these ops to one loop over elements.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ...attributes import Attribute, DenseAttr
from ...core import Operation, OpResult, Value
from ...diagnostics import InterpreterError, VerifyError
from ...opdef import (
    ANY_VALUE,
    BOOL,
    FLOAT,
    NUMERIC,
    Commutative,
    Elementwise,
    OperandDef,
    Pure,
    ResultDef,
    bool_attr,
)
from ...shapes import merge_shapes, shapes_compatible
from ...types import ScalarType, Type, element_type, i1, is_float, is_static, make_type, numpy_dtype, shape_of


def common_shape(types: list[Type]) -> tuple:
    shape = shape_of(types[0])
    for t in types[1:]:
        if not shapes_compatible(shape, shape_of(t)):
            raise VerifyError(f"operand shapes differ: {types[0]} vs {t} (elementwise operands "
                              "need equal shapes; broadcast with hy.broadcast_to)", code="E0301")
        shape = merge_shapes(shape, shape_of(t))
    return shape


def check_same_shapes(op: Operation, args: list[np.ndarray]) -> None:
    """Dynamic dims are only known at run time; numpy would broadcast where hy must not."""
    if any(a.shape != args[0].shape for a in args[1:]):
        shapes = " vs ".join(str(a.shape) for a in args)
        raise InterpreterError(f"operands have different shapes at run time: {shapes}", op.loc, code="E1006")


class ElementwiseOp(Operation):
    """Base of elementwise ops; subclasses give ``name``, operand defs and ``reference``."""

    traits = frozenset({Pure, Elementwise})
    result_defs = (ResultDef("output"),)
    result_element: ClassVar[ScalarType | None] = None  # i1 for comparisons
    typed_from: ClassVar[int] = 0  # operands from here on share one element type

    reference: ClassVar[Any]  # the numpy function (or staticmethod) this op computes

    @classmethod
    def infer_result_types(cls, operand_types: list[Type], attributes: dict) -> list[Type]:
        shape = common_shape(operand_types)
        typed = operand_types[cls.typed_from:]
        if len({element_type(t) for t in typed}) > 1:
            raise VerifyError("operand element types differ: "
                              + " vs ".join(str(t) for t in typed) + " (insert hy.cast)", code="E0303")
        return [make_type(cls.result_element or element_type(typed[0]), shape)]

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        check_same_shapes(self, args)
        return [np.asarray(type(self).reference(*args))]


class UnaryOp(ElementwiseOp):
    operand_defs = (OperandDef("input", NUMERIC),)


class FloatUnaryOp(ElementwiseOp):
    operand_defs = (OperandDef("input", FLOAT),)


class BinaryOp(ElementwiseOp):
    operand_defs = (OperandDef("lhs", NUMERIC), OperandDef("rhs", NUMERIC))


class CompareOp(ElementwiseOp):
    operand_defs = (OperandDef("lhs", NUMERIC), OperandDef("rhs", NUMERIC))
    result_element = i1


class LogicalOp(ElementwiseOp):
    operand_defs = (OperandDef("lhs", BOOL), OperandDef("rhs", BOOL))


# -- folds: identities that hold exactly, for every value (NaN, infinities and signed zeros) --
def _splat(attr: Attribute | None, number: float) -> bool:
    if not isinstance(attr, DenseAttr) or attr.array.size == 0:
        return False
    flat = attr.array.reshape(-1)
    return bool(np.all(flat == number))


def _zero(attr: Attribute | None, negative: bool) -> bool:
    """An exact additive identity: integer 0; for floats -0.0 (x + -0.0 == x, even for x = -0.0)
    when adding, +0.0 when subtracting."""
    if not _splat(attr, 0):
        return False
    array = attr.array  # type: ignore[union-attr]
    return array.dtype.kind != "f" or bool(np.all(np.signbit(array) == negative))


def _same(value: Value, op: Operation) -> list[Attribute | Value] | None:
    return [value] if value.type == op.result.type else None


def _producer(value: Value, op_class: type[Operation]) -> Operation | None:
    return value.op if isinstance(value, OpResult) and isinstance(value.op, op_class) else None


def _fold_add(self: Operation, constants: list[Attribute | None]) -> list[Attribute | Value] | None:
    lhs, rhs = self.operands
    if _zero(constants[1], negative=True):
        return _same(lhs, self)
    if _zero(constants[0], negative=True):
        return _same(rhs, self)
    return None


def _fold_sub(self: Operation, constants: list[Attribute | None]) -> list[Attribute | Value] | None:
    return _same(self.operands[0], self) if _zero(constants[1], negative=False) else None


def _fold_mul(self: Operation, constants: list[Attribute | None]) -> list[Attribute | Value] | None:
    lhs, rhs = self.operands
    if _splat(constants[1], 1):
        return _same(lhs, self)
    if _splat(constants[0], 1):
        return _same(rhs, self)
    return None


def _fold_by_one(self: Operation, constants: list[Attribute | None]) -> list[Attribute | Value] | None:
    return _same(self.operands[0], self) if _splat(constants[1], 1) else None


def _fold_involution(self: Operation, constants: list[Attribute | None]) -> list[Attribute | Value] | None:
    inner = _producer(self.operands[0], type(self))
    return _same(inner.operands[0], self) if inner is not None else None


def _fold_idempotent(self: Operation, constants: list[Attribute | None]) -> list[Attribute | Value] | None:
    lhs, rhs = self.operands
    return _same(lhs, self) if lhs is rhs else None


def _fold_select(self: Operation, constants: list[Attribute | None]) -> list[Attribute | Value] | None:
    cond, yes, no = self.operands
    if _splat(constants[0], True):
        return _same(yes, self)
    if _splat(constants[0], False):
        return _same(no, self)
    return _same(yes, self) if yes is no else None


def _fold_reflexive(self: Operation, constants: list[Attribute | None]) -> list[Attribute | Value] | None:
    """``x == x`` is true for integers (not for a float NaN); ``x != x`` false, and so on."""
    lhs, rhs = self.operands
    if lhs is not rhs or is_float(lhs.type) or not is_static(shape_of(self.result.type)):
        return None
    holds = type(self).name in ("hy.eq", "hy.le", "hy.ge")
    return [DenseAttr.from_values(self.result.type, holds)]


def _fold_logic(self: Operation, constants: list[Attribute | None]) -> list[Attribute | Value] | None:
    """``x or true`` is true, ``x or false`` is x; ``x and false`` is false, ``x and true`` x."""
    absorbing = type(self).name == "hy.or"
    for i in (0, 1):
        other = self.operands[1 - i]
        if _splat(constants[i], absorbing) and self.operands[i].type == self.result.type:
            return [self.operands[i]]
        if _splat(constants[i], not absorbing):
            return _same(other, self)
    return None


def _fold_cast(self: Operation, constants: list[Attribute | None]) -> list[Attribute | Value] | None:
    return _same(self.operands[0], self)


# -- unary ------------------------------------------------------------------------------------
class NegOp(UnaryOp):
    """``-x`` (integers wrap around)."""
    name = "hy.neg"
    fold = _fold_involution
    reference = staticmethod(np.negative)


class AbsOp(UnaryOp):
    """``|x|``."""
    name = "hy.abs"
    reference = staticmethod(np.abs)


class ReluOp(UnaryOp):
    """``max(x, 0)``."""
    name = "hy.relu"

    @staticmethod
    def reference(x: np.ndarray) -> Any:
        return np.maximum(x, x.dtype.type(0))


class ExpOp(FloatUnaryOp):
    """``e**x``."""
    name = "hy.exp"
    reference = staticmethod(np.exp)


class LogOp(FloatUnaryOp):
    """Natural logarithm (``-inf`` at 0, NaN below)."""
    name = "hy.log"
    reference = staticmethod(np.log)


class SqrtOp(FloatUnaryOp):
    """Square root (NaN below 0)."""
    name = "hy.sqrt"
    reference = staticmethod(np.sqrt)


class FloorOp(FloatUnaryOp):
    """The largest integral value not above ``x`` (``floor(-0.5) = -1.0``; NaN and infinities
    stay)."""
    name = "hy.floor"
    reference = staticmethod(np.floor)


class TanhOp(FloatUnaryOp):
    """Hyperbolic tangent."""
    name = "hy.tanh"
    reference = staticmethod(np.tanh)


class SigmoidOp(FloatUnaryOp):
    """Logistic function ``1 / (1 + e**-x)``."""
    name = "hy.sigmoid"

    @staticmethod
    def reference(x: np.ndarray) -> Any:
        one = x.dtype.type(1)
        return one / (one + np.exp(-x))


class NotOp(ElementwiseOp):
    """Logical negation of an i1 value."""
    name = "hy.not"
    fold = _fold_involution
    operand_defs = (OperandDef("input", BOOL),)
    reference = staticmethod(np.logical_not)


# -- binary arithmetic --------------------------------------------------------------------------
class AddOp(BinaryOp):
    """``lhs + rhs`` (integers wrap around). With ``reassoc``, a chain of float additions may
    be regrouped (LLVM's ``reassoc`` flag): the lowering of sums sets it, so that they vectorize."""
    name = "hy.add"
    reassoc: bool
    attr_defs = {"reassoc": bool_attr(optional=True)}
    fold = _fold_add
    traits = BinaryOp.traits | {Commutative}
    reference = staticmethod(np.add)


class SubOp(BinaryOp):
    """``lhs - rhs``."""
    name = "hy.sub"
    fold = _fold_sub
    reference = staticmethod(np.subtract)


class MulOp(BinaryOp):
    """``lhs * rhs``."""
    name = "hy.mul"
    fold = _fold_mul
    traits = BinaryOp.traits | {Commutative}
    reference = staticmethod(np.multiply)


class DivOp(BinaryOp):
    """``lhs / rhs``: IEEE division for floats; for integers, truncation toward zero and
    0 where ``rhs`` is 0 (so that no backend traps)."""
    name = "hy.div"
    fold = _fold_by_one

    @staticmethod
    def reference(a: np.ndarray, b: np.ndarray) -> Any:
        if a.dtype.kind == "f":
            return np.divide(a, b)
        zero = b == 0
        safe = np.where(zero, b.dtype.type(1), b)
        quotient = np.floor_divide(a, safe)
        # floor -> trunc: step back toward zero where the signs differ and it wasn't exact
        inexact = (np.remainder(a, safe) != 0) & ((a < 0) != (safe < 0))
        quotient = quotient + inexact.astype(quotient.dtype)
        return np.where(zero, a.dtype.type(0), quotient)


class FmodOp(BinaryOp):
    """C's ``fmod``: the exact remainder of truncated division, with the sign of ``lhs``
    (NaN for a zero ``rhs`` or an infinite ``lhs``); for integers the truncated remainder,
    and 0 where ``rhs`` is 0 (so that no backend traps)."""
    name = "hy.fmod"

    @staticmethod
    def reference(a: np.ndarray, b: np.ndarray) -> Any:
        if a.dtype.kind == "f":
            return np.fmod(a, b)
        zero = b == 0
        with np.errstate(all="ignore"):
            return np.where(zero, a.dtype.type(0), np.fmod(a, np.where(zero, b.dtype.type(1), b)))


class PowOp(BinaryOp):
    """``lhs ** rhs``: IEEE ``pow`` for floats; for integers a negative exponent gives
    ``1 / lhs**-rhs`` truncated (so 0 unless ``|lhs|`` is 1, and 0 for ``lhs == 0``)."""
    name = "hy.pow"
    fold = _fold_by_one

    @staticmethod
    def reference(a: np.ndarray, b: np.ndarray) -> Any:
        if a.dtype.kind == "f":
            return np.power(a, b)
        negative = b < 0
        result = np.power(a, np.where(negative, b.dtype.type(0), b))
        one, zero = a.dtype.type(1), a.dtype.type(0)
        odd = (np.abs(b) % 2) == 1
        reciprocal = np.where(a == 1, one,
                              np.where(a == -1, np.where(odd, -one, one), zero))
        return np.where(negative, reciprocal, result)


class MaximumOp(BinaryOp):
    """Elementwise maximum; NaN if either operand is NaN."""
    name = "hy.maximum"
    fold = _fold_idempotent
    traits = BinaryOp.traits | {Commutative}
    reference = staticmethod(np.maximum)


class MinimumOp(BinaryOp):
    """Elementwise minimum; NaN if either operand is NaN."""
    name = "hy.minimum"
    fold = _fold_idempotent
    traits = BinaryOp.traits | {Commutative}
    reference = staticmethod(np.minimum)


# -- logic and comparisons -------------------------------------------------------------------------
class AndOp(LogicalOp):
    """Logical and of i1 values."""
    name = "hy.and"
    fold = _fold_logic
    traits = LogicalOp.traits | {Commutative}
    reference = staticmethod(np.logical_and)


class OrOp(LogicalOp):
    """Logical or of i1 values."""
    name = "hy.or"
    fold = _fold_logic
    traits = LogicalOp.traits | {Commutative}
    reference = staticmethod(np.logical_or)


class EqOp(CompareOp):
    """``lhs == rhs`` as i1 (any element type)."""
    name = "hy.eq"
    fold = _fold_reflexive
    operand_defs = (OperandDef("lhs", ANY_VALUE), OperandDef("rhs", ANY_VALUE))
    reference = staticmethod(np.equal)


class NeOp(CompareOp):
    """``lhs != rhs`` as i1 (any element type)."""
    name = "hy.ne"
    fold = _fold_reflexive
    operand_defs = (OperandDef("lhs", ANY_VALUE), OperandDef("rhs", ANY_VALUE))
    reference = staticmethod(np.not_equal)


class LtOp(CompareOp):
    """``lhs < rhs`` as i1 (false if either is NaN)."""
    name = "hy.lt"
    fold = _fold_reflexive
    reference = staticmethod(np.less)


class LeOp(CompareOp):
    """``lhs <= rhs`` as i1."""
    name = "hy.le"
    fold = _fold_reflexive
    reference = staticmethod(np.less_equal)


class GtOp(CompareOp):
    """``lhs > rhs`` as i1."""
    name = "hy.gt"
    fold = _fold_reflexive
    reference = staticmethod(np.greater)


class GeOp(CompareOp):
    """``lhs >= rhs`` as i1."""
    name = "hy.ge"
    fold = _fold_reflexive
    reference = staticmethod(np.greater_equal)


class SelectOp(ElementwiseOp):
    """``condition ? true_value : false_value`` element by element (numpy ``where``)."""
    name = "hy.select"
    fold = _fold_select
    operand_defs = (OperandDef("condition", BOOL), OperandDef("true_value", ANY_VALUE),
                    OperandDef("false_value", ANY_VALUE))
    typed_from = 1
    reference = staticmethod(np.where)


class CastOp(Operation):
    """Converts each element to the result's element type, shape unchanged.

    Float to integer truncates toward zero and saturates: out of range gives the type's
    lowest or highest value, NaN gives 0 (as XLA does; numpy's result is the platform's);
    to i1 means ``!= 0``.
    """
    name = "hy.cast"
    fold = _fold_cast
    operand_defs = (OperandDef("input", ANY_VALUE),)
    result_defs = (ResultDef("output", ANY_VALUE),)
    traits = frozenset({Pure, Elementwise})

    def verify_(self) -> None:
        source, target = self.operands[0].type, self.result.type
        if not shapes_compatible(shape_of(source), shape_of(target)):
            raise VerifyError(f"cast changes the shape: {source} to {target}", code="E0711")

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        return [cast_array(args[0], numpy_dtype(self.result.type))]


def cast_array(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``hy.cast``'s semantics on a numpy array (or scalar)."""
    x = np.asarray(x)
    if dtype == np.bool_:
        return x != 0
    if x.dtype.kind == "f" and dtype.kind == "i":
        info, wide = np.iinfo(dtype), x.astype(np.float64)
        high, low = wide >= 2.0 ** (info.bits - 1), wide < -(2.0 ** (info.bits - 1))
        inside = np.where(high | low | np.isnan(wide), 0, np.trunc(wide)).astype(dtype)
        return np.where(high, info.max, np.where(low, info.min, inside)).astype(dtype)
    return x.astype(dtype)

