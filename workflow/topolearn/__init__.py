"""topolearn: the topology of learning in neural networks, as a Snakemake workflow's library.

Modules are named for what they hold; every Snakemake rule calls one of them thinly, and each
stage can be run (and is tested) without Snakemake.
"""

from ._version import __version__


def __getattr__(name):  # open_sweep loads xarray and zarr: only when asked for (the workflow imports topolearn)
    if name in ("open_sweep", "SweepData"):
        from .results import sweepdata

        return getattr(sweepdata, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
