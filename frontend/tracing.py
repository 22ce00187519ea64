"""Tracing Python functions into hy IR: proxy tensors that record the numpy code run on them.

A ``Trace`` builds one ``func.func``; each argument becomes a ``Traced`` proxy, and every
operator, method or numpy function applied to a proxy appends the matching ``hy`` ops
(``numpy_api`` holds the table), located at the user's line. Python itself runs as usual:
a ``for`` over a ``range`` unrolls, ``print`` shows the symbolic value, and asking for a
concrete value (``if``, ``float()``, ``np.asarray``) is an error that says what to do instead.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from hyc.ir import Builder, FileLineColLoc, FuncOp, HycError, ModuleOp, ReturnOp, Value, verify
from hyc.ir.attributes import DenseAttr, IntAttr, TypeAttr
from hyc.ir.core import Operation
from hyc.ir.diagnostics import render_all
from hyc.ir.dialects import hy
from hyc.ir.location import UNKNOWN, Location
from hyc.ir.shapes import broadcast_shapes
from hyc.ir.types import (
    DYNAMIC,
    Dim,
    FunctionType,
    ScalarType,
    Shape,
    Type,
    element_type,
    make_type,
    numpy_dtype,
    scalar_type_for_dtype,
    shape_of,
)

from .shaping import broadcast_value


class TracingError(HycError):
    """A user error while tracing, located at the user's line (shown with the source)."""

    def __str__(self) -> str:
        return render_all(self.diagnostics, with_source=True)


class ConcretizationError(TracingError, TypeError):
    """A traced value was asked for a concrete Python or numpy value."""


# Frames in these folders are hyc's (or numpy's) own: locations point past them.
_INTERNAL = tuple(os.path.dirname(os.path.abspath(p)) + os.sep for p in (
    __file__,                                   # frontend/
    sys.modules["hyc"].__file__ or "",          # hyc/
    sys.modules["hyc.ir"].__file__ or "",       # ir/
    np.__file__,
))


def user_location() -> Location:
    """The file, line and column of the innermost frame outside hyc and numpy."""
    frame = sys._getframe(1)
    while frame is not None and (frame.f_code.co_filename.startswith(_INTERNAL)
                                 or frame.f_code.co_filename.startswith("<__array_function__")):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return UNKNOWN
    code, line, col = frame.f_code, frame.f_lineno, 1
    for i, position in enumerate(code.co_positions()):
        if i == frame.f_lasti // 2:
            if position[0] == line and position[2] is not None:
                col = position[2] + 1
            break
    return FileLineColLoc(code.co_filename, line or 0, col)


def error(message: str, kind: type[TracingError] = TracingError, *, code: str) -> TracingError:
    return kind(message, user_location(), code=code)


SUPPORTED_DTYPES = "float32, float64, int32, int64 and bool"


def ir_element(dtype: Any) -> ScalarType:
    """hyc's element type for a numpy dtype, or a located error."""
    found = scalar_type_for_dtype(np.dtype(dtype))
    if found is None:
        raise error(f"hyc has no {np.dtype(dtype)} tensors (it has {SUPPORTED_DTYPES})", code="E0506")
    return found


def show(t: Type) -> str:
    """A type the way tracing shows it: ``f32[1,3]``, ``i64[]``."""
    name = "bool" if str(element_type(t)) == "i1" else str(element_type(t))
    return f"{name}[{','.join(map(str, shape_of(t)))}]"


