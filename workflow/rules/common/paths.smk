# Output paths: where each run's products go, what a job over several runs declares, the end products.
from topolearn.figures import CIRCLE_FIGURES, SWEEP_FIGURES
from topolearn.sweep import packing


def store(run_id):
    return f"{RESULTS}/runs/{run_id}/snapshots.zarr"


def scratch(run_id):
    """Checkpoints, the store in progress and the run's lock: no rule declares them."""
    return f"{RESULTS}/checkpoints/{run_id}"


def mapper_dir(run_id):
    """A run's learning graphs, one JSON per analyzed layer, and the analysis stamp."""
    return f"{RESULTS}/mapper/{run_id}"


def analysis_outputs(run_id):
    return packing.analysis_paths(RESULTS, run_id)


def run_figures_dir(run_id):
    return packing.run_product(RESULTS, "figures", run_id)


def figure_job_outputs(members):
    """Each run's figure folder (into the report), then each run's stability scan."""
    return [run_figures_output(r) for r in members] + [packing.stability_path(RESULTS, r) for r in members]


def analysis_job_outputs(members):
    """Outputs of a job analysing `members` (run ids, or the pattern "{run_id}")."""
    out = []
    for r in members:
        o = analysis_outputs(r)
        out += [directory(o.pop("mapper"))] + list(o.values())
    return out


def figure_job_inputs(members):
    """Inputs of a per-run figure job; the InPCA coordinates only when figures are drawn against
    progress (InPCA reruns on every sweep change: epoch figures must not wait for it)."""
    progress = CFG["figures"]["time_axis"] == "progress"
    return {
        "stores": [store(r) for r in members],
        "mappers": [mapper_dir(r) for r in members],
        "curves": [analysis_outputs(r)["curve"] for r in members],
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
    """End products: every store (so a lost or quarantined one is rebuilt with everything made from
    it), the summary, the chosen runs' figures, the sweep figures and the sweep explorer."""
    out = [f"{RESULTS}/sweep.tsv", f"{RESULTS}/summary.tsv"]
    out += [store(r) for r in RUN_IDS]
    out += [run_figures_dir(r) for r in FIGURE_RUNS]
    out += sweep_figures()
    out += [f"{RESULTS}/explorer.html"]  # explorer.smk
    out += LAYER_SWEEP_FIGURES if TOY_RUNS else []  # layers.smk
    out += effective_width_targets()
    out += [f for c in CIRCLE_CELLS for f in circle_outputs(c)["figures"]]
    return out
