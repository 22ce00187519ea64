"""hyc.jit: the chapter's code, the hybridization semantics (tracing-time print, concrete
values refused, unrolled loops, in-place updates), signatures and caching, inspection."""

import inspect

import numpy as np
import pytest
from file_check import filecheck
from oracle import check

import hyc
from hyc.frontend.tracing import ConcretizationError, TracingError

RNG = np.random.default_rng(7)


def floats(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def line_of(fn, text):
    """The line number of the line of ``fn``'s source that contains ``text``."""
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(lines) if text in line)


# -- the chapter's code --------------------------------------------------------------------------
def fancy_func(a, b, c, d):
    e = a + b
    f = c + d
    g = e + f
    return g


def mlp(x, w1, b1, w2, b2, w3, b3):
    h1 = np.maximum(x @ w1 + b1, 0)
    h2 = np.maximum(h1 @ w2 + b2, 0)
    return h2 @ w3 + b3


def mlp_params(batch=1):
    return [floats(batch, 512), floats(512, 256), floats(256), floats(256, 128), floats(128),
            floats(128, 2), floats(2)]


def test_fancy_func_as_decorator_and_call():
    compiled = hyc.jit(fancy_func)
    args = [np.float32(1), np.float32(2), np.float32(3), np.float32(4)]
    assert compiled(*args) == np.float32(10)
    arrays = [floats(3, 4) for _ in range(4)]
    check(compiled(*arrays), fancy_func(*arrays))

    @hyc.jit(opt_level=3)
    def fancy3(a, b, c, d):
        return fancy_func(a, b, c, d)
    check(fancy3(*arrays), fancy_func(*arrays))


def test_mlp_jit_matches_numpy_and_lowers_to_fused_matmuls():
    params = mlp_params()
    fast = hyc.jit(mlp)
    check(fast(*params), mlp(*params))
    lowered = fast.lower(*params)
    filecheck(lowered.as_text(), """
        CHECK: func.func @mlp(%x: tensor<1x512xf32>
        CHECK: hy.fused_matmul %x, %w1, %b1
        CHECK: hy.maximum
        CHECK: hy.fused_matmul
        CHECK: hy.fused_matmul
        CHECK: func.return
    """)
    filecheck(lowered.as_text(optimized=False), """
        CHECK: hy.matmul %x, %w1
        CHECK: hy.broadcast_to %b1
        CHECK: hy.add
        CHECK: hy.maximum
    """)
    assert "define" in lowered.llvm_ir() and "mlp" in lowered.llvm_ir()
    assert lowered.asm().strip()
    check(lowered.compile()(*params), mlp(*params))


def test_ops_carry_the_users_file_and_line():
    text = hyc.jit(mlp).lower(*mlp_params()).as_text(optimized=False, debuginfo=True)
    line = line_of(mlp, "h2 = np.maximum")
    assert f'loc("{__file__}":{line}:' in text
    assert "jitted.py" not in text and "numpy_api.py" not in text and "loc(unknown)" not in text


# -- print, concrete values, loops, in-place updates ---------------------------------------------
def test_print_runs_while_tracing_only(capsys):
    @hyc.jit
    def f(x):
        print("value:", x)
        y = x * 2
        print("result:", y.sum(axis=0))
        return y

    x = floats(1, 3)
    check(f(x), x * 2)
    assert capsys.readouterr().out == "value: Traced<f32[1,3]>\nresult: Traced<f32[3]>\n"
    check(f(x), x * 2)
    assert capsys.readouterr().out == ""


def concrete_uses():
    def as_array(x):
        return np.asarray(x) + 1

    def branch(x):
        if x.sum() > 0:
            return x
        return -x

    def to_float(x):
        return float(x.sum())

    def item(x):
        return x.sum().item()

    def to_list(x):
        return x.tolist()

    def to_int_index(x):
        return [1, 2][x.sum()]

    return [(as_array, "a numpy array", "np.asarray(x)"), (branch, "a Python bool", "if x.sum()"),
            (to_float, "a Python float", "float(x.sum())"), (item, ".item()", "x.sum().item()"),
            (to_list, ".tolist()", "x.tolist()"), (to_int_index, "a Python int", "[1, 2][x.sum()]")]


@pytest.mark.parametrize("fn, what, text", concrete_uses(), ids=lambda v: getattr(v, "__name__", ""))
def test_concrete_values_are_refused_with_advice(fn, what, text):
    with pytest.raises(ConcretizationError) as info:
        hyc.jit(fn)(floats(2, 3))
    message = str(info.value)
    assert what in message
    assert "np.where" in message and ".hy function" in message and "eager" in message
    assert info.value.loc.line == line_of(fn, text)
    assert text in message  # the source line, shown with a caret
    assert isinstance(info.value, TypeError)


