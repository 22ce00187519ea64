"""``hyc``: the compiler driver. It reads .hy source or textual IR (.hyir), takes it through the
stages (codegen/driver.py) for the target the flags choose, writes the stage --emit asks
for, and runs the entry function natively or with the reference interpreter."""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

from hyc.archives import read_npy, read_npz
from hyc.codegen.driver import STAGES, Compilation
from hyc.codegen.target import TARGETS, Target, cpu_target, resolve
from hyc.ir import FuncOp, HycError, ModuleOp
from hyc.ir.interpreter import Interpreter, format_value
from hyc.ir.types import Type, is_float, numpy_dtype, shape_of

from .common import (
    SOURCE_KINDS,
    add_pipeline_options,
    add_version,
    compilation_for,
    dim_sizes,
    level_was_given,
    load_module,
    read_source,
    report_memory,
    run_tool,
    write_output,
    write_report,
)

DEFAULT_DYNAMIC_SIZE = 4


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hyc", description="Compile and run hyc programs. "
                                "'hyc check FILE ...' compares the compiled entry function with "
                                "its eager run and names the pass that breaks a result "
                                "(hyc check --help).")
    p.add_argument("input", nargs="?", help="a .hy source or .hyir textual IR file (- reads IR "
                                            "from stdin)")
    p.add_argument("--clear-cache", action="store_true",
                   help="empty the compiled-code cache (HYC_CACHE_DIR) and exit")
    p.add_argument("--explain", metavar="CODE",
                   help="explain an error code (error[E0301]) with an example, and exit")
    p.add_argument("--emit", choices=STAGES, metavar="STAGE",
                   help="the stage to write: the frontend's IR (tensor), the optimized IR (ir), "
                        "the buffer and loop level (loops), the target's loop level (target; "
                        "gpu for the GPU targets), LLVM IR as hyc makes it (llvm-raw) or after "
                        "LLVM's passes (llvm), assembly (asm; ptx for --target=gpu), an object "
                        "file (obj), or a shared library and C header (lib)")
    target = p.add_argument_group("target (llc's flags)")
    target.add_argument("--target", default="cpu", choices=TARGETS,
                        help="what to compile for: cpu (this machine's, the default), gpu (PTX "
                             "for NVIDIA GPUs: writes FILE.ptx unless --emit says otherwise) or "
                             "gpu-sim (the GPU kernels, run by this machine's CPU)")
    target.add_argument("--gpu-sim-check", action="store_true",
                        help="with --run --target=gpu-sim: run the kernels on the interpreter, "
                             "checking for races and out-of-bounds accesses (slow)")
    target.add_argument("--gpu-arch", metavar="sm_NN",
                        help="with --target=gpu: the GPUs' compute capability (default sm_80; "
                             "sm_90 for H100/H200)")
    target.add_argument("--mcpu", metavar="NAME",
                        help="the CPU to compile for (x86-64-v2, skylake, native, ...); its "
                             "features follow from it (default: this machine's CPU)")
    target.add_argument("--mattr", metavar="+FEAT,-FEAT",
                        help="CPU features to add or remove, e.g. +avx2,-fma")
    target.add_argument("--mtriple", metavar="TRIPLE",
                        help="another architecture or system, e.g. aarch64-linux-gnu (objects, "
                             "assembly and libraries only: such code cannot run here)")
    p.add_argument("-o", dest="output", metavar="PATH", help="where --emit writes (default stdout)")
    p.add_argument("--print-debuginfo", action="store_true", help="print op locations")
    p.add_argument("--run", action="store_true",
                   help="compile the entry function to native code and run it")
    p.add_argument("--interpret", action="store_true",
                   help="with --run: execute with the reference interpreter instead")
    p.add_argument("--entry", metavar="NAME", help="function to run (default: main, else the only one)")
    p.add_argument("--arg", action="append", default=[], metavar="NAME=FILE.npy",
                   help="an argument of the entry function from a .npy file (repeatable)")
    p.add_argument("--args", metavar="FILE.npz", help="arguments of the entry function by name")
    p.add_argument("--random-args", action="store_true",
                   help="fill missing arguments from a seeded random generator")
    p.add_argument("--seed", type=_seed, default=0, help="seed for --random-args (default 0)")
    add_pipeline_options(p, default_level=2)
    add_version(p)
    return p


