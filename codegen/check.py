"""``hyc check``: compiled against eager, and on a mismatch, the pass that caused it.

``check(source, entry, args, opt_level, target)`` runs function ``entry`` eagerly (the
reference interpreter on the module as the frontend made it) and compiled (for any target),
and compares the results; it also runs the optimized module on the interpreter and compares
every value that has a source location with the eager value there. Where anything differs
it bisects: it applies the pipeline (the ``-O`` passes, the lowering to loops, the target's
loop passes) one pass at a time, running the module on the interpreter after each, and names
the first pass after which a result differs, with the first value (by source location) that
differs and the lines of IR the pass changed. When every pass keeps the results, the fault is
below the IR: the LLVM stage is checked at each lower ``-O`` level to tell LLVM's
optimizations from hyc's code generation.

Values compare within a tolerance that depends on the dtype (floats: relative 1e-4 for f32,
1e-9 for f64, NaN equal to NaN; integers and booleans exactly).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

import numpy as np

from hyc.ir import FuncOp, HycError, Interpreter, ModuleOp, Operation, print_ir
from hyc.ir.location import FileLineColLoc, describe
from hyc.ir.types import Type
from hyc.record import field, record

from .driver import Compilation, copy
from .target import Target

DIFF_LINES = 24  # of a pass's IR diff, shown


class Recording(Interpreter):
    """The interpreter, keeping the last value each source location computes (the op a
    location names last: ``s + 2.0`` is a broadcast of 2.0, then the add), in the order the
    locations are first reached."""

    def __init__(self, module: Operation) -> None:
        super().__init__(module, out=_Quiet())
        self.values: dict[tuple[str, int, int], tuple[FileLineColLoc, np.ndarray]] = {}

    def _checked(self, op: Operation, type_: Type, value: np.ndarray,
                 bindings: dict[str, int]) -> np.ndarray:
        array = super()._checked(op, type_, value, bindings)
        loc = op.loc.primary() if op.loc is not None else None
        if isinstance(loc, FileLineColLoc):
            self.values[(loc.filename, loc.line, loc.col)] = (loc, array.copy())
        return array


class _Quiet:
    def write(self, text: str) -> int:
        return len(text)


def close(got: Any, want: Any) -> bool:
    """``got`` equals ``want`` within the dtype's tolerance."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return False
    if want.dtype.kind == "f" or got.dtype.kind == "f":
        rtol = 1e-9 if want.dtype == np.float64 else 1e-4
        return bool(np.allclose(got, want, rtol=rtol, atol=rtol, equal_nan=True))
    return bool(np.array_equal(got, want))


@record
class Divergence:
    stage: str  # where it starts: a pass, LLVM's optimizations, code generation
    value: tuple[FileLineColLoc, np.ndarray, np.ndarray] | None = None  # where, eager, there
    diff: str = ""


@record
class CheckResult:
    entry: str
    opt_level: int
    target: str
    eager: list[np.ndarray]
    compiled: list[np.ndarray]
    compared: int  # values with a source location compared with the optimized module's
    divergence: Divergence | None = None
    mismatched: list[int] = field(default_factory=list)  # results that differ

    @property
    def agreed(self) -> bool:
        return self.divergence is None

    def report(self) -> str:
        head = f"@{self.entry} at -O{self.opt_level} for {self.target}"
        if self.agreed:
            return (f"hyc check: {head}: compiled agrees with eager ({len(self.eager)} "
                    f"result(s), {self.compared} located value(s) compared)\n")
        lines = [f"hyc check: {head}: compiled differs from eager"]
        for k in self.mismatched:
            lines.append(f"  result #{k}: eager {_show(self.eager[k])}, compiled "
                         f"{_show(self.compiled[k])}")
        d = self.divergence
        assert d is not None
        lines.append(f"  it starts in {d.stage}")
        if d.value is not None:
            loc, eager, there = d.value
            lines.append(f"  first value that differs: {describe(loc)}: eager {_show(eager)}, "
                         f"then {_show(there)}")
            source = _source_line(loc)
            if source:
                lines.append(f"    {source}")
        if d.diff:
            lines.append("  what it changed:")
            lines += ["    " + line for line in d.diff.splitlines()]
        return "\n".join(lines) + "\n"


def _show(value: Any) -> str:
    array = np.asarray(value)
    text = np.array2string(array, threshold=8, edgeitems=2, precision=6) if array.ndim else \
        repr(array.item())
    return text.replace("\n", " ")


def _source_line(loc: FileLineColLoc) -> str:
    try:
        with open(loc.filename) as f:
            lines = f.read().splitlines()
        return lines[loc.line - 1].strip() if 0 < loc.line <= len(lines) else ""
    except OSError:
        return ""


