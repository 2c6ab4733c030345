"""Command line: `python -m topolearn verify RESULTS`, `python -m topolearn stale --configfile F` and
`python -m topolearn progress [RESULTS] --configfile F [--watch S]`.

Run from the repository root with workflow/ on the path, e.g.
`PYTHONPATH=workflow .venv/bin/python -m topolearn verify results`.
"""

import argparse
import sys
from pathlib import Path

from .sweep.schema import ConfigError
from .sweep.config import load_config_file
from .store.stale import archive_runs, describe_params, stale_runs
from .store.checks import check_store, check_stores, is_results_folder
from .store.datacheck import verify_data


def stores_under(results: Path) -> list[Path]:
    return sorted(results.glob("runs/*/snapshots.zarr"))


def verify(args) -> int:
    """Deep-check every store; quarantine the damaged ones (with their products) unless --report-only."""
    results = Path(args.results)
    if not results.is_dir():
        print(f"topolearn: {results}: no such results folder", file=sys.stderr)
        return 2
    if not is_results_folder(results):  # never move stores of a folder topolearn did not write
        print(f"topolearn: {results}: not a topolearn results folder (no sweep.tsv, no store under runs/ "
              "written by topolearn); nothing checked", file=sys.stderr)
        return 2
    stores = stores_under(results)
    if args.report_only:
        bad = [r for r in (check_store(s, deep=not args.quick) for s in stores) if r]
    else:
        bad = check_stores(stores, results / "quarantine", deep=not args.quick)
    for msg in bad:
        print(f"topolearn: {msg}")
    kind = "sizes" if args.quick else "CRC32 of every file"
    print(f"topolearn: {len(stores)} store(s) checked ({kind}), {len(bad)} damaged"
          + ("" if args.report_only or not bad else "; run snakemake to rebuild them"))
    data_lines, n_changed = verify_data(stores)  # training data by content (sha256 recorded in each store)
    for line in data_lines:
        print(f"topolearn: {line}")
    return 1 if bad or n_changed else 0


def stale(args) -> int:
    try:
        cfg = load_config_file(args.configfile)
    except (ConfigError, OSError) as err:
        print(f"topolearn: invalid config: {err}", file=sys.stderr)
        return 2
    results = Path(cfg["results"])
    runs = stale_runs(results, cfg["points"])
    for r in runs:
        print(f"{r['run_id']}\t{r['size'] / 1e6:.1f} MB\t{describe_params(r['params'])}")
    total = sum(r["size"] for r in runs) / 1e6
    if args.archive and runs:
        dests = archive_runs(runs, results / "archive")
        print(f"topolearn: {len(dests)} stale run(s) ({total:.1f} MB) moved to {results / 'archive'}")
    else:
        print(f"topolearn: {len(runs)} stale run(s) ({total:.1f} MB) in {results / 'runs'} not in {args.configfile}"
              + ("; --archive moves them to " + str(results / "archive") if runs else ""))
    return 0


def progress(args) -> int:
    """Networks of the config's sweep trained and analysed so far (the line the workflow prints)."""
    from .sweep import packing
    from .sweep import progress as prog

    try:
        cfg = load_config_file(args.configfile)
    except (ConfigError, OSError) as err:
        print(f"topolearn: invalid config: {err}", file=sys.stderr)
        return 2
    if args.watch is not None and not args.watch > 0:
        print(f"topolearn: --watch {args.watch:g} is invalid; allowed: seconds > 0", file=sys.stderr)
        return 2
    fp = packing.fingerprint(packing.analysis_settings(cfg))
    try:
        prog.watch(prog.run_files(args.results or cfg["results"], sorted(cfg["points"]), fp), fp, args.watch)
    except KeyboardInterrupt:
        pass
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m topolearn", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="check every store of a results folder; quarantine damaged ones")
    v.add_argument("results", help="the results folder (config key `results`)")
    v.add_argument("--quick", action="store_true", help="sizes and completeness only, no checksums")
    v.add_argument("--report-only", action="store_true", help="list damaged stores, move nothing")
    v.set_defaults(func=verify)
    s = sub.add_parser("stale", help="list stores of runs the config no longer plans")
    s.add_argument("--configfile", default="config/config.yaml", help="the config (default: config/config.yaml)")
    s.add_argument("--archive", action="store_true", help="move them and their products to {results}/archive/")
    s.set_defaults(func=stale)
    p = sub.add_parser("progress", help="networks of the sweep trained and analysed, and the time left")
    p.add_argument("results", nargs="?", help="the results folder (default: the config's `results`)")
    p.add_argument("--configfile", default="config/config.yaml", help="the config (default: config/config.yaml)")
    p.add_argument("--watch", type=float, metavar="S", help="look again every S seconds until all are done")
    p.set_defaults(func=progress)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
