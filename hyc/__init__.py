"""hyc: a compiler toolchain for tensor programs.

The public Python API. The IR itself lives in ``hyc.ir``.
"""

from .codegen.compiled import compile_module as compile  # noqa: A001  (the spec's hyc.compile)
from .ir import HycError, parse_module, print_ir, verify
from .ir.interpreter import run as interpret

__version__ = "0.1.0"

__all__ = ["HycError", "compile", "parse_module", "print_ir", "verify", "interpret", "__version__"]
