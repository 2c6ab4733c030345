"""The sweep explorer: one self-contained HTML page per results folder (results/explorer.html).

A runs table (sortable, filterable), parallel coordinates of the swept parameters against chosen
results (brushing selects runs everywhere), the InPCA trajectories in 2-D and 3-D coloured by a
swept factor, and per run its accuracy, loss and branching curves with relative links to its
figures and learning-graph pages. plotly.js (shipped inside the plotly Python package) and the
page's own script and style are inlined: the page works with the network off.

Size: the page holds every run (table, parallel coordinates, curves, trajectory), with each curve
and trajectory thinned to evenly spaced snapshots (the first and the last always kept): at most
MAX_CURVE_POINTS / MAX_TRAJECTORY_POINTS per run while all runs' series together stay within
PAGE_NUMBERS numbers, fewer (both caps scaled alike, never below MIN_POINTS) in larger sweeps; the
page says how many it kept. Numbers are kept to 4 significant digits, so a 10,000-run sweep stays
below 25 MB (tests/test_explorer.py).
"""

import json
import math
import os
import re
from html import escape as html_escape
from pathlib import Path

import numpy as np
import pandas as pd

from ..results.summary import read_summary, summary_long
from ..store.fastread import read_arrays
from ..store.snapshots import METRICS
from ..utils.tables import read_tsv
from .labels import run_labels, varied_fields

MAX_CURVE_POINTS = 120  # per run and series: accuracy, loss, branching groups
MAX_TRAJECTORY_POINTS = 80  # per run: InPCA checkpoints
PAGE_NUMBERS = 1_600_000  # numbers in all runs' curves and trajectories: ~11 MB of the page's JSON
MIN_POINTS = 8  # per run and series, however large the sweep
DIGITS = 4  # significant digits kept in the page's data
LINK_FORMATS = ("png", "svg", "pdf")  # a figure is linked in the first of these it exists in
TEMPLATE = Path(__file__).with_name("explorer_page")  # explorer.html.in, explorer.js, explorer.css


def thin(n: int, most: int) -> np.ndarray:
    """Indices of at most `most` evenly spaced items of n, first and last included."""
    if n <= most:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, most)).astype(int))


def _num(v):
    """A JSON number to DIGITS significant digits; NaN/inf/missing become null."""
    if v is None or v is pd.NA:
        return None
    v = float(v)
    return float(f"{v:.{DIGITS}g}") if math.isfinite(v) else None


def _nums(values) -> list:
    """_num of each value (tolist and %-formatting: a million values in about a second)."""
    out = []
    for v in np.asarray(values, dtype=float).tolist():
        out.append(float("%.*g" % (DIGITS, v)) if math.isfinite(v) else None)
    return out


