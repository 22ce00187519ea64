"""Parsing .hy source: Lark (LALR, positions propagated) plus indentation checks, turned into
``syntax`` nodes. Syntax errors become located diagnostics; each top-level function is parsed
on its own, so one broken function does not hide the errors of the others.

Lark's LALR tables for grammar.lark are built once, when the grammar changes, and shipped as
JSON (grammar_tables.json: ``PYTHONHASHSEED=0 python -m hyc.frontend.parser >
frontend/grammar_tables.json``, the seed fixing the order Lark numbers its states in);
a process loads them instead of building them. Tables made by another version of Lark, or
for another grammar, are not used: the parser is then built from the grammar.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

import lark
from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)
from lark.grammar import Rule
from lark.indenter import DedentError, Indenter
from lark.lexer import TerminalDef

from hyc.ir.diagnostics import Diagnostic
from hyc.ir.location import FileLineColLoc

from . import syntax as s

# What an expected terminal is called in messages.
_TERMINAL_WORDS = {
    "NAME": "a name", "INT": "a number", "FLOAT": "a number", "_NEWLINE": "end of line",
    "_INDENT": "an indented block", "_DEDENT": "end of block", "LPAR": "'('", "RPAR": "')'",
    "LSQB": "'['", "RSQB": "']'", "COLON": "':'", "COMMA": "','", "EQUAL": "'='",
    "RARROW": "'->'", "COMP_OP": "a comparison", "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*', '/' or '@'", "POW": "'**'", "AUGOP": "an augmented assignment",
    "$END": "end of file",
}


class _Indenter(Indenter):
    NL_type = "_NEWLINE"
    OPEN_PAREN_types = ["LPAR", "LSQB"]
    CLOSE_PAREN_types = ["RPAR", "RSQB"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8


GRAMMAR = Path(__file__).with_name("grammar.lark")
TABLES = Path(__file__).with_name("grammar_tables.json")
_OPTIONS: dict[str, Any] = {"parser": "lalr", "propagate_positions": True,
                            "maybe_placeholders": True}


def _identity(grammar: str) -> dict[str, str]:
    """What tables are made from: the grammar's text and Lark's version."""
    return {"grammar": hashlib.sha256(grammar.encode()).hexdigest(), "lark": lark.__version__}


def build_tables() -> str:
    """grammar_tables.json: the parser Lark builds from the grammar, serialized."""
    grammar = GRAMMAR.read_text()
    data, memo = Lark(grammar, postlex=_Indenter(), **_OPTIONS).memo_serialize([TerminalDef, Rule])
    data["options"]["postlex"] = None  # an object of ours, given again when loading
    return json.dumps({**_identity(grammar), "data": data, "memo": memo}, sort_keys=True) + "\n"


def _int_keys(pairs: list[tuple[str, Any]]) -> dict[Any, Any]:
    """JSON writes the tables' integer keys (parser states, memo ids) as strings."""
    return {int(k) if k.isdigit() else k: v for k, v in pairs}


@cache
def _lark() -> Lark:
    grammar = GRAMMAR.read_text()
    try:
        tables = json.loads(TABLES.read_text(), object_pairs_hook=_int_keys)
        if {k: tables[k] for k in ("grammar", "lark")} == _identity(grammar):
            return Lark._load_from_dict(tables["data"], tables["memo"], postlex=_Indenter())
    except (OSError, ValueError, KeyError):
        pass  # no usable tables: build them
    return Lark(grammar, postlex=_Indenter(), **_OPTIONS)


class SyntaxProblem(Exception):
    def __init__(self, message: str, line: int, col: int, *, code: str) -> None:
        super().__init__(message)
        self.message, self.line, self.col, self.code = message, line, col, code


def _pos(item: Tree | Token) -> tuple[int, int]:
    if isinstance(item, Token):
        return item.line or 1, item.column or 1
    return item.meta.line, item.meta.column


