"""Write one cell's circle-of-filters table, its runs' summary rows and its figures."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.utils.logs import logged  # noqa: E402
from topolearn.figures.circle import render_cell  # noqa: E402

with logged(snakemake.log[0], "w"):  # noqa: F821
    sm = snakemake  # noqa: F821
    table = render_cell(sm.wildcards.cell, list(sm.input.stores), list(sm.params.runs), dict(sm.params.settings),
                        sm.output.table, sm.output.runs, Path(sm.output.figures[0]).parent,
                        sm.params.figures["formats"], sm.params.figures["dpi"])
    print(f"cell {sm.wildcards.cell}: {len(sm.params.runs)} runs, {int(table['circle'].sum())} of {len(table)} "
          f"snapshots with the circle")
