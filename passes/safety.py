"""Buffer-level IR from text is checked before it is compiled (docs/backend.md, "Safety").

Bufferization writes loops whose accesses stay inside their buffers by construction: every
index runs over a size read from the very buffer it indexes, and sizes only known at run time
are compared with ``buf.check`` before any loop runs. Text at the buffer level can claim
anything, so a function that arrives at that level (a ``.hyir`` file given to ``hyc``,
``hyc.compile`` or ``hyc-opt``) goes through ``harden-buffers`` first:

- **ownership** is checked statically: only buffers the function owns (``buf.alloc``
  results, the buffers loops and branches hand on) may be freed, yielded or passed to a loop,
  each at most once, in the block that owns it, and nothing uses a buffer after that; a
  ``buf.constant`` is only ever read;
- **every access is checked** at run time unless the compiler proves it: ``buf.load`` and
  ``buf.store`` indices against the buffer's sizes, ``buf.copy`` element counts,
  ``buf.matmul`` operand and output sizes (canonicalize drops the checks that fold to true);
  new buffers start as zeros (text may read before it writes);
- **every sequential loop polls for interrupts** (``buf.interrupt_point``): its trip count
  is the text's to choose.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from hyc.ir import Block, CallOp, ForOp, FuncOp, IfOp, ModuleOp, Operation, Value, YieldOp
from hyc.ir.attributes import BoolAttr, IntAttr, StringAttr
from hyc.ir.builder import Builder
from hyc.ir.core import OpResult
from hyc.ir.diagnostics import VerifyError
from hyc.ir.dialects import buf, gpu, hy
from hyc.ir.types import MemRefType, TensorType, index, shape_of
from hyc.record import record

from .manager import Pass, register_pass


def is_buffer_level(func: Operation) -> bool:
    """Whether a function is written at the buffer level (memref values or buf ops)."""
    return any(isinstance(v.type, MemRefType) for v in _values(func)) or any(
        op.name.startswith("buf.") for op in func.walk())


def _values(func: Operation) -> Iterator[Value]:
    for op in func.walk():
        yield from op.results
        for region in op.regions:
            for block in region.blocks:
                yield from block.args


def _is_memref(value: Value) -> bool:
    return isinstance(value.type, MemRefType)


def _consumes(op: Operation, position: int) -> bool:
    """Whether operand ``position`` of ``op`` takes over the buffer (frees or hands it on)."""
    return isinstance(op, buf.FreeOp) or isinstance(op, YieldOp) or (
        isinstance(op, ForOp) and position >= 3)


def _owned(block: Block) -> list[Value]:
    """The buffers a block owns: its allocations, what its loops and branches hand out, and
    the carried buffers of a loop body."""
    parent = block.parent_op
    owned = [a for a in block.args[1:] if _is_memref(a)] if isinstance(parent, ForOp) else []
    for op in block.ops:
        if isinstance(op, (buf.AllocOp, ForOp, IfOp)):
            owned += [r for r in op.results if _is_memref(r)]
    return owned


def check_ownership(func: FuncOp) -> None:
    """Buffers are freed or handed on only by their owner, once, after their last use."""
    for op in func.walk():
        for region in op.regions:
            for block in region.blocks:
                _check_block(block)


def _check_block(block: Block) -> None:
    owned = _owned(block)
    position = {op: i for i, op in enumerate(block.ops)}
    for value in owned:
        taken = [u for u in value.uses if _consumes(u.op, u.index)]
        if len(taken) > 1:
            raise VerifyError("a buffer is freed or handed on more than once", taken[1].op.loc, code="E0713")
        if not taken:
            continue  # never freed: a leak, not a hazard
        consumer = taken[0].op
        if consumer.parent is not block:
            raise VerifyError("a buffer may be freed or handed on only in the block that owns it",
                              consumer.loc, code="E0713")
        for use in value.uses:
            at = use.op.ancestor_in(block)
            if use.op is not consumer and (at is None or position[at] >= position[consumer]):
                raise VerifyError("a buffer is used after it was freed or handed on", use.op.loc,
                                  code="E0713")
    mine = set(owned)
    for op in block.ops:
        _check_static_sizes(op)
        for i, operand in enumerate(op.operands):
            if _is_memref(operand) and _consumes(op, i) and operand not in mine:
                raise VerifyError(f"'{op.name}' takes over a buffer this block does not own (an "
                                  "argument, a constant or a buffer owned elsewhere)", op.loc, code="E0713")
            if isinstance(operand, OpResult) and isinstance(operand.op, buf.ConstantOp) and \
                    not _reads(op, i):
                raise VerifyError(f"'{op.name}' may write to a buf.constant, which is read-only "
                                  "(copy it into a buf.alloc first)", op.loc, code="E0713")


def _check_static_sizes(op: Operation) -> None:
    """Where a buffer flows into a loop, or out of a loop or branch, the code that receives it
    takes a size its type states as a constant: the buffer's own type must state it too."""
    flows: list[tuple[Value, object]] = []
    if isinstance(op, ForOp):
        flows = [(v, a.type) for v, a in zip(op.operands[3:], op.body.args[1:])]
    elif isinstance(op, YieldOp) and op.parent_op is not None:
        flows = [(v, r.type) for v, r in zip(op.operands, op.parent_op.results)]
    for value, target in flows:
        if any(isinstance(want, int) and have != want
               for have, want in zip(shape_of(value.type), shape_of(target))):
            raise VerifyError(f"a {value.type} flows where {target} is expected: at the buffer "
                              "level a size the receiver states must be stated by the buffer too",
                              op.loc, code="E0713")


