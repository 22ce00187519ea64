"""The pass manager, the -O0..-O3 pipelines and the optimization and lowering passes."""
