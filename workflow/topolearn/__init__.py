"""topolearn: the topology of learning in neural networks, as a Snakemake workflow's library.

One subpackage per stage, lowest first: utils; data and store; sweep; train; learning_graphs,
inpca and layers; analysis; results; figures on top. A module imports only from its own stage or
lower ones (import-linter, pyproject.toml). Every Snakemake rule calls one of them thinly, and each
stage can be run (and is tested) without Snakemake.
"""

from ._version import __version__
from .utils.lazy import lazy_exports

# open_sweep loads xarray and zarr: only when asked for (the workflow imports topolearn while planning).
__getattr__ = lazy_exports(__name__, {"results.sweepdata": ("open_sweep", "SweepData")})

__all__ = ["__version__", "open_sweep", "SweepData"]
