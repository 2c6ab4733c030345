"""Update counts and the snapshot schedule."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topolearn.sweep.points import normalize_point, total_updates
from topolearn.sweep.schedule import snapshot_steps, updates_per_epoch


def test_paper_linear_schedule():
    p = normalize_point({"dataset": "mnist", "batch_size": 100, "epochs": 70, "snapshots": 201})
    assert updates_per_epoch(60000, 100) == 600
    assert total_updates(p) == 42000
    s = snapshot_steps(42000, 201, "linear")
    assert len(s) == 201 and s[0] == 0 and s[-1] == 42000
    assert set(np.diff(s)) == {210}  # one snapshot every 0.35 epoch


def test_last_partial_batch_is_an_update():
    assert updates_per_epoch(1437, 32) == 45  # 44 full batches + one of 29
    assert updates_per_epoch(1437, 1437) == 1


@settings(max_examples=200, deadline=None)
@given(total=st.integers(1, 100000), data=st.data(), spacing=st.sampled_from(["linear", "log"]))
def test_schedules_strictly_increase_from_0_to_the_end(total, data, spacing):
    n = data.draw(st.integers(2, min(total + 1, 500)))
    s = snapshot_steps(total, n, spacing)
    assert len(s) == n and s[0] == 0 and s[-1] == total
    assert np.all(np.diff(s) > 0)


def test_log_schedule_is_dense_early():
    s = snapshot_steps(42000, 50, "log")
    assert list(s[:4]) == [0, 1, 2, 3]
    assert np.all(np.diff(np.diff(s[10:])) >= 0)  # gaps widen


@pytest.mark.parametrize("total,n,spacing", [(10, 1, "linear"), (10, 12, "log"), (10, 5, "cubic")])
def test_bad_schedules(total, n, spacing):
    with pytest.raises(ValueError):
        snapshot_steps(total, n, spacing)
