"""topolearn: the topology of learning in neural networks, as a Snakemake workflow's library.

Modules are named for what they hold; every Snakemake rule calls one of them thinly, and each
stage can be run (and is tested) without Snakemake.
"""

__version__ = "0.1.0"
