"""Ahead-of-time output: a C program uses the MLP through the generated library and header,
with no Python; object files, assembly and LLVM IR come out of hyc --emit."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from clib import CC, needs_cc, run_mlp_from_c

from hyc.tools import hyc

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
@needs_cc
@pytest.mark.parametrize("n", [5, 2000])  # 2000 rows: the matmuls run on threads
def test_c_program_runs_the_mlp_like_numpy(tmp_path, n):
    assert hyc.main([str(EXAMPLES / "mlp.hy"), "--emit=lib", "-o", str(tmp_path / "mlp.so")]) == 0
    assert (tmp_path / "mlp.h").exists()
    got, want = run_mlp_from_c(tmp_path, n)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


ADD_PROGRAM = r"""
#include <stdio.h>
#include "add.h"
int main(void) {
    float a[3] = {1, 2, 3}, b[4] = {1, 1, 1, 1}, out[3];
    int32_t status = hyc_add(a, 3, b, 3, out, 3);  /* b's first 3 elements: fine */
    if (status || out[2] != 4) return 2;
    status = hyc_add(a, 3, b, 4, out, 3);  /* sizes differ: checked, nothing is touched */
    printf("%d %s\n", status, hyc_add_message(status));
    return 0;
}
"""


@needs_cc
def test_c_program_sees_run_time_check_failures(tmp_path):
    source = tmp_path / "add.hy"
    source.write_text("def add(a: f32[?], b: f32[?]) -> f32[?]:\n    return a + b\n")
    assert hyc.main([str(source), "--emit=lib", "-o", str(tmp_path / "add.so")]) == 0
    (tmp_path / "main.c").write_text(ADD_PROGRAM)
    build = subprocess.run([CC, "-o", str(tmp_path / "main"), str(tmp_path / "main.c"),
                            str(tmp_path / "add.so"), f"-Wl,-rpath,{tmp_path}", f"-I{tmp_path}"],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    status, message = run.stdout.split(" ", 1)
    assert int(status) > 0 and "add.hy:2:" in message and "sizes differ" in message


@needs_cc
def test_library_prints_through_its_runtime(tmp_path):
    assert hyc.main([str(EXAMPLES / "fancy.hy"), "--emit=lib", "-o", str(tmp_path / "fancy.so")]) == 0
    (tmp_path / "main.c").write_text('#include "fancy.h"\nint main(void) { return hyc_main(); }\n')
    build = subprocess.run([CC, "-o", str(tmp_path / "main"), str(tmp_path / "main.c"),
                            str(tmp_path / "fancy.so"), f"-Wl,-rpath,{tmp_path}", f"-I{tmp_path}"],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout == "10\n"


def test_object_file_is_readable_by_nm(tmp_path):
    obj = tmp_path / "mlp.o"
    assert hyc.main([str(EXAMPLES / "mlp.hy"), "--emit=obj", "-o", str(obj)]) == 0
    if shutil.which("nm") is None:
        pytest.skip("no nm on this machine to read the object file")
    symbols = subprocess.run(["nm", str(obj)], capture_output=True, text=True).stdout
    assert "T hyc_packed_mlp" in symbols


def test_llvm_ir_and_assembly(capsys):
    assert hyc.main([str(EXAMPLES / "mlp.hy"), "--emit=llvm"]) == 0
    llvm_ir = capsys.readouterr().out
    assert "define" in llvm_ir and "@hyc_packed_mlp" in llvm_ir and "fmul" in llvm_ir
    assert hyc.main([str(EXAMPLES / "mlp.hy"), "--emit=asm"]) == 0
    assert "hyc_packed_mlp:" in capsys.readouterr().out


SPIN = "def spin(n: i64) -> i32:\n    t = 0\n    for i in range(n):\n        t = t + 1\n    return t\n"
SPIN_PROGRAM = r"""
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include "spin.h"
static void on_alarm(int sig) { (void)sig; hyc_interrupt(); }
int main(void) {
    int32_t t = 0;
    signal(SIGALRM, on_alarm);
    alarm(1);
    int32_t status = hyc_spin(1000000000000000LL, &t);
    printf("%d %s\n", status, hyc_spin_message(status));
    status = hyc_spin(5, &t);  /* a later call is not stopped by the old interrupt */
    printf("%d %d\n", status, t);
    return 0;
}
"""


@needs_cc
def test_a_c_program_stops_a_long_loop_with_hyc_interrupt(tmp_path):
    (tmp_path / "spin.hy").write_text(SPIN)
    assert hyc.main([str(tmp_path / "spin.hy"), "--emit=lib", "-o", str(tmp_path / "spin.so")]) == 0
    (tmp_path / "main.c").write_text(SPIN_PROGRAM)
    build = subprocess.run([CC, "-O2", "-o", str(tmp_path / "main"), str(tmp_path / "main.c"),
                            str(tmp_path / "spin.so"), f"-Wl,-rpath,{tmp_path}", f"-I{tmp_path}"],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, timeout=60)
    assert run.stdout.split("\n")[:2] == ["-2 interrupted", "0 5"], run.stdout + run.stderr
