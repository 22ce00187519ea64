"""Parsing .hy source: frontend/lalr.py's LALR parser (tables made by Lark from grammar.lark,
positions kept) plus indentation checks, turned into ``syntax`` nodes. Syntax errors become
located diagnostics; each top-level function is parsed on its own, so one broken function
does not hide the errors of the others.
"""

from __future__ import annotations

import json
import keyword
import re
from functools import cache

from hyc.ir.diagnostics import Diagnostic
from hyc.ir.location import FileLineColLoc

from . import lalr
from . import syntax as s
from .lalr import Branch, HyToken
from .lalr_build import GRAMMAR, TABLES, identity

# What an expected terminal is called in messages.
_TERMINAL_WORDS = {
    "NAME": "a name", "INT": "a number", "FLOAT": "a number", "_NEWLINE": "end of line",
    "_INDENT": "an indented block", "_DEDENT": "end of block", "LPAR": "'('", "RPAR": "')'",
    "LSQB": "'['", "RSQB": "']'", "COLON": "':'", "COMMA": "','", "EQUAL": "'='",
    "RARROW": "'->'", "COMP_OP": "a comparison", "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*', '/' or '@'", "POW": "'**'", "AUGOP": "an augmented assignment",
    "$END": "end of file",
}


@cache
def _parser() -> lalr.LalrParser:
    """The parser for grammar.lark: from the shipped tables, or (the grammar changed since
    they were made) from tables Lark builds now."""
    grammar = GRAMMAR.read_text()
    try:
        tables = json.loads(TABLES.read_text())
        if all(tables.get(k) == v for k, v in identity(grammar).items()):
            return lalr.LalrParser(tables)
    except (OSError, ValueError):
        pass  # no usable tables: build them
    from .lalr_build import build
    return lalr.LalrParser(build(grammar))


class SyntaxProblem(Exception):
    def __init__(self, message: str, line: int, col: int, *, code: str) -> None:
        super().__init__(message)
        self.message, self.line, self.col, self.code = message, line, col, code


def _pos(item: Branch | HyToken) -> tuple[int, int]:
    return item.line or 1, item.column or 1


# Python's keywords that .hy does not have: as a name, each gets an error naming the feature.
_NOT_IN_THE_LANGUAGE = {
    "while": "'while' loops are not part of the .hy language; use 'for i in range(n)'",
    "break": "'break' is not part of the .hy language (loops run their whole range)",
    "continue": "'continue' is not part of the .hy language (use 'if' in the loop body)",
    "lambda": "'lambda' is not part of the .hy language; define a function with 'def'",
}
_KEYWORDS = set(keyword.kwlist)


def _name(tok: HyToken) -> str:
    """A token used as a name: keywords (Python's, which .hy reserves) are refused."""
    text = tok.value
    if text in _NOT_IN_THE_LANGUAGE:
        raise SyntaxProblem(_NOT_IN_THE_LANGUAGE[text], *_pos(tok), code="E0104")
    if text in _KEYWORDS:
        raise SyntaxProblem(f"'{text}' is a keyword and cannot be used as a name", *_pos(tok), code="E0105")
    return text


