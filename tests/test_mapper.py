"""Learning graphs: synthetic clouds with known shapes, the KeplerMapper plumbing and the JSON contract."""

import io
import json
import logging

import kmapper as km
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.cluster import DBSCAN

import learning_clouds as lc
from topolearn.sweep.mapper_settings import MAPPER_DEFAULTS
from topolearn.sweep.points import normalize_point
from topolearn.learning_graphs.graphs import BRANCH_COLUMNS, write_branch_table
from topolearn.learning_graphs import mapper
from topolearn.learning_graphs.mapper import (CompactDBSCAN, PointIndexNerve, auto_eps, eps_components, exact_distance,
                                              layer_cloud, learning_graph, mapper_layer, reduce)
from topolearn.store.snapshots import StoreError
from topolearn.figures.graphs import write_png

torch.set_num_threads(1)


def params(**kw):
    return {**MAPPER_DEFAULTS, **kw}


def run_mapper(tmp_path, store, layer="layer0", threshold=0.1, **kw):
    out = {k: tmp_path / f"{layer}.{k}" for k in ("json", "html", "png")}
    doc = mapper_layer(store, layer, params(**kw), threshold, out["json"], out["html"])
    write_png(doc, out["png"], f"run {doc['run_id']} {layer}")
    return doc, out


# ---------------------------------------------------------------- building blocks


def test_layer_cloud_is_snapshot_major():
    w = np.arange(3 * 4 * 2, dtype=np.float32).reshape(3, 4, 2)
    c = layer_cloud(w, np.array([0.0, 0.5, 1.0]))
    p = 2 * 4 + 3  # snapshot 2, neuron 3
    assert (c.snapshot[p], c.neuron[p], c.epoch[p]) == (2, 3, 1.0)
    assert np.array_equal(c.points[p], w[2, 3])


def test_compact_dbscan_matches_sklearn():
    """min_samples > 2 (sklearn's DBSCAN on weighted cells): the same noise and partition of core
    points, and the same numbering of the clusters."""
    rng = np.random.default_rng(0)
    for trial in range(60):
        x = rng.normal(size=(int(rng.integers(2, 60)), 3))
        x = np.repeat(x, rng.integers(1, 4, size=len(x)), axis=0)  # exact duplicates, as identical neurons
        eps, ms = rng.uniform(0.2, 1.0), int(rng.integers(1, 5))
        ref = DBSCAN(eps=eps, min_samples=ms).fit(x)
        got = CompactDBSCAN(eps=eps, min_samples=ms).fit_predict(x)
        assert np.array_equal(ref.labels_ == -1, got == -1)
        core = ref.core_sample_indices_  # border points may go to another neighbouring cluster
        assert np.array_equal(ref.labels_[core], got[core]), trial


def exact_labels(x, eps, min_samples):
    """DBSCAN for min_samples <= 2 from its definition: components of the graph of all pairs at
    exact distance <= eps, numbered by smallest point index; with min_samples 2 a lone point is noise."""
    from scipy.sparse.csgraph import connected_components

    if not len(x):
        return np.array([], dtype=int)
    adj = exact_distance(x[:, None], x[None]) <= eps
    comp = connected_components(adj, directed=False)[1]
    labels, order = np.full(len(x), -1), {}
    for i, c in enumerate(comp):
        if min_samples <= 1 or adj[i].sum() > 1:
            labels[i] = order.setdefault(c, len(order))
    return labels


def clouds(rng, trials):
    """Random clouds with exact duplicates, points exactly eps apart on a lattice, and clumps (many
    points within 1e-3 eps, like a zero-init layer's neurons before they separate)."""
    for trial in range(trials):
        n, dim, kind = int(rng.integers(0, 80)), int(rng.integers(1, 5)), trial % 4
        eps = float(rng.uniform(0.05, 1.0))
        if kind == 0:
            x = rng.normal(size=(n, dim))
        elif kind == 1:
            x = np.repeat(rng.normal(size=(n, dim)), rng.integers(1, 4, size=n), axis=0)
        elif kind == 2:
            eps = 0.25
            x = rng.integers(0, 5, size=(n, dim)) * eps
        else:
            x = rng.normal(size=(3, dim))[rng.integers(0, 3, n)]
            x += 1e-3 * eps * rng.normal(size=x.shape) * (rng.random((n, 1)) < 0.5)
        yield trial, x, eps


