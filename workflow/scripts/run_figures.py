"""Render every per-run figure of one run (one Python process per run: imports are paid once)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.figures.runs import render_run_figures  # noqa: E402
from topolearn.logutil import logged  # noqa: E402

with logged(snakemake.log[0], "w"):  # noqa: F821
    i, o, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
    for path in render_run_figures(i.store, i.branching, i.mapper, o[0], p.formats, p.dpi, p.image_epochs):
        print(path)
