"""The textual IR parser: recursive descent over ``lexer.Token``s, generic over ops.

Each op is parsed in its default or generic form from its declaration alone; an op class
with ``parse_custom`` (func.func, module) parses its own syntax with the helpers below.
Values may be used before their definition (the verifier then reports dominance); names
are scoped per isolated op (a function).
"""

from __future__ import annotations

import re

import numpy as np

from hyc.record import field, record

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
    dense_from_hex,
)
from .core import Block, Operation, Region, Value
from .diagnostics import SOURCES, HycError, ParseError, nesting_room
from .lexer import Lexer, Token, string_value
from .location import UNKNOWN, FileLineColLoc, FusedLoc, Location
from .opdef import IsolatedFromAbove, lookup_op
from .types import (
    MEMORY_SPACES,
    SCALAR_TYPES,
    Dim,
    FunctionType,
    MemRefType,
    TensorType,
    Type,
    is_static,
    is_value_type,
    numpy_dtype,
    shape_of,
    static_shape,
    static_size_problem,
)

_ELEMENT_END = re.compile(r"(f32|f64|i1|i32|i64|index)(?=,|$)")
_DIM = re.compile(r'(\d+|\?|"[^"]*"|[A-Za-wyz_][A-Za-wyz0-9_]*)x')
_FLOAT_WORDS = {"inf": float("inf"), "nan": float("nan")}


@record
class _Scope:
    defs: dict[str, Value] = field(default_factory=dict)
    forward: dict[str, tuple[Value, Location]] = field(default_factory=dict)


