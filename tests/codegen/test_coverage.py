"""Every op has a path to machine code on every target, and docs/coverage.md shows them."""

import dataclasses
from pathlib import Path

from hyc.codegen import coverage
from hyc.codegen.target import CPU_MATH, TARGETS, host_cpu, resolve

DOCS = Path(__file__).parent.parent.parent / "docs"


def test_every_op_is_lowered_on_every_target():
    for name in TARGETS:
        assert coverage.missing(resolve(name)) == []


def test_a_target_without_a_math_function_shows_in_the_table():
    lacking = dataclasses.replace(host_cpu(), math={k: v for k, v in CPU_MATH.items()
                                                    if k not in ("exp", "pow")})
    assert coverage.missing(lacking) == ["hy.exp: MISSING: math exp", "hy.pow: MISSING: math pow",
                                         "hy.sigmoid: MISSING: math exp"]


def test_the_coverage_table_is_current():
    assert (DOCS / "coverage.md").read_text() == coverage.table(), \
        "docs/coverage.md is stale: run python -m hyc.codegen.coverage > docs/coverage.md"
