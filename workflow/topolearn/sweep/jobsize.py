"""Memory and runtime of jobs, estimated from a sweep point alone.

Free of heavy imports: the workflow evaluates these for every run when it is parsed. `registry`:
the config's datasets (`cfg["registry"]`); the built-ins where none is given.
"""

from ..data.registry import DATASETS, Registry
from .points import total_updates


def widths(point: dict, registry: Registry = DATASETS) -> list[int]:
    """Units per layer, input first: [n_features, width x depth, n_classes]."""
    info = registry[point["dataset"]]
    return [info.n_features] + [point["width"] or 0] * point["depth"] + [info.n_classes]


def n_weights(point: dict, registry: Registry = DATASETS) -> int:
    w = widths(point, registry)
    return sum(a * b for a, b in zip(w[:-1], w[1:]))


def train_mem_mb(point: dict, checkpoint_every: int, registry: Registry = DATASETS) -> int:
    """Weights of all snapshots in memory at most once, plus the dataset and torch's own."""
    return 1500 + (4 * n_weights(point, registry) * checkpoint_every) // 2**20 + 400


def net_mem_mb(point: dict, checkpoint_every: int, registry: Registry = DATASETS) -> float:
    """What one more network adds to a pack: its snapshot rows until a flush (weights and probe
    predictions, float32) about three times over (recorded, stacked, encoded), plus 1 MB of
    parameters, gradients and optimizer state. Measured on digits 64-32-32-10 (probe 360, chunk 50):
    3.5 MB per network, peak 0.92 GB for 126 networks; this gives 4.6 MB."""
    row = n_weights(point, registry) + (point.get("probe_size") or 1000) * widths(point, registry)[-1]
    return 3 * 4 * row * checkpoint_every / 2**20 + 1


def pack_mem_mb(points: list[dict], checkpoint_every: int, registry: Registry = DATASETS) -> int:
    """A pack: one process (torch, the dataset) for the first network, then each further one's share."""
    return int(train_mem_mb(points[0], checkpoint_every, registry)
               + sum(net_mem_mb(p, checkpoint_every, registry) for p in points[1:]))


def train_runtime(point: dict, registry: Registry = DATASETS) -> int:
    """Minutes, generous: about 2 ms per update on one CPU core for the paper's net."""
    return 10 + total_updates(point, registry) // 20000


def mapper_mem_mb(point: dict, layer: str, registry: Registry = DATASETS) -> int:
    """Memory of a mapper job: the layer's float32 weights, about six copies at peak, plus imports."""
    w = widths(point, registry)
    i = int(layer[5:])
    return 600 + 6 * 4 * point["snapshots"] * w[i] * w[i + 1] // 2**20
