"""The numpy that tracing understands: ufuncs, functions and array methods, each lowered to
hy ops with numpy's semantics (dtype promotion, broadcasting, axes, keepdims).

``UFUNCS`` and ``FUNCTIONS`` are the tables ``Traced.__array_ufunc__`` and
``__array_function__`` consult; a numpy function missing from them is an error that names it.
Functions numpy does not have as one op (``var``, ``fmax``, ...) are built from several hy
ops here, so the IR stays small; the math ones (``expm1``, ``hypot``, ``//``, ...) in
numpy_math.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hyc.ir.attributes import BoolAttr, IntAttr, int_array
from hyc.ir.core import Operation
from hyc.ir.dialects import hy
from hyc.ir.types import scalar_type_for_dtype, shape_of

from .tracing import (
    Traced,
    TracingError,
    as_value,
    broadcast_all,
    cast,
    elementwise,
    error,
    ir_element,
    replace_in_place,
    result_dtype,
    trace_of,
    wrap,
)

Impl = Callable[..., Any]
UFUNCS: dict[np.ufunc, Impl] = {}
FUNCTIONS: dict[Callable[..., Any], Impl] = {}


def numpy_name(func: Any) -> str:
    module = getattr(func, "__module__", None) or "numpy"
    return f"{'numpy' if module.startswith('numpy._') else module}.{func.__name__}"


def implements(*funcs: Any) -> Callable[[Impl], Impl]:
    def register(impl: Impl) -> Impl:
        for f in funcs:
            (UFUNCS if isinstance(f, np.ufunc) else FUNCTIONS)[f] = impl
        return impl
    return register


# -- dispatch --------------------------------------------------------------------------------------
def numbers_as_array(value: list | tuple) -> np.ndarray:
    """A list or tuple of numbers as the array numpy makes of it; ValueError otherwise."""
    array = np.asarray(value)  # raises ValueError for a ragged list
    if array.dtype.kind not in "biuf":
        raise ValueError(f"a {type(value).__name__} of {array.dtype} values is not an array of "
                         "numbers")
    return array


def _operand(value: Any) -> Any:
    """A ufunc operand as numpy sees it: a list or tuple of numbers is an array."""
    if not isinstance(value, (list, tuple)):
        return value
    try:
        return numbers_as_array(value)
    except ValueError as e:
        raise error(f"cannot use {value!r} as an array ({e}; np.stack makes an array of "
                    "traced values)", code="E0505") from None


def apply_ufunc(ufunc: np.ufunc, method: str, inputs: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    out = kwargs.pop("out", None)
    if method == "reduce" and ufunc in REDUCTIONS:
        if out is not None:
            raise error(f"numpy.{ufunc.__name__}.reduce(out=...) is not supported while tracing",
                        code="E0501")
        return REDUCTIONS[ufunc](inputs[0], axis=kwargs.pop("axis", 0), **kwargs)
    impl = UFUNCS.get(ufunc)
    if method != "__call__" or impl is None:
        suffix = "" if method == "__call__" else f".{method}"
        raise error(f"numpy.{ufunc.__name__}{suffix} is not supported by hyc tracing "
                    "(docs/python.md lists what is)", code="E0501")
    unknown = set(kwargs) - {"dtype", "casting"} - ({"where"} if kwargs.get("where") is True else set())
    if unknown:
        raise error(f"numpy.{ufunc.__name__}: the argument(s) {', '.join(sorted(unknown))} are "
                    "not supported while tracing", code="E0501")
    result = impl(*map(_operand, inputs), dtype=kwargs.get("dtype"))
    if out is None:
        return result
    targets = out if isinstance(out, tuple) else (out,)
    if len(targets) == 1 and isinstance(targets[0], Traced) and targets[0] is inputs[0]:
        return replace_in_place(targets[0], result, f"numpy.{ufunc.__name__}(..., out=...)")
    raise error(f"numpy.{ufunc.__name__}(..., out=...) can only update its first operand in "
                "place while tracing; use the returned value instead", code="E0503")


def apply_function(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    impl = FUNCTIONS.get(func)
    if impl is None:
        raise error(f"{numpy_name(func)} is not supported by hyc tracing (docs/python.md lists "
                    "what is)", code="E0501")
    try:
        return impl(*args, **kwargs)
    except TypeError as e:
        if isinstance(e, TracingError):
            raise
        raise error(f"{numpy_name(func)}: {e}", code="E0508") from None


# -- elementwise -------------------------------------------------------------------------------
def _promoted(operands: Sequence[Any], dtype: Any) -> np.dtype:
    return np.dtype(dtype) if dtype is not None else result_dtype(operands)


def _floating(operands: Sequence[Any], dtype: Any) -> np.dtype:
    """Means and variances of integers and bools are float64, as in numpy."""
    found = _promoted(operands, dtype)
    return found if found.kind == "f" else np.dtype(np.float64)


def _resolved(ufunc: np.ufunc, operands: Sequence[Any], dtype: Any) -> np.dtype:
    """The dtype numpy computes ``ufunc`` in for these operands (exp of int32 is float64, of
    bool float16), or a located error where hyc has no such dtype."""
    if dtype is not None:
        return np.dtype(dtype)
    parts = tuple(o.dtype if isinstance(o, Traced) else type(o) if type(o) in (int, float)
                  else np.asarray(o).dtype for o in operands)
    try:
        found = ufunc.resolve_dtypes(parts + (None,) * ufunc.nout)[-1]
    except TypeError as e:
        raise error(f"numpy.{ufunc.__name__}: {e}", code="E0508") from None
    if scalar_type_for_dtype(found) is None:
        raise error(f"numpy.{ufunc.__name__} computes in {found} for these operands, which hyc "
                    "does not have: convert them first, e.g. with .astype(np.float32)", code="E0506")
    return found


def _numeric_only(name: str, found: np.dtype) -> None:
    if found == np.bool_:
        raise error(f"numpy.{name} is not supported for bool values while tracing "
                    "(convert with .astype(np.int32))", code="E0316")


def _simple(ufunc: np.ufunc, op_class: type[Operation], floats: bool = False) -> None:
    name = ufunc.__name__

    def impl(*operands: Any, dtype: Any = None) -> Traced:
        found = _resolved(ufunc, operands, dtype) if floats else _promoted(operands, dtype)
        _numeric_only(name, found)
        return elementwise(op_class, operands, found, f"numpy.{name}")
    UFUNCS[ufunc] = impl


for _ufunc, _op in [(np.add, hy.AddOp), (np.subtract, hy.SubOp), (np.multiply, hy.MulOp),
                    (np.power, hy.PowOp), (np.maximum, hy.MaximumOp), (np.minimum, hy.MinimumOp),
                    (np.negative, hy.NegOp), (np.absolute, hy.AbsOp)]:
    _simple(_ufunc, _op)
for _ufunc, _op in [(np.true_divide, hy.DivOp), (np.exp, hy.ExpOp), (np.log, hy.LogOp),
                    (np.sqrt, hy.SqrtOp), (np.tanh, hy.TanhOp)]:
    _simple(_ufunc, _op, floats=True)


def _compare(ufunc: np.ufunc, op_class: type[Operation]) -> None:
    def impl(a: Any, b: Any, dtype: Any = None) -> Traced:
        return elementwise(op_class, [a, b], result_dtype([a, b]), f"numpy.{ufunc.__name__}")
    UFUNCS[ufunc] = impl


for _ufunc, _op in [(np.equal, hy.EqOp), (np.not_equal, hy.NeOp), (np.less, hy.LtOp),
                    (np.less_equal, hy.LeOp), (np.greater, hy.GtOp), (np.greater_equal, hy.GeOp)]:
    _compare(_ufunc, _op)


def _logical(ufunc: np.ufunc, op_class: type[Operation], bitwise: bool) -> None:
    """logical_* treat any value as a truth value; &, | and ^ only for bools here."""
    def impl(*operands: Any, dtype: Any = None) -> Traced:
        if bitwise and _promoted(operands, None) != np.bool_:
            raise error(f"numpy.{ufunc.__name__} is supported for bool values only while tracing",
                        code="E0316")
        return elementwise(op_class, [truth(o) for o in operands], np.bool_, f"numpy.{ufunc.__name__}")
    UFUNCS[ufunc] = impl


for _ufunc, _op, _bitwise in [(np.logical_and, hy.AndOp, False), (np.logical_or, hy.OrOp, False),
                              (np.logical_xor, hy.NeOp, False), (np.logical_not, hy.NotOp, False),
                              (np.bitwise_and, hy.AndOp, True), (np.bitwise_or, hy.OrOp, True),
                              (np.bitwise_xor, hy.NeOp, True), (np.invert, hy.NotOp, True)]:
    _logical(_ufunc, _op, _bitwise)


def truth(o: Any) -> Any:
    """A bool view of a value (``!= 0``), as numpy's logical functions take it."""
    if isinstance(o, Traced) and o.dtype != np.bool_:
        return wrap(o.trace, cast(o.trace, o.value, ir_element(np.bool_)))
    return o if isinstance(o, Traced) else np.asarray(o).astype(bool)


