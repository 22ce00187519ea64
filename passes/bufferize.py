"""Bufferization: the tensor level becomes the loop and buffer level (the ``buf`` dialect).

Tensors become buffers and ops become loops (``passes/bufferization/`` has the rule of each
op). Functions take their results as trailing buffer arguments, whose sizes the caller
knows from the arguments' (a result type with a ``?`` cannot be bufferized). Every buffer an
op allocates is owned by the block that allocated it and freed after its last use there;
loops and branches hand owned buffers out through their yields (copying what they would
otherwise hand out borrowed), so nothing is freed twice or read after its free.
"""

from __future__ import annotations

from typing import ClassVar

from hyc.ir import Block, CallOp, ForOp, FuncOp, HycError, IfOp, ModuleOp, Operation, ReturnOp, Value, YieldOp
from hyc.ir.attributes import IntAttr, SymbolRefAttr
from hyc.ir.builder import Builder
from hyc.ir.core import BlockArgument, OpResult
from hyc.ir.dialects import buf
from hyc.ir.types import MemRefType, TensorType, Type, element_type, shape_of
from hyc.record import record

from .bufferization import LoopBuilder, check_equal, const, dims_of, load, lowering_rule, store
from .manager import Pass, register_pass
from .memory import plan_function
from .safety import is_buffer_level


def memref_for(t: Type) -> Type:
    """The buffer type that holds values of tensor type ``t`` (scalars stay scalars)."""
    return MemRefType(t.shape, t.element) if isinstance(t, TensorType) else t


def out_type(t: Type) -> MemRefType:
    """A result's buffer: the tensor's, or a rank-0 buffer for a scalar."""
    return MemRefType(shape_of(t), element_type(t))


