"""Bad .hy programs: each gives `file:line:col: error[CODE]: message`, the line and a caret,
exit 1."""

import re

import pytest

from hyc.ir.error_codes import registry
from hyc.tools import hyc

# (name, line, column, message, source)
BAD_PROGRAMS = [
    ('missing_colon', 1, 21, 'expected',
     'def f(x: f32) -> f32\n    return x\n'),
    ('incomplete_expression', 2, 15, 'unexpected end of line',
     'def f(x: f32) -> f32:\n    return x +\n'),
    ('unexpected_indent', 3, 9, 'unexpected indent',
     'def f(x: f32) -> f32:\n    y = x\n        return y\n'),
    ('while_loop', 2, 5, "'while' loops are not part of the .hy language",
     'def f(x: f32) -> f32:\n    while x > 0.0:\n        x = x - 1.0\n    return x\n'),
    ('break', 3, 9, "'break' is not part of the .hy language",
     'def f(x: f32) -> f32:\n    for i in range(3):\n        break\n    return x\n'),
    ('continue', 3, 9, "'continue' is not part of the .hy language",
     'def f(x: f32) -> f32:\n    for i in range(3):\n        continue\n    return x\n'),
    ('indexing', 2, 13, 'indexing and slicing are not part of the .hy language',
     'def f(x: f32[4]) -> f32:\n    return x[0]\n'),
    ('default_parameter', 1, 14, 'default parameter values are not part of the .hy language',
     'def f(x: f32 = 1.0) -> f32:\n    return x\n'),
    ('method_call', 2, 13, 'methods and attributes',
     'def f(x: f32[4]) -> f32:\n    return x.sum()\n'),
    ('string_argument', 2, 11, 'strings are not part of the .hy language',
     'def f(x: f32) -> f32:\n    print("total", x)\n    return x\n'),
    ('keyword_as_parameter', 1, 7, "'return' is a keyword and cannot be used as a name",
     'def f(return: f32) -> f32:\n    return 1.0\n'),
    ('keyword_as_variable', 2, 5, "'class' is a keyword and cannot be used as a name",
     'def f(x: f32) -> f32:\n    class = x\n    return x\n'),
    ('unindent_mismatch', 3, 3, 'unindent does not match',
     'def f(x: f32) -> f32:\n    y = x\n  return y\n'),
    ('tabs_and_spaces_in_one_line', 2, 1, 'mixes tabs and spaces',
     'def f(x: f32) -> f32:\n \treturn x\n'),
    ('tabs_then_spaces', 4, 1, 'inconsistent indentation',
     'def f(x: f32) -> f32:\n\ty = x\ndef g(x: f32) -> f32:\n    return x\n'),
    ('string_literal', 2, 11, 'strings are not part',
     "def f(x: f32) -> f32:\n    print('hi')\n    return x\n"),
    ('bad_character', 2, 14, "unexpected character '$'",
     'def f(x: f32) -> f32:\n    return x $ 2\n'),
    ('top_level_statement', 1, 1, 'only function definitions',
     'x = 1\ndef f(x: f32) -> f32:\n    return x\n'),
    ('unknown_name', 2, 12, "unknown name 'valeu'; did you mean 'value'?",
     'def f(value: f32) -> f32:\n    return valeu * 2.0\n'),
    ('unknown_function', 2, 12, "unknown function 'rleu'; did you mean 'relu'?",
     'def f(x: f32) -> f32:\n    return rleu(x)\n'),
    ('too_many_arguments', 4, 12, 'add() takes 2 argument(s) but 3 were given',
     'def add(a: f32, b: f32) -> f32:\n    return a + b\ndef f(x: f32) -> f32:\n    return add(x, x, x)\n'),
    ('missing_argument', 4, 12, 'add() is missing argument(s): b',
     'def add(a: f32, b: f32) -> f32:\n    return a + b\ndef f(x: f32) -> f32:\n    return add(x)\n'),
    ('builtin_arity', 2, 12, 'exp() takes at most 1 argument(s) but 2 were given',
     'def f(x: f32) -> f32:\n    return exp(x, x)\n'),
    ('argmax_without_axis', 2, 12, 'argmax() of a rank-2 tensor needs an axis',
     'def f(x: f32[2, 3]) -> i64:\n    return argmax(x)\n'),
    ('dtype_mismatch', 2, 14, 'dtype mismatch: f32[3] and f64[3]',
     'def f(x: f32[3], y: f64[3]) -> f32[3]:\n    return x + y\n'),
    ('float_literal_with_int', 2, 16, 'the number 1.5 cannot be used as i32 without a cast',
     'def f(x: i32[3]) -> i32[3]:\n    return x + 1.5\n'),
    ('broadcast_mismatch', 2, 14, 'shape mismatch: cannot broadcast f32[3] and f32[4]',
     'def f(x: f32[3], y: f32[4]) -> f32[3]:\n    return x * y\n'),
    ('named_dims_may_differ', 2, 14, 'cannot broadcast f32[N] and f32[M]',
     'def f(x: f32[N], y: f32[M]) -> f32[N]:\n    return x - y\n'),
    ('matmul_inner_dims', 2, 14, 'inner dimensions 512 and 256 differ',
     'def f(x: f32[N, 512], w: f32[256, 2]) -> f32[N, 2]:\n    return x @ w\n'),
    ('named_dim_bound_twice', 4, 17, 'dimension N is 4 here but 3 in an earlier argument',
     'def g(a: f32[N], b: f32[N]) -> f32[N]:\n    return a + b\ndef f(x: f32[3], y: f32[4]) -> f32[3]:\n    return g(x, y)\n'),
    ('missing_return', 1, 1, 'can reach its end without returning a f32',
     'def f(x: f32) -> f32:\n    y = x * 2.0\n'),
    ('missing_return_on_a_path', 1, 1, 'can reach its end without returning a f32',
     'def f(x: f32) -> f32:\n    if x > 0.0:\n        return x\n'),
    ('wrong_return_type', 2, 12, "'f' returns f32[4], but this value is f32[3]",
     'def f(x: f32[3]) -> f32[4]:\n    return x\n'),
    ('return_without_type', 2, 5, 'declares no return type',
     'def f(x: f32):\n    return x\n'),
    ('redefinition', 3, 1, "redefinition of function 'f'",
     'def f(x: f32) -> f32:\n    return x\ndef f(x: f32) -> f32:\n    return x\n'),
    ('builtin_redefinition', 1, 1, "'relu' is a builtin function",
     'def relu(x: f32) -> f32:\n    return x\n'),
    ('unknown_type', 1, 10, "unknown type 'float32'",
     'def f(x: float32) -> f32:\n    return x\n'),
    ('exp_of_integer', 2, 12, 'exp() needs a float argument, got i32',
     'def f(x: i32[3]) -> f32[3]:\n    return exp(x)\n'),
    ('integer_true_division', 2, 14, 'true division needs floats',
     'def f(x: i32, y: i32) -> i32:\n    return x / y\n'),
    ('condition_not_bool', 2, 8, 'an if condition must be a bool, got f32',
     'def f(x: f32) -> f32:\n    if x:\n        return x\n    return x\n'),
    ('condition_is_tensor', 2, 10, 'must be a bool scalar, got bool[3]',
     'def f(x: f32[3]) -> f32[3]:\n    if x > 0.0:\n        return x\n    return x\n'),
    ('for_without_range', 2, 14, 'a for loop iterates over range(...)',
     'def f(x: f32, n: i32) -> f32:\n    for i in n:\n        x = x * 2.0\n    return x\n'),
    ('return_in_loop', 3, 9, 'return inside a for loop',
     'def f(x: f32, n: i32) -> f32:\n    for i in range(n):\n        return x\n    return x\n'),
    ('carried_type_changes', 3, 5, "'y' changes type in the loop: f32[3] before it, f32 after",
     'def f(x: f32[3], n: i32) -> f32[3]:\n    y = x\n    for i in range(n):\n        y = sum(y)\n    return x\n'),
    ('branch_types_differ', 2, 5, "'y' is f32[3] in one branch and f32[4] in the other",
     'def f(x: f32[3], c: bool) -> f32:\n    if c:\n        y = x\n    else:\n        y = zeros((4,))\n    return sum(y)\n'),
    ('loop_local_used_after', 4, 12, 'only assigned inside a loop or in some branches',
     'def f(x: f32, n: i32) -> f32:\n    for i in range(n):\n        t = x * 2.0\n    return t\n'),
    ('chained_comparison', 2, 20, 'chained comparisons',
     'def f(x: f32) -> bool:\n    return 0.0 < x < 1.0\n'),
    ('print_has_no_value', 2, 9, 'this call returns nothing',
     'def f(x: f32) -> f32:\n    y = print(x)\n    return x\n'),
    ('max_of_two', 2, 12, 'use maximum(a, b)',
     'def f(x: f32, y: f32) -> f32:\n    return max(x, y)\n'),
    ('axis_out_of_range', 2, 24, 'axis 2 is out of range',
     'def f(x: f32[3, 4]) -> f32[3]:\n    return sum(x, axis=2)\n'),
    ('reshape_size', 2, 12, 'cannot reshape f32[2, 3] (6 elements) into (4, 2)',
     'def f(x: f32[2, 3]) -> f32[4, 2]:\n    return reshape(x, (4, 2))\n'),
    ('unknown_keyword', 2, 19, "sum() has no parameter named 'axes'",
     'def f(x: f32[3]) -> f32:\n    return sum(x, axes=0)\n'),
    ('and_on_floats', 2, 14, "'and' needs bool operands, got f32",
     'def f(x: f32, y: f32) -> bool:\n    return x and y\n'),
    ('duplicate_parameter', 1, 15, "duplicate parameter 'x'",
     'def f(x: f32, x: f32) -> f32:\n    return x\n'),
    ('literal_too_big', 2, 16, 'does not fit in i32',
     'def f(x: i32) -> i32:\n    return x + 3000000000\n'),
    ('range_of_float', 2, 20, 'range() needs integers',
     'def f(x: f32) -> f32:\n    for i in range(2.5):\n        x = x * 2.0\n    return x\n'),
    ('bool_arithmetic', 2, 14, "'+' is not defined for bool values",
     'def f(a: bool, b: bool) -> bool:\n    return a + b\n'),
    ('matmul_of_scalar', 2, 14, "'@' needs tensors on both sides",
     'def f(x: f32, w: f32[3, 3]) -> f32[3, 3]:\n    return x @ w\n'),
    ('function_as_value', 2, 9, "'relu' is a function; call it",
     'def f(x: f32) -> f32:\n    y = relu\n    return x\n'),
    ('loop_variable_clash', 2, 5, "the loop variable 'i' is already a variable",
     'def f(x: f32, i: i32) -> f32:\n    for i in range(3):\n        x = x * 2.0\n    return x\n'),
]


