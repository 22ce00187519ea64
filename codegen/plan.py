"""The launch plan: what a host does to run a module's functions on a GPU, as data.

``build_plan`` reads the host functions of a module at the gpu level (the ``gpu`` stage) and
writes each as a list of steps — sizes of the arguments, scalar arithmetic, checks,
allocations, kernel launches, copies, frees — over numbered values (the function's
parameters first). It is JSON (``hyc model.hy --target=gpu`` writes ``model.plan.json``
beside ``model.ptx``), versioned, and documented in docs/gpu.md. ``execute`` runs one
function's steps on a ``Device``: gpu_sim.py's keeps buffers in host memory and runs each
kernel compiled for this CPU; cuda.py's is a GPU.

A host function that reads or writes a buffer's elements itself (a loop that stayed on the
host, a print) cannot become a plan: the GPU's memory is not the host's. That is an error at
the op.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Protocol

import numpy as np

from hyc.ir import ForOp, FuncOp, HycError, IfOp, ModuleOp, Operation, Value
from hyc.ir.diagnostics import RunTimeCheckError, check_message
from hyc.ir.dialects import buf, gpu
from hyc.ir.dialects.hy.elementwise import cast_array
from hyc.ir.opdef import OPS, Elementwise
from hyc.ir.types import MemRefType, numpy_dtype, shape_of
from hyc.record import field, record

from . import progress
from .jit import print_stream

FORMAT, VERSION = "hyc-launch-plan", 1
# scalar ops a plan computes with (on sizes and scalars): every elementwise hy op, each by
# its own numpy rule (``reference``), and hy.cast


def _scalar_op(op: Operation) -> bool:
    elementwise = Elementwise in op.traits and hasattr(type(op), "reference")
    return (elementwise or op.name == "hy.cast") and \
        not any(shape_of(v.type) for v in [*op.operands, *op.results])


def _type(t: Any) -> dict[str, Any]:
    if isinstance(t, MemRefType):
        return {"kind": "buffer", "element": numpy_dtype(t.element).name,
                "shape": list(shape_of(t))}
    return {"kind": "scalar", "dtype": numpy_dtype(t).name}


class _Numbering:
    def __init__(self) -> None:
        self.ids: dict[Value, int] = {}

    def __call__(self, value: Value) -> int:
        return self.ids.setdefault(value, len(self.ids))


def build_plan(module: ModuleOp, ptx: str | None, arch: str) -> dict[str, Any]:
    """The plan of every host function of ``module`` (at the gpu level)."""
    kernels = [f for f in module.functions if f.kernel]
    return {
        "format": FORMAT, "version": VERSION, "arch": arch, "ptx": ptx,
        "kernels": [{"name": ptx_name(k.sym_name), "symbol": k.sym_name,
                     "params": [_type(a.type) for a in k.body.args]} for k in kernels],
        "functions": [_function_plan(f) for f in module.functions if not f.kernel],
    }


def ptx_name(name: str) -> str:
    """A kernel's name in PTX (letters, digits and _)."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)


def _function_plan(func: FuncOp) -> dict[str, Any]:
    number = _Numbering()
    params = [{"name": a.name_hint or f"arg{i}", **_type(a.type)}
              for i, a in enumerate(func.body.args)]
    for a in func.body.args:
        number(a)
    return {"name": func.sym_name, "params": params, "steps": _steps(func.body, number)}


def _steps(block: Any, number: _Numbering) -> list[dict[str, Any]]:
    steps = [_step(op, number) for op in block.ops if op.name not in ("func.return", "scf.yield")]
    return [s for s in steps if s is not None]


