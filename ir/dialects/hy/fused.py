"""Fused ops: an elementwise computation per output element, written as a region.

Fusion passes produce them so that a backend emits one loop nest that reads each input once
and writes each output once. Inputs broadcast to the output shape by numpy's rules.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...attributes import DenseAttr
from ...core import Block, Operation, OpResult, Region, Value
from ...diagnostics import InterpreterError, VerifyError
from ...location import Location
from ...opdef import ANY_VALUE, NUMERIC, Elementwise, OperandDef, Pure, ResultDef, Terminator
from ...shapes import broadcast_shapes, broadcastable_to, shapes_compatible
from ...types import Type, element_type, is_scalar, shape_of
from .linalg import MatmulOp
from .tensor import ConstantOp


class YieldOp(Operation):
    """Ends the body of ``hy.fused`` or ``hy.fused_matmul`` with the output element."""
    name = "hy.yield"
    operand_defs = (OperandDef("values", ANY_VALUE, variadic=True),)
    traits = frozenset({Terminator})
    parent_names = ("hy.fused", "hy.fused_matmul", "buf.matmul")


def verify_elementwise_body(region: Region, inputs: list[Type], output_shape: tuple,
                            output_element: Type) -> None:
    """The rules of a per-element body: one argument per input, of its element type; only
    scalar elementwise ops and constants; one yielded element of the output's type."""
    if len(region.blocks) != 1:
        raise VerifyError("the body must be one block", code="E0704")
    body = region.block
    arg_types = [a.type for a in body.args]
    if arg_types != [element_type(t) for t in inputs]:
        raise VerifyError("body arguments (" + ", ".join(map(str, arg_types)) + ") must be "
                          "the element types of the inputs (" +
                          ", ".join(str(element_type(t)) for t in inputs) + ")", code="E0711")
    for t in inputs:
        if not broadcastable_to(shape_of(t), output_shape):
            raise VerifyError(f"input {t} does not broadcast to the output shape", code="E0301")
    for op in body.ops[:-1]:
        scalar = all(is_scalar(r.type) for r in op.results)
        if not scalar or not (Elementwise in op.traits or isinstance(op, ConstantOp)):
            raise VerifyError(f"the body may hold only scalar elementwise ops and constants, "
                              f"found '{op.name}'", code="E0711")
    last = body.terminator
    if last is not None and isinstance(last, YieldOp):
        yielded = [v.type for v in last.operands]
        if yielded != [output_element]:
            raise VerifyError(f"the body yields ({', '.join(map(str, yielded))}) but the "
                              f"output element type is {output_element}", code="E0711")


def run_elementwise_body(body: Block, inputs: list[np.ndarray], op: Operation) -> np.ndarray:
    """Evaluate a per-element body on whole arrays: its ops are elementwise, so this is exact.
    The inputs broadcast (numpy rules) to the output shape."""
    try:
        shape = np.broadcast_shapes(*(a.shape for a in inputs))
    except ValueError:
        shapes = ", ".join(str(a.shape) for a in inputs)
        raise InterpreterError(f"inputs of shapes {shapes} do not broadcast", op.loc, code="E1006") from None
    env: dict[Value, np.ndarray] = {arg: np.broadcast_to(a, shape)
                                    for arg, a in zip(body.args, inputs)}
    for nested in body.ops:
        args = [env[v] for v in nested.operands]
        if isinstance(nested, YieldOp):
            return np.array(args[0])
        for result, value in zip(nested.results, nested.evaluate(args)):
            env[result] = np.broadcast_to(value, shape)
    raise InterpreterError("a body without hy.yield", op.loc, code="E0711")


def _splat_value(value: Value) -> DenseAttr | None:
    producer = value.op if isinstance(value, OpResult) else None
    attr = producer.attributes["value"] if isinstance(producer, ConstantOp) else None
    return attr if isinstance(attr, DenseAttr) and attr.is_splat() else None


def _location(value: Value, user: Operation) -> Location:
    return value.op.loc if isinstance(value, OpResult) else user.loc


