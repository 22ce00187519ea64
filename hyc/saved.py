"""Loading exported models: ``path.hyir`` (textual IR) plus ``path.npz`` (parameters).

Loading can never run code: the IR is parsed and verified (and must be at the tensor level,
where compiled code is in bounds by construction), the arrays are read with
``allow_pickle=False``, and every array must match the argument it is for (name, dtype,
shape) before anything is compiled.
"""

from __future__ import annotations

import os
import zipfile
from typing import Any

import numpy as np

from hyc.codegen.compiled import CompiledFunction, compile_module
from hyc.ir import FuncOp, HycError, parse_module, verify
from hyc.ir.interpreter import ArgumentTypeError
from hyc.ir.types import DYNAMIC, numpy_dtype, shape_of
from hyc.passes.safety import is_buffer_level


def _paths(path: str | os.PathLike[str]) -> tuple[str, str]:
    base = os.fspath(path)
    for suffix in (".hyir", ".npz"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base + ".hyir", base + ".npz"


def read_parameters(path: str) -> dict[str, np.ndarray]:
    """Named arrays from an ``.npz`` archive, never unpickling; a damaged file is a HycError."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise HycError(f"{path}: not an .npz archive of named arrays")
        with loaded:
            return {name: loaded[name] for name in loaded.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise HycError(f"cannot load the parameters '{path}': {e}") from None


def _fits(array: np.ndarray, t: Any) -> bool:
    shape = shape_of(t)
    return array.dtype == numpy_dtype(t) and array.ndim == len(shape) and all(
        not isinstance(d, int) or d == s for d, s in zip(shape, array.shape))


def _show(t: Any) -> str:
    return f"{numpy_dtype(t)} {tuple(d if d != DYNAMIC else '?' for d in shape_of(t))}"


class LoadedModel:
    """An exported model, compiled: call it with the inputs (the parameters are bound)."""

    def __init__(self, path: str | os.PathLike[str], opt_level: int = 2, target: str = "cpu") -> None:
        ir_path, params_path = _paths(path)
        try:
            with open(ir_path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise HycError(f"cannot read the model '{ir_path}': {e.strerror}") from None
        module = parse_module(text, ir_path)
        verify(module)
        functions = module.functions  # type: ignore[attr-defined]
        if len(functions) != 1:
            raise HycError(f"{ir_path}: an exported model has one function, found {len(functions)}")
        func: FuncOp = functions[0]
        if is_buffer_level(func):
            raise HycError(f"{ir_path}: an exported model is tensor-level IR, as export writes "
                           "it; this one holds buffer-level values or ops, which hyc.load refuses",
                           func.loc)
        params = read_parameters(params_path)
        args = [(a.name_hint or f"arg{i}", a.type) for i, a in enumerate(func.body.args)]
        names = {n for n, _ in args}
        missing = [p for p in func.parameters if p not in params]  # type: ignore[attr-defined]
        if missing:
            raise HycError(f"{params_path} lacks {', '.join(missing)}, which @{func.sym_name} "  # type: ignore[attr-defined]
                           "takes as parameters")
        unexpected = sorted(set(params) - names)
        if unexpected:
            raise HycError(f"{params_path} holds {', '.join(unexpected)}, which @{func.sym_name} "  # type: ignore[attr-defined]
                           f"does not take (its arguments: {', '.join(n for n, _ in args)})")
        for name, t in args:
            if name in params and not _fits(params[name], t):
                raise HycError(f"{params_path}: '{name}' is a {params[name].dtype} array of shape "
                               f"{params[name].shape}, but @{func.sym_name} takes {_show(t)}")  # type: ignore[attr-defined]
        self.input_names = [n for n, _ in args if n not in params]
        self.parameters = params
        self._slots = [(n in params, params.get(n)) for n, _ in args]
        self.function: CompiledFunction = compile_module(module, opt_level, target).functions[func.sym_name]  # type: ignore[attr-defined]
        self.ir = text

    def __call__(self, *inputs: Any) -> Any:
        if len(inputs) != len(self.input_names):
            raise ArgumentTypeError(f"the model takes {len(self.input_names)} input(s) "
                                    f"({', '.join(self.input_names)}), got {len(inputs)}")
        it = iter(inputs)
        return self.function(*(value if is_param else next(it) for is_param, value in self._slots))

    def __repr__(self) -> str:
        return f"<hyc model ({', '.join(self.input_names)}) with {len(self.parameters)} parameters>"


def load(path: str | os.PathLike[str], opt_level: int = 2, target: str = "cpu") -> LoadedModel:
    """Load ``path.hyir`` and ``path.npz`` (as written by ``HybridBlock.export``)."""
    return LoadedModel(path, opt_level, target)
