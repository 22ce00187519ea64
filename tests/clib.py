"""C programs that use hyc's shared libraries, in tests: the library and header must work
with no Python."""

import os
import shutil
import subprocess

import numpy as np
import pytest

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



def run_mlp_from_c(folder, n):
    """Build a C program against ``folder/mlp.so`` (examples/mlp.hy) and run it on random
    inputs: what it printed, and numpy's answer."""
    (folder / "main.c").write_text(C_PROGRAM)
    build = subprocess.run([CC, "-O2", "-o", str(folder / "main"), str(folder / "main.c"),
                            str(folder / "mlp.so"), f"-Wl,-rpath,{folder}", f"-I{folder}"],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    rng = np.random.default_rng(n)
    shapes = [(n, 512), (512, 256), (256,), (256, 128), (128,), (128, 2), (2,)]
    params = [(rng.standard_normal(s) * 0.1).astype(np.float32) for s in shapes]
    (folder / "inputs.bin").write_bytes(b"".join(p.tobytes() for p in params))
    run = subprocess.run([str(folder / "main"), str(folder / "inputs.bin"), str(n)],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "HYC_NUM_THREADS": "3"})
    assert run.returncode == 0, run.stderr
    got = np.array([float(v) for v in run.stdout.split()], np.float32).reshape(n, 2)
    x, w1, b1, w2, b2, w3, b3 = params
    return got, np.maximum(np.maximum(x @ w1 + b1, 0) @ w2 + b2, 0) @ w3 + b3
