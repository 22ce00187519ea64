"""Running compiled code beside the interpreter in tests: both must agree."""

import io

import numpy as np
import pytest
from oracle import assert_same_printout
from random_ir import random_arguments, random_module

import hyc
from hyc.codegen import jit
from hyc.codegen.driver import compile_module
from hyc.ir import HycError, Interpreter, print_ir


def run_native(module, name, args, opt_level=0):
    """Compile ``module`` (a copy: compiling bufferizes it) and call ``name``; also what it printed."""
    compiled = compile_module(print_ir(module, debuginfo=True), opt_level=opt_level)
    out = io.StringIO()
    jit.set_print_stream(out)
    try:
        result = compiled[name](*args)
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


def check_random_program(seed, level, target="cpu"):
    """A random module compiled at ``level`` computes and prints what the interpreter does."""
    module = random_module(seed, max_ops=8)
    try:
        compiled = hyc.compile(module, opt_level=level, target=target)
    except HycError as e:
        assert "result sizes that the arguments determine" in str(e)
        return
    for func in module.functions:
        if func.sym_name in compiled.uncallable:  # a '?' result: Python cannot size it
            assert "result sizes that the arguments determine" in str(compiled.uncallable[func.sym_name])
            continue
        args = random_arguments(func, seed)
        printed = io.StringIO()
        try:
            want = Interpreter(module, printed).call(func.sym_name, *args)
        except HycError:
            if level == 0:  # unoptimized, a run-time error stays an error
                with pytest.raises(ValueError):
                    compiled[func.sym_name](*args)
            continue
        got_printed = io.StringIO()
        jit.set_print_stream(got_printed)
        try:
            got = compiled[func.sym_name](*args)
        finally:
            jit.set_print_stream(None)
        got = list(got) if isinstance(got, tuple) else [] if got is None else [got]
        assert_same_printout(got_printed.getvalue(), printed.getvalue())
        for w, g in zip(want, got):
            w, g = np.asarray(w), np.asarray(g)
            assert w.dtype == g.dtype and w.shape == g.shape
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, equal_nan=True)
