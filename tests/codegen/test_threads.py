"""Large loops and matmuls run split over threads: results must not depend on the thread
count (HYC_NUM_THREADS, read on each call), nor on the sizes' not dividing evenly; the pool
that runs them (codegen/threads.py) survives fork() and calls from many threads."""

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

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


def _dense_inputs(m: int, k: int, n: int, seed: int):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((m, k), dtype=np.float32),
            rng.standard_normal((k, n), dtype=np.float32), rng.standard_normal(n, dtype=np.float32))


@pytest.mark.parametrize("m,k,n", [(3, 4, 5), (257, 131, 129), (1000, 64, 70)])
def test_matmul_rows_split_over_threads_match_numpy(m, k, n, thread_count):
    x, w, bias = _dense_inputs(m, k, n, m)
    got = hyc.compile(MATMUL, opt_level=3).dense(x, w, bias)
    np.testing.assert_allclose(got, np.maximum(x @ w + bias, 0), rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("m,k,n", [(300, 1100, 130), (61, 1025, 700), (1000, 64, 70)])
def test_rows_split_share_one_packing_of_rhs(m, k, n, monkeypatch):
    # On several threads, the right operand is packed once, in parallel, for all the row
    # ranges (slabs of the inner dimension and panels of columns cut unevenly here); without
    # memory for that (the limit set to 0), each range packs its own. Same bits either way.
    x, w, bias = _dense_inputs(m, k, n, k)
    shared = hyc.compile(MATMUL, opt_level=2)
    assert any(line.startswith("declare void @hyc_matmul_f32_") and "_pack(" in line
               for line in shared.llvm_ir.splitlines())
    monkeypatch.setattr(cpu, "SHARED_PACK_LIMIT", 0)
    own = hyc.compile(MATMUL.replace("dense", "dense_own"), opt_level=2)
    results = []
    for count in ("1", "2", "3", "7"):
        monkeypatch.setenv("HYC_NUM_THREADS", count)
        results += [shared.dense(x, w, bias), own.dense_own(x, w, bias)]
    np.testing.assert_allclose(results[0], np.maximum(x @ w + bias, 0), rtol=2e-4, atol=2e-3)
    assert all(np.array_equal(r, results[0]) for r in results[1:])


@pytest.mark.parametrize("k,n", [(1025, 130), (1536, 256), (3000, 70)])
def test_one_row_split_along_the_inner_dimension_is_the_batched_row_bit_for_bit(k, n, monkeypatch):
    """A single row with an inner dimension of several slabs is split along it
    (codegen/matvec.py): at any thread count, the same bits as the row of a product of many
    rows (the kernel's slabs, added in the same order), and numpy's values."""
    dense = hyc.compile(MATMUL, opt_level=2).dense
    x, w, bias = _dense_inputs(6, k, n, k)
    monkeypatch.setenv("HYC_NUM_THREADS", "1")
    batched = dense(x, w, bias)
    np.testing.assert_allclose(batched, np.maximum(x @ w + bias, 0), rtol=3e-4, atol=3e-4)
    for count in ["1", "2", "3", "7", "2"]:
        monkeypatch.setenv("HYC_NUM_THREADS", count)
        for row in range(0, 6, 5):
            assert np.array_equal(dense(x[row:row + 1], w, bias)[0], batched[row])


@pytest.mark.parametrize("m,k,n", [(1, 300, 1000), (2, 700, 130), (3, 129, 1031)])
def test_short_matmuls_split_by_columns_match_numpy(m, k, n, thread_count):
    # fewer than 4 rows (a batch of 1): the threads take groups of columns
    x, w, bias = _dense_inputs(m, k, n, n)
    dense = hyc.compile(MATMUL, opt_level=2).dense
    np.testing.assert_allclose(dense(x, w, bias), np.maximum(x @ w + bias, 0), rtol=2e-4, atol=2e-4)
    one_row = hyc.compile(MATMUL.replace("M, K]", "1, K]").replace("[M, N]", "[1, N]")).dense
    np.testing.assert_allclose(one_row(x[:1], w, bias), np.maximum(x[:1] @ w + bias, 0),
                               rtol=2e-4, atol=2e-4)


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
    assert "@hyc_pool_run(" in big.llvm_ir
    small = hyc.compile(CHAIN.replace("N", "16"), opt_level=2)
    assert "@hyc_pool_run(" not in small.llvm_ir


@pytest.mark.parametrize("seed", range(40))
def test_random_programs_with_every_loop_threaded(seed, monkeypatch):
    # Thresholds of one: every top-level loop and matmul is outlined and split, whatever
    # values it uses from outside (scalars, buffers with run-time sizes, constants).
    monkeypatch.setattr(cpu, "PARALLEL_WORK", 1)
    monkeypatch.setattr(cpu, "MATMUL_WORK", 1)
    monkeypatch.setattr(cpu, "MATVEC_WORK", 1)
    monkeypatch.setenv("HYC_NUM_THREADS", "3")
    monkeypatch.setenv("HYC_CACHE_DIR", "off")  # the key does not know about the thresholds
    check_random_program(seed, level=2)


def _inputs(seed: int):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((333, 200), dtype=np.float32)
    w = rng.standard_normal((200, 301), dtype=np.float32)
    bias = rng.standard_normal(301, dtype=np.float32)
    a, b = (rng.standard_normal((1 << 19) + 5, dtype=np.float32) for _ in range(2))
    return x, w, bias, a, b


def test_results_are_identical_for_1_to_7_threads_changed_between_calls(monkeypatch):
    dense, chain = hyc.compile(MATMUL, opt_level=2).dense, hyc.compile(CHAIN, opt_level=2).chain
    x, w, bias, a, b = _inputs(3)
    wide = np.random.default_rng(3).standard_normal((200, 1500), dtype=np.float32)
    results = {}
    for count in [1, 2, 3, 4, 5, 6, 7, 3, 1, 7]:
        monkeypatch.setenv("HYC_NUM_THREADS", str(count))
        results.setdefault(count, []).append(
            (dense(x, w, bias), dense(x[:1], wide, wide[0]), chain(a, b)))
    first = results[1][0]
    np.testing.assert_allclose(first[0], np.maximum(x @ w + bias, 0), rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(first[1], np.maximum(x[:1] @ wide + wide[0], 0), rtol=2e-4,
                               atol=2e-4)
    for runs in results.values():
        for got in runs:  # each element is computed by one thread, in one order
            assert all(np.array_equal(g, f) for g, f in zip(got, first))


def _threads_of_this_process() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc (Linux)")
def test_workers_are_started_once_and_kept(monkeypatch):
    chain = hyc.compile(CHAIN, opt_level=2).chain
    _, _, _, a, b = _inputs(4)
    monkeypatch.setenv("HYC_NUM_THREADS", "3")
    chain(a, b)
    after_first = _threads_of_this_process()
    for _ in range(20):
        chain(a, b)
    assert _threads_of_this_process() == after_first  # no thread per call


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX's")
def test_a_forked_child_runs_parallel_loops_with_its_own_workers(monkeypatch):
    monkeypatch.setenv("HYC_NUM_THREADS", "4")
    dense, chain = hyc.compile(MATMUL, opt_level=2).dense, hyc.compile(CHAIN, opt_level=2).chain
    x, w, bias, a, b = _inputs(5)
    want_dense, want_chain = dense(x, w, bias), chain(a, b)  # the parent's workers exist now
    child = os.fork()
    if child == 0:  # the child must neither hang waiting for the parent's workers nor crash
        try:
            ok = all(np.array_equal(dense(x, w, bias), want_dense) and
                     np.array_equal(chain(a, b), want_chain) for _ in range(5))
            os._exit(0 if ok else 1)
        finally:
            os._exit(2)
    for _ in range(600):  # at most 60 s
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        os.kill(child, 9)
        os.waitpid(child, 0)
        pytest.fail("the forked child hung in a parallel loop")
    assert os.waitstatus_to_exitcode(status) == 0
    assert np.array_equal(chain(a, b), want_chain)  # the parent's pool still works


def test_calls_from_8_python_threads_at_once(monkeypatch):
    monkeypatch.setenv("HYC_NUM_THREADS", "4")
    dense, chain = hyc.compile(MATMUL, opt_level=2).dense, hyc.compile(CHAIN, opt_level=2).chain
    inputs = [_inputs(10 + i) for i in range(8)]
    want = [(np.maximum(x @ w + bias, 0), np.maximum(a * b + a, 0) - b * 0.5)
            for x, w, bias, a, b in inputs]

    def work(i: int) -> bool:
        x, w, bias, a, b = inputs[i]
        for _ in range(10):
            got_dense, got_chain = dense(x, w, bias), chain(a, b)
            np.testing.assert_allclose(got_dense, want[i][0], rtol=2e-4, atol=2e-4)
            np.testing.assert_allclose(got_chain, want[i][1], rtol=1e-6, atol=1e-6)
        return True

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(8)))


