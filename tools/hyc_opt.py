"""``hyc-opt``: the IR-to-IR tool, like mlir-opt. Parses, verifies and prints textual IR."""

from __future__ import annotations

import argparse
import functools
import re
import sys

from hyc.ir import HycError, print_ir, render_all

from .common import (
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

SPLIT_MARKER = re.compile(r"^// -----\s*$", re.MULTILINE)


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hyc-opt", description="Parse, verify and print hyc IR.")
    p.add_argument("input", nargs="?", default="-", help="a .hyir file, or - for stdin (default)")
    p.add_argument("-o", dest="output", metavar="PATH", help="write the IR here (default stdout)")
    p.add_argument("--dump-ir", action="store_true",
                   help="print the resulting module (the default output)")
    p.add_argument("--print-debuginfo", action="store_true", help="print op locations")
    p.add_argument("--print-op-generic", action="store_true",
                   help='print every op in the generic form "dialect.op"(...)')
    p.add_argument("--split-input-file", action="store_true",
                   help="treat '// -----' lines as separators of independent inputs")
    p.add_argument("--list-passes", action="store_true", help="list the passes and exit")
    add_pipeline_options(p, default_level=None)
    add_version(p)
    return p


def split_input(text: str) -> list[str]:
    """Chunks padded with newlines so that diagnostics keep the file's line numbers."""
    chunks, start, line = [], 0, 0
    for m in SPLIT_MARKER.finditer(text):
        chunks.append("\n" * line + text[start:m.start()])
        line += text.count("\n", start, m.end())
        start = m.end()
    chunks.append("\n" * line + text[start:])
    return chunks


def main(argv: list[str] | None = None) -> int:
    args = build_arg_parser().parse_args(argv)
    args.explicit_level = level_was_given(argv)
    if args.list_passes:
        from hyc.passes import list_passes
        sys.stdout.write(list_passes())
        return 0

    def body() -> int:
        text, filename = read_source(args.input)
        chunks = split_input(text) if args.split_input_file else [text]
        printed, failed = [], False
        for chunk in chunks:
            compilation = None
            try:
                compilation = compilation_for(functools.partial(load_module, chunk, filename), args)
                module = compilation.optimized_ir()
                report_memory(module, args, dim_sizes(args.dim))
                write_report(compilation, args, f"hyc-opt {args.input}")
            except HycError as e:
                sys.stderr.write(render_all(e.diagnostics) + "\n")
                failed = True
                continue
            finally:
                if args.timing and compilation is not None:
                    sys.stderr.write(compilation.timing_report())
            printed.append(print_ir(module, debuginfo=args.print_debuginfo,
                                    generic=args.print_op_generic))
        write_output("// -----\n".join(printed), args.output)
        return 1 if failed else 0

    return run_tool("hyc-opt", body, args.quiet)


if __name__ == "__main__":
    sys.exit(main())
