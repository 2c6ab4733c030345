"""Datasets: IDX reading (generated and real Fashion-MNIST), checksums, fetching, digits."""

import gzip
import hashlib
import io
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from topolearn.data import builtin as data
from topolearn.data import idx
from topolearn.data import DataError, fetch_dataset, load_dataset, read_idx, read_idx_header

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(not (DEBIAN_FASHION / "t10k-labels-idx1-ubyte.gz").is_file(),
                                   reason="Debian package dataset-fashion-mnist not installed (make sysdeps)")

CODES = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">i4"): 0x0C,
         np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}


def idx_bytes(a: np.ndarray) -> bytes:
    """Encode an array as IDX (big-endian), independently of the reader under test."""
    dt = a.dtype.newbyteorder(">") if a.dtype.itemsize > 1 else a.dtype
    header = bytes([0, 0, CODES[np.dtype(dt)], a.ndim]) + np.array(a.shape, ">u4").tobytes()
    return header + a.astype(dt).tobytes()


def write(path: Path, payload: bytes, gz: bool) -> Path:
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


# ---------------------------------------------------------------- IDX format


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype,shape", [("u1", (5, 3, 4)), ("i1", (7,)), ("i2", (2, 3)), ("i4", (4, 1)),
                                         ("f4", (3, 2, 2)), ("f8", (6,))])
def test_idx_roundtrip(tmp_path, gz, dtype, shape):
    rng = np.random.default_rng(0)
    a = (rng.normal(size=shape) * 100).astype(dtype)
    got = read_idx(write(tmp_path / "x.idx", idx_bytes(a), gz))
    assert got.shape == shape and got.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(got, a)


@pytest.mark.parametrize("mutate,message", [
    (lambda b: b"\x01" + b[1:], "bad IDX magic number"),
    (lambda b: b[:2] + b"\x07" + b[3:], "bad IDX magic number"),
    (lambda b: b[:3] + b"\x00" + b[4:], "bad IDX magic number"),
    (lambda b: b[:-1], "truncated: 75 bytes"),
    (lambda b: b + b"\x00", "trailing bytes: 77 bytes"),
    (lambda b: b[:9], "truncated header"),
    (lambda b: b[:2], "too short"),
])
def test_malformed_idx_is_refused_with_a_clear_error(tmp_path, mutate, message):
    good = idx_bytes(np.zeros((4, 3, 5), np.uint8))  # 16-byte header + 60 bytes
    assert len(good) == 76
    path = write(tmp_path / "bad-idx3-ubyte", mutate(good), gz=False)
    with pytest.raises(DataError, match=message) as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_damaged_gzip_is_refused(tmp_path):
    raw = gzip.compress(idx_bytes(np.zeros(100, np.uint8)))
    path = tmp_path / "x.gz"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="damaged gzip"):
        read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_header_read_agrees_with_the_full_read(tmp_path, gz):
    a = np.arange(2 * 3 * 5, dtype=">i2").reshape(2, 3, 5)
    path = write(tmp_path / "x.idx", idx_bytes(a), gz)
    dtype, dims = read_idx_header(path)
    assert dims == (2, 3, 5) and dtype == np.dtype(">i2") and read_idx(path).shape == dims


@pytest.mark.parametrize("mutate,message", [
    (lambda b: b"\x01" + b[1:], "bad IDX magic number"),
    (lambda b: b[:3] + b"\x00" + b[4:], "bad IDX magic number"),
    (lambda b: b[:9], "truncated header"),
    (lambda b: b[:2], "too short"),
])
def test_header_read_refuses_what_the_full_read_refuses(tmp_path, mutate, message):
    path = write(tmp_path / "bad-idx3-ubyte", mutate(idx_bytes(np.zeros((4, 3, 5), np.uint8))), gz=False)
    with pytest.raises(DataError, match=message) as err:
        read_idx_header(path)
    assert str(path) in str(err.value)


@needs_fashion
def test_reads_debian_fashion_mnist():
    labels = read_idx(DEBIAN_FASHION / "t10k-labels-idx1-ubyte.gz")
    images = read_idx(DEBIAN_FASHION / "t10k-images-idx3-ubyte.gz")
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.array_equal(np.bincount(labels), np.full(10, 1000))  # balanced test set
    assert images.max() == 255 and images.min() == 0


