"""The packs and batches a cluster job runs, as the main Snakemake process planned them.

On a cluster (snakemake-executor-plugin-slurm), each job runs Snakemake again on a node (the job
step, `--mode remote --target-jobs <rule>:`), which parses the workflow anew. Packs and batches are
formed from the runs with work left *on disk at parse time*, and that changes while a sweep runs:
in an analysis batch's job every store is there, so the job would group its runs differently and
find no rule of the name it was sent to run (UnknownRuleException). So the main process records
each group it plans in a file named by the group's id (topolearn.sweep.packing.group_id: the same members
always give the same file, so files never conflict and are written once), and a job step defines
its rule from that file instead of from the disk. Light module: parsed before every job.
"""

import json
import os
from pathlib import Path

from .packing import group_id

GROUPS_DIR = ".snakemake/topolearn/groups"  # under the working directory, which a job step shares


def save_groups(groups, folder=GROUPS_DIR) -> None:
    """Record each group's members as <folder>/<group id>.json (once; atomic, so a job step never
    reads half a file)."""
    folder = Path(folder)
    for members in groups:
        path = folder / f"{group_id(members)}.json"
        if path.is_file():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(sorted(members)))
        os.replace(tmp, path)


def target_rules(argv) -> list[str]:
    """Rule names a job step was started for (`--target-jobs rule:wildcards ...`); [] in the main
    process, whose command line has no --target-jobs."""
    names, taking = [], False
    for arg in argv:
        if arg.startswith("--target-jobs="):
            names.append(arg.split("=", 1)[1])
            continue
        if arg.startswith("-"):
            taking = arg == "--target-jobs"
        elif taking:
            names.append(arg)
    return [n.strip("'\"").split(":", 1)[0] for n in names]


def job_groups(argv, prefixes, folder=GROUPS_DIR) -> dict[str, list[list[str]]] | None:
    """For a job step: {prefix: [members]} of the grouped rules (named `<prefix><group id>`) it was
    started for, read from the main process's record; None outside a job step (plan from disk)."""
    rules = target_rules(argv)
    if not rules:
        return None
    out = {p: [] for p in prefixes}
    for rule in rules:
        prefix = next((p for p in prefixes if rule.startswith(p)), None)
        if prefix is None:
            continue  # a per-run rule (train, analyze_run, plot_run) or a local one
        path = Path(folder) / f"{rule[len(prefix):]}.json"
        try:
            out[prefix].append(json.loads(path.read_text()))
        except (OSError, ValueError) as err:
            raise RuntimeError(
                f"topolearn: job {rule}: cannot read its members from {path} ({err}); it is written by "
                "the main Snakemake process in this working directory: rerun Snakemake there") from None
    return out
