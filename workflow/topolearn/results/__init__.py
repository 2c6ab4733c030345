"""A sweep's results: the summary table (summary), the effective-width test (effective_width),
and everything as labeled data for notebooks (sweepdata: `topolearn.open_sweep`)."""

from ..utils.lazy import lazy_exports
from .effective_width import derived_point, derived_points, derived_rows, derived_source, derived_store

_HEAVY = {
    "summary": ("RUN_COLUMNS", "LAYER_METRICS", "build_summary", "make_summary", "read_summary", "write_summary",
                "summary_long"),
    "sweepdata": ("SweepData", "open_sweep"),
}
# The workflow imports this package while planning (effective_width's derived runs): pandas,
# zarr and xarray load only when a summary or sweepdata name is used.
__getattr__ = lazy_exports(__name__, _HEAVY)

__all__ = ["derived_point", "derived_points", "derived_rows", "derived_source", "derived_store",
           *_HEAVY["summary"], *_HEAVY["sweepdata"]]
