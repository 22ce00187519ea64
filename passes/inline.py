"""Inlining: calls of non-recursive functions become a copy of the callee's body."""

from __future__ import annotations

from typing import ClassVar

from hyc.ir import CallOp, FuncOp, ModuleOp, Type, Value
from hyc.ir.types import DYNAMIC, Dim, element_type, make_type, shape_of
from hyc.record import record

from .manager import Pass, register_pass
from .rewrite import Rewriter


def recursive_functions(module: ModuleOp) -> set[str]:
    """Functions that can reach themselves through calls."""
    calls = {f.sym_name: {op.callee for op in f.walk() if isinstance(op, CallOp)}
             for f in module.functions}
    recursive = set()
    for start in calls:
        stack, seen = list(calls[start]), set()
        while stack:
            name = stack.pop()
            if name == start:
                recursive.add(start)
                break
            if name not in seen:
                seen.add(name)
                stack.extend(calls.get(name, ()))
    return recursive


def dim_bindings(params: tuple[Type, ...], args: list[Value]) -> dict[str, Dim]:
    """What the callee's named dimensions are called at this call (from the argument types).

    A name bound to a static size becomes ``?`` rather than the size: ops such as
    ``hy.broadcast_to`` carry an operand per dynamic dimension, so a dimension may only turn
    static together with its operand (refine-shapes does that once the size is a constant).
    """
    bindings: dict[str, Dim] = {}
    for param, arg in zip(params, args):
        for want, have in zip(shape_of(param), shape_of(arg.type)):
            if isinstance(want, str) and want != DYNAMIC:
                bindings.setdefault(want, have if isinstance(have, str) else DYNAMIC)
    return bindings


def retyper(bindings: dict[str, Dim]):
    """The callee's types in the caller: its dimension names mean nothing there."""
    def retype(t: Type) -> Type:
        shape = shape_of(t)
        if not any(isinstance(d, str) for d in shape):
            return t
        new = tuple(bindings.get(d, DYNAMIC) if isinstance(d, str) else d for d in shape)
        return make_type(element_type(t), new) if not hasattr(t, "space") else t
    return retype


@register_pass
@record
class Inline(Pass):
    """Replace calls of non-recursive functions by the callee's body.

    Named dimensions of the callee are renamed to what the call binds them to (or ``?``), so
    the inlined ops speak the caller's shapes. Recursive functions stay calls.
    """

    name: ClassVar[str] = "inline"

    def run(self, module: ModuleOp) -> None:
        recursive = recursive_functions(module)
        changed = True
        while changed:  # inlined bodies may hold calls of their own
            changed = False
            for call in [op for op in module.walk() if isinstance(op, CallOp)]:
                callee = module.lookup(call.callee)
                if isinstance(callee, FuncOp) and callee.sym_name not in recursive:
                    self.inline_call(call, callee)
                    changed = True

    @staticmethod
    def inline_call(call: CallOp, callee: FuncOp) -> None:
        mapping: dict[Value, Value] = dict(zip(callee.body.args, call.operands))
        retype = retyper(dim_bindings(callee.type.inputs, list(call.operands)))
        rewriter = Rewriter()
        for op in callee.body.ops[:-1]:
            rewriter.insert_before(call, op.clone(mapping, retype))
        returned = [mapping.get(v, v) for v in callee.body.ops[-1].operands]
        rewriter.replace(call, returned)
