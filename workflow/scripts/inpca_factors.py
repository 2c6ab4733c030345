"""Write results/inpca/factors.tsv (how far each swept factor moves trajectories, against seeds) and
stress_top.tsv (explained stress of the top 1, 3, 50 dimensions per embedding)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.inpca.factors import make_factors  # noqa: E402
from topolearn.utils.logs import logged  # noqa: E402

with logged(snakemake.log[0], "w"):  # noqa: F821
    i, o = snakemake.input, snakemake.output  # noqa: F821
    make_factors(i.sweep, i.coords, i.stress, snakemake.params.stores, o.factors, o.stress_top, threads=snakemake.threads)  # noqa: F821
