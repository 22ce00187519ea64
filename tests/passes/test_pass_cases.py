"""The textual-IR tests of every pass (tests/lit/passes), beyond their FileCheck lines.

Each ``*.hyir`` file there starts with ``// RUN: hyc-opt %s --pass-pipeline='...' | filecheck
%s``, which lit runs (tests/test_lit.py); its cases are separated by ``// -----``. Here each
case also goes through the pipeline in this process: the output parses back to itself, and
each function is run by the interpreter before and after, on random inputs: the pass must
not change what it computes or prints.
"""

import io
import re
from pathlib import Path

import numpy as np
import pytest
from random_ir import random_arguments

from hyc.ir import HycError, Interpreter, parse_module, print_ir, verify
from hyc.passes import PASSES, Instrumentation, PassManager, parse_pipeline
from hyc.passes.manager import import_gpu_passes
from hyc.tools.hyc_opt import split_input

CASES = Path(__file__).parent.parent / "lit" / "passes"
RUN = re.compile(r"^// RUN: hyc-opt %s .*--pass-pipeline='([^']*)' \| filecheck %s$", re.MULTILINE)


def cases():
    for path in sorted(CASES.glob("*.hyir")):
        pipeline = RUN.search(path.read_text()).group(1)
        for i, chunk in enumerate(split_input(path.read_text())):
            yield pytest.param(chunk, pipeline, id=f"{path.stem}-{i}")


def run_all(module, seed=0):
    outputs = {}
    for func in module.functions:
        out = io.StringIO()
        args = random_arguments(func, seed)
        try:
            results = Interpreter(module, out).call(func.sym_name, *args)
            # at the buffer level, what a function computes is what it wrote into its buffers
            results += tuple(a for a in args if isinstance(a, np.ndarray) and a.ndim)
        except HycError as e:
            results = (f"error: {e.diagnostics[0].message}",)
        outputs[func.sym_name] = ([np.asarray(r) if not isinstance(r, str) else r
                                   for r in results], out.getvalue())
    return outputs


@pytest.mark.parametrize("text,pipeline", list(cases()))
def test_pass_case(text, pipeline):
    module = parse_module(text, "case.hyir")
    verify(module)
    before = run_all(module)
    PassManager(parse_pipeline(pipeline), Instrumentation(verify_each=True)).run(module)
    output = print_ir(module)
    assert print_ir(parse_module(output)) == output
    if "bufferize" in pipeline:
        return  # results become arguments; test_bufferize.py compares the two levels
    after = run_all(module)
    for name, (want, printed) in before.items():
        if any(isinstance(w, str) for w in want):
            continue  # the original fails at run time; nothing to preserve
        got, got_printed = after[name]
        assert got_printed == printed
        for w, g in zip(want, got):
            np.testing.assert_allclose(g, w, rtol=1e-6, equal_nan=True)


def test_every_pass_has_a_case_file():
    import_gpu_passes()
    tested = set()
    for path in CASES.glob("*.hyir"):
        for pipeline in RUN.findall(path.read_text()):
            tested.update(p.name for p in parse_pipeline(pipeline))
    assert {name for name in PASSES if not name.startswith("test-")} - tested == set()