class FunctionBufferization(LoopBuilder):
    def __init__(self, func: FuncOp, signatures: dict[str, FuncOp]) -> None:
        self.old = func
        self.signatures = signatures
        inputs = [memref_for(t) for t in func.type.inputs]
        outs = [out_type(t) for t in func.type.results]
        names = [a.name_hint for a in func.body.args] + [f"out{i}" for i in range(len(outs))]
        self.new = FuncOp.create(func.sym_name, inputs + outs, [], names, func.loc)
        super().__init__(Builder(self.new.body))
        self.map: dict[Value, Value] = dict(zip(func.body.args, self.new.body.args))
        self.outs = self.new.body.args[len(inputs):]
        self.owned: set[Value] = set()
        # (named_dims: one size per dimension name, read from the arguments on entry and
        # checked to agree there: every buffer whose type names a dimension has that size,
        # which allocations and yields check wherever a size comes from elsewhere.)
        # The memory plan's in-place updates: elementwise op -> the input whose buffer it reuses.
        self.donors = {b.op: b.donor.value for b in plan_function(func, {}).buffers
                       if b.donor is not None}

    # -- what the op rules use ------------------------------------------------------------------
    def get(self, value: Value) -> Value:
        return self.map[value]

    def alloc(self, tensor_type: Type, dims: list[Value]) -> Value:
        memref = out_type(tensor_type)
        self.conform(dims, memref.shape, "a new buffer")
        sizes = [d for d, s in zip(dims, memref.shape) if not isinstance(s, int)]
        value = self.b.create(buf.AllocOp, sizes, result_types=[memref]).result
        self.owned.add(value)
        return value

    def in_place_target(self, op: Operation, tensor_type: Type) -> Value | None:
        """The buffer of an input that dies at ``op``, when the memory plan has ``op`` update
        it in place (each output element depends only on the same element of each input, so
        writing over what was just read is safe). Only buffers this function allocated at its
        top level, of the result's very type (sizes named, so known equal), qualify."""
        donor = self.donors.get(op)
        if donor is None or op.parent is not self.old.body:
            return None
        target = self.map.get(donor)
        return target if target is not None and self.reusable(target, out_type(tensor_type)) else None

    def reusable(self, value: Value, memref: Type) -> bool:
        """Whether ``value`` is a buffer this function allocated at its top level (not in a
        loop or branch) with exactly type ``memref`` and no ``?``, so that its sizes are the
        named ones and equal to any other buffer of that type."""
        return (isinstance(value, OpResult) and isinstance(value.op, buf.AllocOp)
                and value.op.parent is self.new.body and value in self.owned
                and value.type == memref and "?" not in shape_of(memref))

    def copy_of(self, value: Value, like: Type) -> Value:
        fresh = self.alloc(like, dims_of(self, value))
        self.b.create(buf.CopyOp, [value, fresh], result_types=[])
        return fresh

    # -- the walk ---------------------------------------------------------------------------------
    def conform(self, sizes: list[Value], shape: tuple, what: str) -> None:
        """Check sizes against the dimension names of ``shape`` (unless they are those)."""
        for size, d in zip(sizes, shape):
            if isinstance(d, str) and d in self.named_dims:
                check_equal(self, size, self.named_dims[d], f"@{self.old.sym_name}: {what} "
                            f"would have a size other than {d}", code="E1003")

    def bind_dimension_names(self) -> None:
        """Read each dimension name's size from the first argument that has it; the others
        that have it must agree."""
        for param in self.new.body.args:
            for axis, d in enumerate(shape_of(param.type)):
                if not isinstance(d, str) or d == "?":
                    continue
                size = self.b.create(buf.DimOp, [param], {"axis": IntAttr(axis)}).result
                if d in self.named_dims:
                    check_equal(self, size, self.named_dims[d], f"@{self.old.sym_name}: argument "
                                f"'{param.name_hint}' has another size for {d}", code="E1003")
                else:
                    self.named_dims[d] = size

    def run(self) -> FuncOp:
        self.bind_dimension_names()
        self.block(self.old.body)
        insert_frees(self.new.body, self.owned)
        return self.new

    def block(self, block: Block) -> None:
        for op in block.ops:
            self.b.loc = op.loc
            self.op(op)

    def op(self, op: Operation) -> None:
        if isinstance(op, ReturnOp):
            self.ret(op)
        elif isinstance(op, ForOp):
            self.loop(op)
        elif isinstance(op, IfOp):
            self.branch(op)
        elif isinstance(op, CallOp):
            self.call(op)
        elif isinstance(op, YieldOp):
            raise AssertionError("yields are lowered with their parent")
        else:
            rule = lowering_rule(op)
            if rule is not None:
                results = rule(self, op)
            elif any(isinstance(v.type, TensorType) for v in (*op.operands, *op.results)):
                raise HycError(f"bufferize has no rule for '{op.name}' on tensors (an op "
                               "added without its lowering rule)", op.loc, code="E0804")
            else:  # scalar arithmetic stays as it is
                results = self.b.insert(op.clone(dict(self.map))).results
            for old, new in zip(op.results, results):
                if new.name_hint is None:
                    new.name_hint = old.name_hint
                self.map[old] = new

    def ret(self, op: Operation) -> None:
        for value, out in zip(op.operands, self.outs):
            new = self.get(value)
            if self.computed_in_place(new, out):
                continue
            if isinstance(new.type, MemRefType):
                for a, b in zip(dims_of(self, new), dims_of(self, out)):
                    check_equal(self, a, b, f"@{self.old.sym_name} returns a value of another "
                                "size than its result type allows", code="E1006")
                self.b.create(buf.CopyOp, [new, out], result_types=[])
            else:
                store(self, new, out, [])
        self.b.create(ReturnOp, [], result_types=[])

    def computed_in_place(self, value: Value, out: Value) -> bool:
        """Destination passing: a result that the function body allocated itself is computed
        straight into its result buffer instead of being copied there at the end.

        Only when nothing else can tell: the buffer is allocated at the top of the body (not
        in a loop or branch), no loop takes it over (loops free what they are handed), it is
        not returned twice, and its type is the result buffer's, so its sizes are the named
        ones the entry checked the result buffer against. The caller must not pass a result
        buffer that overlaps an argument (the Python wrapper copies when one does)."""
        if not self.reusable(value, out.type) or any(
                isinstance(use.op, ForOp) and use.index >= 3 for use in value.uses):
            return False
        alloc = value.op
        value.replace_all_uses_with(out)
        alloc.erase()
        self.owned.discard(value)
        self.map.update({old: out for old, new in self.map.items() if new is value})
        return True

    def owned_here(self, value: Value, block: Block) -> bool:
        """Whether ``value`` is a buffer this block owns (and may hand out)."""
        defined_here = (value.op.parent is block if isinstance(value, OpResult)
                        else isinstance(value, BlockArgument) and value.block is block)
        return value in self.owned and defined_here

    def handed_out(self, value: Value, block: Block, like: Type) -> Value:
        """What a yield may pass on: an owned buffer of this block, else a fresh copy."""
        if not isinstance(value.type, MemRefType) or self.owned_here(value, block):
            return value
        return self.copy_of(value, like)

    def loop(self, op: Operation) -> None:
        lower, upper, step = (self.get(v) for v in op.operands[:3])
        inits = []
        for old, init in zip(op.results, (self.get(v) for v in op.operands[3:])):
            inits.append(self.copy_of(init, old.type) if isinstance(init.type, MemRefType)
                         else init)
        new = self.b.insert(ForOp.create(lower, upper, step, inits, loc=op.loc))
        # the program chose this loop's trip count: it polls for Ctrl-C on every iteration
        new.body.append(buf.InterruptPointOp(loc=op.loc))
        old_body = op.regions[0].block
        self.map.update(zip(old_body.args, new.body.args))
        for arg, old in zip(new.body.args, old_body.args):
            arg.name_hint = old.name_hint
            if isinstance(arg.type, MemRefType):
                self.owned.add(arg)
        self.lower_region(old_body, new.body, op)
        self.adopt(op, new)

    def branch(self, op: Operation) -> None:
        types = [memref_for(r.type) for r in op.results]
        new = self.b.insert(IfOp.create(self.get(op.operands[0]), types, loc=op.loc))
        for old_region, new_block in zip(op.regions, (new.then_block, new.else_block)):
            self.lower_region(old_region.block, new_block, op)
        self.adopt(op, new)

    def lower_region(self, old: Block, new: Block, parent: Operation) -> None:
        with self.b.at_end(new):
            self.block(_without_terminator(old))
            yielded: list[Value] = []
            for v, r in zip(old.ops[-1].operands, parent.results):
                value = self.handed_out(self.get(v), new, r.type)
                own, wanted = shape_of(value.type), shape_of(r.type)
                if isinstance(value.type, MemRefType) and any(
                        isinstance(d, str) and d != o for d, o in zip(wanted, own)):
                    self.conform(dims_of(self, value), wanted, "a loop or branch")
                if isinstance(value.type, MemRefType) and value in yielded:  # one buffer each
                    value = self.copy_of(value, r.type)
                yielded.append(value)
            self.b.loc = old.ops[-1].loc
            self.b.create(YieldOp, yielded, result_types=[])

    def adopt(self, old: Operation, new: Operation) -> None:
        for a, b in zip(old.results, new.results):
            b.name_hint = a.name_hint
            self.map[a] = b
            if isinstance(b.type, MemRefType):
                self.owned.add(b)

    def call(self, op: Operation) -> None:
        callee = self.signatures[op.callee]
        args = [self.get(v) for v in op.operands]
        outs = [self.alloc(r.type, self.result_dims(callee, t, args, op))
                for r, t in zip(op.results, callee.type.results)]
        self.b.insert(CallOp([*args, *outs], [], {"callee": SymbolRefAttr(op.callee)},
                             loc=op.loc))
        for old, out in zip(op.results, outs):
            if isinstance(old.type, TensorType):
                self.map[old] = out
            else:
                self.map[old] = load(self, out, [])

    def result_dims(self, callee: FuncOp, t: Type, args: list[Value], op: Operation) -> list[Value]:
        """A callee result's sizes, from the arguments that carry its dimension names."""
        dims = []
        for d in shape_of(t):
            if isinstance(d, int):
                dims.append(const(self, d))
                continue
            for param, arg in zip(callee.type.inputs, args):
                if d in shape_of(param):
                    dims.append(dims_of(self, arg)[list(shape_of(param)).index(d)])
                    break
            else:
                raise HycError(f"@{callee.sym_name} returns {t}, whose size no argument "
                               "determines; the buffer level needs result sizes known from "
                               "the arguments", op.loc, code="E0804")
        return dims


