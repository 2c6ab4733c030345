"""The sweep summary table (results/summary.tsv): one row per run, typed columns.

Column contract (docs/tables.md "summary.tsv"): `run_id`, every point field, the run's final
metrics and flags (RUN_COLUMNS), then per layer i the learning-graph metrics as
`layer{i}_{metric}` (LAYER_METRICS). Layers a run does not have are NA. `read_summary` gives the
same dtypes back from the file.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..inpca.progress import _read_tables, inpca_columns
from ..layers.measures import summary_columns
from ..learning_graphs.baselines import layer_columns
from ..sweep.points import FLOAT_FIELDS, INT_FIELDS, POINT_DEFAULTS
from ..store.snapshots import METRICS, layer_count, open_checked, open_store, read_metrics
from ..sweep.table import read_sweep_table
from ..utils.tables import read_tsv, write_tsv

RUN_COLUMNS = {
    "n_layers": "Int64",
    "n_snapshots": "Int64",
    "final_step": "Int64",
    "final_epoch": "float64",
    "final_train_loss": "float64",
    "final_train_acc": "float64",
    "final_test_loss": "float64",
    "final_test_acc": "float64",
    "diverged": "boolean",  # the store's attr, or a non-finite final loss
    "diverged_at_step": "Int64",
    "empty_graphs": "boolean",  # some layer's learning graph has no node
    "wall_time_s": "float64",
    "inpca_group": "string",  # InPCA columns: topolearn.inpca.progress.inpca_columns
    "inpca_stress_top3": "float64",
    "inpca_path_length": "float64",
    "inpca_final_progress": "float64",
    "symmetry_context": "string",  # what decides symmetry breaking (branching.symmetry_context)
}
LAYER_METRICS = {
    "nodes": "Int64",
    "edges": "Int64",
    "components": "Int64",
    "cycles": "Int64",
    "leaves": "Int64",
    "branch_points": "Int64",
    "branches": "Int64",
    "final_branches": "Int64",
    "first_branch_epoch": "float64",
    "first_jump_epoch": "float64",  # accuracy jump paired with the first branching event
    "eps": "float64",
    "empty": "boolean",
    "first_split_progress": "float64",  # first branching event, geodesic progress of the predictions
    "first_jump_progress": "float64",
    "first_branch_progress": "float64",
    "symmetry_break_epoch": "float64",  # symmetry table (branching.py)
    "final_groups": "Int64",  # baselines (baselines.py): distinct neuron groups, norm spread, variance
    "norm_spread": "float64",
    "weight_variance": "float64",
    "scan_mode": "Int64",  # stability scan (stability.py): most frequent count over the grid,
    "scan_share": "float64",  # its share of the grid, and the range of counts
    "scan_min": "Int64",
    "scan_max": "Int64",
    "separability": "float64",  # layer representations of 2-D data (layers.measures), final snapshot
    "b0": "float64",
    "b1": "float64",
    "folded_fraction": "float64",
}
LAYER_COLUMN = re.compile(r"^layer(\d+)_(\w+)$")


def point_dtypes() -> dict:
    def dtype(field):
        if field in FLOAT_FIELDS:
            return "float64"
        if field in INT_FIELDS:
            return "Int64"
        return "boolean" if isinstance(POINT_DEFAULTS[field], bool) else "string"

    return {"run_id": "string", **{f: dtype(f) for f in POINT_DEFAULTS}}


def summary_dtypes(columns) -> dict:
    """dtype of every summary column (layer columns recognized by name)."""
    known = {**point_dtypes(), **RUN_COLUMNS}
    out = {}
    for col in columns:
        m = LAYER_COLUMN.match(col)
        out[col] = LAYER_METRICS.get(m.group(2), "float64") if m else known.get(col, "string")
    return out


def run_row(store_path) -> dict:
    """Final metrics and flags of one run, from its store."""
    root = open_checked(store_path)
    attrs = dict(root.attrs)
    m = read_metrics(root)
    last = m.iloc[-1] if len(m) else pd.Series(np.nan, index=m.columns)
    final_loss = last[["train_loss", "test_loss"]].to_numpy(float)
    return {
        "run_id": attrs.get("run_id", Path(store_path).parent.name),
        "n_layers": layer_count(root),
        "n_snapshots": len(m),
        "final_step": last.get("step"),
        "final_epoch": last.get("epoch"),
        **{f"final_{k}": last.get(k) for k in ("train_loss", "train_acc", "test_loss", "test_acc")},
        "diverged": bool(attrs.get("diverged")) or not np.isfinite(final_loss).all(),
        "diverged_at_step": attrs.get("diverged_at_step"),
        "wall_time_s": attrs.get("wall_time_s"),
    }


def layer_rows(df: pd.DataFrame, ev: pd.DataFrame) -> dict:
    """{layer{i}_{metric}: value} from one run's branch table and branching events, as read by
    inpca_progress._read_tables (an empty frame for a missing or empty file)."""
    out = {}
    jumps = _first_jumps(ev)
    for _, row in df.iterrows():
        i = int(row["layer_index"]) if "layer_index" in row else int(str(row["layer"]).removeprefix("layer"))
        for metric in LAYER_METRICS:
            out[f"layer{i}_{metric}"] = row.get(metric, pd.NA)
        out[f"layer{i}_first_jump_epoch"] = jumps.get(f"layer{i}", np.nan)
    return out


def _first_jumps(ev: pd.DataFrame) -> dict:
    """{layer: jump_epoch of the layer's earliest branching event}."""
    if ev.empty or "jump_epoch" not in ev:
        return {}
    first = ev.sort_values("branch_epoch", kind="stable").drop_duplicates("layer").set_index("layer")
    return first["jump_epoch"].astype(float).to_dict()


def _map(fn, items, threads: int) -> list:
    """fn over items, in `threads` processes: reading a thousand stores is the summary's cost."""
    if threads <= 1 or len(items) < 2 * threads:
        return [fn(x) for x in items]
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(threads, mp_context=get_context("fork")) as pool:
        return list(pool.map(fn, items, chunksize=max(1, len(items) // (8 * threads))))


def _run_part(item: tuple) -> tuple[str, dict, pd.DataFrame, pd.DataFrame]:
    """Everything the summary reads of one run (its store and its tables): (run id, columns, events,
    branch table); the events and branch table go on to the InPCA progress columns."""
    rid, store, branches, events, symmetry, curve, layers = item
    row = run_row(store) if store else {}
    ev, br = _read_tables([events] if events else ()), _read_tables([branches] if branches else ())
    if branches:
        row.update(layer_rows(br, ev))
    for cols in layer_columns([symmetry] if symmetry else (), [curve] if curve else ()).values():
        row.update(cols)
    if layers:
        row.update(summary_columns(layers))
    return rid, row, ev, br


def build_summary(sweep_tsv, stores, branches_tsvs, events_tsvs=None, coords_tsv=None,
                  stress_tsv=None, symmetry=(), curves=(), stability=(), layers=(), threads: int = 1) -> pd.DataFrame:
    """One row per run of the sweep table; stores/branch tables are matched by run id (path); with
    InPCA's coords.tsv (and stress.tsv), the InPCA and progress columns; with the runs' symmetry
    tables, branching curves and stability scans, their columns (baselines.layer_columns); with the
    layer tables of 2-D runs, each layer's final separability, Betti numbers and folds. Each run's
    files are read in one task, `threads` processes at a time."""
    sweep = read_sweep_table(sweep_tsv)
    by_name = [{Path(p).parent.name: p for p in stores}, {Path(p).stem: p for p in branches_tsvs},
               {Path(p).name.split(".")[0]: p for p in events_tsvs or ()},
               {Path(p).name.split(".")[0]: p for p in symmetry or ()},
               {Path(p).name.split(".")[0]: p for p in curves or ()}, {Path(p).stem: p for p in layers or ()}]
    rids = list(dict.fromkeys(r for files in by_name for r in files))
    parts = _map(_run_part, [(r, *(files.get(r) for files in by_name)) for r in rids], threads)
    by_run = {rid: row for rid, row, _, _ in parts}
    if coords_tsv is not None and Path(coords_tsv).is_file():
        ev = pd.concat([e for _, _, e, _ in parts if len(e)] or [pd.DataFrame()], ignore_index=True)
        br = pd.concat([b for _, _, _, b in parts if len(b)] or [pd.DataFrame()], ignore_index=True)
        for rid, row in inpca_columns(coords_tsv, stress_tsv, events=ev, branches=br).iterrows():
            by_run.setdefault(rid, {}).update(row.dropna().to_dict())
    for rid, cols in layer_columns((), (), stability or ()).items():
        by_run.setdefault(rid, {}).update(cols)
    rows = []
    for _, p in sweep.iterrows():
        extra = by_run.get(p["run_id"], {})
        rows.append({**p.to_dict(), **{k: v for k, v in extra.items() if k != "run_id"}})
    df = pd.DataFrame(rows)
    n_layers = max([int(c.group(1)) + 1 for c in map(LAYER_COLUMN.match, df.columns) if c] or [0])
    layer_cols = [f"layer{i}_{m}" for i in range(n_layers) for m in LAYER_METRICS]
    cols = ["run_id", *POINT_DEFAULTS, *RUN_COLUMNS, *layer_cols]
    df = df.reindex(columns=cols)
    empty = df[[f"layer{i}_empty" for i in range(n_layers)]].apply(_to_bool)
    df["empty_graphs"] = empty.fillna(False).any(axis=1) if n_layers else False
    return _typed(df)


def _to_bool(col: pd.Series) -> pd.Series:
    """True/False, 1/0, "True"/"false" (any spelling a TSV writer used) -> boolean."""
    m = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
    return col.map(lambda v: pd.NA if pd.isna(v) else m.get(str(v).strip().lower(), pd.NA)).astype("boolean")


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    for col, dtype in summary_dtypes(df.columns).items():
        if dtype == "boolean":
            df[col] = _to_bool(df[col])
        elif dtype == "Int64":
            df[col] = pd.to_numeric(df[col], errors="coerce").round().astype("Int64")
        elif dtype == "float64":
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
        else:
            df[col] = df[col].astype("string")
    return df


def write_summary(df: pd.DataFrame, path) -> None:
    write_tsv(df, path)


def read_summary(path) -> pd.DataFrame:
    df = read_tsv(path, dtype=str)
    return _typed(df)


def summary_long(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, layer): the point fields and run columns plus `layer`, `layer_index`,
    `layer_role` (hidden 1.., output) and every layer metric without its prefix."""
    base = [c for c in df.columns if not LAYER_COLUMN.match(c)]
    n_layers = max([int(m.group(1)) + 1 for m in map(LAYER_COLUMN.match, df.columns) if m] or [0])
    parts = []
    for i in range(n_layers):
        cols = {f"layer{i}_{m}": m for m in LAYER_METRICS if f"layer{i}_{m}" in df}
        part = df[base + list(cols)].rename(columns=cols)
        part = part[part["n_layers"].fillna(0) > i].assign(layer=f"layer{i}", layer_index=i)
        part["layer_role"] = np.where(part["n_layers"] - 1 == i, "output", f"hidden {i + 1}")
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=base + ["layer", "layer_index", "layer_role", *LAYER_METRICS])
    return pd.concat(parts, ignore_index=True)


def make_summary(sweep_tsv, stores, branches_tsvs, events_tsvs, out, coords_tsv=None, stress_tsv=None,
                 symmetry=(), curves=(), stability=(), layers=(), threads: int = 1) -> pd.DataFrame:
    """The rule's entry point: build and write results/summary.tsv."""
    df = build_summary(sweep_tsv, stores, branches_tsvs, events_tsvs, coords_tsv, stress_tsv, symmetry, curves,
                       stability, layers, threads)
    write_summary(df, out)
    return df
