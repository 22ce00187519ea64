"""Targets: what the generated code is for, in one object that every stage asks.

A ``Target`` holds what llc's flags choose (triple, CPU name, CPU features), what LLVM
derives from them (the data layout), and what hyc's own lowering needs to know: the math
table (which LLVM function computes each scalar math function), the width of vector
registers the matmul kernel tiles for, and whether parallel loops run on threads. Stages
take a target instead of asking the host: a build for ``--mcpu=x86-64-v2`` or
``--mtriple=aarch64-linux-gnu`` differs from a host build only in its ``Target``.

``cpu_target()`` gives the host's CPU (the default) or, with ``mcpu``/``mattr``/``mtriple``
as llc spells them, a portable or cross CPU; a CPU name or feature LLVM does not know is a
hyc error, never an LLVM warning followed by code for some other machine.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from typing import TYPE_CHECKING

from hyc.ir import HycError
from hyc.record import field, record, replace

if TYPE_CHECKING:
    import llvmlite.binding as llvm

_lock = threading.RLock()


@record(frozen=True)
class MathFunction:
    """The LLVM function computing a math function on f32 and on f64 (an intrinsic such as
    ``llvm.exp.f32``, or a library call)."""
    f32: str
    f64: str


def llvm_intrinsics(*names: str) -> dict[str, MathFunction]:
    return {name: MathFunction(f"llvm.{name}.f32", f"llvm.{name}.f64") for name in names}


# LLVM's CPU backends select these intrinsics everywhere (as instructions or libm calls).
CPU_MATH = llvm_intrinsics("exp", "log", "sqrt", "floor", "tanh", "pow", "fabs")


@record(frozen=True)
class Target:
    """One target of code generation."""
    name: str  # the --target name: "cpu"
    triple: str
    cpu: str
    features: str  # "+avx2,+fma,..." as LLVM spells them
    math: dict[str, MathFunction] = field(default_factory=dict, hash=False, compare=False)
    threads: bool = True  # parallel loops may run on POSIX threads
    host: bool = True  # code for this machine: the JIT may run it
    vector_bits: int = 256  # the vector registers the matmul kernel tiles for
    # bytes of L1 data cache and of L2 per core, which the matmul's blocking is sized for
    caches: tuple[int, int] = (32 << 10, 1 << 20)
    flags: str = ""  # the llc-style flags that chose it ("" for the host's own CPU)
    # a * b + c may become one fused multiply-add (nvcc's default, --fmad=true)
    contract: bool = False
    # the target's own passes at the loop level (a user's --pass-pipeline can run them too)
    loop_pipeline: str = "outline-parallel,dce"

    def identity(self) -> str:
        """What the machine code depends on besides the module (the cache key's part)."""
        version = host_facts()["llvm"]
        math = ",".join(f"{k}={v.f32}/{v.f64}" for k, v in sorted(self.math.items()))
        return f"{self.name}|{self.triple}|{self.cpu}|{self.features}|{math}|" \
               f"{self.threads}|{self.vector_bits}|{self.caches}|{self.contract}|{self.loop_pipeline}|" \
            f"llvm {version}"

    def describe(self) -> str:
        """One line for humans (the C header)."""
        chosen = f"chosen by {self.flags}" if self.flags else \
            "every feature of the machine that compiled it; --mcpu=x86-64-v2 or similar " \
            "for a portable build"
        return f"{self.name} {self.triple}, cpu {self.cpu} ({chosen})"

    def math_function(self, name: str, width: int) -> str | None:
        found = self.math.get(name)
        if found is None:
            return None
        return found.f32 if width == 32 else found.f64

    def machine(self, opt_level: int = 2, shared: bool = False) -> llvm.TargetMachine:
        """LLVM's target machine at the -O level's codegen optimization; position-independent
        code for shared libraries."""
        return _target_machine(self.triple, self.cpu, self.features, opt_level, shared, self.host)

    def data_layout(self) -> str:
        return str(self.machine().target_data)

    def check_runnable(self) -> None:
        """Code for this target can run in this process (the JIT, --run)."""
        if self.name == "gpu":
            from .cuda import gpu_context
            gpu_context()  # the bindings, the driver and a GPU, or an error saying which
            return
        if not self.host:
            raise HycError(f"code for {self.triple} cannot run on this {host_triple()} machine: "
                           "--mtriple builds objects, assembly and libraries for another "
                           "machine (--emit=obj|asm|lib)", code="E0903")
        if self.vector_bits > host_cpu().vector_bits:
            raise HycError(f"code for cpu {self.cpu} uses {self.vector_bits}-bit vectors, which "
                           f"this machine's {host_cpu().cpu} lacks: it cannot run here", code="E0903")


def host_triple() -> str:
    return host_facts()["triple"]


@functools.cache
def host_facts() -> dict[str, str]:
    """This machine as LLVM names it (its triple, CPU and features) and LLVM's version.
    Asking LLVM means loading it, some 30 ms that a disk-cache hit needs for nothing else: so
    the answer is kept in the cache directory under a fingerprint of the machine (its CPU as
    the kernel describes it, the llvmlite release) and asked again on any other."""
    from . import cache
    fingerprint = _host_fingerprint()
    if fingerprint is None:
        return _ask_llvm()
    facts = cache.remembered("host", fingerprint, _ask_llvm)
    if set(facts) != {"triple", "cpu", "features", "llvm"} \
            or not all(isinstance(v, str) for v in facts.values()):
        return _ask_llvm()  # an entry some other hyc wrote
    return facts


def _ask_llvm() -> dict[str, str]:
    import llvmlite.binding as llvm
    return {"triple": llvm.get_process_triple(), "cpu": llvm.get_host_cpu_name(),
            "features": llvm.get_host_cpu_features().flatten(),
            "llvm": ".".join(map(str, llvm.llvm_version_info))}


# the lines of /proc/cpuinfo that say which CPU it is and what it can do (x86, then Arm)
_CPU_FIELDS = ("vendor_id", "cpu family", "model", "model name", "stepping", "flags",
               "CPU implementer", "CPU architecture", "CPU variant", "CPU part",
               "CPU revision", "Features")


def _host_fingerprint(path: str = "/proc/cpuinfo") -> str | None:
    """The first CPU's identity and features as the kernel reports them, with the machine
    and the llvmlite release; None where there is no /proc/cpuinfo to read."""
    import llvmlite
    fields = []
    try:
        with open(path) as f:
            for line in f:
                if not line.strip():
                    break
                key = line.split(":", 1)[0].strip()
                if key in _CPU_FIELDS:
                    fields.append(line.strip())
    except OSError:
        return None
    if not fields:
        return None
    return "\n".join([sys.platform, os.uname().machine, llvmlite.__version__, *fields])


def _initialize() -> None:
    import llvmlite.binding as llvm
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()


@functools.cache
def _target_machine(triple: str, cpu: str, features: str, opt_level: int, shared: bool,
                    host: bool) -> llvm.TargetMachine:
    import llvmlite.binding as llvm
    with _lock:
        _initialize()
        target = llvm.Target.from_triple(triple)
        return target.create_target_machine(
            cpu=cpu, features=features, opt=opt_level, reloc="pic" if shared else "static",
            codemodel="default" if shared or not host else "jitdefault")


@functools.cache
def host_cpu() -> Target:
    """This machine's CPU: its triple, name and every feature it has."""
    facts = host_facts()
    features = facts["features"]
    bits = 512 if "+avx512f" in features.split(",") else 256
    return Target("cpu", facts["triple"], facts["cpu"], features, CPU_MATH,
                  vector_bits=bits, caches=host_caches())


def host_caches(root: str = "/sys/devices/system/cpu/cpu0/cache") -> tuple[int, int]:
    """This machine's L1 data cache and L2 sizes in bytes (Linux tells them in sysfs; the
    defaults elsewhere)."""
    found = dict(zip(("L1", "L2"), Target.caches))
    try:
        indices = [name for name in os.listdir(root) if name.startswith("index")]
    except OSError:
        indices = []
    for index in indices:
        try:
            level, kind, size = (open(os.path.join(root, index, name)).read().strip()
                                 for name in ("level", "type", "size"))
        except OSError:
            continue
        if kind in ("Data", "Unified") and level in ("1", "2") and size[:-1].isdigit():
            found["L" + level] = int(size[:-1]) << {"K": 10, "M": 20}.get(size[-1], 0)
    return found["L1"], found["L2"]


def cpu_target(mcpu: str | None = None, mattr: str | None = None,
               mtriple: str | None = None, loop_pipeline: str | None = None) -> Target:
    """A CPU target as llc's flags choose it: without flags, the host; ``mcpu`` a CPU name
    (``x86-64-v2``, ``skylake``, ``generic``; its features follow from it), ``mattr``
    features to add or remove (``+avx2,-fma``), ``mtriple`` another architecture or system
    (``aarch64-linux-gnu``; the CPU is then ``generic`` unless ``mcpu`` says).
    ``loop_pipeline`` replaces the target's own loop-level passes (e.g. with
    ``expand-matmul,outline-parallel,dce``: portable loops instead of the matmul kernel)."""
    if loop_pipeline is not None:
        from hyc.passes import parse_pipeline
        parse_pipeline(loop_pipeline)  # an unknown pass is an error now
        return replace(cpu_target(mcpu, mattr, mtriple), loop_pipeline=loop_pipeline)
    host = host_cpu()
    if mcpu is None and mattr is None and mtriple is None:
        return host
    triple = _checked_triple(mtriple) if mtriple else host.triple
    native = _same_machine(triple, host.triple)
    if mcpu in (None, "native"):
        cpu, features = (host.cpu, host.features) if native else ("generic", "")
        if mcpu == "native" and not native:
            raise HycError(f"--mcpu=native means this machine's CPU, which cannot run "
                           f"{triple} code; name a CPU of that architecture", code="E0902")
    else:
        cpu, features = mcpu, ""
    if mattr:
        features = ",".join(filter(None, [features, _checked_features(mattr)]))
    flags = " ".join(f"--{name}={value}" for name, value in
                     (("mcpu", mcpu), ("mattr", mattr), ("mtriple", mtriple)) if value)
    bits = _probe(triple, cpu, features, flags)
    return Target("cpu", triple, cpu, features, CPU_MATH, host=native, vector_bits=bits,
                  flags=flags, caches=host.caches if native else Target.caches)


def _same_machine(triple: str, host: str) -> bool:
    """Whether code for ``triple`` runs here (the architecture and system agree)."""
    def parts(t: str) -> tuple[str, str]:
        pieces = t.split("-")
        return pieces[0], next((p for p in pieces[1:] if p in ("linux", "darwin", "windows",
                                                                 "freebsd")), "")
    arch, system = parts(triple)
    host_arch, host_system = parts(host)
    return arch == host_arch and system in ("", host_system)


def _checked_triple(triple: str) -> str:
    import llvmlite.binding as llvm
    _initialize()
    try:
        llvm.Target.from_triple(triple)
    except RuntimeError:
        raise HycError(f"--mtriple={triple}: LLVM has no target for this triple (examples: "
                       "x86_64-linux-gnu, aarch64-linux-gnu)", code="E0902") from None
    return triple


def _checked_features(mattr: str) -> str:
    items = [item.strip() for item in mattr.split(",") if item.strip()]
    bad = [item for item in items if item[0] not in "+-" or len(item) < 2]
    if bad or not items:
        raise HycError(f"--mattr={mattr}: each feature is +NAME or -NAME, comma separated "
                       "(e.g. +avx2,-fma)", code="E0902")
    return ",".join(items)


# What the probe compiles: float math through libm and float arguments in registers, the
# code a flag like -mattr=-sse2 makes LLVM abort on.
_PROBE_IR = """
declare float @llvm.exp.f32(float)
declare double @llvm.exp.f64(double)
define float @f(float %x) { %y = call float @llvm.exp.f32(float %x) ret float %y }
define double @d(double %x) { %y = call double @llvm.exp.f64(double %x) ret double %y }
define void @v(<16 x float>* %p) {
  %x = load <16 x float>, <16 x float>* %p
  %y = fadd <16 x float> %x, %x
  store <16 x float> %y, <16 x float>* %p
  ret void
}
"""
_PROBE = """
import sys, llvmlite.binding as llvm
llvm.initialize_all_targets(); llvm.initialize_all_asmprinters()
triple, cpu, features, text = sys.argv[1:5]
tm = llvm.Target.from_triple(triple).create_target_machine(cpu=cpu, features=features)
module = llvm.parse_assembly(text)
module.triple = triple
print(tm.emit_assembly(module))
"""


@functools.cache
def _probe(triple: str, cpu: str, features: str, flags: str) -> int:
    """The width of the vector registers LLVM uses for this CPU, after checking that it can
    compile for it at all. LLVM only warns about a CPU or feature it does not know, on
    stderr, and goes on (or aborts the process, for a CPU without 64-bit mode or features
    without float registers): a separate process compiles a probe first and tells."""
    import subprocess  # here: it costs milliseconds to import, and only --mcpu/--mattr need it
    done = subprocess.run([sys.executable, "-c", _PROBE, triple, cpu, features, _PROBE_IR],
                          capture_output=True, text=True, timeout=120)
    for line in done.stderr.splitlines():
        if "not a recognized processor" in line:
            raise HycError(f"--mcpu={cpu}: LLVM knows no such CPU for {triple} (examples: "
                           "generic, native, x86-64-v2, x86-64-v3, skylake, znver3, cortex-a72)",
                           code="E0902")
        if "not a recognized feature" in line:
            name = line.split("'")[1] if "'" in line else line
            raise HycError(f"--mattr: LLVM knows no feature '{name}' for {triple}", code="E0902")
    if done.returncode:
        reason = next((line.removeprefix("LLVM ERROR: ") for line in done.stderr.splitlines()
                       if line.startswith("LLVM ERROR")), "it stopped")
        raise HycError(f"LLVM cannot generate code for {triple} with {flags}: {reason}", code="E0902")
    assembly = done.stdout
    return 512 if "zmm" in assembly else 256 if "ymm" in assembly else 128


# The GPU targets' loop passes: large matmuls become tiled kernels, other matmuls parallel
# loops; reductions to a scalar become block reductions; parallel loops become kernels.
GPU_LOOPS = ("gpu-tile-matmul,expand-matmul,gpu-block-reduce,canonicalize,cse,"
             "outline-parallel{nested=true},gpu-grid-stride,canonicalize,cse,dce")


@functools.cache
def gpu_sim() -> Target:
    """The GPU simulator: the same gpu-level kernels as the GPU target, compiled for this
    machine's CPU (blocks, and threads within a block, become loops)."""
    return replace(host_cpu(), name="gpu-sim", loop_pipeline=GPU_LOOPS)


TARGETS = ("cpu", "gpu", "gpu-sim")


def resolve(target: str | Target) -> Target:
    """The target a ``target=`` argument names: a ``Target``, or a name."""
    if isinstance(target, Target):
        return target
    if target not in TARGETS:
        raise HycError(f"unknown target '{target}' (hyc compiles for "
                       f"{', '.join(map(repr, TARGETS))})", code="E0901")
    if target == "gpu":
        from .nvptx import gpu_target
        return gpu_target()
    return gpu_sim() if target == "gpu-sim" else host_cpu()
