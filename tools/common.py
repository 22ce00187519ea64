"""What the command-line drivers share: reading input, loading modules, reporting errors."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from hyc.ir import HycError, Operation, render_all
from hyc.ir.diagnostics import nesting_room

if TYPE_CHECKING:
    from hyc.codegen.driver import Compilation
    from hyc.codegen.target import Target
    from hyc.passes import Instrumentation


def read_source(path: str) -> tuple[str, str]:
    """The text of ``path`` (``-`` is stdin) and the name diagnostics use for it."""
    if path == "-":
        return sys.stdin.read(), "<stdin>"
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(), path
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise HycError(f"cannot read '{path}': {reason}", code="E0001") from None


SOURCE_KINDS = (".hy", ".hyir")


def load_module(text: str, filename: str) -> Operation:
    """A verified module from .hy source (by its extension) or from textual IR."""
    from hyc.frontend.loading import module_from_text
    return module_from_text(text, filename)


def run_tool(tool: str, body: Callable[[], int], quiet: bool = False) -> int:
    """Run a driver: user errors become diagnostics and exit status 1, never a traceback; on
    a terminal, long work shows a status line (codegen/progress.py) unless ``quiet``."""
    from hyc.codegen.progress import shown
    try:
        with nesting_room(), shown(sys.stderr, tool, not quiet):
            return body()
    except HycError as e:
        sys.stderr.write(render_all(e.diagnostics) + "\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # a bug in hyc, not in the input: say so without a traceback
        sys.stderr.write(f"{tool}: error[E0803]: internal error: {type(e).__name__}: {e}\n"
                         "This is a bug in hyc; please report it with the input that caused it.\n")
        return 70


def write_output(text: str, path: str | None) -> None:
    if path is None or path == "-":
        sys.stdout.write(text)
        return
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise HycError(f"cannot write '{path}': {e.strerror}", code="E0002") from None


def add_pipeline_options(parser: argparse.ArgumentParser, default_level: int | None) -> None:
    """The optimization and instrumentation flags hyc and hyc-opt share."""
    group = parser.add_argument_group("optimization")
    for level in range(4):
        group.add_argument(f"-O{level}", dest="opt_level", action="store_const", const=level,
                           help=f"run the -O{level} pipeline" + (
                               " (default)" if level == default_level else ""))
    parser.set_defaults(opt_level=default_level)
    group.add_argument("--pass-pipeline", metavar="PASSES",
                       help="passes to run, e.g. 'inline,canonicalize,fuse-elementwise{max-ops=8}'")
    group.add_argument("--no-verify-each", dest="verify_each", action="store_false",
                       help="do not verify the IR after each pass")
    group.add_argument("--verify-each", dest="verify_each", action="store_true", default=True,
                       help="verify the IR after each pass (the default)")
    group.add_argument("--print-ir-before", metavar="PASS", action="append", default=[],
                       help="print the IR before this pass (repeatable, or a comma list)")
    group.add_argument("--print-ir-after", metavar="PASS", action="append", default=[],
                       help="print the IR after this pass (repeatable, or a comma list)")
    group.add_argument("--print-ir-after-all", action="store_true",
                       help="print the IR after every pass")
    group.add_argument("--print-ir-after-change", action="store_true",
                       help="print the IR after every pass that changed it")
    group.add_argument("--print-ir-after-failure", action="store_true",
                       help="print the IR after a pass that failed")
    group.add_argument("--timing", action="store_true",
                       help="print the wall time of each stage and pass, LLVM's included")
    group.add_argument("--memory-report", action="store_true",
                       help="print each function's buffers, live ranges and peak bytes")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no status line on the terminal during long work")
    group.add_argument("--report", metavar="FILE.html",
                       help="write one page about the compilation: each pass's IR diff, the "
                            "time of every pass and stage, op counts, memory, the graph")
    parser.add_argument("--dim", action="append", default=[], metavar="NAME=SIZE",
                        help="size of a named dimension, for --random-args and --memory-report "
                             "(default 4 and 1)")


def dim_sizes(items: list[str]) -> dict[str, int]:
    sizes = {}
    for item in items:
        name, _, size = item.partition("=")
        if not size.isdigit() or len(size) > 15:
            raise HycError(f"--dim expects NAME=SIZE with a size below 10**15, got '{item}'", code="E1102")
        sizes[name] = int(size)
    return sizes


def add_version(parser: argparse.ArgumentParser) -> None:
    from hyc import __version__
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")


def _names(items: list[str]) -> set[str]:
    return {name.strip() for item in items for name in item.split(",") if name.strip()}


def pipeline_options(args: argparse.Namespace) -> tuple[str, Instrumentation]:
    """The IR pipeline the flags ask for (-O level or --pass-pipeline), and what to do around
    each pass; dumps go to stderr."""
    from hyc.passes import LEVELS, PASSES, Instrumentation, parse_pipeline
    if args.pass_pipeline is not None and args.opt_level is not None and args.explicit_level:
        raise HycError("give either -O<level> or --pass-pipeline, not both", code="E1101")
    text = args.pass_pipeline if args.pass_pipeline is not None else LEVELS.get(args.opt_level, "")
    passes = parse_pipeline(text)
    instrumentation = Instrumentation(
        verify_each=args.verify_each, print_before=_names(args.print_ir_before),
        print_after=_names(args.print_ir_after), print_after_all=args.print_ir_after_all,
        print_after_change=args.print_ir_after_change,
        print_after_failure=args.print_ir_after_failure,
        debuginfo=getattr(args, "print_debuginfo", False),
        record=[] if getattr(args, "report", None) else None)
    unknown = (instrumentation.print_before | instrumentation.print_after) - {p.name for p in passes}
    for name in sorted(unknown):
        if name not in PASSES:
            raise HycError(f"unknown pass '{name}' in --print-ir-before/after", code="E0801")
    return text, instrumentation


def compilation_for(loader: Callable[[], Operation], args: argparse.Namespace,
                    target: str | Target = "cpu", **options: object) -> Compilation:
    """The staged compilation the flags ask for, of the module ``loader`` makes."""
    from hyc.codegen.driver import Compilation
    pipeline, instrumentation = pipeline_options(args)
    level = args.opt_level if args.opt_level is not None else 2
    return Compilation(loader, level, target, pipeline=pipeline,
                       instrumentation=instrumentation, **options)


def write_report(compilation: Compilation, args: argparse.Namespace, title: str) -> None:
    """--report=FILE.html: the page about the compilation (codegen/report.py)."""
    from hyc.codegen.report import report
    if args.report:
        write_output(report(compilation, title, dim_sizes(args.dim)), args.report)


def report_memory(module: Operation, args: argparse.Namespace, dims: dict[str, int]) -> None:
    from hyc.passes.memory import memory_report
    if args.memory_report:
        sys.stderr.write(memory_report(module, dims))


def level_was_given(argv: list[str] | None) -> bool:
    return any(a in ("-O0", "-O1", "-O2", "-O3") for a in (argv if argv is not None else sys.argv[1:]))
