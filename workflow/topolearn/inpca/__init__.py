"""Intensive PCA of prediction trajectories: the math (embedding), a whole sweep's embedding
(sweep), each snapshot's geodesic progress read back for the other stages (progress), which swept
factors move trajectories beyond the seed (factors), and synthetic trajectories for tests and
benchmarks (synthetic)."""

from ..utils.lazy import lazy_exports
from .progress import epoch_to_progress, inpca_columns, read_coords

_HEAVY = {
    "embedding": ("bhattacharyya", "inpca", "fit_landmarks", "place", "landmarks", "geodesic_progress",
                  "explained_stress"),
    "sweep": ("SETTINGS", "STRESS_COLUMNS", "make_inpca", "embed_group", "compare_methods"),
    "synthetic": ("synthetic_run", "synthetic_sweep", "factor_run"),
    "factors": ("make_factors", "factor_table"),
}
# torch loads only where an embedding is computed: the summary and the figures read its coordinates.
__getattr__ = lazy_exports(__name__, _HEAVY)

__all__ = ["epoch_to_progress", "inpca_columns", "read_coords", *_HEAVY["embedding"], *_HEAVY["sweep"],
           *_HEAVY["synthetic"], *_HEAVY["factors"]]
