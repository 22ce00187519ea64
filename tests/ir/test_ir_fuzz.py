"""Mutated IR (token deletions, duplications, swaps, truncations) never crashes the tools."""

import io
import os
import random
import re
from pathlib import Path

import pytest
from mutation import mutate
from random_ir import random_arguments

from hyc.ir import HycError, parse_module, run, verify
from hyc.passes import optimize

ROOT = Path(__file__).parent.parent.parent
SOURCES = [ROOT / "examples" / "control.hyir", ROOT / "examples" / "mlp.hyir",
           Path(__file__).parent / "ops.hyir"]
TOKEN = re.compile(r'%[\w.$-]+|@\w+|\^\w+|"[^"\n]*"|[\w.]+|->|\S')
COUNT = int(os.environ.get("HYC_FUZZ_COUNT", "1500"))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_mutations_give_diagnostics_not_crashes(source):
    text = source.read_text()
    rng = random.Random(source.name)
    for _ in range(COUNT // len(SOURCES)):
        mutated = mutate(text, rng, TOKEN)
        try:
            module = parse_module(mutated, "fuzz.hyir")
            verify(module)
        except HycError as e:
            assert e.diagnostics and all(d.message for d in e.diagnostics)
            continue
        try:  # what still verifies must also optimize...
            optimize(module, 2)
        except HycError as e:
            assert "internal error" not in str(e), f"{e}\nfrom:\n{mutated}"
            continue
        for func in module.functions:  # ...and run, or fail cleanly
            try:
                run(module, func.sym_name, *random_arguments(func, 0), out=io.StringIO())
            except HycError:
                pass
