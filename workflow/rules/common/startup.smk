# Work on disk each time Snakemake reads the workflow (main process, every job and dry runs alike),
# before the runs with work left are counted: a damaged store is quarantined with its products, so
# it counts as missing and is trained again; a store Snakemake has registered loses its finished
# copy (topolearn.store.runlock), so --forcerun really retrains. The one other write is the record
# of the planned job groups for cluster job steps, made where the groups are formed (jobs.smk).
from topolearn.store import runlock
from topolearn.store.checks import check_stores

for _msg in check_stores([store(r) for r in RUN_IDS], f"{RESULTS}/quarantine", deep=CFG["verify"] == "full"):
    logger.warning(f"topolearn: {_msg}")

for _r in RUN_IDS:
    runlock.release_registered(store(_r), scratch(_r))
