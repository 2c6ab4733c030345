"""Everything read off one run: its learning graphs' metrics per layer, time-resolved branching of
every analyzed layer (curve, paired events, symmetry), and every per-run figure."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.branching import run_branching  # noqa: E402
from topolearn.figures.runs import render_run_figures  # noqa: E402
from topolearn.graphs import write_branch_table  # noqa: E402
from topolearn.logutil import logged  # noqa: E402

sm = snakemake  # noqa: F821
i, o, p = sm.input, sm.output, sm.params
with logged(sm.log[0], mode="w"):
    write_branch_table(list(i.graphs), o.branches)
    run_branching(i.store, list(p.layers), sm.wildcards.run_id, p.group_threshold, p.accuracy_jump,
                  o.curve, o.events, o.symmetry, threads=sm.threads)
    for path in render_run_figures(i.store, o.curve, list(i.graphs), o.figures, p.formats, p.dpi, p.image_epochs):
        print(path)