def _copy_of(x: Any) -> Any:
    """A new proxy of the same value: numpy would make a new array."""
    return wrap(x.trace, x.value) if isinstance(x, Traced) else x


@implements(np.positive)
def _positive(x: Any, dtype: Any = None) -> Any:
    return _copy_of(_astype(x, _promoted([x], dtype)))


@implements(np.square)
def _square(x: Any, dtype: Any = None) -> Traced:
    return UFUNCS[np.multiply](x, x, dtype=dtype)


@implements(np.reciprocal)
def _reciprocal(x: Any, dtype: Any = None) -> Traced:
    found = _promoted([x], dtype)
    return elementwise(hy.DivOp, [np.ones((), found), x], found, "numpy.reciprocal")


@implements(np.sign)
def _sign(x: Any, dtype: Any = None) -> Traced:
    found = _promoted([x], dtype)
    _numeric_only("sign", found)
    one, zero = np.ones((), found), np.zeros((), found)
    x = _astype(x, found)
    return where(np.greater(x, zero), one, where(np.less(x, zero), -one, np.multiply(x, zero)))


def _isnan(x: Any) -> Any:
    return np.not_equal(x, x)


@implements(np.isnan)
def _isnan_impl(x: Any, dtype: Any = None) -> Any:
    return _isnan(x) if _promoted([x], None).kind == "f" else np.zeros_like(x, dtype=bool)


