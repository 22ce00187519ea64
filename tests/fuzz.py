"""The fuzzer: mutated .hy programs and .hyir modules, taken through every stage a user's file
goes through, with compiled code checked against the interpreter on arrays placed between
guard zones.

A case ends in one of: a located diagnostic, or a program whose compiled functions (for the
CPU, and for gpu-sim, whose PTX is emitted too) agree with the interpreter (the same values,
or the same kind of run-time error at -O0) and leave the red zones around their arrays
untouched. Anything else — an internal error, a traceback,
a wrong result, a write outside an array — fails it. ``python tests/fuzz.py hy 10000`` runs
a campaign in worker processes that also catches crashes (a signal) and hangs (a timeout);
the tests run a few hundred cases in process.

Mutations: the token edits of ``mutation.py``, plus odd Unicode (line separators, a BOM,
NUL, combining marks), huge numbers, deep nesting and buffer-level ops spliced into IR; and
(kind ``model``) byte-level damage to an exported model's .hyir and .npz.
"""

from __future__ import annotations

import functools
import io
import random
import re
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from mutation import mutate  # noqa: E402
from random_ir import random_arguments  # noqa: E402

HY_SOURCES = sorted((ROOT / "examples").glob("*.hy"))
IR_SOURCES = [ROOT / "examples" / "control.hyir", ROOT / "examples" / "mlp.hyir",
              HERE / "ir" / "ops.hyir", HERE / "ir" / "buf_ops.hyir"]
HY_TOKEN = re.compile(r"[A-Za-z_]\w*|\d+\.?\d*|\*\*|->|[=!<>]=|\n[ \t]*|\S")
IR_TOKEN = re.compile(r'%[\w.$-]+|@\w+|\^\w+|"[^"\n]*"|[\w.]+|->|\S')

ODD_TEXT = ["\u2028", "\u2029", "\x85", "\x0c", "\x0b", "\ufeff", "\x00", "\u0301", "\r",
            "\U0001f600", "\u00e9", "\t", "\\\n", "é", "\udcff"]
HUGE = ["9" * 30, "9" * 400, "9" * 5000, "18446744073709551616", "1e400", "-9" * 20,
        "99999999999999999999"]
BUFFER_OPS = [
    "buf.store %v, %m, %i : (f32, memref<4xf32>, index) -> ()",
    "%m = buf.alloc : memref<4xf32>", "buf.free %m : memref<4xf32>",
    "%c = buf.constant {value = dense<1.0> : tensor<4xf32>} : memref<4xf32>",
]


def mutate_more(text: str, rng: random.Random, token: re.Pattern[str], ir: bool) -> str:
    """A token mutation, and sometimes odd characters, huge numbers, deep nesting or a
    buffer-level op."""
    text = mutate(text, rng, token)
    extra = rng.random()
    if extra < 0.08:
        at = rng.randrange(len(text) + 1)
        text = text[:at] + rng.choice(ODD_TEXT) + text[at:]
    elif extra < 0.14:
        numbers = list(re.finditer(r"\d+", text))
        if numbers:
            m = rng.choice(numbers)
            text = text[:m.start()] + rng.choice(HUGE) + text[m.end():]
    elif extra < 0.17:
        depth = rng.choice([50, 300, 3000])
        m = re.search(r"return (\w+)" if not ir else r"\(\{", text)
        if m and not ir:
            text = text[:m.start(1)] + "relu(" * depth + m.group(1) + ")" * depth + text[m.end(1):]
        elif m:
            text = text[:m.start()] + "(" * depth + text[m.start():]
    elif extra < 0.20 and ir:
        lines = text.split("\n")
        at = rng.randrange(len(lines))
        lines.insert(at, "    " + rng.choice(BUFFER_OPS))
        text = "\n".join(lines)
    return text


# -- guard zones -----------------------------------------------------------------------------------
GUARD = 64
PATTERN = 0xA5


