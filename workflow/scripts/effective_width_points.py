"""The effective-width test's derived points, from each run's branch table (a checkpoint's job)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.analysis.tables import by_run, sweep_table  # noqa: E402
from topolearn.sweep.config import validate_config  # noqa: E402
from topolearn.results.effective_width import points_table, write_table  # noqa: E402
from topolearn.utils.logs import logged  # noqa: E402

sm = snakemake  # noqa: F821
with logged(sm.log[0]) as log:
    points = validate_config(sm.config)["points"]
    branches = by_run(sweep_table(sm.params.results, sm.params.sources, "branches"))
    df = points_table(points, branches, sm.params.factors, sm.params.combine)
    write_table(df, sm.output[0])
    log.write(f"{len(df)} derived point(s) ({df['run_id'].nunique()} distinct) from "
              f"{df['source_run_id'].nunique()} of {len(sm.params.sources)} run(s) with hidden layers\n")
