"""Static facts about datasets (sizes known without loading any file), and registries of them.

A registry maps dataset names to DatasetInfo and never changes once made. DATASETS holds the
built-in datasets; a validated config carries its own registry (`cfg["registry"]`: the built-ins
plus its `datasets:`, topolearn.data.declared.declared_registry), and every size check, job size
and data load of that config's runs takes it from there.
"""

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

from .toy import TOY_DATASETS, TOY_FIELDS, sizes


@dataclass(frozen=True)
class DatasetInfo:
    n_train: int
    n_test: int
    image_shape: tuple[int, ...]  # one sample's shape; (h, w) for images, anything for declared data
    n_classes: int = 10
    format: str | None = None  # None: built-in; "idx" or "npz": declared in the config
    path: str | None = None  # declared: the IDX folder or the .npz file

    @property
    def n_features(self) -> int:
        return math.prod(self.image_shape)


class Registry(Mapping):
    """An immutable {name: DatasetInfo}; hashable, so a cache can be keyed on it."""

    def __init__(self, infos: Mapping[str, DatasetInfo]):
        self._infos = dict(infos)

    def __getitem__(self, name: str) -> DatasetInfo:
        return self._infos[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._infos)

    def __len__(self) -> int:
        return len(self._infos)

    def __hash__(self) -> int:
        return hash(tuple(self._infos.items()))

    def __repr__(self) -> str:
        return f"Registry({self._infos!r})"

    def extended(self, infos: Mapping[str, DatasetInfo]) -> "Registry":
        """This registry plus `infos` (the caller refuses names already here)."""
        return Registry({**self._infos, **infos})


# digits: scikit-learn's 1797 8x8 images, split 80/20 stratified with a fixed seed (builtin.load_digits).
# Toy datasets (topolearn.data.toy): sizes here are those of the default n_samples; a point's own
# come from dataset_info(point).
DATASETS = Registry({
    "digits": DatasetInfo(1437, 360, (8, 8)),
    "mnist": DatasetInfo(60000, 10000, (28, 28)),
    "fashion-mnist": DatasetInfo(60000, 10000, (28, 28)),
    "kmnist": DatasetInfo(60000, 10000, (28, 28)),
    **{name: DatasetInfo(*sizes(TOY_FIELDS["n_samples"]), (1, dim), n_classes=2) for name, dim in TOY_DATASETS.items()},
})
BUILTIN_DATASETS = frozenset(DATASETS)  # names a config may not redeclare


def dataset_info(point: dict, registry: Mapping[str, DatasetInfo] = DATASETS) -> DatasetInfo:
    """Sizes of a point's dataset: a toy dataset's follow the point's `n_samples`."""
    info = registry[point["dataset"]]
    if point["dataset"] in TOY_DATASETS and point.get("n_samples"):
        return replace(info, **dict(zip(("n_train", "n_test"), sizes(point["n_samples"]))))
    return info
