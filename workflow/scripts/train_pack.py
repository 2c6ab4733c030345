"""Train a pack of runs (or one run) into their stores, resuming from their checkpoints.

Each run's point is looked up by its run id (the store's folder name) in the validated config:
the rules pass no params, so a run's provenance does not depend on the job that trained it.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.sweep.config import validate_config  # noqa: E402
from topolearn.data import DataError  # noqa: E402
from topolearn.utils.logs import fail, logged  # noqa: E402
from topolearn.train import train_pack  # noqa: E402

sm = snakemake  # noqa: F821
cfg = validate_config(sm.config)
stores = list(sm.output)
rids = [Path(s).parent.name for s in stores]
with logged(sm.log[0]) as log:
    try:
        train_pack([cfg["points"][r] for r in rids], stores, [f"{cfg['results']}/checkpoints/{r}" for r in rids],
                   cfg, device=cfg["device"], threads=sm.threads, chunk=cfg["checkpoint_every"],
                   log=log)  # cfg as the data source: its data_root and its dataset registry
    except DataError as err:  # missing or damaged dataset files: say which, no traceback
        fail(f"topolearn: {err}")