def _without_terminator(block: Block) -> Block:
    view = Block()
    view.ops = block.ops[:-1]
    return view


def insert_frees(block: Block, owned: set[Value]) -> None:
    """Free each buffer this block owns after its last use, unless a terminator hands it on;
    then the same inside every nested block."""
    position = {op: i for i, op in enumerate(block.ops)}
    mine = [a for a in block.args if a in owned]
    mine += [r for op in block.ops for r in op.results if r in owned]
    frees: list[tuple[int, Value]] = []
    for value in mine:
        users = [use.op.ancestor_in(block) for use in value.uses]
        if any(u is block.terminator for u in users) or any(
                isinstance(use.op, ForOp) and use.index >= 3 for use in value.uses):
            continue  # handed on: to the parent by a yield, or to a loop as its initial value
        defined = position[value.op] if isinstance(value, OpResult) else -1
        last = max([position[u] for u in users if u is not None], default=defined)
        frees.append((last, value))
    for last, value in sorted(frees, key=lambda f: -f[0]):
        free = buf.FreeOp([value], loc=block.ops[max(last, 0)].loc if block.ops else value.op.loc)
        block.insert(last + 1, free)
    for op in block.ops:
        for region in op.regions:
            for inner in region.blocks:
                insert_frees(inner, owned)




@register_pass
@record
class Bufferize(Pass):
    """Lower the tensor level to buffers and loops (the `buf` dialect).

    Elementwise ops and `hy.fused` become `buf.parallel` nests that load, compute and store;
    matmuls become `buf.matmul` (kept whole for the backends' kernels); reductions and
    softmax become parallel nests around sequential `scf.for` loops; results are written
    into buffers the caller passes. Sizes only known at run time are checked with
    `buf.check` before any loop runs.
    """

    name: ClassVar[str] = "bufferize"

    def run(self, module: ModuleOp) -> None:
        signatures = {f.sym_name: f for f in module.functions}
        # functions written at the buffer level are there already (and hardened)
        tensor_level = [f for f in module.functions if not is_buffer_level(f)]
        lowered = [FunctionBufferization(f, signatures).run() for f in tensor_level]
        for old, new in zip(tensor_level, lowered):
            module.body.insert(module.body.ops.index(old), new)
            old.drop_all_references()
            old.detach()
