"""The generic IR structure: Value, Operation, Block, Region.

Every operation of every dialect is an ``Operation`` subclass that declares its operands,
results, attributes, regions and traits (see ``opdef.py``); nothing else about an op is
special-cased by the printer, parser or verifier.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .attributes import Attribute
from .location import UNKNOWN, Location
from .opdef import AttrDef, OperandDef, ResultDef, Trait, register_op_class
from .types import Type

if TYPE_CHECKING:
    from .printer import Printer


class Use:
    """One use of a value: operand ``index`` of ``op`` (equal uses are the same slot)."""

    __slots__ = ("op", "index")

    def __init__(self, op: Operation, index: int) -> None:
        self.op = op
        self.index = index

    def __hash__(self) -> int:
        return hash((id(self.op), self.index))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Use) and other.op is self.op and other.index == self.index


class Uses(dict):
    """A value's uses in the order they were made; adding and removing one costs O(1), so
    a value used ten thousand times is rewired as cheaply as one used once."""

    def append(self, use: Use) -> None:
        self[use] = None

    def discard(self, use: Use) -> None:
        self.pop(use, None)


class Value:
    """An SSA value: defined once (an op result or a block argument), used many times."""

    __slots__ = ("type", "uses", "name_hint")

    def __init__(self, type_: Type, name_hint: str | None = None) -> None:
        self.type = type_
        self.uses: Uses = Uses()
        self.name_hint = name_hint

    def replace_all_uses_with(self, new: Value) -> None:
        for use in list(self.uses):
            use.op.set_operand(use.index, new)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name_hint or ''}: {self.type}>"


class OpResult(Value):
    __slots__ = ("op", "index")

    def __init__(self, type_: Type, op: Operation, index: int) -> None:
        super().__init__(type_)
        self.op = op
        self.index = index

    @property
    def owner_block(self) -> Block | None:
        return self.op.parent


class BlockArgument(Value):
    __slots__ = ("block", "index")

    def __init__(self, type_: Type, block: Block, index: int, name_hint: str | None = None):
        super().__init__(type_, name_hint)
        self.block = block
        self.index = index

    @property
    def owner_block(self) -> Block | None:
        return self.block


class Operation:
    """A generic operation. Subclasses set ``name`` and the declarative spec below."""

    name: ClassVar[str] = ""
    operand_defs: ClassVar[tuple[OperandDef, ...]] = ()
    result_defs: ClassVar[tuple[ResultDef, ...]] = ()
    attr_defs: ClassVar[dict[str, AttrDef]] = {}
    region_count: ClassVar[int] = 0
    traits: ClassVar[frozenset[type[Trait]]] = frozenset()

    # Ops that must sit directly inside one of these ops (e.g. scf.yield in scf.for/scf.if).
    parent_names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        register_op_class(cls)

    def __init__(self, operands: Sequence[Value] = (), result_types: Sequence[Type] = (),
                 attributes: dict[str, Attribute] | None = None,
                 regions: Sequence[Region] = (), loc: Location = UNKNOWN) -> None:
        self.operands: list[Value] = []
        for v in operands:
            self._append_operand(v)
        self.results = [OpResult(t, self, i) for i, t in enumerate(result_types)]
        self.attributes: dict[str, Attribute] = dict(attributes or {})
        self.regions: list[Region] = []
        for r in regions:
            self.add_region(r)
        self.loc = loc
        self.parent: Block | None = None
        self.erased = False  # set by erase(), for drivers that hold on to ops

    # -- hooks an op definition overrides ----------------------------------------------------
    @classmethod
    def infer_result_types(cls, operand_types: list[Type],
                           attributes: dict[str, Attribute]) -> list[Type] | None:
        """Result types implied by operands and attributes, or None when the op cannot tell.

        Raises ``VerifyError`` (without location) when the operands are ill-typed; the
        builder uses this to create ops and the verifier to check parsed ones.
        """
        return None

    def verify_(self) -> None:
        """Op-specific checks beyond the declarative spec; raise ``VerifyError``."""

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        """Reference semantics of a pure op on numpy values (scalars as 0-d arrays)."""
        raise TypeError(f"{self.name} has no pure evaluation rule")

    def fold(self, constants: list[Attribute | None]) -> list[Attribute | Value] | None:
        """Simplify this op given which operands are constants (``DenseAttr``) and which are not
        (None): return a constant or an existing value for each result, or None.

        Ops fold identities here (``x + 0``); canonicalize itself folds every pure op whose
        operands are all constant by running ``evaluate``, its reference semantics.
        """
        return None

    # Rewrite patterns that canonicalize collects: functions (op, rewriter) -> bool.
    canonicalization_patterns: ClassVar[tuple[Any, ...]] = ()

    def print_custom(self, printer: Printer) -> bool:
        """Print a custom form and return True, or return False for the default form."""
        return False

    # -- structure -------------------------------------------------------------------------
    def _append_operand(self, value: Value) -> None:
        value.uses.append(Use(self, len(self.operands)))
        self.operands.append(value)

    def set_operand(self, index: int, value: Value) -> None:
        self.operands[index].uses.discard(Use(self, index))
        self.operands[index] = value
        value.uses.append(Use(self, index))

    def drop_operands(self) -> None:
        for i, v in enumerate(self.operands):
            v.uses.discard(Use(self, i))
        self.operands = []

    def add_region(self, region: Region) -> Region:
        region.parent = self
        self.regions.append(region)
        return region

    @property
    def result(self) -> OpResult:
        """The single result of a one-result op."""
        assert len(self.results) == 1, f"{self.name} has {len(self.results)} results"
        return self.results[0]

    @property
    def parent_op(self) -> Operation | None:
        block = self.parent
        region = block.parent if block else None
        return region.parent if region else None

    def has_trait(self, trait: type[Trait]) -> bool:
        return trait in self.traits

    def erase(self, unlink: bool = True) -> None:
        """Remove this op from its block; its results must have no uses left. With
        ``unlink=False`` it stays in its block's list, marked erased, until the owner of the
        walk calls ``Block.drop_erased`` (erasing many ops of a long block costs O(n) then,
        not O(n) each)."""
        assert all(not r.uses for r in self.results), f"erasing {self.name} with live uses"
        for region in self.regions:
            for block in region.blocks:
                for op in list(block.ops):
                    op.drop_all_references()
        for nested in self.walk():
            nested.erased = True
        self.drop_operands()
        if unlink:
            self.detach()

    def drop_all_references(self) -> None:
        for region in self.regions:
            for block in region.blocks:
                for op in block.ops:
                    op.drop_all_references()
        self.drop_operands()

    def clone(self, mapping: dict[Value, Value] | None = None,
              retype: Callable[[Type], Type] | None = None) -> Operation:
        """A deep copy. ``mapping`` maps old values to new ones (it is filled in as results
        and block arguments are cloned); ``retype`` transforms every result and argument type."""
        mapping = {} if mapping is None else mapping
        retype = retype or (lambda t: t)
        regions = [region.clone(mapping, retype) for region in self.regions]
        new = type(self)([mapping.get(v, v) for v in self.operands],
                         [retype(r.type) for r in self.results], dict(self.attributes), regions,
                         self.loc)
        for old, result in zip(self.results, new.results):
            result.name_hint = old.name_hint
            mapping[old] = result
        return new

    def detach(self) -> Operation:
        """Take this op out of its block, keeping its operands and regions (to move it)."""
        if self.parent is not None:
            self.parent.ops.remove(self)
            self.parent = None
        return self

    def move_before(self, anchor: Operation) -> None:
        """Move this op to just before ``anchor`` (in anchor's block)."""
        assert anchor.parent is not None
        self.detach()
        anchor.parent.insert(anchor.parent.ops.index(anchor), self)

    def defined_inside(self) -> set[Value]:
        """The values this op's regions define: their block arguments and their ops' results."""
        defined: set[Value] = set()
        for nested in self.walk():
            if nested is not self:
                defined.update(nested.results)
            for region in nested.regions:
                for block in region.blocks:
                    defined.update(block.args)
        return defined

    def values_from_outside(self) -> list[Value]:
        """Values used inside this op (its operands included) but defined outside it, in the
        order of their first use (so that what is generated from them is deterministic)."""
        inside = self.defined_inside()
        used = dict.fromkeys(v for nested in self.walk() for v in nested.operands)
        return [v for v in used if v not in inside]

    def ancestor_in(self, block: Block) -> Operation | None:
        """The op of ``block`` that is this op or holds it in a region; None if none does."""
        op: Operation | None = self
        while op is not None and op.parent is not block:
            op = op.parent_op
        return op

    def walk(self) -> Iterator[Operation]:
        """This op and every op nested in its regions, in pre-order."""
        yield self
        for region in self.regions:
            for block in region.blocks:
                for op in list(block.ops):
                    yield from op.walk()

    def __repr__(self) -> str:
        return f"<{self.name} op>"


class Block:
    """A list of operations with typed arguments; in hyc each region holds one block."""

    def __init__(self, arg_types: Sequence[Type] = (), arg_names: Sequence[str | None] = ()):
        names = list(arg_names) + [None] * (len(arg_types) - len(arg_names))
        self.args = [BlockArgument(t, self, i, n) for i, (t, n) in enumerate(zip(arg_types, names))]
        self.ops: list[Operation] = []
        self.parent: Region | None = None

    def add_arg(self, type_: Type, name_hint: str | None = None) -> BlockArgument:
        arg = BlockArgument(type_, self, len(self.args), name_hint)
        self.args.append(arg)
        return arg

    def append(self, op: Operation) -> Operation:
        return self.insert(len(self.ops), op)

    def insert(self, index: int, op: Operation) -> Operation:
        assert op.parent is None, "op is already in a block"
        op.parent = self
        self.ops.insert(index, op)
        return op

    def drop_erased(self) -> None:
        """Take out the ops erased with ``unlink=False``."""
        kept = []
        for op in self.ops:
            if op.erased:
                op.parent = None
            else:
                kept.append(op)
        self.ops = kept

    @property
    def terminator(self) -> Operation | None:
        return self.ops[-1] if self.ops else None

    @property
    def parent_op(self) -> Operation | None:
        return self.parent.parent if self.parent else None


class Region:
    """A list of blocks owned by an operation (a function body, a loop body, a branch)."""

    def __init__(self, blocks: Sequence[Block] = ()) -> None:
        self.blocks: list[Block] = []
        self.parent: Operation | None = None
        for b in blocks:
            self.add_block(b)

    def add_block(self, block: Block) -> Block:
        block.parent = self
        self.blocks.append(block)
        return block

    @property
    def block(self) -> Block:
        """The entry (and in hyc the only) block."""
        return self.blocks[0]

    def clone(self, mapping: dict[Value, Value], retype: Callable[[Type], Type]) -> Region:
        region = Region()
        for block in self.blocks:
            new = region.add_block(Block())
            for arg in block.args:
                mapping[arg] = new.add_arg(retype(arg.type), arg.name_hint)
            for op in block.ops:
                new.append(op.clone(mapping, retype))
        return region
