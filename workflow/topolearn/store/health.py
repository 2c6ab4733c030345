"""Whether a finished store can be analysed: a run's analysis status, shared by the analysis, InPCA,
the summary and the figures (docs/reliability.md "Runs that cannot be analysed").

Training stops a network at its first non-finite loss or weight (`diverged: true`) and keeps the
finite snapshots before it; those are analysed as usual. What training cannot see is a network that
blew up without overflowing: `lr: 1e30` gives finite weights near 1e28 and losses near 1e30, and the
analysis of such numbers is noise or fails (PCA's float32 sums of squares overflow). A run is
therefore `diverged` here when a recorded loss or weight is beyond DIVERGENCE_BOUND in magnitude (a
cross-entropy of 1e6 needs logits a million apart; trained nets of this workflow stay below ~1e3),
or when it recorded no snapshot with finite values at all.

Statuses: `ok`; `diverged` (the above); `degenerate` (nothing to analyse that is not divergence: no
snapshot recorded, fewer than MIN_SNAPSHOTS usable ones); `failed` (the analysis raised; set by the
analysis itself, never here).
"""

import numpy as np

DIVERGENCE_BOUND = 1e6  # |loss| or |weight| beyond this: the run diverged
MIN_SNAPSHOTS = 2  # a learning graph and a branching curve need at least two points in time
STATUSES = ("ok", "diverged", "degenerate", "failed")


def _beyond(values: np.ndarray) -> float | None:
    """The largest finite magnitude of `values` when it is beyond the bound, else None."""
    a = np.abs(np.asarray(values, dtype=np.float64))
    a = a[np.isfinite(a)]
    top = float(a.max()) if a.size else 0.0
    return top if top > DIVERGENCE_BOUND else None


def assess(metrics, attrs: dict, weights: dict | None = None) -> tuple[str, str]:
    """(status, reason) of a run from its metrics (one row per snapshot), the store's attrs and,
    where the caller has read them, its weights ({layer: (snapshot, neuron, input)}). The reason is
    one line for the summary and the logs ("" when ok)."""
    n = len(metrics)
    if n == 0:
        if attrs.get("diverged"):
            return "diverged", f"diverged at step {attrs.get('diverged_at_step')}, before its first snapshot"
        return "degenerate", "no snapshot recorded"
    loss = metrics[["train_loss", "test_loss"]].to_numpy(np.float64)
    finite = np.isfinite(loss).all(axis=1)
    if weights:
        for w in weights.values():
            finite &= np.isfinite(np.asarray(w).reshape(len(w), -1)).all(axis=1)
    if not finite.any():
        return "diverged", f"none of its {n} snapshots has finite losses and weights"
    top = _beyond(loss[finite])
    if top is not None:
        return "diverged", f"loss up to {top:.3g}, beyond {DIVERGENCE_BOUND:g}"
    for layer, w in (weights or {}).items():
        top = _beyond(np.asarray(w)[finite])
        if top is not None:
            return "diverged", f"{layer} weights up to {top:.3g}, beyond {DIVERGENCE_BOUND:g}"
    if int(finite.sum()) < MIN_SNAPSHOTS:
        return "degenerate", f"{int(finite.sum())} usable snapshot(s); at least {MIN_SNAPSHOTS} are needed"
    return "ok", ""
