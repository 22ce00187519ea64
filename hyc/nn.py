"""``hyc.nn``: Gluon-style blocks written as numpy code, run imperatively or hybridized.

A ``Block`` runs its ``forward`` as plain Python on numpy arrays. A ``HybridBlock`` can
``hybridize()``: its next call traces ``forward`` (children included) into one hy function
whose arguments are the inputs and then the parameters, compiles it, and later calls with
the same input signature run the compiled code. ``export`` writes that function as textual
IR plus the parameters as ``.npz``; ``hyc.load`` (or the ``hyc`` command) runs it again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from hyc.frontend.tracing import active_trace
from hyc.ir import HycError, print_ir
from hyc.ir.attributes import ArrayAttr, StringAttr

from . import functions as F
from .jitted import JitFunction, Lowered, parameters_changed

if TYPE_CHECKING:
    from hyc.codegen.target import Target


class Parameter:
    """A named array of a block; its shape may wait for the first input (``None`` entries)."""

    def __init__(self, shape: tuple[int | None, ...], init: str = "uniform",
                 dtype: Any = np.float32) -> None:
        self.shape = tuple(shape)
        self.init = init
        self.dtype = np.dtype(dtype)
        self._data: np.ndarray | None = None
        self._rng: np.random.Generator | None = None  # kept for a deferred initialization

    @property
    def data(self) -> np.ndarray | None:
        """The array (None until initialized). Assigning one replaces it everywhere, compiled
        versions included; changing it in place is seen as well."""
        return self._data

    @data.setter
    def data(self, array: np.ndarray | None) -> None:
        self._data = array
        parameters_changed()

    def __repr__(self) -> str:
        shape = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"Parameter(shape=({shape}), dtype={self.dtype})"

    @property
    def initialized(self) -> bool:
        return self.data is not None

    def initialize(self, rng: np.random.Generator, force: bool = False) -> None:
        if self.data is not None and not force:
            return
        self._rng = rng
        if all(d is not None for d in self.shape):
            self._fill()

    def infer_shape(self, shape: tuple[int, ...]) -> None:
        """Fix the unknown dimensions (on first use) and initialize if ``initialize`` ran."""
        if any(d is not None and d != s for d, s in zip(self.shape, shape)) or \
                len(shape) != len(self.shape):
            raise ValueError(f"parameter of shape {self.shape} cannot take shape {shape}")
        self.shape = tuple(shape)
        if self.data is None and self._rng is not None:
            self._fill()

    def _fill(self) -> None:
        assert self._rng is not None
        if self.init == "zeros":
            self.data = np.zeros(self.shape, self.dtype)  # type: ignore[arg-type]
        else:  # uniform in +-1/sqrt(fan_in), fan_in being the first dimension
            bound = 1.0 / np.sqrt(max(self.shape[0] or 1, 1))
            self.data = self._rng.uniform(-bound, bound, self.shape).astype(self.dtype)  # type: ignore[arg-type]

    def set_data(self, array: Any) -> None:
        array = np.ascontiguousarray(array, dtype=self.dtype)
        if any(d is not None and d != s for d, s in zip(self.shape, array.shape)) or \
                array.ndim != len(self.shape):
            raise ValueError(f"parameter of shape {self.shape} cannot take an array of shape "
                             f"{array.shape}")
        self.shape = array.shape
        self.data = array

    def value(self, name: str) -> Any:
        """The array forward code sees: the trace's argument while hybridizing, else the data."""
        if self.data is None:
            raise HycError(f"parameter {name} is not initialized: call initialize() on the "
                           "block first" + (" (its shape is inferred from the first input)"
                                            if None in self.shape else ""), code="E1201")
        trace = active_trace()
        if trace is not None:
            bound = trace.parameter(self, self.data)
            if bound is not None:
                return bound
        return self.data


