"""The ``func`` dialect: functions, calls and returns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..attributes import StringAttr, SymbolRefAttr, TypeAttr
from ..core import Block, Operation, Region
from ..diagnostics import VerifyError
from ..location import UNKNOWN, Location
from ..opdef import (
    VALUE_OR_BUFFER,
    IsolatedFromAbove,
    OperandDef,
    ResultDef,
    Terminator,
    bool_attr,
    string_array_attr,
    string_attr,
    symbol_attr,
    type_attr,
)
from ..shapes import types_compatible
from ..types import FunctionType, Type, format_result_types

if TYPE_CHECKING:
    from ..parser import Parser
    from ..printer import Printer


class FuncOp(Operation):
    """A function: ``func.func @name(%a: T, ...) -> R { ... }``.

    Its body is one block whose arguments are the parameters, ended by ``func.return``.
    It is isolated from above: the body uses only its own values.
    """

    name = "func.func"
    sym_name: str
    function_type: FunctionType
    parameters: tuple[str, ...]
    kernel: bool
    # ``parameters``: the arguments an exported model binds from its parameters file
    # ``kernel``: a GPU kernel (the gpu dialect), run by gpu.launch
    attr_defs = {"sym_name": string_attr(), "function_type": type_attr(),
                 "parameters": string_array_attr(optional=True),
                 "kernel": bool_attr(optional=True)}
    region_count = 1
    traits = frozenset({IsolatedFromAbove})

    @staticmethod
    def create(name: str, inputs: list[Type], results: list[Type],
               arg_names: list[str | None] | None = None, loc: Location = UNKNOWN) -> FuncOp:
        ftype = FunctionType(tuple(inputs), tuple(results))
        block = Block(inputs, arg_names or [])
        return FuncOp(attributes={"sym_name": StringAttr(name), "function_type": TypeAttr(ftype)},
                      regions=[Region([block])], loc=loc)

    @property
    def type(self) -> FunctionType:
        return self.function_type

    @property
    def body(self) -> Block:
        return self.regions[0].block

    def verify_(self) -> None:
        if not isinstance(self.function_type, FunctionType):
            raise VerifyError("'function_type' must be a function type", code="E0710")
        region = self.regions[0]
        if len(region.blocks) != 1:
            raise VerifyError("a function body must be one block", code="E0704")
        arg_types = tuple(a.type for a in region.block.args)
        if arg_types != self.type.inputs:
            raise VerifyError(f"entry block arguments ({', '.join(map(str, arg_types))}) do not "
                              f"match the function type {self.type}", code="E0710")
        if self.kernel and self.type.results:
            raise VerifyError("a kernel returns nothing: it writes its results into buffers", code="E0712")
        names = [a.name_hint for a in region.block.args]
        unknown = [p for p in self.parameters if p not in names]
        if unknown:
            raise VerifyError(f"'parameters' names {', '.join(unknown)}, which are not "
                              "arguments of the function", code="E0712")

    def print_custom(self, printer: Printer) -> bool:
        extra = {k: v for k, v in self.attributes.items()
                 if k not in ("sym_name", "function_type")}
        if len(self.regions[0].blocks) != 1 or not isinstance(self.type, FunctionType):
            return False
        printer.write(f"func.func @{self.sym_name}(")
        args = self.body.args
        printer.write(", ".join(f"{printer.define(a)}: {a.type}" for a in args))
        printer.write(")")
        if self.type.results:
            printer.write(" -> " + format_result_types(self.type.results))
        if extra:
            printer.write(" attributes ")
            printer.print_attr_dict(extra)
        printer.write(" ")
        printer.print_region(self.regions[0], print_entry_args=False)
        return True

    @classmethod
    def parse_custom(cls, parser: Parser, loc: Location) -> Operation:
        name = parser.expect_symbol()
        params = parser.parse_parameter_list()
        results: list[Type] = []
        if parser.accept("->"):
            results = parser.parse_result_type_list()
        attrs = parser.parse_attr_dict() if parser.accept_word("attributes") else {}
        ftype = FunctionType(tuple(t for _, t, _ in params), tuple(results))
        attrs["sym_name"] = StringAttr(name)
        attrs["function_type"] = TypeAttr(ftype)
        region = parser.parse_region(entry_args=params)
        return cls(attributes=attrs, regions=[region], loc=loc)


def enclosing_function(op: Operation) -> FuncOp | None:
    parent = op.parent_op
    while parent is not None and not isinstance(parent, FuncOp):
        parent = parent.parent_op
    return parent


def require_kernel(op: Operation, what: str) -> None:
    """``what`` (an op of ``op``'s kind) exists only inside kernels."""
    func = enclosing_function(op)
    if func is not None and not func.kernel:
        raise VerifyError(f"{what} only in a kernel, and @{func.sym_name} is not one "
                          "(func.func ... attributes {kernel = true})", code="E0712")


def lookup_function(op: Operation, symbol: str) -> FuncOp | None:
    """The function ``symbol`` of the module ``op`` is in, if any."""
    top = op
    while top.parent_op is not None:
        top = top.parent_op
    lookup = getattr(top, "lookup", None)
    found = lookup(symbol) if lookup else None
    return found if isinstance(found, FuncOp) else None


def check_types_agree(what: str, got: list[Type], expected: tuple[Type, ...] | list[Type]) -> None:
    """Shared by return, call and yield: counts equal, each type compatible."""
    if len(got) != len(expected):
        raise VerifyError(f"{what}: expected {len(expected)} value(s), got {len(got)}", code="E0710")
    for i, (g, e) in enumerate(zip(got, expected)):
        if not types_compatible(g, e):
            raise VerifyError(f"{what}: value #{i} has type {g}, expected {e}", code="E0710")


class ReturnOp(Operation):
    """Returns values from the enclosing function; their types must match its result types."""

    name = "func.return"
    operand_defs = (OperandDef("values", VALUE_OR_BUFFER, variadic=True),)
    traits = frozenset({Terminator})
    parent_names = ("func.func",)

    def verify_(self) -> None:
        func = self.parent_op
        if isinstance(func, FuncOp):
            check_types_agree(f"return from @{func.sym_name}",
                              [v.type for v in self.operands], func.type.results)


class CallOp(Operation):
    """Calls a function of the module by symbol: ``func.call %a, %b {callee = @f}``.

    Argument and result types must agree with the callee's signature.
    """

    name = "func.call"
    callee: str
    operand_defs = (OperandDef("args", VALUE_OR_BUFFER, variadic=True),)
    result_defs = (ResultDef("outputs", VALUE_OR_BUFFER, variadic=True),)
    attr_defs = {"callee": symbol_attr()}

    @staticmethod
    def create(callee: FuncOp, args: list, loc: Location = UNKNOWN) -> CallOp:
        return CallOp(args, list(callee.type.results),
                      {"callee": SymbolRefAttr(callee.sym_name)}, loc=loc)

    def verify_(self) -> None:
        callee = lookup_function(self, self.callee)
        if callee is None:
            raise VerifyError(f"call to unknown function '@{self.callee}'", code="E0709")
        sig = callee.type
        check_types_agree(f"arguments of call to @{callee.sym_name} {sig}",
                          [v.type for v in self.operands], sig.inputs)
        check_types_agree(f"results of call to @{callee.sym_name} {sig}",
                          [r.type for r in self.results], sig.results)


__all__ = ["FuncOp", "ReturnOp", "CallOp", "check_types_agree", "lookup_function"]
