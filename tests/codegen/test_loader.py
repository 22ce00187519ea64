"""codegen/loader.py: the JIT's objects mapped into the process without ORC, their code freed
with them; what it does not take (or cannot trust) refused, and ORC links it instead."""

import gc
import random

import numpy as np
import pytest

import hyc
from hyc.codegen import jit, loader
from hyc.codegen.target import host_cpu

pytestmark = pytest.mark.skipif(not loader.supported(), reason="the loader is x86-64 Linux's")

SOURCE = """
def f(x: f32[N], y: f32[N, 4]) -> f32[4]:
    return (exp(x) * 0.5 + where(x > 0.0, x, -x)) @ y
"""


def mappings() -> list[tuple[int, int, str]]:
    with open("/proc/self/maps") as f:
        rows = [line.split()[:2] for line in f]
    return [(int(r[0].split("-")[0], 16), int(r[0].split("-")[1], 16), r[1]) for r in rows]


def permissions(address: int) -> str:
    return next(p for lo, hi, p in mappings() if lo <= address < hi)


def object_code(source: str, shared: bool = False) -> tuple[bytes, list[str]]:
    """A module's object file and exported names, compiled as the JIT does (or as for a
    shared library: position-independent, through a GOT)."""
    from hyc.codegen.driver import Compilation
    compilation = Compilation(source, 2, "cpu", shared=shared)
    compilation.entries = True
    module = compilation.machine_module()
    names = [f.name for f in module.functions if not f.is_declaration and f.linkage.name == "external"]
    with jit.llvm_lock:
        return compilation.target_machine().emit_object(module), names


def test_compiled_code_runs_from_the_loader_with_numpys_answers():
    mod = hyc.compile("def g(x: f32[N, 3], w: f32[3, 2]) -> f32[N, 2]:\n"
                      "    return relu(tanh(x) @ w + 0.25)\n")
    assert isinstance(mod.g._code[0].tracker, loader.LoadedObject)
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((9, 3), np.float32), rng.standard_normal((3, 2), np.float32)
    np.testing.assert_allclose(mod.g(x, w), np.maximum(np.tanh(x) @ w + 0.25, 0), rtol=1e-5,
                               atol=1e-6)


def test_code_is_executable_not_writable_and_unmapped_when_unused():
    mod = hyc.compile("def h(x: f32[N]) -> f32[N]:\n    return x * 3.0 - 1.5\n")
    holder = mod.h._code[0].tracker
    base, size = holder.base, holder.size
    assert permissions(mod.h._code[0].addresses[min(mod.h._code[0].addresses)]) == "r-xp"
    np.testing.assert_array_equal(mod.h(np.ones(2, np.float32)), [1.5, 1.5])
    del mod, holder
    gc.collect()
    assert not any(lo < base + size and base < hi for lo, hi, _ in mappings())


def test_what_the_loader_does_not_take_goes_to_orc(monkeypatch):
    # position-independent code reaches symbols through a GOT, which the loader does not build
    obj, names = object_code("def p(x: f32[N]) -> f32[N]:\n    return x + 2.0\n", shared=True)
    with pytest.raises(loader.Unsupported):
        loader.load(obj, lambda name: loader.process_symbol(name, jit._runtime_symbols()))
    with jit.llvm_lock:
        holder = jit._link(obj, names, host_cpu())
    assert not isinstance(holder, loader.LoadedObject) and all(holder[n] for n in names)


def test_orc_links_everything_where_the_loader_is_unavailable(monkeypatch):
    monkeypatch.setattr(loader, "supported", lambda: False)
    mod = hyc.compile("def q(x: f32[N], w: f32[N, 5]) -> f32[5]:\n    return tanh(x) @ w\n",
                      opt_level=1)
    assert not isinstance(mod.q._code[0].tracker, loader.LoadedObject)
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(7, np.float32), rng.standard_normal((7, 5), np.float32)
    np.testing.assert_allclose(mod.q(x, w), np.tanh(x) @ w, rtol=1e-5, atol=1e-5)


def test_an_undefined_symbol_is_refused_not_left_at_zero():
    obj, _ = object_code("def r(x: f32[N]) -> f32[N]:\n    return exp(x)\n")
    with pytest.raises(loader.Unsupported, match="undefined symbol"):
        loader.load(obj, lambda name: 0)


def test_damaged_objects_are_refused_or_loaded_never_crash():
    obj, _ = object_code(SOURCE)
    resolve = lambda name: loader.process_symbol(name, jit._runtime_symbols())  # noqa: E731
    rng = random.Random(5)
    for cut in (0, 3, 16, 63, 64, len(obj) // 2, len(obj) - 1):
        with pytest.raises(loader.Unsupported):
            loader.load(obj[:cut], resolve)
    outcomes = set()
    for _ in range(400):  # bytes flipped anywhere: the header, the tables, the code
        damaged = bytearray(obj)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        try:
            loader.load(bytes(damaged), resolve)  # mapped and unmapped, never run
            outcomes.add("loaded")
        except loader.Unsupported:
            outcomes.add("refused")
    assert outcomes == {"loaded", "refused"}
