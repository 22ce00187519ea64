"""Tiered compilation (HYC_TIERED=1): a quick first tier without LLVM's middle-end, the full -O
level compiled in a thread and swapped in; both tiers agree with the interpreter, calls
racing the swap are right, and the disk cache keeps the full code."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from random_ir import random_arguments, random_module

import hyc
from hyc.codegen import cache, driver
from hyc.ir import Interpreter
from hyc.ir.types import numpy_dtype, shape_of

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHAIN = ("def chain(a: f32[N], b: f32[N], c: f32[N]) -> f32[N]:\n"
         "    return relu(a * b + c) - 0.5 * c\n\n"
         "def total(a: f32[N]) -> f32:\n    return sum(exp(a))\n")


@pytest.fixture
def tiered(monkeypatch):
    monkeypatch.setenv("HYC_TIERED", "1")
    monkeypatch.setenv("HYC_CACHE_DIR", "off")


@pytest.fixture
def quick_only(tiered, monkeypatch):
    """Compiled modules keep their quick tier (the thread does nothing)."""
    monkeypatch.setattr(driver.Compilation, "_tier_up", lambda *args: None)


def _arguments(func, seed):
    """Random arguments, each dimension name one size (random_ir's own programs have none)."""
    rng = np.random.default_rng(seed)
    sizes: dict = {}
    args = []
    for t in func.type.inputs:
        shape = tuple(d if isinstance(d, int) else sizes.setdefault(d, 3) for d in shape_of(t))
        args.append(np.asarray(rng.standard_normal(shape)).astype(numpy_dtype(t)))
    return args if any(isinstance(d, str) for t in func.type.inputs for d in shape_of(t)) \
        else random_arguments(func, seed)


def _agree(module_source, seed=0):
    """Each function the module can call agrees with the interpreter (within f32's rounding
    of sums as large as the values summed: a matmul's order of additions differs)."""
    module = hyc.compile(module_source)
    tensor = hyc.parse_module(module.ir)
    for func in tensor.functions:
        if func.sym_name in module.uncallable:
            continue
        args = _arguments(func, seed)
        want = Interpreter(tensor).call(func.sym_name, *[a.copy() for a in args])
        got = module[func.sym_name](*args)
        for g, w in zip(got if isinstance(got, tuple) else (got,), want):
            w = np.asarray(w)
            assert np.asarray(g).dtype == w.dtype and np.shape(g) == w.shape
            finite = np.abs(w[np.isfinite(w)]) if w.dtype.kind == "f" else np.zeros(0)
            scale = float(finite.max()) if finite.size else 0.0  # (an infinity is compared as such)
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4 * max(scale, 1.0), equal_nan=True)
    return module


@pytest.mark.parametrize("source", [CHAIN, *sorted(str(p) for p in EXAMPLES.glob("*.hy"))])
def test_the_quick_tier_agrees_with_the_interpreter(quick_only, source):
    assert _agree(source).tier_up is not None


@pytest.mark.parametrize("seed", range(12))
def test_the_quick_tier_on_random_programs(quick_only, seed):
    _agree(random_module(seed), seed)


def test_the_full_tier_is_swapped_in(tiered):
    module = hyc.compile(CHAIN)
    quick_ir = module.llvm_ir
    x = np.linspace(-1, 1, 1000, dtype=np.float32)
    before = module.chain(x, x, x)
    assert module.wait_for_tier_up(120)
    assert module.llvm_ir != quick_ir  # LLVM's middle-end ran: its IR, not the raw one
    np.testing.assert_array_equal(module.chain(x, x, x), before)
    np.testing.assert_allclose(module.total(x), np.exp(x).sum(dtype=np.float32), rtol=1e-5)


def test_calls_racing_the_swap_are_right(tiered):
    module = hyc.compile(CHAIN.replace("0.5", "0.25"))
    x = np.linspace(-2, 2, 4096, dtype=np.float32)
    want = np.maximum(x * x + x, 0) - 0.25 * x
    wrong: list[str] = []

    def calls():
        for _ in range(300):
            got = module.chain(x, x, x)
            if not np.allclose(got, want, rtol=1e-6):
                wrong.append("a call gave a wrong result")

    threads = [threading.Thread(target=calls) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert module.wait_for_tier_up(120) and not wrong


def test_the_disk_cache_keeps_the_full_tier(tiered, monkeypatch, tmp_path):
    """The entry written is the full tier's; a new process loads it and does not tier."""
    monkeypatch.setenv("HYC_CACHE_DIR", str(tmp_path))
    source = CHAIN.replace("0.5", "0.75")
    first = hyc.compile(source)
    assert first.wait_for_tier_up(120)
    stored, _ = cache.load(driver.cache_key(source, 2, first.target, False, None))
    assert stored["llvm_ir"] == first.llvm_ir
    program = ("import hyc, numpy as np; m = hyc.compile(" + repr(source) + "); "
               "x = np.ones(4, np.float32); print(m.tier_up is None, m.llvm_ir == " +
               repr(first.llvm_ir) + ", m.chain(x, x, x).tolist())")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          check=True, env=os.environ)
    assert done.stdout.split()[:2] == ["True", "True"] and "[1.25, 1.25, 1.25, 1.25]" in done.stdout


def test_without_tiering_the_full_code_runs_from_the_start(monkeypatch):
    monkeypatch.delenv("HYC_TIERED", raising=False)
    module = hyc.compile(CHAIN.replace("0.5", "0.125"))
    assert module.tier_up is None and module.wait_for_tier_up(0)
