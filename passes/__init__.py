"""The pass manager, the -O0..-O3 pipelines and the optimization passes.

Importing this package registers every pass but the GPU's, which register when a pipeline
names one (``manager.import_gpu_passes``).
"""

from . import (  # noqa: F401
    bufferize,
    constant_loops,
    fusion,
    inline,
    loops,
    refine_shapes,
    safety,
    simplify,
)
from .manager import (
    PASSES,
    Instrumentation,
    Pass,
    PassManager,
    list_passes,
    parse_pipeline,
    pipeline_text,
    register_pass,
)
from .pipelines import LEVELS, LOWER_TO_LOOPS


def optimize(module, level: int = 2, instrumentation: Instrumentation | None = None) -> None:
    """Run the -O``level`` pipeline on ``module`` in place."""
    PassManager(parse_pipeline(LEVELS[level]), instrumentation).run(module)


__all__ = ["PASSES", "Instrumentation", "Pass", "PassManager", "list_passes", "parse_pipeline",
           "pipeline_text", "register_pass", "LEVELS", "LOWER_TO_LOOPS", "optimize"]
