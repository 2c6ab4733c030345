"""Snapshot stores: one zarr group per run (snapshots), their soundness checks and quarantine
(checks), one trainer per run and its finished copy (runlock), runs the config no longer plans (stale)."""

from ..utils.lazy import lazy_exports
from .checks import StoreError, check_store, check_stores, derived_paths, quarantine_run, root_attrs
from .runlock import Guard, Stopped, adopt_finished, release_registered, run_lock
from .stale import archive_runs, stale_runs

_HEAVY = {"snapshots": ("METRICS", "create_store", "write_rows", "write_blocks", "finalize_store", "store_arrays",
                        "move_into_place", "open_store", "open_checked", "open_dataset", "verify_store",
                        "read_all_arrays", "read_metrics", "read_metric_series", "snapshot_count", "read_weights", "read_biases", "layer_count",
                        "conv_count")}
# The workflow imports this package while planning: zarr loads only when a snapshots name is used.
__getattr__ = lazy_exports(__name__, _HEAVY)

__all__ = ["StoreError", "check_store", "check_stores", "derived_paths", "quarantine_run", "root_attrs",
           "Guard", "Stopped", "adopt_finished", "release_registered", "run_lock", "archive_runs", "stale_runs",
           *_HEAVY["snapshots"]]
