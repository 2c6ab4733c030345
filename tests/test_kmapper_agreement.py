"""Standing cross-check against the reference: on a small real store, every layer's learning graph
equals stock KeplerMapper's (sklearn's DBSCAN and kmapper's own GraphNerve, same lens, PCA
coordinates, cover and eps): the same node ids, the same points per node, the same edges."""

import kmapper as km
import numpy as np
import pytest
from sklearn.cluster import DBSCAN
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from topolearn.learning_graphs.mapper import compute_lens, exact_distance, layer_cloud, learning_graph, reduce
from topolearn.store.snapshots import open_store, read_metrics, read_weights
from topolearn.sweep.mapper_settings import MAPPER_DEFAULTS

LAYERS = ("layer0", "layer1", "layer2")
SETTINGS = {
    "defaults": {},
    "coarse cover": {"intervals": 10, "overlap": 0.3},
    "min_samples 1": {"min_samples": 1},
}


def stock_graph(cloud, params: dict, eps: float):
    """kmapper.KeplerMapper().map with stock parts on the lens and PCA coordinates learning_graph uses."""
    coords, _ = reduce(cloud.points, params["pca"])
    lens = compute_lens(params["lens"], cloud, coords, params["pca"] is not None)
    cover = km.Cover(n_cubes=params["intervals"], perc_overlap=params["overlap"])
    graph = km.KeplerMapper(verbose=0).map(lens[:, None], X=coords, cover=cover,
                                           clusterer=DBSCAN(eps=eps, min_samples=params["min_samples"]))
    return graph, coords, lens, cover


def rounding_pairs(coords, lens, cover, eps: float) -> int:
    """Pairs of one cover interval that sklearn's neighbour search (as DBSCAN runs it) puts on the
    other side of eps than their exact distance does: float rounding at eps, where the two may
    disagree and topolearn keeps the exact answer."""
    data = np.c_[np.arange(len(lens)), lens]
    cover.fit(data)
    wrong = 0
    for cube in cover.transform(data):
        x = np.asarray(coords[cube[:, 0].astype(int)], dtype=np.float64)
        if len(x) < 2:
            continue
        theirs = NearestNeighbors(radius=eps).fit(x).radius_neighbors_graph(x).toarray() > 0
        wrong += int((theirs != (exact_distance(x[:, None], x[None]) <= eps)).sum()) // 2
    return wrong


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("layer", LAYERS)
def test_learning_graph_equals_stock_kmapper(tiny_store, layer, setting):
    root = open_store(tiny_store)
    weights, epochs = read_weights(root, layer), read_metrics(root)["epoch"].to_numpy()
    params = {**MAPPER_DEFAULTS, **SETTINGS[setting]}
    with threadpool_limits(1):  # PCA coordinates depend on the BLAS thread count
        doc, _, cloud = learning_graph(weights, epochs, params, 0.1)
        graph, coords, lens, cover = stock_graph(layer_cloud(weights, epochs), params, doc["eps"])
    assert doc["params"]["intervals_used"] == params["intervals"]
    wrong = rounding_pairs(coords, lens, cover, doc["eps"])
    if wrong:
        pytest.skip(f"{layer}: {wrong} pair(s) within float rounding of eps, decided differently by sklearn")
    n = cloud.n_neurons
    ours = {name: sorted(s * n + p for p, s in node["members"]) for name, node in doc["nodes"].items()}
    assert ours == {name: sorted(members) for name, members in graph["nodes"].items()}
    assert ours  # a graph to compare
    assert {frozenset(e) for e in doc["edges"]} == {frozenset((a, b)) for a, bs in graph["links"].items() for b in bs}
