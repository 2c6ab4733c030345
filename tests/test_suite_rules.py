"""The suite's own rules (tests/conftest.py): in CI a skip for a missing system part is a failure."""

from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")
SUITE = '''
import pytest

@pytest.mark.skipif(True, reason="chromium is not installed (make sysdeps)")
def test_needs_a_system_part():
    pass

@pytest.mark.skipif(True, reason="not on this platform")
def test_skipped_for_another_reason():
    pass

def test_skips_itself():
    pytest.skip("Debian package dataset-fashion-mnist is not installed (make sysdeps)")

def test_needs_slurm():  # someone else's cluster, left alone by .ci/slurm/setup.sh (make sysdeps neither)
    pytest.skip("SLURM configured outside topolearn, left as it is: sinfo does not answer")
'''


@pytest.mark.parametrize("ci, outcomes", [("true", {"errors": 1, "failed": 1, "skipped": 2}), ("", {"skipped": 4})])
def test_a_missing_system_part_fails_in_ci_and_skips_elsewhere(pytester, monkeypatch, ci, outcomes):
    """A foreign SLURM that does not work skips everywhere, its reason in the -ra summary."""
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(SUITE)
    monkeypatch.setenv("CI", ci)
    result = pytester.runpytest("-p", "no:cacheprovider", "-ra")
    result.assert_outcomes(**outcomes)
    result.stdout.fnmatch_lines(["SKIPPED*SLURM configured outside topolearn, left as it is: sinfo does not answer"])
    if ci:
        result.stdout.fnmatch_lines(["*required in CI (CI=true), not skipped: chromium is not installed*"])
