"""Datasets a user declares in the config (`datasets: {name: {format: idx|npz, path: ...}}`).

Declaring reads only what sizes need (IDX headers, .npy headers inside the .npz, and the labels
for the number of classes), so validating a config stays cheap; no checksum is required: the
files' sha256 are recorded in each store instead (`dataset_fingerprint`). The registry
`topolearn.data.registry.DATASETS` then holds the built-ins plus exactly the last declared set, so
every size check (train_size, probe_size, batch_size, job sizes) uses the real sizes.

Pixels: uint8 -> / 255; float arrays kept as they are (as float32); other dtypes are refused.
Images are flattened; labels must be integers >= 0 (classes = largest label + 1).
"""

import gzip
import hashlib
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .builtin import DataError, read_idx
from .registry import BUILTIN_DATASETS, DATASETS, DatasetInfo

FORMATS = ("idx", "npz")
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
IDX_SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DatasetSpecError(DataError):
    """A declared dataset whose files are missing or unusable; the message names the file and the fix."""


# ---------------------------------------------------------------- registry


def register_user_datasets(section: Mapping | None) -> None:
    """Make DATASETS the built-ins plus exactly the datasets of a config's `datasets:` section.

    Called by config.validate_config; a job running in its own process (Snakemake scripts) calls it
    with its config's section before loading data (load_dataset does when given the config).
    """
    for name in [n for n, info in DATASETS.items() if info.format is not None]:
        del DATASETS[name]
    for name, spec in (section or {}).items():
        if name in BUILTIN_DATASETS:
            raise DatasetSpecError(f"datasets.{name}: {name!r} is a built-in dataset and cannot be redeclared; "
                                   f"choose another name (built-in: {', '.join(sorted(BUILTIN_DATASETS))})")
        DATASETS[name] = declared_info(spec["format"], spec["path"], where=f"datasets.{name}")


def declared_info(fmt: str, path, where: str) -> DatasetInfo:
    """Sizes, sample shape and classes of a declared dataset, read from its headers and labels."""
    if fmt not in FORMATS:
        raise DatasetSpecError(f"{where}.format: {fmt!r} is invalid; allowed: {', '.join(FORMATS)}")
    read = _idx_layout if fmt == "idx" else _npz_layout
    (n_train, shape_train, y_train), (n_test, shape_test, y_test) = read(Path(path), where)
    if shape_train != shape_test:
        raise DatasetSpecError(f"{where}: training samples have shape {shape_train}, test samples "
                               f"{shape_test}; both splits need the same sample shape")
    n_classes = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
    return DatasetInfo(n_train, n_test, shape_train, n_classes, format=fmt, path=str(path))


def is_declared(name: str) -> bool:
    info = DATASETS.get(name)
    return info is not None and info.format is not None


def dataset_files(name: str, data_root="data") -> list[Path]:
    """The files a dataset is read from: [] for digits, its four IDX files, or its .npz."""
    info = DATASETS[name]
    if info.format == "npz":
        return [Path(info.path)]
    if name == "digits":
        return []
    folder = Path(info.path) if info.format == "idx" else Path(data_root) / name
    return [idx_file(folder, n, f"dataset {name}") for pair in IDX_SPLITS.values() for n in pair]


def dataset_fingerprint(name: str, cfg_or_root="data") -> dict[str, str]:
    """{file path: sha256} of the files `name` is loaded from ({} for digits), for the store's
    `data_files` attr. `cfg_or_root`: a data folder, or a config mapping (its data_root and datasets)."""
    root = use_config(cfg_or_root)
    return {str(p): _sha256_file(p) for p in dataset_files(name, root)}


def use_config(cfg_or_root):
    """A config mapping registers its declared datasets and gives its data_root; a path is the data_root."""
    if isinstance(cfg_or_root, Mapping):
        register_user_datasets(cfg_or_root.get("datasets"))
        return cfg_or_root.get("data_root", "data")
    return cfg_or_root


def _sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# ---------------------------------------------------------------- IDX


def idx_file(folder: Path, name: str, where: str) -> Path:
    for p in (folder / f"{name}.gz", folder / name):
        if p.is_file():
            return p
    raise DatasetSpecError(f"{where}: {folder}/{name}.gz (or uncompressed {name}) is missing; an IDX dataset "
                           f"needs the four files {', '.join(n for pair in IDX_SPLITS.values() for n in pair)}")


def _open(path: Path):
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"  # gzip is recognised by its magic number, not the file name
    return gzip.open(path, "rb") if gz else open(path, "rb")


