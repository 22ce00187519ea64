# The textual tests, run as MLIR's and xDSL's are: each file's `RUN:` lines are shell
# commands (`hyc-opt %s --pass-pipeline=... | filecheck %s`), and `filecheck` (the Python
# clone of LLVM's FileCheck) checks the output against the file's CHECK lines.
# tests/test_lit.py runs this suite from pytest.
import os
import shlex
import sys

import lit.formats

config.name = "hyc"  # noqa: F821 (lit provides `config`)
config.test_format = lit.formats.ShTest(execute_external=False)  # noqa: F821
config.suffixes = [".hyir", ".hy"]  # noqa: F821
config.excludes = ["lit.cfg.py"]  # noqa: F821
config.test_source_root = os.path.dirname(__file__)  # noqa: F821

# The tools of this Python, whatever is on PATH.
python = shlex.quote(sys.executable)
# (lit's substitutions are regular expressions: whole words only)
WORD = r"(?<![\w/.-]){}(?![\w.-])"
for tool, module in (("hyc-opt", "hyc.tools.hyc_opt"), ("hyc", "hyc.tools.hyc"),
                     ("filecheck", "filecheck")):
    config.substitutions.append((WORD.format(tool), f"{python} -m {module}"))  # noqa: F821
for name in ("HOME", "HYC_CACHE_DIR", "HYC_REPRODUCER_DIR", "PYTHONPATH"):
    if name in os.environ:
        config.environment[name] = os.environ[name]  # noqa: F821
