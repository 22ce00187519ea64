"""The pass manager and the pipelines as users drive them through hyc and hyc-opt."""

import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from file_check import filecheck

from hyc.frontend.irgen import compile_source
from hyc.ir import FloatAttr, ModuleOp, run
from hyc.passes import LEVELS, PASSES, Pass, optimize, parse_pipeline, pipeline_text, register_pass
from hyc.passes.manager import import_gpu_passes
from hyc.passes.memory import plan_module
from hyc.record import record
from hyc.tools import hyc, hyc_opt

EXAMPLES = Path(__file__).parent.parent.parent / "examples"


def emit(capsys, *args):
    assert hyc.main([*map(str, args), "--emit=ir"]) == 0
    return capsys.readouterr()


def test_fancy_folds_to_printing_ten_at_O2(capsys):
    out = emit(capsys, EXAMPLES / "fancy.hy", "-O2").out
    main = out[out.index("func.func @main"):]
    filecheck(main, """
        CHECK: %g = hy.constant {value = dense<10.0> : f32} : f32
        CHECK-NEXT: hy.print %g : f32
        CHECK-NEXT: func.return
    """)
    assert "func.call" not in main and "hy.add" not in main


def test_fancy_keeps_its_calls_at_O0(capsys):
    out = emit(capsys, EXAMPLES / "fancy.hy", "-O0").out
    assert out.count("func.call") == 4


def test_mlp_fuses_bias_and_relu_into_matmul_epilogues(capsys):
    out = emit(capsys, EXAMPLES / "mlp.hy", "-O2").out
    filecheck(out, """
        CHECK: %h1 = hy.fused_matmul %x, %w1, %b1 ({
        CHECK-NEXT: ^bb0
        CHECK-NEXT: hy.add
        CHECK-NEXT: hy.relu
        CHECK: %h2 = hy.fused_matmul %h1, %w2, %b2 ({
        CHECK-NEXT: ^bb0
        CHECK-NEXT: hy.add
        CHECK-NEXT: hy.relu
        CHECK: = hy.fused_matmul %h2, %w3, %b3 ({
        CHECK-NEXT: ^bb0
        CHECK-NEXT: hy.add
        CHECK-NEXT: hy.yield
        CHECK-NOT: hy.matmul
        CHECK-NOT: hy.broadcast_to
    """)


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_mlp_memory_plan_beats_the_unplanned_sum(level):
    module = compile_source((EXAMPLES / "mlp.hy").read_text(), "mlp.hy")
    optimize(module, level)
    (plan,) = plan_module(module, {"N": 32})
    assert plan.planned_bytes < plan.unplanned_bytes
    assert all(b.start <= b.end for b in plan.buffers)


def test_memory_report_lists_buffers_and_peaks(capsys):
    assert hyc.main([str(EXAMPLES / "mlp.hy"), "-O0", "--memory-report", "--dim", "N=64",
                     "--emit=ir", "-o", "/dev/null"]) == 0
    report = capsys.readouterr().err
    filecheck(report, """
        CHECK: memory plan for @mlp (assuming N=64)
        CHECK: %0 hy.matmul tensor<Nx256xf32> 65536 [0, 3] #0
        CHECK: %3 hy.add tensor<Nx256xf32> 65536 [3, 4] #0 in place of %0
        CHECK: peak bytes: 131072 planned, 394752 without planning
    """.replace(" hy.", "{{ +}}hy.").replace(" tensor", "{{ +}}tensor").replace(" 65536", "{{ +}}65536")
              .replace("] #0", "]{{ +}}#0").replace("> 65", ">{{ +}}65").replace("6 [", "6{{ +}}["))


@pytest.mark.parametrize("example", ["mlp.hy", "control.hy", "logistic.hy"])
@pytest.mark.parametrize("level", [1, 2, 3])
def test_examples_compute_the_same_at_every_level(example, level):
    source = (EXAMPLES / example).read_text()
    plain = compile_source(source, example)
    opt = compile_source(source, example)
    optimize(opt, level)
    rng = np.random.default_rng(level)
    for func in plain.functions:
        args = []
        for t in func.type.inputs:
            shape = tuple(d if isinstance(d, int) else 5 for d in getattr(t, "shape", ()))
            args.append(np.int32(4) if str(t) == "i32" else
                        rng.standard_normal(shape).astype(np.float32))
        want, got = run(plain, func.sym_name, *args), run(opt, func.sym_name, *args)
        for w, g in zip(want, got):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_O2_is_replayable_as_a_pipeline_string(capsys, tmp_path):
    src = EXAMPLES / "mlp.hy"
    assert hyc_opt.main([str(src), "-O2"]) == 0
    by_level = capsys.readouterr().out
    assert hyc_opt.main([str(src), f"--pass-pipeline={LEVELS[2]}"]) == 0
    assert capsys.readouterr().out == by_level
    assert pipeline_text(parse_pipeline(LEVELS[3])) == LEVELS[3]


def test_list_passes_names_every_pass(capsys):
    assert hyc_opt.main(["--list-passes"]) == 0
    out = capsys.readouterr().out
    for name, cls in PASSES.items():
        assert f"  {name} " in out and cls.summary() in out


@pytest.mark.parametrize("text,message", [
    ("inline,nope", "unknown pass 'nope'"),
    ("fuse-elementwise{max-op=3}", "has no option 'max-op' (options: max-ops)"),
    ("fuse-elementwise{max-ops=many}", "option 'max-ops' expects int, got 'many'"),
    ("fuse-elementwise{max-ops=3", "options must be written"),
])
def test_bad_pipelines_are_errors(text, message, capsys):
    assert hyc_opt.main([str(EXAMPLES / "mlp.hyir"), f"--pass-pipeline={text}"]) == 1
    assert message in capsys.readouterr().err


