"""Benchmarks: hand-written pieces against their twins, side by side, as ratios."""