@pytest.mark.parametrize("path", ["direct", "linkage", "tree"])
def test_eps_components_gives_sklearns_labels_for_min_samples_up_to_2(path, monkeypatch):
    """Same labels, same numbering as sklearn's DBSCAN (its KD-tree: exact distances), on all pairs
    of points and on both ways of pairing cells, at several cell sizes; 0 and 1 points too."""
    if path == "direct":
        monkeypatch.setattr(mapper, "DIRECT_MAX_POINTS", 10**6)
        monkeypatch.setattr(mapper, "DIRECT_MIN_CELLS", 10**6)
    else:
        monkeypatch.setattr(mapper, "DIRECT_MAX_POINTS", 0)
    if path == "tree":
        monkeypatch.setattr(mapper, "LINKAGE_MAX_CELLS", 0)
        monkeypatch.setattr(mapper, "MEMBER_PAIR_CHUNK", 3)  # the chunked member comparison
    rng = np.random.default_rng(1)
    for trial, x, eps in clouds(rng, 200):
        for ms in (1, 2):
            ref = DBSCAN(eps=eps, min_samples=ms, algorithm="kd_tree").fit(x).labels_ if len(x) else np.array([], int)
            got = eps_components(x, eps, ms, resolution=(0.01, 0.3, 0.9)[trial % 3])
            assert np.array_equal(got, ref), trial
            assert np.array_equal(got, exact_labels(x, eps, ms)), trial


def test_eps_components_joins_a_pair_exactly_eps_apart():
    """auto eps is one of the cloud's own distances: DBSCAN's neighbourhood (distance <= eps) joins
    that pair, whatever rounding sklearn's expanded-form distances would add."""
    x = np.array([[0.0, 0.0], [0.3, 0.4], [5.0, 5.0]])
    eps = float(np.linalg.norm(x[1] - x[0]))
    assert eps_components(x, eps, 2).tolist() == [0, 0, -1]


def test_a_pair_just_below_eps_joins_cells_whose_representatives_are_farther(monkeypatch):
    """Two points eps (1 - 1e-7) apart, in cells (of eps / 100) whose representatives (each cell's
    first point) are 1.0094 eps apart: single linkage at eps keeps them together."""
    monkeypatch.setattr(mapper, "DIRECT_MAX_POINTS", 0)  # through cells, however few points
    eps = 1.0
    x = np.array([[0.0005], [1.0099], [0.0095], [0.0095 + eps * (1 - 1e-7)]])
    assert np.floor(x[:, 0] / 0.01).tolist() == [0, 100, 0, 100]  # cells {0, 2} and {1, 3}
    assert exact_distance(x[0], x[1]) > eps and exact_distance(x[2], x[3]) <= eps
    for ms in (1, 2):
        assert CompactDBSCAN(eps=eps, min_samples=ms).fit_predict(x).tolist() == [0, 0, 0, 0]
    assert DBSCAN(eps=eps, min_samples=2).fit(x).labels_.tolist() == [0, 0, 0, 0]
    far = x.copy()
    far[3] += 2e-7 * eps  # now eps (1 + 1e-7) apart: two clusters
    assert CompactDBSCAN(eps=eps, min_samples=2).fit_predict(far).tolist() == [0, 1, 0, 1]


def test_clusters_are_numbered_by_their_first_point_as_sklearn_numbers_them():
    """Cells are sorted by coordinates; clusters are numbered by their smallest point index, so
    KeplerMapper's node ids (cube{i}_cluster{j}) are the ones stock KeplerMapper gives."""
    x = np.array([[5.0], [0.0], [9.0], [5.01], [0.01], [9.01], [20.0]])
    for ms in (2, 3):
        got = CompactDBSCAN(eps=0.1, min_samples=ms).fit_predict(x if ms == 2 else np.repeat(x, 2, axis=0))
        ref = DBSCAN(eps=0.1, min_samples=ms).fit(x if ms == 2 else np.repeat(x, 2, axis=0)).labels_
        assert got.tolist() == ref.tolist()
    assert CompactDBSCAN(eps=0.1, min_samples=2).fit_predict(x).tolist() == [0, 1, 2, 0, 1, 2, -1]


def test_too_fine_a_grid_falls_back_to_identical_points(monkeypatch):
    """eps far below the coordinates' scale (cells not indexable as int64): identical points still
    form one cluster and distinct ones are apart."""
    monkeypatch.setattr(mapper, "DIRECT_MAX_POINTS", 0)
    x = np.array([[1e6, 0.0], [1e6, 0.0], [1e6 + 1.0, 0.0], [1e6, 0.0]])
    assert eps_components(x, 1e-300, 2).tolist() == [0, 0, -1, 0]
    assert eps_components(x, 1e-300, 1).tolist() == [0, 0, 1, 0]


