"""Static facts about the supported datasets (sizes known without loading any file)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetInfo:
    n_train: int
    n_test: int
    image_shape: tuple[int, int]
    n_classes: int = 10

    @property
    def n_features(self) -> int:
        return self.image_shape[0] * self.image_shape[1]


# digits: scikit-learn's 1797 8x8 images, split 80/20 stratified with a fixed seed (see data.py).
DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(1437, 360, (8, 8)),
    "mnist": DatasetInfo(60000, 10000, (28, 28)),
    "fashion-mnist": DatasetInfo(60000, 10000, (28, 28)),
    "kmnist": DatasetInfo(60000, 10000, (28, 28)),
}
