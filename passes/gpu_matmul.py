"""From ``buf.matmul`` to a tiled GPU kernel: tiles staged in shared memory, a register-blocked
micro-tile per thread, the fused epilogue applied in registers before the store.

``gpu-tile-matmul{tile=64,micro=4,depth=16}`` launches, for ``out[M, N] = epilogue(lhs[M, K]
@ rhs[K, N], extras...)``, a grid of ``ceil(N / tile) x ceil(M / tile)`` blocks of
``(tile / micro)^2`` threads. Block ``(bx, by)`` computes the output tile at rows
``by * tile``, columns ``bx * tile``; for each step of ``depth`` along K its threads copy a
``tile x depth`` tile of ``lhs`` and a ``depth x tile`` tile of ``rhs`` into shared memory
together (zeros outside the matrices), wait at a barrier, and each accumulates its
``micro x micro`` elements — rows ``ty * micro + i``, columns ``tx + (tile / micro) * j``, so
that neighbouring threads read neighbouring columns — from the shared tiles, in registers;
a second barrier keeps the tiles until every thread has read them. The thread then applies the
epilogue to each accumulated element inside the matrix and stores it.

Tiles pay off when the output has at least ``tile`` rows and columns; the host launches the
tiled kernel then, and otherwise runs the matmul as it was (marked ``untiled``: a batch-1
layer is a matrix-vector product, which ``expand-matmul`` maps to one thread per output
element). Matmuls of other ranks (vectors, batches) are left to ``expand-matmul`` too.
"""

from __future__ import annotations

from typing import ClassVar

from hyc.ir import Builder, ForOp, FuncOp, HycError, IfOp, ModuleOp, ReturnOp, Value, YieldOp
from hyc.ir.attributes import BoolAttr, IntAttr, SymbolRefAttr
from hyc.ir.dialects import buf, gpu, hy
from hyc.ir.types import MemRefType, element_type, shape_of
from hyc.record import record

from .bufferization import LoopBuilder, emit_body, load, sequential, store
from .bufferization.loop_building import binary, const
from .gpu import free_name
from .loops import extra_at
from .manager import Pass, register_pass


