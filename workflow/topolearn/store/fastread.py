"""Whole-array reads of finished stores for the sweep-wide jobs (summary, InPCA, explorer, sweep
figures), which read the same few small arrays of every run: at 10,000 runs zarr's per-call cost
(an event-loop hand-off and a thread-pool file read per file, about 1 ms per array) is most of
their time.

`read_arrays` reads each named array's files once, checks each against the store's manifest (size
and CRC32, as snapshots.CheckedStore does) and decodes them with numcodecs (the codec library
zarr's blosc codec wraps). Only the plain layout is decoded here: regular chunks, `/` chunk keys,
the `bytes` codec optionally followed by `blosc`, numeric or boolean types. Any other layout
(sharded arrays, other codecs), and any doubt (an incomplete store, a file missing, altered or
outside the manifest), goes to the checked zarr path (snapshots.open_store), which reads the
values or raises StoreError and quarantines the store as every reader does.
"""

import json
import math
import os
import zlib
from itertools import product
from pathlib import Path

import numpy as np

from .layout import METRICS_ARRAY, stored_names, with_columns

PLAIN_TYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32",
               "float64"}
PLAIN_KEYS = {"name": "default", "configuration": {"separator": "/"}}
FLOAT_FILLS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
MALFORMED = (OSError, ValueError, TypeError, KeyError, AttributeError, RuntimeError)


def read_arrays(path, names) -> tuple[dict, dict[str, np.ndarray]]:
    """(root attributes, {name: array}) of the store at `path`: the named top-level arrays whole,
    each file checked against the manifest, and every file's size, like
    snapshots.open_store(path, deep=names), whose checked zarr read takes over for anything the
    plain decoder does not take (and raises StoreError, quarantining a damaged store). A metric's
    name (layout.METRICS) gives its column of the store's metric table where the store has one."""
    names = tuple(names)
    fast = _read_plain(Path(path), names)
    if fast is not None:
        return fast
    from .snapshots import open_store, read_metric_series

    root = open_store(path, deep=stored_names(names, True) + names)
    return root.attrs.asdict(), read_metric_series(root, names)


def array_shape(path, name: str) -> tuple:
    """The shape of a top-level array, from its checked metadata (no chunk is read)."""
    path = Path(path)
    try:
        manifest = json.loads((path / "zarr.json").read_bytes())["attributes"]["manifest"]
        raw = _checked_bytes(path, f"{name}/zarr.json", manifest)
        if raw is not None:
            return tuple(json.loads(raw)["shape"])
    except MALFORMED:
        pass
    from .snapshots import open_store

    return tuple(open_store(path, deep=(name,))[name].shape)


def array_names(attrs: dict, group: str) -> list[str]:
    """The arrays of a store's subgroup (e.g. "weights"), from its manifest: no directory listing."""
    prefix = f"{group}/"
    return sorted(k[len(prefix):-len("/zarr.json")] for k in attrs.get("manifest") or {}
                  if k.startswith(prefix) and k.endswith("/zarr.json") and k.count("/") == 2)


def _read_plain(path: Path, names: tuple) -> tuple[dict, dict] | None:
    """The arrays, or None: not the plain layout, or something for the checked path to judge."""
    try:
        attrs = json.loads((path / "zarr.json").read_bytes())["attributes"]
        manifest = attrs.get("manifest")
        if attrs.get("complete") is not True or not isinstance(manifest, dict) or not _sizes_match(path, manifest):
            return None
        stored = stored_names(names, f"{METRICS_ARRAY}/zarr.json" in manifest)
        out = {name: _decode(path, name, manifest) for name in stored}
    except MALFORMED:  # malformed metadata: the checked path says what is wrong
        return None
    return None if any(a is None for a in out.values()) else (attrs, with_columns(out, names))


def _sizes_match(path: Path, manifest: dict) -> bool:
    root = str(path)
    for rel, (size, _) in manifest.items():
        try:
            if os.stat(os.path.join(root, rel)).st_size != size:
                return False
        except OSError:
            return False
    return True


def _checked_bytes(path: Path, key: str, manifest: dict) -> bytes | None:
    expected = manifest.get(key)
    if expected is None:
        return None
    data = (path / key).read_bytes()
    return data if len(data) == expected[0] and zlib.crc32(data) == expected[1] else None


def _decode(path: Path, name: str, manifest: dict) -> np.ndarray | None:
    raw = _checked_bytes(path, f"{name}/zarr.json", manifest)
    if raw is None:
        return None
    m = json.loads(raw)
    codecs = m.get("codecs") or []
    shape, grid = m.get("shape"), m.get("chunk_grid") or {}
    if (m.get("node_type") != "array" or m.get("data_type") not in PLAIN_TYPES or not shape
            or grid.get("name") != "regular" or m.get("chunk_key_encoding") != PLAIN_KEYS
            or [c.get("name") for c in codecs] not in (["bytes"], ["bytes", "blosc"])
            or m.get("storage_transformers")):
        return None
    chunk = grid["configuration"]["chunk_shape"]
    endian = (codecs[0].get("configuration") or {}).get("endian", "little")
    dtype = np.dtype(m["data_type"]).newbyteorder("<" if endian == "little" else ">")
    fill = m.get("fill_value")
    if isinstance(fill, str):
        if fill not in FLOAT_FILLS:
            return None  # hex-encoded fills: zarr's path
        fill = FLOAT_FILLS[fill]
    out = np.full(shape, fill, dtype=dtype.newbyteorder("="))
    blosc = _blosc() if len(codecs) == 2 else None
    for idx in product(*(range(math.ceil(s / c)) for s, c in zip(shape, chunk))):
        key = f"{name}/c/" + "/".join(map(str, idx))
        if key not in manifest:
            continue  # never written: the fill value (zarr leaves chunks of fill values out)
        data = _checked_bytes(path, key, manifest)
        if data is None:
            return None
        if blosc is not None:
            data = blosc.decode(data)
        block = np.frombuffer(data, dtype=dtype)
        if block.size != math.prod(chunk):
            return None
        sel = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(idx, chunk, shape))
        out[sel] = block.reshape(chunk)[tuple(slice(0, s.stop - s.start) for s in sel)]
    return out


def _blosc():
    from numcodecs import Blosc

    return Blosc()  # decoding reads compressor, shuffle and type size from each chunk's header
