"""``hyc.jit``: compile a numpy function by tracing it, once per argument signature.

A call looks up the compiled version for the arguments' signature (dtypes, shapes with the
dynamic axes named, the values of static arguments); on a miss it traces the function on
proxies (``hyc.frontend.tracing``), compiles the traced module and keeps it. The last version
used is tried first, straight through the compiled function's native entry, so a call in a
loop costs little more than the compiled call itself.
"""

from __future__ import annotations

import functools
import inspect
import operator
import re
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from hyc.codegen.compiled import CompiledFunction, CompiledModule
from hyc.codegen.driver import compile_module
from hyc.codegen.target import Target, resolve
from hyc.frontend.numpy_support import numpy_api
from hyc.frontend.tracing import TRACES, Trace, Traced, TracingError, as_value, ir_element, tracing
from hyc.ir import FileLineColLoc, HycError, ModuleOp, print_ir
from hyc.ir.types import make_type

Dynamic = dict[str, "list[int] | dict[int, str]"]
_DATA = operator.attrgetter("data")  # a block parameter's array
_LAYOUT = operator.attrgetter("dtype", "shape")  # what selects a version, for array arguments
_EPOCH = [0]  # counts changes of blocks: parameters' arrays, children (see parameters_changed)


def parameters_changed() -> None:
    """Tell compiled versions to gather their block parameters' arrays again, and to check
    that their blocks are still built as when traced (hyc.nn calls this when a parameter
    gets a new array or a block a new child or parameter; changing an array in place needs
    nothing)."""
    _EPOCH[0] += 1


class Specialization:
    """One compiled version of a function: for one signature of its arguments."""

    def __init__(self, module: ModuleOp, compiled: CompiledModule, name: str, array_positions: list[int],
                 params: list[Any], structure: str, blocks: Callable[[], Hashable] | None) -> None:
        self.module = module
        self.compiled = compiled
        self.function: CompiledFunction = compiled[name]
        self.array_positions = array_positions  # which bound arguments the compiled code takes
        self.params = params  # block parameters, passed after them
        self.structure = structure  # "single", "tuple" or "list"
        self.blocks = blocks  # how the traced blocks are built now (for hybridized blocks)
        self.built = blocks() if blocks else None  # ... and how they were when traced
        self.stale = False
        self.param_arrays: tuple[np.ndarray, ...] = ()
        self.epoch = -1  # the _EPOCH that param_arrays were gathered in

    def try_fast(self, args: tuple[Any, ...]) -> Any:
        """The native entry's call with the parameters appended, or None (see CompiledFunction)."""
        arrays = self.param_arrays if self.epoch == _EPOCH[0] else self.gather()
        return None if self.stale else self.function.try_fast(args + arrays)

    def gather(self) -> tuple[np.ndarray, ...]:
        """The parameters' arrays, after a change to some block (which may make this version
        stale: then the function is traced again)."""
        if self.blocks is not None and self.blocks() != self.built:
            self.stale = True
        self.param_arrays, self.epoch = tuple(map(_DATA, self.params)), _EPOCH[0]
        return self.param_arrays

    def current(self) -> bool:
        if self.epoch != _EPOCH[0]:
            self.gather()
        return not self.stale

    def arguments(self, values: list[Any]) -> tuple[Any, ...]:
        arrays = tuple(values[i] if not isinstance(values[i], np.ndarray) or values[i].flags.c_contiguous
                       else np.ascontiguousarray(values[i]) for i in self.array_positions)
        return arrays + self.gather()

    def result(self, out: Any) -> Any:
        if self.structure == "single":
            return out
        items = out if isinstance(out, tuple) else () if out is None else (out,)
        return list(items) if self.structure == "list" else tuple(items)


