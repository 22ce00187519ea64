"""Flags that would do nothing are refused; bad values and files are clear errors; run-time
failures are located like compile-time ones (issue items 11, 15, 16)."""

import numpy as np
import pytest
from cli_run import run_hyc

from hyc.tools import hyc, hyc_opt

DYNAMIC = """def g(x: f32[N]) -> f32:
    return sum(x)

def f(a: f32[?], b: f32[?], c: f32[N]) -> f32[N]:
    return a + b + c

def h(x: f32[N]) -> f32[?]:
    return reshape(x, (-1,))
"""


@pytest.fixture
def program(tmp_path):
    path = tmp_path / "dyn.hy"
    path.write_text(DYNAMIC)
    np.save(tmp_path / "x.npy", np.ones(3, np.float32))
    np.save(tmp_path / "y.npy", np.ones(4, np.float32))
    return path


run = run_hyc


def test_a_run_time_failure_is_located_with_the_source_line(program, capsys):
    folder = program.parent
    status, _, err = run([program, "--run", "--entry", "f", "--arg", f"a={folder / 'x.npy'}",
                          "--arg", f"b={folder / 'y.npy'}", "--arg", f"c={folder / 'x.npy'}"], capsys)
    assert status == 1
    assert err.startswith(f"{program}:5:14: error[E1006]: hy.add: operand sizes differ at run time\n")
    assert "    return a + b + c\n             ^" in err


def test_a_function_python_cannot_size_spoils_only_itself(program, capsys):
    status, out, _ = run([program, "--run", "--entry", "g", "--random-args"], capsys)
    assert status == 0 and out.strip()
    status, _, err = run([program, "--run", "--entry", "h", "--random-args"], capsys)
    assert status == 1 and "result sizes that the arguments determine" in err


@pytest.mark.parametrize("flags,message", [
    (["--args", "{x}"], "not an .npz"),
    (["--random-args", "--seed", "-5"], "non-negative integer"),
    (["--random-args", "--dim", "N=100000000000"], "more than 2**29 elements"),
    (["--random-args", "--dim", "N=99999999999999999999"], "size below 10**15"),
    (["--random-args", "--dim", "Q=3"], "no dimension named so"),
])
def test_bad_argument_flags_are_clear_errors(program, capsys, flags, message):
    flags = [f.format(x=program.parent / "x.npy") for f in flags]
    status, _, err = run([program, "--run", "--entry", "g", *flags], capsys)
    assert status != 0 and message in err


@pytest.mark.parametrize("flags,message", [
    (["--interpret"], "only work(s) with --run"),
    (["--random-args"], "only work(s) with --run"),
    (["--entry", "g"], "only work(s) with --run"),
    (["--seed", "3"], "only work(s) with --run"),
    (["--run", "--random-args", "--entry", "g", "-o", "out.txt"], "-o says where --emit writes"),
    (["--dim", "Q=2"], "no dimension named so"),
])
def test_flags_that_would_do_nothing_are_refused(program, capsys, flags, message):
    status, _, err = run([program, *flags], capsys)
    assert status != 0 and message in err


def test_run_with_a_native_emit_does_both(program, tmp_path, capsys):
    out = tmp_path / "g.ll"
    status, printed, _ = run([program, "--emit=llvm", "-o", out, "--run", "--entry", "g",
                              "--random-args"], capsys)
    assert status == 0 and "define" in out.read_text() and printed.strip()


def test_an_unclosed_option_list_is_refused(program, capsys):
    status, _, err = run([program, "--pass-pipeline=canonicalize{"], capsys)
    assert status == 1 and "options must be written" in err
    assert hyc_opt.main([str(program), "--pass-pipeline=cse{max-rounds=2}}"]) == 1


@pytest.mark.parametrize("main", [hyc.main, hyc_opt.main])
def test_both_tools_say_their_version(main, capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    from hyc import __version__
    assert capsys.readouterr().out.strip().endswith(__version__)


@pytest.mark.parametrize("flags,expected", [
    (["--pass-pipeline=canonicalize"], {"canonicalize": 1}),
    (["-O2"], None),  # the -O2 pipeline, once
    (["-O0"], {}),
])
@pytest.mark.parametrize("how", [["--run", "--random-args", "--entry", "g"], ["--emit=llvm"]])
def test_the_users_pipeline_runs_exactly_once(program, capsys, monkeypatch, flags, expected, how):
    """Before the lowering pipeline (bufferize, ...) the IR passes are the flags' and no more:
    compiling for --run or --emit=llvm does not run -O2 a second time."""
    from hyc.passes import LEVELS, LOWER_TO_LOOPS, PassManager, parse_pipeline
    ran = []
    original = PassManager._run_one
    monkeypatch.setattr(PassManager, "_run_one",
                        lambda self, p, *a, **k: (ran.append(p.name), original(self, p, *a, **k))[1])
    from hyc.codegen import driver
    monkeypatch.setattr(driver, "from_cache", lambda key, target: None)
    status, _, _ = run([program, *flags, *how], capsys)
    assert status == 0
    from hyc.codegen.target import host_cpu
    lowering = [p.name for p in parse_pipeline(LOWER_TO_LOOPS + "," + host_cpu().loop_pipeline)]
    assert ran[-len(lowering):] == lowering
    before = ran[:-len(lowering)]
    if expected is None:
        assert before == [p.name for p in parse_pipeline(LEVELS[2])]
    else:
        assert {n: before.count(n) for n in set(before)} == expected
