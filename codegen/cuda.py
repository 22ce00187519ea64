"""The CUDA runtime: a device behind the launch plan's executor (codegen/plan.py), through
NVIDIA's driver API bindings (``cuda-bindings``, the optional ``gpu`` extra).

``CudaDevice`` loads a module's PTX (``cuModuleLoadData``: the driver compiles it for the
GPU at hand), keeps the plan's buffers in device memory (``cuMemAlloc``), copies arguments in
and results out, and launches each kernel on one stream with its parameters flattened as
the PTX declares them (a buffer: its device pointer, then its sizes as 64-bit integers; a
scalar: its value). Every driver call is checked: a failure is a ``CudaError`` naming the
call and, for a launch, the kernel. Buffers and the loaded module belong to the device and
are freed by ``close()`` (or when it is collected).

hyc imports and works without the bindings: only running ``--target=gpu`` code needs them,
and where they, the driver or a GPU is missing, ``gpu_context()`` says which and suggests
``--target=gpu-sim``.
"""

from __future__ import annotations

import ctypes
import functools
import math
import weakref
from typing import Any

import numpy as np

from hyc.ir import HycError, ModuleOp
from hyc.record import record

from .plan import PlanError
from .planned import PlannedFunction, PlannedModule
from .target import Target

SUGGESTION = "--target=gpu-sim runs the same kernels and plan on this machine's CPU"
SCALAR_TYPES = {"float32": ctypes.c_float, "float64": ctypes.c_double, "int32": ctypes.c_int32,
                "int64": ctypes.c_int64, "bool": ctypes.c_bool}


class CudaError(HycError, RuntimeError):
    """A call of the CUDA driver failed."""

    def __init__(self, message: str, *, code: str) -> None:
        HycError.__init__(self, message, code=code)


def driver_api() -> Any:
    """NVIDIA's driver API bindings (``cuda.bindings.driver``)."""
    try:
        from cuda.bindings import driver
    except ImportError:
        raise HycError("running --target=gpu code needs NVIDIA's driver bindings: pip install "
                       f"'hyc[gpu]' (cuda-bindings); {SUGGESTION}", code="E1016") from None
    return driver


def check(result: Any, what: str) -> Any:
    """The values a driver call returned after its status; a ``CudaError`` unless it
    succeeded."""
    status, *values = result if isinstance(result, tuple) else (result,)
    if int(status) != 0:
        cu = driver_api()
        name = description = ""
        try:
            name = cu.cuGetErrorName(status)[1].decode()
            description = cu.cuGetErrorString(status)[1].decode()
        except Exception:  # the failure itself is what matters; its name is a courtesy
            name = f"CUresult {int(status)}"
        raise CudaError(f"{what} failed: {name}" + (f" ({description})" if description else ""), code="E1017")
    return values[0] if len(values) == 1 else values


@record
class GpuContext:
    cu: Any
    device: Any
    context: Any
    name: str


@functools.cache
def gpu_context() -> GpuContext:
    """The first GPU's primary context, made current; a clear error where there is none."""
    cu = driver_api()
    try:
        check(cu.cuInit(0), "cuInit")
    except CudaError as e:
        raise HycError(f"no usable CUDA driver or GPU: {e.diagnostics[0].message}; "
                       f"{SUGGESTION}", code="E1016") from None
    except RuntimeError as e:  # the bindings found no driver library
        raise HycError(f"no NVIDIA driver on this machine ({e}); {SUGGESTION}", code="E1016") from None
    if check(cu.cuDeviceGetCount(), "cuDeviceGetCount") < 1:
        raise HycError(f"the CUDA driver sees no GPU; {SUGGESTION}", code="E1016")
    device = check(cu.cuDeviceGet(0), "cuDeviceGet")
    context = check(cu.cuDevicePrimaryCtxRetain(device), "cuDevicePrimaryCtxRetain")
    check(cu.cuCtxSetCurrent(context), "cuCtxSetCurrent")
    name = check(cu.cuDeviceGetName(256, device), "cuDeviceGetName")
    return GpuContext(cu, device, context, bytes(name).split(b"\0")[0].decode(errors="replace"))


@record(eq=False)
class DeviceBuffer:
    """A buffer in device memory: its address, shape and element type."""
    address: int
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        """What CuPy and PyTorch read to use the buffer in place."""
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (self.address, False),
                "version": 3}


