"""Structured errors and their rendering: ``file:line:col: error[E0301]: message``, the source
line and a caret. Every error carries a code registered in ``error_codes``."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from hyc.record import field, record

from .location import UNKNOWN, FileLineColLoc, Location


@record
class Diagnostic:
    message: str
    loc: Location = UNKNOWN
    severity: str = "error"
    notes: list[Diagnostic] = field(default_factory=list)
    code: str = ""  # E0301 and the like (error_codes.py); notes have none


class HycError(Exception):
    """An error a user caused: bad source, malformed IR, wrong arguments.

    It holds one or more diagnostics; the command-line tools render them and exit with 1. A
    raise site names its code (``code="E0301"``); a test checks that each is registered.
    """

    def __init__(self, message: str = "", loc: Location = UNKNOWN,
                 diagnostics: list[Diagnostic] | None = None, *, code: str = "") -> None:
        self.diagnostics = (diagnostics if diagnostics is not None
                            else [Diagnostic(message, loc, code=code)])
        super().__init__(self.diagnostics[0].message if self.diagnostics else message)

    @property
    def loc(self) -> Location:
        return self.diagnostics[0].loc

    @property
    def code(self) -> str:
        """The first diagnostic's code: what the error is, for programs that handle it."""
        return self.diagnostics[0].code if self.diagnostics else ""

    def __str__(self) -> str:
        return render_all(self.diagnostics, with_source=False)


class ParseError(HycError):
    """Malformed textual IR or source text."""


class VerifyError(HycError):
    """IR that breaks a structural or type rule."""


class InterpreterError(HycError):
    """A failure while executing IR (bad argument, runtime shape mismatch, ...)."""


class RunTimeCheckError(HycError, ValueError):
    """A size the program only knew when it ran broke a rule (the interpreter's errors), in
    compiled code: its message is a rendered diagnostic line (``check_message``)."""

    @staticmethod
    def from_message(text: str) -> RunTimeCheckError:
        """The error for a check's message, located at its place, with its code."""
        found = _CHECK_MESSAGE.fullmatch(text)
        if found is None:  # not a message check_message wrote
            return RunTimeCheckError(text, code="E1006")
        where = FileLineColLoc(found["file"], int(found["line"]), int(found["col"])) \
            if found["file"] else UNKNOWN
        return RunTimeCheckError(found["message"], where, code=found["code"])


def check_message(loc: Location, message: str, code: str) -> str:
    """The text compiled code reports when a run-time check fails: the diagnostic as rendered
    without source (also what a C program reads from an AOT library's message table)."""
    return render(Diagnostic(message, loc, code=code), with_source=False)


_CHECK_MESSAGE = re.compile(r"(?:(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): )?"
                            r"error\[(?P<code>E\d{4})\]: (?P<message>.*)", re.DOTALL)


def _lines(text: str) -> list[str]:
    """Lines as the parsers count them: split at ``\n`` only (not at U+2028 and the like)."""
    return [line.removesuffix("\r") for line in text.split("\n")]


class SourceManager:
    """Remembers source text by file name so diagnostics can quote lines of stdin too."""

    def __init__(self) -> None:
        self._texts: dict[str, list[str]] = {}

    def register(self, filename: str, text: str) -> None:
        self._texts[filename] = _lines(text)

    def line(self, filename: str, lineno: int) -> str | None:
        lines = self._texts.get(filename)
        if lines is None and os.path.isfile(filename):
            try:
                with open(filename, encoding="utf-8", errors="replace") as f:
                    lines = _lines(f.read())
            except OSError:
                return None
            self._texts[filename] = lines
        if lines is None or not 1 <= lineno <= len(lines):
            return None
        return lines[lineno - 1]


SOURCES = SourceManager()


def render(diag: Diagnostic, with_source: bool = True) -> str:
    p = diag.loc.primary()
    head = f"{p.filename}:{p.line}:{p.col}: " if p else ""
    kind = f"{diag.severity}[{diag.code}]" if diag.code else diag.severity
    out = [f"{head}{kind}: {diag.message}"]
    if with_source and p is not None:
        text = SOURCES.line(p.filename, p.line)
        if text is not None:
            expanded = text.expandtabs(1)  # keep caret aligned: one column per character
            out.append(expanded)
            out.append(" " * max(p.col - 1, 0) + "^")
    out.extend(render(n, with_source) for n in diag.notes)
    return "\n".join(out)


def render_all(diagnostics: list[Diagnostic], with_source: bool = True) -> str:
    return "\n".join(render(d, with_source) for d in diagnostics)


# Frames that the recursive walks over a program (parsers, lowering, printer, verifier,
# passes, codegen) may use on top of the caller's: a long chain ``a + b + ...`` or deeply
# nested loops recurse once per level.
NESTING_FRAMES = 12000


@contextmanager
def nesting_room(what: str = "the input") -> Iterator[None]:
    """Allow ``NESTING_FRAMES`` of recursion beyond the caller's own depth, whatever that is,
    and turn running out of them into a HycError (not a RecursionError)."""
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back  # type: ignore[assignment]
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(max(saved, depth + NESTING_FRAMES))
    try:
        yield
    except RecursionError:
        raise HycError(f"{what} is nested too deeply to compile (an expression of thousands of "
                       "terms, or hundreds of nested blocks?)", code="E0007") from None
    finally:
        sys.setrecursionlimit(saved)
