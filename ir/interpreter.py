"""The reference interpreter: executes tensor-level IR with numpy.

It is the oracle for all compiled code. Pure ops run their own ``evaluate``; this module
handles what needs the interpreter's state: calls, loops, branches, print, and the checks
of values against their declared types at every step.
"""

from __future__ import annotations

import itertools
import math
import sys
import warnings
from collections import ChainMap
from collections.abc import Callable, MutableMapping
from typing import Any, TextIO

import numpy as np

from .core import Block, Operation, Value
from .diagnostics import HycError, InterpreterError
from .dialects import buf, gpu
from .dialects.builtin import ModuleOp
from .dialects.func import CallOp, FuncOp
from .dialects.hy import PrintOp
from .dialects.scf import ForOp, IfOp
from .gpu_threads import Phases
from .opdef import Terminator
from .types import MemRefType, Type, numpy_dtype, shape_of

MAX_CALL_DEPTH = 100
MAX_BLOCK_THREADS = 1024  # as on NVIDIA GPUs
Env = MutableMapping[Value, np.ndarray]
Rule = Callable[[Operation, list[np.ndarray], Env, dict[str, int]], list[np.ndarray]]


class ArgumentTypeError(HycError, TypeError):
    """A wrong number of arguments or a wrong dtype."""


class ArgumentValueError(HycError, ValueError):
    """A wrong shape, or a named dimension bound to two sizes."""


def format_value(value: np.ndarray) -> str:
    """How ``hy.print`` shows a value: like Python's print of the numpy value."""
    return str(value[()] if value.ndim == 0 else value)


def check_shape(value: np.ndarray, type_: Type, bindings: dict[str, int], what: str) -> None:
    """Check a value's shape against its type, binding named dims on first sight."""
    shape = shape_of(type_)
    if value.ndim != len(shape):
        raise ArgumentValueError(f"{what} has shape {value.shape}, expected rank {len(shape)} "
                                 f"({type_})", code="E1003")
    for axis, (size, dim) in enumerate(zip(value.shape, shape)):
        if isinstance(dim, int):
            if size != dim:
                raise ArgumentValueError(f"{what} has shape {value.shape}, but dimension {axis} "
                                         f"must be {dim} ({type_})", code="E1003")
        elif dim != "?":
            bound = bindings.setdefault(dim, size)
            if bound != size:
                raise ArgumentValueError(f"{what} has shape {value.shape}: dimension {axis} "
                                         f"({dim}) is {size}, but {dim} = {bound} from an "
                                         "earlier argument", code="E1003")


def convert_argument(value: object, type_: Type, what: str) -> np.ndarray:
    """A numpy array of exactly the parameter's dtype; Python scalars convert if lossless."""
    dtype = numpy_dtype(type_)
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        array = np.asarray(value)
        if array.dtype != dtype:
            raise ArgumentTypeError(f"{what} has dtype {array.dtype}, expected {dtype} ({type_})",
                                    code="E1002")
        return array
    if isinstance(value, (bool, int, float)):
        try:
            converted = np.asarray(value, dtype=dtype)
        except OverflowError:
            raise ArgumentTypeError(f"{what} is {value!r}, which does not fit in {type_}",
                                    code="E1002") from None
        if converted != value or (dtype != np.bool_ and isinstance(value, bool)) or \
                (dtype.kind in "iub" and isinstance(value, float)):
            raise ArgumentTypeError(f"{what} is {value!r}, which is not a valid {type_} value", code="E1002")
        return converted
    raise ArgumentTypeError(f"{what} must be a numpy array or scalar, got {type(value).__name__}",
                            code="E1002")


