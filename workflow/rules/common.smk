# Shared setup and input functions: config validation, the sweep's points, output paths.
import functools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))

# Light modules only: the workflow is parsed before every dry run, job and status check.
from topolearn import jobsize, planning
from topolearn.config import ConfigError, mapper_layers, mapper_params, validate_config
from topolearn.datasets import DATASETS
from topolearn.figures import SWEEP_FIGURES
from topolearn.storecheck import quarantine_bad_stores

# Cheaper planning of large sweeps (fewer garbage collections, one script check per rule).
planning.tune_gc()
planning.check_scripts_once_per_rule()

try:
    CFG = validate_config(config)
except ConfigError as err:
    # One readable line, no traceback, before any job is scheduled.
    sys.stderr.write(f"topolearn: invalid config: {err}\n")
    sys.exit(1)

RESULTS = CFG["results"]
POINTS = CFG["points"]  # {run_id: normalized point}
RUN_IDS = sorted(POINTS)
LOGS = f"{RESULTS}/logs"
ENV = "../../envs/topolearn.yaml"  # conda: paths are relative to the .smk file
IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
# Per-run values, computed once here rather than in a function per job (see per_run).
RUN_LAYERS = {r: mapper_layers(CFG, p) for r, p in POINTS.items()}  # analyzed layers
MAPPER_PARAMS = {(r, l): mapper_params(CFG, POINTS[r], l) for r in RUN_IDS for l in RUN_LAYERS[r]}


wildcard_constraints:
    run_id="[0-9a-f]{12}",
    layer="layer[0-9]+",
    dataset="|".join(d for d in DATASETS if d != "digits"),


for _msg in quarantine_bad_stores(
    [f"{RESULTS}/runs/{r}/snapshots.zarr" for r in RUN_IDS], f"{RESULTS}/quarantine"
):
    logger.warning(f"topolearn: {_msg}")


def per_run(values):
    """A rule's input, params or resources item from {run_id: value}: the value itself when every
    run has the same one, else a function of the job's run_id.

    Snakemake calls such a function once per job (about 0.2 ms with its signature inspection, the
    bulk of a dry run's time beyond its own per-job floor), so a grid over lr, init or seed, whose
    runs share layers, resources and dataset files, plans without any. Equal means equal repr:
    that is how Snakemake compares params.
    """
    vals = list(values.values())
    if vals and all(repr(v) == repr(vals[0]) for v in vals[1:]):
        return vals[0]
    return lambda wildcards: values[wildcards.run_id]


def per_layer(values):
    """per_run for {(run_id, layer): value} and the jobs of one layer of one run."""
    vals = list(values.values())
    if vals and all(repr(v) == repr(vals[0]) for v in vals[1:]):
        return vals[0]
    return lambda wildcards: values[wildcards.run_id, wildcards.layer]


def store(run_id):
    return f"{RESULTS}/runs/{run_id}/snapshots.zarr"


def scratch(run_id):
    """Checkpoints and the store in progress: no rule declares them, so Snakemake never deletes them."""
    return f"{RESULTS}/checkpoints/{run_id}"


def run_dataset_files(run_id):
    """IDX inputs of a run's training job (none for the embedded digits)."""
    ds = POINTS[run_id]["dataset"]
    if ds == "digits":
        return []
    return [f"{CFG['data_root']}/{ds}/{f}" for f in IDX_FILES]


def mapper_jsons(wildcards):
    return [f"{RESULTS}/mapper/{wildcards.run_id}/{l}.json" for l in RUN_LAYERS[wildcards.run_id]]


def mapper_jsons_input():
    """Input item of a run's layer JSONs: plain patterns when every run has the same layers."""
    shared = per_run(RUN_LAYERS)
    if callable(shared):
        return mapper_jsons
    return [f"{RESULTS}/mapper/{{run_id}}/{l}.json" for l in shared]


def train_threads():
    return CFG["train_threads"]


def run_figures_dir(run_id):
    """Every per-run figure (topolearn.figures.RUN_FIGURES in every configured format) lives in this
    directory, one output for the job instead of one per file: each output file of each job costs a
    dry run's planning time (a 1,000-point sweep plans a quarter faster)."""
    return f"{RESULTS}/figures/runs/{run_id}"


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


def figure_label(wildcards):
    """Report label of a figure found by the pattern {name}.{format} in a figure directory."""
    return {"figure": wildcards.name.replace("_", " ")}


@functools.cache
def varied_fields():
    """The point fields the sweep varies (once, not per run: quadratic in runs otherwise).

    Fields that vary only by not applying (init_std of a zero init is None) are left out.
    """
    keys = dict.fromkeys(k for p in POINTS.values() for k in p)
    return [k for k in keys if len({repr(q[k]) for q in POINTS.values() if q[k] is not None}) > 1]


def run_title(wildcards):
    """Report subcategory of a run: its id and the swept values that set it apart."""
    p = POINTS[wildcards.run_id]
    varied = [k for k in varied_fields() if k in p]
    return wildcards.run_id + (" (" + ", ".join(f"{k}={p[k]}" for k in varied) + ")" if varied else "")


def run_targets(run_id):
    """A run's end products: its store and its figures, whose job needs its learning graphs and
    branching tables (the summary needs the tables too), so every product is built. The store is
    listed so that one lost or quarantined is rebuilt, and everything made from it after it, even
    while those results are still there (Snakemake rebuilds a missing file only for a target or a
    job that has to run). Listing every file would cost a 1,000-point dry run 8 % more."""
    return [store(run_id), run_figures_dir(run_id)]


def all_targets():
    out = [f"{RESULTS}/sweep.tsv", f"{RESULTS}/summary.tsv"]
    for r in RUN_IDS:
        out += run_targets(r)
    out += sweep_figures()
    return out
