"""Each characteristic (feature column) on its own: its information value (IV) and WOE
trend on the labelled applicants, and its stability (CSI) in a later or new group.

The bins are the WOE ones (`fjax.data.woe`: runs of a numeric column's values, every
category of a categorical one, missing values apart), fitted on the labelled applicants
whatever encoding the model uses. IV grows with the number of bins even for noise (a
300-level column of random codes reaches about 0.5 at 150 bads), so each column's
strength is also measured cross-fitted, its WOE fitted on the other folds: its IV out of
fold (about 0, or below, for noise; `iv_inflated` where under half the in-sample IV
holds) and `auc_alone`, its ROC-AUC (0.5 for noise at any number of levels). An
`auc_alone` of `LEAK_AUC` or more is suspicious: such a column was often recorded after
the outcome (recoveries, collections, days past due) and leaks the label.

A score's PSI can stay low while one characteristic drifts (its weight is small, or
shifts cancel); its CSI, the PSI of its bins, shows which one moved. CSI grows with the
bins by chance too (about chi2(bins - 1) (1/n + 1/m) between samples of n and m from one
population, Yurdakul 2018, and more where bins hold a few applicants and are empty in one
sample), so a shift is flagged (`shifted`) only where CSI >= 0.1 and beyond the 99th
percentile of CSI between samples of n and m drawn from the labelled applicants' shares.
Reference: Siddiqi, *Credit Risk Scorecards*, 2006, ch. 6 (IV) and ch. 12 (CSI).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fjax.data.columns import TableSchema, category_values, numeric_values
from fjax.data.woe import (CategoricalWoe, NumericWoe, fit_categorical_woe, fit_numeric_woe,
                           information_value)
from fjax.intervals import rank_auc
from fjax.stability import psi_chance_of_shares, psi_of_shares

LEAK_AUC = 0.9
IV_USEFUL = 0.02   # Siddiqi: an IV under 0.02 is useless
SHIFT_CSI = 0.1


def column_values(frame: pd.DataFrame, schema: TableSchema, column: str) -> np.ndarray:
    """A feature's values as its WOE bins read them: f64[n] (NaN where missing) for a
    numeric column, object[n] of strings for a categorical one (`category_values` writes
    number codes as text). The one place that decides a column's kind: the dtype carries
    it, so `_fit` bins float values as numbers and any others as categories."""
    return (numeric_values(frame, column) if column in schema.numeric
            else category_values(frame, column))


def _fit(values: np.ndarray, y: np.ndarray, bins: int,
         monotone: bool = False) -> NumericWoe | CategoricalWoe:
    """The WOE bins of one column's `values`, of the kind `column_values` gave them:
    numeric where float (its f64 of a numeric column), else categorical (its strings)."""
    if values.dtype.kind == "f":
        return fit_numeric_woe(values, y, bins, monotone=monotone)
    return fit_categorical_woe(values, y)


def woe_trend(woe: NumericWoe | CategoricalWoe) -> str:
    """How a numeric column's WOE moves as its value rises ("" for a categorical one or a
    single bin); a scorecard's points usually should move one way."""
    if isinstance(woe, CategoricalWoe) or len(woe.woe) < 2:
        return ""
    step = np.diff(woe.woe)
    return ("rising" if (step >= 0).all() else "falling" if (step <= 0).all()
            else "not monotone")


def out_of_fold_woe(values: np.ndarray, y: np.ndarray, bins: int, fold: np.ndarray,
                    monotone: bool = False) -> np.ndarray:
    """f64[n] the WOE of each row of one column's `values` (`column_values`), fitted on the
    other folds' rows (`fold`: each row's validation fold); `monotone` as
    `data.woe_monotone`."""
    woe = np.empty(len(y))
    for j in np.unique(fold):
        out = fold == j
        woe[out] = _fit(values[~out], y[~out], bins, monotone).transform(values[out])
    return woe


