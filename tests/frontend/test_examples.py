"""The programs of the spec, exactly as written, through the hyc driver and against numpy."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hyc.frontend.irgen import compile_source
from hyc.ir import run

EXAMPLES = Path(__file__).parent.parent.parent / "examples"


def hyc_cli(*args):
    code = "import sys; from hyc.tools.hyc import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, timeout=60)


def load(name):
    path = EXAMPLES / name
    return compile_source(path.read_text(), str(path))


def test_fancy_prints_ten():
    result = hyc_cli(EXAMPLES / "fancy.hy", "--run")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "10.0\n"


def numpy_mlp(x, w1, b1, w2, b2, w3, b3):
    h1 = np.maximum(x @ w1 + b1, 0)
    h2 = np.maximum(h1 @ w2 + b2, 0)
    return h2 @ w3 + b3


def mlp_params(batch, seed=0):
    rng = np.random.default_rng(seed)
    shapes = {"x": (batch, 512), "w1": (512, 256), "b1": (256,), "w2": (256, 128),
              "b2": (128,), "w3": (128, 2), "b3": (2,)}
    return {k: (rng.standard_normal(s) * 0.1).astype(np.float32) for k, s in shapes.items()}


def test_mlp_from_npz_matches_numpy(tmp_path):
    params = mlp_params(4)
    np.savez(tmp_path / "args.npz", **params)
    result = hyc_cli(EXAMPLES / "mlp.hy", "--run", "--args", tmp_path / "args.npz")
    assert result.returncode == 0, result.stderr
    got = np.array([[float(v) for v in line.strip(" []").split()]
                    for line in result.stdout.strip().splitlines()], np.float32)
    np.testing.assert_allclose(got, numpy_mlp(**params), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("batch", [1, 3, 16])
def test_mlp_matches_numpy_for_any_batch(batch):
    params = mlp_params(batch, seed=batch)
    (y,) = run(load("mlp.hy"), "mlp", *params.values())
    np.testing.assert_allclose(y, numpy_mlp(**params), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("n", [-1, 0, 1, 2, 3, 7])
@pytest.mark.parametrize("size", [0, 1, 5])
def test_power_matches_numpy(n, size):
    x = np.random.default_rng(size).uniform(-1.5, 1.5, size).astype(np.float32)
    (y,) = run(load("control.hy"), "power", x, np.int32(n))
    want = x.copy()
    for _ in range(1, n):
        want = want * x
    np.testing.assert_allclose(y, want, rtol=1e-6)


@pytest.mark.parametrize("limit", [-10.0, 0.0, 3.0, 100.0])
def test_normalize_matches_numpy(limit):
    x = np.array([0.5, 1.0, 2.0, 4.0], np.float32)
    (y,) = run(load("control.hy"), "normalize", x, np.float32(limit))
    want = x / x.sum() if x.sum() > limit else x
    np.testing.assert_allclose(y, want, rtol=1e-6)


def test_control_compiles_to_loops_and_branches_not_unrolled():
    from hyc.ir import print_ir
    text = print_ir(load("control.hy"))
    assert text.count("scf.for") == 1 and text.count("scf.if") == 1
    assert text.count("hy.mul") == 1  # the loop body appears once


def test_every_op_carries_its_source_line():
    module = load("mlp.hy")
    lines = {op.loc.line for op in module.walk() if op.name.startswith("hy.")}
    assert lines == {6, 7, 8}


def test_logistic_regression_trains_like_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32) > 0).astype(np.float32)
    w, b = np.zeros(3, np.float32), np.float32(0)
    for _ in range(50):
        err = 1 / (1 + np.exp(-(x @ w + b))) - y
        w = w - np.float32(0.5) * (x.T * err).mean(axis=1)
        b = b - np.float32(0.5) * err.mean()
    (got,) = run(load("logistic.hy"), "train", x, y, np.int32(50), np.float32(0.5))
    np.testing.assert_allclose(got, w, rtol=1e-4, atol=1e-5)
    assert got[0] > 0 > got[1]  # it learned the signs of the true weights


def test_the_python_example_hybridizes_exports_and_loads(tmp_path):
    run_ = subprocess.run([sys.executable, str(EXAMPLES / "hybridize.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=120, check=True)
    lines = run_.stdout.splitlines()
    assert lines[0] == "fancy_func: 10.0"
    assert lines[1].startswith("Without hybridization: ") and lines[2].startswith("With hybridization: ")
    assert lines[3:6] == ["same results: True", "value:  Traced<f32[1,3]>", "result:  Traced<f32[1,4]>"]
    assert lines[6].endswith("loaded: True") and len(lines) == 7
    assert (tmp_path / "my_mlp.hyir").exists() and (tmp_path / "my_mlp.npz").exists()
