"""The staged compiler: one ordered table of stages that every entry point walks.

``hyc``, ``hyc-opt``, ``hyc.compile``, ``hyc.jit``, export and the AOT outputs all build a
``Compilation`` and ask it for a stage; each stage runs once, when first asked for, on the
output of the one before, and its wall time joins the timing report::

    tensor    the module as the frontend (or the IR parser) made it, verified
    ir        after the IR pipeline (the -O level's, or the user's --pass-pipeline)
    loops     the buffer and loop level (passes/pipelines.py LOWER_TO_LOOPS)
    target    the loop level after the target's own passes (``Target.loop_pipeline``; the
              CPU outlines parallel loops into dispatched bodies; the GPU targets map them
              to kernels: that is the ``gpu`` stage)
    llvm-raw  LLVM IR as hyc generates it for the target, before LLVM's passes
    llvm      after LLVM's passes at the -O level, for the target machine
    asm, obj  the target machine's assembly and object code (``ptx``: the GPU's assembly)
    lib       a shared library and C header (codegen/aot.py)

``jit()`` ends in machine code in this process instead (codegen/jit.py), through the disk
cache (codegen/cache.py) when the same source was compiled before.
"""

from __future__ import annotations

import atexit
import errno
import hashlib
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, TypeAlias

from hyc.ir import HycError, ModuleOp, parse_module, print_ir
from hyc.ir.diagnostics import nesting_room
from hyc.record import replace

from . import cache, jit, progress, pyentry
from .target import Target, resolve

if TYPE_CHECKING:  # LLVM loads where a stage needs it: a disk-cache hit needs none
    import llvmlite.binding as llvm
    from llvmlite import ir

    from hyc.passes import Instrumentation

    from .compiled import CompiledModule

STAGES = ("tensor", "ir", "dot", "svg", "loops", "target", "gpu", "llvm-raw", "llvm", "asm",
          "ptx", "plan", "obj", "lib")


def load(source: str | os.PathLike | ModuleOp) -> ModuleOp:
    """A verified module from a path, .hy source text, .hyir text or a module (copied: the
    compiler transforms what it loads)."""
    if isinstance(source, ModuleOp):
        return copy(source)
    text, filename = str(source), "<source>"
    if not isinstance(source, os.PathLike) and "\n" not in text and "def " not in text and \
            text.strip().endswith((".hy", ".hyir")) and not os.path.exists(text):
        raise FileNotFoundError(errno.ENOENT, "no such .hy or .hyir file", text)
    if isinstance(source, os.PathLike) or ("\n" not in text and len(text) < 4096
                                            and os.path.exists(text)):
        filename = os.fspath(source)
        with open(filename, encoding="utf-8") as f:
            text = f.read()
    from hyc.frontend.loading import module_from_text
    return module_from_text(text, filename, guess=True)


def copy(module: ModuleOp) -> ModuleOp:
    return parse_module(print_ir(module, debuginfo=True))


def check_opt_level(opt_level: object) -> int:
    if opt_level not in (0, 1, 2, 3):
        raise HycError(f"opt_level must be 0, 1, 2 or 3, not {opt_level!r}", code="E1101")
    return opt_level


_TRANSFORMED = object()  # a stage whose module the next stage took over
Source: TypeAlias = "str | os.PathLike[str] | ModuleOp"


