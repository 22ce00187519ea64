"""Comparing computed values with numpy's: same dtype, same shape, values within the
tolerance of the dtype."""

import numpy as np


def check(got, want):
    want = np.asarray(want)
    assert np.asarray(got).dtype == want.dtype, (np.asarray(got).dtype, want.dtype)
    assert np.shape(got) == want.shape, (np.shape(got), want.shape)
    tol = 1e-5 if want.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True)


def run_bufferized(module, name, args, like, out=None):
    """Run a bufferized function: results come back through buffers shaped like ``like``
    (the tensor-level results), allocated here as a caller would."""
    from hyc.ir import Interpreter
    outs = [np.zeros(np.shape(r), np.asarray(r).dtype) for r in like]
    Interpreter(module, out).call(name, *args, *outs)
    return [o[()] if o.ndim == 0 else o for o in outs]


def assert_same_printout(got: str, want: str) -> None:
    """Printed outputs agree token by token, numbers within float tolerance (a different
    summation order may change the last digit)."""
    import re
    split = re.compile(r"[\s\[\]]+")
    a, b = split.split(got.strip()), split.split(want.strip())
    assert len(a) == len(b), f"{got!r} vs {want!r}"
    for x, y in zip(a, b):
        if x == y:
            continue
        try:
            np.testing.assert_allclose(float(x), float(y), rtol=1e-5, atol=1e-6)
        except ValueError:
            raise AssertionError(f"{got!r} vs {want!r}") from None
