"""The .hy parser runs on tables Lark makes from the grammar (frontend/grammar_tables.json,
frontend/lalr_build.py), without Lark: it must parse exactly as Lark's own LALR parser does.
Compared on every example, every bad program of test_errors and mutated programs: the tree
with every position, or the error with where it is and what was expected."""

import json
import subprocess
import sys
from pathlib import Path

import lark
import pytest
from lark.indenter import DedentError
from test_errors import BAD_PROGRAMS

from hyc.frontend import lalr, lalr_build, parser

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(ROOT / "tests"))
import fuzz  # noqa: E402

TEXTS = ([p.read_text() for p in sorted(EXAMPLES.glob("*.hy"))] + [c[-1] for c in BAD_PROGRAMS]
         + ["", "\n", "def", "def f(:\n", "(\n", "def f(x: f32) -> f32:\n    return (x\n",
            "def f(x: f32) -> f32:\n  if x:\n      return x\n    return x\n"])


def test_the_tables_are_for_this_grammar():
    shipped = json.loads(lalr_build.TABLES.read_text())
    assert {k: shipped[k] for k in ("grammar", "format")} == \
        lalr_build.identity(lalr_build.GRAMMAR.read_text()), \
        "stale: PYTHONHASHSEED=0 python -m hyc.frontend.lalr_build > frontend/grammar_tables.json"


def test_parsing_imports_no_lark():
    code = ("import sys; from hyc.frontend.irgen import compile_source; "
            "compile_source(open('examples/mlp.hy').read(), 'mlp.hy'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'lark'))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def lark_parser() -> lark.Lark:
    return lalr_build.lark_parser(lalr_build.GRAMMAR.read_text())


def _flat(root: object) -> list[object]:
    """A tree (Lark's or lalr.py's) in preorder, without recursion (some are deep)."""
    out: list[object] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, lark.Tree):
            span = None if node.meta.empty else (node.meta.line, node.meta.column,
                                                 node.meta.end_line, node.meta.end_column)
            out.append((node.data, len(node.children), span))
            stack.extend(reversed(node.children))
        elif isinstance(node, lalr.Branch):
            span = None if node.line is None else (node.line, node.column, node.end_line,
                                                   node.end_column)
            out.append((node.name, len(node.children), span))
            stack.extend(reversed(node.children))
        elif node is None:
            out.append(None)
        else:
            t = node
            out.append((t.type, str(t), t.line, t.column, t.end_line, t.end_column))  # type: ignore[attr-defined]
    return out


def _lark_outcome(p: lark.Lark, text: str) -> object:
    try:
        return _flat(p.parse(text))
    except lark.exceptions.UnexpectedCharacters as e:
        return "characters", e.pos_in_stream, e.line, e.column, sorted(e.allowed)
    except lark.exceptions.UnexpectedToken as e:
        t = e.token
        return "token", t.type, str(t), t.line, t.column, sorted(e.expected)
    except DedentError:
        return "dedent"


def _outcome(text: str, p: lalr.LalrParser | None = None) -> object:
    try:
        return _flat((p or parser._parser()).parse(text))
    except lalr.UnexpectedCharacters as e:
        return "characters", e.pos, e.line, e.column, sorted(e.allowed)
    except lalr.UnexpectedToken as e:
        t = e.token
        return "token", t.type, t.value, t.line, t.column, sorted(e.expected)
    except lalr.DedentError:
        return "dedent"


def _agree(lark_parser: lark.Lark, text: str) -> None:
    """As parse_source parses: the text ending in a newline, whole and in its chunks."""
    text = text if text.endswith("\n") else text + "\n"
    for piece in [text, *parser._chunks(text)]:
        assert _outcome(piece) == _lark_outcome(lark_parser, piece), piece


@pytest.mark.parametrize("text", TEXTS)
def test_parses_as_lark_does(lark_parser, text):
    _agree(lark_parser, text)


@pytest.mark.parametrize("first", range(0, 1200, 300))
def test_parses_mutated_programs_as_lark_does(lark_parser, first):
    for number in range(first, first + 300):
        text, _ = fuzz.case("hy", number)
        _agree(lark_parser, text)


def test_tables_built_now_parse_as_the_shipped_ones():
    """A grammar edited since the tables were made: the parser is built from it (slowly)."""
    built = lalr.LalrParser(lalr_build.build(lalr_build.GRAMMAR.read_text()))
    for text in TEXTS:
        text += "\n"
        assert _outcome(text, built) == _outcome(text)
