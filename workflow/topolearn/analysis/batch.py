"""Batched analysis: many runs in one process, in parallel over the job's threads.

One Python process per (run, layer) paid the imports of kmapper, scikit-learn and matplotlib
(seconds) for a fraction of a second of work; a batch pays them once. Each run's work is the same
as alone: its learning graphs (one JSON of all its layers), branch table, branching curve, events,
symmetry and layer tables, then a stamp with the settings used (topolearn.sweep.packing.run_analysis_done reads it),
the run's analysis status and where its table rows are.

Tables: a run writes its five tables into its mapper folder (what `analyze_run` leaves there); a
batch then merges its runs' tables into one set in its table folder (tables/{gid}: five files per
batch instead of five per run), points each run's stamp there, and removes the per-run copies.
topolearn.analysis.tables reads them back.

A run that cannot be analysed never fails its batch (Snakemake would delete every run's outputs of
the job): a diverged or degenerate run (topolearn.store.health) is not analysed, and a run whose
analysis raises is `failed`; either way its tables have no rows, its mapper folder holds only the
stamp with the status and reason, and the summary reports it. A damaged store (StoreError) and an
OSError (a full disk: nothing about the run) still fail the job.
"""

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..layers.measures import TABLE_COLUMNS, layer_table
from ..learning_graphs.branching import CURVE_COLUMNS, EVENT_COLUMNS, SYMMETRY_COLUMNS, branching_tables
from ..learning_graphs.graphs import BRANCH_COLUMNS, first_events, remove_graphs, write_branch_rows, write_graphs
from ..learning_graphs.mapper import layer_outputs
from ..store.snapshots import open_store, read_metrics, read_weights
from ..sweep.mapper_settings import mapper_layers, mapper_params
from ..sweep.packing import STAMP, TABLE_FILES, fingerprint
from ..store.checks import StoreError, root_attrs
from ..store.health import assess
from ..utils.parallel import run_parallel
from ..utils.tables import NA, write_tsv

log = logging.getLogger(__name__)


@dataclass
class RunJob:
    run_id: str
    store: str
    mapper: str  # the run's mapper folder: learning graphs, stamp, and its tables as the run wrote them

    def table(self, kind: str) -> str:
        """Where the run writes its table `kind` (TABLE_FILES), inside its mapper folder."""
        return str(Path(self.mapper) / TABLE_FILES[kind])


def run_jobs(stores: list[str], outputs: list[str]) -> tuple[list[RunJob], str | None]:
    """Pair a job's stores with its outputs: each run's mapper folder in store order, then, for a
    batch, its table folder (None for a run analysed alone: its tables stay in its mapper folder)."""
    if len(outputs) not in (len(stores), len(stores) + 1):
        raise ValueError(f"{len(stores)} stores but {len(outputs)} outputs (expected one mapper folder per run, "
                         "then at most one table folder)")
    jobs = []
    for s, mapper in zip(stores, outputs):
        rid = Path(s).parent.name
        if Path(mapper).name != rid:
            raise ValueError(f"store {s} paired with mapper folder {mapper}: the outputs are out of order")
        jobs.append(RunJob(rid, s, mapper))
    return jobs, (outputs[len(stores)] if len(outputs) > len(stores) else None)


def analyze_run(job: RunJob, settings: dict) -> str:
    """Everything read off one run's store (checked and read once); returns a one-line summary. A
    run that cannot be analysed gets placeholder outputs with its status instead of an exception."""
    root = open_store(job.store)  # raises StoreError (and quarantines) for a damaged store
    try:
        return _analyze(job, root, settings)
    except (StoreError, OSError):
        raise
    except Exception as exc:  # noqa: BLE001 (one run's failure is reported in its outputs and the log)
        log.exception("%s: analysis failed", job.run_id)
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return write_placeholders(job, settings, "failed", reason)


