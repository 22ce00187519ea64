"""hyc.nn: the chapter's blocks imperative and hybridized, export, hyc.load and the hyc CLI,
and the errors of parameters and saved files. The chapter's code is examples/hybridize.py."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from oracle import check

import hyc
from hyc import nn
from hyc.ir import HycError

sys.path.insert(0, str(Path(__file__).parents[2] / "examples"))
from hybridize import HybridNet, get_net  # noqa: E402

RNG = np.random.default_rng(11)


def floats(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_mlp_factory_same_before_and_after_hybridize():
    x = floats(1, 512)
    net = get_net()
    y0 = net(x)
    assert y0.shape == (1, 2) and y0.dtype == np.float32
    net.hybridize()
    y1 = net(x)
    close(y0, y1)
    close(net(x), y1)  # the compiled version, again
    assert net._jit.cache_size() == 1
    net.hybridize(False)
    close(net(x), y0)


def test_parameters_are_named_numpy_arrays_with_inferred_input_size():
    net = get_net()
    with pytest.raises(HycError, match="not initialized yet"):
        net.collect_params()
    net(floats(3, 20))
    params = net.collect_params()
    assert {k: v.shape for k, v in params.items()} == {
        "dense0.weight": (20, 256), "dense0.bias": (256,), "dense1.weight": (256, 128),
        "dense1.bias": (128,), "dense2.weight": (128, 2), "dense2.bias": (2,)}
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in params.values())
    assert [p.shape for p in net.parameters()] == [v.shape for v in params.values()]
    assert "Dense(20 -> 256, relu)" in repr(net)


def test_initialize_is_seeded():
    x = floats(2, 8)
    a, b, c = get_net(), get_net(), nn.Sequential(nn.Dense(3)).initialize(seed=1)
    close(a(x), b(x))
    other = get_net().initialize(seed=5, force_reinit=True)
    assert not np.allclose(other(x), a(x))
    assert c(x).shape == (2, 3)


def test_uninitialized_and_malformed_blocks():
    with pytest.raises(HycError, match="parameter 'weight' of Dense is not initialized"):
        nn.Sequential(nn.Dense(2)).hybridize()(floats(1, 3))
    with pytest.raises(HycError, match="'weight' of Dense is not initialized: call initialize"):
        nn.Dense(2)(floats(1, 3))
    with pytest.raises(TypeError, match="does not define forward"):
        nn.Block()(floats(1))
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        nn.Dense(2, activation="gelu")
    dense = nn.Dense(2, in_units=3).initialize(seed=0)
    with pytest.raises(HycError, match="matmul inner dimensions differ"):
        dense.hybridize()(floats(1, 4))


def test_hybrid_net_prints_only_while_tracing(capsys):
    net = HybridNet()
    net.initialize(seed=1)
    x = floats(1, 3)
    eager = net(x)
    out = capsys.readouterr().out
    assert "value:  [[" in out and "Traced" not in out
    net.hybridize()
    close(net(x), eager)
    assert capsys.readouterr().out == "value:  Traced<f32[1,3]>\nresult:  Traced<f32[1,4]>\n"
    close(net(x), eager)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "softmax"])
def test_dense_activations_agree(activation):
    net = nn.Dense(5, activation=activation)
    net.initialize(seed=3)
    x = floats(4, 6)
    eager = net(x)
    net.hybridize(opt_level=3)
    close(net(x), eager)
    weight, bias = net.collect_params().values()
    z = x @ weight + bias
    want = {"relu": np.maximum(z, 0), "sigmoid": 1 / (1 + np.exp(-z)), "tanh": np.tanh(z),
            "softmax": np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)}[activation]
    close(eager, want)


def test_parameter_updates_reach_the_compiled_net_without_recompiling():
    net = get_net().hybridize()
    x = floats(1, 10)
    net(x)
    dense2 = net[2]
    dense2._params["bias"].set_data(np.array([1.0, -1.0], np.float32))
    y = net(x)
    net.hybridize(False)
    close(y, net(x))
    net.hybridize()
    net(x)
    dense2._params["bias"].data = np.array([3.0, 2.0], np.float32)  # assigned directly
    dense2._params["weight"].data[0] += 1.0  # changed in place
    y = net(x)
    net.hybridize(False)
    close(y, net(x))
    with pytest.raises(ValueError, match="cannot take an array of shape"):
        dense2._params["bias"].set_data(np.zeros(3))


def test_dynamic_batch_hybridization_compiles_once():
    net = get_net().hybridize(dynamic={"x": [0]})
    eager = get_net()
    for batch in (1, 3, 8):
        x = floats(batch, 16)
        close(net(x), eager(x))
    assert net._jit.cache_size() == 1


def test_export_then_load_and_the_cli(tmp_path):
    x = floats(1, 512)
    net = get_net()
    with pytest.raises(HycError, match="export needs a hybridized block that has run once"):
        net.export(tmp_path / "nothing")
    net.hybridize()
    want = net(x)
    ir_path, params_path = net.export(tmp_path / "my_mlp")
    assert ir_path.endswith("my_mlp.hyir") and params_path.endswith("my_mlp.npz")
    with np.load(params_path, allow_pickle=False) as archive:
        assert sorted(archive.files) == sorted(net.collect_params())
    model = hyc.load(tmp_path / "my_mlp")
    assert model.input_names == ["x"]
    check(model(x), want)
    with pytest.raises(TypeError, match="takes 1 input"):
        model(x, x)

    np.save(tmp_path / "x.npy", x)
    run = subprocess.run([sys.executable, "-m", "hyc.tools.hyc", ir_path, "--args", params_path,
                          "--arg", f"x={tmp_path / 'x.npy'}", "--run"],
                         capture_output=True, text=True, check=True)
    printed = np.array([float(v) for v in run.stdout.replace("[", " ").replace("]", " ").split()])
    np.testing.assert_allclose(printed, want.reshape(-1), rtol=1e-6)


def test_export_writes_the_version_that_ran_last(tmp_path):
    net = nn.Sequential(nn.Dense(2)).initialize(seed=0).hybridize()
    for batch in (1, 3, 1):
        net(floats(batch, 4))
    ir_path, _ = net.export(tmp_path / "m")
    assert "tensor<1x4xf32>" in open(ir_path).read()


def _exported(tmp_path):
    net = nn.Sequential(nn.Dense(3, activation="tanh"), nn.Dense(2)).initialize(seed=0)
    net.hybridize()
    net(floats(1, 4))
    net.export(tmp_path / "m")
    with np.load(tmp_path / "m.npz") as archive:
        return dict(archive)


@pytest.mark.parametrize("tamper, message", [
    (lambda p: p.pop("dense1.bias"), "m.npz lacks dense1.bias, which @Sequential takes as parameters"),
    (lambda p: p.update(extra=np.zeros(2, np.float32)), "holds extra, which @Sequential does not take"),
    (lambda p: p.update({"dense0.weight": np.zeros((5, 3), np.float32)}),
     "'dense0.weight' is a float32 array of shape \\(5, 3\\), but @Sequential takes float32 \\(4, 3\\)"),
    (lambda p: p.update({"dense0.bias": np.zeros(3, np.float64)}), "is a float64 array"),
])
def test_a_mismatched_parameters_file_is_a_clear_error(tmp_path, tamper, message):
    params = _exported(tmp_path)
    tamper(params)
    np.savez(tmp_path / "m.npz", **params)
    with pytest.raises((HycError, TypeError), match=message):
        model = hyc.load(tmp_path / "m")
        model(floats(1, 4))


def test_loading_never_unpickles_and_rejects_damaged_files(tmp_path):
    params = _exported(tmp_path)
    params["dense0.bias"] = np.array([object(), 1, 2], dtype=object)
    np.savez(tmp_path / "m.npz", **params)
    with pytest.raises(HycError, match="object array; hyc reads only .*never pickled"):
        hyc.load(tmp_path / "m")
    (tmp_path / "m.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(HycError, match="cannot load .*not an .npz") as caught:
        hyc.load(tmp_path / "m")
    assert "allow_pickle" not in str(caught.value)
    _exported(tmp_path)
    text = (tmp_path / "m.hyir").read_text()
    (tmp_path / "m.hyir").write_text(text.replace("hy.matmul", "hy.matmull", 1))
    with pytest.raises(HycError, match=r"m\.hyir:\d+:\d+: error\[E0608\]: .*hy\.matmull"):
        hyc.load(tmp_path / "m")
    with pytest.raises(HycError, match="cannot read the model"):
        hyc.load(tmp_path / "absent")


def test_ops_of_a_hybridized_block_point_at_the_users_lines():
    import inspect

    import hybridize
    net = HybridNet()
    net.initialize(seed=0)
    net.hybridize()
    x = floats(1, 3)
    text = net._jit.lower(x).as_text(optimized=False, debuginfo=True)
    lines, first = inspect.getsourcelines(HybridNet.forward)
    hidden = first + next(i for i, line in enumerate(lines) if "self.hidden(x)" in line)
    assert f'loc("{hybridize.__file__}":{hidden}:' in text  # Dense's matmul, at the user's call
    assert "loc(unknown)" not in text
    assert "/hyc/nn.py" not in text and "jitted.py" not in text


def test_adding_a_layer_to_a_hybridized_sequential_compiles_again():
    net = nn.Sequential(nn.Dense(4)).initialize(seed=0).hybridize()
    x = floats(2, 3)
    assert net(x).shape == (2, 4)
    net.add(nn.Dense(2, in_units=4))
    net.initialize(seed=1)
    assert net(x).shape == (2, 2)
    net.hybridize(False)
    close(net.hybridize()(x), net.hybridize(False)(x))


def test_save_and_load_parameters(tmp_path):
    x = floats(2, 5)
    net = get_net()
    want = net(x)
    net.save_parameters(tmp_path / "p.npz")
    other = nn.Sequential(nn.Dense(256, activation="relu"), nn.Dense(128, activation="relu"),
                          nn.Dense(2)).hybridize()
    other.load_parameters(tmp_path / "p.npz")  # shapes come from the file
    close(other(x), want)
    np.savez(tmp_path / "s.npz", **{"dense0.weight": net.collect_params()["dense0.weight"],
                                    "extra": x})
    with pytest.raises(HycError, match="it lacks dense0.bias, dense1.bias, .*; it holds extra"):
        get_net().load_parameters(tmp_path / "s.npz")
    with pytest.raises(HycError, match="'dense0.weight' is float64"):
        params = dict(net.collect_params())
        params["dense0.weight"] = params["dense0.weight"].astype(np.float64)
        np.savez(tmp_path / "q.npz", **params)
        get_net().load_parameters(tmp_path / "q.npz")
    np.save(tmp_path / "r.npy", x)
    with pytest.raises(HycError, match="not an .npz"):
        get_net().load_parameters(tmp_path / "r.npy")


def test_a_block_lowers_for_inspection_hybridized_or_not():
    net = get_net()
    x = floats(1, 8)
    net(x)
    text = net.lower(x).as_text()
    assert "hy.fused_matmul %x, %dense0.weight, %dense0.bias" in text
    assert "define" in net.hybridize().lower(x).llvm_ir()


def test_changing_a_nested_block_of_a_hybridized_block_compiles_again():
    inner = nn.Sequential(nn.Dense(4, in_units=3))
    net = nn.Sequential(inner, nn.Dense(2, in_units=4)).initialize(seed=0).hybridize()
    x = floats(2, 3)
    net(x)
    inner.add(nn.Dense(4, activation="tanh", in_units=4))  # deep inside: no call to net
    net.initialize(seed=1)
    got = net(x)
    net.hybridize(False)
    close(got, net(x))
    assert len(net.parameters()) == 6
