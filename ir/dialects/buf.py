"""The ``buf`` dialect: the loop and buffer level that bufferization produces.

Tensors become buffers (``memref`` types: contiguous, row-major, in a memory space) that ops
read and write in place; computations become loops. ``buf.parallel`` is an iteration space
without dependences between iterations: the CPU backend may run it on threads and the GPU
backend maps it onto a grid. Sequential loops and branches stay ``scf.for``/``scf.if``, and
scalar arithmetic stays ``hy`` ops on scalars. Functions take their results as trailing
buffer arguments (destination passing) and report failed run-time checks (``buf.check``)
instead of touching memory out of bounds.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..attributes import Attribute, DenseAttr
from ..core import Block, Operation, OpResult, Region, Value
from ..diagnostics import InterpreterError, VerifyError
from ..error_codes import CODE
from ..location import UNKNOWN, Location
from ..opdef import (
    ANY_TYPE,
    BOOL_SCALAR,
    INDEX,
    SCALAR,
    HasSideEffects,
    OperandDef,
    Pure,
    ResultDef,
    Terminator,
    TypeConstraint,
    bool_attr,
    dense_attr,
    int_attr,
    string_attr,
    symbol_attr,
)
from ..shapes import dynamic_dim_count, shapes_compatible
from ..types import MemRefType, TensorType, Type, element_type, index, numpy_dtype, shape_of
from .func import FuncOp, lookup_function, require_kernel
from .hy.fused import run_elementwise_body, verify_elementwise_body
from .hy.linalg import MatmulOp as HyMatmulOp

MEMREF = TypeConstraint("a memref", lambda t: isinstance(t, MemRefType))


def _memref(t: Type) -> MemRefType:
    if not isinstance(t, MemRefType):
        raise VerifyError(f"expected a memref, got {t}", code="E0711")
    return t


class AllocOp(Operation):
    """A new buffer of the result type; one ``index`` operand per dynamic dimension. Its
    elements are undefined until written (bufferization writes every element before reading
    it), or zeros with ``zeroed`` (what ``harden-buffers`` asks for text, which may read
    first: no stale memory shows through). In a kernel, a buffer of the ``shared`` memory
    space (a static shape) is one per block, shared by the block's threads, and lives as long
    as the block's launch; nothing frees it."""
    name = "buf.alloc"
    zeroed: bool
    operand_defs = (OperandDef("sizes", INDEX, variadic=True),)
    result_defs = (ResultDef("buffer", MEMREF),)
    attr_defs = {"zeroed": bool_attr(optional=True)}

    def verify_(self) -> None:
        needed = dynamic_dim_count(shape_of(self.result.type))
        if len(self.operands) != needed:
            raise VerifyError(f"{self.result.type} has {needed} dynamic dimension(s) but "
                              f"{len(self.operands)} size operand(s) were given", code="E0711")
        if _memref(self.result.type).space == "shared":
            require_kernel(self, "a buffer in shared memory is allocated")
            if needed:
                raise VerifyError(f"{self.result.type}: a block's shared memory has a size "
                                  "known when the kernel is compiled", code="E0712")

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        sizes = iter(int(a) for a in args)
        shape = tuple(d if isinstance(d, int) else next(sizes) for d in shape_of(self.result.type))
        if any(d < 0 for d in shape):
            raise InterpreterError(f"negative buffer size {shape}", self.loc, code="E1008")
        # compiled code leaves new buffers uninitialized; zeros keep the oracle deterministic
        return [np.zeros(shape, numpy_dtype(self.result.type))]


class FreeOp(Operation):
    """Releases a buffer made by ``buf.alloc``; nothing may use it afterwards."""
    name = "buf.free"
    operand_defs = (OperandDef("buffer", MEMREF),)
    traits = frozenset({HasSideEffects})

    def verify_(self) -> None:
        if _memref(self.operands[0].type).space == "shared":
            raise VerifyError("a block's shared memory lives as long as its launch; it is "
                              "not freed", code="E0712")

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        return []


