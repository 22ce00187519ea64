"""Lowering .hy functions to hy IR: signatures, statements and structured control flow.

- ``for i in range(...)`` becomes ``scf.for``; variables assigned in the body that exist
  before the loop are carried through it; names first assigned inside stay inside.
- ``if/elif/else`` becomes nested ``scf.if``; variables assigned in a branch flow out as
  results when they exist before the ``if`` or are assigned on every branch.
- A ``return`` inside an ``if`` turns the rest of the function into the continuation of the
  branches that do not return, so every path ends in one ``func.return``.
"""

from __future__ import annotations

import re

from hyc.ir import (
    Diagnostic,
    FileLineColLoc,
    ForOp,
    FuncOp,
    HycError,
    IfOp,
    ModuleOp,
    ReturnOp,
    Value,
    YieldOp,
    verify,
)
from hyc.ir.core import Block, Region
from hyc.ir.dialects import hy
from hyc.ir.types import (
    DYNAMIC,
    Type,
    element_type,
    i1,
    i32,
    index,
    is_integer,
    make_type,
    shape_of,
    static_size_problem,
)

from . import builtins as _builtins  # noqa: F401  (registers the builtins)
from . import syntax as s
from .exprs import (
    BUILTIN_NAMES,
    DTYPES,
    NO_VALUE,
    POISON,
    ExprLowering,
    Literal,
    LoweringError,
    Operand,
    Poisoned,
    dims_agree,
    show_type,
)
from .parser import parse_source

Env = dict[str, object]  # name -> Value, or POISON after an error


def assigned_names(stmts: list[s.Stmt]) -> list[str]:
    """Names assigned anywhere in ``stmts`` (nested blocks included), in first-seen order."""
    names: dict[str, None] = {}
    for stmt in stmts:
        if isinstance(stmt, s.Assign):
            names[stmt.target] = None
        elif isinstance(stmt, s.For):
            names.update(dict.fromkeys(assigned_names(stmt.body)))
        elif isinstance(stmt, s.If):
            for _, body in stmt.branches:
                names.update(dict.fromkeys(assigned_names(body)))
            names.update(dict.fromkeys(assigned_names(stmt.orelse)))
    return list(names)


def uses_name(node: object, name: str) -> bool:
    """Whether ``name`` is read anywhere in a syntax node or list of nodes."""
    if isinstance(node, s.Name):
        return node.id == name
    if isinstance(node, list | tuple):
        return any(uses_name(item, name) for item in node)
    if isinstance(node, s.Node):
        return any(uses_name(v, name) for v in vars(node).values())
    return False


def literal_int(node: s.Expr) -> int | None:
    """The value of an integer literal, negated or not; None for anything else."""
    sign = 1
    while isinstance(node, s.UnaryOp | s.Paren):
        if isinstance(node, s.UnaryOp):
            sign = -sign if node.op == "-" else sign
            node = node.operand
        else:
            node = node.inner
    if isinstance(node, s.Number) and isinstance(node.value, int):
        return sign * node.value
    return None


def contains_return(stmts: list[s.Stmt]) -> s.Return | None:
    for stmt in stmts:
        if isinstance(stmt, s.Return):
            return stmt
        nested: list[list[s.Stmt]] = []
        if isinstance(stmt, s.If):
            nested = [body for _, body in stmt.branches] + [stmt.orelse]
        elif isinstance(stmt, s.For):
            nested = [stmt.body]
        for body in nested:
            found = contains_return(body)
            if found:
                return found
    return None


