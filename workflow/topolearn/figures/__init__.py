"""Figures of topolearn: per-run figures (runs.py), sweep figures (sweep.py), one theme (theme.py).

The figure names live here, free of heavy imports, so the workflow can declare every output at
parse time without loading matplotlib.
"""

RUN_FIGURES = ("learning_curves", "weight_norms", "learning_surfaces", "weight_images",
               "weight_images_pc1", "mapper_graphs", "stability_scan")
SWEEP_FIGURES = ("branches_vs_params", "branch_vs_jump", "accuracy_vs_branches", "counts_vs_baselines",
                 "accuracy_curves", "inpca",
                 "inpca_factors", "inpca_spectrum", "inpca_progress")
