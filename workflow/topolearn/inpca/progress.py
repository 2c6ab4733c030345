"""Weights and predictions on one clock: each snapshot's geodesic progress (ignorance -> truth, from
results/inpca/coords.tsv) next to the learning-graph events of the same run.

`epoch_to_progress` maps a run's epochs to progress (figures with `figures.time_axis: progress`);
`inpca_columns` gives the summary its per-run InPCA columns and the branching events and accuracy
jumps in progress units.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from ..utils.tables import read_tsv


def read_coords(path) -> pd.DataFrame:
    return read_tsv(path, dtype={"run_id": str})


def epoch_to_progress(coords: pd.DataFrame, run_id: str):
    """f(epochs) -> progress of run `run_id`, linear between its embedded checkpoints (NaN outside
    them and for a run without checkpoints: a diverged run's late epochs have no progress)."""
    c = coords[(coords["run_id"] == run_id) & (coords["kind"] == "checkpoint")].sort_values("epoch")
    e, p = c["epoch"].to_numpy(float), c["progress"].to_numpy(float)

    def f(epochs):
        x = np.asarray(epochs, dtype=float)
        if len(e) == 0:
            return np.full(x.shape, np.nan)
        return np.interp(x, e, p, left=np.nan, right=np.nan)

    return f


def _run_columns(coords: pd.DataFrame, stress: pd.DataFrame | None) -> pd.DataFrame:
    pts = coords[coords["kind"] == "checkpoint"].sort_values(["run_id", "snapshot"])
    g = pts.groupby("run_id", sort=False)
    out = pd.DataFrame({"inpca_group": g["group"].first(), "inpca_path_length": g["step_length"].sum(),
                        "inpca_final_progress": g["progress"].last()})
    if stress is not None and len(stress):
        top3 = stress[stress["dim"] == min(3, stress["dim"].max())].set_index("group")["explained_stress"]
        out["inpca_stress_top3"] = out["inpca_group"].map(top3)
    return out


def _read_tables(paths) -> pd.DataFrame:
    frames = [read_tsv(p, dtype={"run_id": str}) for p in paths or () if Path(p).is_file() and Path(p).stat().st_size]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _layer_columns(coords: pd.DataFrame, events: pd.DataFrame, branches: pd.DataFrame) -> dict:
    """{run_id: {layer{i}_first_{split,jump,branch}_progress: progress}}: the first branching event,
    its paired accuracy jump, and the first significant branch of each layer, in progress units
    (epoch_to_progress of each run; every query of a run in one interpolation)."""
    queries = []
    if len(events):
        ev = events.sort_values("branch_epoch", kind="stable").drop_duplicates(["run_id", "layer"])
        for suffix, col in (("split", "branch_epoch"), ("jump", "jump_epoch")):
            queries.append(pd.DataFrame({"run_id": ev["run_id"],
                                         "name": ev["layer"].astype(str) + f"_first_{suffix}_progress",
                                         "epoch": ev[col] if col in ev else np.nan}))
    if len(branches):
        queries.append(pd.DataFrame({"run_id": branches["run_id"],
                                     "name": branches["layer"].astype(str) + "_first_branch_progress",
                                     "epoch": branches["first_branch_epoch"] if "first_branch_epoch" in branches
                                     else np.nan}))
    if not queries:
        return {}
    q = pd.concat(queries, ignore_index=True)
    pts = coords[coords["kind"] == "checkpoint"].sort_values("epoch", kind="stable")
    curves = {rid: (c["epoch"].to_numpy(float), c["progress"].to_numpy(float))
              for rid, c in pts.groupby("run_id", sort=False)}
    out: dict = {}
    for rid, g in q.groupby("run_id", sort=False):
        e, p = curves.get(rid, (np.zeros(0), np.zeros(0)))
        x = pd.to_numeric(g["epoch"], errors="coerce").to_numpy(float)
        values = np.interp(x, e, p, left=np.nan, right=np.nan) if len(e) else np.full(len(x), np.nan)
        out[rid] = dict(zip(g["name"], values.tolist()))  # a later row of a layer wins, as row by row
    return out


def inpca_columns(coords_tsv, stress_tsv=None, events_tsvs=(), branches_tsvs=(), events=None,
                  branches=None) -> pd.DataFrame:
    """One row per embedded run (index run_id): inpca_group, inpca_path_length (sum of step lengths,
    sphere metric: arccos(1/sqrt(C)) is the straight ignorance -> truth path), inpca_final_progress,
    inpca_stress_top3 (the group's), and layer{i}_first_{split,jump,branch}_progress. The events and
    branch tables come as files or, already read, as frames."""
    coords = read_coords(coords_tsv)
    stress = read_tsv(stress_tsv) if stress_tsv and Path(stress_tsv).is_file() else None
    out = _run_columns(coords, stress)
    events = _read_tables(events_tsvs) if events is None else events
    branches = _read_tables(branches_tsvs) if branches is None else branches
    layers = pd.DataFrame.from_dict(_layer_columns(coords, events, branches), orient="index")
    return out.join(layers, how="outer") if len(layers) else out
