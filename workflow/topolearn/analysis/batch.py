"""Batched analysis: many runs in one process, in parallel over the job's threads.

One Python process per (run, layer) paid the imports of kmapper, scikit-learn and matplotlib
(seconds) for a fraction of a second of work; a batch pays them once. Each run's work is the same
as alone: its learning graphs (JSON), branch table, branching curve, events and symmetry table,
then a stamp with the settings used (topolearn.sweep.packing.analysis_done reads it) and the run's
analysis status.

A run that cannot be analysed never fails its batch (Snakemake would delete every run's outputs of
the job): a diverged or degenerate run (topolearn.store.health) is not analysed, and a run whose
analysis raises is `failed`; either way its tables are written empty, its mapper folder holds only
the stamp with the status and reason, and the summary reports it. A damaged store (StoreError) and
an OSError (a full disk: nothing about the run) still fail the job.
"""

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..layers.measures import TABLE_COLUMNS, analyze_run_layers, write_table
from ..learning_graphs.branching import CURVE_COLUMNS, EVENT_COLUMNS, SYMMETRY_COLUMNS, branching_tables
from ..learning_graphs.graphs import BRANCH_COLUMNS, first_events, write_branch_rows
from ..learning_graphs.mapper import layer_outputs
from ..store.snapshots import open_store, read_metrics, read_weights
from ..sweep.mapper_settings import mapper_layers, mapper_params
from ..sweep.packing import STAMP, analysis_paths, fingerprint
from ..store.checks import StoreError, root_attrs
from ..store.health import assess
from ..utils.parallel import run_parallel
from ..utils.tables import write_tsv

log = logging.getLogger(__name__)


@dataclass
class RunJob:
    run_id: str
    store: str
    outputs: dict  # topolearn.sweep.packing.analysis_paths of the run


def run_jobs(stores: list[str], outputs: list[str]) -> list[RunJob]:
    """Pair a job's stores with its outputs (each run's outputs in analysis_paths order)."""
    keys = list(analysis_paths("", "x"))
    if len(outputs) != len(keys) * len(stores):
        raise ValueError(f"{len(stores)} stores but {len(outputs)} outputs (expected {len(keys)} per run)")
    jobs = []
    for i, s in enumerate(stores):
        rid = Path(s).parent.name
        jobs.append(RunJob(rid, s, dict(zip(keys, outputs[i * len(keys):(i + 1) * len(keys)]))))
    return jobs


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
    mdir = Path(job.outputs["mapper"])
    mdir.mkdir(parents=True, exist_ok=True)
    docs = [layer_outputs(weights[layer], metrics["epoch"].to_numpy(), layer, mapper_params(settings, point, layer),
                          br["persistence_threshold"], mdir / f"{layer}.json", None, job.run_id)
            for layer in layers]
    curve = branching_tables(weights, metrics, attrs, job.run_id, br["group_threshold"], br["accuracy_jump"],
                             job.outputs["curve"], job.outputs["events"], job.outputs["symmetry"])
    # after the curve: the table sets each layer's Mapper split date beside the curve's first event
    write_branch_rows(docs, job.outputs["branches"], first_events(curve))
    if "repr" in root:  # layer representations: recorded on 2-D data only
        analyze_run_layers(job.store, job.outputs["layers"])
    else:
        write_table(pd.DataFrame(columns=TABLE_COLUMNS), job.outputs["layers"])
    write_stamp(mdir / STAMP, settings)
    return f"{job.run_id}: {len(layers)} layer(s) analysed"


def write_placeholders(job: RunJob, settings: dict, status: str, reason: str) -> str:
    """Every output of a run that was not analysed: tables with their columns and no rows, a mapper
    folder with only the stamp (a half-written learning graph of a failed analysis is removed)."""
    mdir = Path(job.outputs["mapper"])
    mdir.mkdir(parents=True, exist_ok=True)
    for partial in mdir.glob("*.json"):
        partial.unlink()
    for key, columns in (("branches", BRANCH_COLUMNS), ("curve", CURVE_COLUMNS), ("events", EVENT_COLUMNS),
                         ("symmetry", SYMMETRY_COLUMNS), ("layers", TABLE_COLUMNS)):
        write_tsv(pd.DataFrame(columns=columns), job.outputs[key])
    write_stamp(mdir / STAMP, settings, status, reason)
    return f"{job.run_id}: not analysed ({status}: {reason})"


def write_stamp(path: Path, settings: dict, status: str = "ok", reason: str = "") -> None:
    """Written last: the run's outputs are complete and were made under these settings; `status` and
    `reason` say whether the run was analysed (topolearn.store.health.STATUSES) and why not."""
    path.write_text(json.dumps({"settings": fingerprint(settings), "status": status, "reason": reason}))


def analysis_status(mapper_dir) -> tuple[str | None, str]:
    """(status, reason) of a run's analysis from its stamp; (None, "") when there is none yet. A stamp
    written before statuses existed belongs to an analysed run: ok."""
    try:
        doc = json.loads((Path(mapper_dir) / STAMP).read_text())
    except (OSError, ValueError):
        return None, ""
    return str(doc.get("status", "ok")), str(doc.get("reason", ""))


def analyze_runs(jobs: list[RunJob], settings: dict, threads: int = 1) -> None:
    run_parallel(analyze_run, jobs, (settings,), threads, [j.run_id for j in jobs])
