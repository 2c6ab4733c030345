"""Time-resolved branching: group counts per snapshot, events, accuracy jumps, symmetry."""

import numpy as np
import pandas as pd
import pytest

import learning_clouds as lc
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist

from topolearn.learning_graphs.branching import (CURVE_COLUMNS, EVENT_COLUMNS, SYMMETRY_COLUMNS, accuracy_jumps, branching_curve,
                                 branching_events, layer_branching, pair_events, run_branching, snapshot_group_counts)
from topolearn.store.snapshots import StoreError


def metrics_for(t, acc=None):
    acc = np.full(len(t), 0.1) if acc is None else acc
    return pd.DataFrame({"step": np.arange(len(t)) * 10, "epoch": t, "test_acc": acc})


def test_comb_splits_are_found_within_one_snapshot():
    splits = (10.0, 20.0, 30.0)
    w, t = lc.comb(splits)
    groups, dev, _ = branching_curve(w, 0.02)
    ev = branching_events(groups)
    dt = t[1] - t[0]
    assert len(ev) == 3
    assert np.all((t[ev] > np.array(splits)) & (t[ev] <= np.array(splits) + dt))
    assert groups[0] == 1 and groups[-1] == 4
    assert np.all(np.diff(dev) >= -0.1)  # neurons only move apart


def test_group_counts_are_single_linkage_clusters_of_each_snapshot():
    """One connected-components pass over all snapshots = scipy's single linkage cut per snapshot,
    with identical neurons, tiny weights (the exact-distance path) and thresholds of 0."""
    rng = np.random.default_rng(0)
    for trial in range(150):
        S, N, D = (int(v) for v in rng.integers(1, [6, 12, 6]) + [0, 1, 0])
        w = rng.normal(size=(S, N, D)).astype(np.float32)
        if trial % 3 == 0:
            w[:, : N // 2] = w[:, :1]
        scale = 1e-7 if trial % 5 == 0 else 1.0
        w *= scale
        thr = 0.0 if trial % 7 == 0 else float(rng.uniform(0, 2)) * scale
        groups, dev = snapshot_group_counts(w, thr)
        for s in range(S):
            d = pdist(w[s].astype(np.float64))
            assert groups[s] == fcluster(linkage(d, "single"), t=thr, criterion="distance").max()
            assert dev[s] == pytest.approx(d.max(), rel=1e-6, abs=1e-12)


def test_tiny_init_reads_as_one_group():
    """Neurons at N(0, 1e-6) that then grow together: one group at init (one scale per layer)."""
    rng = np.random.default_rng(0)
    t = np.linspace(0, 10, 21)
    w = 1e-6 * rng.normal(size=(1, 6, 5)) + t[:, None, None] * np.ones((1, 6, 5))
    groups, _, _ = branching_curve(w.astype(np.float32), 0.05)
    assert (groups == 1).all()


def test_events_ignore_flicker():
    assert branching_events(np.array([1, 2, 1, 2, 3, 3, 2, 3])).tolist() == [1, 4]


def test_accuracy_jumps_merge_consecutive_rises_and_ignore_dips():
    t = np.arange(10.0)
    acc = np.array([0.1, 0.1, 0.05, 0.1, 0.2, 0.35, 0.36, 0.37, 0.5, 0.5])
    j = accuracy_jumps(t, acc, 0.05)
    # The dip at 2 and its recovery at 3 is no jump; 3->5 is one jump peaking at 5; 8 is another.
    assert j.jump_epoch.tolist() == [5.0, 8.0]
    assert j.jump_size.tolist() == pytest.approx([0.25, 0.13])


def test_pairing_takes_the_nearest_jump():
    jumps = pd.DataFrame({"jump_epoch": [5.0, 20.0], "jump_size": [0.2, 0.3]})
    rows = pair_events([6.0, 18.0], [1, 2], [2, 3], jumps)
    assert [(r["jump_epoch"], r["lag_epochs"]) for r in rows] == [(5.0, -1.0), (20.0, 2.0)]
    none = pair_events([6.0], [1], [2], pd.DataFrame(columns=["jump_epoch", "jump_size"]))
    assert np.isnan(none[0]["jump_epoch"]) and np.isnan(none[0]["lag_epochs"])


def test_symmetry_break_is_dated():
    """Identical neurons (exact zero init) that part by float32-rounding-size amounts at epoch 3 and
    visibly at epoch 6."""
    t = np.arange(10.0)
    w = np.repeat((t[:, None, None] * np.ones((1, 1, 4))), 3, axis=1).astype(np.float32)
    w[3:, 1, 0] = np.nextafter(w[3:, 0, 0], np.float32(np.inf))  # one ulp apart
    w[6:, 2, 0] += 1e-3 * (t[6:] - 5)
    _, _, sym = layer_branching(w, metrics_for(t), "layer0", "r", 0.05, 0.03)
    assert sym["first_difference_epoch"] == 3.0
    assert sym["symmetry_break_epoch"] == 6.0
    assert sym["final_groups"] == 1
    still = np.repeat(w[:, :1], 3, axis=1)
    _, _, sym = layer_branching(still, metrics_for(t), "layer0", "r", 0.05, 0.03)
    assert np.isnan(sym["symmetry_break_epoch"]) and sym["final_max_deviation"] == 0.0


def test_tables_contract(tmp_path):
    w, t = lc.comb()
    acc = np.where(t > 20.2, 0.8, 0.1)
    h, _ = lc.y_shape(n_snapshots=len(t), n_neurons=6, dim=w.shape[1])
    store = lc.write_store(tmp_path / "s.zarr", [w, h], t, test_acc=acc)
    out = {k: tmp_path / f"{k}.tsv" for k in ("curve", "events", "sym")}
    run_branching(store, ["layer0", "layer1"], "0123456789ab", 0.02, 0.03, out["curve"], out["events"], out["sym"])
    curve = pd.read_csv(out["curve"], sep="\t", keep_default_na=False)
    assert list(curve.columns) == CURVE_COLUMNS and len(curve) == 2 * len(t)
    assert set(curve.event) == {"", "branching"}
    events = pd.read_csv(out["events"], sep="\t")
    assert list(events.columns) == EVENT_COLUMNS
    e0 = events[events.layer == "layer0"]
    assert e0.groups_after.tolist() == [2, 3, 4]
    assert e0.jump_epoch.tolist() == [20.5] * 3  # the only jump
    assert e0.lag_epochs.tolist() == pytest.approx([10.0, 0.0, -10.0])
    sym = pd.read_csv(out["sym"], sep="\t")
    assert list(sym.columns) == SYMMETRY_COLUMNS and sym.final_groups.tolist() == [4, 2]
    assert set(sym.context) == {"threads=None; device=None; torch=None"}  # a test store has no attrs for it


def test_baseline_columns_of_the_curve():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 5, 4)).astype(np.float32)
    curve, _, _ = layer_branching(w, metrics_for(np.arange(3.0)), "layer0", "r", 0.05, 0.03)
    norms = np.linalg.norm(w.astype(np.float64), axis=2)
    assert curve.norm_spread.to_numpy() == pytest.approx(norms.std(axis=1))
    assert curve.weight_variance.to_numpy() == pytest.approx(w.reshape(3, -1).astype(np.float64).var(axis=1))


