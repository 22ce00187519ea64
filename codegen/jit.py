"""The JIT: machine code in this process, behind a lock, and compiled code cached by (module
text, -O level, target) for as long as something uses it.

LLVM optimizes a module and its target machine emits an object file (which the disk cache
stores too); the object is mapped by codegen/loader.py (x86-64 Linux) or linked by LLVM's ORC
(an ``LLJIT`` per target) into a library of its own. What holds the mapping (or ORC's
resource tracker) keeps the machine code alive. Each ``JitModule`` holds it, and what calls
its code holds the ``JitModule`` (compiled modules and functions), so the code is freed with
the last of them: a process that compiles thousands of distinct models keeps only those it
uses.

Machine code is specific to the target's CPU (its name and features: the host's unless
--mcpu/--mattr chose a portable one).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import itertools
import os
import sys
import threading
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import numpy as np

from hyc.record import record

from . import interrupts, loader, pyentry, symbols
from .target import Target

if TYPE_CHECKING:  # loaded by what compiles: a disk-cache hit needs no LLVM (docs/backend.md)
    import llvmlite.binding as llvm
    from llvmlite import ir

_lock = threading.RLock()
# Every use of LLVM (its global context, the JIT) goes under this lock: with tiered
# compilation (HYC_TIERED) a compile of the full -O level may be running in a thread.
llvm_lock = _lock
QUICK = -1  # the quick tier's key: no middle-end pipeline, the code generator at -O1
_jits: dict[str, llvm.LLJIT] = {}
_state: dict[str, object] = {}
_cache: weakref.WeakValueDictionary[tuple[str, int, str], JitModule] = weakref.WeakValueDictionary()
_library_names = itertools.count()  # ORC never reuses a library's name


@record(eq=False)
class JitModule:
    """Machine code in this process: its exported functions' addresses, valid while this
    object lives (``tracker``: the loader's mapping, or ORC's resource tracker)."""
    addresses: dict[str, int]
    llvm_ir: str  # after LLVM's optimizations
    object_code: bytes  # the object file it was linked from, for the disk cache
    tracker: Any


def _jit(target: Target) -> llvm.LLJIT:
    """The LLJIT that links ``target``'s objects where codegen/loader.py does not."""
    import llvmlite.binding as llvm
    key = target.identity()
    if key not in _jits:
        _jits[key] = llvm.create_lljit_compiler(target.machine(2))
    return _jits[key]


def _runtime(target: Target) -> None:
    """The runtime (the thread pool, the SIGINT hook), linked once per process."""
    if "interrupt_handler" not in _state:
        _install_runtime(target)


def _link(obj: bytes, names: list[str], target: Target, library: str = "") -> Any:
    """Link an object file into this process (the C library's and the runtime's symbols
    resolved: the matmul kernels it calls must be provided first): what holds its code
    (``holder[name]``: the address of ``name``). codegen/loader.py maps it where it can (its
    code freed with all of it); ORC, in a new library of the target's JIT, elsewhere."""
    if loader.supported():
        try:
            return loader.load(obj, functools.partial(loader.process_symbol,
                                                      extra=_runtime_symbols()))
        except loader.Unsupported:
            pass  # ORC links what the loader does not take
    import llvmlite.binding as llvm
    jit = _jit(target)
    builder = llvm.JITLibraryBuilder().add_object_img(obj).add_current_process()
    for name, address in _runtime_symbols().items():
        builder.import_symbol(name, address)
    for name in names:
        builder.export_symbol(name)
    return builder.link(jit, library or f"hyc.module{next(_library_names)}")


def optimize(module: llvm.ModuleRef, opt_level: int, tm: llvm.TargetMachine,
             unroll: bool = False) -> None:
    """LLVM's own pipeline at the -O level's speed, vectorizers on (under ``llvm_lock``).
    Loop unrolling only with ``unroll`` (GPU kernels): in a CPU model's loops it buys
    nothing measurable (the vectorizer still interleaves; B1, B3 and a softmax run as fast
    without it), while it unrolls every loop of known trip count whole, which made the MLP's
    middle-end and code generation take a third longer (0.15 s against 0.11 s)."""
    import llvmlite.binding as llvm
    if opt_level == 0:
        return
    pto = llvm.create_pipeline_tuning_options(speed_level=min(opt_level, 3))
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pto.loop_unrolling = unroll
    builder = llvm.create_pass_builder(tm, pto)
    _run(builder.getModulePassManager(), module, builder)


