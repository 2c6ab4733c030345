"""Config validation, sweep expansion, point normalization and stable run ids.

Everything here runs before any job: a bad config raises ConfigError with one message that names
the field, the bad value and what is allowed.
"""

import copy
import functools
import hashlib
import itertools
import json
import math
from pathlib import Path

import jsonschema
import yaml

from .datasets import DATASETS, dataset_info
from .own_datasets import DatasetSpecError, register_user_datasets
from .cover import mapper_problem, merge_mapper_params
from . import limits
from .configfiles import DuplicateKeyError, load_yaml
from .schedule import updates_per_epoch
from .toydata import TOY_FIELDS, check_toy_fields, normalize_toy_fields, repr_bytes
from .toydata import REPR_MAX_BYTES, is_toy

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"

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
    **dict.fromkeys(TOY_FIELDS),  # toy datasets only (topolearn.toydata); None elsewhere
}

MAPPER_DEFAULTS = {
    "pca": 20,
    "lens": "l2norm_pca",
    "intervals": 20,
    "overlap": 0.4975,
    "eps": "auto",
    "eps_percentile": 99.9,
    "min_samples": 2,
}

FLOAT_FIELDS = {"init_std", "init_noise", "lr", "momentum", "weight_decay", "overlap", "eps", "eps_percentile",
                "noise", "turns"}
INT_FIELDS = {"train_size", "batch_size", "depth", "width", "epochs", "seed", "snapshots", "probe_size",
              "eval_size", "pca", "intervals", "min_samples", "n_samples", "data_seed", "grid_size", "repr_size"}


class ConfigError(ValueError):
    """A config problem, phrased for the user (field, bad value, what is allowed)."""


def load_schema() -> dict:
    return copy.deepcopy(_parsed_schema())


@functools.lru_cache(maxsize=1)
def _parsed_schema() -> dict:
    """Parsed once per process: YAML parsing dominated validating a small config."""
    with open(SCHEMA_PATH) as fh:
        return yaml.safe_load(fh)


# ---------------------------------------------------------------- coercion and defaults


def _coerce(field: str, value):
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


def _coerce_mapping(d):
    if not isinstance(d, dict):
        return d
    out = {}
    for k, v in d.items():
        if isinstance(v, list):
            out[k] = [_coerce_mapping(x) if isinstance(x, dict) else _coerce(k, x) for x in v]
        elif isinstance(v, dict):
            out[k] = _coerce_mapping(v)
        else:
            out[k] = _coerce(k, v)
    return out


