"""Accept/reject decisions under a cost matrix.

An applicant is rejected (predicted positive, "bad") when PD >= t. With `cost_fn` the
cost of accepting a bad applicant (a missed positive) and `cost_fp` the cost of rejecting
a good one, the expected cost per applicant of threshold t on labelled data is

    C(t) = (cost_fn * FN(t) + cost_fp * FP(t)) / n.

`best_threshold` minimises C over every distinct cut of the given PDs (midpoints between
consecutive distinct values, plus "reject all" and "reject none"). For calibrated PDs
the Bayes threshold is cost_fp / (cost_fp + cost_fn) (1/6 for German credit's 5:1).
Reference: Elkan, *The Foundations of Cost-Sensitive Learning*, IJCAI 2001.
"""

from __future__ import annotations

import numpy as np

from fjax.metrics import check_probabilities, check_threshold


def confusion(pd: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, int]:
    """Counts with "positive" = rejected (PD >= threshold) and label 1 = bad."""
    check_probabilities(pd, y)
    check_threshold(threshold, "pass a PD cut-off, e.g. bayes_threshold(...)")
    reject = np.asarray(pd) >= threshold
    y = np.asarray(y) > 0.5
    return {"tp": int(np.sum(reject & y)), "fp": int(np.sum(reject & ~y)),
            "fn": int(np.sum(~reject & y)), "tn": int(np.sum(~reject & ~y))}


def expected_cost(pd: np.ndarray, y: np.ndarray, threshold: float, cost_fn: float,
                  cost_fp: float) -> float:
    """Mean cost per applicant of deciding with `threshold`."""
    c = confusion(pd, y, threshold)
    return (cost_fn * c["fn"] + cost_fp * c["fp"]) / max(len(np.asarray(y)), 1)


def bayes_threshold(cost_fn: float, cost_fp: float) -> float:
    check_costs(cost_fn, cost_fp)
    return cost_fp / (cost_fp + cost_fn)


def check_costs(cost_fn: float, cost_fp: float) -> None:
    """Both costs finite and >= 0, and not both 0 (then every threshold costs nothing)."""
    if not (np.isfinite([cost_fn, cost_fp]).all() and min(cost_fn, cost_fp) >= 0
            and cost_fn + cost_fp > 0):
        raise ValueError(f"costs must be >= 0, finite and not both 0, got cost_fn={cost_fn}, "
                         f"cost_fp={cost_fp}")


def best_threshold(pd: np.ndarray, y: np.ndarray, cost_fn: float, cost_fp: float) -> float:
    """The threshold with the lowest expected cost on (pd, y); the lowest such on ties.

    Candidates cut between consecutive distinct PDs, so the threshold does not sit on
    any training PD; "reject none" is the float just above max(1, max PD).
    """
    check_costs(cost_fn, cost_fp)
    check_probabilities(pd, y)
    pd = np.asarray(pd, np.float64)
    y = np.asarray(y, np.float64)
    u = np.unique(pd)
    cands = np.r_[u[0] - 1e-9, (u[:-1] + u[1:]) / 2, np.nextafter(max(u[-1], 1.0), np.inf)]
    # cost of each candidate from sorted cumulative counts (O(n log n), exact)
    order = np.argsort(pd)
    ps, ys = pd[order], y[order]
    below = np.searchsorted(ps, cands, side="left")          # accepted: PD < t
    bad_cum = np.r_[0.0, np.cumsum(ys)]
    fn = bad_cum[below]
    fp = (len(ps) - below) - (bad_cum[-1] - bad_cum[below])
    cost = (cost_fn * fn + cost_fp * fp) / len(ps)
    return float(cands[int(np.argmin(cost))])