@needs_fashion
def test_load_fashion_mnist_arrays():
    X, y, Xt, yt = load_dataset("fashion-mnist", DEBIAN_FASHION.parent)
    assert X.shape == (60000, 784) and Xt.shape == (10000, 784)
    assert X.dtype == Xt.dtype == np.float32 and y.dtype == yt.dtype == np.int64
    assert 0.0 == X.min() and X.max() == 1.0
    assert np.array_equal(np.bincount(y), np.full(10, 6000))
    # the first training image is an ankle boot (label 9) in the upstream files
    assert y[0] == 9


# ---------------------------------------------------------------- checksums


@needs_fashion
def test_debian_files_are_the_upstream_content_recompressed():
    """What we found: Debian's .gz bytes differ from upstream's (recompressed in 2020), the IDX
    payload is identical; the payload md5 published upstream is how such copies are accepted."""
    for name in data.IDX_NAMES:
        raw, payload = idx.read_bytes(DEBIAN_FASHION / f"{name}.gz")
        assert data._sha256(raw) != data.GZ_SHA256["fashion-mnist"][name]
        assert data._md5(payload) == data.PAYLOAD_MD5["fashion-mnist"][name]


def test_wrong_checksum_names_file_and_hashes(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    path = write(folder / "t10k-labels-idx1-ubyte.gz", idx_bytes(np.zeros(10000, np.uint8)), gz=True)
    with pytest.raises(DataError) as err:
        fetch_dataset("mnist", tmp_path, names=["t10k-labels-idx1-ubyte"])
    msg = str(err.value)
    assert str(path) in msg and "checksum mismatch" in msg
    assert data.GZ_SHA256["mnist"]["t10k-labels-idx1-ubyte"] in msg  # expected
    assert data.PAYLOAD_MD5["mnist"]["t10k-labels-idx1-ubyte"] in msg
    assert data._sha256(path.read_bytes()) in msg  # actual


@needs_fashion
def test_training_refuses_a_file_with_a_wrong_checksum(tmp_path):
    shutil.copytree(DEBIAN_FASHION, tmp_path / "fashion-mnist")
    labels = tmp_path / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz"
    write(labels, idx_bytes(np.zeros(10000, np.uint8)), gz=True)  # right shape, wrong content
    with pytest.raises(DataError, match=f"{labels}: checksum mismatch"):
        load_dataset("fashion-mnist", tmp_path)


def _no_download(*args, **kwargs):
    raise AssertionError("a pre-staged file must never be downloaded")


@needs_fashion
def test_prestaged_files_are_verified_and_used_as_they_are(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_download", _no_download)
    shutil.copytree(DEBIAN_FASHION, tmp_path / "fashion-mnist")
    before = {p.name: p.read_bytes() for p in (tmp_path / "fashion-mnist").iterdir()}
    paths = fetch_dataset("fashion-mnist", tmp_path)
    assert [p.name for p in paths] == [f"{n}.gz" for n in data.IDX_NAMES]
    assert {p.name: p.read_bytes() for p in (tmp_path / "fashion-mnist").iterdir()} == before


@needs_fashion
def test_uncompressed_prestaged_file_gets_a_verified_gz(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_download", _no_download)
    name = "t10k-labels-idx1-ubyte"
    (tmp_path / "fashion-mnist").mkdir()
    payload = gzip.decompress((DEBIAN_FASHION / f"{name}.gz").read_bytes())
    (tmp_path / "fashion-mnist" / name).write_bytes(payload)
    (gz,) = fetch_dataset("fashion-mnist", tmp_path, names=[name])
    assert gz == tmp_path / "fashion-mnist" / f"{name}.gz"
    assert gzip.decompress(gz.read_bytes()) == payload


def test_missing_files_without_network_say_what_to_put_where(tmp_path, monkeypatch):
    import pooch

    def offline(url, **kwargs):
        raise ConnectionError(f"Failed to resolve host of {url}")

    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(DataError) as err:
        fetch_dataset("kmnist", tmp_path)
    msg = str(err.value)
    assert f"Put these files (gzipped or not) into {(tmp_path / 'kmnist').resolve()}/" in msg
    for name in data.IDX_NAMES:
        assert f"{name}.gz  from one of: {data.MIRRORS['kmnist'][0]}{name}.gz" in msg
    assert "Failed to resolve" in msg


def test_download_goes_through_pooch_with_the_known_hash(tmp_path, monkeypatch):
    import pooch

    calls = []

    def fake_retrieve(url, known_hash, fname, path, progressbar):
        calls.append((url, known_hash))
        if len(calls) == 1:
            raise ValueError("SHA256 hash of downloaded file does not match")  # a bad first mirror
        target = Path(path) / fname
        target.write_bytes(b"verified by pooch")
        return str(target)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    (got,) = fetch_dataset("mnist", tmp_path, names=["train-labels-idx1-ubyte"])
    assert got == tmp_path / "mnist" / "train-labels-idx1-ubyte.gz"
    want = "sha256:" + data.GZ_SHA256["mnist"]["train-labels-idx1-ubyte"]
    assert calls == [(m + "train-labels-idx1-ubyte.gz", want) for m in data.MIRRORS["mnist"]]


# ---------------------------------------------------------------- digits


def test_digits_split():
    X, y, Xt, yt = load_dataset("digits")
    assert X.shape == (1437, 64) and Xt.shape == (360, 64)
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.abs(np.bincount(yt) - 36).max() <= 1  # stratified
    X2, *_ = load_dataset("digits")
    assert np.array_equal(X, X2)


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'cifar'"):
        load_dataset("cifar")


# ---------------------------------------------------------------- own datasets (config `datasets:`)


def _declare(name, fmt, path, **base):
    """A validated config declaring one dataset and sweeping one tiny point on it."""
    from topolearn.sweep.config import validate_config

    point = {"dataset": name, "depth": 1, "width": 3, "epochs": 1, "batch_size": 100, "snapshots": 2, **base}
    return validate_config({"datasets": {name: {"format": fmt, "path": str(path)}}, "sweep": {"base": point}})


def _train_only_point(cfg, tmp_path, source):
    from topolearn.train import train_run

    (point,) = cfg["points"].values()
    return train_run(point, tmp_path / "store.zarr", tmp_path / "scratch", source, log=io.StringIO())


def _write_idx_set(folder: Path, splits: dict, gz=True) -> Path:
    """The four standard IDX files from {split: (images, labels)}; split is train or t10k."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, (X, y) in splits.items():
        suffix = ".gz" if gz else ""
        write(folder / f"{split}-images-idx3-ubyte{suffix}", idx_bytes(X), gz)
        write(folder / f"{split}-labels-idx1-ubyte{suffix}", idx_bytes(y), gz)
    return folder


def _toy_images(rng, n, side=6):
    """uint8 images whose class (0..3) is the brightest quadrant: learnable in one epoch."""
    y = rng.integers(0, 4, n).astype(np.uint8)
    X = rng.integers(0, 60, (n, side, side)).astype(np.uint8)
    h = side // 2
    for c in range(4):
        r, k = divmod(c, 2)
        X[y == c, r * h:(r + 1) * h, k * h:(k + 1) * h] += 180
    return X, y


@needs_fashion
def test_idx_subset_of_fashion_mnist_trains_with_its_real_sizes(tmp_path):
    from topolearn.sweep.schema import ConfigError
    from topolearn.data import dataset_fingerprint

    X, y = read_idx(DEBIAN_FASHION / "train-images-idx3-ubyte.gz"), read_idx(DEBIAN_FASHION / "train-labels-idx1-ubyte.gz")
    Xt, yt = read_idx(DEBIAN_FASHION / "t10k-images-idx3-ubyte.gz"), read_idx(DEBIAN_FASHION / "t10k-labels-idx1-ubyte.gz")
    folder = _write_idx_set(tmp_path / "fm10k", {"train": (X[:10000], y[:10000])})
    _write_idx_set(folder, {"t10k": (Xt[:2000], yt[:2000])}, gz=False)  # gzipped or not, mixed

    cfg = _declare("fm10k", "idx", folder, init="xavier", lr=0.5, width=16, epochs=2)
    info = cfg["registry"]["fm10k"]
    assert (info.n_train, info.n_test, info.image_shape, info.n_classes) == (10000, 2000, (28, 28), 10)
    (point,) = cfg["points"].values()
    assert point["probe_size"] == 1000  # min(1000, the real test set)
    with pytest.raises(ConfigError, match="train_size: 10001 is invalid; fm10k has 10000 training samples"):
        _declare("fm10k", "idx", folder, train_size=10001)
    with pytest.raises(ConfigError, match="probe_size: 2001 is invalid; fm10k has 2000 test samples"):
        _declare("fm10k", "idx", folder, probe_size=2001)

    raw = {"datasets": {"fm10k": {"format": "idx", "path": str(folder)}}}  # as a job's raw config
    attrs = _train_only_point(cfg, tmp_path, raw)
    assert attrs["n_snapshots"] == 2 and attrs["final_eval"]["test_acc"] > 0.3  # well above chance
    X_train, y_train, X_test, _ = load_dataset("fm10k", raw)
    assert X_train.shape == (10000, 784) and X_test.shape == (2000, 784) and X_train.max() == 1.0
    assert np.array_equal(y_train, y[:10000])
    prints = dataset_fingerprint("fm10k", raw)
    assert sorted(Path(p).name for p in prints) == sorted(
        [f"train-{k}.gz" for k in ("images-idx3-ubyte", "labels-idx1-ubyte")]
        + [f"t10k-{k}" for k in ("images-idx3-ubyte", "labels-idx1-ubyte")])
    for path, digest in prints.items():
        assert digest == hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_npz_dataset_trains_and_scales_pixels(tmp_path):
    from topolearn.sweep.points import normalize_point

    rng = np.random.default_rng(0)
    X, y = _toy_images(rng, 400)
    Xt, yt = _toy_images(rng, 120)
    path = tmp_path / "quadrants.npz"
    np.savez(path, x_train=X, y_train=y.astype(np.int64), x_test=Xt, y_test=yt.astype(np.int32))
    cfg = _declare("quadrants", "npz", path, lr=2.0, init="xavier", epochs=3, snapshots=4)
    info = cfg["registry"]["quadrants"]
    assert (info.n_train, info.n_test, info.image_shape, info.n_classes, info.n_features) == (400, 120, (6, 6), 4, 36)
    X_train, y_train, X_test, y_test = load_dataset("quadrants", cfg)
    np.testing.assert_array_equal(X_train, X.reshape(400, 36) / np.float32(255))  # uint8 -> / 255
    assert X_train.dtype == np.float32 and y_test.dtype == np.int64
    attrs = _train_only_point(cfg, tmp_path, cfg)
    assert attrs["final_eval"]["test_acc"] > 0.5  # four classes: chance is 0.25
    (point,) = cfg["points"].values()
    assert point["probe_size"] == 120 and normalize_point(point) == point  # later stages may normalize again

    floats = tmp_path / "floats.npz"
    np.savez(floats, x_train=X.astype(np.float64) - 100, y_train=y, x_test=Xt.astype(np.float64) - 100, y_test=yt)
    floats_cfg = _declare("floats", "npz", floats)
    np.testing.assert_array_equal(load_dataset("floats", floats_cfg)[0],
                                  X.reshape(400, 36).astype(np.float32) - 100)  # kept


def _npz(path, **override):
    rng = np.random.default_rng(1)
    X, y = _toy_images(rng, 150)
    arrays = {"x_train": X, "y_train": y, "x_test": X[:20], "y_test": y[:20], **override}
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


@pytest.mark.parametrize("override,message", [
    ({"y_test": None}, r"no array 'y_test' \(an npz dataset needs x_train, y_train, x_test, y_test"),
    ({"x_train": np.zeros((150, 6, 6), np.int64)}, "x_train: pixels of type int64 are not supported; use uint8"),
    ({"y_train": np.zeros(149, np.int64)}, "y_train: 149 labels for 150 images"),
    ({"y_train": np.full(150, -1)}, "y_train: negative label -1"),
    ({"y_train": np.zeros(150, np.float32)}, "y_train: labels of shape .150,. and type float32"),
    ({"x_test": np.zeros((20, 36), np.uint8)}, r"training samples have shape \(6, 6\), test samples \(36,\)"),
])
def test_bad_npz_declaration_is_refused_before_any_job(tmp_path, override, message):
    from topolearn.sweep.schema import ConfigError

    with pytest.raises(ConfigError, match=message):
        _declare("mine", "npz", _npz(tmp_path / "d.npz", **override))


def test_bad_idx_declaration_and_names_are_refused(tmp_path):
    from topolearn.sweep.schema import ConfigError
    from topolearn.sweep.config import validate_config

    rng = np.random.default_rng(2)
    folder = _write_idx_set(tmp_path / "small", {"train": _toy_images(rng, 300), "t10k": _toy_images(rng, 10)})
    assert _declare("small", "idx", folder)["points"]
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ConfigError, match="datasets.small: .*t10k-labels-idx1-ubyte.gz .or uncompressed .* is missing"):
        _declare("small", "idx", folder)
    with pytest.raises(ConfigError, match="datasets.small.path: .* does not exist"):
        _declare("small", "idx", tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="datasets.small.path: .* is not a folder"):
        _declare("small", "idx", _npz(tmp_path / "d.npz"))
    with pytest.raises(ConfigError, match="datasets.mnist: 'mnist' is a built-in dataset and cannot be redeclared"):
        _declare("mnist", "npz", _npz(tmp_path / "d.npz"))
    with pytest.raises(ConfigError, match="datasets.x.format: 'csv' is invalid; allowed: idx, npz"):
        validate_config({"datasets": {"x": {"format": "csv", "path": "a"}}})
    with pytest.raises(ConfigError, match="sweep.base.dataset: .cifar. is invalid; allowed: digits, mnist"):
        validate_config({"sweep": {"base": {"dataset": "cifar"}}})


def test_validation_returns_the_registry_and_changes_no_global(tmp_path):
    from topolearn.sweep.schema import ConfigError
    from topolearn.sweep.config import validate_config
    from topolearn.data import BUILTIN_DATASETS, DATASETS, dataset_files

    cfg = _declare("mine", "npz", _npz(tmp_path / "d.npz"))
    assert set(cfg["registry"]) == BUILTIN_DATASETS | {"mine"} and cfg["registry"]["mine"].n_train == 150
    assert set(DATASETS) == BUILTIN_DATASETS  # the built-in registry is never changed...
    with pytest.raises(TypeError):
        DATASETS["mine"] = cfg["registry"]["mine"]  # ...nor changeable
    assert dataset_files("mine", cfg) == [tmp_path / "d.npz"]  # a validated config is a data source
    with pytest.raises(KeyError):
        dataset_files("mine")  # a data folder alone knows only the built-ins
    assert set(validate_config({})["registry"]) == BUILTIN_DATASETS
    with pytest.raises(ConfigError, match="'mine' is invalid"):
        validate_config({"sweep": {"base": {"dataset": "mine"}}})


def test_a_damaged_declared_file_is_refused_with_the_config(tmp_path):
    from topolearn.sweep.schema import ConfigError

    rng = np.random.default_rng(3)
    folder = _write_idx_set(tmp_path / "small", {"train": _toy_images(rng, 30), "t10k": _toy_images(rng, 10)})
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(gzip.decompress(labels.read_bytes())[:-1]))  # one label short
    with pytest.raises(ConfigError, match=f"{labels}: truncated: "):
        _declare("small", "idx", folder)


# ---------------------------------------------------------------- faults in own data: one line before any job


def _good_idx_set(folder: Path, gz=False, n=150) -> Path:
    rng = np.random.default_rng(4)
    return _write_idx_set(folder, {"train": _toy_images(rng, n), "t10k": _toy_images(rng, 20)}, gz=gz)


@pytest.mark.parametrize("gz", [False, True])
def test_a_half_copied_image_file_is_refused_at_plan_time(tmp_path, gz):
    from topolearn.sweep.schema import ConfigError

    folder = _good_idx_set(tmp_path / "own", gz=gz)
    images = folder / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    raw = images.read_bytes()
    images.write_bytes(raw[: len(raw) // 2])  # an interrupted copy: the header promises more
    kind = "damaged gzip file" if gz else "truncated: "
    with pytest.raises(ConfigError, match=f"{re.escape(str(images))}: {kind}"):
        _declare("own", "idx", folder)
    if gz:  # a whole gzip stream of half the payload: its trailer's size disagrees with the header
        images.write_bytes(gzip.compress(gzip.decompress(raw)[:-7]))
        with pytest.raises(ConfigError, match=f"{re.escape(str(images))}: truncated: "):
            _declare("own", "idx", folder)


@pytest.mark.parametrize("mutate,message", [
    (lambda b: b[:-3], "truncated: "),
    (lambda b: b"\x01" + b[1:], "bad IDX magic number"),
    (lambda b: b[:6], "truncated header"),
])
def test_a_bad_labels_file_is_one_line_from_validation_and_the_stale_command(tmp_path, capsys, mutate, message):
    from topolearn.__main__ import main
    from topolearn.sweep.schema import ConfigError

    folder = _good_idx_set(tmp_path / "own")
    labels = folder / "train-labels-idx1-ubyte"
    labels.write_bytes(mutate(labels.read_bytes()))
    with pytest.raises(ConfigError, match=f"{re.escape(str(labels))}: {message}"):
        _declare("own", "idx", folder)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"results": str(tmp_path / "r"), "datasets": {"own": {"format": "idx", "path": str(folder)}},
                                   "sweep": {"base": {"dataset": "own", "batch_size": 10, "snapshots": 2}}}))
    assert main(["stale", "--configfile", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("topolearn: invalid config: ") and err.count("\n") == 1 and message in err


def test_pickled_labels_in_an_npz_are_one_line(tmp_path, capsys):
    from topolearn.__main__ import main
    from topolearn.sweep.schema import ConfigError

    rng = np.random.default_rng(5)
    X, y = _toy_images(rng, 150)
    path = _npz(tmp_path / "d.npz", y_train=np.array(list(y), dtype=object))
    with pytest.raises(ConfigError, match="d.npz: array 'y_train' holds pickled Python objects"):
        _declare("mine", "npz", path)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"results": str(tmp_path / "r"), "datasets": {"mine": {"format": "npz", "path": str(path)}},
                                   "sweep": {"base": {"dataset": "mine", "batch_size": 10, "snapshots": 2}}}))
    assert main(["stale", "--configfile", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("topolearn: invalid config: ") and err.count("\n") == 1 and "pickled" in err


def test_a_cut_npz_is_refused_at_plan_time(tmp_path):
    from topolearn.sweep.schema import ConfigError

    path = _npz(tmp_path / "d.npz")
    raw = bytearray(path.read_bytes())
    raw[200] ^= 0xFF  # inside x_train's data: the zip CRC no longer matches
    path.write_bytes(bytes(raw))
    with pytest.raises(ConfigError, match="d.npz: "):
        _declare("mine", "npz", path)


def test_non_finite_pixels_are_refused_with_file_array_and_count(tmp_path):
    from topolearn.sweep.schema import ConfigError

    rng = np.random.default_rng(6)
    X = _toy_images(rng, 150)[0].astype(np.float32)
    X[0, 0, 0], X[3, 2, 1] = np.nan, np.inf
    with pytest.raises(ConfigError, match=r"d.npz: x_train holds 1 NaN and 1 inf value\(s\)"):
        _declare("mine", "npz", _npz(tmp_path / "d.npz", x_train=X))
    Xt = _toy_images(rng, 20)[0].astype(np.float64)
    Xt[1, 1, 1] = -np.inf
    with pytest.raises(ConfigError, match=r"e.npz: x_test holds 0 NaN and 1 inf value\(s\)"):
        _declare("mine", "npz", _npz(tmp_path / "e.npz", x_test=Xt))
    folder = _write_idx_set(tmp_path / "own", {"train": (X, _toy_images(rng, 150)[1]), "t10k": _toy_images(rng, 20)})
    with pytest.raises(ConfigError, match=r"train-images-idx3-ubyte.gz: images holds 1 NaN and 1 inf"):
        _declare("own", "idx", folder)


def test_float16_pixels_are_refused_as_the_docs_say(tmp_path):
    from topolearn.sweep.schema import ConfigError

    rng = np.random.default_rng(7)
    with pytest.raises(ConfigError, match="x_train: pixels of type float16 are not supported; use uint8 .* or float32/float64"):
        _declare("mine", "npz", _npz(tmp_path / "d.npz", x_train=_toy_images(rng, 150)[0].astype(np.float16)))
    assert _declare("mine", "npz", _npz(tmp_path / "e.npz", x_train=_toy_images(rng, 150)[0].astype(np.float32)))


def test_a_tilde_in_a_dataset_path_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    _npz(tmp_path / "d.npz")
    cfg = _declare("mine", "npz", "~/d.npz")
    assert cfg["registry"]["mine"].path == str(tmp_path / "d.npz")
    assert load_dataset("mine", cfg)[0].shape == (150, 36)


def test_gz_beside_a_different_uncompressed_file_is_ambiguous(tmp_path):
    from topolearn.sweep.schema import ConfigError

    folder = _good_idx_set(tmp_path / "own", gz=True)
    gz = folder / "train-labels-idx1-ubyte.gz"
    (folder / "train-labels-idx1-ubyte").write_bytes(gzip.decompress(gz.read_bytes()))  # the same: fine
    assert _declare("own", "idx", folder)["points"]
    y = read_idx(gz)
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes((y + 1) % 4))
    with pytest.raises(ConfigError, match="both train-labels-idx1-ubyte.gz and train-labels-idx1-ubyte exist and hold "
                                          "different data; ambiguous"):
        _declare("own", "idx", folder)


def test_one_class_is_refused(tmp_path):
    from topolearn.sweep.schema import ConfigError

    with pytest.raises(ConfigError, match=r"datasets.mine: the training labels hold only class \[2\]; a classifier "
                                          "needs at least 2 classes"):
        _declare("mine", "npz", _npz(tmp_path / "d.npz", y_train=np.full(150, 2, np.uint8)))
