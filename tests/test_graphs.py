"""Graph metrics and persistence-based branch counting on hand-made graphs with known answers."""

import json

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topolearn.learning_graphs.graphs import (BRANCH_COLUMNS, GRAPHS, analyze_graph, build_graph, first_branch_epoch,
                                              graph_doc, graph_metrics, neuron_final_branches, persistence_bars,
                                              read_graphs, remove_graphs, write_branch_table, write_graphs)


def path_edges(nodes):
    return list(zip(nodes[:-1], nodes[1:]))


def y_graph(bud=False):
    """Trunk 0-1-2-3 (epochs 0..3), arms 4-5-6 and 7-8-9 from node 3 (epochs 4..6); optional bud 10
    hanging off node 1 at epoch 1.5."""
    epochs = [0, 1, 2, 3, 4, 5, 6, 4, 5, 6] + ([1.5] if bud else [])
    edges = path_edges([0, 1, 2, 3, 4, 5, 6]) + [(3, 7), (7, 8), (8, 9)] + ([(1, 10)] if bud else [])
    return epochs, edges


def members_for(epochs, neurons_of_node):
    return [np.array([[n, int(round(e * 10))] for n in ns]).reshape(-1, 2) for e, ns in zip(epochs, neurons_of_node)]


def test_metrics_of_a_y():
    epochs, edges = y_graph()
    m = graph_metrics(build_graph(len(epochs), edges, epochs))
    assert m == {"nodes": 10, "edges": 9, "components": 1, "cycles": 0, "leaves": 3, "branch_points": 1}


def test_y_has_two_branches_split_at_the_fork():
    epochs, edges = y_graph()
    neurons = [[0, 1]] * 4 + [[0]] * 3 + [[1]] * 3
    out = analyze_graph(members_for(epochs, neurons), epochs, edges, 2, epoch_range=6.0, threshold=0.1)
    assert out["metrics"]["branches"] == 2
    assert out["metrics"]["first_branch_epoch"] == 3.0
    assert out["metrics"]["final_branches"] == 2
    assert sorted(out["neuron_final_branch"]) == [0, 1]
    trunk, arm = out["branches"]
    assert trunk["trunk"] and not arm["trunk"]
    assert (arm["birth_epoch"], arm["death_epoch"], arm["parent"]) == (6.0, 3.0, 0)


def test_a_short_bud_does_not_count_but_a_long_one_does():
    epochs, edges = y_graph(bud=True)  # bud persistence 0.5 epoch
    out = analyze_graph([np.empty((0, 2))] * len(epochs), epochs, edges, 0, epoch_range=6.0, threshold=0.1)
    assert out["metrics"]["leaves"] == 4
    assert out["metrics"]["branches"] == 2
    assert out["node_branch"][10] == out["node_branch"][1]  # the bud belongs to the trunk it grew from
    out = analyze_graph([np.empty((0, 2))] * len(epochs), epochs, edges, 0, epoch_range=6.0, threshold=0.05)
    assert out["metrics"]["branches"] == 3  # 0.5 >= 0.05 * 6


def test_a_loop_is_one_cycle_and_one_branch():
    # 0 -> 1 -> {2, 3} -> 4 -> 5: two parallel paths that meet again.
    epochs = [0, 1, 2, 2, 3, 4]
    edges = [(0, 1), (1, 2), (1, 3), (2, 4), (3, 4), (4, 5)]
    out = analyze_graph([np.empty((0, 2))] * 6, epochs, edges, 0, epoch_range=4.0, threshold=0.1)
    assert out["metrics"]["cycles"] == 1
    assert out["metrics"]["branches"] == 1
    assert out["metrics"]["first_branch_epoch"] is None


def test_separate_components_are_separate_trunks():
    epochs = [0, 1, 2, 3, 2.5, 3.5, 4.5]
    edges = path_edges([0, 1, 2, 3]) + path_edges([4, 5, 6])
    out = analyze_graph([np.empty((0, 2))] * 7, epochs, edges, 0, epoch_range=4.5, threshold=0.1)
    assert out["metrics"]["components"] == 2
    assert out["metrics"]["branches"] == 2
    assert out["metrics"]["first_branch_epoch"] == 2.5  # both alive from then on


