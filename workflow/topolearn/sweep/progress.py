"""Whole-sweep progress: how many networks of the sweep are trained and analysed, and the time left.

Snakemake's "x of y steps" counts jobs, and one training pack is one job of up to `pack_size`
networks, so it says little about a sweep. Here the networks are counted from the results folder by
the same tests that plan the jobs (topolearn.sweep.packing): a network is trained when its store is
there, analysed when its analysis is complete and current. The time left is the remaining work
(each network trained, then analysed: 2 units) at the rate since the reporter started.

Two users: the workflow's main process (rules/common/progress.smk: a background thread started in
`onstart`, stopped in `onsuccess`/`onerror`, one line on stderr whenever a count changes), and
`python -m topolearn progress` in another terminal (clusters). Light module: stat calls only, no
heavy import (the workflow imports it while planning). TOPOLEARN_PROGRESS=0 silences the line.
"""

import os
import sys
import threading
import time

from . import packing

ENV = "TOPOLEARN_PROGRESS"  # 0, off, false, no: no progress line in the workflow
POLL_S = 5.0  # seconds between two looks at the results folder


def enabled(environ=os.environ) -> bool:
    return environ.get(ENV, "1").strip().lower() not in ("0", "off", "false", "no")


def run_files(results: str, run_ids, fingerprint: str) -> list[tuple[str, str, str]]:
    """Per network: (results folder, run id, store): what its two counts look at."""
    return [(results, r, f"{results}/runs/{r}/snapshots.zarr") for r in run_ids]


def count_done(runs, fingerprint: str) -> tuple[int, int]:
    """(trained, analysed) networks of `runs` (run_files), by packing's own tests."""
    trained = analysed = 0
    for results, rid, store in runs:
        if packing.store_present(store):
            trained += 1
            analysed += packing.run_analysis_done(results, rid, fingerprint)
    return trained, analysed


def seconds_left(start: tuple[int, int], now: tuple[int, int], total: int, elapsed: float) -> float | None:
    """Seconds to train and analyse every network at the rate since `start` ((trained, analysed)
    then; `now` after `elapsed` seconds); None until some work is done in that time."""
    done0, done = sum(start), sum(now)
    if done <= done0 or elapsed <= 0:
        return None
    return max(0, 2 * total - done) * elapsed / (done - done0)


def format_left(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return ", <1 min left"
    if seconds < 5400:
        return f", ~{round(seconds / 60)} min left"
    return f", ~{seconds / 3600:.1f} h left"


def progress_line(trained: int, analysed: int, total: int, left: float | None = None) -> str:
    """topolearn: networks trained 312/1000, analysed 128/1000, ~4 min left"""
    done = trained == analysed == total
    return (f"topolearn: networks trained {trained}/{total}, analysed {analysed}/{total}"
            + ("" if done else format_left(left)))


class Reporter:
    """Polls the results folder every `interval` seconds and writes a line when a count changes."""

    def __init__(self, runs, fingerprint: str, interval: float = POLL_S, out=None, clock=time.monotonic):
        self.runs, self.fingerprint, self.interval = list(runs), fingerprint, interval
        self.out, self.clock = out, clock
        self._stop = threading.Event()
        self._thread = None
        self.counts = self.start_counts = None  # the last counts; the first: the rate is measured from them
        self.t0 = clock()

    def poll(self) -> str | None:
        """Count now; write and return the line when the counts changed since the last one."""
        counts = count_done(self.runs, self.fingerprint)
        if self.start_counts is None:
            self.start_counts, self.t0 = counts, self.clock()
        if counts == self.counts:
            return None
        self.counts = counts
        left = seconds_left(self.start_counts, counts, len(self.runs), self.clock() - self.t0)
        line = progress_line(*counts, len(self.runs), left)
        out = self.out or sys.stderr
        out.write(line + "\n")
        out.flush()
        return line

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except OSError:  # a folder moved while counting (quarantine): count again next time
                pass

    def start(self) -> None:
        self.poll()
        self._thread = threading.Thread(target=self._loop, name="topolearn-progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling; one last line if the counts changed since the last one."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)
        self.poll()


def watch(runs, fingerprint: str, interval: float | None, out=None) -> tuple[int, int]:
    """The line now; with an `interval`, again whenever a count changes (with the time left at the
    rate seen meanwhile) until every network is trained and analysed. Returns the last counts."""
    rep = Reporter(runs, fingerprint, interval or POLL_S, out or sys.stdout)
    rep.poll()
    while interval and rep.counts != (len(rep.runs),) * 2:
        time.sleep(interval)
        rep.poll()
    return rep.counts
