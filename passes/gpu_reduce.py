"""Reductions to a scalar on the GPU: block reductions with warp shuffles, then a second pass.

``gpu-block-reduce{block=256}`` maps each reduction loop of a host function that
``parallelize-reductions`` could split (a top-level ``scf.for`` from 0 by 1 folding values
computed from the index into one scalar with an associative, commutative op) to two launches:

1. ``@<f>.reduce``: ``min(ceil(n / (4 * block)), 1024)`` blocks (at least one) of ``block``
   threads. Thread ``g`` folds the elements ``g, g + G, g + 2G, ...`` (``G`` the grid's
   threads: neighbouring threads read neighbouring elements); then the block folds its
   threads' values — within each warp by ``gpu.shuffle_down`` by 16, 8, 4, 2 and 1, lane 0 of
   each warp leaving its warp's value in shared memory; after a barrier, every warp folds
   those values (the identity past the last warp) the same way — and thread 0 stores the
   block's value in a buffer of partial results.
2. ``@<f>.reduce.partials``: one block folds the partial results the same way, into one
   element, which the host reads and folds into the loop's initial value, as the loop would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from hyc.ir import Builder, ForOp, FuncOp, IfOp, ModuleOp, Operation, ReturnOp, Value, YieldOp
from hyc.ir.attributes import BoolAttr, IntAttr, SymbolRefAttr
from hyc.ir.core import OpResult
from hyc.ir.dialects import buf, gpu, hy
from hyc.ir.types import MemRefType, Type, index
from hyc.record import record

from .gpu import free_name, grid_stride
from .loops import identity_of, reduction_combine
from .manager import Pass, register_pass

MAX_BLOCKS = 1024  # partial results: one block of the second pass folds them quickly
PER_THREAD = 4  # elements a thread folds at least, before blocks are added


@register_pass
@record
class GpuBlockReduce(Pass):
    """Map each top-level reduction loop to a block-reduction kernel and a second pass over
    the blocks' partial results (a block of ``block`` threads, a multiple of 32)."""

    name: ClassVar[str] = "gpu-block-reduce"
    block: int = 256

    def run(self, module: ModuleOp) -> None:
        block = min(max(self.block - self.block % gpu.WARP, gpu.WARP), 1024)
        final: dict[tuple[str, str, Type], FuncOp] = {}
        for func in [f for f in module.functions if not f.kernel]:
            for loop in [op for op in func.body.ops if isinstance(op, ForOp)]:
                combine = reduction_combine(loop)
                if combine is not None:
                    Reduction(module, func, loop, combine, block, final).rewrite()


