"""Every operator and builtin of .hy, through the language, against numpy: dtypes,
broadcasting (size-1 and missing dims, scalars) and named dimensions."""

import io
import re

import numpy as np
import pytest
from native import assert_native_agrees
from oracle import check

from hyc.frontend.irgen import compile_source
from hyc.ir import print_ir, run
from hyc.passes import optimize

NAMED_SIZES = {"N": 5, "M": 2, "B": 3}
DTYPES = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64, "bool": np.bool_}


def random_arg(spec: str, rng: np.random.Generator):
    m = re.fullmatch(r"(\w+)(?:\[(.*)\])?", spec.strip())
    dtype = DTYPES[m.group(1)]
    shape = tuple(int(d) if d.strip().isdigit() else NAMED_SIZES[d.strip()]
                  for d in m.group(2).split(",")) if m.group(2) else ()
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if np.dtype(dtype).kind == "i":
        return rng.integers(-4, 5, shape).astype(dtype)
    return (rng.standard_normal(shape) + 0.1).astype(dtype)


def call_hy(params: str, ret: str, body: str, *args, entry="f"):
    """Run ``f`` unoptimized and at -O2 (folded and fused); both must agree."""
    source = f"def f({params}) -> {ret}:\n" + "".join(f"    {line}\n" for line in body.split("\n"))
    module = compile_source(source, "test.hy")
    (result,) = run(module, entry, *args)
    optimized = compile_source(source, "test.hy")
    optimize(optimized, 2)
    (again,) = run(optimized, entry, *args)
    np.testing.assert_allclose(again, result, rtol=1e-6, atol=1e-6, equal_nan=True)
    assert_native_agrees(module, entry, args, [result], opt_level=2)
    return result


