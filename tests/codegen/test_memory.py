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

    def compile_some(first: int, number: int) -> None:
        for i in range(first, first + number):
            mod = hyc.compile(f"def g(x: f32[N]) -> f32[N]:\n    return relu(x * {i}.25 - 2.0)\n")
            assert mod.g(np.ones(3, np.float32))[0] == np.float32(max(0.0, i + 0.25 - 2.0))
            del mod
    compile_some(0, 40)  # the allocators' and LLVM's one-time growth
    before = resident_bytes()
    compile_some(40, count)
    per_module = (resident_bytes() - before) / count
    # A module's code is unmapped with it (codegen/loader.py), its LLVM context and pass
    # pipeline freed after its compile: what stays is about 1.5 KiB of LLVM's per pass
    # pipeline, and the allocators' growth, which flattens out: about 30 KiB a module over
    # this window, 1 KiB a module from the 500th on (docs/backend.md). Before those fixes a
    # module kept 100-160 KiB.
    assert per_module < 64 * 1024, f"{per_module / 1024:.0f} KiB per compiled module"


def test_machine_code_lives_as_long_as_what_calls_it():
    import gc
    import weakref

    mod = hyc.compile("def h(x: f32[N]) -> f32[N]:\n    return x * 7.0 + 0.5\n", opt_level=1)
    code = weakref.ref(mod.h._code[0])
    tracker = weakref.ref(mod.h._code[0].tracker)  # ORC's hold on the library
    h = mod.h
    del mod
    gc.collect()
    assert code() is not None  # the function still holds its module's code
    np.testing.assert_array_equal(h(np.ones(2, np.float32)), [7.5, 7.5])
    del h
    gc.collect()
    assert code() is None and tracker() is None  # the library was disposed
