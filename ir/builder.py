"""Building IR: an insertion point plus ``create``, which infers result types from the op."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from .attributes import Attribute, DenseAttr
from .core import Block, Operation, Region, Value
from .diagnostics import VerifyError
from .location import UNKNOWN, Location
from .types import Type

OpT = TypeVar("OpT", bound=Operation)


class Builder:
    """Inserts new ops at a point in a block (the end, unless told otherwise)."""

    def __init__(self, block: Block | None = None, loc: Location = UNKNOWN) -> None:
        self.block = block
        self.index: int | None = None  # None: at the end of the block
        self.loc = loc

    # -- insertion point ------------------------------------------------------------------
    def set_insertion_point_to_end(self, block: Block) -> None:
        self.block, self.index = block, None

    def set_insertion_point_before(self, op: Operation) -> None:
        assert op.parent is not None
        self.block, self.index = op.parent, op.parent.ops.index(op)

    def set_insertion_point_after(self, op: Operation) -> None:
        assert op.parent is not None
        self.block, self.index = op.parent, op.parent.ops.index(op) + 1

    @contextmanager
    def at_end(self, block: Block) -> Iterator[Builder]:
        """Temporarily insert at the end of ``block`` (e.g. while filling a loop body)."""
        saved = (self.block, self.index)
        self.set_insertion_point_to_end(block)
        try:
            yield self
        finally:
            self.block, self.index = saved

    # -- creation -------------------------------------------------------------------------
    def insert(self, op: OpT) -> OpT:
        assert self.block is not None, "builder has no insertion block"
        if self.index is None:
            self.block.append(op)
        else:
            self.block.insert(self.index, op)
            self.index += 1
        return op

    def create(self, op_class: type[OpT], operands: Sequence[Value] = (),
               attributes: dict[str, Attribute] | None = None,
               result_types: Sequence[Type] | None = None,
               regions: Sequence[Region] = (), loc: Location | None = None) -> OpT:
        """Create and insert an op; result types are inferred unless given.

        Ill-typed operands raise ``VerifyError`` located at ``loc``.
        """
        attrs = dict(attributes or {})
        where = loc or self.loc
        if result_types is None:
            try:
                inferred = op_class.infer_result_types([v.type for v in operands], attrs)
            except VerifyError as e:
                raise VerifyError(f"'{op_class.name}' op {e.diagnostics[0].message}", where,
                                  code=e.code) from None
            if inferred is None:
                raise TypeError(f"{op_class.name} cannot infer its result types; pass result_types")
            result_types = inferred
        return self.insert(op_class(operands, result_types, attrs, regions, where))

    def constant(self, type_: Type, value: object, loc: Location | None = None) -> Value:
        """A ``hy.constant`` of a scalar or (static) tensor type filled from ``value``."""
        from .dialects.hy import ConstantOp
        try:
            attr = DenseAttr.from_values(type_, value)
        except VerifyError as e:
            raise VerifyError(e.diagnostics[0].message, loc or self.loc, code=e.code) from None
        return self.create(ConstantOp, attributes={"value": attr}, loc=loc).result
