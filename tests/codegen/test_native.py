"""Native code through LLVM against the interpreter: random programs at every -O level, the
examples, argument checking, run-time checks, printing and concurrency."""

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from native import check_random_program, run_native

import hyc
from hyc.codegen.compiled import RunTimeCheckError
from hyc.frontend.irgen import compile_source

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
COUNT = int(os.environ.get("HYC_NATIVE_COUNT", "60"))


@pytest.mark.parametrize("seed", range(COUNT))
@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_random_programs_run_natively_like_the_interpreter(seed, level):
    check_random_program(seed, level)


def mlp_args(batch, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(batch, 512), (512, 256), (256,), (256, 128), (128,), (128, 2), (2,)]
    return [(rng.standard_normal(s) * 0.1).astype(np.float32) for s in shapes]


def numpy_mlp(x, w1, b1, w2, b2, w3, b3):
    return np.maximum(np.maximum(x @ w1 + b1, 0) @ w2 + b2, 0) @ w3 + b3


@pytest.mark.parametrize("level", [0, 1, 2, 3])
@pytest.mark.parametrize("batch", [1, 7, 64])
def test_mlp_matches_numpy(level, batch):
    mod = hyc.compile(EXAMPLES / "mlp.hy", opt_level=level)
    args = mlp_args(batch)
    np.testing.assert_allclose(mod.mlp(*args), numpy_mlp(*args), rtol=1e-4, atol=1e-5)


def test_compiled_module_exposes_every_stage():
    mod = hyc.compile(str(EXAMPLES / "mlp.hy"))
    assert "hy.fused_matmul" in mod.ir
    assert "buf.matmul" in mod.loops
    assert "define" in mod.llvm_ir and "@hyc_matmul_f32_" in mod.llvm_ir  # the runtime's kernel
    assert "ret" in mod.asm()
    with pytest.raises(AttributeError, match="no function 'nope'"):
        _ = mod.nope


def test_source_text_and_hyir_text_compile_too():
    mod = hyc.compile("def f(x: f32[N]) -> f32[N]:\n    return x * 2.0\n")
    np.testing.assert_array_equal(mod.f(np.arange(3, dtype=np.float32)), [0, 2, 4])
    ir_mod = hyc.compile((EXAMPLES / "control.hyir").read_text())
    np.testing.assert_allclose(ir_mod.power(np.ones(2, np.float32) * 2, np.int32(3)), [8, 8])


def test_wrong_arguments_raise_clear_errors():
    mod = hyc.compile(EXAMPLES / "mlp.hy")
    args = mlp_args(2)
    with pytest.raises(TypeError, match="takes 7 argument"):
        mod.mlp(*args[:6])
    with pytest.raises(TypeError, match="dtype float64"):
        mod.mlp(args[0].astype(np.float64), *args[1:])
    with pytest.raises(ValueError, match="dimension 1 must be 512"):
        mod.mlp(args[0][:, :100].copy(), *args[1:])
    with pytest.raises(ValueError, match="C-contiguous"):
        mod.mlp(np.asfortranarray(args[0]), *args[1:])
    bad = hyc.compile("def f(a: f32[N], b: f32[N]) -> f32[N]:\n    return a + b\n")
    with pytest.raises(ValueError, match=r"\(N\) is 3, but N = 2"):
        bad.f(np.zeros(2, np.float32), np.zeros(3, np.float32))


def test_out_is_written_in_place_and_checked():
    mod = hyc.compile(EXAMPLES / "mlp.hy")
    args = mlp_args(3)
    out = np.empty((3, 2), np.float32)
    assert mod.mlp(*args, out=out) is out
    np.testing.assert_allclose(out, numpy_mlp(*args), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="out= must be a float32 array of shape"):
        mod.mlp(*args, out=np.empty((2, 2), np.float32))
    with pytest.raises(ValueError, match="C-contiguous and writeable"):
        mod.mlp(*args, out=np.empty((2, 3), np.float32).T)


