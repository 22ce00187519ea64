import os
import sys

# Shared test helpers (random_ir, filecheck) live beside this file.
sys.path.insert(0, os.path.dirname(__file__))