def _reads(op: Operation, position: int) -> bool:
    """Whether operand ``position`` of ``op`` is only read."""
    if isinstance(op, buf.StoreOp):
        return position != 1
    if isinstance(op, buf.CopyOp):
        return position == 0
    if isinstance(op, buf.MatmulOp):
        return position != 2
    return isinstance(op, (buf.LoadOp, buf.DimOp, buf.PrintOp))


class Guard:
    """Builds the run-time checks in front of one op."""

    def __init__(self, op: Operation) -> None:
        self.op = op
        self.b = Builder(loc=op.loc)
        self.b.set_insertion_point_before(op)

    def dim(self, buffer: Value, axis: int) -> Value:
        size = shape_of(buffer.type)[axis]
        if isinstance(size, int):
            return self.b.constant(index, size)
        return self.b.create(buf.DimOp, [buffer], {"axis": IntAttr(axis)}).result

    def dims(self, buffer: Value) -> list[Value]:
        return [self.dim(buffer, axis) for axis in range(len(shape_of(buffer.type)))]

    def test(self, cls: type[Operation], a: Value, b: Value) -> Value:
        return self.b.create(cls, [a, b]).result

    def require(self, condition: Value, message: str, *, code: str) -> None:
        self.b.create(buf.CheckOp, [condition], {"message": StringAttr(message), "code": StringAttr(code)},
                      result_types=[])

    def inside(self, i: Value, size: Value) -> Value:
        zero = self.b.constant(index, 0)
        return self.test(hy.AndOp, self.test(hy.GeOp, i, zero), self.test(hy.LtOp, i, size))

    def count(self, buffer: Value) -> Value:
        total = self.b.constant(index, 1)
        for size in self.dims(buffer):
            total = self.test(hy.MulOp, total, size)
        return total

    def fits(self, size: Value, target: Value) -> Value:
        """numpy's broadcasting of one size to another: equal, or 1."""
        one = self.b.constant(index, 1)
        return self.test(hy.OrOp, self.test(hy.EqOp, size, target), self.test(hy.EqOp, size, one))


def _guard_access(op: Operation, buffer: Value, indices: list[Value]) -> None:
    guard = Guard(op)
    for axis, i in enumerate(indices):
        guard.require(guard.inside(i, guard.dim(buffer, axis)),
                      f"{op.name}: index {axis} out of bounds", code="E1007")


