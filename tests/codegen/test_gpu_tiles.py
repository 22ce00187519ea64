"""Kernels whose threads synchronize: the tiled matmul (gpu-tile-matmul) on gpu-sim, on the
interpreter and serialized (gpu-serialize-threads), barriers run in phases, the checker on
shared memory, and the errors of barriers that do not synchronize a whole block."""


import numpy as np
import pytest
from gpu_launch import LAUNCH

import hyc
from hyc.codegen.driver import Compilation
from hyc.codegen.target import GPU_LOOPS, gpu_sim, host_cpu
from hyc.ir import HycError, parse_module, print_ir, verify
from hyc.ir.dialects import gpu
from hyc.ir.gpu_check import CheckingInterpreter, GpuCheckError
from hyc.ir.interpreter import Interpreter, InterpreterError
from hyc.passes.serialize_threads import GpuSerializeThreads
from hyc.record import replace

# tiles of 4 x 4 outputs, 2 x 2 threads, steps of 2 along K: small enough to interpret
SMALL = replace(gpu_sim(), loop_pipeline=GPU_LOOPS.replace(
    "gpu-tile-matmul", "gpu-tile-matmul{tile=4,micro=2,depth=2}"))

AFFINE = "def f(a: f32[M, K], b: f32[K, N], c: f32[N]) -> f32[M, N]:\n    return relu(a @ b + c)\n"
SCALED = "def f(a: f64[M, K], b: f64[K, N], d: f64[1, N]) -> f64[M, N]:\n    return (a @ b) * 2.0 - d\n"
INTEGER = "def f(a: i32[M, K], b: i32[K, N]) -> i32[M, N]:\n    return a @ b\n"


def operands(source, m, k, n, seed=0):
    rng = np.random.default_rng(seed)
    if source is INTEGER:
        return [rng.integers(-9, 9, (m, k)).astype(np.int32),
                rng.integers(-9, 9, (k, n)).astype(np.int32)]
    dtype = np.float64 if source is SCALED else np.float32
    args = [rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)]
    extra = rng.standard_normal(n if source is AFFINE else (1, n)).astype(dtype)
    return args + [extra]


def expected(source, args):
    if source is AFFINE:
        return np.maximum(args[0] @ args[1] + args[2], 0)
    if source is SCALED:
        return (args[0] @ args[1]) * 2.0 - args[2]
    return args[0] @ args[1]


def assert_close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("level", [0, 1, 2, 3])
@pytest.mark.parametrize("shape", [(64, 64, 64), (70, 33, 130), (64, 1, 64), (65, 0, 64),
                                   (128, 17, 96), (5, 7, 3)])
@pytest.mark.parametrize("source", [AFFINE, SCALED, INTEGER], ids=["affine", "f64", "i32"])
def test_the_tiled_matmul_on_gpu_sim_agrees_with_numpy(source, shape, level):
    module = hyc.compile(source, level, target="gpu-sim")
    assert "gpu.barrier" in module.loops and "memref<64x16x" in module.loops  # the tiled kernel
    args = operands(source, *shape)
    assert_close(module.f(*args), expected(source, args))


@pytest.mark.parametrize("level", [0, 2, 3])
def test_small_tiles_agree_on_the_interpreter_serialized_and_compiled(level):
    args = operands(AFFINE, 6, 5, 9, seed=level)
    want = expected(AFFINE, args)
    gpu_level = Compilation(AFFINE, level, SMALL).target_loops()
    out = np.zeros((6, 9), np.float32)
    CheckingInterpreter(gpu_level).call("f", *args, out)  # in phases, checked: no race
    assert_close(out, want)
    serialized = parse_module(print_ir(gpu_level))
    GpuSerializeThreads().run(serialized)
    verify(serialized)
    threads = serialized.lookup("f.matmul.threads")  # the others do not synchronize
    assert threads is not None and not any(isinstance(op, gpu.BarrierOp) for op in serialized.walk())
    assert not any(isinstance(op, gpu.ThreadIdOp) for op in threads.walk())
    out = np.zeros((6, 9), np.float32)
    Interpreter(serialized).call("f", *args, out)
    assert_close(out, want)
    assert_close(hyc.compile(AFFINE, level, target=SMALL).f(*args), want)


@pytest.mark.parametrize("removed", [0, 1])
def test_a_tiled_matmul_without_a_barrier_races(removed):
    """The planted race: without the first barrier, threads read tile elements others are
    still writing; without the second, they overwrite elements others still read."""
    gpu_level = parse_module(print_ir(Compilation(AFFINE, 2, SMALL).target_loops()))
    barriers = [op for op in gpu_level.walk() if isinstance(op, gpu.BarrierOp)]
    assert len(barriers) == 2
    barriers[removed].erase()
    args = operands(AFFINE, 4, 4, 4)
    with pytest.raises(GpuCheckError, match=r"race in kernel @f\.matmul: thread \(\d, \d, 0\) of "
                                            r"block \(0, 0, 0\) .* in the same phase of their "
                                            r"block") as info:
        CheckingInterpreter(gpu_level).call("f", *args, np.zeros((4, 4), np.float32))
    assert info.value.diagnostics[1].severity == "note"


