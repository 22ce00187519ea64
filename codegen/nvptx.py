"""The GPU target: PTX for NVIDIA GPUs through LLVM's NVPTX backend, on top of
codegen/lowering.py.

Only kernels (``func.func ... {kernel = true}``, made by ``gpu-grid-stride``) become PTX:
each is an ``.entry`` (LLVM's ``ptx_kernel`` calling convention) whose parameters are the
kernel's arguments flattened (a buffer: its data pointer in the global address space, 1, and
its sizes); the thread and block ids are the ``llvm.nvvm.read.ptx.sreg.*`` registers. Math
goes through libdevice (``__nv_expf``, ...): LLVM's NVPTX backend cannot select
``llvm.exp`` and friends (it would abort the process), so the GPU target's math table names
libdevice's functions, and libdevice's bitcode is linked into the module before LLVM's
passes. The host functions around the launches are not compiled here: running them is the
launch plan's job (docs/gpu.md).
"""

from __future__ import annotations

import functools
import glob
import math
import os
import shutil

import llvmlite.binding as llvm
from llvmlite import ir

from hyc.ir import ModuleOp, Operation
from hyc.ir.diagnostics import HycError
from hyc.ir.types import MemRefType

from .lowering import I64, Buffer, TargetFunction, TargetModule, flat_types
from .scalar_ops import llvm_type
from .target import MathFunction, Target

TRIPLE = "nvptx64-nvidia-cuda"
GLOBAL = 1  # the address space of device memory
SHARED = 3  # the address space of a block's shared memory
ARCHES = ("sm_70", "sm_75", "sm_80", "sm_86", "sm_89", "sm_90")
REGISTERS = {"gpu.thread_id": "tid", "gpu.block_id": "ctaid", "gpu.block_dim": "ntid",
             "gpu.grid_dim": "nctaid"}


def _libdevice(*names: str) -> dict[str, MathFunction]:
    return {name: MathFunction(f"__nv_{name}f", f"__nv_{name}") for name in names}


GPU_MATH = _libdevice("exp", "log", "sqrt", "floor", "tanh", "pow", "fabs")


def gpu_target(arch: str = "sm_80") -> Target:
    """NVIDIA GPUs of compute capability ``arch`` (``sm_80``: A100; ``sm_90``: H100, H200)."""
    from .target import GPU_LOOPS
    if arch not in ARCHES:
        raise HycError(f"--gpu-arch={arch}: hyc knows {', '.join(ARCHES)}", code="E0907")
    return Target("gpu", TRIPLE, arch, "+ptx80", GPU_MATH, threads=False, host=False,
                  vector_bits=128, flags=f"--gpu-arch={arch}", loop_pipeline=GPU_LOOPS,
                  contract=True)


@functools.cache
def libdevice_path() -> str:
    """libdevice's bitcode: under CUDA_HOME or CUDA_PATH, beside the ptxas on PATH, in
    /usr/local/cuda*, or in pip's nvidia-cuda-nvcc package."""
    roots = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH")]
    ptxas = shutil.which("ptxas")
    if ptxas:
        roots.append(os.path.dirname(os.path.dirname(os.path.realpath(ptxas))))
        with open(ptxas, "rb") as f:  # a wrapper script that execs the real one
            head = f.read(512)
        roots += [os.path.dirname(os.path.dirname(word)) for word in
                  head.decode(errors="replace").split() if word.endswith("/bin/ptxas")]
    roots += sorted(glob.glob("/usr/local/cuda*"), reverse=True)
    try:
        import nvidia.cuda_nvcc
        roots += list(nvidia.cuda_nvcc.__path__)
    except ImportError:
        pass
    for root in filter(None, roots):
        found = sorted(glob.glob(os.path.join(root, "nvvm", "libdevice", "libdevice*.bc")))
        if found:
            return found[-1]
    raise HycError("compiling math for the GPU needs libdevice (libdevice.10.bc, part of the "
                   "CUDA toolkit): set CUDA_HOME, or pip install nvidia-cuda-nvcc", code="E0906")


class GpuModule(TargetModule):
    """The kernels of a module at the gpu level, as NVPTX LLVM IR."""

    def __init__(self, module: ModuleOp, target: Target, prefix: str = "") -> None:
        super().__init__(target)
        self.module = module
        self.kernels = [f for f in module.functions if f.kernel]

    def run(self) -> ir.Module:
        for kernel in self.kernels:
            params = [t for a in kernel.body.args for t in flat_types(a.type, GLOBAL)]
            fn = ir.Function(self.llvm, ir.FunctionType(ir.VoidType(), params),
                             _ptx_name(kernel.sym_name))
            fn.calling_convention = "ptx_kernel"
            # a buffer parameter is a whole device allocation (the launch plan passes no
            # views), which the driver aligns to 256 bytes: neighbouring accesses may merge
            for arg in fn.args:
                if isinstance(arg.type, ir.PointerType):
                    arg.attributes.align = 16
            GpuFunction(self, kernel, fn).run()
        return self.llvm