def idx_header(path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    """(dtype, dims) from an IDX header alone (the first 4 + 4 * ndim bytes)."""
    try:
        with _open(path) as fh:
            head = fh.read(4)
            if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in IDX_TYPES or head[3] == 0:
                raise DatasetSpecError(f"{path}: not an IDX file (magic number {head.hex() or 'empty'}; expected "
                                       f"0000 + a type code + the number of dims)")
            raw = fh.read(4 * head[3])
    except (OSError, EOFError) as exc:
        raise DatasetSpecError(f"{path}: unreadable ({exc})") from None
    if len(raw) < 4 * head[3]:
        raise DatasetSpecError(f"{path}: truncated IDX header")
    return np.dtype(IDX_TYPES[head[2]]), struct.unpack(f">{head[3]}I", raw)


def _idx_layout(folder: Path, where: str):
    if not folder.is_dir():
        raise DatasetSpecError(f"{where}.path: {str(folder)!r} is not a folder; an idx dataset's path is the "
                               f"folder holding its four IDX files")
    out = []
    for split, (images, labels) in IDX_SPLITS.items():
        img_path, lab_path = idx_file(folder, images, where), idx_file(folder, labels, where)
        dtype, dims = idx_header(img_path)
        _check_pixels(dtype, img_path)
        y = read_idx(lab_path)  # the labels: small, and needed for the number of classes
        out.append(_split_layout(dims, y, img_path, lab_path))
    return out


# ---------------------------------------------------------------- npz


def _npz_header(zf: zipfile.ZipFile, key: str, path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    try:
        with zf.open(f"{key}.npy") as fh:
            version = np.lib.format.read_magic(fh)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = reader(fh)
    except KeyError:
        raise DatasetSpecError(f"{path}: no array {key!r} (an npz dataset needs {', '.join(NPZ_KEYS)}; "
                               f"it has {', '.join(n.removesuffix('.npy') for n in zf.namelist())})") from None
    except ValueError as exc:
        raise DatasetSpecError(f"{path}: array {key!r} is not a plain numpy array ({exc})") from None
    return dtype, shape


def _npz_layout(path: Path, where: str):
    if not path.is_file():
        raise DatasetSpecError(f"{where}.path: {str(path)!r} is not a file; an npz dataset's path is its .npz file")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetSpecError(f"{path}: not a readable .npz file ({exc})") from None
    with zf:
        headers = {k: _npz_header(zf, k, path) for k in NPZ_KEYS}
    out = []
    with np.load(path, allow_pickle=False) as npz:
        for split in ("train", "test"):
            dtype, dims = headers[f"x_{split}"]
            _check_pixels(dtype, f"{path}: x_{split}")
            out.append(_split_layout(dims, npz[f"y_{split}"], f"{path}: x_{split}", f"{path}: y_{split}"))
    return out


# ---------------------------------------------------------------- checks shared by both formats


def _check_pixels(dtype: np.dtype, where) -> None:
    if dtype != np.uint8 and dtype.kind != "f":
        raise DatasetSpecError(f"{where}: pixels of type {dtype.name} are not supported; use uint8 "
                               f"(scaled by 1/255) or floats (used as they are)")


def _split_layout(dims, y: np.ndarray, x_where, y_where) -> tuple[int, tuple[int, ...], np.ndarray]:
    """(samples, sample shape, labels) of one split, with the labels checked against the images."""
    if len(dims) < 2 or 0 in dims:
        raise DatasetSpecError(f"{x_where}: shape {tuple(dims)}; expected (samples, features...) with no empty axis")
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DatasetSpecError(f"{y_where}: labels of shape {y.shape} and type {y.dtype.name}; expected one "
                               f"integer label per sample")
    if len(y) != dims[0]:
        raise DatasetSpecError(f"{y_where}: {len(y)} labels for {dims[0]} images")
    if y.min() < 0:
        raise DatasetSpecError(f"{y_where}: negative label {int(y.min())}; labels are classes 0, 1, 2, ...")
    return int(dims[0]), tuple(int(d) for d in dims[1:]), y


# ---------------------------------------------------------------- loading


def load_declared(name: str):
    """(X_train, y_train, X_test, y_test) of a declared dataset: float32 flattened, int64 labels."""
    info = DATASETS[name]
    if info.format == "idx":
        folder = Path(info.path)
        arrays = [read_idx(idx_file(folder, n, f"dataset {name}")) for pair in IDX_SPLITS.values() for n in pair]
    else:
        with np.load(info.path, allow_pickle=False) as npz:
            arrays = [npz[k] for k in NPZ_KEYS]
    out = []
    for X, y, n in ((arrays[0], arrays[1], info.n_train), (arrays[2], arrays[3], info.n_test)):
        if X.shape != (n, *info.image_shape) or y.shape != (n,):  # files changed since the config was read
            raise DatasetSpecError(f"dataset {name}: images {X.shape} / labels {y.shape}, expected "
                                   f"{(n, *info.image_shape)} / {(n,)} as when the config was validated")
        X = X.reshape(n, -1)
        X = np.divide(X, np.float32(255), dtype=np.float32) if X.dtype == np.uint8 else X.astype(np.float32)
        out += [X, y.astype(np.int64)]
    return tuple(out)
