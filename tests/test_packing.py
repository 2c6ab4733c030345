"""How runs become jobs (topolearn.sweep.packing): packs, batches, freshness and figure selection."""

import json
import os

from topolearn.sweep.points import normalize_point, run_id
from topolearn.sweep.packing import (analysis_done, canonical, chunk_evenly, figure_runs, fingerprint, form_batches, form_packs,
                               pack_key)


def _points(**axes):
    base = {"dataset": "digits", "depth": 1, "width": 4, "epochs": 2, "snapshots": 3, "batch_size": 64}
    out = {}
    for key, values in axes.items():
        for v in values:
            p = normalize_point({**base, key: v})
            out[run_id(p)] = p
    return out


def test_per_net_fields_share_a_pack_and_shapes_do_not():
    a, b = normalize_point({"lr": 0.1, "seed": 1, "init": "zero"}), normalize_point({"lr": 0.5, "seed": 2})
    assert pack_key(a) == pack_key(b)
    assert pack_key(a) != pack_key({**a, "width": 7})
    assert pack_key(a) != pack_key({**a, "batch_size": 10})
    assert pack_key(a) != pack_key({**a, "optimizer": "adam"})


def test_chunks_are_even_and_cover_everything():
    ids = list(range(130))
    chunks = chunk_evenly(ids, 64)
    assert [len(c) for c in chunks] == [44, 43, 43]
    assert sum(chunks, []) == ids
    assert chunk_evenly([], 5) == []


def test_packs_hold_only_pending_runs_of_one_key():
    pts = {**_points(seed=range(5)), **_points(width=[16, 32])}
    pending = list(pts)[1:]
    packs = form_packs(pts, pending, size=3)
    assert sorted(r for p in packs for r in p) == sorted(pending)
    for p in packs:
        assert len(p) <= 3 and len({pack_key(pts[r]) for r in p}) == 1
    assert form_packs(pts, reversed(pending), size=3) == packs  # order of discovery does not matter


def test_batches_follow_packs_then_the_rest():
    packs = [["a", "b", "c"], ["d"]]
    batches = form_batches(packs, ["a", "b", "c", "d", "x", "y"], size=2)
    assert batches == [["a", "b"], ["c"], ["d"], ["x", "y"]]
    assert form_batches(packs, ["x"], size=2) == [["x"]]  # packs' runs already analysed: not again


def test_analysis_done_needs_outputs_newer_than_store_and_same_settings(tmp_path):
    store = tmp_path / "runs" / "r" / "snapshots.zarr"
    store.mkdir(parents=True)
    (store / "zarr.json").write_text("{}")
    out = tmp_path / "out.tsv"
    stamp = tmp_path / "stamp.json"
    fp = fingerprint({"mapper": {"eps": 0.1}})
    assert not analysis_done(str(store), [str(out)], str(stamp), fp)  # nothing yet
    out.write_text("x")
    stamp.write_text(json.dumps({"settings": fp}))
    os.utime(store / "zarr.json", (1, 1))
    assert analysis_done(str(store), [str(out)], str(stamp), fp)
    assert not analysis_done(str(store), [str(out)], str(stamp), fingerprint({"mapper": {"eps": 0.2}}))
    os.utime(out, (0, 0))  # store rebuilt after the analysis
    assert not analysis_done(str(store), [str(out)], str(stamp), fp)


def test_figure_selection():
    ids = [f"{i:012x}" for i in range(10)]
    assert figure_runs("all", ids) == ids
    assert figure_runs("none", ids) == [] and figure_runs(0, ids) == []
    assert figure_runs(3, ids) == [ids[0], ids[4], ids[9]]  # first, middle, last
    assert figure_runs(1, ids) == [ids[0]]
    assert figure_runs(50, ids) == ids
    assert figure_runs([ids[3], ids[1]], ids) == [ids[1], ids[3]]


def test_settings_compare_equal_whatever_order_their_keys_were_written_in():
    a = canonical({"mapper": {"eps": 0.1, "defaults": {"pca": 5, "lens": "x"}}, "branching": {}})
    b = canonical({"branching": {}, "mapper": {"defaults": {"lens": "x", "pca": 5}, "eps": 0.1}})
    assert repr(a) == repr(b) and fingerprint(a) == fingerprint(b)


def test_pack_memory_grows_by_each_networks_buffers_not_a_process_each():
    """SLURM gets what a pack needs: one process, plus every network's snapshot buffers (measured:
    0.92 GB peak for 126 digits networks), not a whole single-network job per network."""
    from topolearn.sweep import jobsize

    p = normalize_point({"dataset": "digits", "depth": 2, "width": 32})
    one, many = jobsize.pack_mem_mb([p], 50), jobsize.pack_mem_mb([p] * 128, 50)
    assert one == jobsize.train_mem_mb(p, 50)
    assert one < many < 4000
