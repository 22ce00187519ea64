"""The disk cache: a second compile in a fresh process loads object code instead of running
LLVM; damaged entries are recompiled, never trusted; the cache can be turned off and cleared."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hyc.tools import hyc

ROOT = Path(__file__).parent.parent.parent
SCRIPT = ("import hyc, numpy as np, time\n"
          "t = time.perf_counter()\n"
          "m = hyc.compile('examples/mlp.hy')\n"
          "y = m.mlp(*[np.ones(s, np.float32) for s in [(2, 512), (512, 256), (256,), "
          "(256, 128), (128,), (128, 2), (2,)]])\n"
          "print(float(y.sum()))\n"
          "import sys; print('llvmlite.binding' in sys.modules)\n")


def run_compile(cache_dir, extra_env=None, loads_llvm=None):
    """The MLP's result in a fresh process; ``loads_llvm``: whether LLVM must have been
    loaded (a disk-cache hit needs it not)."""
    env = {"HYC_CACHE_DIR": str(cache_dir), "PATH": "/usr/bin:/bin", **(extra_env or {})}
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    result, loaded = done.stdout.split()
    assert loads_llvm is None or loaded == str(loads_llvm)
    return float(result)


def entries(cache_dir):
    """The module's entry, the runtime's pieces and the host's description (each: its object
    file, its metadata)."""
    found = {}
    for meta in cache_dir.glob("*.json"):
        content = json.loads(meta.read_text())
        kind = content.get("runtime") or ("host" if "fact" in content else "module")
        assert kind not in found
        found[kind] = (meta.with_suffix(".o"), meta)
    # the runtime's base (thread pool, SIGINT hook) and the f32 matmul kernel the MLP calls;
    # the host as LLVM names it, so that a hit need not load LLVM
    assert set(found) == {"module", "base", "matmul f32", "host"}
    assert len(list(cache_dir.iterdir())) == 2 * len(found)
    return found


def test_second_compile_comes_from_the_cache(tmp_path):
    first = run_compile(tmp_path, loads_llvm=True)
    stamps = {kind: obj.stat().st_mtime_ns for kind, (obj, _) in entries(tmp_path).items()}
    assert run_compile(tmp_path, loads_llvm=False) == first
    # all read, not rewritten: the runtime's pieces are cached too
    assert {kind: obj.stat().st_mtime_ns for kind, (obj, _) in entries(tmp_path).items()} == stamps


@pytest.mark.parametrize("kind", ["module", "base", "matmul f32"])
def test_damaged_entries_are_recompiled(tmp_path, kind):
    first = run_compile(tmp_path)
    obj, meta = entries(tmp_path)[kind]
    obj.write_bytes(b"\x7fELF garbage")
    assert run_compile(tmp_path) == first
    assert obj.read_bytes()[:4] == b"\x7fELF" and len(obj.read_bytes()) > 100
    meta.write_text("{not json")
    assert run_compile(tmp_path) == first


def test_the_host_as_llvm_names_it_is_remembered_per_machine(tmp_path, monkeypatch):
    from hyc.codegen import target
    monkeypatch.setenv("HYC_CACHE_DIR", str(tmp_path))
    asked, llvm_says = [], target._ask_llvm

    def ask_llvm():
        asked.append(1)
        return llvm_says()

    def facts():
        target.host_facts.cache_clear()
        try:
            return target.host_facts()
        finally:
            target.host_facts.cache_clear()  # the process's own answer for the other tests
    monkeypatch.setattr(target, "_ask_llvm", ask_llvm)
    assert facts() == llvm_says() and len(asked) == 1
    assert facts() == llvm_says() and len(asked) == 1  # remembered: not asked
    (_, meta), = [(o, m) for o, m in entries_of(tmp_path)]
    meta.write_text(meta.read_text().replace("avx", "AVX"))  # damaged: asked again
    assert facts() == llvm_says() and len(asked) == 2
    fingerprint = target._host_fingerprint()
    monkeypatch.setattr(target, "_host_fingerprint", lambda: fingerprint + "\nmodel : other")
    assert facts() == llvm_says() and len(asked) == 3  # another machine: asked
    assert len(entries_of(tmp_path)) == 2


def entries_of(cache_dir):
    return [(meta.with_suffix(".o"), meta) for meta in cache_dir.glob("*.json")]


def test_cache_off_and_clear(tmp_path, monkeypatch):
    run_compile(tmp_path / "c", {"HYC_CACHE_DIR": "off"})
    assert not (tmp_path / "c").exists()
    run_compile(tmp_path / "d")
    assert any((tmp_path / "d").iterdir())
    monkeypatch.setenv("HYC_CACHE_DIR", str(tmp_path / "d"))
    assert hyc.main(["--clear-cache"]) == 0
    assert not (tmp_path / "d").exists()


def test_an_edited_compiler_does_not_reuse_old_entries(monkeypatch):
    from hyc.codegen import cache
    key = cache.entry_key("def f(a: f32) -> f32:\n    return a\n", 2, "cpu|machine")
    assert key == cache.entry_key("def f(a: f32) -> f32:\n    return a\n", 2, "cpu|machine")
    monkeypatch.setattr(cache, "compiler_fingerprint", lambda: "edited")
    assert key != cache.entry_key("def f(a: f32) -> f32:\n    return a\n", 2, "cpu|machine")


def test_damaged_metadata_is_recompiled_not_trusted(tmp_path):
    """The metadata says what the machine code computes on (types, sizes): an entry whose
    metadata was edited (f32 turned into f64) fails its digest and is compiled again."""
    first = run_compile(tmp_path)
    _, meta = entries(tmp_path)["module"]
    meta.write_text(meta.read_text().replace("f32", "f64"))
    assert run_compile(tmp_path) == first
    assert "xf64" not in meta.read_text()


def test_a_cache_others_may_write_to_is_not_used(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    script = ("import warnings, hyc, numpy as np\n"
              "with warnings.catch_warnings(record=True) as caught:\n"
              "    warnings.simplefilter('always')\n"
              "    m = hyc.compile('def f(a: f32) -> f32:\\n    return a + 1.0\\n')\n"
              "print(m.f(np.float32(1)), [str(w.message) for w in caught])\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={"HYC_CACHE_DIR": str(shared), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert "2.0" in done.stdout and "others may write to it" in done.stdout
    assert list(shared.iterdir()) == []


def test_a_new_cache_directory_is_private(tmp_path):
    run_compile(tmp_path / "fresh")
    assert (tmp_path / "fresh").stat().st_mode & 0o777 == 0o700