class Parser:
    def __init__(self, text: str, filename: str = "<input>") -> None:
        self.lexer = Lexer(text, filename)
        self.tok = self.lexer.token_at(0)
        self.prev_end = 0  # where the last consumed token ended
        self.scopes: list[_Scope] = []
        SOURCES.register(filename, text)

    # -- tokens -------------------------------------------------------------------------------
    def advance(self) -> Token:
        tok = self.tok
        self.prev_end = tok.end
        self.tok = self.lexer.token_at(tok.end)
        return tok

    def peek(self) -> Token:
        return self.lexer.token_at(self.tok.end)

    def here(self, token: Token | None = None) -> FileLineColLoc:
        return self.lexer.location((token or self.tok).start)

    def error(self, message: str, token: Token | None = None, *, code: str) -> ParseError:
        """An error at ``token``, or where the parser stands: when the current token is on a
        later line than the last one consumed, what was expected belonged to that line."""
        if token is None:
            here, before = self.here(), self.lexer.location(self.prev_end)
            return ParseError(message, before if here.line > before.line else here, code=code)
        return ParseError(message, self.here(token), code=code)

    def _describe(self) -> str:
        return "the end of the input" if self.tok.kind == "eof" else repr(self.tok.text)

    def expect(self, text: str) -> Token:
        if not self.tok.is_(text):
            raise self.error(f"expected '{text}' but found {self._describe()}", code="E0601")
        return self.advance()

    def accept(self, text: str) -> bool:
        if self.tok.is_(text):
            self.advance()
            return True
        return False

    accept_word = accept

    def expect_kind(self, kind: str, what: str) -> Token:
        if self.tok.kind != kind:
            raise self.error(f"expected {what} but found {self._describe()}", code="E0601")
        return self.advance()

    def expect_symbol(self) -> str:
        return self.expect_kind("symbol", "a symbol name like @main").text[1:]

    def comma_list(self, parse_item, close: str) -> list:
        """Items separated by commas up to ``close`` (which is consumed)."""
        items = []
        if not self.accept(close):
            items.append(parse_item())
            while self.accept(","):
                items.append(parse_item())
            self.expect(close)
        return items

    # -- value scopes ---------------------------------------------------------------------------
    def start_scope(self) -> None:
        self.scopes.append(_Scope())

    def end_scope(self) -> None:
        scope = self.scopes.pop()
        for name, (_, loc) in scope.forward.items():
            raise ParseError(f"use of undefined value %{name}", loc, code="E0603")

    def define_value(self, name: str, value: Value, loc: Location) -> None:
        scope = self.scopes[-1]
        if name in scope.defs:
            raise ParseError(f"redefinition of value %{name}", loc, code="E0604")
        if name in scope.forward:
            placeholder, _ = scope.forward.pop(name)
            if placeholder.type != value.type:
                raise ParseError(f"%{name} is defined with type {value.type} but was used "
                                 f"earlier as {placeholder.type}", loc, code="E0605")
            placeholder.replace_all_uses_with(value)
        scope.defs[name] = value
        if not name.isdigit():
            value.name_hint = name

    def resolve(self, name: str, type_: Type, loc: Location) -> Value:
        scope = self.scopes[-1]
        value = scope.defs.get(name) or scope.forward.get(name, (None,))[0]
        if value is None:
            value = Value(type_)
            scope.forward[name] = (value, loc)
        elif value.type != type_:
            raise ParseError(f"%{name} has type {value.type} but is used here as {type_}", loc, code="E0605")
        return value

    # -- types ------------------------------------------------------------------------------------
    def parse_type(self) -> Type:
        tok = self.tok
        if tok.kind == "word" and tok.text in SCALAR_TYPES:
            self.advance()
            return SCALAR_TYPES[tok.text]
        if tok.kind == "word" and tok.text in ("tensor", "memref"):
            self.advance()
            return self._parse_shaped(tok.text)
        if tok.is_("("):
            self.advance()
            inputs = self.comma_list(self.parse_type, ")")
            self.expect("->")
            return FunctionType(tuple(inputs), tuple(self.parse_result_type_list()))
        raise self.error(f"expected a type but found {self._describe()}", code="E0601")

    def parse_result_type_list(self) -> list[Type]:
        if self.accept("("):
            return self.comma_list(self.parse_type, ")")
        return [self.parse_type()]

    def _parse_shaped(self, kind: str) -> Type:
        if not self.tok.is_("<"):
            raise self.error(f"expected '<' after '{kind}'", code="E0606")
        start = self.tok.end
        close = self.lexer.text.find(">", start)
        newline = self.lexer.text.find("\n", start)
        if close < 0 or 0 <= newline < close:
            raise self.error(f"unterminated {kind} type: expected '>'", code="E0606")
        body = self.lexer.text[start:close]
        result = self._shaped_from_body(kind, body, start)
        self.tok = self.lexer.token_at(close + 1)
        return result

    def _shaped_from_body(self, kind: str, body: str, offset: int) -> Type:
        dims: list[Dim] = []
        pos = 0
        while True:
            end = _ELEMENT_END.match(body, pos)
            if end:
                break
            dim = _DIM.match(body, pos)
            if dim is None:
                raise self.lexer.error(f"malformed {kind} type '{kind}<{body}>': expected a "
                                       "dimension (integer, ? or name) followed by 'x', or an "
                                       "element type (f32 f64 i1 i32 i64 index)", offset + pos, code="E0606")
            text = dim.group(1)
            if text.isdigit() and len(text) > 20:
                raise self.lexer.error(f"the size {text[:20]}... is too large (at most 2**48)",
                                       offset + pos, code="E0606")
            dims.append(int(text) if text.isdigit() else
                        text.strip('"') if text.startswith('"') else text)
            pos = dim.end()
        problem = static_size_problem(tuple(dims))
        if problem is not None:
            raise self.lexer.error(f"{kind}<{body}>: {problem}", offset, code="E0606")
        element = SCALAR_TYPES[end.group(1)]
        space = body[end.end():].strip(", ")
        if kind == "tensor":
            if space:
                raise self.lexer.error(f"unexpected '{space}' in tensor type", offset + end.end(),
                                       code="E0606")
            if not dims:
                raise self.lexer.error(f"a rank-0 tensor is written as the scalar type {element}",
                                       offset, code="E0606")
            return TensorType(tuple(dims), element)
        if space and space not in MEMORY_SPACES:
            raise self.lexer.error(f"unknown memory space '{space}' (expected one of "
                                   f"{', '.join(MEMORY_SPACES)})", offset + end.end(), code="E0606")
        return MemRefType(tuple(dims), element, space or "host")

    # -- attributes -------------------------------------------------------------------------------
    def parse_attr_dict(self) -> dict[str, Attribute]:
        self.expect("{")
        attrs: dict[str, Attribute] = {}

        def entry() -> None:
            tok = self.tok
            if tok.kind == "string":
                key = string_value(self.advance(), self.lexer)
            else:
                key = self.expect_kind("word", "an attribute name").text
            if key in attrs:
                raise self.error(f"duplicate attribute '{key}'", tok, code="E0601")
            self.expect("=")
            attrs[key] = self.parse_attribute()

        self.comma_list(entry, "}")
        return attrs

    def parse_attribute(self) -> Attribute:
        tok = self.tok
        if tok.kind == "int":
            return IntAttr(self._int(self.advance()))
        if tok.kind == "float" or tok.text in _FLOAT_WORDS or tok.is_("-"):
            return FloatAttr(self._parse_float())
        if tok.kind == "string":
            return StringAttr(string_value(self.advance(), self.lexer))
        if tok.kind == "symbol":
            return SymbolRefAttr(self.advance().text[1:])
        if tok.is_("true") or tok.is_("false"):
            return BoolAttr(self.advance().text == "true")
        if tok.is_("["):
            self.advance()
            return ArrayAttr(tuple(self.comma_list(self.parse_attribute, "]")))
        if tok.is_("dense"):
            return self._parse_dense()
        if tok.is_("(") or (tok.kind == "word" and (tok.text in SCALAR_TYPES
                                                     or tok.text in ("tensor", "memref"))):
            return TypeAttr(self.parse_type())
        raise self.error(f"expected an attribute value but found {self._describe()}", code="E0601")

    def _parse_float(self) -> float:
        negative = self.accept("-")
        tok = self.advance()
        if tok.kind in ("float", "int"):
            value = float(self._int(tok)) if tok.kind == "int" else float(tok.text)
        elif tok.text in _FLOAT_WORDS:
            value = _FLOAT_WORDS[tok.text]
        else:
            raise self.error("expected a number", tok, code="E0601")
        return -value if negative else value

    def _parse_literal(self) -> object:
        if self.accept("["):
            return self.comma_list(self._parse_literal, "]")
        tok = self.tok
        if tok.is_("true") or tok.is_("false"):
            return self.advance().text == "true"
        if tok.kind == "int":
            return self._int(self.advance())
        return self._parse_float()

    def _int(self, tok: Token) -> int:
        """An integer token's value; more digits than any type holds is an error (and Python
        refuses to convert more than 4300)."""
        if len(tok.text.lstrip("-")) > 40:
            raise self.error(f"the integer {tok.text[:20]}... has {len(tok.text)} digits: more "
                             "than any type holds", tok, code="E0607")
        return int(tok.text)

    def _parse_dense(self) -> DenseAttr:
        start = self.advance()
        self.expect("<")
        hex_tok = self.advance() if self.tok.kind == "string" else None
        literal = None if hex_tok else self._parse_literal()
        self.expect(">")
        self.expect(":")
        type_tok = self.tok
        type_ = self.parse_type()
        if not is_value_type(type_) or not is_static(shape_of(type_)):
            raise self.error(f"a dense constant needs a static scalar or tensor type, got {type_}",
                             type_tok, code="E0607")
        if hex_tok is not None:
            return self._dense_from_hex(type_, hex_tok)
        return self._dense_from_literal(type_, literal, start)

    def _dense_from_hex(self, type_: Type, tok: Token) -> DenseAttr:
        text = string_value(tok, self.lexer)
        digits = text[2:] if text.startswith("0x") else None
        size = int(np.prod(static_shape(type_))) * numpy_dtype(type_).itemsize
        if digits is None or len(digits) != 2 * size or not re.fullmatch("[0-9A-Fa-f]*", digits):
            raise self.error(f"hex data must be '0x' and {2 * size} hex digits for {type_}", tok,
                             code="E0607")
        return dense_from_hex(type_, digits)

    def _dense_from_literal(self, type_: Type, literal: object, tok: Token) -> DenseAttr:
        dtype = numpy_dtype(type_)
        try:
            raw = np.array(literal, dtype=object)
        except ValueError:
            raise self.error("ragged nested list in dense constant", tok, code="E0607") from None
        flat = list(raw.reshape(-1)) if raw.ndim else [literal]
        kinds = {"b" if isinstance(v, bool) else "i" if isinstance(v, int) else "f" for v in flat}
        allowed = {"b": {"b"}, "i": {"i"}, "f": {"f", "i"}, "u": {"i"}}[dtype.kind]
        if not kinds <= allowed:
            raise self.error(f"dense values do not fit the element type of {type_}", tok, code="E0607")
        shape = tuple(shape_of(type_))
        if raw.ndim and raw.shape != shape:
            raise self.error(f"dense literal has shape {raw.shape} but the type is {type_}", tok,
                             code="E0607")
        with np.errstate(over="ignore"):
            try:
                return DenseAttr.from_values(type_, np.array(literal, dtype=dtype))
            except OverflowError:
                raise self.error(f"dense value out of range for {type_}", tok, code="E0607") from None

    # -- locations --------------------------------------------------------------------------------
    def _parse_location_body(self) -> Location:
        tok = self.tok
        if self.accept("unknown"):
            return UNKNOWN
        if self.accept("fused"):
            self.expect("[")
            return FusedLoc(tuple(self.comma_list(self._parse_location_body, "]")))
        filename = string_value(self.expect_kind("string", "a location"), self.lexer)
        self.expect(":")
        line = self._int(self.expect_kind("int", "a line number"))
        self.expect(":")
        col = self._int(self.expect_kind("int", "a column number"))
        if line < 0 or col < 0:
            raise self.error("negative line or column in location", tok, code="E0601")
        return FileLineColLoc(filename, line, col)

    def parse_trailing_loc(self) -> Location | None:
        if not self.tok.is_("loc"):
            return None
        self.advance()
        self.expect("(")
        loc = self._parse_location_body()
        self.expect(")")
        return loc

    # -- operations, blocks, regions ----------------------------------------------------------------
    def parse_op(self) -> Operation:
        names: list[tuple[str, Location]] = []
        loc = self.here()
        if self.tok.kind == "value":
            def result_name() -> tuple[str, Location]:
                tok = self.expect_kind("value", "a result name")
                return tok.text[1:], self.here(tok)
            names.append(result_name())
            while self.accept(","):
                names.append(result_name())
            self.expect("=")
        op = self._parse_op_body(len(names), loc)
        op.loc = self.parse_trailing_loc() or loc
        if len(names) != len(op.results):
            raise ParseError(f"'{op.name}' defines {len(op.results)} result(s) but "
                             f"{len(names)} name(s) were given", loc, code="E0609")
        for (name, name_loc), result in zip(names, op.results):
            self.define_value(name, result, name_loc)
        return op

    def _parse_op_body(self, num_results: int, loc: Location) -> Operation:
        tok = self.tok
        generic = tok.kind == "string"
        if not generic and tok.kind != "word":
            raise self.error(f"expected an operation but found {self._describe()}", code="E0601")
        name = string_value(tok, self.lexer) if generic else tok.text
        op_class = lookup_op("builtin.module" if name == "module" and not generic else name)
        if op_class is None:
            raise self.error(f"unknown operation '{name}'", code="E0608")
        self.advance()
        custom = getattr(op_class, "parse_custom", None)
        if custom is not None and not generic:
            return self._isolated(op_class, lambda: custom(self, loc))
        return self._parse_default(op_class, num_results, loc, generic)

    def _isolated(self, op_class: type[Operation], parse):
        isolated = IsolatedFromAbove in op_class.traits
        if isolated:
            self.start_scope()
        result = parse()
        if isolated:
            self.end_scope()
        return result

    def _parse_default(self, op_class: type[Operation], num_results: int, loc: Location,
                       generic: bool) -> Operation:
        refs: list[tuple[str, Location]] = []

        def operand() -> tuple[str, Location]:
            tok = self.expect_kind("value", "an operand like %x")
            return tok.text[1:], self.here(tok)

        if generic:
            self.expect("(")
            refs = self.comma_list(operand, ")")
        elif self.tok.kind == "value":
            refs = [operand()]
            while self.accept(","):
                refs.append(operand())
        attrs = self.parse_attr_dict() if self.tok.is_("{") else {}
        regions: list[Region] = []
        if self.tok.is_("(") and self.peek().is_("{"):
            self.advance()
            regions = self._isolated(op_class, lambda: self.comma_list(self.parse_region, ")"))
        in_types, out_types = self._parse_signature(len(refs), num_results, generic)
        operands = [self.resolve(name, t, where) for (name, where), t in zip(refs, in_types)]
        return op_class(operands, out_types, attrs, regions, loc)

    def _parse_signature(self, num_operands: int, num_results: int,
                         generic: bool) -> tuple[list[Type], list[Type]]:
        if not self.tok.is_(":"):
            if generic or num_operands or num_results:
                raise self.error("expected ':' followed by the operand and result types", code="E0601")
            return [], []
        self.advance()
        tok = self.tok
        type_ = self.parse_type()
        if isinstance(type_, FunctionType):
            ins, outs = list(type_.inputs), list(type_.results)
        elif generic:
            raise self.error("the generic form needs a function type '(...) -> ...'", tok, code="E0601")
        else:
            ins, outs = [type_] * num_operands, [type_] * num_results
        if len(ins) != num_operands:
            raise self.error(f"{num_operands} operand(s) but {len(ins)} operand type(s)", tok, code="E0609")
        if len(outs) != num_results:
            raise self.error(f"{num_results} result name(s) but {len(outs)} result type(s)", tok,
                             code="E0609")
        return ins, outs

    def parse_parameter_list(self) -> list[tuple[str, Type, Location]]:
        """``(%a: T, %b: U)``: block arguments with names and types."""
        self.expect("(")

        def param() -> tuple[str, Type, Location]:
            tok = self.expect_kind("value", "an argument like %x")
            self.expect(":")
            return tok.text[1:], self.parse_type(), self.here(tok)

        return self.comma_list(param, ")")

    def parse_region(self, entry_args: list[tuple[str, Type, Location]] | None = None) -> Region:
        self.expect("{")
        region = Region()
        if entry_args is None and self.accept("}"):
            return region
        block = region.add_block(Block())
        self._define_block_args(block, entry_args or [])
        if self.tok.kind == "block":
            if entry_args is not None:
                raise self.error("this block takes its arguments from the signature", code="E0601")
            self._parse_block_label(block)
        while not self.accept("}"):
            if self.tok.kind == "eof":
                raise self.error("expected '}' to close the region but reached the end of the input",
                                 code="E0601")
            if self.tok.kind == "block":
                block = region.add_block(Block())
                self._parse_block_label(block)
                continue
            block.append(self.parse_op())
        return region

    def _parse_block_label(self, block: Block) -> None:
        self.advance()
        params = self.parse_parameter_list() if self.tok.is_("(") else []
        self.expect(":")
        self._define_block_args(block, params)

    def _define_block_args(self, block: Block, params: list[tuple[str, Type, Location]]) -> None:
        for name, type_, loc in params:
            self.define_value(name, block.add_arg(type_), loc)

    # -- entry point --------------------------------------------------------------------------------
    def parse_module(self) -> Operation:
        from .dialects.builtin import ModuleOp
        self.start_scope()
        if self.tok.is_("module") or (self.tok.kind == "string"
                                      and self.tok.text == '"builtin.module"'):
            module = self.parse_op()
            if self.tok.kind != "eof":
                raise self.error(f"unexpected {self._describe()} after the module", code="E0601")
        else:
            module = ModuleOp.create(self.here())
            while self.tok.kind != "eof":
                module.regions[0].block.append(self.parse_op())
        self.end_scope()
        return module


def parse_module(text: str, filename: str = "<input>") -> Operation:
    """Parse textual IR into a module (ops at top level are wrapped in one)."""
    try:
        with nesting_room("the IR"):
            return Parser(text, filename).parse_module()
    except HycError as e:
        if isinstance(e, ParseError) or e.diagnostics[0].loc.primary():
            raise
        raise ParseError(e.diagnostics[0].message, FileLineColLoc(filename, 1, 1), code=e.code) from None

