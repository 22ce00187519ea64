"""Structure the code keeps: class names unique in the package (dialect ops and syntax-tree
nodes are namespaced by their module), and no import cycle among the modules' top-level
imports."""

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent
PACKAGES = {"hyc": "hyc", "ir": "hyc.ir", "frontend": "hyc.frontend", "passes": "hyc.passes",
            "codegen": "hyc.codegen", "tools": "hyc.tools"}
# names used on purpose in two places: ops of different dialects (hy.ConstantOp and
# buf.ConstantOp, as MLIR's arith/memref), syntax-tree nodes named as Python's ast names them,
# and the Gluon-style hyc.nn.Block of the Python API
NAMESPACED = ("ir/dialects/", "frontend/syntax.py", "hyc/nn.py")


def modules():
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            yield ".".join([package, *parts]), path


def test_class_names_are_unique():
    seen: dict[str, str] = {}
    clashes = []
    for _, path in modules():
        where = str(path.relative_to(ROOT))
        if where.startswith(NAMESPACED):
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                if node.name in seen:
                    clashes.append(f"{node.name}: {seen[node.name]} and {where}")
                seen[node.name] = where
    assert not clashes


def top_level_imports(name, path):
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
                found.update({target} | {f"{target}.{a.name}" for a in node.names})
            elif node.module and node.module.startswith("hyc"):
                found.update({node.module} | {f"{node.module}.{a.name}" for a in node.names})
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("hyc"))
    return found


def test_no_import_cycles():
    names = dict(modules())
    graph = {name: {m for m in top_level_imports(name, path) if m in names and m != name}
             for name, path in names.items()}
    cycles = []
    for start in graph:
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    cycles.append(" -> ".join(trail + [start]))
                elif nxt not in trail and len(trail) < 12:
                    stack.append((nxt, trail + [nxt]))
    assert not cycles, cycles[:5]
