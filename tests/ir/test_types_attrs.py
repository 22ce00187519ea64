"""Types, attributes and constants print and parse back exactly."""

import numpy as np
import pytest

from hyc.ir import (
    DenseAttr,
    FloatAttr,
    MemRefType,
    TensorType,
    f32,
    f64,
    i1,
    i32,
    i64,
    index,
    parse_module,
    print_ir,
    verify,
)
from hyc.ir.attributes import DENSE_LIST_LIMIT


def constant_roundtrip(attr: DenseAttr) -> DenseAttr:
    text = (f"func.func @f() -> {attr.type} {{\n  %c = hy.constant {{value = {attr}}} : {attr.type}\n"
            f"  func.return %c : {attr.type}\n}}\n")
    module = parse_module(text)
    verify(module)
    assert print_ir(parse_module(print_ir(module))) == print_ir(module)
    return module.functions[0].body.ops[0].attributes["value"]


@pytest.mark.parametrize("type_,text", [
    (TensorType(("?", 512), f32), "tensor<?x512xf32>"),
    (TensorType(("N", 4, "batch"), i64), "tensor<Nx4xbatchxi64>"),
    (TensorType(("max_len",), f64), 'tensor<"max_len"xf64>'),  # 'x' inside a name is quoted
    (TensorType(("f32", 0), i1), "tensor<f32x0xi1>"),
    (TensorType((3,), index), "tensor<3xindex>"),
    (MemRefType((4, "?"), f32), "memref<4x?xf32>"),
    (MemRefType((8,), f32, "shared"), "memref<8xf32, shared>"),
])
def test_shaped_types_print_and_parse(type_, text):
    assert str(type_) == text
    module = parse_module(f"func.func @f(%a: {text}) {{\n  func.return\n}}\n")
    assert module.functions[0].type.inputs == (type_,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_constants_are_exact(dtype):
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.standard_normal(20) * 10.0 ** rng.integers(-40, 40, 20),
                             [np.inf, -np.inf, -0.0, 1e-45, 3.4e38, 0.1]]).astype(dtype)
    small = values[:DENSE_LIST_LIMIT]
    type_ = TensorType((len(small),), f32 if dtype == np.float32 else f64)
    back = constant_roundtrip(DenseAttr.from_values(type_, small))
    assert back.array.tobytes() == small.tobytes()
    assert "0x" not in str(back)


def test_nan_constants_and_attributes():
    attr = DenseAttr.from_values(TensorType((2,), f32), [np.nan, 1.0])
    back = constant_roundtrip(attr)
    assert np.isnan(back.array[0]) and back.array[1] == 1.0
    assert FloatAttr(float("nan")) == FloatAttr(float("nan"))


def test_large_constants_use_hex_and_round_trip():
    rng = np.random.default_rng(1)
    data = rng.standard_normal((10, 20)).astype(np.float32)
    attr = DenseAttr.from_values(TensorType((10, 20), f32), data)
    assert 'dense<"0x' in str(attr)
    assert np.array_equal(constant_roundtrip(attr).array, data)


@pytest.mark.parametrize("type_,values", [
    (TensorType((3,), i32), [-2**31, 0, 2**31 - 1]),
    (TensorType((2,), i64), [-2**63, 2**63 - 1]),
    (TensorType((2, 2), i1), [[True, False], [False, True]]),
    (TensorType((0, 3), f32), np.zeros((0, 3))),
    (TensorType((4,), f32), [2.5] * 4),  # splat
    (i1, True), (index, 7), (f64, -1.25),
])
def test_integer_bool_empty_and_splat_constants(type_, values):
    attr = DenseAttr.from_values(type_, values)
    back = constant_roundtrip(attr)
    assert back == attr


def test_splat_prints_one_value():
    assert str(DenseAttr.from_values(TensorType((4,), f32), 2.5)) == "dense<2.5> : tensor<4xf32>"


def test_integer_out_of_range_is_an_error():
    from hyc.ir import ParseError
    with pytest.raises(ParseError, match="out of range"):
        parse_module("func.func @f() -> i32 {\n  %c = hy.constant {value = dense<4294967296> : i32} : i32\n"
                     "  func.return %c : i32\n}\n")
