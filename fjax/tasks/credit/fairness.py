"""Fair-lending figures per group of each protected column (data.protected), which the
model never reads: approval rate at the deployed threshold, adverse impact ratio (the
four-fifths screen), AUC within the group and calibration within the group; and the proxy
screen, how well each input and the model's PD alone tell a group from the rest.

Leaving a trait out does not keep it out: an input correlated with it (a proxy) carries it
back in. The screen measures each input's ROC-AUC for membership of each group (one vs
rest), cross-fitted as `characteristics.auc_alone` measures an input's AUC for default:
its WOE bins of membership fitted on the other folds, so the direction is learned and 0.5
is no signal at any number of levels (below 0.5 is noise, not a reversed proxy). An AUC of
`PROXY_AUC` or more is flagged: Hosmer & Lemeshow's "acceptable discrimination" (2000,
ch. 5), the group and the rest about 0.74 standard deviations apart (binormal, equal
variances), some 4 standard errors above 0.5 for a group of 40 among 1,000. The PD's AUC
for membership is directional (above 0.5: members get higher PDs), so it is flagged at
`PROXY_AUC` or more and at 1 - `PROXY_AUC` or less.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from fjax.data.columns import MISSING, TableSchema
from fjax.intervals import auc_interval, rank_auc
from fjax.tasks.credit.characteristics import auc_alone, column_values

FOUR_FIFTHS = 0.8   # a group approved at under 4/5 of the reference (most approved) group's
PROXY_AUC = 0.7     # an input (or the PD) that tells a group from the rest this well
PD_INPUT = "model PD (out of fold)"   # the proxy screen's row of the score itself
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
    rate over the reference's: the most approved group but `<missing>`, a blank, which is
    no group to measure fairness against; None without one, or where it approves none),
    whether that is under four fifths, whether it is the reference, the AUC of the model's
    own PDs within it with DeLong's 95% interval (None with under two of a class), and the
    mean deployed PD beside the observed bad rate."""
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
    known = [r for r in rows if r["group"] != MISSING]
    reference = max(known, key=lambda r: r["approval_rate"], default=None)
    best = 0.0 if reference is None else reference["approval_rate"]
    for r in rows:
        r["reference"] = r is reference
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


def one_vs_rest(labels: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(group, bool membership) per group of `labels`; of two groups only the smaller (the
    other's one-vs-rest split is the same split), of one group none."""
    groups = sorted(set(labels), key=lambda g: (np.sum(labels == g), g))
    chosen = groups[:1] if len(groups) == 2 else groups if len(groups) > 2 else []
    return [(str(g), labels == g) for g in chosen]


def proxy_rows(inputs: dict[str, np.ndarray], name: str, group: str, member: np.ndarray,
               bins: int, fold: np.ndarray, pd_raw: np.ndarray) -> list[dict]:
    """The proxy screen of one group: the PD's AUC for membership with DeLong's 95%
    interval (None with under two members or non-members), then each input's cross-fitted
    AUC alone (`auc_alone` of its `inputs` values, up to `bins` WOE bins of a numeric
    input)."""
    y = member.astype(np.float64)
    both = min(y.sum(), len(y) - y.sum()) >= 2
    auc, low, high = auc_interval(pd_raw, y) if both else (rank_auc(pd_raw, y), None, None)
    head = {"characteristic": name, "group": group, "members": int(y.sum())}
    rows = [{**head, "input": PD_INPUT, "auc": auc, "auc_low": low, "auc_high": high,
             "proxy": bool(auc >= PROXY_AUC or auc <= 1 - PROXY_AUC)}]
    for column, values in inputs.items():
        auc = auc_alone(values, y, bins, fold)
        rows.append({**head, "input": column, "auc": auc, "auc_low": None, "auc_high": None,
                     "proxy": bool(auc >= PROXY_AUC)})
    return rows


def proxy_screen(frame: pd.DataFrame, schema: TableSchema, columns: tuple[str, ...],
                 bins: int, fold: np.ndarray, pd_raw: np.ndarray) -> pd.DataFrame:
    """`proxy_rows` of every group (one vs rest) of every grouping of `columns`, on the
    labelled (training) applicants of `frame`; `fold` is each row's validation fold and
    `pd_raw` its out-of-fold PD. Each input is read once (`column_values`) for every group."""
    inputs = {column: column_values(frame, schema, column) for column in schema.features}
    pd_raw = np.asarray(pd_raw, np.float64)
    rows = [row for name, labels in groupings(frame, columns).items()
            for group, member in one_vs_rest(labels)
            for row in proxy_rows(inputs, name, group, member, bins, fold, pd_raw)]
    return pd.DataFrame(rows, columns=["characteristic", "group", "members", "input", "auc",
                                       "auc_low", "auc_high", "proxy"])