class Guarded:
    """Arrays placed in larger allocations with red zones before and after them."""

    def __init__(self) -> None:
        self.zones: list[tuple[np.ndarray, int]] = []

    def place(self, value: np.ndarray) -> np.ndarray:
        value = np.ascontiguousarray(value)
        base = np.full(value.nbytes + 2 * GUARD, PATTERN, np.uint8)
        view = base[GUARD:GUARD + value.nbytes].view(value.dtype).reshape(value.shape)
        view[...] = value
        self.zones.append((base, value.nbytes))
        return view

    def intact(self) -> bool:
        return all((base[:GUARD] == PATTERN).all() and (base[GUARD + n:] == PATTERN).all()
                   for base, n in self.zones)


# -- one case --------------------------------------------------------------------------------------
class Failure(AssertionError):
    pass


def located(error: Exception) -> bool:
    return all(d.loc.primary() or "nested too deeply" in d.message for d in error.diagnostics)  # type: ignore[attr-defined]


def coded(error: Exception) -> bool:
    """Every error the diagnostic holds names a registered code (notes have none)."""
    from hyc.ir.error_codes import registry
    return all(d.code in registry() for d in error.diagnostics if d.severity == "error")  # type: ignore[attr-defined]


def run_case(kind: str, text: str, seed: int) -> str:
    """Take one input through the stages; what it ended in, or raise Failure."""
    from hyc.ir import HycError
    if kind == "model":
        return run_model_case(*text, seed)  # type: ignore[misc]
    try:
        module = load(kind, text)
    except HycError as e:
        if "internal error" in str(e) or not coded(e) or (kind == "hy" and not located(e)):
            raise Failure(f"unlocated, uncoded or internal diagnostic: {e}") from None
        return "diagnostic"
    except Exception as e:
        raise Failure(f"{type(e).__name__} while loading: {e}") from None
    return compare(module, seed)


def load(kind: str, text: str):  # type: ignore[no-untyped-def]
    from hyc.frontend.irgen import compile_source
    from hyc.ir import parse_module, verify
    if kind == "hy":
        return compile_source(text, "fuzz.hy")
    module = parse_module(text, "fuzz.hyir")
    verify(module)
    return module


def compare(module, seed: int) -> str:  # type: ignore[no-untyped-def]
    """Compile at -O0 and -O2 for the CPU, and at -O2 for gpu-sim, and run each function on
    guarded arrays against the interpreter; emit the module's PTX too."""
    import hyc
    from hyc.codegen import jit
    from hyc.ir import HycError, Interpreter
    from hyc.passes.safety import is_buffer_level
    outcome = "compiled"
    for level, target in ((0, "cpu"), (2, "cpu"), (2, "gpu-sim"), (2, "gpu")):
        try:
            if target == "gpu":
                from hyc.codegen.driver import Compilation
                Compilation(module, level, target).stage("ptx")
                continue
            compiled = hyc.compile(module, opt_level=level, target=target)
        except HycError as e:
            if "internal error" in str(e) or not coded(e):
                raise Failure(f"-O{level} {target}: {e}") from None
            if target == "cpu":
                return "diagnostic"
            continue  # what the GPU targets refuse, they refuse with a diagnostic
        except Exception as e:
            raise Failure(f"-O{level} {target}: {type(e).__name__}: {e}") from None
        for func in module.functions:
            name = func.sym_name
            if name in compiled.uncallable:
                continue
            args = random_arguments(func, seed)
            if is_buffer_level(func):
                _compare_buffer_level(compiled, func, args, level)
                continue
            want_out = io.StringIO()
            try:
                want = Interpreter(module, want_out).call(name, *[a.copy() for a in args])
            except HycError:
                want = None  # the interpreter refuses: compiled code must not crash
            except (RecursionError, MemoryError, OverflowError, ValueError):
                continue
            guard = Guarded()
            placed = [guard.place(a) if a.ndim else a for a in args]
            printed = io.StringIO()
            jit.set_print_stream(printed)
            try:
                got = compiled[name](*placed)
            except (HycError, ValueError, TypeError) as e:
                if want is not None and level == 0:
                    raise Failure(f"-O0 @{name}: compiled code failed ({e}) where the "
                                  "interpreter did not") from None
                got = None
            finally:
                jit.set_print_stream(None)
            if not guard.intact():
                raise Failure(f"-O{level} @{name}: a red zone was written")
            if want is None and got is not None and level == 0:
                raise Failure(f"-O0 @{name}: compiled code ran where the interpreter failed")
            if want is not None and got is not None:
                _same(want, got, f"-O{level} @{name}")
                outcome = "agreed"
    return outcome


