# Shared setup: config validation, the sweep's runs, how they are grouped into jobs, output paths.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))

# Light modules only: the workflow is parsed before every dry run, job and status check.
from topolearn.sweep import jobgroups, jobsize, packing
from topolearn.store import runlock
from topolearn.sweep.schema import ConfigError
from topolearn.sweep.config import check_config_files, validate_config
from topolearn.sweep.mapper_settings import mapper_layers
from topolearn.sweep.limits import plan_line
from topolearn.data.registry import DATASETS
from topolearn.data.declared import dataset_files
from topolearn.figures import SWEEP_FIGURES
from topolearn.store.checks import check_stores

try:
    check_config_files(workflow.configfiles)  # duplicate keys: Snakemake's loader keeps the last
    CFG = validate_config(config)
except ConfigError as err:
    # One readable line, no traceback, before any job is scheduled.
    sys.stderr.write(f"topolearn: invalid config: {err}\n")
    sys.exit(1)
if workflow.is_main_process:  # not again in every job
    sys.stderr.write(plan_line(CFG["plan"]) + "\n")

RESULTS = CFG["results"]
POINTS = CFG["points"]  # {run_id: normalized point}, in sweep order
RUN_IDS = sorted(POINTS)
LOGS = f"{RESULTS}/logs"
ENV = "../../envs/topolearn.yaml"  # conda: paths are relative to the .smk file
FETCHABLE = ("mnist", "fashion-mnist", "kmnist")  # IDX datasets fetch_data downloads
IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


wildcard_constraints:
    run_id="[0-9a-f]{12}",
    dataset="|".join(FETCHABLE),


def store(run_id):
    return f"{RESULTS}/runs/{run_id}/snapshots.zarr"


for _msg in check_stores([store(r) for r in RUN_IDS], f"{RESULTS}/quarantine", deep=CFG["verify"] == "full"):
    logger.warning(f"topolearn: {_msg}")


def scratch(run_id):
    """Checkpoints, the store in progress and the run's lock: no rule declares them."""
    return f"{RESULTS}/checkpoints/{run_id}"


for _r in RUN_IDS:  # a registered store needs no kept copy: --forcerun then really retrains
    runlock.release_registered(store(_r), scratch(_r))


def run_dataset_files(run_id):
    """Data files of a run's training job: the IDX files fetch_data can download, a declared
    dataset's files, none for the embedded digits and the generated toy data."""
    ds = POINTS[run_id]["dataset"]
    if ds in FETCHABLE:
        return [f"{CFG['data_root']}/{ds}/{f}" for f in IDX_FILES]
    if DATASETS[ds].format is None:
        return []
    return [str(f) for f in dataset_files(ds, CFG["data_root"])]


def train_threads():
    return CFG["train_threads"]


# ---------------------------------------------------------------- per-run outputs


def mapper_dir(run_id):
    """A run's learning graphs, one JSON per analyzed layer, and the analysis stamp."""
    return f"{RESULTS}/mapper/{run_id}"


def analysis_outputs(run_id):
    return packing.analysis_paths(RESULTS, run_id)


def run_figures_dir(run_id):
    return f"{RESULTS}/figures/runs/{run_id}"


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


# Settings every run's analysis depends on: the same params for a run's batch job and its own
# job, so moving from one to the other never counts as a parameter change.
ANALYSIS_SETTINGS = packing.canonical({"mapper": CFG["mapper"], "branching": CFG["branching"]})
FIGURE_SETTINGS = packing.canonical({k: CFG["figures"][k] for k in ("formats", "dpi", "weight_image_epochs", "time_axis")})
ANALYSIS_FINGERPRINT = packing.fingerprint(ANALYSIS_SETTINGS)
FIGURE_FINGERPRINT = packing.fingerprint(FIGURE_SETTINGS)

# ---------------------------------------------------------------- jobs: packs and batches
# Only runs with work left are grouped into jobs (topolearn.sweep.packing explains why); finished runs
# stay with the per-run rules, so --forcerun of one of them redoes that run alone.

TRAIN_PENDING = [r for r in RUN_IDS if not packing.store_present(store(r))]
PACKS = packing.form_packs(POINTS, TRAIN_PENDING, CFG["pack_size"])
ANALYSIS_PENDING = [
    r
    for r in RUN_IDS
    if not packing.analysis_done(
        store(r),
        list(analysis_outputs(r).values()),
        f"{mapper_dir(r)}/{packing.STAMP}",
        ANALYSIS_FINGERPRINT,
    )
]
ANALYSIS_BATCHES = packing.form_batches(PACKS, ANALYSIS_PENDING, CFG["analysis_batch"])
FIGURE_RUNS = packing.figure_runs(CFG["figures"]["runs"], list(POINTS))
FIGURE_PENDING = [
    r
    for r in FIGURE_RUNS
    if r in ANALYSIS_PENDING
    or not packing.analysis_done(
        store(r),
        [run_figures_dir(r), packing.stability_path(RESULTS, r)],
        f"{run_figures_dir(r)}/{packing.STAMP}",
        FIGURE_FINGERPRINT,
    )
]
FIGURE_BATCHES = packing.form_batches([], FIGURE_PENDING, CFG["analysis_batch"])

