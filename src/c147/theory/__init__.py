"""Executable checks of the sheet's formulas: output sizes, parameter and multiply-add counts (:mod:`shapes`,
exported here), and the registry of every claim on the sheet with its check (:mod:`claims`, run by
``c147-sheet``; imported on demand, not here: it builds models and imports scikit-learn)."""

from c147.theory.shapes import (
    LayerRow,
    Summary,
    check_input_size,
    conv_macs,
    conv_output_size,
    conv_params,
    format_table,
    linear_macs,
    linear_params,
    min_input_size,
    pool_output_size,
    summarize,
    window_count,
)

__all__ = ["LayerRow", "Summary", "check_input_size", "conv_macs", "conv_output_size", "conv_params", "format_table",
           "linear_macs", "linear_params", "min_input_size", "pool_output_size", "summarize", "window_count"]
