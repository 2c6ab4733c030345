"""Branch counts of one run: its learning graphs' metrics per layer, and time-resolved branching
of every analyzed layer (curve, paired events, symmetry)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.branching import run_branching  # noqa: E402
from topolearn.graphs import write_branch_table  # noqa: E402
from topolearn.logutil import logged  # noqa: E402

sm = snakemake  # noqa: F821
with logged(sm.log[0], mode="w"):
    write_branch_table(list(sm.input.graphs), sm.output.branches)
    run_branching(sm.input.store, list(sm.params.layers), sm.wildcards.run_id, sm.params.group_threshold,
                  sm.params.accuracy_jump, sm.output.curve, sm.output.events, sm.output.symmetry,
                  threads=sm.threads)
