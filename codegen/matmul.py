"""Loops for ``buf.matmul``: ``out = epilogue(lhs @ rhs, extras)`` with numpy's matmul shapes.

When the epilogue keeps the product's element type, each output row accumulates in place in
i-k-j order (the innermost loop runs along contiguous rows of ``rhs`` and ``out``, which LLVM
vectorizes, with multiply-adds contracted to FMA), and the epilogue then runs over the
finished row. Otherwise each element is a dot product followed by the epilogue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llvmlite import ir

from hyc.ir import Operation
from hyc.ir.types import MemRefType, shape_of

from .scalar_ops import is_float

if TYPE_CHECKING:
    from .lower import Buffer, FunctionCodegen

I64 = ir.IntType(64)


def _fast(instruction: ir.Instruction) -> ir.Instruction:
    instruction.flags.append("contract")  # allow fused multiply-add, as BLAS does
    return instruction


def _index(fc: FunctionCodegen, size: ir.Value, iv: ir.Value) -> ir.Value:
    """Broadcast indexing: a dimension of size 1 is read at 0."""
    is_one = fc.b.icmp_signed("==", size, ir.Constant(I64, 1))
    return fc.b.select(is_one, ir.Constant(I64, 0), iv)


def emit_matmul(fc: FunctionCodegen, op: Operation) -> None:
    lhs, rhs, out = (fc.buffer(v) for v in op.operands[:3])
    extras = [fc.values[v] for v in op.operands[3:]]
    body = op.regions[0].block
    floating = is_float(op.operands[0].type)
    a_rank, b_rank = len(lhs.sizes), len(rhs.sizes)
    k_size = lhs.sizes[-1]
    m_size = lhs.sizes[-2] if a_rank > 1 else ir.Constant(I64, 1)
    n_size = rhs.sizes[-1] if b_rank > 1 else ir.Constant(I64, 1)
    batch = out.sizes[: len(out.sizes) - (a_rank > 1) - (b_rank > 1)]
    in_place = shape_of(op.operands[0].type) and body.args[0].type == \
        op.operands[2].type.element  # type: ignore[union-attr]

    def operand_index(buffer: Buffer, batch_ivs: list[ir.Value], rows: list[ir.Value]) -> list[ir.Value]:
        own_batch = buffer.sizes[: len(buffer.sizes) - len(rows)]
        offset = len(batch_ivs) - len(own_batch)
        return [_index(fc, s, batch_ivs[offset + i]) for i, s in enumerate(own_batch)] + rows

    def out_index(batch_ivs: list[ir.Value], i: ir.Value, j: ir.Value) -> list[ir.Value]:
        return batch_ivs + ([i] if a_rank > 1 else []) + ([j] if b_rank > 1 else [])

    def lhs_at(batch_ivs, i, k):  # type: ignore[no-untyped-def]
        return fc.b.load(lhs.address(fc.b, operand_index(lhs, batch_ivs, [i, k] if a_rank > 1 else [k])))

    def rhs_at(batch_ivs, k, j):  # type: ignore[no-untyped-def]
        return fc.b.load(rhs.address(fc.b, operand_index(rhs, batch_ivs, [k, j] if b_rank > 1 else [k])))

    def epilogue(batch_ivs: list[ir.Value], i: ir.Value, j: ir.Value, acc: ir.Value) -> None:
        index = out_index(batch_ivs, i, j)
        args = [acc] + [_extra(fc, e, v, index) for e, v in zip(extras, op.operands[3:])]
        fc.values.update(zip(body.args, args))
        (value,) = fc.block(body)
        fc.b.store(value, out.address(fc.b, index))

    def zero() -> ir.Value:
        return ir.Constant(lhs.element, 0.0 if floating else 0)

    def multiply_add(acc: ir.Value, x: ir.Value, y: ir.Value) -> ir.Value:
        if floating:
            return _fast(fc.b.fadd(acc, _fast(fc.b.fmul(x, y))))
        return fc.b.add(acc, fc.b.mul(x, y))

    def row(batch_ivs: list[ir.Value], i: ir.Value) -> None:
        if in_place:
            def clear(j, _):  # type: ignore[no-untyped-def]
                fc.b.store(zero(), out.address(fc.b, out_index(batch_ivs, i, j)))
                return []
            fc.counted_loop(n_size, [], clear)

            def over_k(k, _):  # type: ignore[no-untyped-def]
                a = lhs_at(batch_ivs, i, k)

                def over_j(j, _):  # type: ignore[no-untyped-def]
                    target = out.address(fc.b, out_index(batch_ivs, i, j))
                    fc.b.store(multiply_add(fc.b.load(target), a, rhs_at(batch_ivs, k, j)), target)
                    return []
                fc.counted_loop(n_size, [], over_j)
                return []
            fc.counted_loop(k_size, [], over_k)

            def finish(j, _):  # type: ignore[no-untyped-def]
                acc = fc.b.load(out.address(fc.b, out_index(batch_ivs, i, j)))
                epilogue(batch_ivs, i, j, acc)
                return []
            fc.counted_loop(n_size, [], finish)
            return

        def element(j, _):  # type: ignore[no-untyped-def]
            (acc,) = fc.counted_loop(k_size, [zero()], lambda k, c: [
                multiply_add(c[0], lhs_at(batch_ivs, i, k), rhs_at(batch_ivs, k, j))])
            epilogue(batch_ivs, i, j, acc)
            return []
        fc.counted_loop(n_size, [], element)

    def batches(level: int, ivs: list[ir.Value]) -> None:
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


def _extra(fc: FunctionCodegen, extra: object, value: object, index: list[ir.Value]) -> ir.Value:
    """One element of an extra epilogue input, broadcast to the output index."""
    from .lower import Buffer
    if not isinstance(extra, Buffer):
        return extra  # type: ignore[return-value]
    offset = len(index) - len(extra.sizes)
    t = getattr(value, "type", None)
    static = shape_of(t) if isinstance(t, MemRefType) else ()
    own = []
    for axis, size in enumerate(extra.sizes):
        d = static[axis] if axis < len(static) else None
        own.append(ir.Constant(I64, 0) if d == 1 else _index(fc, size, index[offset + axis]))
    return fc.b.load(extra.address(fc.b, own))
