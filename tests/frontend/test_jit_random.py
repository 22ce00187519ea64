"""Random numpy programs (chains of ufuncs, broadcasting, reductions, shape functions and
indexing over a few arrays) traced by hyc.jit agree with numpy at -O0 and -O2.
``HYC_RANDOM_NUMPY=500`` runs more of them."""

import os

import numpy as np
import pytest
from oracle import check

import hyc

UNARY = [np.tanh, np.negative, np.abs, np.square, lambda v: np.sqrt(np.abs(v)),
         lambda v: np.exp(-np.abs(v)), lambda v: np.maximum(v, 0), lambda v: v * 0.5,
         lambda v: np.where(v > 0, v, -2 * v), lambda v: np.clip(v, -1, 1)]
BINARY = [np.add, np.subtract, np.multiply, np.maximum, np.minimum,
          lambda a, b: a / (np.abs(b) + 1)]


def random_program(seed):
    """A function of three arrays (shapes (M, N), (N,), (M, 1)) and those arrays."""
    rng = np.random.default_rng(seed)
    m, n = (int(v) for v in rng.integers(1, 6, 2))
    steps = []
    for _ in range(int(rng.integers(3, 12))):
        kind = rng.choice(["unary", "binary", "reduce", "shape"], p=[0.35, 0.4, 0.1, 0.15])
        steps.append((str(kind), int(rng.integers(0, 1000))))

    def program(a, b, c):
        values = [a, b, c]
        for kind, pick in steps:
            x = values[pick % len(values)]
            if kind == "unary":
                values.append(UNARY[pick % len(UNARY)](x))
            elif kind == "binary":
                y = values[(pick // 7) % len(values)]
                if np.ndim(x) == 2 and np.ndim(y) == 2 and np.shape(x) != np.shape(y) \
                        and 1 not in np.shape(x) + np.shape(y):
                    y = y.T
                try:
                    np.broadcast_shapes(np.shape(x), np.shape(y))
                except ValueError:
                    continue
                values.append(BINARY[pick % len(BINARY)](x, y))
            elif kind == "reduce" and np.ndim(x) == 2:
                reduce = [np.sum, np.mean, np.max][pick % 3]
                values.append(reduce(x, axis=pick % 2, keepdims=bool(pick % 4 < 2)))
            elif kind == "shape" and np.ndim(x) == 2:
                values.append([x.T, x[::-1], x[:, :1], x.reshape(-1)[None, :]][pick % 4])
        return values[-1] + values[-2] if np.ndim(values[-2]) <= np.ndim(values[-1]) and \
            _broadcast(values[-1], values[-2]) else values[-1]

    args = [rng.standard_normal(s).astype(np.float32) for s in ((m, n), (n,), (m, 1))]
    return program, args


def _broadcast(x, y):
    try:
        return np.broadcast_shapes(np.shape(x), np.shape(y)) == np.shape(x)
    except ValueError:
        return False


COUNT = int(os.environ.get("HYC_RANDOM_NUMPY", "40"))


@pytest.mark.parametrize("seed", range(COUNT))
def test_random_numpy_program(seed):
    program, args = random_program(seed)
    want = program(*args)
    for level in (0, 2):
        check(hyc.jit(program, opt_level=level)(*args), want)
