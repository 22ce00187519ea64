"""The interpreter against numpy: every op, dtypes, broadcasting, size-1 and zero-size dims,
control flow with carried values, calls, print, and argument checking."""

import io
from pathlib import Path

import numpy as np
import pytest
from native import assert_native_agrees
from oracle import check

from hyc.ir import (
    ArgumentTypeError,
    ArgumentValueError,
    Builder,
    FuncOp,
    FunctionType,
    InterpreterError,
    ModuleOp,
    ReturnOp,
    TypeAttr,
    index,
    int_array,
    parse_module,
    print_ir,
    run,
    verify,
)
from hyc.ir.attributes import BoolAttr, IntAttr
from hyc.ir.dialects import hy
from hyc.ir.types import make_type, scalar_type_for_dtype

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
SHAPES = [(), (1,), (4,), (3, 4), (0, 3), (2, 1, 3)]
FLOATS = [np.float32, np.float64]
INTS = [np.int32, np.int64]


def type_of(array):
    return make_type(scalar_type_for_dtype(np.asarray(array).dtype), np.shape(array))


def run_op(op_class, args, attrs=None, result_type=None, param_types=None):
    """Build ``f(args) = op(args)``, round-trip it through text, verify and interpret it."""
    params = param_types or [type_of(a) for a in args]
    func = FuncOp.create("f", params, [])
    b = Builder(func.body)
    op = b.create(op_class, func.body.args, attrs or {},
                  [result_type] if result_type is not None else None)
    b.create(ReturnOp, op.results, result_types=[])
    func.attributes["function_type"] = TypeAttr(FunctionType(tuple(params), (op.result.type,)))
    module = ModuleOp.create()
    module.body.append(func)
    verify(module)
    reparsed = parse_module(print_ir(module))
    verify(reparsed)
    (result,) = run(reparsed, "f", *args)
    assert_native_agrees(reparsed, "f", args, [result])  # the compiled op computes the same
    return result


def rand(shape, dtype, rng, low=-3, high=4):
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    return rng.integers(low, high, shape).astype(dtype)


# -- elementwise ------------------------------------------------------------------------------------
FLOAT_UNARY = {hy.ExpOp: np.exp, hy.LogOp: np.log, hy.SqrtOp: np.sqrt, hy.TanhOp: np.tanh,
               hy.SigmoidOp: lambda x: (1 / (1 + np.exp(-x.astype(np.float64)))).astype(x.dtype),
               hy.NegOp: np.negative, hy.AbsOp: np.abs,
               hy.ReluOp: lambda x: np.where(x > 0, x, 0).astype(x.dtype)}
INT_UNARY = {hy.NegOp: np.negative, hy.AbsOp: np.abs,
             hy.ReluOp: lambda x: np.where(x > 0, x, 0).astype(x.dtype)}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", FLOATS + INTS, ids=lambda d: np.dtype(d).name)
def test_unary(shape, dtype):
    rng = np.random.default_rng(0)
    table = FLOAT_UNARY if np.dtype(dtype).kind == "f" else INT_UNARY
    for op_class, reference in table.items():
        x = rand(shape, dtype, rng)
        if op_class in (hy.LogOp, hy.SqrtOp):
            x = np.abs(x) + dtype(0.1)
        with np.errstate(all="ignore"):
            check(run_op(op_class, [x]), reference(x))


BINARY = {hy.AddOp: np.add, hy.SubOp: np.subtract, hy.MulOp: np.multiply,
          hy.MaximumOp: np.maximum, hy.MinimumOp: np.minimum}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", FLOATS + INTS, ids=lambda d: np.dtype(d).name)
def test_binary_arithmetic(shape, dtype):
    rng = np.random.default_rng(1)
    for op_class, reference in BINARY.items():
        a, b = rand(shape, dtype, rng), rand(shape, dtype, rng)
        check(run_op(op_class, [a, b]), reference(a, b))
    if np.dtype(dtype).kind == "f":
        a, b = rand(shape, dtype, rng), rand(shape, dtype, rng)
        check(run_op(hy.DivOp, [a, b]), a / b)
        check(run_op(hy.PowOp, [np.abs(a), b]), np.power(np.abs(a), b))


