"""Compiled modules and the Python side of the calling convention.

``driver.compile_module`` runs the stages down to machine code and returns a
``CompiledModule`` whose functions are callables on numpy arrays. A call checks its
arguments once (count, dtype, shape with named dimensions, contiguity), allocates the results
(or takes ``out=``), fills the packed argument array and calls the machine code; a failed
run-time check becomes a ``ValueError``.
"""

from __future__ import annotations

import ctypes
import threading
from array import array as word_array
from collections.abc import Callable
from typing import NoReturn

import numpy as np

from hyc.ir import FuncOp, FunctionType, HycError, ModuleOp, parse_module, print_ir
from hyc.ir.diagnostics import RunTimeCheckError
from hyc.ir.interpreter import ArgumentTypeError, ArgumentValueError, check_shape, convert_argument
from hyc.ir.types import DYNAMIC, MemRefType, is_scalar, numpy_dtype, shape_of

from . import interrupts, pyentry
from .interrupts import INTERRUPTED
from .jit import JitModule
from .target import Target

SLOW_PATH = -1  # the native entry's answer for arguments it leaves to the careful path
_MISSING = object()


def _address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


def _probe_data_offset() -> int | None:
    """Where CPython's numpy arrays keep their data pointer (right after the object header),
    if this build agrees: reading it costs a tenth of ``arr.ctypes.data``."""
    probe = np.arange(3, dtype=np.float64)
    offset = 2 * ctypes.sizeof(ctypes.c_void_p)
    try:
        found = ctypes.c_void_p.from_address(id(probe) + offset).value
    except (ValueError, OSError):
        return None
    return offset if found == _address(probe) else None


_DATA_OFFSET = _probe_data_offset()


def data_pointer(array: np.ndarray) -> int:
    if _DATA_OFFSET is None:
        return _address(array)
    return ctypes.c_void_p.from_address(id(array) + _DATA_OFFSET).value or 0


def _scalar_word(value: np.ndarray) -> int:
    """A scalar's bits in the low bytes of a 64-bit word."""
    return int.from_bytes(value.tobytes().ljust(8, b"\0"), "little", signed=True)


_LAYOUT_OK = pyentry.layout_ok()


ResultSpec = tuple[np.dtype, tuple]


def _result_maker(specs: list[ResultSpec]) -> Callable[[tuple], tuple]:
    """A function from the arguments to fresh result arrays. It is on every call's path, so it
    is generated as straight-line Python, as ``dataclasses`` does: each size is a constant or
    an (argument, axis) pair, read as ``args[i].shape[axis]``."""
    def size(d: int | tuple[int, int]) -> str:
        return str(d) if isinstance(d, int) else f"args[{d[0]}].shape[{d[1]}]"

    arrays = [f"empty(({''.join(size(d) + ', ' for d in spec)}), dtype{i})"
              for i, (_, spec) in enumerate(specs)]
    namespace = {"empty": np.empty, **{f"dtype{i}": dtype for i, (dtype, _) in enumerate(specs)}}
    exec(f"def fresh(args):\n    return ({''.join(a + ', ' for a in arrays)})\n", namespace)
    return namespace["fresh"]  # type: ignore[return-value]


