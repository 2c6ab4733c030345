"""Reading Snakemake's dry-run output: which jobs, which rules, which runs they write; a copy of the
workflow to run or edit outside the checkout."""

import re
import shutil
from pathlib import Path


def jobs_in(text: str) -> list[tuple[str, dict, list[str]]]:
    """(rule, wildcards, outputs) of every job Snakemake's output announces (a dry run lists the jobs
    of a job group indented under it)."""
    jobs = []
    for block in re.split(r"\n(?=[ \t]*(?:local)?rule \w+:)", text):
        m = re.match(r"[ \t]*(?:local)?rule (\w+):", block)
        if not m:
            continue
        wc = re.search(r"wildcards: (.*)", block)
        wildcards = dict(kv.split("=", 1) for kv in wc.group(1).split(", ")) if wc else {}
        out = re.search(r"output: (.*)", block)
        jobs.append((m.group(1), wildcards, out.group(1).split(", ") if out else []))
    return jobs


_WRITES = {"train": r"runs/([0-9a-f]{12})/snapshots\.zarr$", "analyze": r"mapper/([0-9a-f]{12})$",
           "plot": r"figures/runs/([0-9a-f]{12})$"}


def runs_of(jobs, kind: str) -> list[str]:
    """Run ids whose store ("train"), analysis ("analyze") or figures ("plot") the jobs write: one
    entry per run and job, sorted (a run in two jobs shows twice)."""
    return sorted(m.group(1) for _, _, outs in jobs for o in outs if (m := re.search(_WRITES[kind], o)))


def rules(jobs) -> set[str]:
    """Rule names, packs and batches under their family name (train_pack, analyze_batch, plot_runs)."""
    return {re.sub(r"_[0-9a-f]{10}$", "", r) for r, _, _ in jobs}


# What a checkout holds besides the workflow itself: environments, caches, results, data.
_NOT_COPIED = {".git", ".venv", ".snakemake", ".hypothesis", ".pytest_cache", ".import_linter_cache", "results",
               "data", ".gl", ".whl"}


def copy_checkout(root: Path, dst: Path) -> Path:
    """The workflow's files (Snakefile, rules, scripts, library, configs, profiles) copied to `dst`,
    for tests that edit code or run Snakemake in the workflow's own folder: the checkout stays
    as it is."""
    def ignore(folder, names):
        top = Path(folder) == root
        return [n for n in names if (top and n in _NOT_COPIED) or n == "__pycache__" or n.endswith(".egg-info")]

    shutil.copytree(root, dst, ignore=ignore, symlinks=True)
    return dst
