"""Targets: llc's --mcpu/--mattr/--mtriple choose portable and cross builds, every stage
asks the target (math table, vector width, target machine), and the cache key and the C
header record it."""

import platform
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from cli_run import run_hyc
from clib import needs_cc, run_mlp_from_c
from file_check import filecheck

import hyc
from hyc.codegen import jit
from hyc.codegen.driver import Compilation
from hyc.codegen.symbols import kernel_symbol
from hyc.codegen.target import CPU_MATH, cpu_target, host_cpu
from hyc.ir import HycError
from hyc.record import replace

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
X86 = platform.machine() in ("x86_64", "AMD64")
needs_x86 = pytest.mark.skipif(not X86, reason="x86-64 CPU names (x86-64-v2) need an x86-64 host")

TANH = "def f(x: f32[4]) -> f32[4]:\n    return tanh(x) * 2.0\n"


cli = run_hyc


def test_the_default_target_is_this_machine():
    target = cpu_target()
    assert target == host_cpu() and target.host and not target.flags
    assert target.vector_bits in (256, 512)


def test_an_aarch64_object_is_an_aarch64_elf_object(tmp_path, capsys):
    out = tmp_path / "mlp.o"
    status, _, err = cli([EXAMPLES / "mlp.hy", "--emit=obj", "--mtriple=aarch64-linux-gnu",
                          "-o", out], capsys)
    assert status == 0, err
    data = out.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2  # ELF, 64-bit
    assert int.from_bytes(data[18:20], "little") == 183  # e_machine: EM_AARCH64
    if shutil.which("readelf"):
        header = subprocess.run(["readelf", "-h", str(out)], capture_output=True, text=True).stdout
        assert "AArch64" in header and "REL (Relocatable file)" in header
    if shutil.which("file"):
        described = subprocess.run(["file", str(out)], capture_output=True, text=True).stdout
        assert "aarch64" in described.lower()


def test_aarch64_assembly_calls_libm_for_math(capsys):
    status, asm, err = cli([EXAMPLES / "logistic.hy", "--emit=asm",
                            "--mtriple=aarch64-linux-gnu"], capsys)
    assert status == 0, err
    filecheck(asm, r"""
        CHECK: .text
        CHECK: bl{{\s+}}expf
    """)


@needs_x86
def test_a_baseline_cpu_build_uses_no_wide_vectors(capsys):
    status, asm, err = cli([EXAMPLES / "mlp.hy", "--emit=asm", "--mcpu=x86-64-v2"], capsys)
    assert status == 0, err
    assert "xmm" in asm and "ymm" not in asm and "zmm" not in asm
    status, asm, _ = cli([EXAMPLES / "mlp.hy", "--emit=asm", "--mcpu=x86-64-v2", "--mattr=+avx2"],
                         capsys)
    assert status == 0 and "ymm" in asm


@needs_cc
@needs_x86
def test_a_baseline_cpu_library_runs_and_its_header_says_so(tmp_path, capsys):
    status, _, err = cli([EXAMPLES / "mlp.hy", "--emit=lib", "--mcpu=x86-64-v2", "-o",
                          tmp_path / "mlp.so"], capsys)
    assert status == 0, err
    header = (tmp_path / "mlp.h").read_text()
    assert "cpu x86-64-v2 (chosen by --mcpu=x86-64-v2)" in header
    got, want = run_mlp_from_c(tmp_path, 7)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@needs_x86
@pytest.mark.parametrize("level", [0, 3])
def test_a_portable_target_from_python_gives_numpys_answers(level):
    mod = hyc.compile(EXAMPLES / "mlp.hy", level, target=hyc.cpu_target(mcpu="x86-64-v2"))
    assert "x86-64-v2" in mod.target.cpu
    rng = np.random.default_rng(2)
    shapes = [(5, 512), (512, 256), (256,), (256, 128), (128,), (128, 2), (2,)]
    x, w1, b1, w2, b2, w3, b3 = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    want = np.maximum(np.maximum(x @ w1 + b1, 0) @ w2 + b2, 0) @ w3 + b3
    np.testing.assert_allclose(mod.mlp(x, w1, b1, w2, b2, w3, b3), want, rtol=1e-4, atol=1e-4)
    assert any(key[1] == level and "x86-64-v2" in key[2] for key in list(jit._cache.keys()))
    # the runtime's matmul kernel for that CPU, not the host's, is the one linked in
    assert kernel_symbol(mod.target, "f32") in jit._state["kernels"]
    assert kernel_symbol(mod.target, "f32") != kernel_symbol(hyc.cpu_target(), "f32")


