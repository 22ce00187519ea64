"""The CUDA runtime (codegen/cuda.py) without a GPU: against a stand-in for the driver
bindings (tests/fake_cuda.py) whose kernels are gpu-sim's, the plans of the examples and of
random programs give the interpreter's answers through the real runtime's copies and kernel
parameters, and every buffer is freed; the errors of a missing package, driver or GPU, and of
failing driver calls, are clear. tests/gpu/ runs the same on a real GPU."""

import sys
from pathlib import Path

import numpy as np
import pytest
from cli_run import run_hyc
from fake_cuda import INVALID_VALUE, LAUNCH_FAILED, NO_DEVICE, FakeDriver
from native import check_random_program
from random_ir import random_arguments, random_module

import hyc
from hyc.codegen import cuda
from hyc.codegen.driver import Compilation
from hyc.codegen.gpu_sim import simulated_device
from hyc.codegen.nvptx import gpu_target
from hyc.codegen.plan import build_plan
from hyc.ir import HycError, parse_module

EXAMPLES = Path(__file__).parent.parent.parent / "examples"


def install(monkeypatch, driver):
    monkeypatch.setattr(cuda, "driver_api", lambda: driver)
    cuda.gpu_context.cache_clear()


@pytest.fixture(autouse=True)
def fresh_context():
    cuda.gpu_context.cache_clear()
    yield
    cuda.gpu_context.cache_clear()


def fake_gpu(monkeypatch, source, level=2, **options):
    """A fake driver whose kernels are those ``source`` compiles to, run by gpu-sim."""
    gpu_level = Compilation(source, level, gpu_target()).target_loops()
    plan = build_plan(gpu_level, None, "sm_80")
    driver = FakeDriver(plan["kernels"], simulated_device(gpu_level).launchers, **options)
    install(monkeypatch, driver)
    return driver


@pytest.mark.parametrize("level", [0, 2, 3])
def test_the_mlp_runs_through_the_runtime_like_numpy(monkeypatch, level):
    driver = fake_gpu(monkeypatch, EXAMPLES / "mlp.hy", level)
    module = hyc.compile(EXAMPLES / "mlp.hy", level, target="gpu")
    rng = np.random.default_rng(level)
    shapes = [(70, 512), (512, 256), (256,), (256, 128), (128,), (128, 2), (2,)]
    x, w1, b1, w2, b2, w3, b3 = [(rng.standard_normal(s) * 0.1).astype(np.float32) for s in shapes]
    want = np.maximum(np.maximum(x @ w1 + b1, 0) @ w2 + b2, 0) @ w3 + b3
    np.testing.assert_allclose(module.mlp(x, w1, b1, w2, b2, w3, b3), want, rtol=1e-4, atol=1e-4)
    assert driver.launches >= 3 and "cuMemcpyHtoD" in driver.calls and "cuMemcpyDtoH" in driver.calls
    assert not driver.memory  # every buffer freed: the arguments', the results', the plan's


@pytest.mark.parametrize("seed", range(8))
def test_random_programs_run_through_the_runtime_like_the_interpreter(monkeypatch, seed):
    driver = fake_gpu(monkeypatch, random_module(seed, max_ops=8), seed % 4)
    check_random_program(seed, seed % 4, target="gpu")
    assert not driver.memory


def test_device_buffers_describe_themselves_for_cupy_and_torch(monkeypatch):
    fake_gpu(monkeypatch, EXAMPLES / "logistic.hy")
    device = cuda.CudaDevice(Compilation(EXAMPLES / "logistic.hy", 2, gpu_target()).stage("ptx"),
                             [])
    buffer = device.upload(np.arange(6, dtype=np.float64).reshape(2, 3))
    interface = buffer.__cuda_array_interface__
    assert interface["shape"] == (2, 3) and interface["typestr"] == "<f8"
    assert interface["data"] == (buffer.address, False)
    np.testing.assert_array_equal(device.to_host(buffer), np.arange(6.0).reshape(2, 3))
    assert device.read(buffer, (1, 2)) == 5.0
    device.write(buffer, (0, 1), np.float64(-1))
    assert device.to_host(buffer)[0, 1] == -1
    with pytest.raises(ValueError, match=r"index \(2, 0\) out of bounds"):
        device.read(buffer, (2, 0))
    device.close()


def test_without_the_bindings_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cuda.bindings", None)
    with pytest.raises(HycError, match=r"pip install 'hyc\[gpu\]' \(cuda-bindings\); "
                                       r"--target=gpu-sim runs the same kernels"):
        hyc.compile(EXAMPLES / "mlp.hy", target="gpu")


def test_without_a_driver_or_a_gpu_the_error_says_so(monkeypatch):
    driver = FakeDriver([], {})

    def no_library(flags):
        raise RuntimeError('"cuda" is an NVIDIA driver library and can only be found via '
                           'system search')
    driver._cuInit = no_library  # the bindings' error where libcuda.so is missing
    install(monkeypatch, driver)
    with pytest.raises(HycError, match="no NVIDIA driver on this machine .*--target=gpu-sim"):
        hyc.compile(EXAMPLES / "mlp.hy", target="gpu")
    install(monkeypatch, FakeDriver([], {}, devices=0))
    with pytest.raises(HycError, match="the CUDA driver sees no GPU; --target=gpu-sim"):
        hyc.compile(EXAMPLES / "mlp.hy", target="gpu")
    failing = FakeDriver([], {})
    failing.fail["cuInit"] = NO_DEVICE
    install(monkeypatch, failing)
    with pytest.raises(HycError, match="no usable CUDA driver or GPU: cuInit failed: "
                                       "CUDA_ERROR_NO_DEVICE"):
        hyc.compile(EXAMPLES / "mlp.hy", target="gpu")


