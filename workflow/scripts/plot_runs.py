"""Per-run figures of a batch of runs (or one run), in parallel over the job's threads."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.figures.batch import plot_runs  # noqa: E402
from topolearn.utils.logs import logged  # noqa: E402

sm = snakemake  # noqa: F821
i, p = sm.input, sm.params
with logged(sm.log[0], mode="w"):
    n = len(i.stores)  # outputs: the runs' figure folders, then their stability scans
    plot_runs(list(i.stores), list(i.mappers), list(sm.output[n:]), list(sm.output[:n]),
              dict(p.settings), dict(p.analysis), threads=sm.threads,
              coords=i.get("coords"))  # coords: only with figures.time_axis: progress
