"""The config schema (workflow/schemas/config.schema.yaml) and its one-line error messages.

Every message names the field, the bad value and what is allowed.
"""

import copy
import functools
import math
from pathlib import Path

import jsonschema
import yaml

from .points import POINT_DEFAULTS

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A config problem, phrased for the user (field, bad value, what is allowed)."""


def load_schema() -> dict:
    return copy.deepcopy(_parsed_schema())


@functools.lru_cache(maxsize=1)
def _parsed_schema() -> dict:
    """Parsed once per process: YAML parsing dominated validating a small config."""
    with open(SCHEMA_PATH) as fh:
        return yaml.safe_load(fh)


def check_finite(value, parts=()) -> None:
    """JSON schema bounds let NaN through (every comparison with it is false): refuse nan and inf."""
    if isinstance(value, dict):
        for k, v in value.items():
            check_finite(v, parts + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_finite(v, parts + (i,))
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{field_path(parts)}: {value!r} is invalid; must be a finite number")


def fill_defaults(schema: dict, instance: dict) -> dict:
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if isinstance(instance.get(key), dict) and "properties" in sub:
            fill_defaults(sub, instance[key])
    return instance


# ---------------------------------------------------------------- error messages


def field_path(parts) -> str:
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
        return f"{field_path(parts)}: unknown key(s) {', '.join(map(repr, extra))}; {_allowed(err)}"
    if err.validator == "propertyNames":
        return f"{field_path(parts)}: unknown axis or key {err.instance!r}; {_allowed_names(err)}"
    return f"{field_path(parts)}: {err.instance!r} is invalid; {_allowed(err)}"


def _allowed_names(err) -> str:
    sub = err.validator_value
    if "$ref" in sub:
        return "allowed: " + ", ".join(POINT_DEFAULTS)
    if "pattern" in sub:
        return f"must match {sub['pattern']}"
    return err.message


def validate(instance, schema, prefix=(), root=None) -> None:
    root = root or schema
    validator = jsonschema.Draft202012Validator(schema | {"$defs": root.get("$defs", {})})
    errors = sorted(validator.iter_errors(instance), key=lambda e: (list(e.absolute_path), e.validator))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise ConfigError(_format(best, prefix))