def tidy(module: llvm.ModuleRef, tm: llvm.TargetMachine) -> None:
    """The least of LLVM's middle end, for code vectorized by hand (the runtime's matmul
    kernels, under ``llvm_lock``): stack slots to registers, local folds, the control flow
    simplified. The -O2 pipeline made the same inner loops, instruction for instruction, in
    0.2 s more of each process's first matmul (its vectorizers found nothing left to do once
    the packing and the adding loops were written with vectors)."""
    import llvmlite.binding as llvm
    passes = llvm.create_new_module_pass_manager()
    passes.add_sroa_pass()
    passes.add_instruction_combine_pass()
    passes.add_simplify_cfg_pass()
    _run(passes, module, llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(2)))


def _run(passes: Any, module: llvm.ModuleRef, builder: Any) -> None:
    from llvmlite.binding.newpassmanagers import NewPassManager
    try:
        passes.run(module, builder)
    finally:
        # llvmlite's ModulePassManager never frees itself (its no-op ObjectRef._dispose
        # shadows NewPassManager's in the method order): left to it, every compile would keep
        # the pipeline's passes and what they cached, about 50-150 KiB.
        NewPassManager._dispose(passes)
        passes.detach()


def llvm_text(module: ir.Module, tm: llvm.TargetMachine) -> str:
    """The module as LLVM reads it, for ``tm``'s triple and data layout (printing a large
    module takes tens of milliseconds: print it once)."""
    module.triple = tm.triple
    module.data_layout = str(tm.target_data)
    return str(module)


def parse(text: str, tm: llvm.TargetMachine,
          context: llvm.ContextRef | None = None) -> llvm.ModuleRef:
    """``llvm_text``'s output parsed and verified (under ``llvm_lock``), in an LLVM context of
    its own unless ``context`` (modules linked together share one): a context keeps what it
    uniques (constants, types, metadata) for its whole life, and the module's goes with it."""
    import llvmlite.binding as llvm
    parsed = llvm.parse_assembly(text, context or llvm.create_context())
    parsed.verify()  # llvmlite's LLVM has assertions on: never optimize unverified IR
    return parsed


Timer = Callable[[str], AbstractContextManager[None]]


def compile_module(module: ir.Module, opt_level: int, target: Target, timed: Timer,
                   quick: bool = False) -> JitModule:
    """Machine code for ``module`` (cached in this process while in use): the address of
    each of its exported functions. ``timed(stage)`` measures each of LLVM's steps.
    ``quick``: the first tier of tiered compilation, without LLVM's middle-end (measured: a
    third of the time, code as fast for matmul-bound models, several times slower for
    elementwise loops, which the middle-end vectorizes)."""
    import llvmlite.binding as llvm
    codegen_level = 1 if quick else opt_level
    tm = target.machine(codegen_level)
    text = llvm_text(module, tm)
    key = (hashlib.sha256(text.encode()).hexdigest(), QUICK if quick else opt_level,
           target.identity())
    with _lock:
        found = _cache.get(key)
        if found is not None:
            return found
        with timed("llvm: verify"):
            parsed = parse(text, tm)
        if not quick:
            with timed(f"llvm: optimize (-O{opt_level})"):
                optimize(parsed, opt_level, tm)
        llvm_ir = str(parsed)
        names = [f.name for f in parsed.functions if not f.is_declaration
                 and f.linkage not in (llvm.Linkage.internal, llvm.Linkage.private)]
        with timed("llvm: machine code (JIT" + (", quick tier)" if quick else ")")):
            obj = tm.emit_object(parsed)
        with timed("llvm: runtime (first use)"):
            _runtime(target)
            _provide_kernels(obj, target)
        with timed("llvm: link"):
            tracker = _link(obj, names, target)
        compiled = JitModule({n: tracker[n] for n in names}, llvm_ir, obj, tracker)
        _cache[key] = compiled
        hook_interrupts()
        return compiled


def load_object(obj: bytes, names: list[str], target: Target) -> JitModule:
    """Object code compiled earlier (the disk cache), linked: the addresses of ``names``."""
    key = (hashlib.sha256(obj).hexdigest(), -2, target.identity())
    with _lock:
        found = _cache.get(key)
        if found is None:
            _runtime(target)
            _provide_kernels(obj, target)
            tracker = _link(obj, names, target)
            addresses = {n: tracker[n] for n in names}
            if not all(addresses.values()):
                raise ValueError("the cached object lacks a function")
            found = _cache[key] = JitModule(addresses, "", obj, tracker)
            hook_interrupts()
        return found


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


