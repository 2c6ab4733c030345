"""Reading Snakemake's dry-run output: which jobs, which rules, which runs they write."""

import re


def jobs_in(text: str) -> list[tuple[str, dict, list[str]]]:
    """(rule, wildcards, outputs) of every job Snakemake's output announces."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", text):
        m = re.match(r"(?:local)?rule (\w+):", block)
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
