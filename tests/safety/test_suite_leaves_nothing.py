"""The test suite cleans up after itself: its compiled-code cache and crash reproducers go
with the run (issue item 17)."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent


def test_a_run_leaves_no_cache_or_reproducer_behind(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYC_")}
    env.update(TMPDIR=str(scratch), HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--basetemp", str(tmp_path / "basetemp"),
                           "tests/passes/test_pipeline.py", "tests/codegen/test_native.py",
                           "-k", "crashing or mlp_matches"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    ran = re.search(r"(\d+) passed", done.stdout)
    assert ran and int(ran.group(1)) >= 2, done.stdout  # the crash reproducer and compiles ran
    assert list(scratch.iterdir()) == []
    assert not (tmp_path / "home" / ".cache").exists() and not (tmp_path / "xdg").exists()
