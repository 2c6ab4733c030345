"""The sweep dispatched to a real (local, single-node) SLURM through profiles/slurm.

A training pack is one SLURM job that writes every store of the pack (each records that job's id,
and SLURM knows the job by the pack's rule); an analysis batch is one SLURM job too. The stores and
the analysis products equal a local run's bit for bit, and a cancelled pack resumes every network
from its own checkpoint. The same run serves tests/test_faults.py (see clusterutil.slurm_sweep_run).
"""

import re

import pandas as pd
import pytest

from clusterutil import (
    SWEEP,
    analysis_files,
    assert_stores_equal,
    attrs,
    packs,
    points,
    reference_run,
    slurm_job,
    slurm_sweep_run,
    store_path,
)
from topolearn.analysis.tables import run_tables, stamp
from topolearn.sweep.packing import group_id

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory):
    return slurm_sweep_run(tmp_path_factory)


def submitted(out: str) -> list[tuple[str, str]]:
    """(SLURM job id, rule or job group) of every submission Snakemake announced; a pack and the
    analysis of its runs are one job group, named pack_<id>_analyze_batch_<id>_train_pack_<id>."""
    return re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/(?:rule|group)_(\w+)/", out)


def group_name(pack) -> str:
    gid = group_id(pack)
    return f"pack_{gid}_analyze_batch_{gid}_train_pack_{gid}"


def test_the_sweep_has_a_real_pack():
    assert max(len(p) for p in packs()) >= 2 and len(packs()) >= 2


def test_a_pack_is_one_slurm_job_that_writes_all_its_stores(slurm_run):
    """A pack trains in one SLURM job, the job of its group, which analyses its runs too."""
    wd = slurm_run["wd"]
    for pack in packs():
        (job_id,) = {attrs(store_path(wd, r))["slurm_job_id"] for r in pack}  # one job, every store
        assert job_id and job_id.isdigit(), f"pack {pack} did not record a SLURM job id"
        job = slurm_job(job_id)
        assert job["JobState"] == "COMPLETED" and job["Comment"] == f"rule_{group_name(pack)}", job
        assert job["WorkDir"] == str(wd)
        log = wd / ".snakemake" / "slurm_logs" / f"group_{group_name(pack)}" / f"{job_id}.log"
        assert log.is_file(), sorted(p.relative_to(wd) for p in (wd / ".snakemake" / "slurm_logs").rglob("*"))


def test_jobs_are_packs_and_batches_not_runs(slurm_run):
    """One submission per pack and the analysis of its runs (plus the cancelled pack's retry); no
    per-run job; the sweep table stays on the submit host."""
    jobs = submitted(slurm_run["out"])
    expected = sorted([group_name(p) for p in packs()] + [group_name(slurm_run["pack"])])
    assert sorted(name for _, name in jobs) == expected, jobs


def test_slurm_stores_equal_a_local_run(slurm_run, tmp_path_factory):
    ref = reference_run(tmp_path_factory)
    for rid in points(SWEEP):
        assert attrs(store_path(ref, rid))["slurm_job_id"] is None  # the reference really ran locally
        assert_stores_equal(store_path(slurm_run["wd"], rid), store_path(ref, rid))


def test_cancelled_pack_resumes_every_network_from_its_checkpoint(slurm_run):
    wd, cancelled, pack, rule = slurm_run["wd"], slurm_run["cancelled"], slurm_run["pack"], slurm_run["rule"]
    job = slurm_job(cancelled)
    assert job["JobState"] == "CANCELLED" and job["Comment"] == f"rule_{group_name(pack)}"
    log = (wd / "results" / "logs" / "train" / f"pack_{group_id(pack)}.log").read_text()
    for rid in pack:
        final = attrs(store_path(wd, rid))
        assert final["slurm_job_id"] != cancelled
        assert final["resumed_from"] and all(step > 0 for step in final["resumed_from"]), final["resumed_from"]
        assert f"resuming {rid} from step {final['resumed_from'][0]}" in log
        assert not (wd / "results" / "checkpoints" / rid / "checkpoint.pt").exists()  # dropped once published


def test_analysis_batches_on_slurm_equal_the_local_ones(slurm_run, tmp_path_factory):
    ref, wd = reference_run(tmp_path_factory), slurm_run["wd"]
    assert analysis_files(SWEEP)
    for rid in points(SWEEP):  # the run's table rows, wherever each run's stamp says they are
        mine, theirs = run_tables(wd / "results", rid), run_tables(ref / "results", rid)
        for kind in mine:
            pd.testing.assert_frame_equal(mine[kind], theirs[kind], obj=f"{rid} {kind}")
        status = stamp(wd / "results", rid)["status"]
        assert status != "ok" or len(mine["branches"]), rid  # the diverging run has no rows
    for rid in points(SWEEP):  # the learning graphs and the analysis stamp, file by file
        mapper = sorted(p.relative_to(wd) for p in (wd / "results" / "mapper" / rid).iterdir()
                        if p.name != ".snakemake_timestamp")
        assert mapper and all((wd / p).read_bytes() == (ref / p).read_bytes() for p in mapper), mapper
