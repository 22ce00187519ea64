"""Frontends lowering to the hy IR: the .hy language and Python tracing."""
