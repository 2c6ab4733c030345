"""The sweep summary table (results/summary.tsv): one row per run, typed columns.

Column contract (docs/tables.md "summary.tsv"): `run_id`, every point field (the toy data's own
fields only in a sweep with a toy run: sweep.table.shown_fields), the run's final metrics and flags
(RUN_COLUMNS, with `analysis_status`: whether the run could be analysed, and why not;
topolearn.store.health), the output layer's learning-graph metrics as `output_{metric}` (whatever
the depth), then per conv layer i of a CNN and per dense layer i the same metrics as
`conv{i}_{metric}` and `layer{i}_{metric}` (LAYER_METRICS). Layers a run does not have are NA.
`read_summary` gives the same dtypes back from the file.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis.batch import analysis_status
from ..analysis.tables import KINDS, by_run as rows_by_run, sweep_tables
from ..inpca.progress import inpca_columns
from ..layers.measures import summary_columns
from ..learning_graphs.baselines import layer_columns, run_layer_columns
from ..learning_graphs.circle import read_run_rows
from ..sweep.points import FLOAT_FIELDS, INT_FIELDS, POINT_DEFAULTS
from ..store.health import assess
from ..store.fastread import array_names, read_arrays
from ..store.snapshots import METRICS
from ..sweep.table import read_sweep_table, shown_fields
from ..utils.tables import read_tsv, write_tsv

RUN_COLUMNS = {
    "n_layers": "Int64",
    "n_conv_layers": "Int64",  # a CNN's conv layers (0 for an MLP)
    "n_snapshots": "Int64",
    "final_step": "Int64",
    "final_epoch": "float64",
    "final_train_loss": "float64",
    "final_train_acc": "float64",
    "final_test_loss": "float64",
    "final_test_acc": "float64",
    "diverged": "boolean",  # the store's attr, a non-finite final loss, or beyond health.DIVERGENCE_BOUND
    "diverged_at_step": "Int64",
    "analysis_status": "string",  # ok, diverged, degenerate or failed (topolearn.store.health.STATUSES)
    "analysis_reason": "string",  # why a run was not analysed (one line; empty when ok)
    "empty_graphs": "boolean",  # some layer's learning graph has no node
    "wall_time_s": "float64",
    "inpca_group": "string",  # InPCA columns: topolearn.inpca.progress.inpca_columns
    "inpca_stress_top3": "float64",
    "inpca_path_length": "float64",
    "inpca_final_progress": "float64",
    "symmetry_context": "string",  # what decides symmetry breaking (branching.symmetry_context)
    "circle_step": "Int64",  # circle of first-layer filters of the run's cell (learning_graphs.circle):
    "circle_epoch": "float64",  # the date from which it stays (NA: never), and the final longest H1 bar
    "circle_final_longest": "float64",
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
LAYER_COLUMN = re.compile(r"^(layer|conv)(\d+)_(\w+)$")  # groups: kind, index, metric
# The output layer's metrics whatever the depth (layer{n_layers-1}): layer{i}_* means the output for
# depth 1 and a hidden layer for depth 2; hidden layers by role: summary_long's layer_role.
OUTPUT_COLUMN = re.compile(r"^output_(\w+)$")


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
        m = LAYER_COLUMN.match(col) or OUTPUT_COLUMN.match(col)
        out[col] = LAYER_METRICS.get(m.groups()[-1], "float64") if m else known.get(col, "string")
    return out


def run_row(store_path) -> dict:
    """Final metrics and flags of one run, from its store (the metrics read whole in one checked
    pass, the layers counted from the manifest: a few files per run, not a zarr call per array)."""
    attrs, m = read_arrays(store_path, METRICS)
    n = len(m["step"])
    last = {k: v[-1] if n else np.nan for k, v in m.items()}
    final_loss = np.array([last["train_loss"], last["test_loss"]], dtype=float)
    losses = pd.DataFrame({k: m[k] for k in ("train_loss", "test_loss")})
    status, _ = assess(losses, attrs)  # the analysis' own status (weights too) comes from its stamp
    weights = array_names(attrs, "weights")
    return {
        "run_id": attrs.get("run_id", Path(store_path).parent.name),
        "n_layers": sum(w.startswith("layer") for w in weights),
        "n_conv_layers": sum(w.startswith("conv") for w in weights),
        "n_snapshots": n,
        "final_step": last["step"],
        "final_epoch": last["epoch"],
        **{f"final_{k}": last[k] for k in ("train_loss", "train_acc", "test_loss", "test_acc")},
        "diverged": bool(attrs.get("diverged")) or not np.isfinite(final_loss).all() or status == "diverged",
        "diverged_at_step": attrs.get("diverged_at_step"),
        "wall_time_s": attrs.get("wall_time_s"),
    }


def layer_rows(df: pd.DataFrame, ev: pd.DataFrame) -> dict:
    """{layer{i}_{metric} or conv{i}_{metric}: value} from one run's branch table and branching
    events (topolearn.analysis.tables; no rows for a run not analysed)."""
    out = {}
    jumps = _first_jumps(ev)
    for _, row in df.iterrows():
        name = str(row["layer"])
        for metric in LAYER_METRICS:
            out[f"{name}_{metric}"] = row.get(metric, pd.NA)
        out[f"{name}_first_jump_epoch"] = jumps.get(name, np.nan)
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


def _run_part(item: tuple) -> tuple[str, dict]:
    """What the summary reads of one run's store and analysis stamp: (run id, columns)."""
    rid, store, mapper = item
    row = run_row(store) if store else {}
    status, reason = analysis_status(mapper)
    if status is not None:
        row.update(analysis_status=status, analysis_reason=reason or pd.NA)  # NA when ok: as read back
        row["diverged"] = row.get("diverged", False) or status == "diverged"
    return rid, row


