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
from typing import TypeAlias

import llvmlite.binding as llvm

from hyc.ir import FuncOp, HycError, ModuleOp
from hyc.ir.types import DYNAMIC, Type, is_scalar, numpy_dtype, shape_of

from . import jit
from .compiled import Stages, lower

PREFIX = "hyc_packed_"
RUNTIME = Path(__file__).parent / "runtime" / "hyc_runtime.c"
C_TYPES = {"float32": "float", "float64": "double", "int32": "int32_t", "int64": "int64_t",
           "bool": "uint8_t"}


Source: TypeAlias = "str | os.PathLike[str] | ModuleOp"


def machine_module(source: Source, opt_level: int, optimized: bool = False) -> tuple[
        Stages, llvm.ModuleRef, llvm.TargetMachine]:
    """Lower and optimize for this CPU, as position-independent code (``optimized``: the IR
    pipeline ran already)."""
    stages = lower(source, opt_level, prefix=PREFIX, optimized=optimized)
    tm = jit.target_machine(shared=True)
    module = jit.parse(stages.llvm, tm)
    jit.optimize(module, opt_level, tm)
    return stages, module, tm


def emit(source: Source, opt_level: int, kind: str, optimized: bool = False) -> str | bytes:
    """``llvm`` (optimized LLVM IR), ``asm`` or ``obj`` for ``source``."""
    _, module, tm = machine_module(source, opt_level, optimized)
    if kind == "llvm":
        return str(module)
    if kind == "asm":
        return tm.emit_assembly(module)  # type: ignore[no-any-return]
    return tm.emit_object(module)  # type: ignore[no-any-return]


def c_compiler() -> str:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    raise HycError("building a shared library needs a C compiler to link it (cc, gcc or "
                   "clang), and none was found")


def build_library(source: Source, opt_level: int, library: str | os.PathLike,  # type: ignore[type-arg]
                  optimized: bool = False) -> tuple[Path, Path]:
    """``library`` (a .so) and its header (.h beside it)."""
    stages, module, tm = machine_module(source, opt_level, optimized)
    library = Path(library)
    header = library.with_suffix(".h")
    with tempfile.TemporaryDirectory() as tmp:
        obj = Path(tmp) / "module.o"
        obj.write_bytes(tm.emit_object(module))
        command = [c_compiler(), "-shared", "-fPIC", "-O2", "-o", str(library), str(obj),
                   str(RUNTIME), "-lm", "-lpthread"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise HycError(f"linking {library} failed: {done.stderr.strip()}")
    header.write_text(c_header(stages, library.stem))
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
    name = func.sym_name  # type: ignore[attr-defined]
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


def c_header(stages: Stages, library: str) -> str:
    guard = "HYC_" + "".join(c if c.isalnum() else "_" for c in library.upper()) + "_H"
    messages = ",\n    ".join('"' + m.replace("\\", "\\\\").replace('"', '\\"') + '"'
                               for m in stages.messages) or '""'
    wrappers = "\n".join(c_wrapper(f) for f in stages.tensor.functions)  # type: ignore[arg-type]
    return f"""/* {library}.h: generated by hyc; link with {library}.so. The ABI: docs/backend.md.
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
