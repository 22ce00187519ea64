"""The compiled-code cache on disk: object code plus JSON metadata, never pickle.

An entry is keyed by everything that decides the machine code: the source text, the
optimization level, the target, the CPU's name and features, the versions of hyc, numpy and
LLVM, and the compiler's own files (their sizes and modification times). Writes are atomic
(a temporary file renamed into place). One digest covers every file of an entry (the
metadata, which the calls trust for types and sizes, and the object code): an entry that
fails to read, to parse or to match its digest is ignored and recompiled, never trusted.

The threat model (docs/backend.md, "Safety"): the cache holds machine code that hyc loads
and runs, so whoever can write to the directory can run code in every process that uses it.
The digest catches damage (a disk error, a truncated write, an edit by hand), not an
attacker, who can write a matching digest; the defence is the directory's permissions. As
pip and ccache do, hyc creates it private to its user (0700) and refuses to use one that
another user owns or that others may write to: it then compiles without the cache and warns
once.

Besides compiled modules, the cache keeps the runtime's pieces (keyed by the target) and the
host's description as LLVM gives it (``remembered``, keyed by a fingerprint of the machine),
so that a hit neither compiles nor loads LLVM.

``HYC_CACHE_DIR`` chooses the directory (default ``$XDG_CACHE_HOME/hyc`` or ``~/.cache/hyc``);
``HYC_CACHE_DIR=off`` turns the cache off. ``hyc --clear-cache`` or ``hyc.clear_cache()``
empties it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

FORMAT = 4


def cache_dir() -> Path | None:
    configured = os.environ.get("HYC_CACHE_DIR")
    if configured is not None:
        return None if configured.strip().lower() in ("", "off", "0", "none") else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hyc"


def entry_key(source: str, options: object, target: str) -> str:
    """``options``: the -O level and pipeline; ``target``: ``Target.identity()`` (CPU,
    features, LLVM version)."""
    import numpy

    from hyc import __version__
    identity = json.dumps([FORMAT, __version__, numpy.__version__, compiler_fingerprint(), source,
                           options, target])
    return hashlib.sha256(identity.encode()).hexdigest()


@functools.cache
def compiler_fingerprint() -> str:
    """A hash of the names, sizes and modification times of the compiler's own sources, so
    that an edited compiler (a development checkout) never reuses code that its previous self
    generated; reading their stat costs a fraction of a millisecond, their text several."""
    digest = hashlib.sha256()
    for package in ("hyc", "hyc.ir", "hyc.frontend", "hyc.passes", "hyc.codegen"):
        spec = importlib.util.find_spec(package)  # finds the files without importing them
        assert spec is not None and spec.origin is not None
        root = os.path.dirname(spec.origin)
        found = []
        for folder, subfolders, files in os.walk(root):  # os.walk: pathlib's is 3x slower
            subfolders[:] = [d for d in subfolders if d != "__pycache__"]
            found += [os.path.join(folder, f) for f in files if f.endswith((".py", ".c", ".lark"))]
        for path in sorted(found):
            stat = os.stat(path)  # as Python's own bytecode cache does: size and mtime
            name = os.path.relpath(path, root).replace(os.sep, "/")
            digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def digest(meta: dict, obj: bytes) -> str:
    """One hash over an entry's metadata (all but the digest itself) and its object code."""
    body = json.dumps({k: v for k, v in meta.items() if k != "digest"}, sort_keys=True)
    return hashlib.sha256(body.encode() + b"\0" + obj).hexdigest()


_warned: set[str] = set()


def trusted_dir(directory: Path, create: bool) -> bool:
    """Whether ``directory`` is this user's own and private from writers (created so when
    ``create``); a warning, once per directory, when it is not."""
    try:
        if create:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        status = directory.stat()
    except OSError:
        return False
    owner_ok = not hasattr(os, "getuid") or status.st_uid == os.getuid()
    if owner_ok and not status.st_mode & 0o022:
        return True
    if str(directory) not in _warned:
        _warned.add(str(directory))
        warnings.warn(f"hyc: not using the compiled-code cache {directory}: "
                      f"{'another user owns it' if not owner_ok else 'others may write to it'}, "
                      "and it holds machine code that hyc runs (chmod 700 it, or set "
                      "HYC_CACHE_DIR)", RuntimeWarning, stacklevel=3)
    return False


def load(key: str) -> tuple[dict, bytes] | None:
    """The metadata and object code of an entry, if it is there, intact and trusted."""
    directory = cache_dir()
    if directory is None or not directory.is_dir() or not trusted_dir(directory, create=False):
        return None
    try:
        meta = json.loads((directory / f"{key}.json").read_text())
        obj = (directory / f"{key}.o").read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("key") != key \
            or meta.get("digest") != digest(meta, obj):
        return None
    return meta, obj


def store(key: str, meta: dict, obj: bytes) -> None:
    """Write an entry (quietly skipped when the directory is not writable)."""
    directory = cache_dir()
    if directory is None:
        return
    meta = {**meta, "format": FORMAT, "key": key}
    meta["digest"] = digest(meta, obj)
    try:
        if not trusted_dir(directory, create=True):
            return
        _atomic_write(directory / f"{key}.o", obj)
        _atomic_write(directory / f"{key}.json", json.dumps(meta).encode())
    except OSError:
        pass


def remembered(name: str, fingerprint: str, compute: Callable[[], dict]) -> dict:
    """A fact about this machine that is slow to find (``compute()``), kept in the cache
    under ``name`` and the ``fingerprint`` of what decides it; computed every time when the
    cache is off."""
    key = hashlib.sha256(json.dumps(["fact", FORMAT, name, fingerprint]).encode()).hexdigest()
    found = load(key)
    if found is not None and isinstance(found[0].get("fact"), dict):
        return found[0]["fact"]
    value = compute()
    store(key, {"fact": value}, b"")
    return value


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def clear() -> None:
    directory = cache_dir()
    if directory is not None and directory.is_dir():
        shutil.rmtree(directory, ignore_errors=True)
