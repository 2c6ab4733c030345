"""Shape of a learning graph: size, cycles, leaves and a persistence-based branch count.

A learning graph grows like a tree in time: an early trunk, branches that split off later and end
in leaves at the last epochs. Branches are counted with 0-dimensional persistence of the graph
filtered by node mean epoch in *reverse* time (superlevel sets {v : epoch(v) >= t}, t falling):

- a branch is born at a leaf (a local maximum of epoch) and dies at the node where it merges into a
  structure that was born later in the filtration, i.e. reaches later epochs (the elder rule);
- its persistence is birth - death in epochs: how long the branch lives on its own;
- each connected component keeps one bar that never dies (its trunk), from its latest leaf down to
  its earliest node.

A bar is *significant* when its persistence is at least `threshold * epoch range of the run`; the
branch count is the number of significant bars (trunks included). Short buds made by Mapper noise
(one stray DBSCAN cluster, a jitter in the lens) have small persistence and do not count; the price
is that a real branch splitting off later than `epoch_max - threshold * range` is not counted either.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from ..sweep.points import layer_index, layer_rank
from ..utils.tables import read_tsv, write_tsv


@dataclass
class Bar:
    """One 0-dimensional persistence bar: a branch alive (in reverse time) from birth to death."""

    birth: float  # epoch of the leaf where it starts (the branch's latest epoch)
    death: float  # epoch of the merge node (trunks: the component's earliest node epoch)
    leaf: int  # node where it is born
    merge: int | None = None  # node where it merges into an elder branch (None: a trunk)
    parent: int | None = None  # index of the bar it merges into

    @property
    def persistence(self) -> float:
        return self.birth - self.death

    @property
    def essential(self) -> bool:
        return self.merge is None


def build_graph(n_nodes: int, edges, node_epoch) -> nx.Graph:
    """Undirected graph on nodes 0..n_nodes-1 with their mean epoch as attribute `epoch`."""
    g = nx.Graph()
    g.add_nodes_from((i, {"epoch": float(e)}) for i, e in zip(range(n_nodes), node_epoch))
    g.add_edges_from(edges)
    return g


def graph_metrics(g: nx.Graph) -> dict:
    """Nodes, edges, components, independent cycles (E - V + C), leaves, branch points (deg >= 3)."""
    v, e = g.number_of_nodes(), g.number_of_edges()
    c = nx.number_connected_components(g) if v else 0
    deg = np.array([d for _, d in g.degree()], dtype=int)
    return {"nodes": v, "edges": e, "components": c, "cycles": e - v + c,
            "leaves": int((deg == 1).sum()), "branch_points": int((deg >= 3).sum())}


def persistence_bars(g: nx.Graph, attr: str = "epoch") -> tuple[list[Bar], dict]:
    """Bars of the reverse-time filtration and, per node, the bar it joined on entering.

    Union-find over nodes in decreasing epoch: a node with no processed neighbour starts a bar;
    otherwise it joins the neighbouring component born latest (elder rule) and every other
    neighbouring component dies at its epoch.
    """
    f = nx.get_node_attributes(g, attr)
    order = sorted(g.nodes, key=lambda v: (-f[v], v))
    parent, root_bar, bars, label = {}, {}, [], {}

    def find(v):
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    for v in order:
        roots = {find(u) for u in g.neighbors(v) if u in parent}
        parent[v] = v
        if not roots:
            root_bar[v] = len(bars)
            bars.append(Bar(birth=f[v], death=f[v], leaf=v))
        else:
            # Elder = latest birth; ties broken by bar index for determinism.
            elder = min(roots, key=lambda r: (-bars[root_bar[r]].birth, root_bar[r]))
            for r in roots - {elder}:
                b = bars[root_bar[r]]
                b.death, b.merge, b.parent = f[v], v, root_bar[elder]
                parent[r] = elder
            parent[v] = elder
            root_bar[v] = root_bar[elder]
        label[v] = root_bar[find(v)]
    for comp in nx.connected_components(g):  # trunks live down to the component's first epoch
        bars[root_bar[find(next(iter(comp)))]].death = min(f[v] for v in comp)
    return bars, label


def branch_numbers(bars: list[Bar], min_persistence: float) -> list[int]:
    """Per bar, the branch number of the significant bar it belongs to, or -1 (a component with no
    significant bar). Insignificant buds belong to the branch they merged into. Branches are
    numbered trunks first, then by split epoch (earliest split = 1)."""
    significant = [i for i, b in enumerate(bars) if b.persistence >= min_persistence]
    ordered = sorted(significant, key=lambda i: (not bars[i].essential, bars[i].death, -bars[i].birth, i))
    number = {i: k for k, i in enumerate(ordered)}

    def resolve(i):
        while i is not None and i not in number:
            i = bars[i].parent
        return -1 if i is None else number[i]

    return [resolve(i) for i in range(len(bars))]


def first_branch_epoch(bars: list[Bar]) -> float | None:
    """Earliest epoch at which two significant bars are alive together (None if never)."""
    events = sorted([(b.death, 1) for b in bars] + [(b.birth, -1) for b in bars], key=lambda x: (x[0], -x[1]))
    alive = 0
    for t, step in events:
        alive += step
        if alive >= 2:
            return float(t)
    return None


def neuron_final_branches(node_members, node_branch: dict, n_neurons: int) -> list[int]:
    """Per neuron, the branch of the node(s) holding its latest snapshot that lies in a branch.

    node_members: per node an (m, 2) array of (neuron, snapshot). With overlapping cover intervals a
    point can sit in two nodes of different branches: the most frequent branch wins, then the lower
    number. -1 where the neuron is in no branch at all.
    """
    rows = [np.column_stack([np.asarray(m).reshape(-1, 2), np.full(len(m), node_branch.get(v, -1))])
            for v, m in enumerate(node_members) if len(m)]
    out = np.full(n_neurons, -1)
    if not rows:
        return out.tolist()
    neuron, snap, branch = np.concatenate(rows).T
    neuron, snap, branch = neuron[branch >= 0], snap[branch >= 0], branch[branch >= 0]
    if not len(neuron):
        return out.tolist()
    last = np.full(n_neurons, -1)
    np.maximum.at(last, neuron, snap)
    at_last = snap == last[neuron]
    pairs, counts = np.unique(np.column_stack([neuron[at_last], branch[at_last]]), axis=0, return_counts=True)
    # Per neuron: most votes first, then the lower branch number; keep the first row of each neuron.
    order = np.lexsort((pairs[:, 1], -counts, pairs[:, 0]))
    pairs = pairs[order]
    first = np.r_[True, pairs[1:, 0] != pairs[:-1, 0]]
    out[pairs[first, 0]] = pairs[first, 1]
    return out.tolist()


def analyze_graph(node_members, node_epoch, edges, n_neurons: int, epoch_range: float,
                  threshold: float) -> dict:
    """All metrics of one learning graph, plus per-branch and per-neuron detail.

    node_members: per node an (m, 2) array of (neuron, snapshot); node_epoch: per node mean epoch;
    edges: (i, j) node index pairs; threshold: significance as a fraction of the run's epoch range.
    `first_branch_epoch` here is read off node mean epochs (the bars); mapper.learning_graph
    replaces it by the split date of the branches' member neurons and keeps this one as
    `first_branch_epoch_nodes`.
    """
    g = build_graph(len(node_epoch), edges, node_epoch)
    metrics = graph_metrics(g)
    bars, label = persistence_bars(g)
    min_pers = threshold * epoch_range
    bar_branch = branch_numbers(bars, min_pers)
    node_branch = {v: bar_branch[b] for v, b in label.items()}
    sig = sorted((i for i, b in enumerate(bars) if b.persistence >= min_pers), key=lambda i: bar_branch[i])
    final = neuron_final_branches(node_members, node_branch, n_neurons)
    metrics.update({"branches": len(sig), "final_branches": len({b for b in final if b >= 0}),
                    "first_branch_epoch": first_branch_epoch([bars[i] for i in sig])})
    branches = []
    for i in sig:
        b = bars[i]
        k = bar_branch[i]
        branches.append({"branch": k, "birth_epoch": b.birth, "death_epoch": b.death,
                         "persistence": b.persistence, "trunk": b.essential, "leaf_node": b.leaf,
                         "merge_node": b.merge, "parent": None if b.parent is None else bar_branch[b.parent],
                         "neurons": [n for n, fb in enumerate(final) if fb == k]})
    all_bars = [[b.birth, b.death, b.essential] for b in bars]
    return {"metrics": metrics, "branches": branches, "persistence": all_bars, "min_persistence_epochs": min_pers,
            "node_branch": [node_branch[v] for v in range(len(node_epoch))], "neuron_final_branch": final}


BRANCH_COLUMNS = ["run_id", "layer", "layer_index", "n_neurons", "n_snapshots", "nodes", "edges", "components",
                  "cycles", "leaves", "branch_points", "branches", "final_branches", "first_branch_epoch", "eps",
                  "empty", "first_branch_epoch_nodes", "curve_first_event_epoch", "first_branch_lag"]


def branch_row(doc: dict, curve_first: dict | None = None) -> dict:
    """The branches-table row of one learning-graph JSON document; `curve_first` maps layers to the
    epoch of their branching curve's first event (branching.py), set beside the Mapper date."""
    m = doc["metrics"]
    mapper_epoch = m["first_branch_epoch"]
    curve = (curve_first or {}).get(doc["layer"], np.nan)
    lag = mapper_epoch - curve if mapper_epoch is not None and np.isfinite(curve) else np.nan
    return {"run_id": doc["run_id"], "layer": doc["layer"], "layer_index": doc["layer_index"],
            "n_neurons": doc["n_neurons"], "n_snapshots": doc["n_snapshots"],
            **{k: m[k] for k in BRANCH_COLUMNS[5:14]}, "eps": doc["eps"], "empty": bool(doc["empty"]),
            "first_branch_epoch_nodes": m.get("first_branch_epoch_nodes", np.nan),
            "curve_first_event_epoch": curve, "first_branch_lag": lag}


