"""The lit suite (tests/lit): one pytest test runs it, so that the README's test command
stays the one command."""

import subprocess
import sys
from pathlib import Path

SUITE = Path(__file__).parent / "lit"


def test_the_lit_suite_passes():
    done = subprocess.run([sys.executable, "-c", "from lit.main import main; main()", "-v",
                           str(SUITE)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
    assert "Passed" in done.stdout
