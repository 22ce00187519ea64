"""The launch plan: every host function of a GPU compilation as JSON steps, run by the
executor on the simulated device (kernels compiled for this CPU), agrees with the
interpreter."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from oracle import assert_same_printout
from random_ir import random_arguments, random_module

from hyc.codegen.driver import Compilation
from hyc.codegen.gpu_sim import simulated_device
from hyc.codegen.nvptx import gpu_target
from hyc.codegen.plan import FORMAT, VERSION, PlanError, build_plan, execute, to_json
from hyc.ir import HycError, Interpreter, parse_module, print_ir
from hyc.ir.types import numpy_dtype, shape_of
from hyc.tools import hyc as hyc_cli

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
SOURCES = {**{p.name: p for p in sorted(EXAMPLES.glob("*.hy*"))},
           "reductions": "def f(x: f32[N, 3]) -> f32:\n    return sum(x) + max(x) * mean(x)\n"}


def planned(source, level):
    """The tensor-level module, the plan (through its JSON text) and a simulated device."""
    compilation = Compilation(source, level, gpu_target())
    tensor = parse_module(print_ir(compilation.optimized_ir()))
    module = compilation.stage("gpu")
    plan = json.loads(to_json(build_plan(module, "m.ptx", "sm_80")))
    assert plan["format"] == FORMAT and plan["version"] == VERSION
    return tensor, plan, simulated_device(module)


def arguments(func, rng):
    out = []
    for t in func.type.inputs:
        shape = tuple(d if isinstance(d, int) else 3 for d in shape_of(t))
        out.append(rng.standard_normal(shape).astype(numpy_dtype(t)) if numpy_dtype(t).kind == "f"
                   else rng.integers(0, 5, shape).astype(numpy_dtype(t)))
    return out


def check_agrees(tensor, plan, device, name, args):
    printed = io.StringIO()
    try:
        want = [np.asarray(w) for w in Interpreter(tensor, printed).call(name, *args)]
    except HycError:
        return False
    outs = [np.zeros(w.shape, w.dtype) for w in want]
    got_printed = io.StringIO()
    execute(plan, name, [a if isinstance(a, np.ndarray) and a.ndim else np.asarray(a)
                         for a in args] + outs, device, got_printed)
    assert_same_printout(got_printed.getvalue(), printed.getvalue())
    for w, g in zip(want, outs):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
    return True


@pytest.mark.parametrize("level", [0, 1, 2, 3])
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_plans_of_the_examples_agree_with_the_interpreter(name, level):
    tensor, plan, device = planned(SOURCES[name], level)
    rng = np.random.default_rng(level)
    for func in tensor.functions:
        check_agrees(tensor, plan, device, func.sym_name, arguments(func, rng))


@pytest.mark.parametrize("seed", range(25))
def test_plans_of_random_programs_agree_with_the_interpreter(seed):
    module = random_module(seed, max_ops=8)
    try:
        tensor, plan, device = planned(module, 2)
    except HycError as e:  # a '?' result size cannot be allocated by a plan's caller either
        assert "result sizes" in str(e) or "stayed on the host" in str(e), e
        return
    for func in tensor.functions:
        check_agrees(tensor, plan, device, func.sym_name, random_arguments(func, seed))


def test_a_plan_checks_its_arguments_and_its_sizes():
    tensor, plan, device = planned(SOURCES["mlp.hy"], 2)
    rng = np.random.default_rng(0)
    x, *params = arguments(tensor.functions[0], rng)
    out = np.zeros((3, 2), np.float32)
    with pytest.raises(PlanError, match="argument 'x' of @mlp has shape"):
        execute(plan, "mlp", [x[:, :5].copy(), *params, out], device)
    with pytest.raises(PlanError, match="must be a writeable C-contiguous float32 array"):
        execute(plan, "mlp", [x.astype(np.float64), *params, out], device)
    with pytest.raises(PlanError, match="dimension 0 should be 3"):
        execute(plan, "mlp", [x, *params, np.zeros((4, 2), np.float32)], device)


def test_target_gpu_writes_the_ptx_and_the_plan(tmp_path, capsys):
    assert hyc_cli.main([str(EXAMPLES / "mlp.hy"), "-O2", "--target=gpu", "-o",
                         str(tmp_path / "net.ptx")]) == 0
    plan = json.loads((tmp_path / "net.plan.json").read_text())
    assert plan["ptx"] == "net.ptx" and plan["arch"] == "sm_80"
    kernels = {k["name"] for k in plan["kernels"]}
    assert kernels and all(f".entry {k}(" in (tmp_path / "net.ptx").read_text() for k in kernels)
    launched = {s["kernel"] for s in all_steps(plan["functions"][0]["steps"])
                if s["step"] == "launch"}
    assert launched == kernels
    assert "wrote" in capsys.readouterr().err


def all_steps(steps):
    """The steps, and those of their loops' and branches' bodies."""
    for step in steps:
        yield step
        for body in ("body", "then", "else"):
            yield from all_steps(step.get(body, []))


def test_a_sum_is_a_block_reduction_and_a_pass_over_the_partial_results():
    """gpu-block-reduce: one launch of blocks folding into partial results, one block folding
    those into one element, which the host reads; no host loop over elements."""
    _, plan, _ = planned("def total(x: f32[N]) -> f32:\n    return sum(x)\n", 2)
    steps = plan["functions"][0]["steps"]
    launches = [s for s in steps if s["step"] == "launch"]
    assert [s["kernel"] for s in launches] == ["total_reduce", "total_reduce_partials"]
    assert [s["step"] for s in steps].count("load") == 1 and "for" not in [s["step"] for s in steps]
