"""The buffer level computes what the tensor level computes: random programs, the
examples, and the run-time checks that replace out-of-bounds accesses."""

import io
import os
from pathlib import Path

import numpy as np
import pytest
from oracle import assert_same_printout, run_bufferized
from random_ir import random_arguments, random_module

from hyc.frontend.irgen import compile_source
from hyc.ir import HycError, Interpreter, InterpreterError, parse_module, print_ir
from hyc.passes import Instrumentation, PassManager, optimize, parse_pipeline

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
COUNT = int(os.environ.get("HYC_DIFFERENTIAL", "300")) // 3
LOWER = "bufferize,canonicalize,cse,dce"


def bufferized(module):
    copy = parse_module(print_ir(module, debuginfo=True))
    PassManager(parse_pipeline(LOWER), Instrumentation(verify_each=True)).run(copy)
    text = print_ir(copy)
    assert print_ir(parse_module(text)) == text
    return copy


@pytest.mark.parametrize("seed", range(COUNT))
@pytest.mark.parametrize("level", [0, 2])
def test_random_programs_agree_with_their_buffer_level(seed, level):
    module = random_module(seed, max_ops=8)
    optimize(module, level)
    try:
        lowered = bufferized(module)
    except HycError as e:  # a call of a function whose result size no argument determines
        assert "needs result sizes known from the arguments" in str(e)
        return
    for func in module.functions:
        args = random_arguments(func, seed)
        out = io.StringIO()
        try:
            want = Interpreter(module, out).call(func.sym_name, *args)
        except HycError:
            continue
        printed = io.StringIO()
        got = run_bufferized(lowered, func.sym_name, args, want, out=printed)
        assert_same_printout(printed.getvalue(), out.getvalue())
        for w, g in zip(want, got):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("example,entry,inputs", [
    ("mlp.hy", "mlp", [(3, 512), (512, 256), (256,), (256, 128), (128,), (128, 2), (2,)]),
    ("control.hy", "power", [(4,), "n"]),
    ("control.hy", "normalize", [(5,), "limit"]),
    ("logistic.hy", "train", [(6, 3), (6,), "n", "limit"]),
])
def test_examples_agree_with_their_buffer_level(example, entry, inputs):
    module = compile_source((EXAMPLES / example).read_text(), example)
    optimize(module, 2)
    rng = np.random.default_rng(0)
    args = [np.int32(3) if i == "n" else np.float32(0.5) if i == "limit" else
            (rng.standard_normal(i) * 0.3).astype(np.float32) for i in inputs]
    want = Interpreter(module).call(entry, *args)
    got = run_bufferized(bufferized(module), entry, args, want)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_run_time_size_mismatches_are_checked_before_any_access():
    module = parse_module("func.func @f(%a: tensor<?xf32>, %b: tensor<?xf32>) -> tensor<?xf32> {\n"
                          "  %c = hy.add %a, %b : tensor<?xf32>\n"
                          "  func.return %c : tensor<?xf32>\n}\n", "sizes.hyir")
    lowered = bufferized(module)
    a, b = np.ones(3, np.float32), np.ones(4, np.float32)
    with pytest.raises(InterpreterError, match="hy.add: operand sizes differ at run time") as e:
        run_bufferized(lowered, "f", [a, b], [a])
    assert e.value.loc.line == 2
    with pytest.raises(InterpreterError, match="returns a value of another size"):
        run_bufferized(lowered, "f", [a, a], [b])


def test_every_op_on_tensors_has_a_bufferization_rule():
    """A new tensor op needs its rule (or the Elementwise trait): this lists the ones that
    lack it; bufferize reports such an op at its location instead of copying it."""
    from hyc.ir import OPS
    from hyc.ir.opdef import Elementwise
    from hyc.passes.bufferization import RULES
    structural = {"hy.yield", "hy.print"} | {n for n in OPS if not n.startswith("hy.")}
    missing = [name for name, cls in OPS.items() if name not in structural
               and cls not in RULES and Elementwise not in cls.traits]
    assert missing == []


def test_an_op_without_a_rule_is_a_located_error(monkeypatch):
    from hyc.ir import HycError
    from hyc.ir.dialects import hy
    from hyc.passes import bufferization as bufferize_ops
    monkeypatch.delitem(bufferize_ops.RULES, hy.TransposeOp)
    module = parse_module("func.func @f(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {\n"
                          "  %y = hy.transpose %x {perm = [1, 0]} : (tensor<2x3xf32>) -> tensor<3x2xf32>\n"
                          "  func.return %y : tensor<3x2xf32>\n}\n", "t.hyir")
    with pytest.raises(HycError, match=r"t\.hyir:2:3: error\[E0804\]: .*no rule for 'hy.transpose'"):
        bufferized(module)
