"""numpy calls on random dtypes and shapes (bools, integers, empty and 0-d arrays, Python and
numpy numbers) through hyc.jit: hyc agrees with numpy (dtype, shape, values) or raises a located HycError —
never an internal error, nor a plain TypeError or ValueError where numpy has an answer.
Where numpy itself raises, hyc may raise or follow its documented semantics (an empty max is
-inf, integer negative powers truncate). ``HYC_NUMPY_FUZZ=5000`` runs more."""

import os
import random
import warnings

import numpy as np
import pytest

import hyc
from hyc.ir import HycError

SHAPES = [(), (3,), (1,), (2, 3), (3, 1), (1, 3), (2, 1, 3), (0,), (2, 0)]
DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]
UNARY = [np.exp, np.log, np.sqrt, np.tanh, np.abs, np.negative, np.square, np.sign, np.floor,
         np.ceil, np.isnan, np.sum, np.mean, np.max, np.min, np.prod, np.argmax, np.argmin, np.var,
         np.std, np.ravel, np.transpose, np.squeeze, np.logical_not, np.invert, np.zeros_like,
         np.cumsum, lambda a: a.T, lambda a: a[0], lambda a: a[..., 1:], lambda a: a[None],
         lambda a: a.reshape(-1), lambda a: np.sum(a, axis=1),
         lambda a: np.max(a, axis=-1, keepdims=True), lambda a: np.argmax(a, axis=0),
         lambda a: np.expand_dims(a, 0), lambda a: np.clip(a, 0, 1), lambda a: a.astype(np.int32),
         lambda a: np.mean(a, axis=(0, 1)), lambda a: a.flatten()]
BINARY = [np.add, np.subtract, np.multiply, np.divide, np.power, np.maximum, np.minimum,
          np.matmul, np.dot, np.floor_divide, np.remainder, np.equal, np.less, np.logical_and,
          np.bitwise_and, np.fmax, np.hypot, np.outer, lambda a, b: np.where(a > 0, a, b),
          lambda a, b: np.concatenate([a, b]), lambda a, b: np.stack([a, b]),
          lambda a, b: np.concatenate([a, b], axis=-1), lambda a, b: a @ b,
          lambda a, b: divmod(a, b)[0]]

COUNT = int(os.environ.get("HYC_NUMPY_FUZZ", "300"))


SCALARS = [2, -3, 0, 0.5, 2.5, True, np.float32(1.5), np.int64(3)]  # closed over, either side


def case(seed):
    r = random.Random(seed)
    rng = np.random.default_rng(seed)
    args = []
    for _ in range(r.choice([1, 2, 3])):
        shape, dtype = r.choice(SHAPES), r.choice(DTYPES)
        args.append(rng.random(shape) < 0.5 if dtype is np.bool_
                    else (rng.standard_normal(shape) * 3).astype(dtype))
    if len(args) == 3:  # an array and a number
        fn, number, first = r.choice(BINARY), r.choice(SCALARS), r.random() < 0.5
        return (lambda a: fn(number, a)) if first else (lambda a: fn(a, number)), args[:1]
    return r.choice(UNARY if len(args) == 1 else BINARY), args


@pytest.mark.parametrize("seed", range(COUNT))
def test_numpy_call_agrees_or_fails_clearly(seed):
    fn, args = case(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            want, numpy_failed = np.asarray(fn(*args)), False
        except Exception:
            want, numpy_failed = None, True
        try:
            got = np.asarray(hyc.jit(fn)(*args))
        except HycError:
            return  # a located error (messages are tested elsewhere): unsupported, no float16...
        except (TypeError, ValueError):
            assert numpy_failed, "numpy computes this, but hyc raised a plain error"
            return
    if numpy_failed:
        return
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, got.shape, want.dtype, want.shape)
    if want.dtype.kind == "f":
        tol = 1e-4 if want.dtype == np.float32 else 1e-9
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)
