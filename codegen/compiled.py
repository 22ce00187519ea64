"""Compiled modules and the Python side of the calling convention.

``compile_module`` runs the whole pipeline — frontend, ``-O`` passes, bufferization, LLVM,
machine code — and returns a ``CompiledModule`` whose functions are callables on numpy
arrays. A call checks its arguments once (count, dtype, shape with named dimensions,
contiguity), allocates the results (or takes ``out=``), fills the packed argument array
and calls the machine code; a failed run-time check becomes a ``ValueError``.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
from dataclasses import dataclass

import numpy as np
from llvmlite import ir

from hyc.ir import FuncOp, FunctionType, HycError, ModuleOp, parse_module, print_ir, verify
from hyc.ir.interpreter import ArgumentTypeError, ArgumentValueError, check_shape, convert_argument
from hyc.ir.types import DYNAMIC, Type, is_scalar, numpy_dtype, shape_of

from . import jit
from .lower import lower_module


class RunTimeCheckError(HycError, ValueError):
    """A size the program only knew when it ran broke a rule (the interpreter's errors)."""


def _address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]  # type: ignore[no-any-return]


class CompiledFunction:
    """A native function with the signature of the tensor-level function it came from."""

    def __init__(self, func: FuncOp, address: int, messages: list[str]) -> None:
        self.name = func.sym_name  # type: ignore[attr-defined]
        self.type: FunctionType = func.type
        self.param_names = [a.name_hint or f"#{i}" for i, a in enumerate(func.body.args)]
        self.messages = messages
        types = [*self.type.inputs, *self.type.results]
        self.offsets, words = [], 0
        for t in types:
            self.offsets.append(words)
            words += 1 + len(shape_of(t)) if not is_scalar(t) else 1
        self.words = words
        self.pointer_offsets = np.array(self.offsets, np.uintp) * 8
        named = {d for t in self.type.inputs for d in shape_of(t) if isinstance(d, str)}
        for t in self.type.results:
            unknown = [d for d in shape_of(t) if isinstance(d, str) and (d == DYNAMIC or d not in named)]
            if unknown:
                raise HycError(f"@{self.name} returns {t}: compiled functions need result sizes "
                               "that the arguments determine", func.loc)
        self._native = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p)(address)

    def __repr__(self) -> str:
        return f"<compiled @{self.name} {self.type}>"

    def __call__(self, *args: object, out: object = None) -> object:
        if len(args) != len(self.type.inputs):
            raise ArgumentTypeError(f"@{self.name} takes {len(self.type.inputs)} argument(s), "
                                    f"got {len(args)}")
        bindings: dict[str, int] = {}
        arrays = [self._argument(a, t, n, bindings)
                  for a, t, n in zip(args, self.type.inputs, self.param_names)]
        results = self._outputs(out, bindings)
        words = np.empty(self.words, np.int64)
        for array, t, offset in zip(arrays, self.type.inputs, self.offsets):
            if is_scalar(t):  # a scalar argument travels by value in its slot
                words[offset:offset + 1].view(array.dtype)[0] = array
            else:
                words[offset] = _address(array)
                words[offset + 1:offset + 1 + array.ndim] = array.shape
        for array, offset in zip(results, self.offsets[len(arrays):]):  # results: buffers
            words[offset] = _address(array)
            words[offset + 1:offset + 1 + array.ndim] = array.shape
        pointers = self.pointer_offsets + _address(words)
        status = self._native(_address(pointers))
        if status:
            raise RunTimeCheckError(self.messages[status - 1])
        values = [r[()] if r.ndim == 0 else r for r in results]
        if out is not None:
            return out
        return values[0] if len(values) == 1 else tuple(values) if values else None

    def _argument(self, value: object, t: Type, name: str, bindings: dict[str, int]) -> np.ndarray:
        what = f"argument '{name}' of @{self.name}"
        array = convert_argument(value, t, what)
        check_shape(array, t, bindings, what)
        if array.ndim and not array.flags.c_contiguous:
            raise ArgumentValueError(f"{what} must be C-contiguous (use np.ascontiguousarray)")
        return array

    def _outputs(self, out: object, bindings: dict[str, int]) -> list[np.ndarray]:
        shapes = [tuple(d if isinstance(d, int) else bindings[d] for d in shape_of(t))
                  for t in self.type.results]
        dtypes = [numpy_dtype(t) for t in self.type.results]
        if out is None:
            return [np.empty(s, d) for s, d in zip(shapes, dtypes)]
        given = list(out) if isinstance(out, (tuple, list)) else [out]
        if len(given) != len(shapes):
            raise ArgumentTypeError(f"out= needs {len(shapes)} array(s) for @{self.name}")
        for array, shape, dtype in zip(given, shapes, dtypes):
            if not isinstance(array, np.ndarray) or array.dtype != dtype or array.shape != shape:
                raise ArgumentValueError(f"out= must be a {dtype} array of shape {shape} for "
                                         f"@{self.name}")
            if not array.flags.c_contiguous or not array.flags.writeable:
                raise ArgumentValueError("out= must be C-contiguous and writeable")
        return given  # type: ignore[return-value]


