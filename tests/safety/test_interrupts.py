"""Ctrl-C stops a long compiled loop with KeyboardInterrupt (docs/backend.md, "Safety")."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import hyc
from hyc.ir import Interpreter, parse_module

LONG_LOOP = """
def spin(n: i64) -> i32:
    t = 0
    for i in range(n):
        t = t + 1
    return t
"""

# Python's own SIGINT handler first: a process started in the background by a shell without
# job control inherits SIGINT ignored, which hyc leaves alone (and then nothing stops the loop)
SCRIPT = textwrap.dedent("""
    import os, signal, sys, threading, time
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np
    import hyc
    mod = hyc.compile(sys.argv[1], opt_level=int(sys.argv[2]))
    {setup}
    sent = []
    def interrupt():
        time.sleep(0.3)
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=interrupt, daemon=True).start()
    try:
        mod.spin(np.int64(10**15))
        print("finished")
    except KeyboardInterrupt:
        print("interrupted after", time.perf_counter() - sent[0])
    print("next call", mod.spin(np.int64(5)))
""")


def run(tmp_path, level, setup=""):
    source = tmp_path / "spin.hy"
    source.write_text(LONG_LOOP)
    return subprocess.run([sys.executable, "-c", SCRIPT.format(setup=setup), str(source), str(level)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("level", [0, 2])
def test_ctrl_c_stops_a_long_loop(tmp_path, level):
    done = run(tmp_path, level)
    assert "interrupted after" in done.stdout, done.stdout + done.stderr
    assert "next call 5" in done.stdout  # a stale interrupt does not stop later calls


def test_python_handlers_installed_later_still_see_it(tmp_path):
    """signal.signal replaces the C-level hook; the next compile puts it back."""
    setup = ("signal.signal(signal.SIGINT, signal.default_int_handler)\n"
             "mod = hyc.compile(sys.argv[1].replace('.hy', '.hy'), opt_level=1)")
    done = run(tmp_path, 2, setup)
    assert "interrupted after" in done.stdout, done.stdout + done.stderr


def test_loops_of_the_program_poll_and_derived_loops_do_not():
    """A `for` of the source polls; loops bufferization makes from sizes (a sum) do not."""
    loops = hyc.compile(LONG_LOOP + "\ndef total(x: f32[N]) -> f32:\n    return sum(x)\n").loops
    spin, total = loops.split("func.func @total")
    assert spin.count("buf.interrupt_point") == 1
    assert "buf.interrupt_point" not in total


def test_the_interpreter_treats_the_poll_as_a_no_op():
    out = np.zeros((), np.int32)
    Interpreter(parse_module(hyc.compile(LONG_LOOP).loops)).call("spin", np.int64(4), out)
    assert out == 4
