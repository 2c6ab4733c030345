"""Low-dimensional toy datasets (Olah's essay; Naitzat et al.): two curves, two spirals, nested
circles in the plane and two linked rings in 3-D, generated deterministically.

The data depend on the point's `data_seed` (default 0), not on its `seed`: every net of a sweep
sees the same data unless a sweep varies `data_seed`. Train and test sets are drawn from separate
streams of that seed; the test set has n_samples // 4 points. Classes alternate in generation and
are shuffled, so any prefix (`train_size`) holds both.

Light module (no numpy at import): the config validation uses its constants at parse time.
"""

# name -> input dimension; every toy dataset has two classes.
TOY_DATASETS = {"curves": 2, "spirals": 2, "circles": 2, "rings": 3}
TEST_FRACTION = 4  # n_test = n_samples // TEST_FRACTION

# Point fields that only toy datasets have, with their defaults there (None everywhere else).
TOY_FIELDS = {
    "noise": 0.05,  # std of isotropic Gaussian noise added to every point
    "n_samples": 1000,  # training points (both classes together)
    "turns": 1.0,  # spirals only: turns of each arm (tightness)
    "data_seed": 0,  # seeds the data, independently of the run's `seed`
    "grid_size": 25,  # recorded grid: grid_size x grid_size points over the input domain (2-D data)
    "repr_size": 500,  # training points whose representations are recorded
}
SPIRAL_ONLY = ("turns",)
GRID_MARGIN = 0.1  # the grid covers the data's bounding box widened by this fraction per side
REPR_MAX_BYTES = 2 * 2**30  # recorded representations of one run, refused above this at config time


def is_toy(dataset) -> bool:
    return dataset in TOY_DATASETS