def test_cells_told_apart_by_hash_are_the_grids_cells(monkeypatch):
    """hashed_cells gives grid_cells' cells (in another order); where rows of keys share a hash (all
    of them, with a zero hash) it falls back to grid_cells."""
    rng = np.random.default_rng(3)
    x = np.repeat(rng.normal(size=(50, 6)), rng.integers(1, 5, size=50), axis=0)
    x += 1e-4 * rng.normal(size=x.shape) * (rng.random((len(x), 1)) < 0.3)

    def partition(cells):
        first, inverse, count, radius = cells
        return sorted(map(tuple, (np.flatnonzero(inverse == c) for c in range(len(first))))), radius

    for zero in (False, True):
        if zero:
            monkeypatch.setattr(mapper, "_HASH", np.zeros_like(mapper._HASH))
        got = mapper.hashed_cells(x, 0.01)
        assert partition(got) == partition(mapper.grid_cells(x, 0.01))
        assert np.array_equal(got[0], [np.flatnonzero(got[1] == c).min() for c in range(len(got[0]))])


def test_point_index_nerve_matches_kmapper():
    w, t = lc.comb()
    c = layer_cloud(w, t)
    coords, _ = reduce(c.points, 5)
    for min_inter in (1, 3):
        graphs = [km.KeplerMapper().map(coords[:, :1], X=coords, clusterer=DBSCAN(eps=1.0, min_samples=2),
                                        cover=km.Cover(15, 0.4975), nerve=nerve(min_intersection=min_inter))
                  for nerve in (km.GraphNerve, PointIndexNerve)]
        edges = [{frozenset((a, b)) for a, bs in g["links"].items() for b in bs} for g in graphs]
        assert edges[0] == edges[1] and edges[0]


def test_auto_eps_is_a_percentile_of_neuron_steps():
    w, t = lc.y_shape(noise=0.0)
    coords = w.reshape(-1, w.shape[2])
    steps = np.linalg.norm(np.diff(w.astype(float), axis=0), axis=2)
    assert auto_eps(coords, w.shape[1], 100) == pytest.approx(steps.max())
    assert auto_eps(np.zeros((20, 3)), 4, 50) > 0  # nothing moves: still a valid eps


# ---------------------------------------------------------------- known shapes


def test_comb_has_k_branches_split_at_known_epochs():
    splits = (10.0, 20.0, 30.0)
    w, t = lc.comb(splits)
    doc, _, _ = learning_graph(w, t, params(lens="epoch", intervals=20), 0.1)
    m = doc["metrics"]
    assert m["branches"] == m["final_branches"] == 4
    assert m["cycles"] == 0 and m["components"] == 1
    # Mapper resolves time to one cover interval (40 epochs / 20 intervals = 2 epochs).
    split_epochs = sorted(b["death_epoch"] for b in doc["branches"] if not b["trunk"])
    assert np.allclose(split_epochs, splits, atol=2.0)
    assert m["first_branch_epoch"] == pytest.approx(splits[0], abs=2.0)
    # Neurons of one synthetic branch end in the same learning-graph branch, different ones apart.
    final = np.array(doc["neuron_final_branch"])
    truth = np.arange(w.shape[1]) % 4
    assert len(set(zip(truth, final))) == 4


def test_y_with_the_papers_lens():
    w, t = lc.y_shape()
    doc, _, _ = learning_graph(w, t, params(lens="l2norm_pca", intervals=20), 0.1)
    m = doc["metrics"]
    assert (m["branches"], m["final_branches"], m["cycles"], m["leaves"]) == (2, 2, 0, 3)
    assert m["first_branch_epoch"] == pytest.approx(15.0, abs=2.0)


def test_split_dates_come_from_member_neurons_not_node_means():
    """Issue 13: a plateau (all neurons at rest) until epoch 36, then a split. The merge node spans
    epochs 0-36, so its mean epoch is ~18; the member neurons say 36 (within two snapshots)."""
    w, t = lc.plateau_split(split=36.0)
    doc, _, _ = learning_graph(w, t, params(), 0.1)
    m = doc["metrics"]
    assert m["branches"] == 2
    assert m["first_branch_epoch"] == pytest.approx(36.0, abs=2 * (t[1] - t[0]))
    assert m["first_branch_epoch_nodes"] < 30.0  # the node-mean date the issue reports as too early
    (split,) = [b["split_epoch"] for b in doc["branches"] if not b["trunk"]]
    assert split == m["first_branch_epoch"]


