"""The names of hyc's runtime functions that generated code calls (codegen/threads.py builds
the pool, codegen/matmul.py the kernels, codegen/pyentry_ir.py the entries' checks): kept
apart so that loading cached code, which only links against them, imports no builder."""

from __future__ import annotations

import hashlib

from .target import Target

POOL_RUN, POOL_THREADS, POOL_FORKED = "hyc_pool_run", "hyc_pool_threads", "hyc_pool_forked"
SCRATCH_TAKE, SCRATCH_GIVE = "hyc_scratch_take", "hyc_scratch_give"  # codegen/scratch.py
CHECK_ARRAYS = "hyc_check_arrays"  # the Python entries' checks (codegen/pyentry_ir.py)
KERNEL_ELEMENTS = ("f32", "f64")  # the element types the matmul kernels exist for


def kernel_symbol(target: Target, element: str) -> str:
    """The runtime's matmul kernel for ``element`` on ``target``: the target is part of the
    name, as the kernel's tiles and blocks depend on it."""
    tag = hashlib.sha256(target.identity().encode()).hexdigest()[:12]
    return f"hyc_matmul_{element}_{tag}"


def pack_symbol(target: Target, element: str) -> str:
    """The runtime's packing of a matmul's right operand for ``kernel_symbol(target,
    element)``, shared by the threads of a product split by rows. Its name begins with the
    kernel's, so code that calls it is linked with the kernel's object."""
    return kernel_symbol(target, element) + "_pack"


def kernel_object_symbols(target: Target, element: str) -> list[str]:
    """What the runtime's kernel object for ``element`` defines for generated code."""
    return [kernel_symbol(target, element), pack_symbol(target, element),
            row_symbol(target, element)]


def row_symbol(target: Target, element: str) -> str:
    """The runtime's product of a single row split along the inner dimension
    (codegen/matvec.py), beside the kernel it calls (its name begins with the kernel's)."""
    return kernel_symbol(target, element) + "_row"