def sizes(n_samples: int) -> tuple[int, int]:
    """(n_train, n_test) of a toy dataset with `n_samples` training points."""
    return n_samples, max(1, n_samples // TEST_FRACTION)


# ---------------------------------------------------------------- generators


def _curves(rng, n):
    """Two sine-shaped curves shifted apart vertically: interleaved, not linearly separable."""
    import numpy as np

    x = rng.uniform(-1.0, 1.0, n)
    y = np.arange(n) % 2
    offset = np.where(y == 0, 0.25, -0.25)
    return np.stack([x, 0.6 * np.sin(np.pi * x) + offset], 1), y


def _spirals(rng, n, turns):
    """Two interleaved arms r = t, angle 2 pi turns t (t in [0, 1]); arm 1 is arm 0 turned by pi."""
    import numpy as np

    y = np.arange(n) % 2
    t = np.sqrt(rng.uniform(0.0, 1.0, n))  # uniform density along the arm's area
    angle = 2 * np.pi * turns * t + np.pi * y
    return np.stack([t * np.cos(angle), t * np.sin(angle)], 1), y


def _circles(rng, n):
    """Nested rings: radius 0.5 (class 0) inside radius 1 (class 1)."""
    import numpy as np

    y = np.arange(n) % 2
    angle = rng.uniform(0.0, 2 * np.pi, n)
    r = np.where(y == 0, 0.5, 1.0)
    return np.stack([r * np.cos(angle), r * np.sin(angle)], 1), y


def _rings(rng, n):
    """Two linked unit rings in 3-D: one in the xy-plane at the origin, one in the xz-plane at x=1."""
    import numpy as np

    y = np.arange(n) % 2
    a = rng.uniform(0.0, 2 * np.pi, n)
    c, s, z = np.cos(a), np.sin(a), np.zeros(n)
    ring0 = np.stack([c, s, z], 1)
    ring1 = np.stack([1.0 + c, z, s], 1)
    return np.where((y == 0)[:, None], ring0, ring1), y


def generate(dataset: str, n: int, *, noise: float, turns: float | None, seed: int, stream: int):
    """n points (float32, shape (n, dim)) and labels (int64) of a toy dataset, shuffled."""
    import numpy as np

    if dataset not in TOY_DATASETS:
        raise ValueError(f"unknown toy dataset {dataset!r} (allowed: {', '.join(TOY_DATASETS)})")
    rng = np.random.default_rng([int(seed), int(stream)])
    if dataset == "spirals":
        X, y = _spirals(rng, n, turns)
    else:
        X, y = {"curves": _curves, "circles": _circles, "rings": _rings}[dataset](rng, n)
    X = X + rng.normal(0.0, noise, X.shape)
    order = rng.permutation(n)
    return X[order].astype(np.float32), y[order].astype(np.int64)


def load_toy(dataset: str, n_samples: int, noise: float, turns: float | None, data_seed: int):
    """(X_train, y_train, X_test, y_test) of a toy dataset: train stream 0, test stream 1."""
    n_train, n_test = sizes(n_samples)
    kw = {"noise": noise, "turns": turns, "seed": data_seed}
    return (*generate(dataset, n_train, stream=0, **kw), *generate(dataset, n_test, stream=1, **kw))


def load_toy_point(point: dict):
    """The toy data of a normalized point."""
    return load_toy(point["dataset"], point["n_samples"], point["noise"], point["turns"], point["data_seed"])


# ---------------------------------------------------------------- point fields


def toy_fields_of(dataset) -> list[str]:
    """The toy fields `dataset` uses: none off toy data, `turns` on spirals only, `grid_size` on 2-D
    data only (the grid is recorded for 2-D inputs)."""
    if not is_toy(dataset):
        return []
    return [f for f in TOY_FIELDS if (f not in SPIRAL_ONLY or dataset == "spirals")
            and (f != "grid_size" or TOY_DATASETS[dataset] == 2)]


def normalize_toy_fields(p: dict) -> None:
    """In place: defaults for toy datasets, None where a field does not apply (so ids do not split)."""
    used = toy_fields_of(p["dataset"])
    for field, default in TOY_FIELDS.items():
        if field not in used:
            p[field] = None
        elif p.get(field) is None:
            p[field] = default


def check_toy_fields(raw: dict, where: str, default_dataset: str) -> None:
    """Refuse a toy field set (not null) on a point whose dataset does not use it, and a `repr_size`
    beyond the training points (the default 500 is capped at them instead: it was not asked for)."""
    dataset = raw.get("dataset", default_dataset)
    used = toy_fields_of(dataset)
    for field in TOY_FIELDS:
        if raw.get(field) is None or field in used:
            continue
        if not is_toy(dataset):
            raise ValueError(f"{where}.{field}: {raw[field]!r} is invalid for dataset {dataset}; "
                             f"{field} applies only to the toy datasets ({', '.join(TOY_DATASETS)})")
        raise ValueError(f"{where}.{field}: {raw[field]!r} is invalid for dataset {dataset}; "
                         f"{dataset} uses {', '.join(used)}")
    n_train = raw.get("train_size") or raw.get("n_samples") or TOY_FIELDS["n_samples"]
    repr_size = raw.get("repr_size")
    if used and isinstance(repr_size, int | float) and isinstance(n_train, int | float) and repr_size > n_train:
        raise ValueError(f"{where}.repr_size: {repr_size!r} is invalid; more than the {n_train} training points "
                         f"of this point (allowed: 1..{n_train})")


def repr_bytes(p: dict, n_classes: int = 2) -> int:
    """Bytes of the representations `record` writes for a normalized toy point (float32)."""
    n_points = min(p["repr_size"], p["train_size"] or p["n_samples"])
    n_points += (p["grid_size"] or 0) ** 2
    units = (p["width"] or 0) * p["depth"] + n_classes
    return 4 * p["snapshots"] * n_points * units


def normalize_toy_point(dataset: str, point: dict | None) -> dict:
    """The toy fields of `point` (or the defaults) for `dataset`, normalized."""
    p = {**(point or {}), "dataset": dataset}
    normalize_toy_fields(p)
    return p
