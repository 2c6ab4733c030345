"""The effective-width test: does a hidden layer's branch count say how many neurons it needs?

Gabella et al. suggest that the number of branches of a hidden layer's learning graph hints at the
neurons the layer needs. The test retrains a run's point with its hidden width set to its final
branch count times each factor (0.5, 1, 2 by default) and compares test accuracy with the
original. Today's nets have one `width` for all hidden layers, so the layers' counts are combined
into one: `max` (the most branched layer: no layer gets fewer neurons than it has branches) or
`mean`. Derived widths are rounded half up and at least 1.

Tables (docs/effective_width.md): the derived points (`POINT_COLUMNS`, written by the checkpoint
once the branch tables exist), the per-run accuracies (`ACCURACY_COLUMNS`) and the summary across
the sweep per factor (`SUMMARY_COLUMNS`).

Light at import (the rules use derived_point and derived_store while planning): pandas, zarr and
matplotlib are imported by the functions that need them.
"""

from __future__ import annotations

import csv
import functools
import json
import math
from pathlib import Path

import numpy as np

from ..sweep.points import normalize_point, run_id
from ..utils.tables import read_tsv, write_tsv

POINT_COLUMNS = ["source_run_id", "factor", "combine", "layer_counts", "branch_count", "source_width", "width",
                 "run_id", "point"]
ACCURACY_COLUMNS = ["source_run_id", "factor", "layer_counts", "branch_count", "source_width", "width", "run_id",
                    "source_test_acc", "test_acc", "delta_test_acc", "source_diverged", "diverged"]
SUMMARY_COLUMNS = ["factor", "runs", "median_width_ratio", "median_delta_test_acc", "min_delta_test_acc",
                   "max_delta_test_acc", "within_0.01"]


# ---------------------------------------------------------------- derived points


def hidden_branch_counts(branches: pd.DataFrame, depth: int) -> dict[str, int]:
    """{layer: final branch count} of the run's analysed hidden layers that have a learning graph."""
    hidden = branches[(branches["layer_index"] < depth) & ~branches["empty"].astype(bool)
                      & branches["final_branches"].notna()]
    return {str(r.layer): int(r.final_branches) for r in hidden.itertuples()}


def derived_width(counts: dict[str, int], factor: float, combine: str) -> tuple[float, int]:
    """(combined branch count, width): the count times `factor`, rounded half up, at least 1."""
    values = list(counts.values())
    base = float(max(values)) if combine == "max" else float(np.mean(values))
    return base, max(1, math.floor(factor * base + 0.5))


def derived_points(source_id: str, point: dict, branches: pd.DataFrame, factors, combine: str) -> list[dict]:
    """Rows of the points table for one run: none when it has no hidden layer or no hidden graph."""
    counts = hidden_branch_counts(branches, point["depth"]) if point["depth"] > 0 else {}
    rows = []
    for factor in factors if counts else []:
        base, width = derived_width(counts, float(factor), combine)
        derived = normalize_point({**point, "width": width})
        rows.append({"source_run_id": source_id, "factor": float(factor), "combine": combine,
                     "layer_counts": ",".join(f"{k}={v}" for k, v in counts.items()), "branch_count": base,
                     "source_width": point["width"], "width": width, "run_id": run_id(derived),
                     "point": json.dumps(derived, sort_keys=True)})
    return rows


def points_table(points: dict[str, dict], branch_tables: dict, factors, combine: str) -> pd.DataFrame:
    """The derived points of every run with a branch table ({run_id: its rows, a frame from
    topolearn.analysis.tables, or a path}), in run order."""
    import pandas as pd

    rows = []
    for rid, table in branch_tables.items():
        rows += derived_points(rid, points[rid], table if isinstance(table, pd.DataFrame) else read_tsv(table),
                               factors, combine)
    return pd.DataFrame(rows, columns=POINT_COLUMNS)


def write_table(df: pd.DataFrame, path) -> None:
    write_tsv(df, path)


def read_points_table(path) -> pd.DataFrame:
    return read_tsv(path, dtype={"source_run_id": str, "run_id": str})


@functools.lru_cache(maxsize=4)
def _rows(path: str, mtime_ns: int) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def derived_rows(table_path) -> list[dict]:
    """The points table as rows of strings (csv, not pandas: read while planning), parsed once per change."""
    path = str(table_path)
    return _rows(path, Path(path).stat().st_mtime_ns)


def derived_point(table_path, rid: str) -> dict:
    """The normalized point of derived run `rid`, read from the points table (parsed once per change)."""
    return next(json.loads(r["point"]) for r in derived_rows(table_path) if r["run_id"] == rid)


