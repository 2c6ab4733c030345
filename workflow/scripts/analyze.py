"""Analyse a batch of runs (or one run): learning graphs, branch table, branching curve, events,
symmetry and layer tables of every run, in parallel over the job's threads; a batch's tables in
one set in its table folder."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.analysis.batch import analyze_runs, run_jobs  # noqa: E402
from topolearn.utils.logs import logged  # noqa: E402

sm = snakemake  # noqa: F821
with logged(sm.log[0], mode="w"):
    jobs, tables = run_jobs(list(sm.input), list(sm.output))  # tables: a batch's table folder, else None
    analyze_runs(jobs, dict(sm.params.settings), threads=sm.threads, tables=tables)
