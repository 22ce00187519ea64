"""Shape-manipulating ``hy`` ops: constant, dim, broadcast_to, reshape, transpose, concat, slice.

Ops whose result has dynamic dimensions that the operands don't determine (broadcast_to,
reshape) take one ``index`` operand per non-static result dimension, in order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...attributes import Attribute, DenseAttr, int_array
from ...core import Operation, OpResult, Value
from ...diagnostics import InterpreterError, VerifyError
from ...opdef import (
    ANY_VALUE,
    INDEX,
    Elementwise,
    OperandDef,
    Pure,
    ResultDef,
    dense_attr,
    int_array_attr,
    int_attr,
)
from ...shapes import broadcastable_to, dims_compatible, dynamic_dim_count, merge_dims
from ...types import DYNAMIC, TensorType, Type, element_count, element_type, index, is_static, shape_of

INPUT = OperandDef("input", ANY_VALUE)


def _require_tensor(t: Type, what: str = "operand") -> TensorType:
    if not isinstance(t, TensorType):
        raise VerifyError(f"{what} must be a tensor, got {t}", code="E0711")
    return t


def _check_axis(axis: int, rank: int) -> None:
    if not 0 <= axis < rank:
        raise VerifyError(f"axis {axis} is out of range for rank {rank}", code="E0313")


def _producer(value: Value, op_class: type[Operation]) -> Operation | None:
    return value.op if isinstance(value, OpResult) and isinstance(value.op, op_class) else None


def _unchanged(self: Operation, constants: list[Attribute | None]) -> list[Attribute | Value] | None:
    """A shape op whose result type equals its input's type is the input."""
    return [self.operands[0]] if self.operands[0].type == self.result.type else None


class ConstantOp(Operation):
    """A constant scalar or tensor: ``hy.constant {value = dense<1.0> : f32} : f32``."""
    name = "hy.constant"
    value: np.ndarray
    result_defs = (ResultDef("output", ANY_VALUE),)
    attr_defs = {"value": dense_attr()}
    traits = frozenset({Pure})

    @classmethod
    def infer_result_types(cls, operand_types: list[Type], attributes: dict) -> list[Type]:
        value = attributes["value"]
        if not is_static(shape_of(value.type)):
            raise VerifyError(f"a constant needs a static type, got {value.type}", code="E0711")
        return [value.type]

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        return [self.value.copy()]


def runtime_shape(result_type: Type, sizes: list[np.ndarray], op: Operation) -> tuple[int, ...]:
    """The concrete shape of a result whose dynamic dims come from ``index`` operands."""
    shape, it = [], iter(sizes)
    for d in shape_of(result_type):
        size = d if isinstance(d, int) else int(next(it))
        if size < 0:
            raise InterpreterError(f"negative dimension size {size}", op.loc, code="E1008")
        shape.append(size)
    return tuple(shape)


class SizedResultOp(Operation):
    """Base of ops with one ``index`` operand per dynamic result dimension."""

    operand_defs = (INPUT, OperandDef("sizes", INDEX, variadic=True))
    result_defs = (ResultDef("output", ANY_VALUE),)
    traits = frozenset({Pure})

    def verify_(self) -> None:
        source, target = self.operands[0].type, self.result.type
        sizes = len(self.operands) - 1
        needed = dynamic_dim_count(shape_of(target))
        if sizes != needed:
            raise VerifyError(f"result type {target} has {needed} dynamic dimension(s) "
                              f"but {sizes} size operand(s) were given", code="E0711")
        if element_type(source) != element_type(target):
            raise VerifyError(f"element types differ: {source} vs {target}", code="E0303")
        self.verify_shapes(source, target)

    def verify_shapes(self, source: Type, target: Type) -> None:
        """What the op requires of the input shape given the result shape."""


class BroadcastToOp(SizedResultOp):
    """Broadcasts by numpy's rules (right-aligned; size-1 dims stretch) to the result type."""
    name = "hy.broadcast_to"

    def verify_shapes(self, source: Type, target: Type) -> None:
        if not broadcastable_to(shape_of(source), shape_of(target)):
            raise VerifyError(f"cannot broadcast {source} to {target}", code="E0301")

    fold = _unchanged

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        shape = runtime_shape(self.result.type, args[1:], self)
        try:
            return [np.broadcast_to(args[0], shape).copy()]
        except ValueError:
            raise InterpreterError(f"cannot broadcast shape {args[0].shape} to {shape}",
                                   self.loc, code="E1006") from None


