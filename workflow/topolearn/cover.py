"""Geometry of the Mapper cover of a 1-D lens, and the legacy KeplerMapper overlap (light: no kmapper import,
so the config check can use it while planning).

KeplerMapper >= 1.2 (`perc_overlap` = q): n intervals of width range / (n (1 - q)), centers spaced
range / n apart, so width / spacing = 1 / (1 - q). KeplerMapper <= 1.1 (`overlap_perc` = p): interval k
is [min + k c, min + k c + c (1 + p)) with c = range / n, so width / spacing = 1 + p. Same geometry
when 1 / (1 - q) = 1 + p, i.e. q = p / (1 + p). The paper's notebook used overlap_perc 0.99 -> 0.4975.
"""

import numpy as np


def legacy_overlap(overlap_perc: float) -> float:
    """KeplerMapper <= 1.1 `overlap_perc` -> today's `perc_overlap` with the same interval geometry."""
    return overlap_perc / (1.0 + overlap_perc)


def cover_overlap(params: dict) -> float:
    """The perc_overlap a Mapper section means: `overlap` as is, or `overlap_perc` converted."""
    if "overlap" in params and "overlap_perc" in params:
        raise ValueError("give either overlap (KeplerMapper >= 1.2) or overlap_perc (<= 1.1), not both")
    if "overlap_perc" in params:
        return legacy_overlap(float(params["overlap_perc"]))
    return float(params["overlap"])


def width_over_spacing(overlap: float) -> float:
    """Interval width over the spacing of neighbouring intervals (1 = no overlap)."""
    return 1.0 / (1.0 - overlap)


def degenerate(intervals: int, overlap: float) -> bool:
    """True when one interval is at least as wide as the lens range: width/range = 1 / (n (1 - q)) >= 1.

    Such a cover puts (almost) every point in every interval; the graph is then one clustering of
    the whole cloud repeated, and its branches say nothing about time.
    """
    return intervals * (1.0 - overlap) <= 1.0


def degenerate_message(intervals: int, overlap: float) -> str:
    return (f"intervals={intervals} with overlap={overlap:.4g} makes each interval "
            f"{1.0 / (intervals * (1.0 - overlap)):.3g} x the lens range wide (degenerate cover: an interval "
            f"spans the whole range); need intervals * (1 - overlap) > 1")


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


# ---------------------------------------------------------------- config checks (light, used while planning)

SCAN_DEFAULTS = {"intervals": [10, 20, 30], "overlap": [0.3, 0.4975, 0.6], "eps_scale": [0.5, 1.0, 2.0]}


def scan_grid(scan) -> list[tuple[int, float, float]]:
    """The config's `mapper.scan` as (intervals, overlap, eps_scale) triples; [] when switched off."""
    if scan is False or scan is None:
        return []
    g = {**SCAN_DEFAULTS, **(scan if isinstance(scan, dict) else {})}
    return [(int(n), float(q), float(e)) for n in g["intervals"] for q in g["overlap"] for e in g["eps_scale"]]


def mapper_problem(mapper_cfg: dict, defaults: dict) -> str | None:
    """One line naming the first bad Mapper section (overlap and overlap_perc together, a degenerate
    cover in a section or in the scan grid), or None."""
    sections = [("mapper.defaults", mapper_cfg.get("defaults", {}))]
    sections += [(f"mapper.layer_overrides.{k}", v) for k, v in mapper_cfg.get("layer_overrides", {}).items()]
    base = None
    for where, sec in sections:
        if "overlap" in sec and "overlap_perc" in sec:
            return f"{where}: overlap and overlap_perc together; give one (overlap_perc is KeplerMapper <= 1.1's, " \
                   f"converted to overlap = p / (1 + p))"
        params = merge_mapper_params(defaults if base is None else base, sec)
        base = params if base is None else base
        q = cover_overlap(params)
        if degenerate(params["intervals"], q):
            return f"{where}: {degenerate_message(params['intervals'], q)}"
    for n, q, _ in scan_grid(mapper_cfg.get("scan", False)):
        if degenerate(n, q):
            return f"mapper.scan: {degenerate_message(n, q)}"
    return None


def merge_mapper_params(base: dict, section: dict) -> dict:
    """`section` over `base`; an overlap or overlap_perc in `section` replaces either in `base`."""
    out = dict(base)
    if "overlap" in section or "overlap_perc" in section:
        out.pop("overlap", None)
        out.pop("overlap_perc", None)
    out.update(section)
    return out
