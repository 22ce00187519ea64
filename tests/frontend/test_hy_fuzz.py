"""Mutated .hy programs (token deletions, duplications, swaps, truncations): every one gives
diagnostics or a verified module, never a traceback and never a hang."""

import os
import random
import re
import time
from pathlib import Path

import pytest
from mutation import mutate

from hyc.frontend.irgen import compile_source
from hyc.ir import HycError, VerifyError
from hyc.passes import optimize

EXAMPLES = sorted((Path(__file__).parent.parent.parent / "examples").glob("*.hy"))
TOKEN = re.compile(r"[A-Za-z_]\w*|\d+\.?\d*|\*\*|->|[=!<>]=|\n[ \t]*|\S")
COUNT = int(os.environ.get("HYC_FUZZ_COUNT", "1500"))


@pytest.mark.parametrize("source", EXAMPLES, ids=lambda p: p.name)
def test_mutations_never_crash_or_hang(source):
    text = source.read_text()
    rng = random.Random(source.name)
    for _ in range(COUNT // len(EXAMPLES)):
        mutated = mutate(text, rng, TOKEN)
        start = time.perf_counter()
        try:
            module = compile_source(mutated, "fuzz.hy")
        except VerifyError as e:  # the frontend produced invalid IR: a bug, not a user error
            raise AssertionError(f"invalid IR from:\n{mutated}\n{e}") from None
        except HycError as e:
            assert e.diagnostics and all(d.loc.primary() for d in e.diagnostics), mutated
        else:  # what compiles also optimizes: a pass that crashes reports an internal error
            try:
                optimize(module, 3)
            except HycError as e:
                assert "internal error" not in str(e), f"{e}\nfrom:\n{mutated}"
        assert time.perf_counter() - start < 5, f"too slow on:\n{mutated}"
