"""A live status line for long work, on a terminal (as cargo and ninja show one).

The compiler says what it is doing with ``status("pass canonicalize")`` (the driver's stages,
the pass manager's passes, the plan executor's kernel launches); that costs an assignment.
``shown(stream)`` — around a command-line tool's work — draws the latest status on one line
of ``stream`` once the work has taken ``HYC_PROGRESS_DELAY`` seconds (default 1), refreshing
it ten times a second, and at the end replaces it with the time the work took. It draws
nothing where ``stream`` is not a terminal, or with ``-q``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

_current = ""


def status(text: str) -> None:
    """What the compiler does now (for the status line, if one is shown)."""
    global _current
    _current = text


def current() -> str:
    return _current


@contextmanager
def shown(stream: TextIO, tool: str, enabled: bool = True) -> Iterator[None]:
    """Draw the status line on ``stream`` while the block runs, if it is a terminal."""
    if not enabled or not getattr(stream, "isatty", lambda: False)():
        yield
        return
    delay = float(os.environ.get("HYC_PROGRESS_DELAY", "1") or 1)
    done = threading.Event()
    drawn = [False]

    def draw() -> None:
        if done.wait(delay):
            return
        last = None
        while not done.is_set():
            text = _current
            if text != last:
                stream.write(f"\r\x1b[K{tool}: {text}"[:200])
                stream.flush()
                drawn[0], last = True, text
            done.wait(0.1)

    status("starting")
    thread = threading.Thread(target=draw, daemon=True)
    start = time.perf_counter()
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        if drawn[0]:
            stream.write(f"\r\x1b[K{tool}: done in {time.perf_counter() - start:.1f} s\n")
            stream.flush()
        status("")
