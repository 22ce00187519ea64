"""Building loops over buffers: the helpers every bufferization rule (and the loop-level
passes, passes/loops.py) builds with.

They take a ``LoopBuilder``: an insertion point plus what is known of the sizes so far (a
``FunctionBufferization`` is one, with the function's named dimensions). Sizes only known
at run time are compared with ``buf.check`` before any loop touches memory, so compiled code
reports the interpreter's errors instead of reading out of bounds.
"""

from __future__ import annotations

from collections.abc import Callable

from hyc.ir import Block, Builder, Operation, Value
from hyc.ir.attributes import Attribute, IntAttr, StringAttr
from hyc.ir.core import OpResult
from hyc.ir.dialects import buf, hy
from hyc.ir.dialects.scf import ForOp
from hyc.ir.types import MemRefType, Type, element_type, index, shape_of


class LoopBuilder:
    """An insertion point, the value of each named dimension, and the sizes read so far."""

    def __init__(self, builder: Builder) -> None:
        self.b = builder
        self.named_dims: dict[str, Value] = {}
        self.dim_cache: dict[tuple[Value, int, Block | None], Value] = {}

    def dims(self, value: Value) -> list[Value]:
        return dims_of(self, value)

    def binary(self, cls: type[Operation], a: Value, b: Value) -> Value:
        return binary(self, cls, a, b)

    def broadcast_indices(self, source: Value, ivs: list[Value], rank: int) -> list[Value]:
        """The indices of ``source`` (of ``rank`` dimensions) read at ``ivs``, as numpy
        broadcasts: a dimension of size 1 is read at 0 (tested at run time when dynamic)."""
        indices = []
        for d, size, iv in zip(shape_of(source.type)[:rank], self.dims(source), ivs):
            if d == 1:
                indices.append(const(self, 0))
            elif isinstance(d, int):
                indices.append(iv)
            else:
                one = binary(self, hy.EqOp, size, const(self, 1))
                indices.append(self.b.create(hy.SelectOp, [one, const(self, 0), iv]).result)
        return indices


def const(lower: LoopBuilder, value: int) -> Value:
    return lower.b.constant(index, value)


def binary(lower: LoopBuilder, cls: type[Operation], a: Value, b: Value,
           attributes: dict[str, Attribute] | None = None) -> Value:
    return lower.b.create(cls, [a, b], attributes or {}).result


def check(lower: LoopBuilder, condition: Value, message: str, *, code: str) -> None:
    lower.b.create(buf.CheckOp, [condition], {"message": StringAttr(message), "code": StringAttr(code)},
                   result_types=[])


def check_equal(lower: LoopBuilder, a: Value, b: Value, message: str, *, code: str) -> None:
    if a is not b:
        check(lower, binary(lower, hy.EqOp, a, b), message, code=code)


def require_elements(lower: LoopBuilder, op: Operation, sizes: list[Value]) -> None:
    """The interpreter's error for an extreme (max, argmax, ...) of an empty axis."""
    for size in sizes:
        check(lower, binary(lower, hy.GtOp, size, const(lower, 0)),
              f"{op.name} of an empty axis (numpy: zero-size array to a reduction that has no "
              "identity)", code="E1010")


def dims_of(lower: LoopBuilder, value: Value) -> list[Value]:
    """Index values for each dimension of a buffer (constants where static). A named dimension
    is the function's one value for that name; another read once in a block is reused there,
    so that rules can see two sizes are the same."""
    sizes = []
    for axis, d in enumerate(shape_of(value.type)):
        if isinstance(d, int):
            sizes.append(const(lower, d))
            continue
        if d in lower.named_dims:
            sizes.append(lower.named_dims[d])
            continue
        key = (value, axis, lower.b.block)
        if key not in lower.dim_cache:
            lower.dim_cache[key] = lower.b.create(buf.DimOp, [value], {"axis": IntAttr(axis)}).result
        sizes.append(lower.dim_cache[key])
    return sizes


def parallel(lower: LoopBuilder, sizes: list[Value],
             body: Callable[[list[Value]], None]) -> None:
    """A ``buf.parallel`` nest over ``sizes`` whose body ``body(ivs)`` fills."""
    if not sizes:
        body([])
        return
    loop = lower.b.insert(buf.ParallelOp.create(sizes, loc=lower.b.loc))
    with lower.b.at_end(loop.body):
        body(list(loop.body.args))
        lower.b.create(buf.EndOp, [], result_types=[])


