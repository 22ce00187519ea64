"""All dialects; importing this package registers every op."""

from . import builtin, func, hy, scf  # noqa: F401
