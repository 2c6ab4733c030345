"""Train one derived point of the effective-width test into its store, as a pack of one (resuming from its
checkpoint)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.sweep.config import validate_config  # noqa: E402
from topolearn.data import DataError  # noqa: E402
from topolearn.utils.logs import fail, logged  # noqa: E402
from topolearn.train import train_run  # noqa: E402

sm = snakemake  # noqa: F821
cfg = validate_config(sm.config)  # its dataset registry, device and chunking: no params
with logged(sm.log[0]) as log:
    try:
        train_run(dict(sm.params.point), sm.output[0], sm.params.scratch, cfg, device=cfg["device"],
                  threads=sm.threads, chunk=cfg["checkpoint_every"], log=log)
    except DataError as err:  # missing or damaged dataset files: say which, no traceback
        fail(f"topolearn: {err}")