@pytest.mark.parametrize("flags,message", [
    (["--mcpu=no-such-cpu"], "LLVM knows no such CPU"),
    (["--mattr=+no-such-feature"], "LLVM knows no feature '+no-such-feature'"),
    (["--mattr=avx2"], "each feature is +NAME or -NAME"),
    (["--mtriple=nowhere-at-all"], "LLVM has no target for this triple"),
    (["--mtriple=aarch64-linux-gnu", "--run", "--random-args"], "cannot run on this"),
    (["--target=tpu"], "invalid choice"),
])
def test_bad_target_flags_are_clear_errors(flags, message, capsys):
    status, _, err = cli([EXAMPLES / "fancy.hy", "--emit=obj", "-o", "/dev/null", *flags]
                         if "--run" not in flags else [EXAMPLES / "fancy.hy", *flags], capsys)
    assert status in (1, 2) and message in err


@needs_x86
def test_a_cpu_without_64_bit_mode_is_an_error_not_an_abort(capsys):
    status, _, err = cli([EXAMPLES / "fancy.hy", "--emit=asm", "--mcpu=i386"], capsys)
    assert status == 1 and "LLVM cannot generate code" in err


def test_an_unknown_target_name_from_python():
    with pytest.raises(HycError, match="unknown target 'tpu'"):
        hyc.compile(TANH, target="tpu")
    with pytest.raises(HycError, match="unknown target"):
        hyc.jit(lambda x: x, target="tpu")


def test_a_math_function_the_target_lacks_is_a_located_error():
    """Checked before LLVM sees the module (the NVPTX backend aborts the process on an
    intrinsic it cannot select)."""
    lacking = replace(host_cpu(), math={k: v for k, v in CPU_MATH.items() if k != "tanh"})
    with pytest.raises(HycError, match=r"'hy.tanh' needs the math function 'tanh'") as info:
        Compilation(TANH, 2, lacking).stage("llvm-raw")
    assert info.value.diagnostics[0].loc.line == 2
    np.testing.assert_allclose(hyc.compile(TANH).f(np.ones(4, np.float32)), 2 * np.tanh(1.0),
                               rtol=1e-6)


def test_the_cache_key_records_the_target(tmp_path, monkeypatch):
    monkeypatch.setenv("HYC_CACHE_DIR", str(tmp_path))
    source = "def f(a: f32[3]) -> f32[3]:\n    return a * 3.0\n"
    def modules() -> int:  # entries of compiled modules (not the runtime's)
        return sum('"runtime"' not in p.read_text() for p in tmp_path.glob("*.json"))

    hyc.compile(source)
    hyc.compile(source)
    assert modules() == 1
    if X86:
        hyc.compile(source, target=hyc.cpu_target(mcpu="x86-64-v2"))
        assert modules() == 2


def test_gpu_sim_runs_from_the_command_line(capsys):
    status, out, err = cli([EXAMPLES / "fancy.hy", "--run", "--target=gpu-sim"], capsys)
    assert status == 0, err
    assert out.strip() == "10.0"
    status, out, _ = cli([EXAMPLES / "mlp.hy", "--emit=target", "--target=gpu-sim"], capsys)
    assert status == 0 and "gpu.launch" in out and "attributes {kernel = true}" in out
    status, _, err = cli([EXAMPLES / "fancy.hy", "--run", "--target=gpu-sim",
                          "--mcpu=x86-64-v2"], capsys)
    assert status == 1 and "--mcpu choose(s) a CPU: they go with --target=cpu" in err


def test_gpu_sim_from_python_and_jit():
    mod = hyc.compile(TANH, target="gpu-sim")
    x = np.linspace(-2, 2, 4, dtype=np.float32)
    np.testing.assert_allclose(mod.f(x), np.tanh(x) * 2, rtol=1e-6)
    f = hyc.jit(lambda a, b: np.maximum(a @ b, 0), target="gpu-sim")
    a, b = np.ones((3, 5), np.float32), np.full((5, 2), -0.5, np.float32)
    np.testing.assert_allclose(f(a, b), np.maximum(a @ b, 0))


def test_a_hybridized_block_on_gpu_sim():
    from hyc import nn
    net = nn.Sequential(nn.Dense(8, activation="relu"), nn.Dense(3))
    net.initialize()
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    eager = net(x)
    net.hybridize(target="gpu-sim")
    np.testing.assert_allclose(net(x), eager, rtol=1e-5, atol=1e-6)
