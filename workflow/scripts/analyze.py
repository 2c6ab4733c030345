"""Analyse a batch of runs (or one run): learning graphs, branch table, branching curve, events
and symmetry of every run, in parallel over the job's threads."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.analysis.batch import analyze_runs, run_jobs  # noqa: E402
from topolearn.utils.logs import logged  # noqa: E402

sm = snakemake  # noqa: F821
with logged(sm.log[0], mode="w"):
    analyze_runs(run_jobs(list(sm.input), list(sm.output)), dict(sm.params.settings), threads=sm.threads)
