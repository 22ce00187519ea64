"""The CPU target: what only CPU code generation knows, on top of codegen/lowering.py.

Every function has one calling convention, like MLIR's packed wrappers::

    i32 @name(i64* %args)

``%args`` is an array of 64-bit words holding the parameters one after the other (results
included, as trailing buffer parameters): a buffer takes ``1 + rank`` words (its data
pointer, then its sizes), a scalar one word (its value in the low bytes). The function
returns 0, or the number (from 1) of the check that failed (a ``buf.check``, an
allocation, a loop step, the call depth), or ``INTERRUPTED`` (-2) when a
``buf.interrupt_point`` saw an interrupt; the module's ``messages`` say what each number
means. Calls between functions go to an internal body that also takes the call depth, so
that unbounded recursion stops with an error instead of overflowing the stack.

Memory comes from malloc; printing and interrupts go through the runtime (codegen/jit.py,
codegen/runtime/hyc_runtime.c). A ``buf.dispatch`` body (``outline-parallel``) becomes an
always-inlined function of the point's indices and the captured values; a large dispatch
(and a large ``buf.matmul``, by rows) runs on the runtime's thread pool (codegen/threads.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from llvmlite import ir

from hyc.ir import CallOp, FuncOp, ModuleOp, Operation, Value
from hyc.ir.diagnostics import HycError, check_message
from hyc.ir.dialects import buf, gpu
from hyc.ir.interpreter import MAX_BLOCK_THREADS, MAX_CALL_DEPTH
from hyc.ir.types import MemRefType, TensorType, is_scalar, numpy_dtype, shape_of

from . import threads
from .gemm import MR, aligned_address
from .interrupts import INTERRUPTED
from .lowering import I64, Buffer, TargetFunction, TargetModule, flat_types, smaller
from .matmul import emit_matmul, emit_row_product, pack_function, pack_layout, tiles
from .scalar_ops import llvm_type
from .symbols import SCRATCH_GIVE, SCRATCH_TAKE
from .target import Target

I8P = ir.PointerType(ir.IntType(8))
I32 = ir.IntType(32)
PACKED = ir.FunctionType(I32, [ir.PointerType(I64)])
BODY = ir.FunctionType(I32, [ir.PointerType(I64), I64])  # the words and the call depth
INTERRUPT_COUNTER = "hyc_interrupts"  # bumped by the process's SIGINT hook (codegen/interrupts.py)
DTYPE_CODES = {"float32": 0, "float64": 1, "int32": 2, "int64": 3, "bool": 4}
# Points of a dispatch, and multiply-adds of a matmul, worth splitting among the pool's threads
# (handing a call to the pool costs a fraction of a microsecond; the split, and the threads'
# caches starting cold, cost more).
PARALLEL_WORK = 1 << 18
MATMUL_WORK = 1 << 22
# a matmul with fewer rows than this has its columns split among threads, from this much work
SHORT_ROWS = 4
MATVEC_WORK = 1 << 16
# the most memory a product split by rows takes for its right operand packed once for all its
# threads (larger, each range of rows packs its own, in a slab's worth of memory)
SHARED_PACK_LIMIT = 1 << 28
GPU_IDS = ("gpu.block_id", "gpu.thread_id", "gpu.block_dim", "gpu.grid_dim")
KERNEL_IDS = 3 * len(GPU_IDS)
# what ``split`` runs before the threads start: (the word they share, what to run after them)
Share = Callable[[ir.Value], tuple[ir.Value, Callable[[], None] | None]]


def word_count(t: object) -> int:
    """How many 64-bit words a parameter takes in the calling convention."""
    return 1 if is_scalar(t) else 1 + len(shape_of(t))


class CpuModule(TargetModule):
    """Lowers a bufferized module for a CPU; collects the run-time check messages."""

    def __init__(self, module: ModuleOp, target: Target, prefix: str = "") -> None:
        super().__init__(target)
        self.module = module
        self.prefix = prefix  # keeps the symbols of different modules apart in one process
        self.messages: list[str] = []
        self.functions: dict[str, ir.Function] = {}
        # dispatched bodies (one point each) and kernels (one GPU thread each, after its 12
        # ids: block, thread, block size, grid size, each x y z): always-inlined functions
        self.points: dict[str, ir.Function] = {}
        bodies = {op.body for op in module.walk() if isinstance(op, buf.DispatchOp)}
        for f in module.functions:
            name = f.sym_name
            if f.type.results or any(isinstance(t, TensorType) for t in f.type.inputs):
                raise HycError(f"@{name} is not at the loop level (it takes tensors or returns "
                               "values): lower the module to loops first (bufferize)", f.loc, code="E0904")
            if name in bodies or f.kernel:
                ids = [I64] * (KERNEL_IDS if f.kernel else 0)
                point = ir.Function(self.llvm, ir.FunctionType(ir.VoidType(), ids + [
                    t for a in f.body.args for t in flat_types(a.type)]),
                    self.prefix + name)
                point.linkage = "internal"
                point.attributes.add("alwaysinline")
                self.points[name] = point
                continue
            body = ir.Function(self.llvm, BODY, self.prefix + name + ".body")
            body.linkage = "internal"
            self.functions[name] = body
            packed = ir.Function(self.llvm, PACKED, self.prefix + name)  # the entry: depth 0
            b = ir.IRBuilder(packed.append_basic_block("entry"))
            b.ret(b.call(body, [packed.args[0], ir.Constant(I64, 0)]))

    def run(self) -> ir.Module:
        for func in self.module.functions:
            assert isinstance(func, FuncOp)
            name = func.sym_name
            if name in self.points:
                CpuFunction(self, func, self.points[name]).run_point()
            else:
                CpuFunction(self, func, self.functions[name]).run()
        return self.llvm

    def message(self, text: str) -> ir.Constant:
        """The status code that reports ``text``."""
        self.messages.append(text)
        return ir.Constant(I32, len(self.messages))

    def interrupt_counter(self) -> ir.GlobalVariable:
        found = self.llvm.globals.get(INTERRUPT_COUNTER)
        return found if found is not None else ir.GlobalVariable(self.llvm, I64, INTERRUPT_COUNTER)


class CpuFunction(TargetFunction):
    parent: CpuModule

    def __init__(self, parent: CpuModule, func: FuncOp | None, fn: ir.Function) -> None:
        super().__init__(parent, func, fn)
        self.depth: ir.Value | None = None
        self.is_point = False
        self.interrupts_seen: ir.Value | None = None
        self.gpu_ids: dict[str, list[ir.Value]] = {}  # in a kernel: its thread's ids

    def run(self) -> None:
        """A function of the packed convention: its words and the call depth."""
        assert self.func is not None
        self.depth = self.fn.args[1]
        self.unpack_all(self.fn.args[0], list(self.func.body.args))
        self.block(self.func.body)

    def run_point(self) -> None:
        """A dispatched body (the point's indices and the captured values, flattened) or a
        kernel (its thread's ids, then its arguments)."""
        assert self.func is not None
        self.is_point = True
        params = list(self.fn.args)
        if self.func.kernel:
            ids, params = params[:KERNEL_IDS], params[KERNEL_IDS:]
            self.gpu_ids = {name: ids[3 * k:3 * k + 3] for k, name in enumerate(GPU_IDS)}
        self.values.update(zip(self.func.body.args, self.rebuild(self.func.body.args, params)))
        self.block(self.func.body)

    # -- the packed calling convention --------------------------------------------------------------
    def unpack_all(self, words: ir.Value, values: list[Value]) -> None:
        """Bind ``values`` to their words, laid out one after the other as ``pack`` does."""
        offset = 0
        for value in values:
            self.values[value] = self.unpack(words, offset, value.type)
            offset += word_count(value.type)

    def word(self, words: ir.Value, index: int) -> ir.Value:
        return self.b.gep(words, [ir.Constant(I64, index)])

    def extra_word(self, words: ir.Value, carried: list[Value]) -> ir.Value:
        """The word after ``carried``'s in ``pack(carried, extra=1)``'s words."""
        return self.word(words, _words(carried))

    def unpack(self, words: ir.Value, offset: int, t: object) -> ir.Value | Buffer:
        """A parameter from its words: a scalar, or a buffer's data pointer and sizes."""
        if is_scalar(t):
            cell = self.b.bitcast(self.word(words, offset), ir.PointerType(llvm_type(t)))
            return self.b.load(cell)
        assert isinstance(t, MemRefType)
        element = llvm_type(t.element)
        data = self.b.inttoptr(self.b.load(self.word(words, offset)), ir.PointerType(element))
        # a size the type states is a constant to LLVM, which then sizes loops exactly
        sizes = [ir.Constant(I64, d) if isinstance(d, int) else
                 self.b.load(self.word(words, offset + 1 + k)) for k, d in enumerate(t.shape)]
        return Buffer(data, sizes, element)

    def pack(self, values: list[Value], extra: int = 0) -> ir.Value:
        """The argument words for a call, on the stack (``extra`` more after them, unset)."""
        words = self.alloca(I64, max(_words(values) + extra, 1))
        offset = 0
        for v in values:
            found = self.values[v]
            if isinstance(found, Buffer):
                self.b.store(self.b.ptrtoint(found.data, I64), self.word(words, offset))
                for k, size in enumerate(found.sizes):
                    self.b.store(size, self.word(words, offset + 1 + k))
            else:
                cell = self.b.bitcast(self.word(words, offset), ir.PointerType(found.type))
                self.b.store(found, cell)
            offset += word_count(v.type)
        return words

    # -- returns, calls and checks ------------------------------------------------------------------
    def op_func_return(self, op: Operation) -> None:
        if self.is_point:
            self.b.ret_void()
        else:
            self.b.ret(ir.Constant(I32, 0))

    def op_func_call(self, op: Operation) -> None:
        assert isinstance(op, CallOp)
        callee = op.callee
        if callee in self.parent.points or self.depth is None:
            where = f"@{callee} is a dispatched body" if callee in self.parent.points else \
                "a dispatched body cannot call"
            raise HycError(f"the CPU target cannot lower this call: {where}", op.loc, code="E0904")
        depth = self.b.add(self.depth, ir.Constant(I64, 1))
        self.require(self.b.icmp_signed("<", depth, ir.Constant(I64, MAX_CALL_DEPTH)), op,
                     f"call depth exceeds {MAX_CALL_DEPTH} (unbounded recursion?)", code="E1009")
        status = self.b.call(self.parent.functions[callee], [self.pack(list(op.operands)), depth])
        self.fail_unless(self.b.icmp_signed("==", status, ir.Constant(I32, 0)), status)

    def fail_unless(self, ok: ir.Value, status: ir.Value) -> None:
        with self.b.if_then(self.b.not_(ok), likely=False):
            self.b.ret(status)

    def require(self, ok: ir.Value, op: Operation, message: str, *, code: str) -> None:
        """Stop with ``message`` (located at ``op``) unless ``ok``."""
        if self.is_point:  # the verifier keeps such ops out of dispatched bodies
            super().require(ok, op, message, code=code)
        self.fail_unless(ok, self.parent.message(check_message(op.loc, message, code)))

    def op_buf_check(self, op: Operation) -> None:
        assert isinstance(op, buf.CheckOp)
        self.require(self.get(op.operands[0]), op, op.message, code=op.code)

    def op_buf_interrupt_point(self, op: Operation) -> None:
        counter = self.parent.interrupt_counter()
        if self.interrupts_seen is None:  # the count when the call began
            self.interrupts_seen = self.prologue.load_atomic(counter, "monotonic", 8)
        now = self.b.load_atomic(counter, "monotonic", 8)
        self.fail_unless(self.b.icmp_signed("==", now, self.interrupts_seen),
                         ir.Constant(I32, INTERRUPTED))

    # -- memory and the runtime ---------------------------------------------------------------------
    def op_buf_alloc(self, op: Operation) -> None:
        t = op.result.type
        assert isinstance(t, MemRefType)
        sizes, given = [], iter(self.get(v) for v in op.operands)
        for d in t.shape:
            sizes.append(ir.Constant(I64, d) if isinstance(d, int) else next(given))
        element = llvm_type(t.element)
        if t.space == "shared":  # a kernel's (verified: a static shape): once per block
            self.values[op.result] = Buffer(self.alloca(element, math.prod(t.shape)), sizes,
                                            element)
            return
        nbytes = self.byte_count(op, sizes, numpy_dtype(t.element).itemsize)
        size = self.b.add(nbytes, ir.Constant(I64, 1))  # never malloc(0)
        if "zeroed" in op.attributes and op.attributes["zeroed"].value:
            calloc = self.parent.runtime("calloc", I8P, [I64, I64])
            raw = self.b.call(calloc, [size, ir.Constant(I64, 1)])
        else:
            raw = self.b.call(self.parent.runtime("malloc", I8P, [I64]), [size])
        self.require(self.b.icmp_unsigned("!=", raw, ir.Constant(I8P, None)), op,
                     "out of memory", code="E1020")
        self.values[op.result] = Buffer(self.b.bitcast(raw, ir.PointerType(element)), sizes, element)

    def byte_count(self, op: Operation, sizes: list[ir.Value], itemsize: int) -> ir.Value:
        """The bytes of a buffer of ``sizes``, checked: no size negative, no overflow."""
        total: ir.Value = ir.Constant(I64, itemsize)
        ok: ir.Value = ir.Constant(ir.IntType(1), 1)
        for size in sizes:
            if isinstance(size, ir.Constant):
                if size.constant < 0:
                    ok = ir.Constant(ir.IntType(1), 0)
            else:
                ok = self.b.and_(ok, self.b.icmp_signed(">=", size, ir.Constant(I64, 0)))
            product = self.b.smul_with_overflow(total, size)
            ok = self.b.and_(ok, self.b.not_(self.b.extract_value(product, 1)))
            total = self.b.extract_value(product, 0)
        self.require(ok, op, "a buffer size is negative or too large", code="E1008")
        return total

    def op_buf_free(self, op: Operation) -> None:
        free = self.parent.runtime("free", ir.VoidType(), [I8P])
        self.b.call(free, [self.b.bitcast(self.buffer(op.operands[0]).data, I8P)])

    def op_buf_copy(self, op: Operation) -> None:
        source, target = (self.buffer(v) for v in op.operands)
        nbytes = self.b.mul(source.count(self.b),
                            ir.Constant(I64, numpy_dtype(op.operands[0].type).itemsize))
        memcpy = self.parent.runtime("memcpy", I8P, [I8P, I8P, I64])
        self.b.call(memcpy, [self.b.bitcast(target.data, I8P), self.b.bitcast(source.data, I8P),
                             nbytes])

    def op_buf_print(self, op: Operation) -> None:
        hook = self.parent.runtime("hyc_print_value", ir.VoidType(),
                                   [I32, I64, I8P, ir.PointerType(I64), I32])
        for i, v in enumerate(op.operands):
            found = self.values[v]
            code = ir.Constant(I32, DTYPE_CODES[numpy_dtype(v.type).name])
            last = ir.Constant(I32, int(i == len(op.operands) - 1))
            if isinstance(found, Buffer):
                sizes = self.alloca(I64, max(len(found.sizes), 1))
                for k, size in enumerate(found.sizes):
                    self.b.store(size, self.b.gep(sizes, [ir.Constant(I64, k)]))
                args = [code, ir.Constant(I64, len(found.sizes)), self.b.bitcast(found.data, I8P),
                        sizes, last]
            else:
                cell = self.alloca(found.type)
                self.b.store(found, cell)
                args = [code, ir.Constant(I64, 0), self.b.bitcast(cell, I8P),
                        self.alloca(I64), last]
            self.b.call(hook, args)
        if not op.operands:
            self.b.call(hook, [ir.Constant(I32, -1), ir.Constant(I64, 0),
                               ir.Constant(I8P, None), self.alloca(I64), ir.Constant(I32, 1)])

    # -- dispatches and threads ---------------------------------------------------------------------
    def op_buf_dispatch(self, op: Operation) -> None:
        """Each point calls the body (inlined by LLVM); a large dispatch splits its outermost
        range among threads."""
        assert isinstance(op, buf.DispatchOp)
        point = self.parent.points[op.attributes["body"].value]
        sizes = [self.get(v) for v in op.sizes]
        grain = op.attributes["grain"].value if "grain" in op.attributes else 1
        if self.is_point or not self.parent.target.threads or \
                _known_below([*sizes, ir.Constant(I64, grain)], PARALLEL_WORK):
            self.points(point, op, sizes[0], ir.Constant(I64, 0), sizes[0])
            return
        carried = [*op.sizes, *op.captured]
        body = self.range_function(lambda inner, lower, upper: inner.points(
            point, op, upper, lower, upper), carried)
        work = self.b.mul(_product(self.b, sizes), ir.Constant(I64, grain))
        self.split(body, carried, work, sizes[0], PARALLEL_WORK)

    def points(self, point: ir.Function, op: buf.DispatchOp, rows: ir.Value, lower: ir.Value,
               upper: ir.Value) -> None:
        sizes = [rows, *(self.get(v) for v in op.sizes[1:])]
        captured = self.flatten([self.values[v] for v in op.captured])
        self.loop_nest(sizes, lower, upper, lambda ivs: self.b.call(point, [*ivs, *captured]))

    def range_function(self, emit, carried: list[Value], shared: bool = False) -> ir.Function:
        """``void body(i64* words, i64 lower, i64 upper)`` running ``emit(inner, lower,
        upper)`` on the ``carried`` values, unpacked from the words; with ``shared``,
        ``emit(inner, lower, upper, word)``, the word after them (``split``'s ``share``)."""
        def body(inner: CpuFunction, lower: ir.Value, upper: ir.Value) -> None:
            if shared:
                words = inner.fn.args[0]
                emit(inner, lower, upper, inner.b.load(inner.extra_word(words, carried)))
            else:
                emit(inner, lower, upper)
        # one copy: the pool and the small-work path both call it
        return self.outlined(threads.BODY, "parallel", carried, body)

    def outlined(self, signature: ir.FunctionType, suffix: str, carried: list[Value],
                 emit) -> ir.Function:
        """An internal function of ``signature`` (``void (i64* words, ...)``) running
        ``emit(inner, *its other parameters)`` on the ``carried`` values, unpacked from the
        words (``pack(carried)`` makes them); never inlined."""
        fn = ir.Function(self.parent.llvm, signature,
                         self.parent.llvm.get_unique_name(f"{self.fn.name}.{suffix}"))
        fn.linkage = "internal"
        fn.attributes.add("noinline")
        inner = CpuFunction(self.parent, None, fn)
        inner.unpack_all(fn.args[0], carried)
        emit(inner, *fn.args[1:])
        inner.b.ret_void()
        return fn

    def split(self, body: ir.Function, carried: list[Value], work: ir.Value, rows: ir.Value,
              threshold: int | ir.Value, share: Share | None = None) -> None:
        """Run ``body`` over ``[0, rows)`` on several threads when ``work`` is large. With
        ``share`` (and ``range_function(..., shared=True)``), the body's last word is what
        ``share(threads)`` makes before the threads start (what they all read: see
        ``share_rhs``), else 0; ``share`` also returns what to do once they are done."""
        words = self.pack(carried, extra=share is not None)
        if isinstance(threshold, int):
            threshold = ir.Constant(I64, threshold)
        big = self.b.icmp_signed(">=", work, threshold)
        with self.b.if_else(big) as (then, otherwise):
            with then:  # asking for the thread count reads the environment: only when worth it
                count = self.b.call(threads.declare(self.parent.llvm, threads.THREADS), [])
                after = None
                if share is not None:
                    word, after = share(count)
                    self.b.store(word, self.extra_word(words, carried))
                self.b.call(threads.declare(self.parent.llvm, threads.RUN), [body, words, rows, count])
                if after is not None:
                    after()
            with otherwise:
                if share is not None:
                    self.b.store(ir.Constant(I64, 0), self.extra_word(words, carried))
                self.b.call(body, [words, ir.Constant(I64, 0), rows])

    # -- the gpu level, simulated: blocks and threads as loops (gpu-sim) ----------------------------
    def read_gpu_id(self, op: Operation) -> None:
        if not self.gpu_ids:
            raise HycError(f"'{op.name}' is read only in a kernel", op.loc, code="E0904")
        self.values[op.result] = self.gpu_ids[op.name][op.dim]

    op_gpu_thread_id = op_gpu_block_id = op_gpu_block_dim = op_gpu_grid_dim = read_gpu_id

    def op_gpu_launch(self, op: Operation) -> None:
        """Every thread of every block in turn (the kernels hyc makes do not synchronize their
        threads); a large launch splits its blocks along x among CPU threads."""
        assert isinstance(op, gpu.LaunchOp)
        sizes = [self.get(v) for v in op.operands[:6]]
        smallest = sizes[0]
        for size in sizes[1:]:
            smallest = smaller(self.b, size, smallest)
        self.require(self.b.icmp_signed(">=", smallest, ir.Constant(I64, 1)), op,
                     f"launch of @{op.kernel}: every grid and block size must be at least 1",
                     code="E1012")
        limit = ir.Constant(I64, MAX_BLOCK_THREADS)
        small = [self.b.icmp_signed("<=", size, limit) for size in sizes[3:]]
        threads = _product(self.b, [self.b.select(ok, size, limit) for ok, size in
                                    zip(small, sizes[3:])])  # no overflow
        self.require(self.b.and_(self.b.and_(small[0], small[1]), self.b.and_(
            small[2], self.b.icmp_signed("<=", threads, limit))), op,
            f"launch of @{op.kernel}: a block has at most {MAX_BLOCK_THREADS} threads", code="E1012")
        if self.is_point or not self.parent.target.threads or _known_below(sizes, PARALLEL_WORK):
            self.threads_of(op, ir.Constant(I64, 0), sizes[0])
            return
        carried = list(op.operands)
        body = self.range_function(lambda inner, lower, upper: inner.threads_of(
            op, lower, upper), carried)
        self.split(body, carried, _product(self.b, sizes), sizes[0], PARALLEL_WORK)

    def threads_of(self, op: gpu.LaunchOp, lower: ir.Value, upper: ir.Value) -> None:
        """The blocks ``lower..upper`` along x (all along y and z): each thread calls the
        kernel with its ids."""
        kernel = self.parent.points[op.kernel]
        grid = [self.get(v) for v in op.grid]
        block = [self.get(v) for v in op.block]
        args = self.flatten([self.values[v] for v in op.kernel_args])

        def call(ivs: list[ir.Value]) -> None:
            bx, bz, by, tz, ty, tx = ivs
            self.b.call(kernel, [bx, by, bz, tx, ty, tz, *block, *grid, *args])

        self.loop_nest([grid[0], grid[2], grid[1], block[2], block[1], block[0]], lower, upper,
                       call)

    # -- matmul: the register-blocked kernel, by rows on threads ------------------------------------
    def op_buf_matmul(self, op: Operation) -> None:
        lhs, rhs = self.buffer(op.operands[0]), self.buffer(op.operands[1])
        rows_only = len(lhs.sizes) == 2 and len(rhs.sizes) == 2 and all(
            len(getattr(v.type, "shape", ())) <= 1 for v in op.operands[3:])
        sizes = [*lhs.sizes, rhs.sizes[-1]]
        rows = lhs.sizes[0]
        known_rows = rows.constant if isinstance(rows, ir.Constant) else None
        # A few rows (a batch of 1): the columns are split instead, so that each core streams
        # its share of rhs (the weights), from its own cache when called again. With rows
        # known only at run time, the call chooses, and one range function serves either.
        by_columns = rows_only and tiles(op) and (known_rows is None or known_rows < SHORT_ROWS)
        # only the function body's own matmuls, never those nested in loops
        if not rows_only or self.func is None or op.parent is not self.func.body or \
                not self.parent.target.threads or \
                _known_below(sizes, MATVEC_WORK if by_columns else MATMUL_WORK):
            emit_matmul(self, op)
            return
        carried = op.values_from_outside()
        work = _product(self.b, sizes)
        row_group = MR if tiles(op) else 1

        def short(fc: CpuFunction) -> ir.Value:
            """Whether the call splits the columns (rows known only at run time: both are
            possible, and one range function serves either)."""
            if not by_columns:
                return ir.Constant(ir.IntType(1), 0)
            rows_here = fc.buffer(op.operands[0]).sizes[0]
            return fc.b.icmp_signed("<", rows_here, ir.Constant(I64, SHORT_ROWS))

        tiled = tiles(op)  # the runtime's kernel, which can read rhs packed once for all
        body = self.range_function(lambda inner, lower, upper, *shared: inner.matmul_range(
            op, lower, upper, short(inner), row_group, *shared), carried, shared=tiled)
        few = short(self)
        b = self.b
        groups = b.select(few, _groups(b, sizes[2], self.column_group()), _groups(b, rows, row_group))
        threshold = b.select(few, ir.Constant(I64, MATVEC_WORK), ir.Constant(I64, MATMUL_WORK))

        def share(count: ir.Value) -> tuple[ir.Value, Callable[[], None] | None]:
            several = b.icmp_signed(">", count, ir.Constant(I64, 1))
            return self.share_rhs(op, b.and_(b.not_(few), several), count)

        def by_rows_or_columns() -> None:
            self.split(body, carried, work, groups, threshold, share if tiled else None)
        if by_columns and known_rows in (None, 1):  # one row: the inner dimension is split
            with b.if_then(b.not_(emit_row_product(self, op, work, MATVEC_WORK))):
                by_rows_or_columns()
        else:
            by_rows_or_columns()

    def share_rhs(self, op: Operation, wanted: ir.Value,
                  count: ir.Value) -> tuple[ir.Value, Callable[[], None] | None]:
        """When ``wanted`` (a product split by rows, on more than one thread), ``rhs``
        packed for the runtime's kernel once, by ``count`` threads, into scratch memory
        (codegen/scratch.py) the row ranges then share; the address (0 when not wanted, too
        large, or there was no memory: each range then packs its own) and what gives the
        memory back after the split."""
        b = self.b
        rhs = self.buffer(op.operands[1])
        k, n = rhs.sizes
        size, units = pack_layout(self, rhs.element, n, k)
        wanted = b.and_(wanted, b.icmp_unsigned("<=", size, ir.Constant(I64, SHARED_PACK_LIMIT)))
        before = b.block
        null = ir.Constant(I8P, None)
        with b.if_then(wanted):
            raw_inside = b.call(threads.declare(self.parent.llvm, SCRATCH_TAKE), [size])
            inside = b.block
        raw = b.phi(I8P)
        raw.add_incoming(null, before)
        raw.add_incoming(raw_inside, inside)
        shared = b.select(b.icmp_unsigned("!=", raw, null), aligned_address(b, raw),
                          ir.Constant(I64, 0))
        with b.if_then(b.icmp_unsigned("!=", shared, ir.Constant(I64, 0))):
            words = self.alloca(I64, 5)
            for i, word in enumerate([b.ptrtoint(rhs.data, I64), n, k, n, shared]):
                b.store(word, self.word(words, i))
            b.call(threads.declare(self.parent.llvm, threads.RUN),
                   [pack_function(self.parent, rhs.element), words, units, count])

        def release() -> None:
            b.call(threads.declare(self.parent.llvm, SCRATCH_GIVE), [raw])
        return shared, release

    def column_group(self) -> int:
        """The columns of the unit a split by columns deals out: eight vector registers (the
        kernel's narrowest strip with accumulators enough to hide the latency of an FMA)."""
        return 8 * self.parent.target.vector_bits // 32

    def matmul_range(self, op: Operation, lower: ir.Value, upper: ir.Value, short: ir.Value,
                     row_group: int, shared: ir.Value | None = None) -> None:
        """A matmul on the units lower..upper of a split: groups of ``column_group()`` output
        columns when ``short`` (few rows), else groups of ``row_group`` rows of lhs and out
        (views; the rest reads as it is), with ``rhs`` packed at address ``shared`` if it is
        given and not 0 (``share_rhs``). One function serves both splits: it is each
        matmul's only copy of the kernel call and its epilogue."""
        b = self.b
        lhs, out = self.buffer(op.operands[0]), self.buffer(op.operands[2])
        rows, columns = lhs.sizes[0], out.sizes[1]
        zero = ir.Constant(I64, 0)
        width, group = ir.Constant(I64, self.column_group()), ir.Constant(I64, row_group)
        first_row = b.select(short, zero, b.mul(lower, group))
        end_row = b.select(short, rows, smaller(b, b.mul(upper, group), rows))
        first_column = b.select(short, b.mul(lower, width), zero)
        end_column = b.select(short, smaller(b, b.mul(upper, width), columns), columns)
        for value, buffer in ((op.operands[0], lhs), (op.operands[2], out)):
            start = b.gep(buffer.data, [b.mul(first_row, buffer.sizes[1])])
            self.values[value] = Buffer(start, [b.sub(end_row, first_row), buffer.sizes[1]],
                                        buffer.element)
        prepacked = None if shared is None else \
            b.inttoptr(shared, ir.PointerType(self.buffer(op.operands[1]).element))
        emit_matmul(self, op, (first_column, end_column), prepacked)


def _words(values: list[Value]) -> int:
    return sum(word_count(v.type) for v in values)


def _groups(b: ir.IRBuilder, size: ir.Value, group: int) -> ir.Value:
    """How many groups of ``group`` cover ``size``."""
    return b.udiv(b.add(size, ir.Constant(I64, group - 1)), ir.Constant(I64, group))


def _known_below(sizes: list[ir.Value], threshold: int) -> bool:
    return all(isinstance(s, ir.Constant) for s in sizes) and \
        math.prod(s.constant for s in sizes) < threshold


def _product(b: ir.IRBuilder, sizes: list[ir.Value]) -> ir.Value:
    total: ir.Value = ir.Constant(I64, 1)
    for size in sizes:
        total = b.mul(total, size)
    return total


def lower_module(module: ModuleOp, target: Target, prefix: str = "") -> tuple[ir.Module, list[str]]:
    """LLVM IR for a bufferized module, and the messages of its run-time checks."""
    codegen = CpuModule(module, target, prefix)
    return codegen.run(), codegen.messages