def test_empty_graph():
    out = analyze_graph([], [], [], 5, epoch_range=10.0, threshold=0.1)
    assert out["metrics"] == {"nodes": 0, "edges": 0, "components": 0, "cycles": 0, "leaves": 0,
                              "branch_points": 0, "branches": 0, "final_branches": 0, "first_branch_epoch": None}
    assert out["neuron_final_branch"] == [-1] * 5


def test_final_branch_votes_at_the_latest_snapshot():
    # Neuron 0 ends (snapshot 9) in nodes of branches 1 and 2 twice -> 2; neuron 1 is in no branch.
    members = [np.array([[0, 9]]), np.array([[0, 9]]), np.array([[0, 9], [0, 3]]), np.array([[1, 5]])]
    node_branch = {0: 1, 1: 2, 2: 2, 3: -1}
    assert neuron_final_branches(members, node_branch, 2) == [2, -1]


def test_first_branch_epoch_needs_two_bars_alive_together():
    bars, _ = persistence_bars(build_graph(3, [], [0.0, 1.0, 2.0]))  # three isolated points
    assert first_branch_epoch(bars) is None


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 40), seed=st.integers(0, 10_000))
def test_a_tree_growing_in_time_has_one_branch_per_late_leaf(n, seed):
    """Epoch = depth from the root: with threshold 0 every leaf but the root starts a branch."""
    g = nx.random_labeled_tree(n, seed=seed)
    depth = nx.single_source_shortest_path_length(g, 0)
    epochs = [float(depth[v]) for v in range(n)]
    out = analyze_graph([np.empty((0, 2))] * n, epochs, list(g.edges), 0, epoch_range=max(epochs), threshold=0.0)
    leaves = [v for v in g if g.degree(v) == 1 and v != 0]
    assert out["metrics"]["branches"] == len(leaves)
    assert out["metrics"]["cycles"] == 0


def test_branch_table_contract(tmp_path):
    docs = []
    for i, empty in enumerate([False, True]):
        metrics = {"nodes": 0 if empty else 5, "edges": 0 if empty else 4, "components": 0 if empty else 1,
                   "cycles": 0, "leaves": 0 if empty else 2, "branch_points": 0, "branches": 0 if empty else 1,
                   "final_branches": 0 if empty else 1, "first_branch_epoch": None, "empty": empty}
        docs.append({"run_id": "0123456789ab", "layer": f"layer{i}", "layer_index": i, "n_neurons": 4,
                     "n_snapshots": 9, "eps": 0.5, "empty": empty, "metrics": metrics})
    paths = []
    for d in reversed(docs):
        paths.append(tmp_path / f"{d['layer']}.json")
        paths[-1].write_text(json.dumps(d))
    write_branch_table(paths, tmp_path / "b.tsv")
    df = pd.read_csv(tmp_path / "b.tsv", sep="\t")
    assert list(df.columns) == BRANCH_COLUMNS
    assert list(df.layer) == ["layer0", "layer1"]
    assert df["empty"].tolist() == [False, True]
    assert df.first_branch_epoch.isna().all()
    assert "NA" in (tmp_path / "b.tsv").read_text()
    write_branch_table(docs[::-1], tmp_path / "d.tsv")  # the documents themselves (graphs.json's values)
    assert (tmp_path / "d.tsv").read_bytes() == (tmp_path / "b.tsv").read_bytes()


