"""The sweep explorer: one self-contained HTML page per results folder (results/explorer.html).

A runs table (sortable, filterable), parallel coordinates of the swept parameters against chosen
results (brushing selects runs everywhere), the InPCA trajectories in 2-D and 3-D coloured by a
swept factor, and per run its accuracy, loss and branching curves with relative links to its
figures and learning-graph pages. plotly.js (shipped inside the plotly Python package) and the
page's own script and style are inlined: the page works with the network off.

Size: every curve and trajectory is thinned to at most MAX_CURVE_POINTS / MAX_TRAJECTORY_POINTS
points per run (evenly spaced snapshots, the first and the last always kept) and numbers are kept
to 4 significant digits, so a 1,000-run sweep stays well below 25 MB (tests/test_explorer.py).
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
from ..store.snapshots import METRICS, open_store, read_metrics
from ..utils.tables import read_tsv
from .labels import run_labels, varied_fields

MAX_CURVE_POINTS = 120  # per run and series: accuracy, loss, branching groups
MAX_TRAJECTORY_POINTS = 80  # per run: InPCA checkpoints
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
    return [_num(v) for v in np.asarray(values, dtype=float)]


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


def run_curves(store) -> dict:
    """A run's metrics from its store (read through the checked path: a damaged store is
    quarantined and the job fails, as for the sweep figures), thinned to MAX_CURVE_POINTS."""
    metrics = read_metrics(open_store(store, deep=METRICS))
    idx = thin(len(metrics), MAX_CURVE_POINTS)
    return {k: _nums(metrics[k].to_numpy()[idx]) for k in ("epoch", "train_acc", "test_acc", "train_loss", "test_loss")}


def branching_curves(curve_tsv) -> dict:
    """{layer: {epoch, groups}} from a run's branching curve (empty when it has none)."""
    path = Path(curve_tsv)
    if not path.is_file():
        return {}
    df = read_tsv(path, dtype={"run_id": str})
    out = {}
    for layer, g in df.groupby("layer", sort=False):
        g = g.sort_values("snapshot")
        idx = thin(len(g), MAX_CURVE_POINTS)
        out[str(layer)] = {"epoch": _nums(g["epoch"].to_numpy()[idx]), "groups": _nums(g["groups"].to_numpy()[idx])}
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


def trajectories(coords: pd.DataFrame) -> dict:
    """{groups, runs: {run_id: {group, x, y, z, epoch, progress}}, landmarks: [...]}, thinned to
    MAX_TRAJECTORY_POINTS checkpoints per run. Each group is its own embedding (inpca.md)."""
    dims = [c for c in ("inpca1", "inpca2", "inpca3") if c in coords]
    if coords.empty or not dims:
        return {"groups": [], "runs": {}, "landmarks": []}
    xyz = lambda df, c: _nums(df[c]) if c in df else [0.0] * len(df)  # noqa: E731 (fewer than 3 dims)
    runs = {}
    checkpoints = coords[coords["kind"] == "checkpoint"]
    for (group, rid), g in checkpoints.groupby(["group", "run_id"], sort=False):
        g = g.sort_values("snapshot").iloc[thin(len(g), MAX_TRAJECTORY_POINTS)]
        runs[str(rid)] = {"group": str(group), "x": xyz(g, "inpca1"), "y": xyz(g, "inpca2"), "z": xyz(g, "inpca3"),
                          "epoch": _nums(g["epoch"]), "progress": _nums(g["progress"])}
    marks = coords[coords["kind"] != "checkpoint"]
    landmarks = [{"group": str(r["group"]), "kind": str(r["kind"]), "x": _num(r["inpca1"]),
                  "y": _num(r.get("inpca2", 0.0)), "z": _num(r.get("inpca3", 0.0))} for _, r in marks.iterrows()]
    return {"groups": sorted({str(g) for g in coords["group"]}), "runs": runs, "landmarks": landmarks}


# ---------------------------------------------------------------- the page


def explorer_data(summary_tsv, coords_tsv, stores, curves, page) -> dict:
    """Everything the page shows, as one JSON-able dict. `stores` and `curves` (branching curve
    tables) are per run, in any order. The page sits in the results folder: each run's figures are
    found beside it, in figures/runs/{run_id}/, and linked relative to it."""
    summary = read_summary(summary_tsv)
    table, params, results = run_table(summary)
    page_dir = Path(page).parent
    by_run = {Path(s).parent.name: s for s in stores}
    curve_of = {Path(c).name.split(".")[0]: c for c in curves}
    runs = {}
    for rid in table["run_id"]:
        runs[rid] = {"curves": run_curves(by_run[rid]) if rid in by_run else None,
                     "branching": branching_curves(curve_of[rid]) if rid in curve_of else {},
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
        "inpca": trajectories(coords),
        "limits": {"curve_points": MAX_CURVE_POINTS, "trajectory_points": MAX_TRAJECTORY_POINTS, "digits": DIGITS},
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