def test_eager_mode_runs_the_same_function_as_python():
    def branch(x):
        return x if x.sum() > 0 else -x
    x = floats(3)
    check(hyc.jit(branch).eager(x), branch(x))


def test_python_for_over_range_unrolls():
    @hyc.jit
    def repeat(x):
        for _ in range(5):
            x = x + 1
        return x

    x = floats(4)
    check(repeat(x), x + 5)
    assert repeat.lower(x).as_text(optimized=False).count("hy.add") == 5


def test_in_place_update_of_an_intermediate_is_functionalized_with_numpy_aliasing():
    def f(x):
        y = x * 2
        y += 1
        z = y  # the same array: numpy's z *= 3 changes y too
        z *= 3
        np.add(y, 1, out=y)
        return y
    x = floats(2, 3)
    check(hyc.jit(f)(x), f(x.copy()))


@pytest.mark.parametrize("body, message", [
    ("x += 1", "in-place update (x += ...) of argument 'x'"),
    ("v = x[1:] * 1\n    w = v.T\n    v -= 1", "shares memory with a view"),
    ("x[0] = 1", "assigning to elements of a traced tensor"),
    ("x = x * 1\n    x[x > 0] = 0", "assigning to elements"),
    ("y = x[x > 0]", "basic indexing"),
    ("y = np.cumsum(x)", "numpy.cumsum is not supported"),
    ("y = np.linalg.inv(x)", "numpy.linalg.inv is not supported"),
    ("y = np.add.accumulate(x)", "numpy.add.accumulate is not supported"),
    ("y = np.sum(x, axis=3)", "axis 3 is out of bounds"),
    ("y = x @ np.ones((5, 2), np.float32)", "numpy.matmul: matmul inner dimensions differ"),
    ("y = x + np.ones(4, np.float32)", "could not be broadcast together with shapes f32[3,3] f32[4]"),
    ("y = x.astype(np.float16)", "hyc has no float16 tensors"),
    ("y = np.exp(x > 0)", "numpy.exp computes in float16 for these operands"),
    ("y = x.reshape(4, -1)", "cannot reshape"),
    ("y = x[5]", "index 5 is out of bounds"),
])
def test_errors_while_tracing_are_located_and_named(body, message, tmp_path):
    source = f"import numpy as np\ndef f(x):\n    {body}\n    return x\n"
    path = tmp_path / "model.py"
    path.write_text(source)
    namespace = {}
    exec(compile(source, str(path), "exec"), namespace)
    with pytest.raises(TracingError) as info:
        hyc.jit(namespace["f"])(floats(3, 3))
    assert message in str(info.value)
    assert str(info.value).startswith(f"{path}:")
    assert info.value.loc.line >= 3


def test_a_traced_value_that_escapes_is_an_error():
    kept = []

    @hyc.jit
    def leak(x):
        kept.append(x * 2)
        return x + 1

    @hyc.jit
    def use(y):
        return y + kept[0]

    leak(floats(3))
    with pytest.raises(TracingError, match="escaped the trace"):
        use(floats(3))


def test_unsupported_return_values_and_arguments():
    with pytest.raises(TracingError, match="returns str"):
        hyc.jit(lambda x: "text")(floats(2))
    with pytest.raises(TypeError, match="neither an array nor a hashable static value"):
        hyc.jit(lambda x, d: x)(floats(2), {"a": 1})
    with pytest.raises(TypeError, match="missing a required argument"):
        hyc.jit(fancy_func)(floats(2))
    with pytest.raises(ValueError, match="opt_level"):
        hyc.jit(fancy_func, opt_level=7)
    with pytest.raises(TypeError, match="not a parameter"):
        hyc.jit(fancy_func, dynamic={"z": [0]})
    with pytest.raises(hyc.HycError, match="unknown target 'tpu'"):
        hyc.jit(fancy_func, target="tpu")


# -- signatures and caching ------------------------------------------------------------------------
def test_one_compilation_per_signature(capsys):
    @hyc.jit
    def f(x, y):
        print("tracing")
        return x * y

    a, b = floats(2, 3), floats(3)
    for _ in range(3):
        check(f(a, b), a * b)
    assert f.cache_size() == 1
    f(floats(4, 3), b)  # a new shape
    f(a.astype(np.float64), b)  # a new dtype
    check(f(a, b), a * b)
    assert f.cache_size() == 3
    assert capsys.readouterr().out.count("tracing") == 3
    check(f(x=a, y=b), a * b)  # keywords bind to the same signature
    assert f.cache_size() == 3