class ConstantOp(Operation):
    """A read-only buffer holding a constant tensor."""
    name = "buf.constant"
    value: np.ndarray
    result_defs = (ResultDef("buffer", MEMREF),)
    attr_defs = {"value": dense_attr()}
    traits = frozenset({Pure})

    def verify_(self) -> None:
        value = self.attributes["value"]
        assert isinstance(value, DenseAttr)
        value_type = value.type
        if shape_of(value_type) != shape_of(self.result.type) or \
                element_type(value_type) != element_type(self.result.type):
            raise VerifyError(f"the value {value_type} does not fit {self.result.type}", code="E0711")

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        return [self.value.copy()]


class DimOp(Operation):
    """The size of dimension ``axis`` of a buffer."""
    name = "buf.dim"
    axis: int
    operand_defs = (OperandDef("buffer", MEMREF),)
    result_defs = (ResultDef("size", INDEX),)
    attr_defs = {"axis": int_attr()}
    traits = frozenset({Pure})

    @classmethod
    def infer_result_types(cls, operand_types: list[Type], attributes: dict) -> list[Type]:
        return [index]

    def fold(self, constants: list[Attribute | None]) -> list[Attribute | Value] | None:
        """A static size is a constant; the size of a new buffer is what it was allocated with."""
        axis = self.axis
        shape = shape_of(self.operands[0].type)
        if isinstance(shape[axis], int):
            return [DenseAttr.from_values(index, shape[axis])]
        source = self.operands[0]
        if isinstance(source, OpResult) and isinstance(source.op, AllocOp):
            return [source.op.operands[dynamic_dim_count(shape[:axis])]]
        return None

    def verify_(self) -> None:
        rank = len(_memref(self.operands[0].type).shape)
        if not 0 <= self.axis < rank:
            raise VerifyError(f"axis out of range for rank {rank}", code="E0711")

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(args[0].shape[self.axis], np.int64)]


def checked_index(op: Operation, buffer: np.ndarray, indices: list[np.ndarray]) -> tuple[int, ...]:
    """The element's index; out of bounds is an error (compiled code never checks: the
    loops it runs stay inside the buffers by construction)."""
    position = tuple(int(i) for i in indices)
    if any(not 0 <= i < n for i, n in zip(position, buffer.shape)):
        raise InterpreterError(f"index {position} out of bounds for a buffer of shape "
                               f"{buffer.shape}", op.loc, code="E1007")
    return position


class _Indexed(Operation):
    """Ops that address one element: a buffer operand followed by one index per dimension."""
    buffer_position: ClassVar[int] = 0

    def verify_indices(self) -> MemRefType:
        buffer = _memref(self.operands[self.buffer_position].type)
        indices = self.operands[self.buffer_position + 1:]
        if len(indices) != len(buffer.shape):
            raise VerifyError(f"{buffer} needs {len(buffer.shape)} indices, got {len(indices)}", code="E0711")
        return buffer


class LoadOp(_Indexed):
    """Reads one element: ``%v = buf.load %m, %i, %j``."""
    name = "buf.load"
    operand_defs = (OperandDef("buffer", MEMREF), OperandDef("indices", INDEX, variadic=True))
    result_defs = (ResultDef("value", SCALAR),)

    def verify_(self) -> None:
        buffer = self.verify_indices()
        if self.result.type != buffer.element:
            raise VerifyError(f"loads {buffer.element}, not {self.result.type}", code="E0711")

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(args[0][checked_index(self, args[0], args[1:])])]


class StoreOp(_Indexed):
    """Writes one element: ``buf.store %v, %m, %i, %j``."""
    name = "buf.store"
    operand_defs = (OperandDef("value", SCALAR), OperandDef("buffer", MEMREF),
                    OperandDef("indices", INDEX, variadic=True))
    traits = frozenset({HasSideEffects})
    buffer_position = 1

    def verify_(self) -> None:
        buffer = self.verify_indices()
        if self.operands[0].type != buffer.element:
            raise VerifyError(f"stores {self.operands[0].type} into {buffer}", code="E0711")

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        args[1][checked_index(self, args[1], args[2:])] = args[0]
        return []


class CopyOp(Operation):
    """Copies the elements of one buffer into another, in row-major order: same shapes, or
    (for reshapes) the same number of elements."""
    name = "buf.copy"
    operand_defs = (OperandDef("source", MEMREF), OperandDef("target", MEMREF))
    traits = frozenset({HasSideEffects})

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        if args[0].size != args[1].size:
            raise InterpreterError(f"copy of a {args[0].shape} buffer into a {args[1].shape} one",
                                   self.loc, code="E1006")
        args[1][...] = args[0].reshape(args[1].shape)
        return []


