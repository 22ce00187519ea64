"""A small FileCheck: ordered patterns checked against printed IR.

Lines of ``patterns``: ``CHECK: text`` (found at or after the current line),
``CHECK-NEXT: text`` (on the very next line), ``CHECK-NOT: text`` (absent between the
surrounding matches), ``CHECK-SAME: text`` (later on the current line). Text is matched
literally except ``{{regex}}`` parts.
"""

from __future__ import annotations

import re


def _compile(text: str) -> re.Pattern[str]:
    parts = re.split(r"\{\{(.*?)\}\}", text.strip())
    return re.compile("".join(p if i % 2 else re.escape(p) for i, p in enumerate(parts)))


def filecheck(output: str, patterns: str) -> None:
    lines = output.splitlines()
    pos, col, pending_not = -1, 0, []
    for raw in patterns.strip().splitlines():
        kind, _, text = raw.strip().partition(":")
        pattern = _compile(text)
        if kind == "CHECK-NOT":
            pending_not.append(pattern)
            continue
        if kind == "CHECK-SAME":
            m = pattern.search(lines[pos], col)
            assert m, f"CHECK-SAME: {text!r} not found on line {pos + 1}: {lines[pos]!r}"
            col = m.end()
            continue
        candidates = [pos + 1] if kind == "CHECK-NEXT" else range(pos + 1, len(lines))
        found = next((i for i in candidates if i < len(lines) and pattern.search(lines[i])), None)
        assert found is not None, f"{kind}: {text!r} not found after line {pos + 1} in:\n{output}"
        for bad in pending_not:
            for i in range(pos + 1, found):
                assert not bad.search(lines[i]), f"CHECK-NOT: {bad.pattern!r} on line {i + 1}"
        pending_not = []
        pos, col = found, pattern.search(lines[found]).end()  # type: ignore[union-attr]
    for bad in pending_not:
        for i in range(pos + 1, len(lines)):
            assert not bad.search(lines[i]), f"CHECK-NOT: {bad.pattern!r} on line {i + 1}"
