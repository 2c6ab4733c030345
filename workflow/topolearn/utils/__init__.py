"""Helpers every stage may use: rule script logs, offline HTML pages, parallel batches, TSV tables."""

from .lazy import lazy_exports
from .logs import fail, logged
from .offline import OfflineError, inline_scripts, remote_references
from .parallel import run_parallel
from .tables import read_tsv, write_tsv

__all__ = ["fail", "logged", "OfflineError", "inline_scripts", "remote_references", "run_parallel",
           "read_tsv", "write_tsv", "lazy_exports"]
