"""topolearn.sweep.config: point normalization, run-id stability, and every bad input of issue 2."""

import copy
import hashlib
import re
from pathlib import Path

import pytest
import yaml

from topolearn.sweep.schema import ConfigError
from topolearn.sweep.config import load_config_file, validate_config
from topolearn.sweep.mapper_settings import mapper_layers, mapper_params
from topolearn.sweep.points import normalize_point, run_id

ROOT = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((ROOT / "tests" / "configs" / "tiny.yaml").read_text())


def tiny(**base):
    cfg = copy.deepcopy(TINY)
    cfg["sweep"]["base"].update(base)
    return cfg


def ids(cfg) -> set[str]:
    return set(validate_config(cfg)["points"])


# ---------------------------------------------------------------- normalization


def test_normalize_fills_defaults_and_drops_fields_that_do_not_apply():
    p = normalize_point({"init": "zero", "optimizer": "sgd", "momentum": 0.5, "init_std": 0.1})
    assert p["init_std"] is None and p["momentum"] is None  # not used by zero init / plain sgd
    assert p["dataset"] == "digits" and p["probe_size"] == 360  # min(1000, digits' 360 test samples)
    shallow = normalize_point({"depth": 0, "width": 64, "activation": "relu"})
    assert shallow["width"] is None and shallow["activation"] is None
    assert list(p) == sorted(p)


def test_normalize_gives_native_canonical_types():
    p = normalize_point({"lr": "1e-2", "batch_size": 64.0, "init_std": 1, "epochs": 3.0})
    assert p["lr"] == 0.01 and type(p["lr"]) is float
    assert type(p["batch_size"]) is int and type(p["epochs"]) is int
    assert type(p["init_std"]) is float
    for v in p.values():
        assert v is None or type(v) in (int, float, str, bool)


def test_normalize_is_idempotent():
    p = normalize_point({"lr": "5e-1", "init": "kaiming", "depth": 3, "optimizer": "momentum"})
    assert normalize_point(p) == p
    assert run_id(p) == run_id(normalize_point(p))


# ---------------------------------------------------------------- run ids


@pytest.mark.parametrize("spelling", ["1e-2", "1.0e-2", "0.01", 0.01, 1e-2, "0.010"])
def test_number_spellings_give_one_run_id(spelling):
    assert run_id({"lr": spelling}) == run_id({"lr": 0.01})


def test_int_and_float_spellings_give_one_run_id():
    assert run_id({"lr": 1}) == run_id({"lr": 1.0})
    assert run_id({"batch_size": 64.0}) == run_id({"batch_size": 64})


def test_key_order_does_not_matter():
    a = {"lr": 0.1, "init": "zero", "depth": 1, "width": 8}
    b = dict(reversed(list(a.items())))
    assert run_id(a) == run_id(b)


def test_explicit_defaults_equal_omitted_ones():
    assert run_id({}) == run_id({"dataset": "digits", "probe_size": 360, "train_size": 1437})
    assert run_id({"init": "zero"}) == run_id({"init": "zero", "init_std": 0.5})


def test_different_points_get_different_ids():
    assert run_id({"lr": 0.1}) != run_id({"lr": 0.2})
    assert run_id({"seed": 1}) != run_id({"seed": 2})
    assert re.fullmatch(r"[0-9a-f]{12}", run_id({}))


# Run ids of fixed points, as the code gave them when these results were first made: they name
# every store on disk, so they must never change (a change orphans every finished run).
KNOWN_IDS = [
    ({}, "e0f380977543"),
    ({"lr": 0.01}, "ffe85c552980"),
    ({"init": "zero"}, "d8c65827a7af"),
    ({"dataset": "digits", "depth": 2, "width": 8, "activation": "sigmoid", "bias": False, "optimizer": "sgd",
      "lr": 2.0, "batch_size": 32, "epochs": 10, "snapshots": 25, "init": "normal", "init_std": 0.1,
      "probe_size": 50, "seed": 42}, "f645b942095a"),
    ({"dataset": "curves", "depth": 2, "width": 8, "activation": "tanh", "bias": True, "optimizer": "adam",
      "init": "xavier", "lr": 0.02, "batch_size": 25, "epochs": 40, "snapshots": 21, "n_samples": 400,
      "noise": 0.03, "repr_size": 300, "grid_size": 25}, "11079375affc"),
    ({"arch": "cnn", "channels": [16, 32]}, "3255abd20e9e"),
    ({"dataset": "mnist", "arch": "cnn", "channels": [64, 32], "depth": 1, "width": 64, "activation": "relu",
      "optimizer": "adam", "lr": 1e-3, "batch_size": 128}, "f14afa0fc090"),
]
# The shipped configs' run ids: (count, first id, sha256 of the sorted ids joined by spaces, first 16 hex).
SHIPPED_IDS = {
    "config.yaml": (72, "017b3b117ba9", "79ef02cb5803d60d"),
    "toy.yaml": (32, "11079375affc", "474053b6ce8d5aa4"),
    "paper.yaml": (3, "15ff970446ff", "c36c69329ffb673f"),
}