@pytest.mark.parametrize("line,col,message,source", [c[1:] for c in BAD_PROGRAMS],
                         ids=[c[0] for c in BAD_PROGRAMS])
def test_bad_program_is_reported_at_its_place(line, col, message, source, tmp_path, capsys):
    path = tmp_path / "bad.hy"
    path.write_text(source)
    assert hyc.main([str(path), "--emit=ir"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    head = re.compile(re.escape(f"{path}:{line}:{col}: ") + r"error\[(E\d{4})\]: ")
    found = [i for i, text in enumerate(lines) if head.match(text) and message in text]
    assert found, f"expected {head.pattern}...{message}\ngot:\n{err}"
    i = found[0]
    assert head.match(lines[i])[1] in registry()
    assert lines[i + 1] == source.splitlines()[line - 1].expandtabs(1)
    assert lines[i + 2] == " " * (col - 1) + "^"


def test_there_are_at_least_thirty_bad_programs():
    assert len(BAD_PROGRAMS) >= 30


def test_several_errors_are_reported_together(tmp_path, capsys):
    path = tmp_path / "many.hy"
    path.write_text("def f(x: f32) -> f32:\n    return x +\n"
                    "def g(x: f32) -> f32:\n    return undefined_thing\n"
                    "def h(x: f32[3], y: f32[4]) -> f32[3]:\n    z = x + y\n    return q\n")
    assert hyc.main([str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:2:15: error[E0101]: unexpected end of line" in err
    assert f"{path}:4:12: error[E0201]: unknown name 'undefined_thing'" in err
    assert f"{path}:6:11: error[E0301]: shape mismatch" in err
    assert f"{path}:7:12: error[E0201]: unknown name 'q'" in err


def test_an_error_does_not_cascade_through_the_variables_it_poisons(tmp_path, capsys):
    path = tmp_path / "cascade.hy"
    path.write_text("def f(x: f32[3], y: f32[4]) -> f32[3]:\n    z = x + y\n    w = z * 2.0\n"
                    "    return w\n")
    assert hyc.main([str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("error[") == 1


def test_long_and_deep_expressions_compile_or_fail_cleanly(tmp_path, capsys):
    from hyc.frontend.irgen import compile_source
    chain = "def f(x: f32) -> f32:\n    return x" + " + x" * 2000 + "\n"
    compile_source(chain, "chain.hy")
    path = tmp_path / "deep.hy"
    path.write_text("def f(x: f32) -> f32:\n    return " + "(" * 50000 + "x" + ")" * 50000 + "\n")
    assert hyc.main([str(path)]) == 1
    assert "nested too deeply" in capsys.readouterr().err