def sequential(lower: LoopBuilder, size: Value, init: list[Value],
               body: Callable[[Value, list[Value]], list[Value]]) -> list[Value]:
    """An ``scf.for`` from 0 to ``size`` carrying scalars; ``body(iv, carried) -> next``."""
    loop = lower.b.insert(ForOp.create(const(lower, 0), size, const(lower, 1), init,
                                       loc=lower.b.loc))
    with lower.b.at_end(loop.body):
        from hyc.ir import YieldOp
        lower.b.create(YieldOp, body(loop.body.args[0], list(loop.body.args[1:])),
                       result_types=[])
    return list(loop.results)


def load(lower: LoopBuilder, source: Value, indices: list[Value]) -> Value:
    if not isinstance(source.type, MemRefType):
        return source  # a scalar
    return lower.b.create(buf.LoadOp, [source, *indices],
                          result_types=[element_type(source.type)]).result


def store(lower: LoopBuilder, value: Value, target: Value, indices: list[Value]) -> None:
    lower.b.create(buf.StoreOp, [value, target, *indices], result_types=[])


# -- broadcasting -----------------------------------------------------------------------------------
class Access:
    """How one input is read at an output index: numpy broadcasting decided at run time for
    dynamic sizes (a size-1 dimension reads index 0)."""

    def __init__(self, lower: LoopBuilder, source: Value, out_dims: list[Value],
                 strict: bool, what: str) -> None:
        self.source = source
        self.offset = len(out_dims) - len(shape_of(source.type))
        self.stretch: list[Value | None | bool] = []  # per input axis: True = always index 0
        self.splat: Value | None = None
        producer = source.op if isinstance(source, OpResult) else None
        if isinstance(producer, buf.ConstantOp) and producer.attributes["value"].is_splat():
            # every element is the same: read it once, as a scalar constant, not from memory
            self.splat = lower.b.constant(element_type(source.type),
                                          producer.attributes["value"].array.reshape(-1)[0])
            return
        if not isinstance(source.type, MemRefType):
            return
        for axis, (d, size) in enumerate(zip(shape_of(source.type), dims_of(lower, source))):
            out = out_dims[axis + self.offset]
            if size is out:  # the very size of the output: nothing to check or stretch
                self.stretch.append(None)
            elif d == 1 and not strict:
                self.stretch.append(True)
            elif isinstance(d, int) and not strict:
                check_equal(lower, size, out, f"{what}: size {d} does not broadcast", code="E1006")
                self.stretch.append(None)
            elif strict:
                check_equal(lower, size, out, f"{what}: operand sizes differ at run time", code="E1006")
                self.stretch.append(None)
            else:
                one = binary(lower, hy.EqOp, size, const(lower, 1))
                ok = binary(lower, hy.OrOp, one, binary(lower, hy.EqOp, size, out))
                check(lower, ok, f"{what}: sizes do not broadcast at run time", code="E1006")
                self.stretch.append(one)

    def read(self, lower: LoopBuilder, ivs: list[Value]) -> Value:
        if self.splat is not None:
            return self.splat
        indices = []
        for axis, stretch in enumerate(self.stretch):
            iv = ivs[axis + self.offset]
            if stretch is True:
                iv = const(lower, 0)
            elif stretch is not None:
                iv = lower.b.create(hy.SelectOp, [stretch, const(lower, 0), iv]).result
            indices.append(iv)
        return load(lower, self.source, indices)


def broadcast_dims(lower: LoopBuilder, inputs: list[Value], out_type: Type) -> list[Value]:
    """The output sizes: static ones as constants, run-time ones numpy's broadcast of the
    inputs' aligned sizes (a 1 gives way to the other size, even 0; Access checks the rest)."""
    shape = shape_of(out_type)
    out = []
    for axis, d in enumerate(shape):
        if isinstance(d, int):
            out.append(const(lower, d))
            continue
        if d in lower.named_dims:
            out.append(lower.named_dims[d])
            continue
        candidates = []
        for v in inputs:
            rank = len(shape_of(v.type))
            if isinstance(v.type, MemRefType) and axis >= len(shape) - rank:
                candidates.append(dims_of(lower, v)[axis - (len(shape) - rank)])
        size = candidates[0]
        for other in candidates[1:]:
            is_one = binary(lower, hy.EqOp, size, const(lower, 1))
            size = lower.b.create(hy.SelectOp, [is_one, other, size]).result
        out.append(size)
    return out


def emit_body(lower: LoopBuilder, body: Block, args: list[Value]) -> Value:
    """Copy a per-element body (hy.fused style) inline; the yielded scalar."""
    mapping: dict[Value, Value] = dict(zip(body.args, args))
    for op in body.ops[:-1]:
        lower.b.insert(op.clone(mapping))
    return mapping.get(body.ops[-1].operands[0], body.ops[-1].operands[0])
