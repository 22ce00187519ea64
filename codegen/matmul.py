"""Loops for ``buf.matmul``: ``out = epilogue(lhs @ rhs, extras)`` with numpy's matmul shapes.

Floats whose epilogue keeps the product's type go through register-blocked kernels: products
of 4 rows or more through the packed loop nest of codegen/gemm.py (BLIS's), shorter ones (a
batch of 1) a row at a time with a wide strip of vector accumulators over the inner
dimension (summed slab by slab, as the packed path sums), so that ``rhs`` streams through
once; columns left over by the strips are one masked vector. The kernels are the runtime's
(``kernel_module``); the module hands them its epilogue as a function they call on each block
of the output they finish (``_block_epilogue``), or, for a batch entry, runs it over each row
after the kernel. Other cases accumulate each row in place in i-k-j order (the innermost loop
along contiguous rows, which LLVM vectorizes), or, when the epilogue changes the type,
compute each element as a dot product.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llvmlite import ir

from hyc.ir import Operation
from hyc.ir.types import MemRefType, shape_of

from . import threads
from .gemm import PackedMatmul, blocking, pack_unit_count, prepacked_bytes
from .lowering import Buffer, TargetFunction, TargetModule, element_bytes, load_lanes, smaller, store_lanes
from .matvec import EPILOGUE, build_row, row_function
from .scalar_ops import is_float
from .symbols import KERNEL_ELEMENTS, SCRATCH_GIVE, SCRATCH_TAKE, kernel_symbol, pack_symbol
from .threads import BODY

if TYPE_CHECKING:
    from .cpu import CpuFunction
    from .target import Target

I32 = ir.IntType(32)
I64 = ir.IntType(64)
I8P = ir.PointerType(ir.IntType(8))


def _fast(instruction: ir.Instruction) -> ir.Instruction:
    instruction.flags.append("contract")  # allow fused multiply-add, as BLAS does
    return instruction


def _index(fc: CpuFunction, size: ir.Value, iv: ir.Value) -> ir.Value:
    """Broadcast indexing: a dimension of size 1 is read at 0."""
    is_one = fc.b.icmp_signed("==", size, ir.Constant(I64, 1))
    return fc.b.select(is_one, ir.Constant(I64, 0), iv)


def tiles(op: Operation) -> bool:
    """Whether ``op`` goes through the register-blocked kernel: floats whose epilogue keeps
    the product's type, with a matrix on the right."""
    body = op.regions[0].block
    return is_float(op.operands[0].type) and len(shape_of(op.operands[1].type)) > 1 and \
        bool(shape_of(op.operands[0].type)) and body.args[0].type == op.operands[2].type.element