class Trace:
    """One function being traced: its module, its builder, what it has bound so far."""

    def __init__(self, name: str, loc: Location = UNKNOWN) -> None:
        self.module = ModuleOp.create(loc)
        self.func = FuncOp.create(name, [], [], [], loc)
        self.module.body.append(self.func)
        self.b = Builder(self.func.body)
        self.parameter_names: dict[int, str] = {}  # id(Parameter) -> name: those to bind
        self.parameters: dict[int, Traced] = {}  # id(Parameter) -> its argument
        self.bound: list[Any] = []  # the parameters bound as arguments, in order
        self.finished = False

    def argument(self, type_: Type, name: str | None, origin: str | None = None) -> Traced:
        arg = self.func.body.add_arg(type_, name)
        return Traced(arg, self, origin)

    def parameter(self, param: Any, array: np.ndarray) -> Traced | None:
        """The argument standing for a block parameter (made on first use), or None when
        the parameter is not bound here (then its array is a constant)."""
        found = self.parameters.get(id(param))
        if found is None:
            if id(param) not in self.parameter_names:
                return None
            name = self.parameter_names[id(param)]
            t = make_type(ir_element(array.dtype), array.shape)
            found = self.parameters[id(param)] = self.argument(t, name, f"parameter '{name}'")
            self.bound.append(param)
        return found

    def emit(self, op_class: type[Operation], operands: Sequence[Value], attrs: dict | None = None,
             result_types: Sequence[Type] | None = None, what: str | None = None) -> Value:
        """Create an op at the user's line; a type error becomes a located tracing error."""
        loc = user_location()
        try:
            return self.b.create(op_class, operands, attrs or {}, result_types, loc=loc).result
        except HycError as e:
            message = e.diagnostics[0].message
            if what:
                message = f"{what}: " + message.split(" op ", 1)[-1]
            raise TracingError(message, loc, code=e.code) from None

    def constant(self, array: np.ndarray, element: ScalarType) -> Value:
        t = make_type(element, array.shape)
        attr = DenseAttr.from_values(t, np.asarray(array).astype(numpy_dtype(t)))
        return self.emit(hy.ConstantOp, [], {"value": attr})

    def finish(self, results: Sequence[Value]) -> ModuleOp:
        """End the function with ``func.return`` and check the module."""
        self.b.create(ReturnOp, list(results), result_types=[], loc=user_location())
        inputs = tuple(a.type for a in self.func.body.args)
        self.func.attributes["function_type"] = TypeAttr(
            FunctionType(inputs, tuple(v.type for v in results)))
        self.finished = True
        verify(self.module)
        return self.module


class _Traces(threading.local):
    """Each thread's traces being built, innermost last (threads trace independently)."""

    def __init__(self) -> None:
        self.stack: list[Trace] = []


TRACES = _Traces()


def active_trace() -> Trace | None:
    stack = TRACES.stack
    return stack[-1] if stack else None


