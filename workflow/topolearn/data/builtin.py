"""The built-in datasets: scikit-learn's digits, and MNIST-like IDX files fetched and verified by checksum.

Every loader returns (X_train, y_train, X_test, y_test): float32 pixels in [0, 1], flattened, and
int64 labels. IDX files live under {data_root}/{dataset}/ with their standard names, gzipped or not.
"""

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

from .errors import DataError
from .idx import IDX_NAMES, find_idx, parse_idx, read_bytes
from .registry import DATASETS

# Mirrors tried in order. yann.lecun.com does not serve MNIST reliably; PyTorch's S3 copy does.
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
        path = find_idx(folder, name)
        if path is not None:
            raw, payload = read_bytes(path)
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


def load_digits():
    """scikit-learn's 8x8 digits, pixels/16, stratified 80/20 split with a fixed seed: 1437/360."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    X = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    return X_train, y_train, X_test, y_test


def load_idx_dataset(dataset: str, data_root, verify: bool = True):
    """A built-in IDX dataset from {data_root}/{dataset}/, each file checked against its checksum."""
    folder = Path(data_root) / dataset
    arrays = {}
    for name in IDX_NAMES:
        path = find_idx(folder, name)
        if path is None:
            raise DataError(
                f"{dataset}: {folder}/{name}.gz (or uncompressed {name}) is missing; run the workflow's "
                f"fetch_data rule where there is internet, or copy it from {_urls(dataset, name)[0]}")
        raw, payload = read_bytes(path)
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
