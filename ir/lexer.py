"""Tokens of the textual IR. The lexer is pulled by the parser one token at a time."""

from __future__ import annotations

import bisect
import json
import re

from hyc.record import record

from .diagnostics import ParseError
from .location import FileLineColLoc

_TOKEN = re.compile(r"""
    (?P<value>%[A-Za-z0-9_$.\-]+)
  | (?P<symbol>@[A-Za-z_][A-Za-z0-9_$.]*)
  | (?P<block>\^[A-Za-z0-9_]+)
  | (?P<string>"[^"\\\n]*(?:\\.[^"\\\n]*)*")  # unrolled: long hex data lexes at C speed
  | (?P<float>-?\d+\.\d*(?:[eE][-+]?\d+)?|-?\d+[eE][-+]?\d+)
  | (?P<int>-?\d+)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$.]*)
  | (?P<punct>->|[(){}\[\]<>,:=?*\-])
""", re.VERBOSE)
_SKIP = re.compile(r"(?:\s+|//[^\n]*)*")


@record
class Token:
    kind: str  # value symbol block string float int word punct eof
    text: str
    start: int
    end: int

    def is_(self, text: str) -> bool:
        return self.kind in ("punct", "word") and self.text == text


class Lexer:
    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.filename = filename
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def location(self, offset: int) -> FileLineColLoc:
        line = bisect.bisect_right(self.line_starts, offset)
        return FileLineColLoc(self.filename, line, offset - self.line_starts[line - 1] + 1)

    def error(self, message: str, offset: int, *, code: str) -> ParseError:
        return ParseError(message, self.location(offset), code=code)

    def token_at(self, offset: int) -> Token:
        offset = _SKIP.match(self.text, offset).end()  # type: ignore[union-attr]
        if offset >= len(self.text):
            return Token("eof", "", offset, offset)
        m = _TOKEN.match(self.text, offset)
        if m is None:
            if self.text[offset] == '"':
                raise self.error("unterminated string", offset, code="E0602")
            raise self.error(f"unexpected character {self.text[offset]!r}", offset, code="E0602")
        kind = m.lastgroup or "punct"
        return Token(kind, m.group(), offset, m.end())


def string_value(token: Token, lexer: Lexer) -> str:
    try:
        return str(json.loads(token.text))
    except ValueError:
        raise lexer.error("malformed string literal", token.start, code="E0602") from None
