"""Memory planning: when each intermediate tensor is live, and which buffer holds it.

The plan is an analysis the backends share (and ``--memory-report`` prints). Every tensor
an op of a function produces needs a buffer from its definition to its last use; a use
inside a loop or branch keeps it live until that op ends. Walking the ops in order, a
result takes over the buffer of an input that dies at that op when the op is elementwise
(an in-place update) and the sizes match; otherwise it reuses the smallest free buffer that
is large enough, or gets a new one. Sizes of dynamic dimensions come from ``dims``
(default 1 per dimension, stated in the report).
"""

from __future__ import annotations

from hyc.ir import FuncOp, ModuleOp, Operation, Value
from hyc.ir.dialects import hy
from hyc.ir.opdef import Elementwise
from hyc.ir.printer import Printer
from hyc.ir.types import TensorType, numpy_dtype, shape_of
from hyc.record import field, record


@record
class PlannedBuffer:
    value: Value
    op: Operation
    size: int  # bytes
    start: int  # index of the defining op in the function body
    end: int  # index of the last op that uses it (the end of the function if returned)
    slot: int = -1
    donor: PlannedBuffer | None = None  # the input whose buffer this result updates in place
    reused: bool = False  # took over a buffer freed earlier


@record
class MemoryPlan:
    function: str
    buffers: list[PlannedBuffer] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)  # capacity of each reusable buffer

    @property
    def planned_bytes(self) -> int:
        return sum(self.slots)

    @property
    def unplanned_bytes(self) -> int:
        return sum(b.size for b in self.buffers)


def tensor_bytes(value: Value, dims: dict[str, int]) -> int:
    count = 1
    for d in shape_of(value.type):
        count *= d if isinstance(d, int) else dims.get(d, 1)
    return count * numpy_dtype(value.type).itemsize


def in_place_capable(op: Operation) -> bool:
    """Each output element depends only on the same element of each input."""
    return Elementwise in op.traits or isinstance(op, hy.FusedOp)


def plan_function(func: FuncOp, dims: dict[str, int]) -> MemoryPlan:
    body = func.body.ops
    top_level = {}  # any op nested in a top-level op counts as that top-level op's index
    for i, op in enumerate(body):
        for nested in op.walk():
            top_level[nested] = i
    plan = MemoryPlan(func.sym_name)
    for i, op in enumerate(body):
        for result in op.results:
            if isinstance(result.type, TensorType) and not isinstance(op, hy.ConstantOp):
                uses = [top_level[u.op] for u in result.uses]
                end = len(body) if any(u.op is body[-1] for u in result.uses) else max(uses, default=i)
                plan.buffers.append(PlannedBuffer(result, op, tensor_bytes(result, dims), i, end))
    _assign_slots(plan, body)
    return plan


def _assign_slots(plan: MemoryPlan, body: list[Operation]) -> None:
    by_value = {b.value: b for b in plan.buffers}
    free: list[int] = []
    owner: dict[int, PlannedBuffer] = {}
    for buf in sorted(plan.buffers, key=lambda b: b.start):
        for slot, holder in list(owner.items()):  # buffers whose last use came before
            if holder.end < buf.start:
                free.append(slot)
                del owner[slot]
        dying = [by_value[v] for v in buf.op.operands
                 if v in by_value and by_value[v].end == buf.start and by_value[v].slot in owner]
        donor = next((d for d in dying if in_place_capable(buf.op) and d.size == buf.size), None)
        if donor is not None:
            buf.slot, buf.donor = donor.slot, donor
            owner[buf.slot] = buf
            continue
        fitting = sorted((plan.slots[s], s) for s in free if plan.slots[s] >= buf.size)
        if fitting:
            buf.slot = fitting[0][1]
            free.remove(buf.slot)
            buf.reused = True
        else:
            buf.slot = len(plan.slots)
            plan.slots.append(buf.size)
        owner[buf.slot] = buf


def plan_module(module: ModuleOp, dims: dict[str, int] | None = None) -> list[MemoryPlan]:
    return [plan_function(f, dims or {}) for f in module.functions]


def memory_report(module: ModuleOp, dims: dict[str, int] | None = None) -> str:
    """The plan of every function, as a table per function."""
    dims = dims or {}
    printer = Printer()
    printer.print_op(module)  # names the values as the printed IR does
    lines = []
    for plan in plan_module(module, dims):
        names = sorted({str(d) for b in plan.buffers for d in shape_of(b.value.type)
                        if isinstance(d, str)})
        assumed = ", ".join(f"{n}={dims.get(n, 1)}" for n in names)
        lines.append(f"memory plan for @{plan.function}" + (f" (assuming {assumed})" if assumed else ""))
        lines.append(f"  {'value':<12} {'op':<18} {'type':<24} {'bytes':>10}  {'live':<9} buffer")
        for b in plan.buffers:
            name = printer.all_names.get(b.value, "?")
            live = f"[{b.start}, {b.end}]"
            note = (f"in place of {printer.all_names.get(b.donor.value, '?')}" if b.donor
                    else "reused" if b.reused else "")
            lines.append(f"  {name:<12} {b.op.name:<18} {str(b.value.type):<24} {b.size:>10}  "
                         f"{live:<9} #{b.slot} {note}".rstrip())
        lines.append(f"  peak bytes: {plan.planned_bytes} planned, {plan.unplanned_bytes} "
                     f"without planning ({len(plan.slots)} buffers for {len(plan.buffers)} "
                     "tensors)")
    return "\n".join(lines) + "\n"
