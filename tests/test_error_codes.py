"""Error codes (ir/error_codes.py): every raise site names a registered code, no code means two
things, every code's example produces it, ``hyc --explain`` explains each, and docs/errors.md
is the registry's."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

from hyc.ir.diagnostics import HycError
from hyc.ir.error_codes import CODE, ErrorCode, markdown, registry
from hyc.tools import hyc as hyc_tool
from hyc.tools import hyc_opt

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["hyc", "ir", "frontend", "passes", "codegen", "tools"]
ENTRIES = list(registry().values())

# What makes a diagnostic: the error classes, and the helpers that build one from a message
# (the run-time checks' helpers only where the loop passes and CPU code generation define
# them). Each call names its code (``code="E0301"``) or forwards one: the code of a diagnostic
# it wraps (``code=e.code``), its helper's own ``code`` parameter, or the code a compiled
# check's message carries (``from_message``); ``diagnostics=`` forwards whole diagnostics, and
# notes have no code.
MAKERS = {"HycError", "ParseError", "VerifyError", "InterpreterError", "ArgumentTypeError",
          "ArgumentValueError", "RunTimeCheckError", "TracingError", "ConcretizationError",
          "PlanError", "CudaError", "GpuCheckError", "Diagnostic", "LoweringError",
          "SyntaxProblem", "error"}
CHECK_HELPERS = {"check", "check_equal", "require"}
CHECKING_FILES = ("passes/", "codegen/cpu.py", "codegen/lowering.py")


def _calls() -> list[tuple[str, ast.Call, ast.FunctionDef | None]]:
    """Each call that makes a diagnostic, with the function it is in."""
    found = []
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            where = str(path.relative_to(ROOT))
            makers = MAKERS | (CHECK_HELPERS if where.startswith(CHECKING_FILES) else set())
            tree = ast.parse(path.read_text(encoding="utf-8"))
            scopes = {id(n): f for f in ast.walk(tree)
                      if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in ast.walk(f)}
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                f = node.func
                if isinstance(f, ast.Attribute) and getattr(f.value, "id", "") == "argparse":
                    continue  # argparse's usage errors (exit status 2), not diagnostics
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
                if name in makers:
                    found.append((f"{where}:{node.lineno}", node, scopes.get(id(node))))
    return found


def _is_note(call: ast.Call) -> bool:
    values = [k.value for k in call.keywords if k.arg == "severity"] + call.args[2:3]
    return any(isinstance(v, ast.Constant) and v.value == "note" for v in values)


def _forwards(code: ast.expr, scope: ast.FunctionDef | None) -> bool:
    if isinstance(code, ast.Attribute) and code.attr == "code":
        return True
    if scope is None:
        return False
    params = {a.arg for a in scope.args.args + scope.args.kwonlyargs}
    return (isinstance(code, ast.Name) and code.id == "code" and "code" in params) \
        or scope.name == "from_message"


def _site_codes() -> dict[str, list[str]]:
    """Each literal code and the raise sites that name it; fails on a site that names none."""
    codes: dict[str, list[str]] = {}
    missing = []
    for where, call, scope in _calls():
        code = next((k.value for k in call.keywords if k.arg == "code"), None)
        if code is None:
            if not (any(k.arg == "diagnostics" for k in call.keywords) or _is_note(call)):
                missing.append(where)
        elif isinstance(code, ast.Constant):
            codes.setdefault(code.value, []).append(where)
        elif not _forwards(code, scope):
            missing.append(f"{where} (computes its code)")
    assert not missing, "diagnostics without a code: " + ", ".join(missing)
    return codes


def test_every_raise_site_names_a_registered_code():
    codes = _site_codes()
    unknown = {c: w for c, w in codes.items() if c not in registry()}
    assert not unknown, f"codes used but not registered in ir/error_codes/: {unknown}"


def test_every_registered_code_is_used_and_means_one_thing():
    """A code in the registry is raised somewhere (or was retired, which a registry entry
    would say); titles are distinct, so no two codes describe one error, and the registry's
    loader refuses a code defined twice."""
    used = set(_site_codes())
    assert {e.code for e in ENTRIES} - used - {"E1105"} == set()  # E1105: --explain itself
    titles = [e.title.lower() for e in ENTRIES]
    assert len(set(titles)) == len(titles)
    assert all(CODE.fullmatch(e.code) for e in ENTRIES)


def _requirement_missing(entry: ErrorCode) -> str | None:
    """Why this machine cannot produce the example (it needs a GPU, or the lack of one)."""
    from hyc.codegen.cuda import gpu_context
    for need in entry.example.requires:
        if need in ("gpu", "no-gpu"):
            try:
                gpu_context()
                have = True
            except HycError:
                have = False
            if have != (need == "gpu"):
                return f"the example needs {'a' if need == 'gpu' else 'no'} CUDA GPU"
        elif need == "no-libdevice":
            from hyc.codegen.nvptx import libdevice_path
            try:
                return f"the example needs a machine without libdevice ({libdevice_path()})"
            except HycError:
                pass
    return None


def run_example(entry: ErrorCode, capsys) -> list[str]:
    """The codes of the diagnostics the example produces, in order."""
    example, codes = entry.example, []
    if example.language == "python":
        try:
            exec(compile(example.text, f"<{entry.code} example>", "exec"), {"__name__": "example"})
        except HycError as e:
            codes += [d.code for d in e.diagnostics if d.code]
    else:
        path = f"example.{example.language}"
        Path(path).write_text(example.text)
        tool = hyc_opt if example.tool == "hyc-opt" else hyc_tool
        tool.main([path, *example.flags])
    printed = capsys.readouterr()
    return codes + re.findall(r"error\[(E\d{4})\]", printed.err + printed.out)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.code for e in ENTRIES])
def test_each_example_produces_its_code(entry, tmp_path, monkeypatch, capsys):
    why = _requirement_missing(entry)
    if why:
        pytest.skip(why)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HYC_CACHE_DIR", "off")
    saved = dict(os.environ)
    try:
        codes = run_example(entry, capsys)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert codes and codes[0] == entry.code, f"{entry.code}'s example gave {codes or 'no error'}"


@pytest.mark.parametrize("code", [e.code for e in ENTRIES] + ["e0713"])
def test_explain_prints_the_long_explanation(code, capsys):
    assert hyc_tool.main(["--explain", code]) == 0
    out = capsys.readouterr().out
    entry = registry()[code.upper()]
    assert out.startswith(f"{entry.code}: {entry.title}\n") and entry.example.text in out


def test_explain_of_an_unknown_code_is_an_error(capsys):
    assert hyc_tool.main(["--explain", "E9999"]) == 1
    assert "error[E1105]: no error code E9999" in capsys.readouterr().err


def test_diagnostics_print_their_code_and_programs_can_read_it(tmp_path, capsys):
    path = tmp_path / "m.hy"
    path.write_text("def main(a: f32[2, 3], b: f32[4]) -> f32[2, 3]:\n    return a + b\n")
    assert hyc_tool.main([str(path)]) == 1
    assert f"{path}:2:14: error[E0301]: shape mismatch" in capsys.readouterr().err
    with pytest.raises(HycError) as info:
        import hyc
        hyc.compile(path)
    assert info.value.code == "E0301"


def test_the_docs_page_is_the_registry():
    assert (ROOT / "docs" / "errors.md").read_text() == markdown(), \
        "docs/errors.md is stale: run python -m hyc.ir.error_codes > docs/errors.md"