def test_symmetry_context_prefers_the_trainers_attr():
    from topolearn.learning_graphs.branching import symmetry_context

    attrs = {"threads": 2, "device": "cpu", "versions": {"torch": "2.13.0"}}
    assert symmetry_context(attrs) == "threads=2; device=cpu; torch=2.13.0"
    assert symmetry_context({**attrs, "symmetry_context": {"threads": 1, "blas": "mkl"}}) == "threads=1; blas=mkl"


def test_no_events_gives_a_header_only_table(tmp_path):
    t = np.arange(5.0)
    w = np.repeat(t[:, None, None] * np.ones((1, 1, 3)), 4, axis=1).astype(np.float32)
    store = lc.write_store(tmp_path / "s.zarr", [w], t)
    out = [tmp_path / f"{k}.tsv" for k in ("c", "e", "s")]
    run_branching(store, ["layer0"], "0123456789ab", 0.05, 0.03, *out)
    assert out[1].read_text().strip().split("\t") == EVENT_COLUMNS


def test_incomplete_store_is_refused(tmp_path):
    w, t = lc.comb()
    store = lc.write_store(tmp_path / "s.zarr", [w], t, complete=False)
    with pytest.raises(StoreError):
        run_branching(store, ["layer0"], "r", 0.05, 0.03, *[tmp_path / f"{k}.tsv" for k in "ces"])
    assert not (tmp_path / "c.tsv").exists()
