"""A stand-in for NVIDIA's driver bindings (``cuda.bindings.driver``), for testing the CUDA
runtime (codegen/cuda.py) on machines without a GPU.

Its device memory is host memory (numpy arrays; a device pointer is the array's address), its
copies are memmoves, and ``cuLaunchKernel`` reads the kernel's parameters from the pointer
array as a GPU would — a buffer's address and sizes, scalars by type, as the plan's kernel
entry declares them — and runs the kernel compiled for this CPU (gpu-sim's launchers) on
those arrays. What it cannot stand in for is the PTX itself: ``cuModuleLoadData`` only
checks that it is PTX declaring each kernel. Calls return ``(status, values...)`` as the
bindings do; ``fail`` makes a named call return an error status.
"""

from __future__ import annotations

import ctypes
import math

import numpy as np

from hyc.codegen.cuda import SCALAR_TYPES

SUCCESS, INVALID_VALUE, NO_DEVICE, LAUNCH_FAILED = 0, 1, 100, 719
NAMES = {INVALID_VALUE: "CUDA_ERROR_INVALID_VALUE", NO_DEVICE: "CUDA_ERROR_NO_DEVICE",
         LAUNCH_FAILED: "CUDA_ERROR_LAUNCH_FAILED"}


class FakeDriver:
    def __init__(self, kernels: list[dict], launchers: dict, devices: int = 1) -> None:
        self.kernels = {k["name"]: k["params"] for k in kernels}
        self.launchers = launchers  # kernel name -> f(gx, gy, gz, bx, by, bz, *args)
        self.devices = devices
        self.memory: dict[int, np.ndarray] = {}
        self.fail: dict[str, int] = {}
        self.calls: list[str] = []
        self.launches = 0

    def __getattr__(self, name: str):  # every call: recorded, and failed when asked
        if name.startswith("_"):
            raise AttributeError(name)
        method = getattr(self, "_" + name)  # a test may replace one on the instance

        def call(*args):
            self.calls.append(name)
            if name in self.fail:
                return (self.fail[name],) if name not in VALUED else (self.fail[name], None)
            return method(*args)
        return call

    # -- context ------------------------------------------------------------------------------
    def _cuInit(self, flags):
        return (SUCCESS,)

    def _cuDeviceGetCount(self):
        return SUCCESS, self.devices

    def _cuDeviceGet(self, ordinal):
        return (SUCCESS, ordinal) if ordinal < self.devices else (INVALID_VALUE, None)

    def _cuDevicePrimaryCtxRetain(self, device):
        return SUCCESS, "context"

    def _cuCtxSetCurrent(self, context):
        return (SUCCESS,)

    def _cuCtxSynchronize(self):
        return (SUCCESS,)

    def _cuDeviceGetName(self, length, device):
        return SUCCESS, b"Fake GPU\0\0"

    def _cuGetErrorName(self, status):
        return SUCCESS, NAMES.get(int(status), "CUDA_ERROR_UNKNOWN").encode()

    def _cuGetErrorString(self, status):
        return SUCCESS, b"as the fake driver was told"

    # -- modules and streams --------------------------------------------------------------------
    def _cuModuleLoadData(self, image):
        text = bytes(image).decode()
        assert text.endswith("\0") and ".version" in text
        if any(f".entry {name}(" not in text for name in self.kernels):
            return INVALID_VALUE, None
        return SUCCESS, "module"

    def _cuModuleGetFunction(self, module, name):
        name = name.decode()
        return (SUCCESS, name) if name in self.kernels else (INVALID_VALUE, None)

    def _cuModuleUnload(self, module):
        return (SUCCESS,)

    def _cuStreamCreate(self, flags):
        return SUCCESS, 0x5EA  # a stream's handle, as an address

    def _cuStreamSynchronize(self, stream):
        return (SUCCESS,)

    def _cuStreamDestroy(self, stream):
        return (SUCCESS,)

    # -- memory -------------------------------------------------------------------------------
    def _cuMemAlloc(self, size):
        block = np.zeros(size, np.uint8)
        self.memory[block.ctypes.data] = block
        return SUCCESS, block.ctypes.data

    def _cuMemFree(self, address):
        return (SUCCESS,) if self.memory.pop(int(address), None) is not None else (INVALID_VALUE,)

    def _inside(self, address: int, count: int) -> bool:
        return any(base <= address and address + count <= base + block.nbytes
                   for base, block in self.memory.items())

    def _copy(self, target: int, source: int, count: int, device_side: tuple[int, ...]):
        if not all(self._inside(a, count) for a in device_side):
            return (INVALID_VALUE,)
        ctypes.memmove(target, source, count)
        return (SUCCESS,)

    def _cuMemcpyHtoD(self, target, source, count):
        return self._copy(int(target), int(source), count, (int(target),))

    def _cuMemcpyDtoH(self, target, source, count):
        return self._copy(int(target), int(source), count, (int(source),))

    def _cuMemcpyDtoDAsync(self, target, source, count, stream):
        return self._copy(int(target), int(source), count, (int(target), int(source)))

    # -- kernels --------------------------------------------------------------------------------
    def _cuLaunchKernel(self, function, gx, gy, gz, bx, by, bz, shared, stream, params, extra):
        pointers = iter(ctypes.cast(params, ctypes.POINTER(ctypes.c_void_p))[:self._count(function)])
        args = []
        for param in self.kernels[function]:
            if param["kind"] == "buffer":
                address = ctypes.c_void_p.from_address(next(pointers)).value
                shape = [ctypes.c_int64.from_address(next(pointers)).value for _ in param["shape"]]
                dtype = np.dtype(param["element"])
                if not self._inside(address, math.prod(shape) * dtype.itemsize):
                    return (LAUNCH_FAILED,)
                raw = (ctypes.c_uint8 * (math.prod(shape) * dtype.itemsize)).from_address(address)
                args.append(np.frombuffer(raw, dtype).reshape(shape))
            else:
                value = SCALAR_TYPES[param["dtype"]].from_address(next(pointers)).value
                args.append(np.asarray(value, param["dtype"]))
        self.launchers[function](gx, gy, gz, bx, by, bz, *args)
        self.launches += 1
        return (SUCCESS,)

    def _count(self, function: str) -> int:
        return sum(1 + len(p["shape"]) if p["kind"] == "buffer" else 1
                   for p in self.kernels[function])


# the calls that return a value after their status
VALUED = {"cuDeviceGetCount", "cuDeviceGet", "cuDevicePrimaryCtxRetain", "cuDeviceGetName",
          "cuModuleLoadData", "cuModuleGetFunction", "cuStreamCreate", "cuMemAlloc",
          "cuGetErrorName", "cuGetErrorString"}
