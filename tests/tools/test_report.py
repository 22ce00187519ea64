"""--report=FILE.html (hyc, hyc-opt) and lowered.report(): one self-contained page with
every pass (its IR diff where it changed anything), the time of every pass and stage (LLVM's
included), op counts, the memory plan and peak, and the graph; well-formed, without scripts
or anything fetched; rendered by headless Chromium where it is installed."""

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from cli_run import run_hyc

import hyc
from hyc.passes import LEVELS, LOWER_TO_LOOPS, parse_pipeline
from hyc.tools import hyc_opt

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
VOID = {"meta", "br"}


class Structure(HTMLParser):
    """Every element closed in order; what the page would load from elsewhere."""

    def __init__(self):
        super().__init__()
        self.open, self.misnested, self.fetches, self.scripts = [], [], [], 0

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        self.fetches += [v for k, v in attrs if k in ("src", "href") and v and not v.startswith("#")]
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if self.open and self.open[-1] == tag:
            self.open.pop()
        else:
            self.misnested.append(tag)


def check_page(page):
    structure = Structure()
    structure.feed(page)
    assert not structure.open and not structure.misnested
    assert structure.scripts == 0 and structure.fetches == []
    return structure


def test_the_report_of_the_mlp(tmp_path, capsys):
    path = tmp_path / "mlp.html"
    status, _, _ = run_hyc([EXAMPLES / "mlp.hy", "-O2", "--report", path], capsys)
    assert status == 0
    page = path.read_text()
    check_page(page)
    for p in parse_pipeline(LEVELS[2]) + parse_pipeline(LOWER_TO_LOOPS):
        assert f">{p.name}</a>" in page  # every pass, in the table
    assert "llvm: optimize (-O2)" in page and "llvm: assembly" in page  # every stage
    assert "peak" in page.lower() and "<h2>The graph</h2>" in page
    assert page.count("<details") >= 5  # the passes that changed the IR, with their diffs
    assert '<span class="add">+' in page and '<span class="del">-' in page
    ops = [int(n) for n in re.findall(r'<td class="num">(\d+)</td>', page)]
    assert ops and max(ops) > 10  # op counts


@pytest.mark.skipif(shutil.which("ptxas") is None, reason="ptxas (CUDA toolkit) is not on PATH")
def test_the_report_of_a_gpu_compilation_times_ptxas(tmp_path, capsys):
    path = tmp_path / "mlp.html"
    status, _, _ = run_hyc([EXAMPLES / "mlp.hy", "--target=gpu", "--gpu-arch=sm_90",
                            "--emit=ptx", "-o", tmp_path / "mlp.ptx", "--report", path], capsys)
    assert status == 0
    page = path.read_text()
    check_page(page)
    assert "ptxas (-arch=sm_90)" in page  # the assembler's time, as a stage
    assert ">gpu-tile-matmul</a>" in page and ">gpu-grid-stride</a>" in page


def test_hyc_opt_and_python_write_reports(tmp_path):
    path = tmp_path / "opt.html"
    assert hyc_opt.main([str(EXAMPLES / "mlp.hyir"), "-O1", "--report", str(path)]) == 0
    page = path.read_text()
    check_page(page)
    assert ">canonicalize</a>" in page and ">dce</a>" in page

    def f(a, b):
        return np.maximum(a @ b + 1.0, 0)

    lowered = hyc.jit(f).lower(np.ones((2, 3), np.float32), np.ones((3, 4), np.float32))
    page = lowered.report(str(tmp_path / "f.html"))
    check_page(page)
    assert "@f at -O2 for cpu" in page and ">fuse-matmul-epilogue</a>" in page
    assert (tmp_path / "f.html").read_text() == page


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="headless Chromium is not installed (Debian: apt install chromium)")
def test_the_report_renders_in_headless_chromium(tmp_path, capsys):
    path = tmp_path / "mlp.html"
    assert run_hyc([EXAMPLES / "mlp.hy", "-O2", "--report", path], capsys)[0] == 0
    done = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                           "--dump-dom", path.as_uri()], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "What each pass changed" in done.stdout
    assert "<svg" in done.stdout or "digraph" in done.stdout  # the graph, drawn or as text
    assert "Uncaught" not in done.stderr  # no script errors