def _check_finite(value, parts=()) -> None:
    """JSON schema bounds let NaN through (every comparison with it is false): refuse nan and inf."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, parts + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_finite(v, parts + (i,))
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{_path(parts)}: {value!r} is invalid; must be a finite number")


def _fill_defaults(schema: dict, instance: dict) -> dict:
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if isinstance(instance.get(key), dict) and "properties" in sub:
            _fill_defaults(sub, instance[key])
    return instance


# ---------------------------------------------------------------- error messages


def _path(parts) -> str:
    s = ""
    for p in parts:
        s += f"[{p}]" if isinstance(p, int) else (f".{p}" if s else str(p))
    return s or "(top level)"


def _allowed(err: jsonschema.ValidationError) -> str:
    v, s = err.validator, err.schema
    if v == "enum":
        return "allowed: " + ", ".join(map(str, err.validator_value))
    if v == "const":
        return f"allowed: {err.validator_value!r}"
    if v == "type":
        t = err.validator_value
        return "must be of type " + (" or ".join(t) if isinstance(t, list) else t)
    if v == "minimum":
        return f"must be >= {err.validator_value}"
    if v == "exclusiveMinimum":
        return f"must be > {err.validator_value}"
    if v == "maximum":
        return f"must be <= {err.validator_value}"
    if v == "exclusiveMaximum":
        return f"must be < {err.validator_value}"
    if v == "additionalProperties":
        return "allowed keys: " + ", ".join(sorted(s.get("properties", {})))
    if v == "propertyNames":
        return err.message
    if v == "minItems":
        return f"needs at least {err.validator_value} item(s)"
    if v == "pattern":
        return f"must match {err.validator_value}"
    if v in ("oneOf", "anyOf"):
        return "allowed: " + "; ".join(_describe(sub) for sub in err.validator_value)
    return err.message


def _describe(sub: dict) -> str:
    if "const" in sub:
        return repr(sub["const"])
    parts = [sub.get("type", "value")]
    for k, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if k in sub:
            parts.append(f"{op} {sub[k]}")
    if "items" in sub:
        parts.append("list")
    return " ".join(map(str, parts))


def _format(err: jsonschema.ValidationError, prefix=()) -> str:
    parts = list(prefix) + list(err.absolute_path)
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})), key=str)
        return f"{_path(parts)}: unknown key(s) {', '.join(map(repr, extra))}; {_allowed(err)}"
    if err.validator == "propertyNames":
        return f"{_path(parts)}: unknown axis or key {err.instance!r}; {_allowed_names(err)}"
    return f"{_path(parts)}: {err.instance!r} is invalid; {_allowed(err)}"


def _allowed_names(err) -> str:
    sub = err.validator_value
    if "$ref" in sub:
        return "allowed: " + ", ".join(POINT_DEFAULTS)
    if "pattern" in sub:
        return f"must match {sub['pattern']}"
    return err.message


def _validate(instance, schema, prefix=(), root=None) -> None:
    root = root or schema
    validator = jsonschema.Draft202012Validator(schema | {"$defs": root.get("$defs", {})})
    errors = sorted(validator.iter_errors(instance), key=lambda e: (list(e.absolute_path), e.validator))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise ConfigError(_format(best, prefix))


# ---------------------------------------------------------------- sweep points


def normalize_point(point: dict) -> dict:
    """Fill defaults, coerce types and drop fields that do not apply, so equal runs compare equal."""
    p = {**POINT_DEFAULTS, **_coerce_mapping(point)}
    if p["init"] != "normal":
        p["init_std"] = None
    if p["optimizer"] != "momentum":
        p["momentum"] = None
    if p["depth"] == 0:
        p["width"] = None
        p["activation"] = None
    normalize_toy_fields(p)
    info = dataset_info(p) if p["dataset"] in DATASETS else None
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
    # toy-only fields are left out where they do not apply: adding them kept every other run's id
    p = {k: v for k, v in p.items() if not (k in TOY_FIELDS and v is None)}
    canon = json.dumps(p, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()[:12]


def n_layers(point: dict) -> int:
    """Weight layers: `depth` hidden layers plus the output layer."""
    return point["depth"] + 1


def layer_names(point: dict) -> list[str]:
    return [f"layer{i}" for i in range(n_layers(point))]


def n_train_samples(point: dict) -> int:
    info = dataset_info(point)
    return point["train_size"] or info.n_train


def total_updates(point: dict) -> int:
    return point["epochs"] * updates_per_epoch(n_train_samples(point), point["batch_size"])


def _check_point(p: dict, where: str) -> None:
    info = dataset_info(p)
    if p["train_size"] is not None and p["train_size"] > info.n_train:
        raise ConfigError(f"{where}.train_size: {p['train_size']} is invalid; {p['dataset']} has "
                          f"{info.n_train} training samples (allowed: 1..{info.n_train} or null)")
    n_train = n_train_samples(p)
    if p["batch_size"] > n_train:
        raise ConfigError(f"{where}.batch_size: {p['batch_size']} is invalid; larger than the "
                          f"{n_train} training samples of {p['dataset']} (allowed: 1..{n_train})")
    total = total_updates(p)
    if p["snapshots"] > total:
        raise ConfigError(f"{where}.snapshots: {p['snapshots']} is invalid; more snapshots than the "
                          f"run's {total} updates (allowed: 2..{total})")
    if p["probe_size"] > info.n_test:
        raise ConfigError(f"{where}.probe_size: {p['probe_size']} is invalid; {p['dataset']} has "
                          f"{info.n_test} test samples (allowed: 1..{info.n_test})")
    if is_toy(p["dataset"]) and repr_bytes(p) > REPR_MAX_BYTES:
        raise ConfigError(f"{where}: recorded representations need {repr_bytes(p) / 2**30:.1f} GiB "
                          f"(grid_size {p['grid_size']}, repr_size {p['repr_size']}, {p['snapshots']} snapshots); "
                          f"allowed: at most {REPR_MAX_BYTES / 2**30:.0f} GiB: lower grid_size, repr_size or snapshots")


def _check_dataset_names(sweep: dict) -> None:
    """The schema takes any dataset name (declared ones count): refuse unknown ones where written."""
    grid = sweep.get("grid", {}).get("dataset")
    named = [("sweep.base.dataset", sweep.get("base", {}).get("dataset"))]
    named += ([(f"sweep.grid.dataset[{i}]", v) for i, v in enumerate(grid)] if isinstance(grid, list)
              else [("sweep.grid.dataset", grid)])
    named += [(f"sweep.points[{i}].dataset", p.get("dataset")) for i, p in enumerate(sweep.get("points", []))]
    for where, name in named:
        if name is not None and name not in DATASETS:
            raise ConfigError(f"{where}: {name!r} is invalid; allowed: {', '.join(DATASETS)} or a name "
                              f"declared under `datasets:`")


def _check_axis_value(axis: str, i: int, v, point_schema: dict, schema: dict) -> None:
    """An axis value is a value of its field, or a mapping of point fields that sets its field and
    others with it (a linked value, e.g. `init: [normal, {init: zero, init_noise: 1e-8}]`)."""
    where = f"sweep.grid.{axis}[{i}]"
    if isinstance(v, dict) and axis not in v:
        raise ConfigError(f"{where}: {v!r} is invalid; a mapping on axis {axis!r} must set {axis!r} itself")
    try:
        _validate(v if isinstance(v, dict) else {axis: v}, point_schema, (), schema)
    except ConfigError as e:
        msg = str(e).split(": ", 1)[1]
        raise ConfigError(f"{where}: {msg}") from None


def expand_sweep(sweep: dict, schema: dict) -> list[tuple[str, dict]]:
    """All points of the grid (cartesian product) plus explicit points, as (where, raw point)."""
    base = sweep.get("base", {})
    grid = {k: (v if isinstance(v, list) else [v]) for k, v in sweep.get("grid", {}).items()}
    point_schema = schema["$defs"]["point"]
    for axis, values in grid.items():
        if not values:
            raise ConfigError(f"sweep.grid.{axis}: [] is invalid; an axis needs at least one value")
        for i, v in enumerate(values):
            _check_axis_value(axis, i, v, point_schema, schema)
    out = []
    axes = list(grid)
    for combo in itertools.product(*(grid[a] for a in axes)):
        where = "sweep.grid(" + ", ".join(f"{a}={v}" for a, v in zip(axes, combo)) + ")" if axes else "sweep.base"
        point = dict(base)
        for axis, v in zip(axes, combo):
            point.update(v if isinstance(v, dict) else {axis: v})
        out.append((where, point))
    for i, pt in enumerate(sweep.get("points", [])):
        out.append((f"sweep.points[{i}]", {**base, **pt}))
    return out


# ---------------------------------------------------------------- mapper sections


def resolve_layer(name: str, point: dict) -> str:
    """`output` -> the point's last layer; `layer{i}` as is."""
    return f"layer{n_layers(point) - 1}" if name == "output" else name