def _guard_matmul(op: Operation) -> None:
    guard = Guard(op)
    lhs, rhs, out = (guard.dims(v) for v in op.operands[:3])
    inner = rhs[-2] if len(rhs) > 1 else rhs[0]
    guard.require(guard.test(hy.EqOp, lhs[-1], inner), "buf.matmul: inner sizes differ", code="E1006")
    core = ([lhs[-2]] if len(lhs) > 1 else []) + ([rhs[-1]] if len(rhs) > 1 else [])
    batch = out[: len(out) - len(core)]
    for size, wanted in zip(core, out[len(batch):]):
        guard.require(guard.test(hy.EqOp, size, wanted), "buf.matmul: the output has other sizes",
                      code="E1006")
    operands = [(lhs[: len(lhs) - 2], batch), (rhs[: len(rhs) - 2], batch)]
    operands += [(guard.dims(v), out) for v in op.operands[3:] if _is_memref(v)]
    for sizes, target in operands:
        for size, wanted in zip(reversed(sizes), reversed(target)):
            guard.require(guard.fits(size, wanted), "buf.matmul: an operand does not broadcast "
                                                    "to the output", code="E1006")


def harden(func: FuncOp) -> None:
    """Check ownership, then put a run-time check in front of every access."""
    if any(isinstance(v.type, TensorType) for v in _values(func)):
        raise VerifyError(f"@{func.sym_name} mixes tensor and buffer values: a function is "
                          "written at one level", func.loc, code="E0713")
    if func.type.results:
        raise VerifyError(f"@{func.sym_name} is written at the buffer level, where functions "
                          "return nothing: results are trailing memref arguments", func.loc, code="E0713")
    if func.kernel:
        raise VerifyError(f"@{func.sym_name} is a GPU kernel: kernels are made by gpu-grid-stride "
                          "after these checks, not taken from text (give the loop level, hyc "
                          "--emit=loops, instead)", func.loc, code="E0713")
    check_ownership(func)
    for op in list(func.walk()):
        if isinstance(op, (buf.DispatchOp, gpu.LaunchOp)):
            raise VerifyError(f"{op.name} is made by the loop passes after these checks, not "
                              "taken from text: give the loop level (hyc --emit=loops) instead",
                              op.loc, code="E0713")
        if isinstance(op, buf.LoadOp):
            _guard_access(op, op.operands[0], list(op.operands[1:]))
        elif isinstance(op, buf.StoreOp):
            _guard_access(op, op.operands[1], list(op.operands[2:]))
        elif isinstance(op, buf.CopyOp):
            guard = Guard(op)
            source, target = (guard.count(v) for v in op.operands)
            guard.require(guard.test(hy.EqOp, source, target),
                          "buf.copy: the buffers hold different numbers of elements", code="E1006")
        elif isinstance(op, buf.MatmulOp):
            _guard_matmul(op)
        elif isinstance(op, ForOp):
            op.body.insert(0, buf.InterruptPointOp(loc=op.loc))
        elif isinstance(op, buf.AllocOp):
            op.attributes["zeroed"] = BoolAttr(True)
        elif isinstance(op, CallOp):
            _guard_call(op)


def _guard_call(op: CallOp) -> None:
    """The callee trusts its parameter types: sizes the caller only knows at run time are
    checked against the sizes the callee's types state."""
    callee = op.parent_op
    while callee is not None and not isinstance(callee, ModuleOp):
        callee = callee.parent_op
    target = callee.lookup(op.callee) if callee is not None else None
    if target is None:
        return
    guard = Guard(op)
    for value, param in zip(op.operands, target.type.inputs):
        for axis, (have, want) in enumerate(zip(shape_of(value.type), shape_of(param))):
            if isinstance(want, int) and not isinstance(have, int):
                guard.require(guard.test(hy.EqOp, guard.dim(value, axis), guard.b.constant(index, want)),
                              f"call of @{op.callee}: an argument has another size than its "
                              "parameter type", code="E1003")


@register_pass
@record
class HardenBuffers(Pass):
    """Check functions written at the buffer level and guard every access they make.

    Runs first when a module is lowered to loops: ownership of buffers is checked (frees and
    hand-overs by the owner only, once, after the last use; constants only read), and every
    `buf.load`, `buf.store`, `buf.copy`, `buf.matmul` and call gets run-time checks that keep
    it inside its buffers; every `scf.for` polls for interrupts. Functions at the tensor level
    are left alone: bufferization's loops are in range by construction.
    """

    name: ClassVar[str] = "harden-buffers"

    def run(self, module: ModuleOp) -> None:
        for func in module.functions:
            if is_buffer_level(func):
                harden(func)

