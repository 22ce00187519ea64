"""All dialects; importing this package registers every op."""

from . import buf, builtin, func, gpu, hy, scf  # noqa: F401
