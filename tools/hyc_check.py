"""``hyc check FILE``: the entry function compiled (``-O``, ``--target``) against its eager
run, and on a mismatch the pass or stage that caused it (codegen/check.py). Exit status 0
when they agree, 1 when they differ (or on an error)."""

from __future__ import annotations

import argparse
import sys

from hyc.ir import HycError

from .common import dim_sizes, load_module, read_source, run_tool


def build_arg_parser() -> argparse.ArgumentParser:
    from .hyc import build_arg_parser as hyc_parser
    parser = hyc_parser()
    parser.prog = "hyc check"
    parser.description = ("Compare the entry function compiled with its eager run; on a "
                          "mismatch, name the pass that causes it.")
    return parser


NOT_FOR_CHECK = ("emit", "run", "interpret", "output", "pass_pipeline", "clear_cache",
                 "gpu_sim_check")


def main(argv: list[str]) -> int:
    args = build_arg_parser().parse_args(argv)
    given = [f"--{name.replace('_', '-')}" for name in NOT_FOR_CHECK if getattr(args, name)]

    def body() -> int:
        if given:
            raise HycError(f"hyc check compiles and runs by itself: {', '.join(given)} "
                           "do(es) not go with it", code="E1101")
        if args.input is None:
            raise HycError("hyc check needs the input file", code="E1104")
        from hyc.codegen.check import check

        from .hyc import chosen_target, gather_arguments, pick_entry
        text, filename = read_source(args.input)
        module = load_module(text, filename)
        dim_sizes(args.dim)
        func = pick_entry(module, args.entry)
        values = gather_arguments(func, args)
        result = check(module, func.sym_name, values, args.opt_level, chosen_target(args))
        sys.stdout.write(result.report())
        return 0 if result.agreed else 1

    return run_tool("hyc check", body, args.quiet)