def derived_source(table_path, rid: str) -> str:
    """The (first) sweep run whose branch count gave derived run `rid`: its dataset files are the derived run's."""
    return next(r["source_run_id"] for r in derived_rows(table_path) if r["run_id"] == rid)


def derived_store(results: str, rid: str, sweep_ids) -> str:
    """A derived run's store: the sweep's own when the derived point is a sweep point (same width)."""
    if rid in sweep_ids:
        return f"{results}/runs/{rid}/snapshots.zarr"
    return f"{results}/effective_width/runs/{rid}/snapshots.zarr"


# ---------------------------------------------------------------- accuracies


def final_test_acc(store_path) -> tuple[float, bool]:
    """(final test accuracy, diverged): the final model's on the whole test set (`final_eval`), else
    the last snapshot's; NaN for a diverged run."""
    from ..store.snapshots import open_store, read_metric_series  # zarr: imported when a table is made

    root = open_store(store_path, deep=False)
    attrs = root.attrs.asdict()
    diverged = bool(attrs.get("diverged", False))
    final = attrs.get("final_eval") or {}
    if "test_acc" in final or diverged:
        return float(final.get("test_acc", np.nan)), diverged
    return float(read_metric_series(root, ("test_acc",))["test_acc"][-1]), diverged


def accuracy_table(points: pd.DataFrame, store_of) -> pd.DataFrame:
    """One row per (run, factor): the derived run's test accuracy next to the original's.

    store_of(run_id, derived: bool) -> store path."""
    import pandas as pd

    acc = {}
    rows = []
    for r in points.itertuples():
        for rid, derived in ((r.source_run_id, False), (r.run_id, True)):
            if rid not in acc:
                acc[rid] = final_test_acc(store_of(rid, derived))
        (src_acc, src_div), (acc_, div) = acc[r.source_run_id], acc[r.run_id]
        rows.append({"source_run_id": r.source_run_id, "factor": r.factor, "layer_counts": r.layer_counts,
                     "branch_count": r.branch_count, "source_width": r.source_width, "width": r.width,
                     "run_id": r.run_id, "source_test_acc": src_acc, "test_acc": acc_,
                     "delta_test_acc": acc_ - src_acc, "source_diverged": src_div, "diverged": div})
    return pd.DataFrame(rows, columns=ACCURACY_COLUMNS)


def summary_table(acc: pd.DataFrame) -> pd.DataFrame:
    """Across the sweep, per factor: how the derived nets' accuracy compares with the originals'."""
    import pandas as pd

    rows = []
    for factor, g in acc.groupby("factor", sort=True):
        d = g["delta_test_acc"].dropna()
        rows.append({"factor": factor, "runs": len(d), "median_width_ratio": float((g["width"] / g["source_width"]).median()),
                     "median_delta_test_acc": d.median() if len(d) else np.nan,
                     "min_delta_test_acc": d.min() if len(d) else np.nan,
                     "max_delta_test_acc": d.max() if len(d) else np.nan,
                     "within_0.01": float((d.abs() <= 0.01).mean()) if len(d) else np.nan})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def plot_effective_width(acc: pd.DataFrame):
    """Left: test accuracy change against the factor, one line per run, the median in black.
    Right: derived against original accuracy, colored by factor."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
    if acc.empty:  # no run with a hidden layer that has a learning graph
        for a in (ax, ax2):
            a.text(0.5, 0.5, "no derived points", ha="center", va="center", transform=a.transAxes)
        return fig
    for _, g in acc.groupby("source_run_id"):
        g = g.sort_values("factor")
        ax.plot(g["factor"], g["delta_test_acc"], color="0.7", lw=0.8, marker=".")
    med = acc.groupby("factor")["delta_test_acc"].median()
    ax.plot(med.index, med.values, color="black", lw=2, marker="o", label="median over runs")
    ax.axhline(0, color="tab:red", lw=0.8, ls="--")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(acc["factor"].unique()), [f"{f:g}" for f in sorted(acc["factor"].unique())])
    ax.set_xlabel("hidden width / final branch count")
    ax.set_ylabel("test accuracy - original's")
    ax.legend(fontsize=8)
    for factor, g in acc.groupby("factor"):
        ax2.scatter(g["source_test_acc"], g["test_acc"], s=14, label=f"x{factor:g}")
    lo = np.nanmin(acc[["source_test_acc", "test_acc"]].to_numpy(float), initial=1.0)
    ax2.plot([lo, 1], [lo, 1], color="0.5", lw=0.8, ls="--")
    ax2.set_xlabel("original test accuracy")
    ax2.set_ylabel("test accuracy at the derived width")
    ax2.legend(fontsize=8, title="factor", title_fontsize=8)
    fig.suptitle(f"Effective-width test: {acc['source_run_id'].nunique()} run(s) retrained at their branch "
                 f"counts", fontsize=10)
    return fig
