"""Records (hyc/record.py) behave as the dataclasses they replace."""

import dataclasses
from typing import ClassVar

import pytest

from hyc.record import FrozenInstanceError, field, fields, record, replace


@record(frozen=True)
class Point:
    x: int
    y: int = 0
    tags: ClassVar[str] = "not a field"


@record
class Bag:
    items: list = field(default_factory=list)
    label: str = field(default="", compare=False)


@record(frozen=True)
class Point3(Point):
    z: int = 0


def test_construction_defaults_and_errors():
    assert (Point(1).x, Point(1).y, Point(1, y=2).y) == (1, 0, 2)
    assert Point3(1, 2, 3).z == 3 and [f.name for f in fields(Point3)] == ["x", "y", "z"]
    assert Bag().items == [] and Bag().items is not Bag().items
    for bad in (lambda: Point(), lambda: Point(1, 2, 3), lambda: Point(1, w=2)):
        with pytest.raises(TypeError):
            bad()


def test_equality_hash_and_frozen_fields():
    assert Point(1, 2) == Point(1, 2) and Point(1, 2) != Point(2, 1)
    assert Point(1) != Point3(1)  # another type, the same fields
    assert hash(Point(1, 2)) == hash(Point(1, 2)) and len({Point(1), Point(1)}) == 1
    assert Bag([1], "a") == Bag([1], "b")  # label does not compare
    with pytest.raises(TypeError):
        hash(Bag())  # compares and is mutable: unhashable, as a dataclass
    with pytest.raises(FrozenInstanceError):
        Point(1).x = 2  # type: ignore[misc]
    assert repr(Point3(1, 2, 3)) == "Point3(x=1, y=2, z=3)"
    assert Point.__match_args__ == ("x", "y")


def test_replace_and_the_fields_of_a_dataclass():
    assert replace(Point3(1, 2, 3), y=5) == Point3(1, 5, 3)

    @dataclasses.dataclass
    class Options:
        depth: int = 4
    assert [(f.name, f.default) for f in fields(Options)] == [("depth", 4)]
