"""Population stability index (PSI) between two score distributions.

    PSI = sum_b (a_b - e_b) ln(a_b / e_b)

over bins b cut at quantiles of the expected (e.g. training) scores, with shares e_b,
a_b floored at `eps` so an empty bin stays finite. Rule of thumb: < 0.1 stable,
0.1-0.25 some shift, > 0.25 a significant shift.
Reference: Siddiqi, *Credit Risk Scorecards*, 2006, ch. 12; Yurdakul, *Statistical
properties of population stability index*, 2018.
"""

from __future__ import annotations

import numpy as np


def psi_bins(expected: np.ndarray, bins: int = 10) -> np.ndarray:
    """Interior cut points: the distinct quantiles of `expected`."""
    expected = np.asarray(expected, np.float64)
    return np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)[1:-1]))


def shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of `values` in each bin (-inf, e_0), [e_0, e_1), ..., [e_last, inf)."""
    idx = np.searchsorted(edges, np.asarray(values, np.float64), side="right")
    return np.bincount(idx, minlength=len(edges) + 1) / max(len(values), 1)


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10, eps: float = 1e-4) -> float:
    """PSI of `actual` against `expected`, on `bins` quantile bins of `expected`."""
    if len(expected) == 0 or len(actual) == 0:
        raise ValueError("psi needs at least one expected and one actual value")
    edges = psi_bins(expected, bins)
    return float(psi_of_shares(shares(expected, edges), shares(actual, edges), eps))


def psi_of_shares(expected: np.ndarray, actual: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """PSI of two groups' shares over the same bins (the last axis; each share floored
    at `eps`)."""
    e, a = np.maximum(expected, eps), np.maximum(actual, eps)
    return np.sum((a - e) * np.log(a / e), axis=-1)
