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
    # the matmuls call the runtime's kernel; the fused epilogue (+ bias, relu) is the module's
    assert "define" in llvm_ir and "@hyc_packed_mlp" in llvm_ir and "fadd" in llvm_ir
    assert "@hyc_matmul_f32_" in llvm_ir
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


def c_program(tmp_path, name: str, source: str, program: str) -> Path:
    """``source`` built into ``name.so`` (and its header), and ``program`` linked with it."""
    (tmp_path / f"{name}.hy").write_text(source)
    assert hyc.main([str(tmp_path / f"{name}.hy"), "--emit=lib", "-o",
                     str(tmp_path / f"{name}.so")]) == 0
    (tmp_path / "main.c").write_text(program)
    build = subprocess.run([CC, "-O2", "-o", str(tmp_path / "main"), str(tmp_path / "main.c"),
                            str(tmp_path / f"{name}.so"), f"-Wl,-rpath,{tmp_path}",
                            f"-I{tmp_path}", "-lm"], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    return tmp_path / "main"


@needs_cc
def test_a_c_program_stops_a_long_loop_with_hyc_interrupt(tmp_path):
    main = c_program(tmp_path, "spin", SPIN, SPIN_PROGRAM)
    run = subprocess.run([str(main)], capture_output=True, text=True, timeout=60)
    assert run.stdout.split("\n")[:2] == ["-2 interrupted", "0 5"], run.stdout + run.stderr


CHAIN = "def chain(a: f32[N], b: f32[N]) -> f32[N]:\n    return relu(a * b + a) - b * 0.5\n"
POOL_PROGRAM = r"""
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "chain.h"
static int check(int64_t n, const float *a, const float *b, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] = NAN;
    if (hyc_chain(a, n, b, y)) return 1;
    for (int64_t i = 0; i < n; i++) {
        float want = fmaxf(a[i] * b[i] + a[i], 0.0f) - b[i] * 0.5f;
        if (!(fabsf(y[i] - want) <= 1e-5f * (1 + fabsf(want)))) return 2;
    }
    return 0;
}
static int threads(void) {  /* this process's threads */
    DIR *dir = opendir("/proc/self/task");
    int count = 0;
    if (!dir) return -1;
    while (readdir(dir)) count++;
    closedir(dir);
    return count - 2;  /* . and .. */
}
int main(void) {
    int64_t n = (1 << 20) + 3;
    float *a = malloc(n * 4), *b = malloc(n * 4), *y = malloc(n * 4);
    for (int64_t i = 0; i < n; i++) {
        a[i] = (float)((i * 7919) % 1000) / 500 - 1;
        b[i] = (float)((i * 104729) % 997) / 300 - 1.5f;
    }
    int first = check(n, a, b, y), after_first = threads(), again = 0;
    for (int i = 0; i < 10; i++) again |= check(n, a, b, y);
    pid_t child = fork();
    if (child == 0) _exit(check(n, a, b, y) | check(n, a, b, y));
    int status = -1;
    waitpid(child, &status, 0);
    printf("%d %d %d %d %d %d\n", first, again, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
           check(n, a, b, y), after_first, threads());
    return 0;
}
"""


@needs_cc
def test_a_c_program_uses_the_librarys_thread_pool_also_after_fork(tmp_path):
    main = c_program(tmp_path, "chain", CHAIN, POOL_PROGRAM)
    for count in (1, 3, 7):
        run = subprocess.run([str(main)], capture_output=True, text=True, timeout=60,
                             env={"HYC_NUM_THREADS": str(count)})
        first, again, child, last, after_first, at_end = map(int, run.stdout.split())
        assert (first, again, child, last) == (0, 0, 0, 0), run.stdout + run.stderr
        if after_first >= 0:  # the pool's workers, started once: no thread per call
            assert after_first == at_end == count


DENSE = """
def dense(x: f32[N, 1100], w: f32[1100, 70], bias: f32[70]) -> f32[N, 70]:
    return relu(x @ w + bias)
"""

# one row (its inner dimension split into the kernel's slabs, in scratch memory: the
# library's own runtime), then six rows (the packed path): row 0 of each
DENSE_PROGRAM = r"""
#include <stdio.h>
#include "dense.h"
static float x[6 * 1100], w[1100 * 70], bias[70], one[70], six[6 * 70];
int main(void) {
    for (long i = 0; i < 6 * 1100; i++) x[i] = (float)(i % 7) * 0.125f - 0.375f;
    for (long i = 0; i < 1100 * 70; i++) w[i] = (float)((i * 31) % 11) * 0.0625f - 0.3125f;
    for (long i = 0; i < 70; i++) bias[i] = (float)(i % 5) - 2.0f;
    for (int repeat = 0; repeat < 3; repeat++)
        if (hyc_dense(x, 1, w, bias, one) || hyc_dense(x, 6, w, bias, six)) return 1;
    for (int j = 0; j < 70; j++) printf("%.9g %.9g\n", one[j], six[j]);
    return 0;
}
"""


@needs_cc
def test_a_c_program_gets_a_single_row_split_along_the_inner_dimension(tmp_path):
    main = c_program(tmp_path, "dense", DENSE, DENSE_PROGRAM)
    x = (np.arange(6 * 1100) % 7).astype(np.float32).reshape(6, 1100) * 0.125 - 0.375
    w = ((np.arange(1100 * 70) * 31) % 11).astype(np.float32).reshape(1100, 70) * 0.0625 - 0.3125
    bias = (np.arange(70) % 5).astype(np.float32) - 2
    for count in ("1", "2", "5"):
        run = subprocess.run([str(main)], capture_output=True, text=True, timeout=60,
                             env={"HYC_NUM_THREADS": count})
        assert run.returncode == 0, run.stdout + run.stderr
        one, six = np.array(run.stdout.split(), np.float32).reshape(70, 2).T
        assert np.array_equal(one, six)  # the same bits as the row of the batched product
        np.testing.assert_allclose(one, np.maximum(x[0] @ w + bias, 0), rtol=1e-4, atol=1e-3)