def _reshape_of_reshape(op: Operation, rewriter: Any) -> bool:
    """reshape(reshape(x)) -> reshape(x): only the last shape matters."""
    inner = _producer(op.operands[0], ReshapeOp)
    if inner is None:
        return False
    rewriter.replace(op, [rewriter.insert_before(op, ReshapeOp(
        [inner.operands[0], *op.operands[1:]], [op.result.type], loc=op.loc)).result])
    return True


class ReshapeOp(SizedResultOp):
    """Reinterprets the elements (row-major order) in the result's shape; sizes must agree."""
    name = "hy.reshape"

    def verify_shapes(self, source: Type, target: Type) -> None:
        s, t = element_count(shape_of(source)), element_count(shape_of(target))
        if s is not None and t is not None and s != t:
            raise VerifyError(f"cannot reshape {source} ({s} elements) to {target} ({t} elements)",
                              code="E0314")

    fold = _unchanged
    canonicalization_patterns = (_reshape_of_reshape,)

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        shape = runtime_shape(self.result.type, args[1:], self)
        if int(np.prod(shape)) != args[0].size:
            raise InterpreterError(f"cannot reshape {args[0].shape} to {shape}", self.loc, code="E1006")
        return [args[0].reshape(shape)]


def _dim_of_producer(op: Operation, rewriter: Any) -> bool:
    """The size of an elementwise result is the size of any operand of the same rank (they are
    equal at run time), so hy.dim looks through it toward the function's arguments, where
    equal sizes become one value."""
    source = op.operands[0]
    if not isinstance(source, OpResult):
        return False
    rank = len(shape_of(source.type))
    assert isinstance(op, DimOp)
    axis = op.axis
    if source.op.name == "hy.matmul" and axis < rank - 1:  # rows (and batch dims) of the lhs
        lhs = source.op.operands[0]
        if len(shape_of(lhs.type)) == rank and shape_of(lhs.type)[axis] == shape_of(source.type)[axis]:
            rewriter.set_operand(op, 0, lhs)
            return True
    if Elementwise not in source.op.traits:
        return False
    candidates = [v for v in source.op.operands
                  if len(shape_of(v.type)) == rank and isinstance(v.type, TensorType)]
    # an operand that is no elementwise result ends the search at once (a chain of n ops
    # would otherwise take n rewrites for each of its sizes)
    candidates.sort(key=lambda v: isinstance(v, OpResult) and Elementwise in v.op.traits)
    if not candidates:
        return False
    rewriter.set_operand(op, 0, candidates[0])
    return True


class DimOp(Operation):
    """The size of dimension ``axis`` of a tensor, as an ``index``."""
    name = "hy.dim"
    axis: int
    operand_defs = (INPUT,)
    result_defs = (ResultDef("output", INDEX),)
    attr_defs = {"axis": int_attr()}
    traits = frozenset({Pure})

    @classmethod
    def infer_result_types(cls, operand_types: list[Type], attributes: dict) -> list[Type]:
        _check_axis(attributes["axis"].value, len(_require_tensor(operand_types[0]).shape))
        return [index]

    def fold(self, constants: list[Attribute | None]) -> list[Attribute | Value] | None:
        """A static size is a constant; a size that an op took as an operand is that operand."""
        axis = self.axis
        dim = shape_of(self.operands[0].type)[axis]
        if isinstance(dim, int):
            return [DenseAttr.from_values(index, dim)]
        sized = _producer(self.operands[0], SizedResultOp)
        if sized is not None:
            position = sum(1 for d in shape_of(sized.result.type)[:axis] if not isinstance(d, int))
            return [sized.operands[1 + position]]
        return None

    canonicalization_patterns = (_dim_of_producer,)

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(args[0].shape[self.axis], np.int64)]


def _transpose_of_transpose(op: Operation, rewriter: Any) -> bool:
    """transpose(transpose(x, p), q) -> transpose(x, p[q]) (which then may fold away)."""
    inner = _producer(op.operands[0], TransposeOp)
    if inner is None:
        return False
    assert isinstance(op, TransposeOp) and isinstance(inner, TransposeOp)
    outer_perm, inner_perm = op.permutation, inner.permutation
    composed = int_array([inner_perm[p] for p in outer_perm])
    new = TransposeOp([inner.operands[0]], [op.result.type], {"permutation": composed}, loc=op.loc)
    rewriter.replace(op, [rewriter.insert_before(op, new).result])
    return True


