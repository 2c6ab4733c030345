"""A failed job script prints one line on the console (the log keeps the traceback); a full disk
names the path it was writing."""

import subprocess
import sys
from pathlib import Path

import pytest

WORKFLOW = Path(__file__).resolve().parents[1] / "workflow"


def run_script(tmp_path, body: str) -> tuple[subprocess.CompletedProcess, str]:
    """Run `body` inside logutil.logged as a job script would; (the process, its log's text)."""
    log = tmp_path / "job.log"
    code = (f"import sys; sys.path.insert(0, {str(WORKFLOW)!r})\n"
            "import errno\nfrom topolearn.utils.logs import logged\n"
            f"with logged({str(log)!r}, 'w'):\n    print('working')\n" + "".join(f"    {l}\n" for l in body.splitlines()))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    return proc, log.read_text()


@pytest.mark.parametrize("err", ["ENOSPC", "EDQUOT"])
def test_a_full_disk_is_one_line_naming_the_path(tmp_path, err):
    proc, log = run_script(tmp_path, f"raise OSError(errno.{err}, 'full', '/scratch/r/snapshots.zarr/probs/c/0')")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == (f"topolearn: disk full writing /scratch/r/snapshots.zarr/probs/c/0 (full); "
                           f"log: {tmp_path / 'job.log'}\n")
    assert "working" in log and "Traceback" in log and "disk full writing" in log


def test_a_full_disk_behind_another_error_is_found(tmp_path):
    body = ("try:\n    raise OSError(errno.ENOSPC, 'No space left on device', '/d/x.tsv')\n"
            "except OSError as e:\n    raise RuntimeError('could not save the table') from e")
    proc, _ = run_script(tmp_path, body)
    assert proc.stderr.startswith("topolearn: disk full writing /d/x.tsv (No space left on device); log: ")


def test_any_other_failure_is_one_line_with_the_log_path(tmp_path):
    proc, log = run_script(tmp_path, "raise ValueError('bad layer\\nsecond line')")
    assert proc.returncode == 1
    assert proc.stderr == f"topolearn: ValueError: bad layer (traceback in {tmp_path / 'job.log'})\n"
    assert "second line" in log and "Traceback" in log


def test_other_os_errors_are_not_called_a_full_disk(tmp_path):
    proc, _ = run_script(tmp_path, "raise OSError(errno.EACCES, 'Permission denied', '/root/x')")
    assert proc.stderr.startswith("topolearn: PermissionError: [Errno 13] Permission denied: '/root/x' (traceback in ")


def test_a_successful_script_prints_nothing(tmp_path):
    proc, log = run_script(tmp_path, "pass")
    assert proc.returncode == 0 and proc.stderr == "" and log == "working\n"
