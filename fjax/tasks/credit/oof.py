"""Out-of-fold analysis of the chosen configuration: calibration and the cost threshold,
each estimated honestly by cross-fitting.

Every applicant's out-of-fold PD comes from the member(s) that did not train on it
(averaged over seeds). For fold j, the calibrator and the cost-minimising threshold are
fitted on the other folds' out-of-fold PDs and applied to fold j, so fold j's calibrated
metrics and expected cost never use fold j's labels. The deployed calibrator is then
fitted on all out-of-fold PDs (the refit model has no held-out rows), and the deployed
threshold is the fitted one or the Bayes one cost_fp / (cost_fp + cost_fn), whichever
cost less cross-fitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy.special import expit

from fjax.calibration import expected_calibration_error, fit_calibrator
from fjax.data.splits import Folds
from fjax.decision import bayes_threshold, best_threshold, confusion, expected_cost
from fjax.metrics import LOG_LOSS_EPS


@dataclass
class OutOfFold:
    pd_raw: np.ndarray          # f64[n] seed-mean PD of the members that validated the row
    pd: np.ndarray              # f64[n] cross-fitted calibrated PD (= pd_raw without calibration)
    fold: np.ndarray            # i64[n] validation fold of each row
    per_fold: pd.DataFrame      # fold, cross-fitted threshold and cost (+ calibrated metrics)
    calibrator: Callable        # fitted on every out-of-fold PD
    threshold: float            # deployed: fitted on calibrator(pd_raw), or Bayes (summary)
    summary: dict[str, Any]


def oof_pd(z: np.ndarray, members: pd.DataFrame, folds: Folds) -> np.ndarray:
    """Seed-mean out-of-fold PD: row i from the members whose validation fold holds i."""
    n = folds.n
    total, count = np.zeros(n), np.zeros(n)
    for _, m in members.iterrows():
        rows = folds.val[int(m["fold"])] > 0
        total[rows] += expit(z[int(m["member"]), rows].astype(np.float64))
        count[rows] += 1
    return total / count


def brier_f64(pd_: np.ndarray, y: np.ndarray) -> float:
    """Brier score in float64, every credit Brier's (float32 rounds a PD within 3e-8 of 1 to 1)."""
    return float(np.mean((np.asarray(pd_, np.float64) - np.asarray(y, np.float64)) ** 2))


def log_loss_f64(pd_: np.ndarray, y: np.ndarray) -> float:
    """Log-loss in float64, PDs clipped as `fjax.metrics.log_loss` clips them (a steep Platt
    fit's PD can underflow to 0, an infinite log-loss; isotonic's are shrunk off 0 and 1)."""
    p = np.clip(pd_, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def analyse(pd_raw: np.ndarray, y: np.ndarray, folds: Folds, calibration: str,
            cost_fn: float, cost_fp: float) -> OutOfFold:
    y = np.asarray(y, np.float64)
    fold = np.argmax(folds.val, axis=0)
    pd_cf = np.empty_like(pd_raw)
    bayes = bayes_threshold(cost_fn, cost_fp)
    rows = []
    for j in range(folds.k):
        inside, outside = fold == j, fold != j
        cal = fit_calibrator(calibration, pd_raw[outside], y[outside])
        pd_cf[inside] = cal(pd_raw[inside])
        t = best_threshold(cal(pd_raw[outside]), y[outside], cost_fn, cost_fp)
        row = {"fold": j, "applicants": int(inside.sum()), "bads": int(y[inside].sum())}
        if calibration != "none":
            # oof_*: the same rows' PDs before calibration (the seeds' mean, as calibrated),
            # which the report's verdict compares, not the seeds' own (both are convex)
            row.update(cal_brier=brier_f64(pd_cf[inside], y[inside]),
                       cal_log_loss=log_loss_f64(pd_cf[inside], y[inside]),
                       cal_ece=expected_calibration_error(pd_cf[inside], y[inside]),
                       oof_brier=brier_f64(pd_raw[inside], y[inside]),
                       oof_log_loss=log_loss_f64(pd_raw[inside], y[inside]))
        rows.append({**row, "threshold": t,
                     "cost": expected_cost(pd_cf[inside], y[inside], t, cost_fn, cost_fp),
                     "cost_bayes": expected_cost(pd_cf[inside], y[inside], bayes, cost_fn,
                                                 cost_fp)})
    per_fold = pd.DataFrame(rows)
    calibrator = fit_calibrator(calibration, pd_raw, y)
    fitted = best_threshold(calibrator(pd_raw), y, cost_fn, cost_fp)
    # Deploy the rule whose cross-fitted cost is lower (the Bayes one on a tie: nothing
    # fitted). A threshold fitted on a few hundred PDs often costs more out of sample.
    rule = "fitted" if per_fold["cost"].mean() < per_fold["cost_bayes"].mean() else "bayes"
    threshold = fitted if rule == "fitted" else bayes
    # Each row at its fold's t under the rule (fitted on the other folds, or Bayes'): the
    # decisions whose mean cost is the cross-fitted cost.
    row_t = per_fold["threshold"].to_numpy()[fold] if rule == "fitted" else bayes
    bad_rate = float(y.mean())
    summary = {
        "calibration": calibration,
        "threshold": threshold,
        "threshold_rule": rule,
        "fitted_threshold": fitted,
        "bayes_threshold": bayes,
        "confusion_oof": confusion(pd_cf, y, threshold),
        "cost_per_applicant_oof": expected_cost(pd_cf, y, threshold, cost_fn, cost_fp),
        "cost_per_applicant_cross_fitted": expected_cost(pd_cf, y, row_t, cost_fn, cost_fp),
        "confusion_cross_fitted": confusion(pd_cf, y, row_t),
        "cost_per_applicant_cv_mean": float(per_fold["cost"].mean()),
        "cost_per_applicant_cv_std": float(per_fold["cost"].std(ddof=1)),
        "cost_bayes_threshold_cv_mean": float(per_fold["cost_bayes"].mean()),
        "cost_bayes_threshold_cv_std": float(per_fold["cost_bayes"].std(ddof=1)),
        "cost_accept_all": cost_fn * bad_rate,
        "cost_reject_all": cost_fp * (1 - bad_rate),
        "ece_oof_raw": expected_calibration_error(pd_raw, y),
        "ece_oof_calibrated_cv": expected_calibration_error(pd_cf, y),
    }
    if calibration != "none":
        summary["cal_log_loss_clipped"] = int(np.sum(np.clip(pd_cf, LOG_LOSS_EPS,
                                                             1 - LOG_LOSS_EPS) != pd_cf))
    return OutOfFold(pd_raw=pd_raw, pd=pd_cf, fold=fold, per_fold=per_fold,
                     calibrator=calibrator, threshold=threshold, summary=summary)
