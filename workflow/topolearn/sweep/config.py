"""Config validation: the schema, the sweep's points, the plan's limits and the Mapper sections.

Everything here runs before any job: a bad config raises ConfigError with one message that names
the field, the bad value and what is allowed. The validated config carries its dataset registry
(`registry`: the built-ins plus its `datasets:`); every later stage takes dataset facts from it.
"""

import copy

from ..data.declared import declared_registry
from ..data.errors import DatasetSpecError
from ..data.registry import Registry, dataset_info
from ..data.toy import REPR_MAX_BYTES, check_toy_fields, is_toy, repr_bytes
from . import limits
from .arch import arch_problem
from .configfiles import DuplicateKeyError, load_yaml
from .expand import expand_sweep
from .mapper_settings import MAPPER_DEFAULTS, layer_names, mapper_problem, resolve_layer
from .points import POINT_DEFAULTS, coerce_mapping, n_train_samples, normalize_point, run_id, total_updates
from .schema import ConfigError, check_finite, coerce_numbers, fill_defaults, load_schema, validate


def _check_point(p: dict, where: str, registry: Registry) -> None:
    info = dataset_info(p, registry)
    problem = arch_problem(p, where, info.image_shape, is_toy(p["dataset"]))
    if problem:
        raise ConfigError(problem)
    if p["train_size"] is not None and p["train_size"] > info.n_train:
        raise ConfigError(f"{where}.train_size: {p['train_size']} is invalid; {p['dataset']} has "
                          f"{info.n_train} training samples (allowed: 1..{info.n_train} or null)")
    n_train = n_train_samples(p, registry)
    if p["batch_size"] > n_train:
        raise ConfigError(f"{where}.batch_size: {p['batch_size']} is invalid; larger than the "
                          f"{n_train} training samples of {p['dataset']} (allowed: 1..{n_train})")
    total = total_updates(p, registry)
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


def _check_dataset_names(sweep: dict, registry: Registry) -> None:
    """The schema takes any dataset name (declared ones count): refuse unknown ones where written."""
    grid = sweep.get("grid", {}).get("dataset")
    named = [("sweep.base.dataset", sweep.get("base", {}).get("dataset"))]
    named += ([(f"sweep.grid.dataset[{i}]", v.get("dataset") if isinstance(v, dict) else v)  # a linked value
               for i, v in enumerate(grid)] if isinstance(grid, list) else [("sweep.grid.dataset", grid)])
    named += [(f"sweep.points[{i}].dataset", p.get("dataset")) for i, p in enumerate(sweep.get("points", []))]
    for where, name in named:
        if name is not None and name not in registry:
            raise ConfigError(f"{where}: {name!r} is invalid; allowed: {', '.join(registry)} or a name "
                              f"declared under `datasets:`")


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
    """Validate and normalize a raw config; returns it with `points` = {run_id: normalized point},
    `registry` = its datasets ({name: DatasetInfo}) and `plan` = the sweep's estimated totals."""
    schema = load_schema()
    if not isinstance(raw, dict | None):
        raise ConfigError(f"(top level): {raw!r} is invalid; must be a mapping of config keys")
    cfg = coerce_numbers(coerce_mapping(copy.deepcopy(dict(raw or {}))), schema, schema)
    check_finite(cfg)
    validate(cfg, schema)
    cfg = fill_defaults(schema, cfg)
    try:  # paths and the sweep's size, before the (possibly huge) grid is expanded
        for key in ("results", "data_root"):
            cfg[key] = limits.check_dir_setting(key, cfg[key])
        limits.check_sweep_size(cfg["sweep"], cfg["limits"])
    except limits.LimitError as err:
        raise ConfigError(str(err)) from None
    try:  # before the points: their size checks use the declared datasets' real sizes
        registry = cfg["registry"] = declared_registry(cfg["datasets"])
    except DatasetSpecError as err:
        raise ConfigError(str(err)) from None
    _check_dataset_names(cfg["sweep"], registry)
    points: dict[str, dict] = {}
    for where, raw_point in expand_sweep(cfg["sweep"], schema):
        try:
            check_toy_fields(raw_point, where, POINT_DEFAULTS["dataset"])
        except ValueError as err:
            raise ConfigError(str(err)) from None
        p = normalize_point(raw_point, registry)
        _check_point(p, where, registry)
        points.setdefault(run_id(p), p)
    cfg["points"] = points
    try:  # each point's memory, disk and updates; totals for the plan line (limits.plan_line)
        cfg["plan"] = limits.plan_summary(points, cfg["limits"], registry)
        if cfg["effective_width"]["enabled"]:
            limits.check_derived_widths(points, cfg["effective_width"]["factors"], cfg["limits"], registry)
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
