"""The .hy builtin functions: each lowers its call to hy ops, numpy semantics and all."""

from __future__ import annotations

from collections.abc import Callable

from hyc.ir import Value
from hyc.ir.attributes import BoolAttr, IntAttr, int_array
from hyc.ir.core import Operation
from hyc.ir.dialects import hy
from hyc.ir.types import (
    DYNAMIC,
    Dim,
    ScalarType,
    element_type,
    f32,
    i1,
    index,
    is_float,
    make_type,
    shape_of,
)

from . import syntax as s
from .exprs import (
    BUILTIN_NAMES,
    BUILTINS,
    DTYPES,
    ExprLowering,
    Literal,
    LoweringError,
    Operand,
    show_type,
)

Handler = Callable[[ExprLowering, s.Call, dict], Operand]


def builtin(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            BUILTINS[name] = fn
            BUILTIN_NAMES.add(name)
        return fn
    return register


class Args:
    """A builtin call's arguments, checked against its parameter list."""

    def __init__(self, call: s.Call, params: list[str], required: int) -> None:
        name = call.name
        if len(call.args) > len(params):
            raise LoweringError(f"{name}() takes at most {len(params)} argument(s) but "
                                f"{len(call.args)} were given", call, code="E0401")
        self.nodes: dict[str, s.Expr] = dict(zip(params, call.args))
        for kw in call.keywords:
            if kw.name not in params:
                raise LoweringError(f"{name}() has no parameter named '{kw.name}'", kw, code="E0403")
            if kw.name in self.nodes:
                raise LoweringError(f"{name}() got two values for '{kw.name}'", kw, code="E0404")
            self.nodes[kw.name] = kw.value
        missing = [p for p in params[:required] if p not in self.nodes]
        if missing:
            raise LoweringError(f"{name}() is missing argument(s): {', '.join(missing)}", call, code="E0402")

    def get(self, name: str) -> s.Expr | None:
        return self.nodes.get(name)


def _float_only(name: str) -> Callable[[ScalarType], str | None]:
    def check(e: ScalarType) -> str | None:
        if is_float(e):
            return None
        return f"{name}() needs a float argument, got {show_type(e)} (convert with cast(x, f32))"
    return check


def _numeric_only(name: str) -> Callable[[ScalarType], str | None]:
    return lambda e: f"{name}() is not defined for bool values" if e == i1 else None


_UNARY: dict[str, tuple[type[Operation], bool]] = {
    "relu": (hy.ReluOp, False), "abs": (hy.AbsOp, False), "exp": (hy.ExpOp, True),
    "log": (hy.LogOp, True), "sqrt": (hy.SqrtOp, True), "tanh": (hy.TanhOp, True),
    "floor": (hy.FloorOp, True),
    "sigmoid": (hy.SigmoidOp, True),
}


@builtin(*_UNARY)
def _unary(lower: ExprLowering, call: s.Call, env: dict) -> Operand:
    name = call.name
    op_class, floats = _UNARY[name]
    args = Args(call, ["x"], 1)
    x = lower.expr(args.nodes["x"], env)
    if floats and isinstance(x, Literal) and not isinstance(x.value, bool):
        x = Literal(float(x.value), x.node)
    check = _float_only(name) if floats else _numeric_only(name)
    return lower.elementwise(op_class, [x], call, check=check)


@builtin("maximum", "minimum")
def _binary(lower: ExprLowering, call: s.Call, env: dict) -> Operand:
    name = call.name
    args = Args(call, ["a", "b"], 2)
    op_class = hy.MaximumOp if name == "maximum" else hy.MinimumOp
    operands = [lower.expr(args.nodes[k], env) for k in ("a", "b")]
    return lower.elementwise(op_class, operands, call, check=_numeric_only(name))


@builtin("where")
def _where(lower: ExprLowering, call: s.Call, env: dict) -> Operand:
    args = Args(call, ["condition", "x", "y"], 3)
    cond = lower.materialize(lower.expr(args.nodes["condition"], env), i1)
    if element_type(cond.type) != i1:
        raise LoweringError(f"where() needs a bool condition, got {show_type(cond.type)}", call, code="E0308")
    x, y = lower.expr(args.nodes["x"], env), lower.expr(args.nodes["y"], env)
    element = lower.common_element([x, y], call)
    values = [cond, lower.materialize(x, element), lower.materialize(y, element)]
    return lower.elementwise(hy.SelectOp, values, call, element=element)


# -- reductions ----------------------------------------------------------------------------------------
def constant_int(node: s.Expr | None, what: str) -> int:
    if isinstance(node, s.UnaryOp) and node.op == "-" and isinstance(node.operand, s.Number):
        node = s.Number(node.line, node.col, -node.operand.value)
    if isinstance(node, s.Number) and isinstance(node.value, int):
        return node.value
    raise LoweringError(f"{what} must be an integer literal", node, code="E0405")  # type: ignore[arg-type]


def constant_ints(node: s.Expr, what: str) -> list[int]:
    """An int literal or a tuple of them (parentheses optional for one)."""
    while isinstance(node, s.Paren):
        node = node.inner
    if isinstance(node, s.Tuple):
        return [constant_int(item, what) for item in node.items]
    return [constant_int(node, what)]


def normalize_axes(axes: list[int], rank: int, node: s.Node) -> list[int]:
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise LoweringError(f"axis {a} is out of range for a value of rank {rank}", node, code="E0313")
        out.append(a % rank)
    if len(set(out)) != len(out):
        raise LoweringError(f"repeated axis in {axes}", node, code="E0313")
    return sorted(out)


def constant_bool(node: s.Expr | None, what: str) -> bool:
    if node is None:
        return False
    if isinstance(node, s.Bool):
        return node.value
    raise LoweringError(f"{what} must be True or False", node, code="E0405")


_REDUCTIONS: dict[str, type[Operation]] = {"sum": hy.SumOp, "prod": hy.ProdOp, "mean": hy.MeanOp,
                                           "max": hy.MaxOp, "min": hy.MinOp}


@builtin(*_REDUCTIONS)
def _reduce(lower: ExprLowering, call: s.Call, env: dict) -> Operand:
    name = call.name
    if name in ("max", "min") and len(call.args) == 2:
        raise LoweringError(f"{name}() reduces one tensor; for the elementwise {name}imum of "
                            f"two values use {name}imum(a, b)", call, code="E0401")
    args = Args(call, ["x", "axis", "keepdims"], 1)
    x = lower.value(args.nodes["x"], env)
    if element_type(x.type) == i1:
        raise LoweringError(f"{name}() is not defined for bool values", call, code="E0316")
    if name == "mean" and not is_float(x.type):
        raise LoweringError(f"mean() needs a float argument, got {show_type(x.type)} (convert "
                            "with cast(x, f32))", call, code="E0316")
    rank = len(shape_of(x.type))
    axis_node = args.get("axis")
    axes = list(range(rank)) if axis_node is None else normalize_axes(
        constant_ints(axis_node, "axis"), rank, axis_node)
    attrs = {"axes": int_array(axes), "keepdims": BoolAttr(constant_bool(args.get("keepdims"),
                                                                         "keepdims"))}
    lower.at(call)
    return lower.create(_REDUCTIONS[name], [x], attrs)


@builtin("softmax")
def _softmax(lower: ExprLowering, call: s.Call, env: dict) -> Operand:
    args = Args(call, ["x", "axis"], 1)
    x = lower.value(args.nodes["x"], env)
    if not is_float(x.type) or not shape_of(x.type):
        raise LoweringError(f"softmax() needs a float tensor, got {show_type(x.type)}", call, code="E0316")
    axis_node = args.get("axis")
    axis = -1 if axis_node is None else constant_int(axis_node, "axis")
    (axis,) = normalize_axes([axis], len(shape_of(x.type)), axis_node or call)
    lower.at(call)
    return lower.create(hy.SoftmaxOp, [x], {"axis": IntAttr(axis)})


@builtin("argmax", "argmin")
def _arg_extremum(lower: ExprLowering, call: s.Call, env: dict) -> Operand:
    name = call.name
    args = Args(call, ["x", "axis", "keepdims"], 1)
    x = lower.value(args.nodes["x"], env)
    rank = len(shape_of(x.type))
    if not rank or element_type(x.type) == i1:
        raise LoweringError(f"{name}() needs an integer or float tensor, got {show_type(x.type)}",
                            call, code="E0316")
    axis_node = args.get("axis")
    if axis_node is None and rank > 1:
        raise LoweringError(f"{name}() of a rank-{rank} tensor needs an axis", call, code="E0313")
    axis = 0 if axis_node is None else constant_int(axis_node, "axis")
    (axis,) = normalize_axes([axis], rank, axis_node or call)
    attrs = {"axis": IntAttr(axis), "keepdims": BoolAttr(constant_bool(args.get("keepdims"),
                                                                       "keepdims"))}
    lower.at(call)
    return lower.create(hy.ArgmaxOp if name == "argmax" else hy.ArgminOp, [x], attrs)


# -- shapes ----------------------------------------------------------------------------------------------
@builtin("transpose")
def _transpose(lower: ExprLowering, call: s.Call, env: dict) -> Operand:
    args = Args(call, ["x", "axes"], 1)
    x = lower.value(args.nodes["x"], env)
    rank = len(shape_of(x.type))
    if rank == 0:
        return x
    axes_node = args.get("axes")
    perm = list(range(rank))[::-1] if axes_node is None else constant_ints(axes_node, "axes")
    if sorted(a % rank if -rank <= a < rank else a for a in perm) != list(range(rank)):
        raise LoweringError(f"axes {tuple(perm)} are not a permutation of the {rank} dimensions "
                            f"of {show_type(x.type)}", axes_node or call, code="E0315")
    lower.at(call)
    return lower.create(hy.TransposeOp, [x], {"permutation": int_array([a % rank for a in perm])})


@builtin("reshape")
def _reshape(lower: ExprLowering, call: s.Call, env: dict) -> Operand:
    args = Args(call, ["x", "shape"], 2)
    x = lower.value(args.nodes["x"], env)
    shape = constant_ints(args.nodes["shape"], "shape")
    if shape.count(-1) > 1 or any(d < -1 for d in shape):
        raise LoweringError(f"invalid shape {tuple(shape)}: sizes are >= 0, with at most one -1",
                            args.nodes["shape"], code="E0314")
    lower.at(call)
    known = 1
    for d in shape:
        known *= d if d != -1 else 1
    if all(isinstance(d, int) for d in shape_of(x.type)):
        return _reshape_static(lower, call, x, shape, known)
    if -1 not in shape:
        raise LoweringError(f"reshaping {show_type(x.type)}, whose size is only known at run time, "
                            "needs a -1 in the new shape", call, code="E0314")
    # the -1 dimension is the element count divided by the other sizes, computed at run time
    total: Value | None = None
    for axis, d in enumerate(shape_of(x.type)):
        size = lower.b.constant(index, d) if isinstance(d, int) else lower.create(
            hy.DimOp, [x], {"axis": IntAttr(axis)})
        total = size if total is None else lower.create(hy.MulOp, [total, size])
    assert total is not None
    count = lower.create(hy.DivOp, [total, lower.b.constant(index, known)])
    dims: tuple[Dim, ...] = tuple(DYNAMIC if d == -1 else d for d in shape)
    return lower.create(hy.ReshapeOp, [x, count],
                        result_types=[make_type(element_type(x.type), dims)])


def _reshape_static(lower: ExprLowering, call: s.Call, x: Value, shape: list[int],
                    known: int) -> Value:
    total = 1
    for d in shape_of(x.type):
        total *= int(d)
    if -1 in shape:
        if known == 0 or total % known:
            raise LoweringError(f"cannot reshape {show_type(x.type)} into {tuple(shape)}", call, code="E0314")
        shape = [total // known if d == -1 else d for d in shape]
    elif known != total:
        raise LoweringError(f"cannot reshape {show_type(x.type)} ({total} elements) into "
                            f"{tuple(shape)} ({known} elements)", call, code="E0314")
    return lower.create(hy.ReshapeOp, [x], result_types=[make_type(element_type(x.type),
                                                                   tuple(shape))])


def _dtype_arg(node: s.Expr | None, default: ScalarType) -> ScalarType:
    if node is None:
        return default
    if isinstance(node, s.Name) and node.id in DTYPES:
        return DTYPES[node.id]
    raise LoweringError(f"expected a dtype ({', '.join(DTYPES)})", node, code="E0405")


@builtin("zeros", "ones")
def _filled(lower: ExprLowering, call: s.Call, env: dict) -> Operand:
    name = call.name
    args = Args(call, ["shape", "dtype"], 1)
    shape = constant_ints(args.nodes["shape"], "shape")
    if any(d < 0 for d in shape):
        raise LoweringError(f"invalid shape {tuple(shape)}", args.nodes["shape"], code="E0314")
    element = _dtype_arg(args.get("dtype"), f32)
    lower.at(call)
    return lower.b.constant(make_type(element, tuple(shape)), name == "ones")


@builtin("zeros_like", "ones_like")
def _filled_like(lower: ExprLowering, call: s.Call, env: dict) -> Operand:
    name = call.name
    args = Args(call, ["x", "dtype"], 1)
    x = lower.value(args.nodes["x"], env)
    element = _dtype_arg(args.get("dtype"), element_type(x.type))
    lower.at(call)
    fill = lower.b.constant(element, name == "ones_like")
    return lower.broadcast_to(fill, shape_of(x.type), [x])


@builtin("cast")
def _cast(lower: ExprLowering, call: s.Call, env: dict) -> Operand:
    args = Args(call, ["x", "dtype"], 2)
    element = _dtype_arg(args.nodes["dtype"], f32)
    x = lower.expr(args.nodes["x"], env)
    if isinstance(x, Literal):
        value = x.value
        if element == i1:
            value = bool(value)
        elif not is_float(element):
            value = int(value)
        return lower.materialize(Literal(value, x.node), element)
    lower.at(call)
    if element_type(x.type) == element:
        return x
    return lower.create(hy.CastOp, [x], result_types=[make_type(element, shape_of(x.type))])


@builtin("print")
def _print(lower: ExprLowering, call: s.Call, env: dict) -> Operand:
    if call.keywords:
        raise LoweringError("print() takes no keyword arguments", call.keywords[0], code="E0403")
    values = [lower.value(a, env) for a in call.args]
    lower.at(call)
    lower.b.create(hy.PrintOp, values, result_types=[])
    from .exprs import NO_VALUE
    return NO_VALUE


@builtin("range")
def _range(lower: ExprLowering, call: s.Call, env: dict) -> Operand:
    raise LoweringError("range() is only allowed as the iterable of a for loop", call, code="E0406")

