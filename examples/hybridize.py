"""The chapter's hybrid programming in Python: the same numpy code run imperatively, then
compiled by hyc.jit and by hybridize(), exported, and loaded back.

    python examples/hybridize.py [OUTPUT_DIR]
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

import hyc
from hyc import nn


@hyc.jit
def fancy_func(a, b, c, d):
    e = a + b
    f = c + d
    g = e + f
    return g


def get_net():
    net = nn.Sequential()
    net.add(nn.Dense(256, activation="relu"),
            nn.Dense(128, activation="relu"),
            nn.Dense(2))
    net.initialize(seed=0)
    return net


class HybridNet(nn.HybridBlock):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Dense(4)
        self.output = nn.Dense(2)

    def forward(self, x):
        print("value: ", x)
        x = hyc.relu(self.hidden(x))
        print("result: ", x)
        return self.output(x)


def main(out_dir: Path) -> None:
    ones = [np.ones((), np.float32) * k for k in (1, 2, 3, 4)]
    print("fancy_func:", fancy_func(*ones))

    x = np.random.default_rng(0).standard_normal((1, 512)).astype(np.float32)
    net = get_net()
    with hyc.Benchmark("Without hybridization"):
        for _ in range(1000):
            y0 = net(x)
    net.hybridize()
    net(x)  # the first call traces and compiles
    with hyc.Benchmark("With hybridization"):
        for _ in range(1000):
            y1 = net(x)
    print("same results:", np.allclose(y0, y1, rtol=1e-5, atol=1e-6))

    hybrid = HybridNet()
    hybrid.initialize(seed=1)
    hybrid.hybridize()
    small = np.random.default_rng(1).standard_normal((1, 3)).astype(np.float32)
    hybrid(small)  # prints the traced values
    hybrid(small)  # prints nothing: compiled code runs

    ir_path, params_path = net.export(out_dir / "my_mlp")
    loaded = hyc.load(out_dir / "my_mlp")
    print("exported", ir_path, "and", params_path, "; loaded:", np.allclose(loaded(x), y1))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
