"""Contractions and reductions: matmul, sum/prod/mean/max/min over axes, argmax/argmin, softmax."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ...attributes import Attribute
from ...core import Operation, Value
from ...diagnostics import InterpreterError, VerifyError
from ...opdef import (
    FLOAT,
    NUMERIC,
    OperandDef,
    Pure,
    ResultDef,
    bool_attr,
    int_array_attr,
    int_attr,
)
from ...shapes import broadcast_shapes, dims_compatible
from ...types import Dim, Type, element_type, i64, is_scalar, make_type, shape_of
from .elementwise import AddOp, MaximumOp, MinimumOp, MulOp


class MatmulOp(Operation):
    """numpy ``matmul``: ``MxK @ KxN``, batched (leading dims broadcast), matrix-vector
    (``MxK @ K``), vector-matrix and vector-vector (a scalar result)."""
    name = "hy.matmul"
    operand_defs = (OperandDef("lhs", NUMERIC), OperandDef("rhs", NUMERIC))
    result_defs = (ResultDef("output", NUMERIC),)
    traits = frozenset({Pure})

    @classmethod
    def infer_result_types(cls, operand_types: list[Type], attributes: dict) -> list[Type]:
        lt, rt = operand_types
        if is_scalar(lt) or is_scalar(rt):
            raise VerifyError(f"matmul needs tensors, got {lt} and {rt}", code="E0302")
        if element_type(lt) != element_type(rt):
            raise VerifyError(f"operand element types differ: {lt} vs {rt}", code="E0303")
        a, b = shape_of(lt), shape_of(rt)
        ka, kb = a[-1], (b[0] if len(b) == 1 else b[-2])
        if not dims_compatible(ka, kb):
            raise VerifyError(f"matmul inner dimensions differ: {lt} @ {rt} ({ka} vs {kb})", code="E0302")
        m: tuple[Dim, ...] = a[-2:-1] if len(a) > 1 else ()
        n: tuple[Dim, ...] = b[-1:] if len(b) > 1 else ()
        batch = broadcast_shapes(a[:-2], b[:-2])
        if batch is None:
            raise VerifyError(f"matmul batch dimensions do not broadcast: {lt} @ {rt}", code="E0302")
        return [make_type(element_type(lt), batch + m + n)]

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(np.matmul(args[0], args[1]))]


class ReduceOp(Operation):
    """Base of reductions over ``axes`` (sorted, distinct); ``keepdims`` keeps them as 1.

    ``combine`` is the elementwise op that folds one element into the accumulator, which
    starts at ``identity`` (what the reduction of an empty axis gives)."""
    operand_defs = (OperandDef("input", NUMERIC),)
    result_defs = (ResultDef("output", NUMERIC),)
    attr_defs = {"axes": int_array_attr(), "keepdims": bool_attr(optional=True)}
    traits = frozenset({Pure})
    axes: tuple[int, ...]
    keepdims: bool
    combine: ClassVar[type[Operation]] = AddOp
    needs_elements: ClassVar[bool] = False  # an empty axis is an error (max, min)

    @staticmethod
    def identity(dtype: np.dtype) -> Any:
        return 0

    @classmethod
    def infer_result_types(cls, operand_types: list[Type], attributes: dict) -> list[Type]:
        source = operand_types[0]
        shape = shape_of(source)
        axes = [a.value for a in attributes["axes"].value]
        if axes != sorted(set(axes)) or any(not 0 <= a < len(shape) for a in axes):
            raise VerifyError(f"axes {axes} must be distinct, sorted and within the rank "
                              f"{len(shape)} of {source}", code="E0313")
        keep = "keepdims" in attributes and attributes["keepdims"].value
        out = tuple(1 if i in axes else d for i, d in enumerate(shape) if keep or i not in axes)
        return [make_type(element_type(source), out)]

    def fold(self, constants: list[Attribute | None]) -> list[Attribute | Value] | None:
        """Reducing over no axis is the identity."""
        no_axes = not self.axes
        return [self.operands[0]] if no_axes and self.operands[0].type == self.result.type else None

    def reduce_args(self) -> dict:
        return {"axis": tuple(self.axes), "keepdims": bool(self.keepdims)}


class SumOp(ReduceOp):
    """Sum over axes (0 over an empty axis), accumulated in the element type."""
    name = "hy.sum"

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(np.sum(args[0], dtype=args[0].dtype, **self.reduce_args()))]


class ProdOp(ReduceOp):
    """Product over axes (1 over an empty axis), accumulated in the element type."""
    name = "hy.prod"
    combine = MulOp

    @staticmethod
    def identity(dtype: np.dtype) -> Any:
        return 1

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(np.prod(args[0], dtype=args[0].dtype, **self.reduce_args()))]


class MeanOp(ReduceOp):
    """Arithmetic mean over axes (NaN over an empty axis)."""
    name = "hy.mean"
    operand_defs = (OperandDef("input", FLOAT),)

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(np.mean(args[0], dtype=args[0].dtype, **self.reduce_args()))]


def _lowest(dtype: np.dtype) -> Any:
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _highest(dtype: np.dtype) -> Any:
    return np.inf if dtype.kind == "f" else np.iinfo(dtype).max


def require_elements(op: Operation, x: np.ndarray, axes: list[int]) -> None:
    """An extreme of no elements does not exist (numpy raises too)."""
    if any(x.shape[a] == 0 for a in axes):
        raise InterpreterError(f"{op.name} of an empty axis (numpy: zero-size array to a "
                               "reduction that has no identity)", op.loc, code="E1010")


class MaxOp(ReduceOp):
    """Maximum over axes; NaN if any element is; an error over an empty axis (as numpy)."""
    name = "hy.max"
    combine = MaximumOp
    identity = staticmethod(_lowest)  # where the accumulation starts
    needs_elements = True

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        x = args[0]
        require_elements(self, x, list(self.axes))
        return [np.asarray(np.max(x, initial=_lowest(x.dtype), **self.reduce_args()))]


class MinOp(ReduceOp):
    """Minimum over axes; NaN if any element is; an error over an empty axis (as numpy)."""
    name = "hy.min"
    combine = MinimumOp
    identity = staticmethod(_highest)
    needs_elements = True

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        x = args[0]
        require_elements(self, x, list(self.axes))
        return [np.asarray(np.min(x, initial=_highest(x.dtype), **self.reduce_args()))]


class ArgExtremumOp(Operation):
    """Base of argmax/argmin along one ``axis`` (``keepdims`` keeps it as 1): the ``i64``
    index of the first extreme element, or of the first NaN (numpy's rule); an error over an
    empty axis (as numpy)."""
    operand_defs = (OperandDef("input", NUMERIC),)
    result_defs = (ResultDef("output", NUMERIC),)
    attr_defs = {"axis": int_attr(), "keepdims": bool_attr(optional=True)}
    axis: int
    keepdims: bool
    traits = frozenset({Pure})
    order: ClassVar[str]  # the comparison a new extreme wins by: ">" or "<"
    reference: ClassVar[Any]

    @classmethod
    def infer_result_types(cls, operand_types: list[Type], attributes: dict) -> list[Type]:
        source = operand_types[0]
        shape = shape_of(source)
        axis = attributes["axis"].value
        if not 0 <= axis < len(shape):
            raise VerifyError(f"axis {axis} is out of range for {source}", code="E0313")
        keep = "keepdims" in attributes and attributes["keepdims"].value
        out = tuple(1 if i == axis else d for i, d in enumerate(shape) if keep or i != axis)
        return [make_type(i64, out)]

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        x, axis = args[0], self.axis
        keep = bool(self.keepdims)
        require_elements(self, x, [axis])
        return [np.asarray(type(self).reference(x, axis=axis, keepdims=keep), np.int64)]


class ArgmaxOp(ArgExtremumOp):
    """Index of the maximum along ``axis`` (see ``ArgExtremumOp``)."""
    name = "hy.argmax"
    order = ">"
    reference = staticmethod(np.argmax)
    start = staticmethod(_lowest)  # what any element beats or ties


class ArgminOp(ArgExtremumOp):
    """Index of the minimum along ``axis`` (see ``ArgExtremumOp``)."""
    name = "hy.argmin"
    order = "<"
    reference = staticmethod(np.argmin)
    start = staticmethod(_highest)


class SoftmaxOp(Operation):
    """``exp(x - max) / sum(exp(x - max))`` along ``axis`` (numerically stable)."""
    name = "hy.softmax"
    axis: int
    operand_defs = (OperandDef("input", FLOAT),)
    result_defs = (ResultDef("output", FLOAT),)
    attr_defs = {"axis": int_attr()}
    traits = frozenset({Pure})

    @classmethod
    def infer_result_types(cls, operand_types: list[Type], attributes: dict) -> list[Type]:
        source = operand_types[0]
        axis = attributes["axis"].value
        if not 0 <= axis < len(shape_of(source)):
            raise VerifyError(f"axis {axis} is out of range for {source}", code="E0313")
        return [source]

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        x, axis = args[0], self.axis
        shifted = x - np.max(x, axis=axis, keepdims=True, initial=-np.inf)
        e = np.exp(shifted)
        return [e / np.sum(e, axis=axis, keepdims=True)]