def emit_matmul(fc: CpuFunction, op: Operation,
                columns: tuple[ir.Value, ir.Value] | None = None,
                prepacked: ir.Value | None = None) -> None:
    """The loops of ``op``; with ``columns`` (a tiled matmul), only the output's columns
    ``lo..hi``; with ``prepacked`` (a tiled matmul of all columns, or null), ``rhs`` packed
    already (``pack_function``)."""
    lhs, rhs, out = (fc.buffer(v) for v in op.operands[:3])
    body = op.regions[0].block
    floating = is_float(op.operands[0].type)
    a_rank, b_rank = len(lhs.sizes), len(rhs.sizes)
    k_size = lhs.sizes[-1]
    m_size = lhs.sizes[-2] if a_rank > 1 else ir.Constant(I64, 1)
    n_size = rhs.sizes[-1] if b_rank > 1 else ir.Constant(I64, 1)
    batch = out.sizes[: len(out.sizes) - (a_rank > 1) - (b_rank > 1)]
    in_place = shape_of(op.operands[0].type) and body.args[0].type == \
        op.operands[2].type.element

    def operand_index(buffer: Buffer, batch_ivs: list[ir.Value], rows: list[ir.Value]) -> list[ir.Value]:
        own_batch = buffer.sizes[: len(buffer.sizes) - len(rows)]
        offset = len(batch_ivs) - len(own_batch)
        return [_index(fc, s, batch_ivs[offset + i]) for i, s in enumerate(own_batch)] + rows

    def out_index(batch_ivs: list[ir.Value], i: ir.Value, j: ir.Value) -> list[ir.Value]:
        return _out_index(op, batch_ivs, i, j)

    def lhs_at(batch_ivs, i, k):
        return fc.b.load(lhs.address(fc.b, operand_index(lhs, batch_ivs, [i, k] if a_rank > 1 else [k])))

    def rhs_at(batch_ivs, k, j):
        return fc.b.load(rhs.address(fc.b, operand_index(rhs, batch_ivs, [k, j] if b_rank > 1 else [k])))

    def epilogue(batch_ivs: list[ir.Value], i: ir.Value, j: ir.Value, acc: ir.Value) -> None:
        _epilogue(fc, op, out_index(batch_ivs, i, j), acc)

    def finish(batch_ivs: list[ir.Value], i: ir.Value, first: ir.Value, end: ir.Value) -> None:
        finish_columns(fc, op, batch_ivs, i, first, end)

    def zero() -> ir.Value:
        return ir.Constant(lhs.element, 0.0 if floating else 0)

    def multiply_add(acc: ir.Value, x: ir.Value, y: ir.Value) -> ir.Value:
        if floating:
            return _fast(fc.b.fadd(acc, _fast(fc.b.fmul(x, y))))
        return fc.b.add(acc, fc.b.mul(x, y))

    def row(batch_ivs: list[ir.Value], i: ir.Value) -> None:
        if in_place:
            def clear(j, _):
                fc.b.store(zero(), out.address(fc.b, out_index(batch_ivs, i, j)))
                return []
            fc.counted_loop(n_size, [], clear)

            def over_k(k, _):
                a = lhs_at(batch_ivs, i, k)

                def over_j(j, _):
                    target = out.address(fc.b, out_index(batch_ivs, i, j))
                    fc.b.store(multiply_add(fc.b.load(target), a, rhs_at(batch_ivs, k, j)), target)
                    return []
                fc.counted_loop(n_size, [], over_j)
                return []
            fc.counted_loop(k_size, [], over_k)
            finish(batch_ivs, i, ir.Constant(I64, 0), n_size)
            return

        def element(j, _):
            (acc,) = fc.counted_loop(k_size, [zero()], lambda k, c: [
                multiply_add(c[0], lhs_at(batch_ivs, i, k), rhs_at(batch_ivs, k, j))])
            epilogue(batch_ivs, i, j, acc)
            return []
        fc.counted_loop(n_size, [], element)

    tiled = tiles(op)
    first, end = columns or (ir.Constant(I64, 0), n_size)

    def tiled_rows(batch_ivs: list[ir.Value]) -> None:
        """The whole batch entry: the runtime's kernel, the epilogue applied by it to each
        block it finishes (no batch) or after it to each row."""
        origin = ir.Constant(I64, 0)
        b = fc.b
        a = lhs.address(b, operand_index(lhs, batch_ivs, [origin] * min(a_rank, 2)))
        w = rhs.address(b, operand_index(rhs, batch_ivs, [origin, origin]))
        c = out.address(b, out_index(batch_ivs, origin, origin))
        shared = prepacked if prepacked is not None else \
            ir.Constant(ir.PointerType(lhs.element), None)
        on_blocks = not batch_ivs and not identity_epilogue(op)
        epilogue_fn, context = _block_epilogue(fc, op) if on_blocks else (
            ir.Constant(ir.PointerType(EPILOGUE), None), ir.Constant(ir.PointerType(I64), None))
        b.call(kernel_function(fc.parent, lhs.element),
               [a, w, c, m_size, end, k_size, first, rhs.sizes[-1], out.sizes[-1], shared,
                epilogue_fn, context])
        if on_blocks or identity_epilogue(op):
            return

        def finish_row(i: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
            finish(batch_ivs, i, first, end)
            return []
        fc.counted_loop(m_size, [], finish_row)

    def batches(level: int, ivs: list[ir.Value]) -> None:
        if level == len(batch) and tiled:
            tiled_rows(ivs)
            return
        if level == len(batch):
            def rows(i: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
                row(ivs, i)
                return []
            fc.counted_loop(m_size, [], rows)
            return

        def inner(b: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
            batches(level + 1, ivs + [b])
            return []
        fc.counted_loop(batch[level], [], inner)

    batches(0, [])


def _epilogue(fc: CpuFunction, op: Operation, index: list[ir.Value], acc: ir.Value) -> None:
    """The epilogue of ``op`` on ``acc``, stored at ``index`` of its output (the buffers
    ``fc`` holds)."""
    body = op.regions[0].block
    args = [acc] + [_extra(fc, fc.values[v], v, index) for v in op.operands[3:]]
    fc.values.update(zip(body.args, args))
    (value,) = fc.block(body)
    fc.b.store(value, fc.buffer(op.operands[2]).address(fc.b, index))


def _out_index(op: Operation, batch_ivs: list[ir.Value], i: ir.Value,
               j: ir.Value) -> list[ir.Value]:
    """The output's index of row ``i``, column ``j`` (numpy's matmul shapes: a vector operand
    has no row, or no column)."""
    a_rank, b_rank = (len(shape_of(v.type)) for v in op.operands[:2])
    return batch_ivs + ([i] if a_rank > 1 else []) + ([j] if b_rank > 1 else [])


def finish_columns(fc: CpuFunction, op: Operation, batch_ivs: list[ir.Value], i: ir.Value,
                   first: ir.Value, end: ir.Value) -> None:
    """The epilogue over row ``i``'s columns ``first..end`` of the output, in place."""
    out = fc.buffer(op.operands[2])

    def column(j: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
        index = _out_index(op, batch_ivs, i, j)
        _epilogue(fc, op, index, fc.b.load(out.address(fc.b, index)))
        return []
    fc.stepped_loop(first, end, ir.Constant(I64, 1), [], column)


def identity_epilogue(op: Operation) -> bool:
    """Whether ``op``'s epilogue yields the product as it is."""
    body = op.regions[0].block
    return len(body.ops) == 1 and list(body.ops[0].operands) == [body.args[0]]


def _block_epilogue(fc: CpuFunction, op: Operation) -> tuple[ir.Function, ir.Value]:
    """The epilogue as a function the kernel calls on each block of the output it finishes,
    while the block is in cache (docs/backend.md: after the kernel, it read the whole output
    back), and its context: ``op``'s values from outside, as words."""
    carried = op.values_from_outside()

    def emit(inner: CpuFunction, row: ir.Value, rows: ir.Value, column: ir.Value,
             columns: ir.Value) -> None:
        b = inner.b

        def each_row(r: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
            finish_columns(inner, op, [], b.add(row, r), column, b.add(column, columns))
            return []
        inner.counted_loop(rows, [], each_row)
    key = (op, "epilogue")
    if key not in fc.parent.made_for:
        fc.parent.made_for[key] = fc.outlined(EPILOGUE, "epilogue", carried, emit)
    return fc.parent.made_for[key], fc.pack(carried)


def emit_row_product(fc: CpuFunction, op: Operation, work: ir.Value, threshold: int) -> ir.Value:
    """When ``op``'s product has a single row and ``work`` of at least ``threshold``: the
    runtime's product split along the inner dimension (codegen/matvec.py), the epilogue
    handed to it. Whether it ran (an i1: not for an inner dimension of a single block of
    sums, nor without scratch memory)."""
    b = fc.b
    lhs, rhs, out = (fc.buffer(v) for v in op.operands[:3])
    done = fc.alloca(ir.IntType(1))
    b.store(ir.Constant(ir.IntType(1), 0), done)
    single = b.and_(b.icmp_signed("==", lhs.sizes[0], ir.Constant(I64, 1)),
                    b.icmp_signed(">=", work, ir.Constant(I64, threshold)))
    with b.if_then(single):
        epilogue, context = (ir.Constant(ir.PointerType(EPILOGUE), None),
                             ir.Constant(ir.PointerType(I64), None)) if identity_epilogue(op) \
            else _block_epilogue(fc, op)
        b.store(b.call(row_function(fc.parent, _element_name(rhs.element), rhs.element),
                       [lhs.data, rhs.data, out.data, rhs.sizes[1], lhs.sizes[1], epilogue,
                        context]), done)
    return b.load(done)


def _extra(fc: CpuFunction, extra: object, value: object, index: list[ir.Value]) -> ir.Value:
    """One element of an extra epilogue input, broadcast to the output index."""
    if not isinstance(extra, Buffer):
        return extra
    offset = len(index) - len(extra.sizes)
    t = getattr(value, "type", None)
    static = shape_of(t) if isinstance(t, MemRefType) else ()
    own = []
    for axis, size in enumerate(extra.sizes):
        d = static[axis] if axis < len(static) else None
        own.append(ir.Constant(I64, 0) if d == 1 else _index(fc, size, index[offset + axis]))
    return fc.b.load(extra.address(fc.b, own))


KERNEL_TYPES = dict(zip(KERNEL_ELEMENTS, (ir.FloatType(), ir.DoubleType())))


def _element_name(element: ir.Type) -> str:
    """The kernels' name for an element type (``f32``, ``f64``)."""
    return next(n for n, t in KERNEL_TYPES.items() if t == element)


def _kernel_type(element: ir.Type) -> ir.FunctionType:
    pointer = ir.PointerType(element)
    return ir.FunctionType(ir.VoidType(), [pointer] * 3 + [I64] * 6 + [
        pointer, ir.PointerType(EPILOGUE), ir.PointerType(I64)])


def kernel_function(parent: TargetModule, element: ir.Type) -> ir.Function:
    """``void kernel(a, b, c, m, n, k, start, ldb, ldc, packed, epilogue, context)``:
    ``c[:m, start:n] = a[:m, :k] @ b[:k, start:n]`` for row-major ``a`` (rows of ``k``),
    ``b`` (rows of ``ldb``) and ``c`` (rows of ``ldc``), declared in generated code;
    ``packed`` is null, or (with ``start`` 0) ``b[:k, :n]`` as the packing function left
    it; ``epilogue``, unless null, is called with ``context`` on each block of ``c`` as soon
    as it holds its final sums (each element once). The kernels are part of hyc's runtime
    (``kernel_module``): compiled once per target and kept in the disk cache, not once per
    module and use."""
    return parent.runtime(kernel_symbol(parent.target, _element_name(element)), ir.VoidType(),
                          list(_kernel_type(element).args))


def pack_function(parent: TargetModule, element: ir.Type) -> ir.Function:
    """``void pack(i64* words, i64 lower, i64 upper)``, a body for the thread pool: units
    ``lower..upper`` of packing ``b[:k, :n]`` (rows of ``ldb``) for the kernel, the words
    being ``b, n, k, ldb, packed``; ``pack_layout`` says how many units and bytes."""
    return parent.runtime(pack_symbol(parent.target, _element_name(element)), ir.VoidType(), list(BODY.args))


def pack_layout(fc: TargetFunction, element: ir.Type, n: ir.Value,
                k: ir.Value) -> tuple[ir.Value, ir.Value]:
    """For the packing function on ``b[:k, :n]``: the bytes it fills (with room to align to a
    cache line) and how many units it deals out."""
    target, size = fc.parent.target, element_bytes(element)
    blocks = blocking(target.vector_bits, size, target.caches)
    return prepacked_bytes(fc.b, blocks, size, n, k), pack_unit_count(fc.b, blocks, n, k)


def kernel_module(target: Target, element: str) -> ir.Module:
    """The module that defines ``kernel_symbol(target, element)``, ``pack_symbol(target,
    element)`` and ``row_symbol(target, element)``."""
    parent = TargetModule(target)
    t = KERNEL_TYPES[element]
    fn = ir.Function(parent.llvm, _kernel_type(t), kernel_symbol(target, element))
    for argument in fn.args[:3]:
        argument.add_attribute("noalias")  # results never overlap the arguments (backend.md)
    a, w, c, m, n, k, start, ldb, ldc, packed, epilogue, context = fn.args
    inner = TargetFunction(parent, None, fn)
    Kernel(inner, Buffer(a, [m, k], t), Buffer(w, [k, ldb], t), Buffer(c, [m, ldc], t),
           (epilogue, context)).emit(m, n, k, start, packed)
    inner.b.ret_void()
    build_row(parent, element, t, fn)

    fn = ir.Function(parent.llvm, BODY, pack_symbol(target, element))
    words, lower, upper = fn.args
    inner = TargetFunction(parent, None, fn)
    w, n, k, ldb, packed = (inner.b.load(inner.b.gep(words, [ir.Constant(I64, i)])) for i in range(5))
    pointer = ir.PointerType(t)
    rhs = Buffer(inner.b.inttoptr(w, pointer), [k, ldb], t)
    PackedMatmul(Kernel(inner, None, rhs, None)).pack_units(
        inner.b.inttoptr(packed, pointer), n, k, lower, upper)
    inner.b.ret_void()
    return parent.llvm


class Kernel:
    """The register-blocked kernels of a float matmul on row-major matrices: the packed
    loop nest for tall products, strips of vector accumulators a row at a time for short
    ones."""

    def __init__(self, fc: TargetFunction, lhs: Buffer | None, rhs: Buffer,
                 out: Buffer | None, epilogue: tuple[ir.Value, ir.Value] | None = None) -> None:
        """``lhs`` and ``out`` are None for the packing of ``rhs`` alone; ``epilogue``: the
        function (or null) called on each finished block of ``out``, and its context."""
        self.fc, self.rhs = fc, rhs
        self.lhs, self.out = lhs or rhs, out or rhs
        self.epilogue = epilogue
        bits = fc.parent.target.vector_bits
        self.element_bytes = element_bytes(rhs.element)
        self.lanes = bits // (8 * self.element_bytes)
        self.vector = ir.VectorType(rhs.element, self.lanes)
        target = fc.parent.target
        # the packed path's blocks; the short path sums the same slabs of the inner dimension
        self.blocks = blocking(target.vector_bits, self.element_bytes, target.caches)

    def emit(self, m: ir.Value, n: ir.Value, k: ir.Value, start: ir.Value,
             prepacked: ir.Value) -> None:
        """Columns ``start..n``. Tall products (4 rows or more): the packed loop nest
        (codegen/gemm.py), on ``rhs`` as ``prepacked`` holds it unless that is null. Short
        ones (a few rows, like a batch of 1): one row at a time, each with a wide strip of
        accumulators, so ``rhs`` streams through row by row."""
        b = self.fc.b
        packed = PackedMatmul(self)
        lhs_bytes, rhs_bytes = packed.sizes(n, start)
        given = b.icmp_unsigned("!=", prepacked, ir.Constant(prepacked.type, None))
        memory = self.packing_memory(m, k, (lhs_bytes, b.select(given, ir.Constant(I64, 1), rhs_bytes)))
        # without memory for the packed copies (malloc failed), the short path does it all
        tall = b.icmp_unsigned("!=", memory[1], ir.Constant(I8P, None))
        with b.if_else(tall) as (then, otherwise):
            with then:
                packed.emit(m, n, k, start, *memory, prepacked)
            with otherwise:  # ever narrower strips, so that a narrow matrix still gets tiles
                done = start
                for vectors in (16, 8, 4, 1):
                    done = self.strips(m, n, k, done, vectors=vectors)
                self.leftover_columns(m, n, k, done)
        give = threads.declare(self.fc.parent.llvm, SCRATCH_GIVE)
        for pointer in memory:
            b.call(give, [pointer])

    def packing_memory(self, m: ir.Value, k: ir.Value,
                       sizes: tuple[ir.Value, ir.Value]) -> tuple[ir.Value, ir.Value]:
        """Memory for the packed copies when there are rows enough to use them (4 or more)
        and an inner dimension (the packed path stores a tile only after a slab of it, so an
        empty one is the short path's: zeros): both, or (when malloc fails) neither."""
        b = self.fc.b
        before = b.block
        null = ir.Constant(I8P, None)
        tall = b.and_(b.icmp_signed(">=", m, ir.Constant(I64, 4)), b.icmp_signed(">", k, ir.Constant(I64, 0)))
        with b.if_then(tall):  # scratch memory: kept between calls (codegen/scratch.py)
            take = threads.declare(self.fc.parent.llvm, SCRATCH_TAKE)
            lhs_memory, rhs_memory = (b.call(take, [size]) for size in sizes)
            both = b.and_(b.icmp_unsigned("!=", lhs_memory, null),
                          b.icmp_unsigned("!=", rhs_memory, null))
            with b.if_then(b.not_(both), likely=False):
                give = threads.declare(self.fc.parent.llvm, SCRATCH_GIVE)
                b.call(give, [lhs_memory])
                b.call(give, [rhs_memory])
            lhs_memory, rhs_memory = (b.select(both, p, null) for p in (lhs_memory, rhs_memory))
            inside = b.block
        found = []
        for pointer in (lhs_memory, rhs_memory):
            phi = b.phi(I8P)
            phi.add_incoming(null, before)
            phi.add_incoming(pointer, inside)
            found.append(phi)
        return found[0], found[1]

    def strips(self, m: ir.Value, n: ir.Value, k: ir.Value,
               start: ir.Value, vectors: int) -> ir.Value:
        """Full strips of ``vectors`` vectors from column ``start``, a row at a time; where
        they end. With sizes known when compiling, strips that cannot run are not emitted."""
        b = self.fc.b
        width = ir.Constant(I64, vectors * self.lanes)
        if isinstance(start, ir.Constant) and isinstance(n, ir.Constant):
            first, count = int(start.constant), int(n.constant)
            end = first + (count - first) // width.constant * width.constant
            if end == first:
                return start
            full_cols: ir.Value = ir.Constant(I64, end)
        else:
            full_cols = b.add(start, b.mul(b.udiv(b.sub(n, start), width), width))

        def strip(j: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
            def single(i: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
                self.tile(i, j, vectors, k)
                return []
            self.fc.counted_loop(m, [], single)
            return []

        self.fc.stepped_loop(start, full_cols, width, [], strip)
        return full_cols

    def leftover_columns(self, m: ir.Value, n: ir.Value, k: ir.Value,
                         full_cols: ir.Value) -> None:
        """Columns ``full_cols .. n`` (fewer than a vector): one masked vector per row."""
        if isinstance(full_cols, ir.Constant) and isinstance(n, ir.Constant) \
                and full_cols.constant == n.constant:
            return
        b = self.fc.b
        with b.if_then(b.icmp_signed("<", full_cols, n)):
            width = b.sub(n, full_cols)
            mask = self.mask(width)

            def leftover_row(i: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
                self.tile(i, full_cols, 1, k, mask, width)
                return []
            self.fc.counted_loop(m, [], leftover_row)

    def finished(self, row: ir.Value, rows: ir.Value, column: ir.Value, columns: ir.Value) -> None:
        """``out[row:row+rows, column:column+columns]`` holds its final sums: the epilogue,
        if any, runs on it now, while it is in cache (a row strip in L1, a block of rows in
        L2)."""
        if self.epilogue is None:
            return
        b = self.fc.b
        function, context = self.epilogue
        with b.if_then(b.icmp_unsigned("!=", function, ir.Constant(function.type, None))):
            b.call(function, [context, row, rows, column, columns])

    def tile(self, i: ir.Value, j: ir.Value, vectors: int, k: ir.Value,
             mask: ir.Value | None = None, width: ir.Value | None = None) -> None:
        """Row ``i``, columns ``j .. j + vectors * lanes`` (the ``width`` lanes of ``mask``
        only, for one vector): the accumulators in registers over the inner dimension."""
        b = self.fc.b
        zero = ir.Constant(self.vector, None)
        cols = [b.add(j, ir.Constant(I64, c * self.lanes)) for c in range(vectors)]

        def load(kk: ir.Value, col: ir.Value) -> ir.Value:
            if mask is None:
                return self.load_vector(self.rhs, [kk, col])
            return self.masked_load(self.rhs.address(b, [kk, col]), mask)

        def step(kk: ir.Value, acc: list[ir.Value]) -> list[ir.Value]:
            segments = [load(kk, c) for c in cols]
            a = b.load(self.lhs.address(b, [i, kk]))
            splat = self.splat(a)
            return [_fast(b.fadd(acc[c], _fast(b.fmul(splat, segment))))
                    for c, segment in enumerate(segments)]

        def slab(pc: ir.Value, total: list[ir.Value]) -> list[ir.Value]:
            """A block of ``ks`` rows of the inner dimension summed from zero, then added
            to the blocks before it, as the packed path sums them (codegen/gemm.py)."""
            size = smaller(b, ir.Constant(I64, self.blocks.ks), b.sub(k, pc))
            partial = self.fc.counted_loop(size, [zero] * vectors,
                                           lambda kk, acc: step(b.add(pc, kk), acc))
            first = b.icmp_signed("==", pc, ir.Constant(I64, 0))
            return [b.select(first, p, b.fadd(t, p)) for t, p in zip(total, partial)]

        acc = self.fc.stepped_loop(ir.Constant(I64, 0), k, ir.Constant(I64, self.blocks.ks),
                                   [zero] * vectors, slab)
        for c, col in enumerate(cols):
            if mask is None:
                self.store_vector(acc[c], [i, col])
            else:
                self.masked_store(acc[c], self.out.address(b, [i, col]), mask)
        self.finished(i, ir.Constant(I64, 1), j, width or ir.Constant(I64, vectors * self.lanes))

    # -- masked vectors: lanes outside the mask are neither read nor written ------------------------
    def mask(self, valid: ir.Value) -> ir.Value:
        """Lanes ``0 .. valid-1`` of a vector (all when ``valid >= lanes``, none when <= 0)."""
        b, lanes = self.fc.b, self.lanes
        iota = ir.Constant(ir.VectorType(I64, lanes), list(range(lanes)))
        count = b.insert_element(ir.Constant(ir.VectorType(I64, lanes), ir.Undefined), valid,
                                 ir.Constant(I32, 0))
        count = b.shuffle_vector(count, ir.Constant(ir.VectorType(I64, lanes), ir.Undefined),
                                 ir.Constant(ir.VectorType(I32, lanes), [0] * lanes))
        return b.icmp_signed("<", iota, count)

    def _intrinsic(self, kind: str) -> ir.Function:
        vector, lanes = self.vector, self.lanes
        suffix = f"v{lanes}{'f32' if self.element_bytes == 4 else 'f64'}"
        mask = ir.VectorType(ir.IntType(1), lanes)
        pointer = ir.PointerType(vector)
        if kind == "load":
            return self.fc.parent.runtime(f"llvm.masked.load.{suffix}.p0{suffix}", vector,
                                          [pointer, I32, mask, vector])
        return self.fc.parent.runtime(f"llvm.masked.store.{suffix}.p0{suffix}", ir.VoidType(),
                                      [vector, pointer, I32, mask])

    def masked_load(self, pointer: ir.Value, mask: ir.Value) -> ir.Value:
        """Lanes outside ``mask`` read as zeros."""
        b = self.fc.b
        pointer = b.bitcast(pointer, ir.PointerType(self.vector))
        return b.call(self._intrinsic("load"), [pointer, ir.Constant(I32, 4), mask,
                                                ir.Constant(self.vector, None)])

    def masked_store(self, value: ir.Value, pointer: ir.Value, mask: ir.Value) -> None:
        pointer = self.fc.b.bitcast(pointer, ir.PointerType(self.vector))
        self.fc.b.call(self._intrinsic("store"), [value, pointer, ir.Constant(I32, 4), mask])

    def splat(self, value: ir.Value) -> ir.Value:
        b = self.fc.b
        single = b.insert_element(ir.Constant(self.vector, ir.Undefined), value,
                                  ir.Constant(ir.IntType(32), 0))
        mask = ir.Constant(ir.VectorType(ir.IntType(32), self.lanes), [0] * self.lanes)
        return b.shuffle_vector(single, ir.Constant(self.vector, ir.Undefined), mask)

    def load_vector(self, buffer: Buffer, index: list[ir.Value]) -> ir.Value:
        return load_lanes(self.fc.b, buffer.address(self.fc.b, index), self.lanes)

    def store_vector(self, value: ir.Value, index: list[ir.Value]) -> None:
        self.store_to(self.out, value, index)

    def store_to(self, buffer: Buffer, value: ir.Value, index: list[ir.Value]) -> None:
        store_lanes(self.fc.b, value, buffer.address(self.fc.b, index))