def _step(op: Operation, number: _Numbering) -> dict[str, Any] | None:
    ins = [number(v) for v in op.operands]
    if isinstance(op, ForOp):  # a host loop: its body's steps, run each time
        body = op.body
        return {"step": "for", "lower": ins[0], "upper": ins[1], "by": ins[2],
                "inits": ins[3:], "args": [number(a) for a in body.args],
                "body": _steps(body, number),
                "yield": [number(v) for v in body.ops[-1].operands],
                "out": [number(r) for r in op.results]}
    if isinstance(op, IfOp):
        branches = [(op.then_block, "then"), (op.else_block, "else")]
        return {"step": "if", "in": ins[0],
                **{name: _steps(block, number) for block, name in branches},
                **{f"{name}_yield": [number(v) for v in block.ops[-1].operands]
                   for block, name in branches},
                "out": [number(r) for r in op.results]}
    if op.name == "hy.constant" and not shape_of(op.result.type):
        return {"step": "const", "out": number(op.result), "dtype": numpy_dtype(op.result.type).name,
                "value": op.value.item()}
    if _scalar_op(op):
        return {"step": "scalar", "op": op.name, "in": ins, "out": number(op.result),
                "dtype": numpy_dtype(op.result.type).name}
    if isinstance(op, buf.DimOp):
        return {"step": "dim", "of": ins[0], "axis": op.axis, "out": number(op.result)}
    if isinstance(op, buf.CheckOp):
        return {"step": "check", "in": ins[0], "message": check_message(op.loc, op.message, op.code)}
    if isinstance(op, buf.AllocOp):
        t = op.result.type
        assert isinstance(t, MemRefType)
        sizes = iter(ins)
        shape = [d if isinstance(d, int) else {"value": next(sizes)} for d in t.shape]
        return {"step": "alloc", "element": numpy_dtype(t.element).name, "shape": shape,
                "out": number(op.result)}
    if isinstance(op, buf.FreeOp):
        return {"step": "free", "buffer": ins[0]}
    if isinstance(op, buf.CopyOp):
        return {"step": "copy", "from": ins[0], "to": ins[1]}
    if isinstance(op, buf.LoadOp):  # one element, read from the device
        return {"step": "load", "buffer": ins[0], "indices": ins[1:], "out": number(op.result)}
    if isinstance(op, buf.StoreOp):  # one element, written to the device
        return {"step": "store", "value": ins[0], "buffer": ins[1], "indices": ins[2:]}
    if isinstance(op, buf.ConstantOp):
        array = op.value
        return {"step": "constant", "element": array.dtype.name, "shape": list(array.shape),
                "data": base64.b64encode(np.ascontiguousarray(
                    array, array.dtype.newbyteorder("<")).tobytes()).decode(),
                "out": number(op.result)}
    if isinstance(op, buf.PrintOp):
        return {"step": "print", "in": ins}
    if isinstance(op, buf.InterruptPointOp):
        return {"step": "interrupt_point"}
    if op.name == "func.call":
        return {"step": "call", "function": op.callee, "args": ins}
    if isinstance(op, gpu.LaunchOp):
        return {"step": "launch", "kernel": ptx_name(op.kernel), "grid": ins[:3],
                "block": ins[3:6], "args": ins[6:]}
    raise HycError(f"'{op.name}' stayed on the host, where the launch plan cannot run it (a "
                   "parallel loop that may stop the function is not mapped to a kernel yet): "
                   "--target=gpu-sim runs this program", op.loc, code="E0904")


def to_json(plan: dict[str, Any]) -> str:
    return json.dumps(plan, indent=1) + "\n"


# -- running a plan -----------------------------------------------------------------------------
class Device(Protocol):
    """Where a plan's buffers live and its kernels run."""

    def alloc(self, element: str, shape: tuple[int, ...]) -> Any: ...
    def free(self, buffer: Any) -> None: ...
    def copy(self, source: Any, target: Any) -> None: ...
    def upload(self, array: np.ndarray) -> Any: ...
    def download(self, buffer: Any, array: np.ndarray) -> None: ...
    def launch(self, kernel: str, grid: list[int], block: list[int], args: list[Any]) -> None: ...
    def read(self, buffer: Any, index: tuple[int, ...]) -> np.ndarray: ...
    def write(self, buffer: Any, index: tuple[int, ...], value: np.ndarray) -> None: ...
    def to_host(self, buffer: Any) -> np.ndarray: ...