@record
class Reduction:
    module: ModuleOp
    func: FuncOp
    loop: ForOp
    combine: Operation
    block: int
    final: dict[tuple[str, str, Type], FuncOp]

    @property
    def type(self) -> Type:
        return self.loop.results[0].type

    def fold(self, b: Builder, a: Value, c: Value) -> Value:
        return b.create(type(self.combine), [a, c], dict(self.combine.attributes),
                        result_types=[self.type]).result

    def rewrite(self) -> None:
        loop, t = self.loop, self.type
        body = loop.body
        inside = loop.defined_inside()
        used = [v for v in dict.fromkeys(v for op in body.ops for nested in op.walk()
                                         for v in nested.operands) if v not in inside]
        constants = [v for v in used if isinstance(v, OpResult) and v.op.name == "hy.constant"]
        captured = [v for v in used if v not in constants]

        def element(b: Builder, i: Value, args: list[Value]) -> Value:
            mapping: dict[Value, Value] = {body.args[0]: i, **dict(zip(captured, args))}
            mapping.update((v, b.insert(v.op.clone({})).result) for v in constants)
            for op in body.ops:
                if op is self.combine:
                    break
                b.insert(op.clone(mapping))
            value = next(v for v in self.combine.operands if v is not body.args[1])
            return mapping.get(value, value)

        first = self.kernel(free_name(f"{self.func.sym_name}.reduce", self.module),
                            [v.type for v in captured], [v.name_hint for v in captured], element)
        b = Builder(loc=loop.loc)
        b.set_insertion_point_before(loop)
        size = loop.operands[1]
        per_block = b.constant(index, self.block * PER_THREAD)
        wanted = b.create(hy.DivOp, [b.create(hy.AddOp, [size, b.constant(
            index, self.block * PER_THREAD - 1)]).result, per_block]).result
        one = b.constant(index, 1)
        blocks = b.create(hy.MaximumOp, [b.create(hy.MinimumOp, [
            wanted, b.constant(index, MAX_BLOCKS)]).result, one]).result
        threads = b.constant(index, self.block)
        partials = b.create(buf.AllocOp, [blocks], result_types=[MemRefType(("?",), t)]).result
        b.create(gpu.LaunchOp, [blocks, one, one, threads, one, one, size, *captured, partials],
                 {"kernel": SymbolRefAttr(first.sym_name)}, result_types=[])
        result = b.create(buf.AllocOp, [one], result_types=[MemRefType(("?",), t)]).result
        b.create(gpu.LaunchOp, [one, one, one, threads, one, one, blocks, partials, result],
                 {"kernel": SymbolRefAttr(self.partials_kernel().sym_name)}, result_types=[])
        value = b.create(buf.LoadOp, [result, b.constant(index, 0)], result_types=[t]).result
        init = loop.operands[3]
        total = self.fold(b, init, value) if self.combine.operands[0] is body.args[1] \
            else self.fold(b, value, init)
        b.create(buf.FreeOp, [partials], result_types=[])
        b.create(buf.FreeOp, [result], result_types=[])
        loop.results[0].replace_all_uses_with(total)
        loop.erase()

    def partials_kernel(self) -> FuncOp:
        """One block folding ``n`` partial results into one; shared by the reductions of a
        module that fold alike."""
        key = (self.combine.name, str(dict(self.combine.attributes)), self.type)
        if key not in self.final:
            self.final[key] = self.kernel(
                free_name(f"{self.func.sym_name}.reduce.partials", self.module),
                [MemRefType(("?",), self.type)], ["partials"],
                lambda b, i, args: b.create(buf.LoadOp, [args[0], i],
                                            result_types=[self.type]).result)
        return self.final[key]

    def kernel(self, name: str, types: list[Type], names: list[str],
               element: Callable[[Builder, Value, list[Value]], Value]) -> FuncOp:
        """A kernel of ``(n, args..., out)`` folding ``element(i)`` for ``i < n`` into
        ``out[block_id]``."""
        t = self.type
        kernel = FuncOp.create(name, [index, *types, MemRefType(("?",), t)], [],
                               ["n", *names, "out"], self.loop.loc)
        kernel.attributes["kernel"] = BoolAttr(True)
        self.module.body.insert(self.module.body.ops.index(self.func), kernel)
        b = Builder(kernel.body, self.loop.loc)
        n, *args, out = kernel.body.args
        identity = b.constant(t, identity_of(self.combine, t))
        (acc,) = grid_stride(b, n, [identity], lambda i, carried: [
            self.fold(b, carried[0], element(b, i, args))])
        warp_value = self.warp_fold(b, acc)
        thread = b.create(gpu.ThreadIdOp, attributes={"dim": IntAttr(0)}).result
        warp_size = b.constant(index, gpu.WARP)
        lane = b.create(hy.FmodOp, [thread, warp_size]).result
        zero = b.constant(index, 0)
        values = b.create(buf.AllocOp, [], result_types=[MemRefType((gpu.WARP,), t, "shared")]).result
        self.when(b, b.create(hy.EqOp, [lane, zero]).result, lambda: b.create(
            buf.StoreOp, [warp_value, values, b.create(hy.DivOp, [thread, warp_size]).result],
            result_types=[]))
        b.create(gpu.BarrierOp, [], result_types=[])
        warps = b.constant(index, -(-self.block // gpu.WARP))
        read = b.insert(IfOp.create(b.create(hy.LtOp, [lane, warps]).result, [t], b.loc))
        with b.at_end(read.then_block):
            b.create(YieldOp, [b.create(buf.LoadOp, [values, lane], result_types=[t]).result],
                     result_types=[])
        with b.at_end(read.else_block):
            b.create(YieldOp, [identity], result_types=[])
        block_value = self.warp_fold(b, read.results[0])
        block_id = b.create(gpu.BlockIdOp, attributes={"dim": IntAttr(0)}).result
        self.when(b, b.create(hy.EqOp, [thread, zero]).result, lambda: b.create(
            buf.StoreOp, [block_value, out, block_id], result_types=[]))
        b.create(ReturnOp, [], result_types=[])
        return kernel

    def warp_fold(self, b: Builder, value: Value) -> Value:
        """Lane 0 of each warp gets the fold of the warp's ``value``s."""
        for offset in (16, 8, 4, 2, 1):
            other = b.create(gpu.ShuffleDownOp, [value, b.constant(index, offset)]).result
            value = self.fold(b, value, other)
        return value

    @staticmethod
    def when(b: Builder, condition: Value, then: Callable[[], object]) -> None:
        branch = b.insert(IfOp.create(condition, [], b.loc))
        with b.at_end(branch.then_block):
            then()
            b.create(YieldOp, [], result_types=[])
        with b.at_end(branch.else_block):
            b.create(YieldOp, [], result_types=[])
