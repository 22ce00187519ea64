"""Records: classes of named fields, written like dataclasses, made without generating code.

``@dataclass`` makes each method of a class (``__init__``, ``__repr__``, ``__eq__``, a frozen
class's ``__setattr__``) by compiling Python source: 0.15-0.6 ms a class. hyc defines some
eighty classes of fields (syntax nodes, types, attributes, passes and their options), and
making them as dataclasses took 40 ms of a fresh process's `import hyc` and first compile
(0.1 s and 0.2 s in all, measured on a Zen 3). A record's methods are functions shared by
every record, which read the class's fields from ``__record_fields__``: a class is made in
microseconds, and an instance costs about a microsecond more to construct.

What a record does is what the dataclass with the same arguments does: fields in the order
of the annotations (a base record's first), defaults and ``field(default_factory=...)``,
``__post_init__``, ``__match_args__``; ``eq`` compares the type and the fields that
``compare``; ``frozen`` forbids assignment and hashes the fields that compare (a record that
compares and is not frozen is unhashable). A method the class defines itself is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen record."""


class Field:
    """A record's field: its ``name``, its annotation as written (``type``), its default (or
    the function that makes one), and whether equality and hashing look at it."""

    __slots__ = ("name", "type", "default", "default_factory", "compare")

    def __init__(self, default: Any = MISSING, default_factory: Callable[[], Any] | None = None,
                 compare: bool = True) -> None:
        self.name, self.type = "", ""
        self.default, self.default_factory, self.compare = default, default_factory, compare

    def __repr__(self) -> str:
        return f"Field({self.name!r}, default={self.default!r})"


def field(*, default: Any = MISSING, default_factory: Callable[[], Any] | None = None,
          compare: bool = True, hash: bool | None = None) -> Any:
    """A field's default (``default``, or ``default_factory()`` for each instance) and whether
    it takes part in equality and hashing (``compare``; ``hash=False`` as dataclasses spell
    it for a field that compares but is not hashed is not supported: a record hashes what it
    compares)."""
    assert hash is None or hash == compare, "a record hashes the fields it compares"
    return Field(default, default_factory, compare)


def fields(record_or_class: object) -> tuple[Field, ...]:
    """The record's fields, in order (a dataclass's too: a pass written as one works)."""
    cls = record_or_class if isinstance(record_or_class, type) else type(record_or_class)
    if "__record_fields__" not in cls.__dict__ and "__dataclass_fields__" in cls.__dict__:
        import dataclasses
        return dataclasses.fields(cls)  # type: ignore[return-value]
    return cls.__record_fields__  # type: ignore[attr-defined]


def replace(obj: T, **changes: Any) -> T:
    """A copy of the record ``obj`` with the fields ``changes`` names set to new values."""
    values = {f.name: getattr(obj, f.name) for f in fields(obj)}
    values.update(changes)
    return type(obj)(**values)


def _init(self: Any, *args: Any, **named: Any) -> None:
    spec = type(self).__record_fields__
    if len(args) > len(spec):
        raise TypeError(f"{type(self).__name__}() takes {len(spec)} arguments, got {len(args)}")
    for f, value in zip(spec, args):
        object.__setattr__(self, f.name, value)
    for f in spec[len(args):]:
        if f.name in named:
            value = named.pop(f.name)
        elif f.default is not MISSING:
            value = f.default
        elif f.default_factory is not None:
            value = f.default_factory()
        else:
            raise TypeError(f"{type(self).__name__}() missing argument {f.name!r}")
        object.__setattr__(self, f.name, value)
    if named:
        raise TypeError(f"{type(self).__name__}() got an unexpected argument {next(iter(named))!r}")
    post_init = getattr(self, "__post_init__", None)
    if post_init is not None:
        post_init()


def _repr(self: Any) -> str:
    values = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in type(self).__record_fields__)
    return f"{type(self).__qualname__}({values})"


def _eq(self: Any, other: object) -> bool:
    # the compared values gathered by an attrgetter, in C: types are compared and hashed often
    compared: Callable[[object], object] = type(self).__record_compared__
    if type(other) is not type(self):
        return NotImplemented
    return self is other or compared(self) == compared(other)


def _hash(self: Any) -> int:
    return hash(type(self).__record_compared__(self))


def _nothing(self: Any) -> tuple:
    return ()


def _frozen_setattr(self: Any, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _own_fields(cls: type) -> list[Field]:
    made = []
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
            continue
        value = cls.__dict__.get(name, MISSING)
        if isinstance(value, Field):  # the class attribute was only the field's spec
            f = value
            if value.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, value.default)
        else:
            f = Field(value)
        f.name, f.type = name, str(annotation)
        made.append(f)
    return made


def _make(cls: type, frozen: bool, eq: bool, repr: bool) -> type:
    spec: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for f in base.__dict__.get("__record_fields__", ()):
            spec[f.name] = f
    for f in _own_fields(cls):
        spec[f.name] = f
    cls.__record_fields__ = tuple(spec.values())  # type: ignore[attr-defined]
    cls.__match_args__ = tuple(spec)  # type: ignore[attr-defined,misc]
    compared = [f.name for f in spec.values() if f.compare]
    # the values equality and hashing look at (a tuple of them, one value, or none)
    cls.__record_compared__ = attrgetter(*compared) if compared else _nothing  # type: ignore[attr-defined]
    own = cls.__dict__
    methods: dict[str, object] = {"__init__": _init}
    if repr:
        methods["__repr__"] = _repr
    if eq:
        methods["__eq__"], methods["__hash__"] = _eq, (_hash if frozen else None)
    if frozen:
        methods["__setattr__"], methods["__delattr__"] = _frozen_setattr, _frozen_delattr
    for name, method in methods.items():
        # a method the class defines is kept (a __hash__ of None is Python's, beside an __eq__)
        if own.get(name) is None:
            setattr(cls, name, method)
    if not own.get("__doc__"):
        cls.__doc__ = f"{cls.__name__}({', '.join(spec)})"
    return cls


@dataclass_transform(field_specifiers=(field, Field))
def record(cls: type[T] | None = None, /, *, frozen: bool = False, eq: bool = True,
           repr: bool = True) -> Any:
    """Make ``cls`` a record (used as ``@record`` or ``@record(frozen=True)``)."""
    if cls is None:
        return lambda c: _make(c, frozen, eq, repr)
    return _make(cls, frozen, eq, repr)