def _runtime_symbols() -> dict[str, int]:
    """What compiled code calls back into (besides the C library)."""
    base, kernels = _state.get("base", {}), _state.get("kernels", {})
    assert isinstance(base, dict) and isinstance(kernels, dict)
    return {"hyc_print_value": ctypes.cast(_print_callback, ctypes.c_void_p).value or 0,
            pyentry.TABLE_SYMBOL: ctypes.addressof(pyentry.TABLE), **interrupts.symbols(),
            **base, **kernels}


def _install_runtime(target: Target) -> None:
    """The SIGINT handler, the thread pool, the scratch memory and the Python entries' checks
    (codegen/threads.py, scratch.py, pyentry_ir.py), kept for the process's life."""
    names = [interrupts.HANDLER, symbols.POOL_RUN, symbols.POOL_THREADS, symbols.POOL_FORKED,
             symbols.SCRATCH_TAKE, symbols.SCRATCH_GIVE, symbols.CHECK_ARRAYS]
    tracker = _link(_runtime_object(target), names, target, "hyc.runtime")
    _state["runtime"] = tracker
    _state["interrupt_handler"] = tracker[interrupts.HANDLER]
    _state["base"] = {name: tracker[name] for name in names[1:]}
    forked = ctypes.CFUNCTYPE(None)(tracker[symbols.POOL_FORKED])
    _state["pool_forked"] = forked
    os.register_at_fork(after_in_child=forked)


def _runtime_object(target: Target) -> bytes:
    """The object code of the runtime's base (the pool, the SIGINT hook, the entries' checks)
    for ``target``."""
    def build() -> bytes:
        import llvmlite.binding as llvm

        from .pyentry_ir import check_arrays_module
        context, tm = llvm.create_context(), target.machine(2)
        runtime = pool_module(target, context=context)
        runtime.link_in(parse(interrupts.HANDLER_IR, tm, context))
        checks = parse(llvm_text(check_arrays_module(), tm), tm, context)
        optimize(checks, 2, tm)
        runtime.link_in(checks)
        return tm.emit_object(runtime)
    return _runtime_piece(target, "base", build)


def _runtime_piece(target: Target, name: str, build: Callable[[], bytes]) -> bytes:
    """A piece of the runtime's object code, from the disk cache when it is there (it is the
    same for every program: a cache hit then compiles nothing)."""
    from . import cache
    key = cache.entry_key(f"hyc runtime: {name}", "runtime", target.identity())
    found = cache.load(key)
    if found is not None:
        return found[1]
    obj = build()
    cache.store(key, {"runtime": name}, obj)
    return obj


def _provide_kernels(obj: bytes, target: Target) -> None:
    """Link the runtime's matmul kernels that ``obj`` calls, once per process and target."""
    kernels = _state.setdefault("kernels", {})
    assert isinstance(kernels, dict)
    for element in symbols.KERNEL_ELEMENTS:
        symbol = symbols.kernel_symbol(target, element)
        if symbol in kernels or symbol.encode() not in obj:
            continue
        code = _runtime_piece(target, f"matmul {element}",
                              functools.partial(kernel_object, target, element))
        names = symbols.kernel_object_symbols(target, element)
        tracker = _link(code, names, target, f"hyc.runtime.{symbol}")
        _state[f"tracker {symbol}"] = tracker
        kernels.update((name, tracker[name]) for name in names)


def kernel_object(target: Target, element: str, shared: bool = False) -> bytes:
    """The matmul kernel for ``element`` on ``target``, its packing and single-row
    functions, tidied (they are vectorized by hand, under ``llvm_lock``); position-independent
    and hidden for a shared library."""
    from .matmul import kernel_module
    tm = target.machine(2, shared)
    module = parse(llvm_text(kernel_module(target, element), tm), tm)
    if shared:
        for name in symbols.kernel_object_symbols(target, element):
            module.get_function(name).visibility = "hidden"
    tidy(module, tm)
    return tm.emit_object(module)


def pool_module(target: Target, hidden: bool = False,
                context: llvm.ContextRef | None = None) -> llvm.ModuleRef:
    """The thread pool's module for ``target`` (under ``llvm_lock``; the code generator's
    own optimizations suffice for it); ``hidden`` for a shared library."""
    from . import threads
    module = parse(str(threads.runtime_module(target)), target.machine(2), context)
    if hidden:  # a library's own pool: another library's does not replace it
        for name in threads.EXPORTED:
            module.get_function(name).visibility = "hidden"
    return module


def hook_interrupts() -> None:
    """(Re)install the SIGINT hook (Python's signal.signal may have replaced it)."""
    interrupts.install(_state["interrupt_handler"])  # type: ignore[arg-type]
