"""hyc check: compiled results against eager ones, and the pass or stage where a planted
miscompile starts — a test-only pass that breaks one op, a wrong fold, a wrong LLVM rule —
named with the source line of the first value that differs; agreement on the examples."""

import re
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from cli_run import run_hyc

import hyc
import hyc.passes.rewrite as rewrite
from hyc.codegen import scalar_ops
from hyc.codegen.check import check
from hyc.ir import Builder
from hyc.ir.attributes import DenseAttr
from hyc.ir.dialects import hy
from hyc.passes import LEVELS, PASSES, Pass
from hyc.record import record

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
PROGRAM = """\
def f(a: f32[N], b: f32[N]) -> f32[N]:
    s = a * b
    t = s + 2.0
    return t - a
"""


@pytest.fixture(autouse=True)
def no_disk_cache(monkeypatch):
    """The planted miscompiles must not reach the disk cache, where later tests compiling
    the same source would find their machine code."""
    monkeypatch.setenv("HYC_CACHE_DIR", "off")


def mlp_arguments():
    rng = np.random.default_rng(0)
    shapes = [(3, 512), (512, 256), (256,), (256, 128), (128,), (128, 2), (2,)]
    return [(rng.standard_normal(s) * 0.1).astype(np.float32) for s in shapes]


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_the_mlp_agrees_at_every_level(level):
    result = check(EXAMPLES / "mlp.hy", "mlp", mlp_arguments(), level)
    assert result.agreed and result.compared >= 3
    assert "compiled agrees with eager (1 result(s)" in result.report()


def test_the_examples_agree_on_gpu_sim():
    assert check(EXAMPLES / "mlp.hy", "mlp", mlp_arguments(), 2, "gpu-sim").agreed
    x = np.linspace(-1, 1, 5).astype(np.float32)
    assert check(EXAMPLES / "control.hy", "normalize", [x, np.float32(0.5)], 2, "gpu-sim").agreed


@record
class BreakTheAdd(Pass):
    """A miscompile, planted: the function's first hy.add becomes a hy.sub."""
    name: ClassVar[str] = "break-the-add"

    def run(self, module):
        add = next(op for op in module.walk() if isinstance(op, hy.AddOp))
        b = Builder(loc=add.loc)
        b.set_insertion_point_before(add)
        sub = b.create(hy.SubOp, list(add.operands))
        add.result.replace_all_uses_with(sub.result)
        add.erase()


def test_a_pass_that_breaks_an_op_is_named_with_the_line(monkeypatch, tmp_path):
    monkeypatch.setitem(PASSES, "break-the-add", BreakTheAdd)
    monkeypatch.setitem(LEVELS, 2, "canonicalize,break-the-add,cse")
    source = tmp_path / "f.hy"
    source.write_text(PROGRAM)
    a, b = np.arange(4, dtype=np.float32), np.full(4, 3, np.float32)
    result = check(source, "f", [a, b], 2)
    assert not result.agreed and result.mismatched == [0]
    report = result.report()
    assert "it starts in pass 'break-the-add' (#2, of -O2)" in report
    assert re.search(r"first value that differs: .*f\.hy:3:11: eager \[\s*2\.\s+5\.\s+8\.\s+11\.\], "
                     r"then \[-2\.\s+1\.\s+4\.\s+7\.\]", report), report
    assert "t = s + 2.0" in report  # the source line
    assert "-    %t = hy.add %s, %2" in report and "+    %3 = hy.sub %s, %2" in report  # its change


def test_a_wrong_fold_is_found_in_canonicalize(monkeypatch):
    folds = rewrite.fold_constants

    def wrong(op):
        folded = folds(op)
        if folded and isinstance(op, hy.AddOp):
            return [DenseAttr.from_values(a.type, a.array + 1) for a in folded]
        return folded

    monkeypatch.setattr(rewrite, "fold_constants", wrong)
    result = check(EXAMPLES / "fancy.hy", "main", [], 2)  # print(fancy_func(1.0, ...))
    assert not result.agreed
    report = result.report()
    assert "it starts in pass 'canonicalize' (#2, of -O2)" in report  # after inline
    assert f"{EXAMPLES / 'fancy.hy'}:3:" in report and "return a + b" in report
    assert "+    %g = hy.constant {value = dense<13.0>" in report


def test_a_wrong_llvm_rule_is_found_below_the_ir(monkeypatch):
    monkeypatch.setitem(scalar_ops.RULES, hy.SubOp, scalar_ops._binary("fadd", "add"))
    # text no other test compiles: no cached machine code from before the planted rule
    source = PROGRAM.replace("def f", "def planted_llvm_rule")
    a, b = np.arange(4, dtype=np.float32), np.full(4, 3, np.float32)
    result = check(source, "planted_llvm_rule", [a, b], 2)
    assert not result.agreed and result.mismatched == [0]
    assert "it starts in hyc's code generation" in result.report()


def test_hyc_check_from_the_command_line(capsys, tmp_path, monkeypatch):
    status, out, _ = run_hyc(["check", EXAMPLES / "mlp.hy", "--random-args", "--dim", "N=2",
                              "-O3"], capsys)
    assert status == 0 and "@mlp at -O3 for cpu: compiled agrees with eager" in out
    monkeypatch.setitem(PASSES, "break-the-add", BreakTheAdd)
    monkeypatch.setitem(LEVELS, 1, "break-the-add")
    source = tmp_path / "f.hy"
    source.write_text(PROGRAM)
    status, out, _ = run_hyc(["check", source, "--random-args", "-O1"], capsys)
    assert status == 1 and "pass 'break-the-add'" in out
    status, _, err = run_hyc(["check", source, "--emit=ir"], capsys)
    assert status == 1 and "--emit do(es) not go with it" in err
    status, _, err = run_hyc(["check", source], capsys)
    assert status == 1 and "missing argument 'a' of @f" in err


def test_hyc_check_of_a_python_function():
    def affine(x, w):
        return np.maximum(x @ w + 1.0, 0.0) - x.sum()

    x, w = np.ones((3, 4), np.float32), np.full((4, 5), 0.5, np.float32)
    result = hyc.check(affine, x, w, opt_level=3)
    assert result.agreed and np.allclose(result.compiled[0], affine(x, w))
    with pytest.raises(hyc.HycError, match="needs entry='function'"):
        hyc.check(EXAMPLES / "mlp.hy", *mlp_arguments())


def test_hyc_check_of_a_block():
    from hyc import nn
    net = nn.Sequential(nn.Dense(16, activation="relu"), nn.Dense(4))
    net.initialize()
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    result = hyc.check(net, x, opt_level=3)  # its parameters as they are
    assert result.agreed and result.entry == "Sequential"
    np.testing.assert_allclose(result.compiled[0], net(x), rtol=1e-5, atol=1e-6)