class Compilation:
    """One module on its way through the stages, for one target at one -O level.

    ``source``: a path, .hy or .hyir text, a module (copied), or a function that makes the
    module (the command line's frontend, timed as a stage).
    ``pipeline`` is the IR pipeline's text (default: the -O level's); ``optimized`` says the
    module went through it already (``pipeline`` is then empty). ``shared`` asks for
    position-independent code (libraries); ``entries`` for the fast entry points of calls
    from Python. ``prefix`` names the symbols (by default a hash of the module, so that
    modules never clash in one process).
    """

    def __init__(self, source: Source | Callable[[], ModuleOp], opt_level: int = 2,
                 target: str | Target = "cpu", *, pipeline: str | None = None,
                 optimized: bool = False, instrumentation: Instrumentation | None = None,
                 prefix: str | None = None, shared: bool = False, entries: bool = False) -> None:
        self.source = source
        self.opt_level = check_opt_level(opt_level)
        self.target = resolve(target)
        # None: the -O level's pipeline (read when it runs: a cached module needs no passes)
        self.pipeline = "" if optimized else pipeline
        self.optimized = optimized
        self.instrumentation = instrumentation
        self.prefix = prefix
        self.shared, self.entries = shared, entries
        self.timings: list[tuple[str, float]] = []
        self.messages: list[str] = []
        self._done: dict[str, object] = {}

    @classmethod
    def at_target_level(cls, module: ModuleOp, target: Target, opt_level: int = 2) -> Compilation:
        """A compilation of a module hyc made at ``target``'s loop level itself (trusted:
        no checks are added, no passes run) down to machine code."""
        compilation = cls(module, opt_level, target, optimized=True)
        compilation._done.update({"tensor": _TRANSFORMED, "loops": _TRANSFORMED,
                                  "ir": copy(module), "target": copy(module)})
        return compilation

    # -- the stages ------------------------------------------------------------------------------
    def stage(self, name: str) -> object:
        """The result of stage ``name`` (a module, LLVM IR, text or bytes), computed once."""
        if name not in self._done:
            if name not in _RUNNERS:
                raise HycError(f"unknown stage '{name}' (stages: {', '.join(STAGES)})", code="E0910")
            self._done[name] = _RUNNERS[name](self)
        if self._done[name] is _TRANSFORMED:
            raise RuntimeError(f"stage '{name}' was transformed into the next in place: ask "
                               "for it before the stages after it")
        return self._done[name]

    def tensor(self) -> ModuleOp:
        return self.stage("tensor")

    def optimized_ir(self) -> ModuleOp:
        return self.stage("ir")

    def loops(self) -> ModuleOp:
        return self.stage("loops")

    def target_loops(self) -> ModuleOp:
        return self.stage("target")

    def llvm_ir(self) -> ir.Module:
        return self.stage("llvm-raw")

    def machine_module(self) -> llvm.ModuleRef:
        return self.stage("llvm")

    def text(self, name: str, debuginfo: bool = False) -> str | bytes:
        """Stage ``name`` as ``--emit`` writes it: text, or the bytes of an object file."""
        if name == "lib":
            raise HycError("--emit=lib writes files: use build_library()", code="E0910")
        value = self.stage(name)
        if isinstance(value, ModuleOp):
            return print_ir(value, debuginfo=debuginfo)
        return value if isinstance(value, (str, bytes)) else str(value)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        progress.status(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings.append((name, time.perf_counter() - start))

    def run_passes(self, module: ModuleOp, pipeline: str,
                   instrumentation: Instrumentation | None = None, stage: str = "") -> None:
        """``pipeline`` on ``module``, its passes timed (and, for a report, recorded)."""
        from hyc.passes import Instrumentation, PassManager, parse_pipeline
        record = self.instrumentation.record if self.instrumentation is not None else None
        if record is not None:  # every pipeline's passes go into the report
            instrumentation = replace(instrumentation or Instrumentation(),
                                                  record=record, stage=stage)
        manager = PassManager(parse_pipeline(pipeline), instrumentation)
        try:
            manager.run(module)
        finally:
            self.timings.extend(manager.timings)

    def _tensor(self) -> ModuleOp:
        copying = isinstance(self.source, ModuleOp)
        with self.timed("copy the module" if copying else "frontend"):
            return self.source() if callable(self.source) else load(self.source)

    def _ir(self) -> ModuleOp:
        from hyc.passes import LEVELS
        module = self.tensor()
        self._done["tensor"] = _TRANSFORMED
        pipeline = LEVELS[self.opt_level] if self.pipeline is None else self.pipeline
        self.run_passes(module, pipeline, self.instrumentation, f"-O{self.opt_level}")
        return module

    def _loops(self) -> ModuleOp:
        from hyc.passes import LOWER_TO_LOOPS
        optimized = self.optimized_ir()
        # the tensor level stays as it is (CompiledModule.ir, the C header read it)
        self._done["ir"] = copy(optimized)
        self.run_passes(optimized, LOWER_TO_LOOPS, stage="the lowering to loops")
        return optimized

    def _target(self) -> ModuleOp:
        loops = self.loops()
        self._done["loops"] = _TRANSFORMED
        self.run_passes(loops, self.target.loop_pipeline,
                        stage=f"target {self.target.name}'s loop passes")
        return loops

    def _gpu(self) -> ModuleOp:
        if self.target.name not in ("gpu", "gpu-sim"):
            raise HycError(f"the gpu stage is the GPU targets' (--target=gpu or gpu-sim), not "
                           f"target '{self.target.name}''s: --emit=target shows its loop level", code="E0910")
        return self.target_loops()

    def _dot(self) -> str:
        """The optimized tensor level's data-flow graph, in Graphviz's language (ir/dot.py)."""
        from hyc.ir.dot import to_dot
        return to_dot(self.optimized_ir())

    def _svg(self) -> str:
        from hyc.ir.dot import render_svg
        with self.timed("graphviz: dot -Tsvg"):
            return render_svg(self.stage("dot"))

    def _plan(self) -> str:
        """The launch plan (JSON) of the host functions, for the GPU target."""
        from .plan import build_plan, to_json
        if self.target.name != "gpu":
            raise HycError("a launch plan is --target=gpu's", code="E0910")
        return to_json(build_plan(self.stage("gpu"), None, self.target.cpu))

    def _ptx(self) -> str:
        if self.target.name != "gpu":
            raise HycError("PTX is --target=gpu's assembly", code="E0910")
        return self.stage("asm")  # type: ignore[return-value]

    def _obj(self) -> bytes:
        if self.target.name == "gpu":
            raise HycError("--target=gpu writes PTX (--emit=ptx), not object files", code="E0910")
        module = self.machine_module()
        with self.timed("llvm: object code"), jit.llvm_lock:
            return self.target_machine().emit_object(module)

    def _llvm_raw(self) -> ir.Module:
        loops = self.target_loops()
        tensor = self.optimized_ir()
        if self.prefix is None:
            self.prefix = "hyc_" + hashlib.sha256(print_ir(loops).encode()).hexdigest()[:12] + "_"
        # the lowering and the passes load here, not with the driver: a disk-cache hit
        # needs neither
        from .cpu import lower_module
        from .nvptx import lower_kernels
        from .pyentry_ir import emit_entry
        if self.target.name != "gpu" and any(f.kernel for f in loops.functions):
            from hyc.passes.serialize_threads import GpuSerializeThreads, synchronizes
            if any(synchronizes(f) for f in loops.functions):
                loops = copy(loops)  # a CPU runs a block's synchronizing threads as loops
                with self.timed("gpu-serialize-threads"):
                    GpuSerializeThreads().run(loops)
        with self.timed("llvm: generate IR"):
            lower = lower_kernels if self.target.name == "gpu" else lower_module
            module, self.messages = lower(loops, self.target, self.prefix)
            module.triple = self.target.triple
            module.data_layout = self.target.data_layout()
            if self.entries and self.target.host and pyentry.layout_ok():
                for func in tensor.functions:
                    if pyentry.supported(func) and not func.kernel:
                        packed = module.get_global(self.prefix + func.sym_name)
                        emit_entry(module, func, packed, self.prefix + func.sym_name + "_entry")
        return module

    def target_machine(self) -> llvm.TargetMachine:
        return self.target.machine(self.opt_level, self.shared)

    def _llvm(self) -> llvm.ModuleRef:
        import llvmlite.binding as llvm
        text = jit.llvm_text(self.llvm_ir(), self.target_machine())
        context = llvm.create_context()
        with jit.llvm_lock, self.timed("llvm: verify"):
            module = jit.parse(text, self.target_machine(), context)
        if self.target.name == "gpu":
            from .nvptx import link_math
            with jit.llvm_lock, self.timed("llvm: link libdevice"):
                link_math(module, self.target_machine(), context)
        with jit.llvm_lock, self.timed(f"llvm: optimize (-O{self.opt_level})"):
            # a GPU kernel's loops (shuffle trees, the tiled matmul's) are the hot code and
            # are generated per module: unrolled, as nvcc does
            jit.optimize(module, self.opt_level, self.target_machine(),
                         unroll=self.target.name == "gpu")
        return module

    def _asm(self) -> str:
        module = self.machine_module()
        with self.timed("llvm: assembly"), jit.llvm_lock:
            return self.target_machine().emit_assembly(module)

    # -- machine code in this process --------------------------------------------------------------
    def jit(self) -> CompiledModule:
        """Native code for this machine, ready to call from Python; reused from the disk cache
        when the same source was compiled for the same target before."""
        from .compiled import CompiledModule
        self.target.check_runnable()
        if self.target.name in ("gpu", "gpu-sim"):
            return self._planned()
        if callable(self.source):
            raise TypeError("jit() needs a source the cache can key (a path, text or module)")
        key = cache_key(self.source, self.opt_level, self.target, self.optimized, self.pipeline)
        cached = from_cache(key, self.target)
        if cached is not None:
            return cached
        self.entries = True
        with nesting_room():
            raw = self.llvm_ir()
        tiered = os.environ.get("HYC_TIERED", "0") not in ("", "0") and self.opt_level > 0
        compiled = jit.compile_module(raw, self.opt_level, self.target, self.timed, quick=tiered)
        parts = {"ir": print_ir(self.optimized_ir(), debuginfo=True),
                 "loops": print_ir(self.target_loops()), "llvm_ir": compiled.llvm_ir,
                 "messages": self.messages, "prefix": self.prefix,
                 "symbols": sorted(compiled.addresses), "target": self.target.describe()}
        module = CompiledModule(parts, compiled, self.target, self.optimized_ir())
        if tiered:
            module.tier_up = threading.Thread(target=self._tier_up, args=(raw, key, parts, module),
                                              name="hyc tier-up", daemon=True)
            _start_tier_up(module.tier_up)
            return module
        _loaded[key] = compiled
        cache.store(key, parts, compiled.object_code)
        return module

    def _tier_up(self, raw: ir.Module, key: str, parts: dict, module: CompiledModule) -> None:
        """Tiered compilation's second tier, in a thread: the module at its full -O level,
        swapped into ``module``'s functions (a call that began keeps the quick code, which
        each function keeps alive), then stored in the disk cache."""
        try:
            compiled = jit.compile_module(raw, self.opt_level, self.target,
                                          lambda _: nullcontext())
            parts = {**parts, "llvm_ir": compiled.llvm_ir, "symbols": sorted(compiled.addresses)}
            module.retarget(parts, compiled)
            _loaded[key] = compiled
            cache.store(key, parts, compiled.object_code)
        finally:
            _tiering.discard(threading.current_thread())

    def _planned(self) -> CompiledModule:
        """The GPU targets: the launch plan of the host functions, run on a GPU (gpu) or the
        simulated device (gpu-sim)."""
        from .plan import build_plan
        with nesting_room():
            gpu_level = self.target_loops()
        tensor = self.optimized_ir()
        with self.timed("launch plan"):
            plan = build_plan(gpu_level, None, self.target.cpu)
        if self.target.name == "gpu":
            from .cuda import cuda_module
            ptx = self.stage("ptx")
            with self.timed("gpu: load the PTX"):
                return cuda_module(tensor, gpu_level, plan, self.target, ptx)  # type: ignore[arg-type]
        from .gpu_sim import gpu_sim_module
        with self.timed("gpu-sim: kernels for this CPU"):
            return gpu_sim_module(tensor, gpu_level, plan, self.target)

    def timing_report(self) -> str:
        """Every stage's wall time, the IR passes one by one and LLVM's work included."""
        total = sum(t for _, t in self.timings) or 1e-12
        rule = "=" + "-" * 62 + "="
        lines = [rule, "Pass execution timing report".center(64), rule,
                 f"  {'Wall Time (s)':>13}  {'%':>6}  Name"]
        lines += [f"  {t:13.6f}  {100 * t / total:5.1f}%  {name}" for name, t in self.timings]
        lines.append(f"  {total:13.6f}  100.0%  Total")
        return "\n".join(lines) + "\n"


_RUNNERS: dict[str, Callable[[Compilation], object]] = {
    "tensor": Compilation._tensor, "ir": Compilation._ir, "loops": Compilation._loops,
    "target": Compilation._target, "gpu": Compilation._gpu, "ptx": Compilation._ptx,
    "plan": Compilation._plan, "dot": Compilation._dot, "svg": Compilation._svg,
    "llvm-raw": Compilation._llvm_raw,
    "llvm": Compilation._llvm, "asm": Compilation._asm, "obj": Compilation._obj,
}


# -- tiered compilation ---------------------------------------------------------------------------
_tiering: set[threading.Thread] = set()  # tier-up compiles still running


def _start_tier_up(thread: threading.Thread) -> None:
    _tiering.add(thread)
    thread.start()


@atexit.register
def _finish_tier_ups() -> None:
    """The process waits for tier-up compiles still running when it exits: LLVM must not be
    inside a compile while the process tears down (and the disk cache then holds the full
    code for the next process)."""
    for thread in list(_tiering):
        thread.join()


# -- the disk cache ------------------------------------------------------------------------------
# disk-cache key -> the machine code loaded in this process, while something uses it
_loaded: weakref.WeakValueDictionary[str, jit.JitModule] = weakref.WeakValueDictionary()


def cache_key(source: str | os.PathLike | ModuleOp, opt_level: int, target: Target,
              optimized: bool, pipeline: str | None) -> str:
    if isinstance(source, ModuleOp):
        text = print_ir(source, debuginfo=True)
    elif isinstance(source, os.PathLike) or ("\n" not in str(source) and os.path.exists(str(source))):
        path = os.fspath(source)
        with open(path, encoding="utf-8") as f:
            text = path + "\0" + f.read()
    else:
        text = str(source)
    return cache.entry_key(text, [opt_level, optimized, pipeline], target.identity())  # None: -O's


def from_cache(key: str, target: Target) -> CompiledModule | None:
    from .compiled import CompiledModule
    entry = cache.load(key)
    if entry is None:
        return None
    parts, obj = entry
    try:
        code = _loaded.get(key) or jit.load_object(obj, parts["symbols"], target)
        _loaded[key] = code
        return CompiledModule(parts, code, target)
    except Exception:  # a stale or damaged entry: compile again rather than trust it
        return None


def compile_module(source: str | os.PathLike | ModuleOp, opt_level: int = 2,
                   target: str | Target = "cpu", optimized: bool = False) -> CompiledModule:
    """Compile to native code for this machine, ready to call from Python (``optimized``:
    the IR pipeline ran already, so only the lowering and LLVM follow)."""
    return Compilation(source, opt_level, target, optimized=optimized).jit()
