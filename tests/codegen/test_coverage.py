"""Every op has a path to machine code on every target, and docs/coverage.md shows them."""

from pathlib import Path

from hyc.codegen import coverage
from hyc.codegen.target import CPU_MATH, TARGETS, host_cpu, resolve
from hyc.record import replace

DOCS = Path(__file__).parent.parent.parent / "docs"


def test_every_op_is_lowered_on_every_target():
    for name in TARGETS:
        assert coverage.missing(resolve(name)) == []


def test_a_target_without_a_math_function_shows_in_the_table():
    lacking = replace(host_cpu(), math={k: v for k, v in CPU_MATH.items()
                                                    if k not in ("exp", "pow")})
    assert coverage.missing(lacking) == ["hy.exp: MISSING: math exp", "hy.pow: MISSING: math pow",
                                         "hy.sigmoid: MISSING: math exp"]


def test_the_coverage_table_is_current():
    assert (DOCS / "coverage.md").read_text() == coverage.table(), \
        "docs/coverage.md is stale: run python -m hyc.codegen.coverage > docs/coverage.md"


def test_an_op_without_a_lowering_is_a_located_error():
    """A tensor-level module handed to the lowering (a pipeline that skipped bufferization)
    is an error at its function, and a tensor op in a loop-level function one at the op."""
    import pytest

    from hyc.codegen.cpu import lower_module
    from hyc.frontend.loading import module_from_text
    from hyc.ir import HycError
    module = module_from_text("def f(a: f32[2, 3], b: f32[3, 4]) -> f32[2, 4]:\n"
                              "    return a @ b\n", "m.hy")
    with pytest.raises(HycError, match=r"@f is not at the loop level .* lower the module to "
                                       r"loops first") as info:
        lower_module(module, host_cpu())
    assert info.value.diagnostics[0].loc.line == 1
    mixed = module_from_text(
        "func.func @g(%a: memref<2xf32>) {\n"
        "  %t = hy.constant {value = dense<1.0> : tensor<2xf32>} : tensor<2xf32>\n"
        "  func.return\n}\n", "m.hyir")
    with pytest.raises(HycError, match=r"cannot lower 'hy.constant' on tensors") as info:
        lower_module(mixed, host_cpu())
    assert info.value.diagnostics[0].loc.line == 2
