"""Write results/inpca/{coords,stress}.tsv: InPCA of every run's probe-prediction trajectory."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.inpca import make_inpca  # noqa: E402
from topolearn.logutil import logged  # noqa: E402

with logged(snakemake.log[0], "w"):  # noqa: F821
    make_inpca(snakemake.input.stores, snakemake.output.coords, snakemake.output.stress,  # noqa: F821
               max_points=snakemake.params.max_points)  # noqa: F821
