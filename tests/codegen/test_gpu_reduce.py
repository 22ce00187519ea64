"""Reductions on the GPU targets: gpu.shuffle_down's semantics on the interpreter, serialized
and compiled; block reductions (gpu-block-reduce) of every fold on gpu-sim against numpy, on
the interpreter checked for races, and in PTX."""


import numpy as np
import pytest

import hyc
from hyc.codegen.driver import Compilation
from hyc.codegen.target import GPU_LOOPS, gpu_sim, host_cpu
from hyc.ir import parse_module, print_ir, verify
from hyc.ir.gpu_check import CheckingInterpreter
from hyc.ir.interpreter import Interpreter
from hyc.passes.serialize_threads import GpuSerializeThreads
from hyc.record import replace

SHUFFLE = """
func.func @f(%x: memref<THREADSxi64>, %out: memref<THREADSxi64>) {
  %one = hy.constant {value = dense<1> : index} : index
  %threads = hy.constant {value = dense<THREADS> : index} : index
  gpu.launch %one, %one, %one, %threads, %one, %one, %x, %out {kernel = @k} : (index, index, index, index, index, index, memref<THREADSxi64>, memref<THREADSxi64>) -> ()
  func.return
}
func.func @k(%x: memref<THREADSxi64>, %out: memref<THREADSxi64>) attributes {kernel = true} {
  %t = gpu.thread_id {dim = 0} : index
  %v = buf.load %x, %t : (memref<THREADSxi64>, index) -> i64
  %offset = hy.constant {value = dense<OFFSET> : index} : index
  %w = gpu.shuffle_down %v, %offset : (i64, index) -> i64
  buf.store %w, %out, %t : (i64, memref<THREADSxi64>, index) -> ()
  func.return
}
"""


@pytest.mark.parametrize("threads,offset", [(64, 1), (64, 16), (40, 8), (32, 0), (5, 31)])
def test_shuffle_down_takes_the_value_of_the_lane_offset_above_in_the_warp(threads, offset):
    x = np.arange(100, 100 + threads, dtype=np.int64)
    t = np.arange(threads)
    partner = np.where((t % 32 + offset < 32) & (t + offset < threads), t + offset, t)
    text = SHUFFLE.replace("THREADS", str(threads)).replace("OFFSET", str(offset))
    out = np.zeros(threads, np.int64)
    Interpreter(parse_module(text)).call("f", x, out)
    np.testing.assert_array_equal(out, x[partner])
    serialized = parse_module(text)
    GpuSerializeThreads().run(serialized)
    verify(serialized)
    compiled = Compilation.at_target_level(serialized, host_cpu()).jit()["f"]
    for run in (lambda *args: Interpreter(serialized).call("f", *args), compiled):
        out = np.zeros(threads, np.int64)
        run(x, out)
        np.testing.assert_array_equal(out, x[partner])


FOLDS = {
    "sum_f32": ("f32", "sum(x)", np.sum),
    "sum_i64": ("i64", "sum(x)", np.sum),
    "prod_i32": ("i32", "prod(x)", np.prod),
    "max_f64": ("f64", "max(x)", np.max),
    "min_i32": ("i32", "min(x)", np.min),
}


def values(element, n, seed=0, signs=False):
    """Random elements; only -1 and 1 with ``signs`` (products that do not overflow)."""
    rng = np.random.default_rng(seed)
    if signs:
        return rng.choice(np.array([-1, 1], np.int32), n)
    if element.startswith("i"):
        return rng.integers(-50, 50, n).astype({"i32": np.int32, "i64": np.int64}[element])
    return rng.standard_normal(n).astype({"f32": np.float32, "f64": np.float64}[element])


@pytest.mark.parametrize("n", [1, 31, 33, 1000, 4097, 1024 * 1024 + 77])
@pytest.mark.parametrize("name", sorted(FOLDS))
def test_block_reductions_on_gpu_sim_agree_with_numpy(name, n):
    element, expression, fold = FOLDS[name]
    source = f"def f(x: {element}[N]) -> {element}:\n    return {expression}\n"
    module = hyc.compile(source, 2, target="gpu-sim")
    assert "gpu.shuffle_down" in module.loops
    x = values(element, n, signs=name == "prod_i32")
    got, want = module.f(x), fold(x)
    if element == "f32":
        assert got == pytest.approx(want, rel=1e-4, abs=1e-3)
    else:
        assert got == want


def test_an_empty_sum_is_the_initial_value():
    module = hyc.compile("def f(x: f32[N]) -> f32:\n    return sum(x) + 1.5\n", 2, target="gpu-sim")
    assert module.f(np.zeros(0, np.float32)) == 1.5


# blocks of one warp: quick to interpret
SMALL = replace(gpu_sim(), loop_pipeline=GPU_LOOPS.replace(
    "gpu-block-reduce", "gpu-block-reduce{block=64}"))


@pytest.mark.parametrize("level", [0, 2])
def test_block_reductions_on_the_interpreter_in_phases_checked(level):
    source = "def f(x: f32[N, 3]) -> f32[N]:\n    return sum(x, axis=1) + sum(x) * max(x)\n"
    x = values("f32", 600, seed=level).reshape(200, 3)
    want = x.sum(axis=1) + x.sum() * x.max()
    gpu_level = Compilation(source, level, SMALL).target_loops()
    out = np.zeros(200, np.float32)
    CheckingInterpreter(gpu_level).call("f", x, out)  # no race, no out-of-bounds access
    np.testing.assert_allclose(out, want, rtol=1e-4)
    np.testing.assert_allclose(hyc.compile(source, level, target=SMALL).f(x), want, rtol=1e-4)
    serialized = parse_module(print_ir(gpu_level))
    GpuSerializeThreads().run(serialized)
    out = np.zeros(200, np.float32)
    Interpreter(serialized).call("f", x, out)
    np.testing.assert_allclose(out, want, rtol=1e-4)
