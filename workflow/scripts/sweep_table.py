"""Write results/sweep.tsv: one row per run id with its normalized parameters."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.sweep.table import write_sweep_table  # noqa: E402

write_sweep_table(dict(zip(snakemake.params.run_ids, snakemake.params.points)), snakemake.output[0])  # noqa: F821
