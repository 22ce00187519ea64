"""Memory safety of compiled code: text at the buffer level is checked and guarded, calls
are depth-limited, loop steps checked, stack use bounded (docs/backend.md, "Safety")."""

import numpy as np
import pytest

import hyc
from hyc.ir import HycError

OUT_OF_BOUNDS_STORE = """
func.func @f(%big: memref<4xf32>, %i: index) {
  %v = hy.constant {value = dense<42.0> : f32} : f32
  buf.store %v, %big, %i : (f32, memref<4xf32>, index) -> ()
  func.return
}
"""


@pytest.mark.parametrize("level", [0, 2])
@pytest.mark.parametrize("index", [10, -1, -10**11, 4])
def test_a_store_out_of_bounds_is_an_error_and_writes_nothing(level, index):
    mod = hyc.compile(OUT_OF_BOUNDS_STORE, opt_level=level)
    memory = np.zeros(16, np.float32)
    with pytest.raises(ValueError, match="index 0 out of bounds"):
        mod.f(memory[:4], np.int64(index))
    assert not memory.any()


def test_a_store_in_bounds_still_stores():
    mod = hyc.compile(OUT_OF_BOUNDS_STORE)
    memory = np.zeros(16, np.float32)
    mod.f(memory[:4], np.int64(3))
    assert memory[3] == 42.0 and memory.sum() == 42.0


LOAD = """
func.func @f(%a: memref<?x3xf64>, %i: index, %j: index, %out: memref<f64>) {
  %v = buf.load %a, %i, %j : (memref<?x3xf64>, index, index) -> f64
  buf.store %v, %out : (f64, memref<f64>) -> ()
  func.return
}
"""


@pytest.mark.parametrize("i,j,ok", [(0, 0, True), (1, 2, True), (2, 0, False), (0, 3, False),
                                    (-1, 0, False), (0, -1, False)])
def test_loads_are_checked_against_every_dimension(i, j, ok):
    mod = hyc.compile(LOAD)
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    out = np.zeros((), np.float64)
    if ok:
        mod.f(a, np.int64(i), np.int64(j), out)
        assert out == a[i, j]
    else:
        with pytest.raises(ValueError, match="out of bounds"):
            mod.f(a, np.int64(i), np.int64(j), out)


@pytest.mark.parametrize("text,message", [
    ("""func.func @f(%a: memref<4xf32>) {
  buf.free %a : memref<4xf32>
  func.return
}""", "does not own"),
    ("""func.func @f() {
  %a = buf.alloc : memref<4xf32>
  buf.free %a : memref<4xf32>
  buf.free %a : memref<4xf32>
  func.return
}""", "more than once"),
    ("""func.func @f(%out: memref<f32>) {
  %a = buf.alloc : memref<4xf32>
  %zero = hy.constant {value = dense<0> : index} : index
  buf.free %a : memref<4xf32>
  %v = buf.load %a, %zero : (memref<4xf32>, index) -> f32
  buf.store %v, %out : (f32, memref<f32>) -> ()
  func.return
}""", "used after it was freed"),
    ("""func.func @f(%c: i1) {
  %a = buf.alloc : memref<4xf32>
  scf.if %c ({
    buf.free %a : memref<4xf32>
    scf.yield
  }, {
    scf.yield
  }) : i1
  func.return
}""", "only in the block that owns it"),
    ("""func.func @f() {
  %c = buf.constant {value = dense<1.0> : tensor<2xf32>} : memref<2xf32>
  %v = hy.constant {value = dense<2.0> : f32} : f32
  %zero = hy.constant {value = dense<0> : index} : index
  buf.store %v, %c, %zero : (f32, memref<2xf32>, index) -> ()
  func.return
}""", "read-only"),
    ("""func.func @f(%a: memref<4xf32>, %c: i1) {
  %r = scf.if %c ({
    scf.yield %a : memref<4xf32>
  }, {
    scf.yield %a : memref<4xf32>
  }) : (i1) -> memref<4xf32>
  buf.free %r : memref<4xf32>
  func.return
}""", "does not own"),
    ("""func.func @f(%a: memref<?xf32>, %c: i1) {
  %b = buf.alloc : memref<?xf32>
  func.return
}""", "dynamic dimension"),
    ("""func.func @f(%a: memref<4xf32>) -> f32 {
  %v = hy.constant {value = dense<2.0> : f32} : f32
  func.return %v : f32
}""", "return nothing"),
])
def test_buffer_level_text_that_could_corrupt_memory_is_refused(text, message):
    with pytest.raises(HycError, match=message):
        hyc.compile(text)