def _compare_buffer_level(compiled, func, args, level):  # type: ignore[no-untyped-def]
    """A function at the buffer level writes into its arguments: the interpreter and the
    compiled code each get their own copies (guarded, for the compiled code)."""
    from hyc.ir import HycError, Interpreter
    mine = [a.copy() for a in args]
    try:
        Interpreter(func.parent_op, io.StringIO()).call(func.sym_name, *mine)
        ok = True
    except HycError:
        ok = False
    except (RecursionError, MemoryError, OverflowError, ValueError):
        return
    guard = Guarded()
    placed = [guard.place(a) if a.ndim else a for a in args]
    from hyc.codegen import jit
    jit.set_print_stream(io.StringIO())
    try:
        compiled[func.sym_name](*placed)
        ran = True
    except (HycError, ValueError, TypeError):
        ran = False
    finally:
        jit.set_print_stream(None)
    if not guard.intact():
        raise Failure(f"-O{level} @{func.sym_name}: a red zone was written")
    if ok and ran:
        for w, g in zip(mine, placed):
            _same([w], [g], f"-O{level} @{func.sym_name} (buffer level)")


def _same(want, got, what: str) -> None:  # type: ignore[no-untyped-def]
    want = list(want) if isinstance(want, (tuple, list)) else [want]
    got = list(got) if isinstance(got, (tuple, list)) else [] if got is None else [got]
    for w, g in zip(want, got):
        w, g = np.asarray(w), np.asarray(g)
        if w.shape != g.shape or w.dtype != g.dtype:
            raise Failure(f"{what}: {g.dtype}{g.shape} where the interpreter gives {w.dtype}{w.shape}")
        tol = 1e-4 if w.dtype in (np.float32,) else 1e-9
        if w.dtype.kind == "f":
            # sums in another order differ by rounding relative to the largest terms
            scale = max(1.0, float(np.abs(w[np.isfinite(w)]).max(initial=0)))
            ok = np.allclose(g, w, rtol=tol, atol=tol * scale, equal_nan=True) or \
                not np.isfinite(w).all()  # infinities and NaN may come a different way
        else:
            ok = np.array_equal(g, w)
        if not ok:
            raise Failure(f"{what}: {g!r} where the interpreter gives {w!r}")


# -- tampered model files --------------------------------------------------------------------------
def _model_files() -> tuple[bytes, bytes]:
    """An exported model (a small MLP) as the bytes of its .hyir and .npz."""
    import tempfile

    from hyc import nn
    with tempfile.TemporaryDirectory() as folder:
        net = nn.Sequential(nn.Dense(3, activation="relu"), nn.Dense(2)).initialize(seed=0)
        net.hybridize()
        net(np.ones((1, 4), np.float32))
        net.export(Path(folder) / "m")
        return (Path(folder) / "m.hyir").read_bytes(), (Path(folder) / "m.npz").read_bytes()


def tamper(ir: bytes, npz: bytes, rng: random.Random) -> tuple[bytes, bytes]:
    """Byte-level damage to an exported model: flips, truncation, splices, odd bytes."""
    which = rng.random()
    data = bytearray(npz if which < 0.6 else ir)
    for _ in range(rng.randint(1, 4)):
        action = rng.random()
        at = rng.randrange(len(data) + 1)
        if action < 0.4 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif action < 0.55:
            data = data[:at]
        elif action < 0.75:
            data[at:at] = rng.choice([b"\xff\xfe", b"\x00", "\u2028".encode(), b"9" * 30,
                                      b"(" * 50, b"buf.free %x : memref<4xf32>\n"])
        else:
            end = min(len(data), at + rng.randint(1, 64))
            data[at:at] = data[at:end]  # a duplicated stretch
    return (ir, bytes(data)) if which < 0.6 else (bytes(data), npz)


def run_model_case(ir: bytes, npz: bytes, seed: int) -> str:
    import tempfile

    import hyc
    from hyc.ir import HycError
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "m.hyir").write_bytes(ir)
        (Path(folder) / "m.npz").write_bytes(npz)
        try:
            model = hyc.load(Path(folder) / "m")
        except HycError:
            return "diagnostic"
        except Exception as e:
            raise Failure(f"{type(e).__name__} while loading a model: {e}") from None
    guard = Guarded()
    x = guard.place(np.random.default_rng(seed).standard_normal((1, 4)).astype(np.float32))
    try:
        model(x)
    except (HycError, ValueError, TypeError):
        pass
    if not guard.intact():
        raise Failure("a red zone was written by a loaded model")
    return "loaded"


