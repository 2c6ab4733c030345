"""Where a store keeps its per-snapshot metrics (no zarr here: the fast readers use it too).

A store keeps the six metric series in one (snapshot, metric) float64 array `metrics`, columns in
METRICS order (its `columns` attribute): one array is two files where six were twelve, and a
sweep's file count is what shared filesystems' quotas limit. Stores written before keep one
top-level array per metric (`step`, `epoch`, ...); every reader takes both layouts.
"""

import numpy as np

METRICS = ("step", "epoch", "train_loss", "train_acc", "test_loss", "test_acc")
METRICS_ARRAY = "metrics"
SNAPSHOT_COORDS = ("step", "epoch")  # coordinates of the snapshot dimension


def stored_names(names, has_table: bool) -> tuple:
    """The top-level arrays to read for `names`: the metric table in place of metric names."""
    names = tuple(names)
    if not has_table or not any(n in METRICS for n in names):
        return names
    return tuple(dict.fromkeys(METRICS_ARRAY if n in METRICS else n for n in names))


def metric_columns(table: np.ndarray) -> dict[str, np.ndarray]:
    """{metric: (snapshot,) series} of a metric table; `step` as int64, -1 where not recorded."""
    table = np.asarray(table, dtype=np.float64)
    out = {name: table[:, i] for i, name in enumerate(METRICS)}
    step = out["step"]
    out["step"] = np.where(np.isfinite(step), step, -1).astype(np.int64)
    return out


def metric_table(series: dict) -> np.ndarray:
    """The (snapshot, metric) rows of {metric: series} (what a trainer writes)."""
    return np.column_stack([np.asarray(series[name], dtype=np.float64) for name in METRICS])


def with_columns(arrays: dict, names) -> dict:
    """`arrays` as read (the metric table or per-metric arrays) with each of `names` by its own name."""
    if METRICS_ARRAY in arrays and METRICS_ARRAY not in names:
        cols = metric_columns(arrays[METRICS_ARRAY])
        return {n: (cols[n] if n in cols else arrays[n]) for n in names}
    return {n: arrays[n] for n in names}