class Interpreter:
    """Runs functions of a verified module: ``Interpreter(module).call("main", x, y)``."""

    def __init__(self, module: Operation, out: TextIO | None = None) -> None:
        assert isinstance(module, ModuleOp)
        self.module = module
        self.out = out
        self.depth = 0
        # buffers released by buf.free, kept alive so that their ids stay theirs
        self.freed: dict[int, np.ndarray] = {}
        self._rules: dict[type[Operation], Rule] = {
            ForOp: self._run_for, IfOp: self._run_if, CallOp: self._run_call,
            PrintOp: self._run_print, buf.PrintOp: self._run_print,
            buf.ParallelOp: self._run_parallel, buf.DispatchOp: self._run_dispatch,
            gpu.LaunchOp: self._run_launch, gpu.BarrierOp: self._run_barrier,
            gpu.ShuffleDownOp: self._run_shuffle,
            buf.AllocOp: self._run_alloc}
        for id_op in (gpu.ThreadIdOp, gpu.BlockIdOp, gpu.BlockDimOp, gpu.GridDimOp):
            self._rules[id_op] = self._read_id
        # during a gpu.launch, the running thread's ids by op name; its block's shared
        # buffers by the op allocating them; the block's phases when its kernel synchronizes
        self.gpu_ids: dict[str, tuple[int, ...]] | None = None
        self.shared: dict[Operation, np.ndarray] = {}
        self.phases: Phases | None = None

    def call(self, name: str, *args: object) -> tuple[object, ...]:
        """Call function ``name``; returns its results (numpy arrays, numpy scalars for scalars)."""
        func = self.module.lookup(name)
        if not isinstance(func, FuncOp):
            raise ArgumentTypeError(f"no function named '{name}' in the module", code="E1005")
        params = func.type.inputs
        if len(args) != len(params):
            raise ArgumentTypeError(f"@{name} takes {len(params)} argument(s), got {len(args)}", code="E1001")
        arg_names = [a.name_hint or f"#{i}" for i, a in enumerate(func.body.args)]
        values = [convert_argument(a, t, f"argument '{n}' of @{name}")
                  for a, t, n in zip(args, params, arg_names)]
        # IEEE special values are results, not errors: the compiled code produces them too
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            results = self.run_function(func, values)
        return tuple(r[()] if r.ndim == 0 else r.copy() for r in results)

    def run_function(self, func: FuncOp, args: list[np.ndarray]) -> list[np.ndarray]:
        bindings: dict[str, int] = {}
        for value, param in zip(args, func.body.args):
            check_shape(value, param.type, bindings,
                        f"argument '{param.name_hint or param.index}' of @{func.sym_name}")
        if self.depth >= MAX_CALL_DEPTH:
            raise InterpreterError(f"call depth exceeds {MAX_CALL_DEPTH} (unbounded recursion?)",
                                   func.loc, code="E1009")
        self.depth += 1
        try:
            env: Env = dict(zip(func.body.args, args))
            results = self.run_block(func.body, env, bindings)
        finally:
            self.depth -= 1
        for i, (value, type_) in enumerate(zip(results, func.type.results)):
            check_shape(value, type_, bindings, f"result #{i} of @{func.sym_name}")
        return results

    def run_block(self, block: Block, env: Env, bindings: dict[str, int]) -> list[np.ndarray]:
        """Run ops in order; return the terminator's operand values."""
        for op in block.ops:
            args = [env[v] for v in op.operands]
            self._check_live(op, args)
            if Terminator in op.traits:
                return args
            rule = self._rules.get(type(op))
            results = rule(op, args, env, bindings) if rule else self._evaluate(op, args)
            for result, value in zip(op.results, results):
                env[result] = self._checked(op, result.type, value, bindings)
        return []

    def _check_live(self, op: Operation, args: list[np.ndarray]) -> None:
        """Buffers must not be used after ``buf.free`` (nor freed twice): compiled code would
        read freed memory, so the oracle refuses."""
        if isinstance(op, buf.FreeOp) and id(args[0]) not in self.freed:
            self.freed[id(args[0])] = args[0]
            return
        if not self.freed:
            return
        for value, array in zip(op.operands, args):
            if id(array) in self.freed and isinstance(value.type, MemRefType):
                raise InterpreterError(f"'{op.name}' op uses a buffer after it was freed", op.loc,
                                       code="E1011")

    @staticmethod
    def _evaluate(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
        try:
            return op.evaluate(args)
        except InterpreterError as e:
            if isinstance(op, buf.CheckOp):  # its message is written for users already
                raise
            raise InterpreterError(f"'{op.name}' op {e.diagnostics[0].message}", op.loc,
                                   code=e.code) from None
        except (ValueError, IndexError) as e:  # numpy's view of a run-time shape mismatch
            raise InterpreterError(f"'{op.name}' op failed at run time: {e}", op.loc, code="E1006") from None

    def _checked(self, op: Operation, type_: Type, value: np.ndarray,
                 bindings: dict[str, int]) -> np.ndarray:
        array = np.asarray(value)
        dtype = numpy_dtype(type_)
        if array.dtype != dtype:
            array = array.astype(dtype)
        try:
            check_shape(array, type_, dict(bindings), f"result of '{op.name}'")
        except ArgumentValueError as e:
            raise InterpreterError(e.diagnostics[0].message, op.loc, code=e.code) from None
        return array

    # -- rules for ops that need interpreter state ------------------------------------------
    def _run_call(self, op: Operation, args: list[np.ndarray], env: Env,
                  bindings: dict[str, int]) -> list[np.ndarray]:
        assert isinstance(op, CallOp)
        callee = self.module.lookup(op.callee)
        assert isinstance(callee, FuncOp)
        try:
            return self.run_function(callee, args)
        except (ArgumentValueError, ArgumentTypeError) as e:
            raise InterpreterError(e.diagnostics[0].message, op.loc, code=e.code) from None

    def _run_for(self, op: Operation, args: list[np.ndarray], env: Env,
                 bindings: dict[str, int]) -> list[np.ndarray]:
        lower, upper, step = (int(a) for a in args[:3])
        if step <= 0:
            raise InterpreterError(f"scf.for step must be positive, got {step}", op.loc, code="E1015")
        carried = args[3:]
        body = op.regions[0].block
        for i in range(lower, upper, step):
            inner: Env = dict(zip(body.args, [np.asarray(i, np.int64), *carried]))
            carried = self.run_block(body, ChainMap(inner, env), bindings)
        return carried

    def _run_if(self, op: Operation, args: list[np.ndarray], env: Env,
                bindings: dict[str, int]) -> list[np.ndarray]:
        block = op.regions[0 if bool(args[0]) else 1].block
        return self.run_block(block, ChainMap({}, env), bindings)

    def _run_parallel(self, op: Operation, args: list[np.ndarray], env: Env,
                      bindings: dict[str, int]) -> list[np.ndarray]:
        body = op.regions[0].block
        for point in itertools.product(*(range(int(n)) for n in args)):
            inner: Env = dict(zip(body.args, (np.asarray(i, np.int64) for i in point)))
            self.run_block(body, ChainMap(inner, env), bindings)
        return []

    def _run_dispatch(self, op: Operation, args: list[np.ndarray], env: Env,
                      bindings: dict[str, int]) -> list[np.ndarray]:
        assert isinstance(op, buf.DispatchOp)
        body = op.callee()
        assert isinstance(body, FuncOp)
        rank = op.rank
        for point in itertools.product(*(range(int(n)) for n in args[:rank])):
            self.run_function(body, [np.asarray(i, np.int64) for i in point] + args[rank:])
        return []

    def _run_launch(self, op: Operation, args: list[np.ndarray], env: Env,
                    bindings: dict[str, int]) -> list[np.ndarray]:
        """Block by block; a block's threads one after the other, or, when the kernel has
        barriers, in barrier-delimited phases (ir/gpu_threads.py)."""
        assert isinstance(op, gpu.LaunchOp)
        kernel = op.callee()
        assert kernel is not None
        grid, block = (tuple(int(a) for a in args[k:k + 3]) for k in (0, 3))
        if min(grid + block) < 1:
            raise InterpreterError(f"launch of @{op.kernel} on a grid {grid} of blocks {block}: "
                                   "every size must be at least 1", op.loc, code="E1012")
        if math.prod(block) > MAX_BLOCK_THREADS:
            raise InterpreterError(f"launch of @{op.kernel} on blocks {block}: a block has at "
                                   f"most {MAX_BLOCK_THREADS} threads", op.loc, code="E1012")
        synchronizes = any(gpu.synchronizing(o) for o in kernel.walk())
        outer = self.gpu_ids, self.shared, self.phases, self.depth
        threads = [t[::-1] for t in itertools.product(*(range(n) for n in reversed(block)))]
        try:
            for b in itertools.product(*(range(n) for n in reversed(grid))):
                self.shared = {}
                ids = [{"gpu.block_id": b[::-1], "gpu.thread_id": t,
                        "gpu.block_dim": block, "gpu.grid_dim": grid} for t in threads]
                if not synchronizes:
                    for thread_ids in ids:
                        self.gpu_ids = thread_ids
                        self.run_function(kernel, args[6:])
                    continue
                self._run_in_phases(kernel, args[6:], ids)
        finally:
            self.gpu_ids, self.shared, self.phases, self.depth = outer
        return []

    def _run_in_phases(self, kernel: FuncOp, args: list[np.ndarray],
                       ids: list[dict[str, tuple[int, ...]]]) -> None:
        """The threads of one block (``ids``) run ``kernel`` in barrier-delimited phases."""
        depth = self.depth

        def enter(k: int, saved: Any) -> None:
            self.gpu_ids, self.depth = saved or (ids[k], depth)

        def leave() -> Any:
            return self.gpu_ids, self.depth

        self.phases = Phases(len(ids), lambda k: self.run_function(kernel, args), enter, leave,
                             lambda k: describe_thread(ids[k]))
        self.phases.run()

    def _run_barrier(self, op: Operation, args: list[np.ndarray], env: Env,
                     bindings: dict[str, int]) -> list[np.ndarray]:
        if self.phases is None or self.gpu_ids is None:
            raise InterpreterError("'gpu.barrier' runs only in a kernel a gpu.launch runs", op.loc,
                                   code="E1013")
        self.phases.barrier(op, self._thread_number())
        return []

    def _run_shuffle(self, op: Operation, args: list[np.ndarray], env: Env,
                     bindings: dict[str, int]) -> list[np.ndarray]:
        """Every thread leaves its value and waits for the block's others (as at a barrier),
        then takes that of the lane ``offset`` above it in its warp, if there is one."""
        if self.phases is None or self.gpu_ids is None:
            raise InterpreterError("'gpu.shuffle_down' runs only in a kernel a gpu.launch runs",
                                   op.loc, code="E1013")
        k, phase = self._thread_number(), self.phases.phase
        left = self.phases.exchange.setdefault(phase, {})
        self.phases.exchange.pop(phase - 2, None)  # every thread has read those
        left[k] = args[0]
        self.phases.barrier(op, k)
        offset = int(args[1])
        partner = k + offset
        if offset < 0 or k % gpu.WARP + offset >= gpu.WARP or partner >= self.phases.count:
            partner = k
        if partner not in left:
            raise InterpreterError(f"{describe_thread(self.gpu_ids)} shuffles with a thread "
                                   "that waits elsewhere (every thread of the block runs each "
                                   "shuffle together)", op.loc, code="E1013")
        return [left[partner]]

    def _thread_number(self) -> int:
        """The running thread's place in its block, x fastest."""
        assert self.gpu_ids is not None
        (x, y, z), (bx, by, _) = self.gpu_ids["gpu.thread_id"], self.gpu_ids["gpu.block_dim"]
        return (z * by + y) * bx + x

    def _run_alloc(self, op: Operation, args: list[np.ndarray], env: Env,
                   bindings: dict[str, int]) -> list[np.ndarray]:
        """A shared buffer is one per block: its threads' allocations are the same buffer."""
        space = getattr(op.result.type, "space", "host")
        if self.gpu_ids is None or space != "shared":
            return self._evaluate(op, args)
        if op not in self.shared:
            self.shared[op] = self._evaluate(op, args)[0]
        return [self.shared[op]]

    def _read_id(self, op: Operation, args: list[np.ndarray], env: Env,
                 bindings: dict[str, int]) -> list[np.ndarray]:
        if self.gpu_ids is None:
            raise InterpreterError(f"'{op.name}' runs only in a kernel a gpu.launch runs", op.loc,
                                   code="E1013")
        return [np.asarray(self.gpu_ids[op.name][op.dim], np.int64)]  # type: ignore[attr-defined]

    def _run_print(self, op: Operation, args: list[np.ndarray], env: Env,
                   bindings: dict[str, int]) -> list[np.ndarray]:
        out = self.out or sys.stdout
        out.write(" ".join(format_value(a) for a in args) + "\n")
        return []


def describe_thread(ids: dict[str, tuple[int, ...]]) -> str:
    return f"thread {ids['gpu.thread_id']} of block {ids['gpu.block_id']}"


def run(module: Operation, entry: str, *args: object,
        out: TextIO | None = None) -> tuple[object, ...]:
    """Interpret function ``entry`` of ``module`` on ``args``."""
    return Interpreter(module, out).call(entry, *args)
