"""The staged driver: --emit prints every stage, each from the one before; --timing covers
every stage, LLVM's included; the -O level reaches LLVM."""

from pathlib import Path

import pytest
from file_check import filecheck

from hyc.codegen.driver import STAGES, Compilation
from hyc.tools import hyc

MLP = Path(__file__).parent.parent.parent / "examples" / "mlp.hy"

CHECKS = {
    "tensor": """
        CHECK: func.func @mlp
        CHECK: hy.matmul
        CHECK-NOT: hy.fused
        CHECK: hy.relu
    """,
    "ir": """
        CHECK: func.func @mlp
        CHECK: hy.fused_matmul
        CHECK: hy.relu
    """,
    "loops": """
        CHECK: func.func @mlp
        CHECK: buf.alloc
        CHECK: buf.matmul
        CHECK-NOT: hy.matmul
    """,
    "target": """
        CHECK: func.func @mlp
        CHECK: buf.matmul
        CHECK-NOT: buf.parallel
    """,
    "llvm-raw": """
        CHECK: target triple = "{{.+}}"
        CHECK: target datalayout = "{{.+}}"
        CHECK: define i32 @"hyc_packed_mlp"(i64* %".1")
    """,
    "llvm": """
        CHECK: define {{.*}}i32 @hyc_packed_mlp(ptr
    """,
    "asm": """
        CHECK: hyc_packed_mlp:
    """,
}


@pytest.mark.parametrize("stage", [s for s in STAGES if s in CHECKS])
def test_every_text_stage_prints(stage, capsys):
    assert hyc.main([str(MLP), f"--emit={stage}"]) == 0
    filecheck(capsys.readouterr().out, CHECKS[stage])


def test_the_stage_table_is_complete():
    """Every stage but the library (files) prints through --emit's one path; the GPU
    targets' stages (gpu, ptx, plan) are checked in tests/codegen/test_nvptx.py and test_plan.py,
    the graph's (dot, svg) in tests/ir/test_dot.py."""
    assert set(STAGES) == set(CHECKS) | {"obj", "lib", "gpu", "ptx", "plan", "dot", "svg"}


def test_an_object_file_stage(tmp_path):
    out = tmp_path / "mlp.o"
    assert hyc.main([str(MLP), "--emit=obj", "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x7fELF"


@pytest.mark.parametrize("flags,rows", [
    (["--emit=obj", "-o", "/dev/null", "-O3"],
     ["frontend", "fuse-elementwise", "bufferize", "llvm: generate IR", "llvm: optimize (-O3)",
      "llvm: object code"]),
    (["--run", "--random-args", "-O1"],
     ["frontend", "cse", "bufferize", "llvm: generate IR", "llvm: optimize (-O1)",
      "llvm: machine code (JIT)"]),
])
def test_timing_covers_every_stage_and_llvm(flags, rows, capsys, monkeypatch):
    from hyc.codegen import driver
    monkeypatch.setattr(driver, "from_cache", lambda key, target: None)
    monkeypatch.setattr(driver.jit, "_cache", {})
    assert hyc.main([str(MLP), *flags, "--timing"]) == 0
    report = capsys.readouterr().err
    names = [line.split("%", 1)[1].strip() for line in report.splitlines() if "%  " in line]
    position = -1
    for row in rows:  # in this order
        assert row in names[position + 1:], f"{row!r} missing after {names[position]!r}: {names}"
        position = names.index(row, position + 1)
    assert names[-1] == "Total"


def test_each_stage_runs_once_and_earlier_stages_stay_available():
    compilation = Compilation(MLP, 2)
    tensor = compilation.tensor()
    assert "hy.fused" not in compilation.text("tensor")
    loops = compilation.loops()
    assert compilation.loops() is loops
    assert "hy.fused_matmul" in compilation.text("ir")  # kept as it was before bufferization
    with pytest.raises(RuntimeError, match="transformed into the next"):
        compilation.stage("tensor")
    assert tensor is not None


def test_an_unknown_stage():
    with pytest.raises(Exception, match="unknown stage 'bytecode'"):
        Compilation(MLP, 2).stage("bytecode")
