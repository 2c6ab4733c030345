"""Figures of large sweeps: above MANY_RUNS curves in a panel, one line per run is an unreadable
blot and a vector file of megabytes, so curves become quantile bands per group on a common time
grid with a few highlighted runs, and scatters of many points become faint rasterized markers.
"""

import warnings

import numpy as np

MANY_RUNS = 200  # curves per panel above which they are summarized (small sweeps keep one line per run)
MANY_POINTS = MANY_RUNS  # scatter points (one per run) above which markers shrink, fade and are rasterized
GRID = 101  # points of the common time grid
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def on_grid(curves: list, grid: np.ndarray) -> np.ndarray:
    """(runs, len(grid)) values of each (t, y) curve interpolated on `grid`; NaN outside a run's own
    time range (a run that stopped early does not count after its end)."""
    out = np.full((len(curves), len(grid)), np.nan)
    for i, (t, y) in enumerate(curves):
        t, y = np.asarray(t, float), np.asarray(y, float)
        ok = np.isfinite(t) & np.isfinite(y)
        if ok.sum() >= 2:
            out[i] = np.interp(grid, t[ok], y[ok], left=np.nan, right=np.nan)
        elif ok.sum() == 1:
            out[i, np.argmin(np.abs(grid - t[ok][0]))] = y[ok][0]
    return out


def common_grid(curves: list, n: int = GRID) -> np.ndarray:
    ts = [np.asarray(t, float) for t, _ in curves]
    ts = [t[np.isfinite(t)] for t in ts if np.isfinite(t).any()]
    lo, hi = (min(t.min() for t in ts), max(t.max() for t in ts)) if ts else (0.0, 1.0)
    return np.linspace(lo, hi, n)


def draw_bands(ax, grid: np.ndarray, values: np.ndarray, color, label: str | None = None):
    """Median line with 25-75 % and 5-95 % bands across runs (rows of `values`)."""
    with warnings.catch_warnings():  # grid points past every run's end: all-NaN columns stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        q05, q25, q50, q75, q95 = np.nanquantile(values, QUANTILES, axis=0)
    ax.fill_between(grid, q05, q95, color=color, alpha=0.15, lw=0)
    ax.fill_between(grid, q25, q75, color=color, alpha=0.35, lw=0)
    return ax.plot(grid, q50, color=color, lw=1.2, label=label)[0]


def highlights(final: dict) -> dict:
    """{label: run id} of the best, median and worst run by a final value ({run id: value}, NaN ignored)."""
    ok = {r: v for r, v in final.items() if np.isfinite(v)}
    if not ok:
        return {}
    ranked = sorted(ok, key=ok.get)
    return {"best": ranked[-1], "median": ranked[len(ranked) // 2], "worst": ranked[0]}


def scatter_kws(n: int, s: float, alpha: float | None = None) -> dict:
    """Scatter keywords for n points: unchanged up to MANY_POINTS; above, smaller, fainter markers
    (alpha by sqrt(MANY_POINTS / n), at least 0.05: isolated points stay visible) rasterized in
    vector files, so a file's size follows its pixels, not its point count."""
    if n <= MANY_POINTS:
        return {"s": s} | ({"alpha": alpha} if alpha is not None else {})
    f = np.sqrt(MANY_POINTS / n)
    return {"s": max(s * f, 2.0), "alpha": max((alpha or 1.0) * f, 0.05), "rasterized": True}
