"""hyc beside numpy and, where installed, numba, PyTorch, JAX and ONNX Runtime.

    python benchmarks/run.py            # everything (B1..B5)
    python benchmarks/run.py B1 B3      # some sections

Every section runs its contenders in the same process on the same inputs, interleaving the
repeats (so that a noisy neighbour slows everyone alike), and prints the minimum and the
median of the repeats, and each contender's ratio to numpy. See docs/backend.md.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).parent.parent
MLP = ROOT / "examples" / "mlp.hy"
CHAIN = """
def chain(a: f32[N], b: f32[N], c: f32[N], d: f32[N], e: f32[N]) -> f32[N]:
    return relu(a * b + c) * d - 0.5 * e
"""


def have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def measure(contenders: dict[str, Callable[[], object]], number: int,
            repeats: int, settle: float = 0.0) -> dict[str, list[float]]:
    """Seconds per call of each contender, one list entry per repeat, interleaved. ``settle``
    seconds of quiet before each repeat let the previous contender's worker threads go to sleep
    (OpenBLAS and OpenMP threads spin for a while after their work, and on a machine with few
    cores the next contender's threads would find no core free)."""
    for fn in contenders.values():
        fn()  # warm up: compile, allocate, fill caches
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            time.sleep(settle)
            start = time.perf_counter()
            for _ in range(number):
                fn()
            times[name].append((time.perf_counter() - start) / number)
    return times


def table(title: str, times: dict[str, list[float]], unit: str,
          convert: Callable[[float], float]) -> None:
    """One row per contender: its fastest and median repeat in ``unit``, and how its median
    compares with numpy's."""
    print(f"\n{title}")
    print(f"  {'':24} {'best':>10} {'median':>10}  {unit:<8} vs numpy (median)")
    reference = statistics.median(times["numpy"]) if "numpy" in times else None
    for name, samples in times.items():
        best = min(samples)  # the fastest repeat, whatever the unit
        med = statistics.median(samples)
        ratio = ""
        if reference:
            ratio = f"{reference / med:.2f}x faster" if reference / med >= 1 else \
                f"{med / reference:.2f}x slower"
        print(f"  {name:<24} {convert(best):>10.2f} {convert(med):>10.2f}  {unit:<8} {ratio}")
    peers = {name: statistics.median(v) for name, v in times.items() if not name.startswith("hyc")}
    if peers and any(name.startswith("hyc") for name in times):
        peer = min(peers, key=peers.__getitem__)
        ours = min((n for n in times if n.startswith("hyc")), key=lambda n: statistics.median(times[n]))
        print(f"  {ours} vs the best peer ({peer}), medians: "
              f"{peers[peer] / statistics.median(times[ours]):.2f}x its speed")


# -- the MLP ------------------------------------------------------------------------------------
def mlp_params(batch: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    shapes = [(batch, 512), (512, 256), (256,), (256, 128), (128,), (128, 2), (2,)]
    return [(rng.standard_normal(s) * 0.1).astype(np.float32) for s in shapes]


def numpy_mlp(x, w1, b1, w2, b2, w3, b3):  # type: ignore[no-untyped-def]
    h1 = np.maximum(x @ w1 + b1, 0)
    h2 = np.maximum(h1 @ w2 + b2, 0)
    return h2 @ w3 + b3


def mlp_contenders(params: list[np.ndarray]) -> dict[str, Callable[[], object]]:
    import hyc
    compiled = hyc.compile(MLP, opt_level=3)
    hyc_jitted = hyc.jit(numpy_mlp, opt_level=3)
    direct = hyc_jitted.lower(*params).compile()  # the code hyc.jit runs, called as it is
    net = hybridized_mlp(params)
    x = params[0]
    contenders: dict[str, Callable[[], object]] = {
        "numpy": lambda: numpy_mlp(*params),
        "hyc (mlp.hy, any N)": lambda: compiled.mlp(*params),
        "hyc direct call": lambda: direct(*params),
        "hyc.jit(numpy_mlp)": lambda: hyc_jitted(*params),
        "hyc net.hybridize()": lambda: net(x),
    }
    if have("torch"):
        import torch
        tparams = [torch.from_numpy(p) for p in params]

        def torch_mlp(x, w1, b1, w2, b2, w3, b3):  # type: ignore[no-untyped-def]
            h1 = torch.relu(x @ w1 + b1)
            h2 = torch.relu(h1 @ w2 + b2)
            return h2 @ w3 + b3

        scripted = torch.jit.script(torch_mlp)
        compiled_by_torch = torch.compile(torch_mlp)  # compiles (tens of seconds) on warm-up
        with torch.no_grad():
            contenders["torch eager"] = lambda: torch_mlp(*tparams)
            contenders["torch.jit.script"] = lambda: scripted(*tparams)
            contenders["torch.compile"] = lambda: compiled_by_torch(*tparams)
    if have("numba"):
        import numba

        @numba.njit(cache=False, fastmath=False)
        def numba_mlp(x, w1, b1, w2, b2, w3, b3):  # type: ignore[no-untyped-def]
            h1 = np.maximum(x @ w1 + b1, 0)
            h2 = np.maximum(h1 @ w2 + b2, 0)
            return h2 @ w3 + b3

        contenders["numba"] = lambda: numba_mlp(*params)
    if have("jax"):
        import jax
        import jax.numpy as jnp
        jitted = jax.jit(lambda x, w1, b1, w2, b2, w3, b3: jnp.maximum(
            jnp.maximum(x @ w1 + b1, 0) @ w2 + b2, 0) @ w3 + b3)
        jparams = [jnp.asarray(p) for p in params]
        contenders["jax.jit"] = lambda: jitted(*jparams).block_until_ready()
    if have("onnxruntime") and have("onnx"):
        contenders["ONNX Runtime"] = onnx_mlp(params)
    return contenders


def hybridized_mlp(params: list[np.ndarray]) -> Callable[[np.ndarray], object]:
    """The chapter's Sequential of Dense layers holding the same parameters, hybridized."""
    from hyc import nn
    net = nn.Sequential(nn.Dense(256, activation="relu"), nn.Dense(128, activation="relu"),
                        nn.Dense(2))
    net.initialize()
    net(params[0])  # infers the input size
    for param, value in zip(net.parameters(), params[1:]):
        param.set_data(value)
    return net.hybridize(opt_level=3)


def onnx_mlp(params: list[np.ndarray]) -> Callable[[], object]:
    """The MLP as an ONNX graph whose parameters are inputs, as for every other contender."""
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper

    names = ["x", "w1", "b1", "w2", "b2", "w3", "b3"]
    nodes, h = [], "x"
    for layer in (1, 2, 3):
        nodes += [helper.make_node("MatMul", [h, f"w{layer}"], [f"m{layer}"]),
                  helper.make_node("Add", [f"m{layer}", f"b{layer}"], [f"a{layer}"])]
        h = f"a{layer}"
        if layer < 3:
            nodes.append(helper.make_node("Relu", [h], [f"h{layer}"]))
            h = f"h{layer}"
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, p.shape) for n, p in zip(names, params)]
    output = helper.make_tensor_value_info(h, TensorProto.FLOAT, (params[0].shape[0], 2))
    graph = helper.make_graph(nodes, "mlp", inputs, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("OMP_NUM_THREADS", "0"))
    session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    feeds = dict(zip(names, params))
    onnx.checker.check_model(model)
    return lambda: session.run(None, feeds)


