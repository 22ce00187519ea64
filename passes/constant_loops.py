"""Constant folding through loops: a loop whose trip count and inputs are all known runs at
compile time, and its results become constants."""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np

from hyc.ir import ForOp, HycError, Interpreter, ModuleOp
from hyc.record import record

from .effects import Effects
from .manager import Pass, register_pass
from .rewrite import Rewriter, constant_for, constant_value, small


@register_pass
@record
class FoldLoops(Pass):
    """Evaluate ``scf.for`` loops whose bounds and inputs are constants.

    The loop runs in the reference interpreter when everything it reads is a constant, it
    has no side effects, it runs at most ``max-iterations`` times and its results are small
    (or splats); its results become constants. Together with inlining and canonicalize
    this folds programs through calls, loops and branches.
    """

    name: ClassVar[str] = "fold-loops"
    max_iterations: int = 10000

    def run(self, module: ModuleOp) -> None:
        effects = Effects(module)
        interpreter = Interpreter(module)
        for loop in [op for op in module.walk() if isinstance(op, ForOp)]:
            if loop.parent is not None and not effects.has_effects(loop):
                self.try_fold(loop, interpreter)

    def try_fold(self, loop: ForOp, interpreter: Interpreter) -> None:
        constants = {v: constant_value(v) for v in loop.values_from_outside()}
        if any(c is None for c in constants.values()):
            return
        lower, upper, step = (int(constants[v].array) for v in loop.operands[:3])  # type: ignore[union-attr]
        if step <= 0 or len(range(lower, upper, step)) > self.max_iterations:
            return
        env = {v: c.array for v, c in constants.items()}  # type: ignore[union-attr]
        args = [env[v] for v in loop.operands]
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                results = interpreter._run_for(loop, args, env, {})
        except HycError:  # the program fails here at run time: leave it to fail there
            return
        attrs = [constant_for(r, a) for r, a in zip(loop.results, results)]
        if not all(small(a) for a in attrs):
            return
        rewriter = Rewriter()
        rewriter.replace(loop, [rewriter.constant(loop, a) for a in attrs])
