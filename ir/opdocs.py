"""Generates the op reference (docs/ir-ops.md) from the op declarations and docstrings.

Run ``python -m hyc.ir.opdocs > docs/ir-ops.md``; a test keeps the file current.
"""

from __future__ import annotations

import inspect

from . import dialects  # noqa: F401  (registers every op)
from .core import Operation
from .opdef import OPS


def _describe_defs(op: type[Operation]) -> list[str]:
    rows = []
    for kind, defs in (("operand", op.operand_defs), ("result", op.result_defs)):
        for d in defs:
            many = " (variadic)" if d.variadic else ""
            rows.append(f"| {kind} | `{d.name}` | {d.constraint.description}{many} |")
    for name, spec in op.attr_defs.items():
        optional = f" (optional, default {spec.default!r})" if spec.optional else ""
        rows.append(f"| attribute | `{name}` | {spec.description}{optional} |")
    if op.region_count:
        rows.append(f"| regions | {op.region_count} | |")
    return rows


def describe_op(op: type[Operation]) -> str:
    doc = inspect.cleandoc(op.__doc__ or "")
    traits = ", ".join(sorted(t.__name__ for t in op.traits))
    lines = [f"### `{op.name}`", "", doc, ""]
    rows = _describe_defs(op)
    if rows:
        lines += ["| | name | constraint |", "|---|---|---|", *rows, ""]
    if traits:
        lines += [f"Traits: {traits}.", ""]
    return "\n".join(lines)


def generate() -> str:
    out = ["# hyc IR op reference", "",
           "Generated from the op definitions by `python -m hyc.ir.opdocs`; do not edit.",
           "The format and semantics are described in [ir.md](ir.md).", ""]
    dialect_names = sorted({name.split(".")[0] for name in OPS})
    for dialect in dialect_names:
        out += [f"## The `{dialect}` dialect", ""]
        for name in sorted(n for n in OPS if n.split(".")[0] == dialect):
            out.append(describe_op(OPS[name]))
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(generate(), end="")
