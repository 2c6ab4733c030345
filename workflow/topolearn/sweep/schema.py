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


def coerce_numbers(value, node: dict, root: dict):
    """`value` with every number string (YAML 1.1 reads `1e-2` and `1e+9` as strings) turned into
    the number wherever the schema `node` takes a (real) number and no string, and a whole float
    (`1.0e+8`) into an int where it takes an integer only; integers are never read from text, as
    for the point fields (topolearn.sweep.points.coerce). Walks properties, mapping values, list
    items, `$ref`s, alternatives and sweep axes (an axis value, or each of its values, is a value of
    the point field it names)."""
    node = _resolve(node, root)
    if isinstance(value, dict):
        props, extra = node.get("properties", {}), node.get("additionalProperties")
        axes = _resolve(node.get("propertyNames", {}), root).get("enum") == root["$defs"]["point_field"]["enum"]
        out = {}
        for k, v in value.items():
            sub = props.get(k) or (extra if isinstance(extra, dict) else None)
            if sub is None and axes and k in root["$defs"]["point"]["properties"]:
                sub = {"anyOf": [root["$defs"]["point"]["properties"][k], {"type": "array", "items": {
                    "anyOf": [root["$defs"]["point"]["properties"][k], {"$ref": "#/$defs/point"}]}}]}
            if sub is None:
                sub = next((a for a in _alternatives(node, root) if isinstance(a, dict) and k in a.get("properties", {})),
                           {}).get("properties", {}).get(k)
            out[k] = coerce_numbers(v, sub, root) if sub is not None else v
        return out
    if isinstance(value, list):
        items = node.get("items") or next((a["items"] for a in _alternatives(node, root) if "items" in a), None)
        return [coerce_numbers(v, items, root) for v in value] if items is not None else value
    types = _types(node, root)
    if isinstance(value, str) and "number" in types and "string" not in types and value not in _literals(node, root):
        try:
            value = float(value)
        except ValueError:
            return value
    if isinstance(value, float) and value.is_integer() and "integer" in types and "number" not in types:
        return int(value)
    return value


def _resolve(node, root: dict) -> dict:
    while isinstance(node, dict) and "$ref" in node:
        node = {**root["$defs"][node["$ref"].rsplit("/", 1)[1]], **{k: v for k, v in node.items() if k != "$ref"}}
    return node if isinstance(node, dict) else {}


def _alternatives(node: dict, root: dict) -> list[dict]:
    return [_resolve(a, root) for a in node.get("oneOf", []) + node.get("anyOf", [])]


def _types(node: dict, root: dict) -> set[str]:
    """JSON types a schema node admits by `type` (its own and its alternatives')."""
    t = node.get("type")
    out = set(t if isinstance(t, list) else [t] if t else [])
    for a in _alternatives(node, root):
        out |= _types(a, root)
    return out


def _literals(node: dict, root: dict) -> list:
    """The enum and const values a schema node admits (`all`, `auto`...): never numbers to parse."""
    out = list(node.get("enum", [])) + ([node["const"]] if "const" in node else [])
    for a in _alternatives(node, root):
        out += _literals(a, root)
    return out


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
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[v]
        return f"must be {op} {err.validator_value}" + _range(s)
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


def _range(s: dict) -> str:
    """` (allowed: 50..1000)` for a value bounded on both sides, else nothing."""
    lo = ("minimum", s["minimum"]) if "minimum" in s else ("exclusiveMinimum", s.get("exclusiveMinimum"))
    hi = ("maximum", s["maximum"]) if "maximum" in s else ("exclusiveMaximum", s.get("exclusiveMaximum"))
    if lo[1] is None or hi[1] is None:
        return ""
    if lo[0] == "minimum" and hi[0] == "maximum":
        return f" (allowed: {lo[1]}..{hi[1]})"
    return f" (allowed: {'>=' if lo[0] == 'minimum' else '>'} {lo[1]} and {'<=' if hi[0] == 'maximum' else '<'} {hi[1]})"


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