class FunctionLowering(ExprLowering):
    def __init__(self, module: ModuleLowering, func: FuncOp, node: s.FuncDef) -> None:
        super().__init__(module, func)
        self.node = node
        self.results = list(func.type.results)
        self.assigned_anywhere = set(assigned_names(node.body))

    def report(self, error: LoweringError) -> None:
        self.module.error(error.message, error.node, code=error.code)

    # -- the function -------------------------------------------------------------------------------
    def lower(self) -> None:
        env: Env = {a.name_hint: a for a in self.func.body.args if a.name_hint}
        returned = self.block(self.node.body, env)
        if returned is None:
            if self.results:
                end = s.Node(self.node.line, self.node.col)
                self.module.error(f"function '{self.node.name}' can reach its end without "
                                  f"returning a {show_type(self.results[0])}", end, code="E0310")
            returned = []
        self.b.loc = self.loc(self.node)
        self.b.create(ReturnOp, returned, result_types=[])

    def block(self, stmts: list[s.Stmt], env: Env) -> list[Value] | None:
        """Lower statements; the returned values if every path returns, else None."""
        for k, stmt in enumerate(stmts):
            if isinstance(stmt, s.Return):
                return self.return_values(stmt, env)
            if isinstance(stmt, s.If) and contains_return([stmt]):
                return self.returning_if(stmt, stmts[k + 1:], env)
            self.statement(stmt, env)
        return None

    def statement(self, stmt: s.Stmt, env: Env) -> None:
        try:
            if isinstance(stmt, s.Assign):
                self.assign(stmt, env)
            elif isinstance(stmt, s.ExprStmt):
                self.expr(stmt.value, env)
            elif isinstance(stmt, s.For):
                self.for_loop(stmt, env)
            elif isinstance(stmt, s.If):
                self.if_chain(stmt.branches, stmt.orelse, env, stmt)
        except LoweringError as e:
            self.report(e)
            self.poison(stmt, env)
        except Poisoned:
            self.poison(stmt, env)

    def poison(self, stmt: s.Stmt, env: Env) -> None:
        for name in assigned_names([stmt]):
            env[name] = POISON

    def assign(self, stmt: s.Assign, env: Env) -> None:
        expr: s.Expr = stmt.value
        if stmt.op is not None:
            expr = s.BinOp(stmt.line, stmt.col, stmt.op, s.Name(stmt.line, stmt.col, stmt.target),
                           stmt.value)
        value = self.value(expr, env)
        if value is NO_VALUE:
            raise LoweringError("this call returns nothing", stmt.value, code="E0312")
        if value.name_hint is None and not stmt.target.startswith("_"):
            value.name_hint = stmt.target
        env[stmt.target] = value

    def return_values(self, stmt: s.Return, env: Env) -> list[Value]:
        try:
            if stmt.value is None:
                if self.results:
                    raise LoweringError(f"'{self.node.name}' must return a "
                                        f"{show_type(self.results[0])}", stmt, code="E0311")
                return []
            if not self.results:
                raise LoweringError(f"'{self.node.name}' returns a value but declares no return "
                                    "type; add '-> TYPE' to its signature", stmt, code="E0311")
            operand = self.expr(stmt.value, env)
            return [self.coerce_result(operand, self.results[0], stmt.value)]
        except LoweringError as e:
            self.report(e)
        except Poisoned:
            pass
        return [self.placeholder(t) for t in self.results]

    def coerce_result(self, operand: Operand, expected: Type, node: s.Node) -> Value:
        what = f"'{self.node.name}' returns {show_type(expected)}"
        if isinstance(operand, Literal):
            if shape_of(expected):
                raise LoweringError(f"{what}, not a number", node, code="E0311")
            return self.materialize(operand, element_type(expected))
        got = operand.type
        same_rank = len(shape_of(got)) == len(shape_of(expected))
        if element_type(got) != element_type(expected) or not same_rank or not all(
                dims_agree(a, b) for a, b in zip(shape_of(got), shape_of(expected))):
            raise LoweringError(f"{what}, but this value is {show_type(got)}", node, code="E0311")
        return operand

    def placeholder(self, t: Type) -> Value:
        """Stands in for a value that failed (the module is not produced after an error)."""
        return Value(t)

    # -- loops ---------------------------------------------------------------------------------------
    def for_loop(self, stmt: s.For, env: Env) -> None:
        lower, upper, step = self.range_bounds(stmt, env)
        carried = [n for n in assigned_names(stmt.body) if n in env and n != stmt.var]
        if any(env[n] is POISON for n in carried):
            raise Poisoned()
        loop = self.b.insert(ForOp.create(lower, upper, step, [env[n] for n in carried],
                                          loc=self.loc(stmt), iv_name=stmt.var))
        for name, arg, result in zip(carried, loop.body.args[1:], loop.results):
            arg.name_hint = result.name_hint = name
        inner: Env = dict(env)
        inner.update(zip(carried, loop.body.args[1:]))
        with self.b.at_end(loop.body):
            if uses_name(stmt.body, stmt.var):
                self.at(stmt)
                assert isinstance(stmt.iter, s.Call)  # the parser allows only range(...) here
                counter = self.counter_type(stmt.iter.args, env)
                inner[stmt.var] = self.create(hy.CastOp, [loop.body.args[0]],
                                              result_types=[counter])
            self.block(stmt.body, inner)
            yields = [self.carried_value(n, inner, env, stmt) for n in carried]
            self.at(stmt)
            self.b.create(YieldOp, yields, result_types=[])
        for name, result in zip(carried, loop.results):
            env[name] = result if inner[name] is not POISON else POISON

    def range_bounds(self, stmt: s.For, env: Env) -> list[Value]:
        """Check the loop's header; its lower bound, upper bound and step as index values."""
        ret = contains_return(stmt.body)
        if ret is not None:
            raise LoweringError("return inside a for loop is not supported; assign the result "
                                "to a variable and return after the loop", ret, code="E0406")
        call = stmt.iter
        if not (isinstance(call, s.Call) and isinstance(call.func, s.Name)
                and call.func.id == "range"):
            raise LoweringError("a for loop iterates over range(...)", stmt.iter, code="E0406")
        if call.keywords or not 1 <= len(call.args) <= 3:
            raise LoweringError("range() takes 1 to 3 positional arguments", call, code="E0401")
        if stmt.var in env:
            raise LoweringError(f"the loop variable '{stmt.var}' is already a variable here; "
                                "choose another name", stmt, code="E0207")
        if len(call.args) == 3 and literal_int(call.args[2]) is not None \
                and literal_int(call.args[2]) <= 0:  # type: ignore[operator]
            raise LoweringError("range() step must be positive", call.args[2], code="E0407")
        bounds = [self.index_value(a, env) for a in call.args]
        self.at(stmt)
        if len(bounds) == 1:
            bounds.insert(0, self.b.constant(index, 0))
        if len(bounds) == 2:
            bounds.append(self.b.constant(index, 1))
        return bounds

    def counter_type(self, args: list[s.Expr], env: Env) -> Type:
        for a in args:
            bound = env.get(a.id) if isinstance(a, s.Name) else None
            if isinstance(bound, Value):
                return element_type(bound.type)
        return i32

    def index_value(self, node: s.Expr, env: Env) -> Value:
        operand = self.expr(node, env)
        if isinstance(operand, Literal):
            if not isinstance(operand.value, int) or isinstance(operand.value, bool):
                raise LoweringError(f"range() needs integers, got {operand.value!r}", node, code="E0407")
            if not -2**63 <= operand.value < 2**63:
                raise LoweringError(f"range() bound {operand.value} does not fit in 64 bits", node,
                                    code="E0305")
            self.at(node)
            return self.b.constant(index, operand.value)
        if not is_integer(operand.type) or shape_of(operand.type):
            raise LoweringError(f"range() needs integer scalars, got {show_type(operand.type)}", node,
                                code="E0407")
        self.at(node)
        return self.create(hy.CastOp, [operand], result_types=[index])

    def carried_value(self, name: str, inner: Env, outer: Env, stmt: s.Node) -> Value:
        before, after = outer[name], inner[name]
        if after is POISON:
            return before
        assert isinstance(before, Value) and isinstance(after, Value)
        if not self.same_type(before.type, after.type):
            self.report(LoweringError(f"'{name}' changes type in the loop: "
                                      f"{show_type(before.type)} before it, "
                                      f"{show_type(after.type)} after an iteration", stmt, code="E0309"))
            inner[name] = POISON
            return before
        return after

    @staticmethod
    def same_type(a: Type, b: Type) -> bool:
        return element_type(a) == element_type(b) and len(shape_of(a)) == len(shape_of(b)) and \
            all(dims_agree(x, y) for x, y in zip(shape_of(a), shape_of(b)))

    # -- branches --------------------------------------------------------------------------------------
    def condition(self, node: s.Expr, env: Env) -> Value:
        operand = self.expr(node, env)
        if isinstance(operand, Literal) and isinstance(operand.value, bool):
            return self.materialize(operand)
        t = operand.type if isinstance(operand, Value) else None
        if t is None or element_type(t) != i1:
            raise LoweringError(f"an if condition must be a bool, got "
                                f"{show_type(t) if t else 'a number'} (compare it, e.g. x > 0)",
                                node, code="E0308")
        if shape_of(t):
            raise LoweringError(f"an if condition must be a bool scalar, got {show_type(t)} "
                                "(use where(c, a, b) to choose elementwise)", node, code="E0308")
        return operand

    def if_chain(self, branches: list[tuple[s.Expr, list[s.Stmt]]], orelse: list[s.Stmt],
                 env: Env, node: s.Node) -> None:
        cond_node, then_body = branches[0]
        else_body: list[s.Stmt] = orelse if len(branches) == 1 else [
            s.If(branches[1][0].line, branches[1][0].col, branches[1:], orelse)]
        cond = self.condition(cond_node, env)
        then_env, else_env = dict(env), dict(env)
        then_block, else_block = Block(), Block()
        for block, body, branch_env in ((then_block, then_body, then_env),
                                        (else_block, else_body, else_env)):
            with self.b.at_end(block):
                self.block(body, branch_env)
        then_names, else_names = assigned_names(then_body), assigned_names(else_body)
        merged = [n for n in dict.fromkeys(then_names + else_names)
                  if n in env or (n in then_names and n in else_names)]
        merged = [n for n in merged if then_env.get(n) is not POISON and else_env.get(n) is not POISON]
        types = []
        for name in merged:
            a, b = then_env[name], else_env[name]
            assert isinstance(a, Value) and isinstance(b, Value)
            if not self.same_type(a.type, b.type):
                raise LoweringError(f"'{name}' is {show_type(a.type)} in one branch and "
                                    f"{show_type(b.type)} in the other", node, code="E0309")
            types.append(a.type if a.type == b.type else self.join(a.type, b.type))
        for block, branch_env in ((then_block, then_env), (else_block, else_env)):
            with self.b.at_end(block):
                self.at(node)
                self.b.create(YieldOp, [branch_env[n] for n in merged], result_types=[])
        op = self.b.insert(IfOp([cond], types, regions=[Region([then_block]), Region([else_block])],
                                loc=self.loc(node)))
        for name in dict.fromkeys(then_names + else_names):
            if name not in merged and (then_env.get(name) is POISON or else_env.get(name) is POISON):
                env[name] = POISON
        for name, result in zip(merged, op.results):
            result.name_hint = name
        env.update(zip(merged, op.results))

    @staticmethod
    def join(a: Type, b: Type) -> Type:
        shape = tuple(x if x == y else DYNAMIC for x, y in zip(shape_of(a), shape_of(b)))
        return make_type(element_type(a), shape)

    def returning_if(self, stmt: s.If, rest: list[s.Stmt], env: Env) -> list[Value]:
        """An ``if`` with a return inside: the rest of the block continues each branch."""
        cond_node, then_body = stmt.branches[0]
        else_body: list[s.Stmt] = stmt.orelse if len(stmt.branches) == 1 else [
            s.If(stmt.branches[1][0].line, stmt.branches[1][0].col, stmt.branches[1:], stmt.orelse)]
        try:
            cond = self.condition(cond_node, env)
        except LoweringError as e:
            self.report(e)
            return [self.placeholder(t) for t in self.results]
        except Poisoned:
            return [self.placeholder(t) for t in self.results]
        op = self.b.insert(IfOp.create(cond, self.results, loc=self.loc(stmt)))
        for block, body in ((op.then_block, then_body), (op.else_block, else_body)):
            with self.b.at_end(block):
                returned = self.block(body + rest, dict(env))
                if returned is None:
                    if self.results:
                        self.module.error(f"function '{self.node.name}' can reach its end "
                                          f"without returning a {show_type(self.results[0])}",
                                          self.node, code="E0310")
                    returned = [self.placeholder(t) for t in self.results]
                self.at(stmt)
                self.b.create(YieldOp, returned, result_types=[])
        return list(op.results)


