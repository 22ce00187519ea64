"""Large loops and matmuls run split over threads: results must not depend on the thread
count (HYC_NUM_THREADS, read on each call), nor on the sizes' not dividing evenly."""

import numpy as np
import pytest
from native import check_random_program

import hyc
from hyc.codegen import cpu

CHAIN = """
def chain(a: f32[N], b: f32[N]) -> f32[N]:
    return relu(a * b + a) - b * 0.5
"""

MATMUL = """
def dense(x: f32[M, K], w: f32[K, N], bias: f32[N]) -> f32[M, N]:
    return relu(x @ w + bias)
"""

BATCHED = """
def rows(x: f32[B, M, K], w: f32[K, N]) -> f32[B, M, N]:
    return x @ w
"""


@pytest.fixture(params=["1", "2", "3", "7"])
def thread_count(request, monkeypatch):
    monkeypatch.setenv("HYC_NUM_THREADS", request.param)
    return int(request.param)


@pytest.mark.parametrize("n", [5, (1 << 18) + 3, 1 << 20])
def test_elementwise_chain_matches_numpy_at_any_thread_count(n, thread_count):
    rng = np.random.default_rng(n)
    a, b = (rng.standard_normal(n, dtype=np.float32) for _ in range(2))
    got = hyc.compile(CHAIN, opt_level=2).chain(a, b)
    np.testing.assert_allclose(got, np.maximum(a * b + a, 0) - b * 0.5, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("m,k,n", [(3, 4, 5), (257, 131, 129), (1000, 64, 70)])
def test_matmul_rows_split_over_threads_match_numpy(m, k, n, thread_count):
    rng = np.random.default_rng(m)
    x = rng.standard_normal((m, k), dtype=np.float32)
    w = rng.standard_normal((k, n), dtype=np.float32)
    bias = rng.standard_normal(n, dtype=np.float32)
    got = hyc.compile(MATMUL, opt_level=3).dense(x, w, bias)
    np.testing.assert_allclose(got, np.maximum(x @ w + bias, 0), rtol=2e-4, atol=2e-4)


def test_out_argument_is_filled_by_all_threads(thread_count):
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal(1 << 19, dtype=np.float32) for _ in range(2))
    out = np.full_like(a, np.nan)
    hyc.compile(CHAIN, opt_level=2).chain(a, b, out=out)
    np.testing.assert_allclose(out, np.maximum(a * b + a, 0) - b * 0.5, rtol=1e-6, atol=1e-6)


def test_batched_matmul_stays_correct(thread_count):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 200, 150), dtype=np.float32)
    w = rng.standard_normal((150, 90), dtype=np.float32)
    got = hyc.compile(BATCHED, opt_level=2).rows(x, w)
    np.testing.assert_allclose(got, x @ w, rtol=2e-4, atol=2e-4)


def test_a_nonsense_thread_count_runs_on_one_thread(monkeypatch):
    monkeypatch.setenv("HYC_NUM_THREADS", "lots")
    a = np.arange(1 << 19, dtype=np.float32)
    got = hyc.compile(CHAIN, opt_level=1).chain(a, a)
    np.testing.assert_allclose(got, np.maximum(a * a + a, 0) - a * 0.5, rtol=1e-6)


def test_large_loops_are_outlined_and_small_static_ones_are_not():
    big = hyc.compile(CHAIN, opt_level=2)
    assert "hyc.run_parallel" in big.llvm_ir
    small = hyc.compile(CHAIN.replace("N", "16"), opt_level=2)
    assert "hyc.run_parallel" not in small.llvm_ir


@pytest.mark.parametrize("seed", range(40))
def test_random_programs_with_every_loop_threaded(seed, monkeypatch):
    # Thresholds of one: every top-level loop and matmul is outlined and split, whatever
    # values it uses from outside (scalars, buffers with run-time sizes, constants).
    monkeypatch.setattr(cpu, "PARALLEL_WORK", 1)
    monkeypatch.setattr(cpu, "MATMUL_WORK", 1)
    monkeypatch.setenv("HYC_NUM_THREADS", "3")
    monkeypatch.setenv("HYC_CACHE_DIR", "off")  # the key does not know about the thresholds
    check_random_program(seed, level=2)