def test_float_special_values_propagate():
    a = np.array([np.nan, 1.0, -np.inf, 0.0], np.float32)
    b = np.array([1.0, np.nan, 2.0, 0.0], np.float32)
    check(run_op(hy.MaximumOp, [a, b]), np.maximum(a, b))
    check(run_op(hy.DivOp, [a, b]), np.array([np.nan, np.nan, -np.inf, np.nan], np.float32))


@pytest.mark.parametrize("dtype", INTS, ids=lambda d: np.dtype(d).name)
def test_integer_division_truncates_and_division_by_zero_gives_zero(dtype):
    a = np.array([7, -7, 7, -7, 5, 0, -9, 6], dtype)
    b = np.array([2, 2, -2, -2, 0, 3, 3, 0], dtype)
    want = np.array([int(x / y) if y else 0 for x, y in zip(a.tolist(), b.tolist())], dtype)
    check(run_op(hy.DivOp, [a, b]), want)


@pytest.mark.parametrize("dtype", INTS, ids=lambda d: np.dtype(d).name)
def test_integer_power_with_negative_exponents(dtype):
    a = np.array([2, -3, 1, -1, -1, 0, 2, 5], dtype)
    b = np.array([3, 3, -4, -3, -2, -1, -1, 0], dtype)

    def ipow(x, y):
        if y >= 0:
            return x ** y
        return 1 if x == 1 else (-1) ** (-y) if x == -1 else 0

    want = np.array([ipow(x, y) for x, y in zip(a.tolist(), b.tolist())], dtype)
    check(run_op(hy.PowOp, [a, b]), want)


COMPARE = {hy.EqOp: np.equal, hy.NeOp: np.not_equal, hy.LtOp: np.less, hy.LeOp: np.less_equal,
           hy.GtOp: np.greater, hy.GeOp: np.greater_equal}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", FLOATS + INTS, ids=lambda d: np.dtype(d).name)
def test_comparisons(shape, dtype):
    rng = np.random.default_rng(2)
    a = rand(shape, dtype, rng, -2, 2)
    b = rand(shape, dtype, rng, -2, 2)
    if np.size(a):
        np.asarray(b).reshape(-1)[0] = np.asarray(a).reshape(-1)[0]  # some equal elements
    for op_class, reference in COMPARE.items():
        check(run_op(op_class, [a, b]), reference(a, b))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_logic_and_select(shape):
    rng = np.random.default_rng(3)
    p, q = rand(shape, np.bool_, rng), rand(shape, np.bool_, rng)
    check(run_op(hy.AndOp, [p, q]), np.logical_and(p, q))
    check(run_op(hy.OrOp, [p, q]), np.logical_or(p, q))
    check(run_op(hy.NotOp, [p]), np.logical_not(p))
    check(run_op(hy.EqOp, [p, q]), p == q)
    x, y = rand(shape, np.float32, rng), rand(shape, np.float32, rng)
    check(run_op(hy.SelectOp, [p, x, y]), np.where(p, x, y))
    i, j = rand(shape, np.int64, rng), rand(shape, np.int64, rng)
    check(run_op(hy.SelectOp, [p, i, j]), np.where(p, i, j))


@pytest.mark.parametrize("source", [np.float32, np.float64, np.int32, np.int64, np.bool_],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("target", [np.float32, np.float64, np.int32, np.int64, np.bool_],
                         ids=lambda d: np.dtype(d).name)
def test_cast(source, target):
    x = np.array([[-2.7, -0.5, 0.0], [0.4, 1.0, 3.9]]).astype(source)
    result_type = make_type(scalar_type_for_dtype(np.dtype(target)), x.shape)
    want = (x != 0) if target == np.bool_ else x.astype(target)
    check(run_op(hy.CastOp, [x], result_type=result_type), want)


# -- shapes -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("source,target", [((3,), (2, 3)), ((1, 3), (4, 3)), ((), (2, 2)),
                                           ((2, 1), (2, 5)), ((0, 3), (2, 0, 3)),
                                           ((1,), (0,)), ((2, 3), (2, 3))], ids=str)
