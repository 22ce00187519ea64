"""The numpy catalogue's cases: a numpy function or operator each, with its arguments' kinds
and shapes (letters, drawn per case by ``sizes_of``). tests/frontend/test_numpy_catalogue.py
runs them through hyc.jit; tests/codegen/test_nvptx.py assembles their kernels."""

import zlib

import numpy as np

import hyc


def arg(kind, shape):
    """An argument spec: kind f (f32 normal), p (f32 in [0.5, 2)), d (f64), i (i32), b (bool)."""
    return (kind, shape)


def make(spec, sizes, rng):
    kind, template = spec
    shape = tuple(sizes[c] for c in template)
    if kind == "f":
        return rng.standard_normal(shape).astype(np.float32)
    if kind == "p":
        return rng.uniform(0.5, 2.0, shape).astype(np.float32)
    if kind == "d":
        return rng.standard_normal(shape)
    if kind == "i":
        return rng.integers(-5, 6, shape).astype(np.int32)
    return rng.random(shape) < 0.5


F, P, D, I, B = (lambda t, k=k: arg(k, t) for k in "fpdib")  # noqa: E741
W = 3.0  # a closed-over Python number
C = np.linspace(-1, 1, 4).astype(np.float32)  # a closed-over array (shape (4,))

# (numpy name it exercises, function, arguments); shapes are letters, drawn per case
CASES = [
    ("add", lambda a, b: a + b, [F("MN"), F("N")]),
    ("add.int", lambda a, b: np.add(a, b), [I("MN"), I("MN")]),
    ("subtract", lambda a, b: a - b, [F("MN"), F("MN")]),
    ("multiply", lambda a, b: a * b * W, [F("MN"), F("MN")]),
    ("multiply.promote", lambda a, b: a * b, [F("MN"), D("N")]),
    ("true_divide", lambda a, b: a / b, [F("MN"), P("MN")]),
    ("true_divide.int", lambda a, b: np.divide(a, b), [I("N"), I("N")]),
    ("power", lambda a, b: a ** b, [P("MN"), F("MN")]),
    ("power.scalar", lambda a: a ** 2, [F("MN")]),
    ("negative", lambda a: -a, [F("MN")]),
    ("positive", lambda a: +a, [I("MN")]),
    ("absolute", lambda a: abs(a) + np.absolute(a), [F("MN")]),
    ("exp", np.exp, [F("MN")]),
    ("log", np.log, [P("MN")]),
    ("sqrt", np.sqrt, [P("MN")]),
    ("tanh", np.tanh, [F("MN")]),
    ("exp.int", np.exp, [I("N")]),
    ("square", np.square, [F("MN")]),
    ("reciprocal", np.reciprocal, [P("MN")]),
    ("sign", np.sign, [F("MN")]),
    ("sign.int", np.sign, [I("MN")]),
    ("exp2", np.exp2, [F("MN")]),
    ("expm1", np.expm1, [F("MN")]),
    ("log1p", np.log1p, [P("MN")]),
    ("log2", np.log2, [P("MN")]),
    ("log10", np.log10, [P("MN")]),
    ("sinh", np.sinh, [F("MN")]),
    ("cosh", np.cosh, [F("MN")]),
    ("hypot", np.hypot, [F("MN"), F("N")]),
    ("logaddexp", np.logaddexp, [F("MN"), F("MN")]),
    ("floor", lambda a: np.floor(a * 3), [F("MN")]),
    ("ceil", lambda a: np.ceil(a * 3), [F("MN")]),
    ("trunc", lambda a: np.trunc(a * 3), [F("MN")]),
    ("floor.int", np.floor, [I("MN")]),
    ("floor_divide", lambda a, b: a // b, [F("MN"), P("N")]),
    ("floor_divide.int", np.floor_divide, [I("MN"), I("MN")]),
    ("remainder", lambda a, b: a % b, [F("MN"), F("MN")]),
    ("remainder.int", lambda a: np.mod(a, -3) + a % 4, [I("MN")]),
    ("divmod", lambda a, b: divmod(a, b)[0] * 10 + np.divmod(a, b)[1], [I("MN"), I("N")]),
    ("maximum", lambda a: np.maximum(a, 0), [F("MN")]),
    ("minimum", np.minimum, [F("MN"), F("MN")]),
    ("fmax", lambda a, b: np.fmax(a, b / (b > 0)), [F("MN"), F("MN")]),
    ("fmin", lambda a, b: np.fmin(a / (a > 0), b), [F("MN"), F("MN")]),
    ("isnan", lambda a: np.isnan(np.log(a)), [F("MN")]),
    ("isinf", lambda a: np.isinf(1 / (a > 0)), [F("MN")]),
    ("isfinite", lambda a: np.isfinite(np.log(a)), [F("MN")]),
    ("equal", lambda a, b: a == b, [I("MN"), I("N")]),
    ("not_equal", lambda a, b: a != b, [I("MN"), I("MN")]),
    ("less", lambda a, b: a < b, [F("MN"), F("MN")]),
    ("less_equal", lambda a, b: a <= b, [I("MN"), I("MN")]),
    ("greater", lambda a: a > 0.5, [F("MN")]),
    ("greater_equal", lambda a, b: a >= b, [F("MN"), F("MN")]),
    ("logical_and", np.logical_and, [F("MN"), B("MN")]),
    ("logical_or", np.logical_or, [B("MN"), B("MN")]),
    ("logical_xor", np.logical_xor, [B("MN"), B("N")]),
    ("logical_not", np.logical_not, [I("MN")]),
    ("bitwise_and", lambda a, b: a & b, [B("MN"), B("MN")]),
    ("bitwise_or", lambda a, b: a | b, [B("MN"), B("MN")]),
    ("bitwise_xor", lambda a, b: a ^ b, [B("MN"), B("MN")]),
    ("invert", lambda a: ~a, [B("MN")]),
    ("matmul", lambda a, b: a @ b, [F("MK"), F("KN")]),
    ("matmul.vector", np.matmul, [F("MK"), F("K")]),
    ("matmul.batched", np.matmul, [F("BMK"), F("KN")]),
    ("matmul.closed_over", lambda a: a @ C, [F("M4")]),
    ("dot", np.dot, [F("MK"), F("KN")]),
    ("dot.method", lambda a, b: a.dot(b), [F("K"), F("K")]),
    ("outer", np.outer, [F("M"), F("N")]),
    ("where", np.where, [B("MN"), F("MN"), F("N")]),
    ("where.hyc", lambda c, a: hyc.where(c > 0, a, 0.0), [F("MN"), F("MN")]),
    ("clip", lambda a: np.clip(a, -0.5, 0.5), [F("MN")]),
    ("clip.method", lambda a: a.clip(0), [F("MN")]),
    ("sum", np.sum, [F("MN")]),
    ("sum.axis", lambda a: a.sum(axis=0), [F("MN")]),
    ("sum.keepdims", lambda a: np.sum(a, axis=(0, 2), keepdims=True), [F("BMN")]),
    ("sum.int", lambda a: a.sum(axis=-1), [I("MN")]),
    ("sum.bool", np.sum, [B("MN")]),
    ("add.reduce", lambda a: np.add.reduce(a, axis=1), [F("MN")]),
    ("prod", lambda a: np.prod(a, axis=0), [P("MN")]),
    ("prod.int", lambda a: a.prod(axis=-1, keepdims=True), [I("MN")]),
    ("multiply.reduce", lambda a: np.multiply.reduce(a), [P("MN")]),
    ("mean", lambda a: np.mean(a, axis=1), [F("MN")]),
    ("mean.int", np.mean, [I("MN")]),
    ("max", lambda a: np.max(a, axis=0), [F("MN")]),
    ("amax", lambda a: np.amax(a), [I("MN")]),
    ("min", lambda a: a.min(axis=1, keepdims=True), [F("MN")]),
    ("amin", np.amin, [F("MN")]),
    ("maximum.reduce", lambda a: np.maximum.reduce(a, axis=0), [F("MN")]),
    ("argmax", lambda a: np.argmax(a, axis=1), [F("MN")]),
    ("argmax.flat", lambda a: a.argmax(), [I("MN")]),
    ("argmin", lambda a: np.argmin(a, axis=0, keepdims=True), [F("MN")]),
    ("argmin.nan", lambda a: np.log(a).argmin(axis=-1), [F("MN")]),
    ("var", lambda a: np.var(a, axis=0), [F("MN")]),
    ("var.ddof", lambda a: a.var(ddof=1), [D("MN")]),
    ("std", lambda a: np.std(a, axis=1, keepdims=True), [F("MN")]),
    ("transpose", np.transpose, [F("BMN")]),
    ("transpose.axes", lambda a: a.transpose(1, 0, 2), [F("BMN")]),
    ("T", lambda a: a.T + 1, [F("MN")]),
    ("reshape", lambda a: a.reshape(-1), [F("MN")]),
    ("reshape.function", lambda a: np.reshape(a, (a.shape[1], a.shape[0])), [F("MN")]),
    ("ravel", np.ravel, [F("BMN")]),
    ("flatten", lambda a: a.flatten() * 2, [F("MN")]),
    ("expand_dims", lambda a: np.expand_dims(a, 1), [F("MN")]),
    ("squeeze", lambda a: np.squeeze(a[:, None, :], axis=1), [F("MN")]),
    ("swapaxes", lambda a: np.swapaxes(a, 0, 2), [F("BMN")]),
    ("broadcast_to", lambda a: np.broadcast_to(a, (3, *a.shape)), [F("MN")]),
    ("concatenate", lambda a, b: np.concatenate([a, b], axis=1), [F("MN"), F("MK")]),
    ("concatenate.promote", lambda a, b: np.concatenate([a, b]), [F("N"), I("M")]),
    ("stack", lambda a, b: np.stack([a, b], axis=-1), [F("MN"), F("MN")]),
    ("hstack", lambda a, b: np.hstack([a, b]), [F("M"), F("N")]),
    ("vstack", lambda a, b: np.vstack([a, b]), [F("MN"), F("N")]),
    ("getitem.slices", lambda a: a[1:, ::2] + a[:-1, -1:], [F("MN")]),
    ("getitem.int", lambda a: a[0, 1:] * a[-1, 1:] + a[1, :-1], [F("4N")]),
    ("getitem.reverse", lambda a: a[::-1, None], [F("MN")]),
    ("getitem.ellipsis", lambda a: a[..., 0], [F("BMN")]),
    ("astype", lambda a: a.astype(np.int32), [F("MN")]),
    ("astype.function", lambda a: np.astype(a, np.float64) * 2, [I("MN")]),
    ("zeros_like", lambda a: np.zeros_like(a) + a, [F("MN")]),
    ("ones_like", lambda a: np.ones_like(a, dtype=np.int64), [F("MN")]),
    ("full_like", lambda a: np.full_like(a, 7), [I("MN")]),
    ("copy", lambda a: np.copy(a) + a.copy(), [F("MN")]),
    ("relu.hyc", hyc.relu, [F("MN")]),
    ("relu.int.hyc", hyc.relu, [I("MN")]),
    ("sigmoid.int.hyc", hyc.sigmoid, [I("MN")]),
    ("sigmoid.hyc", hyc.sigmoid, [F("MN")]),
    ("softmax.hyc", lambda a: hyc.softmax(a, axis=0), [F("MN")]),
    ("unrolled.for", lambda a: sum(a[i] for i in range(2)), [F("4N")]),
]


def sizes_of(name):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return {c: int(rng.integers(1, 6)) for c in "BMNK"} | {"4": 4}, rng