class PlanError(RunTimeCheckError):
    """A check of the plan failed when it ran (the same messages as compiled code's)."""


MAX_CALL_DEPTH = 100  # as compiled code and the interpreter


@record
class _Run:
    plan: dict[str, Any]
    device: Device
    out: Any
    depth: int = 0
    # the device buffers the steps made and have not freed (constants, allocations a failed
    # check left): the run frees them at its end, so that no call leaks device memory
    owned: dict[int, Any] = field(default_factory=dict)

    def function(self, name: str) -> dict[str, Any]:
        found = next((f for f in self.plan["functions"] if f["name"] == name), None)
        if found is None:
            raise HycError(f"the plan has no function '{name}'", code="E1005")
        return found

    def own(self, buffer: Any) -> Any:
        self.owned[id(buffer)] = buffer
        return buffer

    def call(self, name: str, values: list[Any]) -> None:
        if self.depth >= MAX_CALL_DEPTH:
            raise PlanError(f"call depth exceeds {MAX_CALL_DEPTH} (unbounded recursion?)", code="E1009")
        self.depth += 1
        try:
            _run_steps(self.function(name)["steps"], dict(enumerate(values)), self)
        finally:
            self.depth -= 1


def execute(plan: dict[str, Any], name: str, args: list[np.ndarray], device: Device,
            out: Any = None) -> None:
    """Run function ``name`` of ``plan`` on ``device``: ``args`` are its parameters (for
    buffers, numpy arrays, copied in and out, or the device's own buffers, used in place;
    results included, which receive what the function wrote); prints go to ``out`` (default
    stdout)."""
    run = _Run(plan, device, out)
    function = run.function(name)
    if len(args) != len(function["params"]):
        raise HycError(f"@{name} takes {len(function['params'])} argument(s), got {len(args)}", code="E1001")
    named: dict[str, int] = {}
    for param, value in zip(function["params"], args):
        if param["kind"] == "buffer":
            _check_argument(param, value, named, name)
    values: list[Any] = []
    uploaded: list[Any] = []
    try:
        for param, value in zip(function["params"], args):
            if param["kind"] != "buffer":
                values.append(np.asarray(value, np.dtype(param["dtype"])))
            elif isinstance(value, np.ndarray):
                uploaded.append(device.upload(value))
                values.append(uploaded[-1])
            else:  # already the device's (a device array): used in place
                values.append(value)
        run.call(name, values)
        for param, value, buffer in zip(function["params"], args, values):
            if param["kind"] == "buffer" and isinstance(value, np.ndarray):
                device.download(buffer, value)
    finally:  # the arguments' device copies and what the steps left, whatever happened
        for buffer in [*uploaded, *run.owned.values()]:
            device.free(buffer)


def _check_argument(param: dict[str, Any], value: object, named: dict[str, int],
                    function: str) -> None:
    """A buffer argument has the parameter's dtype, rank and sizes (names bound once): the
    kernels index it by the sizes the plan computes from it."""
    what = f"argument '{param['name']}' of @{function}"
    dtype = np.dtype(param["element"])
    laid_out = not isinstance(value, np.ndarray) or \
        (value.flags.c_contiguous and value.flags.writeable)  # a device's buffer: its own
    if not laid_out or getattr(value, "dtype", None) != dtype:
        raise PlanError(f"{what} must be a writeable C-contiguous {dtype} array", code="E1004")
    shape = tuple(getattr(value, "shape", ()))
    if len(shape) != len(param["shape"]):
        raise PlanError(f"{what} has {len(shape)} dimension(s), expected {len(param['shape'])}", code="E1003")
    for axis, (size, want) in enumerate(zip(shape, param["shape"])):
        if isinstance(want, int) and size != want or \
                isinstance(want, str) and want != "?" and named.setdefault(want, size) != size:
            raise PlanError(f"{what} has shape {shape}: dimension {axis} should be "
                            f"{want if isinstance(want, int) else named[want]}", code="E1003")


