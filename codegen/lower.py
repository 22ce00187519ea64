"""LLVM IR for the buffer level, through ``llvmlite.ir`` (no text pasting).

Every function uses one calling convention, like MLIR's packed wrappers::

    i32 @name(i64* %args)

``%args`` is an array of 64-bit words holding the parameters one after the other (results
included, as trailing buffer parameters): a buffer takes ``1 + rank`` words (its data
pointer, then its sizes), a scalar one word (its value in the low bytes). The function
returns 0, or the number (from 1) of the check that failed (a ``buf.check``, an
allocation, a loop step, the call depth), or ``INTERRUPTED`` (-2) when a
``buf.interrupt_point`` saw an interrupt; the module's ``messages`` say what each number
means. Calls between functions go to an internal body that also takes the call depth, so
that unbounded recursion stops with an error instead of overflowing the stack. Buffers are
contiguous and row-major, so a buffer in the generated code is its data pointer and its
sizes, and an element is reached with one GEP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from llvmlite import ir

from hyc.ir import Block, CallOp, ForOp, FuncOp, IfOp, ModuleOp, Operation, OpResult, Value, YieldOp
from hyc.ir.diagnostics import HycError
from hyc.ir.dialects import buf, hy
from hyc.ir.interpreter import MAX_CALL_DEPTH
from hyc.ir.location import describe
from hyc.ir.types import MemRefType, is_scalar, numpy_dtype

from . import threads
from .matmul import emit_matmul
from .scalar_ops import RULES as SCALAR_RULES
from .scalar_ops import ScalarEmitter, llvm_type
from .target import Target

I8P = ir.PointerType(ir.IntType(8))
I64 = ir.IntType(64)
I32 = ir.IntType(32)
PACKED = ir.FunctionType(I32, [ir.PointerType(I64)])
BODY = ir.FunctionType(I32, [ir.PointerType(I64), I64])  # the words and the call depth
INTERRUPTED = -2
INTERRUPT_COUNTER = "hyc_interrupts"  # bumped by the process's SIGINT hook (codegen/interrupts.py)
DTYPE_CODES = {"float32": 0, "float64": 1, "int32": 2, "int64": 3, "bool": 4}


def word_count(t: object) -> int:
    """How many 64-bit words a parameter takes in the calling convention."""
    return 1 if is_scalar(t) else 1 + len(t.shape)  # type: ignore[arg-type,attr-defined]


@dataclass
class Buffer:
    """A buffer in generated code: where its elements are, and its sizes."""
    data: ir.Value
    sizes: list[ir.Value]
    element: ir.Type

    def offset(self, b: ir.IRBuilder, indices: list[ir.Value]) -> ir.Value:
        offset: ir.Value = ir.Constant(I64, 0)
        for i, (index, size) in enumerate(zip(indices, self.sizes)):
            offset = b.add(b.mul(offset, size), index) if i else index
        return offset

    def address(self, b: ir.IRBuilder, indices: list[ir.Value]) -> ir.Value:
        return b.gep(self.data, [self.offset(b, indices)], inbounds=True)

    def count(self, b: ir.IRBuilder) -> ir.Value:
        total: ir.Value = ir.Constant(I64, 1)
        for size in self.sizes:
            total = b.mul(total, size)
        return total


@dataclass
class ModuleCodegen:
    """Lowers a bufferized module; collects the run-time check messages."""
    module: ModuleOp
    target: Target
    prefix: str = ""  # keeps the symbols of different modules apart in one process
    llvm: ir.Module = field(default_factory=lambda: ir.Module(name="hyc"))
    messages: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.functions: dict[str, ir.Function] = {}
        for f in self.module.functions:
            name = self.prefix + f.sym_name  # type: ignore[attr-defined]
            body = ir.Function(self.llvm, BODY, name + ".body")
            body.linkage = "internal"
            self.functions[f.sym_name] = body  # type: ignore[attr-defined]
            packed = ir.Function(self.llvm, PACKED, name)  # the entry: depth 0
            b = ir.IRBuilder(packed.append_basic_block("entry"))
            b.ret(b.call(body, [packed.args[0], ir.Constant(I64, 0)]))

    def run(self) -> ir.Module:
        for func in self.module.functions:
            FunctionCodegen(self, func).run()  # type: ignore[arg-type]
        return self.llvm

    def runtime(self, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
        existing = self.llvm.globals.get(name)
        return existing if existing is not None else ir.Function(
            self.llvm, ir.FunctionType(ret, args), name)

    def message(self, text: str) -> ir.Constant:
        """The status code that reports ``text``."""
        self.messages.append(text)
        return ir.Constant(I32, len(self.messages))

    def interrupt_counter(self) -> ir.GlobalVariable:
        found = self.llvm.globals.get(INTERRUPT_COUNTER)
        return found if found is not None else ir.GlobalVariable(self.llvm, I64, INTERRUPT_COUNTER)


class FunctionCodegen:
    def __init__(self, parent: ModuleCodegen, func: FuncOp | None,
                 fn: ir.Function | None = None) -> None:
        self.parent = parent
        self.func = func
        self.fn = fn if fn is not None else parent.functions[func.sym_name]  # type: ignore[union-attr,attr-defined]
        # Stack memory and values read once per call go in a block of their own in front of
        # the code (an alloca inside a loop would grow the stack on every iteration).
        prologue = self.fn.append_basic_block("prologue")
        entry = self.fn.append_basic_block("entry")
        self.prologue = ir.IRBuilder(prologue)
        self.prologue.position_before(self.prologue.branch(entry))
        self.b = ir.IRBuilder(entry)
        self.scalars = ScalarEmitter(self.b, parent.llvm, parent.target)
        self.values: dict[Value, ir.Value | Buffer] = {}
        self.depth = self.fn.args[1] if func is not None else None
        self.interrupts_seen: ir.Value | None = None

    def alloca(self, t: ir.Type, count: int = 1) -> ir.Value:
        """Stack memory allocated once per call, in the prologue."""
        return self.prologue.alloca(t, ir.Constant(I64, count))

    # -- values -----------------------------------------------------------------------------------
    def get(self, value: Value) -> ir.Value:
        found = self.values[value]
        assert not isinstance(found, Buffer)
        return found

    def buffer(self, value: Value) -> Buffer:
        found = self.values[value]
        assert isinstance(found, Buffer)
        return found

    def run(self) -> None:
        assert self.func is not None
        words = self.fn.args[0]
        self.unpack_all(words, list(self.func.body.args))
        self.block(self.func.body)

    def unpack_all(self, words: ir.Value, values: list[Value]) -> None:
        """Bind ``values`` to their words, laid out one after the other as ``pack`` does."""
        offset = 0
        for value in values:
            self.values[value] = self.unpack(words, offset, value.type)
            offset += word_count(value.type)

    def word(self, words: ir.Value, index: int) -> ir.Value:
        return self.b.gep(words, [ir.Constant(I64, index)])

    def unpack(self, words: ir.Value, offset: int, t: object) -> ir.Value | Buffer:
        """A parameter from its words: a scalar, or a buffer's data pointer and sizes."""
        if is_scalar(t):  # type: ignore[arg-type]
            cell = self.b.bitcast(self.word(words, offset), ir.PointerType(llvm_type(t)))  # type: ignore[arg-type]
            return self.b.load(cell)
        assert isinstance(t, MemRefType)
        element = llvm_type(t.element)
        data = self.b.inttoptr(self.b.load(self.word(words, offset)), ir.PointerType(element))
        # a size the type states is a constant to LLVM, which then sizes loops exactly
        sizes = [ir.Constant(I64, d) if isinstance(d, int) else
                 self.b.load(self.word(words, offset + 1 + k)) for k, d in enumerate(t.shape)]
        return Buffer(data, sizes, element)

    def pack(self, values: list[Value]) -> ir.Value:
        """The argument words for a call, on the stack."""
        words = self.alloca(I64, max(sum(word_count(v.type) for v in values), 1))
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

    # -- ops ----------------------------------------------------------------------------------------
    def block(self, block: Block) -> list[ir.Value | Buffer]:
        """Emit a block's ops; the values its terminator passes on."""
        for op in block.ops:
            if isinstance(op, (YieldOp, hy.HyYieldOp)):
                return [self.values[v] for v in op.operands]
            if isinstance(op, buf.EndOp):
                return []
            self.op(op)
        return []

    def op(self, op: Operation) -> None:
        handler = getattr(self, "op_" + op.name.replace(".", "_"), None)
        if handler is not None:
            handler(op)
        elif type(op) in SCALAR_RULES:
            self.values[op.result] = self.scalars.emit(op, [self.get(v) for v in op.operands])
        else:
            raise HycError(f"the CPU backend cannot lower '{op.name}' (at {describe(op.loc)}); "
                           "lower the module to the buffer level first", op.loc)

    def op_func_return(self, op: Operation) -> None:
        self.b.ret(ir.Constant(I32, 0))

    def op_func_call(self, op: Operation) -> None:
        assert isinstance(op, CallOp) and self.depth is not None
        callee = self.parent.functions[op.callee]  # type: ignore[attr-defined]
        depth = self.b.add(self.depth, ir.Constant(I64, 1))
        self.require(self.b.icmp_signed("<", depth, ir.Constant(I64, MAX_CALL_DEPTH)), op,
                     f"call depth exceeds {MAX_CALL_DEPTH} (unbounded recursion?)")
        status = self.b.call(callee, [self.pack(list(op.operands)), depth])
        self.fail_unless(self.b.icmp_signed("==", status, ir.Constant(I32, 0)), status)

    def fail_unless(self, ok: ir.Value, status: ir.Value) -> None:
        with self.b.if_then(self.b.not_(ok), likely=False):
            self.b.ret(status)

    def require(self, ok: ir.Value, op: Operation, message: str) -> None:
        """Stop with ``message`` (located at ``op``) unless ``ok``."""
        self.fail_unless(ok, self.parent.message(f"{describe(op.loc)}: {message}"))

    def op_buf_check(self, op: Operation) -> None:
        self.require(self.get(op.operands[0]), op, op.attributes["message"].value)  # type: ignore[attr-defined]

    def op_buf_interrupt_point(self, op: Operation) -> None:
        counter = self.parent.interrupt_counter()
        if self.interrupts_seen is None:  # the count when the call began
            self.interrupts_seen = self.prologue.load_atomic(counter, "monotonic", 8)
        now = self.b.load_atomic(counter, "monotonic", 8)
        self.fail_unless(self.b.icmp_signed("==", now, self.interrupts_seen),
                         ir.Constant(I32, INTERRUPTED))

    def op_buf_dim(self, op: Operation) -> None:
        self.values[op.result] = self.buffer(op.operands[0]).sizes[op.axis]  # type: ignore[attr-defined]

    def op_buf_alloc(self, op: Operation) -> None:
        t = op.result.type
        assert isinstance(t, MemRefType)
        sizes, given = [], iter(self.get(v) for v in op.operands)
        for d in t.shape:
            sizes.append(ir.Constant(I64, d) if isinstance(d, int) else next(given))
        element = llvm_type(t.element)
        nbytes = self.byte_count(op, sizes, numpy_dtype(t.element).itemsize)
        size = self.b.add(nbytes, ir.Constant(I64, 1))  # never malloc(0)
        if "zeroed" in op.attributes and op.attributes["zeroed"].value:  # type: ignore[attr-defined]
            calloc = self.parent.runtime("calloc", I8P, [I64, I64])
            raw = self.b.call(calloc, [size, ir.Constant(I64, 1)])
        else:
            raw = self.b.call(self.parent.runtime("malloc", I8P, [I64]), [size])
        self.require(self.b.icmp_unsigned("!=", raw, ir.Constant(I8P, None)), op,
                     "out of memory")
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
        self.require(ok, op, "a buffer size is negative or too large")
        return total

    def op_buf_free(self, op: Operation) -> None:
        free = self.parent.runtime("free", ir.VoidType(), [I8P])
        self.b.call(free, [self.b.bitcast(self.buffer(op.operands[0]).data, I8P)])

    def op_buf_constant(self, op: Operation) -> None:
        array = op.attributes["value"].array  # type: ignore[attr-defined]
        element = llvm_type(op.result.type)
        # the bytes as they are in memory (an i8 array literal): per-element LLVM constants
        # would take seconds for a weight matrix closed over by a traced function
        raw = np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes() or b"\0"
        data = ir.ArrayType(ir.IntType(8), len(raw))
        g = ir.GlobalVariable(self.parent.llvm, data, self.parent.llvm.get_unique_name("const"))
        g.global_constant, g.linkage, g.initializer = True, "private", ir.Constant(data, bytearray(raw))
        g.align = 64
        sizes = [ir.Constant(I64, d) for d in array.shape]
        pointer = self.b.bitcast(g, ir.PointerType(element))
        self.values[op.result] = Buffer(pointer, sizes, element)

    def op_buf_load(self, op: Operation) -> None:
        source = self.buffer(op.operands[0])
        indices = [self.get(v) for v in op.operands[1:]]
        self.values[op.result] = self.b.load(source.address(self.b, indices))

    def op_buf_store(self, op: Operation) -> None:
        target = self.buffer(op.operands[1])
        indices = [self.get(v) for v in op.operands[2:]]
        self.b.store(self.get(op.operands[0]), target.address(self.b, indices))

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

    # -- loops and branches ---------------------------------------------------------------------
    def counted_loop(self, upper: ir.Value, carried: list[ir.Value], body) -> list[ir.Value]:  # type: ignore[no-untyped-def]
        """``for i in range(upper)`` carrying LLVM values; ``body(i, carried) -> next``."""
        return self.stepped_loop(ir.Constant(I64, 0), upper, ir.Constant(I64, 1), carried, body)

    def stepped_loop(self, lower, upper, step, carried, body):  # type: ignore[no-untyped-def]
        pre = self.b.block
        head = self.b.append_basic_block("loop")
        after = self.b.append_basic_block("after")
        self.b.cbranch(self.b.icmp_signed("<", lower, upper), head, after)
        self.b.position_at_end(head)
        iv = self.b.phi(I64)
        phis = [self.b.phi(c.type) for c in carried]
        iv.add_incoming(lower, pre)
        for phi, c in zip(phis, carried):
            phi.add_incoming(c, pre)
        nexts = body(iv, list(phis))
        following = self.b.add(iv, step)
        latch = self.b.block
        iv.add_incoming(following, latch)
        for phi, n in zip(phis, nexts):
            phi.add_incoming(n, latch)
        self.b.cbranch(self.b.icmp_signed("<", following, upper), head, after)
        self.b.position_at_end(after)
        results = []
        for c, n in zip(carried, nexts):
            merged = self.b.phi(c.type)
            merged.add_incoming(c, pre)
            merged.add_incoming(n, latch)
            results.append(merged)
        return results

    def op_buf_parallel(self, op: Operation) -> None:
        if self.threaded(op, self.get(op.operands[0]), PARALLEL_WORK):
            return
        self.parallel_range(op, ir.Constant(I64, 0), self.get(op.operands[0]))

    def parallel_range(self, op: Operation, lower: ir.Value, upper: ir.Value) -> None:
        """The loop nest of ``buf.parallel``, its outermost index from lower to upper."""
        body = op.regions[0].block
        uppers = [self.get(v) for v in op.operands]

        def nest(level: int) -> None:
            if level == len(uppers):
                self.block(body)
                return

            def step(iv: ir.Value, carried: list[ir.Value]) -> list[ir.Value]:
                self.values[body.args[level]] = iv
                nest(level + 1)
                return []

            if level == 0:
                self.stepped_loop(lower, upper, ir.Constant(I64, 1), [], step)
            else:
                self.counted_loop(uppers[level], [], step)

        nest(0)

    def op_buf_matmul(self, op: Operation) -> None:
        lhs = self.buffer(op.operands[0])
        rows_only = len(lhs.sizes) == 2 and len(self.buffer(op.operands[1]).sizes) == 2 and all(
            len(getattr(v.type, "shape", ())) <= 1 for v in op.operands[3:])
        if rows_only and self.threaded(op, lhs.sizes[0], MATMUL_WORK):
            return
        emit_matmul(self, op)

    def matmul_rows(self, op: Operation, lower: ir.Value, upper: ir.Value) -> None:
        """A matmul on rows lower..upper of lhs and out (views; the rest reads as it is)."""
        lhs, out = self.buffer(op.operands[0]), self.buffer(op.operands[2])
        for value, buffer in ((op.operands[0], lhs), (op.operands[2], out)):
            start = self.b.gep(buffer.data, [self.b.mul(lower, buffer.sizes[1])])
            self.values[value] = Buffer(start, [self.b.sub(upper, lower), buffer.sizes[1]],
                                        buffer.element)
        emit_matmul(self, op)

    # -- threads ----------------------------------------------------------------------------------
    def threaded(self, op: Operation, rows: ir.Value, threshold: int) -> bool:
        """Run ``op`` split over its outermost range on several threads, when it is large and
        its body is plain computation (no checks, calls, prints or allocations inside)."""
        # Only the function body's own loops: never loops nested in loops or outlined bodies.
        if not self.parent.target.threads or self.func is None or op.parent is not self.func.body or any(
                reports_status(nested) for nested in op.walk()):
            return False
        sizes = self.work_sizes(op)
        if all(isinstance(s, ir.Constant) for s in sizes) and math.prod(
                s.constant for s in sizes) < threshold:
            return False  # known small: no outlining, no call
        captured = op.values_from_outside()
        body = self.outline(op, captured)
        work: ir.Value = ir.Constant(I64, 1)
        for size in sizes:
            work = self.b.mul(work, size)
        words = self.pack(captured)
        big = self.b.icmp_signed(">=", work, ir.Constant(I64, threshold))
        with self.b.if_else(big) as (then, otherwise):
            with then:  # asking for the thread count costs microseconds: only when worth it
                count = self.b.call(threads.thread_count(self.parent.llvm), [])
                count = self.b.select(self.b.icmp_signed("<", rows, count), ir.Constant(I64, 1), count)
                self.b.call(threads.run_parallel(self.parent.llvm), [body, words, rows, count])
            with otherwise:
                self.b.call(body, [words, ir.Constant(I64, 0), rows])
        return True

    def work_sizes(self, op: Operation) -> list[ir.Value]:
        if isinstance(op, buf.MatmulOp):
            lhs, rhs = self.buffer(op.operands[0]), self.buffer(op.operands[1])
            return [*lhs.sizes, rhs.sizes[-1]]
        return [self.get(v) for v in op.operands]

    def outline(self, op: Operation, captured: list[Value]) -> ir.Function:
        fn = ir.Function(self.parent.llvm, threads.BODY,
                         self.parent.llvm.get_unique_name(f"{self.fn.name}.parallel"))
        fn.linkage = "internal"
        inner = FunctionCodegen(self.parent, None, fn)
        words, lower, upper = fn.args
        inner.unpack_all(words, captured)
        if isinstance(op, buf.MatmulOp):
            inner.matmul_rows(op, lower, upper)
        else:
            inner.parallel_range(op, lower, upper)
        inner.b.ret_void()
        return fn

    def flatten(self, items: list[ir.Value | Buffer]) -> list[ir.Value]:
        out: list[ir.Value] = []
        for item in items:
            out.extend([item.data, *item.sizes] if isinstance(item, Buffer) else [item])
        return out

    def rebuild(self, like: list[Value], flat: list[ir.Value]) -> list[ir.Value | Buffer]:
        out: list[ir.Value | Buffer] = []
        it = iter(flat)
        for v in like:
            if isinstance(v.type, MemRefType):
                data = next(it)
                sizes = [next(it) for _ in v.type.shape]
                sizes = [ir.Constant(I64, d) if isinstance(d, int) else size
                         for d, size in zip(v.type.shape, sizes)]
                out.append(Buffer(data, sizes, llvm_type(v.type.element)))
            else:
                out.append(next(it))
        return out

    def op_scf_for(self, op: Operation) -> None:
        assert isinstance(op, ForOp)
        body = op.body
        lower, upper, step = (self.get(v) for v in op.operands[:3])
        if not positive_constant(op.operands[2]):
            self.require(self.b.icmp_signed(">", step, ir.Constant(I64, 0)), op,
                         "scf.for step must be positive")
        inits = self.flatten([self.values[v] for v in op.operands[3:]])

        def step_body(iv: ir.Value, carried: list[ir.Value]) -> list[ir.Value]:
            self.values[body.args[0]] = iv
            for arg, value in zip(body.args[1:], self.rebuild(body.args[1:], carried)):
                self.values[arg] = value
            return self.flatten(self.block(body))

        results = self.stepped_loop(lower, upper, step, inits, step_body)
        for result, value in zip(op.results, self.rebuild(list(op.results), results)):
            self.values[result] = value

    def op_scf_if(self, op: Operation) -> None:
        assert isinstance(op, IfOp)
        ends = []
        with self.b.if_else(self.get(op.operands[0])) as (then, otherwise):
            with then:
                ends.append((self.flatten(self.block(op.then_block)), self.b.block))
            with otherwise:
                ends.append((self.flatten(self.block(op.else_block)), self.b.block))
        merged = []
        for i in range(len(ends[0][0])):
            phi = self.b.phi(ends[0][0][i].type)
            for values, block in ends:
                phi.add_incoming(values[i], block)
            merged.append(phi)
        for result, value in zip(op.results, self.rebuild(list(op.results), merged)):
            self.values[result] = value


# Elements of a buf.parallel, and multiply-adds of a matmul, worth a thread (starting one
# costs some tens of microseconds).
PARALLEL_WORK = 1 << 18
MATMUL_WORK = 1 << 22
UNTHREADABLE = {"buf.check", "buf.print", "buf.alloc", "buf.free", "func.call",
                "buf.interrupt_point"}


def positive_constant(value: Value) -> bool:
    attr = value.op.attributes.get("value") if isinstance(value, OpResult) and \
        value.op.name == "hy.constant" else None
    return attr is not None and attr.array.ndim == 0 and int(attr.array) > 0  # type: ignore[attr-defined]


def reports_status(op: Operation) -> bool:
    """Whether ``op`` may stop the function with a status (an outlined body cannot): a loop
    whose step is not a known positive constant checks it."""
    return op.name in UNTHREADABLE or (isinstance(op, ForOp) and not positive_constant(op.operands[2]))


def lower_module(module: ModuleOp, target: Target, prefix: str = "") -> tuple[ir.Module, list[str]]:
    """LLVM IR for a bufferized module, and the messages of its run-time checks."""
    codegen = ModuleCodegen(module, target, prefix)
    return codegen.run(), codegen.messages
