"""Are two results folders the same results? `python benchmarks/compare_results.py RESULTS_A RESULTS_B`

The check that a change to the code leaves a sweep's outputs as they were: run the same config
into two folders (before and after) and compare. Prints one line per difference, then
`identical: N stores, M tables, S stamps, K learning graphs` (exit 0) or `DIFFERENT: ...` (exit 1).

Compared:
- stores: every `snapshots.zarr` under the folder (runs/ and effective_width/runs/), matched by
  path. Arrays: the same paths, dtype, shape, attrs, and values bit for bit (NaN equals NaN,
  whatever its payload). Root attrs: equal, except those that record where, when and how fast a
  run trained, which legitimately differ between two runs of the same point (IGNORED_ATTRS):
    wall_time_s, timing        seconds, machine load
    hostname, slurm_job_id     where it ran
    resumed_from               interruptions (a resumed store equals an uninterrupted one)
    versions.topolearn         the version string of the code under comparison
  `manifest` (size and CRC32 of every file) is compared: equal arrays, codec and metadata give
  equal bytes, so a difference there is a difference in the files.
- tables: every `.tsv` outside logs/, figures/, checkpoints/, quarantine/, archive/, the InPCA
  cache and the analysis tables (sweep.tsv, summary.tsv, stability/, inpca/ coords and stress,
  effective_width/), byte for byte; when the bytes differ, cell by cell, where the columns of
  IGNORED_COLUMNS are left out (summary.tsv's `wall_time_s`: a copy of the store attr).
- analysis tables (branches, curve, events, symmetry, layers): by content, whichever folder holds a
  run's rows (its batch's tables/{gid}/ or its own mapper folder: topolearn.analysis.tables), every
  run of either folder's mapper/, rows sorted by run id (each run's rows in their written order),
  cell by cell as written.
- learning graphs: every run of either folder's mapper/, layer by layer as parsed JSON, whichever
  layout holds them (mapper/{run_id}/graphs.json, or the per-layer {layer}.json of a folder made
  before it: topolearn.learning_graphs.read_graphs), so an older folder compares with a newer one.
- stamps: every mapper/{run_id}/analysis.json, as parsed JSON; its `tables` (where the rows are,
  which depends on how runs were batched) is left out.

A file present in one folder only is a difference. `--ignore-attr` and `--ignore-column` add to
the lists (e.g. `--ignore-attr pack` to compare a folder where some runs were retrained alone).
"""

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

IGNORED_ATTRS = {"wall_time_s", "timing", "hostname", "slurm_job_id", "resumed_from", "versions.topolearn"}
IGNORED_COLUMNS = {"wall_time_s"}
SKIPPED_DIRS = {"logs", "figures", "checkpoints", "quarantine", "archive", "cache"}
EXAMPLES = 3  # differing cells or elements shown per column or array


ANALYSIS_DIRS = ("tables", "mapper")  # analysis tables: compared by content (compare_analysis_tables)


def _kept(rel: Path) -> bool:
    return not SKIPPED_DIRS & set(rel.parts[:-1])


def find(root: Path, pattern: str) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob(pattern) if _kept(p.relative_to(root))}


def flatten(d: dict, prefix: str = "") -> dict:
    """{"a.b": value} of nested dicts, so an ignored field can be one key of a nested attr."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


# ---------------------------------------------------------------- stores


def same_values(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise: the same bits, or both NaN."""
    if a.dtype.kind not in "fc":
        return a == b
    fa, fb = np.ascontiguousarray(a).reshape(-1), np.ascontiguousarray(b).reshape(-1)
    bits = fa.view(np.uint8).reshape(fa.size, a.itemsize) == fb.view(np.uint8).reshape(fb.size, b.itemsize)
    return (bits.all(axis=1) | (np.isnan(fa) & np.isnan(fb))).reshape(a.shape)


def _arrays(group, prefix=""):
    import zarr

    for name, member in sorted(group.members()):
        if isinstance(member, zarr.Group):
            yield from _arrays(member, f"{prefix}{name}/")
        else:
            yield f"{prefix}{name}", member


def compare_attrs(where: str, a: dict, b: dict, ignored) -> list[str]:
    fa, fb = flatten(a), flatten(b)
    out = []
    for k in sorted(set(fa) | set(fb)):
        if k in ignored or any(k.startswith(f"{i}.") for i in ignored):
            continue
        if k not in fa or k not in fb:
            out.append(f"{where}: attr {k} only in {'B' if k not in fa else 'A'}")
        elif fa[k] != fb[k] and not (fa[k] != fa[k] and fb[k] != fb[k]):  # NaN attrs are equal
            if k.startswith("manifest."):
                out.append(f"{where}: file {k[len('manifest.'):]} differs (size, crc32) {fa[k]} vs {fb[k]}")
            else:
                out.append(f"{where}: attr {k} {_short(fa[k])} vs {_short(fb[k])}")
    return out


