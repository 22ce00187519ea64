"""What the command-line drivers share: reading input, loading modules, reporting errors."""

from __future__ import annotations

import sys
from collections.abc import Callable

from hyc.ir import HycError, Operation, parse_module, render_all, verify


def read_source(path: str) -> tuple[str, str]:
    """The text of ``path`` (``-`` is stdin) and the name diagnostics use for it."""
    if path == "-":
        return sys.stdin.read(), "<stdin>"
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(), path
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise HycError(f"cannot read '{path}': {reason}") from None


SOURCE_KINDS = (".hy", ".hyir")


def load_module(text: str, filename: str) -> Operation:
    """A verified module from .hy source (by its extension) or from textual IR."""
    if filename.endswith(".hy"):
        from hyc.frontend.irgen import compile_source
        return compile_source(text, filename)
    module = parse_module(text, filename)
    verify(module)
    return module


def run_tool(tool: str, body: Callable[[], int]) -> int:
    """Run a driver: user errors become diagnostics and exit status 1, never a traceback."""
    try:
        return body()
    except HycError as e:
        sys.stderr.write(render_all(e.diagnostics) + "\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # a bug in hyc, not in the input: say so without a traceback
        sys.stderr.write(f"{tool}: internal error: {type(e).__name__}: {e}\n"
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
        raise HycError(f"cannot write '{path}': {e.strerror}") from None
