"""Property-based tests of config validation (hypothesis).

Random invalid configs (wrong types, out-of-range numbers, unknown enum values, unknown keys at any
level) must raise ConfigError naming the field; random valid configs must normalize to stable run
ids (idempotent, independent of key and axis order and of how numbers are spelled).
"""

import copy
import math
import random

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from schema_keys import schema_names

from topolearn.sweep.schema import ConfigError
from topolearn.sweep.points import normalize_point, run_id
from topolearn.sweep.config import validate_config
from topolearn.data.registry import DATASETS
from topolearn.sweep.schedule import updates_per_epoch

# Seeded (derandomize) and without an example database: every run tries the same examples and
# writes nothing into the checkout.
FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
N_TRAIN = DATASETS["digits"].n_train

ENUMS = {
    "dataset": ["digits", "mnist", "fashion-mnist", "kmnist"],
    "init": ["zero", "normal", "kaiming", "xavier", "orthogonal"],
    "activation": ["sigmoid", "tanh", "relu"],
    "optimizer": ["sgd", "momentum", "adam"],
    "snapshot_spacing": ["linear", "log"],
}
# Point fields with their schema bounds: (type, lower, lower inclusive?, upper exclusive or None).
NUMBERS = {
    "lr": (float, 0, False, None),
    "init_std": (float, 0, False, None),
    "init_noise": (float, 0, True, None),
    "momentum": (float, 0, True, 1),
    "weight_decay": (float, 0, True, None),
    "batch_size": (int, 1, True, None),
    "depth": (int, 0, True, None),
    "width": (int, 1, True, None),
    "epochs": (int, 1, True, None),
    "seed": (int, 0, True, None),
    "snapshots": (int, 2, True, None),
}

# ---------------------------------------------------------------- valid configs

finite = dict(allow_nan=False, allow_infinity=False)
lrs = st.floats(1e-6, 10, **finite)


@st.composite
def valid_points(draw):
    """A digits point that passes every check (batch <= train set, snapshots <= updates)."""
    p = {}
    for field, values in ENUMS.items():
        if field != "dataset" and draw(st.booleans()):
            p[field] = draw(st.sampled_from(values))
    if draw(st.booleans()):
        p["lr"] = draw(lrs)
    if draw(st.booleans()):
        p["init_std"] = draw(st.floats(1e-9, 1, **finite))
    if draw(st.booleans()):
        p["momentum"] = draw(st.floats(0, 0.99, **finite))
    if draw(st.booleans()):
        p["depth"] = draw(st.integers(0, 4))
    if draw(st.booleans()):
        p["width"] = draw(st.integers(1, 256))
    if draw(st.booleans()):
        p["bias"] = draw(st.booleans())
    if draw(st.booleans()):
        p["seed"] = draw(st.integers(0, 2**31))
    p["batch_size"] = draw(st.integers(1, N_TRAIN))
    p["epochs"] = draw(st.integers(1 if p["batch_size"] < N_TRAIN else 2, 5))  # >= 2 updates
    updates = p["epochs"] * updates_per_epoch(N_TRAIN, p["batch_size"])
    p["snapshots"] = draw(st.integers(2, min(updates, 300)))
    return p


