"""Datasets as in-memory arrays: scikit-learn's digits, and MNIST-like IDX files verified by checksum.

Every loader returns (X_train, y_train, X_test, y_test): float32 pixels in [0, 1], flattened, and
int64 labels. IDX files live under {data_root}/{dataset}/ with their standard names, gzipped or not.
"""

import gzip
import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from .registry import DATASETS
from .toy import is_toy, load_toy_point, normalize_toy_point

log = logging.getLogger(__name__)

IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# Mirrors tried in order. yann.lecun.com no longer serves MNIST reliably; PyTorch's S3 copy does.
MIRRORS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/"],
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                      "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"],
    "kmnist": ["https://codh.rois.ac.jp/kmnist/dataset/kmnist/",
               "http://codh.rois.ac.jp/kmnist/dataset/kmnist/"],
}

# sha256 of the upstream .gz files, as recorded by torchvision (prototype datasets; its stable API
# records the matching md5s). Debian's dataset-fashion-mnist recompresses the files, so their .gz
# bytes differ while the IDX payload is identical: PAYLOAD_MD5 (md5 of the uncompressed file, as
# published upstream for MNIST and Fashion-MNIST) accepts such copies and uncompressed files.
GZ_SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    "kmnist": {
        "train-images-idx3-ubyte": "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
        "train-labels-idx1-ubyte": "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
        "t10k-images-idx3-ubyte": "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
        "t10k-labels-idx1-ubyte": "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
    },
}
PAYLOAD_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
    "kmnist": {},  # no upstream checksum of the uncompressed files is published
}

# IDX type codes (third magic byte) -> big-endian numpy dtypes.
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataError(RuntimeError):
    """A dataset that is missing, damaged or not what its name promises; the message says what to do."""


# ---------------------------------------------------------------- IDX format


