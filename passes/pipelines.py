"""The optimization levels, as plain pipeline strings: ``hyc-opt --pass-pipeline="<O2>"``
replays ``-O2`` exactly."""

from __future__ import annotations

O0 = ""
O1 = "canonicalize,cse,dce"
O2 = ("inline,canonicalize,refine-shapes,canonicalize,fold-loops,canonicalize,cse,licm,dce,"
      "fuse-elementwise,dce,fuse-matmul-epilogue,canonicalize,cse,dce")
O3 = ("inline,canonicalize,refine-shapes,canonicalize,fold-loops,canonicalize,cse,licm,refine-shapes,"
      "canonicalize,cse,dce,fuse-elementwise{max-ops=64},dce,fuse-matmul-epilogue,canonicalize,"
      "cse,dce")

LEVELS = {0: O0, 1: O1, 2: O2, 3: O3}

# From the optimized tensor level to the buffer level the backends start from (functions
# written at the buffer level are checked and guarded first: passes/safety.py).
LOWER_TO_LOOPS = "harden-buffers,bufferize,canonicalize,cse,canonicalize,licm,dce"
