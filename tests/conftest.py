import atexit
import os
import shutil
import sys
import tempfile

# Shared test helpers (random_ir, file_check) live beside this file.
sys.path.insert(0, os.path.dirname(__file__))

# Tests compile into a cache of their own, never into the user's, and leave crash reproducers
# there too; both go when the run ends (subprocesses inherit the settings).
_scratch = tempfile.mkdtemp(prefix="hyc-test-")
os.environ.setdefault("HYC_CACHE_DIR", os.path.join(_scratch, "cache"))
os.environ.setdefault("HYC_REPRODUCER_DIR", os.path.join(_scratch, "reproducers"))
atexit.register(shutil.rmtree, _scratch, ignore_errors=True)
