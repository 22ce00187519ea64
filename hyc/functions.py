"""Functions that work on numpy arrays (eagerly) and on traced values (as one hy op each)."""

from __future__ import annotations

from typing import Any

import numpy as np

from hyc.frontend.numpy_support import numpy_api
from hyc.frontend.tracing import Traced
from hyc.ir.dialects import hy


def where(condition: Any, x: Any, y: Any) -> Any:
    """``np.where(condition, x, y)``: elementwise choice, traced or not."""
    return np.where(condition, x, y)


def relu(x: Any) -> Any:
    """``max(x, 0)``."""
    if isinstance(x, Traced):
        return numpy_api.activation(hy.ReluOp, x, "relu")
    return np.maximum(x, 0)


def sigmoid(x: Any) -> Any:
    """``1 / (1 + exp(-x))``."""
    if isinstance(x, Traced):
        return numpy_api.activation(hy.SigmoidOp, x, "sigmoid")
    x = np.asarray(x)
    return 1 / (1 + np.exp(-x))


def softmax(x: Any, axis: int = -1) -> Any:
    """``exp(x - max) / sum(exp(x - max))`` along ``axis``."""
    if isinstance(x, Traced):
        return numpy_api.activation(hy.SoftmaxOp, x, "softmax", axis=axis)
    x = np.asarray(x)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
