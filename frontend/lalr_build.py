"""grammar_tables.json, the tables frontend/lalr.py parses with, made by Lark from grammar.lark.

Lark (a dependency for this alone) builds the LALR(1) automaton and the contextual lexer; this
module writes down what parsing needs of them as plain JSON: each state's actions, each
state's lexer (its terminals in the order Lark tries them, and which names are keywords),
and how each rule shapes its node (the tokens it drops, the ``[x]`` it fills with None, the
``?rule`` it inlines). A process that parses loads that and never imports Lark.

    PYTHONHASHSEED=0 python -m hyc.frontend.lalr_build > frontend/grammar_tables.json

(the seed fixes the order in which Lark numbers its states). Run it after changing the
grammar: parsing checks that the tables are this grammar's, and builds them here if not.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from . import lalr

GRAMMAR = Path(__file__).with_name("grammar.lark")
TABLES = Path(__file__).with_name("grammar_tables.json")


def identity(grammar: str) -> dict[str, Any]:
    """What tables are made from: the grammar's text, and the layout of this file."""
    return {"grammar": hashlib.sha256(grammar.encode()).hexdigest(), "format": lalr.FORMAT}


def lark_parser(grammar: str) -> Any:
    """Lark's own parser for the grammar, with .hy's indentation (the tests compare it with
    lalr.py's)."""
    from lark import Lark
    from lark.indenter import Indenter

    class HyIndenter(Indenter):
        NL_type, INDENT_type, DEDENT_type = lalr.NEWLINE, lalr.INDENT, lalr.DEDENT
        OPEN_PAREN_types, CLOSE_PAREN_types = list(lalr.OPENING), list(lalr.CLOSING)
        tab_len = lalr.TAB_WIDTH

    return Lark(grammar, parser="lalr", lexer="contextual", postlex=HyIndenter(),
                propagate_positions=True, maybe_placeholders=True)


def _lexer(basic: Any) -> list[Any]:
    """One of Lark's state lexers: [its terminals in the order it tries them, {a terminal:
    {text: the keyword it is}}] (``if`` matches NAME first, and is IF where IF may follow)."""
    scanner = basic.scanner  # built on first use: the order, with keywords folded into NAME
    keywords = {name: {t.pattern.value: t.name for t in callback.scanner.terminals}
                for name, callback in basic.callback.items()}
    return [[t.name for t in scanner.terminals], keywords]


def _rule(rule: Any) -> list[Any]:
    """[the node's name, how many symbols it pops, whether a single child replaces it,
    [[index, inline it, Nones before it], ...], Nones after the last]: what Lark's tree
    builder does with ``propagate_positions`` and ``maybe_placeholders``."""
    expansion, flags = rule.expansion, rule.options.empty_indices  # flags: [x] left out
    runs = ([len(ones) for ones in "".join(str(int(f)) for f in flags).split("0")] if flags
            else [0] * (len(expansion) + 1))  # the Nones to put before each symbol, and after
    kept, nones = [], 0
    for index, symbol in enumerate(expansion):
        nones += runs[index]
        if rule.options.keep_all_tokens or not (symbol.is_term and symbol.filter_out):
            kept.append([index, not symbol.is_term and symbol.name.startswith("_"), nones])
            nones = 0
    return [rule.alias or rule.origin.name, rule.origin.name, len(expansion),
            bool(rule.options.expand1 and not rule.alias), kept, nones + runs[len(expansion)]]


def build(grammar: str) -> dict[str, Any]:
    """The tables for ``grammar``, as grammar_tables.json holds them."""
    from lark.parsers.lalr_analysis import Shift

    parser = lark_parser(grammar)
    table = parser.parser.parser._parse_table
    contextual = parser.parser.lexer.lexer
    terminals = {t.name: t for t in parser.terminals}
    rules = list(parser.rules)
    rule_index = {rule: i for i, rule in enumerate(rules)}
    lexers: list[list[Any]] = []
    seen: dict[int, int] = {}

    def lexer_of(basic: Any) -> int:
        if id(basic) not in seen:
            seen[id(basic)] = len(lexers)
            lexers.append(_lexer(basic))
        return seen[id(basic)]

    states = []
    for number in range(len(table.states)):
        actions, gotos = {}, {}
        for symbol, (action, arg) in table.states[number].items():
            if symbol.isupper():  # Lark's terminals (and $END); its rules are lower case
                actions[symbol] = arg if action is Shift else -1 - rule_index[arg]
            else:
                assert action is Shift, "LALR goes to a state after a rule"
                gotos[symbol] = arg
        states.append([actions, gotos, lexer_of(contextual.lexers[number])])
    return {**identity(grammar),
            "terminals": {name: t.pattern.to_regexp() for name, t in terminals.items()},
            "keywords": {name: t.pattern.value for name, t in terminals.items()
                         if t.pattern.type == "str"},
            "ignore": sorted(parser.lexer_conf.ignore),
            "lexers": lexers, "root": lexer_of(contextual.root_lexer),
            "states": states, "rules": [_rule(rule) for rule in rules],
            "start": table.start_states["start"], "end": table.end_states["start"]}


def tables_text() -> str:
    return json.dumps(build(GRAMMAR.read_text()), sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(tables_text())
