"""A single row times a matrix (a batch of 1) split along the inner dimension.

Split by columns among threads, each core reads a part of every row of ``rhs`` (the weights):
with 256 columns on two cores, half-rows of 512 bytes with gaps between them, which on a
Zen 5 streamed at half the speed of whole rows (a 1024 x 256 f32 product: 7.9 us on two
cores, 10.4 on one). Split along the inner dimension, each part multiplies ``lhs``'s slice
by a contiguous block of ``rhs``'s rows, into a row of partial sums of its own (scratch
memory); the rows are then added in order, and the epilogue applied.

The parts are the blocks in which the kernel sums the inner dimension (``ks`` rows, 256:
codegen/gemm.py), each from zero, then added in order, on its short path and its packed one
alike: split or not, on any number of threads, a row's result is the same to the last bit,
and the same as that row's in a product of many rows. So only an inner dimension of two
blocks or more is split (257 rows and up).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llvmlite import ir

from hyc.ir import Operation, Value

from . import threads
from .gemm import ALIGN, aligned_address, blocking
from .matmul import EPILOGUE, finish_columns, identity_epilogue, kernel_function
from .symbols import SCRATCH_GIVE, SCRATCH_TAKE

if TYPE_CHECKING:
    from .cpu import CpuFunction

I8 = ir.IntType(8)
I64 = ir.IntType(64)
I8P = ir.PointerType(I8)


def _const(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


def sum_rows(fc: CpuFunction, element: ir.Type) -> int:
    """The rows of ``rhs`` in a part: the kernel's block of sums (``ks``)."""
    target = fc.parent.target
    return blocking(target.vector_bits, _bytes(element), target.caches).ks


def _bytes(element: ir.Type) -> int:
    return 4 if element == ir.FloatType() else 8  # the kernels' f32 and f64


def emit_row_product(fc: CpuFunction, op: Operation, carried: list[Value], work: ir.Value,
                     threshold: int) -> ir.Value:
    """When ``op``'s product has one row, an inner dimension of two blocks of sums or more
    and ``work`` of at least ``threshold``: the product split along the inner dimension, on
    the pool's threads. Whether it ran (an i1: not when those do not hold, or without scratch
    memory for the partial sums)."""
    b = fc.b
    lhs, rhs = fc.buffer(op.operands[0]), fc.buffer(op.operands[1])
    rows, k = lhs.sizes
    n = rhs.sizes[1]
    block = sum_rows(fc, rhs.element)
    done = fc.alloca(I8)
    b.store(ir.Constant(I8, 0), done)
    eligible = b.and_(b.icmp_signed("==", rows, _const(1)),
                      b.and_(b.icmp_signed(">", k, _const(block)),
                             b.icmp_signed(">=", work, _const(threshold))))
    with b.if_then(eligible):
        parts = b.udiv(b.add(k, _const(block - 1)), _const(block))
        size = b.add(b.mul(b.mul(parts, n), _const(_bytes(rhs.element))), _const(ALIGN))
        raw = b.call(threads.declare(fc.parent.llvm, SCRATCH_TAKE), [size])
        with b.if_then(b.icmp_unsigned("!=", raw, ir.Constant(I8P, None))):
            partial = aligned_address(b, raw)
            words = fc.pack(carried, extra=1)
            b.store(partial, fc.extra_word(words, carried))
            body = fc.range_function(lambda inner, lower, upper, shared: _parts(
                inner, op, lower, upper, shared), carried, shared=True)
            count = b.call(threads.declare(fc.parent.llvm, threads.THREADS), [])
            with b.if_else(b.icmp_signed(">", count, _const(1))) as (pooled, alone):
                with pooled:
                    b.call(threads.declare(fc.parent.llvm, threads.RUN), [body, words, parts, count])
                with alone:
                    b.call(body, [words, _const(0), parts])
            _add_parts(fc, op, b.inttoptr(partial, ir.PointerType(rhs.element)), parts, n)
            b.call(threads.declare(fc.parent.llvm, SCRATCH_GIVE), [raw])
            b.store(ir.Constant(I8, 1), done)
    return b.icmp_unsigned("!=", b.load(done), ir.Constant(I8, 0))


def _parts(fc: CpuFunction, op: Operation, lower: ir.Value, upper: ir.Value,
           shared: ir.Value) -> None:
    """Parts ``lower..upper``: each the runtime's kernel on its block of ``rhs`` (no
    epilogue), into its row of partial sums at address ``shared``."""
    b = fc.b
    lhs, rhs = fc.buffer(op.operands[0]), fc.buffer(op.operands[1])
    k, n = rhs.sizes
    rows = _const(sum_rows(fc, rhs.element))
    partial = b.inttoptr(shared, ir.PointerType(rhs.element))
    no_pack = ir.Constant(ir.PointerType(rhs.element), None)
    no_epilogue = ir.Constant(ir.PointerType(EPILOGUE), None)
    no_context = ir.Constant(ir.PointerType(I64), None)

    def part(p: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
        first = b.mul(p, rows)
        size = b.sub(k, first)
        size = b.select(b.icmp_signed("<", size, rows), size, rows)
        b.call(kernel_function(fc.parent, rhs.element),
               [b.gep(lhs.data, [first]), b.gep(rhs.data, [b.mul(first, n)]),
                b.gep(partial, [b.mul(p, n)]), _const(1), n, size, _const(0), n, n, no_pack,
                no_epilogue, no_context])
        return []
    fc.stepped_loop(lower, upper, _const(1), [], part)


def _add_parts(fc: CpuFunction, op: Operation, partial: ir.Value, parts: ir.Value,
               n: ir.Value) -> None:
    """``out[0, :]``: the partial rows added in order, then the epilogue."""
    b = fc.b
    out = fc.buffer(op.operands[2])
    zero = _const(0)

    def first(j: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
        b.store(b.load(b.gep(partial, [j])), out.address(b, [zero, j]))
        return []
    fc.counted_loop(n, [], first)

    def add(p: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
        row = b.gep(partial, [b.mul(p, n)])

        def column(j: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
            target = out.address(b, [zero, j])
            b.store(b.fadd(b.load(target), b.load(b.gep(row, [j]))), target)
            return []
        fc.counted_loop(n, [], column)
        return []
    fc.stepped_loop(_const(1), parts, _const(1), [], add)
    if not identity_epilogue(op):
        finish_columns(fc, op, [], zero, zero, n)
