"""Memory and runtime of jobs, estimated from a sweep point alone.

Free of heavy imports: the workflow evaluates these for every run when it is parsed. `registry`:
the config's datasets (`cfg["registry"]`); the built-ins where none is given.
"""

from ..data.registry import DATASETS, Registry
from .arch import conv_activation_floats, conv_shapes, dense_inputs, is_cnn
from .limits import point_cost
from .points import layer_index, total_updates


def widths(point: dict, registry: Registry = DATASETS) -> list[int]:
    """Units per dense layer, input first: [n_features (a CNN: its flattened last map), width x depth,
    n_classes]."""
    info = registry[point["dataset"]]
    return [dense_inputs(point, info.image_shape)] + [point["width"] or 0] * point["depth"] + [info.n_classes]


def n_weights(point: dict, registry: Registry = DATASETS) -> int:
    """Weights of every layer, a CNN's conv layers included."""
    w = widths(point, registry)
    convs = conv_shapes(point, registry[point["dataset"]].image_shape)
    return sum(a * b for a, b in zip(w[:-1], w[1:])) + sum(o * i * kh * kw for o, i, kh, kw in convs)


def conv_maps_mb(point: dict, registry: Registry = DATASETS) -> float:
    """A CNN's conv maps of one training batch and their gradients (float32); 0 for an MLP."""
    floats = conv_activation_floats(point, registry[point["dataset"]].image_shape) if is_cnn(point) else 0
    return 2 * 4 * point["batch_size"] * floats / 2**20


def train_mem_mb(point: dict, checkpoint_every: int, registry: Registry = DATASETS) -> int:
    """Weights of all snapshots in memory at most once, plus the dataset and torch's own (and a
    CNN's conv maps, plus the evaluation's chunk of them, topolearn.train.stacked.EVAL_CONV_FLOATS)."""
    maps = conv_maps_mb(point, registry)
    maps += 256 * 2 if maps else 0
    return int(1500 + (4 * n_weights(point, registry) * checkpoint_every) // 2**20 + 400 + maps)


def net_mem_mb(point: dict, checkpoint_every: int, registry: Registry = DATASETS) -> float:
    """What one more network adds to a pack: its snapshot rows until a flush (weights and probe
    predictions, float32) about three times over (recorded, stacked, encoded), plus 1 MB of
    parameters, gradients and optimizer state. Measured on digits 64-32-32-10 (probe 360, chunk 50):
    3.5 MB per network, peak 0.92 GB for 126 networks; this gives 4.6 MB."""
    row = n_weights(point, registry) + (point.get("probe_size") or 1000) * widths(point, registry)[-1]
    return 3 * 4 * row * checkpoint_every / 2**20 + 1 + conv_maps_mb(point, registry)


def pack_mem_mb(points: list[dict], checkpoint_every: int, registry: Registry = DATASETS) -> int:
    """A pack: one process (torch, the dataset) for the first network, then each further one's share."""
    return int(train_mem_mb(points[0], checkpoint_every, registry)
               + sum(net_mem_mb(p, checkpoint_every, registry) for p in points[1:]))


def train_runtime(point: dict, registry: Registry = DATASETS) -> int:
    """Minutes, generous: about 2 ms per update on one CPU core for the paper's net; a CNN twice the
    plan's core-time estimate (its conv layers, trained and evaluated at every snapshot, dominate)."""
    minutes = 10 + total_updates(point, registry) // 20000
    if is_cnn(point):
        minutes += int(2 * point_cost(point, registry)["seconds"] / 60)
    return minutes


def mapper_mem_mb(point: dict, layer: str, registry: Registry = DATASETS) -> int:
    """Memory of a mapper job: the layer's float32 weights, about six copies at peak, plus imports."""
    i = layer_index(layer)
    if layer.startswith("conv"):  # filters x (in_channels x k x k)
        o, c, kh, kw = conv_shapes(point, registry[point["dataset"]].image_shape)[i]
        points, inputs = o, c * kh * kw
    else:
        w = widths(point, registry)
        points, inputs = w[i + 1], w[i]
    return 600 + 6 * 4 * point["snapshots"] * points * inputs // 2**20
