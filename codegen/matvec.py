"""A single row times a matrix (a batch of 1) split along the inner dimension: a function of
the runtime, beside the matmul kernel it calls (``kernel_module``).

Split by columns among threads, each core reads a part of every row of ``rhs`` (the weights):
half-rows with gaps between them, which on a Zen 5 stream at half the speed of whole rows (a
1024 x 256 f32 product: 7.9 us on two cores, 10.4 on one). Split along the inner dimension,
each part multiplies ``lhs``'s slice by a contiguous block of ``rhs``'s rows, into a row of
partial sums of its own (scratch memory); the rows are then added in order into the output,
and the module's epilogue runs on it.

The parts are the blocks in which the kernel sums the inner dimension (``ks`` rows, 256:
codegen/gemm.py), each from zero, then added in order, on its short path and its packed one
alike: split or not, on any number of threads, a row's result is the same to the last bit,
and the same as that row's in a product of many rows. So only an inner dimension of two
blocks or more is split (257 rows and up).

The function lives in the runtime, compiled once per target, so that a module pays for it
one call: emitted into each module, its loops cost the MLP's compile 18 ms of LLVM.
"""

from __future__ import annotations

from llvmlite import ir

from . import threads
from .gemm import ALIGN, aligned_address, blocking
from .lowering import TargetFunction, TargetModule, count_loop, element_bytes, load_lanes, store_lanes
from .symbols import SCRATCH_GIVE, SCRATCH_TAKE, row_symbol

I64 = ir.IntType(64)
I64P = ir.PointerType(I64)
I8P = ir.PointerType(ir.IntType(8))
# void epilogue(i64* context, i64 row, i64 rows, i64 column, i64 columns): what a kernel (and
# the single-row product) calls on each block of the output it has finished
EPILOGUE = ir.FunctionType(ir.VoidType(), [I64P] + [I64] * 4)


def row_type(element: ir.Type) -> ir.FunctionType:
    pointer = ir.PointerType(element)
    return ir.FunctionType(ir.IntType(1), [pointer] * 3 + [I64] * 2 +
                           [ir.PointerType(EPILOGUE), I64P])


def row_function(parent: TargetModule, element: str, element_type: ir.Type) -> ir.Function:
    """``i1 row(a, b, c, n, k, epilogue, context)``, declared in generated code: ``c[0, :n] =
    a[0, :k] @ b[:k, :n]`` (row-major, rows of ``n``) split along ``k`` on the pool's
    threads, then ``epilogue(context, 0, 1, 0, n)`` unless null. False, having done nothing,
    when ``k`` is a single block of sums or there is no scratch memory for the parts."""
    return parent.runtime(row_symbol(parent.target, element), ir.IntType(1),
                          list(row_type(element_type).args))


def _const(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


def build_row(parent: TargetModule, element: str, element_type: ir.Type,
              kernel: ir.Function) -> None:
    """The runtime's ``row_symbol(target, element)``, calling ``kernel`` on each part."""
    target = parent.target
    size_of = element_bytes(element_type)
    block = blocking(target.vector_bits, size_of, target.caches).ks
    pointer = ir.PointerType(element_type)
    parts_body = _build_parts(parent, element, element_type, kernel, block)

    fn = ir.Function(parent.llvm, row_type(element_type), row_symbol(target, element))
    a, w, c, n, k, epilogue, context = fn.args
    fc = TargetFunction(parent, None, fn)
    b = fc.b
    with b.if_then(b.icmp_signed("<=", k, _const(block))):
        b.ret(ir.Constant(ir.IntType(1), 0))
    parts = b.udiv(b.add(k, _const(block - 1)), _const(block))
    size = b.add(b.mul(b.mul(parts, n), _const(size_of)), _const(ALIGN))
    raw = b.call(threads.declare(parent.llvm, SCRATCH_TAKE), [size])
    with b.if_then(b.icmp_unsigned("==", raw, ir.Constant(I8P, None)), likely=False):
        b.ret(ir.Constant(ir.IntType(1), 0))
    partial = b.inttoptr(aligned_address(b, raw), pointer)
    words = fc.alloca(I64, 5)
    for i, value in enumerate([b.ptrtoint(a, I64), b.ptrtoint(w, I64), b.ptrtoint(partial, I64),
                               n, k]):
        b.store(value, b.gep(words, [_const(i)]))
    count = b.call(threads.declare(parent.llvm, threads.THREADS), [])
    with b.if_else(b.icmp_signed(">", count, _const(1))) as (pooled, alone):
        with pooled:
            b.call(threads.declare(parent.llvm, threads.RUN), [parts_body, words, parts, count])
        with alone:
            b.call(parts_body, [words, _const(0), parts])

    # c = the rows of partial sums added in order, a vector at a time
    lanes = target.vector_bits // (8 * size_of)
    fc.chunked_loop(n, lanes, lambda j, width: store_lanes(
        b, load_lanes(b, b.gep(partial, [j]), width), b.gep(c, [j])))

    def add(p: ir.Value) -> None:
        row = b.gep(partial, [b.mul(p, n)])

        def columns(j: ir.Value, width: int) -> None:
            total = b.fadd(load_lanes(b, b.gep(c, [j]), width), load_lanes(b, b.gep(row, [j]), width))
            store_lanes(b, total, b.gep(c, [j]))
        fc.chunked_loop(n, lanes, columns)
    count_loop(b, _const(1), parts, add)
    with b.if_then(b.icmp_unsigned("!=", epilogue, ir.Constant(epilogue.type, None))):
        b.call(epilogue, [context, _const(0), _const(1), _const(0), n])
    b.call(threads.declare(parent.llvm, SCRATCH_GIVE), [raw])
    b.ret(ir.Constant(ir.IntType(1), 1))


def _build_parts(parent: TargetModule, element: str, element_type: ir.Type,
                 kernel: ir.Function, block: int) -> ir.Function:
    """The pool's body over parts ``lower..upper``: each ``kernel`` on its block of ``b``'s
    rows (no epilogue), into its row of partial sums; the words are ``a, b, partial, n, k``."""
    fn = ir.Function(parent.llvm, threads.BODY, row_symbol(parent.target, element) + ".parts")
    fn.linkage = "internal"
    words, lower, upper = fn.args
    fc = TargetFunction(parent, None, fn)
    b = fc.b
    pointer = ir.PointerType(element_type)
    a, w, partial, n, k = (b.load(b.gep(words, [_const(i)])) for i in range(5))
    a, w, partial = (b.inttoptr(v, pointer) for v in (a, w, partial))

    def part(p: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
        first = b.mul(p, _const(block))
        size = b.sub(k, first)
        size = b.select(b.icmp_signed("<", size, _const(block)), size, _const(block))
        b.call(kernel, [b.gep(a, [first]), b.gep(w, [b.mul(first, n)]),
                        b.gep(partial, [b.mul(p, n)]), _const(1), n, size, _const(0), n, n,
                        ir.Constant(pointer, None), ir.Constant(ir.PointerType(EPILOGUE), None),
                        ir.Constant(I64P, None)])
        return []
    fc.stepped_loop(lower, upper, _const(1), [], part)
    b.ret_void()
    return fn
