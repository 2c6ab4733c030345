"""Datasets a user declares in the config (`datasets: {name: {format: idx|npz, path: ...}}`).

Declaring checks every file a job will read before any job runs, reading no more than that
needs: IDX image files by their size against their header (gzip: its trailer), float images in
full (they must be finite), labels in full (classes), an .npz in full (zip CRCs, finite floats).
No checksum is required: the files' sha256 are recorded in each store instead
(`topolearn.data.load.dataset_fingerprint`), and the workflow compares them with the files' own
before each run (`topolearn.store.datacheck`).
A config's registry (`declared_registry`) holds the built-ins plus exactly its declared sets, so
every size check (train_size, probe_size, batch_size, job sizes) uses the real sizes.

Pixels: uint8 -> / 255; float32/float64 kept as they are (as float32), finite only; other dtypes
(float16 included: docs/datasets.md) are refused. Images are flattened; labels must be integers
>= 0 (classes = largest label + 1), at least two distinct classes in the training split.
"""

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .errors import DataError, DatasetSpecError
from .idx import IDX_NAMES, check_idx_complete, find_idx, read_bytes, read_idx
from .registry import BUILTIN_DATASETS, DATASETS, DatasetInfo, Registry

FORMATS = ("idx", "npz")
PIXEL_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32), np.dtype(np.float64))
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
IDX_SPLITS = {"train": IDX_NAMES[:2], "test": IDX_NAMES[2:]}  # (images, labels) of each split


# ---------------------------------------------------------------- registry


def declared_registry(section: Mapping | None) -> Registry:
    """The built-in datasets plus exactly those of a config's `datasets:` section."""
    declared = {}
    for name, spec in (section or {}).items():
        if name in BUILTIN_DATASETS:
            raise DatasetSpecError(f"datasets.{name}: {name!r} is a built-in dataset and cannot be redeclared; "
                                   f"choose another name (built-in: {', '.join(sorted(BUILTIN_DATASETS))})")
        path = os.path.expanduser(spec["path"])  # as `results` and `data_root` are
        declared[name] = declared_info(spec["format"], path, where=f"datasets.{name}")
    return DATASETS.extended(declared)


def declared_info(fmt: str, path, where: str) -> DatasetInfo:
    """Sizes, sample shape and classes of a declared dataset, read from its headers and labels."""
    if fmt not in FORMATS:
        raise DatasetSpecError(f"{where}.format: {fmt!r} is invalid; allowed: {', '.join(FORMATS)}")
    read = _idx_layout if fmt == "idx" else _npz_layout
    (n_train, shape_train, y_train), (n_test, shape_test, y_test) = read(Path(path), where)
    if shape_train != shape_test:
        raise DatasetSpecError(f"{where}: training samples have shape {shape_train}, test samples "
                               f"{shape_test}; both splits need the same sample shape")
    present = np.unique(y_train)
    if len(present) < 2:  # accuracy 1.0 by construction and a degenerate InPCA: nothing to learn
        raise DatasetSpecError(f"{where}: the training labels hold only class {present.tolist()}; a "
                               f"classifier needs at least 2 classes")
    n_classes = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
    return DatasetInfo(n_train, n_test, shape_train, n_classes, format=fmt, path=str(path))


# ---------------------------------------------------------------- IDX


def idx_file(folder: Path, name: str, where: str) -> Path:
    path = find_idx(folder, name)
    if path is None:
        raise DatasetSpecError(f"{where}: {folder}/{name}.gz (or uncompressed {name}) is missing; an IDX dataset "
                               f"needs the four files {', '.join(IDX_NAMES)}")
    return path


def _check_unambiguous(folder: Path, name: str) -> None:
    """Refuse `name.gz` beside a different uncompressed `name`: the loader would take the .gz silently."""
    gz, raw = folder / f"{name}.gz", folder / name
    if gz.is_file() and raw.is_file() and read_bytes(gz)[1] != read_bytes(raw)[1]:
        raise DatasetSpecError(f"{folder}: both {gz.name} and {raw.name} exist and hold different data; "
                               f"ambiguous: keep one of them")


def _idx_layout(folder: Path, where: str):
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise DatasetSpecError(f"{where}.path: {str(folder)!r} {what}; an idx dataset's path is the "
                               f"folder holding its four IDX files")
    out = []
    for images, labels in IDX_SPLITS.values():
        img_path, lab_path = idx_file(folder, images, where), idx_file(folder, labels, where)
        try:
            for name in (images, labels):
                _check_unambiguous(folder, name)
            dtype, dims = check_idx_complete(img_path)  # a half-copied file is refused here, not in a job
            _check_pixels(dtype, img_path)
            if dtype.kind == "f":
                _check_finite(read_idx(img_path), str(img_path), "images")
            y = read_idx(lab_path)  # the labels: small, and needed for the number of classes
        except DataError as err:  # a damaged file is a bad declaration: refused with the config
            raise DatasetSpecError(str(err)) from None
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
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise DatasetSpecError(f"{path}: array {key!r} is unreadable ({exc})") from None
    if dtype.hasobject:  # np.load refuses pickles (they can run code): say so before anything loads
        raise DatasetSpecError(f"{path}: array {key!r} holds pickled Python objects (dtype {dtype}); save "
                               f"plain numeric arrays (np.asarray(a, dtype=np.int64) for labels)")
    return dtype, shape


def _npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array read in full: a cut or altered .npz fails its zip CRC here, before any job."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in NPZ_KEYS}
    except (ValueError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise DatasetSpecError(f"{path}: not a readable .npz file ({exc})") from None


def _npz_layout(path: Path, where: str):
    if not path.is_file():
        what = "does not exist" if not path.exists() else "is not a file"
        raise DatasetSpecError(f"{where}.path: {str(path)!r} {what}; an npz dataset's path is its .npz file")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetSpecError(f"{path}: not a readable .npz file ({exc})") from None
    with zf:
        headers = {k: _npz_header(zf, k, path) for k in NPZ_KEYS}
    for split in ("train", "test"):
        _check_pixels(headers[f"x_{split}"][0], f"{path}: x_{split}")
    arrays = _npz_arrays(path)
    out = []
    for split in ("train", "test"):
        _check_finite(arrays[f"x_{split}"], str(path), f"x_{split}")
        out.append(_split_layout(headers[f"x_{split}"][1], arrays[f"y_{split}"], f"{path}: x_{split}",
                                 f"{path}: y_{split}"))
    return out


# ---------------------------------------------------------------- checks shared by both formats


def _check_pixels(dtype: np.dtype, where) -> None:
    if dtype.newbyteorder("=") not in PIXEL_DTYPES:
        raise DatasetSpecError(f"{where}: pixels of type {dtype.name} are not supported; use uint8 "
                               f"(scaled by 1/255) or float32/float64 (used as they are)")


def _check_finite(X: np.ndarray, path: str, array: str) -> None:
    """Refuse NaN and inf in float features: the network would 'diverge' at step 0."""
    if X.dtype.kind != "f":
        return
    n_nan = int(np.isnan(X).sum())
    n_inf = int(np.isinf(X).sum())
    if n_nan or n_inf:
        raise DatasetSpecError(f"{path}: {array} holds {n_nan} NaN and {n_inf} inf value(s); own data must be "
                               f"finite: replace or drop those samples")


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


def load_declared(name: str, info: DatasetInfo):
    """(X_train, y_train, X_test, y_test) of declared dataset `name`: float32 flattened, int64 labels."""
    if info.format == "idx":
        arrays = [read_idx(idx_file(Path(info.path), n, f"dataset {name}")) for n in IDX_NAMES]
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