def test_a_yielded_buffer_must_state_the_sizes_it_is_taken_for():
    text = """func.func @f(%n: index, %c: i1, %out: memref<f32>) {
  %r = scf.if %c ({
    %x = buf.alloc %n : (index) -> memref<?xf32>
    scf.yield %x : memref<?xf32>
  }, {
    %b = buf.alloc : memref<4xf32>
    scf.yield %b : memref<4xf32>
  }) : (i1) -> memref<4xf32>
  %three = hy.constant {value = dense<3> : index} : index
  %v = buf.load %r, %three : (memref<4xf32>, index) -> f32
  buf.store %v, %out : (f32, memref<f32>) -> ()
  buf.free %r : memref<4xf32>
  func.return
}"""
    with pytest.raises(HycError, match="a size the receiver states"):
        hyc.compile(text)


def test_a_call_checks_sizes_the_callee_assumes():
    text = """func.func @g(%a: memref<4xf32>) {
  %v = hy.constant {value = dense<1.0> : f32} : f32
  %three = hy.constant {value = dense<3> : index} : index
  buf.store %v, %a, %three : (f32, memref<4xf32>, index) -> ()
  func.return
}
func.func @f(%a: memref<?xf32>) {
  func.call %a {callee = @g} : (memref<?xf32>) -> ()
  func.return
}"""
    mod = hyc.compile(text, opt_level=0)
    memory = np.zeros(8, np.float32)
    with pytest.raises(ValueError, match="another size than its parameter type"):
        mod.f(memory[:2])
    assert not memory.any()
    mod.f(memory[:4])
    assert memory[3] == 1.0


def test_bufferized_code_fed_back_as_text_still_runs():
    """The loop level hyc prints compiles again (hardened), with the same results."""
    from hyc.codegen.driver import Compilation
    loops = Compilation("examples/mlp.hy", 2).loops()
    from hyc.ir import print_ir
    mod = hyc.compile(print_ir(loops))
    rng = np.random.default_rng(0)
    shapes = [(3, 512), (512, 256), (256,), (256, 128), (128,), (128, 2), (2,)]
    args = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    out = np.zeros((3, 2), np.float32)
    mod.mlp(*args, out)
    want = hyc.compile("examples/mlp.hy").mlp(*args)
    np.testing.assert_allclose(out, want, rtol=1e-5)


def test_recursion_stops_with_the_interpreters_error():
    source = "def f(n: i32) -> i32:\n    return f(n) + 1\n"
    mod = hyc.compile(source)
    with pytest.raises(ValueError, match="call depth exceeds 100"):
        mod.f(np.int32(1))


def test_recursion_that_ends_runs():
    source = ("def fact(n: i32) -> i32:\n    if n <= 1:\n        return 1\n"
              "    else:\n        return n * fact(n - 1)\n")
    mod = hyc.compile(source)
    assert mod.fact(np.int32(10)) == 3628800
    with pytest.raises(ValueError, match="call depth"):
        mod.fact(np.int32(1000))


@pytest.mark.parametrize("step", [0, -1, -5])
def test_a_loop_step_only_known_at_run_time_is_checked(step):
    source = ("def f(s: i32) -> i32:\n    t = 0\n    for i in range(0, 10, s):\n"
              "        t = t + 1\n    return t\n")
    mod = hyc.compile(source)
    with pytest.raises(ValueError, match="step must be positive"):
        mod.f(np.int32(step))
    assert mod.f(np.int32(3)) == 4


def test_a_constant_step_that_is_not_positive_is_a_verifier_error():
    text = """func.func @f() {
  %zero = hy.constant {value = dense<0> : index} : index
  %ten = hy.constant {value = dense<10> : index} : index
  %step = hy.constant {value = dense<-1> : index} : index
  scf.for %zero, %ten, %step ({
  ^bb0(%i: index):
    scf.yield
  }) : index
  func.return
}"""
    with pytest.raises(HycError, match="step must be positive"):
        hyc.compile(text)