def parse_idx(buf: bytes, where: str = "IDX data") -> np.ndarray:
    """Decode IDX bytes: 2 zero bytes, a type code, the number of dims, dims as big-endian uint32."""
    if len(buf) < 4:
        raise DataError(f"{where}: {len(buf)} bytes, too short for an IDX header")
    if buf[0] != 0 or buf[1] != 0 or buf[2] not in IDX_DTYPES or buf[3] == 0:
        raise DataError(f"{where}: bad IDX magic number {buf[:4].hex()} (expected 0000 + type code "
                        f"{'/'.join(f'{c:02x}' for c in IDX_DTYPES)} + number of dims >= 1)")
    ndim, header = buf[3], 4 + 4 * buf[3]
    if len(buf) < header:
        raise DataError(f"{where}: truncated header ({len(buf)} bytes, {ndim} dims need {header})")
    dims = tuple(int(d) for d in np.frombuffer(buf, ">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[buf[2]])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(buf) != expected:
        kind = "truncated" if len(buf) < expected else "trailing bytes"
        raise DataError(f"{where}: {kind}: {len(buf)} bytes, dims {dims} of {dtype.name} need {expected}")
    return np.frombuffer(buf, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="), copy=False)


def _read_bytes(path: Path) -> tuple[bytes, bytes]:
    """(file bytes, IDX payload): gzip is recognised by its magic number, not the file name."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return raw, gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: damaged gzip file ({exc})") from None
    return raw, raw


def read_idx(path) -> np.ndarray:
    """Read one IDX file (gzipped or not) into a numpy array, validating magic, dims and size."""
    path = Path(path)
    return parse_idx(_read_bytes(path)[1], str(path))


# ---------------------------------------------------------------- checksums and fetching


def _sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _md5(b: bytes) -> str:
    return hashlib.md5(b, usedforsecurity=False).hexdigest()


def verify_idx_bytes(dataset: str, name: str, raw: bytes, payload: bytes, where) -> None:
    """Accept the upstream .gz (sha256) or any container of the upstream payload (md5); else raise."""
    if raw is not payload and _sha256(raw) == GZ_SHA256[dataset][name]:
        return
    want = PAYLOAD_MD5[dataset].get(name)
    if want is None:
        raise DataError(
            f"{where}: checksum mismatch: expected the upstream {name}.gz with sha256 "
            f"{GZ_SHA256[dataset][name]}, got sha256 {_sha256(raw)} (no checksum of the "
            f"uncompressed {dataset} file is published: use the original .gz files)")
    got = _md5(payload)
    if got != want:
        raise DataError(
            f"{where}: checksum mismatch: expected the upstream {name}.gz (sha256 "
            f"{GZ_SHA256[dataset][name]}) or its uncompressed content (md5 {want}); got file sha256 "
            f"{_sha256(raw)}, content md5 {got}. Delete or replace the file.")


def _present(folder: Path, name: str) -> Path | None:
    for p in (folder / f"{name}.gz", folder / name):
        if p.is_file():
            return p
    return None


def _urls(dataset: str, name: str) -> list[str]:
    return [m + name + ".gz" for m in MIRRORS[dataset]]


def _download(dataset: str, name: str, folder: Path) -> Path:
    """Download {name}.gz with pooch (sha256 checked); try each mirror; raise with every error."""
    import pooch

    errors = []
    for url in _urls(dataset, name):
        try:
            return Path(pooch.retrieve(url, known_hash=f"sha256:{GZ_SHA256[dataset][name]}",
                                       fname=f"{name}.gz", path=folder, progressbar=False))
        except Exception as exc:  # network down, HTTP error, or a mirror serving other bytes
            errors.append(f"{url}: {type(exc).__name__}: {str(exc)[:160]}")
    raise DataError("; ".join(errors))


def _gzip_into_place(src: Path, dst: Path) -> None:
    """Compress a verified uncompressed file next to it (mtime 0: identical bytes every time)."""
    tmp = dst.with_name(dst.name + ".tmp")
    with open(src, "rb") as fin, open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(fin.read())
    os.replace(tmp, dst)


def fetch_dataset(dataset: str, data_root, names=IDX_NAMES) -> list[Path]:
    """Make {data_root}/{dataset}/{name}.gz present and verified for each IDX name.

    Files already there (gzipped or not) are verified and used as they are, never re-downloaded;
    an uncompressed one also gets a verified .gz copy (the workflow's declared file). Missing files
    are downloaded with pooch against known sha256 checksums.
    """
    if dataset not in GZ_SHA256:
        raise DataError(f"{dataset}: not an IDX dataset (allowed: {', '.join(GZ_SHA256)})")
    folder = Path(data_root) / dataset
    out, missing = [], {}
    for name in names:
        path = _present(folder, name)
        if path is not None:
            raw, payload = _read_bytes(path)
            verify_idx_bytes(dataset, name, raw, payload, path)
            parse_idx(payload, str(path))
            gz = folder / f"{name}.gz"
            if path != gz:
                _gzip_into_place(path, gz)
            out.append(gz)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        try:
            out.append(_download(dataset, name, folder))
        except DataError as exc:
            missing[name] = str(exc)
    if missing:
        lines = [f"{dataset}: {len(missing)} IDX file(s) missing and could not be downloaded.",
                 f"Put these files (gzipped or not) into {folder.resolve()}/ and run again:"]
        for name in missing:
            lines.append(f"  {name}.gz  from one of: {', '.join(_urls(dataset, name))}")
        lines.append(f"First download error: {next(iter(missing.values()))}")
        raise DataError("\n".join(lines))
    return out


# ---------------------------------------------------------------- loading


def _load_digits():
    """scikit-learn's 8x8 digits, pixels/16, stratified 80/20 split with a fixed seed: 1437/360."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    X = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    return X_train, y_train, X_test, y_test


def _load_idx_dataset(dataset: str, data_root, verify: bool):
    folder = Path(data_root) / dataset
    arrays = {}
    for name in IDX_NAMES:
        path = _present(folder, name)
        if path is None:
            raise DataError(
                f"{dataset}: {folder}/{name}.gz (or uncompressed {name}) is missing; run the workflow's "
                f"fetch_data rule where there is internet, or copy it from {_urls(dataset, name)[0]}")
        raw, payload = _read_bytes(path)
        if verify:
            verify_idx_bytes(dataset, name, raw, payload, path)
        arrays[name] = parse_idx(payload, str(path))
    info = DATASETS[dataset]
    out = []
    for split, n in (("train", info.n_train), ("t10k", info.n_test)):
        X, y = arrays[f"{split}-images-idx3-ubyte"], arrays[f"{split}-labels-idx1-ubyte"]
        if X.shape != (n, *info.image_shape) or y.shape != (n,):
            raise DataError(f"{dataset} {split}: images {X.shape} / labels {y.shape}, expected "
                            f"{(n, *info.image_shape)} / {(n,)}")
        if y.min() < 0 or y.max() >= info.n_classes:
            raise DataError(f"{dataset} {split}: labels outside 0..{info.n_classes - 1}")
        out += [np.divide(X.reshape(n, -1), np.float32(255), dtype=np.float32), y.astype(np.int64)]
    return tuple(out)


def load_dataset(name: str, data_root="data", verify: bool = True, point: dict | None = None):
    """(X_train, y_train, X_test, y_test): float32 in [0, 1] flattened, int64 labels.

    Toy datasets (topolearn.data.toy) are generated from the point's toy fields (defaults without
    a point): float32 coordinates, not in [0, 1].
    """
    from .declared import is_declared, load_declared, use_config  # (it imports this module)

    data_root = use_config(data_root)  # a config mapping: its data_root, and its `datasets:` registered
    if name == "digits":
        return tuple(_load_digits())
    if is_declared(name):
        return load_declared(name)
    if is_toy(name):
        return load_toy_point(normalize_toy_point(name, point))
    if name not in GZ_SHA256:
        raise DataError(f"unknown dataset {name!r} (allowed: digits, {', '.join(GZ_SHA256)})")
    return _load_idx_dataset(name, data_root, verify)
