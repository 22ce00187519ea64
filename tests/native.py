"""Running compiled code beside the interpreter in tests: both must agree."""

import io

import numpy as np

from hyc.codegen import jit
from hyc.codegen.compiled import compile_module
from hyc.ir import HycError, print_ir


def run_native(module, name, args, opt_level=0):
    """Compile ``module`` (a copy: compiling bufferizes it) and call ``name``; also what it printed."""
    compiled = compile_module(print_ir(module, debuginfo=True), opt_level=opt_level)
    out = io.StringIO()
    jit.set_print_stream(out)
    try:
        result = getattr(compiled, name)(*args)
    finally:
        jit.set_print_stream(None)
    values = list(result) if isinstance(result, tuple) else [] if result is None else [result]
    return values, out.getvalue()


def assert_native_agrees(module, name, args, want, opt_level=0):
    try:
        got, _ = run_native(module, name, args, opt_level)
    except HycError as e:
        if "result sizes that the arguments determine" in str(e):
            return  # a '?' result: compiled functions need sizes the arguments give
        raise
    for w, g in zip(want, got):
        w, g = np.asarray(w), np.asarray(g)
        assert w.dtype == g.dtype and w.shape == g.shape, (w.dtype, g.dtype, w.shape, g.shape)
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, equal_nan=True)