def _check_that_holds(op: Operation, rewriter: Any) -> bool:
    """A check of a condition known to be true checks nothing."""
    cond = op.operands[0]
    attr = cond.op.attributes.get("value") if isinstance(cond, OpResult) and \
        cond.op.name == "hy.constant" else None
    if isinstance(attr, DenseAttr) and bool(attr.array):
        rewriter.erase(op)
        return True
    return False


class CheckOp(Operation):
    """Stops the function with ``message`` unless ``condition`` holds: the run-time checks of
    sizes only known when the program runs (the interpreter's errors, in compiled code). The
    error carries ``code`` (error_codes.py), by default E1006."""
    name = "buf.check"
    message: str
    code: str
    operand_defs = (OperandDef("condition", BOOL_SCALAR),)
    attr_defs = {"message": string_attr(), "code": string_attr(optional=True, default="E1006")}
    traits = frozenset({HasSideEffects})
    canonicalization_patterns = (_check_that_holds,)

    def verify_(self) -> None:
        # the form only: reading the registry would cost every compile milliseconds (the
        # codes hyc's passes write are checked against it by tests/test_error_codes.py)
        if not CODE.fullmatch(self.code):
            raise VerifyError(f"'{self.code}' is not an error code (docs/errors.md lists them)",
                              code="E0703")

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        if not bool(args[0]):
            raise InterpreterError(self.message, self.loc, code=self.code)
        return []


class InterruptPointOp(Operation):
    """Stops the function when the process was interrupted (Ctrl-C) while it ran: the first op
    of every sequential loop whose trip count the program chose, so that a long loop answers
    ``KeyboardInterrupt`` within an iteration. (The interpreter is Python: Python itself
    interrupts it.)"""
    name = "buf.interrupt_point"
    traits = frozenset({HasSideEffects})

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        return []


class PrintOp(Operation):
    """Prints scalars and buffers like ``hy.print``."""
    name = "buf.print"
    operand_defs = (OperandDef("values", ANY_TYPE, variadic=True),)
    traits = frozenset({HasSideEffects})


class ParallelOp(Operation):
    """``buf.parallel %n0, %n1 ({ ^bb0(%i0: index, %i1: index): ... buf.end })`` runs its body
    for every point of ``[0, n0) x [0, n1)``, in any order or at once: iterations must not
    depend on each other."""
    name = "buf.parallel"
    grain: int | None
    operand_defs = (OperandDef("upper", INDEX, variadic=True),)
    # ``grain``: the elements of work each point does (default 1), for a backend deciding
    # whether the loop is worth threads
    attr_defs = {"grain": int_attr(optional=True)}
    region_count = 1

    @staticmethod
    def create(upper: list[Value], loc: Location = UNKNOWN) -> ParallelOp:
        return ParallelOp(upper, regions=[Region([Block([index] * len(upper))])], loc=loc)

    @property
    def body(self) -> Block:
        return self.regions[0].block

    def verify_(self) -> None:
        args = [a.type for a in self.body.args]
        if args != [index] * len(self.operands):
            raise VerifyError(f"the body takes one index per dimension ({len(self.operands)})", code="E0711")


# Ops a parallel body may not hold once outlined: each may stop the function with a status
# (a failed check, no memory, an interrupt, a call's failure, ...), which a body running on
# another thread or a GPU cannot report.
STOPPING = ("buf.check", "buf.alloc", "buf.free", "buf.print", "buf.interrupt_point",
            "func.call", "buf.dispatch")


def may_stop(op: Operation) -> bool:
    """Whether ``op`` may stop its function: one of ``STOPPING``, or a loop whose step is not
    a known positive constant (its step is checked when it runs)."""
    if op.name in STOPPING:
        return True
    if op.name != "scf.for":
        return False
    step = op.operands[2]
    attr = step.op.attributes.get("value") if isinstance(step, OpResult) and \
        step.op.name == "hy.constant" else None
    return not (isinstance(attr, DenseAttr) and attr.array.ndim == 0 and int(attr.array) > 0)


