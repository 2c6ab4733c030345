# Jobs: training packs, analysis batches and figure batches, and each job's threads, memory and runtime.
# Only runs with work left are grouped into jobs (topolearn.sweep.packing explains why); finished runs
# stay with the per-run rules, so --forcerun of one of them redoes that run alone.
from topolearn.sweep import jobgroups, jobsize, packing
from topolearn.sweep.mapper_settings import mapper_layers

# Settings every run's analysis depends on: the same params for a run's batch job and its own
# job, so moving from one to the other never counts as a parameter change.
ANALYSIS_SETTINGS = packing.analysis_settings(CFG)
FIGURE_SETTINGS = packing.canonical({k: CFG["figures"][k] for k in ("formats", "dpi", "weight_image_epochs", "time_axis")})
ANALYSIS_FINGERPRINT = packing.fingerprint(ANALYSIS_SETTINGS)
FIGURE_FINGERPRINT = packing.fingerprint(FIGURE_SETTINGS)

TRAIN_PENDING = [r for r in RUN_IDS if not packing.store_present(store(r))]
PACKS = packing.form_packs(POINTS, TRAIN_PENDING, CFG["pack_size"])
ANALYSIS_PENDING = [r for r in RUN_IDS if not packing.run_analysis_done(RESULTS, r, ANALYSIS_FINGERPRINT)]
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
# Figure batches follow the packs too: a pack's chosen runs are drawn once its analysis is done,
# beside the training still to come, not all at the end of the sweep.
FIGURE_BATCHES = packing.form_batches(PACKS, FIGURE_PENDING, CFG["analysis_batch"])

# A cluster job runs Snakemake again on its node, where the disk has moved on (its pack's stores may
# be there): it takes its group from the main process's record, never from the disk.
# Recorded by a run that executes jobs only (startup.smk's _runs_jobs): a dry run writes nothing.
_JOB = jobgroups.job_groups(sys.argv, ("train_pack_", "analyze_batch_", "plot_runs_"))
if _JOB is None:
    if _runs_jobs:
        jobgroups.save_groups(PACKS + ANALYSIS_BATCHES + FIGURE_BATCHES)
else:
    PACKS, ANALYSIS_BATCHES, FIGURE_BATCHES = _JOB["train_pack_"], _JOB["analyze_batch_"], _JOB["plot_runs_"]

if len(POINTS) > 1:
    logger.info(
        f"topolearn: {len(POINTS)} runs: {len(TRAIN_PENDING)} to train in {len(PACKS)} pack(s), "
        f"{len(ANALYSIS_PENDING)} to analyse in {len(ANALYSIS_BATCHES)} batch(es)"
    )


def train_threads():
    return CFG["train_threads"]


def pack_mem_mb(members):
    return jobsize.pack_mem_mb([POINTS[r] for r in members], CFG["checkpoint_every"], REGISTRY)


def pack_runtime(members):
    """Minutes: a pack takes about as long as its slowest network alone, plus the batch's share."""
    return max(jobsize.train_runtime(POINTS[r], REGISTRY) for r in members) * (1 + len(members) // 16)


def batch_mem_mb(members):
    layers = [(r, l) for r in members for l in mapper_layers(CFG, POINTS[r])]
    return max([2000] + [jobsize.mapper_mem_mb(POINTS[r], l, REGISTRY) for r, l in layers]) * CFG["analysis_threads"]


# On a cluster a pack and the analysis of its runs go in one submission (Snakemake's job groups;
# locally groups are ignored): a sweep costs about one SLURM job per pack, not two.
_PACK_OF = {r: packing.group_id(p) for p in PACKS for r in p}


def job_group(members):
    """The job group of a pack, or of an analysis batch whose runs all train in one pack; else None."""
    packs = {_PACK_OF.get(r) for r in members}
    return f"pack_{packs.pop()}" if len(packs) == 1 and None not in packs else None
