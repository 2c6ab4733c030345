"""One row per layer of one run: the learning graphs' metrics, collected from their JSONs."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.graphs import write_branch_table  # noqa: E402
from topolearn.logutil import logged  # noqa: E402

sm = snakemake  # noqa: F821
with logged(sm.log[0], mode="w"):
    write_branch_table(list(sm.input), sm.output[0])
