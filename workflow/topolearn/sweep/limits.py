"""What a config plans, checked before any job: its output paths, the sweep's size, and each point's
memory, disk and training updates against `limits` (docs/reliability.md).

Estimates are coarse on purpose (orders of magnitude): they stop plans that cannot finish, such as
`width: 1e9` (a terabyte store) or `epochs: 1e9` (years of training), with one line.
"""

import math
import os

from ..data.registry import DATASETS, Registry, dataset_info
from .arch import conv_activation_floats, conv_flops, conv_shapes, dense_inputs, is_cnn
from .schedule import updates_per_epoch

GB = 1e9
# Training throughput assumed for the core-hour estimate: one core on small matmuls, and the
# per-update overhead of Python and torch that dominates small networks.
FLOPS_PER_CORE = 5e9
SECONDS_PER_UPDATE = 50e-6
OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2}  # tensors kept per parameter besides grad


class LimitError(ValueError):
    """A config that plans something impossible or absurd (config.py turns it into ConfigError)."""


# ---------------------------------------------------------------- paths


def check_dir_setting(key: str, value: str) -> str:
    """`value` as a usable folder path: `~` expanded (a folder literally named `~` is never meant);
    refuses an empty path and a filesystem root however written (`/`, `//`, `/.`, `~/../..`: every
    output would go into the root, beside the system's folders) and an existing file."""
    if not value.strip():
        raise LimitError(f"{key}: {value!r} is invalid; must name a folder (e.g. results)")
    path = os.path.expanduser(value)
    if path.startswith("~"):
        raise LimitError(f"{key}: {value!r} is invalid; unknown user in ~: write the full path")
    real = os.path.realpath(path)
    if os.path.dirname(real) == real:
        raise LimitError(f"{key}: {value!r} is invalid; it is the filesystem root {real}: must name a folder "
                         f"below it (e.g. results)")
    if os.path.exists(path) and not os.path.isdir(path):
        raise LimitError(f"{key}: {value!r} is invalid; it is an existing file, not a folder")
    return path


# ---------------------------------------------------------------- sweep size


def count_points(sweep: dict) -> tuple[int, str]:
    """Points a sweep plans (before duplicates collapse), counted without expanding the product,
    and how the count is made up (for the message)."""
    lengths = [len(v) if isinstance(v, list) else 1 for v in sweep.get("grid", {}).values()]
    n_grid, n_points = math.prod(lengths), len(sweep.get("points", []))
    return n_grid + n_points, " x ".join(map(str, lengths or [1])) + f" grid + {n_points} explicit"


def check_sweep_size(sweep: dict, limits: dict) -> int:
    n, parts = count_points(sweep)
    if n > limits["max_points"]:
        raise LimitError(f"sweep: {n:,} points ({parts}) is over limits.max_points = {limits['max_points']:,}; "
                         f"shrink the grid, or raise it (limits: {{max_points: {n}}} in the config) if you mean it")
    return n


# ---------------------------------------------------------------- one point


def layer_shapes(p: dict, registry: Registry = DATASETS) -> list[tuple[int, int]]:
    """(neurons, inputs) of every dense weight layer, as the store holds them (a CNN's conv layers:
    conv_params)."""
    info = dataset_info(p, registry)
    widths = [dense_inputs(p, info.image_shape)] + [p["width"]] * p["depth"] + [info.n_classes]
    return list(zip(widths[1:], widths[:-1]))


def conv_params(p: dict, registry: Registry = DATASETS) -> int:
    """Weights and biases of a CNN's conv layers (0 for an MLP)."""
    shapes = conv_shapes(p, dataset_info(p, registry).image_shape)
    return sum(o * i * kh * kw + (o if p["bias"] else 0) for o, i, kh, kw in shapes)