class DeviceArray:
    """A result left on the GPU: CuPy and PyTorch use it in place (``cupy.asarray(a)``,
    ``torch.as_tensor(a, device="cuda")``, through ``__cuda_array_interface__``); hyc's GPU
    functions take it as an argument without a copy; ``numpy()`` (or ``np.asarray``) copies
    it to the host. Its memory is freed when it is collected."""

    def __init__(self, device: CudaDevice, buffer: DeviceBuffer) -> None:
        self.device, self.buffer = device, buffer
        self.shape, self.dtype = buffer.shape, buffer.dtype
        device.live.pop(buffer.address, None)  # this array's from now on
        weakref.finalize(self, device.release, buffer.address)

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        # the stream that writes it: a consumer waits for it there before reading
        return {**self.buffer.__cuda_array_interface__, "stream": int(self.device.stream)}

    def numpy(self) -> np.ndarray:
        return self.device.to_host(self.buffer)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def __repr__(self) -> str:
        return f"<DeviceArray {self.dtype} {self.shape} on {self.device.gpu.name}>"


class CudaDevice:
    """The plan's device on a GPU: ``kernels`` are the plan's kernel entries (their PTX
    names and parameters), ``ptx`` the module's PTX."""

    def __init__(self, ptx: str, kernels: list[dict[str, Any]]) -> None:
        self.gpu = gpu_context()
        self.cu = self.gpu.cu
        self.live: dict[int, DeviceBuffer] = {}
        self.module = check(self.cu.cuModuleLoadData(ptx.encode() + b"\0"), "loading the PTX "
                            "(cuModuleLoadData)")
        self.kernels = {k["name"]: (check(self.cu.cuModuleGetFunction(self.module, k["name"].encode()),
                                          f"cuModuleGetFunction({k['name']})"), k["params"])
                        for k in kernels}
        self.stream = check(self.cu.cuStreamCreate(0), "cuStreamCreate")

    # -- memory -------------------------------------------------------------------------------
    def alloc(self, element: str, shape: tuple[int, ...]) -> DeviceBuffer:
        dtype = np.dtype(element)
        size = max(math.prod(shape) * dtype.itemsize, 1)  # never a zero-byte allocation
        address = int(check(self.cu.cuMemAlloc(size), f"cuMemAlloc({size} bytes)"))
        buffer = DeviceBuffer(address, tuple(shape), dtype)
        self.live[address] = buffer
        return buffer

    def free(self, buffer: DeviceBuffer) -> None:
        if self.live.pop(buffer.address, None) is not None:
            check(self.cu.cuMemFree(buffer.address), "cuMemFree")

    def copy(self, source: DeviceBuffer, target: DeviceBuffer) -> None:
        count = min(source.nbytes, target.nbytes)
        if count:
            check(self.cu.cuMemcpyDtoDAsync(target.address, source.address, count, self.stream),
                  "cuMemcpyDtoDAsync")

    def upload(self, array: np.ndarray) -> DeviceBuffer:
        array = np.asarray(array, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
        buffer = self.alloc(array.dtype.name, array.shape)
        if buffer.nbytes:
            self.synchronize()
            check(self.cu.cuMemcpyHtoD(buffer.address, array.ctypes.data, buffer.nbytes),
                  "cuMemcpyHtoD")
        return buffer

    def download(self, buffer: DeviceBuffer, array: np.ndarray) -> None:
        assert array.flags.c_contiguous and array.nbytes == buffer.nbytes
        self.synchronize()
        if buffer.nbytes:
            check(self.cu.cuMemcpyDtoH(array.ctypes.data, buffer.address, buffer.nbytes),
                  "cuMemcpyDtoH")

    def to_host(self, buffer: DeviceBuffer) -> np.ndarray:
        array = np.empty(buffer.shape, buffer.dtype)
        self.download(buffer, array)
        return array

    def read(self, buffer: DeviceBuffer, index: tuple[int, ...]) -> np.ndarray:
        element = np.empty((), buffer.dtype)
        self.synchronize()
        check(self.cu.cuMemcpyDtoH(element.ctypes.data, self._element(buffer, index),
                                   buffer.dtype.itemsize), "cuMemcpyDtoH")
        return element

    def write(self, buffer: DeviceBuffer, index: tuple[int, ...], value: np.ndarray) -> None:
        element = np.asarray(value, buffer.dtype)
        address = self._element(buffer, index)
        self.synchronize()
        check(self.cu.cuMemcpyHtoD(address, element.ctypes.data, buffer.dtype.itemsize),
              "cuMemcpyHtoD")

    @staticmethod
    def _element(buffer: DeviceBuffer, index: tuple[int, ...]) -> int:
        if len(index) != len(buffer.shape) or \
                any(not 0 <= i < n for i, n in zip(index, buffer.shape)):
            raise PlanError(f"index {index} out of bounds for a buffer of shape {buffer.shape}", code="E1007")
        flat = int(np.ravel_multi_index(index, buffer.shape)) if index else 0
        return buffer.address + flat * buffer.dtype.itemsize

    def adopt(self, value: Any) -> DeviceBuffer | None:
        """A device array (a ``DeviceArray``, a CuPy array, a CUDA tensor of PyTorch: anything
        with ``__cuda_array_interface__``) as a buffer of this device, without a copy; None
        for anything else."""
        if isinstance(value, DeviceArray):
            return value.buffer
        interface = getattr(value, "__cuda_array_interface__", None)
        if interface is None:
            return None
        shape = tuple(int(d) for d in interface["shape"])
        dtype = np.dtype(interface["typestr"])
        strides = interface.get("strides")
        if strides is not None and tuple(strides) != _c_strides(shape, dtype.itemsize):
            raise PlanError(f"a device array of shape {shape} with strides {tuple(strides)}: "
                            "hyc takes C-contiguous device arrays", code="E1004")
        self.synchronize_all()  # what its producer's stream wrote, written
        return DeviceBuffer(int(interface["data"][0]), shape, dtype)

    def result(self, buffer: DeviceBuffer) -> DeviceArray:
        return DeviceArray(self, buffer)

    def release(self, address: int) -> None:
        """Free the memory of a collected ``DeviceArray``."""
        if self.cu is not None:
            self.cu.cuMemFree(address)

    def synchronize_all(self) -> None:
        check(self.cu.cuCtxSynchronize(), "cuCtxSynchronize")

    # -- kernels --------------------------------------------------------------------------------
    def launch(self, kernel: str, grid: list[int], block: list[int], args: list[Any]) -> None:
        function, params = self.kernels[kernel]
        values = kernel_parameters(params, args, kernel)
        pointers = (ctypes.c_void_p * len(values))(*[ctypes.addressof(v) for v in values])
        check(self.cu.cuLaunchKernel(function, *grid, *block, 0, self.stream,
                                     ctypes.addressof(pointers), 0),
              f"launching kernel {kernel} on a grid {tuple(grid)} of blocks {tuple(block)}")

    def synchronize(self) -> None:
        check(self.cu.cuStreamSynchronize(self.stream), "running the kernels (cuStreamSynchronize)")

    def close(self) -> None:
        """Free every buffer and unload the module (the device is unusable after)."""
        if getattr(self, "cu", None) is None:
            return
        cu, self.cu = self.cu, None
        for buffer in list(self.live.values()):
            cu.cuMemFree(buffer.address)
        self.live.clear()
        if getattr(self, "stream", None) is not None:
            cu.cuStreamDestroy(self.stream)
        if getattr(self, "module", None) is not None:
            cu.cuModuleUnload(self.module)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # at interpreter exit the driver may be gone already
            pass


def _c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    strides, step = [], itemsize
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


def kernel_parameters(params: list[dict[str, Any]], args: list[Any], kernel: str) -> list[Any]:
    """The kernel's parameters as ctypes values, in the PTX's order: a buffer is its address
    and its sizes, a scalar its value in its own type."""
    if len(params) != len(args):
        raise PlanError(f"kernel {kernel} takes {len(params)} argument(s), the plan passes "
                        f"{len(args)}", code="E1018")
    values: list[Any] = []
    for param, arg in zip(params, args):
        if param["kind"] == "buffer":
            if not isinstance(arg, DeviceBuffer) or arg.dtype != np.dtype(param["element"]) or \
                    len(arg.shape) != len(param["shape"]):
                raise PlanError(f"kernel {kernel} takes a {param['element']} buffer of rank "
                                f"{len(param['shape'])}, not {arg!r}", code="E1018")
            values += [ctypes.c_void_p(arg.address), *(ctypes.c_int64(d) for d in arg.shape)]
        else:
            values.append(SCALAR_TYPES[param["dtype"]](np.asarray(arg).item()))
    return values


def cuda_module(tensor: ModuleOp, gpu_level: ModuleOp, plan: dict[str, Any], target: Target,
                ptx: str) -> PlannedModule:
    """What ``hyc.compile(..., target="gpu")`` returns: the plan run on the GPU."""
    device = CudaDevice(ptx, plan["kernels"])
    return PlannedModule(tensor, gpu_level, plan, target,
                         lambda f: PlannedFunction(f, plan, device), device)
