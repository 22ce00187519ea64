"""The JIT: an LLVM execution engine per (target, -O level) in this process, behind a lock,
and compiled code cached by (module text, -O level, target).

Machine code is specific to the target's CPU (its name and features: the host's unless
--mcpu/--mattr chose a portable one); MCJIT never frees what it finalized, so each distinct
module compiles once per process and is reused after.
"""

from __future__ import annotations

import ctypes
import hashlib
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from . import interrupts, pyentry
from .target import Target

_lock = threading.RLock()
# Every use of LLVM (its global context, the engines) goes under this lock: with tiered
# compilation (HYC_TIERED) a compile of the full -O level may be running in a thread.
llvm_lock = _lock
QUICK = -1  # the quick tier's key: no middle-end pipeline, the code generator at -O1
_engines: dict[tuple[str, int], llvm.ExecutionEngine] = {}
_state: dict[str, object] = {}
_cache: dict[tuple[str, int, str], JitModule] = {}
_compiled_objects: list[bytes] = []


@dataclass
class JitModule:
    addresses: dict[str, int]
    llvm_ir: str  # after LLVM's optimizations
    target_machine: llvm.TargetMachine
    module: llvm.ModuleRef
    object_code: bytes = b""  # what MCJIT compiled, for the disk cache


def _engine(target: Target, opt_level: int) -> llvm.ExecutionEngine:
    """The execution engine that generates code for ``target`` at ``opt_level`` (MCJIT
    compiles with the target machine it was made with)."""
    key = (target.identity(), opt_level)
    if key not in _engines:
        backing = llvm.parse_assembly("")
        engine = llvm.create_mcjit_compiler(backing, target.machine(opt_level))
        # MCJIT hands over each object it compiles, so the disk cache needs no second codegen
        engine.set_object_cache(lambda module, data: _compiled_objects.append(data), None)
        _engines[key] = engine
        if "interrupt_handler" not in _state:
            _install_runtime(engine)
    return _engines[key]


def optimize(module: llvm.ModuleRef, opt_level: int, tm: llvm.TargetMachine) -> None:
    """LLVM's own pipeline at the -O level's speed, vectorizers on."""
    if opt_level == 0:
        return
    pto = llvm.create_pipeline_tuning_options(speed_level=min(opt_level, 3))
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pto.loop_unrolling = True
    builder = llvm.create_pass_builder(tm, pto)
    builder.getModulePassManager().run(module, builder)


def parse(module: ir.Module, tm: llvm.TargetMachine) -> llvm.ModuleRef:
    module.triple = tm.triple
    module.data_layout = str(tm.target_data)
    parsed = llvm.parse_assembly(str(module))
    parsed.verify()  # llvmlite's LLVM has assertions on: never optimize unverified IR
    return parsed


Timer = Callable[[str], AbstractContextManager[None]]


def compile_module(module: ir.Module, opt_level: int, target: Target, timed: Timer,
                   quick: bool = False) -> JitModule:
    """Machine code for ``module`` (cached in this process): the address of each of its
    functions. ``timed(stage)`` measures each of LLVM's steps. ``quick``: the first tier of
    tiered compilation, without LLVM's middle-end (measured: a third of the time, code as
    fast for matmul-bound models, several times slower for elementwise loops, which the
    middle-end vectorizes)."""
    text = str(module)
    key = (hashlib.sha256(text.encode()).hexdigest(), QUICK if quick else opt_level,
           target.identity())
    codegen_level = 1 if quick else opt_level
    with _lock:
        if key in _cache:
            return _cache[key]
        engine = _engine(target, codegen_level)
        tm = target.machine(codegen_level)
        with timed("llvm: verify"):
            parsed = parse(module, tm)
        if not quick:
            with timed(f"llvm: optimize (-O{opt_level})"):
                optimize(parsed, opt_level, tm)
        llvm_ir = str(parsed)
        _compiled_objects.clear()
        with timed("llvm: machine code (JIT" + (", quick tier)" if quick else ")")):
            engine.add_module(parsed)
            engine.finalize_object()
        addresses = {f.name: engine.get_function_address(f.name) for f in parsed.functions
                     if not f.is_declaration}
        obj = _compiled_objects[-1] if _compiled_objects else b""
        compiled = JitModule(addresses, llvm_ir, tm, parsed, obj)
        _cache[key] = compiled
        hook_interrupts()
        return compiled


def object_code(compiled: JitModule) -> bytes:
    """The machine code of a compiled module, as an object file the engine can load again."""
    return compiled.object_code or compiled.target_machine.emit_object(compiled.module)


def load_object(obj: bytes, names: list[str], target: Target) -> dict[str, int]:
    """Load object code compiled earlier (the disk cache); the addresses of ``names``."""
    key = (hashlib.sha256(obj).hexdigest(), -1, target.identity())
    with _lock:
        if key not in _cache:
            engine = _engine(target, 2)
            engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
            engine.finalize_object()
            addresses = {n: engine.get_function_address(n) for n in names}
            if not all(addresses.values()):
                raise ValueError("the cached object lacks a function")
            _cache[key] = JitModule(addresses, "", target.machine(), None)
            hook_interrupts()
        return _cache[key].addresses


# -- the runtime the generated code calls back into -------------------------------------------------
PRINT_HOOK = ctypes.CFUNCTYPE(None, ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p,
                              ctypes.POINTER(ctypes.c_int64), ctypes.c_int32)
DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]
_print_target = threading.local()


def set_print_stream(stream: object) -> None:
    _print_target.stream = stream


def print_stream() -> Any:
    """Where compiled code (and a launch plan) prints in this thread: sys.stdout unless
    ``set_print_stream`` said otherwise."""
    return getattr(_print_target, "stream", None) or sys.stdout


def _print_value(code: int, rank: int, data: int, sizes: ctypes._Pointer, last: int) -> None:
    from hyc.ir.interpreter import format_value
    stream = print_stream()
    if code >= 0:
        shape = tuple(sizes[i] for i in range(rank))
        dtype = np.dtype(DTYPES[code])
        count = int(np.prod(shape)) if shape else 1
        raw = (ctypes.c_char * (count * dtype.itemsize)).from_address(data) if count else b""
        value = np.frombuffer(bytes(raw), dtype=dtype).reshape(shape)
        stream.write(format_value(value) + ("\n" if last else " "))
    else:
        stream.write("\n")


_print_callback = PRINT_HOOK(_print_value)


def _install_runtime(engine: llvm.ExecutionEngine) -> None:
    llvm.add_symbol("hyc_print_value", ctypes.cast(_print_callback, ctypes.c_void_p).value)
    llvm.add_symbol(pyentry.TABLE_SYMBOL, ctypes.addressof(pyentry.TABLE))
    interrupts.add_symbols()
    hook = llvm.parse_assembly(interrupts.HANDLER_IR)
    engine.add_module(hook)
    engine.finalize_object()
    _state["interrupt_handler"] = engine.get_function_address(interrupts.HANDLER)


def hook_interrupts() -> None:
    """(Re)install the SIGINT hook (Python's signal.signal may have replaced it)."""
    interrupts.install(_state["interrupt_handler"])  # type: ignore[arg-type]
