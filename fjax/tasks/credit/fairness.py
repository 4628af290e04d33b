"""Fair-lending figures per group of each protected column (data.protected), which the
model never reads: approval rate at the deployed threshold, adverse impact ratio (the
four-fifths screen), AUC within the group and calibration within the group."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from fjax.data.columns import MISSING
from fjax.intervals import auc_interval

FOUR_FIFTHS = 0.8   # a group approved at under 4/5 of the most approved group's rate
SEX_PREFIX = re.compile(r"(male|female)\s*:")   # German credit's "female : single"


def groupings(frame: pd.DataFrame, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Group labels per protected column (a missing value is its own group); a column
    whose every value reads "male : ..." or "female : ..." (German credit's
    personal_status_and_sex) is also grouped by sex alone, as "<column> (sex)"."""
    out = {}
    for column in columns:
        labels = frame[column].astype(str).where(frame[column].notna(), MISSING).to_numpy()
        out[column] = labels
        sex = [SEX_PREFIX.match(v) for v in labels]
        if all(sex):
            out[f"{column} (sex)"] = np.array([m.group(1) for m in sex])
    return out


def group_rows(groups: np.ndarray, approved: np.ndarray, pd_raw: np.ndarray,
               pd_: np.ndarray, y: np.ndarray) -> list[dict]:
    """Per group: applicants, bads, approval rate, adverse impact ratio (its approval
    rate over the most approved group's), whether that is under four fifths, the AUC of
    the model's own PDs within it with DeLong's 95% interval (None with under two of a
    class), and the mean deployed PD beside the observed bad rate."""
    rows = []
    for g in sorted(set(groups)):
        inside = groups == g
        yg = y[inside]
        auc = (auc_interval(pd_raw[inside], yg) if min(yg.sum(), len(yg) - yg.sum()) >= 2
               else (None, None, None))
        rows.append({"group": str(g), "applicants": int(inside.sum()), "bads": int(yg.sum()),
                     "approval_rate": float(np.mean(approved[inside])), "auc": auc[0],
                     "auc_95": None if auc[0] is None else list(auc[1:]),
                     "mean_pd": float(np.mean(pd_[inside])), "bad_rate": float(np.mean(yg))})
    best = max(r["approval_rate"] for r in rows)
    for r in rows:
        r["adverse_impact_ratio"] = r["approval_rate"] / best if best > 0 else None
        r["below_four_fifths"] = bool(best > 0 and r["adverse_impact_ratio"] < FOUR_FIFTHS)
    return rows


def fair_lending(frame: pd.DataFrame, columns: tuple[str, ...], threshold: float,
                 pd_raw: np.ndarray, pd_: np.ndarray, y: np.ndarray) -> dict[str, list[dict]]:
    """`group_rows` for every grouping of `columns`; an applicant is approved when its
    deployed PD `pd_` is under `threshold` (the decision rule)."""
    y = np.asarray(y, np.float64)
    approved = np.asarray(pd_) < threshold
    return {name: group_rows(labels, approved, np.asarray(pd_raw), np.asarray(pd_), y)
            for name, labels in groupings(frame, columns).items()}
