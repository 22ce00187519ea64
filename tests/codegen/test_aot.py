"""Ahead-of-time output: a C program uses the MLP through the generated library and header,
with no Python; object files, assembly and LLVM IR come out of hyc --emit."""

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hyc.tools import hyc

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
CC = next((c for c in ("cc", "gcc", "clang") if shutil.which(c)), None)
needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler on this machine to build the "
                                                 "C program (the library itself needs one to link)")

C_PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include "mlp.h"

static float *read_floats(FILE *f, long count) {
    float *data = malloc(count * sizeof(float));
    if (fread(data, sizeof(float), count, f) != (size_t)count) exit(3);
    return data;
}

int main(int argc, char **argv) {
    long n = atol(argv[2]);
    FILE *f = fopen(argv[1], "rb");
    float *x = read_floats(f, n * 512), *w1 = read_floats(f, 512 * 256);
    float *b1 = read_floats(f, 256), *w2 = read_floats(f, 256 * 128);
    float *b2 = read_floats(f, 128), *w3 = read_floats(f, 128 * 2), *b3 = read_floats(f, 2);
    float *y = malloc(n * 2 * sizeof(float));
    int32_t status = hyc_mlp(x, n, w1, b1, w2, b2, w3, b3, y);
    if (status) { fprintf(stderr, "%s\n", hyc_mlp_message(status)); return 1; }
    for (long i = 0; i < n * 2; i++) printf("%.9g\n", y[i]);
    return 0;
}
"""


@needs_cc
@pytest.mark.parametrize("n", [5, 2000])  # 2000 rows: the matmuls run on threads
def test_c_program_runs_the_mlp_like_numpy(tmp_path, n):
    assert hyc.main([str(EXAMPLES / "mlp.hy"), "--emit=lib", "-o", str(tmp_path / "mlp.so")]) == 0
    assert (tmp_path / "mlp.h").exists()
    (tmp_path / "main.c").write_text(C_PROGRAM)
    build = subprocess.run([CC, "-O2", "-o", str(tmp_path / "main"), str(tmp_path / "main.c"),
                            str(tmp_path / "mlp.so"), f"-Wl,-rpath,{tmp_path}", f"-I{tmp_path}"],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    rng = np.random.default_rng(0)
    shapes = [(n, 512), (512, 256), (256,), (256, 128), (128,), (128, 2), (2,)]
    params = [(rng.standard_normal(s) * 0.1).astype(np.float32) for s in shapes]
    (tmp_path / "inputs.bin").write_bytes(b"".join(p.tobytes() for p in params))
    run = subprocess.run([str(tmp_path / "main"), str(tmp_path / "inputs.bin"), str(n)],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "HYC_NUM_THREADS": "3"})
    assert run.returncode == 0, run.stderr
    got = np.array([float(v) for v in run.stdout.split()], np.float32).reshape(n, 2)
    x, w1, b1, w2, b2, w3, b3 = params
    want = np.maximum(np.maximum(x @ w1 + b1, 0) @ w2 + b2, 0) @ w3 + b3
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