def b1() -> None:
    params = mlp_params(1)
    times = measure(mlp_contenders(params), number=1000, repeats=7)
    table("B1  MLP 512-256-128-2, batch 1, 1000 calls", times, "us/call", lambda s: s * 1e6)
    direct = statistics.median(times["hyc direct call"])
    print("  the Python front ends over the direct compiled call (median): " + ", ".join(
        f"{name} {statistics.median(times[name]) / direct:.2f}x"
        for name in ("hyc.jit(numpy_mlp)", "hyc net.hybridize()")))
    call_overhead()


def call_overhead() -> None:
    """A call with 8 small arrays that adds two of them: the cost of getting in and out."""
    import hyc
    names = "abcdefgh"
    compiled = hyc.compile(f"def f({', '.join(f'{n}: f32[4]' for n in names)}) -> f32[4]:\n"
                           "    return a + h\n").f
    args = [np.ones(4, np.float32) for _ in names]
    jitted = hyc.jit(lambda a, b, c, d, e, f, g, h: a + h)
    contenders: dict[str, Callable[[], object]] = {"numpy": lambda: np.add(args[0], args[7]),
                                                   "hyc": lambda: compiled(*args),
                                                   "hyc.jit": lambda: jitted(*args)}
    if have("numba"):
        import numba

        @numba.njit
        def numba_f(a, b, c, d, e, f, g, h):  # type: ignore[no-untyped-def]
            return a + h

        contenders["numba"] = lambda: numba_f(*args)
    times = measure(contenders, number=20000, repeats=7)
    table("B1  call overhead: 8 arrays of 4 floats in, a + h out (numpy: np.add alone)", times,
          "us/call", lambda s: s * 1e6)