def test_calls_in_a_long_loop_use_constant_stack():
    """Argument words of a call live in the prologue, not one stack allocation per iteration."""
    source = ("def g(x: f32) -> f32:\n    return x + 1.0\n\n"
              "def f(n: i32) -> f32:\n    t = 0.0\n    for i in range(n):\n"
              "        t = g(t)\n    return t\n")
    mod = hyc.compile(source, opt_level=0)
    assert mod.f(np.int32(3_000_000)) == np.float32(3_000_000) or mod.f(np.int32(3_000_000)) > 0


@pytest.mark.parametrize("size", ["-1", "4611686018427387904"])
def test_allocations_of_impossible_sizes_are_errors(size):
    text = f"""func.func @f(%out: memref<f32>) {{
  %n = hy.constant {{value = dense<{size}> : index}} : index
  %a = buf.alloc %n : (index) -> memref<?xf32>
  buf.free %a : memref<?xf32>
  func.return
}}"""
    mod = hyc.compile(text, opt_level=0)
    with pytest.raises(ValueError, match="negative or too large|out of memory"):
        mod.f(np.zeros((), np.float32))


def test_hyc_load_refuses_buffer_level_models(tmp_path):
    (tmp_path / "m.hyir").write_text(OUT_OF_BOUNDS_STORE)
    np.savez(tmp_path / "m.npz")
    with pytest.raises(HycError, match="tensor-level"):
        hyc.load(tmp_path / "m")


def test_buffer_level_functions_refuse_read_only_arrays():
    mod = hyc.compile(OUT_OF_BOUNDS_STORE)
    frozen = np.zeros(4, np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        mod.f(frozen, np.int64(0))


@pytest.mark.parametrize("element,target", [("f32", "i32"), ("f32", "i64"), ("f64", "i32"), ("f64", "i64")])
def test_float_to_integer_casts_saturate_in_both_the_interpreter_and_compiled_code(element, target):
    from hyc.frontend.irgen import compile_source
    from hyc.ir import Interpreter
    source = f"def f(x: {element}[N]) -> {target}[N]:\n    return cast(x, {target})\n"
    x = np.array([1.7, -1.7, 1e30, -1e30, np.nan, np.inf, -np.inf, 2.5e9, -2.5e9, 2**31],
                 np.float32 if element == "f32" else np.float64)
    info = np.iinfo(np.int32 if target == "i32" else np.int64)
    want = Interpreter(compile_source(source, "cast.hy")).call("f", x)[0]
    np.testing.assert_array_equal(hyc.compile(source).f(x), want)
    assert want[2] == info.max and want[3] == info.min and want[4] == 0


def test_an_index_cast_from_a_huge_float_is_still_checked():
    """fptosi of an out-of-range float is poison in LLVM; the cast saturates instead, so the
    bounds check in front of the store sees a real (out-of-range) index."""
    text = """func.func @f(%big: memref<4xf32>, %x: f32) {
  %i = hy.cast %x : (f32) -> index
  buf.store %x, %big, %i : (f32, memref<4xf32>, index) -> ()
  func.return
}"""
    mod = hyc.compile(text)
    memory = np.zeros(8, np.float32)
    for value in (1e30, -1e30, np.inf, 5.0):
        with pytest.raises(ValueError, match="out of bounds"):
            mod.f(memory[:4], np.float32(value))
    assert not memory.any()


def test_text_that_reads_a_new_buffer_before_writing_it_reads_zeros():
    text = """func.func @f(%out: memref<4xf32>) {
  %t = buf.alloc : memref<4xf32>
  buf.copy %t, %out : memref<4xf32>
  buf.free %t : memref<4xf32>
  func.return
}"""
    for level in (0, 2):
        out = np.full(4, 7.0, np.float32)
        hyc.compile(text, opt_level=level).f(out)
        np.testing.assert_array_equal(out, np.zeros(4, np.float32))  # as the interpreter gives
