"""Declarative pieces of an op definition: operand/result/attribute specs, traits, registry.

An op is one class::

    class ExpOp(UnaryElementwise):
        \"\"\"Elementwise e**x.\"\"\"
        name = "hy.exp"
        operand_defs = (OperandDef("input", FLOAT),)

The generic printer, parser and verifier read these declarations; accessors such as
``op.input`` or ``op.axes`` are generated from them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hyc.record import record

from .attributes import (
    ArrayAttr,
    Attribute,
    BoolAttr,
    DenseAttr,
    FloatAttr,
    IntAttr,
    StringAttr,
    SymbolRefAttr,
    TypeAttr,
    as_python,
)
from .types import MemRefType, Type, index, is_bool, is_float, is_numeric, is_scalar, is_value_type

if TYPE_CHECKING:
    from .core import Operation

OPS: dict[str, type[Operation]] = {}


# -- traits ---------------------------------------------------------------------------------
class Trait:
    """Marker base class; ops list traits in ``traits``."""


class Pure(Trait):
    """No side effects: may be removed when unused, duplicated, reordered or folded."""


class HasSideEffects(Trait):
    """Observable behaviour (``hy.print``): never dropped, duplicated or reordered."""


class Terminator(Trait):
    """Must be the last op of its block."""


class NoTerminator(Trait):
    """The op's regions' blocks end without a terminator (the module)."""


class IsolatedFromAbove(Trait):
    """Ops inside may not use values defined outside (functions)."""


class Elementwise(Trait):
    """Applies a scalar function to equally shaped operands, element by element."""


class Commutative(Trait):
    """Binary op whose operands may be swapped."""


# -- type constraints ------------------------------------------------------------------------
@record(frozen=True)
class TypeConstraint:
    description: str
    check: Callable[[Type], bool]


ANY_TYPE = TypeConstraint("any type", lambda t: True)
ANY_VALUE = TypeConstraint("a scalar or tensor", is_value_type)
NUMERIC = TypeConstraint("an integer or float scalar or tensor",
                         lambda t: is_value_type(t) and is_numeric(t))
FLOAT = TypeConstraint("a float scalar or tensor", lambda t: is_value_type(t) and is_float(t))
BOOL = TypeConstraint("an i1 scalar or tensor", lambda t: is_value_type(t) and is_bool(t))
INDEX = TypeConstraint("index", lambda t: t == index)
BOOL_SCALAR = TypeConstraint("an i1 scalar", lambda t: is_scalar(t) and is_bool(t))
SCALAR = TypeConstraint("a scalar", is_scalar)
VALUE_OR_BUFFER = TypeConstraint("a scalar, tensor or memref",
                                 lambda t: is_value_type(t) or isinstance(t, MemRefType))


@record(frozen=True)
class OperandDef:
    name: str
    constraint: TypeConstraint = ANY_VALUE
    variadic: bool = False


@record(frozen=True)
class ResultDef:
    name: str
    constraint: TypeConstraint = ANY_VALUE
    variadic: bool = False


# -- attribute specs ---------------------------------------------------------------------------
@record(frozen=True)
class AttrDef:
    description: str
    check: Callable[[Attribute], bool]
    optional: bool = False
    default: object = None


def _is_int_array(a: Attribute) -> bool:
    return isinstance(a, ArrayAttr) and all(isinstance(x, IntAttr) for x in a.value)


def int_attr(optional: bool = False, default: int | None = None) -> AttrDef:
    return AttrDef("an integer", lambda a: isinstance(a, IntAttr), optional, default)


def float_attr() -> AttrDef:
    return AttrDef("a float", lambda a: isinstance(a, FloatAttr))


def bool_attr(optional: bool = False, default: bool = False) -> AttrDef:
    return AttrDef("a boolean", lambda a: isinstance(a, BoolAttr), optional, default)


def int_array_attr() -> AttrDef:
    return AttrDef("an array of integers", _is_int_array)


def string_array_attr(optional: bool = False) -> AttrDef:
    return AttrDef("an array of strings", lambda a: isinstance(a, ArrayAttr) and all(
        isinstance(x, StringAttr) for x in a.value), optional, ())


def string_attr(optional: bool = False, default: str = "") -> AttrDef:
    return AttrDef("a string", lambda a: isinstance(a, StringAttr), optional, default)


def type_attr() -> AttrDef:
    return AttrDef("a type", lambda a: isinstance(a, TypeAttr))


def dense_attr() -> AttrDef:
    return AttrDef("a dense constant", lambda a: isinstance(a, DenseAttr))


def symbol_attr() -> AttrDef:
    return AttrDef("a symbol reference (@name)", lambda a: isinstance(a, SymbolRefAttr))


# -- registry and generated accessors ----------------------------------------------------------
def operand_groups(defs: tuple[OperandDef, ...] | tuple[ResultDef, ...],
                   count: int) -> dict[str, slice] | None:
    """Map each declared name to its slice of the actual list, or None if ``count`` can't fit.

    At most one definition is variadic; it takes whatever the fixed ones leave.
    """
    fixed = sum(1 for d in defs if not d.variadic)
    has_variadic = any(d.variadic for d in defs)
    if count < fixed or (not has_variadic and count != fixed):
        return None
    groups: dict[str, slice] = {}
    pos = 0
    for d in defs:
        width = count - fixed if d.variadic else 1
        groups[d.name] = slice(pos, pos + width)
        pos += width
    return groups


def _operand_accessor(name: str, variadic: bool, kind: str) -> property:
    def get(self: Any) -> Any:
        items: list[Any] = getattr(self, kind)
        defs = self.operand_defs if kind == "operands" else self.result_defs
        groups = operand_groups(defs, len(items))
        assert groups is not None, f"{self.name}: malformed {kind}"
        picked = items[groups[name]]
        return picked if variadic else picked[0]
    return property(get)


def _attr_accessor(name: str, spec: AttrDef) -> property:
    def get(self: Any) -> Any:
        attr = self.attributes.get(name)
        return spec.default if attr is None else as_python(attr)
    return property(get)


_RESERVED = {"name", "operands", "results", "attributes", "regions", "loc", "parent", "result",
             "traits", "walk", "erase"}


def register_op_class(cls: type[Operation]) -> None:
    """Called for every Operation subclass: registers it and generates named accessors."""
    value_defs: list[OperandDef | ResultDef] = [*cls.operand_defs, *cls.result_defs]
    for value_def in value_defs:
        if value_def.name in _RESERVED:
            raise TypeError(f"{cls.__name__}: operand/result name '{value_def.name}' is reserved")
    for operand in cls.operand_defs:
        setattr(cls, operand.name, _operand_accessor(operand.name, operand.variadic, "operands"))
    for result in cls.result_defs:
        if len(cls.result_defs) > 1 or result.variadic:
            setattr(cls, result.name, _operand_accessor(result.name, result.variadic, "results"))
    for attr_name, spec in cls.attr_defs.items():
        if attr_name in _RESERVED:
            raise TypeError(f"{cls.__name__}: attribute name '{attr_name}' is reserved")
        setattr(cls, attr_name, _attr_accessor(attr_name, spec))
    name = cls.__dict__.get("name")
    if name:
        if name in OPS:
            raise TypeError(f"op {name} is defined twice")
        OPS[name] = cls


def lookup_op(name: str) -> type[Operation] | None:
    return OPS.get(name)
