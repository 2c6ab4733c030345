"""Learning-graph pages render offline: d3 is inlined from the pinned copy, checked in headless Chromium."""

import json
import re

import pytest

import learning_clouds as lc
from browser import CHROMIUM, NO_CHROMIUM, render
from test_mapper import run_mapper
from topolearn.utils.offline import CDN_SCRIPTS, VENDOR, OfflineError, inline_scripts, remote_references


def test_every_cdn_script_has_a_pinned_copy_and_license():
    for name in CDN_SCRIPTS.values():
        assert (VENDOR / name).stat().st_size > 1000
        assert (VENDOR / name.replace(".min.js", ".LICENSE")).is_file()
        assert name in (VENDOR / "README.md").read_text()


def test_inline_replaces_cdn_scripts_and_drops_remote_links():
    url = next(iter(CDN_SCRIPTS))
    page = (f'<html><head><link href="https://fonts.example/x.css" rel="stylesheet"></head>'
            f'<body><script src="{url}"></script><script>go()</script></body></html>')
    out = inline_scripts(page)
    assert remote_references(page) and remote_references(out) == []
    assert "d3-6.1.1.min.js, inlined" in out and out.endswith("<script>go()</script></body></html>")


def test_an_unknown_cdn_script_is_refused():
    with pytest.raises(OfflineError, match="no local copy of https://cdn.example/new.js"):
        inline_scripts('<script src="https://cdn.example/new.js"></script>')


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """A real learning-graph page (a three-branch comb) and its graph's node count."""
    tmp = tmp_path_factory.mktemp("html")
    w, t = lc.comb()
    store = lc.write_store(tmp / "s.zarr", [w], t)
    doc, out = run_mapper(tmp, store, lens="epoch", intervals=20)
    return out["html"], len(json.loads(out["json"].read_text())["nodes"])


def test_the_written_page_needs_nothing_from_the_network(page):
    html, _ = page
    text = html.read_text()
    assert remote_references(text) == [] and "d3-6.1.1.min.js, inlined" in text


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_the_page_renders_every_node_in_headless_chromium_offline(page, tmp_path):
    html, n_nodes = page
    res = render(html, tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "is not defined" not in res.stderr, res.stderr[-2000:]  # e.g. "d3 is not defined"
    # kmapper.js draws each graph node as <g class="node"> holding a <path class="circle">.
    nodes = re.findall(r'<g[^>]*class="node"[^>]*>\s*<path[^>]*class="circle"', res.stdout)
    assert n_nodes > 3 and len(nodes) == n_nodes
