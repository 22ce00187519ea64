"""The target-neutral loop level: outline-parallel, expand-matmul and the GPU mapping
(gpu-grid-stride, simulated by gpu-sim) keep what a program computes, on the interpreter and
natively, at every -O level; the CPU compiles the expanded matmul too."""

from pathlib import Path

import numpy as np
import pytest
from native import check_random_program

import hyc
from hyc.codegen.driver import Compilation
from hyc.ir import HycError, Interpreter, parse_module, print_ir, verify
from hyc.ir.types import numpy_dtype, shape_of

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
PORTABLE = "expand-matmul,canonicalize,cse,outline-parallel,dce"

PROGRAMS = {
    "mlp": (EXAMPLES / "mlp.hy").read_text(),
    "batched": "def f(a: f32[2, 3, 4], b: f32[1, 4, 5], v: f32[5]) -> f32[2, 3, 5]:\n"
               "    return relu(a @ b + v)\n",
    "vector": "def f(v: f64[4], m: f64[3, 4, 2]) -> f64[3, 2]:\n    return v @ m\n",
    "chain": "def f(a: f32[N, 3], b: f32[3], s: f32) -> f32[N, 3]:\n"
             "    return tanh(a * b + s) - exp(a) * 0.5\n",
    "reduce": "def f(a: f32[N, 6]) -> f32[N]:\n    return sum(a * a, axis=1) + max(a, axis=1)\n",
}


# The interpreter runs the loop level an op at a time: the example's MLP (512-256-128-2) took
# 15-27 s a case there, the same layers at 24-16-8-2 a fraction of a second
INTERPRETED = {**PROGRAMS, "mlp": PROGRAMS["mlp"].replace("512", "24").replace("256", "16")
               .replace("128", "8")}


def arguments(func, rng, n=3):
    return [rng.standard_normal(tuple(d if isinstance(d, int) else n for d in shape_of(t)))
            .astype(numpy_dtype(t)) for t in func.type.inputs]


# the portable loops on the CPU, and the GPU kernels simulated by the CPU (gpu-sim)
TARGETS = {"portable": ("buf.dispatch", lambda: hyc.cpu_target(loop_pipeline=PORTABLE)),
           "gpu-sim": ("gpu.launch", lambda: "gpu-sim")}


