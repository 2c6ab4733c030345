"""A cluster job's pack or batch comes from the main process's record, not from the disk."""

import pytest

from topolearn.sweep.jobgroups import job_groups, save_groups, target_rules
from topolearn.sweep.packing import group_id

PREFIXES = ("train_pack_", "analyze_batch_", "plot_runs_")
PACK = ["bbbbbbbbbbbb", "aaaaaaaaaaaa"]


def job_step_argv(*targets):
    """The command line of a job step as snakemake-executor-plugin-slurm starts it (abridged)."""
    return ["/x/snakemake/__main__.py", "--snakefile", "/w/Snakefile", "--target-jobs", *targets,
            "--allowed-rules", *(t.split(":")[0] for t in targets), "--cores", "all", "--mode", "remote"]


def test_target_rules_of_a_job_step():
    argv = job_step_argv("train_pack_0123456789:", "train:run_id=aaaaaaaaaaaa")
    assert target_rules(argv) == ["train_pack_0123456789", "train"]
    assert target_rules(["snakemake", "--target-jobs=analyze_batch_x:", "--cores", "1"]) == ["analyze_batch_x"]
    assert target_rules(["snakemake", "all", "--cores", "2", "--allowed-rules", "train"]) == []


def test_a_job_step_gets_the_planned_group_whatever_is_on_disk(tmp_path):
    save_groups([PACK, ["cccccccccccc"]], tmp_path)
    gid = group_id(PACK)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{gid}.json", f"{group_id(['cccccccccccc'])}.json"])
    got = job_groups(job_step_argv(f"analyze_batch_{gid}:"), PREFIXES, tmp_path)
    assert got == {"train_pack_": [], "analyze_batch_": [sorted(PACK)], "plot_runs_": []}
    assert group_id(got["analyze_batch_"][0]) == gid  # the same rule name as in the main process


def test_main_process_and_per_run_jobs(tmp_path):
    assert job_groups(["snakemake", "--cores", "2"], PREFIXES, tmp_path) is None  # plan from disk
    got = job_groups(job_step_argv("analyze_run:run_id=aaaaaaaaaaaa"), PREFIXES, tmp_path)
    assert got == {p: [] for p in PREFIXES}


def test_a_missing_record_is_one_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match=r"job train_pack_0123456789: cannot read its members from .*0123456789\.json"):
        job_groups(job_step_argv("train_pack_0123456789:"), PREFIXES, tmp_path)


def test_records_are_written_once(tmp_path):
    save_groups([PACK], tmp_path)
    path = tmp_path / f"{group_id(PACK)}.json"
    before = path.stat().st_mtime_ns
    save_groups([PACK], tmp_path)
    assert path.stat().st_mtime_ns == before and not list(tmp_path.glob("*.tmp"))