def compare_store(rel: str, a: Path, b: Path, ignored) -> list[str]:
    """Differences of two stores, read through the checked path; a damaged one is named (it is
    compared, not judged: nothing is moved)."""
    from topolearn.store.snapshots import StoreError, open_store

    try:
        return _compare_stores(rel, open_store(a, deep=False, quarantine=False),
                               open_store(b, deep=False, quarantine=False), ignored)
    except StoreError as err:
        return [f"{rel}: damaged: {err}"]


def _compare_stores(rel: str, ga, gb, ignored) -> list[str]:
    out = compare_attrs(rel, ga.attrs.asdict(), gb.attrs.asdict(), ignored)
    arrays_a, arrays_b = dict(_arrays(ga)), dict(_arrays(gb))
    for name in sorted(set(arrays_a) ^ set(arrays_b)):
        out.append(f"{rel}: array {name} only in {'A' if name in arrays_a else 'B'}")
    for name in sorted(set(arrays_a) & set(arrays_b)):
        x, y = arrays_a[name], arrays_b[name]
        where = f"{rel}/{name}"
        if x.dtype != y.dtype or x.shape != y.shape:
            out.append(f"{where}: dtype/shape {x.dtype}{x.shape} vs {y.dtype}{y.shape}")
            continue
        out += compare_attrs(where, x.attrs.asdict(), y.attrs.asdict(), ())
        u, v = x[...], y[...]
        same = same_values(np.asarray(u), np.asarray(v))
        if not same.all():
            idx = np.argwhere(~same)
            shown = ", ".join(f"{tuple(int(i) for i in j)}: {u[tuple(j)].item()!r} vs {v[tuple(j)].item()!r}"
                              for j in idx[:EXAMPLES])
            out.append(f"{where}: {len(idx)} of {same.size} values differ ({shown})")
    return out


# ---------------------------------------------------------------- tables and graphs


def compare_table(rel: str, a: Path, b: Path, ignored_columns) -> list[str]:
    if a.read_bytes() == b.read_bytes():
        return []
    if not a.stat().st_size or not b.stat().st_size:
        return [f"{rel}: one table is empty"]
    from topolearn.utils.tables import read_tsv

    return compare_frames(rel, read_tsv(a, dtype=str), read_tsv(b, dtype=str), ignored_columns)


def mapper_runs(a: Path, b: Path) -> list[str]:
    """The run ids of either folder's mapper/."""
    return sorted({p.name for root in (a, b) if (root / "mapper").is_dir() for p in (root / "mapper").iterdir()
                   if p.is_dir()})


def compare_analysis_tables(a: Path, b: Path, ignored_columns) -> tuple[list[str], int]:
    """Each analysis table kind of every run of either folder, by content (module doc)."""
    from topolearn.analysis.tables import KINDS, sweep_tables

    rids = mapper_runs(a, b)
    ta, tb = sweep_tables(a, rids, dtype=str), sweep_tables(b, rids, dtype=str)
    out = []
    for kind in KINDS:
        out += compare_frames(f"analysis table {kind}", ta[kind], tb[kind], ignored_columns, formatting=False)
    return out, len(KINDS) if rids else 0


def compare_frames(rel: str, ta, tb, ignored_columns, formatting: bool = True) -> list[str]:
    """Cell by cell (strings as written); `formatting`: say so when only the bytes differed."""
    cols_a, cols_b = [c for c in ta if c not in ignored_columns], [c for c in tb if c not in ignored_columns]
    if cols_a != cols_b:
        only_a, only_b = sorted(set(cols_a) - set(cols_b)), sorted(set(cols_b) - set(cols_a))
        return [f"{rel}: columns differ (only in A: {only_a}, only in B: {only_b}, or another order)"]
    if len(ta) != len(tb):
        return [f"{rel}: {len(ta)} rows vs {len(tb)}"]
    out = []
    for c in cols_a:
        x, y = ta[c], tb[c]
        diff = ~((x == y) | (x.isna() & y.isna()))
        if diff.any():
            rows = np.flatnonzero(diff.to_numpy())
            shown = ", ".join(f"row {r}: {x.iloc[r]!r} vs {y.iloc[r]!r}" for r in rows[:EXAMPLES])
            out.append(f"{rel}: column {c}: {len(rows)} of {len(x)} cells differ ({shown})")
    if formatting and not out and ignored_columns.isdisjoint(ta.columns):
        out.append(f"{rel}: bytes differ, cells equal (formatting)")
    return out


