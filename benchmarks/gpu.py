"""hyc on an NVIDIA GPU beside PyTorch (eager and torch.compile) and the device's own limits.

    python benchmarks/gpu.py [--json FILE]     # on a machine with a GPU (tests/gpu/check.sh)
    python benchmarks/gpu.py --smoke           # tiny sizes on gpu-sim: the script itself works

Rows (issue 13's targets in brackets), each timed in the same process, contenders
interleaved, after a warm-up; a GPU row ends with a synchronization of every stream:
- B1: the MLP 512-256-128-2 at batch 1, inputs and weights on the device, µs per call
  [≤ 0.5x torch eager's time];
- fused elementwise `relu(a*b+c)*d - 0.5*e` on 64M f32, GB/s moved (5 reads, 1 write) against
  a device-to-device copy of the same bytes [≥ 80 % of the copy's bandwidth];
- an f32 matmul 4096^3 in TFLOP/s against cuBLAS (torch.mm, TF32 off) [≥ 50 %];
- the MLP at batch 4096, samples per second [≥ 0.5x torch eager's].
A contender that fails records its error instead of a time. ``--json`` writes the rows, the
device and the versions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import CHAIN, MLP, mlp_params  # noqa: E402

import hyc  # noqa: E402

MATMUL = "def mm(a: f32[M, K], b: f32[K, N]) -> f32[M, N]:\n    return a @ b\n"


def timed(contenders: dict[str, tuple[Callable[[], object], Callable[[], object]]],
          number: int, repeats: int) -> dict[str, Any]:
    """Seconds per call (median and best of ``repeats``) of each contender, given as
    (call, synchronize); or the error it raised."""
    results: dict[str, Any] = {}
    live = {}
    for name, (call, sync) in contenders.items():
        try:
            call()
            sync()
            live[name] = (call, sync)
            results[name] = []
        except Exception as e:  # a contender that cannot run is a row with its reason
            results[name] = {"error": f"{type(e).__name__}: {e}"[:300]}
    for _ in range(repeats):
        for name, (call, sync) in live.items():
            sync()
            start = time.perf_counter()
            for _ in range(number):
                call()
            sync()
            results[name].append((time.perf_counter() - start) / number)
    return {name: r if isinstance(r, dict) else {"median_s": statistics.median(r), "best_s": min(r)}
            for name, r in results.items()}


def torch_cuda() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def section(title: str, rows: dict[str, Any], unit: str, value: Callable[[float], float],
            report: list[dict[str, Any]], reference: str | None = None) -> None:
    print(f"\n{title}")
    base = rows.get(reference, {}).get("median_s") if reference else None
    for name, row in rows.items():
        if "error" in row:
            print(f"  {name:<28} {row['error']}")
            continue
        row[unit] = value(row["median_s"])
        ratio = f"  {base / row['median_s']:.2f}x {reference}'s speed" if base else ""
        print(f"  {name:<28} {row[unit]:>12.2f} {unit}{ratio}")
    report.append({"section": title, "unit": unit, "rows": rows})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes on gpu-sim, without PyTorch: checks the script")
    args = parser.parse_args(argv)
    target = "gpu-sim" if args.smoke else "gpu"
    torch = None if args.smoke else torch_cuda()
    report: list[dict[str, Any]] = []
    mlp = hyc.compile(MLP, 2, target=target)
    sync_hyc = getattr(mlp.device, "synchronize", lambda: None)
    sync_torch = torch.cuda.synchronize if torch else (lambda: None)
    device = getattr(getattr(mlp.device, "gpu", None), "name", "gpu-sim (the CPU)")
    print(f"hyc on {device}")

    def place(array: np.ndarray, module: Any) -> Any:
        return array if args.smoke else module.to_device(array)

    def torch_mlp(params: list[Any]) -> Callable[[], object]:
        x, w1, b1, w2, b2, w3, b3 = params
        return lambda: torch.relu(torch.relu(x @ w1 + b1) @ w2 + b2) @ w3 + b3

    for batch, title, unit, number in ((1, "B1  MLP, batch 1, on the device", "us/call", 200),
                                       (4096, "MLP, batch 4096", "samples/s", 20)):
        batch = min(batch, 8) if args.smoke else batch
        params = mlp_params(batch)
        on_device = [place(p, mlp) for p in params]
        contenders = {"hyc": (lambda on_device=on_device: mlp.mlp(*on_device), sync_hyc)}
        if torch:
            tensors = [torch.from_numpy(p).cuda() for p in params]
            contenders["torch eager"] = (torch_mlp(tensors), sync_torch)
            compiled = torch.compile(torch_mlp(tensors))
            contenders["torch.compile"] = (compiled, sync_torch)
        rows = timed(contenders, 2 if args.smoke else number, 3 if args.smoke else 5)
        convert = (lambda s: s * 1e6) if unit == "us/call" else (lambda s, b=batch: b / s)
        section(title, rows, unit, convert, report, "torch eager" if torch else None)

    n = 4096 if args.smoke else 64 << 20
    chain = hyc.compile(CHAIN, 2, target=target)
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(n).astype(np.float32) for _ in range(5)]
    on_device = [place(a, chain) for a in inputs]
    contenders = {"hyc (fused)": (lambda: chain.chain(*on_device), sync_hyc)}
    if torch:
        a, b, c, d, e = (torch.from_numpy(x).cuda() for x in inputs)
        contenders["torch eager"] = (lambda: torch.relu(a * b + c) * d - 0.5 * e, sync_torch)
        contenders["torch.compile"] = (torch.compile(lambda: torch.relu(a * b + c) * d - 0.5 * e),
                                       sync_torch)
        source, target_ = (torch.empty(3 * n, device="cuda") for _ in range(2))
        contenders["device-to-device copy"] = (lambda: target_.copy_(source), sync_torch)
    rows = timed(contenders, 2 if args.smoke else 20, 3 if args.smoke else 5)
    # bytes moved: 5 reads and 1 write of n floats; the copy reads and writes 3n floats, the
    # same 6n, so its rate is the bandwidth limit
    section(f"relu(a*b+c)*d - 0.5*e on {n} f32", rows, "GB/s",
            lambda s: 6 * n * 4 / s / 1e9, report, "device-to-device copy" if torch else None)

    size = 256 if args.smoke else 4096
    matmul = hyc.compile(MATMUL, 2, target=target)
    a, b = (rng.standard_normal((size, size)).astype(np.float32) for _ in range(2))
    da, db = place(a, matmul), place(b, matmul)
    contenders = {"hyc (tiled)": (lambda: matmul.mm(da, db), sync_hyc)}
    if torch:
        torch.backends.cuda.matmul.allow_tf32 = False
        ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
        contenders["cuBLAS (torch.mm, no TF32)"] = (lambda: torch.mm(ta, tb), sync_torch)
    rows = timed(contenders, 1 if args.smoke else 10, 3 if args.smoke else 5)
    section(f"f32 matmul {size}^3", rows, "TFLOP/s", lambda s: 2 * size ** 3 / s / 1e12, report,
            "cuBLAS (torch.mm, no TF32)" if torch else None)

    if args.json:
        versions = {"numpy": np.__version__, "torch": getattr(torch, "__version__", None)}
        Path(args.json).write_text(json.dumps({"device": device, "versions": versions,
                                               "sections": report}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
