"""The time axis of a run's figures (`figures.time_axis`): epochs, or the run's geodesic progress
from ignorance to truth (InPCA, topolearn.inpca.progress), on which runs trained at different
learning rates line up.

A figure asks `time_axis(epochs, progress)` for its x values and label, and converts event epochs
(branchings, divergence) with `.at`. A run without progress at every snapshot (diverged: its late
predictions are not finite; or not in the embedding) is drawn against epochs, and the label says why.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np

PROGRESS_LABEL = "progress (ignorance -> truth)"


@dataclass(frozen=True)
class TimeAxis:
    values: np.ndarray  # x of every snapshot
    to_progress: Callable | None = None  # epochs -> progress; None on the epoch axis
    note: str = ""  # why progress was asked for but is not used

    @property
    def is_progress(self) -> bool:
        return self.to_progress is not None

    @property
    def label(self) -> str:
        return PROGRESS_LABEL if self.is_progress else "epoch" + self.note

    def at(self, epochs) -> np.ndarray:
        """Epochs (of events, of node members) on this axis."""
        x = np.asarray(epochs, dtype=float)
        return self.to_progress(x) if self.is_progress else x

    def node_label(self) -> str:
        """Label of a learning graph's time (its nodes' mean time) axis and colorbar."""
        return f"mean {'progress' if self.is_progress else 'epoch'} of node members{self.note}"


def time_axis(epochs, progress: Callable | None = None, diverged: bool = False) -> TimeAxis:
    """progress: epochs -> progress of this run (inpca_progress.epoch_to_progress), or None for epochs."""
    epochs = np.asarray(epochs, dtype=float)
    if progress is None:
        return TimeAxis(epochs)
    values = np.asarray(progress(epochs), dtype=float)
    if len(values) and np.isfinite(values).all():
        return TimeAxis(values, progress)
    why = "run diverged" if diverged or np.isfinite(values).any() else "run not in the InPCA embedding"
    return TimeAxis(epochs, note=f" (no progress: {why})")
