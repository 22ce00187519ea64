"""Pictures of the computation graph (ir/dot.py): --emit=dot shows folding, fused regions,
loops and branches; --emit=svg draws it with Graphviz where installed and says how to get it
where not; a lowered function shows as its graph."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_run import run_hyc

import hyc
from hyc.codegen.driver import Compilation
from hyc.ir import HycError

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's dot is not installed (apt install graphviz)")


def cluster(dot, function):
    """The lines of ``function``'s cluster."""
    start = dot.index(f'label="@{function}"')
    end = dot.find('label="@', start + 1)
    return dot[start:end if end >= 0 else None]


def test_folding_shows_in_fancy_func():
    before = Compilation(EXAMPLES / "fancy.hy", 0).stage("dot")
    after = Compilation(EXAMPLES / "fancy.hy", 2).stage("dot")
    assert cluster(before, "fancy_func").count("func.call @add") == 3
    assert re.findall(r"constant (\d\.0)", cluster(before, "main")) == ["1.0", "2.0", "3.0", "4.0"]
    main = cluster(after, "main")
    assert "constant 10.0" in main and "func.call" not in main and "hy.print" in main
    # every edge joins two nodes the graph declares
    declared = set(re.findall(r"^\s*(n\d+) \[", before, re.M))
    assert all(a in declared and b in declared
               for a, b in re.findall(r"(n\d+) -> (n\d+)", before))


def test_fused_matmuls_loops_and_branches_are_clusters():
    mlp = Compilation(EXAMPLES / "mlp.hy", 2).stage("dot")
    assert mlp.count('label="hy.fused_matmul"; style=dashed') == 3
    assert 'label="per element"' in mlp and '"hy.relu\\nf32"' in mlp
    assert '"%x\\nNx512xf32"' in mlp  # arguments with their shapes
    control = Compilation(EXAMPLES / "control.hy", 0).stage("dot")
    assert 'label="scf.for"' in control and 'label="then"' in control and 'label="else"' in control


def test_emit_dot_and_svg_from_the_command_line(tmp_path, capsys, monkeypatch):
    out = tmp_path / "fancy.dot"
    status, _, _ = run_hyc([EXAMPLES / "fancy.hy", "-O2", "--emit=dot", "-o", out], capsys)
    assert status == 0 and out.read_text().startswith("digraph hyc {")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    status, _, err = run_hyc([EXAMPLES / "fancy.hy", "--emit=svg"], capsys)
    assert status == 1 and "apt install graphviz" in err and "--emit=dot" in err


@needs_dot
def test_emit_svg_draws_the_graph(capsys):
    status, svg, _ = run_hyc([EXAMPLES / "mlp.hy", "-O2", "--emit=svg"], capsys)
    assert status == 0 and svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "hy.fused_matmul" in svg


def test_a_lowered_function_shows_as_its_graph(monkeypatch):
    def f(a, b):
        return np.maximum(a @ b + 1.0, 0)

    lowered = hyc.jit(f).lower(np.ones((2, 3), np.float32), np.ones((3, 4), np.float32))
    dot = lowered.as_dot()
    assert 'label="@f"' in dot and "hy.fused_matmul" in dot
    assert "hy.matmul" in lowered.as_dot(optimized=False)  # as traced: not fused yet
    if shutil.which("dot"):
        assert "<svg" in lowered._repr_svg_()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert lowered._repr_svg_() is None  # Jupyter shows the text instead


def test_a_dot_failure_is_an_error(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: "/bin/false")
    with pytest.raises(HycError, match="Graphviz's dot failed"):
        Compilation(EXAMPLES / "fancy.hy", 2).stage("svg")