def mapper_layers(cfg: dict, point: dict) -> list[str]:
    sel = cfg["mapper"]["layers"]
    names = layer_names(point) if sel == "all" else [resolve_layer(n, point) for n in sel]
    return list(dict.fromkeys(names))


def mapper_params(cfg: dict, point: dict, layer: str) -> dict:
    """Mapper parameters of one layer: built-in defaults < mapper.defaults < layer_overrides."""
    m = cfg["mapper"]
    params = merge_mapper_params(MAPPER_DEFAULTS, m.get("defaults", {}))
    for name, override in m.get("layer_overrides", {}).items():
        if resolve_layer(name, point) == layer:
            params = merge_mapper_params(params, override)
    return params


def _check_layers(cfg: dict, points: dict) -> None:
    m = cfg["mapper"]
    named = [] if m["layers"] == "all" else [("mapper.layers", n) for n in m["layers"]]
    named += [(f"mapper.layer_overrides.{n}", n) for n in m.get("layer_overrides", {})]
    for rid, p in points.items():
        valid = layer_names(p)
        for where, name in named:
            if resolve_layer(name, p) not in valid:
                raise ConfigError(
                    f"{where}: {name!r} is not a layer of run {rid} (depth {p['depth']}); "
                    f"allowed: {', '.join(valid + ['output'])}")


