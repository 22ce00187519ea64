"""Command-line drivers: hyc and hyc-opt."""