class DispatchOp(Operation):
    """``buf.dispatch %n0, %n1, %a, %b {body = @f.parallel0, rank = 2}`` runs ``@f.parallel0``
    for every point of ``[0, n0) x [0, n1)``, in any order or at once, with the point's
    indices and then the other operands (the values the loop captured) as arguments: the
    outlined form of ``buf.parallel`` (pass ``outline-parallel``) that CPU threads split and
    a GPU grid maps onto. The body returns nothing, writes only through the buffers it is
    given, and holds no op that may stop the function."""
    name = "buf.dispatch"
    body: str  # the symbol of the function it runs
    rank: int
    grain: int | None
    operand_defs = (OperandDef("args", ANY_TYPE, variadic=True),)
    attr_defs = {"body": symbol_attr(), "rank": int_attr(), "grain": int_attr(optional=True)}
    traits = frozenset({HasSideEffects})

    @property
    def sizes(self) -> list[Value]:
        return list(self.operands[:self.rank])

    @property
    def captured(self) -> list[Value]:
        return list(self.operands[self.rank:])

    def callee(self) -> FuncOp | None:
        """The function it runs, when the dispatch is in a module."""
        return lookup_function(self, self.body)

    def verify_(self) -> None:
        if not 0 < self.rank <= len(self.operands):
            raise VerifyError(f"rank {self.rank} needs as many index operands first", code="E0711")
        if any(v.type != index for v in self.sizes):
            raise VerifyError(f"the first {self.rank} operands are the sizes: index values", code="E0711")
        body = self.callee()
        name = self.body
        if body is None:
            raise VerifyError(f"dispatch of unknown function '@{name}'", code="E0709")
        expected = (index,) * self.rank + tuple(v.type for v in self.captured)
        ftype = body.type
        if ftype.inputs != expected or ftype.results:
            raise VerifyError(f"@{name} has type {ftype}, but a body dispatched over {self.rank} "
                              f"dimension(s) with these operands needs "
                              f"({', '.join(map(str, expected))}) -> ()", code="E0710")
        stopping = next((op for op in body.walk() if op is not body and may_stop(op)), None)
        if stopping is not None:
            raise VerifyError(f"@{name} holds '{stopping.name}', which may stop the function: a "
                              "dispatched body cannot (it runs on other threads or a GPU)", code="E0712")


class EndOp(Operation):
    """Ends the body of ``buf.parallel``."""
    name = "buf.end"
    traits = frozenset({Terminator})
    parent_names = ("buf.parallel",)


class MatmulOp(Operation):
    """``out = epilogue(lhs @ rhs, extras...)`` into the buffer ``out``: ``hy.fused_matmul``
    on buffers (the body maps a product element and one element of each extra, broadcast
    to the output, to the stored element). Kept whole so backends emit tuned kernels;
    ``untiled``: the GPU's ``gpu-tile-matmul`` chose not to tile it (a small output)."""
    name = "buf.matmul"
    operand_defs = (OperandDef("lhs", MEMREF), OperandDef("rhs", MEMREF),
                    OperandDef("out", MEMREF), OperandDef("extras", ANY_TYPE, variadic=True))
    attr_defs = {"untiled": bool_attr(optional=True)}
    region_count = 1
    traits = frozenset({HasSideEffects})

    def verify_(self) -> None:
        lhs, rhs, out = (_memref(v.type) for v in self.operands[:3])
        (product,) = HyMatmulOp.infer_result_types([TensorType(lhs.shape, lhs.element),
                                                    TensorType(rhs.shape, rhs.element)], {})
        if not shapes_compatible(shape_of(product), out.shape):
            raise VerifyError(f"the product is {shape_of(product)} but the output is {out}", code="E0711")
        inputs = [product, *(v.type for v in self.operands[3:])]
        verify_elementwise_body(self.regions[0], inputs, out.shape, out.element)

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        product = np.asarray(np.matmul(args[0], args[1]))
        result = run_elementwise_body(self.regions[0].block, [product, *args[3:]], self)
        if result.shape != args[2].shape:
            raise InterpreterError(f"the product is {result.shape} but the output is "
                                   f"{args[2].shape}", self.loc, code="E1006")
        args[2][...] = result
        return []