class CompiledModule:
    """What ``hyc.compile`` returns: each function is an attribute; each stage as text."""

    def __init__(self, tensor: ModuleOp, loops: ModuleOp, compiled: jit.JitModule,
                 messages: list[str], prefix: str) -> None:
        self.ir = print_ir(tensor)
        self.loops = print_ir(loops)
        self.llvm_ir = compiled.llvm_ir
        self._compiled = compiled
        self.functions = {f.sym_name: CompiledFunction(  # type: ignore[attr-defined]
            f, compiled.addresses[prefix + f.sym_name], messages) for f in tensor.functions}  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> CompiledFunction:
        functions = self.__dict__.get("functions", {})
        if name in functions:
            return functions[name]  # type: ignore[no-any-return]
        raise AttributeError(f"the module has no function '{name}' "
                             f"(it has {', '.join(sorted(functions)) or 'none'})")

    def asm(self) -> str:
        return self._compiled.target_machine.emit_assembly(self._compiled.module)  # type: ignore[no-any-return]


def load(source: str | os.PathLike | ModuleOp) -> ModuleOp:  # type: ignore[type-arg]
    """A verified module from a path, .hy source text, .hyir text or a module (copied: the
    compiler transforms what it loads)."""
    if isinstance(source, ModuleOp):
        return parse_module(print_ir(source, debuginfo=True))  # type: ignore[return-value]
    text, filename = str(source), "<source>"
    if isinstance(source, os.PathLike) or ("\n" not in text and len(text) < 4096
                                            and os.path.exists(text)):
        filename = os.fspath(source)
        with open(filename, encoding="utf-8") as f:
            text = f.read()
    if filename.endswith(".hy") or (not filename.endswith(".hyir") and "def " in text):
        from hyc.frontend.irgen import compile_source
        return compile_source(text, filename if filename != "<source>" else "<source>.hy")
    module = parse_module(text, filename)
    verify(module)
    return module  # type: ignore[return-value]


@dataclass
class Lowered:
    """Every stage of one compilation, down to LLVM IR (before LLVM's own passes)."""
    tensor: ModuleOp  # optimized, at the tensor level
    loops: ModuleOp  # at the buffer and loop level
    llvm: ir.Module
    messages: list[str]
    prefix: str


def lower(source: str | os.PathLike | ModuleOp, opt_level: int = 2, prefix: str | None = None,  # type: ignore[type-arg]
          target: str = "cpu") -> Lowered:
    """Frontend, the -O pipeline, bufferization and LLVM IR. ``prefix`` names the symbols
    (by default a hash of the module, so that modules never clash in one process)."""
    if target != "cpu":
        raise HycError(f"unknown target '{target}' (hyc compiles for 'cpu')")
    if opt_level not in (0, 1, 2, 3):
        raise HycError(f"opt_level must be 0, 1, 2 or 3, not {opt_level!r}")
    from hyc.passes import LOWER_TO_LOOPS, PassManager, optimize, parse_pipeline
    module = load(source)
    optimize(module, opt_level)
    tensor = parse_module(print_ir(module, debuginfo=True))
    PassManager(parse_pipeline(LOWER_TO_LOOPS)).run(module)
    if prefix is None:
        prefix = "hyc_" + hashlib.sha256(print_ir(module).encode()).hexdigest()[:12] + "_"
    llvm_module, messages = lower_module(module, prefix)
    return Lowered(tensor, module, llvm_module, messages, prefix)  # type: ignore[arg-type]


def compile_module(source: str | os.PathLike | ModuleOp, opt_level: int = 2,  # type: ignore[type-arg]
                   target: str = "cpu") -> CompiledModule:
    """Compile to native code for this machine's CPU, ready to call from Python."""
    stages = lower(source, opt_level, target=target)
    compiled = jit.compile_module(stages.llvm, opt_level)
    return CompiledModule(stages.tensor, stages.loops, compiled, stages.messages, stages.prefix)

