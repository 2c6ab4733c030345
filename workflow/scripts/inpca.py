"""Write results/inpca/{coords,stress}.tsv: InPCA of every run's probe-prediction trajectory.

The embedding cache (results/inpca/cache) is a params path, not an output, so it survives re-runs
and added runs are placed into the cached embedding."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.inpca.sweep import make_inpca  # noqa: E402
from topolearn.utils.logs import logged  # noqa: E402

with logged(snakemake.log[0], "w"):  # noqa: F821
    make_inpca(snakemake.input.stores, snakemake.output.coords, snakemake.output.stress,  # noqa: F821
               cache=snakemake.params.cache, threads=snakemake.threads,  # noqa: F821
               **dict(snakemake.params.settings))  # noqa: F821