def point_cost(p: dict, registry: Registry = DATASETS) -> dict:
    """Estimates for one normalized point: store bytes, training memory, updates, core-seconds."""
    info = dataset_info(p, registry)
    shapes = layer_shapes(p, registry)
    n_params = sum(o * i + (o if p["bias"] else 0) for o, i in shapes) + conv_params(p, registry)
    n_train = p["train_size"] or info.n_train
    updates = p["epochs"] * updates_per_epoch(n_train, p["batch_size"])
    store = 4 * p["snapshots"] * (n_params + p["probe_size"] * info.n_classes)
    n_eval = min(p["eval_size"] or n_train, n_train) + min(p["eval_size"] or info.n_test, info.n_test)
    widest = max(o for o, _ in shapes)
    training = (4 * n_params * (2 + OPTIMIZER_STATES[p["optimizer"]])  # weights, grads, optimizer state
                + 4 * (info.n_train + info.n_test) * info.n_features  # the dataset, float32
                + 4 * max(p["batch_size"], n_eval) * widest * (len(shapes) + 1))  # activations
    flops = 6 * n_params * p["batch_size"] * updates + 2 * n_params * n_eval * p["snapshots"]
    if is_cnn(p):  # conv maps dominate a CNN's memory and time: each weight is used at every pixel
        training += 4 * 2 * p["batch_size"] * conv_activation_floats(p, info.image_shape)  # maps and their grads
        per_sample = conv_flops(p, info.image_shape)
        flops += 3 * per_sample * p["batch_size"] * updates + per_sample * n_eval * p["snapshots"]
    return {"store": store, "training": training, "updates": updates,
            "seconds": updates * SECONDS_PER_UPDATE + flops / FLOPS_PER_CORE}


def describe(p: dict) -> str:
    """A point in a message: its dataset and the fields that set its size."""
    shape = f"depth {p['depth']}" + (f", width {p['width']}" if p["depth"] else "")
    if is_cnn(p):
        shape = f"channels {p['channels']}, kernel {p['kernel']}, " + shape
    return f"{p['dataset']}, {shape}, epochs {p['epochs']}, snapshots {p['snapshots']}"


def check_point(p: dict, rid: str, limits: dict, registry: Registry = DATASETS) -> dict:
    """Refuse a point over limits.max_point_gb (store + training memory) or max_point_updates."""
    cost = point_cost(p, registry)
    gb = (cost["store"] + cost["training"]) / GB
    if gb > limits["max_point_gb"]:
        raise LimitError(f"run {rid} ({describe(p)}): needs ~{gb:,.3g} GB (store {cost['store'] / GB:,.3g} GB + "
                         f"training {cost['training'] / GB:,.3g} GB); over limits.max_point_gb = "
                         f"{limits['max_point_gb']:g}: shrink the point or raise the limit")
    if cost["updates"] > limits["max_point_updates"]:
        raise LimitError(f"run {rid} ({describe(p)}): {cost['updates']:,} training updates (~"
                         f"{cost['seconds'] / 3600:,.3g} core-hours); over limits.max_point_updates = "
                         f"{limits['max_point_updates']:,.0f}: fewer epochs or a larger batch_size, or raise the limit")
    return {**cost, "gb": gb}


def check_derived_widths(points: dict, factors, limits: dict, registry: Registry = DATASETS) -> None:
    """The effective-width test retrains a run at its hidden layers' branch count x each factor. A
    count is at most the layer's width (each neuron ends in one branch), so width x the largest
    factor bounds every derived width: the derived points are held to the same limits as sweep
    points before any job, not found out when one tries to allocate its weights."""
    top = max(float(f) for f in factors)
    for rid, p in points.items():
        if not p["depth"] or p["width"] is None:
            continue
        width = max(1, math.floor(top * p["width"] + 0.5))
        if width <= p["width"]:
            continue
        try:
            check_point({**p, "width": width}, rid, limits, registry)
        except LimitError as err:
            raise LimitError(f"effective_width.factors: {top:g} x width {p['width']} plans width {width} for "
                             f"derived runs of {err}") from None


def plan_summary(points: dict, limits: dict, registry: Registry = DATASETS) -> dict:
    """Check every point; totals of the sweep for the one-line plan message."""
    costs = [check_point(p, rid, limits, registry) for rid, p in points.items()]
    return {"n_points": len(points), "updates": sum(c["updates"] for c in costs),
            "core_hours": sum(c["seconds"] for c in costs) / 3600,
            "store_gb": sum(c["store"] for c in costs) / GB,
            "max_point_gb": max((c["gb"] for c in costs), default=0.0)}


def machine_memory_gb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB


def plan_line(plan: dict) -> str:
    """The line the workflow prints (stderr) before planning jobs; warns when the largest point
    needs more memory than this machine has (a cluster node may have more)."""
    n = plan["n_points"]
    line = (f"topolearn: sweep of {n:,} point{'' if n == 1 else 's'}, ~{plan['updates']:,} training updates, "
            f"est. {plan['core_hours']:,.2g} core-hours, stores ~{plan['store_gb']:,.2g} GB")
    mem = machine_memory_gb()
    if plan["max_point_gb"] > mem:
        line += f"; WARNING: the largest point needs ~{plan['max_point_gb']:,.3g} GB, this machine has {mem:,.3g} GB"
    return line
