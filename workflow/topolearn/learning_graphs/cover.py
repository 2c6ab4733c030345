"""Geometry of the Mapper cover of a 1-D lens, as KeplerMapper >= 1.2 builds it (its settings, and the
legacy overlap conversion: topolearn.sweep.mapper_settings).
"""

import numpy as np


def width_over_spacing(overlap: float) -> float:
    """Interval width over the spacing of neighbouring intervals (1 = no overlap)."""
    return 1.0 / (1.0 - overlap)


def intervals_per_point(lens: np.ndarray, centers, radius: float) -> np.ndarray:
    """How many cover intervals [c - r, c + r] hold each lens value (KeplerMapper's closed intervals)."""
    c = np.asarray(centers, dtype=float).ravel()
    return (np.abs(np.asarray(lens, dtype=float)[:, None] - c[None, :]) <= radius).sum(axis=1)


def kmapper_cover(lens: np.ndarray, intervals: int, overlap: float) -> tuple[np.ndarray, float]:
    """(centers, radius) of KeplerMapper >= 1.2's Cover(n_cubes=intervals, perc_overlap=overlap) on a 1-D lens."""
    lo, hi = float(np.min(lens)), float(np.max(lens))
    rng = hi - lo
    inset = rng / (2 * intervals)
    radius = rng / (2 * intervals * (1.0 - overlap))
    return np.linspace(lo + inset, hi - inset, intervals), radius


def cover_geometry(lens: np.ndarray, centers, radius: float, intervals: int, overlap: float) -> dict:
    """What the cover really is, for the graph's JSON."""
    c = np.asarray(centers, dtype=float).ravel()
    rng = float(np.ptp(lens)) if len(lens) else 0.0
    spacing = float(np.diff(c).mean()) if len(c) > 1 else rng
    per_point = intervals_per_point(lens, c, radius) if len(lens) else np.zeros(0)
    return {"intervals": int(len(c)), "perc_overlap": float(overlap),
            "width_over_spacing": float(2 * radius / spacing) if spacing > 0 else None,
            "width_over_range": float(2 * radius / rng) if rng > 0 else None,
            "mean_intervals_per_point": float(per_point.mean()) if len(per_point) else None,
            "max_intervals_per_point": int(per_point.max()) if len(per_point) else None}