class _ToSyntax:
    """Parse tree -> syntax nodes: a method per rule (or alias), given the branch (its
    position) and its children, already built, in order."""

    def build(self, node: lalr.Child) -> object:
        if not isinstance(node, Branch):
            return node
        return getattr(self, node.name)(node, *[self.build(child) for child in node.children])

    # -- types --
    def scalar_type(self, at: Branch, name: HyToken) -> s.TypeExpr:
        return s.TypeExpr(*_pos(name), name.value, None)

    def tensor_type(self, at: Branch, name: HyToken, *dims: HyToken | None) -> s.TypeExpr:
        for d in dims:
            if d is not None and d.type == "INT" and len(d.value) > 20:
                raise SyntaxProblem(f"the size {d.value[:20]}... is too large (at most 2**48)",
                                    *_pos(d), code="E0106")
        values = [int(d.value) if d.type == "INT" else d.value for d in dims if d is not None]  # "?" stays
        return s.TypeExpr(*_pos(name), name.value, values)

    # -- expressions --
    def name(self, at: Branch, tok: HyToken) -> s.Name:
        return s.Name(*_pos(tok), _name(tok))

    def int_lit(self, at: Branch, tok: HyToken) -> s.Number:
        if len(tok.value) > 400:  # more digits than any type holds (f64 holds 309)
            raise SyntaxProblem(f"the integer literal has {len(tok.value)} digits: more than any "
                                "type holds", *_pos(tok), code="E0106")
        return s.Number(*_pos(tok), int(tok.value))

    def float_lit(self, at: Branch, tok: HyToken) -> s.Number:
        return s.Number(*_pos(tok), float(tok.value))

    def bool_lit(self, at: Branch, tok: HyToken) -> s.Bool:
        return s.Bool(*_pos(tok), tok.value == "True")

    def paren(self, at: Branch, inner: s.Expr) -> s.Paren:
        return s.Paren(*_pos(at), inner)

    def tuple_(self, at: Branch, *items: s.Expr | None) -> s.Tuple:
        return s.Tuple(*_pos(at), [i for i in items if i is not None])

    def binop(self, at: Branch, left: s.Expr, op: HyToken, right: s.Expr) -> s.BinOp:
        return s.BinOp(*_pos(op), op.value, left, right)

    def compare(self, at: Branch, left: s.Expr, op: HyToken, right: s.Expr) -> s.Compare:
        return s.Compare(*_pos(op), op.value, left, right)

    def boolop(self, at: Branch, left: s.Expr, op: HyToken, right: s.Expr) -> s.BoolOp:
        return s.BoolOp(*_pos(op), op.value, left, right)

    def not_op(self, at: Branch, op: HyToken, operand: s.Expr) -> s.Not:
        return s.Not(*_pos(op), operand)

    def unary(self, at: Branch, op: HyToken, operand: s.Expr) -> s.UnaryOp:
        return s.UnaryOp(*_pos(op), op.value, operand)

    def keyword(self, at: Branch, name: HyToken, value: s.Expr) -> s.Keyword:
        return s.Keyword(*_pos(name), _name(name), value)

    def arguments(self, at: Branch, *items: s.Expr | s.Keyword | None) -> list:
        return [i for i in items if i is not None]

    def call(self, at: Branch, func: s.Expr, arguments: list | None) -> s.Call:
        items = arguments or []
        args = [a for a in items if not isinstance(a, s.Keyword)]
        keywords = [a for a in items if isinstance(a, s.Keyword)]
        return s.Call(func.line, func.col, func, args, keywords)

    # -- statements --
    def assign(self, at: Branch, target: HyToken, value: s.Expr) -> s.Assign:
        return s.Assign(*_pos(target), _name(target), value)

    def aug_assign(self, at: Branch, target: HyToken, op: HyToken, value: s.Expr) -> s.Assign:
        return s.Assign(*_pos(target), _name(target), value, op=op.value[0])

    def return_stmt(self, at: Branch, value: s.Expr | None) -> s.Return:
        return s.Return(*_pos(at), value)

    def pass_stmt(self, at: Branch) -> s.Pass:
        return s.Pass(*_pos(at))

    def expr_stmt(self, at: Branch, value: s.Expr) -> s.ExprStmt:
        return s.ExprStmt(value.line, value.col, value)

    def simple_stmt(self, at: Branch, stmt: s.Stmt) -> s.Stmt:
        return stmt

    def suite(self, at: Branch, *stmts: s.Stmt) -> list[s.Stmt]:
        return list(stmts)

    def elif_clause(self, at: Branch, cond: s.Expr, body: list[s.Stmt]) -> tuple[s.Expr, list[s.Stmt]]:
        return cond, body

    def else_clause(self, at: Branch, body: list[s.Stmt]) -> list[s.Stmt]:
        return body

    def if_stmt(self, at: Branch, cond: s.Expr, body: list[s.Stmt], *rest) -> s.If:
        elifs = [r for r in rest[:-1]]
        orelse = rest[-1] or []
        return s.If(*_pos(at), [(cond, body), *elifs], orelse)

    def for_stmt(self, at: Branch, var: HyToken, iterable: s.Expr, body: list[s.Stmt]) -> s.For:
        return s.For(*_pos(at), _name(var), iterable, body)

    def param(self, at: Branch, name: HyToken, type_: s.TypeExpr) -> s.Param:
        return s.Param(*_pos(name), _name(name), type_)

    def params(self, at: Branch, *items: s.Param | None) -> list[s.Param]:
        return [p for p in items if p is not None]

    def funcdef(self, at: Branch, name: HyToken, params: list[s.Param] | None,
                returns: s.TypeExpr | None, body: list[s.Stmt]) -> s.FuncDef:
        assert at.end_line is not None  # it spans 'def' at least
        return s.FuncDef(*_pos(at), _name(name), params or [], returns, body, at.end_line)

    def start(self, at: Branch, *functions: s.FuncDef) -> list[s.FuncDef]:
        return list(functions)