def test_level_and_pipeline_together_is_an_error(capsys):
    assert hyc_opt.main([str(EXAMPLES / "mlp.hyir"), "-O2", "--pass-pipeline=cse"]) == 1
    assert "either -O<level> or --pass-pipeline" in capsys.readouterr().err


def test_print_ir_before_after_and_all(capsys):
    src = str(EXAMPLES / "fancy.hy")
    assert hyc_opt.main([src, "--pass-pipeline=inline,canonicalize", "--print-ir-before=inline",
                         "--print-ir-after=canonicalize"]) == 0
    err = capsys.readouterr().err
    assert err.count("// -----// IR Dump") == 2
    filecheck(err, """
        CHECK: // -----// IR Dump Before inline //----- //
        CHECK: func.call
        CHECK: // -----// IR Dump After canonicalize //----- //
        CHECK-NOT: func.call
    """)
    assert hyc_opt.main([src, "-O2", "--print-ir-after-all"]) == 0
    assert capsys.readouterr().err.count("IR Dump After") == len(parse_pipeline(LEVELS[2]))


def test_print_ir_after_change_skips_passes_that_change_nothing(capsys):
    assert hyc_opt.main([str(EXAMPLES / "fancy.hy"), "--pass-pipeline=cse,inline,cse,licm",
                         "--print-ir-after-change"]) == 0
    err = capsys.readouterr().err
    assert err.count("IR Dump After") == 1 and "IR Dump After inline" in err


def test_timing_reports_every_pass_and_the_total(capsys):
    assert hyc_opt.main([str(EXAMPLES / "mlp.hy"), "-O2", "--timing"]) == 0
    err = capsys.readouterr().err
    assert "Pass execution timing report" in err
    rows = [line for line in err.splitlines() if line.strip().endswith(("inline", "cse", "Total"))]
    assert len(rows) >= 3 and rows[-1].strip().endswith("100.0%  Total")


@register_pass
@record
class BreakTheIR(Pass):
    """Test-only: corrupts the IR (an attribute of the wrong kind) for the verifier to catch."""
    name: ClassVar[str] = "test-break-ir"

    def run(self, module: ModuleOp) -> None:
        for op in module.walk():
            if op.name == "hy.add":
                op.attributes["axis"] = FloatAttr(1.5)


@register_pass
@record
class Crash(Pass):
    """Test-only: a pass with a bug."""
    name: ClassVar[str] = "test-crash"

    def run(self, module: ModuleOp) -> None:
        raise ZeroDivisionError("division by zero")


def test_verify_each_names_the_pass_and_prints_after_failure(capsys):
    assert hyc_opt.main([str(EXAMPLES / "fancy.hy"), "--pass-pipeline=cse,test-break-ir",
                         "--print-ir-after-failure"]) == 1
    err = capsys.readouterr().err
    assert "IR Dump After Failure test-break-ir" in err
    assert "error[E0703]: 'hy.add' op unknown attribute 'axis'" in err
    assert "note: in pass 'test-break-ir'" in err


def test_a_crashing_pass_leaves_a_reproducer(capsys):
    source = EXAMPLES / "fancy.hy"
    assert hyc_opt.main([str(source), "--pass-pipeline=inline,test-crash"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "internal error in pass 'test-crash': ZeroDivisionError: division by zero" in err
    path = err.split("reproducer was written to ")[1].split()[0]
    assert path.startswith(os.environ["HYC_REPRODUCER_DIR"])  # the suite cleans it up
    text = Path(path).read_text()
    assert text.startswith("// hyc-opt reproducer:") and "--pass-pipeline='inline,test-crash'" in text
    assert "func.func @fancy_func" in text
    # the reproducer is valid IR that crashes the same way
    assert hyc_opt.main([path, "--pass-pipeline=inline,test-crash"]) == 1
    assert "ZeroDivisionError" in capsys.readouterr().err
    Path(path).unlink()



def test_passes_guide_documents_every_pass():
    import_gpu_passes()
    guide = (Path(__file__).parent.parent.parent / "docs" / "passes.md").read_text()
    missing = [n for n in PASSES if not n.startswith("test-") and f"### `{n}`" not in guide]
    assert not missing, f"docs/passes.md does not document {missing}"
    for level, text in LEVELS.items():
        assert f"| `-O{level}` | `{text or '(no passes)'}` |" in guide


GPU_PASS_MODULES = ["hyc.passes.gpu", "hyc.passes.gpu_matmul", "hyc.passes.gpu_reduce",
                    "hyc.passes.serialize_threads"]


def test_a_cpu_compile_imports_no_gpu_pass_and_a_pipeline_naming_one_registers_it():
    """The GPU passes register when a pipeline first names one: a CPU compile never loads
    their modules (checked in a fresh process, where nothing imported them before)."""
    import subprocess
    import sys
    code = ("import sys, numpy as np, hyc\n"
            "m = hyc.compile('def f(a: f32[N]) -> f32[N]:\\n    return a * 2.0\\n')\n"
            "assert (m.f(np.ones(3, np.float32)) == 2).all()\n"
            f"print(sorted(set({GPU_PASS_MODULES!r}) & set(sys.modules)))\n"
            "from hyc.passes import PASSES, parse_pipeline\n"
            "assert 'gpu-grid-stride' not in PASSES\n"
            "print([type(p).__name__ for p in parse_pipeline('gpu-grid-stride,cse')])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "HYC_CACHE_DIR": "off"})
    assert done.returncode == 0, done.stderr
    loaded, parsed = done.stdout.splitlines()
    assert loaded == "[]"
    assert parsed == "['GpuGridStride', 'CSE']"