def _ptx_name(name: str) -> str:
    """A PTX identifier for a kernel (its names allow letters, digits, _ and $)."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)


class GpuFunction(TargetFunction):
    parent: GpuModule

    def run(self) -> None:
        assert self.func is not None
        self.values.update(zip(self.func.body.args,
                               self.rebuild(self.func.body.args, list(self.fn.args))))
        self.block(self.func.body)

    def op_func_return(self, op: Operation) -> None:
        self.b.ret_void()

    def read_register(self, op: Operation) -> None:
        axis = "xyz"[op.dim]
        register = self.parent.runtime(f"llvm.nvvm.read.ptx.sreg.{REGISTERS[op.name]}.{axis}",
                                       ir.IntType(32), [])
        self.values[op.result] = self.b.zext(self.b.call(register, []), I64)

    op_gpu_thread_id = op_gpu_block_id = op_gpu_block_dim = op_gpu_grid_dim = read_register

    def op_gpu_barrier(self, op: Operation) -> None:
        """``bar.sync 0``: the whole block, every thread arriving (CUDA's __syncthreads)."""
        sync = self.parent.runtime("llvm.nvvm.barrier.cta.sync.aligned.all", ir.VoidType(),
                                   [ir.IntType(32)])
        self.b.call(sync, [ir.Constant(ir.IntType(32), 0)])

    def op_gpu_shuffle_down(self, op: Operation) -> None:
        """``shfl.sync.down.b32`` on the whole warp (mask ~0, lanes clamped at 31), on each
        32-bit half of a 64-bit value."""
        i32 = ir.IntType(32)
        shuffle = self.parent.runtime("llvm.nvvm.shfl.sync.down.i32", i32, [i32] * 4)
        value = self.get(op.operands[0])
        offset = self.b.trunc(self.get(op.operands[1]), i32)
        bits = value.type.width if isinstance(value.type, ir.IntType) else \
            (32 if value.type == ir.FloatType() else 64)
        as_int = value if isinstance(value.type, ir.IntType) else self.b.bitcast(value, ir.IntType(bits))

        def exchange(word: ir.Value) -> ir.Value:
            return self.b.call(shuffle, [ir.Constant(i32, -1), word, offset, ir.Constant(i32, 31)])

        if bits <= 32:
            word = as_int if bits == 32 else self.b.zext(as_int, i32)
            got = exchange(word)
            got = got if bits == 32 else self.b.trunc(got, ir.IntType(bits))
        else:
            low = exchange(self.b.trunc(as_int, i32))
            high = exchange(self.b.trunc(self.b.lshr(as_int, ir.Constant(I64, 32)), i32))
            got = self.b.or_(self.b.zext(low, I64), self.b.shl(self.b.zext(high, I64),
                                                                ir.Constant(I64, 32)))
        self.values[op.result] = got if isinstance(value.type, ir.IntType) else \
            self.b.bitcast(got, value.type)

    def op_buf_alloc(self, op: Operation) -> None:
        """A shared buffer (the only kind a kernel allocates, verified): a global of the
        module in the shared address space, one per block."""
        t = op.result.type
        if not isinstance(t, MemRefType) or t.space != "shared":
            raise HycError(f"a kernel allocates only shared memory on target '{self.parent.target.name}'"
                           f" ({t} is not)", op.loc, code="E0904")
        element = llvm_type(t.element)
        name = f"{self.fn.name}.shared{len(self.parent.llvm.globals)}"
        memory = ir.GlobalVariable(self.parent.llvm, ir.ArrayType(element, math.prod(t.shape)),
                                   name, addrspace=SHARED)
        memory.linkage = "internal"
        memory.initializer = ir.Constant(memory.value_type, ir.Undefined)
        memory.align = 16
        zero = ir.Constant(ir.IntType(32), 0)
        self.values[op.result] = Buffer(memory.gep([zero, zero]),
                                        [ir.Constant(I64, d) for d in t.shape], element)


def lower_kernels(module: ModuleOp, target: Target, prefix: str = "") -> tuple[ir.Module, list[str]]:
    """NVPTX LLVM IR for the kernels of ``module`` (no run-time check messages: kernels
    hold no checks; kernels keep their own names, which the launch plan refers to)."""
    return GpuModule(module, target).run(), []


def link_math(module: llvm.ModuleRef, machine: llvm.TargetMachine,
              context: llvm.ContextRef) -> None:
    """Link libdevice into ``module`` (parsed in ``context``) when it calls libdevice; keep
    only the kernels visible, and drop what they do not use (at every -O level: libdevice has
    500 functions)."""
    if not any(f.is_declaration and f.name.startswith("__nv_") for f in module.functions):
        return
    kernels = {f.name for f in module.functions if not f.is_declaration}
    with open(libdevice_path(), "rb") as f:
        module.link_in(llvm.parse_bitcode(f.read(), context))
    for f in module.functions:
        if not f.is_declaration and f.name not in kernels:
            f.linkage = "internal"
    passes = llvm.create_new_module_pass_manager()
    passes.add_global_dead_code_eliminate_pass()
    passes.run(module, llvm.create_pass_builder(machine, llvm.create_pipeline_tuning_options()))


__all__ = ["ARCHES", "GPU_MATH", "GpuModule", "gpu_target", "libdevice_path", "link_math",
           "lower_kernels"]