def _inline_splat_inputs(op: Operation, rewriter: Any) -> bool:
    """An input whose elements are all one constant becomes a scalar constant in the body:
    nothing to read (or keep in memory) per element. A hy.fused keeps one input for its shape."""
    assert isinstance(op, ElementwiseBodyOp)
    first = op.first_elementwise_input
    splats = {i: attr for i in range(first, len(op.operands))
              if (attr := _splat_value(op.operands[i])) is not None}
    if first == 0:  # the inputs left must still give the output's shape
        output, combined = shape_of(op.result.type), ()  # type: tuple, tuple
        rest = [shape_of(v.type) for i, v in enumerate(op.operands) if i not in splats]
        for shape in rest:
            combined = broadcast_shapes(combined, shape) or combined
        if not rest or tuple(combined) != tuple(output):
            keeper = next((i for i in splats if shape_of(op.operands[i].type) == output), None)
            if keeper is None:
                return False
            del splats[keeper]
    if not splats:
        return False
    body = op.regions[0].block
    offset = 1 if first else 0  # operand index minus body argument index (after the product)
    block = Block()
    mapping: dict[Value, Value] = {}
    for j, arg in enumerate(body.args):
        if j + offset not in splats:
            mapping[arg] = block.add_arg(arg.type, arg.name_hint)
    for i, attr in splats.items():
        element = element_type(attr.type)
        constant = ConstantOp([], [element], {"value": DenseAttr.from_values(
            element, attr.array.reshape(-1)[0])}, loc=_location(op.operands[i], op))
        block.append(constant)
        mapping[body.args[i - offset]] = constant.result
    for nested in body.ops:
        block.append(nested.clone(mapping))
    operands = [v for i, v in enumerate(op.operands) if i not in splats]
    new = type(op)(operands, [op.result.type], dict(op.attributes), [Region([block])], loc=op.loc)
    rewriter.replace(op, [rewriter.insert_before(op, new).result])
    return True


class ElementwiseBodyOp(Operation):
    """Base of ops whose region computes one output element from one element of each input."""

    first_elementwise_input = 0  # operands from here on are read one element at a time
    canonicalization_patterns = (_inline_splat_inputs,)

    region_count = 1
    traits = frozenset({Pure})

    def body_inputs(self) -> list[Type]:
        """The types whose elements the body's arguments receive, in order."""
        raise TypeError("abstract")

    def verify_body(self, output_shape: tuple) -> None:
        verify_elementwise_body(self.regions[0], self.body_inputs(), output_shape,
                                element_type(self.result.type))

    def run_body(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return [run_elementwise_body(self.regions[0].block, inputs, self)]


class FusedOp(ElementwiseBodyOp):
    """A fused elementwise computation (chains and DAGs of elementwise ops, broadcasts
    included): inputs broadcast to the output shape, and the body maps one element of each
    to the output element::

        %r = hy.fused %a, %b ({
        ^bb0(%x: f32, %y: f32):
          %s = hy.add %x, %y : f32
          %t = hy.relu %s : f32
          hy.yield %t : f32
        }) : (tensor<Nx4xf32>, tensor<4xf32>) -> tensor<Nx4xf32>
    """
    name = "hy.fused"
    operand_defs = (OperandDef("inputs", ANY_VALUE, variadic=True),)
    result_defs = (ResultDef("output", ANY_VALUE),)

    def body_inputs(self) -> list[Type]:
        return [v.type for v in self.operands]

    def verify_(self) -> None:
        shapes = [shape_of(v.type) for v in self.operands]
        combined: tuple | None = ()
        for shape in shapes:
            combined = broadcast_shapes(combined, shape) if combined is not None else None
        output = shape_of(self.result.type)
        if combined is None or not shapes_compatible(combined, output):
            raise VerifyError(f"the inputs broadcast to {combined}, not to the output shape "
                              f"{output}", code="E0301")
        self.verify_body(output)

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        return self.run_body(args)


class FusedMatmulOp(ElementwiseBodyOp):
    """A matmul with a fused epilogue: ``hy.matmul`` semantics for ``lhs @ rhs``, then the
    body maps each product element (its first argument) and one element of each extra input
    (broadcast to the product's shape) to the output element. Bias adds and activations
    after a matmul fuse here, so the product is never written out unfinished."""
    name = "hy.fused_matmul"
    first_elementwise_input = 2
    operand_defs = (OperandDef("lhs", NUMERIC), OperandDef("rhs", NUMERIC),
                    OperandDef("extras", ANY_VALUE, variadic=True))
    result_defs = (ResultDef("output", ANY_VALUE),)

    def product_type(self) -> Type:
        (product,) = MatmulOp.infer_result_types([self.operands[0].type, self.operands[1].type], {})
        return product

    def body_inputs(self) -> list[Type]:
        return [self.product_type(), *(v.type for v in self.operands[2:])]

    def verify_(self) -> None:
        product = self.product_type()
        if not shapes_compatible(shape_of(product), shape_of(self.result.type)):
            raise VerifyError(f"the product is {product} but the output is {self.result.type}", code="E0302")
        self.verify_body(shape_of(product))

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        product = np.asarray(np.matmul(args[0], args[1]))
        return self.run_body([product, *args[2:]])
