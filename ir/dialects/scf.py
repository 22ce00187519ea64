"""The ``scf`` dialect: structured control flow with regions (loops and branches).

Control flow stays structured at every level of hyc: a loop or branch is one op whose
regions end in ``scf.yield``; values flow out of it as results, never through branches.
"""

from __future__ import annotations

from typing import Any

from ..attributes import DenseAttr
from ..core import Block, Operation, OpResult, Region, Value
from ..diagnostics import VerifyError
from ..location import UNKNOWN, Location
from ..opdef import BOOL_SCALAR, INDEX, VALUE_OR_BUFFER, OperandDef, ResultDef, Terminator
from ..types import Type, index
from .func import check_types_agree


def _constant_int(value: Value) -> int | None:
    op = value.op if isinstance(value, OpResult) else None
    attr = op.attributes.get("value") if op is not None and op.name == "hy.constant" else None
    return int(attr.array) if isinstance(attr, DenseAttr) and attr.array.ndim == 0 else None


def _loop_without_iterations(op: Operation, rewriter: Any) -> bool:
    """A loop whose constant bounds give no iteration yields its initial values."""
    lower, upper = _constant_int(op.operands[0]), _constant_int(op.operands[1])
    if lower is None or upper is None or lower < upper:
        return False
    rewriter.replace(op, list(op.operands[3:]))
    return True


def _if_with_constant_condition(op: Operation, rewriter: Any) -> bool:
    """scf.if on a constant condition is the taken branch, inlined."""
    taken = _constant_int(op.operands[0])
    if taken is None:
        return False
    block = op.regions[0 if taken else 1].block
    rewriter.replace(op, rewriter.inline_block_before(block, op))
    return True


class ForOp(Operation):
    """A counted loop with loop-carried values.

    ``%r = scf.for %lb, %ub, %step, %init ({ ^bb0(%i: index, %acc: T): ... scf.yield %next : T })``
    runs the body for ``i = lb, lb + step, ...`` while ``i < ub`` (step must be positive).
    The body's block arguments are the induction variable and the carried values; its
    ``scf.yield`` gives the next carried values; the results are the final ones (the
    initial values when the loop runs zero times).
    """

    name = "scf.for"
    operand_defs = (OperandDef("lower", INDEX), OperandDef("upper", INDEX),
                    OperandDef("step", INDEX), OperandDef("inits", VALUE_OR_BUFFER, variadic=True))
    result_defs = (ResultDef("outputs", VALUE_OR_BUFFER, variadic=True),)
    region_count = 1

    inits: list[Value]
    canonicalization_patterns = (_loop_without_iterations,)

    @staticmethod
    def create(lower: Value, upper: Value, step: Value, inits: list[Value],
               loc: Location = UNKNOWN, iv_name: str | None = None) -> ForOp:
        body = Block([index] + [v.type for v in inits], [iv_name])
        return ForOp([lower, upper, step, *inits], [v.type for v in inits],
                     regions=[Region([body])], loc=loc)

    @property
    def body(self) -> Block:
        return self.regions[0].block

    def yield_types(self) -> list[Type]:
        return [r.type for r in self.results]

    def verify_(self) -> None:
        carried = [v.type for v in self.inits]
        check_types_agree("scf.for results and initial values", [r.type for r in self.results],
                          carried)
        if len(self.regions[0].blocks) != 1:
            raise VerifyError("the loop body must be one block", code="E0704")
        step = _constant_int(self.operands[2])
        if step is not None and step <= 0:
            raise VerifyError(f"scf.for step must be positive, got {step}", code="E0711")
        arg_types = [a.type for a in self.body.args]
        if not arg_types or arg_types[0] != index:
            raise VerifyError("the loop body's first argument must be the index induction variable",
                              code="E0704")
        check_types_agree("loop body arguments after the induction variable", arg_types[1:],
                          carried)


class IfOp(Operation):
    """A two-way branch with results: ``%r = scf.if %cond ({ then } , { else })``.

    Each region is one block without arguments ending in ``scf.yield`` of the result types.
    """

    name = "scf.if"
    operand_defs = (OperandDef("condition", BOOL_SCALAR),)
    result_defs = (ResultDef("outputs", VALUE_OR_BUFFER, variadic=True),)
    region_count = 2
    canonicalization_patterns = (_if_with_constant_condition,)

    @staticmethod
    def create(condition: Value, result_types: list[Type], loc: Location = UNKNOWN) -> IfOp:
        return IfOp([condition], result_types, regions=[Region([Block()]), Region([Block()])],
                    loc=loc)

    @property
    def then_block(self) -> Block:
        return self.regions[0].block

    @property
    def else_block(self) -> Block:
        return self.regions[1].block

    def yield_types(self) -> list[Type]:
        return [r.type for r in self.results]

    def verify_(self) -> None:
        for which, region in zip(("then", "else"), self.regions):
            if len(region.blocks) != 1:
                raise VerifyError(f"the {which} region must be one block", code="E0704")
            if region.block.args:
                raise VerifyError(f"the {which} block takes no arguments", code="E0704")


class YieldOp(Operation):
    """Ends a region of ``scf.for`` or ``scf.if``, passing values to the parent op."""

    name = "scf.yield"
    operand_defs = (OperandDef("values", VALUE_OR_BUFFER, variadic=True),)
    traits = frozenset({Terminator})
    parent_names = ("scf.for", "scf.if")

    def verify_(self) -> None:
        parent = self.parent_op
        if isinstance(parent, (ForOp, IfOp)):
            check_types_agree(f"yield to {parent.name}", [v.type for v in self.operands],
                              parent.yield_types())
