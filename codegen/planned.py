"""Modules whose functions run a launch plan (codegen/plan.py) on a device: what
``hyc.compile`` returns for ``target="gpu-sim"`` (a simulated device, codegen/gpu_sim.py) and
``target="gpu"`` (a GPU, codegen/cuda.py). A call checks its arguments as compiled functions
do, allocates the results, and executes the plan."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from hyc.ir import FuncOp, HycError, ModuleOp, print_ir
from hyc.ir.interpreter import ArgumentTypeError, check_shape

from .compiled import CompiledFunction, CompiledModule
from .plan import Device, execute
from .target import Target


class PlannedFunction(CompiledFunction):
    """A function of a planned module: the compiled function's checks and results, its
    launch plan executed on ``device`` in place of a native call."""

    def __init__(self, func: FuncOp, plan: dict[str, Any], device: Device) -> None:
        super().__init__(func, None, [])
        self._plan, self._device = plan, device

    def _run(self, arguments: list[np.ndarray], words: list[int], results: list[np.ndarray]) -> None:
        execute(self._plan, self.name, [*arguments, *results], self._device)

    def __call__(self, *args: object, out: object = None, **named: object) -> object:
        adopt = getattr(self._device, "adopt", None)
        if adopt is not None and out is None and any(
                hasattr(a, "__cuda_array_interface__") for a in [*args, *named.values()]):
            return self._on_device(self._bind(args, named) if named else args, adopt)
        return super().__call__(*args, out=out, **named)

    def _on_device(self, args: tuple, adopt: Callable[[Any], Any]) -> object:
        """A call with device arrays among the arguments: they are used in place, host arrays
        copied in, and the results stay on the device (``DeviceArray``)."""
        if len(args) != len(self.plan):
            raise ArgumentTypeError(f"@{self.name} takes {len(self.plan)} argument(s), "
                                    f"got {len(args)}", code="E1001")
        bindings: dict[str, int] = {}
        values: list[Any] = []
        for i, value in enumerate(args):
            buffer = adopt(value)
            if buffer is None:
                values.append(self._argument(value, i, bindings))
                continue
            what = f"argument '{self.param_names[i]}' of @{self.name}"
            if buffer.dtype != self.plan[i][0] or self.plan[i][1]:
                raise ArgumentTypeError(f"{what} is a device array of {buffer.dtype}, expected "
                                        f"{self.type.inputs[i]}", code="E1002")
            check_shape(_Described(buffer.shape, buffer.dtype), self.type.inputs[i],
                        bindings, what)
            values.append(buffer)
        results = [self._device.alloc(dtype.name, shape)
                   for shape, (dtype, _) in zip(self._result_shapes(bindings), self.outputs)]
        try:
            execute(self._plan, self.name, [*values, *results], self._device)
        except BaseException:
            for buffer in results:
                self._device.free(buffer)
            raise
        arrays = [self._device.result(r) for r in results]  # type: ignore[attr-defined]
        return arrays[0] if len(arrays) == 1 else tuple(arrays) if arrays else None


class _Described:
    """What ``check_shape`` reads of an array: its shape, rank and dtype."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.shape, self.dtype, self.ndim = shape, dtype, len(shape)


class PlannedModule(CompiledModule):
    """Each function of ``tensor`` made callable by ``function`` (a ``PlannedFunction``, or
    another way to run the gpu level); a function that cannot be called says why when it is.
    ``device``, if any, is kept as long as the module."""

    def __init__(self, tensor: ModuleOp, gpu_level: ModuleOp, plan: dict[str, Any],
                 target: Target, function: Callable[[FuncOp], CompiledFunction],
                 device: Any = None) -> None:
        self.target = target
        self.ir = print_ir(tensor)
        self.loops = print_ir(gpu_level)
        self.llvm_ir = ""
        self.plan = plan
        self.device = device
        self.functions: dict[str, CompiledFunction] = {}
        self.uncallable: dict[str, HycError] = {}
        for f in tensor.functions:
            try:
                self.functions[f.sym_name] = function(f)
            except HycError as e:
                self.uncallable[f.sym_name] = e
        self._functions_as_attributes()

    def to_device(self, array: np.ndarray) -> Any:
        """``array`` copied to the GPU once, for calls that use it in place (weights, say):
        a ``DeviceArray``."""
        if not hasattr(self.device, "result"):
            raise HycError(f"a {self.target.name} module keeps no arrays of its own on a device "
                           "(target='gpu' does)", code="E1019")
        return self.device.result(self.device.upload(np.asarray(array)))

    def asm(self) -> str:
        raise HycError(f"a {self.target.name} module runs a launch plan: hyc --target=gpu "
                       "--emit=ptx shows its kernels' code (--target=gpu-sim --emit=asm, the "
                       "CPU's)", code="E1019")