def _check_figure_runs(cfg: dict, points: dict) -> None:
    sel = cfg["figures"]["runs"]
    unknown = [r for r in sel if r not in points] if isinstance(sel, list) else []
    if unknown:
        raise ConfigError(f"figures.runs: {unknown[0]!r} is not a run id of this sweep; allowed: the "
                          f"run ids of results/sweep.tsv, all, none or a count")


# ---------------------------------------------------------------- entry point


def settings(raw: dict) -> dict:
    """Top-level execution settings (device, threads, chunking...) with defaults filled in.

    Jobs read these from the config rather than from rule params, so changing where or how a
    run executes never counts as a parameter change that retrains it.
    """
    props = load_schema()["properties"]
    return {k: (raw or {}).get(k, sub["default"]) for k, sub in props.items()
            if "default" in sub and not isinstance(sub["default"], dict)}



def validate_config(raw: dict) -> dict:
    """Validate and normalize a raw config; returns it with `points` = {run_id: normalized point}."""
    schema = load_schema()
    if not isinstance(raw, dict | None):
        raise ConfigError(f"(top level): {raw!r} is invalid; must be a mapping of config keys")
    cfg = _coerce_mapping(copy.deepcopy(dict(raw or {})))
    _check_finite(cfg)
    _validate(cfg, schema)
    cfg = _fill_defaults(schema, cfg)
    try:  # paths and the sweep's size, before the (possibly huge) grid is expanded
        for key in ("results", "data_root"):
            cfg[key] = limits.check_dir_setting(key, cfg[key])
        limits.check_sweep_size(cfg["sweep"], cfg["limits"])
    except limits.LimitError as err:
        raise ConfigError(str(err)) from None
    try:  # before the points: their size checks use the declared datasets' real sizes
        register_user_datasets(cfg["datasets"])
    except DatasetSpecError as err:
        raise ConfigError(str(err)) from None
    _check_dataset_names(cfg["sweep"])
    points: dict[str, dict] = {}
    for where, raw_point in expand_sweep(cfg["sweep"], schema):
        try:
            check_toy_fields(raw_point, where, POINT_DEFAULTS["dataset"])
        except ValueError as err:
            raise ConfigError(str(err)) from None
        p = normalize_point(raw_point)
        _check_point(p, where)
        points.setdefault(run_id(p), p)
    cfg["points"] = points
    try:  # each point's memory, disk and updates; totals for the plan line (limits.plan_line)
        cfg["plan"] = limits.plan_summary(points, cfg["limits"])
    except limits.LimitError as err:
        raise ConfigError(str(err)) from None
    _check_layers(cfg, points)
    problem = mapper_problem(cfg["mapper"], MAPPER_DEFAULTS)  # overlap_perc, degenerate covers
    if problem:
        raise ConfigError(problem)
    _check_figure_runs(cfg, points)
    return cfg


def load_config_file(path) -> dict:
    check_config_files([path])
    return validate_config(load_yaml(path))


def check_config_files(paths) -> None:
    """ConfigError for a config file with a duplicate key (YAML, and Snakemake, keep the last)."""
    try:
        for path in paths:
            load_yaml(path)
    except DuplicateKeyError as err:
        raise ConfigError(str(err)) from None
