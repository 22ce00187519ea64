"""The ``gpu`` dialect: kernels, their launches, and the ids a kernel's threads read.

A kernel is a ``func.func`` marked ``{kernel = true}``: it returns nothing, and every thread
of every block of a launch runs it, telling itself apart by ``gpu.thread_id``,
``gpu.block_id``, ``gpu.block_dim`` and ``gpu.grid_dim`` (each along ``dim`` 0, 1 or 2, as
CUDA's x, y, z). ``gpu.launch`` runs a kernel on a grid of blocks of threads from host code,
with the kernel's arguments; ``gpu.barrier`` synchronizes a block's threads, which share the
buffers a kernel allocates in the ``shared`` memory space. The mappings from the loop level
(passes/gpu.py) make kernels; the NVPTX backend compiles them to PTX; the interpreter runs
launches (blocks with barriers in phases, ir/gpu_threads.py).
"""

from __future__ import annotations

from ..core import Operation
from ..diagnostics import VerifyError
from ..opdef import (
    ANY_TYPE,
    INDEX,
    SCALAR,
    HasSideEffects,
    OperandDef,
    ResultDef,
    int_attr,
    symbol_attr,
)
from ..types import Type, index
from .func import FuncOp, lookup_function, require_kernel

DIMS = ("x", "y", "z")


def is_kernel(func: Operation) -> bool:
    return isinstance(func, FuncOp) and func.kernel


def synchronizing(op: Operation) -> bool:
    """A barrier, or an op every thread of the block runs together as it runs one."""
    return isinstance(op, (BarrierOp, ShuffleDownOp))


class _IdOp(Operation):
    """Base of the id ops: an index along ``dim``, read inside a kernel."""
    result_defs = (ResultDef("value", INDEX),)
    attr_defs = {"dim": int_attr()}
    dim: int

    @classmethod
    def infer_result_types(cls, operand_types: list[Type], attributes: dict) -> list[Type]:
        return [index]

    def verify_(self) -> None:
        if self.dim not in (0, 1, 2):
            raise VerifyError(f"dim must be 0, 1 or 2 (x, y, z), not {self.dim}", code="E0711")
        require_kernel(self, f"'{self.name}' is read")


class ThreadIdOp(_IdOp):
    """``%t = gpu.thread_id {dim = 0}``: this thread's index in its block."""
    name = "gpu.thread_id"


class BlockIdOp(_IdOp):
    """``%b = gpu.block_id {dim = 0}``: this thread's block's index in the grid."""
    name = "gpu.block_id"


class BlockDimOp(_IdOp):
    """``%n = gpu.block_dim {dim = 0}``: the threads of a block along ``dim``."""
    name = "gpu.block_dim"


class GridDimOp(_IdOp):
    """``%n = gpu.grid_dim {dim = 0}``: the blocks of the grid along ``dim``."""
    name = "gpu.grid_dim"


class BarrierOp(Operation):
    """``gpu.barrier``: each thread of the block waits here until all have arrived, and sees
    every write to shared and global memory the block's threads made before it (CUDA's
    ``__syncthreads()``). Every thread of a block must reach the same barriers in the same
    order; a thread that returns while others wait is an error in the interpreter."""
    name = "gpu.barrier"
    traits = frozenset({HasSideEffects})

    def verify_(self) -> None:
        require_kernel(self, "'gpu.barrier' synchronizes a block's threads")


WARP = 32  # threads of a warp, as on every NVIDIA GPU


class ShuffleDownOp(Operation):
    """``%r = gpu.shuffle_down %v, %offset``: each thread gets ``%v`` of the thread ``offset``
    lanes above it in its warp of 32 (its own ``%v`` where that lane is past the warp or the
    block): PTX's ``shfl.sync.down``. Every thread of the block runs it together, as it runs
    a barrier; the offset is the same for all. Block reductions fold with it within warps."""
    name = "gpu.shuffle_down"
    operand_defs = (OperandDef("value", SCALAR), OperandDef("offset", INDEX))
    result_defs = (ResultDef("shuffled", SCALAR),)
    traits = frozenset({HasSideEffects})  # it exchanges values: never moved, merged or dropped

    @classmethod
    def infer_result_types(cls, operand_types: list[Type], attributes: dict) -> list[Type]:
        return [operand_types[0]]

    def verify_(self) -> None:
        require_kernel(self, "'gpu.shuffle_down' exchanges values between a warp's threads")
        if self.result.type != self.operands[0].type:
            raise VerifyError(f"the result is {self.result.type}, the shuffled value "
                              f"{self.operands[0].type}", code="E0711")


class LaunchOp(Operation):
    """``gpu.launch %gx, %gy, %gz, %bx, %by, %bz, %a, %b {kernel = @k}`` runs kernel ``@k`` on
    a grid of ``gx * gy * gz`` blocks of ``bx * by * bz`` threads, each with the arguments
    after the six sizes; it ends when every thread has."""
    name = "gpu.launch"
    operand_defs = (OperandDef("args", ANY_TYPE, variadic=True),)
    attr_defs = {"kernel": symbol_attr()}
    traits = frozenset({HasSideEffects})
    kernel: str

    @property
    def grid(self) -> list:
        return list(self.operands[:3])

    @property
    def block(self) -> list:
        return list(self.operands[3:6])

    @property
    def kernel_args(self) -> list:
        return list(self.operands[6:])

    def callee(self) -> FuncOp | None:
        return lookup_function(self, self.kernel)

    def verify_(self) -> None:
        if len(self.operands) < 6 or any(v.type != index for v in self.operands[:6]):
            raise VerifyError("a launch starts with six index sizes: the grid's x, y, z, then "
                              "the block's x, y, z", code="E0711")
        kernel = self.callee()
        if kernel is None:
            raise VerifyError(f"launch of unknown kernel '@{self.kernel}'", code="E0709")
        if not kernel.kernel:
            raise VerifyError(f"@{self.kernel} is not a kernel (func.func ... attributes "
                              "{kernel = true})", code="E0712")
        got = tuple(v.type for v in self.kernel_args)
        if kernel.type.inputs != got or kernel.type.results:
            raise VerifyError(f"@{self.kernel} has type {kernel.type}, but the launch passes "
                              f"({', '.join(map(str, got))}) and expects no results", code="E0710")