def curve_first_events(curve_tsv) -> dict:
    """{layer: epoch of the first branching event} of a branching-curve table (branching.py)."""
    if curve_tsv is None or not Path(curve_tsv).is_file() or Path(curve_tsv).stat().st_size == 0:
        return {}
    return first_events(read_tsv(curve_tsv))


def first_events(curve: pd.DataFrame) -> dict:
    ev = curve[curve["event"].astype(str) == "branching"].sort_values("epoch", kind="stable")
    return ev.drop_duplicates("layer").set_index("layer")["epoch"].astype(float).to_dict()


def write_branch_table(graphs, out_path, curve_tsv=None) -> None:
    """A run's branch table (branches.tsv, docs/tables.md): one row per layer, from the layers'
    learning-graph documents or the paths of per-layer JSONs (and, given the run's branching curve,
    the curve's first event and the Mapper date's lag behind it)."""
    docs = [g if isinstance(g, dict) else json.loads(Path(g).read_text()) for g in graphs]
    write_branch_rows(docs, out_path, curve_first_events(curve_tsv))


def write_branch_rows(docs: list[dict], out_path, curve_first: dict) -> None:
    """write_branch_table from the documents themselves and {layer: first curve event epoch}."""
    rows = [branch_row(doc, curve_first) for doc in docs]
    df = pd.DataFrame(rows, columns=BRANCH_COLUMNS).sort_values("layer", key=lambda s: s.map(layer_rank), kind="stable")
    write_tsv(df, out_path)


