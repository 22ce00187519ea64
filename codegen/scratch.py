"""Scratch memory for the matmul kernels' packed copies, kept between calls: part of the
runtime (codegen/threads.py builds it into the pool's module).

A product packs its operands into a few MiB of memory that it needs only while it runs.
Taken from malloc and given back on each call, that memory goes back to the system whenever
the heap's free top grows past glibc's trim threshold — which depends on everything else the
process allocates — and the next call page-faults it all in again (and its output, which
lands above it): with numpy and PyTorch calls in between, sgemm 2048^3 on two cores faulted
about 3 500 pages a call. So, as BLAS libraries keep their packing buffers:

- ``i8* hyc_scratch_take(i64 bytes)``: memory for ``bytes``, or null when there is none. It
  comes from one of ``SLOTS`` cached blocks when one is free (a compare-and-swap claims it;
  a free one large enough first, else one grown), or else from malloc;
- ``void hyc_scratch_give(i8* p)``: the memory back (null: nothing). A header before ``p``
  says whether it frees a slot or goes back to free().

A block larger than ``BLOCK_LIMIT``, or one that would make the cached blocks hold more than
``HELD_LIMIT`` together, is not cached. Cached blocks live as long as the process (or the
library); the slots a thread holds when another forks stay taken in the child.
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from .lowering import count_loop, declared, internal_global
from .symbols import SCRATCH_GIVE as GIVE
from .symbols import SCRATCH_TAKE as TAKE

I1 = ir.IntType(1)
I8P = ir.PointerType(ir.IntType(8))
I32 = ir.IntType(32)
I64 = ir.IntType(64)
I64P = ir.PointerType(I64)
NULL = ir.Constant(I8P, None)
SIGNATURES = {TAKE: ir.FunctionType(I8P, [I64]), GIVE: ir.FunctionType(ir.VoidType(), [I8P])}
SLOTS = 32
BLOCK_LIMIT = 1 << 27  # 128 MiB
HELD_LIMIT = 1 << 28  # 256 MiB in all
HEADER = 64  # the slot's number (-1: from malloc); keeps what follows as aligned as malloc's


def build(module: ir.Module) -> None:
    """``hyc_scratch_take`` and ``hyc_scratch_give``, defined in ``module``."""
    _Scratch(module).build()


def _const(value: int, type_: ir.Type = I64) -> ir.Constant:
    return ir.Constant(type_, value)


class _Scratch:
    def __init__(self, module: ir.Module) -> None:
        self.module = module
        self.busy = internal_global(module, "hyc.scratch.busy", ir.ArrayType(I32, SLOTS), 64)
        self.capacity = internal_global(module, "hyc.scratch.capacity", ir.ArrayType(I64, SLOTS), 64)
        self.blocks = internal_global(module, "hyc.scratch.blocks", ir.ArrayType(I8P, SLOTS), 64)
        self.held = internal_global(module, "hyc.scratch.held", I64, 64)
        self.malloc = declared(module, "malloc", I8P, [I64])
        self.free = declared(module, "free", ir.VoidType(), [I8P])

    def build(self) -> None:
        self.build_take()
        self.build_give()

    # -- a slot's words -----------------------------------------------------------------------
    def word(self, array: ir.GlobalVariable, b: ir.IRBuilder, index: ir.Value) -> ir.Value:
        return b.gep(array, [_const(0), index])

    def capacity_of(self, b: ir.IRBuilder, index: ir.Value) -> ir.Value:
        return b.load_atomic(self.word(self.capacity, b, index), "monotonic", 8)

    def set_capacity(self, b: ir.IRBuilder, index: ir.Value, value: ir.Value) -> None:
        b.store_atomic(value, self.word(self.capacity, b, index), "monotonic", 8)

    def claim(self, b: ir.IRBuilder, index: ir.Value) -> ir.Value:
        """Whether this thread now holds slot ``index`` (it was free)."""
        result = b.cmpxchg(self.word(self.busy, b, index), _const(0, I32), _const(1, I32),
                           "acquire", "monotonic")
        return b.extract_value(result, 1)

    def release(self, b: ir.IRBuilder, index: ir.Value) -> None:
        b.store_atomic(_const(0, I32), self.word(self.busy, b, index), "release", 4)

    # -- the functions ----------------------------------------------------------------------------
    def build_take(self) -> None:
        fn = ir.Function(self.module, SIGNATURES[TAKE], TAKE)
        wanted = fn.args[0]
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        found, plain = fn.append_basic_block("found"), fn.append_basic_block("plain")
        chosen = b.alloca(I64)
        total = b.add(wanted, _const(HEADER))
        with b.if_then(b.icmp_unsigned("<", total, wanted), likely=False):  # wrapped around
            b.ret(NULL)

        def use(index: ir.Value) -> None:
            b.store(index, chosen)
            b.branch(found)

        def large_enough(index: ir.Value) -> None:
            """Held now: re-read its capacity (only its holder changes it)."""
            fits = b.icmp_unsigned(">=", self.capacity_of(b, index), total)
            with b.if_then(b.not_(fits)):
                self.release(b, index)
            with b.if_then(fits):
                use(index)

        self.each_free_slot(b, lambda i: b.icmp_unsigned(">=", self.capacity_of(b, i), total),
                            large_enough)
        cacheable = b.icmp_unsigned("<=", total, _const(BLOCK_LIMIT))
        with b.if_then(cacheable):
            self.each_free_slot(b, lambda i: _const(1, I1),
                                lambda i: self.grow(b, i, total, use, plain))
        b.branch(plain)

        b.position_at_end(found)
        index = b.load(chosen)
        block = b.load(self.word(self.blocks, b, index))
        b.store(index, b.bitcast(block, I64P))
        b.ret(b.gep(block, [_const(HEADER)]))

        b.position_at_end(plain)
        raw = b.call(self.malloc, [total])
        with b.if_then(b.icmp_unsigned("==", raw, NULL), likely=False):
            b.ret(NULL)
        b.store(_const(-1), b.bitcast(raw, I64P))
        b.ret(b.gep(raw, [_const(HEADER)]))

    def each_free_slot(self, b: ir.IRBuilder, worth: Callable[[ir.Value], ir.Value],
                       held: Callable[[ir.Value], None]) -> None:
        """For each slot, in order: when ``worth(slot)`` and this thread claims it,
        ``held(slot)`` (which leaves, or releases the slot and goes on)."""
        def look(index: ir.Value) -> None:
            with b.if_then(worth(index)):
                with b.if_then(self.claim(b, index)):
                    held(index)
        count_loop(b, _const(0), _const(SLOTS), look)

    def grow(self, b: ir.IRBuilder, index: ir.Value, total: ir.Value,
             use: Callable[[ir.Value], None], plain: ir.Block) -> None:
        """Slot ``index``, held, with a block of ``total`` bytes (or, past ``HELD_LIMIT``,
        released: then malloc)."""
        old = self.capacity_of(b, index)
        with b.if_then(b.icmp_unsigned(">=", old, total)):  # freed since the first look
            use(index)
        extra = b.sub(total, old)
        before = b.atomic_rmw("add", self.held, extra, "monotonic")
        with b.if_then(b.icmp_unsigned(">", b.add(before, extra), _const(HELD_LIMIT)),
                       likely=False):
            b.atomic_rmw("sub", self.held, extra, "monotonic")
            self.release(b, index)
            b.branch(plain)
        block = self.word(self.blocks, b, index)
        b.call(self.free, [b.load(block)])
        b.store(NULL, block)
        self.set_capacity(b, index, _const(0))
        raw = b.call(self.malloc, [total])
        with b.if_then(b.icmp_unsigned("==", raw, NULL), likely=False):
            b.atomic_rmw("sub", self.held, total, "monotonic")
            self.release(b, index)
            b.ret(NULL)
        b.store(raw, block)
        self.set_capacity(b, index, total)
        use(index)

    def build_give(self) -> None:
        fn = ir.Function(self.module, SIGNATURES[GIVE], GIVE)
        given = fn.args[0]
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        with b.if_then(b.icmp_unsigned("==", given, NULL)):
            b.ret_void()
        block = b.gep(given, [_const(-HEADER)])
        index = b.load(b.bitcast(block, I64P))
        with b.if_then(b.icmp_signed("<", index, _const(0))):
            b.call(self.free, [block])
            b.ret_void()
        self.release(b, index)
        b.ret_void()