def source_lines(text: str, keepends: bool = False) -> list[str]:
    """Lines as Lark counts them: only ``\n`` ends a line (``str.splitlines`` also splits at
    U+2028, U+0085, form feeds, ..., which may stand in a comment)."""
    lines = text.split("\n")
    if keepends:
        lines = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    elif lines and lines[-1] == "":
        lines.pop()
    return lines


# -- indentation checks Lark cannot locate ------------------------------------------------------------
_CODE_LINE = re.compile(r"^([ \t]*)([^ \t\r\n#])")


def _check_indentation(lines: list[str]) -> list[SyntaxProblem]:
    """Tabs mixed with spaces, and dedents to a level that was never opened."""
    problems: list[SyntaxProblem] = []
    style: str | None = None
    stack = [0]
    depth = 0  # bracket depth: continuation lines don't count
    for number, text in enumerate(lines, 1):
        m = _CODE_LINE.match(text)
        if m and depth == 0:
            lead = m.group(1)
            if " " in lead and "\t" in lead:
                problems.append(SyntaxProblem("indentation mixes tabs and spaces", number, 1, code="E0103"))
                return problems
            if lead:
                kind = "tabs" if "\t" in lead else "spaces"
                if style is None:
                    style = kind
                elif kind != style:
                    problems.append(SyntaxProblem(f"inconsistent indentation: this line uses {kind}"
                                                  f" but earlier lines use {style}", number, 1, code="E0103"))
                    return problems
            width = len(lead.expandtabs(8))
            if width > stack[-1]:
                stack.append(width)
            else:
                while width < stack[-1]:
                    stack.pop()
                if width != stack[-1]:
                    problems.append(SyntaxProblem("unindent does not match any outer indentation "
                                                  "level", number, width + 1, code="E0103"))
                    return problems
        code = text.split("#", 1)[0]
        depth = max(0, depth + code.count("(") + code.count("[") - code.count(")") - code.count("]"))
    return problems


# -- syntax errors --------------------------------------------------------------------------------------
def _describe_expected(expected: set[str]) -> str:
    words = sorted({_TERMINAL_WORDS.get(t, _keyword(t)) for t in expected})
    if len(words) > 6:
        words = words[:6] + ["..."]
    return ", ".join(words)


def _keyword(terminal: str) -> str:
    text = _parser().keywords.get(terminal)
    return repr(text) if text is not None else terminal.lower()


def _syntax_problem(error: lalr.UnexpectedCharacters | lalr.UnexpectedToken,
                    text: str) -> SyntaxProblem:
    if isinstance(error, lalr.UnexpectedCharacters):
        pos = error.pos
        char = text[pos] if pos < len(text) else "?"
        if char in "'\"":
            return SyntaxProblem("strings are not part of the .hy language", error.line, error.column,
                                 code="E0104")
        if char == "." and pos and (text[pos - 1].isalnum() or text[pos - 1] in "_)"):
            return SyntaxProblem("methods and attributes (like x.sum()) are not part of the .hy "
                                 "language; call the builtin instead (sum(x))", error.line,
                                 error.column, code="E0104")
        return SyntaxProblem(f"unexpected character {char!r}", error.line, error.column, code="E0102")
    tok = error.token
    if tok.type == "_INDENT":
        return SyntaxProblem("unexpected indent", *_next_code(text, tok.line or 1), code="E0103")
    feature = _statement_keyword(text, tok)
    if feature is not None:
        return feature
    if tok.type == "LSQB":
        return SyntaxProblem("indexing and slicing are not part of the .hy language",
                             tok.line or 1, tok.column or 1, code="E0104")
    header = source_lines(text)[(tok.line or 1) - 1].lstrip().startswith("def ")
    if tok.type == "EQUAL" and "RPAR" in error.expected and header:
        return SyntaxProblem("default parameter values are not part of the .hy language",
                             tok.line or 1, tok.column or 1, code="E0104")
    if tok.type == "$END" or (tok.type == "_DEDENT" and not tok.value):
        return _end_of_file(text, error.expected)
    if error.expected <= {"DEF", "_NEWLINE"} and tok.column == 1:
        return SyntaxProblem("only function definitions ('def') may appear at the top level",
                             tok.line or 1, 1, code="E0101")
    shown = "end of line" if tok.type == "_NEWLINE" else f"'{tok}'"
    line, col = (tok.line or 1, tok.column or 1)
    if tok.type in ("_NEWLINE", "_DEDENT"):
        line, col = _end_of_previous_code(text, tok.line or 1)
    return SyntaxProblem(f"unexpected {shown}; expected {_describe_expected(error.expected)}",
                         line, col, code="E0101")


