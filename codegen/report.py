"""One page about a compilation (``--report=FILE.html``, ``lowered.report()``): what each
pass did to the IR (a diff, where it changed anything), what each pass and stage cost, how
the op count went, the memory plan and peak of each function, and the picture of the graph.
The page is self-contained: no scripts, no network, one inline style sheet.
"""

from __future__ import annotations

import difflib
import html
import re
from typing import Any

from hyc.ir import HycError, ModuleOp

STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; } td, th { padding: 2px 10px; text-align: left; }
th { border-bottom: 1px solid #999; } td.num { text-align: right; font-family: monospace; }
pre { background: #f7f7f7; padding: 8px; overflow-x: auto; font-size: 12px; }
.add { background: #e6ffec; } .del { background: #ffebe9; } .hunk { color: #888; }
details { margin: 4px 0; } summary { cursor: pointer; } .same { color: #888; }
"""
OPS = re.compile(r"^\s*(?:%[\w.$-]+(?:, %[\w.$-]+)* = )?[a-z_]+\.[a-z_]+", re.M)


def op_count(text: str) -> int:
    return len(OPS.findall(text))


def render(title: str, records: list[Any], timings: list[tuple[str, float]],
           memory: str, graph_svg: str | None, graph_dot: str) -> str:
    """The page: ``records`` are the passes' ``PassRecord``s, ``timings`` every stage's
    wall time, ``memory`` the memory report, the graph as SVG (or its dot text)."""
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    total = sum(t for _, t in timings) or 1e-12
    parts.append("<h2>Time</h2><table><tr><th>stage or pass</th><th>seconds</th><th>%</th></tr>")
    for name, seconds in timings:
        parts.append(f"<tr><td>{html.escape(name)}</td><td class=\"num\">{seconds:.6f}</td>"
                     f"<td class=\"num\">{100 * seconds / total:.1f}</td></tr>")
    parts.append(f"<tr><th>total</th><th class=\"num\">{total:.6f}</th><th></th></tr></table>")
    parts.append("<h2>Passes</h2><table><tr><th>#</th><th>pipeline</th><th>pass</th>"
                 "<th>seconds</th><th>ops before</th><th>ops after</th></tr>")
    for k, r in enumerate(records, 1):
        parts.append(f"<tr><td class=\"num\">{k}</td><td>{html.escape(r.stage)}</td>"
                     f"<td><a href=\"#pass{k}\">{html.escape(r.name)}</a></td>"
                     f"<td class=\"num\">{r.seconds:.6f}</td>"
                     f"<td class=\"num\">{op_count(r.before)}</td>"
                     f"<td class=\"num\">{op_count(r.after)}</td></tr>")
    parts.append("</table><h2>What each pass changed</h2>")
    for k, r in enumerate(records, 1):
        label = f"{k}. {html.escape(r.name)} <span class=\"same\">({html.escape(r.stage)})</span>"
        if r.before == r.after:
            parts.append(f"<p id=\"pass{k}\">{label}: <span class=\"same\">unchanged</span></p>")
            continue
        parts.append(f"<details id=\"pass{k}\"><summary>{label}</summary><pre>"
                     f"{_diff(r.before, r.after)}</pre></details>")
    parts.append(f"<h2>Memory</h2><pre>{html.escape(memory)}</pre>")
    parts.append("<h2>The graph</h2>")
    if graph_svg is not None:
        parts.append(_svg_body(graph_svg))
    else:
        parts.append("<p>(Graphviz's dot is not installed: the graph in its language)</p>"
                     f"<pre>{html.escape(graph_dot)}</pre>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _diff(before: str, after: str) -> str:
    lines = []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), "before", "after",
                                     n=2, lineterm=""):
        kind = "add" if line.startswith("+") else "del" if line.startswith("-") else \
            "hunk" if line.startswith("@@") else ""
        text = html.escape(line)
        lines.append(f"<span class=\"{kind}\">{text}</span>" if kind else text)
    return "\n".join(lines)


def _svg_body(svg: str) -> str:
    """The <svg> element of Graphviz's document (without its XML prologue and doctype)."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else f"<pre>{html.escape(svg)}</pre>"


def report(compilation: Any, title: str, dims: dict[str, int] | None = None) -> str:
    """The page about ``compilation``, whose instrumentation recorded its passes (the stages
    it has run so far are in it)."""
    from hyc.ir.dot import render_svg, to_dot
    from hyc.passes.memory import memory_report
    records = compilation.instrumentation.record if compilation.instrumentation else None
    if records is None:
        raise HycError("a report needs the compilation's passes recorded "
                       "(Instrumentation(record=[]))", code="E1205")
    optimized: ModuleOp = compilation.optimized_ir()
    dot = to_dot(optimized)
    try:
        svg: str | None = render_svg(dot)
    except HycError:
        svg = None
    return render(title, records, compilation.timings, memory_report(optimized, dims or {}),
                  svg, dot)
