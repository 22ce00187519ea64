"""Passes, their registry, textual pipelines and the pass manager with its instrumentation.

A pass is a small class with a ``name``, a docstring (its first line is the summary that
``hyc-opt --list-passes`` shows) and options as fields of a record (hyc/record.py)::

    @register_pass
    @record
    class FuseElementwise(Pass):
        \"\"\"Fuse chains and DAGs of elementwise ops into hy.fused.\"\"\"
        name: ClassVar[str] = "fuse-elementwise"
        max_ops: int = 16          # spelled max-ops in pipelines: fuse-elementwise{max-ops=8}

The pass manager owns everything around running them: verification after each pass, IR
dumps before/after passes, each pass's wall time, and a reproducer file when a pass crashes.
"""

from __future__ import annotations

import inspect
import os
import sys
import tempfile
import time
from collections.abc import Iterable
from typing import ClassVar, TextIO

from hyc.codegen import progress
from hyc.ir import HycError, ModuleOp, print_ir, verify
from hyc.ir.diagnostics import Diagnostic
from hyc.record import Field, field, fields, record

PASSES: dict[str, type[Pass]] = {}


class Pass:
    """Base class of passes: ``run`` transforms a module in place. It may return whether it
    changed anything: after a pass that returns False the pass manager does not verify the
    module again (MLIR skips the verifier after a pass that preserved everything); None, as
    most passes return, counts as a change."""

    name: ClassVar[str] = ""

    def run(self, module: ModuleOp) -> bool | None:
        raise TypeError(f"pass {self.name} does not define run()")

    @classmethod
    def summary(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "").split("\n")[0].replace("``", "`")

    def text(self) -> str:
        """This pass as pipeline text, with the options that differ from their defaults."""
        options = [f"{f.name.replace('_', '-')}={_format_option(getattr(self, f.name))}"
                   for f in fields(self)
                   if getattr(self, f.name) != f.default]
        return self.name + ("{" + ",".join(options) + "}" if options else "")


# The GPU passes (named gpu-*) register when a pipeline first names one (or when all passes
# are listed): a CPU compile does without their modules (4 ms of its imports).
GPU_PREFIX = "gpu-"


def import_gpu_passes() -> None:
    from . import gpu, gpu_matmul, gpu_reduce, serialize_threads  # noqa: F401


def register_pass(cls: type[Pass]) -> type[Pass]:
    assert cls.name and cls.name not in PASSES, f"pass name {cls.name!r} missing or taken"
    PASSES[cls.name] = cls
    return cls


def _format_option(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


# -- pipeline text --------------------------------------------------------------------------------
def _split_top_level(text: str) -> list[str]:
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item.strip() for item in items if item.strip()]


def _convert_option(pass_name: str, f: Field, raw: str) -> object:
    kind = f.type if isinstance(f.type, type) else {"int": int, "bool": bool, "float": float,
                                                     "str": str}.get(str(f.type), str)
    try:
        if kind is bool:
            if raw not in ("true", "false", "1", "0"):
                raise ValueError
            return raw in ("true", "1")
        return kind(raw)
    except ValueError:
        raise HycError(f"pass '{pass_name}': option '{f.name.replace('_', '-')}' expects "
                       f"{kind.__name__}, got '{raw}'", code="E0802") from None


def parse_pipeline(text: str) -> list[Pass]:
    """``inline,canonicalize,fuse-elementwise{max-ops=8}`` -> pass instances."""
    passes = []
    for item in _split_top_level(text):
        name, brace, rest = item.partition("{")
        name = name.strip()
        if name not in PASSES and name.startswith(GPU_PREFIX):
            import_gpu_passes()
        if name not in PASSES:
            raise HycError(f"unknown pass '{name}' (hyc-opt --list-passes lists the passes)", code="E0801")
        if brace and (not rest.endswith("}") or "{" in rest or "}" in rest[:-1]):
            raise HycError(f"pass '{name}': options must be written {{name=value,...}}", code="E0802")
        cls = PASSES[name]
        by_name = {f.name.replace("_", "-"): f for f in fields(cls)}
        options = {}
        for assignment in filter(None, (a.strip() for a in rest[:-1].split(","))):
            key, eq, raw = assignment.partition("=")
            if not eq or key.strip() not in by_name:
                known = ", ".join(by_name) or "none"
                raise HycError(f"pass '{name}' has no option '{key.strip()}' (options: {known})",
                               code="E0802")
            f = by_name[key.strip()]
            options[f.name] = _convert_option(name, f, raw.strip())
        passes.append(cls(**options))
    return passes