# What pins each contender to one thread, for B2's single-core run.
ONE_THREAD = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                     "NUMBA_NUM_THREADS", "HYC_NUM_THREADS")}


def b2() -> None:
    """At the thread counts the environment gives (all cores unless told), then, in a child
    process, at one thread each (thread pools are sized when their libraries load), the child
    pinned to one core: XLA's CPU runtime runs a matmul on all cores whatever its flags say."""
    b2_at_these_threads()
    if "OPENBLAS_NUM_THREADS" not in os.environ:
        core = min(os.sched_getaffinity(0))
        subprocess.run([sys.executable, __file__, "B2"], env={**os.environ, **ONE_THREAD},
                       check=True, preexec_fn=lambda: os.sched_setaffinity(0, {core}))


def b2_at_these_threads() -> None:
    for batch in (256, 4096):
        params = mlp_params(batch)
        flops = 2 * batch * (512 * 256 + 256 * 128 + 128 * 2)
        times = measure(mlp_contenders(params), number=5 if batch == 4096 else 50, repeats=5,
                        settle=0.3)
        table(f"B2  MLP batch {batch} (threads: {threads_note()})", times, "GFLOP/s",
              lambda s, f=flops: f / s / 1e9)
    for n in (1024, 2048):
        sgemm(n)


def sgemm(n: int) -> None:
    import hyc
    mm = hyc.compile(f"def mm(a: f32[{n}, {n}], b: f32[{n}, {n}]) -> f32[{n}, {n}]:\n"
                     "    return a @ b\n", opt_level=3)
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    contenders: dict[str, Callable[[], object]] = {"numpy": lambda: a @ b}
    if have("torch"):
        import torch
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        contenders["torch.mm"] = lambda: torch.mm(ta, tb)
    if have("numba"):
        import numba
        dot = numba.njit(lambda x, y: np.dot(x, y))
        contenders["numba np.dot"] = lambda: dot(a, b)
    contenders["hyc"] = lambda: mm.mm(a, b)
    # samples of several calls each (about 0.05 s): single calls of a few milliseconds
    # swung 2x on this shared machine from one run to the next
    times = measure(contenders, number=10 if n <= 1024 else 2, repeats=5, settle=0.3)
    table(f"B2  sgemm {n}^3 (threads: {threads_note()})", times, "GFLOP/s",
          lambda s: 2 * n ** 3 / s / 1e9)


def threads_note() -> str:
    numpy_threads = os.environ.get("OPENBLAS_NUM_THREADS", "all cores")
    hyc_threads = os.environ.get("HYC_NUM_THREADS", "all cores")
    return f"numpy {numpy_threads}, hyc {hyc_threads}"


def b3() -> None:
    import hyc
    n = 1 << 24
    rng = np.random.default_rng(2)
    a, b, c, d, e = (rng.standard_normal(n).astype(np.float32) for _ in range(5))
    chain = hyc.compile(CHAIN, opt_level=3).chain
    out = np.empty(n, np.float32)
    contenders = {
        "numpy": lambda: np.maximum(a * b + c, 0) * d - np.float32(0.5) * e,
        "hyc (fresh output)": lambda: chain(a, b, c, d, e),
        "hyc (out=)": lambda: chain(a, b, c, d, e, out=out),
    }
    if have("numba"):
        import numba

        @numba.njit(parallel=True)
        def numba_chain(a, b, c, d, e, out):  # type: ignore[no-untyped-def]
            for i in numba.prange(a.shape[0]):
                out[i] = max(a[i] * b[i] + c[i], np.float32(0)) * d[i] - np.float32(0.5) * e[i]
            return out

        contenders["numba parallel (out=)"] = lambda: numba_chain(a, b, c, d, e, out)
    if have("torch"):
        import torch
        ta, tb, tc, td, te = (torch.from_numpy(v) for v in (a, b, c, d, e))
        contenders["torch eager"] = lambda: torch.relu(ta * tb + tc) * td - 0.5 * te
    if have("jax"):
        import jax
        import jax.numpy as jnp
        jitted = jax.jit(lambda a, b, c, d, e: jnp.maximum(a * b + c, 0) * d - 0.5 * e)
        ja, jb, jc, jd, je = (jnp.asarray(v) for v in (a, b, c, d, e))
        contenders["jax.jit"] = lambda: jitted(ja, jb, jc, jd, je).block_until_ready()
    times = measure(contenders, number=1, repeats=5, settle=0.1)
    moved = 6 * n * 4  # five inputs read, one output written
    table("B3  relu(a*b + c)*d - 0.5*e on 16M f32", times, "GB/s",
          lambda s: moved / s / 1e9)