def _cell(v):
    """A table cell: bool, number or string (missing: null)."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return _num(v)
    return str(v)


# ---------------------------------------------------------------- the runs table


def run_table(summary: pd.DataFrame) -> tuple[pd.DataFrame, list[str], list[str]]:
    """One row per run: run_id, the swept parameters, then the key results; and the names of both."""
    params = varied_fields(summary) + (["seed"] if "seed" in summary and summary["seed"].nunique() > 1 else [])
    if not params:  # a single point: show what defines it
        params = [c for c in ("dataset", "depth", "width", "lr") if c in summary]
    long = summary_long(summary)
    out = summary[["run_id", *params]].copy()
    out["label"] = out["run_id"].map(run_labels(summary))
    for col in ("final_test_acc", "final_train_acc", "diverged", "analysis_status"):
        out[col] = summary[col] if col in summary else pd.NA
    # the output layer's count is a summary column whatever the depth; hidden ones come by role
    out["output_branches"] = summary["output_branches"] if "output_branches" in summary else pd.NA
    by_role = long.pivot_table(index="run_id", columns="layer_role", values="branches", aggfunc="first") \
        if len(long) and "branches" in long else pd.DataFrame(index=summary["run_id"])
    hidden = sorted((r for r in by_role.columns if str(r).startswith("hidden")), key=lambda r: int(r.split()[-1]))
    for role in hidden:
        out[f"hidden{role.split()[-1]}_branches"] = out["run_id"].map(by_role[role])
    for col in ("first_branch_epoch", "first_jump_epoch"):  # the earliest over the run's layers
        first = long.groupby("run_id")[col].min() if col in long else pd.Series(dtype=float)
        out[col] = out["run_id"].map(first)
    out["inpca_final_progress"] = summary["inpca_final_progress"] if "inpca_final_progress" in summary else np.nan
    results = [c for c in out.columns if c not in ("run_id", "label", *params)]
    return out.reset_index(drop=True), params, results


def _column_kind(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s):
        return "bool"
    return "number" if pd.api.types.is_numeric_dtype(s) else "string"


# ---------------------------------------------------------------- per-run curves


def point_limits(summary: pd.DataFrame) -> tuple[int, int]:
    """(curve points, trajectory points) per run: MAX_CURVE_POINTS and MAX_TRAJECTORY_POINTS while
    every run's series fit PAGE_NUMBERS, else both scaled down by one factor (at least MIN_POINTS).
    A run's series: 5 metric curves and 2 per layer (branching), 5 trajectory coordinates; its
    snapshot and layer counts come from the summary."""
    n = pd.to_numeric(summary.get("n_snapshots", pd.Series(dtype=float)), errors="coerce").fillna(0).to_numpy()
    layers = sum(pd.to_numeric(summary.get(c, pd.Series(0, index=summary.index)), errors="coerce").fillna(0)
                 for c in ("n_layers", "n_conv_layers"))
    per_curve = 5 + 2 * np.asarray(layers, dtype=float)

    def caps(f):
        return max(MIN_POINTS, int(MAX_CURVE_POINTS * f)), max(MIN_POINTS, int(MAX_TRAJECTORY_POINTS * f))

    def numbers(f):
        c, t = caps(f)
        return float((per_curve * np.minimum(n, c) + 5 * np.minimum(n, t)).sum())

    lo, hi = 0.0, 1.0
    if numbers(hi) <= PAGE_NUMBERS:
        return caps(hi)
    for _ in range(30):  # bisection: numbers() grows with the factor
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if numbers(mid) <= PAGE_NUMBERS else (lo, mid)
    return caps(lo)


def run_curves(store, points: int = MAX_CURVE_POINTS) -> dict:
    """A run's metrics from its store (read through the checked path, store.fastread: a damaged
    store is quarantined and the job fails, as for the sweep figures), thinned to `points`."""
    _, m = read_arrays(store, METRICS)
    idx = thin(len(m["epoch"]), points)
    return {k: _nums(m[k][idx]) for k in ("epoch", "train_acc", "test_acc", "train_loss", "test_loss")}


def branching_curves(curve, points: int = MAX_CURVE_POINTS) -> dict:
    """{layer: {epoch, groups}} from a run's branching curve (its rows: topolearn.analysis.tables, or
    a path; empty when it has none)."""
    if isinstance(curve, pd.DataFrame):
        df = curve
    elif Path(curve).is_file():
        df = read_tsv(curve, dtype={"run_id": str})
    else:
        return {}
    code, layers = pd.factorize(df["layer"])  # layers in order of first appearance
    order = np.lexsort((df["snapshot"].to_numpy(), code))  # each layer's rows by snapshot (numpy: 10,000 runs)
    order = order[code[order] >= 0]  # rows without a layer belong to none
    epoch, groups, code = (df["epoch"].to_numpy(float)[order], df["groups"].to_numpy(float)[order], code[order])
    starts = np.flatnonzero(np.diff(code, prepend=-1))
    out = {}
    for a, b in zip(starts, np.append(starts[1:], len(code))):
        idx = a + thin(b - a, points)
        out[str(layers[code[a]])] = {"epoch": _nums(epoch[idx]), "groups": _nums(groups[idx])}
    return out


def run_links(results: Path, run_id: str, page_dir: Path) -> list[dict]:
    """Relative links to a run's learning-graph pages, then its figures (each in the first of
    LINK_FORMATS it exists in), where they exist."""
    fig_dir = results / "figures" / "runs" / run_id
    if not fig_dir.is_dir():
        return []
    pages, figures = {}, {}
    for p in sorted(fig_dir.iterdir()):
        name, _, ext = p.name.rpartition(".")
        if ext == "html":
            pages[name] = p
        elif ext in LINK_FORMATS and (name not in figures or
                                      LINK_FORMATS.index(ext) < LINK_FORMATS.index(figures[name].suffix[1:])):
            figures[name] = p
    return [{"label": name.replace("_", " "), "href": os.path.relpath(p, page_dir).replace(os.sep, "/"),
             "page": kind is pages} for kind in (pages, figures) for name, p in sorted(kind.items())]


# ---------------------------------------------------------------- InPCA trajectories


def trajectories(coords: pd.DataFrame, points: int = MAX_TRAJECTORY_POINTS) -> dict:
    """{groups, runs: {run_id: {group, x, y, z, epoch, progress}}, landmarks: [...]}, thinned to
    `points` checkpoints per run. Each group is its own embedding (inpca.md). One sort of all
    checkpoints and one formatting pass per column, not a pandas group per run."""
    dims = [c for c in ("inpca1", "inpca2", "inpca3") if c in coords]
    if coords.empty or not dims:
        return {"groups": [], "runs": {}, "landmarks": []}
    ck = coords[coords["kind"] == "checkpoint"]
    code, keys = pd.factorize(pd.MultiIndex.from_arrays([ck["group"].astype(str), ck["run_id"].astype(str)]))
    order = np.lexsort((ck["snapshot"].to_numpy(), code))  # runs in order of first appearance, by snapshot
    starts = np.flatnonzero(np.diff(code[order], prepend=-1))
    ends = np.append(starts[1:], len(order))
    picks = [s + thin(e - s, points) for s, e in zip(starts, ends)]
    rows = ck.iloc[order[np.concatenate(picks)]] if picks else ck.iloc[:0]
    cols = {k: _nums(rows[c]) if c in rows else [0.0] * len(rows)  # fewer than 3 dimensions: 0
            for k, c in (("x", "inpca1"), ("y", "inpca2"), ("z", "inpca3"), ("epoch", "epoch"),
                         ("progress", "progress"))}
    bounds = np.cumsum([0] + [len(p) for p in picks])
    runs = {}
    for (group, rid), a, b in zip(keys[code[order[starts]]], bounds[:-1], bounds[1:]):
        runs[rid] = {"group": group, **{k: v[a:b] for k, v in cols.items()}}
    marks = coords[coords["kind"] != "checkpoint"]
    landmarks = [{"group": str(r["group"]), "kind": str(r["kind"]), "x": _num(r["inpca1"]),
                  "y": _num(r.get("inpca2", 0.0)), "z": _num(r.get("inpca3", 0.0))} for _, r in marks.iterrows()]
    return {"groups": sorted({str(g) for g in coords["group"]}), "runs": runs, "landmarks": landmarks}


# ---------------------------------------------------------------- the page


def explorer_data(summary_tsv, coords_tsv, stores, curves, page) -> dict:
    """Everything the page shows, as one JSON-able dict. `stores` are per run, in any order; `curves`
    the runs' branching curves, {run_id: rows} (topolearn.analysis.tables.by_run). The page sits in
    the results folder: each run's figures are found beside it, in figures/runs/{run_id}/, and
    linked relative to it."""
    summary = read_summary(summary_tsv)
    table, params, results = run_table(summary)
    page_dir = Path(page).parent
    by_run = {Path(s).parent.name: s for s in stores}
    curve_of = dict(curves)
    curve_points, trajectory_points = point_limits(summary)
    runs = {}
    for rid in table["run_id"]:
        runs[rid] = {"curves": run_curves(by_run[rid], curve_points) if rid in by_run else None,
                     "branching": branching_curves(curve_of[rid], curve_points) if rid in curve_of else {},
                     "links": run_links(page_dir, rid, page_dir)}
    coords = read_tsv(coords_tsv, dtype={"run_id": str, "group": str}) if coords_tsv else pd.DataFrame()
    columns = [{"name": c, "kind": "param" if c in params else "result" if c in results else "id",
                "type": _column_kind(table[c])} for c in table.columns]
    return {
        "title": f"Sweep explorer: {len(table)} run(s)",
        "columns": columns,
        "rows": [[_cell(v) for v in row] for row in table.itertuples(index=False)],
        "params": params,
        "results": results,
        "runs": runs,
        "inpca": trajectories(coords, trajectory_points),
        "limits": {"curve_points": curve_points, "trajectory_points": trajectory_points, "digits": DIGITS},
    }


def _script_json(data: dict) -> str:
    """JSON safe inside <script>: no `</` can close the element early."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def render_page(data: dict) -> str:
    """The self-contained page: plotly.js, the style, the data and the page's script, all inlined."""
    from plotly.offline import get_plotlyjs

    parts = {"TITLE": html_escape(data["title"]), "STYLE": (TEMPLATE / "explorer.css").read_text(),
             "PLOTLY": get_plotlyjs(), "DATA": _script_json(data), "SCRIPT": (TEMPLATE / "explorer.js").read_text()}
    # One pass: text put in (plotly.js, the data) is never searched for markers itself.
    return re.sub(r"@(TITLE|STYLE|PLOTLY|DATA|SCRIPT)@", lambda m: parts[m.group(1)],
                  (TEMPLATE / "explorer.html.in").read_text())


def write_explorer(summary_tsv, coords_tsv, stores, curves, out) -> Path:
    """The rule's entry point: write results/explorer.html (atomically: a reader never sees half a page)."""
    out = Path(out)
    html = render_page(explorer_data(summary_tsv, coords_tsv, stores, curves, out))
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, out)
    return out