@implements(np.isinf)
def _isinf(x: Any, dtype: Any = None) -> Any:
    if _promoted([x], None).kind != "f":
        return np.zeros_like(x, dtype=bool)
    return np.equal(np.abs(x), np.inf)


@implements(np.isfinite)
def _isfinite(x: Any, dtype: Any = None) -> Any:
    if _promoted([x], None).kind != "f":
        return np.ones_like(x, dtype=bool)
    return np.less(np.abs(x), np.inf)


def _nan_ignoring(ufunc: np.ufunc, plain: np.ufunc) -> None:
    """fmax/fmin: like maximum/minimum, but a NaN loses to a number."""
    def impl(a: Any, b: Any, dtype: Any = None) -> Any:
        found = _promoted([a, b], dtype)
        a, b = _astype(a, found), _astype(b, found)
        both = plain(a, b)
        if found.kind != "f":
            return both
        return where(_isnan(a), b, where(_isnan(b), a, both))
    UFUNCS[ufunc] = impl


_nan_ignoring(np.fmax, np.maximum)
_nan_ignoring(np.fmin, np.minimum)


# -- matmul ----------------------------------------------------------------------------------
@implements(np.matmul)
def matmul(a: Any, b: Any, dtype: Any = None) -> Traced:
    found = _promoted([a, b], dtype)
    _numeric_only("matmul", found)
    trace = trace_of([a, b])
    values = [as_value(trace, o, found) for o in (a, b)]
    if any(not shape_of(v.type) for v in values):
        raise error("numpy.matmul: a 0-d operand (use * to multiply by a scalar)", code="E0302")
    return wrap(trace, trace.emit(hy.MatmulOp, values, what="numpy.matmul"))


@implements(np.dot)
def _dot(a: Any, b: Any, out: Any = None) -> Any:
    ranks = [np.ndim(x) if not isinstance(x, Traced) else x.ndim for x in (a, b)]
    if 0 in ranks:  # dot takes Python numbers as arrays: no weak promotion
        left, right = (o if isinstance(o, Traced) else np.asarray(o) for o in (a, b))
        return np.multiply(left, right)
    if max(ranks) > 2:
        raise error("numpy.dot of tensors with more than 2 dimensions is not supported while "
                    "tracing (use np.matmul, whose batching rules differ)", code="E0501")
    return matmul(a, b)


@implements(np.outer)
def _outer(a: Any, b: Any, out: Any = None) -> Any:
    return np.multiply(np.reshape(a, (-1, 1)), np.reshape(b, (1, -1)))


