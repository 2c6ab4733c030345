"""Layer representations on toy data: their measured topology (Betti numbers, separability,
folding) per snapshot, as per-run tables and summary columns (measures; docs/layers.md)."""

from .measures import (SUMMARY_METRICS, TABLE_COLUMNS, analyze_run_layers, betti_numbers, folded_fraction,
                       layer_table, read_table, separability, summary_columns, write_table)

__all__ = ["SUMMARY_METRICS", "TABLE_COLUMNS", "analyze_run_layers", "betti_numbers", "folded_fraction",
           "layer_table", "read_table", "separability", "summary_columns", "write_table"]
