"""Loading exported models: ``path.hyir`` (textual IR) plus ``path.npz`` (parameters).

Loading can never run code: the IR is parsed and verified (and must be at the tensor level,
where compiled code is in bounds by construction), the arrays are read with
``allow_pickle=False``, and every array must match the argument it is for (name, dtype,
shape) before anything is compiled.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from hyc.codegen.compiled import CompiledFunction
from hyc.codegen.driver import compile_module
from hyc.codegen.target import Target
from hyc.ir import FuncOp, HycError, parse_module, verify
from hyc.ir.interpreter import ArgumentTypeError
from hyc.ir.types import DYNAMIC, numpy_dtype, shape_of
from hyc.passes.safety import is_buffer_level

from .archives import Check, read_npz


def _paths(path: str | os.PathLike[str]) -> tuple[str, str]:
    base = os.fspath(path)
    for suffix in (".hyir", ".npz"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base + ".hyir", base + ".npz"


def read_parameters(path: str, check: Check | None = None) -> dict[str, np.ndarray]:
    """Named arrays from an ``.npz`` archive (hyc/archives.py: never unpickling, each header
    checked before its data is read); a damaged file is a HycError."""
    return read_npz(path, check)


def _fits(dtype: np.dtype, shape: tuple[int, ...], t: Any) -> bool:
    wanted = shape_of(t)
    return dtype == numpy_dtype(t) and len(shape) == len(wanted) and all(
        not isinstance(d, int) or d == s for d, s in zip(wanted, shape))


def _show(t: Any) -> str:
    return f"{numpy_dtype(t)} {tuple(d if d != DYNAMIC else '?' for d in shape_of(t))}"


class LoadedModel:
    """An exported model, compiled: call it with the inputs (the parameters are bound)."""

    def __init__(self, path: str | os.PathLike[str], opt_level: int = 2,
                 target: str | Target = "cpu") -> None:
        ir_path, params_path = _paths(path)
        try:
            with open(ir_path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise HycError(f"cannot read the model '{ir_path}': {e.strerror}", code="E0001") from None
        except UnicodeDecodeError as e:
            raise HycError(f"cannot read the model '{ir_path}': byte {e.start} is not UTF-8 "
                           "text", code="E0001") from None
        module = parse_module(text, ir_path)
        verify(module)
        functions = module.functions
        if len(functions) != 1:
            raise HycError(f"{ir_path}: an exported model has one function, found {len(functions)}",
                           code="E1204")
        func: FuncOp = functions[0]
        if is_buffer_level(func):
            raise HycError(f"{ir_path}: an exported model is tensor-level IR, as export writes "
                           "it; this one holds buffer-level values or ops, which hyc.load refuses",
                           func.loc, code="E1204")
        args = [(a.name_hint or f"arg{i}", a.type) for i, a in enumerate(func.body.args)]
        types = dict(args)
        callee = f"@{func.sym_name}"

        def fits(name: str, dtype: np.dtype, shape: tuple[int, ...]) -> str | None:
            if name not in types:
                return (f"it holds {name}, which {callee} does not take (its arguments: "
                        f"{', '.join(n for n, _ in args)})")
            if not _fits(dtype, shape, types[name]):
                return (f"'{name}' is a {dtype} array of shape {shape}, but {callee} takes "
                        f"{_show(types[name])}")
            return None

        params = read_parameters(params_path, fits)
        missing = [p for p in func.parameters if p not in params]
        if missing:
            raise HycError(f"{params_path} lacks {', '.join(missing)}, which {callee} "
                           "takes as parameters", code="E0006")
        self.input_names = [n for n, _ in args if n not in params]
        self.parameters = params
        self._slots = [(n in params, params.get(n)) for n, _ in args]
        self.function: CompiledFunction = compile_module(module, opt_level, target)[func.sym_name]
        self.ir = text

    def __call__(self, *inputs: Any) -> Any:
        if len(inputs) != len(self.input_names):
            raise ArgumentTypeError(f"the model takes {len(self.input_names)} input(s) "
                                    f"({', '.join(self.input_names)}), got {len(inputs)}", code="E1001")
        it = iter(inputs)
        return self.function(*(value if is_param else next(it) for is_param, value in self._slots))

    def __repr__(self) -> str:
        return f"<hyc model ({', '.join(self.input_names)}) with {len(self.parameters)} parameters>"


def load(path: str | os.PathLike[str], opt_level: int = 2, target: str | Target = "cpu") -> LoadedModel:
    """Load ``path.hyir`` and ``path.npz`` (as written by ``HybridBlock.export``)."""
    return LoadedModel(path, opt_level, target)