@register_pass
@record
class GpuTileMatmul(Pass):
    """Launch a tiled, shared-memory kernel for each 2-D ``buf.matmul`` of a host function."""

    name: ClassVar[str] = "gpu-tile-matmul"
    tile: int = 64
    micro: int = 4
    depth: int = 16

    def run(self, module: ModuleOp) -> None:
        if min(self.tile, self.micro, self.depth) < 1 or self.tile % self.micro or \
                (self.tile // self.micro) ** 2 > 1024:
            raise HycError(f"gpu-tile-matmul: tile={self.tile} must be a multiple of "
                           f"micro={self.micro}, with at most 1024 threads ((tile / micro)^2)", code="E0802")
        for op in [op for op in module.walk() if isinstance(op, buf.MatmulOp)]:
            if not _tileable(op) or "untiled" in op.attributes:
                continue
            if any(isinstance(d, int) and d < self.tile for d in shape_of(op.operands[2].type)):
                op.attributes["untiled"] = BoolAttr(True)  # too small, as its type says
                continue
            Tiling(self.tile, self.micro, self.depth).rewrite(op, module)


def _tileable(op: buf.MatmulOp) -> bool:
    func = op.parent_op
    while func is not None and not isinstance(func, FuncOp):
        if isinstance(func, buf.ParallelOp):
            return False  # one thread's work: left to expand-matmul
        func = func.parent_op
    return func is not None and not func.kernel and \
        all(len(shape_of(v.type)) == 2 for v in op.operands[:3]) and \
        all(len(shape_of(v.type)) <= 2 for v in op.operands[3:] if isinstance(v.type, MemRefType))


@record
class Tiling:
    tile: int
    micro: int
    depth: int

    @property
    def side(self) -> int:
        """Threads along each side of a block."""
        return self.tile // self.micro

    def rewrite(self, op: buf.MatmulOp, module: ModuleOp) -> None:
        host = op.parent_op
        while not isinstance(host, FuncOp):
            host = host.parent_op
        kernel = self.kernel(op, module, host)
        b = LoopBuilder(Builder(loc=op.loc))
        b.b.set_insertion_point_before(op)
        m, n = b.dims(op.operands[2])
        one = const(b, 1)

        def blocks(size: Value) -> Value:
            wanted = binary(b, hy.DivOp, binary(b, hy.AddOp, size, const(b, self.tile - 1)),
                            const(b, self.tile))
            return binary(b, hy.MaximumOp, wanted, one)

        large = binary(b, hy.AndOp, binary(b, hy.GeOp, m, const(b, self.tile)),
                       binary(b, hy.GeOp, n, const(b, self.tile)))
        branch = b.b.insert(IfOp.create(large, [], op.loc))
        with b.b.at_end(branch.then_block):
            side = const(b, self.side)
            b.b.create(gpu.LaunchOp, [blocks(n), blocks(m), one, side, side, one, *op.operands],
                       {"kernel": SymbolRefAttr(kernel.sym_name)}, result_types=[])
            b.b.create(YieldOp, [], result_types=[])
        with b.b.at_end(branch.else_block):
            small = b.b.insert(op.clone({}))
            small.attributes["untiled"] = BoolAttr(True)
            b.b.create(YieldOp, [], result_types=[])
        op.erase()

    def kernel(self, op: buf.MatmulOp, module: ModuleOp, host: FuncOp) -> FuncOp:
        operands = list(op.operands)
        kernel = FuncOp.create(free_name(f"{host.sym_name}.matmul", module),
                               [v.type for v in operands], [],
                               ["lhs", "rhs", "out"] + [f"extra{k}" for k in range(len(operands) - 3)],
                               op.loc)
        kernel.attributes["kernel"] = BoolAttr(True)
        module.body.insert(module.body.ops.index(host), kernel)
        b = LoopBuilder(Builder(kernel.body, op.loc))
        lhs, rhs, out, *extras = kernel.body.args
        m, k_size = b.dims(lhs)
        n = b.dims(rhs)[1]
        tx, ty, bx, by = (b.b.create(cls, attributes={"dim": IntAttr(dim)}).result for cls, dim in
                          ((gpu.ThreadIdOp, 0), (gpu.ThreadIdOp, 1), (gpu.BlockIdOp, 0),
                           (gpu.BlockIdOp, 1)))
        thread = binary(b, hy.AddOp, binary(b, hy.MulOp, ty, const(b, self.side)), tx)
        row0 = binary(b, hy.MulOp, by, const(b, self.tile))
        col0 = binary(b, hy.MulOp, bx, const(b, self.tile))
        element = element_type(lhs.type)
        lhs_tile, rhs_tile = (b.b.create(buf.AllocOp, [], result_types=[MemRefType(
            shape, element, "shared")]).result for shape in ((self.tile, self.depth),
                                                              (self.depth, self.tile)))
        zero = b.b.constant(element, 0)
        rows = [binary(b, hy.AddOp, binary(b, hy.MulOp, ty, const(b, self.micro)), const(b, i))
                for i in range(self.micro)]
        cols = [binary(b, hy.AddOp, tx, const(b, self.side * j)) for j in range(self.micro)]

        def multiply(kk: Value, accs: list[Value]) -> list[Value]:
            a = [load(b, lhs_tile, [row, kk]) for row in rows]
            w = [load(b, rhs_tile, [kk, col]) for col in cols]
            return [binary(b, hy.AddOp, accs[i * self.micro + j], binary(b, hy.MulOp, a[i], w[j]))
                    for i in range(self.micro) for j in range(self.micro)]

        steps = b.b.insert(ForOp.create(const(b, 0), k_size, const(b, self.depth),
                                        [zero] * self.micro ** 2, loc=op.loc))
        with b.b.at_end(steps.body):
            k0 = steps.body.args[0]
            self.stage(b, lhs_tile, lhs, thread, row0, k0, (m, k_size), zero)
            self.stage(b, rhs_tile, rhs, thread, k0, col0, (k_size, n), zero)
            b.b.create(gpu.BarrierOp, [], result_types=[])
            accs = sequential(b, const(b, self.depth), list(steps.body.args[1:]), multiply)
            b.b.create(gpu.BarrierOp, [], result_types=[])
            b.b.create(YieldOp, accs, result_types=[])
        for i, row in enumerate(rows):
            for j, col in enumerate(cols):
                at = [binary(b, hy.AddOp, row0, row), binary(b, hy.AddOp, col0, col)]
                inside = binary(b, hy.AndOp, binary(b, hy.LtOp, at[0], m),
                                binary(b, hy.LtOp, at[1], n))
                branch = b.b.insert(IfOp.create(inside, [], op.loc))
                with b.b.at_end(branch.then_block):
                    args = [steps.results[i * self.micro + j]] + [extra_at(b, e, at) for e in extras]
                    store(b, emit_body(b, op.regions[0].block, args), out, at)
                    b.b.create(YieldOp, [], result_types=[])
                with b.b.at_end(branch.else_block):
                    b.b.create(YieldOp, [], result_types=[])
        b.b.create(ReturnOp, [], result_types=[])
        return kernel

    def stage(self, b: LoopBuilder, tile: Value, source: Value, thread: Value, row0: Value,
              col0: Value, bounds: tuple[Value, Value], zero: Value) -> None:
        """The block's threads copy ``source[row0:, col0:]`` into ``tile``, zeros outside
        ``bounds``: element ``thread + threads * l`` for each ``l``."""
        rows, cols = shape_of(tile.type)
        assert isinstance(rows, int) and isinstance(cols, int)
        count, threads = rows * cols, self.side ** 2
        rounds = b.b.insert(ForOp.create(const(b, 0), const(b, -(-count // threads)), const(b, 1),
                                         [], loc=b.b.loc))
        with b.b.at_end(rounds.body):
            e = binary(b, hy.AddOp, thread, binary(b, hy.MulOp, rounds.body.args[0],
                                                   const(b, threads)))
            if count % threads:
                fits = b.b.insert(IfOp.create(binary(b, hy.LtOp, e, const(b, count)), [], b.b.loc))
                with b.b.at_end(fits.else_block):
                    b.b.create(YieldOp, [], result_types=[])
                b.b.set_insertion_point_to_end(fits.then_block)
            r, c = binary(b, hy.DivOp, e, const(b, cols)), binary(b, hy.FmodOp, e, const(b, cols))
            at = [binary(b, hy.AddOp, row0, r), binary(b, hy.AddOp, col0, c)]
            inside = binary(b, hy.AndOp, binary(b, hy.LtOp, at[0], bounds[0]),
                            binary(b, hy.LtOp, at[1], bounds[1]))
            read = b.b.insert(IfOp.create(inside, [zero.type], b.b.loc))
            with b.b.at_end(read.then_block):
                b.b.create(YieldOp, [load(b, source, at)], result_types=[])
            with b.b.at_end(read.else_block):
                b.b.create(YieldOp, [zero], result_types=[])
            store(b, read.results[0], tile, [r, c])
            if count % threads:
                b.b.create(YieldOp, [], result_types=[])
                b.b.set_insertion_point_to_end(rounds.body)
            b.b.create(YieldOp, [], result_types=[])
