"""The Python API does what a user expects (issue item 14)."""

import numpy as np
import pytest

import hyc
from hyc.ir import HycError

SOURCE = "def f(a: i32, x: f32[N]) -> f32[N]:\n    return x * cast(a, f32)\n"


def test_a_path_that_names_no_file_is_file_not_found():
    with pytest.raises(FileNotFoundError, match="nothere.hy"):
        hyc.compile("nothere.hy")
    with pytest.raises(FileNotFoundError):
        hyc.compile("models/absent.hyir")


def test_an_out_of_range_python_int_is_a_type_error():
    mod = hyc.compile(SOURCE)
    with pytest.raises(TypeError, match="does not fit in i32"):
        mod.f(2**40, np.ones(3, np.float32))


def test_compiled_functions_take_arguments_by_name():
    mod = hyc.compile(SOURCE)
    x = np.arange(3, dtype=np.float32)
    np.testing.assert_array_equal(mod.f(a=2, x=x), 2 * x)
    np.testing.assert_array_equal(mod.f(2, x=x), 2 * x)
    with pytest.raises(TypeError, match="twice"):
        mod.f(2, a=3)
    with pytest.raises(TypeError, match="no parameter 'b'"):
        mod.f(2, b=x)
    with pytest.raises(TypeError, match="missing x"):
        mod.f(a=2)


def test_lists_are_arrays_like_numpy_takes_them():
    f = hyc.jit(lambda x, y: x + y)
    np.testing.assert_array_equal(f([1.0, 2.0], np.ones(2)), [2.0, 3.0])
    np.testing.assert_array_equal(f(np.ones(2), [3.0, 2.0]), [4.0, 3.0])
    np.testing.assert_array_equal(f(np.ones(2), [5.0, 6.0]), [6.0, 7.0])
    assert f.cache_size() == 1  # a new list is a new value, not a new version
    g = hyc.jit(lambda x: x + [1.0, 2.0])  # a list inside the function
    np.testing.assert_array_equal(g(np.ones(2)), [2.0, 3.0])
    with pytest.raises(TypeError, match="not an array of numbers"):
        f(np.ones(2), ["a", "b"])
    with pytest.raises(HycError, match="has no value while tracing"):
        hyc.jit(lambda x: x + [x, x])(np.ones(2))


def test_a_function_named_like_a_module_attribute_is_reachable(capsys):
    source = ("def loops(x: f32[N]) -> f32[N]:\n    return x * 2.0\n"
              "def asm(x: f32[N]) -> f32[N]:\n    return x\n"
              "def f(x: f32[N]) -> f32[N]:\n    return x + 1.0\n")
    mod = hyc.compile(source)
    assert isinstance(mod.loops, str)  # the loop-level IR
    assert "ret" in mod.asm()  # the method, not the function named asm
    assert mod.f is mod["f"]  # a name no attribute takes is the function itself
    np.testing.assert_array_equal(mod["loops"](np.ones(2, np.float32)), [2.0, 2.0])
    with pytest.raises(KeyError, match="no function 'nope'"):
        mod["nope"]