# each block reverses its 4 elements through shared memory
REVERSE = LAUNCH.replace("BODY", """%tile = buf.alloc : () -> memref<4xf32, shared>
  %v = buf.load %x, %i : (memref<8xf32>, index) -> f32
  buf.store %v, %tile, %t : (f32, memref<4xf32, shared>, index) -> ()
  BARRIER
  %three = hy.constant {value = dense<3> : index} : index
  %r = hy.sub %three, %t : index
  %w = buf.load %tile, %r : (memref<4xf32, shared>, index) -> f32
  buf.store %w, %out, %i : (f32, memref<8xf32>, index) -> ()""")


def reverse_module(barrier="gpu.barrier : () -> ()"):
    module = parse_module(REVERSE.replace("BARRIER", barrier), "reverse.hyir")
    verify(module)
    return module


def test_shared_memory_is_one_buffer_per_block_ordered_by_the_barrier():
    x = np.arange(8, dtype=np.float32)
    want = np.array([3, 2, 1, 0, 7, 6, 5, 4], np.float32)
    for interpreter in (Interpreter, CheckingInterpreter):
        out = np.zeros(8, np.float32)
        interpreter(reverse_module()).call("f", x, out)
        np.testing.assert_array_equal(out, want)
    module = reverse_module()
    GpuSerializeThreads().run(module)
    out = np.zeros(8, np.float32)
    Compilation.at_target_level(module, host_cpu()).jit()["f"](x, out)
    np.testing.assert_array_equal(out, want)


def test_a_shared_memory_race_without_the_barrier_is_found():
    with pytest.raises(GpuCheckError, match=r"race in kernel @k: thread \(2, 0, 0\) of block "
                                            r"\(0, 0, 0\) writes element \(2,\) that thread "
                                            r"\(1, 0, 0\) of block \(0, 0, 0\) reads") as info:
        CheckingInterpreter(reverse_module("")).call("f", np.zeros(8, np.float32),
                                                     np.zeros(8, np.float32))
    error, note = info.value.diagnostics
    lines = REVERSE.replace("BARRIER", "").splitlines()
    assert "buf.store %v, %tile" in lines[error.loc.line - 1]
    assert "buf.load %tile" in lines[note.loc.line - 1]


DIVERGENT = """
  %zero = hy.constant {value = dense<0> : index} : index
  %first = hy.eq %t, %zero : (index, index) -> i1
  scf.if %first ({
    gpu.barrier : () -> ()
    scf.yield
  }, {
    scf.yield
  }) : i1
"""


def test_a_barrier_not_every_thread_reaches_is_an_error():
    module = reverse_module(DIVERGENT)
    with pytest.raises(InterpreterError, match=r"thread \(0, 0, 0\) of block \(0, 0, 0\) waits "
                                               r"at a barrier that thread \(1, 0, 0\) of block "
                                               r"\(0, 0, 0\) never reaches"):
        Interpreter(module).call("f", np.zeros(8, np.float32), np.zeros(8, np.float32))
    with pytest.raises(HycError, match="gpu-sim runs barriers and shuffles at a kernel's top "
                                       "level or in loops every thread runs alike, not inside "
                                       "'scf.if'"):
        GpuSerializeThreads().run(module)


def test_a_loop_with_a_barrier_must_run_alike_in_every_thread():
    module = reverse_module("""
  %one = hy.constant {value = dense<1> : index} : index
  scf.for %one, %t, %one ({
  ^bb0(%s: index):
    gpu.barrier : () -> ()
    scf.yield
  }) : index
""")
    with pytest.raises(HycError, match="a loop holding a barrier must run alike in every thread"):
        GpuSerializeThreads().run(module)


def test_a_block_has_at_most_1024_threads():
    text = REVERSE.replace("BARRIER", "").replace(
        "gpu.launch %two, %one, %one, %four,", "%many = hy.constant {value = dense<2048> : index}"
        " : index\n  gpu.launch %two, %one, %one, %many,")
    module = parse_module(text)
    verify(module)
    with pytest.raises(InterpreterError, match="a block has at most 1024 threads"):
        Interpreter(module).call("f", np.zeros(8, np.float32), np.zeros(8, np.float32))
    compiled = Compilation.at_target_level(module, host_cpu()).jit()
    with pytest.raises(ValueError, match="a block has at most 1024 threads"):
        compiled["f"](np.zeros(8, np.float32), np.zeros(8, np.float32))
