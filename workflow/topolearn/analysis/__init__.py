"""Batched analysis of runs: each run's learning graphs, branch tables, branching curve and layer
measures, many runs in one process and in parallel over the job's threads (batch); the tables read
back, one run or a whole sweep, wherever a batch put them (tables)."""

from .batch import RunJob, analyze_run, analyze_runs, merge_tables, run_jobs, write_stamp
from .tables import by_run, locate, run_tables, sweep_table, sweep_tables

__all__ = ["RunJob", "analyze_run", "analyze_runs", "merge_tables", "run_jobs", "write_stamp",
           "by_run", "locate", "run_tables", "sweep_table", "sweep_tables"]
