"""Lowering .hy expressions to hy IR: typing, literals, numpy broadcasting, calls.

Numbers in the source are *weak* until they meet a typed value (like numpy's Python
scalars): ``x * 2`` keeps ``x``'s dtype. Alone they default to i32, f32 and bool.
Broadcasting follows numpy's rules on the static types; a dynamic dimension is assumed to
match the dimension it meets (checked when the program runs), and two different names
(``N`` vs ``M``) or a name and a size other than 1 are an error, since they may differ.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

from hyc.ir import Builder, CallOp, FileLineColLoc, FuncOp, Value
from hyc.ir.core import Operation
from hyc.ir.dialects import hy
from hyc.ir.shapes import broadcast_shapes
from hyc.ir.types import (
    DYNAMIC,
    Dim,
    FloatType,
    ScalarType,
    Shape,
    Type,
    element_type,
    f32,
    i1,
    i32,
    i64,
    is_integer,
    make_type,
    numpy_dtype,
    shape_of,
)
from hyc.record import record

from . import syntax as s
from .shaping import broadcast_value

if TYPE_CHECKING:
    from .irgen import ModuleLowering

DTYPES: dict[str, ScalarType] = {"f32": f32, "f64": FloatType(64), "i32": i32, "i64": i64,
                                 "bool": i1}


class LoweringError(Exception):
    """A user error at a node; collected as a diagnostic."""

    def __init__(self, message: str, node: s.Node, *, code: str) -> None:
        super().__init__(message)
        self.message, self.node, self.code = message, node, code


class Poisoned(Exception):
    """The expression uses something that already failed (and was reported)."""


POISON = object()


@record
class Literal:
    """A number or bool from the source, typed by what it meets."""
    value: int | float | bool
    node: s.Node


Operand: TypeAlias = Value | Literal


def show_type(t: Type) -> str:
    """A type as .hy writes it: ``f32[N, 512]``, ``bool``."""
    name = "bool" if element_type(t) == i1 else str(element_type(t))
    shape = shape_of(t)
    return f"{name}[{', '.join(map(str, shape))}]" if shape else name


def describe(operand: Operand) -> str:
    if isinstance(operand, Literal):
        return "a bool literal" if isinstance(operand.value, bool) else f"the number {operand.value}"
    return show_type(operand.type)


def dims_agree(a: Dim, b: Dim) -> bool:
    return a == b or DYNAMIC in (a, b)


def broadcast_shape(a: Shape, b: Shape) -> Shape | None:
    """numpy broadcasting where a named dimension meets only itself, ``?`` or 1."""
    return broadcast_shapes(a, b, agree=dims_agree)


class ExprLowering:
    """Expression lowering for one function; ``irgen.FunctionLowering`` adds statements."""

    def __init__(self, module: ModuleLowering, func: FuncOp) -> None:
        self.module = module
        self.func = func
        self.b = Builder(func.body)

    # -- locations and errors ---------------------------------------------------------------------
    def loc(self, node: s.Node) -> FileLineColLoc:
        return FileLineColLoc(self.module.filename, node.line, node.col)

    def at(self, node: s.Node) -> None:
        self.b.loc = self.loc(node)

    def create(self, op_class: type[Operation], operands: Sequence[Value], attrs: dict | None = None,
               result_types: list[Type] | None = None) -> Value:
        return self.b.create(op_class, operands, attrs or {}, result_types).result

    # -- literals ---------------------------------------------------------------------------------
    def default_type(self, lit: Literal) -> ScalarType:
        if isinstance(lit.value, bool):
            return i1
        return i32 if isinstance(lit.value, int) else f32

    def materialize(self, operand: Operand, element: ScalarType | None = None) -> Value:
        """A Value for ``operand``; literals become constants of ``element`` (or their default)."""
        if isinstance(operand, Value):
            return operand
        target = element or self.default_type(operand)
        value = operand.value
        if isinstance(value, bool) != (target == i1):
            raise LoweringError(f"{describe(operand)} cannot be used as {show_type(target)}",
                                operand.node, code="E0304")
        if isinstance(value, float) and not isinstance(target, FloatType):
            raise LoweringError(f"{describe(operand)} cannot be used as {show_type(target)} "
                                f"without a cast", operand.node, code="E0304")
        dtype = numpy_dtype(target)
        too_big = (dtype.kind == "i" and not np.iinfo(dtype).min <= value <= np.iinfo(dtype).max) \
            or (dtype.kind == "f" and isinstance(value, int) and abs(value) > float(np.finfo(dtype).max))
        if too_big:
            shown = value if abs(value) < 10**30 else f"{str(value)[:12]}... ({len(str(value))} digits)"
            raise LoweringError(f"the number {shown} does not fit in {show_type(target)}",
                                operand.node, code="E0305")
        self.at(operand.node)
        return self.b.constant(target, value)

    # -- broadcasting ---------------------------------------------------------------------------------
    def broadcast_to(self, value: Value, target: Shape, sources: Sequence[Value]) -> Value:
        return broadcast_value(self.b, value, target, sources)

    def common_element(self, operands: Sequence[Operand], node: s.Node) -> ScalarType:
        values = [o for o in operands if isinstance(o, Value)]
        if values:
            element = element_type(values[0].type)
            for v in values[1:]:
                if element_type(v.type) != element:
                    raise LoweringError(f"dtype mismatch: {show_type(values[0].type)} and "
                                        f"{show_type(v.type)} (convert one with cast(x, "
                                        f"{show_type(element_type(v.type))}))", node, code="E0303")
            return element
        kinds = {self.default_type(o) for o in operands if isinstance(o, Literal)}
        return f32 if f32 in kinds else i1 if kinds == {i1} else i32

    def elementwise(self, op_class: type[Operation], operands: Sequence[Operand], node: s.Node,
                    check: Callable[[ScalarType], str | None] | None = None,
                    element: ScalarType | None = None) -> Value:
        """Apply an elementwise op with numpy broadcasting; ``check`` may reject the dtype."""
        self.at(node)
        element = element or self.common_element(operands, node)
        if check is not None:
            problem = check(element)
            if problem:
                raise LoweringError(problem, node, code="E0316")
        values = [self.materialize(o, element) for o in operands]
        self.at(node)
        shape: Shape = ()
        for v in values:
            merged = broadcast_shape(shape, shape_of(v.type))
            if merged is None:
                shown = " and ".join(show_type(w.type) for w in values)
                raise LoweringError(f"shape mismatch: cannot broadcast {shown}", node, code="E0301")
            shape = merged
        return self.create(op_class, [self.broadcast_to(v, shape, values) for v in values])

    # -- expressions ------------------------------------------------------------------------------------
    def expr(self, node: s.Expr, env: dict) -> Operand:
        handler = getattr(self, "expr_" + type(node).__name__)
        result = handler(node, env)
        return result

    def value(self, node: s.Expr, env: dict) -> Value:
        return self.materialize(self.expr(node, env))

    def expr_Name(self, node: s.Name, env: dict) -> Operand:
        found = env.get(node.id)
        if found is POISON:
            raise Poisoned()
        if found is not None:
            return found
        if node.id in self.module.signatures or node.id in BUILTIN_NAMES:
            raise LoweringError(f"'{node.id}' is a function; call it: {node.id}(...)", node, code="E0205")
        raise LoweringError(self.unknown_name_message(node.id, env), node, code="E0201")

    def unknown_name_message(self, name: str, env: dict) -> str:
        message = f"unknown name '{name}'"
        if name in DTYPES:
            return f"'{name}' is a type; types appear in signatures and in cast(x, {name})"
        if name in getattr(self, "assigned_anywhere", set()):
            return message + " here: it is only assigned inside a loop or in some branches"
        close = difflib.get_close_matches(name, [k for k in env if env[k] is not POISON], n=1)
        return message + (f"; did you mean '{close[0]}'?" if close else "")

    def expr_Number(self, node: s.Number, env: dict) -> Operand:
        return Literal(node.value, node)

    def expr_Bool(self, node: s.Bool, env: dict) -> Operand:
        return Literal(node.value, node)

    def expr_Paren(self, node: s.Paren, env: dict) -> Operand:
        return self.expr(node.inner, env)

    def expr_Tuple(self, node: s.Tuple, env: dict) -> Operand:
        raise LoweringError("a tuple is only allowed as a shape or axes argument", node, code="E0406")

    def expr_UnaryOp(self, node: s.UnaryOp, env: dict) -> Operand:
        operand = self.expr(node.operand, env)
        if isinstance(operand, Literal) and not isinstance(operand.value, bool):
            return Literal(-operand.value if node.op == "-" else operand.value, node)
        if node.op == "+":
            self.elementwise(hy.NegOp, [operand], node, check=_numeric("unary +"))
            return operand
        return self.elementwise(hy.NegOp, [operand], node, check=_numeric("unary -"))

    def expr_BinOp(self, node: s.BinOp, env: dict) -> Operand:
        left, right = self.expr(node.left, env), self.expr(node.right, env)
        if node.op == "@":
            return self.matmul(left, right, node)
        op_class, check = _ARITHMETIC[node.op]
        return self.elementwise(op_class, [left, right], node, check=check)

    def expr_Compare(self, node: s.Compare, env: dict) -> Operand:
        if isinstance(node.left, s.Compare):
            raise LoweringError("chained comparisons (a < b < c) are not supported; write "
                                "(a < b) and (b < c)", node, code="E0104")
        left, right = self.expr(node.left, env), self.expr(node.right, env)
        op_class = _COMPARISONS[node.op]
        check = None if node.op in ("==", "!=") else _numeric(f"'{node.op}'")
        return self.elementwise(op_class, [left, right], node, check=check)

    def expr_BoolOp(self, node: s.BoolOp, env: dict) -> Operand:
        left, right = self.expr(node.left, env), self.expr(node.right, env)
        op_class = hy.AndOp if node.op == "and" else hy.OrOp
        return self.elementwise(op_class, [left, right], node, check=_boolean(f"'{node.op}'"))

    def expr_Not(self, node: s.Not, env: dict) -> Operand:
        return self.elementwise(hy.NotOp, [self.expr(node.operand, env)], node,
                                check=_boolean("'not'"))

    def matmul(self, left: Operand, right: Operand, node: s.Node) -> Value:
        for side in (left, right):
            if isinstance(side, Literal) or not shape_of(side.type):
                raise LoweringError(f"'@' needs tensors on both sides, got {describe(left)} @ "
                                    f"{describe(right)}", node, code="E0302")
        assert isinstance(left, Value) and isinstance(right, Value)
        element = self.common_element([left, right], node)
        if element == i1:
            raise LoweringError("'@' is not defined for bool tensors", node, code="E0302")
        a, b = shape_of(left.type), shape_of(right.type)
        ka, kb = a[-1], (b[0] if len(b) == 1 else b[-2])
        if not dims_agree(ka, kb):
            raise LoweringError(f"shape mismatch in matmul: {show_type(left.type)} @ "
                                f"{show_type(right.type)} (inner dimensions {ka} and {kb} differ)",
                                node, code="E0302")
        if broadcast_shape(a[:-2], b[:-2]) is None:
            raise LoweringError(f"shape mismatch in matmul: the batch dimensions of "
                                f"{show_type(left.type)} and {show_type(right.type)} do not "
                                "broadcast", node, code="E0302")
        self.at(node)
        return self.create(hy.MatmulOp, [left, right])

    # -- calls ---------------------------------------------------------------------------------------------
    def expr_Call(self, node: s.Call, env: dict) -> Operand:
        if not isinstance(node.func, s.Name):
            raise LoweringError("only named functions can be called", node, code="E0104")
        name = node.func.id
        if name in self.module.signatures:
            return self.call_function(name, node, env)
        builtin = BUILTINS.get(name)
        if builtin is None:
            if name in self.module.broken:
                raise Poisoned()
            close = difflib.get_close_matches(name, [*BUILTIN_NAMES, *self.module.signatures], n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise LoweringError(f"unknown function '{name}'{hint}", node.func, code="E0202")
        return builtin(self, node, env)

    def call_function(self, name: str, node: s.Call, env: dict) -> Value:
        callee = self.module.signatures[name]
        params = [a.name_hint or "" for a in callee.body.args]
        bound = bind_arguments(name, params, node)
        bindings: dict[str, Dim] = {}
        args = []
        for param, arg_node, type_ in zip(params, bound, callee.type.inputs):
            operand = self.expr(arg_node, env)
            args.append(self.coerce_argument(operand, type_, bindings, f"argument '{param}' of "
                                             f"{name}()", arg_node))
        if not callee.type.results:
            self.at(node)
            self.b.insert(CallOp(args, [], {"callee": _symbol(name)}, loc=self.loc(node)))
            return NO_VALUE
        results = [substitute(t, bindings) for t in callee.type.results]
        self.at(node)
        return self.b.insert(CallOp(args, results, {"callee": _symbol(name)},
                                    loc=self.loc(node))).result

    def coerce_argument(self, operand: Operand, expected: Type, bindings: dict[str, Dim],
                        what: str, node: s.Node) -> Value:
        """Check ``operand`` against a parameter type, binding its named dimensions."""
        if isinstance(operand, Literal):
            if shape_of(expected):
                raise LoweringError(f"{what} must be {show_type(expected)}, got "
                                    f"{describe(operand)}", node, code="E0306")
            return self.materialize(operand, element_type(expected))
        got = operand.type
        if element_type(got) != element_type(expected) or len(shape_of(got)) != len(shape_of(expected)):
            raise LoweringError(f"{what} must be {show_type(expected)}, got {show_type(got)}", node,
                                code="E0306")
        for want, have in zip(shape_of(expected), shape_of(got)):
            if isinstance(want, int) or want == DYNAMIC:
                if not dims_agree(want, have):
                    raise LoweringError(f"{what} must be {show_type(expected)}, got "
                                        f"{show_type(got)}", node, code="E0306")
            elif want in bindings and not dims_agree(bindings[want], have):
                raise LoweringError(f"{what}: dimension {want} is {have} here but "
                                    f"{bindings[want]} in an earlier argument", node, code="E0307")
            else:
                bindings.setdefault(want, have)
        return operand


class _NoValue(Value):
    """What a call of a function without results evaluates to."""


NO_VALUE = _NoValue(i1)


def _symbol(name: str):
    from hyc.ir.attributes import SymbolRefAttr
    return SymbolRefAttr(name)


def substitute(t: Type, bindings: dict[str, Dim]) -> Type:
    """A callee's type with its named dimensions replaced by what the call bound them to."""
    shape = tuple(bindings.get(d, DYNAMIC) if isinstance(d, str) and d != DYNAMIC else d
                  for d in shape_of(t))
    return make_type(element_type(t), shape)