@pytest.mark.parametrize("lens", ["l2norm_pca", "epoch"])
def test_every_split_of_a_comb_is_dated(lens):
    splits = (10.0, 20.0, 30.0)
    w, t = lc.comb(splits)
    doc, _, _ = learning_graph(w, t, params(lens=lens), 0.1)
    dated = sorted(b["split_epoch"] for b in doc["branches"] if not b["trunk"])
    assert np.allclose(dated, splits, atol=1.0)  # snapshots are 0.5 epochs apart
    assert all(d >= s for d, s in zip(dated, splits))  # the groups are within eps just after a split


# ---------------------------------------------------------------- cover geometry and legacy overlap


def kmapper_1_1_intervals(lens, n_cubes, overlap_perc):
    """KeplerMapper 1.1 (kmapper/cover.py, Cover.define_bins / find_entries, tag 1.1.6):
    chunk_dist = (max - min) / n_cubes; overlap_dist = overlap_perc * chunk_dist;
    cube k holds lower_bound <= x < upper_bound with lower_bound = min + k * chunk_dist and
    upper_bound = lower_bound + chunk_dist + overlap_dist."""
    chunk = (lens.max() - lens.min()) / n_cubes
    lower = lens.min() + np.arange(n_cubes) * chunk
    return lower, lower + chunk + overlap_perc * chunk


@pytest.mark.parametrize("p", [0.1, 0.5, 0.99])
def test_overlap_perc_reproduces_kmapper_1_1_geometry(p):
    from topolearn.sweep.mapper_settings import legacy_overlap

    lens = np.random.default_rng(0).uniform(2.0, 7.0, size=500)
    lo, hi = kmapper_1_1_intervals(lens, 20, p)
    cover = km.Cover(n_cubes=20, perc_overlap=legacy_overlap(p))
    centers = np.ravel(cover.fit(np.c_[np.arange(len(lens)), lens]))
    width, spacing = 2 * float(np.ravel(cover.radius_)[0]), float(np.diff(centers).mean())
    assert width == pytest.approx((hi - lo)[0])  # same interval width
    assert spacing == pytest.approx(np.diff(lo).mean())  # same spacing
    assert (width - spacing) / width == pytest.approx(p / (1 + p))  # same overlap between neighbours


def test_overlap_perc_is_its_own_key_and_lands_in_the_json():
    w, t = lc.y_shape()
    legacy = {k: v for k, v in params().items() if k != "overlap"} | {"overlap_perc": 0.99}
    doc, _, _ = learning_graph(w, t, legacy, 0.1)
    modern, _, _ = learning_graph(w, t, params(overlap=0.99 / 1.99), 0.1)
    assert doc["params"]["overlap_used"] == pytest.approx(0.4975, abs=1e-4)
    assert doc["metrics"] == modern["metrics"]
    c = doc["cover"]
    assert c["width_over_spacing"] == pytest.approx(1.99)
    assert 1.0 <= c["mean_intervals_per_point"] <= c["max_intervals_per_point"] == 2
    assert c["kmapper"] == km.__version__
    with pytest.raises(ValueError, match="not both"):
        learning_graph(w, t, params(overlap_perc=0.99), 0.1)


def test_a_degenerate_cover_is_refused():
    w, t = lc.y_shape()
    with pytest.raises(ValueError, match="degenerate Mapper cover: intervals=2 with overlap=0.6"):
        learning_graph(w, t, params(intervals=2, overlap=0.6), 0.1)


@pytest.mark.parametrize("lens", ["l2norm_pca", "epoch", "pc1", "l2norm"])
def test_loop_has_one_cycle(lens):
    w, t = lc.loop()
    doc, _, _ = learning_graph(w, t, params(lens=lens, intervals=15, pca=None if lens == "l2norm" else 5), 0.1)
    assert doc["metrics"]["cycles"] == 1
    assert doc["metrics"]["components"] == 1


def test_constant_lens_uses_one_interval():
    w = np.ones((5, 3, 4), dtype=np.float32)  # nothing moves, all identical
    doc, _, _ = learning_graph(w, np.arange(5.0), params(intervals=10), 0.1)
    assert doc["params"]["intervals_used"] == 1
    assert doc["metrics"]["nodes"] == 1
    assert any("constant" in x for x in doc["warnings"])


# ---------------------------------------------------------------- outputs and the rule's function