def test_python_scalars_are_static_and_key_the_cache():
    @hyc.jit
    def scale(x, factor, mode="add"):
        return x + factor if mode == "add" else x * factor

    x = floats(5)
    check(scale(x, 2.0), x + np.float32(2.0))
    check(scale(x, 3.0), x + np.float32(3.0))
    check(scale(x, 3.0, mode="mul"), x * np.float32(3.0))
    assert scale.cache_size() == 3
    assert "dense<3.0>" in scale.lower(x, 3.0).as_text(optimized=False)


def test_closed_over_arrays_and_numbers_become_constants():
    table = np.arange(4, dtype=np.float32)

    @hyc.jit
    def f(x):
        return x * table + 0.5

    x = floats(3, 4)
    check(f(x), x * table + np.float32(0.5))
    assert "hy.constant {value = dense<[0.0, 1.0, 2.0, 3.0]>" in f.lower(x).as_text(optimized=False)


def test_dynamic_batch_compiles_once():
    @hyc.jit(dynamic={"x": [0]})
    def f(x, w, b):
        return np.maximum(x @ w + b, 0).sum(axis=1, keepdims=True) / x.shape[1]

    w, b = floats(8, 4), floats(4)
    for batch in (1, 5, 17):
        x = floats(batch, 8)
        check(f(x, w, b), np.maximum(x @ w + b, 0).sum(axis=1, keepdims=True) / np.float32(8))
    assert f.cache_size() == 1
    assert "tensor<X0x8xf32>" in f.lower(floats(2, 8), w, b).as_text()


def test_dynamic_dims_in_shapes_and_names():
    @hyc.jit(dynamic={"x": {0: "N"}, "y": {0: "N"}})
    def f(x, y):
        return (x + y).reshape(x.shape[0], 2, 3).sum(axis=-1)

    x, y = floats(4, 6), floats(4, 6)
    check(f(x, y), (x + y).reshape(4, 2, 3).sum(axis=-1))
    with pytest.raises(ValueError):  # the sizes named N must agree
        f(floats(4, 6), floats(5, 6))

    @hyc.jit(dynamic={"x": [0], "y": [0]})
    def g(x, y):
        return x + y
    with pytest.raises(TracingError, match="give them one name"):
        g(x, y)

    with pytest.raises(ConcretizationError, match="dynamic dimension"):
        hyc.jit(lambda x: x.reshape(int(x.shape[0]), -1), dynamic={"x": [0]})(x)


def test_non_contiguous_and_converted_arguments_take_the_careful_path():
    f = hyc.jit(fancy_func)
    base = floats(6, 6)
    views = [base[:3, ::2], base[::2, :3], base[1:4, 1:4], base[:3, :3].T]
    check(f(*views), fancy_func(*views))


def test_nested_jit_functions_are_inlined():
    inner = hyc.jit(lambda x: np.tanh(x) * 2)

    @hyc.jit
    def outer(x):
        return inner(x) + inner(x + 1)

    x = floats(3)
    check(outer(x), np.tanh(x) * 2 + np.tanh(x + 1) * 2)
    assert "func.call" not in outer.lower(x).as_text()


def test_tuple_and_list_results():
    f = hyc.jit(lambda x: (x + 1, x.sum()))
    g = hyc.jit(lambda x: [x * 2])
    x = floats(3)
    got = f(x)
    assert isinstance(got, tuple) and len(got) == 2
    check(got[0], x + 1)
    check(got[1], x.sum())
    got = g(x)
    assert isinstance(got, list)
    check(got[0], x * 2)


def test_benchmark_prints_its_label_and_time(capsys):
    with hyc.Benchmark("With hybridization") as timer:
        sum(range(1000))
    out = capsys.readouterr().out
    assert out.startswith("With hybridization: ") and out.endswith(" sec\n")
    assert timer.elapsed >= 0


def test_threads_trace_and_call_independently():
    import threading

    @hyc.jit
    def f(x):
        return np.tanh(x) * 2

    inputs = [floats(n, 3) for n in range(1, 9)]
    results = [None] * len(inputs)

    def work(i):
        for _ in range(20):
            results[i] = f(inputs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for x, got in zip(inputs, results):
        check(got, np.tanh(x) * 2)
    assert f.cache_size() == len(inputs)


def test_callables_without_a_signature_take_positional_arguments():
    f = hyc.jit(abs)
    x = floats(4)
    check(f(x), np.abs(x))


def test_alternating_signatures_each_find_their_version():
    f = hyc.jit(lambda x, y: x * 2 + y)
    cases = [(floats(3), floats(3)), (floats(2, 3), floats(3)),
             (floats(3).astype(np.float64), floats(3)), (floats(3), floats(1))]
    for _ in range(3):
        for x, y in cases:
            check(f(x, y), x * 2 + y)
    assert f.cache_size() == len(cases)
