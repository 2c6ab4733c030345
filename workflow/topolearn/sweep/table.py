"""The sweep index table (results/sweep.tsv), and which of its fields the sweep varies.

Light at import: the workflow imports it while planning, so pandas is imported where a frame is made.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..data.toy import TOY_FIELDS, is_toy
from ..utils.tables import read_tsv, write_tsv
from .points import POINT_DEFAULTS


def sweep_frame(points: dict) -> pd.DataFrame:
    """One row per run: `run_id` then every point field, in a fixed column order."""
    import pandas as pd

    rows = [{"run_id": rid, **{k: p.get(k) for k in POINT_DEFAULTS}} for rid, p in sorted(points.items())]
    return pd.DataFrame(rows, columns=["run_id", *POINT_DEFAULTS])


def write_sweep_table(points: dict, path) -> None:
    write_tsv(sweep_frame(points), path)


def read_sweep_table(path) -> pd.DataFrame:
    return read_tsv(path)


def shown_fields(table: pd.DataFrame) -> list[str]:
    """The point fields a sweep's result tables show, in POINT_DEFAULTS order: all of them but the toy
    data's own fields (noise, n_samples, turns, ...) when no run of `table` (the sweep table) is on toy
    data: they apply to none of its runs and would only be NA columns."""
    toy = "dataset" in table and table["dataset"].map(is_toy).any()
    return [f for f in POINT_DEFAULTS if toy or f not in TOY_FIELDS]


def varied_fields(rows, fields: Iterable[str] | None = None, *, include_seed: bool = True,
                  count_missing: bool = False) -> list[str]:
    """The fields that take more than one value across a sweep's runs, in `fields` order.

    `rows` is either normalized points (default fields: every key, in order of first appearance;
    values compared by repr, so lists compare too) or a frame with one column per field (default
    fields: its columns but `run_id`); fields absent from `rows` are skipped. A missing value (None,
    NA) is no value unless `count_missing`: without it a field that only varies by not applying
    (init_std is NA for a zero init) is not varied. Seeds are left out unless `include_seed`."""
    if hasattr(rows, "columns"):  # a frame
        counts = {f: rows[f].nunique(dropna=not count_missing) for f in rows.columns if f != "run_id"}
    else:
        rows = list(rows)
        counts = {f: len({repr(r.get(f)) for r in rows if count_missing or r.get(f) is not None})
                  for f in dict.fromkeys(k for r in rows for k in r)}
    fields = counts if fields is None else [f for f in fields if f in counts]
    return [f for f in fields if (include_seed or f != "seed") and counts[f] > 1]
