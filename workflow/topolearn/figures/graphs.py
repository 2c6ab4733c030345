"""Mapper learning graphs: read the mapper stage's document and draw it so a tree reads as a tree.

Layout: x is the node's mean epoch (time flows left to right), y comes from a tidy-tree layout of a
BFS spanning tree rooted at the earliest node, so branches fan out and never cross. Edges outside
the spanning tree (cycles) are still drawn.
"""

import json
from pathlib import Path

import networkx as nx
import numpy as np
from matplotlib.collections import LineCollection

from . import theme
from .timeaxis import time_axis

EPOCH_KEYS = ("mean_epoch", "epoch_mean", "epoch")


def load_graph(source, epochs=None) -> tuple[nx.Graph, dict]:
    """The graph (node attrs `epoch`, `size`) and the document's metrics (e.g. `branches`).

    source: a learning-graph document (topolearn.learning_graphs.read_graphs) or the path of a JSON
    file holding one. Node epochs come from the document, else from the members' snapshots through
    `epochs`.
    """
    data = source if isinstance(source, dict) else json.loads(Path(source).read_text())
    g = nx.Graph()
    nodes = data.get("nodes") or {}
    items = nodes.items() if isinstance(nodes, dict) else (
        (n.get("id", n.get("name", k)), n) for k, n in enumerate(nodes))
    for name, node in items:
        members = node if isinstance(node, list) else node.get("members", [])
        g.add_node(str(name), epoch=_node_epoch(node, members, epochs),
                   size=int(node.get("size", len(members)) if isinstance(node, dict) else len(members)))
    for a, b in _edges(data.get("edges", data.get("links", []))):
        if str(a) in g and str(b) in g:
            g.add_edge(str(a), str(b))
    info = dict(data.get("metrics") or {})
    return g, info


def _edges(edges):
    if isinstance(edges, dict):  # KeplerMapper's adjacency form {node: [neighbours]}
        return [(a, b) for a, bs in edges.items() for b in bs]
    return [(e["source"], e["target"]) if isinstance(e, dict) else tuple(e[:2]) for e in edges]


def _node_epoch(node, members, epochs) -> float:
    if isinstance(node, dict):
        for key in EPOCH_KEYS:
            if node.get(key) is not None:
                return float(node[key])
    snaps = [m[1] if isinstance(m, (list, tuple)) else m.get("snapshot") for m in members
             if isinstance(m, (list, tuple, dict))]
    if epochs is not None and snaps:
        return float(np.mean(np.asarray(epochs)[np.asarray(snaps, dtype=int)]))
    return float("nan")


def tree_layout(g: nx.Graph) -> dict:
    """{node: (x=epoch, y)}: leaves of each component's BFS tree on consecutive rows."""
    x = {n: g.nodes[n]["epoch"] for n in g}
    depth_x = any(not np.isfinite(v) for v in x.values())
    pos, row = {}, 0.0
    comps = sorted(nx.connected_components(g), key=lambda c: min((x[n], n) for n in c))
    for comp in comps:
        root = min(comp, key=lambda n: (x[n], n))
        tree = nx.bfs_tree(g.subgraph(comp), root)
        if depth_x:  # no epochs in the JSON: fall back to BFS depth
            x.update(nx.single_source_shortest_path_length(tree, root))
        y = {}
        for node in nx.dfs_postorder_nodes(tree, root):
            kids = list(tree.successors(node))
            if kids:
                y[node] = float(np.mean([y[k] for k in kids]))
            else:
                y[node] = row
                row += 1.0
        pos.update({n: (float(x[n]), y[n]) for n in comp})
        row += 1.0  # a blank row between components
    return pos


def draw_graph(ax, g: nx.Graph, norm):
    """Draw on `ax`; returns the node scatter (for a shared epoch colorbar)."""
    pos = tree_layout(g)
    ax.add_collection(LineCollection([(pos[a], pos[b]) for a, b in g.edges], colors="0.6", linewidths=0.7,
                                     zorder=1))  # one artist for all edges: graphs reach thousands
    names = list(g)
    xy = np.array([pos[n] for n in names])
    size = np.array([g.nodes[n]["size"] for n in names], dtype=float)
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=[g.nodes[n]["epoch"] for n in names], cmap=theme.EPOCH_CMAP,
                    norm=norm, s=6 + 40 * np.sqrt(size / max(size.max(), 1)), lw=0.3, edgecolor="0.2",
                    zorder=2)
    ax.set_xlabel("mean epoch of node members")
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    return sc