def bind_arguments(name: str, params: list[str], node: s.Call) -> list[s.Expr]:
    """Positional and keyword arguments in parameter order, with arity errors."""
    if len(node.args) > len(params):
        raise LoweringError(f"{name}() takes {len(params)} argument(s) but {len(node.args)} were "
                            "given", node, code="E0401")
    bound: dict[str, s.Expr] = dict(zip(params, node.args))
    for kw in node.keywords:
        if kw.name not in params:
            raise LoweringError(f"{name}() has no parameter named '{kw.name}'", kw, code="E0403")
        if kw.name in bound:
            raise LoweringError(f"{name}() got two values for '{kw.name}'", kw, code="E0404")
        bound[kw.name] = kw.value
    missing = [p for p in params if p not in bound]
    if missing:
        raise LoweringError(f"{name}() is missing argument(s): {', '.join(missing)}", node, code="E0402")
    return [bound[p] for p in params]


# -- dtype rules for operators -----------------------------------------------------------------------
def _numeric(what: str) -> Callable[[ScalarType], str | None]:
    return lambda e: f"{what} is not defined for bool values" if e == i1 else None


def _boolean(what: str) -> Callable[[ScalarType], str | None]:
    return lambda e: None if e == i1 else f"{what} needs bool operands, got {show_type(e)} " \
                                           "(compare first, e.g. x > 0)"


def _true_division(e: ScalarType) -> str | None:
    if e == i1:
        return "'/' is not defined for bool values"
    if is_integer(e):
        return (f"'/' on {show_type(e)} values: true division needs floats; convert with "
                "cast(x, f32)")
    return None


_ARITHMETIC: dict[str, tuple[type[Operation], Callable[[ScalarType], str | None]]] = {
    "+": (hy.AddOp, _numeric("'+'")), "-": (hy.SubOp, _numeric("'-'")),
    "*": (hy.MulOp, _numeric("'*'")), "/": (hy.DivOp, _true_division),
    "**": (hy.PowOp, _numeric("'**'")),
}
_COMPARISONS: dict[str, type[Operation]] = {
    "<": hy.LtOp, "<=": hy.LeOp, ">": hy.GtOp, ">=": hy.GeOp, "==": hy.EqOp, "!=": hy.NeOp,
}

# Filled in by builtins.py (imported below) to avoid a cycle.
BUILTINS: dict[str, Callable[[ExprLowering, s.Call, dict], Operand]] = {}
BUILTIN_NAMES: set[str] = set()