class Lowered:
    """A traced function for one signature, and each stage of its compilation as text."""

    def __init__(self, module: ModuleOp, opt_level: int, target: str | Target, name: str) -> None:
        self.module = module
        self.opt_level, self.target, self.name = opt_level, target, name
        self._compiled: CompiledModule | None = None

    def compile_module(self) -> CompiledModule:
        if self._compiled is None:
            self._compiled = compile_module(self.module, self.opt_level, self.target)
        return self._compiled

    def compile(self) -> CompiledFunction:
        """The compiled function (its arguments: the arrays, then any block parameters)."""
        return self.compile_module()[self.name]

    def as_text(self, optimized: bool = True, debuginfo: bool = False) -> str:
        """The module after the ``-O`` pipeline (or as traced, with ``optimized=False``)."""
        if not optimized:
            return print_ir(self.module, debuginfo=debuginfo)
        return self.compile_module().ir

    def llvm_ir(self) -> str:
        return self.compile_module().llvm_ir

    def report(self, path: str | None = None) -> str:
        """One page about this function's compilation (docs/debugging.md): each pass's IR
        diff, the time of every pass and stage, op counts, memory, the graph; written to
        ``path`` too when given."""
        from hyc.codegen.driver import Compilation
        from hyc.codegen.report import report
        from hyc.passes import Instrumentation
        compilation = Compilation(self.module, self.opt_level, self.target,
                                  instrumentation=Instrumentation(record=[]))
        compilation.stage("ptx" if compilation.target.name == "gpu" else "asm")
        page = report(compilation, f"@{self.name} at -O{self.opt_level} for "
                                   f"{compilation.target.name}")
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(page)
        return page

    def as_dot(self, optimized: bool = True) -> str:
        """The function's data-flow graph in Graphviz's language (after the ``-O`` pipeline,
        or as traced with ``optimized=False``): docs/debugging.md."""
        from hyc.ir import parse_module
        from hyc.ir.dot import to_dot
        module = parse_module(self.as_text()) if optimized else self.module
        return to_dot(module, self.name)

    def _repr_svg_(self) -> str | None:
        """Jupyter shows a lowered function as its graph, where Graphviz is installed."""
        from hyc.ir.dot import render_svg
        try:
            return render_svg(self.as_dot())
        except HycError:
            return None  # Jupyter falls back to the text

    def asm(self) -> str:
        return self.compile_module().asm()


def _symbol(name: str) -> str:
    cleaned = re.sub(r"\W", "_", name).strip("_") or "function"
    return cleaned if not cleaned[0].isdigit() else "f_" + cleaned