def test_a_failing_launch_names_the_kernel(monkeypatch):
    driver = fake_gpu(monkeypatch, EXAMPLES / "logistic.hy")
    module = hyc.compile(EXAMPLES / "logistic.hy", target="gpu")
    driver.fail["cuLaunchKernel"] = LAUNCH_FAILED
    func = parse_module(module.ir).functions[0]
    args = random_arguments(func, 1)
    with pytest.raises(cuda.CudaError, match=r"launching kernel \w+ on a grid \(\d+, 1, 1\) of "
                                             r"blocks \(\d+, 1, 1\) failed: "
                                             r"CUDA_ERROR_LAUNCH_FAILED"):
        module[func.sym_name](*args)
    assert not driver.memory  # freed on the way out too


def test_ptx_the_driver_refuses_is_a_clear_error(monkeypatch):
    driver = fake_gpu(monkeypatch, EXAMPLES / "mlp.hy")
    driver.fail["cuModuleLoadData"] = INVALID_VALUE
    with pytest.raises(cuda.CudaError, match=r"loading the PTX \(cuModuleLoadData\) failed: "
                                             r"CUDA_ERROR_INVALID_VALUE"):
        hyc.compile(EXAMPLES / "mlp.hy", target="gpu")


def test_hyc_run_target_gpu(monkeypatch, capsys):
    fake_gpu(monkeypatch, EXAMPLES / "fancy.hy")
    status, out, err = run_hyc([EXAMPLES / "fancy.hy", "--run", "--target=gpu"], capsys)
    assert (status, out.strip()) == (0, "10.0"), err


def test_jit_target_gpu(monkeypatch):
    def affine(x, w, b):
        return np.maximum(x @ w + b, 0)

    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((70, 80), (80, 90), (90,)))
    fake_gpu(monkeypatch, hyc.jit(affine).lower(x, w, b).module)
    got = hyc.jit(affine, target="gpu")(x, w, b)
    np.testing.assert_allclose(got, affine(x, w, b), rtol=1e-4, atol=1e-4)


class Foreign:
    """A device array of another library (CuPy, PyTorch): only its interface."""

    def __init__(self, buffer, strides=None):
        self.__cuda_array_interface__ = {**buffer.__cuda_array_interface__, "strides": strides}


def test_device_arrays_go_in_and_out_without_copies(monkeypatch):
    source = "def f(x: f32[N, 8], s: f32) -> f32[N, 8]:\n    return relu(x * s)\n"
    driver = fake_gpu(monkeypatch, source)
    module = hyc.compile(source, target="gpu")
    x = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    on_device = module.to_device(x)
    assert isinstance(on_device, cuda.DeviceArray) and on_device.shape == (5, 8)
    uploads = driver.calls.count("cuMemcpyHtoD")
    y = module.f(on_device, 2.0)
    z = module.f(Foreign(y.buffer), np.float32(0.5))  # another library's view of a result
    assert driver.calls.count("cuMemcpyHtoD") == uploads  # nothing copied in
    assert isinstance(z, cuda.DeviceArray) and "cuCtxSynchronize" in driver.calls
    assert z.__cuda_array_interface__["stream"] == 0x5EA  # where a consumer waits for it
    np.testing.assert_allclose(np.asarray(z), np.maximum(x, 0), rtol=1e-6)
    np.testing.assert_allclose(module.f(x, 2.0), y.numpy())  # host arrays: host results
    with pytest.raises(TypeError, match=r"argument 'x' of @f is a device array of float64"):
        module.f(module.to_device(x.astype(np.float64)), 1.0)
    with pytest.raises(ValueError, match="argument 'x' of @f has shape"):
        module.f(module.to_device(x[0]), 1.0)
    with pytest.raises(ValueError, match="hyc takes C-contiguous device arrays"):
        module.f(Foreign(y.buffer, strides=(4, 32)), 1.0)
    del on_device, y, z
    import gc
    gc.collect()
    assert len(driver.memory) == 0  # each device array's memory freed with it


def test_the_gpu_benchmark_runs_on_gpu_sim(tmp_path, capsys):
    """benchmarks/gpu.py --smoke: tiny sizes on gpu-sim, so that the script a GPU machine runs
    (tests/gpu/check.sh) does not rot where there is none."""
    import importlib.util
    path = Path(__file__).parents[2] / "benchmarks" / "gpu.py"
    spec = importlib.util.spec_from_file_location("gpu_benchmark", path)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    assert benchmark.main(["--smoke", "--json", str(tmp_path / "bench.json")]) == 0
    import json
    report = json.loads((tmp_path / "bench.json").read_text())
    units = [s["unit"] for s in report["sections"]]
    assert units == ["us/call", "samples/s", "GB/s", "TFLOP/s"]
    assert all(row.get("median_s", 0) > 0 for s in report["sections"] for row in s["rows"].values())
    assert "B1  MLP, batch 1" in capsys.readouterr().out