@pytest.mark.parametrize("point, rid", KNOWN_IDS, ids=[r for _, r in KNOWN_IDS])
def test_known_points_keep_their_run_ids(point, rid):
    assert run_id(point) == rid
    assert run_id(normalize_point(point)) == rid


def test_sweep_points_get_the_known_ids():
    pts = validate_config(copy.deepcopy(TINY))["points"]
    assert {rid: p["init"] for rid, p in pts.items()} == {"4eab57813e24": "zero", "e9b1f215b5b2": "normal"}


@pytest.mark.parametrize("name", sorted(SHIPPED_IDS))
def test_shipped_configs_keep_their_run_ids(name):
    ids = sorted(load_config_file(ROOT / "config" / name)["points"])
    count, first, digest = SHIPPED_IDS[name]
    assert (len(ids), ids[0], hashlib.sha256(" ".join(ids).encode()).hexdigest()[:16]) == (count, first, digest)


def test_adding_an_axis_value_never_changes_existing_ids():
    before = ids(TINY)
    more = copy.deepcopy(TINY)
    more["sweep"]["grid"]["lr"] = [0.5, 0.25]
    more["sweep"]["grid"]["seed"] = [1, 2]  # a new axis at its base value keeps old ids too
    after = ids(more)
    assert before < after and len(after) == 8


def test_axis_and_key_order_do_not_change_ids():
    a = copy.deepcopy(TINY)
    a["sweep"]["grid"] = {"init": ["zero", "normal"], "lr": [0.5, 0.25]}
    b = copy.deepcopy(TINY)
    b["sweep"]["grid"] = {"lr": ["2.5e-1", 0.5], "init": ["normal", "zero"]}
    b["sweep"]["base"] = dict(reversed(list(b["sweep"]["base"].items())))
    assert ids(a) == ids(b)


def test_duplicate_points_collapse():
    cfg = copy.deepcopy(TINY)
    cfg["sweep"]["grid"]["lr"] = [0.5, "5e-1", 0.50]
    cfg["sweep"]["points"] = [{"init": "zero", "lr": 0.5}]
    assert len(ids(cfg)) == 2


def test_explicit_points_accept_yaml_string_numbers():
    cfg = copy.deepcopy(TINY)
    cfg["sweep"]["points"] = [{"lr": "1e-2"}]  # YAML reads 1e-2 as a string
    pts = validate_config(cfg)["points"].values()
    assert 0.01 in [p["lr"] for p in pts]


def test_shipped_configs_are_valid():
    default = load_config_file(ROOT / "config" / "config.yaml")
    paper = load_config_file(ROOT / "config" / "paper.yaml")
    assert len(default["points"]) == 72  # 3 inits x 2 lr x 2 batch sizes x 2 depths x 3 seeds
    assert {p["init"] for p in paper["points"].values()} == {"zero", "normal"}
    assert all(p["epochs"] == 70 and p["snapshots"] == 201 for p in paper["points"].values())


# ---------------------------------------------------------------- mapper sections


def test_mapper_layers_and_overrides_resolve_output():
    cfg = tiny()
    cfg["mapper"]["layers"] = ["output", "layer1", "layer0"]
    cfg["mapper"]["layer_overrides"] = {"output": {"eps": 0.5}, "layer0": {"intervals": 9}}
    v = validate_config(cfg)
    p = next(iter(v["points"].values()))  # depth 1: layer0 hidden, layer1 output
    assert mapper_layers(v, p) == ["layer1", "layer0"]
    assert mapper_params(v, p, "layer1")["eps"] == 0.5
    assert mapper_params(v, p, "layer0")["intervals"] == 9
    assert mapper_params(v, p, "layer0")["pca"] == 5  # from mapper.defaults


# ---------------------------------------------------------------- bad input (issue 2)


def _set(path, value):
    """A config mutation: set the dotted `path` of the tiny config to `value`."""
    def mutate(cfg):
        *parents, last = path.split(".")
        node = cfg
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return mutate


