"""Make one IDX file of a dataset present and verified (pre-staged files are used as they are)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.data import DataError, fetch_dataset  # noqa: E402
from topolearn.utils.logs import fail, logged  # noqa: E402

sm = snakemake  # noqa: F821
with logged(sm.log[0], mode="w"):
    data_root = Path(sm.output[0]).parent.parent  # the output is {data_root}/{dataset}/{idx_file}
    try:
        fetch_dataset(sm.wildcards.dataset, data_root, names=[sm.wildcards.idx_file.removesuffix(".gz")])
    except DataError as err:
        fail(f"topolearn: {err}")
