"""Static facts about the supported datasets (sizes known without loading any file).

DATASETS also holds the datasets a config declares (`datasets:`), registered by
topolearn.data.declared.register_user_datasets when the config is validated.
"""

import math
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


# digits: scikit-learn's 1797 8x8 images, split 80/20 stratified with a fixed seed (see data.py).
DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(1437, 360, (8, 8)),
    "mnist": DatasetInfo(60000, 10000, (28, 28)),
    "fashion-mnist": DatasetInfo(60000, 10000, (28, 28)),
    "kmnist": DatasetInfo(60000, 10000, (28, 28)),
}

# Toy datasets (topolearn.data.toy): sizes here are those of the default n_samples; a point's own
# come from dataset_info(point).
DATASETS.update({name: DatasetInfo(*sizes(TOY_FIELDS["n_samples"]), (1, dim), n_classes=2)
                 for name, dim in TOY_DATASETS.items()})


def dataset_info(point: dict) -> DatasetInfo:
    """Sizes of a point's dataset: a toy dataset's follow the point's `n_samples`."""
    info = DATASETS[point["dataset"]]
    if point["dataset"] in TOY_DATASETS and point.get("n_samples"):
        return replace(info, **dict(zip(("n_train", "n_test"), sizes(point["n_samples"]))))
    return info


BUILTIN_DATASETS = frozenset(DATASETS)  # names a config may not redeclare
