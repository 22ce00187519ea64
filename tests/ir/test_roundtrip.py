"""Text form: print(parse(print(m))) == print(m) for every op, both forms, with locations."""

import os
from pathlib import Path

import numpy as np
import pytest
from file_check import filecheck
from random_ir import random_arguments, random_module

from hyc.ir import OPS, Interpreter, parse_module, print_ir, verify

HERE = Path(__file__).parent
OPS_FILE = HERE / "ops.hyir"
BUF_OPS_FILE = HERE / "buf_ops.hyir"
EXAMPLES = sorted((HERE.parent.parent / "examples").glob("*.hyir"))


def roundtrip(text: str, **flags: bool) -> str:
    module = parse_module(text)
    verify(module)
    printed = print_ir(module, **flags)
    again = parse_module(printed)
    verify(again)
    assert print_ir(again, **flags) == printed
    return printed


def test_every_registered_op_appears_in_the_op_sample():
    used = {op.name for path in (OPS_FILE, BUF_OPS_FILE)
            for op in parse_module(path.read_text(), str(path)).walk()}
    assert set(OPS) - used == set(), "ops without a round-trip sample in tests/ir/*ops.hyir"


@pytest.mark.parametrize("path", [OPS_FILE, BUF_OPS_FILE, *EXAMPLES], ids=lambda p: p.name)
@pytest.mark.parametrize("flags", [{}, {"generic": True}, {"debuginfo": True},
                                   {"generic": True, "debuginfo": True}], ids=str)
def test_files_roundtrip(path, flags):
    roundtrip(path.read_text(), **flags)


def test_generic_and_default_forms_describe_the_same_module():
    text = OPS_FILE.read_text()
    default = roundtrip(text)
    generic = roundtrip(text, generic=True)
    assert print_ir(parse_module(generic)) == default
    filecheck(generic, '''
        CHECK: "builtin.module"() ({
        CHECK: "func.func"() {function_type = (tensor<2x3xf32>
        CHECK-SAME: sym_name = "elementwise"} ({
        CHECK-NEXT: ^bb0(%a: tensor<2x3xf32>
        CHECK: %0 = "hy.add"(%a, %b) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
        CHECK: }) : () -> ()
    ''')


def test_default_form_shortens_uniform_signatures():
    printed = roundtrip(OPS_FILE.read_text())
    filecheck(printed, '''
        CHECK: func.func @elementwise(%a: tensor<2x3xf32>
        CHECK: %0 = hy.add %a, %b : tensor<2x3xf32>
        CHECK: %lt = hy.lt %a, %b : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xi1>
        CHECK: func.func @shapes(%x: tensor<?x4xf32>, %s: f64) -> tensor<?xf32> {
        CHECK: hy.constant {value = dense<{{\\[\\[1.0, 2.0\\], \\[3.0, 4.0\\]\\]}}> : tensor<2x2xf32>}
        CHECK: scf.for %zero, %n, %one, %x ({
        CHECK-NEXT: ^bb0(%iv: index, %acc: tensor<3xf32>):
        CHECK: scf.if %flag ({
        CHECK: }, {
    ''')


def test_locations_print_and_parse_back():
    text = ('func.func @f(%a: f32) -> f32 {\n'
            '  %b = hy.neg %a : f32 loc("model.hy":3:7)\n'
            '  %c = hy.neg %b : f32 loc(fused["model.hy":4:1, "other.hy":9:2])\n'
            '  func.return %c : f32 loc(unknown)\n}\n')
    printed = roundtrip(text, debuginfo=True)
    filecheck(printed, '''
        CHECK: hy.neg %a : f32 loc("model.hy":3:7)
        CHECK-NEXT: hy.neg %b : f32 loc(fused["model.hy":4:1, "other.hy":9:2])
        CHECK-NEXT: func.return %c : f32 loc(unknown)
    ''')
    module = parse_module(text, "input.hyir")
    assert module.functions[0].loc.primary().line == 1  # parsed ops get their position


def test_ops_without_explicit_location_point_into_the_ir_file():
    module = parse_module("func.func @f(%a: f32) -> f32 {\n  %b = hy.neg %a : f32\n"
                          "  func.return %b : f32\n}\n", "x.hyir")
    neg = module.functions[0].body.ops[0]
    assert (neg.loc.filename, neg.loc.line, neg.loc.col) == ("x.hyir", 2, 3)
    assert 'loc("x.hyir":2:3)' in print_ir(module, debuginfo=True)


RANDOM_COUNT = int(os.environ.get("HYC_RANDOM_MODULES", "300"))


@pytest.mark.parametrize("seed", range(RANDOM_COUNT))
def test_random_modules_roundtrip_verify_and_run_the_same(seed):
    module = random_module(seed)
    verify(module)
    printed = print_ir(module)
    reparsed = parse_module(printed)
    verify(reparsed)
    assert print_ir(reparsed) == printed
    assert print_ir(parse_module(print_ir(module, generic=True))) == printed
    for func in module.functions:
        args = random_arguments(func, seed)
        want = _run(module, func.sym_name, args)
        got = _run(reparsed, func.sym_name, args)
        assert want[1] == got[1]  # printed output
        for w, g in zip(want[0], got[0]):
            np.testing.assert_array_equal(w, g)


def _run(module, name, args):
    import io
    out = io.StringIO()
    try:
        return Interpreter(module, out).call(name, *args), out.getvalue()
    except Exception as e:  # a run-time error must be the same error on both sides
        message = e.diagnostics[0].message if hasattr(e, "diagnostics") else str(e)
        return (), f"{type(e).__name__}: {message}"  # (text parsed back has locations)
