""".ci/slurm/setup.sh on a machine with a SLURM the project did not configure: the foreign
slurm.conf is never written to (bytes and mtime), a working foreign cluster is used as it is and
one that does not work gives one line saying why, which the SLURM tests skip with (in CI too).
The config dir and state file come from the environment; sinfo and srun are stand-ins on PATH,
so nothing here talks to the local cluster."""

import os
import socket
import stat
from pathlib import Path

import pytest

from clusterutil import SETUP, read_state, run_setup, start_slurm
from conftest import FOREIGN_SLURM, SYSDEPS

FOREIGN_CONF = "ClusterName=lab\nSlurmctldHost=head01\nPartitionName=batch Nodes=n[01-04] Default=YES\n"
# sinfo -h -o '%P|%a|%T': the default partition first when it has an idle or mixed node
SINFO_OK = "debug|up|idle\nbatch*|up|mixed\nbatch*|up|allocated\ngpu|down|idle\n"


def stub(bindir: Path, name: str, body: str) -> None:
    path = bindir / name
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A foreign slurm.conf (old mtime) in a config dir of its own, the state file's path, and a bin
    dir whose sinfo/srun stand in for the foreign cluster (sinfo answers, srun runs its command)."""
    conf_dir, bindir = tmp_path / "etc-slurm", tmp_path / "bin"
    conf_dir.mkdir()
    bindir.mkdir()
    conf = conf_dir / "slurm.conf"
    conf.write_text(FOREIGN_CONF)
    os.utime(conf, (1_000_000_000, 1_000_000_000))
    stub(bindir, "sinfo", f"printf '{SINFO_OK}'\n")
    # srun [options] -J topolearn-probe CMD...: run CMD here, as a node sharing this filesystem would
    stub(bindir, "srun", f'echo "$@" >{tmp_path}/srun.args\n'
                         'while [ "$1" != topolearn-probe ]; do shift; done; shift; exec "$@"\n')
    monkeypatch.delenv("SLURM_CONF", raising=False)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setenv("TOPOLEARN_SLURM_CONF_DIR", str(conf_dir))
    monkeypatch.setenv("TOPOLEARN_MUNGE_KEY", str(tmp_path / "munge.key"))
    monkeypatch.setenv("TOPOLEARN_SLURM_STATE", str(tmp_path / "state"))
    return {"conf": conf, "bin": bindir, "state": tmp_path / "state", "tmp": tmp_path}


def unchanged(conf: Path) -> None:
    assert conf.read_text() == FOREIGN_CONF and conf.stat().st_mtime == 1_000_000_000
    assert sorted(p.name for p in conf.parent.iterdir()) == ["slurm.conf"]


def test_a_working_foreign_cluster_is_used_as_it_is(machine):
    res = run_setup(env={}, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("setup.sh: SLURM ready (configured outside topolearn, left as it is:")
    unchanged(machine["conf"])
    assert not (machine["tmp"] / "munge.key").exists()
    assert read_state(machine["state"]) == {"status": "ready", "cluster": "foreign", "partition": "batch"}
    assert "-p batch" in (machine["tmp"] / "srun.args").read_text()


@pytest.mark.parametrize("broken, why", [
    ("sinfo", "sinfo does not answer: sinfo: error: Unable to contact slurm controller (connect failure)"),
    ("no idle node", "no up partition has an idle or mixed node"),
    ("srun", "a one-task job on partition batch did not run within 60 s or did not see"),
])
def test_a_foreign_cluster_that_does_not_work_is_skipped_with_one_line(machine, broken, why):
    if broken == "sinfo":
        stub(machine["bin"], "sinfo", "echo 'sinfo: error: Unable to contact slurm controller (connect failure)' >&2\nexit 1\n")
    elif broken == "no idle node":
        stub(machine["bin"], "sinfo", "printf 'batch*|up|allocated\\ndebug|up|drained\\n'\n")
    else:  # the job's node does not see this machine's temp dir
        stub(machine["bin"], "srun", "echo 'srun: error: Unable to allocate resources' >&2\nexit 1\n")
    res = run_setup(env={}, timeout=60)
    assert res.returncode == 0, res.stderr
    (line,) = res.stdout.splitlines()
    assert line.startswith(f"setup.sh: SLURM tests skipped: {FOREIGN_SLURM}, left as it is: ")
    assert f"{machine['conf']} was not written by .ci/slurm/setup.sh; {why}" in line
    unchanged(machine["conf"])
    state = read_state(machine["state"])
    assert state["status"] == "skip" and line.endswith(state["reason"])


def test_the_slurm_tests_skip_with_that_line_in_ci_too(machine, monkeypatch):
    stub(machine["bin"], "sinfo", "exit 1\n")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.skip.Exception) as skipped:
        start_slurm()
    assert str(skipped.value).startswith(FOREIGN_SLURM) and "sinfo does not answer" in str(skipped.value)
    assert SYSDEPS not in str(skipped.value)  # not turned into a failure in CI (tests/conftest.py)
    unchanged(machine["conf"])


def project_conf() -> str:
    """slurm.conf as setup.sh writes it from the template."""
    text = (SETUP.parent / "slurm.conf.in").read_text()
    return text.replace("@HOST@", socket.gethostname().split(".")[0]).replace("@CPUS@", "2").replace("@MEM@", "1000")


@pytest.mark.parametrize("text, kind", [
    (project_conf(), "project"),
    # written before the marker line existed: the template's header, host and sizes filled in
    ("# Single-node SLURM on loopback for topolearn's tests (.ci/slurm/setup.sh fills vm, 2, 24105).\n"
     + project_conf().split("\n", 3)[3], "project"),
    (FOREIGN_CONF, "foreign"),
    (FOREIGN_CONF + "# topolearn: written by someone else\n", "foreign"),
])
def test_only_a_conf_setup_wrote_is_its_own(machine, text, kind):
    machine["conf"].write_text(text)
    res = run_setup("--check", env={}, timeout=60)
    assert res.returncode == 0 and res.stdout.split()[0] == kind, res.stdout + res.stderr
    assert machine["conf"].read_text() == text and not machine["state"].exists()


def test_slurm_conf_elsewhere_is_foreign(machine, monkeypatch):
    machine["conf"].write_text(project_conf())
    monkeypatch.setenv("SLURM_CONF", str(machine["tmp"] / "elsewhere.conf"))
    res = run_setup("--check", env={}, timeout=60)
    assert res.stdout.startswith("foreign SLURM_CONF is set to"), res.stdout + res.stderr