def softmax(a, axis):
    e = np.exp(a - a.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


# (expression, parameter types, result type, numpy reference)
CASES = [
    ("a + b", "f32[3, 4]", "f32[4]", "f32[3, 4]", lambda a, b: a + b),
    ("a - b", "f32[N, 4]", "f32[1, 4]", "f32[N, 4]", lambda a, b: a - b),
    ("a * b", "f64[3, 1]", "f64[1, 4]", "f64[3, 4]", lambda a, b: a * b),
    ("a / b", "f32[2, 3]", "f32", "f32[2, 3]", lambda a, b: a / b),
    ("abs(a) ** b", "f32[4]", "f32[4]", "f32[4]", lambda a, b: np.abs(a) ** b),
    ("a @ b", "f32[N, 3]", "f32[3, 2]", "f32[N, 2]", lambda a, b: a @ b),
    ("a @ b", "f64[B, N, 3]", "f64[3, 2]", "f64[B, N, 2]", lambda a, b: a @ b),
    ("a @ b", "f32[4, 3]", "f32[3]", "f32[4]", lambda a, b: a @ b),
    ("a + b", "i32[3]", "i32[2, 3]", "i32[2, 3]", lambda a, b: a + b),
    ("a * b", "i64[N]", "i64", "i64[N]", lambda a, b: a * b),
    ("a < b", "f32[3]", "f32[3]", "bool[3]", lambda a, b: a < b),
    ("a <= b", "i32[N]", "i32", "bool[N]", lambda a, b: a <= b),
    ("a > b", "f64[2, 2]", "f64[2]", "bool[2, 2]", lambda a, b: a > b),
    ("a >= b", "f32", "f32", "bool", lambda a, b: a >= b),
    ("a == b", "i32[4]", "i32[4]", "bool[4]", lambda a, b: a == b),
    ("a != b", "bool[3]", "bool[3]", "bool[3]", lambda a, b: a != b),
    ("a and b", "bool[3]", "bool[3]", "bool[3]", np.logical_and),
    ("a or b", "bool", "bool[2]", "bool[2]", np.logical_or),
    ("maximum(a, b)", "f32[N, 3]", "f32[3]", "f32[N, 3]", np.maximum),
    ("minimum(a, b)", "i32[2, 3]", "i32[2, 1]", "i32[2, 3]", np.minimum),
    ("where(a > b, a, b)", "f32[3]", "f32[2, 3]", "f32[2, 3]", lambda a, b: np.where(a > b, a, b)),
]


@pytest.mark.parametrize("expr,ta,tb,ret,reference", CASES,
                         ids=[f"{c[0]}:{c[1]},{c[2]}" for c in CASES])
def test_binary_operators_and_builtins(expr, ta, tb, ret, reference):
    rng = np.random.default_rng(0)
    a, b = random_arg(ta, rng), random_arg(tb, rng)
    check(call_hy(f"a: {ta}, b: {tb}", ret, f"return {expr}", a, b), reference(a, b))


UNARY = [
    ("-a", "f32[3, 4]", "f32[3, 4]", lambda a: -a),
    ("-a", "i64[N]", "i64[N]", lambda a: -a),
    ("+a", "f32[2]", "f32[2]", lambda a: a),
    ("not a", "bool[3]", "bool[3]", np.logical_not),
    ("relu(a)", "f32[N, 3]", "f32[N, 3]", lambda a: np.maximum(a, 0)),
    ("relu(a)", "i32[4]", "i32[4]", lambda a: np.maximum(a, 0)),
    ("sigmoid(a)", "f32[5]", "f32[5]", lambda a: (1 / (1 + np.exp(-a))).astype(np.float32)),
    ("tanh(a)", "f64[2, 2]", "f64[2, 2]", np.tanh),
    ("exp(a)", "f32[3]", "f32[3]", np.exp),
    ("log(abs(a))", "f32[3]", "f32[3]", lambda a: np.log(np.abs(a))),
    ("sqrt(abs(a))", "f64[N]", "f64[N]", lambda a: np.sqrt(np.abs(a))),
    ("floor(a * 3.0)", "f32[N]", "f32[N]", lambda a: np.floor(a * np.float32(3))),
    ("abs(a)", "i32[3]", "i32[3]", np.abs),
    ("prod(a, axis=1)", "f64[N, 3]", "f64[N]", lambda a: a.prod(axis=1)),
    ("argmax(a, axis=1)", "f32[N, 3]", "i64[N]", lambda a: a.argmax(axis=1)),
    ("argmin(a)", "i32[5]", "i64", lambda a: a.argmin()),
    ("argmin(a, axis=0, keepdims=True)", "f64[4, 2]", "i64[1, 2]",
     lambda a: a.argmin(axis=0, keepdims=True)),
    ("sum(a)", "f32[3, 4]", "f32", lambda a: a.sum()),
    ("sum(a, axis=0)", "f32[N, 4]", "f32[4]", lambda a: a.sum(axis=0)),
    ("sum(a, axis=-1, keepdims=True)", "i32[3, 4]", "i32[3, 1]",
     lambda a: a.sum(-1, keepdims=True).astype(np.int32)),
    ("mean(a, axis=(0, 2))", "f64[2, 3, 4]", "f64[3]", lambda a: a.mean(axis=(0, 2))),
    ("max(a, axis=1)", "f32[N, 3]", "f32[N]", lambda a: a.max(axis=1)),
    ("min(a)", "i64[2, 3]", "i64", lambda a: a.min()),
    ("softmax(a)", "f32[N, 4]", "f32[N, 4]", lambda a: softmax(a, -1)),
    ("softmax(a, axis=0)", "f64[3, 2]", "f64[3, 2]", lambda a: softmax(a, 0)),
    ("transpose(a)", "f32[2, 3, 4]", "f32[4, 3, 2]", lambda a: a.T),
    ("transpose(a, (1, 0, 2))", "i32[2, 3, 4]", "i32[3, 2, 4]", lambda a: a.transpose(1, 0, 2)),
    ("reshape(a, (3, -1))", "f32[2, 6]", "f32[3, 4]", lambda a: a.reshape(3, -1)),
    ("reshape(a, (-1,))", "f32[N, 2]", "f32[?]", lambda a: a.reshape(-1)),
    ("cast(a, i32)", "f32[4]", "i32[4]", lambda a: a.astype(np.int32)),
    ("cast(a, f64)", "i32[N]", "f64[N]", lambda a: a.astype(np.float64)),
    ("cast(a, bool)", "f32[3]", "bool[3]", lambda a: a != 0),
    ("zeros_like(a) + ones_like(a) * a", "f32[N, 2]", "f32[N, 2]", lambda a: a),
    ("a * 2 + 1", "i32[3]", "i32[3]", lambda a: a * 2 + 1),
    ("a * 2 - 0.5", "f32[3]", "f32[3]", lambda a: a * 2 - np.float32(0.5)),
    ("a ** 2", "f64[N]", "f64[N]", lambda a: a ** 2),
    ("1.0 / a", "f32[4]", "f32[4]", lambda a: 1 / a),
    ("(a > 0.0) and (a < 1.0)", "f32[5]", "bool[5]", lambda a: (a > 0) & (a < 1)),
]


@pytest.mark.parametrize("expr,ta,ret,reference", UNARY, ids=[f"{c[0]}:{c[1]}" for c in UNARY])
def test_unary_operators_and_builtins(expr, ta, ret, reference):
    a = random_arg(ta, np.random.default_rng(1))
    check(call_hy(f"a: {ta}", ret, f"return {expr}", a), reference(a))


def test_zeros_ones_and_literal_defaults():
    check(call_hy("a: f32", "f32[2, 3]", "return zeros((2, 3)) + ones((3,)) * a", np.float32(2)),
          np.full((2, 3), 2, np.float32))
    check(call_hy("a: i64", "i64[4]", "return ones(4, i64) * a", np.int64(3)), np.full(4, 3))
    check(call_hy("a: f32", "i32", "return 7", np.float32(0)), np.int32(7))
    check(call_hy("a: f32", "bool", "return True", np.float32(0)), np.bool_(True))


def test_named_dims_flow_through_calls():
    source = """
def scale(v: f32[K], s: f32) -> f32[K]:
    return v * s

def f(x: f32[N, 3], y: f32[N]) -> f32[N]:
    return scale(sum(x, axis=1), 2.0) + y
"""
    module = compile_source(source, "named.hy")
    assert "tensor<Nxf32>" in print_ir(module)
    rng = np.random.default_rng(2)
    x, y = random_arg("f32[N, 3]", rng), random_arg("f32[N]", rng)
    check(run(module, "f", x, y)[0], x.sum(axis=1) * 2 + y)
    with pytest.raises(ValueError, match="dimension 0"):
        run(module, "f", x, y[:2])  # N bound to 5 by x, 2 by y


def test_augmented_assignment_and_reassignment():
    body = "y = a\ny += a\ny *= 3.0\ny -= 1.0\ny /= 2.0\nreturn y"
    a = np.arange(4, dtype=np.float32)
    check(call_hy("a: f32[4]", "f32[4]", body, a), ((a + a) * 3 - 1) / 2)


def test_print_statement_runs_in_order():
    source = "def main():\n    print(1.5)\n    print(2, True)\n    x = zeros((2,))\n    print(x)\n"
    out = io.StringIO()
    run(compile_source(source, "p.hy"), "main", out=out)
    assert out.getvalue() == "1.5\n2 True\n[0. 0.]\n"


def test_keyword_arguments_of_user_functions():
    source = "def lerp(a: f32, b: f32, t: f32) -> f32:\n    return a + (b - a) * t\n" \
             "def f(x: f32) -> f32:\n    return lerp(t=0.25, b=x, a=0.0)\n"
    assert run(compile_source(source, "k.hy"), "f", np.float32(8))[0] == np.float32(2)


def test_recursion_is_supported():
    source = "def fact(n: i64) -> i64:\n    if n <= 1:\n        return 1\n    return n * fact(n - 1)\n"
    assert run(compile_source(source, "r.hy"), "fact", np.int64(10))[0] == 3628800


def test_language_reference_documents_every_builtin():
    from pathlib import Path

    from hyc.frontend.exprs import BUILTIN_NAMES
    doc = (Path(__file__).parent.parent.parent / "docs" / "language.md").read_text()
    missing = [name for name in sorted(BUILTIN_NAMES) if f"`{name}(" not in doc]
    assert not missing, f"docs/language.md does not document {missing}"