def table_columns(tables: dict) -> dict:
    """A run's columns from its analysis tables ({kind: its rows}: topolearn.analysis.tables): layer
    metrics and first jumps, symmetry and baselines, and the layer representations of 2-D runs."""
    row = layer_rows(tables["branches"], tables["events"])
    row.update(run_layer_columns(tables["symmetry"], tables["curve"]))
    row.update(summary_columns(tables["layers"]))
    return row


def build_summary(sweep_tsv, stores, coords_tsv=None, stress_tsv=None, stability=(), threads: int = 1,
                  circles=(), results=None) -> pd.DataFrame:
    """One row per run of the sweep table; stores are matched by run id (path); from the `results`
    folder (by default the sweep table's), each run's analysis status and reason (its stamp) and its
    analysis tables (topolearn.analysis.tables: each batch's table folder read once); with InPCA's
    coords.tsv (and stress.tsv), the InPCA and progress columns; with the stability scans, their
    columns (baselines.layer_columns); with the CNN cells' circle rows (`circles`:
    results/circle/{cell}.runs.tsv), the circle columns. The stores and stamps are read one run per
    task, `threads` processes at a time."""
    sweep = read_sweep_table(sweep_tsv)
    results = Path(sweep_tsv).parent if results is None else Path(results)
    store_of = {Path(p).parent.name: p for p in stores}
    rids = list(sweep["run_id"])
    parts = _map(_run_part, [(r, store_of.get(r), results / "mapper" / r) for r in rids], threads)
    by_run = dict(parts)
    tables = sweep_tables(results, rids)
    split = {kind: rows_by_run(df) for kind, df in tables.items()}
    for rid in dict.fromkeys(r for rows in split.values() for r in rows):
        by_run[rid].update(table_columns({k: split[k].get(rid, tables[k].iloc[:0]) for k in KINDS}))
    if coords_tsv is not None and Path(coords_tsv).is_file():
        ev, br = tables["events"], tables["branches"]
        for rid, row in inpca_columns(coords_tsv, stress_tsv, events=ev, branches=br).iterrows():
            by_run.setdefault(rid, {}).update(row.dropna().to_dict())
    for rid, cols in layer_columns((), (), stability or ()).items():
        by_run.setdefault(rid, {}).update(cols)
    for rid, cols in read_run_rows(circles or ()).items():
        by_run.setdefault(rid, {}).update(cols)
    rows = []
    for _, p in sweep.iterrows():
        extra = by_run.get(p["run_id"], {})
        rows.append({**p.to_dict(), **{k: v for k, v in extra.items() if k != "run_id"}})
    df = pd.DataFrame(rows)
    names = _layer_prefixes(df.columns)
    layer_cols = [f"{name}_{m}" for name in names for m in LAYER_METRICS]
    base = ["run_id", *shown_fields(sweep), *RUN_COLUMNS]
    df = df.reindex(columns=base + layer_cols)
    df = pd.concat([df[base], _output_columns(df, names), df[layer_cols]], axis=1)
    empty = df[[f"{name}_empty" for name in names]].apply(_to_bool)
    df["empty_graphs"] = empty.fillna(False).any(axis=1) if names else False
    return _typed(df)


def _output_columns(df: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """output_{metric} per run: its last dense layer's layer{n_layers-1}_{metric} (NA without a store)."""
    depth = pd.to_numeric(df["n_layers"], errors="coerce")
    out = pd.DataFrame(pd.NA, index=df.index, columns=[f"output_{m}" for m in LAYER_METRICS], dtype=object)
    for name in (n for n in names if n.startswith("layer")):
        rows = (depth == int(name[5:]) + 1).to_numpy()
        for m in LAYER_METRICS:
            out.loc[rows, f"output_{m}"] = df.loc[rows, f"{name}_{m}"].to_numpy()
    return out


def _layer_prefixes(columns) -> list[str]:
    """conv0..convK-1 then layer0..layerN-1: every layer some column names, in the net's order."""
    found = [m for m in map(LAYER_COLUMN.match, columns) if m]
    count = {kind: max([int(m.group(2)) + 1 for m in found if m.group(1) == kind] or [0]) for kind in ("conv", "layer")}
    return [f"{kind}{i}" for kind in ("conv", "layer") for i in range(count[kind])]


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
    `layer_role` (conv 1.., hidden 1.., output) and every layer metric without its prefix."""
    base = [c for c in df.columns if not (LAYER_COLUMN.match(c) or OUTPUT_COLUMN.match(c))]
    parts = []
    for name in _layer_prefixes(df.columns):
        kind, i = ("conv", int(name[4:])) if name.startswith("conv") else ("layer", int(name[5:]))
        cols = {f"{name}_{m}": m for m in LAYER_METRICS if f"{name}_{m}" in df}
        part = df[base + list(cols)].rename(columns=cols)
        count = "n_conv_layers" if kind == "conv" else "n_layers"
        held = part[count].fillna(0) > i if count in part else pd.Series(kind == "layer", index=part.index)
        part = part[held].assign(layer=name, layer_index=i)
        part["layer_role"] = (f"conv {i + 1}" if kind == "conv"
                              else np.where(part["n_layers"] - 1 == i, "output", f"hidden {i + 1}"))
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=base + ["layer", "layer_index", "layer_role", *LAYER_METRICS])
    return pd.concat(parts, ignore_index=True)


def make_summary(sweep_tsv, stores, out, coords_tsv=None, stress_tsv=None, stability=(), threads: int = 1,
                 circles=(), results=None) -> pd.DataFrame:
    """The rule's entry point: build and write results/summary.tsv."""
    df = build_summary(sweep_tsv, stores, coords_tsv, stress_tsv, stability, threads, circles, results)
    write_summary(df, out)
    return df
