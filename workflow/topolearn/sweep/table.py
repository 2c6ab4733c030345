"""The sweep index table (results/sweep.tsv)."""

from pathlib import Path

import pandas as pd

from .points import POINT_DEFAULTS


def sweep_frame(points: dict) -> pd.DataFrame:
    """One row per run: `run_id` then every point field, in a fixed column order."""
    rows = [{"run_id": rid, **{k: p.get(k) for k in POINT_DEFAULTS}} for rid, p in sorted(points.items())]
    return pd.DataFrame(rows, columns=["run_id", *POINT_DEFAULTS])


def write_sweep_table(points: dict, path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sweep_frame(points).to_csv(path, sep="\t", index=False, na_rep="NA")


def read_sweep_table(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", na_values=["NA"], keep_default_na=False)
