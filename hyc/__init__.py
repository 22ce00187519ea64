"""hyc: a compiler toolchain for tensor programs.

The public Python API. The IR itself lives in ``hyc.ir``; the backends load on first use, so
``import hyc`` stays light.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .ir import HycError, parse_module, print_ir, verify
from .ir.interpreter import run as interpret

if TYPE_CHECKING:
    from .codegen.compiled import CompiledModule
    from .codegen.target import Target
    from .ir import ModuleOp

__version__ = "0.1.0"


def compile(source: str | os.PathLike[str] | ModuleOp, opt_level: int = 2,  # noqa: A001
            target: str | Target = "cpu") -> CompiledModule:
    """Compile a model (a path, .hy or .hyir source text, or a module) to native code for
    this machine (``target``: "cpu", or a ``hyc.cpu_target(mcpu=..., mattr=...)``); each
    function becomes a callable on numpy arrays."""
    from .codegen.driver import compile_module
    return compile_module(source, opt_level, target)


def jit(fn: Callable[..., Any] | None = None, *, opt_level: int = 2, target: str | Target = "cpu",
        dynamic: dict[str, Any] | None = None) -> Any:
    """Compile a numpy function by tracing it, once per argument signature:
    ``hyc.jit(f)``, ``@hyc.jit`` or ``@hyc.jit(opt_level=3, dynamic={"x": [0]})``.
    See docs/python.md."""
    from .jitted import jit as make
    return make(fn, opt_level=opt_level, target=target, dynamic=dynamic)


def check(fn: Callable[..., Any] | str | os.PathLike[str] | ModuleOp, *args: Any,
          entry: str | None = None, opt_level: int = 2, target: str | Target = "cpu") -> Any:
    """Compare a function compiled (``opt_level``, ``target``) with its eager run on ``args``
    and, where they differ, name the pass that causes it: ``hyc.check(f, x, w)`` for a numpy
    function (its array arguments traced), ``hyc.check(net, x)`` for an ``nn`` block (its
    parameters as they are), or ``hyc.check("model.hy", x, entry="f")``.
    Returns a result with ``agreed`` and ``report()``; docs/debugging.md."""
    import numpy as np

    from .codegen.check import check as run_check
    if hasattr(fn, "forward") and hasattr(fn, "named_parameters"):  # an nn block
        from .jitted import JitFunction
        traced = JitFunction(fn.forward, opt_level, target, name=type(fn).__name__,
                             parameter_names=fn._parameter_ids)  # type: ignore[union-attr]
        traced(*args)
        spec = traced.latest
        assert spec is not None
        arrays = [args[i] for i in spec.array_positions] + [np.asarray(p.data) for p in spec.params]
        return run_check(spec.module, spec.function.name, arrays, opt_level, target)
    if callable(fn):
        arrays = [a for a in args if isinstance(a, (np.ndarray, np.generic))]
        lowered = jit(fn).lower(*args)
        return run_check(lowered.module, lowered.name, arrays, opt_level, target)
    if entry is None:
        raise HycError("hyc.check of a model file or module needs entry='function'", code="E1205")
    return run_check(fn, entry, list(args), opt_level, target)


# The rest of the API loads its backend on first use (PEP 562), keeping ``import hyc`` light.
_LAZY = {"Benchmark": "jitted", "JitFunction": "jitted", "Lowered": "jitted", "load": "saved",
         "where": "functions", "relu": "functions", "sigmoid": "functions",
         "softmax": "functions", "Target": "codegen.target", "cpu_target": "codegen.target"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    if name == "nn":
        import importlib
        return importlib.import_module(f"{__name__}.nn")
    raise AttributeError(f"module 'hyc' has no attribute '{name}'")


def clear_cache() -> None:
    """Empty the compiled-code cache on disk (``HYC_CACHE_DIR``)."""
    from .codegen import cache
    cache.clear()


__all__ = ["Benchmark", "HycError", "Target", "check", "compile", "clear_cache", "cpu_target", "jit", "load",
           "nn", "parse_module",
           "print_ir", "verify", "interpret", "where", "relu", "sigmoid", "softmax", "__version__"]