MIXED_SIZES = [(300, 1100, 130), (61, 1025, 700), (1000, 64, 70), (257, 131, 129),
               (512, 512, 512), (128, 2048, 256), (700, 300, 900), (64, 64, 64)]


def test_products_of_many_sizes_from_8_python_threads_share_the_scratch_memory(monkeypatch):
    """Each call takes scratch memory for its packed copies (codegen/scratch.py): of every
    size at once, from the caller's thread and the pool's, the slots claimed, grown and given
    back concurrently."""
    monkeypatch.setenv("HYC_NUM_THREADS", "4")
    dense = hyc.compile(MATMUL, opt_level=2).dense
    inputs = [_dense_inputs(m, k, n, i) for i, (m, k, n) in enumerate(MIXED_SIZES)]

    def work(i: int) -> bool:
        x, w, bias = inputs[i]
        want = np.maximum(x @ w + bias, 0)
        for _ in range(6):
            np.testing.assert_allclose(dense(x, w, bias), want, rtol=3e-4, atol=3e-4)
        return True

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(8)))


# hyc_scratch_take and hyc_scratch_give called directly, in a process of their own (the blocks
# it caches stay for the process's life)
SCRATCH_PROBE = r"""
import ctypes
import hyc
from hyc.codegen import jit, scratch, symbols
hyc.compile("def f(a: f32[8, 8], b: f32[8, 8]) -> f32[8, 8]:\n    return a @ b\n")
take = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_int64)(jit._state["base"][symbols.SCRATCH_TAKE])
give = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(jit._state["base"][symbols.SCRATCH_GIVE])
slot = lambda p: ctypes.c_int64.from_address(p - scratch.HEADER).value
p = take(1000)
ctypes.memset(p, 1, 1000)
give(p)
q = take(1000)
assert q == p and slot(q) >= 0, "given back, the block is taken again"
r = take(900)
assert r != q and slot(r) not in (-1, slot(q)), "while q is held, another slot"
give(q), give(r), give(None)
big = take(scratch.BLOCK_LIMIT)
assert slot(big) == -1, "too large to keep: malloc's"
ctypes.memset(big, 2, 1 << 16)
give(big)
assert take(-1) is None, "a size that wraps around"
assert take(1 << 62) is None, "more than malloc gives"
part = scratch.HELD_LIMIT // 3
held = [take(part) for _ in range(3)]
assert [slot(h) >= 0 for h in held] == [True, True, False], "the limit on what is kept"
for h in held:
    give(h)
print("ok")
"""


def test_scratch_memory_is_kept_reused_and_limited():
    done = subprocess.run([sys.executable, "-c", SCRATCH_PROBE], capture_output=True, text=True,
                          env={**os.environ, "HYC_CACHE_DIR": "off"})
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def _cpu_seconds_of_other_threads() -> float:
    ticks = 0
    for tid in os.listdir("/proc/self/task"):
        if int(tid) != os.getpid():
            try:
                fields = open(f"/proc/self/task/{tid}/stat").read().rsplit(")", 1)[1].split()
            except OSError:  # the thread ended meanwhile
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads thread CPU times in /proc (Linux)")
def test_idle_workers_sleep_instead_of_spinning(monkeypatch):
    monkeypatch.setenv("HYC_NUM_THREADS", "3")
    chain = hyc.compile(CHAIN, opt_level=2).chain
    _, _, _, a, b = _inputs(6)
    chain(a, b)
    time.sleep(0.3)  # past the spin: the workers are asleep on their futex
    before = _cpu_seconds_of_other_threads()
    time.sleep(1.0)
    # spinning workers would have used about 2 s of CPU; sleeping ones use none (the clock
    # ticks are 10 ms, and other threads of the test process may run a little)
    assert _cpu_seconds_of_other_threads() - before < 0.2
