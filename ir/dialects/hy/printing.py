"""``hy.print``: the one side effect of tensor programs."""

from __future__ import annotations

from ...core import Operation
from ...opdef import ANY_VALUE, HasSideEffects, OperandDef


class PrintOp(Operation):
    """Prints its operands, separated by spaces, then a newline (like Python's ``print``).

    A side effect: no pass may drop, duplicate or reorder it.
    """
    name = "hy.print"
    operand_defs = (OperandDef("values", ANY_VALUE, variadic=True),)
    traits = frozenset({HasSideEffects})
