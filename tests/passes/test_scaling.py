"""The rewrite driver's work grows linearly with the program (counted, not timed): a chain
four times as long makes about four times the ops and pattern applications, not sixteen."""

from hyc.frontend.irgen import compile_source
from hyc.ir import Operation, print_ir
from hyc.passes import optimize, rewrite


def chain(terms: int, statements: bool) -> str:
    if statements:
        body = "".join("    y = y + b\n" for _ in range(terms))
        return f"def f(x: f32[N, 4], b: f32[4]) -> f32[N, 4]:\n    y = x\n{body}    return y\n"
    return "def f(x: f32[N, 4], b: f32[4]) -> f32[N, 4]:\n    return x" + " + b" * terms + "\n"


def attempts(source: str, monkeypatch) -> int:
    """Pattern applications plus ops created while optimizing."""
    count = [0]
    original = rewrite.fold_constants
    created = Operation.__init__

    def counting(op):  # type: ignore[no-untyped-def]
        count[0] += 1
        return original(op)

    def creating(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        count[0] += 1
        created(self, *args, **kwargs)

    module = compile_source(source, "chain.hy")
    monkeypatch.setattr(rewrite, "fold_constants", counting)
    monkeypatch.setattr(Operation, "__init__", creating)
    optimize(module, 2)
    monkeypatch.undo()
    assert "hy.fused" in print_ir(module)
    return count[0]


def test_canonicalize_work_is_linear_in_the_chain(monkeypatch):
    for statements in (False, True):
        small = attempts(chain(200, statements), monkeypatch)
        large = attempts(chain(800, statements), monkeypatch)
        assert large < 4.5 * small, (small, large)  # quadratic would be 16x
        # a worklist revisits only what changed: a few attempts per op (-O2 has 5
        # canonicalize/dce runs), where rounds over the whole function took ~80 per op
        assert large < 6 * (3 * 800), large


def test_names_of_many_values_with_one_hint_stay_distinct():
    module = compile_source(chain(300, True), "chain.hy")
    text = print_ir(module)
    assert "%y_299 " in text and "%y_300" not in text


def test_a_value_with_many_uses_is_rewired_one_use_at_a_time():
    """Uses are keyed by (op, operand): dropping one does not rebuild the list of all."""
    module = compile_source(chain(50, True), "chain.hy")
    b = module.functions[0].body.args[1]
    users = [u.op for u in b.uses]
    before = len(b.uses)
    users[0].drop_operands()
    assert len(b.uses) == before - 1 and all(u.op is not users[0] for u in b.uses)
