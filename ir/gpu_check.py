"""A race and bounds checker for kernels, on the reference interpreter (compute-sanitizer's
racecheck and memcheck, without a GPU).

``CheckingInterpreter`` runs a module like ``Interpreter`` and, inside every ``gpu.launch``,
records each thread's loads and stores of every buffer element, global or shared, with the
phase of its block (the barriers the block has passed). Two threads touching one element,
one of them writing, race unless a barrier orders them: when they are of different blocks
(no barrier orders those), or of one block in the same phase. An index outside its buffer
is an out-of-bounds access. Either stops the run with a ``GpuCheckError`` naming the
kernel, the threads (block and thread ids) and the source locations of both accesses.
"""

from __future__ import annotations

from typing import TextIO

import numpy as np

from .core import Operation
from .diagnostics import Diagnostic, InterpreterError
from .dialects import buf, gpu
from .interpreter import Env, Interpreter


class GpuCheckError(InterpreterError):
    """A race or an out-of-bounds access found in a kernel."""


Thread = tuple[tuple[int, ...], tuple[int, ...]]  # block, thread
Access = tuple[str, Thread, int, Operation]  # kind, who, the block's phase, where
# the accesses kept per element: enough to catch a conflict with any later one, bounded
KEPT = 4


class CheckingInterpreter(Interpreter):
    def __init__(self, module: Operation, out: TextIO | None = None) -> None:
        super().__init__(module, out)
        self._rules[buf.LoadOp] = self._load
        self._rules[buf.StoreOp] = self._store
        self.kernel: str | None = None
        self.accesses: dict[tuple[int, tuple[int, ...]], list[Access]] = {}
        self.buffers: dict[int, np.ndarray] = {}  # those accessed: their ids stay theirs

    def _run_launch(self, op: Operation, args: list[np.ndarray], env: Env,
                    bindings: dict[str, int]) -> list[np.ndarray]:
        assert isinstance(op, gpu.LaunchOp)
        outer = (self.kernel, self.accesses, self.buffers)
        self.kernel, self.accesses, self.buffers = op.kernel, {}, {}
        try:
            return super()._run_launch(op, args, env, bindings)
        finally:
            self.kernel, self.accesses, self.buffers = outer

    def _load(self, op: Operation, args: list[np.ndarray], env: Env,
              bindings: dict[str, int]) -> list[np.ndarray]:
        self._record("read", op, args[0], args[1:])
        return self._evaluate(op, args)

    def _store(self, op: Operation, args: list[np.ndarray], env: Env,
               bindings: dict[str, int]) -> list[np.ndarray]:
        self._record("write", op, args[1], args[2:])
        return self._evaluate(op, args)

    def _thread(self) -> Thread:
        assert self.gpu_ids is not None
        return self.gpu_ids["gpu.block_id"], self.gpu_ids["gpu.thread_id"]

    def _record(self, kind: str, op: Operation, buffer: np.ndarray,
                indices: list[np.ndarray]) -> None:
        if self.gpu_ids is None:
            return  # host code: the interpreter's own checks apply
        position = tuple(int(i) for i in indices)
        thread = self._thread()
        phase = self.phases.phase if self.phases is not None else 0
        if any(not 0 <= i < n for i, n in zip(position, buffer.shape)):
            raise GpuCheckError(f"out-of-bounds {kind} in kernel @{self.kernel}: index "
                                f"{position} of a buffer of shape {buffer.shape}, by "
                                f"{_who(thread)}", op.loc, code="E1007")
        self.buffers[id(buffer)] = buffer
        seen = self.accesses.setdefault((id(buffer), position), [])
        for other_kind, other_thread, other_phase, other_op in seen:
            if other_thread != thread and "write" in (kind, other_kind) and \
                    (other_thread[0] != thread[0] or other_phase == phase):
                apart = "of different blocks" if other_thread[0] != thread[0] else \
                    "in the same phase of their block"
                error = GpuCheckError(
                    f"race in kernel @{self.kernel}: {_who(thread)} {kind}s element "
                    f"{position} that {_who(other_thread)} {other_kind}s, {apart} (no "
                    "barrier orders them)", op.loc, code="E1014")
                error.diagnostics.append(Diagnostic(f"the other access, by {_who(other_thread)}",
                                                    other_op.loc, "note"))
                raise error
        access = (kind, thread, phase, op)
        if access in seen:
            return
        # an access of this block in an earlier phase can conflict only with other blocks,
        # as this one can: keep the newer
        stale = [a for a in seen if a[1][0] == thread[0] and a[2] < phase and a[0] == kind]
        if stale:
            seen.remove(stale[0])
        if len(seen) < KEPT:
            seen.append(access)


def _who(thread: Thread) -> str:
    block, ids = thread
    return f"thread {ids} of block {block}"
