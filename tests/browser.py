"""Headless Chromium for the tests of the HTML pages the workflow writes, offline: every network
request goes to a dead proxy, so a page that needs the internet shows it."""

import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NO_CHROMIUM = "chromium is not installed (Debian package chromium; make sysdeps)"


def render(path: Path, tmp_path: Path, budget_ms: int = 5000) -> subprocess.CompletedProcess:
    """Chromium's DOM (stdout) after the page's scripts ran, its console and network log (stderr)."""
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>", f"--user-data-dir={tmp_path / 'profile'}",
         "--enable-logging=stderr", "--v=0", f"--virtual-time-budget={budget_ms}", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=120)


def console(stderr: str) -> list[str]:
    """The page's console messages (Chromium logs each as INFO:CONSOLE)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]
