"""Datasets: IDX reading (generated and real Fashion-MNIST), checksums, fetching, digits."""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from topolearn import data
from topolearn.data import DataError, fetch_dataset, load_dataset, parse_idx, read_idx

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
        raw, payload = data._read_bytes(DEBIAN_FASHION / f"{name}.gz")
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
