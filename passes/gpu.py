"""From the loop level to the gpu level: dispatched loop bodies become kernels.

``gpu-grid-stride`` turns each ``buf.dispatch`` (made by ``outline-parallel``) into a
``gpu.launch`` of a kernel in which every thread walks the iteration space with a grid
stride: thread ``g = block_id * block_dim + thread_id`` takes the points ``g``,
``g + grid_dim * block_dim``, ..., each delinearized into the loop's indices, and runs the
loop body there. Any grid covers any size, so the host picks blocks of ``block`` threads and
enough blocks for one point each, capped at ``max-blocks``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from hyc.ir import Builder, ForOp, FuncOp, IfOp, ModuleOp, Operation, ReturnOp, Value, YieldOp, print_ir
from hyc.ir.attributes import BoolAttr, IntAttr, SymbolRefAttr
from hyc.ir.dialects import buf, gpu, hy
from hyc.ir.types import index
from hyc.record import record

from .manager import Pass, register_pass


@register_pass
@record
class GpuGridStride(Pass):
    """Turn each ``buf.dispatch`` into a ``gpu.launch`` of a grid-stride kernel.

    The kernel ``@<body>.kernel`` takes the dispatch's sizes (those it knows as constants
    are constants in the kernel) and captured values; the host
    launches ``min(ceil(points / block), max-blocks)`` blocks (at least one) of ``block``
    threads. Bodies no dispatch runs any more are removed. When the last size is a constant
    multiple of ``vector``, a thread's point is ``vector`` neighbouring points (vector loads
    and stores on the GPU) and a ``vector``-th of the threads are launched.
    """

    name: ClassVar[str] = "gpu-grid-stride"
    block: int = 256
    max_blocks: int = 65535
    vector: int = 4

    def run(self, module: ModuleOp) -> None:
        kernels: dict[tuple[str, tuple[str | None, ...]], FuncOp] = {}
        dispatches = [op for op in module.walk() if isinstance(op, buf.DispatchOp)]
        for dispatch in dispatches:
            body = dispatch.callee()
            assert body is not None  # verified
            constant = [_constant_op(v) for v in dispatch.sizes]
            key = (body.sym_name, tuple(None if c is None else print_ir(c) for c in constant))
            width = _vector_width(constant, self.vector)
            if key not in kernels:
                kernels[key] = grid_stride_kernel(body, constant, module, width)
            launch(dispatch, kernels[key], constant, max(self.block, 1), max(self.max_blocks, 1),
                   width)
        for name, _ in kernels:
            body = module.lookup(name)
            if body is not None:
                body.erase()


def free_name(stem: str, module: ModuleOp) -> str:
    name, k = stem, 0
    while module.lookup(name) is not None:
        k += 1
        name = f"{stem}{k}"
    return name


def _constant_op(value: Value) -> Operation | None:
    op = getattr(value, "op", None)
    return op if op is not None and op.name == "hy.constant" else None


def _vector_width(constant: list[Operation | None], vector: int) -> int:
    """How many consecutive points along the last axis a thread runs: ``vector`` when the
    axis's size is a constant multiple of it, else 1."""
    last = constant[-1] if constant else None
    size = int(last.attributes["value"].array) if last is not None else 0
    return vector if vector > 1 and size > 0 and size % vector == 0 else 1