def test_broadcast_to(source, target):
    x = rand(source, np.float32, np.random.default_rng(4))
    check(run_op(hy.BroadcastToOp, [x], result_type=type_of(np.empty(target, np.float32))),
          np.broadcast_to(x, target))


def test_broadcast_to_dynamic_dims_takes_sizes_from_operands():
    x = np.arange(3, dtype=np.int32)
    params = [type_of(x), index, index]
    result = make_type(scalar_type_for_dtype(np.dtype(np.int32)), ("N", "?", 3))
    got = run_op(hy.BroadcastToOp, [x, 2, 4], result_type=result, param_types=params)
    check(got, np.broadcast_to(x, (2, 4, 3)))
    with pytest.raises(InterpreterError, match="cannot broadcast"):
        bad = make_type(scalar_type_for_dtype(np.dtype(np.int32)), ("?", "?"))
        run_op(hy.BroadcastToOp, [x, 2, 4], result_type=bad, param_types=params)


def test_reshape_static_and_dynamic():
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    check(run_op(hy.ReshapeOp, [x], result_type=type_of(np.empty((2, 6)))), x.reshape(2, 6))
    dyn = make_type(scalar_type_for_dtype(np.dtype(np.float64)), ("?", 2))
    got = run_op(hy.ReshapeOp, [x, 6], result_type=dyn, param_types=[type_of(x), index])
    check(got, x.reshape(6, 2))
    with pytest.raises(InterpreterError, match="cannot reshape"):
        run_op(hy.ReshapeOp, [x, 5], result_type=dyn, param_types=[type_of(x), index])


@pytest.mark.parametrize("perm", [[0, 1, 2], [2, 1, 0], [1, 2, 0], [0, 2, 1]], ids=str)
def test_transpose(perm):
    x = rand((2, 3, 4), np.int32, np.random.default_rng(5))
    check(run_op(hy.TransposeOp, [x], {"permutation": int_array(perm)}), np.transpose(x, perm))


@pytest.mark.parametrize("axis", [0, 1])
def test_concat(axis):
    rng = np.random.default_rng(6)
    parts = [rand((2, 3), np.float32, rng), rand((2, 3), np.float32, rng)]
    parts.append(rand((0, 3) if axis == 0 else (2, 0), np.float32, rng))
    check(run_op(hy.ConcatOp, parts, {"axis": IntAttr(axis)}), np.concatenate(parts, axis))


@pytest.mark.parametrize("seed", range(12))
def test_slice_matches_python_slicing(seed):
    rng = np.random.default_rng(seed)
    x = rand((5, 4), np.int64, rng)
    picks = [(int(rng.integers(-6, 6)), int(rng.integers(-6, 7)), int(rng.choice([-2, -1, 1, 3])))
             for _ in range(2)]
    attrs = {k: int_array([p[i] for p in picks]) for i, k in enumerate(["starts", "stops", "steps"])}
    check(run_op(hy.SliceOp, [x], attrs), x[tuple(slice(*p) for p in picks)])


def test_dim():
    x = np.zeros((3, 0, 5), np.float32)
    for axis in range(3):
        check(run_op(hy.DimOp, [x], {"axis": IntAttr(axis)}), np.int64(x.shape[axis]))


@pytest.mark.parametrize("lhs,rhs", [((3, 4), (4, 2)), ((3, 4), (4,)), ((4,), (4, 2)),
                                     ((4,), (4,)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)),
                                     ((1, 4), (4, 1)), ((0, 4), (4, 3)), ((3, 0), (0, 2))], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64],
                         ids=lambda d: np.dtype(d).name)
def test_matmul(lhs, rhs, dtype):
    rng = np.random.default_rng(7)
    a, b = rand(lhs, dtype, rng), rand(rhs, dtype, rng)
    check(run_op(hy.MatmulOp, [a, b]), np.matmul(a, b))


REDUCTIONS = {hy.SumOp: np.sum, hy.MaxOp: np.max, hy.MinOp: np.min, hy.MeanOp: np.mean}


