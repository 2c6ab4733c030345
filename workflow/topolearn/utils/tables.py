"""The workflow's tab-separated tables, written and read with one rule for missing values.

A missing value is written as `NA`. Reading, `NA` and an empty cell are missing and nothing else is:
an empty cell is an empty string column's value (the branching curve's `event` when nothing happened,
the InPCA endpoints' `run_id`), and pandas' default list (`None`, `null`, `nan`, `N/A`, ...) would
turn legitimate strings into NaN.

Floats are written as pandas writes them (shortest repr) unless a table asks for `float_format`.

Light at import: pandas is imported by the functions (the planning code imports this module).
"""

from __future__ import annotations

from pathlib import Path

NA = "NA"
MISSING = [NA, ""]


def write_tsv(df, path, *, float_format: str | None = None) -> None:
    """Write `df` to `path` (parent folders made): tab-separated, no index, missing values as NA."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if float_format is not None:  # numpy float columns formatted here, the same text in half pandas' time
        from pandas.api.types import is_extension_array_dtype, is_float_dtype

        floats = [c for c, t in df.dtypes.items() if is_float_dtype(t) and not is_extension_array_dtype(t)]
        df = df.assign(**{c: [NA if v != v else float_format % v for v in df[c].tolist()] for c in floats})
    df.to_csv(path, sep="\t", index=False, na_rep=NA, float_format=float_format)


def read_tsv(path, dtype=None, **kwargs):
    """Read a table written by write_tsv: NA and empty cells are missing, nothing else."""
    import pandas as pd

    return pd.read_csv(path, sep="\t", dtype=dtype, keep_default_na=False, na_values=MISSING, **kwargs)
