"""Ctrl-C in compiled code.

Compiled functions release the GIL and run native loops, where Python's own signal handling
never gets a turn. So that a long loop still stops, hyc hooks SIGINT at the C level: its
handler (generated code, async-signal-safe) adds one to the counter ``hyc_interrupts`` and
then calls the handler it replaced (Python's, which schedules ``KeyboardInterrupt``). Every
``buf.interrupt_point`` (one per iteration of a loop whose trip count the program chose)
compares the counter with its value when the call began and returns ``INTERRUPTED`` when it
moved; the Python wrapper then lets Python's handler run, which raises ``KeyboardInterrupt``.

The hook is installed when the JIT starts and again after each compile if something (Python's
``signal.signal``) replaced it; where SIGINT is ignored or left to its default (which ends
the process), hyc leaves it alone. Shared libraries get the counter from their runtime
(``hyc_interrupt()`` bumps it; a C program calls it from its own handler).
"""

from __future__ import annotations

import ctypes
import functools
import signal

INTERRUPTED = -2  # the status of a compiled call that stopped for an interrupt
COUNTER = "hyc_interrupts"
PREVIOUS = "hyc_previous_sigint"
HANDLER = "hyc_on_sigint"

_counter = ctypes.c_int64(0)
_previous = ctypes.c_void_p(0)
_SIG_IGN = 1

HANDLER_IR = f"""
@{COUNTER} = external global i64
@{PREVIOUS} = external global i8*

define void @{HANDLER}(i32 %sig) {{
entry:
  %old = atomicrmw add i64* @{COUNTER}, i64 1 monotonic
  %previous = load volatile i8*, i8** @{PREVIOUS}
  %address = ptrtoint i8* %previous to i64
  %callable = icmp ugt i64 %address, {_SIG_IGN}
  br i1 %callable, label %chain, label %done
chain:
  %handler = bitcast i8* %previous to void (i32)*
  call void %handler(i32 %sig)
  br label %done
done:
  ret void
}}
"""


def symbols() -> dict[str, int]:
    """The addresses compiled code reads the counter and the previous handler at."""
    return {COUNTER: ctypes.addressof(_counter), PREVIOUS: ctypes.addressof(_previous)}


@functools.cache
def _libc() -> ctypes.CDLL:
    """The C library, opened once (each compile and cache load reinstalls the hook)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.sigaction.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    return libc


# struct sigaction starts with the handler on Linux and macOS; the rest is copied as it is
_SIGACTION_BYTES = 512


def install(handler: int) -> None:
    """Put ``handler`` in front of SIGINT's C-level handler, unless it is there already or
    SIGINT is ignored or left to its default."""
    libc = _libc()
    current = ctypes.create_string_buffer(_SIGACTION_BYTES)
    if libc.sigaction(signal.SIGINT, None, current) != 0:
        return
    existing = ctypes.c_void_p.from_buffer(current).value or 0
    if existing in (handler, 0, _SIG_IGN):
        return
    _previous.value = existing
    ctypes.c_void_p.from_buffer(current).value = handler
    libc.sigaction(signal.SIGINT, current, None)


def interrupted() -> None:
    """After a compiled call stopped for an interrupt: Python's handler runs now (it raises
    ``KeyboardInterrupt`` by default); if it does not raise, the call still has no result."""
    ctypes.pythonapi.PyErr_CheckSignals()
    raise KeyboardInterrupt("a compiled hyc function was interrupted")
