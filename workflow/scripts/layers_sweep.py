"""Render the sweep figures of the layer-representation stage (topolearn.figures.layers)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.analysis.tables import by_run, sweep_table  # noqa: E402
from topolearn.figures.layers import render_layer_sweep  # noqa: E402
from topolearn.utils.logs import logged  # noqa: E402

with logged(snakemake.log[0], "w"):  # noqa: F821
    i, p = snakemake.input, snakemake.params  # noqa: F821
    tables = by_run(sweep_table(p.results, p.runs, "layers"))
    for path in render_layer_sweep(tables, i.sweep, p.outdir, p.formats, p.dpi):
        print(path)
