"""Backends: LLVM CPU code (JIT and AOT) with its runtime. (The NVPTX backend is yet to come.)"""
