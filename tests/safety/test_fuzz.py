"""The fuzzer (tests/fuzz.py) in CI: a few hundred mutated .hy programs, .hyir modules and
exported models, each ending in a located diagnostic or in compiled code that agrees with
the interpreter and leaves the red zones around its arrays untouched.

``HYC_FUZZ_CASES=100000`` runs more in process; ``python tests/fuzz.py hy 100000`` runs a
campaign in a worker process that also counts crashes and hangs."""

import os

import numpy as np
import pytest
from fuzz import Failure, Guarded, campaign, cases, run_case

COUNT = int(os.environ.get("HYC_FUZZ_CASES", "200"))


@pytest.mark.parametrize("kind", ["hy", "ir", "model"])
def test_mutated_inputs_end_in_a_diagnostic_or_agree(kind):
    outcomes = {}
    for text, seed in cases(kind, COUNT, seed=1):
        outcome = run_case(kind, text, seed)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert sum(outcomes.values()) == COUNT
    assert len(outcomes) >= 2, outcomes  # some inputs are refused, some run


def test_a_campaign_counts_every_case_in_a_worker_process():
    tally = campaign("ir", 30, timeout=60)
    assert sum(tally.values()) == 30 and set(tally) <= {"diagnostic", "compiled", "agreed"}


def test_the_red_zones_notice_a_write_outside_an_array():
    guard = Guarded()
    guard.place(np.zeros(4, np.float32))
    assert guard.intact()
    base, size = guard.zones[0]
    base[64 + size] = 0  # one byte past the end of the array
    assert not guard.intact()


def test_a_wrong_result_is_a_failure(monkeypatch):
    from hyc.codegen import compiled
    source = "def f(x: f32[4]) -> f32[4]:\n    return x + 1.0\n"
    original = compiled.CompiledFunction.__call__
    monkeypatch.setattr(compiled.CompiledFunction, "__call__",
                        lambda self, *a, **k: original(self, *a, **k) + 1)
    with pytest.raises(Failure, match="where the interpreter gives"):
        run_case("hy", source, 0)
