"""LLVM IR for scalar ``hy`` ops, one entry per op, for every target: math functions (exp,
tanh, pow, ...) go through the target's math table (codegen/target.py), and a function the
target lacks is a hyc error located at the op, before LLVM sees the module.

Each rule receives the emitter, the op and its operands (LLVM values) and returns the
result; ``rule(..., math=(...))`` records the math functions it may call, for the coverage
table (docs/backend.md). The semantics are the interpreter's, exactly: numpy's NaN-propagating maximum,
integer division truncating toward zero with 0 for a zero divisor (and no overflow trap),
IEEE everywhere else.
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from hyc.ir import HycError, Operation
from hyc.ir.dialects import hy
from hyc.ir.types import FloatType, IndexType, IntegerType, Type, element_type

from .target import Target

Rule = Callable[["ScalarEmitter", Operation, list[ir.Value]], ir.Value]
RULES: dict[type[Operation], Rule] = {}
MATH_NEEDED: dict[type[Operation], tuple[str, ...]] = {}  # the math functions a rule may call


def llvm_type(t: Type) -> ir.Type:
    e = element_type(t)
    if isinstance(e, FloatType):
        return ir.FloatType() if e.width == 32 else ir.DoubleType()
    if isinstance(e, IndexType):
        return ir.IntType(64)
    assert isinstance(e, IntegerType)
    return ir.IntType(e.width)


def is_float(t: Type) -> bool:
    return isinstance(element_type(t), FloatType)


def rule(*classes: type[Operation], math: tuple[str, ...] = ()) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for cls in classes:
            RULES[cls] = fn
            MATH_NEEDED[cls] = math
        return fn
    return register


class ScalarEmitter:
    """Emits scalar ops through ``builder`` for ``target``."""

    def __init__(self, builder: ir.IRBuilder, module: ir.Module, target: Target) -> None:
        self.b = builder
        self.module = module
        self.target = target

    def math(self, name: str, op: Operation, args: list[ir.Value]) -> ir.Value:
        """A call of math function ``name`` as the target's table says (an intrinsic or a
        library function); an error at ``op`` where the target has none."""
        t = args[0].type
        symbol = self.target.math_function(name, 32 if t == ir.FloatType() else 64)
        if symbol is None:
            raise HycError(f"'{op.name}' needs the math function '{name}', which target "
                           f"'{self.target.name}' ({self.target.triple}) cannot lower", op.loc, code="E0905")
        existing = self.module.globals.get(symbol)
        fn = existing if existing is not None else ir.Function(
            self.module, ir.FunctionType(t, [t] * len(args)), symbol)
        return self.b.call(fn, args)

    def emit(self, op: Operation, args: list[ir.Value]) -> ir.Value:
        return RULES[type(op)](self, op, args)

    def const(self, t: ir.Type, value: float | int) -> ir.Constant:
        return ir.Constant(t, value)

    def is_nan(self, x: ir.Value) -> ir.Value:
        return self.b.fcmp_unordered("uno", x, x)


def _binary(float_op: str, int_op: str) -> Rule:
    def emit(e: ScalarEmitter, op: Operation, args: list[ir.Value]) -> ir.Value:
        if not is_float(op.operands[0].type):
            return getattr(e.b, int_op)(*args)
        result = getattr(e.b, float_op)(*args)
        if e.target.contract:
            result.flags.append("contract")
        return result
    return emit


@rule(hy.AddOp)
def _add(e: ScalarEmitter, op: Operation, args: list[ir.Value]) -> ir.Value:
    total = _binary("fadd", "add")(e, op, args)
    if op.reassoc and is_float(op.operands[0].type):
        total.flags.append("reassoc")
    return total
rule(hy.SubOp)(_binary("fsub", "sub"))
rule(hy.MulOp)(_binary("fmul", "mul"))


@rule(hy.DivOp)
def _div(e: ScalarEmitter, op: Operation, args: list[ir.Value]) -> ir.Value:
    a, b = args
    if is_float(op.operands[0].type):
        return e.b.fdiv(a, b)
    t = a.type
    zero, one, minus_one = (ir.Constant(t, v) for v in (0, 1, -1))
    lowest = ir.Constant(t, -(1 << (t.width - 1)))
    by_zero = e.b.icmp_signed("==", b, zero)
    overflow = e.b.and_(e.b.icmp_signed("==", a, lowest), e.b.icmp_signed("==", b, minus_one))
    safe = e.b.select(e.b.or_(by_zero, overflow), one, b)
    quotient = e.b.sdiv(a, safe)  # truncates toward zero, like the interpreter
    quotient = e.b.select(overflow, lowest, quotient)  # INT_MIN / -1 wraps around
    return e.b.select(by_zero, zero, quotient)


@rule(hy.FmodOp)
def _fmod(e: ScalarEmitter, op: Operation, args: list[ir.Value]) -> ir.Value:
    a, b = args
    if is_float(op.operands[0].type):
        return e.b.frem(a, b)  # LLVM's frem is C's fmod
    t = a.type
    zero, one, minus_one = (ir.Constant(t, v) for v in (0, 1, -1))
    # a zero divisor gives 0; so does -1 (srem of the lowest value by -1 would overflow)
    trivial = e.b.or_(e.b.icmp_signed("==", b, zero), e.b.icmp_signed("==", b, minus_one))
    return e.b.select(trivial, zero, e.b.srem(a, e.b.select(trivial, one, b)))


@rule(hy.PowOp, math=("pow",))
def _pow(e: ScalarEmitter, op: Operation, args: list[ir.Value]) -> ir.Value:
    a, b = args
    if is_float(op.operands[0].type):
        return e.math("pow", op, args)
    return e.b.call(_integer_power(e.module, a.type), [a, b])


def _integer_power(module: ir.Module, t: ir.IntType) -> ir.Function:
    """``a ** b`` by squaring; a negative exponent gives 1, -1 or 0 as the interpreter does."""
    name = f"hyc.ipow.i{t.width}"
    if name in module.globals:
        return module.globals[name]
    fn = ir.Function(module, ir.FunctionType(t, [t, t]), name)
    fn.linkage = "internal"
    base, exponent = fn.args
    entry, loop, done, negative = (fn.append_basic_block(n) for n in ("entry", "loop", "done", "negative"))
    b = ir.IRBuilder(entry)
    zero, one = ir.Constant(t, 0), ir.Constant(t, 1)
    b.cbranch(b.icmp_signed("<", exponent, zero), negative, loop)
    b.position_at_end(loop)
    result = b.phi(t)
    power = b.phi(t)
    rest = b.phi(t)
    result.add_incoming(one, entry)
    power.add_incoming(base, entry)
    rest.add_incoming(exponent, entry)
    odd = b.icmp_signed("!=", b.and_(rest, one), zero)
    new_result = b.select(odd, b.mul(result, power), result)
    new_power = b.mul(power, power)
    new_rest = b.lshr(rest, one)
    result.add_incoming(new_result, loop)
    power.add_incoming(new_power, loop)
    rest.add_incoming(new_rest, loop)
    b.cbranch(b.icmp_signed("==", new_rest, zero), done, loop)
    b.position_at_end(done)
    b.ret(new_result)
    b.position_at_end(negative)
    is_one = b.icmp_signed("==", base, one)
    is_minus_one = b.icmp_signed("==", base, ir.Constant(t, -1))
    odd_exponent = b.icmp_signed("!=", b.and_(exponent, one), zero)
    minus = b.select(odd_exponent, ir.Constant(t, -1), one)
    b.ret(b.select(is_one, one, b.select(is_minus_one, minus, zero)))
    return fn


def _extremum(ordered: str, signed: str) -> Rule:
    """numpy's maximum/minimum: a NaN on either side wins (first operand's NaN first)."""
    def emit(e: ScalarEmitter, op: Operation, args: list[ir.Value]) -> ir.Value:
        a, b = args
        if is_float(op.operands[0].type):
            pick_a = e.b.or_(e.b.fcmp_ordered(ordered, a, b), e.is_nan(a))
            return e.b.select(pick_a, a, b)
        return e.b.select(e.b.icmp_signed(signed, a, b), a, b)
    return emit


rule(hy.MaximumOp)(_extremum(">=", ">="))
rule(hy.MinimumOp)(_extremum("<=", "<="))


@rule(hy.NegOp)
def _neg(e: ScalarEmitter, op: Operation, args: list[ir.Value]) -> ir.Value:
    return e.b.fneg(args[0]) if is_float(op.operands[0].type) else e.b.neg(args[0])


@rule(hy.AbsOp, math=("fabs",))
def _abs(e: ScalarEmitter, op: Operation, args: list[ir.Value]) -> ir.Value:
    x = args[0]
    if is_float(op.operands[0].type):
        return e.math("fabs", op, args)
    return e.b.select(e.b.icmp_signed("<", x, ir.Constant(x.type, 0)), e.b.neg(x), x)


@rule(hy.ReluOp)
def _relu(e: ScalarEmitter, op: Operation, args: list[ir.Value]) -> ir.Value:
    x = args[0]
    zero = ir.Constant(x.type, 0)
    if is_float(op.operands[0].type):  # NaN stays NaN, as np.maximum(x, 0) keeps it
        return e.b.select(e.b.fcmp_unordered(">", x, zero), x, zero)
    return e.b.select(e.b.icmp_signed(">", x, zero), x, zero)


def _math(name: str) -> Rule:
    def emit(e: ScalarEmitter, op: Operation, args: list[ir.Value]) -> ir.Value:
        return e.math(name, op, args)
    return emit


for _op, _name in ((hy.ExpOp, "exp"), (hy.LogOp, "log"), (hy.SqrtOp, "sqrt"),
                   (hy.FloorOp, "floor"), (hy.TanhOp, "tanh")):
    rule(_op, math=(_name,))(_math(_name))


@rule(hy.SigmoidOp, math=("exp",))
def _sigmoid(e: ScalarEmitter, op: Operation, args: list[ir.Value]) -> ir.Value:
    x = args[0]
    one = ir.Constant(x.type, 1.0)
    exp = e.math("exp", op, [e.b.fneg(x)])
    return e.b.fdiv(one, e.b.fadd(one, exp))


@rule(hy.NotOp)
def _not(e: ScalarEmitter, op: Operation, args: list[ir.Value]) -> ir.Value:
    return e.b.xor(args[0], ir.Constant(ir.IntType(1), 1))


rule(hy.AndOp)(lambda e, op, args: e.b.and_(*args))
rule(hy.OrOp)(lambda e, op, args: e.b.or_(*args))

_COMPARE = {hy.EqOp: "==", hy.NeOp: "!=", hy.LtOp: "<", hy.LeOp: "<=", hy.GtOp: ">",
            hy.GeOp: ">="}


@rule(*_COMPARE)
def _compare(e: ScalarEmitter, op: Operation, args: list[ir.Value]) -> ir.Value:
    symbol = _COMPARE[type(op)]
    if is_float(op.operands[0].type):
        # numpy: every comparison with NaN is false, except != which is true
        return (e.b.fcmp_unordered(symbol, *args) if symbol == "!="
                else e.b.fcmp_ordered(symbol, *args))
    return e.b.icmp_signed(symbol, *args)


@rule(hy.SelectOp)
def _select(e: ScalarEmitter, op: Operation, args: list[ir.Value]) -> ir.Value:
    return e.b.select(*args)


@rule(hy.CastOp)
def _cast(e: ScalarEmitter, op: Operation, args: list[ir.Value]) -> ir.Value:
    return cast(e.b, args[0], op.operands[0].type, op.result.type)


def cast(b: ir.IRBuilder, x: ir.Value, source: Type, target: Type) -> ir.Value:
    to = llvm_type(target)
    if x.type == to:
        return x
    if to == ir.IntType(1):  # != 0
        return b.fcmp_unordered("!=", x, ir.Constant(x.type, 0)) if is_float(source) \
            else b.icmp_signed("!=", x, ir.Constant(x.type, 0))
    if is_float(source) and is_float(target):
        return b.fpext(x, to) if x.type == ir.FloatType() else b.fptrunc(x, to)
    if is_float(source):
        # saturating (NaN gives 0): a plain fptosi of an out-of-range value is poison in LLVM,
        # and a bounds check of a poison index could be optimized away
        name = f"llvm.fptosi.sat.i{to.width}.{'f32' if x.type == ir.FloatType() else 'f64'}"
        module = b.module
        found = module.globals.get(name)
        convert = found if found is not None else ir.Function(module, ir.FunctionType(to, [x.type]), name)
        return b.call(convert, [x])
    unsigned = x.type == ir.IntType(1)  # a bool is 0 or 1, not 0 or -1
    if is_float(target):
        return b.uitofp(x, to) if unsigned else b.sitofp(x, to)
    if to.width > x.type.width:
        return b.zext(x, to) if unsigned else b.sext(x, to)
    return b.trunc(x, to)


@rule(hy.ConstantOp)
def _constant(e: ScalarEmitter, op: Operation, args: list[ir.Value]) -> ir.Value:
    value = op.attributes["value"].array[()]
    t = llvm_type(op.result.type)
    return ir.Constant(t, float(value) if is_float(op.result.type) else int(value))
