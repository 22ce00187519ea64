"""hyc: a compiler toolchain for tensor programs.

The public Python API. The IR itself lives in ``hyc.ir``; the backends load on first use, so
``import hyc`` stays light.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .ir import HycError, parse_module, print_ir, verify
from .ir.interpreter import run as interpret

if TYPE_CHECKING:
    from .codegen.compiled import CompiledModule
    from .ir import ModuleOp

__version__ = "0.1.0"


def compile(source: str | os.PathLike[str] | ModuleOp, opt_level: int = 2,  # noqa: A001
            target: str = "cpu") -> CompiledModule:
    """Compile a model (a path, .hy or .hyir source text, or a module) to native code for
    this machine; each function becomes a callable on numpy arrays."""
    from .codegen.compiled import compile_module
    return compile_module(source, opt_level, target)


def clear_cache() -> None:
    """Empty the compiled-code cache on disk (``HYC_CACHE_DIR``)."""
    from .codegen import cache
    cache.clear()


__all__ = ["HycError", "compile", "clear_cache", "parse_module", "print_ir", "verify",
           "interpret", "__version__"]
