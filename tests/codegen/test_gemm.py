"""The packed matmul (codegen/gemm.py): every edge of its tiles and cache blocks, for each
vector width this machine runs, agrees with numpy — and bit for bit with the short path, which
computes each element in the same order."""

import re

import numpy as np
import pytest

import hyc
from hyc.codegen.gemm import blocking
from hyc.codegen.matmul import kernel_module
from hyc.codegen.symbols import kernel_symbol
from hyc.codegen.target import host_cpu

SOURCE = """
def mm(a: {t}[M, K], b: {t}[K, N]) -> {t}[M, N]:
    return a @ b
def dense(a: {t}[M, K], b: {t}[K, N], bias: {t}[N]) -> {t}[M, N]:
    return relu(a @ b + bias)
def batched(a: {t}[B, M, K], b: {t}[K, N]) -> {t}[B, M, N]:
    return a @ b
"""


def _targets():
    found = [("host", None)]
    if host_cpu().vector_bits == 512:  # the AVX2 kernel (6 x 2 vectors) runs here too
        found.append(("avx2", "-avx512f"))
    return found


@pytest.fixture(scope="module", params=[(t, name, mattr) for t in ("f32", "f64")
                                        for name, mattr in _targets()],
                ids=lambda p: f"{p[0]}-{p[1]}")
def compiled(request):
    dtype, _, mattr = request.param
    target = hyc.cpu_target(mattr=mattr) if mattr else "cpu"
    module = hyc.compile(SOURCE.format(t=dtype), opt_level=2, target=target)
    return module, np.float32 if dtype == "f32" else np.float64


# rows around the micro-tile (6) and past a block of lhs (mc: 252 with a 1 MiB L2); columns
# around a panel (64 f32 columns with AVX-512), the last panel taking each width of
# micro-kernel (4, 2 or 1 vectors: 63, 17, 1 columns left); an inner dimension past one slab
# (kc: 512 for f32 with a 32 or 48 KiB L1; 160 or 256 for f64)
SHAPES = [(4, 1, 1), (5, 3, 7), (6, 64, 64), (7, 257, 65), (13, 300, 63), (12, 513, 130),
          (515, 40, 17), (64, 700, 129)]


