"""One way from text to a verified module, for every entry point (the tools, hyc.compile,
hyc.load's compile): .hy source by its file name (or, for text without one, by the look of
it), textual IR otherwise."""

from __future__ import annotations

from hyc.ir import ModuleOp, parse_module, verify


def module_from_text(text: str, filename: str, guess: bool = False) -> ModuleOp:
    """A verified module from ``text``. A ``.hy`` name means source; with ``guess`` (text that
    came without a file name), text holding a ``def`` is source too."""
    if filename.endswith(".hy") or (guess and not filename.endswith(".hyir") and "def " in text):
        from .irgen import compile_source
        return compile_source(text, filename if filename.endswith(".hy") else filename + ".hy")
    module = parse_module(text, filename)
    verify(module)
    return module
