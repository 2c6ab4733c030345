"""A sweep point's identity: defaults, canonical types and the stable run id.

A point is normalized once, when the config is validated (with the config's dataset registry);
every later stage receives normalized points and trusts them (run_id normalizes again only to be
safe on hand-written points: normalizing a normalized point changes nothing, whatever the registry).
"""

import hashlib
import json

from ..data.registry import DATASETS, Registry, dataset_info
from ..data.toy import TOY_FIELDS, normalize_toy_fields
from .arch import CNN_DEFAULTS, CNN_FIELDS, is_cnn
from .schedule import updates_per_epoch

# Built-in point defaults: the paper's recipe scaled to the embedded digits data.
POINT_DEFAULTS = {
    "dataset": "digits",
    "train_size": None,
    "init": "normal",
    "init_std": 1e-6,
    "init_noise": 0.0,
    "lr": 0.05,
    "batch_size": 100,
    "depth": 2,
    "width": 100,
    "activation": "sigmoid",
    "bias": False,
    "optimizer": "sgd",
    "momentum": 0.9,
    "weight_decay": 0.0,
    "epochs": 70,
    "seed": 42,
    "snapshots": 201,
    "snapshot_spacing": "linear",
    "probe_size": None,  # None: min(1000, test set size)
    "eval_size": None,
    **dict.fromkeys(TOY_FIELDS),  # toy datasets only (topolearn.data.toy); None elsewhere
    "arch": "mlp",  # or cnn (topolearn.sweep.arch): conv layers of `channels` before the dense ones
    **dict.fromkeys(CNN_FIELDS),  # CNN points only; None on MLP points
}

FLOAT_FIELDS = {"init_std", "init_noise", "lr", "momentum", "weight_decay", "overlap", "eps", "eps_percentile",
                "noise", "turns"}
INT_FIELDS = {"train_size", "batch_size", "depth", "width", "epochs", "seed", "snapshots", "probe_size",
              "eval_size", "pca", "intervals", "min_samples", "n_samples", "data_seed", "grid_size", "repr_size",
              "kernel"}



def coerce(field: str, value):
    """YAML reads `1e-2` as a string and `100.0` as a float: bring both to the field's type."""
    if field in FLOAT_FIELDS and isinstance(value, str) and value != "auto":
        try:
            return float(value)
        except ValueError:
            return value
    if field in FLOAT_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if field in INT_FIELDS and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def coerce_mapping(d):
    if not isinstance(d, dict):
        return d
    out = {}
    for k, v in d.items():
        if isinstance(v, list):
            out[k] = [coerce_mapping(x) if isinstance(x, dict) else coerce(k, x) for x in v]
        elif isinstance(v, dict):
            out[k] = coerce_mapping(v)
        else:
            out[k] = coerce(k, v)
    return out


def normalize_point(point: dict, registry: Registry = DATASETS) -> dict:
    """Fill defaults, coerce types and drop fields that do not apply, so equal runs compare equal.
    `registry` gives the dataset's sizes (train_size, probe_size and eval_size are set against them)."""
    p = {**POINT_DEFAULTS, **coerce_mapping(point)}
    if p["init"] != "normal":
        p["init_std"] = None
    if p["optimizer"] != "momentum":
        p["momentum"] = None
    if p["depth"] == 0:
        p["width"] = None
        if not is_cnn(p):  # a CNN's conv layers keep their activation
            p["activation"] = None
    if is_cnn(p):
        p.update({k: v for k, v in CNN_DEFAULTS.items() if p[k] is None})
        if isinstance(p["channels"], list) and all(isinstance(c, int | float) for c in p["channels"]):
            p["channels"] = [int(c) if float(c).is_integer() else c for c in p["channels"]]
    normalize_toy_fields(p)
    info = dataset_info(p, registry) if p["dataset"] in registry else None
    if info is not None:
        if p["train_size"] is not None and p["train_size"] >= info.n_train:
            p["train_size"] = None if p["train_size"] == info.n_train else p["train_size"]
        if p["probe_size"] is None:
            p["probe_size"] = min(1000, info.n_test)
        if p["eval_size"] is not None and p["eval_size"] >= max(info.n_train, info.n_test):
            p["eval_size"] = None
    for k, v in p.items():  # native, canonical types (no numpy scalars, floats as floats)
        if k in FLOAT_FIELDS and v is not None:
            p[k] = float(v)
        elif k in INT_FIELDS and v is not None:
            p[k] = int(v)
    return dict(sorted(p.items()))


def run_id(point: dict) -> str:
    """Stable 12-hex-digit id of a normalized point: key order and number spelling do not matter."""
    p = normalize_point(point)
    # fields are left out where they do not apply (toy fields off toy data, the architecture of an
    # MLP): adding them kept every other run's id
    p = {k: v for k, v in p.items() if not ((k in TOY_FIELDS or k in CNN_FIELDS) and v is None)}
    if p["arch"] == "mlp":
        del p["arch"]
    canon = json.dumps(p, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()[:12]


def cell_id(point: dict) -> str:
    """Stable 12-hex-digit id of a point's sweep cell: the runs that differ only in `seed`."""
    p = {k: v for k, v in normalize_point(point).items() if k != "seed"}
    return hashlib.sha256(("cell:" + json.dumps(p, sort_keys=True, separators=(",", ":"))).encode()).hexdigest()[:12]


def circle_cells(points: dict) -> dict[str, list[str]]:
    """{cell id: its run ids, sorted} of a sweep's CNN points ({run id: normalized point}): the
    pools of the circle of filters (topolearn.learning_graphs.circle)."""
    cells: dict[str, list[str]] = {}
    for rid, p in points.items():
        if is_cnn(p):
            cells.setdefault(cell_id(p), []).append(rid)
    return {c: sorted(r) for c, r in sorted(cells.items())}


def n_layers(point: dict) -> int:
    """Weight layers: `depth` hidden layers plus the output layer."""
    return point["depth"] + 1


def layer_names(point: dict) -> list[str]:
    """Every analysable weight layer: a CNN's conv layers (`conv{i}`, each filter a point as a
    neuron is) first, then the dense ones (`layer{i}`)."""
    convs = [f"conv{i}" for i in range(len(point.get("channels") or ()))] if is_cnn(point) else []
    return convs + [f"layer{i}" for i in range(n_layers(point))]


def layer_index(name: str) -> int:
    """i of `layer{i}` or `conv{i}` (its place among the layers of its kind)."""
    for prefix in ("layer", "conv"):
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            return int(name[len(prefix):])
    raise ValueError(f"{name!r} is not a layer name; allowed: layer<i>, conv<i>")


def layer_rank(name: str) -> int:
    """Sort key of a layer name in the net's order: conv layers before dense ones."""
    return layer_index(name) + (0 if name.startswith("conv") else 1000)


def n_train_samples(point: dict, registry: Registry = DATASETS) -> int:
    return point["train_size"] or dataset_info(point, registry).n_train


def total_updates(point: dict, registry: Registry = DATASETS) -> int:
    return point["epochs"] * updates_per_epoch(n_train_samples(point, registry), point["batch_size"])


