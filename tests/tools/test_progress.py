"""The status line of long work (codegen/progress.py): drawn on a terminal after a delay,
with the stage, pass or kernel at hand, replaced by the time taken at the end; never where
stderr is not a terminal, nor with -q."""

import io
import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

from hyc.codegen import progress

EXAMPLES = Path(__file__).parent.parent.parent / "examples"


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_line_shows_what_is_done_now(monkeypatch):
    monkeypatch.setenv("HYC_PROGRESS_DELAY", "0")
    terminal = Terminal()
    with progress.shown(terminal, "hyc"):
        progress.status("pass canonicalize")
        time.sleep(0.3)
        progress.status("kernel f_reduce")
        time.sleep(0.3)
    drawn = terminal.getvalue()
    assert "\r\x1b[Khyc: pass canonicalize" in drawn and "\r\x1b[Khyc: kernel f_reduce" in drawn
    assert drawn.endswith("s\n") and "hyc: done in " in drawn.splitlines()[-1]
    assert progress.current() == ""


def test_silent_off_a_terminal_with_q_and_for_short_work(monkeypatch):
    monkeypatch.setenv("HYC_PROGRESS_DELAY", "0")
    for stream, enabled in ((io.StringIO(), True), (Terminal(), False)):
        with progress.shown(stream, "hyc", enabled):
            progress.status("pass cse")
            time.sleep(0.2)
        assert stream.getvalue() == ""
    monkeypatch.setenv("HYC_PROGRESS_DELAY", "5")
    terminal = Terminal()
    with progress.shown(terminal, "hyc"):
        progress.status("pass cse")  # done long before the delay
    assert terminal.getvalue() == ""


def run_in_a_terminal(*flags):
    """hyc on a pseudo-terminal's stderr: what it drew there."""
    leader, follower = pty.openpty()
    env = {**os.environ, "HYC_PROGRESS_DELAY": "0"}
    done = subprocess.run([sys.executable, "-m", "hyc.tools.hyc", str(EXAMPLES / "mlp.hy"),
                           "-O2", "--emit=asm", "-o", os.devnull, *flags],
                          stderr=follower, stdout=subprocess.DEVNULL, env=env, timeout=300)
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    assert done.returncode == 0
    return drawn.decode(errors="replace")


def test_hyc_draws_its_stages_on_a_terminal():
    drawn = run_in_a_terminal()  # what it shows depends on how fast each stage goes
    assert re.search(r"\r\x1b\[Khyc: (starting|frontend|pass \w|llvm: )", drawn), drawn
    assert re.search(r"\r\x1b\[Khyc: done in \d+\.\d s\r?\n$", drawn), drawn
    assert run_in_a_terminal("-q") == ""


def test_passes_and_kernels_say_what_they_do():
    import numpy as np

    import hyc
    from hyc.ir import parse_module
    from hyc.passes import PassManager, parse_pipeline
    PassManager(parse_pipeline("canonicalize,dce")).run(parse_module("module {\n}\n"))
    assert progress.current() == "pass dce"
    module = hyc.compile("def f(x: f32[N]) -> f32[N]:\n    return x * 2.0\n", target="gpu-sim")
    module.f(np.ones(8, np.float32))
    assert progress.current() == "kernel f_parallel0_kernel"