def _statement_keyword(text: str, tok: HyToken) -> SyntaxProblem | None:
    """The error for a statement that starts with a keyword .hy does not have (``while``)."""
    lines = source_lines(text)
    line = lines[(tok.line or 1) - 1] if 0 < (tok.line or 1) <= len(lines) else ""
    words = line.split("#", 1)[0].split()
    first = words[0].rstrip(":") if words else ""
    if first in _NOT_IN_THE_LANGUAGE:
        return SyntaxProblem(_NOT_IN_THE_LANGUAGE[first], tok.line or 1, line.index(first) + 1, code="E0104")
    return None


def _next_code(text: str, line: int) -> tuple[int, int]:
    """The first code after line ``line`` (where an unexpected indent begins)."""
    lines = source_lines(text)
    for number in range(line + 1, len(lines) + 1):
        code = lines[number - 1].split("#", 1)[0]
        if code.strip():
            return number, len(code) - len(code.lstrip()) + 1
    return line, 1


def _end_of_file(text: str, expected: set[str]) -> SyntaxProblem:
    line, col = _end_of_previous_code(text, len(source_lines(text)) + 1)
    return SyntaxProblem(f"unexpected end of file; expected {_describe_expected(set(expected))}",
                         line, col, code="E0101")


def _end_of_previous_code(text: str, line: int) -> tuple[int, int]:
    """Just after the last code on or before ``line`` (where a missing token belongs)."""
    lines = source_lines(text)
    for number in range(min(line, len(lines)), 0, -1):
        code = lines[number - 1].split("#", 1)[0].rstrip()
        if code:
            return number, len(code) + 1
    return 1, 1


# -- entry point -------------------------------------------------------------------------------------
def _chunks(text: str) -> list[str]:
    """Split at top-level lines, padding with blank lines so positions stay those of the file."""
    lines = source_lines(text, keepends=True)
    starts = [i for i, line in enumerate(lines) if line[:1] not in ("", " ", "\t", "\n", "\r", "#")]
    if not starts or starts[0] != 0:
        starts = [0] + starts
    bounds = starts + [len(lines)]
    return ["\n" * a + "".join(lines[a:b]) for a, b in zip(bounds, bounds[1:])]


def parse_source(text: str, filename: str) -> tuple[s.Module, list[Diagnostic]]:
    """Parse .hy text. Returns the functions that parsed, and the syntax errors of the rest."""
    module = s.Module(filename)
    diagnostics: list[Diagnostic] = []

    def report(problem: SyntaxProblem) -> None:
        diagnostics.append(Diagnostic(problem.message,
                                      FileLineColLoc(filename, problem.line, problem.col),
                                      code=problem.code))

    indentation = _check_indentation(source_lines(text))
    if indentation:
        report(indentation[0])
        return module, diagnostics
    for chunk in _chunks(text if text.endswith("\n") else text + "\n"):
        try:
            tree = _parser().parse(chunk)
            module.functions.extend(_ToSyntax().build(tree))  # type: ignore[arg-type]
        except (lalr.UnexpectedCharacters, lalr.UnexpectedToken) as e:
            report(_syntax_problem(e, chunk))
        except SyntaxProblem as e:  # found while building the syntax tree
            report(e)
        except lalr.DedentError:
            report(SyntaxProblem("unindent does not match any outer indentation level", 1, 1, code="E0103"))
    return module, diagnostics

