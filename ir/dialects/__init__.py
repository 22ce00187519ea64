"""All dialects; importing this package registers every op."""

from . import buf, builtin, func, hy, scf  # noqa: F401
