"""Figures of topolearn, on top of every other stage: per-run figures (runs, drawn in batches by
batch), sweep figures (sweep, inpca), layer figures (layers), learning graph pictures (graphs),
run labels (labels), the time axis (timeaxis) and one theme (theme).

The figure names live here, free of heavy imports, so the workflow can declare every output while
planning; the drawing modules load matplotlib and are imported on first use of one of their names.
"""

from ..utils.lazy import lazy_exports

RUN_FIGURES = ("learning_curves", "weight_norms", "learning_surfaces", "weight_images",
               "weight_images_pc1", "mapper_graphs", "stability_scan")
SWEEP_FIGURES = ("branches_vs_params", "branch_vs_jump", "accuracy_vs_branches", "counts_vs_baselines",
                 "accuracy_curves", "inpca",
                 "inpca_factors", "inpca_spectrum", "inpca_progress", "inpca_separation")
CIRCLE_FIGURES = ("circle_lifetimes", "circle_cloud")  # per cell of CNN runs (figures.circle)

_HEAVY = {
    "batch": ("plot_run", "plot_runs"),
    "runs": ("render_run_figures",),
    "sweep": ("render_sweep_figures",),
    "inpca": ("inpca_figures",),
    "layers": ("LAYER_FIGURES", "SWEEP_LAYER_FIGURES", "run_layer_figures", "render_layer_sweep"),
    "graphs": ("draw_graph", "load_graph"),
    "labels": ("run_labels", "varied_fields"),
    "theme": ("apply_theme",),
}
# The workflow imports this package while planning (the names above): matplotlib only on first use.
__getattr__ = lazy_exports(__name__, _HEAVY)

__all__ = ["RUN_FIGURES", "SWEEP_FIGURES", "CIRCLE_FIGURES", *(name for names in _HEAVY.values() for name in names)]