def auc_alone(values: np.ndarray, y: np.ndarray, bins: int, fold: np.ndarray,
              monotone: bool = False) -> float:
    """ROC-AUC (float64, `rank_auc`) of one column's out-of-fold WOE (a low WOE is a high
    risk); `values` as `column_values` reads them."""
    return rank_auc(-out_of_fold_woe(values, y, bins, fold, monotone), y)


def iv_out_of_fold(woe: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """IV = sum_b (good share - bad share) WOE_b = mean WOE of the goods - mean WOE of the
    bads; here of the out-of-fold WOE (`out_of_fold_woe`) over the held-out rows: the IV
    the bins carry to applicants they were not fitted on (about 0, or below, for noise).
    With its standard error as a difference of two means (the folds' WOE taken as
    given): a column of many levels and few bads has a wide one."""
    good, bad = woe[y == 0], woe[y == 1]
    se = np.sqrt(good.var(ddof=1) / len(good) + bad.var(ddof=1) / len(bad))
    return float(good.mean() - bad.mean()), float(se)


def iv_inflated(iv: float, iv_oof: float) -> bool:
    """In-sample IV that reads as information (`IV_USEFUL` or more) of which under half
    holds out of fold: bins fitted to the sample's noise (many levels, few bads)."""
    return iv >= IV_USEFUL and iv_oof < iv / 2


def shifted(csi: float, shares: np.ndarray, n: int, m: int) -> bool:
    """CSI of at least `SHIFT_CSI` and beyond what samples of n and m applicants drawn
    from `shares` reach 99 times in 100 (1,000 seeded draws: sparse bins, empty in one
    sample, put the chi-square approximation too low)."""
    return csi >= SHIFT_CSI and csi > psi_chance_of_shares(shares, m, n, level=0.99)


def characteristics(frame: pd.DataFrame, schema: TableSchema, y: np.ndarray, bins: int,
                    fold: np.ndarray, groups: dict[str, pd.DataFrame], monotone: bool = False
                    ) -> pd.DataFrame:
    """One row per feature, strongest first: its kind, WOE bins, IV in sample and out of
    fold (`iv_inflated` where under half of it holds), cross-fitted AUC (`fold`: each
    row's validation fold) and WOE trend on (`frame`, `y`), and the CSI of
    each other group of applicants in `groups` (`csi_<name>`, `shifted_<name>`). Numeric
    bins are pooled to a monotone bad rate where `monotone` (`data.woe_monotone`), as the
    model's are."""
    y = np.asarray(y, np.float64)
    rows = []
    for column in schema.features:
        values = column_values(frame, schema, column)
        woe = _fit(values, y, bins, monotone)
        slot = woe.bin_or_missing(values)
        n = len(woe.woe)           # + 1 below: the missing (numeric) or unseen slot
        held_out = out_of_fold_woe(values, y, bins, fold, monotone)
        iv = information_value(slot, y, n + int((slot == n).any()))
        iv_oof, iv_oof_se = iv_out_of_fold(held_out, y)
        row = {"attribute": column,
               "kind": "numeric" if isinstance(woe, NumericWoe) else "categorical",
               "bins": n, "iv": iv, "iv_out_of_fold": iv_oof, "iv_out_of_fold_se": iv_oof_se,
               "iv_inflated": iv_inflated(iv, iv_oof), "auc_alone": rank_auc(-held_out, y),
               "woe_trend": woe_trend(woe)}
        expected = np.bincount(slot, minlength=n + 1) / len(slot)
        for name, other in groups.items():
            seen = woe.bin_or_missing(column_values(other, schema, column))
            actual = np.bincount(seen, minlength=n + 1) / len(seen)
            row[f"csi_{name}"] = csi = float(psi_of_shares(expected, actual))
            row[f"shifted_{name}"] = shifted(csi, expected, len(slot), len(seen))
        rows.append(row)
    return pd.DataFrame(rows).sort_values("iv", ascending=False, ignore_index=True)
