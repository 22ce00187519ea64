"""gpu-sim's race and bounds checker finds a planted race and a planted out-of-bounds access,
with the kernel, the threads and the source locations, and finds nothing in the kernels hyc
generates."""

from pathlib import Path

import numpy as np
import pytest
from gpu_launch import LAUNCH

import hyc
from hyc.codegen.driver import Compilation
from hyc.ir import HycError, parse_module, print_ir, verify
from hyc.ir.gpu_check import CheckingInterpreter, GpuCheckError
from hyc.ir.types import numpy_dtype, shape_of

EXAMPLES = Path(__file__).parent.parent.parent / "examples"



def line_of(body, text):
    """The line of ``text`` in the module made with ``body``."""
    lines = LAUNCH.replace("BODY", body).splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def run(body):
    module = parse_module(LAUNCH.replace("BODY", body), "planted.hyir")
    verify(module)
    CheckingInterpreter(module).call("f", np.arange(8, dtype=np.float32), np.zeros(8, np.float32))


def test_a_correct_kernel_passes():
    run("%v = buf.load %x, %i : (memref<8xf32>, index) -> f32\n"
        "  buf.store %v, %out, %i : (f32, memref<8xf32>, index) -> ()")


def test_a_planted_race_is_found_with_both_threads_and_places():
    body = ("%zero = hy.constant {value = dense<0> : index} : index\n"
            "  %v = buf.load %x, %i : (memref<8xf32>, index) -> f32\n"
            "  buf.store %v, %out, %zero : (f32, memref<8xf32>, index) -> ()")
    with pytest.raises(GpuCheckError) as info:  # every thread writes element 0
        run(body)
    error, note = info.value.diagnostics
    assert "race in kernel @k: thread (1, 0, 0) of block (0, 0, 0) writes element (0,) that " \
           "thread (0, 0, 0) of block (0, 0, 0) writes" in error.message
    store = line_of(body, "buf.store")
    assert error.loc.line == store and note.severity == "note" and note.loc.line == store


def test_a_read_and_a_write_by_two_threads_race():
    with pytest.raises(GpuCheckError, match="race in kernel @k"):
        run("%one = hy.constant {value = dense<1> : index} : index\n"
            "  %j = hy.add %i, %one : index\n"
            "  %seven = hy.constant {value = dense<7> : index} : index\n"
            "  %k = hy.minimum %j, %seven : index\n"
            "  %v = buf.load %out, %k : (memref<8xf32>, index) -> f32\n"
            "  buf.store %v, %out, %i : (f32, memref<8xf32>, index) -> ()")


def test_a_planted_out_of_bounds_access_is_found():
    body = ("%one = hy.constant {value = dense<1> : index} : index\n"
            "  %j = hy.add %i, %one : index\n"
            "  %v = buf.load %x, %j : (memref<8xf32>, index) -> f32\n"
            "  buf.store %v, %out, %i : (f32, memref<8xf32>, index) -> ()")
    with pytest.raises(GpuCheckError, match=r"out-of-bounds read in kernel @k: index \(8,\) "
                                            r"of a buffer of shape \(8,\), by thread "
                                            r"\(3, 0, 0\) of block \(1, 0, 0\)") as info:
        run(body)
    assert info.value.diagnostics[0].loc.line == line_of(body, "buf.load %x, %j")


PROGRAMS = {**{p.stem: p for p in sorted(EXAMPLES.glob("*.hy"))},
            "batched": "def f(a: f32[2, 3, 4], b: f32[1, 4, 5]) -> f32[2, 3, 5]:\n    return a @ b\n",
            "sums": "def f(x: f32[N, 3]) -> f32[N]:\n    return sum(x, axis=1) + sum(x) * max(x)\n"}


# the MLP's kernels take seconds on the interpreter: one level of it
CASES = [(name, level) for name in sorted(PROGRAMS) for level in (0, 2, 3)
         if name != "mlp" or level == 2]


@pytest.mark.parametrize("name,level", CASES)
def test_every_kernel_hyc_generates_is_clean(name, level):
    compilation = Compilation(PROGRAMS[name], level, "gpu-sim")
    module = parse_module(print_ir(compilation.target_loops()))
    rng = np.random.default_rng(level)
    for func in module.functions:
        if func.kernel:
            continue
        args = [rng.standard_normal(tuple(d if isinstance(d, int) else 3 for d in shape_of(t)))
                .astype(numpy_dtype(t)) if shape_of(t) else numpy_dtype(t).type(2)
                for t in func.type.inputs]
        try:
            CheckingInterpreter(module).call(func.sym_name, *args)
        except GpuCheckError:
            raise
        except HycError as e:  # the program's own run-time errors (sizes, steps) are not ours
            assert "race" not in str(e) and "out-of-bounds" not in str(e)


def test_gpu_sim_check_from_the_command_line(capsys, monkeypatch):
    from hyc.tools import hyc as hyc_cli
    monkeypatch.setenv("HYC_GPU_SIM_CHECK", "0")  # restored after, whatever --gpu-sim-check sets
    assert hyc_cli.main([str(EXAMPLES / "fancy.hy"), "--run", "--target=gpu-sim",
                         "--gpu-sim-check"]) == 0
    assert capsys.readouterr().out.strip() == "10.0"
    mod = hyc.compile(PROGRAMS["batched"], target="gpu-sim")
    assert mod.f.__class__.__name__ == "CheckedFunction"
    a = np.ones((2, 3, 4), np.float32)
    np.testing.assert_allclose(mod.f(a, np.ones((1, 4, 5), np.float32)), np.full((2, 3, 5), 4.0))
