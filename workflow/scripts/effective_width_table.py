"""The effective-width test's accuracy table (per run), its summary across the sweep, and its figure."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.results import effective_width as ew  # noqa: E402
from topolearn.utils.logs import logged  # noqa: E402

sm = snakemake  # noqa: F821
with logged(sm.log[0]) as log:
    sweep_ids = set(sm.params.sweep_ids)
    acc = ew.accuracy_table(ew.read_points_table(sm.input.points),
                            lambda rid, derived: ew.derived_store(sm.params.results, rid, sweep_ids if derived else {rid}))
    ew.write_table(acc, sm.output.table)
    summary = ew.summary_table(acc)
    ew.write_table(summary, sm.output.summary)
    fig = ew.plot_effective_width(acc)
    for path in sm.output.figures:
        fig.savefig(path, dpi=sm.params.dpi)
    log.write(summary.to_string(index=False) + "\n")