class tracing:
    """``with tracing(trace):`` makes ``trace`` the one new proxies and parameters join."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    def __enter__(self) -> Trace:
        TRACES.stack.append(self.trace)
        return self.trace

    def __exit__(self, *exc: object) -> None:
        TRACES.stack.pop()


class SymbolicDim:
    """A dynamic dimension while tracing (``x.shape[0]`` of a dynamic batch): usable as a
    size in ``reshape``, ``broadcast_to`` or ``zeros``, but it has no value yet."""

    def __init__(self, name: Dim, value: Value) -> None:
        self.name, self.value = name, value

    def __repr__(self) -> str:
        return f"SymbolicDim({self.name})"

    def _concrete(self, *args: object) -> Any:
        raise concretization(f"the dynamic dimension '{self.name}'", "an int")

    __index__ = __int__ = __bool__ = __float__ = _concrete
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __floordiv__ = _concrete


def concretization(what: str, wanted: str) -> ConcretizationError:
    return error(
        f"{what} has no value while tracing, so it cannot be turned into {wanted}: the "
        "traced function only records operations, and their values exist when the compiled "
        "code runs. Use np.where (or hyc.where) to choose between values elementwise, write "
        "real control flow in a .hy function (hyc.compile), or run the function eagerly "
        "(f.eager(...), or the block without hybridize())", ConcretizationError, code="E0502")


class Traced:
    """A symbolic tensor (or scalar) in a trace: a handle on an SSA value.

    ``origin`` names what an in-place update would change outside the trace (an argument
    or a parameter); ``view_of``/``has_views`` track numpy's views, which an in-place update
    would also change.
    """

    __array_priority__ = 1000
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, value: Value, trace: Trace, origin: str | None = None) -> None:
        self.value = value
        self.trace = trace
        self.origin = origin
        self.view_of: Traced | None = None
        self.has_views = False

    # -- what a traced value is ---------------------------------------------------------------
    @property
    def type(self) -> Type:
        return self.value.type

    @property
    def dtype(self) -> np.dtype:
        return numpy_dtype(self.value.type)

    @property
    def ndim(self) -> int:
        return len(shape_of(self.value.type))

    @property
    def shape(self) -> tuple[int | SymbolicDim, ...]:
        return tuple(self.dims())

    def dims(self) -> list[int | SymbolicDim]:
        """The sizes: ints, and for dynamic dimensions their ``hy.dim`` values."""
        return [d if isinstance(d, int) else
                SymbolicDim(d, self.trace.emit(hy.DimOp, [self.value], {"axis": IntAttr(i)}))
                for i, d in enumerate(shape_of(self.value.type))]

    @property
    def size(self) -> int:
        shape = shape_of(self.value.type)
        if not all(isinstance(d, int) for d in shape):
            raise concretization("the size of a tensor with dynamic dimensions", "an int")
        return int(np.prod(shape, dtype=np.int64))

    def __repr__(self) -> str:
        return f"Traced<{show(self.value.type)}>"

    __str__ = __repr__

    def __len__(self) -> int:
        shape = shape_of(self.value.type)
        if not shape:
            raise error("len() of a 0-d traced value", TracingError, code="E0508")
        if not isinstance(shape[0], int):
            raise concretization(f"the length of {self!r}", "an int")
        return shape[0]

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self)))  # type: ignore[index]

    # -- no concrete values while tracing -----------------------------------------------------
    def __bool__(self) -> bool:
        raise concretization(f"{self!r}", "a Python bool (as `if`, `while`, `and`, `or` and "
                             "`not` need)")

    def __float__(self) -> float:
        raise concretization(f"{self!r}", "a Python float")

    def __int__(self) -> int:
        raise concretization(f"{self!r}", "a Python int")

    __index__ = __int__

    def __complex__(self) -> complex:
        raise concretization(f"{self!r}", "a Python complex")

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        raise concretization(f"{self!r}", "a numpy array (np.asarray / np.array)")

    def item(self, *args: object) -> Any:
        raise concretization(f"{self!r}", "a Python number (.item())")

    def tolist(self) -> Any:
        raise concretization(f"{self!r}", "a Python list (.tolist())")

    def __setitem__(self, key: object, value: object) -> None:
        raise error("assigning to elements of a traced tensor (x[...] = v) is not supported: "
                    "build the new value instead, e.g. np.where(mask, v, x) or np.concatenate", code="E0503")

    # numpy's protocols (__array_ufunc__, __array_function__), the operators, indexing and
    # the array methods are installed by the modules that implement them: numpy_api.py and
    # numpy_shapes.py (numpy_support.py loads them all).


def traced_operands(values: Sequence[Any]) -> list[Traced]:
    return [v for v in values if isinstance(v, Traced)]


def trace_of(values: Sequence[Any]) -> Trace:
    """The trace the operands belong to; a proxy from a finished trace is an error."""
    proxies = traced_operands(values)
    for v in proxies:
        if v.trace.finished or v.trace is not proxies[0].trace:
            raise error(f"{v!r} escaped the trace that made it (it was kept in a global or an "
                        "attribute while tracing, and is used afterwards): return it instead", code="E0504")
    if proxies:
        return proxies[0].trace
    trace = active_trace()
    if trace is None:
        raise error("a hyc operation was used outside of tracing", code="E0504")
    return trace


def result_dtype(operands: Sequence[Any]) -> np.dtype:
    """numpy's promotion: Python scalars are weak, arrays and numpy scalars are not."""
    parts = [o.dtype if isinstance(o, Traced) else o for o in operands]
    try:
        return np.result_type(*parts)
    except TypeError as e:
        raise error(f"cannot combine {', '.join(describe(o) for o in operands)}: {e}", code="E0508") from None


def describe(o: Any) -> str:
    if isinstance(o, Traced):
        return repr(o)
    if isinstance(o, np.ndarray):
        return f"a {o.dtype} array of shape {o.shape}"
    return f"{type(o).__name__} {o!r}"


def as_value(trace: Trace, operand: Any, dtype: Any = None) -> Value:
    """The SSA value for an operand, converted to ``dtype`` (if given): proxies are cast,
    numpy arrays and Python numbers become constants."""
    if isinstance(operand, Traced):
        value = operand.value
        if dtype is not None and np.dtype(dtype) != operand.dtype:
            value = cast(trace, value, ir_element(dtype))
        return value
    if isinstance(operand, SymbolicDim):
        raise concretization(f"the dynamic dimension '{operand.name}'", "a tensor")
    if isinstance(operand, (bool, int, float, np.generic, np.ndarray)):
        target = np.dtype(dtype) if dtype is not None else np.asarray(operand).dtype
        if isinstance(operand, int) and not isinstance(operand, bool) and target.kind == "i" \
                and not np.iinfo(target).min <= operand <= np.iinfo(target).max:
            raise error(f"the number {operand} does not fit in {target}", code="E0305")
        source = np.asarray(operand)
        if source.dtype.kind not in "biuf":
            raise error(f"cannot use {describe(operand)} in a traced computation", code="E0505")
        return trace.constant(source.astype(target), ir_element(target))
    raise error(f"cannot use {describe(operand)} in a traced computation (expected an array, "
                "a number or a traced value)", code="E0505")