def test_json_contract(tmp_path):
    w, t = lc.comb()
    store = lc.write_store(tmp_path / "s.zarr", [w], t)
    doc, out = run_mapper(tmp_path, store, lens="epoch", intervals=20)
    d = json.loads(out["json"].read_text())
    assert d == json.loads(json.dumps(doc))
    for key in ("run_id", "layer", "layer_index", "n_snapshots", "n_neurons", "n_inputs", "epochs", "params", "eps",
                "empty", "nodes", "edges", "metrics", "branches", "neuron_final_branch", "warnings"):
        assert key in d, key
    assert (d["layer"], d["layer_index"], d["n_snapshots"], d["n_neurons"]) == ("layer0", 0, len(t), w.shape[1])
    for key in ("pca", "lens", "intervals", "overlap", "eps", "eps_percentile", "min_samples", "eps_used",
                "persistence_threshold"):
        assert key in d["params"], key
    assert d["params"]["eps"] == "auto" and d["eps"] == d["params"]["eps_used"] > 0
    for node in d["nodes"].values():
        m = np.array(node["members"])
        assert m.shape[1] == 2 and m[:, 0].max() < w.shape[1] and m[:, 1].max() < len(t)
        assert node["mean_epoch"] == pytest.approx(t[m[:, 1]].mean())
        assert node["size"] == len(m)
    assert all(a in d["nodes"] and b in d["nodes"] for a, b in d["edges"])
    assert set(BRANCH_COLUMNS[5:14]) <= set(d["metrics"])
    assert len(d["neuron_final_branch"]) == w.shape[1]
    assert "neuron 3, epoch" in out["html"].read_text()
    assert out["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_empty_graph_is_a_warning_and_valid_output(tmp_path, caplog):
    w, t = lc.comb()
    store = lc.write_store(tmp_path / "s.zarr", [w], t)
    with caplog.at_level(logging.WARNING):
        doc, out = run_mapper(tmp_path, store, eps=1e-9)
    assert doc["empty"] and doc["metrics"]["nodes"] == 0 and doc["metrics"]["branches"] == 0
    assert "empty graph" in caplog.text
    assert json.loads(out["json"].read_text())["empty"] is True
    assert out["html"].stat().st_size > 0 and out["png"].stat().st_size > 0
    write_branch_table([out["json"]], tmp_path / "b.tsv")
    row = pd.read_csv(tmp_path / "b.tsv", sep="\t").iloc[0]
    assert bool(row["empty"]) and row["nodes"] == 0


def test_incomplete_store_is_refused(tmp_path):
    w, t = lc.comb()
    store = lc.write_store(tmp_path / "s.zarr", [w], t, complete=False)
    with pytest.raises(StoreError, match="incomplete"):
        run_mapper(tmp_path, store)
    assert not (tmp_path / "layer0.json").exists()


def test_tiny_store_end_to_end(tmp_path, tiny_store, tiny_point):
    paths = []
    for i in range(tiny_point["depth"] + 1):
        doc, out = run_mapper(tmp_path, tiny_store, layer=f"layer{i}", pca=5, intervals=8)
        assert not doc["empty"] and doc["n_snapshots"] == tiny_point["snapshots"]
        paths.append(out["json"])
    write_branch_table(paths, tmp_path / "b.tsv")
    df = pd.read_csv(tmp_path / "b.tsv", sep="\t")
    assert list(df.columns) == BRANCH_COLUMNS and len(df) == 3
    assert df.n_neurons.tolist() == [8, 8, 10]
    assert (df.branches >= 1).all()


@pytest.mark.slow
def test_output_layer_of_real_runs_has_ten_branches(tmp_path):
    """Gabella et al.: the output layer's learning graph splits into one branch per class. Digits,
    tiny init, the paper's sigmoid MLP without biases, trained until it learns (~0.95 test accuracy).
    From a near-symmetric init rounding decides which neurons part first, so single seeds can merge
    two classes' neurons (seed 42 ends with 9 branches): the claim is checked on most of 3 seeds."""
    from topolearn.store.snapshots import open_store, read_metrics
    from topolearn.train import train_run

    ten = 0
    for seed in (0, 1, 2):
        point = normalize_point({"dataset": "digits", "depth": 2, "width": 32, "lr": 4.0, "batch_size": 32,
                                 "epochs": 60, "snapshots": 101, "init": "normal", "init_std": 1e-6,
                                 "probe_size": 50, "seed": seed})
        store = tmp_path / f"s{seed}.zarr"
        train_run(point, store, tmp_path / f"scratch{seed}", log=io.StringIO())
        assert read_metrics(open_store(store))["test_acc"].iloc[-1] > 0.8
        doc, _ = run_mapper(tmp_path, store, layer="layer2")
        # one output neuron per branch
        ten += doc["metrics"]["final_branches"] == 10 and len(set(doc["neuron_final_branch"]) - {-1}) == 10
    assert ten >= 2
