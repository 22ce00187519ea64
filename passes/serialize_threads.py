"""Kernels whose threads synchronize, as kernels of one thread per block that loop over the
block's threads (MCUDA's and PoCL's work-group functions): how a CPU runs them.

``gpu-serialize-threads`` rewrites each kernel holding a ``gpu.barrier`` or a shared buffer.
The kernel's body is cut at its barriers into segments; each segment becomes a loop nest
over the block's threads (x fastest), so a barrier is the end of one loop nest and the start
of the next. A loop holding barriers stays a loop (every thread runs it alike: its bounds
must not depend on the thread) around the segments of its body. What a thread computes in one
segment and uses in a later one lives in a per-thread slot (a shared buffer of one element
for each of the at most 1024 threads of a block); what no thread tells apart (the arguments,
the block's ids, arithmetic on them) is computed once, outside the thread loops. Shared
buffers stay shared: the new kernel ``@<k>.threads`` runs one thread per block, which the
launches launch on blocks of one thread, passing the block's sizes first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from hyc.ir import Builder, ForOp, FuncOp, HycError, ModuleOp, Operation, ReturnOp, Value, YieldOp
from hyc.ir.attributes import BoolAttr, SymbolRefAttr
from hyc.ir.core import Block
from hyc.ir.dialects import buf, gpu, hy
from hyc.ir.interpreter import MAX_BLOCK_THREADS
from hyc.ir.location import Location
from hyc.ir.opdef import Pure
from hyc.ir.types import MemRefType, index
from hyc.record import field, record

from .bufferization import LoopBuilder
from .bufferization.loop_building import binary, check, const
from .gpu import free_name
from .manager import Pass, register_pass

UNIFORM_IDS = (gpu.BlockIdOp, gpu.GridDimOp)


@register_pass
@record
class GpuSerializeThreads(Pass):
    """Rewrite kernels with barriers or shared buffers to loop over their block's threads
    between barriers; their launches launch blocks of one thread of the new kernel."""

    name: ClassVar[str] = "gpu-serialize-threads"

    def run(self, module: ModuleOp) -> None:
        for kernel in [f for f in module.functions if synchronizes(f)]:
            serialized = Serializer(kernel, module).run()
            for launch in [op for op in module.walk() if isinstance(op, gpu.LaunchOp)
                           and op.kernel == kernel.sym_name]:
                b = Builder(loc=launch.loc)
                b.set_insertion_point_before(launch)
                _check_block(b, launch)
                one = b.constant(index, 1)
                b.create(gpu.LaunchOp, [*launch.grid, one, one, one, *launch.block,
                                        *launch.kernel_args],
                         {"kernel": SymbolRefAttr(serialized.sym_name)}, result_types=[])
                launch.erase()
            kernel.erase()


def _check_block(b: Builder, launch: gpu.LaunchOp) -> None:
    """The checks the launch made of its block, which the new launch's blocks of one thread
    no longer make."""
    lb = LoopBuilder(b)
    sizes = launch.block
    at_least_one = binary(lb, hy.AndOp, binary(lb, hy.AndOp, *(
        binary(lb, hy.GeOp, size, const(lb, 1)) for size in sizes[:2])),
        binary(lb, hy.GeOp, sizes[2], const(lb, 1)))
    check(lb, at_least_one, f"launch of @{launch.kernel}: every grid and block size must be "
                            "at least 1", code="E1012")
    limit = const(lb, MAX_BLOCK_THREADS)
    each = [binary(lb, hy.LeOp, size, limit) for size in sizes]
    threads = binary(lb, hy.MulOp, binary(lb, hy.MulOp, sizes[0], sizes[1]), sizes[2])
    within = binary(lb, hy.AndOp, binary(lb, hy.AndOp, each[0], each[1]),
                    binary(lb, hy.AndOp, each[2], binary(lb, hy.LeOp, threads, limit)))
    check(lb, within, f"launch of @{launch.kernel}: a block has at most {MAX_BLOCK_THREADS} "
                      "threads", code="E1012")


def synchronizes(func: FuncOp) -> bool:
    """Whether ``func`` is a kernel whose threads synchronize (barriers, shuffles, shared
    buffers): what this pass rewrites."""
    return func.kernel and any(gpu.synchronizing(op) or _is_shared_alloc(op)
                               for op in func.walk())


def _is_shared_alloc(op: Operation) -> bool:
    return isinstance(op, buf.AllocOp) and getattr(op.result.type, "space", "") == "shared"


def _holds_barrier(op: Operation) -> bool:
    """Whether ``op`` is or holds a barrier or a shuffle: the ends of segments."""
    return any(gpu.synchronizing(o) for o in op.walk())


@record
class Serializer:
    kernel: FuncOp
    module: ModuleOp
    uniform: dict[Value, Value] = field(default_factory=dict)  # a value -> its block-level one
    slots: dict[Value, Value] = field(default_factory=dict)  # a per-thread value -> its slot
    thread_ids: dict[Operation, list[Value]] = field(default_factory=dict)  # innermost loop: ids

    def run(self) -> FuncOp:
        old = self.kernel
        new = FuncOp.create(free_name(f"{old.sym_name}.threads", self.module),
                            [index] * 3 + list(old.type.inputs), [],
                            ["bx", "by", "bz"] + [a.name_hint for a in old.body.args], old.loc)
        new.attributes["kernel"] = BoolAttr(True)
        self.module.body.insert(self.module.body.ops.index(old), new)
        self.sizes = list(new.body.args[:3])
        self.uniform.update(zip(old.body.args, new.body.args[3:]))
        self.b = Builder(new.body, old.loc)
        self.preamble = self.b.create(YieldOp, [], result_types=[])  # a marker, erased below
        self.serialize(old.body)
        self.b.create(ReturnOp, [], result_types=[])
        self.preamble.erase()
        for op in [op for op in new.walk() if isinstance(op, gpu.ThreadIdOp)]:
            loop = op.parent_op
            while loop not in self.thread_ids:
                loop = loop.parent_op
            op.result.replace_all_uses_with(self.thread_ids[loop][op.dim])
            op.erase()
        return new

    # -- the parts of a block, between barriers -------------------------------------------
    def serialize(self, block: Block) -> None:
        """Emit ``block`` (but its terminator) at the block level: runs of ops without
        barriers as thread loops, loops with barriers as loops, barriers as nothing."""
        segment: list[Operation] = []
        ops = block.ops[:-1] if block.ops and block.ops[-1].name in ("func.return", "scf.yield") \
            else block.ops
        for op in ops:
            if _holds_barrier(op):
                self.segment(segment, block)
                segment = []
                if isinstance(op, ForOp):
                    self.loop(op)
                elif isinstance(op, gpu.ShuffleDownOp):
                    self.shuffle(op)
                elif not isinstance(op, gpu.BarrierOp):
                    raise HycError(f"gpu-sim runs barriers and shuffles at a kernel's top level "
                                   f"or in loops every thread runs alike, not inside '{op.name}'",
                                   op.loc, code="E0805")
            elif self.hoistable(op):  # before the thread loop of its segment: it may
                self.hoist(op)        # (its operands are the block's)
            else:
                segment.append(op)
        self.segment(segment, block)

    def hoistable(self, op: Operation) -> bool:
        if _is_shared_alloc(op) or isinstance(op, UNIFORM_IDS) or isinstance(op, gpu.BlockDimOp):
            return True
        return Pure in op.traits and not op.regions and all(v in self.uniform for v in op.operands)

    def hoist(self, op: Operation) -> None:
        """An op no thread tells apart, once for the block."""
        if isinstance(op, gpu.BlockDimOp):
            self.uniform[op.result] = self.sizes[op.dim]
            return
        if _is_shared_alloc(op):  # once for the block, whatever loop it is in
            b = Builder(loc=op.loc)
            b.set_insertion_point_before(self.preamble)
            self.uniform[op.result] = b.insert(op.clone({})).result
            return
        clone = self.b.insert(op.clone(dict(self.uniform)))
        self.uniform.update(zip(op.results, clone.results))

    def segment(self, ops: list[Operation], block: Block) -> None:
        """A loop nest over the block's threads running ``ops``; each result a later segment
        uses is stored in its slot."""
        if not ops:
            return
        inside = set(ops)
        defined = {r for op in ops for r in op.results}
        used = [v for op in ops for v in op.values_from_outside() if v not in defined]

        def body(t: Value, ids: list[Value]) -> None:
            mapping = self.thread_mapping(t, ids, used)
            for op in ops:
                clone = self.b.insert(op.clone(mapping))
                mapping.update(zip(op.results, clone.results))
                if isinstance(op, gpu.ThreadIdOp):
                    continue  # every segment has the ids
                for old, new in zip(op.results, clone.results):
                    if any(use.ancestor_in(block) not in inside for use in _users(old)):
                        self.b.create(buf.StoreOp, [new, self.slot(old), t], result_types=[])

        self.thread_loops(body)

    def thread_mapping(self, t: Value, ids: list[Value], used: list[Value]) -> dict[Value, Value]:
        """What the values ``used`` are for thread ``t`` (ids x, y, z): block-level values,
        its ids, or loads of its slots."""
        mapping = dict(self.uniform)
        for value in used:
            op = getattr(value, "op", None)
            if isinstance(op, gpu.ThreadIdOp):
                mapping[value] = ids[op.dim]
            elif value not in mapping:
                if value not in self.slots:
                    raise HycError("a value a thread computes is used across a barrier where "
                                   "gpu-sim cannot keep it", _where(value, self.kernel), code="E0805")
                mapping[value] = self.b.create(buf.LoadOp, [self.slot(value), t],
                                               result_types=[value.type]).result
        return mapping

    def thread_loops(self, body: Callable[[Value, list[Value]], None]) -> None:
        zero, one = self.b.constant(index, 0), self.b.constant(index, 1)
        bx, by, bz = self.sizes
        ids: list[Value] = []
        loops = []
        for size in (bz, by, bx):
            loop = self.b.insert(ForOp.create(zero, size, one, [], loc=self.kernel.loc))
            loops.append(loop)
            ids.insert(0, loop.body.args[0])
            self.b.set_insertion_point_to_end(loop.body)
        self.thread_ids[loops[-1]] = ids
        x, y, z = ids
        t = self.b.create(hy.AddOp, [self.b.create(hy.MulOp, [self.b.create(hy.AddOp, [
            self.b.create(hy.MulOp, [z, by]).result, y]).result, bx]).result, x]).result
        body(t, ids)
        for loop in reversed(loops):
            self.b.set_insertion_point_to_end(loop.body)
            self.b.create(YieldOp, [], result_types=[])
        # at the end: slots are inserted at the top meanwhile, which would shift a position
        self.b.set_insertion_point_to_end(loops[0].parent)

    def slot(self, value: Value) -> Value:
        """The per-thread buffer keeping ``value`` from one segment to another."""
        if value not in self.slots:
            if isinstance(value.type, MemRefType):
                raise HycError("a buffer a thread computes is used across a barrier: gpu-sim "
                               "keeps only scalars across barriers", _where(value, self.kernel), code="E0805")
            b = Builder(loc=self.kernel.loc)
            b.set_insertion_point_before(self.preamble)
            self.slots[value] = b.create(buf.AllocOp, [], result_types=[MemRefType(
                (MAX_BLOCK_THREADS,), value.type, "shared")]).result
        return self.slots[value]

    def shuffle(self, op: Operation) -> None:
        """Each thread's value from the slot of the thread ``offset`` lanes above it in its
        warp (its own past the warp or the block)."""
        value, offset = op.operands
        if value in self.uniform:  # all alike: each gets its own
            self.uniform[op.result] = self.uniform[value]
            return
        if offset not in self.uniform or value not in self.slots:
            raise HycError("gpu-sim shuffles values a thread computed before, by an offset the "
                           "same for every thread", op.loc, code="E0805")
        bx, by, bz = self.sizes
        threads = self.b.create(hy.MulOp, [self.b.create(hy.MulOp, [bx, by]).result, bz]).result
        shift = self.uniform[offset]

        def body(t: Value, ids: list[Value]) -> None:
            b = LoopBuilder(self.b)
            partner = binary(b, hy.AddOp, t, shift)
            lane = binary(b, hy.AddOp, binary(b, hy.FmodOp, t, const(b, gpu.WARP)), shift)
            inside = binary(b, hy.AndOp, binary(b, hy.AndOp, binary(
                b, hy.LtOp, lane, const(b, gpu.WARP)), binary(b, hy.LtOp, partner, threads)),
                binary(b, hy.GeOp, shift, const(b, 0)))
            source = self.b.create(hy.SelectOp, [inside, partner, t]).result
            got = self.b.create(buf.LoadOp, [self.slots[value], source],
                                result_types=[value.type]).result
            self.b.create(buf.StoreOp, [got, self.slot(op.result), t], result_types=[])

        self.thread_loops(body)

    # -- loops holding barriers ---------------------------------------------------------------
    def loop(self, op: ForOp) -> None:
        """A loop every thread runs alike, around the segments of its body; its carried values
        are per-thread, in slots."""
        bounds = op.operands[:3]
        if not all(v in self.uniform for v in bounds):
            raise HycError("a loop holding a barrier must run alike in every thread of a block "
                           "(bounds that do not depend on the thread)", op.loc, code="E0805")
        body = op.body
        carried = list(body.args[1:])
        inits = list(op.operands[3:])
        for arg, result in zip(carried, op.results):
            self.slots[result] = self.slot(arg)
        self.copy_to_slots(inits, carried)
        loop = self.b.insert(ForOp.create(*(self.uniform[v] for v in bounds), [], loc=op.loc))
        self.uniform[body.args[0]] = loop.body.args[0]
        after = self.b
        self.b = Builder(loop.body, op.loc)
        self.serialize(body)
        yielded = list(body.ops[-1].operands)
        self.copy_to_slots(yielded, carried)
        self.b.create(YieldOp, [], result_types=[])
        self.b = after

    def copy_to_slots(self, values: list[Value], carried: list[Value]) -> None:
        """Each thread's ``values`` into the slots of ``carried`` (all read, then written)."""
        if not carried:
            return

        def body(t: Value, ids: list[Value]) -> None:
            mapping = self.thread_mapping(t, ids, values)
            read = [mapping[v] for v in values]
            for value, arg in zip(read, carried):
                self.b.create(buf.StoreOp, [value, self.slot(arg), t], result_types=[])

        self.thread_loops(body)


def _users(value: Value) -> list[Operation]:
    return [use.op for use in value.uses]


def _where(value: Value, kernel: FuncOp) -> Location:
    op = getattr(value, "op", None)
    return op.loc if op is not None else kernel.loc
