"""Backends: LLVM CPU code (JIT and AOT) and NVPTX, with their runtimes."""