class CompiledFunction:
    """A native function with the signature of the tensor-level function it came from.

    A call takes a fast path for the common case (numpy arrays of the right dtype, C
    contiguous): a few attribute reads per argument, then one native call with the packed
    argument words; anything else goes through the full checks, which also give the errors.
    """

    def __init__(self, func: FuncOp, address: int | None, messages: list[str],
                 entry: int | None = None, code: object = None) -> None:
        self.name = func.sym_name
        self.type: FunctionType = func.type
        self.param_names = [a.name_hint or f"#{i}" for i, a in enumerate(func.body.args)]
        self.messages = messages
        named = {d for t in self.type.inputs for d in shape_of(t) if isinstance(d, str)}
        for t in self.type.results:
            unknown = [d for d in shape_of(t) if isinstance(d, str) and (d == DYNAMIC or d not in named)]
            if unknown:
                raise HycError(f"@{self.name} returns {t}: compiled functions need result sizes "
                               "that the arguments determine (a slice, concatenation or reshape "
                               "of a dynamic dimension has a size known only at run time)",
                               func.loc, code="E0804")
        self.plan = [(numpy_dtype(t), is_scalar(t), len(shape_of(t)),
                      tuple((axis, d) for axis, d in enumerate(shape_of(t)) if d != DYNAMIC))
                     for t in self.type.inputs]
        self.outputs = [(numpy_dtype(t), shape_of(t)) for t in self.type.results]
        # a function written at the buffer level may write into any buffer it is given: those
        # must be writeable arrays (the careful path checks; the native entry does not)
        self.writes_arguments = any(isinstance(t, MemRefType) for t in self.type.inputs)
        self._code: list[object] = []  # what keeps the machine code alive (jit.JitModule)
        self.retarget(address, entry, code)
        # where each result size comes from: a constant, or (argument, axis)
        sources = {}
        for i, t in reversed(list(enumerate(self.type.inputs))):
            sources.update({d: (i, axis) for axis, d in enumerate(shape_of(t))
                            if isinstance(d, str)})
        self._new_results = _result_maker([(dtype, tuple(d if isinstance(d, int) else sources[d]
                                                         for d in shape))
                                           for dtype, shape in self.outputs])

    def retarget(self, address: int | None, entry: int | None, code: object = None) -> None:
        """Call the machine code at ``address`` (and its Python entry ``entry``) from now on:
        tiered compilation swaps the full -O level's code in. Each attribute is replaced
        whole, so a concurrent call uses the old code or the new, never a mix; ``code``
        keeps the new machine code alive, and the old stays alive with this function, for
        a call that began in it."""
        if code is not None:
            self._code.append(code)
        if self.writes_arguments:
            entry = None
        builtin = pyentry.Builtin(self.name, entry) if entry and _LAYOUT_OK else None
        self._native = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p)(address) \
            if address is not None else None
        self._builtin, self._entry = builtin, builtin.function if builtin else None

    def __repr__(self) -> str:
        return f"<compiled @{self.name} {self.type}>"

    def __call__(self, *args: object, out: object = None, **named: object) -> object:
        if named:
            args = self._bind(args, named)
        results = self.try_fast(args, out)
        if results is not None:
            return results
        return self._call(args, out)

    def try_fast(self, args: tuple, out: object = None) -> object:
        """The call through the native entry, or None where the arguments need the careful
        path (not exact arrays of the right dtype, rank, sizes and layout; an ``out=`` that
        is not, or that shares memory with another array of the call)."""
        if self._entry is None or len(args) != len(self.plan):
            return None
        if out is None:
            try:
                results = self._new_results(args)
            except (AttributeError, IndexError, TypeError, ValueError):
                return None  # not arrays, or not of the right rank
        else:  # the entry checks these as it checks the arguments
            results = tuple(out) if isinstance(out, (tuple, list)) else (out,)
            if len(results) != len(self.outputs):
                return None
        status = self._entry(args, results)
        if status == 0:
            return out if out is not None else results[0] if len(results) == 1 else results
        if status == SLOW_PATH:
            return None
        self._failed(status)

    def _call(self, args: tuple, out: object) -> object:
        if len(args) != len(self.plan):
            raise ArgumentTypeError(f"@{self.name} takes {len(self.plan)} argument(s), "
                                    f"got {len(args)}", code="E1001")
        bindings: dict[str, int] = {}
        words: list[int] = []
        checked: list[np.ndarray] = []  # the arguments as arrays, after the checks
        for i, (value, (dtype, scalar, rank, dims)) in enumerate(zip(args, self.plan)):
            if scalar or type(value) is not np.ndarray or value.dtype is not dtype \
                    or not value.flags.c_contiguous or value.ndim != rank \
                    or (self.writes_arguments and not value.flags.writeable):
                value = self._argument(value, i, bindings)
                if scalar:
                    checked.append(value)
                    words.append(_scalar_word(value))
                    continue
            shape = value.shape
            for axis, expected in dims:
                size = shape[axis]
                if (size != expected) if type(expected) is int else \
                        (bindings.setdefault(expected, size) != size):
                    self._argument(value, i, bindings)  # raises the precise error
            checked.append(value)
            words.append(data_pointer(value))
            words.extend(shape)
        shapes = self._result_shapes(bindings)
        given = self._checked_out(out, shapes) if out is not None else None
        # Results are computed in place, so an out= array that overlaps an argument (or
        # another out=) gets a fresh array to compute into, copied over after: numpy's rule.
        results = given if given is not None and not self._overlapping(given, args) else \
            [np.empty(shape, dtype) for shape, (dtype, _) in zip(shapes, self.outputs)]
        self._run(checked, words, results)
        if given is not None:
            for target, result in zip(given, results):
                if target is not result:
                    target[...] = result
            return out
        values = [r[()] if r.ndim == 0 else r for r in results]
        return values[0] if len(values) == 1 else tuple(values) if values else None

    def _run(self, arguments: list[np.ndarray], words: list[int], results: list[np.ndarray]) -> None:
        """The native call, on the arguments' words and the results'."""
        for r in results:
            words.append(data_pointer(r))
            words.extend(r.shape)
        packed = word_array("q", words)
        assert self._native is not None
        status = self._native(packed.buffer_info()[0])
        if status:
            self._failed(status)

    def _bind(self, args: tuple, named: dict[str, object]) -> tuple:
        """Arguments given by parameter name, in their places."""
        values: list[object] = list(args) + [_MISSING] * (len(self.param_names) - len(args))
        for name, value in named.items():
            if name not in self.param_names:
                raise ArgumentTypeError(f"@{self.name} has no parameter '{name}' (its parameters: "
                                        f"{', '.join(self.param_names)})", code="E1001")
            position = self.param_names.index(name)
            if position < len(args):
                raise ArgumentTypeError(f"@{self.name} got '{name}' twice", code="E1001")
            values[position] = value
        missing = [n for n, v in zip(self.param_names, values) if v is _MISSING]
        if missing:
            raise ArgumentTypeError(f"@{self.name} is missing {', '.join(missing)}", code="E1001")
        return tuple(values)

    def _failed(self, status: int) -> NoReturn:
        if status == INTERRUPTED:
            interrupts.interrupted()
        raise RunTimeCheckError.from_message(self.messages[status - 1])

    def _argument(self, value: object, i: int, bindings: dict[str, int]) -> np.ndarray:
        """The full checks: the errors, and conversion of Python scalars."""
        t = self.type.inputs[i]
        what = f"argument '{self.param_names[i]}' of @{self.name}"
        array = convert_argument(value, t, what)
        check_shape(array, t, dict(bindings) if not is_scalar(t) else bindings, what)
        if array.ndim and not array.flags.c_contiguous:
            raise ArgumentValueError(f"{what} must be C-contiguous (use np.ascontiguousarray)", code="E1004")
        if self.writes_arguments and not is_scalar(t) and not array.flags.writeable:
            raise ArgumentValueError(f"{what} must be writeable: @{self.name} is written at the "
                                     "buffer level, where it may write into any buffer", code="E1004")
        return array

    @staticmethod
    def _overlapping(given: list[np.ndarray], args: tuple) -> bool:
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        return any(np.may_share_memory(g, other) for i, g in enumerate(given)
                   for other in arrays + given[i + 1:])

    def _result_shapes(self, bindings: dict[str, int]) -> list[tuple[int, ...]]:
        return [tuple(d if isinstance(d, int) else bindings[d] for d in shape)
                for _, shape in self.outputs]

    def _checked_out(self, out: object, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
        """The out= arrays, checked against the result shapes."""
        given = list(out) if isinstance(out, (tuple, list)) else [out]
        if len(given) != len(shapes):
            raise ArgumentTypeError(f"out= needs {len(shapes)} array(s) for @{self.name}", code="E1001")
        for array, shape, (dtype, _) in zip(given, shapes, self.outputs):
            if not isinstance(array, np.ndarray) or array.dtype != dtype or array.shape != shape:
                raise ArgumentValueError(f"out= must be a {dtype} array of shape {shape} for "
                                         f"@{self.name}", code="E1003")
            if not array.flags.c_contiguous or not array.flags.writeable:
                raise ArgumentValueError("out= must be C-contiguous and writeable", code="E1004")
        return given  # type: ignore[return-value]


class CompiledModule:
    """What ``hyc.compile`` returns: each function is an attribute; each stage as text."""

    tier_up: threading.Thread | None = None  # tiered compilation's thread (HYC_TIERED)

    def __init__(self, parts: dict, code: JitModule, target: Target,
                 tensor: ModuleOp | None = None) -> None:
        """``parts``: the stages as text (a disk-cache entry's); ``tensor``: the optimized
        tensor-level module they were printed from, when the caller has it (a compile: parsing
        its text again took 4 ms of the MLP's)."""
        tensor = tensor if tensor is not None else parse_module(parts["ir"])
        addresses = code.addresses
        self.target = target
        self.ir = print_ir(tensor)
        self.loops: str = parts["loops"]
        self.llvm_ir: str = parts["llvm_ir"]
        prefix, messages = parts["prefix"], parts["messages"]
        self.functions: dict[str, CompiledFunction] = {}
        # a function Python cannot call (its result size is known only at run time) is an
        # error when it is asked for, not for the whole module
        self.uncallable: dict[str, HycError] = {}
        for f in tensor.functions:
            if f.kernel:  # run by launches only
                continue
            name = f.sym_name
            try:
                self.functions[name] = CompiledFunction(f, addresses[prefix + name], messages,
                                                        addresses.get(prefix + name + "_py"), code)
            except HycError as e:
                self.uncallable[name] = e
        self._functions_as_attributes()

    def _functions_as_attributes(self) -> None:
        """Each function also an attribute of its own, where no attribute of the module has
        its name: ``mod.f`` is then a dictionary lookup, where ``__getattr__`` (reached only
        after the class's attributes were searched and an AttributeError made) took 1.1 us."""
        for name, function in self.functions.items():
            if name not in self.__dict__ and not hasattr(type(self), name):
                self.__dict__[name] = function

    def retarget(self, parts: dict, code: JitModule) -> None:
        """Run the machine code ``code`` (the full -O level's, tiered compilation)."""
        prefix, addresses = parts["prefix"], code.addresses
        for name, function in self.functions.items():
            function.retarget(addresses[prefix + name], addresses.get(prefix + name + "_py"), code)
        self.llvm_ir = parts["llvm_ir"]

    def wait_for_tier_up(self, timeout: float | None = None) -> bool:
        """With HYC_TIERED: wait until the full -O level's code runs (True), or ``timeout``
        seconds; without, the full code runs from the start."""
        if self.tier_up is not None:
            self.tier_up.join(timeout)
            return not self.tier_up.is_alive()
        return True

    def __getattr__(self, name: str) -> CompiledFunction:
        """Reached for a name that is no attribute (each function is one, see ``__init__``)."""
        functions = self.__dict__.get("functions", {})
        if name in self.__dict__.get("uncallable", {}):
            raise self.uncallable[name]
        raise AttributeError(f"the module has no function '{name}' "
                             f"(it has {', '.join(sorted(functions)) or 'none'})")

    def __getitem__(self, name: str) -> CompiledFunction:
        """The function ``name``, also where an attribute of the module has that name
        (``mod["loops"]``: ``mod.loops`` is the loop-level IR)."""
        if name in self.uncallable:
            raise self.uncallable[name]
        try:
            return self.functions[name]
        except KeyError:
            raise KeyError(f"the module has no function '{name}' (it has "
                           f"{', '.join(sorted(self.functions)) or 'none'})") from None

    def asm(self) -> str:
        """The target's assembly for the module."""
        from .jit import llvm_lock, parse
        with llvm_lock:
            machine = self.target.machine()
            return machine.emit_assembly(parse(self.llvm_ir, machine))
