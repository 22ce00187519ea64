"""The numpy that tracing understands: ufuncs, functions and array methods, each lowered to
hy ops with numpy's semantics (dtype promotion, broadcasting, axes, keepdims).

``UFUNCS`` and ``FUNCTIONS`` are the tables ``Traced.__array_ufunc__`` and
``__array_function__`` consult; a numpy function missing from them is an error that names it.
Functions numpy does not have as one op (``var``, ``expm1``, ``fmax``, ...) are built from
several hy ops here, so the IR stays small.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hyc.ir.attributes import BoolAttr, IntAttr, int_array
from hyc.ir.core import Operation
from hyc.ir.dialects import hy
from hyc.ir.types import element_type, make_type, shape_of

from .tracing import (
    SymbolicDim,
    Traced,
    TracingError,
    as_value,
    broadcast_all,
    cast,
    elementwise,
    error,
    ir_element,
    replace_in_place,
    reshape_to,
    result_dtype,
    trace_of,
    view_of,
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
def apply_ufunc(ufunc: np.ufunc, method: str, inputs: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    out = kwargs.pop("out", None)
    if method == "reduce" and ufunc in REDUCTIONS:
        if out is not None:
            raise error(f"numpy.{ufunc.__name__}.reduce(out=...) is not supported while tracing")
        return REDUCTIONS[ufunc](inputs[0], axis=kwargs.pop("axis", 0), **kwargs)
    impl = UFUNCS.get(ufunc)
    if method != "__call__" or impl is None:
        suffix = "" if method == "__call__" else f".{method}"
        raise error(f"numpy.{ufunc.__name__}{suffix} is not supported by hyc tracing "
                    "(docs/python.md lists what is)")
    unknown = set(kwargs) - {"dtype", "casting"} - ({"where"} if kwargs.get("where") is True else set())
    if unknown:
        raise error(f"numpy.{ufunc.__name__}: the argument(s) {', '.join(sorted(unknown))} are "
                    "not supported while tracing")
    result = impl(*inputs, dtype=kwargs.get("dtype"))
    if out is None:
        return result
    targets = out if isinstance(out, tuple) else (out,)
    if len(targets) == 1 and isinstance(targets[0], Traced) and targets[0] is inputs[0]:
        return replace_in_place(targets[0], result, f"numpy.{ufunc.__name__}(..., out=...)")
    raise error(f"numpy.{ufunc.__name__}(..., out=...) can only update its first operand in "
                "place while tracing; use the returned value instead")


def apply_function(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    impl = FUNCTIONS.get(func)
    if impl is None:
        raise error(f"{numpy_name(func)} is not supported by hyc tracing (docs/python.md lists "
                    "what is)")
    try:
        return impl(*args, **kwargs)
    except TypeError as e:
        if isinstance(e, TracingError):
            raise
        raise error(f"{numpy_name(func)}: {e}") from None


# -- elementwise -------------------------------------------------------------------------------
def _promoted(operands: Sequence[Any], dtype: Any) -> np.dtype:  # type: ignore[type-arg]
    return np.dtype(dtype) if dtype is not None else result_dtype(operands)


def _floating(operands: Sequence[Any], dtype: Any) -> np.dtype:  # type: ignore[type-arg]
    """Functions defined on floats give float64 for integers and bools, as in numpy."""
    found = _promoted(operands, dtype)
    return found if found.kind == "f" else np.dtype(np.float64)


def _numeric_only(name: str, found: np.dtype) -> None:  # type: ignore[type-arg]
    if found == np.bool_:
        raise error(f"numpy.{name} is not supported for bool values while tracing "
                    "(convert with .astype(np.int32))")


def _simple(ufunc: np.ufunc, op_class: type[Operation], floats: bool = False) -> None:
    name = ufunc.__name__

    def impl(*operands: Any, dtype: Any = None) -> Traced:
        found = _floating(operands, dtype) if floats else _promoted(operands, dtype)
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
            raise error(f"numpy.{ufunc.__name__} is supported for bool values only while tracing")
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


@implements(np.positive)
def _positive(x: Any, dtype: Any = None) -> Any:
    return _copy(_astype(x, _promoted([x], dtype)))


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


def _derived(ufunc: np.ufunc, build: Callable[..., Any]) -> None:
    """A float function composed of others (all in the promoted float dtype)."""
    def impl(*operands: Any, dtype: Any = None) -> Any:
        found = _floating(operands, dtype)
        return build(*(_astype(o, found) for o in operands), found.type)
    UFUNCS[ufunc] = impl


_derived(np.exp2, lambda x, f: np.power(f(2), x))
_derived(np.expm1, lambda x, f: np.subtract(np.exp(x), f(1)))
_derived(np.log1p, lambda x, f: np.log(np.add(x, f(1))))
_derived(np.log2, lambda x, f: np.divide(np.log(x), f(np.log(2))))
_derived(np.log10, lambda x, f: np.divide(np.log(x), f(np.log(10))))
_derived(np.sinh, lambda x, f: np.multiply(np.subtract(np.exp(x), np.exp(np.negative(x))), f(0.5)))
_derived(np.cosh, lambda x, f: np.multiply(np.add(np.exp(x), np.exp(np.negative(x))), f(0.5)))
_derived(np.hypot, lambda x, y, f: np.sqrt(np.add(np.multiply(x, x), np.multiply(y, y))))
_derived(np.logaddexp, lambda x, y, f: np.add(np.maximum(x, y), np.log1p(np.exp(
    np.negative(np.abs(np.subtract(x, y)))))))


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
        raise error("numpy.matmul: a 0-d operand (use * to multiply by a scalar)")
    return wrap(trace, trace.emit(hy.MatmulOp, values, what="numpy.matmul"))


@implements(np.dot)
def _dot(a: Any, b: Any, out: Any = None) -> Any:
    ranks = [np.ndim(x) if not isinstance(x, Traced) else x.ndim for x in (a, b)]
    if 0 in ranks:
        return np.multiply(a, b)
    if max(ranks) > 2:
        raise error("numpy.dot of tensors with more than 2 dimensions is not supported while "
                    "tracing (use np.matmul, whose batching rules differ)")
    return matmul(a, b)


@implements(np.outer)
def _outer(a: Any, b: Any, out: Any = None) -> Any:
    return np.multiply(np.reshape(a, (-1, 1)), np.reshape(b, (1, -1)))


# -- where, clip, casts ----------------------------------------------------------------------------
@implements(np.where)
def where(condition: Any, x: Any = None, y: Any = None) -> Traced:
    if x is None or y is None:
        raise error("numpy.where(condition) (the indices form) has a data-dependent size: "
                    "only where(condition, x, y) is supported while tracing")
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
        raise error("numpy.clip: only a, a_min and a_max are supported while tracing")
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
            raise error(f"{what}: axis {a} is out of bounds for a tensor of dimension {ndim}")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise error(f"{what}: repeated axis in {axis}")
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


def _accumulating_dtype(x: Any, dtype: Any) -> np.dtype:  # type: ignore[type-arg]
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
    count = _count(x, axis)
    return np.divide(sum_(squares, axis, keepdims=keepdims), found.type(max(count - ddof, 0)))


@implements(np.std)
def std(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: int = 0,
        keepdims: bool = False, **kwargs: Any) -> Any:
    return np.sqrt(var(x, axis, dtype, out, ddof, keepdims, **kwargs))


def _count(x: Traced, axis: Any) -> int:
    shape = shape_of(x.type)
    sizes = [shape[a] for a in axes_of(axis, x.ndim, "numpy.var")]
    if not all(isinstance(s, int) for s in sizes):
        raise error("numpy.var with ddof over a dynamic dimension is not supported while tracing")
    return int(np.prod(sizes, dtype=np.int64))


def _no_extras(what: str, out: Any, kwargs: dict[str, Any]) -> None:
    extras = {k for k, v in kwargs.items() if not (k == "where" and v is True) and v is not np._NoValue}  # type: ignore[attr-defined]
    if out is not None or extras:
        names = sorted(extras | ({"out"} if out is not None else set()))
        raise error(f"{what}: the argument(s) {', '.join(names)} are not supported while tracing")


REDUCTIONS: dict[np.ufunc, Impl] = {
    np.add: lambda x, axis=0, dtype=None, keepdims=False: sum_(x, axis, dtype, keepdims=keepdims),
    np.maximum: lambda x, axis=0, keepdims=False: max_(x, axis, keepdims=keepdims),
    np.minimum: lambda x, axis=0, keepdims=False: min_(x, axis, keepdims=keepdims),
}


# -- shapes ---------------------------------------------------------------------------------------
def _traced(x: Any, trace: Any = None) -> Traced:
    if isinstance(x, Traced):
        return x
    trace = trace or trace_of([x])
    return wrap(trace, as_value(trace, x))


def _sizes(shape: Any) -> list[Any]:
    items = list(shape) if isinstance(shape, (tuple, list)) else [shape]
    for d in items:
        if not isinstance(d, (int, np.integer, SymbolicDim)):
            raise error(f"a shape holds ints (or a traced tensor's dynamic dimensions), not {d!r}")
    return [int(d) if not isinstance(d, SymbolicDim) else d for d in items]


@implements(np.reshape)
def reshape(x: Any, shape: Any = None, order: str = "C", **kwargs: Any) -> Traced:
    if shape is None:
        shape = kwargs.pop("newshape", None)
    if order != "C" or kwargs:
        raise error("numpy.reshape: only C order is supported while tracing")
    x = _traced(x)
    dims = _sizes(shape)
    if dims.count(-1) > 1:
        raise error("numpy.reshape: can only specify one unknown dimension")
    if -1 in dims:
        if not all(isinstance(d, int) for d in shape_of(x.type)):
            raise error("reshape with -1 needs the tensor's size, which a dynamic dimension "
                        "leaves unknown: give the sizes, e.g. x.reshape(x.shape[0], 4)")
        known = int(np.prod([d for d in dims if isinstance(d, int) and d != -1], dtype=np.int64))
        if any(isinstance(d, SymbolicDim) for d in dims) or known == 0 or x.size % known:
            raise error(f"numpy.reshape: cannot reshape {x!r} into shape {tuple(shape)}")
        dims[dims.index(-1)] = x.size // known
    if any(isinstance(d, int) and d < 0 for d in dims):
        raise error(f"numpy.reshape: negative dimension in {tuple(shape)}")
    return reshape_to(x, dims)


@implements(np.ravel)
def ravel(x: Any, order: str = "C") -> Traced:
    return reshape(x, -1, order)


@implements(np.transpose)
def transpose(x: Any, axes: Any = None) -> Traced:
    x = _traced(x)
    perm = list(range(x.ndim))[::-1] if axes is None else [int(a) % max(x.ndim, 1) for a in axes]
    if sorted(perm) != list(range(x.ndim)):
        raise error(f"numpy.transpose: axes {axes} don't match the {x.ndim} dimensions of {x!r}")
    if perm == list(range(x.ndim)):
        return x
    return view_of(x, wrap(x.trace, x.trace.emit(hy.TransposeOp, [x.value],
                                                 {"permutation": int_array(perm)})))


@implements(np.swapaxes)
def swapaxes(x: Any, axis1: int, axis2: int) -> Traced:
    x = _traced(x)
    a, b = (axes_of(axis, x.ndim, "numpy.swapaxes")[0] for axis in (axis1, axis2))
    perm = list(range(x.ndim))
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, perm)


@implements(np.expand_dims)
def expand_dims(x: Any, axis: Any) -> Traced:
    x = _traced(x)
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    new = axes_of(items, x.ndim + len(items), "numpy.expand_dims")
    rest = iter(x.dims())
    return reshape_to(x, [1 if i in new else next(rest) for i in range(x.ndim + len(items))])


@implements(np.squeeze)
def squeeze(x: Any, axis: Any = None) -> Traced:
    x = _traced(x)
    shape = shape_of(x.type)
    drop = [i for i, d in enumerate(shape) if d == 1] if axis is None else \
        list(axes_of(axis, x.ndim, "numpy.squeeze"))
    if any(shape[i] != 1 for i in drop):
        raise error("numpy.squeeze: cannot select an axis to squeeze out which has size not "
                    "equal to one")
    return reshape_to(x, [d for i, d in enumerate(x.dims()) if i not in drop])


@implements(np.broadcast_to)
def broadcast_to(x: Any, shape: Any, subok: bool = False) -> Traced:
    x = _traced(x)
    dims = _sizes(shape)
    target = tuple(d.name if isinstance(d, SymbolicDim) else d for d in dims)
    sizes = [d.value for d in dims if isinstance(d, SymbolicDim)]
    result = make_type(element_type(x.type), target)
    if tuple(shape_of(x.type)) == target:
        return x
    return view_of(x, wrap(x.trace, x.trace.emit(hy.BroadcastToOp, [x.value, *sizes],
                                                 result_types=[result], what="numpy.broadcast_to")))


@implements(np.concatenate)
def concatenate(arrays: Sequence[Any], axis: Any = 0, out: Any = None, dtype: Any = None,
                casting: str = "same_kind") -> Traced:
    if out is not None:
        raise error("numpy.concatenate(out=...) is not supported while tracing")
    arrays = list(arrays)
    if not arrays:
        raise error("numpy.concatenate needs at least one array")
    trace = trace_of(arrays)
    found = _promoted(arrays, dtype)
    parts = [_traced(a, trace) for a in arrays]
    if axis is None:
        parts, axis = [ravel(p) for p in parts], 0
    if any(p.ndim != parts[0].ndim for p in parts) or parts[0].ndim == 0:
        raise error("numpy.concatenate: all the input arrays must have the same number of "
                    "dimensions, at least 1")
    (axis,) = axes_of(axis, parts[0].ndim, "numpy.concatenate")
    values = [as_value(trace, p, found) for p in parts]
    return wrap(trace, trace.emit(hy.ConcatOp, values, {"axis": IntAttr(axis)},
                                  what="numpy.concatenate"))


@implements(np.stack)
def stack(arrays: Sequence[Any], axis: int = 0, out: Any = None, dtype: Any = None,
          casting: str = "same_kind") -> Traced:
    arrays = list(arrays)
    if not arrays:
        raise error("numpy.stack needs at least one array")
    trace = trace_of(arrays)
    parts = [_traced(a, trace) for a in arrays]
    return concatenate([expand_dims(p, axis) for p in parts], axis, out, dtype)


@implements(np.hstack)
def hstack(arrays: Sequence[Any], dtype: Any = None, casting: str = "same_kind") -> Traced:
    parts = [_traced(a, trace_of(list(arrays))) for a in arrays]
    return concatenate(parts, 0 if parts and parts[0].ndim == 1 else 1, dtype=dtype)


@implements(np.vstack)
def vstack(arrays: Sequence[Any], dtype: Any = None, casting: str = "same_kind") -> Traced:
    parts = [_traced(a, trace_of(list(arrays))) for a in arrays]
    return concatenate([p if p.ndim > 1 else reshape(p, (1, -1)) for p in parts], 0, dtype=dtype)


def _filled(like: Any, fill: Any, dtype: Any, shape: Any) -> Traced:
    x = _traced(like)
    found = np.dtype(dtype) if dtype is not None else x.dtype
    dims = x.dims() if shape is None else _sizes(shape)
    return broadcast_to(_traced(np.full((), fill, found), x.trace), dims)


@implements(np.zeros_like)
def _zeros_like(a: Any, dtype: Any = None, order: str = "K", subok: bool = True, shape: Any = None,
                **kwargs: Any) -> Traced:
    return _filled(a, 0, dtype, shape)


@implements(np.ones_like)
def _ones_like(a: Any, dtype: Any = None, order: str = "K", subok: bool = True, shape: Any = None,
               **kwargs: Any) -> Traced:
    return _filled(a, 1, dtype, shape)


@implements(np.full_like)
def _full_like(a: Any, fill_value: Any, dtype: Any = None, order: str = "K", subok: bool = True,
               shape: Any = None, **kwargs: Any) -> Traced:
    if isinstance(fill_value, Traced):
        return broadcast_to(_astype(fill_value, dtype or _traced(a).dtype), _traced(a).dims())
    return _filled(a, fill_value, dtype, shape)


@implements(np.copy)
def _copy(a: Any, order: str = "K", subok: bool = False) -> Traced:
    x = _traced(a)
    return wrap(x.trace, x.value)  # a new proxy: values are immutable, so a copy is free


@implements(np.shape)
def _shape(a: Any) -> tuple[Any, ...]:
    return _traced(a).shape


@implements(np.ndim)
def _ndim(a: Any) -> int:
    return _traced(a).ndim


@implements(np.size)
def _size(a: Any, axis: Any = None) -> int:
    x = _traced(a)
    if axis is None:
        return x.size
    d = x.shape[axes_of(axis, x.ndim, "numpy.size")[0]]
    return d if isinstance(d, int) else d.__index__()


# -- indexing --------------------------------------------------------------------------------------
def getitem(x: Traced, key: Any) -> Traced:
    """Basic indexing: ints, slices, None and one Ellipsis; a slice is a view, an int drops
    its dimension."""
    items = list(key) if isinstance(key, tuple) else [key]
    for item in items:
        if isinstance(item, (Traced, np.ndarray, list)) or (isinstance(item, (bool, np.bool_))):
            raise error("hyc tracing supports basic indexing (ints, slices, None, ...): a "
                        "mask or index array has a data-dependent result; use np.where(mask, "
                        "x, other) to choose elementwise")
        if not (item is None or item is Ellipsis or isinstance(item, (slice, int, np.integer))):
            raise error(f"cannot index a traced tensor with {item!r}")
    if items.count(Ellipsis) > 1:
        raise error("an index can only have a single ellipsis ('...')")
    used = sum(1 for i in items if i is not None and i is not Ellipsis)
    if used > x.ndim:
        raise error(f"too many indices for {x!r}: {used} were indexed")
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at:at + 1] = [slice(None)] * (x.ndim - used)
    else:
        items += [slice(None)] * (x.ndim - used)
    shape = shape_of(x.type)
    starts, stops, steps, keep, dim = [], [], [], [], 0
    for item in items:
        if item is None:
            keep.append(None)
            continue
        if isinstance(item, slice):
            start, stop, step = item.start, item.stop, item.step
            step = 1 if step is None else int(step)
            if step == 0:
                raise error("slice step cannot be zero")
            big = np.iinfo(np.int64).max
            starts.append(int(start) if start is not None else (0 if step > 0 else big))
            stops.append(int(stop) if stop is not None else (big if step > 0 else -big))
            steps.append(step)
            keep.append(dim)
        else:
            index = int(item)
            size = shape[dim]
            if isinstance(size, int) and not -size <= index < size:
                raise error(f"index {index} is out of bounds for axis {dim} with size {size}")
            if not isinstance(size, int) and index < 0:
                raise error(f"negative index {index} on the dynamic dimension {dim}: slice "
                            "instead (x[-1:]) or index from the front")
            starts.append(index)
            stops.append(index + 1 if index != -1 else np.iinfo(np.int64).max)
            steps.append(1)
        dim += 1
    trace = x.trace
    sliced = x
    if (starts, stops, steps) != ([0] * x.ndim, [np.iinfo(np.int64).max] * x.ndim, [1] * x.ndim):
        sliced = wrap(trace, trace.emit(hy.SliceOp, [x.value], {
            "starts": int_array(starts), "stops": int_array(stops), "steps": int_array(steps)},
            what="indexing"))
    result = sliced if sliced is not x else wrap(trace, x.value)
    if len(keep) != x.ndim or None in keep:  # ints dropped their dimensions, Nones added some
        dims = sliced.dims()
        result = reshape_to(result, [1 if k is None else dims[k] for k in keep], view=False)
    return view_of(x, result)


# -- methods and operators of Traced ------------------------------------------------------------------
def _forward(ufunc: np.ufunc) -> Callable[..., Any]:
    return lambda *operands: ufunc(*operands)


def _reflected(ufunc: np.ufunc) -> Callable[[Traced, Any], Any]:
    return lambda self, other: ufunc(other, self)


def _in_place(ufunc: np.ufunc, symbol: str) -> Callable[[Traced, Any], Any]:
    return lambda self, other: replace_in_place(self, ufunc(self, other), f"x {symbol} ...")


_OPERATORS = {"add": (np.add, "+"), "sub": (np.subtract, "-"), "mul": (np.multiply, "*"),
              "truediv": (np.true_divide, "/"), "pow": (np.power, "**"),
              "matmul": (np.matmul, "@"), "and": (np.bitwise_and, "&"),
              "or": (np.bitwise_or, "|"), "xor": (np.bitwise_xor, "^")}
for _name, (_ufunc, _symbol) in _OPERATORS.items():
    setattr(Traced, f"__{_name}__", _forward(_ufunc))
    setattr(Traced, f"__r{_name}__", _reflected(_ufunc))
    setattr(Traced, f"__i{_name}__", _in_place(_ufunc, _symbol + "="))
for _name, _ufunc in {"lt": np.less, "le": np.less_equal, "gt": np.greater,
                      "ge": np.greater_equal, "eq": np.equal, "ne": np.not_equal,
                      "neg": np.negative, "pos": np.positive, "abs": np.absolute,
                      "invert": np.invert}.items():
    setattr(Traced, f"__{_name}__", _forward(_ufunc))


def _floordiv(self: Traced, other: Any) -> Any:
    raise error("floor division (//) and % are not supported while tracing (hy has no "
                "floor operation yet)")


Traced.__floordiv__ = Traced.__rfloordiv__ = Traced.__mod__ = Traced.__rmod__ = _floordiv  # type: ignore[attr-defined]
Traced.__getitem__ = getitem  # type: ignore[attr-defined]
Traced.T = property(transpose)  # type: ignore[attr-defined]
Traced.mT = property(lambda self: swapaxes(self, -1, -2))  # type: ignore[attr-defined]

_METHODS: dict[str, Callable[..., Any]] = {
    "sum": sum_, "mean": mean, "max": max_, "min": min_, "var": var, "std": std,
    "swapaxes": swapaxes, "squeeze": squeeze, "clip": clip, "dot": _dot, "copy": _copy,
    "ravel": ravel, "flatten": lambda self: reshape_to(self, [self.size], view=False),
    "astype": lambda self, dtype, **kw: _astype(self, dtype),
    "reshape": lambda self, *shape, order="C": reshape(
        self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape, order),
    "transpose": lambda self, *axes: transpose(
        self, None if not axes else axes[0] if isinstance(axes[0], (tuple, list)) else axes),
}
for _name, _method in _METHODS.items():
    setattr(Traced, _name, _method)



def activation(op_class: type[Operation], x: Traced, name: str, axis: int | None = None) -> Traced:
    """hyc's own elementwise activations (and softmax) as one op; integers become float64."""
    x = _astype(x, _floating([x], None))
    attrs = {} if axis is None else {"axis": IntAttr(axes_of(axis, x.ndim, name)[0])}
    return wrap(x.trace, x.trace.emit(op_class, [x.value], attrs, what=f"hyc.{name}"))