def b4() -> None:
    code = ("import time, hyc, numpy as np; t = time.perf_counter(); "
            "m = hyc.compile('examples/mlp.hy'); "
            "m.mlp(*[np.zeros(s, np.float32) for s in "
            "[(1, 512), (512, 256), (256,), (256, 128), (128,), (128, 2), (2,)]]); "
            "print(time.perf_counter() - t)")
    traced = ("import time, hyc, numpy as np; t = time.perf_counter(); "
              "from benchmarks.run import numpy_mlp; f = hyc.jit(numpy_mlp); "
              "f(*[np.zeros(s, np.float32) for s in "
              "[(1, 512), (512, 256), (256,), (256, 128), (128,), (128, 2), (2,)]]); "
              "print(time.perf_counter() - t)")
    imports = "import time; t = time.perf_counter(); import hyc; print(time.perf_counter() - t)"

    def fresh_process(snippet: str, cache: str, last_line: bool = True, tiered: bool = False) -> Any:
        env = {**os.environ, "HYC_CACHE_DIR": cache, "HYC_TIERED": "1" if tiered else "0"}
        done = subprocess.run([sys.executable, "-c", snippet], cwd=ROOT, capture_output=True,
                              text=True, env=env, check=True)
        line = done.stdout.strip().splitlines()[-1]
        return float(line) if last_line else line

    # another program with a matmul, compiled first: the runtime's kernels are then in the cache
    other = ("import hyc; hyc.compile('def f(a: f32[N, 8], b: f32[8, 4]) -> f32[N, 4]:\\n"
             "    return a @ b\\n'); print(0)")
    rows: dict[str, list[float]] = {"compile + first call, cold": [],
                                    "same, the runtime already cached": [],
                                    "compile + first call, cold, HYC_TIERED=1": [],
                                    "same, runtime cached, HYC_TIERED=1": [],
                                    "compile + first call, cached": [],
                                    "hyc.jit(numpy_mlp) first call, cold": [],
                                    "hyc.jit(numpy_mlp) first call, cached": [], "import hyc": []}
    stages: dict[str, list[float]] = {}
    for _ in range(5):
        with tempfile.TemporaryDirectory() as cache:
            rows["compile + first call, cold"].append(fresh_process(code, cache))
            rows["compile + first call, cached"].append(fresh_process(code, cache))
        with tempfile.TemporaryDirectory() as cache:
            fresh_process(other, cache)
            seeded = os.listdir(cache)
            rows["same, the runtime already cached"].append(fresh_process(code, cache))
            for name in set(os.listdir(cache)) - set(seeded):  # the MLP's entry: compile again
                os.remove(os.path.join(cache, name))
            rows["same, runtime cached, HYC_TIERED=1"].append(fresh_process(code, cache, tiered=True))
        rows["compile + first call, cold, HYC_TIERED=1"].append(fresh_process(code, "off", tiered=True))
        for stage, seconds in json.loads(fresh_process(COLD_STAGES, "off", last_line=False)).items():
            stages.setdefault(stage, []).append(seconds)
        with tempfile.TemporaryDirectory() as cache:  # tracing, then compiling the traced IR
            rows["hyc.jit(numpy_mlp) first call, cold"].append(fresh_process(traced, cache))
            rows["hyc.jit(numpy_mlp) first call, cached"].append(fresh_process(traced, cache))
        rows["import hyc"].append(fresh_process(imports, "off"))
    print("\nB4  in a fresh process, seconds (compile + first call after `import hyc, numpy`)")
    print(f"  {'':40} {'min':>8} {'median':>8}")
    for name, samples in rows.items():
        print(f"  {name:<40} {min(samples):>8.3f} {statistics.median(samples):>8.3f}")
    print("  the cold compile by stage (import hyc and numpy first, then each step of "
          "compile + first call):")
    for name, samples in stages.items():
        print(f"    {name:<38} {min(samples):>8.3f} {statistics.median(samples):>8.3f}")