class ModuleLowering:
    """Lowers a parsed .hy file: signatures first (so calls may go forward), then bodies."""

    def __init__(self, module: s.Module, text: str) -> None:
        self.filename = module.filename
        self.syntax = module
        self.diagnostics: list[Diagnostic] = []
        self.signatures: dict[str, FuncOp] = {}
        parsed = {f.name for f in module.functions}
        self.broken = set(re.findall(r"^def\s+([A-Za-z_]\w*)", text, re.MULTILINE)) - parsed

    def error(self, message: str, node: s.Node, *, code: str) -> None:
        self.diagnostics.append(Diagnostic(message, FileLineColLoc(self.filename, node.line,
                                                                   node.col), code=code))

    def resolve_type(self, t: s.TypeExpr) -> Type:
        if t.dtype not in DTYPES:
            raise LoweringError(f"unknown type '{t.dtype}'; the types are "
                                f"{', '.join(DTYPES)} and tensors like f32[N, 4]", t, code="E0206")
        element = DTYPES[t.dtype]
        if t.dims is None:
            return element
        if any(isinstance(d, str) and d in DTYPES for d in t.dims):
            raise LoweringError(f"'{t.dtype}[...]' takes sizes or dimension names", t, code="E0206")
        problem = static_size_problem(tuple(t.dims))
        if problem is not None:
            raise LoweringError(problem, t, code="E0106")
        return make_type(element, tuple(t.dims))

    def declare(self, node: s.FuncDef) -> FuncOp | None:
        if node.name in self.signatures:
            self.error(f"redefinition of function '{node.name}'", node, code="E0203")
            return None
        if node.name in BUILTIN_NAMES:
            self.error(f"'{node.name}' is a builtin function and cannot be redefined", node, code="E0203")
            return None
        try:
            seen: set[str] = set()
            inputs = []
            for p in node.params:
                if p.name in seen:
                    raise LoweringError(f"duplicate parameter '{p.name}'", p, code="E0204")
                seen.add(p.name)
                inputs.append(self.resolve_type(p.type))
            results = [self.resolve_type(node.returns)] if node.returns else []
        except LoweringError as e:
            self.error(e.message, e.node, code=e.code)
            self.broken.add(node.name)
            return None
        loc = FileLineColLoc(self.filename, node.line, node.col)
        func = FuncOp.create(node.name, inputs, results, [p.name for p in node.params], loc)
        self.signatures[node.name] = func
        return func

    def lower(self) -> ModuleOp:
        module = ModuleOp.create(FileLineColLoc(self.filename, 1, 1))
        declared = [(node, self.declare(node)) for node in self.syntax.functions]
        for node, func in declared:
            if func is not None:
                FunctionLowering(self, func, node).lower()
                module.body.append(func)
        if self.diagnostics:
            raise HycError(diagnostics=sorted(self.diagnostics, key=_position))
        verify(module)
        return module


def _position(d: Diagnostic) -> tuple[int, int]:
    p = d.loc.primary()
    return (p.line, p.col) if p else (0, 0)


def compile_source(text: str, filename: str = "<input>") -> ModuleOp:
    """Parse and lower .hy source to a verified hy module; raises HycError with every error."""
    from hyc.ir.diagnostics import SOURCES, nesting_room
    SOURCES.register(filename, text)
    try:
        with nesting_room("the program"):
            return _compile(text, filename)
    except HycError as e:
        if e.diagnostics[0].loc.primary():
            raise
        raise HycError(e.diagnostics[0].message, FileLineColLoc(filename, 1, 1), code=e.code) from None


def _compile(text: str, filename: str) -> ModuleOp:
    syntax, diagnostics = parse_source(text, filename)
    lowering = ModuleLowering(syntax, text)
    try:
        module = lowering.lower()
    except HycError as e:
        raise HycError(diagnostics=sorted(diagnostics + e.diagnostics, key=_position)) from None
    if diagnostics:
        raise HycError(diagnostics=diagnostics)
    return module