def _seed(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return int(text)


RUN_ONLY = ("interpret", "random_args", "arg", "args", "entry")


def check_flags(args: argparse.Namespace) -> None:
    """Flags that would do nothing in this combination are errors, not silently ignored."""
    if not args.run:
        given = [f"--{name.replace('_', '-')}" for name in RUN_ONLY if getattr(args, name)]
        if args.seed:
            given.append("--seed")
        if given:
            raise HycError(f"{', '.join(given)} only work(s) with --run", code="E1101")
    elif args.output is not None and args.emit is None:
        raise HycError("-o says where --emit writes; --run prints its results (redirect them, or "
                       "give --emit=STAGE too)", code="E1101")


def check_dims(module: ModuleOp, dims: dict[str, int]) -> None:
    named = {d for f in module.functions for t in f.type.inputs
             for d in shape_of(t) if isinstance(d, str)}
    unknown = sorted(set(dims) - named)
    if unknown:
        raise HycError(f"--dim {', '.join(unknown)}: the program has no dimension named so "
                       f"(its dimensions: {', '.join(sorted(named - {'?'})) or 'none'})", code="E1102")


def pick_entry(module: ModuleOp, name: str | None) -> FuncOp:
    functions = {f.sym_name: f for f in module.functions}
    if not functions:
        raise HycError("the module has no function to run", code="E1005")
    if name is None:
        if "main" in functions:
            name = "main"
        elif len(functions) == 1:
            name = next(iter(functions))
        else:
            raise HycError(f"several functions ({', '.join(sorted(functions)) or 'none'}) and no "
                           "'main': choose one with --entry NAME", code="E1005")
    if name not in functions:
        raise HycError(f"no function named '{name}' (available: {', '.join(sorted(functions))})",
                       code="E1005")
    return functions[name]


def gather_arguments(func: FuncOp, args: argparse.Namespace) -> list[object]:
    params = [(a.name_hint or f"arg{i}", a.type) for i, a in enumerate(func.body.args)]
    known = {n for n, _ in params}
    given: dict[str, object] = {}
    if args.args:
        given.update(read_npz(args.args))
    for item in args.arg:
        name, sep, path = item.partition("=")
        if not sep:
            raise HycError(f"--arg expects NAME=FILE.npy, got '{item}'", code="E1102")
        given[name] = read_npy(path)
    unknown = sorted(set(given) - known)
    if unknown and not args.args:
        raise HycError(f"@{func.sym_name} has no parameter named {', '.join(unknown)} "
                       f"(parameters: {', '.join(n for n, _ in params)})", code="E1103")
    rng = np.random.default_rng(args.seed)
    sizes = dim_sizes(args.dim)
    values = []
    for name, type_ in params:
        if name in given:
            values.append(given[name])
        elif args.random_args:
            values.append(random_value(type_, rng, sizes))
        else:
            raise HycError(f"missing argument '{name}' of @{func.sym_name}: give --arg "
                           f"{name}=FILE.npy, --args FILE.npz or --random-args", code="E1103")
    return values


# --random-args makes arrays of at most this many elements (4 GiB of f64)
RANDOM_ELEMENT_LIMIT = 2**29


def random_value(type_: Type, rng: np.random.Generator, sizes: dict[str, int]) -> np.ndarray:
    shape = tuple(d if isinstance(d, int) else sizes.get(d, DEFAULT_DYNAMIC_SIZE)
                  for d in shape_of(type_))
    if math.prod(shape) > RANDOM_ELEMENT_LIMIT:
        raise HycError(f"--random-args would make a {type_} argument of shape {shape}: more "
                       f"than 2**29 elements (choose smaller --dim sizes)", code="E1102")
    dtype = numpy_dtype(type_)
    if is_float(type_):
        return rng.standard_normal(shape).astype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    return rng.integers(0, 10, shape).astype(dtype)


def run_entry(compilation: Compilation, args: argparse.Namespace) -> None:
    """--run: the entry function of the optimized module, compiled for this machine (or
    interpreted)."""
    module = compilation.optimized_ir()
    func = pick_entry(module, args.entry)
    values = gather_arguments(func, args)
    name = func.sym_name
    if args.interpret:
        results = Interpreter(module).call(name, *values)
    else:
        # its own compilation: a library's symbols and position-independent code are not
        # the JIT's; the flags' pipeline ran already
        native = Compilation(module, compilation.opt_level, compilation.target, optimized=True)
        try:
            returned = native.jit()[name](*values)
        finally:
            compilation.timings.extend(native.timings)
        results = returned if isinstance(returned, tuple) else () if returned is None else (returned,)
    sys.stdout.flush()
    for r in results:
        sys.stdout.write(format_value(np.asarray(r)) + "\n")


NATIVE_STAGES = ("llvm-raw", "llvm", "asm", "ptx", "obj", "lib")


def emit(compilation: Compilation, args: argparse.Namespace) -> None:
    """--emit=STAGE: the stage's text on stdout (or -o), an object file or a library."""
    from hyc.codegen import aot
    stem = stem_of(args)
    if args.emit == "lib":
        library, header = aot.build_library(compilation, args.output or f"{stem}.so")
        sys.stderr.write(f"hyc: wrote {library} and {header}\n")
        return
    produced = compilation.text(args.emit, debuginfo=args.print_debuginfo)
    if isinstance(produced, bytes):
        path = args.output or f"{stem}.o"
        try:
            with open(path, "wb") as f:
                f.write(produced)
        except OSError as e:
            raise HycError(f"cannot write '{path}': {e.strerror}", code="E0002") from None
        return
    write_output(produced, args.output)


def write_gpu_files(compilation: Compilation, args: argparse.Namespace) -> None:
    """--target=gpu: the PTX and the launch plan, FILE.ptx and FILE.plan.json (-o: the PTX's
    path; the plan goes beside it)."""
    import json
    ptx_path = args.output or f"{stem_of(args)}.ptx"
    plan_path = os.path.splitext(ptx_path)[0] + ".plan.json"
    plan = json.loads(compilation.text("plan"))
    plan["ptx"] = os.path.basename(ptx_path)
    write_output(compilation.text("ptx"), ptx_path)
    write_output(json.dumps(plan, indent=1) + "\n", plan_path)
    sys.stderr.write(f"hyc: wrote {ptx_path} and {plan_path}\n")


def stem_of(args: argparse.Namespace) -> str:
    return "module" if args.input == "-" else os.path.splitext(os.path.basename(args.input))[0]


def chosen_target(args: argparse.Namespace) -> Target:
    if args.gpu_sim_check:
        if args.target != "gpu-sim" or not args.run:
            raise HycError("--gpu-sim-check checks a run: it goes with --run --target=gpu-sim", code="E1101")
        os.environ["HYC_GPU_SIM_CHECK"] = "1"
    if args.gpu_arch and args.target != "gpu":
        raise HycError(f"--gpu-arch chooses the GPU of --target=gpu, not --target={args.target}",
                       code="E1101")
    if args.target == "cpu":
        return cpu_target(args.mcpu, args.mattr, args.mtriple)
    given = [f"--{name}" for name in ("mcpu", "mattr", "mtriple") if getattr(args, name)]
    if given:
        raise HycError(f"{', '.join(given)} choose(s) a CPU: they go with --target=cpu, not "
                       f"--target={args.target}", code="E1101")
    if args.target == "gpu":
        from hyc.codegen.nvptx import gpu_target
        return gpu_target(args.gpu_arch or "sm_80")
    return resolve(args.target)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["check"]:
        from .hyc_check import main as check
        return check(argv[1:])
    parser = build_arg_parser()
    args = parser.parse_args(argv)
    args.explicit_level = level_was_given(argv)

    def body() -> int:
        if args.explain:
            from hyc.ir.error_codes import explain
            sys.stdout.write(explain(args.explain))
            return 0
        check_flags(args)
        if args.clear_cache:
            import hyc
            hyc.clear_cache()
            return 0
        if args.input is None:
            raise HycError("the input file is required (hyc FILE [options]; hyc --help lists "
                           "them)", code="E1104")
        ext = os.path.splitext(args.input)[1]
        if args.input != "-" and ext not in SOURCE_KINDS:
            raise HycError(f"'{args.input}': hyc reads .hy source and .hyir textual IR files", code="E0005")
        text, filename = read_source(args.input)
        target = chosen_target(args)
        if args.run and not args.interpret:
            target.check_runnable()
        gpu_files = args.target == "gpu" and args.emit is None and not args.run
        native = args.emit in NATIVE_STAGES
        compilation = compilation_for(lambda: load_module(text, filename), args, target,
                                      prefix=aot_prefix() if native else None, shared=native)
        try:
            check_dims(compilation.tensor(), dim_sizes(args.dim))
            if gpu_files:
                write_gpu_files(compilation, args)
            elif args.emit is not None:
                emit(compilation, args)
            elif not args.run:
                write_output(compilation.text("ir", debuginfo=args.print_debuginfo), args.output)
            report_memory(compilation.optimized_ir(), args, dim_sizes(args.dim))
            if args.run:
                run_entry(compilation, args)
            if args.report:  # down to the target's code, so that its stages are in it too
                compilation.stage("ptx" if target.name == "gpu" else "asm")
                if target.name == "gpu":
                    assemble_ptx(compilation)
                write_report(compilation, args, f"hyc {args.input} -O{compilation.opt_level} "
                                                f"--target={target.name}")
        finally:
            if args.timing:
                sys.stderr.write(compilation.timing_report())
        return 0

    return run_tool("hyc", body, args.quiet)


def assemble_ptx(compilation: Compilation) -> None:
    """ptxas on the PTX, timed (for --report), where the CUDA toolkit's ptxas is on PATH."""
    import shutil
    import subprocess
    import tempfile
    ptxas = shutil.which("ptxas")
    if ptxas is None:
        return
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "module.ptx")
        with open(path, "w") as f:
            f.write(str(compilation.text("ptx")))
        with compilation.timed(f"ptxas (-arch={compilation.target.cpu})"):
            done = subprocess.run([ptxas, f"-arch={compilation.target.cpu}", path, "-o",
                                   os.path.join(scratch, "module.cubin")],
                                  capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise HycError(f"ptxas refused the PTX: {done.stderr.strip()[:500]}", code="E0909")


def aot_prefix() -> str:
    from hyc.codegen.aot import PREFIX
    return PREFIX


if __name__ == "__main__":
    sys.exit(main())
