"""The verifier: structure, SSA dominance, terminators, and each op's declared rules.

All problems found are reported together; each names the op and its location.
"""

from __future__ import annotations

from .core import BlockArgument, Operation, OpResult, Value
from .diagnostics import Diagnostic, VerifyError, nesting_room
from .opdef import IsolatedFromAbove, NoTerminator, Terminator, operand_groups
from .shapes import types_compatible


class Verifier:
    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []

    def error(self, op: Operation, message: str, notes: list[Diagnostic] | None = None, *,
              code: str) -> None:
        self.diagnostics.append(Diagnostic(f"'{op.name}' op {message}", op.loc, notes=notes or [],
                                           code=code))

    # -- per op -----------------------------------------------------------------------------
    def verify_op(self, op: Operation, visible: set[Value]) -> None:
        self._check_dominance(op, visible)
        if self._check_spec(op):
            self._check_semantics(op)
        for region in op.regions:
            self._verify_region(op, region, set() if op.has_trait(IsolatedFromAbove) else visible)
        visible.update(op.results)

    def _check_dominance(self, op: Operation, visible: set[Value]) -> None:
        for i, value in enumerate(op.operands):
            if value in visible:
                continue
            if isinstance(value, OpResult):
                where = Diagnostic("operand defined here", value.op.loc, "note")
            elif isinstance(value, BlockArgument) and value.block.parent_op is not None:
                where = Diagnostic("operand defined here (block argument)",
                                   value.block.parent_op.loc, "note")
            else:
                self.error(op, f"operand #{i} is not defined by any operation", code="E0706")
                continue
            self.error(op, f"operand #{i} does not dominate this use", [where], code="E0706")

    def _check_spec(self, op: Operation) -> bool:
        """Counts, type constraints, attributes, regions, parent. False if op is malformed."""
        ok = True
        for kind, values, defs in (("operand", op.operands, op.operand_defs),
                                   ("result", op.results, op.result_defs)):
            groups = operand_groups(defs, len(values))
            if groups is None:
                fixed = sum(1 for d in defs if not d.variadic)
                more = " or more" if any(d.variadic for d in defs) else ""
                self.error(op, f"expects {fixed}{more} {kind}(s), got {len(values)}", code="E0701")
                ok = False
                continue
            for d in defs:
                for j, v in enumerate(values[groups[d.name]], groups[d.name].start):
                    if not d.constraint.check(v.type):
                        self.error(op, f"{kind} #{j} ('{d.name}') must be "
                                       f"{d.constraint.description}, but got {v.type}", code="E0702")
                        ok = False
        for name, spec in op.attr_defs.items():
            attr = op.attributes.get(name)
            if attr is None and not spec.optional:
                self.error(op, f"requires attribute '{name}' ({spec.description})", code="E0703")
                ok = False
            elif attr is not None and not spec.check(attr):
                self.error(op, f"attribute '{name}' must be {spec.description}, got {attr}", code="E0703")
                ok = False
        for name in op.attributes:
            if name not in op.attr_defs:
                self.error(op, f"unknown attribute '{name}'", code="E0703")
                ok = False
        if len(op.regions) != op.region_count:
            self.error(op, f"expects {op.region_count} region(s), got {len(op.regions)}", code="E0704")
            ok = False
        for i, region in enumerate(op.regions):
            if len(region.blocks) != 1:  # the passes and backends rely on one block
                self.error(op, f"region #{i} must hold exactly one block, found {len(region.blocks)}",
                           code="E0704")
                ok = False
        parent = op.parent_op
        if op.parent_names and (parent is None or parent.name not in op.parent_names):
            self.error(op, f"must be nested directly in {' or '.join(op.parent_names)}", code="E0705")
            ok = False
        return ok

    def _check_semantics(self, op: Operation) -> None:
        try:
            inferred = op.infer_result_types([v.type for v in op.operands], op.attributes)
            if inferred is not None:
                for i, (got, want) in enumerate(zip((r.type for r in op.results), inferred)):
                    if not types_compatible(got, want):
                        self.error(op, f"result #{i} has type {got} but the operands give {want}",
                                   code="E0708")
            op.verify_()
        except VerifyError as e:
            diag = e.diagnostics[0]
            self.diagnostics.append(Diagnostic(f"'{op.name}' op {diag.message}",
                                               diag.loc if diag.loc.primary() else op.loc, code=diag.code))

    # -- structure ----------------------------------------------------------------------------
    def _verify_region(self, owner: Operation, region, outer: set[Value]) -> None:
        for block in region.blocks:
            visible = set(outer)
            visible.update(block.args)
            for op in block.ops:
                self.verify_op(op, visible)
            self._check_terminator(owner, block)

    def _check_terminator(self, owner: Operation, block) -> None:
        for op in block.ops[:-1]:
            if op.has_trait(Terminator):
                self.error(op, "must be the last operation in its block", code="E0707")
        if owner.has_trait(NoTerminator):
            last = block.terminator
            if last is not None and last.has_trait(Terminator):
                self.error(last, f"cannot end a block of '{owner.name}'", code="E0707")
            return
        last = block.terminator
        if last is None or not last.has_trait(Terminator):
            found = f"'{last.name}'" if last is not None else "an empty block"
            self.error(owner, f"region block must end with a terminator "
                              f"({_expected_terminator(owner)}), found {found}", code="E0707")


def _expected_terminator(owner: Operation) -> str:
    from .opdef import OPS
    names = [n for n, c in OPS.items() if owner.name in c.parent_names and Terminator in c.traits]
    return " or ".join(names) or "a terminator"


def verify(op: Operation) -> None:
    """Raise ``VerifyError`` listing every problem in ``op`` (usually a module)."""
    verifier = Verifier()
    with nesting_room("the IR"):
        verifier.verify_op(op, set())
    if verifier.diagnostics:
        raise VerifyError(diagnostics=verifier.diagnostics)
