"""The sweep dispatched to a real (local, single-node) SLURM through profiles/slurm.

Every training job must run as a SLURM job (its store records SLURM_JOB_ID, and SLURM knows that
job as this run's training job) and the stores must equal a local run's bit for bit. The same run
serves tests/test_faults.py, which cancels one of its jobs (see clusterutil.slurm_sweep_run).
"""

import pytest

from clusterutil import (
    SWEEP,
    assert_stores_equal,
    attrs,
    cluster_targets,
    points,
    reference_run,
    slurm_job,
    slurm_sweep_run,
    store_path,
)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory):
    return slurm_sweep_run(tmp_path_factory)


def test_every_training_job_ran_as_a_slurm_job(slurm_run):
    wd, out = slurm_run["wd"], slurm_run["out"]
    assert "submitted with SLURM jobid" in out
    for rid in points(SWEEP):
        job_id = attrs(store_path(wd, rid))["slurm_job_id"]
        assert job_id and job_id.isdigit(), f"run {rid} did not record a SLURM job id"
        job = slurm_job(job_id)
        assert job["JobState"] == "COMPLETED"
        assert "train" in job["Comment"] and rid in job["Comment"], job["Comment"]  # the plugin's rule/wildcards tag
        assert job["WorkDir"] == str(wd)
        log = wd / ".snakemake" / "slurm_logs" / "rule_train" / rid / f"{job_id}.log"
        assert log.is_file(), sorted(p.relative_to(wd) for p in (wd / ".snakemake" / "slurm_logs").rglob("*"))


def test_slurm_stores_equal_a_local_run(slurm_run, tmp_path_factory):
    ref = reference_run(tmp_path_factory)
    for rid in points(SWEEP):
        assert attrs(store_path(ref, rid))["slurm_job_id"] is None  # the reference really ran locally
        assert_stores_equal(store_path(slurm_run["wd"], rid), store_path(ref, rid))


def test_analysis_jobs_on_slurm_equal_the_local_ones(slurm_run, tmp_path_factory):
    ref = reference_run(tmp_path_factory)
    for target in cluster_targets(SWEEP):
        if not target.endswith(".zarr"):
            assert (slurm_run["wd"] / target).read_bytes() == (ref / target).read_bytes(), target