def grid_stride_kernel(body: FuncOp, constant: list[Operation | None], module: ModuleOp,
                       width: int = 1) -> FuncOp:
    """A kernel of the sizes and the captured values running ``body`` at every point; a size
    the dispatch knows as a constant is that constant in the kernel, not a parameter. With
    ``width`` > 1, each of the thread's points is ``width`` consecutive points along the last
    axis, run one after the other: their loads and stores are neighbours, which the NVPTX
    backend merges into vector accesses (``ld.global.v4``)."""
    rank = len(constant)
    captured = body.body.args[rank:]
    dynamic = [k for k, c in enumerate(constant) if c is None]
    names = [f"n{k}" for k in dynamic] + [a.name_hint for a in captured]
    kernel = FuncOp.create(free_name(f"{body.sym_name}.kernel", module),
                           [index] * len(dynamic) + [a.type for a in captured], [], names,
                           body.loc)
    kernel.attributes["kernel"] = BoolAttr(True)
    module.body.insert(module.body.ops.index(body), kernel)
    b = Builder(kernel.body, body.loc)
    given = iter(kernel.body.args[:len(dynamic)])
    sizes = [next(given) if c is None else b.insert(c.clone({})).result for c in constant]
    total = b.constant(index, 1)
    for size in sizes[:-1]:
        total = b.create(hy.MulOp, [total, size]).result
    if sizes:
        last = sizes[-1] if width == 1 else b.constant(index, _vector_size(constant[-1]) // width)
        total = b.create(hy.MulOp, [total, last]).result

    def run_body(group: Value, carried: list[Value]) -> list[Value]:
        point = group if width == 1 else b.create(hy.MulOp, [group, b.constant(index, width)]).result
        ivs = _delinearize(b, point, list(sizes))
        mappings: list[dict[Value, Value]] = []
        for k in range(width):
            at = ivs if k == 0 else [*ivs[:-1], b.create(hy.AddOp, [ivs[-1], b.constant(
                index, k)]).result]
            mappings.append(dict(zip(body.body.args[:rank], at)))
            mappings[-1].update(zip(captured, kernel.body.args[len(dynamic):]))
        # op by op across the points (the points of a parallel loop are independent): the
        # loads of all come before the stores of any, so that they can merge
        for op in body.body.ops:
            if not isinstance(op, ReturnOp):
                for mapping in mappings:
                    b.insert(op.clone(mapping))
        return []

    grid_stride(b, total, [], run_body)
    b.create(ReturnOp, [], result_types=[])
    return kernel


def grid_stride(b: Builder, total: Value, carried: list[Value],
                body: Callable[[Value, list[Value]], list[Value]]) -> list[Value]:
    """In a kernel (along x): this thread's points ``g, g + stride, ...`` below ``total``
    (``g = block_id * block_dim + thread_id``, ``stride = block_dim * grid_dim``), each run
    by ``body(point, carried) -> carried``; the carried values at the end. A loop of rounds
    from 0 by 1 (every target runs it without a check of its step) around a bounds test."""
    thread, block, threads, blocks = (b.create(cls, attributes={"dim": IntAttr(0)}).result
                                      for cls in (gpu.ThreadIdOp, gpu.BlockIdOp,
                                                  gpu.BlockDimOp, gpu.GridDimOp))
    first = b.create(hy.AddOp, [b.create(hy.MulOp, [block, threads]).result, thread]).result
    stride = b.create(hy.MulOp, [threads, blocks]).result
    one = b.constant(index, 1)
    rounds = b.create(hy.DivOp, [b.create(hy.AddOp, [total, b.create(
        hy.SubOp, [stride, one]).result]).result, stride]).result
    loop = b.insert(ForOp.create(b.constant(index, 0), rounds, one, carried, loc=b.loc))
    with b.at_end(loop.body):
        point = b.create(hy.AddOp, [first, b.create(
            hy.MulOp, [loop.body.args[0], stride]).result]).result
        inside = b.insert(IfOp.create(b.create(hy.LtOp, [point, total]).result,
                                      [v.type for v in carried], b.loc))
        with b.at_end(inside.then_block):
            b.create(YieldOp, body(point, list(loop.body.args[1:])), result_types=[])
        with b.at_end(inside.else_block):
            b.create(YieldOp, list(loop.body.args[1:]), result_types=[])
        b.create(YieldOp, list(inside.results), result_types=[])
    return list(loop.results)


def _delinearize(b: Builder, point: Value, sizes: list[Value]) -> list[Value]:
    """The row-major indices of the linear ``point`` in a space of ``sizes``."""
    ivs: list[Value] = []
    rest = point
    for size in reversed(sizes[1:]):
        ivs.append(b.create(hy.FmodOp, [rest, size]).result)
        rest = b.create(hy.DivOp, [rest, size]).result
    return [rest, *reversed(ivs)]


def _vector_size(op: Operation | None) -> int:
    assert op is not None
    return int(op.attributes["value"].array)


def launch(dispatch: buf.DispatchOp, kernel: FuncOp, constant: list[Operation | None],
           block: int, max_blocks: int, width: int = 1) -> None:
    b = Builder(loc=dispatch.loc)
    b.set_insertion_point_before(dispatch)
    total = b.constant(index, 1)
    for size in dispatch.sizes:
        total = b.create(hy.MulOp, [total, size]).result
    if width > 1:  # the last size is a constant multiple of it
        total = b.create(hy.DivOp, [total, b.constant(index, width)]).result
    per_block = b.constant(index, block)
    wanted = b.create(hy.DivOp, [b.create(hy.AddOp, [total, b.constant(
        index, block - 1)]).result, per_block]).result
    capped = b.create(hy.MinimumOp, [wanted, b.constant(index, max_blocks)]).result
    one = b.constant(index, 1)
    grid = b.create(hy.MaximumOp, [capped, one]).result
    dynamic = [size for size, c in zip(dispatch.sizes, constant) if c is None]
    b.create(gpu.LaunchOp, [grid, one, one, per_block, one, one, *dynamic, *dispatch.captured],
             {"kernel": SymbolRefAttr(kernel.sym_name)}, result_types=[])
    dispatch.erase()
