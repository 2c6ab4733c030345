"""Per-run figures of a batch of runs, in parallel over the job's threads: each run's figures, its
learning graphs as pictures and offline pages, and the stability scan of its branch counts.

A run whose analysis was not done (its stamp's status: diverged, degenerate, failed) gets its
learning curves and weight norms where it recorded snapshots, a note figure in place of every
other figure, an empty stability table and no learning-graph pages: it never fails its batch."""

from pathlib import Path

import pandas as pd

from ..analysis.batch import analysis_status, write_stamp
from ..analysis.tables import by_run, sweep_table
from ..data.toy import TOY_DATASETS
from ..inpca.progress import epoch_to_progress, read_coords
from ..learning_graphs.graphs import read_graphs
from ..learning_graphs.mapper import mapper_layer
from ..learning_graphs.stability import SCAN_COLUMNS, run_scan
from ..store.checks import root_attrs
from ..sweep.mapper_settings import mapper_layers, mapper_params, scan_grid
from ..sweep.packing import STAMP
from ..utils.parallel import run_parallel
from ..utils.tables import write_tsv
from .graphs import write_png
from .layers import run_layer_figures
from .runs import render_run_figures


def _point(store: str) -> dict:
    return root_attrs(Path(store))["params"]


def plot_run(item: tuple, settings: dict, analysis: dict) -> str:
    """A run's figures, and its learning graphs as pictures and offline interactive pages.

    item: (store, mapper dir, branching curve (the run's rows), stability table to write, output dir[,
    the run's rows of inpca/coords.tsv]); with the rows, time-resolved figures are drawn against progress. The
    stability scan of the run's branch counts is made here, for the runs that get figures."""
    store, mdir, curve, stability, outdir, *coords = item
    rid = Path(store).parent.name
    progress = epoch_to_progress(coords[0], rid) if coords and coords[0] is not None else None
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    point = _point(store)
    status, reason = analysis_status(mdir)
    if status not in (None, "ok"):
        return _plot_not_analysed(store, curve, stability, outdir, settings, f"{status}: {reason}", progress)
    layers = mapper_layers(analysis, point)
    graphs = list(read_graphs(mdir, layers).values())  # graphs.json, or an older folder's per-layer files
    run_scan(store, layers, {layer: mapper_params(analysis, point, layer) for layer in layers}, stability,
             scan_grid(analysis["mapper"].get("scan")), analysis["branching"]["persistence_threshold"], run_id=rid)
    paths = render_run_figures(store, curve, graphs, outdir, settings["formats"], settings["dpi"],
                               settings["weight_image_epochs"], stability_tsv=stability, progress=progress)
    if point["dataset"] in TOY_DATASETS:  # the layers' representations of the plane
        paths += run_layer_figures(store, outdir, settings["formats"], settings["dpi"])
    for layer in layers:  # KeplerMapper's page needs its own graph object: rebuilt, same params
        doc = mapper_layer(store, layer, mapper_params(analysis, point, layer),
                           analysis["branching"]["persistence_threshold"], None,
                           outdir / f"learning_graph_{layer}.html", run_id=rid)
        write_png(doc, outdir / f"learning_graph_{layer}.png", f"run {doc['run_id']} {layer}", progress=progress)
    write_stamp(outdir / STAMP, settings)
    return f"{rid}: {len(paths)} figure file(s), {len(layers)} learning graph page(s)"


def _plot_not_analysed(store, curve, stability, outdir: Path, settings: dict, why: str, progress) -> str:
    rid = Path(store).parent.name
    write_tsv(pd.DataFrame(columns=SCAN_COLUMNS), stability)  # nothing to scan: an empty table, as declared
    paths = render_run_figures(store, curve, [], outdir, settings["formats"], settings["dpi"],
                               settings["weight_image_epochs"], progress=progress, not_analysed=why)
    write_stamp(outdir / STAMP, settings)
    return f"{rid}: not analysed ({why}): {len(paths)} figure file(s), notes in place of the analysis' figures"


def plot_runs(stores, mappers, stabilities, outdirs, settings: dict, analysis: dict, threads: int = 1,
              coords=None) -> None:
    """Figures of a batch of runs; each run's branching curve is read where its stamp in its mapper
    folder says (topolearn.analysis.tables). coords: results/inpca/coords.tsv, needed (and read)
    only when settings["time_axis"] is "progress"."""
    rids = [Path(s).parent.name for s in stores]
    found = by_run(sweep_table(Path(mappers[0]).parent.parent, rids, "curve")) if rids else {}
    curves = [found.get(r, pd.DataFrame(columns=["layer", "epoch", "event"])) for r in rids]
    items = list(zip(stores, mappers, curves, stabilities, outdirs))
    if settings.get("time_axis", "epoch") == "progress":
        items = [(*it, rows) for it, rows in zip(items, _coords_of_runs(coords, stores))]
    run_parallel(plot_run, items, (settings, analysis), threads, [Path(s).parent.name for s in stores])


def _coords_of_runs(coords, stores) -> list:
    """Each run's checkpoint rows of the InPCA coordinates (a small frame per worker, not the sweep's)."""
    if coords is None:
        raise ValueError("figures.time_axis is 'progress' but no InPCA coordinates (inpca/coords.tsv) were given")
    table = read_coords(coords)
    return [table[(table["run_id"] == Path(s).parent.name) & (table["kind"] == "checkpoint")] for s in stores]
