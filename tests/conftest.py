"""Shared fixtures: a tiny sweep point and its store, really trained on digits (reused by all stages).
Suite-wide rules: property tests are seeded and keep no example database (nothing is written into
the checkout); in CI a test skipped for a missing system part fails instead."""

import io
import os
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

from topolearn.sweep.points import normalize_point

torch.set_num_threads(1)  # 2 shared cores: never let a test grab more

settings.register_profile("topolearn", database=None, derandomize=True)
settings.load_profile("topolearn")
# Hypothesis's own caches (unicode tables, constants) would go to .hypothesis/ in the checkout.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "topolearn-hypothesis")

# The phrase every skip for a missing system part carries (Chromium, Fashion-MNIST: `make sysdeps`
# installs them). CI installs them, so there such a skip means a broken setup: it fails the test.
SYSDEPS = "make sysdeps"
# The phrase of .ci/slurm/setup.sh's skip for a SLURM this project did not configure and does not
# touch (a foreign cluster that does not work here): allowed in CI too, its reason shown by -ra.
FOREIGN_SLURM = "SLURM configured outside topolearn"
pytest_plugins = ["pytester"]  # tests/test_suite_rules.py runs small suites of its own


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    why = str(report.longrepr)
    if os.environ.get("CI") == "true" and report.skipped and SYSDEPS in why and FOREIGN_SLURM not in why:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"required in CI (CI=true), not skipped: {reason}"

# Depth 2 (layer0, layer1 hidden, layer2 output), no biases, as in the paper; small init and a large
# lr so that 10 epochs show the plateau and the rise (test accuracy 0.10 -> ~0.75).
TINY_POINT = {
    "dataset": "digits", "depth": 2, "width": 8, "activation": "sigmoid", "bias": False,
    "optimizer": "sgd", "lr": 2.0, "batch_size": 32, "epochs": 10, "snapshots": 25,
    "init": "normal", "init_std": 0.1, "probe_size": 50, "seed": 42,
}
TINY_CHUNK = 8  # 25 snapshots -> chunks of 8, 8, 8, 1; checkpoints at steps 131, 281 (mid-epoch), 431


@pytest.fixture(scope="session")
def tiny_point() -> dict:
    """The normalized point of `tiny_store` (a fresh copy per use is the caller's business)."""
    return normalize_point(TINY_POINT)


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory, tiny_point):
    """Path of a complete store of `tiny_point`: 25 snapshots; layers (8, 64), (8, 8), (10, 8). Read-only."""
    from topolearn.train import train_run

    d = tmp_path_factory.mktemp("tiny_store")
    path = d / "snapshots.zarr"
    train_run(tiny_point, path, d / "scratch", chunk=TINY_CHUNK, log=io.StringIO())
    return path
