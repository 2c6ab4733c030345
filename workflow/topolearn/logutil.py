"""Send a rule script's output to its Snakemake log file."""

import logging
import sys
import traceback
from contextlib import contextmanager, redirect_stderr, redirect_stdout


@contextmanager
def logged(path, mode: str = "a"):
    """Redirect stdout, stderr and `logging` to `path`; an exception is written there too, then re-raised.

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
        except Exception:  # not SystemExit: `fail` has already said what went wrong
            traceback.print_exc(file=log)
            raise
        finally:
            root.removeHandler(handler)


def fail(message: str, code: int = 1):
    """A user-facing error: the message in the log and on the real stderr (the console), no traceback."""
    print(message)
    print(message, file=sys.__stderr__)
    sys.exit(code)
