"""hyc's typed SSA IR: types, attributes, ops and dialects, text form, verifier, interpreter."""

from . import dialects  # noqa: F401  (registers every op)
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
                         int_array,
)
from .builder import Builder
from .core import Block, BlockArgument, Operation, OpResult, Region, Value
from .diagnostics import Diagnostic, HycError, InterpreterError, ParseError, VerifyError, render_all
from .dialects.builtin import ModuleOp
from .dialects.func import CallOp, FuncOp, ReturnOp
from .dialects.scf import ForOp, IfOp, YieldOp
from .interpreter import ArgumentTypeError, ArgumentValueError, Interpreter, run
from .location import UNKNOWN, FileLineColLoc, FusedLoc, Location, UnknownLoc
from .opdef import OPS
from .parser import parse_module
from .printer import print_ir
from .types import (
                         DYNAMIC,
                         FloatType,
                         FunctionType,
                         IndexType,
                         IntegerType,
                         MemRefType,
                         TensorType,
                         Type,
                         f32,
                         f64,
                         i1,
                         i32,
                         i64,
                         index,
)
from .verifier import verify

__all__ = [
    "ArrayAttr", "Attribute", "BoolAttr", "DenseAttr", "FloatAttr", "IntAttr", "StringAttr",
    "SymbolRefAttr", "TypeAttr", "int_array", "Builder", "Block", "BlockArgument", "Operation",
    "OpResult", "Region", "Value", "HycError", "InterpreterError", "ParseError", "VerifyError",
    "render_all", "Diagnostic", "ModuleOp", "CallOp", "FuncOp", "ReturnOp", "ForOp", "IfOp", "YieldOp",
    "ArgumentTypeError", "ArgumentValueError", "Interpreter", "run", "UNKNOWN",
    "FileLineColLoc", "FusedLoc", "Location", "UnknownLoc", "OPS", "parse_module", "print_ir",
    "DYNAMIC", "FloatType", "FunctionType", "IndexType", "IntegerType", "MemRefType",
    "TensorType", "Type", "f32", "f64", "i1", "i32", "i64", "index", "verify",
]
