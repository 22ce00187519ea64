"""Comparing computed values with numpy's: same dtype, same shape, values within the
tolerance of the dtype."""

import numpy as np


def check(got, want):
    want = np.asarray(want)
    assert np.asarray(got).dtype == want.dtype, (np.asarray(got).dtype, want.dtype)
    assert np.shape(got) == want.shape, (np.shape(got), want.shape)
    tol = 1e-5 if want.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True)
