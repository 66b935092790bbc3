"""Executable checks of the sheet's formulas: output sizes, parameter and multiply-add counts."""

from c147.theory.shapes import (
    LayerRow,
    Summary,
    conv_macs,
    conv_output_size,
    conv_params,
    format_table,
    linear_macs,
    linear_params,
    pool_output_size,
    summarize,
)

__all__ = ["LayerRow", "Summary", "conv_macs", "conv_output_size", "conv_params", "format_table", "linear_macs",
           "linear_params", "pool_output_size", "summarize"]
