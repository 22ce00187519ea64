"""numpy's math that hy has no single op for, built of several with numpy's exact results at
special values: ``exp2 expm1 log1p log2 log10 sinh cosh hypot logaddexp``, the rounding
functions, and floor division and remainder (``// % divmod``) of floats and integers.
Registered in numpy_api's ``UFUNCS`` when that module loads this one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from hyc.ir.dialects import hy

from .numpy_api import (
    UFUNCS,
    _astype,
    _copy_of,
    _numeric_only,
    _promoted,
    _resolved,
    implements,
    where,
)
from .tracing import elementwise


def _derived(ufunc: np.ufunc, build: Callable[..., Any]) -> None:
    """A float function composed of others (all in the dtype numpy computes it in)."""
    def impl(*operands: Any, dtype: Any = None) -> Any:
        found = _resolved(ufunc, operands, dtype)
        return build(*(_astype(o, found) for o in operands), found.type)
    UFUNCS[ufunc] = impl


_derived(np.exp2, lambda x, f: np.power(f(2), x))


def _log1p(x: Any, f: Any) -> Any:
    """log(1 + x) without losing small x (Goldberg's correction: log(u) * x / (u - 1))."""
    u = np.add(x, f(1))
    corrected = np.divide(np.multiply(np.log(u), x), np.subtract(u, f(1)))
    return where(np.equal(u, f(1)), x, where(np.equal(u, f(np.inf)), u, corrected))


def _expm1(x: Any, f: Any) -> Any:
    """exp(x) - 1 without losing small x (the same correction, the other way)."""
    u = np.exp(x)
    corrected = np.divide(np.multiply(np.subtract(u, f(1)), x), np.log(u))
    return where(np.equal(u, f(1)), x, where(np.less_equal(np.subtract(u, f(1)), f(-1)), f(-1),
                                              where(np.equal(u, f(np.inf)), u, corrected)))


_derived(np.expm1, _expm1)
_derived(np.log1p, _log1p)
_derived(np.log2, lambda x, f: np.divide(np.log(x), f(np.log(2))))
_derived(np.log10, lambda x, f: np.divide(np.log(x), f(np.log(10))))
_derived(np.sinh, lambda x, f: np.multiply(np.subtract(np.exp(x), np.exp(np.negative(x))), f(0.5)))
_derived(np.cosh, lambda x, f: np.multiply(np.add(np.exp(x), np.exp(np.negative(x))), f(0.5)))


def _hypot(x: Any, y: Any, f: Any) -> Any:
    """C's hypot: scaled so that squares cannot overflow; infinite if either is, NaN or not."""
    ax, ay = np.abs(x), np.abs(y)
    big, small = np.maximum(ax, ay), np.minimum(ax, ay)
    ratio = where(np.equal(big, f(0)), f(0), np.divide(small, big))
    scaled = np.multiply(big, np.sqrt(np.add(f(1), np.multiply(ratio, ratio))))
    return where(np.logical_or(np.equal(ax, f(np.inf)), np.equal(ay, f(np.inf))), f(np.inf), scaled)


def _logaddexp(x: Any, y: Any, f: Any) -> Any:
    """numpy's: equal arguments (infinities included) give x + log 2."""
    spread = np.add(np.maximum(x, y), np.log1p(np.exp(np.negative(np.abs(np.subtract(x, y))))))
    return where(np.equal(x, y), np.add(x, f(np.log(2))), spread)


_derived(np.hypot, _hypot)
_derived(np.logaddexp, _logaddexp)


def _rounding(ufunc: np.ufunc, build: Callable[[Any], Any]) -> None:
    """floor, ceil, trunc: integers and bools are already integral (numpy keeps their dtype)."""
    def impl(x: Any, dtype: Any = None) -> Any:
        found = _promoted([x], dtype)
        x = _astype(x, found)
        return build(x) if found.kind == "f" else _copy_of(x)
    UFUNCS[ufunc] = impl


def _floor(x: Any) -> Any:
    return elementwise(hy.FloorOp, [x], None, "numpy.floor")


_rounding(np.floor, _floor)
_rounding(np.ceil, lambda x: np.negative(_floor(np.negative(x))))
_rounding(np.trunc, lambda x: where(np.less(x, 0), np.negative(_floor(np.negative(x))), _floor(x)))


def _float_divmod(a: Any, b: Any, f: Any) -> tuple[Any, Any]:
    """numpy's floor division and remainder of floats (npy_divmod), from the exact fmod:
    ``5 % inf`` is 5, ``inf // 2`` is NaN, and signs of zeros follow numpy's."""
    mod = elementwise(hy.FmodOp, [a, b], None, "numpy.remainder")
    div = np.divide(np.subtract(a, mod), b)
    fix = np.logical_and(np.not_equal(mod, f(0)), np.not_equal(np.less(b, f(0)), np.less(mod, f(0))))
    mod = where(fix, np.add(mod, b), mod)
    div = where(fix, np.subtract(div, f(1)), div)
    zero_like_b = where(np.less(b, f(0)), f(-0.0), f(0.0))
    mod = where(np.equal(mod, f(0)), zero_like_b, mod)
    floored = _floor(div)
    floored = where(np.greater(np.subtract(div, floored), f(0.5)), np.add(floored, f(1)), floored)
    quotient = np.divide(a, b)
    zero_like_quotient = where(np.less(np.divide(f(1), quotient), f(0)), f(-0.0), f(0.0))
    floored = where(np.equal(div, f(0)), zero_like_quotient, floored)
    by_zero = np.equal(b, f(0))
    return where(by_zero, quotient, floored), mod


def _floor_divide(a: Any, b: Any, found: np.dtype) -> Any:
    """numpy's ``//``: the floor of the quotient; for integers, 0 for a zero divisor."""
    a, b = _astype(a, found), _astype(b, found)
    if found.kind == "f":
        return _float_divmod(a, b, found.type)[0]
    zero = found.type(0)
    quotient = elementwise(hy.DivOp, [a, b], found, "numpy.floor_divide")  # truncates
    rest = np.subtract(a, np.multiply(quotient, b))
    below = np.logical_and(np.not_equal(rest, zero), np.not_equal(np.less(rest, zero), np.less(b, zero)))
    return np.subtract(quotient, np.astype(np.logical_and(below, np.not_equal(b, zero)), found))


@implements(np.floor_divide)
def floor_divide(a: Any, b: Any, dtype: Any = None) -> Any:
    found = _promoted([a, b], dtype)
    _numeric_only("floor_divide", found)
    return _floor_divide(a, b, found)


@implements(np.remainder)
def remainder(a: Any, b: Any, dtype: Any = None) -> Any:
    """numpy's ``%``: the sign of the divisor; for integers, 0 for a zero divisor."""
    found = _promoted([a, b], dtype)
    _numeric_only("remainder", found)
    a, b = _astype(a, found), _astype(b, found)
    if found.kind == "f":
        return _float_divmod(a, b, found.type)[1]
    rest = np.subtract(a, np.multiply(_floor_divide(a, b, found), b))
    return where(np.equal(b, found.type(0)), found.type(0), rest)


@implements(np.divmod)
def _divmod(a: Any, b: Any, dtype: Any = None) -> Any:
    return floor_divide(a, b, dtype), remainder(a, b, dtype)
