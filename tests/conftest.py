import os
import sys

# Shared test helpers (random_ir, filecheck) live beside this file.
sys.path.insert(0, os.path.dirname(__file__))

import tempfile  # noqa: E402

# Tests compile into a cache of their own, never into the user's.
os.environ.setdefault("HYC_CACHE_DIR", tempfile.mkdtemp(prefix="hyc-test-cache-"))
