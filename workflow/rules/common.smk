# Shared setup and input functions: config validation, the sweep's points, output paths.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))

from topolearn.config import ConfigError, mapper_layers, mapper_params, validate_config
from topolearn.datasets import DATASETS
from topolearn.figures import RUN_FIGURES, SWEEP_FIGURES
from topolearn.store import quarantine_bad_stores

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


wildcard_constraints:
    run_id="[0-9a-f]{12}",
    layer="layer[0-9]+",
    dataset="|".join(d for d in DATASETS if d != "digits"),


for _msg in quarantine_bad_stores(
    [f"{RESULTS}/runs/{r}/snapshots.zarr" for r in RUN_IDS], f"{RESULTS}/quarantine"
):
    logger.warning(f"topolearn: {_msg}")


def point(wildcards):
    """The sweep point of a job, as native Python types (params are compared by repr)."""
    return POINTS[wildcards.run_id]


def store(run_id):
    return f"{RESULTS}/runs/{run_id}/snapshots.zarr"


def scratch(run_id):
    """Checkpoints and the store in progress: no rule declares them, so Snakemake never deletes them."""
    return f"{RESULTS}/checkpoints/{run_id}"


def dataset_files(wildcards):
    """IDX inputs of a training job (none for the embedded digits)."""
    ds = POINTS[wildcards.run_id]["dataset"]
    if ds == "digits":
        return []
    return [f"{CFG['data_root']}/{ds}/{f}" for f in IDX_FILES]


def layers(run_id):
    return mapper_layers(CFG, POINTS[run_id])


def layer_mapper_params(wildcards):
    return mapper_params(CFG, POINTS[wildcards.run_id], wildcards.layer)


def mapper_jsons(wildcards):
    return [f"{RESULTS}/mapper/{wildcards.run_id}/{l}.json" for l in layers(wildcards.run_id)]


def train_threads():
    return CFG["train_threads"]


def train_mem_mb(wildcards):
    """Weights of all snapshots in memory at most once, plus the dataset and torch's own."""
    p = POINTS[wildcards.run_id]
    n_in = DATASETS[p["dataset"]].n_features
    widths = [n_in] + [p["width"] or 0] * p["depth"] + [10]
    n_weights = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    return 1500 + (4 * n_weights * CFG["checkpoint_every"]) // 2**20 + 400


def train_runtime(wildcards):
    """Minutes, generous: about 2 ms per update on one CPU core for the paper's net."""
    p = POINTS[wildcards.run_id]
    from topolearn.config import total_updates

    return 10 + total_updates(p) // 20000


def run_targets(run_id):
    out = [store(run_id)]
    out += [f"{RESULTS}/mapper/{run_id}/{l}.json" for l in layers(run_id)]
    out += [f"{RESULTS}/branches/{run_id}.tsv", f"{RESULTS}/branching/{run_id}.tsv"]
    return out


def run_figures(run_id):
    """Per-run figures: every name of topolearn.figures.RUN_FIGURES in every configured format."""
    return [f"{RESULTS}/figures/runs/{run_id}/{n}.{fmt}" for n in RUN_FIGURES for fmt in CFG["figures"]["formats"]]


def sweep_figures():
    return [f"{RESULTS}/figures/sweep/{n}.{fmt}" for n in SWEEP_FIGURES for fmt in CFG["figures"]["formats"]]


def for_report(paths, **kw):
    """Flag each figure's report format (png, else svg, else pdf) for the report, with its caption."""
    fmts = CFG["figures"]["formats"]
    report_fmt = next(f for f in ("png", "svg", "pdf") if f in fmts)
    out = []
    for path in paths:
        name, fmt = Path(path).name.rsplit(".", 1)
        if fmt == report_fmt:  # caption paths are relative to workflow/rules/
            path = report(path, caption=f"../report/{name}.rst", labels={"figure": name.replace("_", " ")}, **kw)
        out.append(path)
    return out


def run_title(wildcards):
    """Report subcategory of a run: its id and the swept values that set it apart."""
    p = POINTS[wildcards.run_id]
    # fields that vary only by not applying (init_std of a zero init is None) are left out
    varied = [k for k in p if len({repr(q[k]) for q in POINTS.values() if q[k] is not None}) > 1]
    return wildcards.run_id + (" (" + ", ".join(f"{k}={p[k]}" for k in varied) + ")" if varied else "")


def all_targets():
    out = [f"{RESULTS}/sweep.tsv", f"{RESULTS}/summary.tsv"]
    for r in RUN_IDS:
        out += run_targets(r)
        out += run_figures(r)
    out += sweep_figures()
    return out
