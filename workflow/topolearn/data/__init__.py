"""topolearn.data: the datasets a sweep trains on, as arrays, and what is known of them before loading.

- registry: DatasetInfo (sizes, sample shape, classes) and immutable registries of them; DATASETS
  holds the built-ins, a validated config its own (`cfg["registry"]`).
- builtin: scikit-learn's digits and the MNIST-like IDX sets (mirrors, checksums, fetching).
- declared: datasets a config declares (`datasets:`), IDX folders or .npz files.
- toy: generated low-dimensional toy sets.
- idx: the one IDX reader.
- load: any dataset by name (load_dataset), and the files it is read from.

Light at import (numpy only): the workflow imports this package while it parses.
"""

from .builtin import fetch_dataset
from .declared import declared_registry
from .errors import DataError, DatasetSpecError
from .idx import read_idx, read_idx_header
from .load import data_source, dataset_files, dataset_fingerprint, load_dataset
from .registry import BUILTIN_DATASETS, DATASETS, DatasetInfo, Registry, dataset_info
from .toy import TOY_DATASETS, is_toy

__all__ = [
    "BUILTIN_DATASETS", "DATASETS", "DataError", "DatasetInfo", "DatasetSpecError", "Registry", "TOY_DATASETS",
    "data_source", "dataset_files", "dataset_fingerprint", "dataset_info", "declared_registry", "fetch_dataset",
    "is_toy", "load_dataset", "read_idx", "read_idx_header",
]