def test_out_takes_the_native_entry_and_what_it_turns_down_the_careful_path(monkeypatch):
    mod = hyc.compile("def g(a: f32[N], b: f32[N, 2]) -> f32[N]:\n"
                      "    return a * 2.0 + sum(b, axis=1)\n")
    g = mod.g
    if g._entry is None:
        pytest.skip("no native entries in this process (object layouts differ)")
    a, b = np.arange(4, dtype=np.float32), np.ones((4, 2), np.float32)
    careful = []
    monkeypatch.setattr(g, "_call", lambda args, out: careful.append(out) or
                        type(g)._call(g, args, out))
    out = np.empty(4, np.float32)
    assert g(a, b, out=out) is out and not careful  # checked and run natively
    np.testing.assert_array_equal(out, a * 2 + 2)
    assert g(a, b, out=[out]) == [out] and not careful
    # each of these the entry turns down: the careful path gives numpy's answer or the error
    shared = np.arange(8, dtype=np.float32)
    g(shared[:4], b, out=shared[2:6])  # out= overlaps the argument
    np.testing.assert_array_equal(shared, [0, 1, 2, 4, 6, 8, 6, 7])
    read_only = np.empty(4, np.float32)
    read_only.flags.writeable = False
    for wrong in [read_only, np.empty(3, np.float32), np.empty(4, np.float64),
                  np.empty(8, np.float32)[::2]]:
        with pytest.raises(ValueError, match="out= must"):
            g(a, b, out=wrong)
    assert len(careful) == 5


@pytest.mark.parametrize("target", ["a", "b", "view"])
def test_out_overlapping_an_argument_gets_numpys_answer(target):
    # Results are computed straight into out=; a matmul reading what it writes would not be
    # numpy's answer, so the wrapper computes elsewhere and copies when arrays overlap.
    mod = hyc.compile("def mm(a: f32[N, N], b: f32[N, N]) -> f32[N, N]:\n    return a @ b\n")
    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal((64, 64), dtype=np.float32) for _ in range(2))
    want = a @ b
    storage = np.concatenate([b.ravel(), np.zeros(64, np.float32)])
    b_view = storage[:64 * 64].reshape(64, 64)
    out = {"a": a, "b": b, "view": storage[64:].reshape(64, 64)}[target]
    args = (a, b_view) if target == "view" else (a, b)
    assert mod.mm(*args, out=out) is out
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)


def test_results_are_computed_into_the_result_buffers():
    module = hyc.compile("def f(a: f32[N], b: f32[N]) -> f32[N]:\n    return a * b + a\n")
    assert "buf.alloc" not in module.loops and "buf.copy" not in module.loops
    a = np.arange(5, dtype=np.float32)
    np.testing.assert_array_equal(module.f(a, a), a * a + a)


def test_run_time_checks_raise_instead_of_touching_memory():
    source = "def f(a: f32[?], b: f32[?], c: f32[N]) -> f32[N]:\n    return a + b + c\n"
    mod = hyc.compile(source)
    ok = np.ones(4, np.float32)
    np.testing.assert_array_equal(mod.f(ok, ok, ok), ok * 3)
    with pytest.raises(RunTimeCheckError, match="sizes"):
        mod.f(ok, np.ones(5, np.float32), ok)


def test_printing_goes_through_python_like_the_interpreter(capsys):
    mod = hyc.compile(EXAMPLES / "fancy.hy")
    mod.main()
    assert capsys.readouterr().out == "10.0\n"
    printed, _ = run_native(compile_source(
        "def main():\n    print(1.5, zeros((2,)), True, 7)\n", "p.hy"), "main", [])
    assert printed == [] and _ == "1.5 [0. 0.] True 7\n"


def test_threads_calling_one_function_get_correct_results():
    mod = hyc.compile(EXAMPLES / "mlp.hy")
    errors = []

    def worker(seed):
        args = mlp_args(5, seed)
        for _ in range(20):
            if not np.allclose(mod.mlp(*args), numpy_mlp(*args), rtol=1e-4, atol=1e-5):
                errors.append(seed)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_compiling_the_same_module_twice_reuses_the_machine_code():
    from hyc.codegen.jit import _cache
    a = hyc.compile(EXAMPLES / "mlp.hy")
    cached = len(_cache)
    b = hyc.compile(EXAMPLES / "mlp.hy")
    assert len(_cache) == cached and a.llvm_ir == b.llvm_ir


