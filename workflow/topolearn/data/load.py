"""Any dataset by name, as in-memory arrays, and the files it is read from.

Every loader returns (X_train, y_train, X_test, y_test): float32 features, flattened, and int64
labels. A dataset's name is looked up in a registry (topolearn.data.registry): a validated
config's `registry`, or the built-ins where a caller gives only a data folder.
"""

import hashlib
from collections.abc import Mapping
from pathlib import Path

from .builtin import GZ_SHA256, load_digits, load_idx_dataset
from .declared import declared_registry, idx_file, load_declared
from .errors import DataError
from .idx import IDX_NAMES
from .registry import DATASETS, Registry
from .toy import is_toy, load_toy_point, normalize_toy_point


def data_source(cfg_or_root="data", registry: Mapping | None = None) -> tuple:
    """(data folder, registry) of a config or a data folder.

    A validated config gives its `data_root` and `registry`; a raw config (a job's) its data_root
    and a registry built from its `datasets:`; a path is the data folder, with the built-ins. An
    explicit `registry` is used as it is.
    """
    if isinstance(cfg_or_root, Mapping):
        root = cfg_or_root.get("data_root", "data")
        if registry is None:
            registry = cfg_or_root.get("registry")
        if registry is None:
            registry = declared_registry(cfg_or_root.get("datasets"))
        return root, registry
    return cfg_or_root, DATASETS if registry is None else registry


def load_dataset(name: str, data_root="data", verify: bool = True, point: dict | None = None,
                 registry: Registry | None = None):
    """(X_train, y_train, X_test, y_test) of dataset `name`.

    data_root: a data folder or a config (data_source). Built-in images are float32 in [0, 1];
    declared ones as declared.py says; toy datasets (topolearn.data.toy) are generated from the
    point's toy fields (defaults without a point): float32 coordinates, not in [0, 1].
    """
    root, registry = data_source(data_root, registry)
    if name == "digits":
        return tuple(load_digits())
    info = registry.get(name)
    if info is not None and info.format is not None:
        return load_declared(name, info)
    if is_toy(name):
        return load_toy_point(normalize_toy_point(name, point))
    if name not in GZ_SHA256:
        raise DataError(f"unknown dataset {name!r} (allowed: digits, {', '.join(GZ_SHA256)})")
    return load_idx_dataset(name, root, verify)


def dataset_files(name: str, data_root="data", registry: Mapping | None = None) -> list[Path]:
    """The files a dataset is read from: none for digits and the generated toy data, the four IDX
    files of a built-in or declared IDX dataset, or a declared .npz."""
    root, registry = data_source(data_root, registry)
    info = registry[name]
    if info.format == "npz":
        return [Path(info.path)]
    if name == "digits" or is_toy(name):
        return []
    folder = Path(info.path) if info.format == "idx" else Path(root) / name
    return [idx_file(folder, n, f"dataset {name}") for n in IDX_NAMES]


def dataset_fingerprint(name: str, cfg_or_root="data", registry: Mapping | None = None) -> dict[str, str]:
    """{file path: sha256} of the files `name` is loaded from ({} for digits and toy data), for the
    store's `data_files` attr: what identifies a user's own data, which carries no published checksum."""
    return {str(p): _sha256_file(p) for p in dataset_files(name, cfg_or_root, registry)}


def _sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