class JitFunction:
    """A function compiled on first call for each signature of its arguments.

    Array arguments (numpy arrays and scalars) are traced; anything else (Python numbers,
    strings, tuples, None) is static: its value is part of the signature and a constant in the
    compiled code. ``dynamic={"x": [0]}`` (or ``{"x": {0: "N"}}``) makes those axes of ``x``
    symbolic, so one version serves every size; equal names must have equal sizes.
    """

    def __init__(self, fn: Callable[..., Any], opt_level: int = 2, target: str | Target = "cpu",
                 dynamic: Dynamic | None = None, name: str | None = None,
                 parameter_names: Callable[[], dict[int, str]] | None = None,
                 blocks: Callable[[], Hashable] | None = None) -> None:
        if opt_level not in (0, 1, 2, 3):
            raise ValueError(f"opt_level must be 0, 1, 2 or 3, not {opt_level!r}")
        resolve(target)  # an unknown target is an error now, not at the first call
        self.fn = fn
        self.opt_level, self.target = opt_level, target
        self.name = _symbol(name or str(getattr(fn, "__name__", "function")))
        try:
            self.signature = inspect.signature(fn)
        except (TypeError, ValueError):  # a callable without one: take positional arguments
            self.signature = inspect.Signature(
                [inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL)])
        self.dynamic = self._check_dynamic(dynamic or {})
        self.parameter_names = parameter_names
        self.blocks = blocks
        self._cache: dict[Hashable, Specialization] = {}
        self._lock = threading.RLock()
        self._last: Specialization | None = None  # tried first, when every argument is an array
        self._last_arity = -1
        self._by_layout: dict[tuple[Any, ...], Specialization] = {}  # (dtype, shape)s -> version
        self.latest: Specialization | None = None  # the version the last call used
        functools.update_wrapper(self, fn)

    def _check_dynamic(self, dynamic: Dynamic) -> dict[str, dict[int, str]]:
        out: dict[str, dict[int, str]] = {}
        for name, axes in dynamic.items():
            if name not in self.signature.parameters:
                raise TypeError(f"dynamic names '{name}', which is not a parameter of "
                                f"{self.signature}")
            # default names: the parameter's, upper-cased (no 'x' to quote), and the axis
            out[name] = dict(axes) if isinstance(axes, dict) else \
                {int(a): f"{name.upper()}{a}" if int(a) >= 0 else f"{name.upper()}M{-int(a)}"
                 for a in axes}
        return out

    @property
    def eager(self) -> Callable[..., Any]:
        """The plain Python function, run as it is (numpy, no compilation)."""
        return self.fn

    def cache_size(self) -> int:
        """How many versions (signatures) have been compiled."""
        return len(self._cache)

    def __repr__(self) -> str:
        return f"<hyc.jit {self.name}{self.signature}>"

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None else functools.partial(self, obj)

    # -- calls ------------------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs and not TRACES.stack:
            # the version used last, then the one for these arrays' dtypes and shapes
            last = self._last
            if last is not None and len(args) == self._last_arity:
                out = last.try_fast(args)
                if out is not None:
                    return out if last.structure == "single" else last.result(out)
            try:
                spec = self._by_layout.get(tuple(map(_LAYOUT, args)))
            except AttributeError:  # not all arrays
                spec = None
            if spec is not None:
                out = spec.try_fast(args)
                if out is not None:
                    self._last, self._last_arity, self.latest = spec, len(args), spec
                    return spec.result(out)
        return self._call(args, kwargs)

    def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if any(isinstance(v, Traced) for v in (*args, *kwargs.values())):
            return self.fn(*args, **kwargs)  # called while tracing another function: inline
        names, values, bound = self._bind(args, kwargs)
        key = tuple(self._key(n, v) for n, v in zip(names, values))
        spec = self._cache.get(key)
        if spec is not None and not spec.current():  # its blocks changed: start over
            self._cache.clear()
            self._by_layout.clear()
            self._last, spec = None, None
        if spec is None:
            with self._lock:  # one thread traces and compiles a signature; the others wait
                spec = self._cache.get(key)
                if spec is None:
                    spec = self._cache[key] = self._specialize(names, values, bound)
        self.latest = spec
        all_arrays = len(spec.array_positions) == len(values) == len(args) and not kwargs \
            and all(v is a for v, a in zip(values, args))  # (no list made into an array)
        self._last, self._last_arity = (spec, len(args)) if all_arrays else (None, -1)
        if all_arrays:
            if len(self._by_layout) >= 256:  # many sizes of a dynamic dimension: start over
                self._by_layout.clear()
            self._by_layout[tuple(map(_LAYOUT, args))] = spec
        return spec.result(spec.function(*spec.arguments(values)))

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """Trace for these arguments; the result shows each stage of the compilation."""
        names, values, bound = self._bind(args, kwargs)
        module, _, _, _ = self._trace(names, values, bound)
        return Lowered(module, self.opt_level, self.target, self.name)

    # -- signatures ----------------------------------------------------------------------------------
    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[list[str], list[Any], Any]:
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{self.name}(): {e}") from None
        names, values = [], []
        for name, value in bound.arguments.items():
            kind = self.signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_POSITIONAL:
                names += [f"{name}{i}" for i in range(len(value))]
                values += list(value)
            elif kind is inspect.Parameter.VAR_KEYWORD:
                names += list(value)
                values += list(value.values())
            else:
                names.append(name)
                values.append(value)
        # a list of numbers is an array, as numpy functions take it (a tuple stays a static
        # value: shapes and axes are tuples); so new lists do not compile new versions
        for i, value in enumerate(values):
            if isinstance(value, list):
                values[i] = _list_as_array(names[i], value, self.name)
        return names, values, bound

    def _shape(self, name: str, value: np.ndarray | np.generic) -> tuple[int | str, ...]:
        """An array argument's shape in the signature: its dynamic axes by name."""
        axes = self.dynamic.get(name, {})
        for axis in axes:
            if not -value.ndim <= axis < value.ndim:
                raise ValueError(f"dynamic axis {axis} of '{name}' is out of range for an "
                                 f"array of shape {value.shape}")
        return tuple(axes.get(i, axes.get(i - value.ndim, d)) for i, d in enumerate(value.shape))

    def _key(self, name: str, value: Any) -> Hashable:
        if isinstance(value, (np.ndarray, np.generic)):
            return ("array", value.dtype.str, self._shape(name, value))
        try:
            static = _static(value)
            hash(static)
        except TypeError:
            raise TypeError(f"argument '{name}' of {self.name}: a {type(value).__name__} is "
                            "neither an array nor a hashable static value") from None
        return ("static", type(value).__name__, static)

    def _specialize(self, names: list[str], values: list[Any], bound: Any) -> Specialization:
        module, positions, params, structure = self._trace(names, values, bound)
        compiled = compile_module(module, self.opt_level, self.target)
        return Specialization(module, compiled, self.name, positions, params, structure, self.blocks)

    def _trace(self, names: list[str], values: list[Any],
               bound: Any) -> tuple[ModuleOp, list[int], list[Any], str]:
        code = getattr(inspect.unwrap(self.fn), "__code__", None)
        loc = FileLineColLoc(code.co_filename, code.co_firstlineno, 1) if code else None
        trace = Trace(self.name, *([loc] if loc else []))
        if self.parameter_names is not None:
            trace.parameter_names = self.parameter_names()
        positions = []
        with tracing(trace):
            proxies = []
            for i, (name, value) in enumerate(zip(names, values)):
                if isinstance(value, (np.ndarray, np.generic)):
                    t = make_type(ir_element(value.dtype), self._shape(name, value))
                    proxies.append(trace.argument(t, name, f"argument '{name}'"))
                    positions.append(i)
                else:
                    proxies.append(value)
            _substitute(bound, proxies)
            out = self.fn(*bound.args, **bound.kwargs)
            structure, results = _flatten(out, self.name)
            module = trace.finish([as_value(trace, r) for r in results])
        return module, positions, trace.bound, structure


