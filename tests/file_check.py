"""FileCheck for checks written inline in pytest tests: the ``filecheck`` package (a Python
clone of LLVM's FileCheck: CHECK, CHECK-NEXT, CHECK-SAME, CHECK-DAG, CHECK-NOT, CHECK-LABEL,
``{{regex}}`` and ``[[VAR:regex]]`` captures) on text the test produced. The textual IR
tests in tests/lit run the same FileCheck from their ``// RUN:`` lines."""

import contextlib
import io
import os
import tempfile

from filecheck.matcher import Matcher
from filecheck.options import parse_argv_options


def filecheck(output: str, patterns: str) -> None:
    """Fail, with FileCheck's own explanation, unless ``output`` matches the CHECK lines of
    ``patterns``."""
    with tempfile.TemporaryDirectory() as folder:
        checks = os.path.join(folder, "checks")
        given = os.path.join(folder, "output")
        with open(checks, "w", encoding="utf-8") as f:
            f.write("\n".join(line.strip() for line in patterns.strip().splitlines()) + "\n")
        with open(given, "w", encoding="utf-8") as f:
            f.write(output)
        report = io.StringIO()
        with contextlib.redirect_stderr(report):
            status = Matcher.from_opts(parse_argv_options(
                ["filecheck", checks, "--input-file", given, "--dump-input", "never"])).run()
    assert status == 0, f"FileCheck failed:\n{report.getvalue()}\non:\n{output}"
