"""Send a rule script's output to its Snakemake log file; a failure shows one line on the console.

The profiles set `show-failed-logs: false`: the console gets the line `logged` prints (what went
wrong and where the log is) instead of the whole log; the traceback stays in the log.
"""

import errno
import logging
import sys
import traceback
from contextlib import contextmanager, redirect_stderr, redirect_stdout

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def disk_full_error(exc: BaseException) -> OSError | None:
    """The "no space left" / "quota exceeded" OSError behind `exc` (itself or a cause), if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def failure_line(exc: BaseException, log_path) -> str:
    """One line for the console: a full disk names the path being written, anything else its
    error type and first message line, both with the log that holds the traceback."""
    full = disk_full_error(exc)
    if full is not None:
        where = full.filename if full.filename is not None else "(path not reported)"
        return f"topolearn: disk full writing {where} ({full.strerror}); log: {log_path}"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"topolearn: {type(exc).__name__}{': ' + first if first else ''} (traceback in {log_path})"


@contextmanager
def logged(path, mode: str = "a"):
    """Redirect stdout, stderr and `logging` to `path`. An exception is written there in full, one
    line (failure_line) goes to the console, and the job exits with status 1.

    Append mode by default: a resumed job keeps the earlier attempts' lines above its own.
    """
    with open(path, mode, buffering=1) as log, redirect_stdout(log), redirect_stderr(log):
        handler = logging.StreamHandler(log)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield log
        except Exception as exc:  # not SystemExit: `fail` has already said what went wrong
            line = failure_line(exc, path)
            try:  # the log may be on the full disk
                traceback.print_exc(file=log)
                print(line, file=log)
            except OSError:
                pass
            print(line, file=sys.__stderr__, flush=True)
            raise SystemExit(1) from None
        finally:
            root.removeHandler(handler)


def fail(message: str, code: int = 1):
    """A user-facing error: the message in the log and on the real stderr (the console), no traceback."""
    print(message)
    print(message, file=sys.__stderr__)
    sys.exit(code)
