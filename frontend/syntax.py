"""The .hy abstract syntax tree: small dataclasses, each with its source position.

``line``/``col`` are 1-based. Binary operators carry the operator's position, so errors
about an operation point at the operator, as Python's own tracebacks do.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Node:
    line: int
    col: int


# -- types ------------------------------------------------------------------------------------------
@dataclass
class TypeExpr(Node):
    dtype: str
    dims: list[int | str] | None  # None for a scalar type


# -- expressions --------------------------------------------------------------------------------------
class Expr(Node):
    pass


@dataclass
class Name(Expr):
    id: str


@dataclass
class Number(Expr):
    value: int | float


@dataclass
class Bool(Expr):
    value: bool


@dataclass
class Tuple(Expr):
    items: list[Expr]


@dataclass
class Paren(Expr):
    """A parenthesized expression (kept so that ``(a < b) < c`` is not a chain)."""
    inner: Expr


@dataclass
class BinOp(Expr):
    op: str  # + - * / @ **
    left: Expr
    right: Expr


@dataclass
class UnaryOp(Expr):
    op: str  # - +
    operand: Expr


@dataclass
class Compare(Expr):
    op: str  # < > == >= <= !=
    left: Expr
    right: Expr


@dataclass
class BoolOp(Expr):
    op: str  # and or
    left: Expr
    right: Expr


@dataclass
class Not(Expr):
    operand: Expr


@dataclass
class Keyword(Node):
    name: str
    value: Expr


@dataclass
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


@dataclass
class Assign(Stmt):
    target: str
    value: Expr
    op: str | None = None  # "+" for +=, ...


@dataclass
class Return(Stmt):
    value: Expr | None


@dataclass
class Pass(Stmt):
    pass


@dataclass
class ExprStmt(Stmt):
    value: Expr


@dataclass
class If(Stmt):
    """``if``/``elif``/``else``: branches are (condition, body) pairs; orelse may be empty."""
    branches: list[tuple[Expr, list[Stmt]]]
    orelse: list[Stmt]


@dataclass
class For(Stmt):
    var: str
    iter: Expr
    body: list[Stmt]


@dataclass
class Param(Node):
    name: str
    type: TypeExpr


@dataclass
class FuncDef(Node):
    name: str
    params: list[Param]
    returns: TypeExpr | None
    body: list[Stmt]
    end_line: int = 0


@dataclass
class Module:
    filename: str
    functions: list[FuncDef] = field(default_factory=list)
