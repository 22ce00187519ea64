"""numpy's shape functions, basic indexing, and the operators and methods of ``Traced``,
lowered to hy ops (reshape, transpose, broadcast_to, concat, slice)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hyc.ir.attributes import IntAttr, int_array
from hyc.ir.dialects import hy
from hyc.ir.types import element_type, make_type, shape_of

from .numpy_api import (
    _astype,
    _copy_of,
    _dot,
    _promoted,
    argmax,
    argmin,
    axes_of,
    clip,
    implements,
    max_,
    mean,
    min_,
    prod,
    std,
    sum_,
    var,
)
from .tracing import (
    SymbolicDim,
    Traced,
    as_value,
    error,
    replace_in_place,
    reshape_to,
    trace_of,
    view_of,
    wrap,
)


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
            raise error(f"a shape holds ints (or a traced tensor's dynamic dimensions), not {d!r}",
                        code="E0314")
    return [int(d) if not isinstance(d, SymbolicDim) else d for d in items]


@implements(np.reshape)
def reshape(x: Any, shape: Any = None, order: str = "C", **kwargs: Any) -> Traced:
    if shape is None:
        shape = kwargs.pop("newshape", None)
    if order != "C" or kwargs:
        raise error("numpy.reshape: only C order is supported while tracing", code="E0501")
    x = _traced(x)
    dims = _sizes(shape)
    if dims.count(-1) > 1:
        raise error("numpy.reshape: can only specify one unknown dimension", code="E0314")
    if -1 in dims:
        # the dynamic dimensions must reappear as they are: then -1 is a ratio of static sizes
        source = shape_of(x.type)
        dynamic = sorted(str(d) for d in source if not isinstance(d, int))
        total = int(np.prod([d for d in source if isinstance(d, int)], dtype=np.int64))
        known = int(np.prod([d for d in dims if isinstance(d, int) and d != -1], dtype=np.int64))
        if len(dynamic) == 1 and total == known and not any(isinstance(d, SymbolicDim) for d in dims):
            # the -1 is the one dynamic dimension: x.reshape(-1, 1), ravel of a vector
            dims[dims.index(-1)] = next(d for d in x.dims() if isinstance(d, SymbolicDim))
            return reshape_to(x, dims)
        if dynamic != sorted(str(d.name) for d in dims if isinstance(d, SymbolicDim)) or \
                "?" in dynamic:
            raise error("reshape with -1 of a tensor with dynamic dimensions needs each of them "
                        "among the sizes, e.g. x.reshape(x.shape[0], -1)", code="E0314")
        if known == 0 or total % known:
            raise error(f"numpy.reshape: cannot reshape {x!r} into shape {tuple(shape)}", code="E0314")
        dims[dims.index(-1)] = total // known
    if any(isinstance(d, int) and d < 0 for d in dims):
        raise error(f"numpy.reshape: negative dimension in {tuple(shape)}", code="E0314")
    return reshape_to(x, dims)


@implements(np.ravel)
def ravel(x: Any, order: str = "C") -> Traced:
    return reshape(x, -1, order)


@implements(np.transpose)
def transpose(x: Any, axes: Any = None) -> Traced:
    x = _traced(x)
    perm = list(range(x.ndim))[::-1] if axes is None else [int(a) % max(x.ndim, 1) for a in axes]
    if sorted(perm) != list(range(x.ndim)):
        raise error(f"numpy.transpose: axes {axes} don't match the {x.ndim} dimensions of {x!r}",
                    code="E0315")
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
                    "equal to one", code="E0508")
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
        raise error("numpy.concatenate(out=...) is not supported while tracing", code="E0501")
    arrays = list(arrays)
    if not arrays:
        raise error("numpy.concatenate needs at least one array", code="E0508")
    trace = trace_of(arrays)
    found = _promoted(arrays, dtype)
    parts = [_traced(a, trace) for a in arrays]
    if axis is None:
        parts, axis = [ravel(p) for p in parts], 0
    if any(p.ndim != parts[0].ndim for p in parts) or parts[0].ndim == 0:
        raise error("numpy.concatenate: all the input arrays must have the same number of "
                    "dimensions, at least 1", code="E0508")
    (axis,) = axes_of(axis, parts[0].ndim, "numpy.concatenate")
    values = [as_value(trace, p, found) for p in parts]
    return wrap(trace, trace.emit(hy.ConcatOp, values, {"axis": IntAttr(axis)},
                                  what="numpy.concatenate"))


@implements(np.stack)
def stack(arrays: Sequence[Any], axis: int = 0, out: Any = None, dtype: Any = None,
          casting: str = "same_kind") -> Traced:
    arrays = list(arrays)
    if not arrays:
        raise error("numpy.stack needs at least one array", code="E0508")
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
    return _copy_of(_traced(a))  # values are immutable: a copy is a new proxy, and free


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
                        "x, other) to choose elementwise", code="E0507")
        if not (item is None or item is Ellipsis or isinstance(item, (slice, int, np.integer))):
            raise error(f"cannot index a traced tensor with {item!r}", code="E0507")
    if items.count(Ellipsis) > 1:
        raise error("an index can only have a single ellipsis ('...')", code="E0508")
    used = sum(1 for i in items if i is not None and i is not Ellipsis)
    if used > x.ndim:
        raise error(f"too many indices for {x!r}: {used} were indexed", code="E0508")
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at:at + 1] = [slice(None)] * (x.ndim - used)
    else:
        items += [slice(None)] * (x.ndim - used)
    shape = shape_of(x.type)
    starts: list[int] = []
    stops: list[int] = []
    steps: list[int] = []
    keep: list[int | None] = []  # per result axis: the sliced axis it is, or None (a new axis)
    dim = 0
    for item in items:
        if item is None:
            keep.append(None)
            continue
        if isinstance(item, slice):
            start, stop, step = item.start, item.stop, item.step
            step = 1 if step is None else int(step)
            if step == 0:
                raise error("slice step cannot be zero", code="E0508")
            big = np.iinfo(np.int64).max
            starts.append(int(start) if start is not None else (0 if step > 0 else big))
            stops.append(int(stop) if stop is not None else (big if step > 0 else -big))
            steps.append(step)
            keep.append(dim)
        else:
            index = int(item)
            size = shape[dim]
            if isinstance(size, int) and not -size <= index < size:
                raise error(f"index {index} is out of bounds for axis {dim} with size {size}", code="E0508")
            if not isinstance(size, int) and index < 0:
                raise error(f"negative index {index} on the dynamic dimension {dim}: slice "
                            "instead (x[-1:]) or index from the front", code="E0507")
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


_ATTRIBUTES: dict[str, Any] = {
    "__floordiv__": _forward(np.floor_divide), "__rfloordiv__": _reflected(np.floor_divide),
    "__ifloordiv__": _in_place(np.floor_divide, "//="), "__mod__": _forward(np.remainder),
    "__rmod__": _reflected(np.remainder), "__imod__": _in_place(np.remainder, "%="),
    "__divmod__": _forward(np.divmod), "__rdivmod__": _reflected(np.divmod),
    "__getitem__": getitem, "T": property(transpose),
    "mT": property(lambda self: swapaxes(self, -1, -2)),
}
for _name, _attribute in _ATTRIBUTES.items():
    setattr(Traced, _name, _attribute)

_METHODS: dict[str, Callable[..., Any]] = {
    "sum": sum_, "prod": prod, "mean": mean, "max": max_, "min": min_, "var": var, "std": std,
    "argmax": argmax, "argmin": argmin,
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
