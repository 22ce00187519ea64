"""The target-neutral lowering of the loop level to LLVM IR, through ``llvmlite.ir``.

What every target shares: buffers as a data pointer plus sizes (contiguous and row-major, so
an element is one GEP away), loads and stores, sizes, constant buffers, scalar ``hy`` ops
(codegen/scalar_ops.py, math through the target's table), ``scf.for``/``scf.if`` with
carried values, and ``buf.parallel`` as a nest of counted loops. A target module (CPU:
codegen/cpu.py) subclasses ``TargetFunction`` with what only it knows: entry points and
calling conventions, run-time checks, memory, calls, printing, dispatches, matmul kernels.
An op that neither handles is a hyc error located at the op, never an LLVM abort.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from llvmlite import ir

from hyc.ir import Block, ForOp, FuncOp, IfOp, Operation, Value, YieldOp
from hyc.ir.diagnostics import HycError
from hyc.ir.dialects import buf, hy
from hyc.ir.types import MemRefType, TensorType
from hyc.record import record

from .scalar_ops import RULES as SCALAR_RULES
from .scalar_ops import ScalarEmitter, llvm_type
from .target import Target

I32 = ir.IntType(32)
I64 = ir.IntType(64)
LoopBody = Callable[[ir.Value, list[ir.Value]], list[ir.Value]]


@record
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


class TargetModule:
    """The LLVM module being built for one target."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.llvm = ir.Module(name="hyc")
        # functions made for an op, shared by the functions that call them (a matmul's
        # epilogue: the kernel's range and the single-row product call the same one)
        self.made_for: dict[tuple[object, str], ir.Function] = {}

    def runtime(self, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
        """A function the generated code calls (declared once)."""
        return declared(self.llvm, name, ret, args)


def declared(module: ir.Module, name: str, ret: ir.Type, args: list[ir.Type],
             var_arg: bool = False) -> ir.Function:
    """Function ``name`` of ``module``, declared there unless it is already."""
    found = module.globals.get(name)
    return found if found is not None else ir.Function(
        module, ir.FunctionType(ret, args, var_arg=var_arg), name)


def internal_global(module: ir.Module, name: str, type_: ir.Type, align: int) -> ir.GlobalVariable:
    """A zero-initialized variable of ``module`` alone (the runtime's state)."""
    var = ir.GlobalVariable(module, type_, name)
    var.linkage = "internal"
    var.initializer = ir.Constant(type_, None)
    var.align = align
    return var


def smaller(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    """The smaller of two signed integers."""
    return b.select(b.icmp_signed("<", x, y), x, y)


def element_bytes(element: ir.Type) -> int:
    """The size of a kernel's element (f32 or f64)."""
    return 4 if element == ir.FloatType() else 8


def load_lanes(b: ir.IRBuilder, pointer: ir.Value, lanes: int) -> ir.Value:
    """``lanes`` elements from ``pointer`` on: a vector (aligned as one element), or the
    element itself when ``lanes`` is 1."""
    if lanes == 1:
        return b.load(pointer)
    element = pointer.type.pointee
    return b.load(b.bitcast(pointer, ir.PointerType(ir.VectorType(element, lanes))),
                  align=element_bytes(element))


def store_lanes(b: ir.IRBuilder, value: ir.Value, pointer: ir.Value) -> None:
    """``value`` (a vector, or an element) at ``pointer`` on, as ``load_lanes`` reads it."""
    if not isinstance(value.type, ir.VectorType):
        b.store(value, pointer)
        return
    element = pointer.type.pointee
    b.store(value, b.bitcast(pointer, ir.PointerType(value.type)),
            align=element_bytes(element))


def interleave(b: ir.IRBuilder, vectors: list[ir.Value]) -> ir.Value:
    """One vector of the ``vectors``' lanes side by side: lane ``j`` of vector ``r`` at
    ``j * len(vectors) + r`` (a row of a packed panel). The vectors are joined pairwise (a
    list padded to a power of two with the last one), then shuffled once."""
    lanes, count = vectors[0].type.count, len(vectors)
    joined = vectors + [vectors[-1]] * ((1 << (count - 1).bit_length()) - count)
    while len(joined) > 1:
        width = 2 * joined[0].type.count
        mask = ir.Constant(ir.VectorType(I32, width), list(range(width)))
        joined = [b.shuffle_vector(x, y, mask) for x, y in zip(joined[::2], joined[1::2])]
    order = [r * lanes + j for j in range(lanes) for r in range(count)]
    return b.shuffle_vector(joined[0], joined[0], ir.Constant(ir.VectorType(I32, len(order)), order))


def count_loop(b: ir.IRBuilder, start: ir.Value, end: ir.Value,
                body: Callable[[ir.Value], None]) -> None:
    """``body(i)`` for ``i`` in ``start..end``, with nothing but a builder (the runtime's
    functions); ``body`` may branch away only from blocks of its own."""
    before = b.block
    head = b.append_basic_block("loop")
    after = b.append_basic_block("loop.done")
    b.cbranch(b.icmp_signed("<", start, end), head, after)
    b.position_at_end(head)
    w = b.phi(I64)
    w.add_incoming(start, before)
    body(w)
    following = b.add(w, ir.Constant(start.type, 1))
    w.add_incoming(following, b.block)
    b.cbranch(b.icmp_signed("<", following, end), head, after)
    b.position_at_end(after)


def flat_types(t: object, address_space: int = 0) -> list[ir.Type]:
    """The LLVM values a value of type ``t`` travels as: a scalar, or a buffer's data pointer
    (in ``address_space``) and each of its sizes."""
    if isinstance(t, MemRefType):
        return [ir.PointerType(llvm_type(t.element), address_space), *([I64] * len(t.shape))]
    return [llvm_type(t)]


class TargetFunction:
    """Lowers one function's body into the LLVM function ``fn``."""

    def __init__(self, parent: TargetModule, func: FuncOp | None, fn: ir.Function) -> None:
        self.parent = parent
        self.func = func
        self.fn = fn
        # Stack memory and values read once per call go in a block of their own in front of
        # the code (an alloca inside a loop would grow the stack on every iteration).
        prologue = self.fn.append_basic_block("prologue")
        entry = self.fn.append_basic_block("entry")
        self.prologue = ir.IRBuilder(prologue)
        self.prologue.position_before(self.prologue.branch(entry))
        self.b = ir.IRBuilder(entry)
        self.scalars = ScalarEmitter(self.b, parent.llvm, parent.target)
        self.values: dict[Value, ir.Value | Buffer] = {}

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

    def flatten(self, items: list[ir.Value | Buffer]) -> list[ir.Value]:
        out: list[ir.Value] = []
        for item in items:
            out.extend([item.data, *item.sizes] if isinstance(item, Buffer) else [item])
        return out

    def rebuild(self, like: list[Value], flat: list[ir.Value]) -> list[ir.Value | Buffer]:
        """Values of the types of ``like`` from their flattened LLVM values (a size the type
        states becomes a constant, so that LLVM sizes loops exactly)."""
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
        tensors = any(isinstance(v.type, TensorType) for v in [*op.operands, *op.results])
        if handler is not None and not tensors:
            handler(op)
        elif type(op) in SCALAR_RULES and not tensors:
            self.values[op.result] = self.scalars.emit(op, [self.get(v) for v in op.operands])
        else:
            target = self.parent.target
            where = " on tensors: lower the module to loops first (bufferize)" if tensors else ""
            raise HycError(f"target '{target.name}' ({target.triple}) cannot lower "
                           f"'{op.name}'{where}", op.loc, code="E0904")

    def require(self, ok: ir.Value, op: Operation, message: str, *, code: str) -> None:
        """Stop with ``message`` (located at ``op``) unless ``ok``: how is the target's."""
        raise HycError(f"'{op.name}' needs a run-time check here ({message}), which target "
                       f"'{self.parent.target.name}' cannot make in this function", op.loc, code="E0904")

    def op_buf_dim(self, op: Operation) -> None:
        self.values[op.result] = self.buffer(op.operands[0]).sizes[op.axis]

    def op_buf_constant(self, op: Operation) -> None:
        array = op.attributes["value"].array
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

    # -- loops and branches ---------------------------------------------------------------------
    def counted_loop(self, upper: ir.Value, carried: list[ir.Value], body: LoopBody) -> list[ir.Value]:
        """``for i in range(upper)`` carrying LLVM values; ``body(i, carried) -> next``."""
        return self.stepped_loop(ir.Constant(I64, 0), upper, ir.Constant(I64, 1), carried, body)

    def stepped_loop(self, lower: ir.Value, upper: ir.Value, step: ir.Value,
                     carried: list[ir.Value], body: LoopBody) -> list[ir.Value]:
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

    def chunked_loop(self, upper: ir.Value, width: int, body: Callable[[ir.Value, int], None]) -> None:
        """``for i in range(upper)`` vectorized by hand: ``body(i, width)`` on each whole chunk
        of ``width`` iterations, then ``body(i, 1)`` on the rest (code compiled without
        LLVM's loop vectorizer: the runtime's kernels, see ``jit.tidy``)."""
        b, step = self.b, ir.Constant(I64, width)
        whole = b.mul(b.udiv(upper, step), step)

        def chunk(i: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
            body(i, width)
            return []

        def single(i: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
            body(i, 1)
            return []
        self.stepped_loop(ir.Constant(I64, 0), whole, step, [], chunk)
        self.stepped_loop(whole, upper, ir.Constant(I64, 1), [], single)

    def loop_nest(self, sizes: list[ir.Value], lower: ir.Value, upper: ir.Value,
                  body: Callable[[list[ir.Value]], None]) -> None:
        """Counted loops over ``sizes``, the outermost from ``lower`` to ``upper``; ``body(ivs)``
        fills the innermost."""
        def nest(level: int, ivs: list[ir.Value]) -> None:
            if level == len(sizes):
                body(ivs)
                return

            def step(iv: ir.Value, carried: list[ir.Value]) -> list[ir.Value]:
                nest(level + 1, [*ivs, iv])
                return []

            if level == 0:
                self.stepped_loop(lower, upper, ir.Constant(I64, 1), [], step)
            else:
                self.counted_loop(sizes[level], [], step)

        nest(0, [])

    def op_buf_parallel(self, op: Operation) -> None:
        """A parallel loop that stayed inline (``outline-parallel`` left it: it may stop the
        function) runs as a sequential nest."""
        body = op.regions[0].block
        sizes = [self.get(v) for v in op.operands]

        def point(ivs: list[ir.Value]) -> None:
            self.values.update(zip(body.args, ivs))
            self.block(body)

        self.loop_nest(sizes, ir.Constant(I64, 0), sizes[0], point)

    def op_scf_for(self, op: Operation) -> None:
        assert isinstance(op, ForOp)
        body = op.body
        lower, upper, step = (self.get(v) for v in op.operands[:3])
        if buf.may_stop(op):  # a step not known to be positive is checked
            self.require(self.b.icmp_signed(">", step, ir.Constant(I64, 0)), op,
                         "scf.for step must be positive", code="E1015")
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