@pytest.fixture(scope="module")
def portable():
    return hyc.cpu_target(loop_pipeline=PORTABLE)


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("level", [0, 1, 2, 3])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_the_target_stage_runs_on_the_interpreter(name, level, target):
    """Every stage verifies, prints, parses and computes what the tensor level does."""
    marker, make = TARGETS[target]
    compilation = Compilation(INTERPRETED[name], level, make())
    tensor = parse_module(print_ir(compilation.optimized_ir()))
    target = compilation.target_loops()
    verify(target)
    text = print_ir(target)
    assert print_ir(parse_module(text)) == text
    assert "buf.matmul" not in text and marker in text
    rng = np.random.default_rng(level)
    for func in tensor.functions:
        args = arguments(func, rng)
        want = Interpreter(tensor).call(func.sym_name, *args)
        outs = [np.zeros(w.shape, w.dtype) for w in map(np.asarray, want)]
        Interpreter(target).call(func.sym_name, *args, *outs)
        for w, g in zip(want, outs):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("level", [0, 1, 2, 3])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_the_cpu_compiles_the_portable_form(name, level, target):
    compiled = hyc.compile(PROGRAMS[name], level, target=TARGETS[target][1]())
    assert "buf.matmul" not in compiled.loops
    tensor = parse_module(compiled.ir)
    rng = np.random.default_rng(10 + level)
    for func in tensor.functions:
        args = arguments(func, rng, n=5)
        want = Interpreter(tensor).call(func.sym_name, *args)
        got = compiled[func.sym_name](*args)
        np.testing.assert_allclose(got, want[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("level", [0, 2, 3])
def test_the_mlp_with_expand_matmul_forced_gives_numpys_answer(level, target):
    """A batch large enough for the dispatches (and launches) to run on threads."""
    mod = hyc.compile(EXAMPLES / "mlp.hy", level, target=TARGETS[target][1]())
    rng = np.random.default_rng(3)
    shapes = [(300, 512), (512, 256), (256,), (256, 128), (128,), (128, 2), (2,)]
    x, w1, b1, w2, b2, w3, b3 = [(rng.standard_normal(s) * 0.1).astype(np.float32) for s in shapes]
    want = np.maximum(np.maximum(x @ w1 + b1, 0) @ w2 + b2, 0) @ w3 + b3
    np.testing.assert_allclose(mod.mlp(x, w1, b1, w2, b2, w3, b3), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("level", [0, 1, 2, 3])
@pytest.mark.parametrize("seed", range(12))
def test_random_programs_in_the_portable_form(seed, level, target):
    check_random_program(seed, level, target=TARGETS[target][1]())


def test_an_unknown_pass_in_a_loop_pipeline():
    with pytest.raises(HycError, match="unknown pass 'vectorize'"):
        hyc.cpu_target(loop_pipeline="vectorize")


REDUCTIONS = """
def total(x: f32[N]) -> f32:
    return sum(x * x)

def biggest(x: i32[N]) -> i32:
    return max(x)

def smallest(x: f64[N]) -> f64:
    return min(x)

def count(x: i64[N]) -> i64:
    return sum(x)
"""


@pytest.mark.parametrize("grain", [8, 4096])
@pytest.mark.parametrize("n", [1, 7, 8, 9, 1000, 300_001])
def test_parallel_reductions_give_numpys_answers(n, grain):
    """Chunks of ``grain``: partial chunks, one chunk, and (300001 elements) enough work for
    the chunks to run on threads."""
    target = hyc.cpu_target(loop_pipeline=f"parallelize-reductions{{grain={grain}}},"
                                          "outline-parallel,dce")
    mod = hyc.compile(REDUCTIONS, target=target)
    assert "grain" in mod.loops and "buf.dispatch" in mod.loops
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(np.float32)
    np.testing.assert_allclose(mod.total(x), np.sum(x.astype(np.float64) ** 2), rtol=1e-4)
    ints = rng.integers(-10**6, 10**6, n).astype(np.int32)
    assert mod.biggest(ints) == ints.max()
    doubles = rng.standard_normal(n)
    assert mod.smallest(doubles) == doubles.min()
    assert mod.count(ints.astype(np.int64)) == ints.astype(np.int64).sum()


def test_parallel_reductions_keep_nan_and_empty_errors():
    target = hyc.cpu_target(loop_pipeline="parallelize-reductions{grain=8},outline-parallel,dce")
    mod = hyc.compile(REDUCTIONS, target=target)
    x = np.arange(100, dtype=np.float64)
    x[57] = np.nan
    assert np.isnan(mod.smallest(x))
    with pytest.raises(ValueError, match="empty axis"):
        mod.biggest(np.zeros(0, np.int32))
    assert mod.total(np.zeros(0, np.float32)) == 0.0


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_parallel_reductions_on_the_interpreter(level):
    compilation = Compilation(REDUCTIONS, level, hyc.cpu_target(
        loop_pipeline="parallelize-reductions{grain=3},outline-parallel,dce"))
    tensor = parse_module(print_ir(compilation.optimized_ir()))
    target = compilation.target_loops()
    rng = np.random.default_rng(level)
    for n in (1, 3, 10):
        for func in tensor.functions:
            args = [rng.integers(-9, 9, n).astype(numpy_dtype(func.type.inputs[0]))]
            want = Interpreter(tensor).call(func.sym_name, *args)
            out = np.zeros((), numpy_dtype(func.type.results[0]))
            Interpreter(target).call(func.sym_name, *args, out)
            np.testing.assert_allclose(out, want[0], rtol=1e-6)


KERNEL_TEXT = """
func.func @k(%x: memref<8xf32>) attributes {kernel = true} {
  %t = gpu.thread_id {dim = 0} : index
  %v = buf.load %x, %t : (memref<8xf32>, index) -> f32
  buf.store %v, %x, %t : (f32, memref<8xf32>, index) -> ()
  func.return
}
"""


def test_dispatches_and_kernels_are_not_taken_from_text():
    """They run without the run-time checks text needs (harden-buffers adds them before the
    loop passes make dispatches and kernels): text holding one is refused, located."""
    with pytest.raises(HycError, match="@k is a GPU kernel") as info:
        hyc.compile(KERNEL_TEXT)
    assert info.value.diagnostics[0].loc.line == 2
    loops = print_ir(Compilation(PROGRAMS["chain"], 2, "gpu-sim").target_loops())
    with pytest.raises(HycError, match="gpu.launch is made by the loop passes"):
        hyc.compile(loops)
    loops = print_ir(Compilation(PROGRAMS["chain"], 2).target_loops())
    with pytest.raises(HycError, match="buf.dispatch is made by the loop passes"):
        hyc.compile(loops)