def test_calls_take_the_native_entry_when_numpy_is_laid_out_as_expected():
    from hyc.codegen import pyentry
    mod = hyc.compile(EXAMPLES / "mlp.hy")
    assert (mod.mlp._entry is not None) == pyentry.layout_ok()
    args = mlp_args(4)
    np.testing.assert_allclose(mod.mlp(*args), numpy_mlp(*args), rtol=1e-4, atol=1e-5)
    # what the entry turns down, the careful path accepts or explains
    with pytest.raises(ValueError, match="C-contiguous"):
        mod.mlp(np.asfortranarray(args[0]), *args[1:])
    listed = [a.tolist() for a in args]
    with pytest.raises(TypeError, match="must be a numpy array"):
        mod.mlp(*listed)


@pytest.mark.parametrize("n", [1, 7, 16, 1000, 4099])
@pytest.mark.parametrize("dtype", ["f32", "f64", "i32"])
def test_sums_are_vector_reductions_and_agree_with_numpy(n, dtype):
    source = (f"def total(a: {dtype}[N]) -> {dtype}:\n    return sum(a)\n"
              f"def columns(a: {dtype}[N, 3]) -> {dtype}[3]:\n    return sum(a, axis=0)\n"
              f"def rows(a: {dtype}[3, N]) -> {dtype}[3]:\n    return sum(a, axis=1)\n")
    module = hyc.compile(source, opt_level=2)
    if dtype != "i32":
        assert "fadd reassoc <" in module.llvm_ir  # a vector accumulator
    np_type = {"f32": np.float32, "f64": np.float64, "i32": np.int32}[dtype]
    rng = np.random.default_rng(n)
    a = (rng.standard_normal(n * 3) * 100).astype(np_type)
    tolerance = {"rtol": 1e-5, "atol": 1e-3 * np.sqrt(n)} if dtype != "i32" else {"rtol": 0}
    np.testing.assert_allclose(module.total(a), a.sum(dtype=np.float64), **tolerance)
    np.testing.assert_allclose(module.columns(a.reshape(n, 3)), a.reshape(n, 3).sum(0), **tolerance)
    np.testing.assert_allclose(module.rows(a.reshape(3, n)), a.reshape(3, n).sum(1), **tolerance)


def test_the_entrys_table_driven_checks_accept_exactly_the_calls_they_should():
    """The runtime's hyc_check_arrays, driven by each function's table: every array's type,
    dtype, layout, rank, static sizes and named sizes (an argument's M against another's, the
    result's against the arguments'), and the result sharing no memory with an argument."""
    from hyc.codegen.compiled import SLOW_PATH
    mod = hyc.compile("def g(a: f32[N, 3], b: f32[M], c: f32[3, M]) -> f32[N, M]:\n"
                      "    return a @ c + b\n")
    g = mod.g
    if g._entry is None:
        pytest.skip("no native entries in this process (object layouts differ)")
    a, b, c = np.ones((4, 3), np.float32), np.arange(5, dtype=np.float32), np.ones((3, 5), np.float32)
    result = np.zeros((4, 5), np.float32)
    assert g._entry((a, b, c), (result,)) == 0  # run natively: the result is written
    np.testing.assert_array_equal(result, a @ c + b)
    spare = np.zeros(40, np.float32)
    read_only = np.zeros((4, 5), np.float32)
    read_only.flags.writeable = False
    turned_down = {
        "named size M differs": (a, b, np.ones((3, 6), np.float32), result),
        "static size 3 wrong": (np.ones((4, 2), np.float32), b, c, result),
        "rank wrong": (np.ones(12, np.float32), b, c, result),
        "dtype wrong": (a, b.astype(np.float64), c, result),
        "not an ndarray": (a, list(b), c, result),
        "not C-contiguous": (a, b, np.ones((5, 3), np.float32).T, result),
        "the result's N differs": (a, b, c, np.zeros((3, 5), np.float32)),
        "the result's M differs": (a, b, c, np.zeros((4, 4), np.float32)),
        "the result read-only": (a, b, c, read_only),
        "the result inside an argument": (a, spare[:5], c, spare[3:23].reshape(4, 5)),
    }
    for why, (*args, out) in turned_down.items():
        assert g._entry(tuple(args), (out,)) == SLOW_PATH, why
    assert g._entry((a, spare[:5], c), (spare[5:25].reshape(4, 5),)) == 0  # adjacent: apart
    assert g._entry((a, b, c), (result,)) == 0