# -- where, clip, casts ----------------------------------------------------------------------------
@implements(np.where)
def where(condition: Any, x: Any = None, y: Any = None) -> Traced:
    if x is None or y is None:
        raise error("numpy.where(condition) (the indices form) has a data-dependent size: "
                    "only where(condition, x, y) is supported while tracing", code="E0507")
    found = result_dtype([x, y])
    trace = trace_of([condition, x, y])
    values = [as_value(trace, truth(condition), np.bool_), as_value(trace, x, found),
              as_value(trace, y, found)]
    return wrap(trace, trace.emit(hy.SelectOp, broadcast_all(trace, values, "numpy.where"),
                                  what="numpy.where"))


@implements(np.clip)
def clip(a: Any, a_min: Any = None, a_max: Any = None, out: Any = None, **kwargs: Any) -> Any:
    a_min = kwargs.pop("min", a_min)
    a_max = kwargs.pop("max", a_max)
    if kwargs or out is not None:
        raise error("numpy.clip: only a, a_min and a_max are supported while tracing", code="E0501")
    if a_min is not None:
        a = np.maximum(a, a_min)
    if a_max is not None:
        a = np.minimum(a, a_max)
    return a


def _astype(x: Any, dtype: Any) -> Any:
    if not isinstance(x, Traced):
        return np.asarray(x).astype(dtype) if isinstance(x, np.ndarray) else np.dtype(dtype).type(x)
    found = np.dtype(dtype)
    if found == x.dtype:
        return x
    return wrap(x.trace, cast(x.trace, x.value, ir_element(found)))


@implements(np.astype)
def _astype_function(x: Any, dtype: Any, copy: bool = True) -> Any:
    return _astype(x, dtype)


# -- reductions -----------------------------------------------------------------------------------
def axes_of(axis: Any, ndim: int, what: str) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in items:
        if not isinstance(a, (int, np.integer)) or not -ndim <= a < ndim:
            raise error(f"{what}: axis {a} is out of bounds for a tensor of dimension {ndim}", code="E0313")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise error(f"{what}: repeated axis in {axis}", code="E0313")
    return tuple(sorted(out))


def _reduce(op_class: type[Operation], x: Any, axis: Any, keepdims: bool, dtype: Any, what: str) -> Any:
    trace = trace_of([x])
    if not isinstance(x, Traced):
        x = wrap(trace, as_value(trace, x))
    value = as_value(trace, x, dtype)
    axes = axes_of(axis, x.ndim, what)
    attrs = {"axes": int_array(list(axes))}
    if keepdims:
        attrs["keepdims"] = BoolAttr(True)
    return wrap(trace, trace.emit(op_class, [value], attrs, what=what))


def _accumulating_dtype(x: Any, dtype: Any) -> np.dtype:
    """numpy sums bools and narrow integers in the default integer type."""
    if dtype is not None:
        return np.dtype(dtype)
    found = _promoted([x], None)
    return np.dtype(np.int64) if found.kind in "bi" and found.itemsize < 8 else found


@implements(np.sum)
def sum_(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
         **kwargs: Any) -> Any:
    _no_extras("numpy.sum", out, kwargs)
    return _reduce(hy.SumOp, x, axis, keepdims, _accumulating_dtype(x, dtype), "numpy.sum")


@implements(np.prod)
def prod(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
         **kwargs: Any) -> Any:
    _no_extras("numpy.prod", out, kwargs)
    return _reduce(hy.ProdOp, x, axis, keepdims, _accumulating_dtype(x, dtype), "numpy.prod")


@implements(np.mean)
def mean(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
         **kwargs: Any) -> Any:
    _no_extras("numpy.mean", out, kwargs)
    found = np.dtype(dtype) if dtype is not None else _floating([x], None)
    return _reduce(hy.MeanOp, x, axis, keepdims, found, "numpy.mean")


def _extreme(op_class: type[Operation], name: str) -> Impl:
    def impl(x: Any, axis: Any = None, out: Any = None, keepdims: bool = False, **kwargs: Any) -> Any:
        _no_extras(f"numpy.{name}", out, kwargs)
        _numeric_only(name, _promoted([x], None))
        return _reduce(op_class, x, axis, keepdims, None, f"numpy.{name}")
    return impl


max_ = implements(np.max, np.amax)(_extreme(hy.MaxOp, "max"))
min_ = implements(np.min, np.amin)(_extreme(hy.MinOp, "min"))


