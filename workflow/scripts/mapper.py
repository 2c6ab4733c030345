"""Learning graph of one layer of one run: JSON, interactive HTML and static PNG."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.logutil import logged  # noqa: E402
from topolearn.mapper import mapper_layer  # noqa: E402

sm = snakemake  # noqa: F821
with logged(sm.log[0], mode="w"):
    mapper_layer(sm.input.store, sm.wildcards.layer, dict(sm.params.mapper), sm.params.persistence_threshold,
                 sm.output.json, sm.output.html, sm.output.png, run_id=sm.wildcards.run_id, threads=sm.threads)
