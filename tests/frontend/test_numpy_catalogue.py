"""The numpy catalogue: each function or operator, traced by hyc.jit and compiled at every -O
level, agrees with plain numpy (and the traced module, interpreted, agrees too) on random
shapes drawn per case; on gpu-sim too."""

import inspect

import numpy as np
import pytest
from numpy_cases import CASES, make, sizes_of
from oracle import check

import hyc
from hyc.ir import HycError


def distinct_names():
    return {name.split(".")[0] for name, _, _ in CASES if not name.endswith(".hyc")}


def test_the_catalogue_covers_at_least_40_numpy_functions():
    assert len(distinct_names()) >= 40, sorted(distinct_names())


def arguments_and_answer(name, fn, specs):
    """The case's arguments, drawn, and numpy's answer."""
    sizes, rng = sizes_of(name)
    args = [make(spec, sizes, rng) for spec in specs]
    with np.errstate(all="ignore"):
        return args, fn(*args)


@pytest.mark.parametrize("level", [0, 1, 2, 3])
@pytest.mark.parametrize("name, fn, specs", CASES, ids=[c[0] for c in CASES])
def test_numpy_function_agrees(name, fn, specs, level):
    args, want = arguments_and_answer(name, fn, specs)
    jitted = hyc.jit(fn, opt_level=level)
    check(jitted(*args), want)
    check(jitted(*args), want)  # the cached version, through the fast path where it applies
    if level == 0:  # the traced module itself, run by the reference interpreter
        lowered = jitted.lower(*args)
        (got,) = hyc.interpret(lowered.module, lowered.name, *args)
        check(got, want)


@pytest.mark.parametrize("level", [0, 3])
@pytest.mark.parametrize("name, fn, specs", CASES, ids=[c[0] for c in CASES])
def test_numpy_function_agrees_on_gpu_sim(name, fn, specs, level):
    """The GPU path too: its kernels and launch plan, run by gpu-sim."""
    args, want = arguments_and_answer(name, fn, specs)
    check(hyc.jit(fn, opt_level=level, target="gpu-sim")(*args), want)


def test_docs_list_every_supported_function():
    from pathlib import Path

    from hyc.frontend.numpy_support import numpy_api
    FUNCTIONS, UFUNCS, numpy_name = numpy_api.FUNCTIONS, numpy_api.UFUNCS, numpy_api.numpy_name
    docs = Path(__file__).parents[2].joinpath("docs", "python.md").read_text()
    ufuncs = docs[docs.index("**ufuncs**"):docs.index("**Functions**")].replace("`", " ").split()
    functions = docs[docs.index("**Functions**"):].replace("`", " ").split()
    missing = [u.__name__ for u in UFUNCS if u.__name__ not in ufuncs]
    missing += [numpy_name(f) for f in FUNCTIONS if numpy_name(f) not in functions]
    assert not missing, f"docs/python.md does not list {missing}"


# Cases whose result has a size the arguments don't determine once their first axis is
# dynamic (or which need that size while tracing): each is a clear error instead.
NOT_DYNAMIC = {
    "reshape": "needs each of them among the sizes",
    "flatten": "the size of a tensor with dynamic dimensions", "ravel": "among the sizes",
    "argmax.flat": "among the sizes",
    "concatenate.promote": "need result sizes", "hstack": "need result sizes",
    "vstack": "need result sizes", "getitem.slices": "need result sizes",
}
DYNAMIC_CASES = [c for c in CASES if c[2][0][1][0] != "4"
                 and not any(c[2][0][1][0] in spec[1] for spec in c[2][1:])]


@pytest.mark.parametrize("name, fn, specs", DYNAMIC_CASES, ids=[c[0] for c in DYNAMIC_CASES])
def test_numpy_function_with_a_dynamic_first_axis(name, fn, specs):
    first = next(iter(inspect.signature(fn).parameters))
    jitted = hyc.jit(fn, dynamic={first: [0]})
    for batch in (2, 3):
        sizes, rng = sizes_of(name)
        sizes[specs[0][1][0]] = batch
        args = [make(spec, sizes, rng) for spec in specs]
        if name in NOT_DYNAMIC:
            with pytest.raises(HycError, match=NOT_DYNAMIC[name]):
                jitted(*args)
            return
        with np.errstate(all="ignore"):
            want = fn(*args)
        check(jitted(*args), want)
    assert jitted.cache_size() == 1
