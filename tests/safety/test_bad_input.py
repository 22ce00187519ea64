"""Bad input gets a located error, never an internal one: empty modules, huge numbers, odd
line separators, deep nesting (issue items 6 to 9)."""

import sys

import numpy as np
import pytest

import hyc
from hyc.frontend.irgen import compile_source
from hyc.ir import HycError, parse_module, print_ir, verify
from hyc.tools import hyc as hyc_tool
from hyc.tools import hyc_opt


def run_tool(main, argv, capsys):
    status = main(argv)
    captured = capsys.readouterr()
    assert "internal error" not in captured.err and "Traceback" not in captured.err
    return status, captured.out, captured.err


# -- empty modules -----------------------------------------------------------------------------
def test_an_empty_program_makes_an_empty_module_every_tool_accepts(tmp_path, capsys):
    (tmp_path / "empty.hy").write_text("")
    status, out, _ = run_tool(hyc_tool.main, [str(tmp_path / "empty.hy")], capsys)
    assert status == 0 and out.split() == ["module", "{", "}"]
    (tmp_path / "empty.hyir").write_text(out)
    assert run_tool(hyc_opt.main, [str(tmp_path / "empty.hyir")], capsys)[:2] == (0, out)
    status, out, _ = run_tool(hyc_tool.main, [str(tmp_path / "empty.hy"), "--emit=loops"], capsys)
    assert status == 0 and "module" in out
    status, _, err = run_tool(hyc_tool.main, [str(tmp_path / "empty.hy"), "--run"], capsys)
    assert status == 1 and "no function to run" in err
    assert hyc.compile("").functions == {}


def test_hyc_load_of_an_empty_model_is_a_clear_error(tmp_path):
    (tmp_path / "m.hyir").write_text("module {\n}\n")
    np.savez(tmp_path / "m.npz")
    with pytest.raises(HycError, match="one function, found 0"):
        hyc.load(tmp_path / "m")


@pytest.mark.parametrize("text", ['"builtin.module"() ({}) : () -> ()\n',
                                  'func.func @f() {\n  "scf.if"(%c) ({}, {}) : (i1) -> ()\n}\n'])
def test_regions_without_a_block_are_verifier_errors(text):
    with pytest.raises(HycError):
        verify(parse_module(text))


# -- huge numbers ------------------------------------------------------------------------------
@pytest.mark.parametrize("source,message", [
    ("def f() -> i32:\n    return " + "9" * 5000 + "\n", "5000 digits"),
    ("def f() -> i32:\n    t = 0\n    for i in range(18446744073709551616):\n        t = t + 1\n"
     "    return t\n", "does not fit in 64 bits"),
    ("def f(x: f32) -> f32:\n    return x + " + "9" * 400 + "\n", "does not fit in f32"),
    ("def f(x: f32[99999999999999999999]) -> f32:\n    return sum(x)\n", "too large"),
    ("def f(x: f32[100000, 100000, 100000]) -> f32:\n    return sum(x)\n", "too many"),
    ("def f() -> f32:\n    return sum(zeros((10000, 10000, 10000)))\n", "too large to build"),
    ("def f() -> i64:\n    return 9223372036854775808\n", "does not fit in i64"),
])
def test_huge_numbers_in_hy_are_located_errors(source, message):
    with pytest.raises(HycError, match=message) as caught:
        compile_source(source, "huge.hy")
    assert caught.value.diagnostics[0].loc.primary()


@pytest.mark.parametrize("text,message", [
    ("func.func @f(%x: tensor<" + "9" * 10000 + "xf32>) {\n  func.return\n}\n", "too large"),
    ("func.func @f() {\n  %c = hy.constant {value = dense<" + "9" * 5000 + "> : i32} : i32\n"
     "  func.return\n}\n", "digits"),
    ("func.func @f(%x: tensor<100000x100000x100000xf32>) {\n  func.return\n}\n", "too many"),
])
def test_huge_numbers_in_ir_are_located_errors(text, message):
    with pytest.raises(HycError, match=message):
        parse_module(text, "huge.hyir")


# -- line separators ---------------------------------------------------------------------------
@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x0c", "\x1c", "\x0b"])
def test_unicode_line_separators_in_comments_are_just_characters(separator):
    source = f"def f(x: f32) -> f32:\n    y = x # note{separator}zz\n    return y\n"
    mod = hyc.compile(source)
    assert mod.f(np.float32(2)) == 2


def test_a_separator_outside_a_comment_is_a_located_error():
    with pytest.raises(HycError) as caught:
        compile_source("def f(x: f32) -> f32:\n    y = x\u2028\n    return y\n", "sep.hy")
    assert caught.value.diagnostics[0].loc.primary()


# -- nesting -----------------------------------------------------------------------------------
DEEP = "def f(x: f32) -> f32:\n    return " + "relu(" * 5000 + "x" + ")" * 5000 + "\n"


def call_at_depth(depth, fn):
    if depth:
        return call_at_depth(depth - 1, fn)
    return fn()


@pytest.mark.parametrize("depth", [0, 500, 900])
def test_deep_nesting_is_the_same_error_from_any_caller(depth):
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(max(saved, 2000))
    try:
        with pytest.raises(HycError, match="nested too deeply"):
            call_at_depth(depth, lambda: compile_source(DEEP, "deep.hy"))
    finally:
        sys.setrecursionlimit(saved)


def test_hundreds_of_nested_ifs_compile_print_and_run():
    body = "".join("    " * (i + 1) + "if x > 0.0:\n" for i in range(250))
    source = f"def f(x: f32) -> f32:\n{body}{'    ' * 251}x = x + 1.0\n    return x\n"
    module = compile_source(source, "ifs.hy")
    text = call_at_depth(800, lambda: print_ir(module))
    assert text.count("scf.if") == 250
    assert hyc.compile(source).f(np.float32(1)) == 2
