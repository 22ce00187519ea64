"""Code generation: the staged driver (driver.py), targets (target.py), the target-neutral
lowering of the loop level to LLVM IR (lowering.py, scalar_ops.py) and the CPU target
(cpu.py, matmul.py, threads.py) with its JIT, AOT outputs and runtime."""
