"""Self-contained HTML pages: the scripts a page loads from a CDN are inlined from pinned local copies
(topolearn/utils/vendor/, see its README), so the pages render without internet."""

import re
from pathlib import Path

VENDOR = Path(__file__).resolve().parent / "vendor"

# The CDN scripts of KeplerMapper 2.1's base.html, and the local copy of each.
CDN_SCRIPTS = {
    "https://cdnjs.cloudflare.com/ajax/libs/d3/6.1.1/d3.js": "d3-6.1.1.min.js",
    "https://cdn.jsdelivr.net/npm/file-saver@2.0.2/dist/FileSaver.min.js": "FileSaver-2.0.2.min.js",
}
# Decorations fetched from the web (a favicon, a web font): dropped, the page falls back to local fonts.
_REMOTE_LINK = re.compile(r'<link\b[^>]*\bhref=["\']https?://[^>]*>\s*', re.IGNORECASE)
_REMOTE_SCRIPT = re.compile(r'<script\b[^>]*\bsrc=["\'](https?://[^"\']+)["\'][^>]*>\s*</script>', re.IGNORECASE)


class OfflineError(RuntimeError):
    """A page would still need the internet (e.g. a template upgrade brought a new CDN script)."""


def _inline(url: str) -> str:
    name = CDN_SCRIPTS.get(url)
    if name is None:
        raise OfflineError(f"no local copy of {url}: vendor it under {VENDOR} and list it in CDN_SCRIPTS")
    # "</script" inside inline code would end the element early.
    code = (VENDOR / name).read_text(encoding="utf-8").replace("</script", "<\\/script")
    return f"<script>/* {name}, inlined */\n{code}\n</script>"


def inline_scripts(html: str) -> str:
    """`html` with every remote <script src> replaced by its pinned local copy and remote <link>s
    dropped; raises OfflineError for a remote script without a local copy."""
    html = _REMOTE_LINK.sub("", html)
    return _REMOTE_SCRIPT.sub(lambda m: _inline(m.group(1)), html)


def remote_references(html: str) -> list[str]:
    """URLs the page would fetch while loading (src= of any element, href= of a <link>): [] offline.
    Plain <a href> links are not fetched and not counted."""
    srcs = re.findall(r'\bsrc=["\'](https?://[^"\']+)["\']', html, re.IGNORECASE)
    links = re.findall(r'<link\b[^>]*\bhref=["\'](https?://[^"\']+)["\']', html, re.IGNORECASE)
    return srcs + links
