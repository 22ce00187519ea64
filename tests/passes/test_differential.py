"""Random well-typed programs (control flow, calls, prints) give the same results at every
optimization level, and under every pass alone, as unoptimized; hundreds in CI and
``HYC_DIFFERENTIAL=5000`` for a longer run."""

import io
import os

import numpy as np
import pytest
from random_ir import random_arguments, random_module

from hyc.ir import HycError, Interpreter, parse_module, print_ir
from hyc.passes import LEVELS, LOWER_TO_LOOPS, PASSES, Instrumentation, PassManager, parse_pipeline
from hyc.passes.manager import import_gpu_passes

COUNT = int(os.environ.get("HYC_DIFFERENTIAL", "300"))


def outcomes(module, seed):
    results = {}
    for func in module.functions:
        out = io.StringIO()
        try:
            values = Interpreter(module, out).call(func.sym_name, *random_arguments(func, seed))
            results[func.sym_name] = ([np.asarray(v) for v in values], out.getvalue())
        except HycError as e:
            results[func.sym_name] = None  # a run-time error: optimizations may remove it
            del e
    return results


def assert_same(want, got):
    for name, expected in want.items():
        if expected is None:
            continue
        assert got[name] is not None, f"@{name} fails after optimization"
        values, printed = got[name]
        assert printed == expected[1], f"@{name} prints differently"
        for w, g in zip(expected[0], values):
            assert w.dtype == g.dtype and w.shape == g.shape
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, equal_nan=True)


def optimized(module, pipeline):
    copy = parse_module(print_ir(module))
    PassManager(parse_pipeline(pipeline), Instrumentation(verify_each=True)).run(copy)
    text = print_ir(copy)
    assert print_ir(parse_module(text)) == text  # every stage prints and parses back
    return copy


@pytest.mark.parametrize("seed", range(COUNT))
def test_levels_agree(seed):
    module = random_module(seed)
    want = outcomes(module, seed)
    for level in (1, 2, 3):
        assert_same(want, outcomes(optimized(module, LEVELS[level]), seed))


import_gpu_passes()
# bufferize changes the calling convention (results become arguments): tested on its own
TENSOR_PASSES = sorted(n for n in PASSES if n != "bufferize" and not n.startswith("test-"))


@pytest.mark.parametrize("pass_name", TENSOR_PASSES)
def test_each_pass_alone_preserves_results(pass_name):
    for seed in range(1000, 1000 + COUNT // 5):
        module = random_module(seed)
        assert_same(outcomes(module, seed), outcomes(optimized(module, pass_name), seed))


@pytest.mark.parametrize("pass_name", ["canonicalize", "cse", "dce", "licm"])
def test_a_pass_that_says_it_changed_nothing_changed_nothing(pass_name):
    """After a pass whose run() returns False the pass manager skips the verifier: the claim
    must hold, on random programs before and after the -O2 pipeline and the lowering."""
    said_unchanged = 0
    for seed in range(2000, 2000 + COUNT // 5):
        for pipeline in ("", LEVELS[2], LEVELS[2] + "," + LOWER_TO_LOOPS):
            module = optimized(random_module(seed), pipeline) if pipeline else random_module(seed)
            before = print_ir(module, debuginfo=True)
            (only,) = parse_pipeline(pass_name)
            if only.run(module) is False:
                said_unchanged += 1
                assert print_ir(module, debuginfo=True) == before, (seed, pipeline)
    assert said_unchanged  # the claim is made, and checked


def test_the_verifier_runs_after_the_passes_that_changed_something(monkeypatch):
    from hyc.passes import manager
    verified = []
    monkeypatch.setattr(manager, "verify", lambda module: verified.append(True))
    module = random_module(7)
    PassManager(parse_pipeline("canonicalize,cse,dce")).run(module)  # changes something
    assert verified
    verified.clear()
    PassManager(parse_pipeline("canonicalize,cse,dce,licm")).run(module)  # at its fixed point
    assert not verified
    PassManager(parse_pipeline("inline")).run(module)  # says nothing: verified
    assert verified