def respell(value, rnd: random.Random):
    """The same number as YAML or a user might write it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if isinstance(value, int):
        return rnd.choice([value, float(value)])
    options = [value, repr(value), f"{value:.17e}"]
    if value.is_integer():
        options.append(int(value))
    return rnd.choice(options)


def shuffled(d: dict, rnd: random.Random) -> dict:
    items = list(d.items())
    rnd.shuffle(items)
    return dict(items)


@FUZZ
@given(valid_points(), st.randoms(use_true_random=False))
def test_normalize_is_idempotent_and_spelling_independent(point, rnd):
    norm = normalize_point(point)
    assert normalize_point(norm) == norm
    rid = run_id(point)
    assert run_id(norm) == rid
    respelled = shuffled({k: respell(v, rnd) for k, v in point.items()}, rnd)
    assert normalize_point(respelled) == norm
    assert run_id(respelled) == rid


@FUZZ
@given(valid_points(), st.lists(lrs, min_size=1, max_size=3, unique=True),
       st.lists(st.integers(0, 1000), min_size=1, max_size=3, unique=True), lrs,
       st.randoms(use_true_random=False))
def test_sweep_ids_are_stable(base, lr_values, seeds, new_lr, rnd):
    def config(grid, base):
        return {"sweep": {"base": base, "grid": grid}, "mapper": {"layers": ["output"]}}

    cfg = validate_config(config({"lr": lr_values, "seed": seeds}, base))
    ids = set(cfg["points"])
    # the grid's points written out by hand, each named by run_id alone (no expansion, no validation)
    assert ids == {run_id({**base, "lr": lr, "seed": s}) for lr in lr_values for s in seeds}
    assert len(ids) == len(lr_values) * len(seeds)
    # axis order, value order, key order of base, number spellings: same ids
    grid = shuffled({"seed": rnd.sample(seeds, len(seeds)),
                     "lr": [respell(v, rnd) for v in rnd.sample(lr_values, len(lr_values))]}, rnd)
    assert set(validate_config(config(grid, shuffled(base, rnd)))["points"]) == ids
    # a value added to an axis adds points and never changes existing ids
    assume(new_lr not in lr_values)
    bigger = validate_config(config({"lr": lr_values + [new_lr], "seed": seeds}, base))["points"]
    assert ids < set(bigger) and len(bigger) == len(ids) + len(seeds)


# ---------------------------------------------------------------- invalid configs

# Where a point's fields live, and the path the message must name for that location.
LOCATIONS = ["base", "grid_list", "grid_scalar", "point"]


def place(field, value, where):
    """A small valid config with one field of one point set to `value`; the path naming it."""
    cfg = {"sweep": {"base": {"epochs": 2, "batch_size": 64, "snapshots": 5},
                     "grid": {"init": ["zero", "normal"]}}}
    sweep = cfg["sweep"]
    if where == "base":
        sweep["base"][field] = value
        return cfg, f"sweep.base.{field}"
    if where == "grid_list":
        sweep["grid"][field] = [ok_value(field), value] if field != "init" else ["zero", value]
        return cfg, f"sweep.grid.{field}[1]"
    if where == "grid_scalar":
        sweep["grid"][field] = value
        return cfg, f"sweep.grid.{field}"
    sweep["points"] = [{"seed": 3}, {field: value}]
    return cfg, f"sweep.points[1].{field}"


def ok_value(field):
    if field in ENUMS:
        return ENUMS[field][0]
    typ, lo, _, _ = NUMBERS[field]
    return typ(lo + 1) if typ is int else 0.5


def not_a_number_text():
    def unparsable(s):
        try:
            float(s)
        except ValueError:
            return True
        return False
    return st.text(min_size=1, max_size=8).filter(unparsable)


def wrong_type(field):
    """Values of a type the field never accepts."""
    if field in ENUMS:
        return st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(),
                         st.lists(st.sampled_from(ENUMS[field]), min_size=1, max_size=2).map(lambda x: {"v": x}))
    typ, *_ = NUMBERS[field]
    common = [not_a_number_text(), st.booleans(), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)]
    if typ is int:  # floats that are not whole numbers (whole ones are accepted as ints)
        common.append(st.floats(0.01, 1e6).filter(lambda x: not x.is_integer()))
        common.append(st.integers(1, 99).map(str))  # "5": ints are never read from text
    return st.one_of(*common)


def out_of_range(field):
    typ, lo, inclusive, hi = NUMBERS[field]
    if typ is int:
        below = st.integers(max_value=lo - 1, min_value=lo - 10**6)
    else:
        below = st.floats(max_value=lo, min_value=-1e9, exclude_max=inclusive, **finite)
    options = [below, st.sampled_from([math.nan, math.inf, -math.inf])] if typ is float else [below]
    if hi is not None:
        options.append(st.floats(min_value=hi, max_value=1e9, **finite))
    return st.one_of(*options)


def unknown_enum(field):
    return st.text(min_size=1, max_size=10).filter(lambda s: s not in ENUMS[field])


@st.composite
def bad_field_values(draw):
    kind = draw(st.sampled_from(["type", "range", "enum"]))
    if kind == "enum":
        field = draw(st.sampled_from(sorted(ENUMS)))
        value = draw(unknown_enum(field))
    elif kind == "range":
        field = draw(st.sampled_from(sorted(NUMBERS)))
        value = draw(out_of_range(field))
    else:
        field = draw(st.sampled_from(sorted(ENUMS) + sorted(NUMBERS)))
        value = draw(wrong_type(field))
    return field, value


@FUZZ
@given(bad_field_values(), st.sampled_from(LOCATIONS))
def test_bad_point_values_are_rejected_naming_the_field(bad, where):
    field, value = bad
    assume(not (where == "grid_scalar" and isinstance(value, list)))
    cfg, path = place(field, value, where)
    with pytest.raises(ConfigError) as exc:
        validate_config(cfg)
    msg = str(exc.value)
    assert msg.startswith(path + ":") or msg.startswith(path + "["), (msg, path)
    assert "\n" not in msg


# Sections that reject unknown keys, as (path to the mapping, how the message names it).
SECTIONS = [
    ((), "(top level)"),
    (("sweep",), "sweep"),
    (("sweep", "base"), "sweep.base"),
    (("sweep", "points", 0), "sweep.points[0]"),
    (("mapper",), "mapper"),
    (("mapper", "defaults"), "mapper.defaults"),
    (("mapper", "layer_overrides", "output"), "mapper.layer_overrides.output"),
    (("branching",), "branching"),
    (("figures",), "figures"),
    (("sweep", "grid"), "sweep.grid"),
]
KNOWN = schema_names()  # a generated key the schema knows would be valid, not unknown


@FUZZ
@given(st.sampled_from(SECTIONS), st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,11}", fullmatch=True),
       st.one_of(st.integers(), st.text(max_size=4), st.booleans()))
def test_unknown_keys_at_any_level_are_rejected(section, key, value):
    assume(key not in KNOWN)
    cfg = {"sweep": {"base": {"epochs": 2}, "grid": {"lr": [0.1]}, "points": [{"seed": 1}]},
           "mapper": {"defaults": {"pca": 3}, "layer_overrides": {"output": {"eps": 0.5}}},
           "branching": {}, "figures": {}}
    path, name = section
    node = cfg
    for part in path:
        node = node[part]
    node[key] = [value] if path == ("sweep", "grid") else value
    with pytest.raises(ConfigError) as exc:
        validate_config(copy.deepcopy(cfg))
    msg = str(exc.value)
    assert msg.startswith(name + ":") and repr(key) in msg, (msg, name, key)


@FUZZ
@given(st.sampled_from([
    ("train_threads", st.integers(max_value=0)),
    ("checkpoint_every", st.integers(max_value=0)),
    ("device", st.text(max_size=6).filter(lambda s: s not in ("cpu", "cuda", "auto"))),
    ("results", st.one_of(st.integers(), st.booleans(), st.lists(st.text(max_size=2), max_size=2))),
    ("mapper.defaults.intervals", st.integers(max_value=0)),
    ("mapper.defaults.overlap", st.one_of(st.floats(max_value=0, min_value=-10), st.floats(min_value=1, max_value=10))),
    ("mapper.defaults.eps", st.one_of(st.floats(max_value=0, min_value=-10), not_a_number_text())),
    ("mapper.defaults.lens", st.text(max_size=6).filter(lambda s: s not in ("l2norm_pca", "l2norm", "epoch", "pc1"))),
    ("branching.persistence_threshold", st.floats(min_value=1.001, max_value=100)),
    ("figures.dpi", st.integers(max_value=49)),
]).flatmap(lambda fs: st.tuples(st.just(fs[0]), fs[1])))
def test_bad_top_level_and_section_values_name_the_field(field_value):
    field, value = field_value
    assume(not (field == "mapper.defaults.eps" and value == "auto"))
    cfg = {"sweep": {"base": {"epochs": 2}}}
    *parents, last = field.split(".")
    node = cfg
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    with pytest.raises(ConfigError) as exc:
        validate_config(cfg)
    assert str(exc.value).startswith(field + ":"), (str(exc.value), field)
