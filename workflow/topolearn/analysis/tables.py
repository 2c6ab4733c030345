"""The analysis tables read back: where each run's rows are, and the rows of one run or of many.

An analysis batch writes one set of tables for all its runs in tables/{gid}/ (TABLE_FILES:
branches.tsv, branching.tsv, events.tsv, symmetry.tsv, layers.tsv; `run_id` first in each); a run
analysed alone (`analyze_run`, e.g. after --forcerun of its store) writes its own set into its
mapper folder. The run's stamp, mapper/{run_id}/analysis.json, names the folder (`tables`, relative
to the results folder). A run analysed again alone leaves its old rows in its old batch folder: only
rows of runs whose stamp points to the folder they are in are returned, never those. A run that was
not analysed (topolearn.store.health) has no rows.

Every reader of these tables goes through here: the summary, the per-run and layer figures, the
explorer, the effective-width test, `topolearn.open_sweep`.
"""

import json
import warnings
from pathlib import Path

import pandas as pd

from ..layers.measures import TABLE_COLUMNS
from ..learning_graphs.branching import CURVE_COLUMNS, EVENT_COLUMNS, SYMMETRY_COLUMNS
from ..learning_graphs.graphs import BRANCH_COLUMNS
from ..sweep.packing import STAMP, TABLE_FILES
from ..utils.tables import read_tsv

KINDS = tuple(TABLE_FILES)  # branches, curve, events, symmetry, layers
COLUMNS = {"branches": BRANCH_COLUMNS, "curve": CURVE_COLUMNS, "events": EVENT_COLUMNS,
           "symmetry": SYMMETRY_COLUMNS, "layers": ["run_id", *TABLE_COLUMNS]}


def stamp(results, run_id: str) -> dict | None:
    """The run's analysis stamp, or None when it has none (not analysed yet) or it is unreadable."""
    try:
        doc = json.loads((Path(results) / "mapper" / run_id / STAMP).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def locate(results, run_ids) -> dict[str, list[str]]:
    """{table folder, relative to `results`: [run ids whose stamp points there]}; runs without a
    stamp naming a folder are left out."""
    out: dict[str, list[str]] = {}
    for rid in run_ids:
        doc = stamp(results, rid)
        folder = doc.get("tables") if doc else None
        if isinstance(folder, str) and folder:
            out.setdefault(folder, []).append(rid)
    return out


def _read(results, folder: str, kind: str, rids: list[str], dtype=None) -> pd.DataFrame | None:
    """Rows of `rids` in `folder`'s table `kind`; None (with a warning) when the folder is gone."""
    path = Path(results) / folder / TABLE_FILES[kind]
    if not path.is_file():
        shown = ", ".join(rids[:5]) + (", ..." if len(rids) > 5 else "")
        warnings.warn(f"{path} is missing: run(s) {shown} left out of the {kind} table; "
                      "the next workflow run analyses them again", stacklevel=3)
        return None
    df = read_tsv(path, dtype=dtype or {"run_id": str})
    return df[df["run_id"].isin(set(rids))]


def _tables(results, located: dict[str, list[str]], order: list[str], kind: str, dtype=None) -> pd.DataFrame:
    frames = [f for folder, rids in located.items() if (f := _read(results, folder, kind, rids, dtype)) is not None]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=COLUMNS[kind])
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    rank = {rid: i for i, rid in enumerate(order)}  # the caller's run order; each run's rows as written
    return df.iloc[df["run_id"].map(rank).argsort(kind="stable")].reset_index(drop=True)


def sweep_tables(results, run_ids, kinds=KINDS, dtype=None) -> dict[str, pd.DataFrame]:
    """{kind: rows of every run of `run_ids` in one frame}, in `run_ids` order; each table folder is
    read once per kind, whatever the number of its runs. dtype: as read_tsv's (`str`: the cells as
    written)."""
    order = list(run_ids)
    located = locate(results, order)
    return {kind: _tables(results, located, order, kind, dtype) for kind in kinds}


def sweep_table(results, run_ids, kind: str) -> pd.DataFrame:
    """One kind of table (KINDS) of every run of `run_ids`."""
    return sweep_tables(results, run_ids, (kind,))[kind]


def run_tables(results, run_id: str) -> dict[str, pd.DataFrame]:
    """{kind: the run's rows} of its five tables (no rows for a run not analysed, or not yet)."""
    return sweep_tables(results, [run_id])


def by_run(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{run id: its rows} of a table of many runs."""
    if df.empty:
        return {}
    return {str(rid): g.reset_index(drop=True) for rid, g in df.groupby("run_id", sort=False)}
