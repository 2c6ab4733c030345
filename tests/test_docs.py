"""The documentation keeps up with the code: every config key of the schema is in docs/config.md,
and every relative link of the README and the docs reaches a file."""

import re
from pathlib import Path

import pytest
from schema_keys import schema_names

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DOC = ROOT / "docs" / "config.md"
LINKED_DOCS = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", ROOT / "config" / "README.md",
               *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def test_the_schema_walk_finds_every_kind_of_key():
    names = schema_names()
    # top level, a nested section, a mapping's values, a oneOf alternative, $defs point and mapper fields
    assert {"results", "pack_size", "max_point_gb", "format", "eps_scale", "init_noise", "overlap_perc"} <= names


@pytest.mark.parametrize("name", sorted(schema_names()))
def test_every_config_key_is_documented(name):
    assert f"`{name}`" in CONFIG_DOC.read_text(), f"docs/config.md does not document config key `{name}`"


def relative_links(doc: Path) -> list[str]:
    text = FENCE.sub("", doc.read_text())  # code blocks hold no links
    targets = [t.split("#", 1)[0] for t in LINK.findall(text)]
    return [t for t in targets if t and not re.match(r"^[a-z][a-z0-9+.-]*:", t)]  # no http:, mailto: ...


@pytest.mark.parametrize("doc", LINKED_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_reach_files(doc):
    missing = [t for t in relative_links(doc) if not (doc.parent / t).exists()]
    assert not missing, f"{doc.relative_to(ROOT)} links to missing files: {missing}"


def test_link_check_sees_links():
    assert "docs/config.md" in relative_links(ROOT / "README.md")
