"""The IDX format (MNIST and its kin): a full read and a header-only read, gzipped or not.

An IDX file is 2 zero bytes, a type code, the number of dims, the dims as big-endian uint32, then
the values, big-endian. Gzip is recognised by its magic number, not the file name.
"""

import gzip
from pathlib import Path

import numpy as np

from .errors import DataError

# IDX type codes (third magic byte) -> big-endian numpy dtypes.
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
GZIP_MAGIC = b"\x1f\x8b"
# The standard file names of an IDX dataset: a training and a test split, images and labels.
IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def find_idx(folder: Path, name: str) -> Path | None:
    """{folder}/{name}.gz, else the uncompressed {folder}/{name}, else None."""
    for p in (folder / f"{name}.gz", folder / name):
        if p.is_file():
            return p
    return None


def _header(buf: bytes, where) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, dims, header bytes) of IDX bytes that hold at least the whole header."""
    if len(buf) < 4:
        raise DataError(f"{where}: {len(buf)} bytes, too short for an IDX header")
    if buf[0] != 0 or buf[1] != 0 or buf[2] not in IDX_DTYPES or buf[3] == 0:
        raise DataError(f"{where}: bad IDX magic number {buf[:4].hex()} (expected 0000 + type code "
                        f"{'/'.join(f'{c:02x}' for c in IDX_DTYPES)} + number of dims >= 1)")
    ndim, size = buf[3], 4 + 4 * buf[3]
    if len(buf) < size:
        raise DataError(f"{where}: truncated header ({len(buf)} bytes, {ndim} dims need {size})")
    dims = tuple(int(d) for d in np.frombuffer(buf, ">u4", count=ndim, offset=4))
    return np.dtype(IDX_DTYPES[buf[2]]), dims, size


def parse_idx(buf: bytes, where="IDX data") -> np.ndarray:
    """Decode IDX bytes into an array in native byte order, checking magic, dims and size."""
    dtype, dims, size = _header(buf, where)
    expected = size + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(buf) != expected:
        kind = "truncated" if len(buf) < expected else "trailing bytes"
        raise DataError(f"{where}: {kind}: {len(buf)} bytes, dims {dims} of {dtype.name} need {expected}")
    return np.frombuffer(buf, dtype, offset=size).reshape(dims).astype(dtype.newbyteorder("="), copy=False)


def read_bytes(path: Path) -> tuple[bytes, bytes]:
    """(file bytes, IDX payload): the file as stored (what checksums are of) and its content."""
    raw = Path(path).read_bytes()
    if raw[:2] == GZIP_MAGIC:
        try:
            return raw, gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: damaged gzip file ({exc})") from None
    return raw, raw


def read_idx(path) -> np.ndarray:
    """Read one IDX file (gzipped or not) into a numpy array."""
    return parse_idx(read_bytes(path)[1], str(path))


def read_idx_header(path) -> tuple[np.dtype, tuple[int, ...]]:
    """(dtype, dims) from the header alone: what sizes need, without reading the values."""
    try:
        with open(path, "rb") as fh:
            gz = fh.read(2) == GZIP_MAGIC
        with gzip.open(path, "rb") if gz else open(path, "rb") as fh:
            head = fh.read(4)
            if len(head) == 4 and head[3]:
                head += fh.read(4 * head[3])
    except (gzip.BadGzipFile, EOFError) as exc:
        raise DataError(f"{path}: damaged gzip file ({exc})") from None
    except OSError as exc:
        raise DataError(f"{path}: unreadable ({exc})") from None
    dtype, dims, _ = _header(head, str(path))
    return dtype, dims


def check_idx_complete(path) -> tuple[np.dtype, tuple[int, ...]]:
    """(dtype, dims) of an IDX file whose size agrees with its header, without reading the values:
    an uncompressed file by its size, a gzipped one by the uncompressed size in its trailer (ISIZE,
    modulo 2**32). On any disagreement (a half-copied file, a cut gzip stream) the full read names
    the fault; it also settles the rare gzip file of several members, whose trailer holds only the
    last member's size."""
    dtype, dims = read_idx_header(path)
    expected = 4 + 4 * len(dims) + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    try:
        with open(path, "rb") as fh:
            gz = fh.read(2) == GZIP_MAGIC
            fh.seek(-4 if gz else 0, 2)
            size = int.from_bytes(fh.read(4), "little") if gz else fh.tell()
    except OSError as exc:
        raise DataError(f"{path}: unreadable ({exc})") from None
    if size != (expected % 2**32 if gz else expected):
        read_idx(path)  # raises with the precise fault
    return dtype, dims
