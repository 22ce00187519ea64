"""Which ops have side effects: ``hy.print``, and calls of functions that (transitively) print.

Passes ask this before dropping, duplicating or moving an op.
"""

from __future__ import annotations

from hyc.ir import CallOp, ModuleOp, Operation
from hyc.ir.opdef import HasSideEffects, Pure, Terminator


class Effects:
    def __init__(self, module: ModuleOp) -> None:
        self.module = module
        self.effectful_functions = self._effectful_functions()

    def _effectful_functions(self) -> set[str]:
        calls: dict[str, set[str]] = {}
        effectful: set[str] = set()
        for func in self.module.functions:
            name = func.sym_name
            calls[name] = set()
            for op in func.walk():
                if HasSideEffects in op.traits:
                    effectful.add(name)
                elif isinstance(op, CallOp):
                    calls[name].add(op.callee)
        changed = True
        while changed:  # a caller of an effectful function is effectful
            changed = False
            for name, callees in calls.items():
                if name not in effectful and callees & effectful:
                    effectful.add(name)
                    changed = True
        return effectful

    def has_effects(self, op: Operation) -> bool:
        """Whether removing or reordering ``op`` could change what the program does."""
        for nested in op.walk():
            if HasSideEffects in nested.traits or Terminator in nested.traits and nested is op:
                return True
            if isinstance(nested, CallOp) and nested.callee in self.effectful_functions:
                return True
            if nested.name in ("func.func", "builtin.module"):
                return True
        return False

    def is_pure(self, op: Operation) -> bool:
        """Pure and without regions: safe to fold, hoist, merge with an equal op."""
        return Pure in op.traits and not op.regions