BAD = [
    # (mutation, field named, value shown, what is allowed)
    (_set("sweep.base.init", "ones"), "sweep.base.init", "'ones'", "zero, normal, kaiming, xavier, orthogonal"),
    (_set("sweep.grid.init", ["zero", "ones"]), "sweep.grid.init[1]", "'ones'", "allowed: zero, normal"),
    (_set("sweep.base.activation", "gelu"), "sweep.base.activation", "'gelu'", "sigmoid, tanh, relu"),
    (_set("sweep.base.optimizer", "rmsprop"), "sweep.base.optimizer", "'rmsprop'", "sgd, momentum, adam"),
    (_set("sweep.base.dataset", "cifar10"), "sweep.base.dataset", "'cifar10'", "digits, mnist, fashion-mnist, kmnist"),
    (_set("sweep.base.lr", 0), "sweep.base.lr", "0.0", "must be > 0"),
    (_set("sweep.grid.lr", [0.5, -1]), "sweep.grid.lr[1]", "-1.0", "must be > 0"),
    (_set("sweep.base.batch_size", 0), "sweep.base.batch_size", "0", "must be >= 1"),
    (_set("sweep.base.batch_size", -5), "sweep.base.batch_size", "-5", "must be >= 1"),
    (_set("sweep.base.batch_size", 2000), "batch_size", "2000", "allowed: 1..1437"),
    (_set("sweep.base.depth", -1), "sweep.base.depth", "-1", "must be >= 0"),
    (_set("sweep.base.snapshots", 1), "sweep.base.snapshots", "1", "must be >= 2"),
    (_set("sweep.base.snapshots", 500), "snapshots", "500", "allowed: 2..92"),  # 4 epochs x 23 updates
    (_set("sweep.base.epochs", "ten"), "sweep.base.epochs", "'ten'", "must be of type integer"),
    (_set("sweep.base.width", 8.5), "sweep.base.width", "8.5", "must be of type integer"),
    (_set("sweep.base.bias", "yes"), "sweep.base.bias", "'yes'", "must be of type boolean"),
    (_set("sweep.base.lr", "fast"), "sweep.base.lr", "'fast'", "must be of type number"),
    (_set("sweep.base.lr", float("nan")), "sweep.base.lr", "nan", "must be a finite number"),
    (_set("train_threads", "2"), "train_threads", "'2'", "must be of type integer"),
    (_set("sweep", [1, 2]), "sweep", "[1, 2]", "must be of type object"),
    (_set("sweep.base.colour", "red"), "sweep.base", "'colour'", "allowed keys: activation"),
    (_set("learning_rate", 0.1), "(top level)", "'learning_rate'", "allowed keys: "),
    (_set("sweep.grid.colour", ["red"]), "sweep.grid", "'colour'", "allowed: dataset, train_size"),
    (_set("mapper.defaults.epsilon", 1), "mapper.defaults", "'epsilon'", "allowed keys: eps"),
    (_set("mapper.defaults.overlap", 1.5), "mapper.defaults.overlap", "1.5", "must be < 1"),
    (_set("mapper.layers", ["layer7"]), "mapper.layers", "'layer7'", "allowed: layer0, layer1, output"),
    (_set("figures.formats", ["gif"]), "figures.formats[0]", "'gif'", "allowed: png, svg, pdf"),
    (_set("sweep.base.probe_size", 1000), "probe_size", "1000", "allowed: 1..360"),
]


@pytest.mark.parametrize("mutate, field, value, allowed", BAD, ids=[b[1] + "=" + b[2] for b in BAD])
def test_bad_input_names_field_value_and_what_is_allowed(mutate, field, value, allowed):
    cfg = copy.deepcopy(TINY)
    mutate(cfg)
    with pytest.raises(ConfigError) as exc:
        validate_config(cfg)
    msg = str(exc.value)
    assert "\n" not in msg
    assert field in msg and value in msg and allowed in msg, msg


def test_bad_explicit_point_is_named_by_index():
    cfg = copy.deepcopy(TINY)
    cfg["sweep"]["points"] = [{"lr": 0.1}, {"optimizer": "lbfgs"}]
    with pytest.raises(ConfigError, match=r"^sweep\.points\[1\]\.optimizer: 'lbfgs' is invalid"):
        validate_config(cfg)


def test_non_mapping_config_is_rejected():
    with pytest.raises(ConfigError, match="must be a mapping"):
        validate_config(["lr", 0.1])


# ---------------------------------------------------------------- numbers written as strings