# Python's keywords that .hy does not have: as a name, each gets an error naming the feature.
_NOT_IN_THE_LANGUAGE = {
    "while": "'while' loops are not part of the .hy language; use 'for i in range(n)'",
    "break": "'break' is not part of the .hy language (loops run their whole range)",
    "continue": "'continue' is not part of the .hy language (use 'if' in the loop body)",
    "lambda": "'lambda' is not part of the .hy language; define a function with 'def'",
}
_KEYWORDS = set(keyword.kwlist)


def _name(tok: Token) -> str:
    """A token used as a name: keywords (Python's, which .hy reserves) are refused."""
    text = str(tok)
    if text in _NOT_IN_THE_LANGUAGE:
        raise SyntaxProblem(_NOT_IN_THE_LANGUAGE[text], *_pos(tok), code="E0104")
    if text in _KEYWORDS:
        raise SyntaxProblem(f"'{text}' is a keyword and cannot be used as a name", *_pos(tok), code="E0105")
    return text


@v_args(inline=True)
class _ToSyntax(Transformer):
    """Lark tree -> syntax nodes."""

    # -- types --
    def scalar_type(self, name: Token) -> s.TypeExpr:
        return s.TypeExpr(*_pos(name), str(name), None)

    def tensor_type(self, name: Token, *dims: Token | None) -> s.TypeExpr:
        for d in dims:
            if d is not None and d.type == "INT" and len(d) > 20:
                raise SyntaxProblem(f"the size {str(d)[:20]}... is too large (at most 2**48)",
                                    *_pos(d), code="E0106")
        values = [int(d) if d.type == "INT" else str(d) for d in dims if d is not None]  # "?" stays
        return s.TypeExpr(*_pos(name), str(name), values)

    # -- expressions --
    def name(self, tok: Token) -> s.Name:
        return s.Name(*_pos(tok), _name(tok))

    def int_lit(self, tok: Token) -> s.Number:
        if len(tok) > 400:  # more digits than any type holds (f64 holds 309)
            raise SyntaxProblem(f"the integer literal has {len(tok)} digits: more than any type "
                                "holds", *_pos(tok), code="E0106")
        return s.Number(*_pos(tok), int(tok))

    def float_lit(self, tok: Token) -> s.Number:
        return s.Number(*_pos(tok), float(tok))

    def bool_lit(self, tok: Token) -> s.Bool:
        return s.Bool(*_pos(tok), tok == "True")

    @v_args(meta=True, inline=True)
    def paren(self, meta, inner: s.Expr) -> s.Paren:
        return s.Paren(meta.line, meta.column, inner)

    @v_args(meta=True, inline=True)
    def tuple_(self, meta, *items: s.Expr | None) -> s.Tuple:
        return s.Tuple(meta.line, meta.column, [i for i in items if i is not None])

    def binop(self, left: s.Expr, op: Token, right: s.Expr) -> s.BinOp:
        return s.BinOp(*_pos(op), str(op), left, right)

    def compare(self, left: s.Expr, op: Token, right: s.Expr) -> s.Compare:
        return s.Compare(*_pos(op), str(op), left, right)

    def boolop(self, left: s.Expr, op: Token, right: s.Expr) -> s.BoolOp:
        return s.BoolOp(*_pos(op), str(op), left, right)

    def not_op(self, op: Token, operand: s.Expr) -> s.Not:
        return s.Not(*_pos(op), operand)

    def unary(self, op: Token, operand: s.Expr) -> s.UnaryOp:
        return s.UnaryOp(*_pos(op), str(op), operand)

    def keyword(self, name: Token, value: s.Expr) -> s.Keyword:
        return s.Keyword(*_pos(name), _name(name), value)

    def arguments(self, *items: s.Expr | s.Keyword | None) -> list:
        return [i for i in items if i is not None]

    @v_args(meta=True, inline=True)
    def call(self, meta, func: s.Expr, arguments: list | None) -> s.Call:
        items = arguments or []
        args = [a for a in items if not isinstance(a, s.Keyword)]
        keywords = [a for a in items if isinstance(a, s.Keyword)]
        return s.Call(func.line, func.col, func, args, keywords)

    # -- statements --
    def assign(self, target: Token, value: s.Expr) -> s.Assign:
        return s.Assign(*_pos(target), _name(target), value)

    def aug_assign(self, target: Token, op: Token, value: s.Expr) -> s.Assign:
        return s.Assign(*_pos(target), _name(target), value, op=str(op)[0])

    @v_args(meta=True, inline=True)
    def return_stmt(self, meta, value: s.Expr | None) -> s.Return:
        return s.Return(meta.line, meta.column, value)

    @v_args(meta=True, inline=True)
    def pass_stmt(self, meta) -> s.Pass:
        return s.Pass(meta.line, meta.column)

    def expr_stmt(self, value: s.Expr) -> s.ExprStmt:
        return s.ExprStmt(value.line, value.col, value)

    def simple_stmt(self, stmt: s.Stmt) -> s.Stmt:
        return stmt

    def suite(self, *stmts: s.Stmt) -> list[s.Stmt]:
        return list(stmts)

    def elif_clause(self, cond: s.Expr, body: list[s.Stmt]) -> tuple[s.Expr, list[s.Stmt]]:
        return cond, body

    def else_clause(self, body: list[s.Stmt]) -> list[s.Stmt]:
        return body

    @v_args(meta=True, inline=True)
    def if_stmt(self, meta, cond, body, *rest):
        elifs = [r for r in rest[:-1]]
        orelse = rest[-1] or []
        return s.If(meta.line, meta.column, [(cond, body), *elifs], orelse)

    @v_args(meta=True, inline=True)
    def for_stmt(self, meta, var: Token, iterable: s.Expr, body: list[s.Stmt]) -> s.For:
        return s.For(meta.line, meta.column, _name(var), iterable, body)

    def param(self, name: Token, type_: s.TypeExpr) -> s.Param:
        return s.Param(*_pos(name), _name(name), type_)

    def params(self, *items: s.Param | None) -> list[s.Param]:
        return [p for p in items if p is not None]

    @v_args(meta=True, inline=True)
    def funcdef(self, meta, name, params, returns, body):
        return s.FuncDef(meta.line, meta.column, _name(name), params or [], returns, body,
                         meta.end_line)

    def start(self, *functions: s.FuncDef) -> list[s.FuncDef]:
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
    try:
        pattern = _lark().get_terminal(terminal).pattern
        return repr(pattern.value) if pattern.type == "str" else terminal.lower()
    except KeyError:
        return terminal.lower()


