"""Tampered model files (issue item 10): each gets a clear error or loads and runs right; none
unpickles, writes outside its arrays or allocates more than the archive declares."""

import struct
import zipfile

import numpy as np
import pytest

import hyc
from hyc import nn
from hyc.archives import read_npy, read_npz
from hyc.ir import HycError


def exported(tmp_path):
    net = nn.Sequential(nn.Dense(3, activation="tanh"), nn.Dense(2)).initialize(seed=0)
    net.hybridize()
    x = np.ones((1, 4), np.float32)
    want = net(x)
    net.export(tmp_path / "m")
    with np.load(tmp_path / "m.npz") as archive:
        return dict(archive), x, want


def test_invalid_utf8_in_the_model_is_a_clear_error(tmp_path):
    exported(tmp_path)
    (tmp_path / "m.hyir").write_bytes((tmp_path / "m.hyir").read_bytes() + b"\xff\xfe")
    with pytest.raises(HycError, match="not UTF-8"):
        hyc.load(tmp_path / "m")


def test_a_fortran_ordered_parameter_loads_and_runs(tmp_path):
    params, x, want = exported(tmp_path)
    params["dense0.weight"] = np.asfortranarray(params["dense0.weight"])
    np.savez(tmp_path / "m.npz", **params)
    np.testing.assert_allclose(hyc.load(tmp_path / "m")(x), want, rtol=1e-6)


def npy_header(shape, dtype="<f4"):
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def test_a_header_claiming_huge_sizes_allocates_nothing(tmp_path):
    path = tmp_path / "huge.npy"
    path.write_bytes(npy_header((10**6, 10**6)) + b"\0" * 64)
    with pytest.raises(HycError, match="header claims"):
        read_npy(str(path))


def test_a_zip_bomb_is_refused_by_its_header_before_inflating(tmp_path):
    exported(tmp_path)
    # 1 GiB of zeros in an archive of about 1 MiB, under a parameter's name
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("dense0.bias.npy", "w", force_zip64=True) as f:
            f.write(npy_header((2**28,)))
            chunk = b"\0" * (1 << 20)
            for _ in range(2**30 // len(chunk)):
                f.write(chunk)
    assert (tmp_path / "bomb.npz").stat().st_size < 8 << 20
    (tmp_path / "m.npz").write_bytes((tmp_path / "bomb.npz").read_bytes())
    with pytest.raises(HycError, match=r"'dense0.bias' is a float32 array of shape \(268435456,\)"):
        hyc.load(tmp_path / "m")


def test_a_member_whose_data_ends_early_is_an_error(tmp_path):
    with zipfile.ZipFile(tmp_path / "short.npz", "w") as archive:
        archive.writestr("a.npy", npy_header((100,)) + b"\0" * 40)
    with pytest.raises(HycError, match="header claims"):
        read_npz(str(tmp_path / "short.npz"))


@pytest.mark.parametrize("content,message", [
    (b"", "not an .npz"), (b"PK\x03\x04garbage", "not an .npz"), (b"\x93NUMPY", "not an .npz"),
])
def test_damaged_archives_are_clear_errors(tmp_path, content, message):
    (tmp_path / "d.npz").write_bytes(content)
    with pytest.raises(HycError, match=message):
        read_npz(str(tmp_path / "d.npz"))


def test_pickles_are_never_loaded(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(HycError, match="never pickled"):
        read_npy(str(tmp_path / "o.npy"))
    with zipfile.ZipFile(tmp_path / "o.npz", "w") as archive:
        archive.write(tmp_path / "o.npy", "o.npy")
    with pytest.raises(HycError, match="never pickled"):
        read_npz(str(tmp_path / "o.npz"))


def test_members_that_are_not_arrays_are_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "x.npz", "w") as archive:
        archive.writestr("run.py", "print('hi')")
    with pytest.raises(HycError, match="not one named array"):
        read_npz(str(tmp_path / "x.npz"))


@pytest.mark.parametrize("edit,message", [
    (lambda t: t + "\nfunc.func @g() {\n  func.return\n}\n", r"m\.hyir:\d+:\d+: error\[E0601\]: unexpected"),
    (lambda t: t.replace("tensor<1x4xf32>", "tensor<1x5xf32>", 1), r"m\.hyir:\d+:\d+: error"),
    (lambda t: t.replace("hy.tanh", "hy.tahn", 1), "unknown operation 'hy.tahn'"),
    (lambda t: t.replace("func.return", "%b = buf.alloc : memref<4xf32>\n    func.return", 1),
     "tensor-level"),
])
def test_tampered_ir_is_a_clear_error(tmp_path, edit, message):
    exported(tmp_path)
    text = (tmp_path / "m.hyir").read_text()
    (tmp_path / "m.hyir").write_text(edit(text))
    with pytest.raises(HycError, match=message):
        hyc.load(tmp_path / "m")


def test_a_model_that_calls_itself_stops_with_an_error(tmp_path):
    (tmp_path / "m.hyir").write_text(
        "func.func @f(%x: tensor<2xf32>) -> tensor<2xf32> {\n"
        "  %y = func.call %x {callee = @f} : (tensor<2xf32>) -> tensor<2xf32>\n"
        "  func.return %y : tensor<2xf32>\n}\n")
    np.savez(tmp_path / "m.npz")
    model = hyc.load(tmp_path / "m", opt_level=0)
    with pytest.raises(ValueError, match="call depth exceeds"):
        model(np.ones(2, np.float32))
