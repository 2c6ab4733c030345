"""A cluster job's pack or batch comes from the main process's record, not from the disk."""

import subprocess
import sys
from pathlib import Path

import pytest

from topolearn.jobgroups import job_groups, save_groups, target_rules
from topolearn.packing import group_id

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


SNAKEFILE = """
import sys
sys.path.insert(0, {workflow!r})
from topolearn import jobgroups
rule train_pack_abc:
    output: "a.txt", "b.txt"
    threads: 1
    resources: mem_mb=1234, runtime=10
    shell: "touch {{output}}"
rule train:
    output: "{{x}}.solo"
    threads: 1
    resources: mem_mb=1234, runtime=10
    shell: "touch {{output}}"
jobgroups.inherit_resources(workflow)
"""


def test_packs_take_the_resources_set_for_train(tmp_path):
    """`set-resources: train: ...` (a profile, or --set-resources) reaches every train_pack_<id>;
    a setting for the pack rule by its own name wins."""
    root = Path(__file__).resolve().parents[1]
    (tmp_path / "Snakefile").write_text(SNAKEFILE.format(workflow=str(root / "workflow")))
    cmd = [str(Path(sys.executable).parent / "snakemake"), "-n", "a.txt", "--cores", "2", "-d", str(tmp_path),
           "-s", str(tmp_path / "Snakefile"), "--set-resources", "train:runtime=7", "train:slurm_partition=gpu",
           "train:mem_mb=5000", "train_pack_abc:mem_mb=77", "--set-threads", "train=2"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    job = res.stdout.split("rule train_pack_abc:", 1)[1]
    assert "threads: 2" in job and "runtime=7" in job and "slurm_partition=gpu" in job and "mem_mb=77," in job, job
