"""hyc.jit agrees with numpy on infinities, NaN and signed zeros (issue item 13), and raises
where numpy raises (extremes of zero-size arrays)."""

import itertools

import numpy as np
import pytest

import hyc

SPECIAL = [np.inf, -np.inf, np.nan, 0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 5.0, 0.5, -7.5, 1e30, 3.0]


def grid(dtype):
    pairs = list(itertools.product(SPECIAL, SPECIAL))
    a = np.array([p[0] for p in pairs], dtype)
    b = np.array([p[1] for p in pairs], dtype)
    return a, b


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["remainder", "floor_divide", "fmod_via_divmod"])
def test_floor_division_and_remainder_match_numpy_bit_for_bit(dtype, name):
    a, b = grid(dtype)
    if name == "fmod_via_divmod":
        fn = hyc.jit(lambda x, y: np.divmod(x, y))
        with np.errstate(all="ignore"):
            want = np.divmod(a, b)
        got = fn(a, b)
    else:
        ufunc = getattr(np, name)
        fn = hyc.jit(lambda x, y: ufunc(x, y))
        with np.errstate(all="ignore"):
            want, got = (ufunc(a, b),), (fn(a, b),)
    for w, g in zip(want, got):
        assert g.dtype == w.dtype
        same = (w == g) | (np.isnan(w) & np.isnan(g))
        assert same.all(), list(zip(a[~same], b[~same], w[~same], g[~same]))
        assert (np.signbit(w) == np.signbit(g))[~np.isnan(w)].all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ufunc", [np.hypot, np.logaddexp])
def test_hypot_and_logaddexp_at_special_values(dtype, ufunc):
    a, b = grid(dtype)
    got = hyc.jit(lambda x, y: ufunc(x, y))(a, b)
    with np.errstate(all="ignore"):
        want = ufunc(a, b)
    np.testing.assert_allclose(got, want, rtol=4 * np.finfo(dtype).eps, equal_nan=True)


def test_the_reported_cases():
    f = hyc.jit(lambda x, y: (np.logaddexp(x, y), np.hypot(x, y), x % y, x // y))
    inf, nan = np.float64(np.inf), np.float64(np.nan)
    assert f(inf, inf)[0] == inf and f(-inf, -inf)[0] == -inf
    assert f(inf, nan)[1] == inf
    assert f(np.float64(5), inf)[2] == 5.0
    assert np.isnan(f(inf, np.float64(2))[3])
    big = np.float32(1e30)
    assert f(big, big)[1] == np.hypot(big, big)  # no overflow of the squares


@pytest.mark.parametrize("reduction", [np.max, np.min, np.argmax, np.argmin])
def test_extremes_of_zero_size_arrays_are_errors(reduction):
    fn = hyc.jit(lambda x: reduction(x, axis=0))
    with pytest.raises(ValueError):
        reduction(np.zeros((0, 3), np.float32), axis=0)
    with pytest.raises(ValueError, match="empty axis"):
        fn(np.zeros((0, 3), np.float32))
    dynamic = hyc.jit(lambda x: reduction(x, axis=0), dynamic={"x": [0]})
    np.testing.assert_array_equal(dynamic(np.ones((2, 3), np.float32)),
                                  reduction(np.ones((2, 3), np.float32), axis=0))
    with pytest.raises(ValueError, match="empty axis"):
        dynamic(np.zeros((0, 3), np.float32))