# A fresh process's cold compile of the MLP, step by step: the imports the compile needs
# (frontend, passes, code generation, LLVM), then the driver's own timings of each stage.
COLD_STAGES = """
import json, time
t0 = time.perf_counter()
import numpy as np
import hyc
t1 = time.perf_counter()
from hyc.codegen.driver import Compilation
import hyc.frontend.irgen, hyc.passes, hyc.codegen.cpu, llvmlite.binding
t2 = time.perf_counter()
c = Compilation("examples/mlp.hy", 2, "cpu")
m = c.jit()
t3 = time.perf_counter()
m.mlp(*[np.zeros(s, np.float32) for s in [(1, 512), (512, 256), (256,), (256, 128), (128,),
                                           (128, 2), (2,)]])
t4 = time.perf_counter()
groups = {"import hyc, numpy": t1 - t0, "import the compiler": t2 - t1}
for name, seconds in c.timings:
    group = name if name.startswith("llvm") or name == "frontend" else "IR passes and lowering"
    groups[group] = groups.get(group, 0.0) + seconds
groups["the rest of compile (Python)"] = (t3 - t2) - sum(s for _, s in c.timings)
groups["first call"] = t4 - t3
print(json.dumps(groups))
"""


def b5() -> None:
    """The -O2 pipeline on ever longer programs: its time should grow linearly in the ops."""
    from hyc.frontend.irgen import compile_source
    from hyc.ir import print_ir
    from hyc.passes import optimize
    print("\nB5  -O2 pipeline (verified after each pass) on y = y + b repeated, seconds")
    print(f"  {'terms':>8} {'ops in':>8} {'seconds':>8} {'us/op':>8}  native compile, s")
    for terms in (500, 1000, 2000, 5000, 10000, 20000):
        body = "".join("    y = y + b\n" for _ in range(terms))
        source = f"def f(x: f32[N, 4], b: f32[4]) -> f32[N, 4]:\n    y = x\n{body}    return y\n"
        module = compile_source(source, "chain.hy")
        ops = sum(1 for _ in module.walk())
        start = time.perf_counter()
        optimize(module, 2)
        seconds = time.perf_counter() - start
        native = ""
        if terms <= 5000:  # the whole compile, LLVM included, once
            start = time.perf_counter()
            os.environ["HYC_CACHE_DIR"] = "off"
            import hyc
            hyc.compile(print_ir(compile_source(source, "chain.hy")))
            native = f"{time.perf_counter() - start:.2f}"
        print(f"  {terms:>8} {ops:>8} {seconds:>8.3f} {seconds / ops * 1e6:>8.1f}  {native}")


def b6() -> None:
    """Resident memory over many distinct compiles, in a fresh process: what each keeps."""
    count = int(os.environ.get("HYC_COMPILE_COUNT", "2000"))
    code = f"""
import time, hyc, numpy as np
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096
start = time.perf_counter()
for i in range({count} + 1):
    m = hyc.compile(f"def g(x: f32[N]) -> f32[N]:\\n    return relu(x * {{i}}.25 - 2.0)\\n")
    m.g(np.ones(3, np.float32))
    del m
    if i == 20:
        base = rss()
    if i > 20 and i % max(1, {count} // 4) == 0 or i == {count}:
        print(f"  {{i:>8}} {{(rss() - base) / 2**20:>10.1f}} {{(rss() - base) / (i - 20) / 1024:>12.2f}}"
              f" {{time.perf_counter() - start:>8.0f}}", flush=True)
"""
    print(f"\nB6  resident memory after distinct compiles (in a fresh process, cache off; "
          f"HYC_COMPILE_COUNT={count})")
    print(f"  {'compiles':>8} {'MiB grown':>10} {'KiB/compile':>12} {'seconds':>8}")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                   env={**os.environ, "HYC_CACHE_DIR": "off"})


SECTIONS = {"B1": b1, "B2": b2, "B3": b3, "B4": b4, "B5": b5, "B6": b6}


def host_line() -> str:
    """The machine the figures are from: its CPU model, LLVM's name for it, the vector
    features that matter to hyc's code, and the cores."""
    from hyc.codegen.target import host_cpu
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cpu = host_cpu()
    features = [f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512vnni", "amx-tile")
                if f"+{f}" in cpu.features.split(",")]
    return (f"host: {model} (LLVM: {cpu.cpu}; {', '.join(features) or 'no AVX2'}), "
            f"{os.cpu_count()} cores")


if __name__ == "__main__":
    chosen = [a.upper() for a in sys.argv[1:]] or list(SECTIONS)
    print(host_line())
    for name in chosen:
        SECTIONS[name]()
