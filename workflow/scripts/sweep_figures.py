"""Render the sweep figures (branch statistics, accuracy curves, InPCA)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.figures.sweep import render_sweep_figures  # noqa: E402
from topolearn.utils.logs import logged  # noqa: E402

with logged(snakemake.log[0], "w"):  # noqa: F821
    i, p = snakemake.input, snakemake.params  # noqa: F821
    for path in render_sweep_figures(i.summary, i.coords, i.stress, p.stores, p.outdir, p.formats, p.dpi,
                                     time_axis=p.time_axis, factors_tsv=i.factors):
        print(path)
