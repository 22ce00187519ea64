"""The packed matrix multiply of tall products (4 rows or more), in BLIS's loop nest.

For each slab of ``KC`` rows of ``rhs`` (sized from the L1 cache, see ``blocking``), the slab
is copied into panels of ``NR`` columns, contiguous row after row and padded with zeros to a
whole panel (or found so copied already: a product split across threads by rows has every
slab packed once, in parallel, before the threads start — see ``pack_units``); for each block
of ``MC`` rows of ``lhs`` (sized for half of L2), the block is copied into panels of ``MR``
rows, element ``p`` of each row side by side. The micro-kernel
then keeps an ``MR x NR`` tile of the output in vector registers over the slab: per step, ``NV``
vector loads of the ``rhs`` panel, ``MR`` broadcasts from the ``lhs`` panel, ``MR * NV`` fused
multiply-adds. A tile at the edge (fewer rows or columns left) is the same kernel, its loads
and stores of the output masked: no scalar tail.

Each slab's tile is accumulated in registers from zero, in the order of ``k``, and then added
to what the previous slabs stored (the tile's rows of the output are prefetched meanwhile, so
that adding them does not wait on memory): every output element is the sum, slab after slab,
of its slabs' partial sums. The short path sums the same slabs in the same order, so results
do not depend on which path, tile or thread computes them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from llvmlite import ir

from hyc.record import record

from .lowering import element_bytes, interleave, load_lanes, smaller, store_lanes

if TYPE_CHECKING:
    from .matmul import Kernel

I1 = ir.IntType(1)
I8P = ir.PointerType(ir.IntType(8))
I32 = ir.IntType(32)
I64 = ir.IntType(64)
ALIGN = 64  # the packed panels start on cache lines
MR = 6  # rows of the micro-tile
SUM_ROWS = 256  # the most rows of the inner dimension summed before adding to the output


def _const(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


@record(frozen=True)
class Blocking:
    """The micro-tile (``mr`` rows by ``nv`` vectors of ``lanes``), the cache blocks, and
    ``ks``: the rows of the inner dimension summed from zero before being added to the
    output (``kc`` is a multiple of it)."""
    mr: int
    nv: int
    lanes: int
    kc: int
    mc: int
    ks: int

    @property
    def nr(self) -> int:
        return self.nv * self.lanes


def blocking(vector_bits: int, element_bytes: int, caches: tuple[int, int]) -> Blocking:
    """32 vector registers (AVX-512): 6 x 4 vectors, 24 accumulators; 16 (AVX2): 6 x 2. The
    lhs micro-panel (mr x kc) takes about a quarter of L1, the lhs block (mc x kc) half of
    L2."""
    lanes = vector_bits // (8 * element_bytes)
    mr, nv = MR, (4 if vector_bits >= 512 else 2)
    l1, l2 = caches
    # A deep slab: each slab reads and writes the whole output once more, and each tile
    # loads and stores its part once per slab. Measured on a Zen 5 (48 KiB L1, f32): kc 512
    # against 256 took sgemm 2048^3 on one core from 0.86-0.92x numpy's speed to 0.93-0.96x
    # (1024^3: 0.90-0.97x to 0.96-0.99x); the rhs micro-panel (kc x nr) streams from L2.
    kc = max(64, min(1024, l1 // 4 // (mr * element_bytes))) // 16 * 16
    # The sums, though, are made in blocks of at most 256 rows (a tile's accumulators added
    # to the output twice per slab of 512: under 1% more work), the unit in which a single
    # row's product can be split among threads bit for bit (codegen/matvec.py): the MLP's
    # 512-row layer then splits in two on two cores.
    # kc is then rounded up to whole blocks of sums: with a 32 KiB L1 (Zen 3), f32, a quarter
    # of it gives 336, and 512 against 256 took sgemm on one core from 0.71-0.78x numpy's
    # speed to 0.92-1.00x at 1024^3, and from 0.70-0.84x to 0.81-0.87x at 2048^3 (three
    # alternating runs each); the lhs micro-panel then takes 3/8 of L1.
    ks = min(SUM_ROWS, kc)
    kc = -(-kc // ks) * ks
    mc = max(mr, min(4096, l2 // 2 // (kc * element_bytes)) // mr * mr)
    return Blocking(mr, nv, lanes, kc, mc, ks)


def aligned_address(b: ir.IRBuilder, raw: ir.Value) -> ir.Value:
    """The first cache line's address in the memory at ``raw`` (malloc'd with ``ALIGN``
    bytes to spare), as an integer."""
    return b.and_(b.add(b.ptrtoint(raw, I64), _const(ALIGN - 1)), _const(-ALIGN))


def _panels(b: ir.IRBuilder, blocks: Blocking, n: ir.Value, start: ir.Value) -> ir.Value:
    return b.udiv(b.add(b.sub(n, start), _const(blocks.nr - 1)), _const(blocks.nr))


def _slabs(b: ir.IRBuilder, blocks: Blocking, k: ir.Value) -> ir.Value:
    return b.udiv(b.add(k, _const(blocks.kc - 1)), _const(blocks.kc))


def slab_elements(b: ir.IRBuilder, blocks: Blocking, n: ir.Value, start: ir.Value) -> ir.Value:
    """The elements of one packed slab of ``rhs[:, start:n]``: whole panels of ``kc`` rows (a
    shorter last slab is laid out the same, so slab ``s`` begins at ``s`` times this)."""
    return b.mul(_panels(b, blocks, n, start), _const(blocks.nr * blocks.kc))


def prepacked_bytes(b: ir.IRBuilder, blocks: Blocking, element_bytes: int, n: ir.Value,
                    k: ir.Value) -> ir.Value:
    """Bytes of every slab of ``rhs[:k, :n]`` packed, one after the other (with room to align
    to a cache line): what ``PackedMatmul.pack_units`` fills."""
    elements = b.mul(_slabs(b, blocks, k), slab_elements(b, blocks, n, _const(0)))
    return b.add(b.mul(elements, _const(element_bytes)), _const(ALIGN))


def pack_unit_count(b: ir.IRBuilder, blocks: Blocking, n: ir.Value, k: ir.Value) -> ir.Value:
    """How many units ``PackedMatmul.pack_units`` deals out for ``rhs[:k, :n]``."""
    return b.mul(_slabs(b, blocks, k), _panels(b, blocks, n, _const(0)))


class PackedMatmul:
    """The loop nest over one batch entry: ``out[:, start:n] = lhs @ rhs[:, start:n]``."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel, self.fc, self.blocks = kernel, kernel.fc, kernel.blocks
        self.element = kernel.rhs.element
        self.vector = kernel.vector

    # -- memory for the packed copies ---------------------------------------------------------
    def sizes(self, n: ir.Value, start: ir.Value) -> tuple[ir.Value, ir.Value]:
        """Bytes for the packed lhs block and the packed rhs slab (with room to align)."""
        bytes_ = self.kernel.element_bytes
        b = self.fc.b
        rhs = b.mul(slab_elements(b, self.blocks, n, start), _const(bytes_))
        return _const(self.blocks.mc * self.blocks.kc * bytes_ + ALIGN), b.add(rhs, _const(ALIGN))

    def aligned(self, raw: ir.Value) -> ir.Value:
        return self.fc.b.inttoptr(aligned_address(self.fc.b, raw), ir.PointerType(self.element))

    # -- the loop nest --------------------------------------------------------------------------
    def emit(self, m: ir.Value, n: ir.Value, k: ir.Value, start: ir.Value,
             lhs_memory: ir.Value, rhs_memory: ir.Value, prepacked: ir.Value) -> None:
        """``prepacked``: every slab of ``rhs[:, start:n]`` packed already, one after the other
        (``pack_units``), or null: each slab is packed into ``rhs_memory`` in turn."""
        fc, b, blocks = self.fc, self.fc.b, self.blocks
        packed_lhs, own_rhs = self.aligned(lhs_memory), self.aligned(rhs_memory)
        given = b.icmp_unsigned("!=", prepacked, ir.Constant(prepacked.type, None))
        slab_size = slab_elements(b, blocks, n, start)

        def slab(pc: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
            kc = smaller(b, _const(blocks.kc), b.sub(k, pc))
            with b.if_then(b.not_(given)):
                self.pack_rhs(own_rhs, pc, kc, start, n)
            index = b.udiv(pc, _const(blocks.kc))
            packed_rhs = b.select(given, b.gep(prepacked, [b.mul(index, slab_size)]), own_rhs)
            first = b.icmp_signed("==", pc, _const(0))
            last = b.icmp_signed(">=", b.add(pc, kc), k)

            def block(ic: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
                mc = smaller(b, _const(blocks.mc), b.sub(m, ic))
                self.pack_lhs(packed_lhs, ic, mc, pc, kc)

                def column_panel(jr: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
                    panel = b.udiv(b.sub(jr, start), _const(blocks.nr))
                    rhs_panel = b.gep(packed_rhs, [b.mul(panel, _const(blocks.nr * blocks.kc))])
                    columns = smaller(b, _const(blocks.nr), b.sub(n, jr))

                    def rows(vectors: int) -> None:
                        def row_panel(ir_: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
                            lhs_panel = b.gep(packed_lhs, [b.mul(b.udiv(ir_, _const(blocks.mr)),
                                                                 _const(blocks.mr * blocks.kc))])
                            self.micro(lhs_panel, rhs_panel, kc, first, b.add(ic, ir_),
                                       smaller(b, _const(blocks.mr), b.sub(mc, ir_)), jr, columns,
                                       vectors)
                            return []
                        fc.stepped_loop(_const(0), mc, _const(blocks.mr), [], row_panel)
                    self.by_width(columns, rows)
                    return []
                fc.stepped_loop(start, n, _const(blocks.nr), [], column_panel)
                # the block's rows are final after the last slab, and in L2: the epilogue
                # runs on them now (tile by tile, its calls cost more than they saved)
                with b.if_then(last):
                    self.kernel.finished(ic, mc, start, b.sub(n, start))
                return []
            fc.stepped_loop(_const(0), m, _const(blocks.mc), [], block)
            return []
        fc.stepped_loop(_const(0), k, _const(blocks.kc), [], slab)

    # -- packing --------------------------------------------------------------------------------
    def pack_rhs(self, packed: ir.Value, pc: ir.Value, kc: ir.Value,
                 start: ir.Value, n: ir.Value) -> None:
        """``rhs[pc:pc+kc, start:n]`` as panels of NR columns (zeros past ``n``)."""
        def panel(jr: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
            self.pack_rhs_panel(packed, pc, kc, jr, start, n)
            return []
        self.fc.stepped_loop(start, n, _const(self.blocks.nr), [], panel)

    def pack_rhs_panel(self, packed: ir.Value, pc: ir.Value, kc: ir.Value, jr: ir.Value,
                       start: ir.Value, n: ir.Value) -> None:
        """The panel of columns ``jr .. jr + NR`` of ``rhs[pc:pc+kc]`` into its place in the
        packed slab ``packed``, row by row."""
        fc, b, blocks, kernel = self.fc, self.fc.b, self.blocks, self.kernel
        index = b.udiv(b.sub(jr, start), _const(blocks.nr))
        panel = b.gep(packed, [b.mul(index, _const(blocks.nr * blocks.kc))])
        left = b.sub(n, jr)
        columns = [(_inside(b, b.add(jr, _const(c * blocks.lanes)), n, jr),
                    kernel.mask(b.sub(left, _const(c * blocks.lanes)))) for c in range(blocks.nv)]

        def row(p: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
            for c, (column, mask) in enumerate(columns):
                segment = kernel.masked_load(kernel.rhs.address(b, [b.add(pc, p), column]), mask)
                target = b.gep(panel, [b.add(b.mul(p, _const(blocks.nr)), _const(c * blocks.lanes))])
                b.store(segment, b.bitcast(target, ir.PointerType(self.vector)), align=ALIGN)
            return []
        fc.counted_loop(kc, [], row)

    def pack_units(self, packed: ir.Value, n: ir.Value, k: ir.Value,
                   lower: ir.Value, upper: ir.Value) -> None:
        """Units ``lower .. upper`` of packing every slab of ``rhs[:, :n]`` into ``packed``
        (the slabs one after the other): unit ``u`` is panel ``u % panels`` of slab ``u //
        panels``. A product split across threads by rows packs ``rhs`` so, once, in parallel,
        and its threads share it (each packing it for its own rows would repeat the work once
        per range of rows)."""
        b, blocks, zero = self.fc.b, self.blocks, _const(0)
        panels = _panels(b, blocks, n, zero)

        def unit(u: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
            pc = b.mul(b.udiv(u, panels), _const(blocks.kc))
            slab = b.gep(packed, [b.mul(b.udiv(u, panels), slab_elements(b, blocks, n, zero))])
            jr = b.mul(b.urem(u, panels), _const(blocks.nr))
            self.pack_rhs_panel(slab, pc, smaller(b, _const(blocks.kc), b.sub(k, pc)), jr, zero, n)
            return []
        self.fc.stepped_loop(lower, upper, _const(1), [], unit)

    def pack_lhs(self, packed: ir.Value, ic: ir.Value, mc: ir.Value,
                 pc: ir.Value, kc: ir.Value) -> None:
        """``lhs[ic:ic+mc, pc:pc+kc]`` as panels of MR rows, the rows' element ``p`` side by
        side; rows past ``mc`` in the last panel are zeros. A panel is copied a chunk of
        columns at a time: a vector from each of its MR rows (one stream per row), the
        vectors interleaved into one contiguous store (a row at a time, the stores would land
        MR elements apart: scatters, slow on every x86 CPU). Chunks are at most 256 bits, the
        width LLVM's vectorizer chose for this loop on AVX2 (a 48-element interleave, 54
        shuffles); wider ones on AVX-512 were not measured."""
        fc, b, blocks, kernel = self.fc, self.fc.b, self.blocks, self.kernel
        rounded = b.mul(b.udiv(b.add(mc, _const(blocks.mr - 1)), _const(blocks.mr)),
                        _const(blocks.mr))
        chunk = min(blocks.lanes, 256 // (8 * element_bytes(self.element)))

        def panel(first: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
            base = b.mul(b.udiv(first, _const(blocks.mr)), _const(blocks.mr * blocks.kc))
            rows = []
            for r in range(blocks.mr):
                real = b.icmp_signed("<", b.add(first, _const(r)), mc)
                rows.append((real, b.select(real, b.add(ic, b.add(first, _const(r))), ic)))

            def columns(p: ir.Value, lanes: int) -> None:
                values = []
                for real, source_row in rows:  # a row past mc reads row ic, kept as zeros
                    value = load_lanes(b, kernel.lhs.address(b, [source_row, b.add(pc, p)]), lanes)
                    values.append(b.select(real, value, ir.Constant(value.type, None)))
                at = b.gep(packed, [b.add(base, b.mul(p, _const(blocks.mr)))])
                if lanes == 1:
                    for r, value in enumerate(values):
                        b.store(value, b.gep(at, [_const(r)]))
                else:
                    store_lanes(b, interleave(b, values), at)
            fc.chunked_loop(kc, chunk, columns)
            return []
        fc.stepped_loop(_const(0), rounded, _const(blocks.mr), [], panel)

    # -- the micro-kernel -----------------------------------------------------------------------
    def by_width(self, columns: ir.Value, emit: Callable[[int], None], vectors: int = 0) -> None:
        """``emit(vectors)`` for the narrowest micro-kernel that covers a panel's ``columns``
        (``nv`` vectors, then halves of it down to one): a panel at the right edge with a few
        columns left (a layer of 2 outputs, 130 = 2 x 64 + 2) is not computed 64 wide."""
        b, vectors = self.fc.b, vectors or self.blocks.nv
        if vectors == 1:
            emit(1)
            return
        with b.if_else(b.icmp_signed(">", columns, _const(vectors // 2 * self.blocks.lanes))) as (
                wide, narrow):
            with wide:
                emit(vectors)
            with narrow:
                self.by_width(columns, emit, vectors // 2)

    def micro(self, lhs_panel: ir.Value, rhs_panel: ir.Value, kc: ir.Value, first: ir.Value,
              row: ir.Value, rows: ir.Value, column: ir.Value, columns: ir.Value, nv: int) -> None:
        """The tile at (``row``, ``column``), ``rows`` x ``columns`` of it inside the output,
        ``nv`` vectors wide (``columns`` at most that many lanes), summed a block of ``ks``
        rows at a time: the first block of the ``first`` slab stored, every other block
        added to what is there."""
        fc, b, blocks, kernel = self.fc, self.fc.b, self.blocks, self.kernel
        full = b.and_(b.icmp_signed("==", rows, _const(blocks.mr)),
                      b.icmp_signed("==", columns, _const(nv * blocks.lanes)))
        count = blocks.mr * nv

        # where each vector of the tile goes, and which of its lanes are inside the output (an
        # address stays inside the buffer even for a vector whose lanes are all off)
        inside_rows = [b.icmp_signed("<", _const(r), rows) for r in range(blocks.mr)]
        column_masks = [kernel.mask(b.sub(columns, _const(c * blocks.lanes)))
                        for c in range(nv)]
        pointers, masks = [], []
        for r, inside in enumerate(inside_rows):
            at_row = b.select(inside, b.add(row, _const(r)), row)
            row_mask = _splat_bool(b, inside, blocks.lanes)
            for c in range(nv):
                col = _inside(b, b.add(column, _const(c * blocks.lanes)), b.add(column, columns),
                              column)
                pointers.append(b.bitcast(kernel.out.address(b, [at_row, col]),
                                          ir.PointerType(self.vector)))
                masks.append(b.and_(column_masks[c], row_mask))

        # the tile's rows of the output are wanted after the slab: fetched meanwhile
        prefetch = fc.parent.runtime("llvm.prefetch.p0i8", ir.VoidType(), [I8P, I32, I32, I32])
        for r in range(blocks.mr):
            for line in range(0, nv * blocks.lanes * kernel.element_bytes, 64):
                at = b.gep(b.bitcast(pointers[r * nv], I8P), [_const(line)])
                b.call(prefetch, [at, ir.Constant(I32, 1), ir.Constant(I32, 3), ir.Constant(I32, 1)])

        zero = ir.Constant(self.vector, None)

        def step(p: ir.Value, acc: list[ir.Value]) -> list[ir.Value]:
            segments = []
            for c in range(nv):
                at = b.gep(rhs_panel, [b.add(b.mul(p, _const(blocks.nr)), _const(c * blocks.lanes))])
                segments.append(b.load(b.bitcast(at, ir.PointerType(self.vector)), align=ALIGN))
            new = []
            for r in range(blocks.mr):
                a = b.load(b.gep(lhs_panel, [b.add(b.mul(p, _const(blocks.mr)), _const(r))]))
                splat = kernel.splat(a)
                for c, segment in enumerate(segments):
                    new.append(_fast(b.fadd(acc[r * nv + c], _fast(b.fmul(splat, segment)))))
            return new

        def block(q: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
            """Rows ``q .. q + ks`` of the slab, summed from zero, then stored (the first
            block of the first slab) or added to the output."""
            size = smaller(b, _const(blocks.ks), b.sub(kc, q))
            result = fc.counted_loop(size, [zero] * count, lambda p, acc: step(b.add(q, p), acc))
            store = b.and_(first, b.icmp_signed("==", q, _const(0)))
            with b.if_else(full) as (whole, edge):  # (a masked store is slow on some CPUs)
                with whole:
                    sums = _choose(b, store, lambda: result, lambda: [
                        b.fadd(b.load(p, align=4), v) for p, v in zip(pointers, result)])
                    for pointer, value in zip(pointers, sums):
                        b.store(value, pointer, align=4)
                with edge:
                    sums = _choose(b, store, lambda: result, lambda: [
                        b.fadd(kernel.masked_load(p, m), v) for p, m, v in zip(pointers, masks, result)])
                    for pointer, mask, value in zip(pointers, masks, sums):
                        kernel.masked_store(value, pointer, mask)
            return []
        fc.stepped_loop(_const(0), kc, _const(blocks.ks), [], block)


def _fast(instruction: ir.Instruction) -> ir.Instruction:
    instruction.flags.append("contract")  # fused multiply-adds, as in the other paths
    return instruction


def _inside(b: ir.IRBuilder, column: ir.Value, end: ir.Value, fallback: ir.Value) -> ir.Value:
    """``column`` if it is before ``end``, else ``fallback``: an address that stays inside the
    buffer for a vector whose lanes are all masked off."""
    return b.select(b.icmp_signed("<", column, end), column, fallback)


def _splat_bool(b: ir.IRBuilder, flag: ir.Value, lanes: int) -> ir.Value:
    vector = ir.VectorType(I1, lanes)
    single = b.insert_element(ir.Constant(vector, ir.Undefined), flag, ir.Constant(I32, 0))
    return b.shuffle_vector(single, ir.Constant(vector, ir.Undefined),
                            ir.Constant(ir.VectorType(I32, lanes), [0] * lanes))


def _choose(b: ir.IRBuilder, condition: ir.Value, then: Callable[[], list[ir.Value]],
            otherwise: Callable[[], list[ir.Value]]) -> list[ir.Value]:
    """The values ``then()`` or ``otherwise()`` make, whichever ``condition`` picks."""
    with b.if_else(condition) as (yes, no):
        with yes:
            first = then()
            first_block = b.block
        with no:
            second = otherwise()
            second_block = b.block
    merged = []
    for x, y in zip(first, second):
        phi = b.phi(x.type)
        phi.add_incoming(x, first_block)
        phi.add_incoming(y, second_block)
        merged.append(phi)
    return merged
