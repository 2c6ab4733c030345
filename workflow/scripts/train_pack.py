"""Train one pack of sweep points into their snapshot stores (topolearn.packed.train_pack).

params.points and params.scratch are in the order of the outputs (one store directory per point).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

import torch  # noqa: E402

from topolearn.config import settings  # noqa: E402
from topolearn.data import DataError  # noqa: E402
from topolearn.logutil import fail, logged  # noqa: E402
from topolearn.packed import train_pack  # noqa: E402

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)
run_settings = settings(sm.config)  # device and chunking are not params: changing them never retrains
with logged(sm.log[0]) as log:
    try:
        train_pack([dict(p) for p in sm.params.points], list(sm.output), list(sm.params.scratch),
                   sm.params.data_root, device=run_settings["device"], threads=sm.threads,
                   chunk=run_settings["checkpoint_every"], log=log)
    except DataError as err:  # missing or damaged dataset files: say which, no traceback
        fail(f"topolearn: {err}")
