"""Pictures of the computation graph: a module's functions in Graphviz's dot language.

``to_dot(module)`` draws each function as a cluster: its arguments, each op a node labelled
with its name and its result's shape and dtype, an edge from each value to each use
(labelled with the value's element type), the op's results returned to a ``return`` node.
Ops with bodies are clusters of their own: a fused elementwise op or a matmul's epilogue
(the ops it applies to each element), a loop or a branch (their blocks). Constants are
notes carrying their value, so folding shows: ``fancy_func`` at -O0 is a chain of adds, at
-O2 ``main`` prints one constant. ``render_svg(dot)`` draws it with Graphviz's ``dot``.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np

from .attributes import SymbolRefAttr
from .core import Block, Operation, Value
from .diagnostics import HycError
from .dialects.func import FuncOp
from .types import MemRefType, TensorType, Type, element_type, is_scalar

MAX_CONSTANT = 4  # elements of a constant shown in its node


def to_dot(module: Operation, only: str | None = None) -> str:
    """The data-flow graph of ``module``'s functions (or of function ``only``)."""
    graph = _Graph()
    for func in module.regions[0].block.ops:
        if isinstance(func, FuncOp) and (only is None or func.sym_name == only):
            graph.cluster(f"@{func.sym_name}", func.body, "function")
    return "\n".join(["digraph hyc {", "  rankdir=TB;", '  node [fontname="monospace", '
                      'fontsize=10];', '  edge [fontname="monospace", fontsize=9];',
                      *graph.lines, "}"]) + "\n"


def render_svg(dot: str) -> str:
    """``dot`` drawn as SVG by Graphviz."""
    program = shutil.which("dot")
    if program is None:
        raise HycError("--emit=svg draws the graph with Graphviz's 'dot', which is not "
                       "installed (Debian: apt install graphviz); --emit=dot writes the "
                       "graph for rendering elsewhere", code="E0908")
    done = subprocess.run([program, "-Tsvg"], input=dot, capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise HycError(f"Graphviz's dot failed: {done.stderr.strip()[:500]}", code="E0909")
    return done.stdout


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _type_text(t: Type) -> str:
    if isinstance(t, (TensorType, MemRefType)):
        return "x".join(map(str, t.shape)) + f"x{t.element}"
    return str(t)


class _Graph:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.nodes: dict[Value, str] = {}
        self.count = 0

    def node(self, label: str, shape: str, indent: str, style: str = "") -> str:
        self.count += 1
        name = f"n{self.count}"
        extra = f", {style}" if style else ""
        self.lines.append(f"{indent}{name} [label={_quote(label)}, shape={shape}{extra}];")
        return name

    def cluster(self, label: str, block: Block, kind: str, depth: int = 1) -> None:
        indent = "  " * depth
        self.count += 1
        self.lines.append(f"{indent}subgraph cluster_{self.count} {{")
        self.lines.append(f"{indent}  label={_quote(label)}; style=rounded; "
                          f"color={'black' if kind == 'function' else 'gray50'};")
        for arg in block.args:
            hint = arg.name_hint or f"arg{arg.index}"
            self.nodes[arg] = self.node(f"%{hint}\n{_type_text(arg.type)}", "ellipse",
                                        indent + "  ")
        for op in block.ops:
            self.op(op, indent + "  ", depth + 1)
        self.lines.append(f"{indent}}}")

    def op(self, op: Operation, indent: str, depth: int) -> None:
        if op.name == "hy.constant":
            name = self.node(_constant_label(op), "note", indent, 'style=filled, fillcolor="#f4f0d8"')
        elif op.regions:
            # the op and its bodies in a cluster: the fused computation, the loop, the branch
            self.count += 1
            self.lines.append(f"{indent}subgraph cluster_{self.count} {{")
            self.lines.append(f"{indent}  label={_quote(op.name)}; style=dashed; color=gray50;")
            name = self.node(_op_label(op), "box", indent + "  ", 'style="rounded,bold"')
            for k, region in enumerate(op.regions):
                for block in region.blocks:
                    self.cluster(_region_label(op, k), block, "body", depth + 1)
            self.lines.append(f"{indent}}}")
        else:
            terminator = not op.results and op.name.endswith(("return", "yield"))
            name = self.node(op.name if terminator else _op_label(op),
                             "plaintext" if terminator else "box", indent,
                             "" if terminator else 'style=rounded')
        for value in op.operands:
            source = self.nodes.get(value)
            if source is not None:
                self.lines.append(f"{indent}{source} -> {name} [label={_quote(_edge(value))}];")
        for result in op.results:
            self.nodes[result] = name


def _op_label(op: Operation) -> str:
    """The op's name, the symbols it names (a call's callee), its results' types."""
    symbols = [f"@{a.value}" for a in op.attributes.values() if isinstance(a, SymbolRefAttr)]
    head = " ".join([op.name, *symbols])
    shapes = ", ".join(_type_text(r.type) for r in op.results)
    return f"{head}\n{shapes}" if shapes else head


def _region_label(op: Operation, k: int) -> str:
    if op.name == "scf.if":
        return "then" if k == 0 else "else"
    if op.name == "hy.fused" or "matmul" in op.name:  # a fused op, a matmul's epilogue
        return "per element"
    return "body"


def _edge(value: Value) -> str:
    t = value.type
    return str(t) if is_scalar(t) else str(element_type(t))


def _constant_label(op: Operation) -> str:
    array = getattr(op.attributes.get("value"), "array", None)
    t = op.results[0].type
    if array is None:
        return f"constant\n{_type_text(t)}"
    flat = np.asarray(array).reshape(-1)
    shown = ", ".join(str(v) for v in flat[:MAX_CONSTANT]) + (", ..." if flat.size > MAX_CONSTANT else "")
    value = shown if np.asarray(array).ndim == 0 else f"[{shown}]"
    return f"constant {value}\n{_type_text(t)}"
