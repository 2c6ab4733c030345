"""Batched analysis: many runs in one process, in parallel over the job's threads.

One Python process per (run, layer) paid the imports of kmapper, scikit-learn and matplotlib
(seconds) for a fraction of a second of work; a batch pays them once. Each run's work is the same
as alone: its learning graphs (JSON), branch table, branching curve, events and symmetry table,
then a stamp with the settings used (topolearn.packing.analysis_done reads it).
"""

import json
import logging
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from threadpoolctl import threadpool_limits

from .config import mapper_layers, mapper_params
from .cover import scan_grid
from .packing import STAMP, analysis_paths, fingerprint
from .storecheck import root_attrs
from .toydata import TOY_DATASETS

log = logging.getLogger(__name__)


@dataclass
class RunJob:
    run_id: str
    store: str
    outputs: dict  # topolearn.packing.analysis_paths of the run


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


def _point(store: str) -> dict:
    return root_attrs(Path(store))["params"]


def analyze_run(job: RunJob, settings: dict) -> str:
    """Everything read off one run's store (checked and read once); returns a one-line summary."""
    import pandas as pd

    from .branching import branching_tables
    from .graphs import first_events, write_branch_rows
    from .layers import TABLE_COLUMNS, analyze_run_layers, write_table
    from .mapper import layer_outputs
    from .store import open_store, read_metrics, read_weights

    root = open_store(job.store)  # raises StoreError (and quarantines) for a damaged store
    attrs = dict(root.attrs)
    point = attrs["params"]
    layers = mapper_layers(settings, point)
    metrics = read_metrics(root)
    weights = {layer: read_weights(root, layer) for layer in layers}
    br = settings["branching"]
    mdir = Path(job.outputs["mapper"])
    mdir.mkdir(parents=True, exist_ok=True)
    docs = [layer_outputs(weights[layer], metrics["epoch"].to_numpy(), layer, mapper_params(settings, point, layer),
                          br["persistence_threshold"], mdir / f"{layer}.json", None, None, job.run_id)
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


def write_stamp(path: Path, settings: dict) -> None:
    """Written last: the run's outputs are complete and were made under these settings."""
    path.write_text(json.dumps({"settings": fingerprint(settings)}))


def _guarded(fn, *args) -> tuple[bool, str]:
    """Run one run's work; a failure is reported, not raised, so the batch's other runs finish."""
    try:
        with threadpool_limits(1):  # one BLAS thread per worker: the job's threads are the workers
            return True, fn(*args)
    except Exception as exc:  # noqa: BLE001 (reported with its traceback below)
        return False, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"


def run_parallel(fn, items: list, args: tuple, threads: int, names: list[str]) -> None:
    """fn(item, *args) for every item, `threads` processes at a time; raise one error naming every
    failed run after all have been tried."""
    if threads <= 1 or len(items) <= 1:
        results = [_guarded(fn, it, *args) for it in items]
    else:
        with ProcessPoolExecutor(min(threads, len(items)), mp_context=get_context("fork")) as pool:
            results = list(pool.map(_guarded, [fn] * len(items), items, *[[a] * len(items) for a in args]))
    failed = []
    for name, (ok, msg) in zip(names, results):
        if ok:
            print(msg, flush=True)
        else:
            print(f"{name} FAILED: {msg}", flush=True)
            failed.append(f"{name} ({msg.splitlines()[0]})")
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(items)} run(s) failed: " + "; ".join(failed))


def analyze_runs(jobs: list[RunJob], settings: dict, threads: int = 1) -> None:
    run_parallel(analyze_run, jobs, (settings,), threads, [j.run_id for j in jobs])


# ---------------------------------------------------------------- per-run figures


def plot_run(item: tuple, settings: dict, analysis: dict) -> str:
    """A run's figures, and its learning graphs as pictures and offline interactive pages.

    item: (store, mapper dir, branching curve, stability table to write, output dir[, the run's rows
    of inpca/coords.tsv]); with the rows, time-resolved figures are drawn against progress. The
    stability scan of the run's branch counts is made here, for the runs that get figures."""
    from .figures.layers import run_layer_figures
    from .figures.runs import render_run_figures
    from .inpca_progress import epoch_to_progress
    from .mapper import mapper_layer, write_png
    from .stability import run_scan

    store, mdir, curve, stability, outdir, *coords = item
    rid = Path(store).parent.name
    progress = epoch_to_progress(coords[0], rid) if coords and coords[0] is not None else None
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    point = _point(store)
    layers = mapper_layers(analysis, point)
    jsons = [Path(mdir) / f"{layer}.json" for layer in layers]
    run_scan(store, layers, {layer: mapper_params(analysis, point, layer) for layer in layers}, stability,
             scan_grid(analysis["mapper"].get("scan")), analysis["branching"]["persistence_threshold"], run_id=rid)
    paths = render_run_figures(store, curve, jsons, outdir, settings["formats"], settings["dpi"],
                               settings["weight_image_epochs"], stability_tsv=stability, progress=progress)
    if point["dataset"] in TOY_DATASETS:  # the layers' representations of the plane
        paths += run_layer_figures(store, outdir, settings["formats"], settings["dpi"])
    for layer in layers:  # KeplerMapper's page needs its own graph object: rebuilt, same params
        doc = mapper_layer(store, layer, mapper_params(analysis, point, layer),
                           analysis["branching"]["persistence_threshold"], None,
                           outdir / f"learning_graph_{layer}.html", None, run_id=rid)
        write_png(doc, outdir / f"learning_graph_{layer}.png", f"run {doc['run_id']} {layer}", progress=progress)
    write_stamp(outdir / STAMP, settings)
    return f"{rid}: {len(paths)} figure file(s), {len(layers)} learning graph page(s)"


def plot_runs(stores, mappers, curves, stabilities, outdirs, settings: dict, analysis: dict, threads: int = 1,
              coords=None) -> None:
    """Figures of a batch of runs. coords: results/inpca/coords.tsv, needed (and read) only when
    settings["time_axis"] is "progress"."""
    items = list(zip(stores, mappers, curves, stabilities, outdirs))
    if settings.get("time_axis", "epoch") == "progress":
        items = [(*it, rows) for it, rows in zip(items, _coords_of_runs(coords, stores))]
    run_parallel(plot_run, items, (settings, analysis), threads, [Path(s).parent.name for s in stores])


def _coords_of_runs(coords, stores) -> list:
    """Each run's checkpoint rows of the InPCA coordinates (a small frame per worker, not the sweep's)."""
    from .inpca_progress import read_coords

    if coords is None:
        raise ValueError("figures.time_axis is 'progress' but no InPCA coordinates (inpca/coords.tsv) were given")
    table = read_coords(coords)
    return [table[(table["run_id"] == Path(s).parent.name) & (table["kind"] == "checkpoint")] for s in stores]