class TransposeOp(Operation):
    """Permutes dimensions: result dim ``i`` is input dim ``permutation[i]``."""
    name = "hy.transpose"
    permutation: tuple[int, ...]
    operand_defs = (INPUT,)
    result_defs = (ResultDef("output", ANY_VALUE),)
    attr_defs = {"permutation": int_array_attr()}
    traits = frozenset({Pure})

    @classmethod
    def infer_result_types(cls, operand_types: list[Type], attributes: dict) -> list[Type]:
        source = _require_tensor(operand_types[0])
        perm = [a.value for a in attributes["permutation"].value]
        if sorted(perm) != list(range(len(source.shape))):
            raise VerifyError(f"permutation {perm} is not a permutation of the {len(source.shape)} "
                              f"dimensions of {source}", code="E0315")
        return [TensorType(tuple(source.shape[p] for p in perm), source.element)]

    def fold(self, constants: list[Attribute | None]) -> list[Attribute | Value] | None:
        perm = list(self.permutation)
        return _unchanged(self, constants) if perm == sorted(perm) else None

    canonicalization_patterns = (_transpose_of_transpose,)

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        perm = list(self.permutation)
        return [np.ascontiguousarray(np.transpose(args[0], perm))]


class ConcatOp(Operation):
    """Joins tensors of equal rank along ``axis``; the other dimensions must agree."""
    name = "hy.concat"
    axis: int
    operand_defs = (OperandDef("inputs", ANY_VALUE, variadic=True),)
    result_defs = (ResultDef("output", ANY_VALUE),)
    attr_defs = {"axis": int_attr()}
    traits = frozenset({Pure})

    @classmethod
    def infer_result_types(cls, operand_types: list[Type], attributes: dict) -> list[Type]:
        if not operand_types:
            raise VerifyError("needs at least one operand", code="E0711")
        first = _require_tensor(operand_types[0])
        axis = attributes["axis"].value
        _check_axis(axis, len(first.shape))
        shape = list(first.shape)
        for t in operand_types[1:]:
            other = _require_tensor(t)
            if other.element != first.element or len(other.shape) != len(shape):
                raise VerifyError(f"operands differ in rank or element type: {first} vs {other}",
                                  code="E0711")
            for i, d in enumerate(other.shape):
                if i == axis:
                    both = isinstance(d, int) and isinstance(shape[i], int)
                    shape[i] = shape[i] + d if both else DYNAMIC  # type: ignore[operator]
                elif not dims_compatible(shape[i], d):
                    raise VerifyError(f"dimension {i} differs: {first} vs {other}", code="E0711")
                else:
                    shape[i] = merge_dims(shape[i], d)
        return [TensorType(tuple(shape), first.element)]

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        return [np.concatenate(args, axis=self.axis)]


_END = 2 ** 62  # a bound at least this far out is past the end of any dimension


def _whole(start: int, stop: int, step: int) -> bool:
    """Whether a slice takes every element of a dimension of any size (``x[:]``, ``x[::-1]``)."""
    return (step == 1 and start in (0, -_END) or step == -1 and start >= _END) \
        and abs(stop) >= _END and (stop > 0) == (step > 0)


class SliceOp(Operation):
    """Python slicing per dimension: ``x[starts[i]:stops[i]:steps[i]]``.

    Negative bounds count from the end and out-of-range bounds clamp, as in Python, so one
    op covers ``x[1:]``, ``x[:, ::-1]`` and friends on dynamic dimensions too. A dynamic
    dimension taken whole (``0:2**62:1`` or ``2**62:-2**62:-1`` and beyond) keeps its name.
    """
    name = "hy.slice"
    starts: tuple[int, ...]
    stops: tuple[int, ...]
    steps: tuple[int, ...]
    operand_defs = (INPUT,)
    result_defs = (ResultDef("output", ANY_VALUE),)
    attr_defs = {"starts": int_array_attr(), "stops": int_array_attr(),
                 "steps": int_array_attr()}
    traits = frozenset({Pure})

    @classmethod
    def infer_result_types(cls, operand_types: list[Type], attributes: dict) -> list[Type]:
        source = _require_tensor(operand_types[0])
        bounds = [[a.value for a in attributes[k].value] for k in ("starts", "stops", "steps")]
        if any(len(b) != len(source.shape) for b in bounds):
            raise VerifyError(f"starts, stops and steps need one entry per dimension of {source}",
                              code="E0711")
        if 0 in bounds[2]:
            raise VerifyError("slice steps must be non-zero", code="E0711")
        shape = tuple(len(range(*slice(lo, hi, st).indices(d))) if isinstance(d, int) else
                      d if _whole(lo, hi, st) else DYNAMIC
                      for d, lo, hi, st in zip(source.shape, *bounds))
        return [TensorType(shape, source.element)]

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        bounds = zip(self.starts, self.stops, self.steps)
        return [np.ascontiguousarray(args[0][tuple(slice(*b) for b in bounds)])]
