"""How the interpreter runs the threads of a block whose kernel synchronizes them
(``gpu.barrier``): in barrier-delimited phases.

Each GPU thread of the block runs its kernel on a Python thread of its own, and a baton
passes among them in thread order (x fastest), so exactly one runs at a time and every run
is deterministic: in a phase, each thread in turn runs until its next barrier or its end;
when all have, the next phase begins. A thread that returns while others wait at a barrier
is an error (on a GPU: a hang, or undefined behaviour).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any

from .core import Operation
from .diagnostics import InterpreterError


class _Abandoned(BaseException):
    """Unwinds a thread waiting at a barrier when its block stops (another thread failed)."""


class Phases:
    """Runs ``run_thread(k)`` for the threads ``k`` of one block in phases. ``enter(k)`` and
    ``leave()`` move the interpreter's per-thread state (the ids, the call depth) in and out
    when the baton passes; ``phase`` counts the barriers the block has passed."""

    def __init__(self, count: int, run_thread: Callable[[int], object],
                 enter: Callable[[int, Any], None], leave: Callable[[], Any],
                 describe: Callable[[int], str]) -> None:
        self.count = count
        self.run_thread, self.enter, self.leave, self.describe = run_thread, enter, leave, describe
        self.turns = [threading.Semaphore(0) for _ in range(count)]
        self.yielded = threading.Semaphore(0)
        # per thread: "ready", "barrier" (waiting at one), "returned", or what it raised
        self.state: list[object] = ["ready"] * count
        self.where: list[Operation | None] = [None] * count
        self.phase = 0
        self.abandoned = False
        self.exchange: dict[int, dict[int, Any]] = {}  # gpu.shuffle_down's values, by phase

    def run(self) -> None:
        workers = [threading.Thread(target=contextvars.copy_context().run,
                                    args=(self._thread, k), daemon=True)
                   for k in range(self.count)]
        for worker in workers:
            worker.start()
        try:
            while True:
                for k in range(self.count):
                    self.turns[k].release()
                    self.yielded.acquire()
                    failure = self.state[k]
                    if isinstance(failure, BaseException):
                        raise failure
                if all(s == "returned" for s in self.state):
                    return
                if any(s == "returned" for s in self.state):
                    raise self._divergence()
                self.phase += 1
        finally:
            self.abandoned = True
            for k, state in enumerate(self.state):
                if state in ("ready", "barrier"):
                    self.turns[k].release()
            for worker in workers:
                worker.join()

    def barrier(self, op: Operation, k: int) -> None:
        """Thread ``k`` waits at ``op`` (a barrier, a shuffle) until the block's next phase."""
        self.state[k], self.where[k] = "barrier", op
        saved = self.leave()
        self.yielded.release()
        self.turns[k].acquire()
        if self.abandoned:
            raise _Abandoned
        self.enter(k, saved)

    def _thread(self, k: int) -> None:
        self.turns[k].acquire()
        if self.abandoned:
            return
        try:
            self.enter(k, None)
            self.run_thread(k)
            self.state[k] = "returned"
        except _Abandoned:
            return
        except BaseException as e:  # handed to the block's runner, which raises it
            self.state[k] = e
        self.leave()
        self.yielded.release()

    def _divergence(self) -> InterpreterError:
        waiting = next(k for k, s in enumerate(self.state) if s == "barrier")
        returned = next(k for k, s in enumerate(self.state) if s == "returned")
        op = self.where[waiting]
        assert op is not None
        what = "a barrier" if op.name == "gpu.barrier" else f"'{op.name}'"
        return InterpreterError(
            f"{self.describe(waiting)} waits at {what} that {self.describe(returned)} "
            "never reaches (it returned): every thread of a block must reach the same "
            "barriers and shuffles", op.loc, code="E1013")