@pytest.mark.parametrize("axes", [[0], [1], [0, 1], [1, 2], [0, 2], [0, 1, 2]], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32], ids=lambda d: np.dtype(d).name)
def test_reductions(axes, keepdims, dtype):
    x = rand((2, 3, 4), dtype, np.random.default_rng(8))
    for op_class, reference in REDUCTIONS.items():
        if op_class is hy.MeanOp and np.dtype(dtype).kind != "f":
            continue
        attrs = {"axes": int_array(axes), "keepdims": BoolAttr(keepdims)}
        want = np.asarray(reference(x, axis=tuple(axes), keepdims=keepdims)).astype(dtype)
        check(run_op(op_class, [x], attrs), want)


def test_reductions_over_empty_axes_give_identities_or_numpys_error():
    x = np.zeros((0, 3), np.float32)
    attrs = {"axes": int_array([0])}
    check(run_op(hy.SumOp, [x], attrs), np.zeros(3, np.float32))
    check(run_op(hy.ProdOp, [x], attrs), np.ones(3, np.float32))
    for op in (hy.MaxOp, hy.MinOp):
        with pytest.raises(InterpreterError, match="empty axis"):
            run_op(op, [x], attrs)
    with pytest.raises(InterpreterError, match="empty axis"):
        run_op(hy.ArgmaxOp, [x], {"axis": IntAttr(0)})
    check(run_op(hy.MaxOp, [np.zeros((3, 0), np.float32)], attrs), np.zeros(0, np.float32))


@pytest.mark.parametrize("axis", [0, 1])
def test_softmax(axis):
    x = rand((3, 5), np.float64, np.random.default_rng(9)) * 30
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    check(run_op(hy.SoftmaxOp, [x], {"axis": IntAttr(axis)}), e / e.sum(axis=axis, keepdims=True))


# -- control flow, calls, print ----------------------------------------------------------------------
def load(name):
    path = EXAMPLES / name
    module = parse_module(path.read_text(), str(path))
    verify(module)
    return module


@pytest.mark.parametrize("n", [0, 1, 2, 5])
def test_power_loop_matches_numpy(n):
    x = np.array([0.5, -1.5, 2.0, 0.0], np.float32)
    (y,) = run(load("control.hyir"), "power", x, np.int32(n))
    want = x.copy()
    for _ in range(1, n):
        want = want * x
    check(y, want)


@pytest.mark.parametrize("limit", [-1.0, 5.0, 100.0])
def test_normalize_branch_matches_numpy(limit):
    x = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    (y,) = run(load("control.hyir"), "normalize", x, np.float32(limit))
    check(y, x / x.sum() if x.sum() > limit else x)


def test_print_writes_like_python_print():
    out = io.StringIO()
    run(load("control.hyir"), "main", out=out)
    x = np.array([1.0, 8.0, 27.0], np.float32)
    assert out.getvalue() == str(x / x.sum()) + "\n"


TWO_CARRIED = """
func.func @fib(%n: index) -> i64 {
  %zero = hy.constant {value = dense<0> : index} : index
  %one = hy.constant {value = dense<1> : index} : index
  %a0 = hy.constant {value = dense<0> : i64} : i64
  %b0 = hy.constant {value = dense<1> : i64} : i64
  %a, %b = scf.for %zero, %n, %one, %a0, %b0 ({
  ^bb0(%i: index, %x: i64, %y: i64):
    %s = hy.add %x, %y : i64
    scf.yield %y, %s : i64
  }) : (index, index, index, i64, i64) -> (i64, i64)
  func.return %a : i64
}
func.func @fact(%n: i64) -> i64 {
  %one = hy.constant {value = dense<1> : i64} : i64
  %small = hy.le %n, %one : (i64, i64) -> i1
  %r = scf.if %small ({
    scf.yield %one : i64
  }, {
    %m = hy.sub %n, %one : i64
    %f = func.call %m {callee = @fact} : (i64) -> i64
    %p = hy.mul %n, %f : i64
    scf.yield %p : i64
  }) : (i1) -> i64
  func.return %r : i64
}
"""


def test_loop_with_two_carried_values_and_recursion():
    module = parse_module(TWO_CARRIED)
    verify(module)
    assert [int(run(module, "fib", n)[0]) for n in range(10)] == [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]
    assert int(run(module, "fact", 10)[0]) == 3628800