class Block:
    """A piece of a model: holds parameters and child blocks, computes ``forward``."""

    def __init__(self) -> None:
        object.__setattr__(self, "_children", {})
        object.__setattr__(self, "_params", {})

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Block):
            self._children[name] = value
            parameters_changed()  # compiled blocks holding this one check their structure
        elif isinstance(value, Parameter):
            self._params[name] = value
            parameters_changed()
        else:
            object.__setattr__(self, name, value)

    def structure(self) -> tuple[int, ...]:
        """What the block is built of, as identities: its parameters and children, all the
        way down, in order."""
        return (*map(id, self._params.values()),
                *(i for child in self._children.values() for i in (id(child), *child.structure())))

    def __getattr__(self, name: str) -> Any:
        params = self.__dict__.get("_params", {})
        if name in params:
            return params[name].value(f"'{name}' of {type(self).__name__}")
        children = self.__dict__.get("_children", {})
        if name in children:
            return children[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, param in self._params.items():
            yield prefix + name, param
        for name, child in self._children.items():
            yield from child.named_parameters(f"{prefix}{name}.")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def collect_params(self) -> dict[str, np.ndarray]:
        """The parameters by name (``dense0.weight``, ...), as their numpy arrays."""
        out = {}
        for name, param in self.named_parameters():
            if param.data is None:
                raise HycError(f"parameter '{name}' is not initialized yet", code="E1201")
            out[name] = param.data
        return out

    def save_parameters(self, path: str | os.PathLike[str]) -> None:
        """Write the parameters to an ``.npz`` archive, by name."""
        arrays: dict[str, Any] = dict(self.collect_params())  # numpy's stub types **kwds oddly
        np.savez(path, **arrays)

    def load_parameters(self, path: str | os.PathLike[str]) -> None:
        """Read parameters written by ``save_parameters`` (with ``allow_pickle=False``): every
        parameter must be there, with its dtype and (known) shape."""
        from .saved import read_parameters
        arrays = read_parameters(os.fspath(path))
        named = dict(self.named_parameters())
        problems = []
        if missing := sorted(set(named) - set(arrays)):
            problems.append(f"it lacks {', '.join(missing)}")
        if unexpected := sorted(set(arrays) - set(named)):
            problems.append(f"it holds {', '.join(unexpected)}, which the block does not have")
        if problems:
            raise HycError(f"{os.fspath(path)} does not match the block: {'; '.join(problems)}", code="E0006")
        for name, param in named.items():
            array = arrays[name]
            if array.dtype != param.dtype:
                raise HycError(f"{os.fspath(path)}: '{name}' is {array.dtype}, the parameter "
                               f"is {param.dtype}", code="E0006")
            try:
                param.set_data(array)
            except ValueError as e:
                raise HycError(f"{os.fspath(path)}: '{name}': {e}", code="E0006") from None

    def initialize(self, seed: int | None = None, force_reinit: bool = False) -> Block:
        """Draw the parameters from a generator seeded with ``seed``; those whose shape
        depends on the input are drawn on the first call."""
        rng = np.random.default_rng(seed)
        for _, param in self.named_parameters():
            param.initialize(rng, force_reinit)
        return self

    def forward(self, *args: Any) -> Any:
        raise TypeError(f"{type(self).__name__} does not define forward(self, x)")

    def __call__(self, *args: Any) -> Any:
        return self.forward(*args)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}("]
        lines += [f"  ({name}): " + repr(child).replace("\n", "\n  ")
                  for name, child in self._children.items()]
        return "\n".join(lines) + ")" if self._children else f"{type(self).__name__}()"


class HybridBlock(Block):
    """A block whose ``forward`` uses only numpy-style code, so that it can be compiled."""

    def __init__(self) -> None:
        super().__init__()
        object.__setattr__(self, "_jit", None)

    def hybridize(self, active: bool = True, *, opt_level: int = 2, target: str | Target = "cpu",
                  dynamic: dict[str, Any] | None = None) -> HybridBlock:
        """Compile ``forward`` on the next call (``hybridize(False)`` goes back to Python).
        ``dynamic`` names symbolic input axes, as for ``hyc.jit``."""
        jitted = None
        if active:
            jitted = JitFunction(self.forward, opt_level, target, dynamic,
                                 name=type(self).__name__, parameter_names=self._parameter_ids,
                                 blocks=self.structure)
        object.__setattr__(self, "_jit", jitted)
        return self

    def lower(self, *args: Any) -> Lowered:
        """Trace ``forward`` for these inputs, as ``hyc.jit(f).lower`` does: the IR after the
        pipeline (``.as_text()``), the LLVM IR, the assembly (whether hybridized or not)."""
        jitted = self._jit or JitFunction(self.forward, name=type(self).__name__,
                                          parameter_names=self._parameter_ids)
        return jitted.lower(*args)

    def _parameter_ids(self) -> dict[int, str]:
        return {id(p): name for name, p in self.named_parameters()}

    def __call__(self, *args: Any) -> Any:
        jitted = self._jit
        # while tracing an enclosing block, the jitted function runs forward on the proxies
        return self.forward(*args) if jitted is None else jitted(*args)

    def export(self, path: str | os.PathLike[str]) -> tuple[str, str]:
        """Write the hybridized function as ``path.hyir`` and its parameters as
        ``path.npz`` (by argument name); returns both paths. The block must have run hybridized."""
        jitted = self._jit
        spec = jitted.latest if jitted is not None else None
        if spec is None:
            raise HycError("export needs a hybridized block that has run once: call "
                           "hybridize() and then the block on an input", code="E1202")
        base = os.fspath(path)
        func = spec.module.functions[0]
        names = [a.name_hint for a in func.body.args]
        params = dict(zip(names[len(names) - len(spec.params):], spec.params))
        if len(set(names)) != len(names):
            raise HycError(f"export: argument names collide: {names}", code="E1202")
        module = spec.module.clone()
        module.functions[0].attributes["parameters"] = ArrayAttr(
            [StringAttr(name) for name in params])
        with open(base + ".hyir", "w", encoding="utf-8") as f:
            f.write(print_ir(module))
        np.savez(base + ".npz", **{name: p.data for name, p in params.items()})
        return base + ".hyir", base + ".npz"


class Sequential(HybridBlock):
    """Blocks applied in order; children are named after their class: ``dense0``, ``dense1``."""

    def __init__(self, *blocks: Block) -> None:
        super().__init__()
        self.add(*blocks)

    def add(self, *blocks: Block) -> Sequential:
        for block in blocks:
            setattr(self, f"{type(block).__name__.lower()}{len(self._children)}", block)
        return self

    def __getitem__(self, i: int) -> Block:
        return list(self._children.values())[i]

    def __len__(self) -> int:
        return len(self._children)

    def forward(self, x: Any) -> Any:
        for block in self._children.values():
            x = block(x)
        return x


ACTIVATIONS: dict[str, Callable[[Any], Any]] = {
    "relu": F.relu, "sigmoid": F.sigmoid, "tanh": np.tanh, "softmax": F.softmax,
}


class Dense(HybridBlock):
    """``activation(x @ weight + bias)``: ``weight`` is ``(in_units, units)``, inferred from the
    first input when ``in_units`` is not given."""

    def __init__(self, units: int, activation: str | None = None, use_bias: bool = True,
                 in_units: int | None = None, dtype: Any = np.float32) -> None:
        super().__init__()
        if activation is not None and activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation '{activation}' (choose from "
                             f"{', '.join(ACTIVATIONS)})")
        self.units, self.activation, self.use_bias = units, activation, use_bias
        self.weight = Parameter((in_units, units), dtype=dtype)
        if use_bias:
            self.bias = Parameter((units,), init="zeros", dtype=dtype)

    def forward(self, x: Any) -> Any:
        weight = self._params["weight"]
        if None in weight.shape:
            in_units = x.shape[-1]
            if not isinstance(in_units, int):
                raise HycError("Dense cannot infer its input size from a dynamic last axis: "
                               "give in_units", code="E1203")
            weight.infer_shape((in_units, self.units))
        y = x @ self.weight
        if self.use_bias:
            y = y + self.bias
        return ACTIVATIONS[self.activation](y) if self.activation else y

    def __repr__(self) -> str:
        shape = self._params["weight"].shape
        return (f"Dense({'?' if shape[0] is None else shape[0]} -> {self.units}"
                f"{', ' + self.activation if self.activation else ''})")


__all__ = ["Block", "Dense", "HybridBlock", "Parameter", "Sequential"]