def test_branch_table_sets_the_mapper_date_beside_the_curves_first_event(tmp_path):
    metrics = {"nodes": 5, "edges": 4, "components": 1, "cycles": 0, "leaves": 2, "branch_points": 1,
               "branches": 2, "final_branches": 2, "first_branch_epoch": 36.0, "first_branch_epoch_nodes": 18.0}
    doc = {"run_id": "0123456789ab", "layer": "layer0", "layer_index": 0, "n_neurons": 4, "n_snapshots": 9,
           "eps": 0.5, "empty": False, "metrics": metrics}
    (tmp_path / "layer0.json").write_text(json.dumps(doc))
    curve = pd.DataFrame({"layer": ["layer0"] * 4 + ["layer1"], "snapshot": [0, 1, 2, 3, 0],
                          "epoch": [0.0, 35.0, 35.5, 50.0, 0.0], "event": ["", "branching", "", "branching", ""]})
    curve.to_csv(tmp_path / "curve.tsv", sep="\t", index=False)
    write_branch_table([tmp_path / "layer0.json"], tmp_path / "b.tsv", curve_tsv=tmp_path / "curve.tsv")
    row = pd.read_csv(tmp_path / "b.tsv", sep="\t").iloc[0]
    assert (row.first_branch_epoch, row.first_branch_epoch_nodes) == (36.0, 18.0)
    assert (row.curve_first_event_epoch, row.first_branch_lag) == (35.0, 1.0)  # the first event, not the later one


def layer_doc(layer: str) -> dict:
    return {"run_id": "0123456789ab", "layer": layer, "nodes": {"a": {"members": [[0, 1]]}}, "edges": [],
            "metrics": {"nodes": 1, "branches": 1}}


def test_graphs_json_holds_every_layer_in_the_order_given_as_one_compact_file(tmp_path):
    docs = [layer_doc(name) for name in ("layer1", "conv0", "layer0")]  # an analysis order of a config's list
    path = write_graphs(tmp_path, docs)
    assert path == tmp_path / GRAPHS and sorted(p.name for p in tmp_path.iterdir()) == [GRAPHS]  # no temp file left
    assert ": " not in path.read_text() and ", " not in path.read_text()
    assert list(json.loads(path.read_text())) == ["layer1", "conv0", "layer0"]
    assert read_graphs(tmp_path) == {d["layer"]: d for d in docs} and list(read_graphs(tmp_path)) == ["layer1", "conv0",
                                                                                                     "layer0"]
    assert graph_doc(tmp_path, "conv0") == docs[1]
    assert list(read_graphs(tmp_path, ["layer0", "layer1"])) == ["layer0", "layer1"]
    with pytest.raises(FileNotFoundError, match="no learning graph of layer2.*layers found: layer1, conv0, layer0"):
        graph_doc(tmp_path, "layer2")


def test_a_folder_of_per_layer_jsons_from_before_graphs_json_still_reads(tmp_path):
    for name in ("layer1", "layer0", "conv0"):
        (tmp_path / f"{name}.json").write_text(json.dumps(layer_doc(name)))
    (tmp_path / "analysis.json").write_text(json.dumps({"settings": "x", "status": "ok"}))  # the stamp: no layer
    assert list(read_graphs(tmp_path)) == ["conv0", "layer0", "layer1"]  # the net's order
    assert read_graphs(tmp_path)["layer1"] == layer_doc("layer1") and graph_doc(tmp_path, "conv0") == layer_doc("conv0")
    assert list(read_graphs(tmp_path, ["layer1", "conv0"])) == ["layer1", "conv0"]
    with pytest.raises(FileNotFoundError, match="no learning graph of layer2 .*layer2.json"):
        read_graphs(tmp_path, ["layer0", "layer2"])
    assert read_graphs(tmp_path / "nothing") == {}
    remove_graphs(tmp_path)  # graphs of either layout go; the stamp stays
    write_graphs(tmp_path, [layer_doc("layer0")])
    (tmp_path / "layer3.json").write_text("{}")
    remove_graphs(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["analysis.json"]


@pytest.mark.parametrize("threshold", [0.0, 0.3])
def test_bars_partition_the_nodes(threshold):
    epochs, edges = y_graph(bud=True)
    bars, label = persistence_bars(build_graph(len(epochs), edges, epochs))
    assert sorted(label) == list(range(len(epochs)))
    assert sum(b.essential for b in bars) == 1
    assert all(b.persistence >= 0 for b in bars)