@pytest.mark.parametrize("m,k,n", SHAPES)
def test_packed_matmul_matches_numpy_and_the_short_path(compiled, m, k, n):
    module, dtype = compiled
    rng = np.random.default_rng(m * k * n)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    bias = rng.standard_normal(n).astype(dtype)
    tolerance = 1e-4 if dtype == np.float32 else 1e-10
    got = module.mm(a, b)
    np.testing.assert_allclose(got, a @ b, rtol=tolerance, atol=tolerance * np.sqrt(k))
    np.testing.assert_allclose(module.dense(a, b, bias), np.maximum(a @ b + bias, 0),
                               rtol=tolerance, atol=tolerance * np.sqrt(k))
    for row in {0, m // 2, m - 1}:  # one row at a time takes the short path
        assert np.array_equal(module.mm(a[row:row + 1], b)[0], got[row])


@pytest.mark.parametrize("m,n", [(1, 5), (3, 70), (6, 5), (300, 130)])
def test_an_empty_inner_dimension_gives_zeros(compiled, m, n):
    # a regression: with 4 rows or more, the packed path stored nothing (no slab, no tile),
    # and the result was whatever memory held
    module, dtype = compiled
    a, b = np.zeros((m, 0), dtype), np.zeros((0, n), dtype)
    bias = np.arange(n, dtype=dtype) - 2
    out = np.full((m, n), 7, dtype)
    module.mm(a, b, out=out)
    assert np.array_equal(out, np.zeros((m, n), dtype))
    assert np.array_equal(module.dense(a, b, bias), np.broadcast_to(np.maximum(bias, 0), (m, n)))


def test_batched_products_use_the_packed_kernel_per_entry(compiled):
    module, dtype = compiled
    rng = np.random.default_rng(7)
    a = rng.standard_normal((3, 20, 300)).astype(dtype)
    b = rng.standard_normal((300, 70)).astype(dtype)
    tolerance = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(module.batched(a, b), a @ b, rtol=tolerance, atol=tolerance * 20)


EPILOGUES = """
def scaled(x: {t}[M, K], w: {t}[K, N], s: {t}, c: {t}[M, N]) -> {t}[M, N]:
    return (x @ w) * s + c
def row(v: {t}[K], w: {t}[K, N], b: {t}[N]) -> {t}[N]:
    return relu(v @ w - b)
def per_row(x: {t}[M, K], w: {t}[K, N], r: {t}[M, 1]) -> {t}[M, N]:
    return (x @ w) * 2.0 + r
"""


@pytest.mark.parametrize("m,k,n", [(5, 7, 3), (300, 600, 130), (2, 900, 200)])
@pytest.mark.parametrize("threads", ["1", "3"])
def test_the_kernel_applies_the_epilogue_to_each_finished_block(m, k, n, threads, monkeypatch):
    # the epilogue is a function of the module that the runtime's kernel calls on each block
    # of rows (packed path) or row strip (short path) once its sums are final; its inputs (a
    # captured scalar, broadcast operands) reach it as words
    monkeypatch.setenv("HYC_NUM_THREADS", threads)
    module = hyc.compile(EPILOGUES.format(t="f32"), opt_level=2)
    for name in ("scaled", "row", "per_row"):
        assert re.search(rf"define internal void @\S*_{name}\S*\.epilogue\(", module.llvm_ir)
    batched = hyc.compile(SOURCE.format(t="f32"), opt_level=2).llvm_ir
    assert not re.search(r"@\S*_batched\S*\.epilogue", batched)  # it runs after each entry
    rng = np.random.default_rng(k)
    x, w = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
    c, r = rng.standard_normal((m, n), dtype=np.float32), rng.standard_normal((m, 1), dtype=np.float32)
    b = rng.standard_normal(n, dtype=np.float32)
    tolerance = dict(rtol=1e-4, atol=1e-4 * np.sqrt(k))
    np.testing.assert_allclose(module.scaled(x, w, np.float32(1.5), c), (x @ w) * 1.5 + c, **tolerance)
    np.testing.assert_allclose(module.row(x[0], w, b), np.maximum(x[0] @ w - b, 0), **tolerance)
    np.testing.assert_allclose(module.per_row(x, w, r), (x @ w) * 2 + r, **tolerance)


def test_the_kernels_are_the_runtimes_and_edge_tiles_use_masked_vectors():
    module = hyc.compile(SOURCE.format(t="f32"), opt_level=2)
    symbol = kernel_symbol(host_cpu(), "f32")
    assert f"@{symbol}(" in module.llvm_ir  # called, not defined: one kernel per process
    assert f"define void @{symbol}(" not in module.llvm_ir
    kernel = str(kernel_module(host_cpu(), "f32"))
    assert "llvm.masked.store." in kernel and "llvm.masked.load." in kernel


@pytest.mark.parametrize("bits,size,caches", [(512, 4, (48 << 10, 1 << 20)),
                                              (256, 4, (32 << 10, 256 << 10)),
                                              (512, 8, (32 << 10, 2 << 20))])
def test_blocking_fits_the_registers_and_caches(bits, size, caches):
    blocks = blocking(bits, size, caches)
    registers = 32 if bits == 512 else 16
    assert blocks.mr * blocks.nv + blocks.nv + 1 <= registers  # accumulators, rhs, broadcast
    assert blocks.lanes * size * 8 == bits and blocks.kc % 16 == 0
    # the lhs micro-panel stays in L1: a quarter of it, rounded up to whole blocks of sums
    assert blocks.kc % blocks.ks == 0 and blocks.mr * blocks.kc * size <= caches[0] // 2
    assert blocks.mc % blocks.mr == 0 and blocks.mc * blocks.kc * size <= caches[1] // 2