def check(source: Any, entry: str, args: list[Any], opt_level: int = 2,
          target: str | Target = "cpu") -> CheckResult:
    """Compare ``entry`` compiled at ``opt_level`` for ``target`` with its eager run."""
    compilation = Compilation(source, opt_level, target)
    tensor = copy(compilation.tensor())
    eager_run = Recording(tensor)
    eager = list(eager_run.call(entry, *args))
    compiled = _results(_quietly(lambda: compilation.jit()[entry](*args)))
    optimized = Recording(copy(compilation.optimized_ir()))
    optimized.call(entry, *args)
    compared = sum(1 for key in eager_run.values if key in optimized.values)
    result = CheckResult(entry, opt_level, compilation.target.name, eager, compiled, compared)
    result.mismatched = [k for k, (g, w) in enumerate(zip(compiled, eager)) if not close(g, w)]
    if result.mismatched or _first_difference(eager_run, optimized) is not None:
        result.divergence = bisect(compilation, tensor, entry, args, eager, eager_run)
    return result


def _quietly(call: Any) -> Any:
    """``call()`` with what compiled code prints set aside (the eager run's is too)."""
    import io

    from . import jit
    jit.set_print_stream(io.StringIO())
    try:
        return call()
    finally:
        jit.set_print_stream(None)


def _results(returned: Any) -> list[np.ndarray]:
    values = returned if isinstance(returned, tuple) else () if returned is None else (returned,)
    return [np.asarray(v) for v in values]


def _first_difference(eager: Recording, other: Recording) -> tuple | None:
    for key, (loc, value) in eager.values.items():
        if key in other.values:
            there = other.values[key][1]
            if there.shape == value.shape and not close(there, value):
                return loc, value, there
    return None


def _pipeline(compilation: Compilation) -> Iterator[tuple[str, Any]]:
    """The passes a compilation runs on the IR, in order, each with where it belongs."""
    from hyc.passes import LEVELS, LOWER_TO_LOOPS, parse_pipeline
    for stage, text in ((f"-O{compilation.opt_level}", LEVELS[compilation.opt_level]),
                        ("the lowering to loops", LOWER_TO_LOOPS),
                        (f"target {compilation.target.name}'s loop passes",
                         compilation.target.loop_pipeline)):
        for p in parse_pipeline(text):
            yield stage, p


def bisect(compilation: Compilation, tensor: ModuleOp, entry: str, args: list[Any],
           eager: list[np.ndarray], eager_run: Recording) -> Divergence:
    """The first pass after which the module, on the interpreter, computes something else
    than the eager run; else the stage below the IR where the compiled code starts to."""
    module = copy(tensor)
    for position, (stage, p) in enumerate(_pipeline(compilation), 1):
        before = print_ir(module)
        p.run(module)
        run = Recording(module)
        try:
            got = _interpret(run, module, entry, args, eager)
        except HycError as e:  # the pass made a module that fails where eager did not
            return Divergence(f"pass '{p.name}' (#{position}, of {stage}): the module after it "
                              f"fails: {e.diagnostics[0].message}", None,
                              _diff(before, print_ir(module), p.name))
        differs = any(not close(g, w) for g, w in zip(got, eager))
        first = _first_difference(eager_run, run)
        if differs or first is not None:
            return Divergence(f"pass '{p.name}' (#{position}, of {stage})", first,
                              _diff(before, print_ir(module), p.name))
    optimized = compilation.optimized_ir()
    for level in range(compilation.opt_level - 1, -1, -1):
        lowered = Compilation(optimized, level, compilation.target, optimized=True).jit()
        if all(close(g, w) for g, w in zip(_results(_quietly(lambda f=lowered[entry]: f(*args))),
                                               eager)):
            return Divergence(f"LLVM's optimizations at -O{level + 1} (the code agrees at "
                              f"-O{level}; the IR agrees after every pass)")
    return Divergence("hyc's code generation (its LLVM IR disagrees even unoptimized; the IR "
                      "agrees after every pass)")


def _interpret(run: Recording, module: ModuleOp, entry: str, args: list[Any],
               eager: list[np.ndarray]) -> list[np.ndarray]:
    """``entry`` on the interpreter, at the tensor level or (its results as trailing
    buffers) at the loop level."""
    func = module.lookup(entry)
    assert isinstance(func, FuncOp)
    if func.type.results or not eager:
        return _results(run.call(entry, *args))
    outs = [np.zeros(np.shape(w), np.asarray(w).dtype) for w in eager]
    run.call(entry, *args, *outs)
    return [o[()] if o.ndim == 0 else o for o in outs]


def _diff(before: str, after: str, name: str) -> str:
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(),
                                      f"before {name}", f"after {name}", n=1, lineterm=""))
    if len(lines) > DIFF_LINES:
        lines = lines[:DIFF_LINES] + [f"... ({len(lines) - DIFF_LINES} more lines)"]
    return "\n".join(lines)
