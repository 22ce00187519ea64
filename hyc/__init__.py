"""hyc: a compiler toolchain for tensor programs.

The public Python API. The IR itself lives in ``hyc.ir``.
"""

from .ir import HycError, parse_module, print_ir, verify
from .ir.interpreter import run as interpret

__version__ = "0.1.0"

__all__ = ["HycError", "parse_module", "print_ir", "verify", "interpret", "__version__"]
