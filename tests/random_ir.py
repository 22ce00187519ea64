"""A generator of random well-typed modules, for round-trip, verifier and differential tests.

It picks ops by their declarations (every elementwise op in the registry is a candidate, so
new ones are covered without touching this file) and builds functions with dynamic and
named dims, constants, calls, loops with carried values, branches with results and prints.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np

from hyc.ir import (
    OPS,
    Builder,
    CallOp,
    DenseAttr,
    ForOp,
    FuncOp,
    FunctionType,
    IfOp,
    ModuleOp,
    ReturnOp,
    TypeAttr,
    Value,
    YieldOp,
    f32,
    f64,
    i1,
    i32,
    i64,
    index,
    int_array,
)
from hyc.ir.attributes import BoolAttr, IntAttr
from hyc.ir.dialects import hy
from hyc.ir.opdef import Elementwise
from hyc.ir.types import (
    TensorType,
    Type,
    element_type,
    is_float,
    is_static,
    make_type,
    numpy_dtype,
    shape_of,
)

ELEMENTS = [f32, f32, f32, f64, i32, i64, i1]
NAMED_DIMS = ["N", "M"]


class RandomModuleGenerator:
    def __init__(self, seed: int, max_ops: int = 12) -> None:
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        self.max_ops = max_ops
        self.functions: list[FuncOp] = []

    # -- module and functions --------------------------------------------------------------------
    def module(self) -> ModuleOp:
        module = ModuleOp.create()
        for k in range(self.rng.randint(1, 3)):
            func = self.function(f"f{k}")
            module.body.append(func)
            self.functions.append(func)
        return module

    def random_type(self, allow_dynamic: bool = True) -> Type:
        element = self.rng.choice(ELEMENTS)
        rank = self.rng.choice([0, 1, 1, 2, 2, 3])
        dims: list = []
        for _ in range(rank):
            roll = self.rng.random()
            if allow_dynamic and roll < 0.15:
                dims.append(self.rng.choice(NAMED_DIMS))
            elif allow_dynamic and roll < 0.22:
                dims.append("?")
            else:
                dims.append(self.rng.choice([1, 2, 3, 4, 0] if roll > 0.95 else [1, 2, 3, 4]))
        return make_type(element, tuple(dims))

    def function(self, name: str) -> FuncOp:
        params = [self.random_type() for _ in range(self.rng.randint(1, 4))]
        func = FuncOp.create(name, params, [], [f"a{i}" for i in range(len(params))])
        b = Builder(func.body)
        pool: list[Value] = list(func.body.args)
        self.fill(b, pool, self.rng.randint(2, self.max_ops), depth=0)
        results = self.rng.sample(pool, k=min(len(pool), self.rng.randint(0, 2)))
        b.create(ReturnOp, results, result_types=[])
        func.attributes["function_type"] = TypeAttr(
            FunctionType(tuple(params), tuple(v.type for v in results)))
        return func

    def fill(self, b: Builder, pool: list[Value], count: int, depth: int) -> None:
        makers: list[Callable[[Builder, list[Value], int], Value | None]] = [
            self.elementwise, self.elementwise, self.elementwise, self.constant, self.cast,
            self.select, self.broadcast, self.reshape, self.transpose, self.concat, self.slice,
            self.dim, self.matmul, self.tall_matmul, self.reduce, self.softmax, self.print_, self.call,
            self.loop, self.branch]
        for _ in range(count):
            value = self.rng.choice(makers)(b, pool, depth)
            if value is not None:
                pool.append(value)

    # -- helpers --------------------------------------------------------------------------------------
    def pick(self, pool: list[Value], accept: Callable[[Type], bool]) -> Value | None:
        candidates = [v for v in pool if accept(v.type)]
        return self.rng.choice(candidates) if candidates else None

    def constant_of(self, b: Builder, type_: Type) -> Value:
        dtype = numpy_dtype(type_)
        shape = shape_of(type_)
        if dtype == np.bool_:
            data = self.np_rng.random(shape) < 0.5
        elif dtype.kind == "f":
            data = self.np_rng.standard_normal(shape).astype(dtype)
            if self.rng.random() < 0.05 and data.size:
                data.reshape(-1)[0] = self.rng.choice([np.inf, -np.inf, np.nan, 0.0])
        else:
            data = self.np_rng.integers(-5, 6, shape).astype(dtype)
        return b.create(hy.ConstantOp, attributes={"value": DenseAttr.from_values(type_, data)}).result

    def partner(self, b: Builder, pool: list[Value], v: Value) -> Value:
        """A second operand of exactly v's type."""
        shape = shape_of(v.type)
        if self.rng.random() < 0.5 and is_static(shape):
            return self.constant_of(b, v.type)
        if "?" in shape:  # two '?' dims need not be equal at run time
            return v
        return self.rng.choice([w for w in pool if w.type == v.type])

    def index_const(self, b: Builder, n: int) -> Value:
        return b.constant(index, n)

    def sizes_for(self, b: Builder, source: Value, axes: list[int]) -> list[Value]:
        return [b.create(hy.DimOp, [source], {"axis": IntAttr(a)}).result for a in axes]

    # -- op makers (each returns the new value or None when nothing fits) ----------------------------
    def constant(self, b: Builder, pool: list[Value], depth: int) -> Value | None:
        return self.constant_of(b, self.random_type(allow_dynamic=False))

    def elementwise(self, b: Builder, pool: list[Value], depth: int) -> Value | None:
        classes = [c for c in OPS.values() if Elementwise in c.traits
                   and c not in (hy.SelectOp, hy.CastOp)]
        op_class = self.rng.choice(classes)
        first = op_class.operand_defs[0].constraint
        v = self.pick(pool, first.check)
        if v is None:
            return None
        operands = [v] + [self.partner(b, pool, v) for _ in op_class.operand_defs[1:]]
        return b.create(op_class, operands).result

    def cast(self, b: Builder, pool: list[Value], depth: int) -> Value | None:
        v = self.rng.choice(pool)
        target = make_type(self.rng.choice(ELEMENTS), shape_of(v.type))
        return b.create(hy.CastOp, [v], result_types=[target]).result

    def select(self, b: Builder, pool: list[Value], depth: int) -> Value | None:
        v = self.rng.choice(pool)
        other = self.partner(b, pool, v)
        cond = b.create(hy.NeOp, [v, other]).result
        return b.create(hy.SelectOp, [cond, v, other]).result

    def broadcast(self, b: Builder, pool: list[Value], depth: int) -> Value | None:
        v = self.rng.choice(pool)
        shape = list(shape_of(v.type))
        stretched = [self.rng.choice([2, 3]) if d == 1 and self.rng.random() < 0.5 else d
                     for d in shape]
        lead = [self.rng.choice([1, 2, 3]) for _ in range(self.rng.randint(0 if shape else 1, 2))]
        target = tuple(lead + stretched)
        if len(target) > 4:
            return None
        dynamic_axes = [len(lead) + i for i, d in enumerate(stretched) if not isinstance(d, int)]
        sizes = self.sizes_for(b, v, [a - len(lead) for a in dynamic_axes]) if dynamic_axes else []
        result = make_type(element_type(v.type), target)
        return b.create(hy.BroadcastToOp, [v, *sizes], result_types=[result]).result

    def reshape(self, b: Builder, pool: list[Value], depth: int) -> Value | None:
        v = self.pick(pool, lambda t: isinstance(t, TensorType))
        if v is None:
            return None
        shape = shape_of(v.type)
        if is_static(shape):
            total = int(np.prod(shape))
            target: tuple = self.rng.choice([(total,), (1, total), (total, 1)])
            return b.create(hy.ReshapeOp, [v], result_types=[make_type(element_type(v.type), target)]).result
        # flatten a dynamic shape: the size is the product of its dims, computed on index values
        dims = self.sizes_for(b, v, list(range(len(shape))))
        size = dims[0]
        for d in dims[1:]:
            size = b.create(hy.MulOp, [size, d]).result
        flat = TensorType(("?",), element_type(v.type))
        return b.create(hy.ReshapeOp, [v, size], result_types=[flat]).result

    def transpose(self, b: Builder, pool: list[Value], depth: int) -> Value | None:
        v = self.pick(pool, lambda t: isinstance(t, TensorType))
        if v is None:
            return None
        perm = list(range(len(shape_of(v.type))))
        self.rng.shuffle(perm)
        return b.create(hy.TransposeOp, [v], {"permutation": int_array(perm)}).result

    def concat(self, b: Builder, pool: list[Value], depth: int) -> Value | None:
        v = self.pick(pool, lambda t: isinstance(t, TensorType))
        if v is None:
            return None
        axis = self.rng.randrange(len(shape_of(v.type)))
        inputs = [v] + [self.partner(b, pool, v) for _ in range(self.rng.randint(0, 2))]
        return b.create(hy.ConcatOp, inputs, {"axis": IntAttr(axis)}).result

    def slice(self, b: Builder, pool: list[Value], depth: int) -> Value | None:
        v = self.pick(pool, lambda t: isinstance(t, TensorType))
        if v is None:
            return None
        rank = len(shape_of(v.type))
        starts = [self.rng.choice([0, 0, 1, -1, -2]) for _ in range(rank)]
        stops = [self.rng.choice([2**62, 3, -1, 1]) for _ in range(rank)]
        steps = [self.rng.choice([1, 1, 2, -1]) for _ in range(rank)]
        attrs = {"starts": int_array(starts), "stops": int_array(stops), "steps": int_array(steps)}
        return b.create(hy.SliceOp, [v], attrs).result

    def dim(self, b: Builder, pool: list[Value], depth: int) -> Value | None:
        v = self.pick(pool, lambda t: isinstance(t, TensorType))
        if v is None:
            return None
        return self.sizes_for(b, v, [self.rng.randrange(len(shape_of(v.type)))])[0]

    def matmul(self, b: Builder, pool: list[Value], depth: int) -> Value | None:
        v = self.pick(pool, lambda t: isinstance(t, TensorType) and element_type(t) != i1
                      and isinstance(shape_of(t)[-1], int))
        if v is None:
            return None
        shape = shape_of(v.type)
        k = shape[-1]
        batch = tuple(d if isinstance(d, int) else 1 for d in shape[:-2])
        rhs_shape = self.rng.choice([(k,), (k, self.rng.randint(1, 3)), batch + (k, 2)])
        rhs = self.constant_of(b, make_type(element_type(v.type), rhs_shape))
        return b.create(hy.MatmulOp, [v, rhs]).result

    def tall_matmul(self, b: Builder, pool: list[Value], depth: int) -> Value | None:
        """A float product of 4 rows or more (the runtime kernel's packed path, unless folded),
        its inner dimension sometimes empty."""
        element = self.rng.choice([f32, f64])
        rows, inner, cols = (self.rng.choice(c) for c in ([4, 7], [0, 2, 9], [1, 5, 17]))
        lhs = self.constant_of(b, make_type(element, (rows, inner)))
        rhs = self.constant_of(b, make_type(element, (inner, cols)))
        return b.create(hy.MatmulOp, [lhs, rhs]).result

    def reduce(self, b: Builder, pool: list[Value], depth: int) -> Value | None:
        op_class = self.rng.choice([hy.SumOp, hy.MeanOp, hy.MaxOp, hy.MinOp])
        v = self.pick(pool, lambda t: isinstance(t, TensorType)
                      and op_class.operand_defs[0].constraint.check(t))
        if v is None:
            return None
        rank = len(shape_of(v.type))
        axes = sorted(self.rng.sample(range(rank), self.rng.randint(1, rank)))
        attrs = {"axes": int_array(axes)}
        if self.rng.random() < 0.5:
            attrs["keepdims"] = BoolAttr(self.rng.random() < 0.5)
        return b.create(op_class, [v], attrs).result

    def softmax(self, b: Builder, pool: list[Value], depth: int) -> Value | None:
        v = self.pick(pool, lambda t: isinstance(t, TensorType) and is_float(t))
        if v is None:
            return None
        axis = self.rng.randrange(len(shape_of(v.type)))
        return b.create(hy.SoftmaxOp, [v], {"axis": IntAttr(axis)}).result

    def print_(self, b: Builder, pool: list[Value], depth: int) -> Value | None:
        b.create(hy.PrintOp, self.rng.sample(pool, k=min(len(pool), 2)), result_types=[])
        return None

    def call(self, b: Builder, pool: list[Value], depth: int) -> Value | None:
        if not self.functions:
            return None
        callee = self.rng.choice(self.functions)
        args = []
        for t in callee.type.inputs:
            match = [v for v in pool if v.type == t]
            if match:
                args.append(self.rng.choice(match))
            elif is_static(shape_of(t)):
                args.append(self.constant_of(b, t))
            else:
                return None
        op = b.insert(CallOp.create(callee, args))
        pool.extend(op.results)
        return None

    def loop(self, b: Builder, pool: list[Value], depth: int) -> Value | None:
        if depth >= 2:
            return None
        carried = self.rng.sample(pool, k=min(len(pool), self.rng.randint(1, 2)))
        bounds = [self.index_const(b, n) for n in (self.rng.randint(0, 1),
                                                    self.rng.randint(0, 4), self.rng.randint(1, 2))]
        loop = b.insert(ForOp.create(*bounds, carried, iv_name="i"))
        body_pool = pool + list(loop.body.args)
        with b.at_end(loop.body):
            self.fill(b, body_pool, self.rng.randint(1, 4), depth + 1)
            yields = [self.pick(body_pool[len(pool):], lambda t, c=c: t == c.type) or arg
                      for c, arg in zip(carried, loop.body.args[1:])]
            b.create(YieldOp, yields, result_types=[])
        pool.extend(loop.results)
        return None

    def branch(self, b: Builder, pool: list[Value], depth: int) -> Value | None:
        if depth >= 2:
            return None
        scalar = self.pick(pool, lambda t: not isinstance(t, TensorType) and element_type(t) != i1)
        if scalar is not None:
            cond = b.create(hy.GtOp, [scalar, self.constant_of(b, scalar.type)]).result
        else:
            cond = b.constant(i1, self.rng.random() < 0.5)
        outs = self.rng.sample(pool, k=min(len(pool), self.rng.randint(0, 2)))
        op = b.insert(IfOp.create(cond, [v.type for v in outs]))
        for block in (op.then_block, op.else_block):
            inner = list(pool)
            with b.at_end(block):
                self.fill(b, inner, self.rng.randint(0, 3), depth + 1)
                yields = [self.pick(inner[len(pool):], lambda t, o=o: t == o.type) or o
                          for o in outs]
                b.create(YieldOp, yields, result_types=[])
        pool.extend(op.results)
        return None


def random_module(seed: int, max_ops: int = 12) -> ModuleOp:
    return RandomModuleGenerator(seed, max_ops).module()


def random_arguments(func: FuncOp, seed: int) -> list[np.ndarray]:
    """Inputs for ``func``: named dims bound consistently, '?' dims free."""
    rng = np.random.default_rng(seed)
    # up to 7: a named dimension of rows takes the matmul kernel's packed path (4 rows or more)
    named = {name: int(rng.integers(0, 8)) for name in NAMED_DIMS}
    args = []
    for t in func.type.inputs:
        shape = tuple(d if isinstance(d, int) else named.get(d, int(rng.integers(1, 4)))
                      for d in shape_of(t))
        dtype = numpy_dtype(t)
        if dtype == np.bool_:
            args.append(rng.random(shape) < 0.5)
        elif dtype.kind == "f":
            args.append(rng.standard_normal(shape).astype(dtype))
        else:
            args.append(rng.integers(-5, 6, shape).astype(dtype))
    return args

