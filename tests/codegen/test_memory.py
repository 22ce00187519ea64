"""Calling compiled code does not leak; compiling many distinct modules stays bounded."""

import os

import numpy as np
import pytest

import hyc

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                                reason="resident memory is read from /proc (Linux)")


def test_a_hundred_thousand_calls_do_not_grow_the_process():
    mod = hyc.compile(os.path.join(EXAMPLES, "mlp.hy"))
    rng = np.random.default_rng(0)
    shapes = [(1, 512), (512, 256), (256,), (256, 128), (128,), (128, 2), (2,)]
    args = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    out = np.empty((1, 2), np.float32)
    for _ in range(2000):  # warm up allocators and caches
        mod.mlp(*args)
    before = resident_bytes()
    for i in range(100_000):
        if i % 2:
            mod.mlp(*args)
        else:
            mod.mlp(*args, out=out)
    assert resident_bytes() - before < 1 << 20


def test_compiling_distinct_modules_keeps_memory_bounded():
    count = int(os.environ.get("HYC_COMPILE_COUNT", "60"))
    for i in range(5):
        hyc.compile(f"def f{i}(x: f32[N]) -> f32[N]:\n    return x * {i}.5 + 1.0\n")
    before = resident_bytes()
    for i in range(count):
        mod = hyc.compile(f"def g(x: f32[N]) -> f32[N]:\n    return relu(x * {i}.25 - 2.0)\n")
        assert mod.g(np.ones(3, np.float32))[0] == np.float32(max(0.0, i + 0.25 - 2.0))
    per_module = (resident_bytes() - before) / count
    # MCJIT keeps each module's code and LLVM state for the process (about 0.6 MiB here, alone;
    # less after other tests warm the allocators): what must not happen is growth per call or
    # Python-side copies of every stage piling up on top.
    assert per_module < 1024 * 1024, f"{per_module / 1024:.0f} KiB per compiled module"