# A cluster job runs Snakemake again on its node, where the disk has moved on (its pack's stores may
# be there): it takes its group from the main process's record, never from the disk.
_JOB = jobgroups.job_groups(sys.argv, ("train_pack_", "analyze_batch_", "plot_runs_"))
if _JOB is None:
    jobgroups.save_groups(PACKS + ANALYSIS_BATCHES + FIGURE_BATCHES)
else:
    PACKS, ANALYSIS_BATCHES, FIGURE_BATCHES = _JOB["train_pack_"], _JOB["analyze_batch_"], _JOB["plot_runs_"]

if len(POINTS) > 1:
    logger.info(
        f"topolearn: {len(POINTS)} runs: {len(TRAIN_PENDING)} to train in {len(PACKS)} pack(s), "
        f"{len(ANALYSIS_PENDING)} to analyse in {len(ANALYSIS_BATCHES)} batch(es)"
    )


def pack_mem_mb(members):
    return jobsize.pack_mem_mb([POINTS[r] for r in members], CFG["checkpoint_every"])


def pack_runtime(members):
    """Minutes: a pack takes about as long as its slowest network alone, plus the batch's share."""
    return max(jobsize.train_runtime(POINTS[r]) for r in members) * (1 + len(members) // 16)


def batch_mem_mb(members):
    layers = [(r, l) for r in members for l in mapper_layers(CFG, POINTS[r])]
    return max([2000] + [jobsize.mapper_mem_mb(POINTS[r], l) for r, l in layers]) * CFG["analysis_threads"]


# ---------------------------------------------------------------- report helpers


def sweep_figures():
    return [f"{RESULTS}/figures/sweep/{n}.{fmt}" for n in SWEEP_FIGURES for fmt in CFG["figures"]["formats"]]


def report_format():
    """The format figures enter the report in: png, else svg, else pdf."""
    return next(f for f in ("png", "svg", "pdf") if f in CFG["figures"]["formats"])


def for_report(paths, **kw):
    """Flag each figure's report format for the report, with its caption."""
    out, report_fmt = [], report_format()
    for path in paths:
        name, fmt = Path(path).name.rsplit(".", 1)
        if fmt == report_fmt:  # caption paths are relative to workflow/rules/
            path = report(path, caption=f"../report/{name}.rst", labels={"figure": name.replace("_", " ")}, **kw)
        out.append(path)
    return out


def run_figures_output(run_id):
    """A run's figure folder, entered into the report figure by figure (pattern {name}.{format})."""
    return report(
        directory(run_figures_dir(run_id)),
        patterns=[f"{{name}}.{report_format()}"],
        caption="../report/run_figures.rst",
        category="Runs",
        subcategory=run_title(run_id),
        labels=figure_label,
    )


def figure_label(wildcards):
    """Report label of a figure found by the pattern {name}.{format} in a figure directory."""
    return {"figure": wildcards.name.replace("_", " ")}


VARIED_FIELDS = [
    k
    for k in dict.fromkeys(k for p in POINTS.values() for k in p)
    if len({repr(q[k]) for q in POINTS.values() if q[k] is not None}) > 1
]


def run_title(run_id):
    """Report subcategory of a run: its id and the swept values that set it apart."""
    p = POINTS[run_id]
    varied = [k for k in VARIED_FIELDS if k in p]
    return run_id + (" (" + ", ".join(f"{k}={p[k]}" for k in varied) + ")" if varied else "")


def run_title_wc(wildcards):
    return run_title(wildcards.run_id)


def all_targets():
    """End products: every store (so a lost or quarantined one is rebuilt with everything made from
    it), the summary, the chosen runs' figures and the sweep figures."""
    out = [f"{RESULTS}/sweep.tsv", f"{RESULTS}/summary.tsv"]
    out += [store(r) for r in RUN_IDS]
    out += [run_figures_dir(r) for r in FIGURE_RUNS]
    out += sweep_figures()
    out += LAYER_SWEEP_FIGURES if TOY_RUNS else []  # layers.smk
    out += effective_width_targets()
    return out


# ---------------------------------------------------------------- the effective-width test
# (workflow/rules/effective_width.smk, docs/effective_width.md)
from topolearn.results.effective_width import derived_point, derived_source, derived_store

EW = CFG["effective_width"]
EW_DIR = f"{RESULTS}/effective_width"
EW_SOURCES = [r for r in RUN_IDS if POINTS[r]["depth"] > 0]


def ew_points_table():
    return checkpoints.effective_width_points.get().output[0]


def effective_width_stores(wildcards):
    """Every derived run's store, known once the checkpoint has run."""
    from topolearn.results.effective_width import derived_rows

    ids = dict.fromkeys(r["run_id"] for r in derived_rows(ew_points_table()))
    return [derived_store(RESULTS, r, POINTS) for r in ids]


def effective_width_targets():
    """The test's products when it is enabled (for all_targets)."""
    if not EW["enabled"]:
        return []
    return rules.effective_width_table.output
