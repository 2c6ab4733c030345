"""A sweep section as points: the grid's cartesian product over `base`, plus explicit points."""

import itertools

from .schema import ConfigError, validate


def _check_axis_value(axis: str, i: int, v, point_schema: dict, schema: dict) -> None:
    """An axis value is a value of its field, or a mapping of point fields that sets its field and
    others with it (a linked value, e.g. `init: [normal, {init: zero, init_noise: 1e-8}]`)."""
    where = f"sweep.grid.{axis}[{i}]"
    if isinstance(v, dict) and axis not in v:
        raise ConfigError(f"{where}: {v!r} is invalid; a mapping on axis {axis!r} must set {axis!r} itself")
    try:
        validate(v if isinstance(v, dict) else {axis: v}, point_schema, (), schema)
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