# A run's learning graphs: one file {layer: document} in its mapper folder (one file per run, not
# one per layer: a sweep's results must stay few files per run). Folders made before it hold one
# {layer}.json per layer instead; they still read.
GRAPHS = "graphs.json"


def write_graphs(mapper_dir, docs: list[dict]) -> Path:
    """All of a run's learning-graph documents as one file, {layer: document} in the order given
    (the analysis order). Written under a temporary name, then renamed: a killed job never leaves
    half a file."""
    path = Path(mapper_dir) / GRAPHS
    tmp = path.with_name(f".{GRAPHS}.tmp")
    tmp.write_text(json.dumps({d["layer"]: d for d in docs}, separators=(",", ":")))
    os.replace(tmp, path)
    return path


def read_graphs(mapper_dir, layers=None) -> dict[str, dict]:
    """{layer: learning-graph document} of a run's mapper folder, from its graphs.json or, in a
    folder made before there was one, its per-layer {layer}.json files (in layer order). Without
    `layers`: every layer found (none: {}). With `layers`: exactly those, in that order; a missing
    one raises FileNotFoundError naming it."""
    mdir = Path(mapper_dir)
    if (mdir / GRAPHS).is_file():
        docs = json.loads((mdir / GRAPHS).read_text())
    else:
        names = layers if layers is not None else sorted((p.stem for p in _legacy_files(mdir)), key=layer_rank)
        docs = {n: json.loads((mdir / f"{n}.json").read_text()) for n in names if (mdir / f"{n}.json").is_file()}
    if layers is None:
        return docs
    missing = [layer for layer in layers if layer not in docs]
    if missing:
        raise FileNotFoundError(f"{mdir}: no learning graph of {', '.join(missing)} (neither in {GRAPHS} nor as "
                                f"{missing[0]}.json); layers found: {', '.join(docs) or 'none'}")
    return {layer: docs[layer] for layer in layers}


def graph_doc(mapper_dir, layer: str) -> dict:
    """The learning-graph document of one layer of a run's mapper folder (read_graphs)."""
    return read_graphs(mapper_dir, [layer])[layer]


def remove_graphs(mapper_dir) -> None:
    """Remove a run's learning graphs (graphs.json, its temporary file, per-layer JSONs of an older
    layout); everything else in the folder, the analysis stamp included, stays."""
    mdir = Path(mapper_dir)
    for p in [mdir / GRAPHS, mdir / f".{GRAPHS}.tmp", *_legacy_files(mdir)]:
        p.unlink(missing_ok=True)


def _legacy_files(mdir: Path) -> list[Path]:
    """The per-layer learning graphs of the older layout: {layer}.json, layer a layer name."""
    return [p for p in mdir.glob("*.json") if _is_layer(p.stem)]


def _is_layer(name: str) -> bool:
    try:
        layer_index(name)
    except ValueError:
        return False
    return True