def _numeric_keys(node, schema, path=()):
    """(config path, schema node) of every key the schema takes a number at, read from the schema:
    sections, list items ([0]), alternatives, and the $defs through their places in a config."""
    places = {"point": ("sweep", "base"), "mapper_params": ("mapper", "defaults")}
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        if path not in (places.get(name), ("mapper", "layer_overrides", "output")):
            return
        node = schema["$defs"][name]
    types = node.get("type", [])
    types = types if isinstance(types, list) else [types]
    if {"number", "integer"} & set(types):
        yield path, node
    for key, sub in node.get("properties", {}).items():
        yield from _numeric_keys(sub, schema, path + (key,))
    if isinstance(node.get("additionalProperties"), dict) and path == ("mapper", "layer_overrides"):
        yield from _numeric_keys(node["additionalProperties"], schema, path + ("output",))
    if isinstance(node.get("items"), dict):
        yield from _numeric_keys(node["items"], schema, path + (0,))
    for alt in node.get("oneOf", []) + node.get("anyOf", []):
        yield from _numeric_keys(alt, schema, path)


def _valid_number(path, node):
    """A value the key takes: its default, else one inside its bounds (point fields: the tiny config's
    own where it sets them)."""
    if path[:2] == ("sweep", "base") and path[2] in TINY["sweep"]["base"]:
        return TINY["sweep"]["base"][path[2]]
    name = next(k for k in reversed(path) if isinstance(k, str))
    if name in FITTING:
        return FITTING[name]
    default = node.get("default")
    if isinstance(default, int | float) and not isinstance(default, bool):
        return default
    integer = "integer" in str(node.get("type"))
    if "minimum" in node:
        return node["minimum"]
    if "exclusiveMinimum" in node:
        top = node.get("exclusiveMaximum", node.get("maximum"))
        return (node["exclusiveMinimum"] + top) / 2 if top is not None else node["exclusiveMinimum"] + 1
    return 1 if integer else 0.5


def _with(cfg, path, value):
    """`cfg` with `value` at `path` (an int in the path: a one-item list there)."""
    cfg = copy.deepcopy(cfg)
    node = cfg
    for key, nxt in zip(path, path[1:]):
        if isinstance(nxt, int):
            node[key] = [value]
            return cfg
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return cfg


def _outcome(cfg):
    try:
        return validate_config(cfg)
    except ConfigError as err:
        return str(err)


FITTING = {"intervals": 10, "train_size": 200, "n_samples": 200}  # the lower bound would not fit the tiny config
TOY_BASE = {"dataset": "spirals", "n_samples": 200, "grid_size": 5, "repr_size": 50, "batch_size": 50}


def test_every_numeric_key_takes_a_number_written_as_a_string():
    """YAML 1.1 reads `1e-2` as a string: wherever the schema takes a number, the string of one is
    that number (the same validated config, or the same refusal); where it takes an integer, a whole
    float (`1.0e+8`, a float to YAML) is that integer, and text is never read as one."""
    from topolearn.data.toy import TOY_FIELDS
    from topolearn.sweep.schema import load_schema

    schema = load_schema()
    keys = list(_numeric_keys(schema, schema))
    named = {".".join(map(str, p)) for p, _ in keys}
    assert {"effective_width.factors.0", "inpca.memory_mb", "limits.max_point_gb", "branching.group_threshold",
            "figures.dpi", "mapper.defaults.eps", "mapper.scan.overlap.0", "sweep.base.lr",
            "mapper.layer_overrides.output.eps", "sweep.base.turns"} <= named
    accepted = []
    for path, node in keys:
        base = copy.deepcopy(TINY)
        if path[:2] == ("sweep", "base") and path[2] in TOY_FIELDS:
            base["sweep"]["base"].update(TOY_BASE, dataset="spirals")
        if path[-1] == "overlap_perc":  # never together with overlap in one section
            base["mapper"]["defaults"].pop("overlap")
        value = _valid_number(path, node)
        as_number = _outcome(_with(base, path, value))
        if "number" in str(node.get("type")):
            assert _outcome(_with(base, path, f"{value:e}")) == as_number, path  # e.g. '5.000000e-02'
            assert _outcome(_with(base, path, "-1e+30")) == _outcome(_with(base, path, -1e30)), path
        else:
            assert _outcome(_with(base, path, float(value))) == as_number, path
            assert "is invalid" in _outcome(_with(base, path, f"{value:e}")), path
        if isinstance(as_number, dict):
            accepted.append(".".join(map(str, path)))
    assert len(accepted) >= 40 and named - set(accepted) <= {"sweep.base.kernel", "sweep.base.channels.0"}, \
        named - set(accepted)
