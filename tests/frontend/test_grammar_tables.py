"""The .hy parser's LALR tables ship as JSON (frontend/grammar_tables.json): made from this
grammar, loaded instead of built, and the same parser as the one Lark builds."""

import json
from pathlib import Path

import lark
import pytest
from lark.indenter import DedentError
from test_errors import BAD_PROGRAMS

from hyc.frontend import parser

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SHIPPED = json.loads(parser.TABLES.read_text())


def built() -> lark.Lark:
    return lark.Lark(parser.GRAMMAR.read_text(), postlex=parser._Indenter(), **parser._OPTIONS)


def test_the_tables_are_for_this_grammar():
    assert SHIPPED["grammar"] == parser._identity(parser.GRAMMAR.read_text())["grammar"], \
        "stale: python -m hyc.frontend.parser > frontend/grammar_tables.json"


@pytest.mark.skipif(SHIPPED["lark"] != lark.__version__,
                    reason=f"the tables are Lark {SHIPPED['lark']}'s; with Lark {lark.__version__} "
                           "the parser is built from the grammar")
def test_the_tables_are_loaded():
    """(Lark numbers its states in an order that varies from process to process, so tables
    are compared by what they parse, below, not as text.)"""
    assert parser._lark().source_path == "<deserialized>"


def _parse(p: lark.Lark, text: str) -> object:
    try:
        tree = p.parse(text)
    except lark.exceptions.UnexpectedInput as e:
        return type(e).__name__, e.line, e.column, sorted(getattr(e, "expected", ()) or ())
    except DedentError as e:
        return type(e).__name__, str(e)
    return tree, [(t.meta.line, t.meta.column, t.meta.end_line, t.meta.end_column)
                  for t in tree.iter_subtrees() if not t.meta.empty]


@pytest.mark.parametrize("text", [p.read_text() for p in sorted(EXAMPLES.glob("*.hy"))]
                         + [c[-1] for c in BAD_PROGRAMS])
def test_the_loaded_parser_is_the_built_one(text):
    """Trees with their positions, and the errors with what was expected, agree."""
    assert _parse(parser._lark(), text) == _parse(built(), text)
