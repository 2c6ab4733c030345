"""Learning graphs: KeplerMapper graphs of a layer's weight history (mapper, on the cover of
cover), their shape and branch counts (graphs), branching over time (branching), the branch
count's stability over Mapper settings (stability), and what it adds to simpler measures (baselines)."""

from ..utils.lazy import lazy_exports
from .baselines import BASELINES, correlations, layer_columns
from .branching import CURVE_COLUMNS, EVENT_COLUMNS, SYMMETRY_COLUMNS, branching_curve, branching_tables, run_branching
from .cover import cover_geometry, kmapper_cover
from .graphs import (BRANCH_COLUMNS, GRAPHS, analyze_graph, build_graph, first_branch_epoch, graph_doc, graph_metrics,
                     read_graphs, remove_graphs, write_branch_table, write_graphs)

_HEAVY = {
    "mapper": ("learning_graph", "mapper_layer", "layer_outputs", "layer_cloud", "compute_lens", "auto_eps"),
    "stability": ("SCAN_COLUMNS", "run_scan", "scan", "summarize", "summary_table", "read_scan"),
}
# KeplerMapper and scikit-learn load only when a graph is computed: the summary and the figures
# read the tables these modules wrote.
__getattr__ = lazy_exports(__name__, _HEAVY)

__all__ = ["BASELINES", "correlations", "layer_columns",
           "CURVE_COLUMNS", "EVENT_COLUMNS", "SYMMETRY_COLUMNS", "branching_curve", "branching_tables", "run_branching",
           "cover_geometry", "kmapper_cover",
           "BRANCH_COLUMNS", "analyze_graph", "build_graph", "first_branch_epoch", "graph_metrics", "write_branch_table",
           "GRAPHS", "graph_doc", "read_graphs", "remove_graphs", "write_graphs",
           *_HEAVY["mapper"], *_HEAVY["stability"]]
