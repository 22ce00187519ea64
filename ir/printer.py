"""The textual IR printer (MLIR-like). Generic: ops only choose the default form or a custom one.

Default form::

    %r = dialect.op %a, %b {attr = 1} ({ region }) : (T1, T2) -> R

with ``: T`` when every operand and result has the same type T. Generic form (``generic=True``
or ops without a custom form printed generically)::

    %r = "dialect.op"(%a, %b) {attr = 1} ({ region }) : (T1, T2) -> R
"""

from __future__ import annotations

import re

from .attributes import Attribute
from .core import Block, Operation, Region, Value
from .diagnostics import nesting_room
from .opdef import IsolatedFromAbove, Terminator
from .types import format_result_types

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$.]*")


class Printer:
    def __init__(self, debuginfo: bool = False, generic: bool = False) -> None:
        self.debuginfo = debuginfo
        self.generic = generic
        self.parts: list[str] = []
        self.indent = 0
        # per scope: the names given, the names taken, the counters of unnamed results and
        # arguments, and per hint the last suffix taken (the smallest free suffix only grows,
        # so a thousand values hinted "y" are named in linear time)
        self.scopes: list[tuple[dict[Value, str], set[str], list[int], dict[str, int]]] = []
        self.all_names: dict[Value, str] = {}  # every name given, for reports about the text
        self.start_scope()

    # -- output -----------------------------------------------------------------------------
    def write(self, text: str) -> None:
        self.parts.append(text)

    def newline(self) -> None:
        self.parts.append("\n" + "  " * self.indent)

    def text(self) -> str:
        return "".join(self.parts)

    # -- value names: unique per isolated scope (a function), hints kept where possible --------
    def start_scope(self) -> None:
        self.scopes.append(({}, set(), [0, 0], {}))

    def end_scope(self) -> None:
        self.scopes.pop()

    def name(self, value: Value) -> str:
        names, used, counters, suffixes = self.scopes[-1]
        if value in names:
            return names[value]
        hint = value.name_hint
        if hint and _IDENT.fullmatch(hint):
            candidate, k = hint, suffixes.get(hint, 0)
            if candidate in used:
                k += 1
                candidate = f"{hint}_{k}"
            while candidate in used:
                k += 1
                candidate = f"{hint}_{k}"
            suffixes[hint] = k
        else:
            is_arg = not hasattr(value, "op")
            prefix, slot = ("arg", 1) if is_arg else ("", 0)
            while True:
                candidate = f"{prefix}{counters[slot]}"
                counters[slot] += 1
                if candidate not in used:
                    break
        used.add(candidate)
        names[value] = self.all_names[value] = "%" + candidate
        return names[value]

    define = name  # a definition and a first use name a value the same way

    # -- pieces -----------------------------------------------------------------------------
    def print_attr_dict(self, attrs: dict[str, Attribute]) -> None:
        items = (f"{k if _IDENT.fullmatch(k) else repr(k)} = {v}" for k, v in sorted(attrs.items()))
        self.write("{" + ", ".join(items) + "}")

    def print_region(self, region: Region, print_entry_args: bool = True) -> None:
        self.write("{")
        self.indent += 1
        for i, block in enumerate(region.blocks):
            self.print_block(block, i, print_label=print_entry_args and bool(block.args) or i > 0)
        self.indent -= 1
        self.newline()
        self.write("}")

    def print_block(self, block: Block, number: int, print_label: bool) -> None:
        if print_label:
            self.indent -= 1
            self.newline()
            args = ", ".join(f"{self.define(a)}: {a.type}" for a in block.args)
            self.write(f"^bb{number}" + (f"({args})" if args else "") + ":")
            self.indent += 1
        for op in block.ops:
            self.newline()
            self.print_op(op)

    def print_op(self, op: Operation) -> None:
        if op.results:
            self.write(", ".join(self.define(r) for r in op.results) + " = ")
        isolated = op.has_trait(IsolatedFromAbove)
        if isolated:
            self.start_scope()
        if self.generic or not op.print_custom(self):
            self._print_default(op)
        if isolated:
            self.end_scope()
        if self.debuginfo:
            self.write(f" loc({op.loc})")

    def _print_default(self, op: Operation) -> None:
        operands = ", ".join(self.name(v) for v in op.operands)
        if self.generic:
            self.write(f'"{op.name}"({operands})')
        else:
            self.write(op.name + (" " + operands if operands else ""))
        if op.attributes:
            self.write(" ")
            self.print_attr_dict(op.attributes)
        if op.regions:
            self.write(" (")
            for i, region in enumerate(op.regions):
                if i:
                    self.write(", ")
                self.print_region(region)
            self.write(")")
        self._print_signature(op)

    def _print_signature(self, op: Operation) -> None:
        in_types = [v.type for v in op.operands]
        out_types = [r.type for r in op.results]
        everything = in_types + out_types
        if not everything and not self.generic and (op.has_trait(Terminator) or op.regions):
            return  # nothing follows in its block, or its regions end it: no operand can be misread

        if everything and not self.generic and all(t == everything[0] for t in everything):
            self.write(f" : {everything[0]}")
            return
        ins = ", ".join(map(str, in_types))
        self.write(f" : ({ins}) -> {format_result_types(out_types)}")


def print_ir(op: Operation, debuginfo: bool = False, generic: bool = False) -> str:
    """The text of ``op`` (usually a module), newline-terminated."""
    printer = Printer(debuginfo=debuginfo, generic=generic)
    with nesting_room("the IR"):
        printer.print_op(op)
    return printer.text() + "\n"
