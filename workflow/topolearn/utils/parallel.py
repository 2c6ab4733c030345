"""Per-run work of a batch job in parallel processes, where one run's failure never stops the others."""

import traceback
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from threadpoolctl import threadpool_limits


def _guarded(fn, *args) -> tuple[bool, str]:
    """Run one run's work; a failure is reported, not raised, so the batch's other runs finish."""
    try:
        with threadpool_limits(1):  # one BLAS thread per worker: the job's threads are the workers
            return True, fn(*args)
    except Exception as exc:  # noqa: BLE001 (reported with its traceback below)
        return False, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"


def run_parallel(fn, items: list, args: tuple, threads: int, names: list[str]) -> None:
    """fn(item, *args) for every item, `threads` processes at a time; raise one error naming every
    failed run after all have been tried."""
    if threads <= 1 or len(items) <= 1:
        results = [_guarded(fn, it, *args) for it in items]
    else:
        with ProcessPoolExecutor(min(threads, len(items)), mp_context=get_context("fork")) as pool:
            results = list(pool.map(_guarded, [fn] * len(items), items, *[[a] * len(items) for a in args]))
    failed = []
    for name, (ok, msg) in zip(names, results):
        if ok:
            print(msg, flush=True)
        else:
            print(f"{name} FAILED: {msg}", flush=True)
            failed.append(f"{name} ({msg.splitlines()[0]})")
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(items)} run(s) failed: " + "; ".join(failed))
