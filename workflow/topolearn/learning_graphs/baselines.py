"""What a branch count adds: per-run layer columns for the summary from the tables beside the
learning graphs, and the correlation across runs between branch counts and simple baselines.

Baselines (branching.py's curve, final snapshot): `norm_spread` (std of the per-neuron L2 norms),
`weight_variance` (variance of all the layer's weights) and `final_groups` (distinct neuron groups
of the branching curve). Topological summaries of weights can be largely weight variance
(Girrbach et al., TMLR 2023); a count that merely tracks these adds little.
"""

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ..utils.tables import read_tsv

BASELINES = ("norm_spread", "weight_variance", "final_groups")
CORRELATION_COLUMNS = ["layer_role", "count", "baseline", "spearman_rho", "p_value", "n_runs"]


def _read(path) -> pd.DataFrame:
    if not Path(path).is_file() or Path(path).stat().st_size == 0:
        return pd.DataFrame()
    return read_tsv(path)


def _run_id(path) -> str:
    return Path(path).name.split(".")[0]


def layer_columns(symmetry_tsvs=(), curve_tsvs=(), stability_tsvs=()) -> dict:
    """{run_id: {layer{i}_{metric}: value, "symmetry_context": ...}} for the summary."""
    from .stability import summary_table  # scikit-learn and KeplerMapper: the summary reads tables only

    out: dict = {}
    for p in symmetry_tsvs:
        out.setdefault(_run_id(p), {}).update(run_layer_columns(_read(p), pd.DataFrame()))
    for p in curve_tsvs:
        out.setdefault(_run_id(p), {}).update(run_layer_columns(pd.DataFrame(), _read(p)))
    for p in stability_tsvs:
        df = _read(p)
        row = out.setdefault(_run_id(p), {})
        if df.empty:
            continue
        for _, r in summary_table(df).iterrows():
            for k, col in (("mode_branches", "mode"), ("mode_share", "share"), ("min_branches", "min"),
                           ("max_branches", "max")):
                row[f"{r['layer']}_scan_{col}"] = r[k]
    return out


def run_layer_columns(symmetry: pd.DataFrame, curve: pd.DataFrame) -> dict:
    """One run's {layer{i}_{metric}: value, "symmetry_context": ...} from its symmetry table and
    branching curve (frames; empty when the run has none)."""
    row: dict = {}
    for _, r in symmetry.iterrows():
        row[f"{r['layer']}_symmetry_break_epoch"] = r["symmetry_break_epoch"]
        row[f"{r['layer']}_final_groups"] = r["final_groups"]
    if "context" in symmetry and len(symmetry):
        row["symmetry_context"] = str(symmetry["context"].iloc[0])
    if not curve.empty:
        last = curve.sort_values("snapshot", kind="stable").groupby("layer").tail(1)
        for _, r in last.iterrows():
            row[f"{r['layer']}_norm_spread"] = r.get("norm_spread", np.nan)
            row[f"{r['layer']}_weight_variance"] = r.get("weight_variance", np.nan)
    return row


def correlations(long: pd.DataFrame, counts=("branches", "scan_mode")) -> pd.DataFrame:
    """Spearman correlation across runs, per layer role, between each count and each baseline.

    long: summary.summary_long(summary) (one row per run and layer), diverged runs and empty graphs
    already left out by the caller. NaN where fewer than 3 runs or a constant column.
    """
    rows = []
    for role, g in long.groupby("layer_role", sort=False):
        for count in counts:
            for base in BASELINES:
                if count not in g or base not in g:
                    continue
                d = g[[count, base]].apply(pd.to_numeric, errors="coerce").dropna()
                ok = len(d) >= 3 and d[count].nunique() > 1 and d[base].nunique() > 1
                rho, p = spearmanr(d[count], d[base]) if ok else (np.nan, np.nan)
                rows.append({"layer_role": role, "count": count, "baseline": base, "spearman_rho": float(rho),
                             "p_value": float(p), "n_runs": len(d)})
    return pd.DataFrame(rows, columns=CORRELATION_COLUMNS)
