# Output paths: where each run's products go, what a job over several runs declares, the end products.
from topolearn.figures import CIRCLE_FIGURES, SWEEP_FIGURES
from topolearn.sweep import packing


def store(run_id):
    return f"{RESULTS}/runs/{run_id}/snapshots.zarr"


def scratch(run_id):
    """Checkpoints, the store in progress and the run's lock: no rule declares them."""
    return f"{RESULTS}/checkpoints/{run_id}"


def mapper_dir(run_id):
    """A run's learning graphs, one JSON per analyzed layer, and the analysis stamp (which names the
    folder holding the run's table rows: its batch's tables/{gid}, or this folder)."""
    return packing.run_product(RESULTS, "mapper", run_id)


def run_figures_dir(run_id):
    return packing.run_product(RESULTS, "figures", run_id)


def figure_job_outputs(members):
    """Each run's figure folder (into the report), then each run's stability scan."""
    return [run_figures_output(r) for r in members] + [packing.stability_path(RESULTS, r) for r in members]


def analysis_job_outputs(members, batch=True):
    """Outputs of a job analysing `members` (run ids, or the pattern "{run_id}"): each run's mapper
    folder, then a batch's one table folder (a run analysed alone keeps its tables in its folder)."""
    out = [directory(mapper_dir(r)) for r in members]
    return out + ([directory(packing.tables_dir(RESULTS, members))] if batch else [])


def sweep_stores(wildcards, input):
    """Every run's store, for a job whose inputs already wait for all of them (the summary: every
    run's analysis; the sweep table beside InPCA's coordinates): listing 10,000 stores again as
    inputs costs the planner seconds, and a changed store reruns the job through those inputs anyway.
    The first input must sit in the results folder (the stores' paths are taken relative to it)."""
    return [store(r).replace(RESULTS, str(Path(input[0]).parent), 1) for r in RUN_IDS]


def analysis_inputs(run_ids):
    """What reading the tables of `run_ids` waits for: their mapper folders (a batch job makes its
    table folder with them), and the table folders of pending batches holding any of them."""
    wanted = set(run_ids)
    pending = [packing.tables_dir(RESULTS, b) for b in ANALYSIS_BATCHES if wanted.intersection(b)]
    return [mapper_dir(r) for r in run_ids] + pending


def figure_job_inputs(members):
    """Inputs of a per-run figure job; the InPCA coordinates only when figures are drawn against
    progress (InPCA reruns on every sweep change: epoch figures must not wait for it)."""
    progress = CFG["figures"]["time_axis"] == "progress"
    return {
        "stores": [store(r) for r in members],
        "mappers": [mapper_dir(r) for r in members],  # the stamp says where the run's curve rows are
        "tables": analysis_inputs(members)[len(members):],  # pending batches' table folders
        **({"coords": f"{RESULTS}/inpca/coords.tsv"} if progress else {}),
    }


def sweep_figures():
    return [f"{RESULTS}/figures/sweep/{n}.{fmt}" for n in SWEEP_FIGURES for fmt in CFG["figures"]["formats"]]


def circle_outputs(cell):
    """A cell's circle-of-filters table, its runs' summary rows and its figures (circle.smk)."""
    figs = [f"{RESULTS}/figures/circle/{cell}/{name}.{fmt}" for name in CIRCLE_FIGURES
            for fmt in CFG["figures"]["formats"]]
    return {"table": f"{RESULTS}/circle/{cell}.tsv", "runs": f"{RESULTS}/circle/{cell}.runs.tsv", "figures": figs}


def all_targets():
    """End products: the summary (it takes every analysis, and each analysis its store, so a lost or
    quarantined store is rebuilt with everything made from it), the chosen runs' figures, the sweep
    figures and the sweep explorer."""
    out = [f"{RESULTS}/sweep.tsv", f"{RESULTS}/summary.tsv"]
    out += [run_figures_dir(r) for r in FIGURE_RUNS]
    out += sweep_figures()
    out += [f"{RESULTS}/explorer.html"]  # explorer.smk
    out += LAYER_SWEEP_FIGURES if TOY_RUNS else []  # layers.smk
    out += effective_width_targets()
    out += [f for c in CIRCLE_CELLS for f in circle_outputs(c)["figures"]]
    return out
