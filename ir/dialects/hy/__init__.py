"""The ``hy`` tensor dialect: value-semantics ops on scalars and tensors."""

from . import elementwise, fused, linalg, printing, tensor  # noqa: F401  (registers the ops)
from .elementwise import *  # noqa: F401,F403
from .fused import FusedMatmulOp, FusedOp  # noqa: F401
from .fused import YieldOp as HyYieldOp  # noqa: F401
from .linalg import *  # noqa: F401,F403
from .printing import *  # noqa: F401,F403
from .tensor import *  # noqa: F401,F403