@functools.cache
def _sources(kind: str) -> tuple:  # type: ignore[type-arg]
    if kind == "model":
        return _model_files()
    return tuple(p.read_text() for p in (HY_SOURCES if kind == "hy" else IR_SOURCES))


def case(kind: str, number: int, seed: int = 0) -> tuple[object, int]:
    """Mutated input ``number`` of ``kind`` ('hy', 'ir' or 'model'), reproducibly: each case
    has its own generator, so a worker starts at any case at once."""
    rng = random.Random(f"{kind}-{seed}-{number}")
    if kind == "model":
        return tamper(*_sources(kind), rng), number
    texts = _sources(kind)
    token = HY_TOKEN if kind == "hy" else IR_TOKEN
    return mutate_more(texts[number % len(texts)], rng, token, kind == "ir"), number


def cases(kind: str, count: int, seed: int = 0) -> list[tuple[object, int]]:
    return [case(kind, i, seed) for i in range(count)]


# -- a campaign in worker processes ----------------------------------------------------------------
def _worker(kind: str, count: int, first: int, connection) -> None:  # type: ignore[no-untyped-def]
    """Run cases from ``first`` on, saying which one starts before running it."""
    import os
    os.environ["HYC_CACHE_DIR"] = "off"
    for number in range(first, count):
        connection.send(("start", number))
        text, seed = case(kind, number)
        try:
            connection.send(("ok", run_case(kind, text, seed)))
        except Failure as e:
            connection.send(("fail", str(e)))
    connection.send(("done", None))


def campaign(kind: str, count: int, timeout: float = 10.0) -> dict[str, int]:
    """Run ``count`` cases in a worker process; a case that kills it (a signal) or runs past
    ``timeout`` seconds is counted as a crash or a hang, and the worker starts again after
    it. Failing inputs are written to fuzz-failures/."""
    import multiprocessing as mp
    context = mp.get_context("fork")
    tally: dict[str, int] = {}
    first = 0

    def record(number: int, status: str, detail: str) -> None:
        key = detail if status == "ok" else status
        tally[key] = tally.get(key, 0) + 1
        if status != "ok":
            failures = ROOT / "fuzz-failures"
            failures.mkdir(exist_ok=True)
            suffix = ".hy" if kind == "hy" else ".hyir"
            text = case(kind, number)[0]
            if kind == "model":
                ir, npz = text  # type: ignore[misc]
                (failures / f"model-{number}.hyir").write_bytes(ir)  # type: ignore[arg-type]
                (failures / f"model-{number}.npz").write_bytes(npz)  # type: ignore[arg-type]
            else:
                (failures / f"{kind}-{number}{suffix}").write_text(text)  # type: ignore[arg-type]
            (failures / f"{kind}-{number}.txt").write_text(f"{status}: {detail}\n")
            print(f"case {number}: {status}: {detail[:300]}", flush=True)
        if sum(tally.values()) % 1000 == 0:
            print(f"{sum(tally.values())} cases: {tally}", flush=True)

    while first < count:
        parent, child = context.Pipe()
        process = context.Process(target=_worker, args=(kind, count, first, child))
        process.start()
        child.close()
        current = first
        while True:
            if not parent.poll(timeout):
                process.kill()
                record(current, "hang", f"over {timeout} s")
                break
            try:
                status, detail = parent.recv()
            except EOFError:
                process.join()
                record(current, "crash", f"exit code {process.exitcode}")
                break
            if status == "start":
                current = detail
            elif status == "done":
                current = count
                break
            else:
                record(current, status, detail)
                current += 1
        process.join()
        first = current + 1 if current < count else count
    return tally


if __name__ == "__main__":
    kind, count = sys.argv[1], int(sys.argv[2])
    result = campaign(kind, count)
    print(f"{kind}: {count} cases: {result}")
    sys.exit(0 if set(result) <= {"diagnostic", "compiled", "agreed", "loaded"} else 1)
