"""Every config key the schema (workflow/schemas/config.schema.yaml) knows, read from the schema
itself so that the tests never keep a hand-written list that falls behind it."""

from pathlib import Path

import yaml

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def property_names(node) -> set[str]:
    """Every property name of a schema node: its properties, their sections, mapping values
    (additionalProperties) and alternatives (oneOf/anyOf), recursively."""
    if not isinstance(node, dict):
        return set()
    names = set()
    for name, sub in node.get("properties", {}).items():
        names |= {name} | property_names(sub)
    names |= property_names(node.get("additionalProperties"))
    for alt in node.get("oneOf", []) + node.get("anyOf", []):
        names |= property_names(alt)
    return names


def schema_names() -> set[str]:
    schema = yaml.safe_load(SCHEMA.read_text())
    names = property_names(schema)
    for sub in schema.get("$defs", {}).values():  # point fields, Mapper parameters
        names |= property_names(sub)
    return names
