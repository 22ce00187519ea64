"""Ahead-of-time output: LLVM IR, assembly, object files, and shared libraries with a C header
that programs use without Python.

A library's functions keep the packed calling convention (``hyc_packed_<name>``), and the
header adds a typed ``static inline`` wrapper per function, ``hyc_<name>``, that takes data
pointers and the sizes of dynamic dimensions. docs/backend.md describes the ABI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from hyc.ir import FuncOp, HycError, ModuleOp
from hyc.ir.types import DYNAMIC, Type, is_scalar, numpy_dtype, shape_of

from . import jit
from .driver import Compilation
from .symbols import KERNEL_ELEMENTS, kernel_symbol
from .target import Target

PREFIX = "hyc_packed_"
RUNTIME = Path(__file__).parent / "runtime" / "hyc_runtime.c"
C_TYPES = {"float32": "float", "float64": "double", "int32": "int32_t", "int64": "int64_t",
           "bool": "uint8_t"}


def c_compiler() -> str:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    raise HycError("building a shared library needs a C compiler to link it (cc, gcc or "
                   "clang), and none was found", code="E0908")


def library_compilation(source: str | os.PathLike | ModuleOp, opt_level: int = 2,
                        target: str | Target = "cpu", **options: object) -> Compilation:
    """A compilation whose symbols and code suit a shared library."""
    return Compilation(source, opt_level, target, prefix=PREFIX, shared=True, **options)  # type: ignore[arg-type]


def build_library(compilation: Compilation, library: str | os.PathLike) -> tuple[Path, Path]:
    """``library`` (a .so) and its header (.h beside it). The runtime (C) is compiled for
    the host by the C compiler, so a library for another --mtriple needs a cross compiler
    (``CC``); the thread pool and the matmul kernels the module calls are linked in, their
    symbols hidden."""
    library = Path(library)
    header = library.with_suffix(".h")
    obj_code = compilation.stage("obj")
    assert isinstance(obj_code, bytes)
    with jit.llvm_lock, compilation.timed("llvm: runtime (thread pool, matmul kernels)"):
        runtime = [compilation.target_machine().emit_object(
            jit.pool_module(compilation.target, hidden=True))]
        runtime += [jit.kernel_object(compilation.target, element, shared=True)
                    for element in KERNEL_ELEMENTS
                    if kernel_symbol(compilation.target, element).encode() in obj_code]
    with tempfile.TemporaryDirectory() as tmp, compilation.timed("link (cc)"):
        objects = [Path(tmp) / f"part{i}.o" for i in range(1 + len(runtime))]
        for path, code in zip(objects, [obj_code, *runtime]):
            path.write_bytes(code)
        command = [c_compiler(), "-shared", "-fPIC", "-O2", "-o", str(library),
                   *map(str, objects), str(RUNTIME), "-lm", "-lpthread"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise HycError(f"linking {library} failed: {done.stderr.strip()}", code="E0909")
    header.write_text(c_header(compilation, library.stem))
    return library, header


# -- the C header ------------------------------------------------------------------------------
def _dims(t: Type, param: str, seen: set[str]) -> tuple[list[str], list[str]]:
    """The C expressions for a buffer's sizes, and the size parameters they introduce."""
    exprs, params = [], []
    for axis, d in enumerate(shape_of(t)):
        if isinstance(d, int):
            exprs.append(str(d))
        elif d == DYNAMIC:
            name = f"{param}_size{axis}"
            exprs.append(name)
            params.append(f"int64_t {name}")
        else:
            exprs.append(d)
            if d not in seen:
                seen.add(d)
                params.append(f"int64_t {d}")
    return exprs, params


def c_wrapper(func: FuncOp) -> str:
    """A typed inline wrapper that fills the argument words and calls the packed function."""
    name = func.sym_name
    names = [a.name_hint or f"arg{i}" for i, a in enumerate(func.body.args)]
    params, fills, seen = [], [], set()  # type: ignore[var-annotated]
    offset = 0
    for i, (t, pname) in enumerate([*zip(func.type.inputs, names),
                                    *((t, f"out{k}") for k, t in enumerate(func.type.results))]):
        ctype = C_TYPES[numpy_dtype(t).name]
        if is_scalar(t) and i < len(func.type.inputs):
            params.append(f"{ctype} {pname}")
            fills.append(f"    memcpy(&words[{offset}], &{pname}, sizeof {pname});")
            offset += 1
            continue
        exprs, size_params = _dims(t, pname, seen)
        qualifier = "" if i >= len(func.type.inputs) else "const "
        params.append(f"{qualifier}{ctype} *{pname}")
        params.extend(size_params)
        fills.append(f"    words[{offset}] = (int64_t)(intptr_t){pname};")
        fills.extend(f"    words[{offset + 1 + k}] = {e};" for k, e in enumerate(exprs))
        offset += 1 + len(exprs)
    signature = ",\n        ".join(params) or "void"
    body = "\n".join(fills)
    return (f"/* @{name} {func.type} */\n"
            f"int32_t {PREFIX}{name}(int64_t *words);\n"
            f"static inline int32_t hyc_{name}(\n        {signature}) {{\n"
            f"    int64_t words[{max(offset, 1)}] = {{0}};\n{body}\n"
            f"    return {PREFIX}{name}(words);\n}}\n")


def c_header(compilation: Compilation, library: str) -> str:
    guard = "HYC_" + "".join(c if c.isalnum() else "_" for c in library.upper()) + "_H"
    compilation.stage("llvm-raw")  # the run-time checks' messages
    messages = ",\n    ".join('"' + m.replace("\\", "\\\\").replace('"', '\\"') + '"'
                               for m in compilation.messages) or '""'
    wrappers = "\n".join(c_wrapper(f) for f in compilation.optimized_ir().functions)
    target = compilation.target
    return f"""/* {library}.h: generated by hyc; link with {library}.so. The ABI: docs/backend.md.
 * Target: {target.describe()}, -O{compilation.opt_level}.
 *
 * Each function returns 0, or the number (from 1) of the run-time check that failed
 * (hyc_{library}_message() says what it checked), or -2 when hyc_interrupt() was called
 * while one of its loops ran (from a SIGINT handler, say). Buffers are contiguous and row-major;
 * results are written into buffers the caller allocates, which must not overlap the
 * arguments or each other. */
#ifndef {guard}
#define {guard}
#include <stdint.h>
#include <string.h>
#ifdef __cplusplus
extern "C" {{
#endif

void hyc_interrupt(void); /* async-signal-safe: running hyc functions return -2 */

{wrappers}
static const char *const hyc_{library}_messages[] = {{
    {messages}
}};

static inline const char *hyc_{library}_message(int32_t status) {{
    if (status == -2)
        return "interrupted";
    if (status <= 0 || status > (int32_t)(sizeof hyc_{library}_messages / sizeof(char *)))
        return "ok";
    return hyc_{library}_messages[status - 1];
}}

#ifdef __cplusplus
}}
#endif
#endif
"""