def _list_as_array(name: str, value: list[Any], fn: str) -> np.ndarray:
    try:
        return numpy_api.numbers_as_array(value)
    except ValueError as e:
        raise TypeError(f"argument '{name}' of {fn}: {e}") from None


def _static(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_static(v) for v in value)
    if isinstance(value, tuple):
        return tuple(_static(v) for v in value)
    return value


def _substitute(bound: inspect.BoundArguments, proxies: list[Any]) -> None:
    """Put the proxies (in the flattened order of ``_bind``) in place of the argument values."""
    it = iter(proxies)
    for name, value in bound.arguments.items():
        kind = bound.signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            bound.arguments[name] = tuple(next(it) for _ in value)
        elif kind is inspect.Parameter.VAR_KEYWORD:
            bound.arguments[name] = {k: next(it) for k in value}
        else:
            bound.arguments[name] = next(it)


def _flatten(out: Any, name: str) -> tuple[str, list[Any]]:
    if isinstance(out, (tuple, list)):
        items = list(out)
        structure = "list" if isinstance(out, list) else "tuple"
    else:
        items, structure = [out], "single"
    for item in items:
        if not isinstance(item, (Traced, np.ndarray, np.generic, bool, int, float)):
            raise TracingError(f"{name} returns {type(item).__name__}: a compiled function "
                               "returns arrays (or a tuple or list of them)", code="E0509")
    return structure, items


def jit(fn: Callable[..., Any] | None = None, *, opt_level: int = 2, target: str | Target = "cpu",
        dynamic: Dynamic | None = None) -> Any:
    """Compile ``fn`` by tracing: ``hyc.jit(f)``, ``@hyc.jit`` or ``@hyc.jit(opt_level=3)``."""
    if fn is None:
        return lambda f: JitFunction(f, opt_level, target, dynamic)
    return JitFunction(fn, opt_level, target, dynamic)


class Benchmark:
    """``with hyc.Benchmark("label"):`` prints the block's wall time: ``label: 0.1234 sec``."""

    def __init__(self, description: str = "Done") -> None:
        self.description = description
        self.elapsed = 0.0

    def __enter__(self) -> Benchmark:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self._start
        print(f"{self.description}: {self.elapsed:.4f} sec")