def cast(trace: Trace, value: Value, element: ScalarType) -> Value:
    if element_type(value.type) == element:
        return value
    return trace.emit(hy.CastOp, [value], result_types=[make_type(element, shape_of(value.type))])


def wrap(trace: Trace, value: Value) -> Traced:
    return Traced(value, trace)


def broadcast_all(trace: Trace, values: list[Value], what: str) -> list[Value]:
    """numpy broadcasting; a named dynamic dimension meets only itself (or 1)."""
    shape: Shape = ()
    for v in values:
        merged = broadcast_shapes(shape, shape_of(v.type), agree=lambda a, b: a == b)
        if merged is None:
            shapes = " ".join(show(w.type) for w in values)
            hint = ""
            if any(isinstance(d, str) and d != DYNAMIC for w in values for d in shape_of(w.type)):
                hint = (" (dynamic dimensions with different names may differ in size: give "
                        "them one name, e.g. dynamic={'x': {0: 'N'}, 'y': {0: 'N'}})")
            raise error(f"{what}: operands could not be broadcast together with shapes "
                        f"{shapes}{hint}", code="E0301")
        shape = merged
    trace.b.loc = user_location()  # where the broadcasts (and their size reads) come from
    return [broadcast_value(trace.b, v, shape, values) for v in values]


def elementwise(op_class: type[Operation], operands: Sequence[Any], dtype: Any, what: str) -> Traced:
    """An elementwise op on operands converted to ``dtype`` and broadcast together."""
    trace = trace_of(operands)
    values = [as_value(trace, o, dtype) for o in operands]
    values = broadcast_all(trace, values, what)
    return wrap(trace, trace.emit(op_class, values, what=what))


def reshape_to(x: Traced, dims: Sequence[int | SymbolicDim], view: bool = True) -> Traced:
    """``x`` in a new shape given as sizes (ints, or dynamic dimensions with their values)."""
    shape = tuple(d if isinstance(d, int) else d.name for d in dims)
    if shape == tuple(shape_of(x.type)):
        return x
    sizes = [d.value for d in dims if not isinstance(d, int)]
    t = make_type(element_type(x.type), shape)
    result = wrap(x.trace, x.trace.emit(hy.ReshapeOp, [x.value, *sizes], result_types=[t],
                                        what="reshape"))
    return view_of(x, result) if view else result


def view_of(base: Traced, view: Traced) -> Traced:
    """Record that ``view`` would share memory with ``base`` in numpy."""
    root = base.view_of if base.view_of is not None else base
    view.view_of = root
    root.has_views = True
    return view


def replace_in_place(target: Traced, new: Traced, what: str) -> Traced:
    """Functionalize ``target op= ...``: the proxy takes the new value (so every Python name
    bound to it sees the update, as with numpy), unless memory outside the trace or a numpy
    view would have changed too, which compiled code cannot reproduce."""
    if target.origin is not None:
        raise error(f"in-place update ({what}) of {target.origin}: in numpy it changes the "
                    "caller's array, which compiled code does not do; write x = x + ... instead",
                    code="E0503")
    if target.view_of is not None or target.has_views:
        raise error(f"in-place update ({what}) of a tensor that shares memory with a view "
                    "(made by slicing, reshape or .T): numpy would change both, which traced "
                    "code does not; write x = x + ... instead", code="E0503")
    if shape_of(new.type) != shape_of(target.type):
        raise error(f"in-place update ({what}): the result {new!r} does not fit in {target!r}", code="E0503")
    if new.dtype != target.dtype:
        if not np.can_cast(new.dtype, target.dtype, "same_kind"):
            raise error(f"in-place update ({what}): cannot cast the {new.dtype} result to "
                        f"{target.dtype} with casting rule 'same_kind'", code="E0503")
        new = wrap(new.trace, cast(new.trace, new.value, ir_element(target.dtype)))
    target.value = new.value
    return target