def test_unbounded_recursion_is_an_error_not_a_crash():
    module = parse_module("func.func @f(%x: f32) -> f32 {\n"
                          "  %y = func.call %x {callee = @f} : (f32) -> f32\n"
                          "  func.return %y : f32\n}\n")
    verify(module)
    with pytest.raises(InterpreterError, match="call depth"):
        run(module, "f", 1.0)


def test_loop_with_non_positive_step_is_a_located_error():
    module = parse_module("func.func @f(%s: index) -> index {\n"
                          "  %r = scf.for %s, %s, %s, %s ({\n"
                          "  ^bb0(%i: index, %c: index):\n    scf.yield %c : index\n"
                          "  }) : (index, index, index, index) -> index\n"
                          "  func.return %r : index\n}\n", "loop.hyir")
    with pytest.raises(InterpreterError, match="step must be positive") as info:
        run(module, "f", 0)
    assert info.value.loc.line == 2


# -- arguments -----------------------------------------------------------------------------------------
def test_wrong_arguments_raise_type_and_value_errors():
    module = load("mlp.hyir")
    rng = np.random.default_rng(0)
    shapes = [(2, 512), (512, 256), (256,), (256, 128), (128,), (128, 2), (2,)]
    args = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    assert run(module, "mlp", *args)[0].shape == (2, 2)
    with pytest.raises(TypeError, match="takes 7 argument"):
        run(module, "mlp", *args[:6])
    with pytest.raises(ArgumentTypeError, match="dtype float64"):
        run(module, "mlp", args[0].astype(np.float64), *args[1:])
    with pytest.raises(ValueError, match="dimension 1 must be 512"):
        run(module, "mlp", args[0][:, :500], *args[1:])
    with pytest.raises(ArgumentValueError, match="expected rank 2"):
        run(module, "mlp", args[0][0], *args[1:])
    with pytest.raises(TypeError, match="no function named"):
        run(module, "nope")


def test_named_dim_bound_twice_is_rejected():
    module = parse_module("func.func @f(%a: tensor<Nxf32>, %b: tensor<Nxf32>) -> tensor<Nxf32> {\n"
                          "  %c = hy.add %a, %b : tensor<Nxf32>\n  func.return %c : tensor<Nxf32>\n}")
    with pytest.raises(ValueError, match=r"\(N\) is 3, but N = 2"):
        run(module, "f", np.zeros(2, np.float32), np.zeros(3, np.float32))


def test_python_scalars_convert_only_when_lossless():
    module = parse_module("func.func @f(%a: i32, %b: f32) -> f32 {\n"
                          "  %c = hy.cast %a : (i32) -> f32\n  %d = hy.add %c, %b : f32\n"
                          "  func.return %d : f32\n}")
    assert run(module, "f", 2, 0.5)[0] == np.float32(2.5)
    with pytest.raises(TypeError, match="not a valid i32 value"):
        run(module, "f", 2.5, 0.5)
    with pytest.raises(TypeError, match="must be a numpy array"):
        run(module, "f", "2", 0.5)


def test_dynamic_dims_that_disagree_at_run_time_are_located_errors():
    module = parse_module("func.func @f(%a: tensor<?xf32>, %b: tensor<?xf32>) -> tensor<?xf32> {\n"
                          "  %c = hy.add %a, %b : tensor<?xf32>\n  func.return %c : tensor<?xf32>\n}",
                          "dyn.hyir")
    with pytest.raises(InterpreterError, match=r"different shapes at run time: \(2,\) vs \(3,\)") as e:
        run(module, "f", np.zeros(2, np.float32), np.zeros(3, np.float32))
    assert e.value.loc.line == 2


def test_slice_of_a_whole_dynamic_dimension_keeps_its_name():
    from hyc.ir.types import DYNAMIC, TensorType, f32
    end = 2 ** 63 - 1
    source = TensorType(("N", "N", "N", "M"), f32)
    attrs = {"starts": int_array([0, end, 1, 0]), "stops": int_array([end, -end, end, 3]),
             "steps": int_array([1, -1, 1, 1])}
    (result,) = hy.SliceOp.infer_result_types([source], attrs)
    assert result == TensorType(("N", "N", DYNAMIC, DYNAMIC), f32)
