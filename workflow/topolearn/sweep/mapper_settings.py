"""Mapper settings of a sweep: built-in defaults, per-layer overrides and the stability scan grid,
checked with the config (light: no kmapper import).
"""

from .points import layer_names, n_layers

# KeplerMapper >= 1.2 (`perc_overlap` = q): n intervals of width range / (n (1 - q)), centers spaced
# range / n apart, so width / spacing = 1 / (1 - q). KeplerMapper <= 1.1 (`overlap_perc` = p): interval k
# is [min + k c, min + k c + c (1 + p)) with c = range / n, so width / spacing = 1 + p. Same geometry
# when 1 / (1 - q) = 1 + p, i.e. q = p / (1 + p). The paper's notebook used overlap_perc 0.99 -> 0.4975.

MAPPER_DEFAULTS = {
    "pca": 20,
    "lens": "l2norm_pca",
    "intervals": 20,
    "overlap": 0.4975,
    "eps": "auto",
    "eps_percentile": 99.9,
    "min_samples": 2,
}


def resolve_layer(name: str, point: dict) -> str:
    """`output` -> the point's last layer; `layer{i}` and `conv{i}` as is."""
    return f"layer{n_layers(point) - 1}" if name == "output" else name


def mapper_layers(cfg: dict, point: dict) -> list[str]:
    sel = cfg["mapper"]["layers"]
    names = layer_names(point) if sel == "all" else [resolve_layer(n, point) for n in sel]
    return list(dict.fromkeys(names))


def mapper_params(cfg: dict, point: dict, layer: str) -> dict:
    """Mapper parameters of one layer: built-in defaults < mapper.defaults < layer_overrides."""
    m = cfg["mapper"]
    params = merge_mapper_params(MAPPER_DEFAULTS, m.get("defaults", {}))
    for name, override in m.get("layer_overrides", {}).items():
        if resolve_layer(name, point) == layer:
            params = merge_mapper_params(params, override)
    return params


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
