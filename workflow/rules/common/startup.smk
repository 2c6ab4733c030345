# Work on disk when Snakemake reads the workflow, only in the main process of a Snakemake that runs
# jobs (topolearn.utils.runmode; jobs parse the workflow too and leave the disk alone), before the
# runs with work left are counted: a damaged store is quarantined with its products, so it counts
# as missing and is trained again; a store Snakemake has registered loses its finished copy
# (topolearn.store.runlock), so --forcerun really retrains. A dry run (-n) or an inspecting command
# reports each damaged store in one line and moves nothing. The one other write is the record of
# the planned job groups for cluster job steps, made where the groups are formed (jobs.smk).
import sys

from topolearn.store import runlock
from topolearn.store.checks import check_stores
from topolearn.utils.runmode import runs_jobs

_runs_jobs = runs_jobs(workflow, sys.argv)
if workflow.is_main_process:
    _stores = [store(r) for r in RUN_IDS]
    for _msg in check_stores(_stores, f"{RESULTS}/quarantine", deep=CFG["verify"] == "full", move=_runs_jobs):
        logger.warning(f"topolearn: {_msg}")

if _runs_jobs:
    for _r in RUN_IDS:
        runlock.release_registered(store(_r), scratch(_r))

# Data judged by content (train inputs are ancient()): a store whose recorded data sha256 differ
# from the files' now is moved to {results}/superseded/ and retrained; a dry run only reports.
from topolearn.store.datacheck import check_data

if workflow.is_main_process:
    _own = {r: run_dataset_files(r) for r in RUN_IDS if REGISTRY[POINTS[r]["dataset"]].format is not None}
    for _msg in check_data({r: store(r) for r in _own}, _own, {r: scratch(r) for r in _own}, RESULTS, act=_runs_jobs):
        logger.warning(f"topolearn: {_msg}")

# A store Snakemake deleted for a retrain that did not complete: its kept copy goes to
# {results}/superseded/ (topolearn.store.runlock), never lost, and the run trains again.
if _runs_jobs:
    for _r in RUN_IDS:
        _msg = runlock.set_aside_kept(store(_r), scratch(_r), f"{RESULTS}/superseded")
        if _msg:
            logger.warning(f"topolearn: {_msg}")
