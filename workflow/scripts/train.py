"""Train one sweep point into its snapshot store (resuming from its checkpoint if one is there)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.config import settings  # noqa: E402
from topolearn.data import DataError  # noqa: E402
from topolearn.logutil import fail, logged  # noqa: E402
from topolearn.train import train_run  # noqa: E402

sm = snakemake  # noqa: F821
run_settings = settings(sm.config)  # device and chunking are not params: changing them never retrains
with logged(sm.log[0]) as log:
    try:
        train_run(dict(sm.params.point), sm.output[0], sm.params.scratch, sm.params.data_root,
                  device=run_settings["device"], threads=sm.threads, chunk=run_settings["checkpoint_every"],
                  log=log)
    except DataError as err:  # missing or damaged dataset files: say which, no traceback
        fail(f"topolearn: {err}")
