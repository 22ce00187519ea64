"""hyc-opt and hyc as users run them: files, stdin, flags, and errors without tracebacks."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hyc.tools import hyc, hyc_opt

ROOT = Path(__file__).parent.parent.parent
CONTROL = ROOT / "examples" / "control.hyir"
MLP = ROOT / "examples" / "mlp.hyir"


def run_cli(tool, *args, stdin=None):
    """Run a console entry point in a fresh process, as a user would."""
    code = f"import sys; from hyc.tools.{tool} import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_hyc_opt_reads_stdin_and_prints_the_module():
    result = run_cli("hyc_opt", "-", stdin="func.func @f(%a: f32) -> f32 {\n"
                                           "  func.return %a : f32\n}\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "module {\n  func.func @f(%a: f32) -> f32 {\n" \
                            "    func.return %a : f32\n  }\n}\n"


def test_hyc_opt_error_from_stdin_quotes_the_line():
    result = run_cli("hyc_opt", stdin="func.func @f(%a: f32) -> f32 {\n  func.return %b : f32\n}\n")
    assert result.returncode == 1
    assert result.stderr.startswith("<stdin>:2:15: error[E0603]: use of undefined value %b\n"
                                    "  func.return %b : f32\n              ^")
    assert "Traceback" not in result.stderr


def test_hyc_opt_output_file_and_flags(tmp_path, capsys):
    out = tmp_path / "out.hyir"
    assert hyc_opt.main([str(CONTROL), "-o", str(out), "--print-op-generic"]) == 0
    assert '"scf.for"(' in out.read_text()
    assert hyc_opt.main([str(CONTROL), "--dump-ir", "--print-debuginfo"]) == 0
    assert f'loc("{CONTROL}":3:3)' in capsys.readouterr().out


@pytest.mark.parametrize("content", [b"\xff\xfe\x00garbage", b"", b"module", b"}}}}", b"%0 = "],
                         ids=["binary", "empty", "keyword", "braces", "dangling"])
def test_hyc_opt_never_tracebacks_on_junk(tmp_path, capsys, content):
    path = tmp_path / "junk.hyir"
    path.write_bytes(content)
    rc = hyc_opt.main([str(path)])
    captured = capsys.readouterr()
    assert rc in (0, 1) and "Traceback" not in captured.err
    if content == b"":
        assert rc == 0 and captured.out == "module {\n}\n"
    else:
        assert rc == 1 and "error[E0" in captured.err


def test_missing_input_file_is_an_error(tmp_path, capsys):
    assert hyc_opt.main([str(tmp_path / "absent.hyir")]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert hyc_opt.main([str(tmp_path)]) == 1


def test_hyc_runs_main_and_prints(capsys):
    assert hyc.main([str(CONTROL), "--run"]) == 0
    x = np.array([1.0, 8.0, 27.0], np.float32)
    assert capsys.readouterr().out == str(x / x.sum()) + "\n"


def mlp_params(rng, batch):
    shapes = {"x": (batch, 512), "w1": (512, 256), "b1": (256,), "w2": (256, 128),
              "b2": (128,), "w3": (128, 2), "b3": (2,)}
    return {k: rng.standard_normal(s).astype(np.float32) * 0.1 for k, s in shapes.items()}


def numpy_mlp(p):
    h1 = np.maximum(p["x"] @ p["w1"] + p["b1"], 0)
    h2 = np.maximum(h1 @ p["w2"] + p["b2"], 0)
    return h2 @ p["w3"] + p["b3"]


def test_hyc_runs_the_mlp_from_an_npz_like_numpy(tmp_path):
    params = mlp_params(np.random.default_rng(0), 3)
    np.savez(tmp_path / "args.npz", **params)
    result = run_cli("hyc", MLP, "--run", "--args", tmp_path / "args.npz")
    assert result.returncode == 0, result.stderr
    got = np.array([[float(v) for v in line.strip(" []").split()]
                    for line in result.stdout.strip().splitlines()], np.float32)
    np.testing.assert_allclose(got, numpy_mlp(params), rtol=1e-4, atol=1e-5)


def test_hyc_arg_files_and_missing_arguments(tmp_path, capsys):
    params = mlp_params(np.random.default_rng(1), 1)
    paths = []
    for name, value in params.items():
        np.save(tmp_path / f"{name}.npy", value)
        paths.append(f"{name}={tmp_path / name}.npy")
    flags = [x for p in paths for x in ("--arg", p)]
    assert hyc.main([str(MLP), "--run", *flags]) == 0
    capsys.readouterr()
    assert hyc.main([str(MLP), "--run", *flags[:-2]]) == 1
    err = capsys.readouterr().err
    assert "error[E1103]: missing argument 'b3' of @mlp" in err and "--random-args" in err
    assert hyc.main([str(MLP), "--run", "--arg", f"nope={tmp_path / 'x.npy'}"]) == 1
    assert "has no parameter named nope" in capsys.readouterr().err


def test_hyc_unreadable_argument_files_are_reported(tmp_path, capsys):
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "junk.npz").write_bytes(b"PK junk")
    assert hyc.main([str(MLP), "--run", "--arg", f"x={tmp_path / 'empty.npy'}"]) == 1
    assert "cannot load" in capsys.readouterr().err
    assert hyc.main([str(MLP), "--run", "--args", str(tmp_path / "junk.npz")]) == 1
    assert "cannot load" in capsys.readouterr().err


def test_hyc_wrong_argument_dtype_is_reported(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((1, 512)))  # float64
    assert hyc.main([str(MLP), "--run", "--random-args", "--arg", f"x={tmp_path / 'x.npy'}"]) == 1
    assert "argument 'x' of @mlp has dtype float64, expected float32" in capsys.readouterr().err


def test_hyc_random_args_are_seeded(capsys):
    assert hyc.main([str(MLP), "--run", "--random-args", "--dim", "N=2", "--seed", "3"]) == 0
    first = capsys.readouterr().out
    assert hyc.main([str(MLP), "--run", "--random-args", "--dim", "N=2", "--seed", "3"]) == 0
    assert capsys.readouterr().out == first and len(first.splitlines()) == 2


def test_hyc_emit_ir_and_entry_selection(tmp_path, capsys):
    out = tmp_path / "m.hyir"
    assert hyc.main([str(MLP), "--emit=ir", "-o", str(out)]) == 0
    assert "func.func @mlp" in out.read_text()
    assert hyc.main([str(CONTROL), "--run", "--entry", "nothere"]) == 1
    assert "no function named 'nothere'" in capsys.readouterr().err
    assert hyc.main([str(CONTROL), "--run", "--entry", "power", "--random-args"]) == 0


def test_hyc_rejects_unknown_file_kinds(tmp_path, capsys):
    path = tmp_path / "model.txt"
    path.write_text("x")
    assert hyc.main([str(path)]) == 1
    assert "hyc reads .hy source and .hyir" in capsys.readouterr().err


def test_hyc_emits_the_loop_level(capsys):
    assert hyc.main([str(ROOT / "examples" / "mlp.hy"), "--emit=loops"]) == 0
    out = capsys.readouterr().out
    assert "func.func @mlp(%x: memref<Nx512xf32>" in out and "%out0: memref<Nx2xf32>" in out
    assert out.count("buf.matmul") == 3 and "buf.free" in out
