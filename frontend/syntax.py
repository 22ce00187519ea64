"""The .hy abstract syntax tree: small records (hyc/record.py), each with its source position.

``line``/``col`` are 1-based. Binary operators carry the operator's position, so errors
about an operation point at the operator, as Python's own tracebacks do.
"""

from __future__ import annotations

from hyc.record import field, record


@record
class Node:
    line: int
    col: int


# -- types ------------------------------------------------------------------------------------------
@record
class TypeExpr(Node):
    dtype: str
    dims: list[int | str] | None  # None for a scalar type


# -- expressions --------------------------------------------------------------------------------------
class Expr(Node):
    pass


@record
class Name(Expr):
    id: str


@record
class Number(Expr):
    value: int | float


@record
class Bool(Expr):
    value: bool


@record
class Tuple(Expr):
    items: list[Expr]


@record
class Paren(Expr):
    """A parenthesized expression (kept so that ``(a < b) < c`` is not a chain)."""
    inner: Expr


@record
class BinOp(Expr):
    op: str  # + - * / @ **
    left: Expr
    right: Expr


@record
class UnaryOp(Expr):
    op: str  # - +
    operand: Expr


@record
class Compare(Expr):
    op: str  # < > == >= <= !=
    left: Expr
    right: Expr


@record
class BoolOp(Expr):
    op: str  # and or
    left: Expr
    right: Expr


@record
class Not(Expr):
    operand: Expr


@record
class Keyword(Node):
    name: str
    value: Expr


@record
class Call(Expr):
    func: Expr
    args: list[Expr]
    keywords: list[Keyword]

    @property
    def name(self) -> str:
        """The called name (builtins and functions are called by name)."""
        return self.func.id if isinstance(self.func, Name) else ""


# -- statements ----------------------------------------------------------------------------------------
class Stmt(Node):
    pass


@record
class Assign(Stmt):
    target: str
    value: Expr
    op: str | None = None  # "+" for +=, ...


@record
class Return(Stmt):
    value: Expr | None


@record
class Pass(Stmt):
    pass


@record
class ExprStmt(Stmt):
    value: Expr


@record
class If(Stmt):
    """``if``/``elif``/``else``: branches are (condition, body) pairs; orelse may be empty."""
    branches: list[tuple[Expr, list[Stmt]]]
    orelse: list[Stmt]


@record
class For(Stmt):
    var: str
    iter: Expr
    body: list[Stmt]


@record
class Param(Node):
    name: str
    type: TypeExpr


@record
class FuncDef(Node):
    name: str
    params: list[Param]
    returns: TypeExpr | None
    body: list[Stmt]
    end_line: int = 0


@record
class Module:
    filename: str
    functions: list[FuncDef] = field(default_factory=list)
