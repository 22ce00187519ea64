"""The ``builtin`` dialect: the module, the top-level container of functions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import Block, Operation, Region
from ..diagnostics import VerifyError
from ..location import UNKNOWN, Location
from ..opdef import IsolatedFromAbove, NoTerminator
from .func import FuncOp

if TYPE_CHECKING:
    from ..parser import Parser
    from ..printer import Printer


class ModuleOp(Operation):
    """The top-level container: a region of one block holding ``func.func`` ops.

    Printed as ``module { ... }``. Function names are unique within a module.
    """

    name = "builtin.module"
    region_count = 1
    traits = frozenset({NoTerminator, IsolatedFromAbove})

    @staticmethod
    def create(loc: Location = UNKNOWN) -> ModuleOp:
        return ModuleOp(regions=[Region([Block()])], loc=loc)

    @property
    def body(self) -> Block:
        return self.regions[0].block

    @property
    def functions(self) -> list[FuncOp]:
        return [op for op in self.body.ops if isinstance(op, FuncOp)]

    def lookup(self, symbol: str) -> FuncOp | None:
        for op in self.body.ops:
            if isinstance(op, FuncOp) and op.sym_name == symbol:
                return op
        return None

    def verify_(self) -> None:
        seen: set[str] = set()
        for op in self.body.ops:
            if not isinstance(op, FuncOp):
                raise VerifyError(f"a module holds only func.func ops, found '{op.name}'", op.loc,
                                  code="E0705")
            name = op.sym_name
            if name in seen:
                raise VerifyError(f"redefinition of symbol '@{name}'", op.loc, code="E0709")
            seen.add(name)

    def print_custom(self, printer: Printer) -> bool:
        if self.attributes or len(self.regions[0].blocks) != 1:
            return False
        printer.write("module ")
        printer.print_region(self.regions[0], print_entry_args=False)
        return True

    @classmethod
    def parse_custom(cls, parser: Parser, loc: Location) -> Operation:
        region = parser.parse_region(entry_args=None)
        if not region.blocks:  # `module {}`: an empty module has its one (empty) block
            region.add_block(Block())
        return cls(regions=[region], loc=loc)
