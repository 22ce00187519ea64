"""On a real NVIDIA GPU (tests/gpu/check.sh runs these there): the examples, tiled matmuls,
block reductions, vector accesses and a few hundred random programs give the interpreter's
(or numpy's) answers through the CUDA runtime, and device arrays of PyTorch and CuPy go in
and out in place. Elsewhere these skip, saying why; tests/codegen/test_cuda.py runs the same
runtime against a stand-in driver whose kernels are gpu-sim's."""

import gc
from pathlib import Path

import numpy as np
import pytest
from native import check_random_program
from random_ir import random_arguments

import hyc
from hyc.codegen import cuda
from hyc.ir import HycError, Interpreter, parse_module

EXAMPLES = Path(__file__).parent.parent.parent / "examples"

try:
    GPU, WHY = cuda.gpu_context(), ""
except HycError as e:
    GPU, WHY = None, e.diagnostics[0].message
pytestmark = pytest.mark.skipif(GPU is None, reason=f"no usable CUDA GPU here: {WHY}")


def agree(got, want, rtol=1e-4, atol=1e-4):
    got = list(got) if isinstance(got, tuple) else [got]
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=atol,
                                   equal_nan=True)


@pytest.mark.parametrize("level", [0, 1, 2, 3])
@pytest.mark.parametrize("name", ["mlp", "logistic", "control"])
def test_the_examples_agree_with_the_interpreter(name, level):
    module = hyc.compile(EXAMPLES / f"{name}.hy", level, target="gpu")
    tensor = parse_module(module.ir)
    for func in tensor.functions:
        args = random_arguments(func, level)
        try:
            want = Interpreter(tensor).call(func.sym_name, *args)
        except HycError:
            continue
        agree(module[func.sym_name](*args), want)


@pytest.mark.parametrize("seed", range(300))
def test_random_programs_agree_with_the_interpreter(seed):
    check_random_program(seed, seed % 4, target="gpu")


@pytest.mark.parametrize("shape", [(64, 64, 64), (70, 33, 130), (512, 1024, 256), (5, 7, 3)])
@pytest.mark.parametrize("dtype", ["f32", "f64", "i32"])
def test_tiled_matmuls_agree_with_numpy(dtype, shape):
    m, k, n = shape
    source = f"def f(a: {dtype}[M, K], b: {dtype}[K, N]) -> {dtype}[M, N]:\n    return a @ b\n"
    rng = np.random.default_rng(0)
    numpy_type = {"f32": np.float32, "f64": np.float64, "i32": np.int32}[dtype]
    a = rng.integers(-5, 5, (m, k)).astype(numpy_type)
    b = rng.integers(-5, 5, (k, n)).astype(numpy_type)
    agree(hyc.compile(source, target="gpu").f(a, b), [a @ b])


@pytest.mark.parametrize("n", [1, 33, 4097, 3_000_001])
@pytest.mark.parametrize("fold, reference", [("sum", np.sum), ("max", np.max), ("min", np.min)])
def test_block_reductions_agree_with_numpy(fold, reference, n):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    module = hyc.compile(f"def f(x: f32[N]) -> f32:\n    return {fold}(x)\n", target="gpu")
    assert module.f(x) == pytest.approx(reference(x), rel=1e-4, abs=1e-3)


def test_device_arrays_of_pytorch_and_cupy_are_used_in_place():
    torch = pytest.importorskip("torch")
    source = "def f(x: f32[N, 512], b: f32[512]) -> f32[N, 512]:\n    return relu(x * 2.0 + b)\n"
    module = hyc.compile(source, target="gpu")
    x = torch.randn(64, 512, device="cuda")
    b = torch.randn(512, device="cuda")
    y = module.f(x, b)
    assert isinstance(y, cuda.DeviceArray)
    as_torch = torch.as_tensor(y, device="cuda")
    assert as_torch.data_ptr() == y.buffer.address
    torch.testing.assert_close(as_torch, torch.relu(x * 2 + b))
    try:
        import cupy
    except ImportError:
        return
    np.testing.assert_allclose(cupy.asnumpy(cupy.asarray(y)), y.numpy())
    z = module.f(cupy.asarray(y), cupy.zeros(512, cupy.float32))
    np.testing.assert_allclose(z.numpy(), np.maximum(y.numpy() * 2, 0), rtol=1e-6)
    del y, z
    gc.collect()
