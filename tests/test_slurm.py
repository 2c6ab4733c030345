"""The sweep dispatched to a real (local, single-node) SLURM through profiles/slurm.

Every training job must run as a SLURM job (its store records SLURM_JOB_ID, and SLURM knows that
job as this run's training job) and the stores must equal a local run's bit for bit.
"""

import pytest

from clusterutil import (
    assert_stores_equal,
    attrs,
    ok,
    points,
    reference_run,
    slurm_job,
    smk,
    start_slurm,
    store_path,
    SWEEP,
    targets,
    write_config,
)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

# The profile's first status check waits 20 s (sensible on a shared cluster); 2 s here.
FAST_STATUS = ["--slurm-init-seconds-before-status-checks", "2"]


@pytest.fixture(scope="module")
def slurm():
    start_slurm()


@pytest.fixture(scope="module")
def slurm_run(slurm, tmp_path_factory):
    wd = tmp_path_factory.mktemp("slurm")
    write_config(wd, SWEEP)
    out = ok(smk(wd, targets(SWEEP, analysis=False), profile="slurm", extra=FAST_STATUS))
    return wd, out


def test_every_training_job_ran_as_a_slurm_job(slurm_run):
    wd, out = slurm_run
    assert "submitted with SLURM jobid" in out
    for rid in points(SWEEP):
        job_id = attrs(store_path(wd, rid))["slurm_job_id"]
        assert job_id and job_id.isdigit(), f"run {rid} did not record a SLURM job id"
        job = slurm_job(job_id)
        assert job["JobState"] == "COMPLETED"
        assert rid in job["Comment"] and "train" in job["Comment"], job["Comment"]  # the plugin's rule/wildcards tag
        assert job["WorkDir"] == str(wd)
        log = wd / ".snakemake" / "slurm_logs" / "rule_train" / rid / f"{job_id}.log"
        assert log.is_file(), sorted(p.relative_to(wd) for p in (wd / ".snakemake" / "slurm_logs").rglob("*"))


def test_slurm_stores_equal_a_local_run(slurm_run, tmp_path_factory):
    wd, _ = slurm_run
    ref = reference_run(tmp_path_factory)
    for rid in points(SWEEP):
        assert attrs(store_path(ref, rid))["slurm_job_id"] is None  # the local run really was local
        assert_stores_equal(store_path(wd, rid), store_path(ref, rid))


def test_local_rules_stay_on_the_submit_host(slurm_run):
    wd, out = slurm_run
    assert "localrule sweep_table" in out
    assert (wd / "results" / "sweep.tsv").is_file()

