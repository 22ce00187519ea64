"""gpu-sim: the GPU path run on this machine's CPU, through the launch plan.

A module compiled for ``target="gpu-sim"`` (``hyc.compile``, ``hyc.jit``, ``hybridize``,
``hyc --run --target=gpu-sim``) is the GPU compilation itself: its host functions become a
launch plan (codegen/plan.py) and its kernels run on a ``SimulatedDevice``, each compiled for
this CPU inside a function that runs one launch (blocks and threads as loops: the CPU
target's lowering of ``gpu.launch``; a kernel with barriers runs its block's threads in loops
between them, pass ``gpu-serialize-threads``). A call checks its arguments as compiled functions do,
allocates the results, and executes the plan: the same executor a CUDA device will use.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

from hyc.ir import FuncOp, ModuleOp, parse_module, print_ir
from hyc.ir.dialects import gpu
from hyc.record import field, record

from .compiled import CompiledFunction
from .plan import PlanError, ptx_name
from .planned import PlannedFunction, PlannedModule
from .target import Target


@record
class SimulatedDevice:
    """A device whose memory is host memory and whose kernels run compiled for this CPU:
    ``launchers`` maps each kernel to a compiled function that runs a whole launch."""
    launchers: dict[str, Any]
    live: dict[int, np.ndarray] = field(default_factory=dict)

    def alloc(self, element: str, shape: tuple[int, ...]) -> np.ndarray:
        array = np.zeros(shape, np.dtype(element))
        self.live[id(array)] = array
        return array

    def free(self, buffer: np.ndarray) -> None:
        self.live.pop(id(buffer), None)

    def copy(self, source: np.ndarray, target: np.ndarray) -> None:
        target.reshape(-1)[...] = source.reshape(-1)

    def upload(self, array: np.ndarray) -> np.ndarray:
        return np.array(array, copy=True, order="C")

    def download(self, buffer: np.ndarray, array: np.ndarray) -> None:
        array[...] = buffer

    def launch(self, kernel: str, grid: list[int], block: list[int], args: list[Any]) -> None:
        self.launchers[kernel](*grid, *block, *args)

    def read(self, buffer: np.ndarray, index: tuple[int, ...]) -> np.ndarray:
        if any(not 0 <= i < n for i, n in zip(index, buffer.shape)):
            raise PlanError(f"index {index} out of bounds for a buffer of shape {buffer.shape}", code="E1007")
        return np.asarray(buffer[index])

    def write(self, buffer: np.ndarray, index: tuple[int, ...], value: np.ndarray) -> None:
        self.read(buffer, index)  # the same bounds
        buffer[index] = value

    def to_host(self, buffer: np.ndarray) -> np.ndarray:
        return buffer.copy()


class CheckedFunction(CompiledFunction):
    """A function of a gpu-sim module run with the race and bounds checker
    (``HYC_GPU_SIM_CHECK=1``, ``hyc --gpu-sim-check``): its gpu level on the checking
    interpreter, launch by launch, thread by thread."""

    def __init__(self, func: FuncOp, gpu_level: ModuleOp) -> None:
        super().__init__(func, None, [])
        self._module = gpu_level

    def _run(self, arguments: list[np.ndarray], words: list[int], results: list[np.ndarray]) -> None:
        from hyc.ir.gpu_check import CheckingInterpreter

        from .jit import print_stream
        printed = io.StringIO()
        try:
            CheckingInterpreter(self._module, printed).call(self.name, *arguments, *results)
        finally:
            print_stream().write(printed.getvalue())


def gpu_sim_module(tensor: ModuleOp, gpu_level: ModuleOp, plan: dict[str, Any],
                   target: Target) -> PlannedModule:
    """What ``hyc.compile(..., target="gpu-sim")`` returns: the plan on a simulated device,
    or, with ``HYC_GPU_SIM_CHECK=1``, each function's gpu level on the checking interpreter."""
    if os.environ.get("HYC_GPU_SIM_CHECK", "") not in ("", "0"):
        return PlannedModule(tensor, gpu_level, plan, target,
                             lambda f: CheckedFunction(f, gpu_level))
    device = simulated_device(gpu_level)
    return PlannedModule(tensor, gpu_level, plan, target,
                         lambda f: PlannedFunction(f, plan, device))


def simulated_device(module: ModuleOp) -> SimulatedDevice:
    """A simulated device for the kernels of ``module`` (at the gpu level): each kernel is
    compiled for this CPU, wrapped in a function that runs one launch of it."""
    from hyc.ir import Builder, ReturnOp
    from hyc.ir.attributes import SymbolRefAttr
    from hyc.ir.types import index

    from .driver import Compilation
    from .target import host_cpu
    kernels_only = parse_module(print_ir(module))
    assert isinstance(kernels_only, ModuleOp)
    for func in list(kernels_only.functions):
        if not func.kernel:
            func.erase()
    names = {}
    for kernel in list(kernels_only.functions):
        name = f"launch.{kernel.sym_name}"
        names[ptx_name(kernel.sym_name)] = name
        launcher = FuncOp.create(name, [index] * 6 + list(kernel.type.inputs), [],
                                 ["gx", "gy", "gz", "bx", "by", "bz"] +
                                 [a.name_hint for a in kernel.body.args], kernel.loc)
        b = Builder(launcher.body)
        b.create(gpu.LaunchOp, list(launcher.body.args),
                 {"kernel": SymbolRefAttr(kernel.sym_name)}, result_types=[])
        b.create(ReturnOp, [], result_types=[])
        kernels_only.body.append(launcher)
    # the host CPU's target: the kernels and their launches compiled natively (the CPU
    # target lowers gpu.launch as loops over blocks and threads; kernels whose threads
    # synchronize loop over their threads between barriers first: gpu-serialize-threads)
    compiled = Compilation.at_target_level(kernels_only, host_cpu()).jit()
    return SimulatedDevice({kernel: compiled[name] for kernel, name in names.items()})