def pipeline_text(passes: Iterable[Pass]) -> str:
    return ",".join(p.text() for p in passes)


# -- the pass manager ------------------------------------------------------------------------------
@record
class Instrumentation:
    """What the pass manager does around each pass (hyc-opt's and hyc's flags)."""

    verify_each: bool = True
    print_before: set[str] = field(default_factory=set)
    print_after: set[str] = field(default_factory=set)
    print_after_all: bool = False
    print_after_change: bool = False
    print_after_failure: bool = False
    debuginfo: bool = False
    out: TextIO | None = None  # where dumps go (default stderr)
    # each pass's IR before and after and its time, for a report (--report); None: not kept
    record: list[PassRecord] | None = None
    stage: str = ""  # what the passes belong to, for the record


@record
class PassRecord:
    stage: str
    name: str
    before: str
    after: str
    seconds: float


class PassManager:
    """Runs passes in order; ``timings`` has each one's wall time after (the driver's timing
    report, codegen/driver.py, shows them with the other stages)."""

    def __init__(self, passes: list[Pass], instrumentation: Instrumentation | None = None) -> None:
        self.passes = passes
        self.instr = instrumentation or Instrumentation()
        self.timings: list[tuple[str, float]] = []

    @property
    def out(self) -> TextIO:
        return self.instr.out or sys.stderr

    def dump(self, when: str, name: str, module: ModuleOp) -> None:
        self.out.write(f"// -----// IR Dump {when} {name} //----- //\n")
        self.out.write(print_ir(module, debuginfo=self.instr.debuginfo))

    def run(self, module: ModuleOp) -> None:
        original = print_ir(module, debuginfo=True)
        for p in self.passes:
            self._run_one(p, module, original)

    def _run_one(self, p: Pass, module: ModuleOp, original: str) -> None:
        instr = self.instr
        if p.name in instr.print_before:
            self.dump("Before", p.name, module)
        progress.status(f"pass {p.name}")
        recording = instr.record is not None
        before = print_ir(module) if instr.print_after_change or recording else None
        start = time.perf_counter()
        try:
            changed = p.run(module)
            if instr.verify_each and changed is not False:
                verify(module)
        except HycError as e:
            if instr.print_after_failure:
                self.dump("After Failure", p.name, module)
            note = Diagnostic(f"in pass '{p.name}'", severity="note")
            raise HycError(diagnostics=[*e.diagnostics, note]) from None
        except (Exception, RecursionError) as e:  # a bug in the pass: leave a reproducer
            if instr.print_after_failure:
                self.dump("After Failure", p.name, module)
            path = self.write_reproducer(original)
            raise HycError(f"internal error in pass '{p.name}': {type(e).__name__}: {e}; a "
                           f"reproducer was written to {path}", code="E0803") from e
        finally:
            self.timings.append((p.name, time.perf_counter() - start))
        if instr.record is not None and before is not None:
            instr.record.append(PassRecord(instr.stage, p.name, before, print_ir(module),
                                           self.timings[-1][1]))
        wanted = instr.print_after_all or p.name in instr.print_after or instr.print_after_change
        if wanted and (before is None or print_ir(module) != before):
            self.dump("After", p.name, module)

    def write_reproducer(self, original: str) -> str:
        """The pipeline's input and the pipeline, so that hyc-opt reproduces the crash; in
        ``HYC_REPRODUCER_DIR`` when set, else in the temporary directory."""
        directory = os.environ.get("HYC_REPRODUCER_DIR") or None
        if directory is not None:
            os.makedirs(directory, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix="hyc-reproducer-", suffix=".hyir", dir=directory)
        pipeline = pipeline_text(self.passes)
        with os.fdopen(fd, "w") as f:
            f.write(f"// hyc-opt reproducer: hyc-opt {os.path.basename(path)} "
                    f"--pass-pipeline='{pipeline}'\n{original}")
        return path


def list_passes() -> str:
    """One line per pass: name, options and summary (hyc-opt --list-passes)."""
    import hyc.passes  # noqa: F401  (registers every pass but the GPU's)
    import_gpu_passes()
    rows = []
    for name in sorted(PASSES):
        cls = PASSES[name]
        options = ", ".join(f"{f.name.replace('_', '-')}={_format_option(f.default)}"
                            for f in fields(cls))
        rows.append(f"  {name:<24} {cls.summary()}" + (f" [{options}]" if options else ""))
    return "Available passes:\n" + "\n".join(rows) + "\n"