def compare_json(rel: str, a: Path, b: Path) -> list[str]:
    da, db = json.loads(a.read_text()), json.loads(b.read_text())
    if Path(rel).name == "analysis.json":  # where the run's rows are: an execution detail
        da, db = ({k: v for k, v in d.items() if k != "tables"} if isinstance(d, dict) else d for d in (da, db))
    return compare_docs(rel, da, db)


def compare_docs(rel: str, da, db) -> list[str]:
    if da == db:
        return []
    fa, fb = flatten(da), flatten(db)
    keys = sorted(k for k in set(fa) | set(fb) if fa.get(k, object()) != fb.get(k, object()))
    return [f"{rel}: {len(keys)} field(s) differ: {', '.join(keys[:EXAMPLES * 2])}"]


def _short(v) -> str:
    s = repr(v)
    return s if len(s) <= 80 else s[:77] + "..."


def compare_graphs(a: Path, b: Path) -> tuple[list[str], int]:
    """Each run's learning graphs, layer by layer, in either layout (module doc); (differences, the
    number of layer documents compared)."""
    from topolearn.learning_graphs.graphs import GRAPHS, read_graphs

    out, n = [], 0
    for rid in mapper_runs(a, b):
        ga, gb = (read_graphs(root / "mapper" / rid) if (root / "mapper" / rid).is_dir() else {} for root in (a, b))
        rel = f"mapper/{rid}/{GRAPHS}"
        out += [f"{rel}: layer {layer}: only in A" for layer in ga if layer not in gb]
        out += [f"{rel}: layer {layer}: only in B" for layer in gb if layer not in ga]
        for layer in (layer for layer in ga if layer in gb):
            out += compare_docs(f"{rel}: layer {layer}", ga[layer], gb[layer])
            n += 1
    return out, n


# ---------------------------------------------------------------- the comparison


def compare(a: Path, b: Path, ignored_attrs=IGNORED_ATTRS, ignored_columns=IGNORED_COLUMNS):
    """(differences, counts): one line per difference; {"stores": n, "tables": m, "learning graphs": k,
    "stamps": s}."""
    diffs, counts = [], {}
    kinds = (("stores", "snapshots.zarr", lambda r, x, y: compare_store(r, x, y, ignored_attrs)),
             ("tables", "*.tsv", lambda r, x, y: compare_table(r, x, y, ignored_columns)),
             ("stamps", "mapper/*/analysis.json", compare_json))
    for kind, pattern, fn in kinds:
        in_a, in_b = find(a, pattern), find(b, pattern)
        if kind == "tables":
            in_a, in_b = ({r for r in found if Path(r).parts[0] not in ANALYSIS_DIRS} for found in (in_a, in_b))
        diffs += [f"{rel}: only in A" for rel in sorted(in_a - in_b)]
        diffs += [f"{rel}: only in B" for rel in sorted(in_b - in_a)]
        both = sorted(in_a & in_b)
        for rel in both:
            diffs += fn(rel, a / rel, b / rel)
        counts[kind] = len(both)
    found, n = compare_analysis_tables(a, b, ignored_columns)
    diffs += found
    counts["tables"] += n
    found, counts["learning graphs"] = compare_graphs(a, b)
    diffs += found
    return diffs, counts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path, help="results folder A")
    ap.add_argument("b", type=Path, help="results folder B")
    ap.add_argument("--ignore-attr", action="append", default=[],
                    help="another store attr to leave out (dotted: versions.torch)")
    ap.add_argument("--ignore-column", action="append", default=[], help="another table column to leave out")
    args = ap.parse_args(argv)
    for p in (args.a, args.b):
        if not p.is_dir():
            ap.error(f"{p}: not a folder")
    # Snakemake's .snakemake_timestamp inside a store is no zarr member
    warnings.filterwarnings("ignore", message=".*not recognized as a component of a Zarr hierarchy")
    diffs, counts = compare(args.a, args.b, IGNORED_ATTRS | set(args.ignore_attr),
                            IGNORED_COLUMNS | set(args.ignore_column))
    for line in diffs:
        print(line)
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    if diffs:
        print(f"DIFFERENT: {len(diffs)} difference(s) in {summary}")
        return 1
    if not any(counts.values()):
        print("DIFFERENT: nothing to compare (no stores, tables or learning graphs)")
        return 1
    print(f"identical: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
