"""The .hy parser's engine: an LALR(1) parser with a contextual lexer and Python-style
indentation, driven by tables (grammar_tables.json, made by Lark: frontend/lalr_build.py).

It parses as Lark's LALR parser does with ``propagate_positions`` and ``maybe_placeholders``
(the tests compare the two on every example, every bad program and random programs): the
same tokens, the same tree with the same positions, the same errors. Lark is not imported
to parse: a cold compile spends neither the import nor the building of Lark's parser.

- Lexing is contextual: in each parser state only the terminals that may come next are
  tried, in Lark's order (a keyword where a name is expected is a NAME); where none
  matches, a terminal of another context that does becomes an unexpected token.
- Indentation: a newline token outside brackets is followed by _INDENT when the next line
  is indented deeper, by one _DEDENT per level it closes.
- A reduction builds a ``Branch`` named after the rule (or its alias), without the
  grammar's anonymous tokens, with None for each ``[x]`` left out; a ``?rule`` with a
  single child is that child. Each branch spans from its first token to its last.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, NoReturn, Union

FORMAT = 1  # the layout of grammar_tables.json
NEWLINE, INDENT, DEDENT, END = "_NEWLINE", "_INDENT", "_DEDENT", "$END"
OPENING, CLOSING = ("LPAR", "LSQB"), ("RPAR", "RSQB")
TAB_WIDTH = 8


class HyToken:
    """A terminal matched in the text: its type, its text, and where it starts and ends
    (lines and columns 1-based; ``end_column`` is just past its last character)."""
    __slots__ = ("type", "value", "pos", "line", "column", "end_line", "end_column")

    def __init__(self, type_: str, value: str, pos: int, line: int, column: int,
                 end_line: int, end_column: int) -> None:
        self.type, self.value, self.pos = type_, value, pos
        self.line, self.column, self.end_line, self.end_column = line, column, end_line, end_column

    def at_same_place(self, type_: str, value: str) -> HyToken:
        """A token the indentation (or the end of the text) puts where this one is."""
        return HyToken(type_, value, self.pos, self.line, self.column, self.end_line, self.end_column)

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"HyToken({self.type!r}, {self.value!r}, {self.line}:{self.column})"


Child = Union["Branch", HyToken, None]


class Branch:
    """A node of the parse tree: the rule's name, its children, and its span (``line`` is
    None when it spans no token)."""
    __slots__ = ("name", "children", "line", "column", "end_line", "end_column")

    def __init__(self, name: str, children: list[Child]) -> None:
        self.name, self.children = name, children
        self.line: int | None = None
        self.column: int | None = None
        self.end_line: int | None = None
        self.end_column: int | None = None


class UnexpectedCharacters(Exception):
    """No terminal of any context matches at ``pos``; ``allowed``: those that could come."""

    def __init__(self, pos: int, line: int, column: int, allowed: set[str]) -> None:
        super().__init__(f"unexpected character at {line}:{column}")
        self.pos, self.line, self.column, self.allowed = pos, line, column, allowed


class UnexpectedToken(Exception):
    """``token`` cannot come here; ``expected``: the terminals that could."""

    def __init__(self, token: HyToken, expected: set[str]) -> None:
        super().__init__(f"unexpected {token.type} at {token.line}:{token.column}")
        self.token, self.expected = token, expected


class DedentError(Exception):
    """A line dedents to a column no enclosing block started at."""


class _Lexer:
    """One parser state's lexer: its terminals in order, each regular expression compiled
    once for all lexers; ``keywords[terminal]``: {text: the keyword it is here}."""
    __slots__ = ("order", "keywords", "allowed")

    def __init__(self, names: list[str], keywords: dict[str, dict[str, str]],
                 patterns: dict[str, re.Pattern[str]], ignore: frozenset[str]) -> None:
        self.order = [(name, patterns[name].match) for name in names]
        self.keywords = keywords
        self.allowed = (set(names) - ignore) or {"<END-OF-FILE>"}

    def match(self, text: str, pos: int) -> tuple[str, str] | None:
        for name, match in self.order:
            found = match(text, pos)
            if found is not None:
                value = found.group()
                return self.keywords[name].get(value, name) if name in self.keywords else name, value
        return None


class LalrParser:
    """The parser the tables describe (``data``: grammar_tables.json, as lalr_build.py
    writes it)."""

    def __init__(self, data: dict[str, Any]) -> None:
        patterns = {name: re.compile(rx) for name, rx in data["terminals"].items()}
        self.ignore = frozenset(data["ignore"])
        lexers = [_Lexer(names, keywords, patterns, self.ignore) for names, keywords in data["lexers"]]
        self.root = lexers[data["root"]]
        self.actions = [actions for actions, _, _ in data["states"]]
        self.gotos = [gotos for _, gotos, _ in data["states"]]
        self.lexers = [lexers[lexer] for _, _, lexer in data["states"]]
        self.rules = data["rules"]
        self.start, self.end = data["start"], data["end"]
        self.keywords: dict[str, str] = data["keywords"]

    def parse(self, text: str) -> Child:
        states = [self.start]
        values: list[Child] = []
        actions, gotos, rules = self.actions, self.gotos, self.rules
        token = None

        def feed(token: HyToken, at_end: bool = False) -> Child:
            while True:
                action = actions[states[-1]].get(token.type)
                if action is None:
                    raise UnexpectedToken(token, set(actions[states[-1]]))
                if action >= 0:
                    states.append(action)
                    values.append(token)
                    return None
                name, origin, size, single, kept, trailing = rules[-1 - action]
                children = values[len(values) - size:]
                del states[len(states) - size:], values[len(values) - size:]
                values.append(_node(name, single, kept, trailing, children))
                states.append(gotos[states[-1]][origin])
                if at_end and states[-1] == self.end:
                    return values[-1]

        for token in _indented(self._tokens(text, states)):
            feed(token)
        return feed(token.at_same_place(END, "") if token else HyToken(END, "", 0, 1, 1, 1, 1), True)

    def _tokens(self, text: str, states: list[int]) -> Iterator[HyToken]:
        """The tokens of ``text``, each lexed in the state the parser is in when it asks
        for it (``states[-1]``)."""
        pos, line, line_start, end, ignore = 0, 1, 0, len(text), self.ignore
        while pos < end:
            lexer = self.lexers[states[-1]]
            found = lexer.match(text, pos)
            if found is None:
                self._unexpected(lexer, text, pos, line, pos - line_start + 1)
            type_, value = found
            start, start_line, column = pos, line, pos - line_start + 1
            newlines = value.count("\n")
            if newlines:
                line += newlines
                line_start = pos + value.rindex("\n") + 1
            pos += len(value)
            if type_ not in ignore:
                yield HyToken(type_, value, start, start_line, column, line, pos - line_start + 1)

    def _unexpected(self, lexer: _Lexer, text: str, pos: int, line: int, column: int) -> NoReturn:
        """Nothing this state expects matches at ``pos``: a terminal that would match in
        another state is an unexpected token, anything else an unexpected character."""
        found = self.root.match(text, pos)
        if found is None:
            raise UnexpectedCharacters(pos, line, column, lexer.allowed)
        type_, value = found
        lines = value.count("\n")
        end_column = len(value) - value.rindex("\n") if lines else column + len(value)
        raise UnexpectedToken(HyToken(type_, value, pos, line, column, line + lines, end_column),
                              lexer.allowed)


def _node(name: str, single: bool, kept: list[list[Any]], trailing: int,
          children: list[Child]) -> Child:
    """What a reduction leaves: the kept children (inlined rules spliced in, None for each
    ``[x]`` left out), or the only one of a ``?rule``'s; a new branch spans its tokens."""
    shaped: list[Child] = []
    for index, inline, nones in kept:
        if nones:
            shaped += [None] * nones
        child = children[index]
        if inline:
            assert isinstance(child, Branch)
            shaped += child.children
        else:
            shaped.append(child)
    if trailing:
        shaped += [None] * trailing
    if single and len(shaped) == 1:
        node = shaped[0]
        if not isinstance(node, Branch) or node.line is not None:
            return node
    else:
        node = Branch(name, shaped)
    first = next((c for c in children if isinstance(c, HyToken)
                  or (isinstance(c, Branch) and c.line is not None)), None)
    last = next((c for c in reversed(children) if isinstance(c, HyToken)
                 or (isinstance(c, Branch) and c.line is not None)), None)
    if first is not None and last is not None:
        node.line, node.column = first.line, first.column
        node.end_line, node.end_column = last.end_line, last.end_column
    return node


def _indented(tokens: Iterator[HyToken]) -> Iterator[HyToken]:
    """``tokens`` with _INDENT and _DEDENT after each newline outside brackets (a newline
    inside brackets is dropped), and the blocks still open closed at the end."""
    levels, depth, token = [0], 0, None
    for token in tokens:
        if token.type == NEWLINE:
            if depth:
                continue
            yield token
            indentation = token.value.rsplit("\n", 1)[-1]
            width = indentation.count(" ") + indentation.count("\t") * TAB_WIDTH
            if width > levels[-1]:
                levels.append(width)
                yield token.at_same_place(INDENT, indentation)
            else:
                while width < levels[-1]:
                    levels.pop()
                    yield token.at_same_place(DEDENT, indentation)
                if width != levels[-1]:
                    raise DedentError(f"dedent to column {width}, expected {levels[-1]}")
            continue
        yield token
        if token.type in OPENING:
            depth += 1
        elif token.type in CLOSING:
            depth -= 1
    for _ in levels[1:]:
        assert token is not None
        yield token.at_same_place(DEDENT, "")