def _analyze(job: RunJob, root, settings: dict) -> str:
    attrs = dict(root.attrs)
    point = attrs["params"]
    layers = mapper_layers(settings, point)
    metrics = read_metrics(root)
    weights = {layer: read_weights(root, layer) for layer in layers}
    status, reason = assess(metrics, attrs, weights)
    if status != "ok":
        return write_placeholders(job, settings, status, reason)
    br = settings["branching"]
    mdir = Path(job.mapper)
    mdir.mkdir(parents=True, exist_ok=True)
    docs = [layer_outputs(weights[layer], metrics["epoch"].to_numpy(), layer, mapper_params(settings, point, layer),
                          br["persistence_threshold"], None, None, job.run_id)
            for layer in layers]
    write_graphs(mdir, docs)  # one file per run: mapper/{run_id}/graphs.json, {layer: document}
    curve = branching_tables(weights, metrics, attrs, job.run_id, br["group_threshold"], br["accuracy_jump"],
                             job.table("curve"), job.table("events"), job.table("symmetry"))
    # after the curve: the table sets each layer's Mapper split date beside the curve's first event
    write_branch_rows(docs, job.table("branches"), first_events(curve))
    # layer representations: recorded on 2-D data only; `run_id` first as in the other tables
    layers_df = layer_table(job.store) if "repr" in root else pd.DataFrame(columns=TABLE_COLUMNS)
    layers_df.insert(0, "run_id", job.run_id)
    write_tsv(layers_df, job.table("layers"))
    write_stamp(mdir / STAMP, settings, tables=mdir)
    return f"{job.run_id}: {len(layers)} layer(s) analysed"


def write_placeholders(job: RunJob, settings: dict, status: str, reason: str) -> str:
    """Every output of a run that was not analysed: tables with their columns and no rows, a mapper
    folder with only the stamp (learning graphs of a failed analysis are removed)."""
    mdir = Path(job.mapper)
    mdir.mkdir(parents=True, exist_ok=True)
    remove_graphs(mdir)
    for key, columns in (("branches", BRANCH_COLUMNS), ("curve", CURVE_COLUMNS), ("events", EVENT_COLUMNS),
                         ("symmetry", SYMMETRY_COLUMNS), ("layers", ["run_id", *TABLE_COLUMNS])):
        write_tsv(pd.DataFrame(columns=columns), job.table(key))
    write_stamp(mdir / STAMP, settings, status, reason, tables=mdir)
    return f"{job.run_id}: not analysed ({status}: {reason})"


def write_stamp(path: Path, settings: dict, status: str = "ok", reason: str = "", tables=None) -> None:
    """Written last: the run's outputs are complete and were made under these settings; `status` and
    `reason` say whether the run was analysed (topolearn.store.health.STATUSES) and why not; `tables`,
    the folder holding the run's table rows, is recorded relative to the results folder (the stamp
    sits in {results}/mapper/{run_id}/). Figure stamps have no tables."""
    doc = {"settings": fingerprint(settings), "status": status, "reason": reason}
    if tables is not None:
        doc["tables"] = Path(os.path.relpath(tables, Path(path).parent.parent.parent)).as_posix()
    path.write_text(json.dumps(doc))


def analysis_status(mapper_dir) -> tuple[str | None, str]:
    """(status, reason) of a run's analysis from its stamp; (None, "") when there is none yet. A stamp
    written before statuses existed belongs to an analysed run: ok."""
    try:
        doc = json.loads((Path(mapper_dir) / STAMP).read_text())
    except (OSError, ValueError):
        return None, ""
    return str(doc.get("status", "ok")), str(doc.get("reason", ""))


def analyze_runs(jobs: list[RunJob], settings: dict, threads: int = 1, tables=None) -> None:
    """Analyse every run; with a batch's table folder `tables`, merge their tables into it."""
    run_parallel(analyze_run, jobs, (settings,), threads, [j.run_id for j in jobs])
    if tables is not None:
        merge_tables(jobs, tables)


def merge_tables(jobs: list[RunJob], tables) -> None:
    """The batch's table set: each kind's rows of all its runs in one file (cells copied as text, so
    the merged rows are byte for byte what each run wrote; columns a run lacks, e.g. another class
    count's Betti columns, are NA). Then each stamp points there, then the per-run copies go."""
    tables = Path(tables)
    tables.mkdir(parents=True, exist_ok=True)
    for kind, name in TABLE_FILES.items():
        frames = [pd.read_csv(j.table(kind), sep="\t", dtype=str, keep_default_na=False) for j in jobs]
        merged = pd.concat(frames, ignore_index=True).fillna(NA) if frames else pd.DataFrame()
        tmp = tables / f".{name}.tmp"
        merged.to_csv(tmp, sep="\t", index=False)
        os.replace(tmp, tables / name)
    for j in jobs:
        stamp = Path(j.mapper) / STAMP
        doc = json.loads(stamp.read_text())
        doc["tables"] = Path(os.path.relpath(tables, Path(j.mapper).parent.parent)).as_posix()
        stamp.write_text(json.dumps(doc))
        for name in TABLE_FILES.values():
            (Path(j.mapper) / name).unlink()
