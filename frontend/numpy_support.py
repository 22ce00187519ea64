"""The numpy that tracing understands, complete: importing this module installs it.

numpy_api.py has the tables of ufuncs and functions and numpy's protocols on ``Traced``;
numpy_shapes.py shapes, indexing, the operators and the array methods; numpy_math.py the math
built of several ops. Each imports only what it builds on (tracing.py, numpy_api.py), so the
modules form no import cycle; the tracing entry points (hyc/jitted.py, hyc/functions.py)
import this one.
"""

from . import numpy_api, numpy_math, numpy_shapes

__all__ = ["numpy_api", "numpy_math", "numpy_shapes"]