def _arg_extremum(op_class: type[Operation], name: str) -> Impl:
    def impl(x: Any, axis: Any = None, out: Any = None, *, keepdims: bool = False) -> Any:
        _no_extras(f"numpy.{name}", out, {})
        trace = trace_of([x])
        x = x if isinstance(x, Traced) else wrap(trace, as_value(trace, x))
        _numeric_only(name, x.dtype)
        if axis is None:  # over the flattened array
            flat = FUNCTIONS[np.ravel](x)
            found = wrap(trace, trace.emit(op_class, [flat.value], {"axis": IntAttr(0)},
                                           what=f"numpy.{name}"))
            return FUNCTIONS[np.reshape](found, (1,) * x.ndim) if keepdims else found
        attrs = {"axis": IntAttr(axes_of(axis, x.ndim, f"numpy.{name}")[0])}
        if keepdims:
            attrs["keepdims"] = BoolAttr(True)
        return wrap(trace, trace.emit(op_class, [x.value], attrs, what=f"numpy.{name}"))
    return impl


argmax = implements(np.argmax)(_arg_extremum(hy.ArgmaxOp, "argmax"))
argmin = implements(np.argmin)(_arg_extremum(hy.ArgminOp, "argmin"))


@implements(np.var)
def var(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: int = 0,
        keepdims: bool = False, **kwargs: Any) -> Any:
    _no_extras("numpy.var", out, kwargs)
    found = np.dtype(dtype) if dtype is not None else _floating([x], None)
    x = _astype(x, found)
    centered = np.subtract(x, mean(x, axis, keepdims=True))
    squares = np.multiply(centered, centered)
    if ddof == 0:
        return mean(squares, axis, keepdims=keepdims)
    freedom = np.maximum(np.subtract(_count(x, axis, found), found.type(ddof)), found.type(0))
    return np.divide(sum_(squares, axis, keepdims=keepdims), freedom)


@implements(np.std)
def std(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: int = 0,
        keepdims: bool = False, **kwargs: Any) -> Any:
    return np.sqrt(var(x, axis, dtype, out, ddof, keepdims, **kwargs))


def _count(x: Traced, axis: Any, dtype: np.dtype) -> Any:
    """How many elements the axes hold, in ``dtype``: a number, or traced where a dimension
    is dynamic."""
    dims = x.dims()
    count: Any = dtype.type(1)
    for a in axes_of(axis, x.ndim, "numpy.var"):
        d = dims[a]
        count = np.multiply(count, dtype.type(d) if isinstance(d, int) else
                            wrap(x.trace, cast(x.trace, d.value, ir_element(dtype))))
    return count


def _no_extras(what: str, out: Any, kwargs: dict[str, Any]) -> None:
    extras = {k for k, v in kwargs.items() if not (k == "where" and v is True) and v is not np._NoValue}
    if out is not None or extras:
        names = sorted(extras | ({"out"} if out is not None else set()))
        raise error(f"{what}: the argument(s) {', '.join(names)} are not supported while tracing",
                    code="E0501")


REDUCTIONS: dict[np.ufunc, Impl] = {
    np.add: lambda x, axis=0, dtype=None, keepdims=False: sum_(x, axis, dtype, keepdims=keepdims),
    np.multiply: lambda x, axis=0, dtype=None, keepdims=False: prod(x, axis, dtype, keepdims=keepdims),
    np.maximum: lambda x, axis=0, keepdims=False: max_(x, axis, keepdims=keepdims),
    np.minimum: lambda x, axis=0, keepdims=False: min_(x, axis, keepdims=keepdims),
}


def activation(op_class: type[Operation], x: Traced, name: str, axis: int | None = None) -> Traced:
    """hyc's own activations (and softmax) as one op, in the dtype their numpy forms give:
    relu keeps integers, the others compute integers in float64."""
    _numeric_only(name, x.dtype)
    x = _astype(x, _floating([x], None)) if op_class is not hy.ReluOp else x
    attrs = {} if axis is None else {"axis": IntAttr(axes_of(axis, x.ndim, name)[0])}
    return wrap(x.trace, x.trace.emit(op_class, [x.value], attrs, what=f"hyc.{name}"))


def _array_ufunc(self: Traced, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
    return apply_ufunc(ufunc, method, inputs, kwargs)


def _array_function(self: Traced, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
    return apply_function(func, args, kwargs)


# numpy's protocols: numpy calls these on a traced value, and they consult the tables above
Traced.__array_ufunc__ = _array_ufunc  # type: ignore[attr-defined]
Traced.__array_function__ = _array_function  # type: ignore[attr-defined]