def branch_lanes(branches: list[dict]) -> dict:
    """A vertical lane per branch, like a dendrogram: each branch's sub-branches sit on both sides
    of it, the earliest split farthest out, so edges between lanes rarely cross."""
    children: dict = {}
    for b in sorted(branches, key=lambda b: b["death_epoch"]):
        children.setdefault(b["parent"], []).append(b["branch"])

    def order(b):  # bottom to top
        kids = children.get(b, [])
        below, above = kids[1::2], kids[0::2][::-1]
        return [x for c in below for x in order(c)] + [b] + [x for c in above for x in order(c)]

    roots = children.get(None, [])
    lanes = [x for r in roots for x in order(r)]
    return {b: i for i, b in enumerate(lanes)}


def doc_layout(doc: dict) -> dict:
    """Node positions that read as a tree: x = node mean epoch, y = the lane of the node's branch
    (nodes in no significant branch on a lane of their own); nodes of one lane at about the same
    epoch are spread a little vertically."""
    nodes = doc["nodes"]
    lane = branch_lanes(doc["branches"])
    epochs = [v["mean_epoch"] for v in nodes.values()]
    span = max(float(np.ptp(epochs)) if epochs else 1.0, 1e-9)
    pos, seen = {}, {}
    for name in sorted(nodes, key=lambda n: nodes[n]["mean_epoch"]):
        v = nodes[name]
        y = lane.get(v["branch"], len(lane))
        key = (y, round(v["mean_epoch"] / span * 50))
        k = seen[key] = seen.get(key, -1) + 1
        pos[name] = (v["mean_epoch"], y + 0.25 * ((k + 1) // 2) * (-1) ** k)
    return pos


def write_png(doc: dict, path, title: str, dpi: int = 120, progress=None) -> None:
    """Static drawing: tree layout in time, nodes colored by mean epoch (labeled colorbar).

    progress: the run's epochs -> InPCA progress (figures.time_axis: progress): nodes are placed and
    colored by their members' mean progress instead; without progress at every snapshot the graph is
    drawn in epochs and the axis label says why."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    if doc["empty"]:
        ax.text(0.5, 0.5, "empty learning graph\n(no DBSCAN cluster in any interval)", ha="center",
                va="center", transform=ax.transAxes, color="0.35")
        ax.set_axis_off()
    else:
        g = nx.Graph()
        g.add_nodes_from(doc["nodes"])
        g.add_edges_from(doc["edges"])
        t = time_axis(doc["epochs"], progress)
        x = {n: float(np.mean(t.values[[s for _, s in v["members"]]])) for n, v in doc["nodes"].items()}
        pos = {n: (x[n], y) for n, (_, y) in doc_layout(doc).items()}  # lanes from epochs, x on the axis
        sizes = [10 + 4 * np.sqrt(doc["nodes"][n]["size"]) for n in g.nodes]
        colors = [x[n] for n in g.nodes]
        nx.draw_networkx_edges(g, pos, ax=ax, edge_color="0.6", width=0.8)
        art = nx.draw_networkx_nodes(g, pos, ax=ax, node_size=sizes, node_color=colors, cmap="viridis",
                                     vmin=t.values.min(), vmax=t.values.max(), linewidths=0.3, edgecolors="0.2")
        fig.colorbar(art, ax=ax, shrink=0.85, pad=0.02).set_label(t.node_label())
        ax.set_xlabel(t.node_label())
        ax.set_ylabel("branch")
        ax.set_yticks([])
        ax.tick_params(left=False, labelbottom=True, bottom=True)
        for s in ("top", "right", "left"):
            ax.spines[s].set_visible(False)
    m = doc["metrics"]
    ax.set_title(f"{title}\n{m['nodes']} nodes, {m['edges']} edges, {m['branches']} branches, "
                 f"{m['cycles']} cycles; eps={doc['eps']:.3g}", fontsize=9)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