def _run_steps(steps: list[dict[str, Any]], env: dict[int, Any], run: _Run) -> None:
    for step in steps:
        _run_step(step, env, run)


def _run_step(step: dict[str, Any], env: dict[int, Any], run: _Run) -> None:
    kind, device = step["step"], run.device
    if kind == "for":
        lower, upper, by = (int(env[step[k]]) for k in ("lower", "upper", "by"))
        if by <= 0:
            raise PlanError(f"scf.for step must be positive, got {by}", code="E1015")
        carried = [env[i] for i in step["inits"]]
        for i in range(lower, upper, by):
            env.update(zip(step["args"], [np.asarray(i, np.int64), *carried]))
            _run_steps(step["body"], env, run)
            carried = [env[k] for k in step["yield"]]
        env.update(zip(step["out"], carried))
    elif kind == "if":
        taken = "then" if bool(env[step["in"]]) else "else"
        _run_steps(step[taken], env, run)
        env.update(zip(step["out"], [env[k] for k in step[f"{taken}_yield"]]))
    elif kind == "const":
        env[step["out"]] = np.asarray(step["value"], np.dtype(step["dtype"]))
    elif kind == "scalar":
        values = [env[i] for i in step["in"]]
        dtype = np.dtype(step["dtype"])
        with np.errstate(all="ignore"):  # IEEE special values are results, as in kernels
            result = cast_array(values[0], dtype) if step["op"] == "hy.cast" else \
                OPS[step["op"]].reference(*values)
        env[step["out"]] = np.asarray(result, dtype)
    elif kind == "dim":
        env[step["out"]] = np.asarray(env[step["of"]].shape[step["axis"]], np.int64)
    elif kind == "check":
        if not bool(env[step["in"]]):
            raise RunTimeCheckError.from_message(step["message"])
    elif kind == "alloc":
        shape = tuple(int(env[d["value"]]) if isinstance(d, dict) else d for d in step["shape"])
        if any(d < 0 for d in shape):
            raise PlanError(f"negative buffer size {shape}", code="E1008")
        env[step["out"]] = run.own(device.alloc(step["element"], shape))
    elif kind == "free":
        run.owned.pop(id(env[step["buffer"]]), None)
        device.free(env[step["buffer"]])
    elif kind == "copy":
        device.copy(env[step["from"]], env[step["to"]])
    elif kind == "launch":
        progress.status(f"kernel {step['kernel']}")
        grid, block = ([int(env[i]) for i in step[k]] for k in ("grid", "block"))
        if min(grid + block) < 1:
            raise PlanError(f"launch of {step['kernel']}: every grid and block size must be at "
                            "least 1", code="E1012")
        device.launch(step["kernel"], grid, block, [env[i] for i in step["args"]])
    elif kind == "load":
        env[step["out"]] = device.read(env[step["buffer"]], _indices(step, env))
    elif kind == "store":
        device.write(env[step["buffer"]], _indices(step, env), env[step["value"]])
    elif kind == "constant":
        data = np.frombuffer(base64.b64decode(step["data"]), np.dtype(step["element"]).newbyteorder("<"))
        env[step["out"]] = run.own(device.upload(data.astype(step["element"]).reshape(step["shape"])))
    elif kind == "print":
        from hyc.ir.interpreter import format_value
        shown = [device.to_host(v) if not isinstance(v, np.ndarray) or v.ndim else v
                 for v in (env[i] for i in step["in"])]
        (run.out or print_stream()).write(" ".join(format_value(np.asarray(v)) for v in shown) + "\n")
    elif kind == "call":
        run.call(step["function"], [env[i] for i in step["args"]])
    elif kind == "interrupt_point":
        pass  # the executor is Python: Ctrl-C interrupts it between steps
    else:
        raise HycError(f"unknown plan step '{kind}'", code="E1018")


def _indices(step: dict[str, Any], env: dict[int, Any]) -> tuple[int, ...]:
    return tuple(int(env[i]) for i in step["indices"])