def _syntax_problem(error: UnexpectedInput, text: str) -> SyntaxProblem:
    if isinstance(error, UnexpectedCharacters):
        pos = error.pos_in_stream or 0
        char = text[pos] if pos < len(text) else "?"
        if char in "'\"":
            return SyntaxProblem("strings are not part of the .hy language", error.line, error.column,
                                 code="E0104")
        if char == "." and pos and (text[pos - 1].isalnum() or text[pos - 1] in "_)"):
            return SyntaxProblem("methods and attributes (like x.sum()) are not part of the .hy "
                                 "language; call the builtin instead (sum(x))", error.line,
                                 error.column, code="E0104")
        return SyntaxProblem(f"unexpected character {char!r}", error.line, error.column, code="E0102")
    if isinstance(error, UnexpectedToken):
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
    assert isinstance(error, UnexpectedEOF)
    return _end_of_file(text, set(error.expected))


def _statement_keyword(text: str, tok: Token) -> SyntaxProblem | None:
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
            tree = _lark().parse(chunk)
            module.functions.extend(_ToSyntax().transform(tree))
        except UnexpectedInput as e:
            report(_syntax_problem(e, chunk))
        except VisitError as e:  # a problem found while building the syntax tree
            if isinstance(e.orig_exc, SyntaxProblem):
                report(e.orig_exc)
            else:
                raise e.orig_exc from None
        except DedentError:
            report(SyntaxProblem("unindent does not match any outer indentation level", 1, 1, code="E0103"))
    return module, diagnostics


if __name__ == "__main__":
    sys.stdout.write(build_tables())
