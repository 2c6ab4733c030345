"""How runs are named in figures: by the swept values that set them apart."""

import pandas as pd

from ..sweep.points import POINT_DEFAULTS
from ..sweep.table import varied_fields as _varied


def varied_fields(summary: pd.DataFrame) -> list[str]:
    """Point fields with more than one value across the sweep. Seeds are left out (they give the
    CIs), and so are fields that only vary by not applying (init_std is NA for a zero init)."""
    return _varied(summary, POINT_DEFAULTS, include_seed=False)


def run_labels(summary: pd.DataFrame) -> dict:
    """{run_id: "init=zero, lr=0.5"} from the varied fields, seed last (the run id when nothing varies)."""
    fields = varied_fields(summary) + _varied(summary, ["seed"])
    return {r["run_id"]: ", ".join(f"{f}={value_label(r[f])}" for f in fields) or r["run_id"]
            for _, r in summary.iterrows()}


def value_label(v) -> str:
    return "NA" if pd.isna(v) else f"{v:g}" if isinstance(v, float) else str(v)
