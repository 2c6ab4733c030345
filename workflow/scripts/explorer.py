"""Write the sweep explorer page (results/explorer.html)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.analysis.tables import by_run, sweep_table  # noqa: E402
from topolearn.figures.explorer import write_explorer  # noqa: E402
from topolearn.utils.logs import logged  # noqa: E402

with logged(snakemake.log[0], "w"):  # noqa: F821
    i = snakemake.input  # noqa: F821
    curves = by_run(sweep_table(Path(i.summary).parent, snakemake.params.runs, "curve"))  # noqa: F821
    print(write_explorer(i.summary, i.coords, snakemake.params.stores, curves, snakemake.output[0]))  # noqa: F821
