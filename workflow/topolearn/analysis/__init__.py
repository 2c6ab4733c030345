"""Batched analysis of runs: each run's learning graphs, branch tables, branching curve and layer
measures, many runs in one process and in parallel over the job's threads (batch)."""

from .batch import RunJob, analyze_run, analyze_runs, run_jobs, write_stamp

__all__ = ["RunJob", "analyze_run", "analyze_runs", "run_jobs", "write_stamp"]
