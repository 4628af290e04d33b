"""Calibration of predicted probabilities: measure it, and fix it after training.

Reliability bins: equal-width bins of the predicted PD; per bin the mean prediction and
the observed default rate. Expected calibration error (Naeini et al., AAAI 2015):

    ECE = sum_b (n_b / n) |mean_pred_b - observed_b|.

Post-hoc calibrators map a PD to a calibrated PD and are fitted on held-out predictions
(validation folds), never on the rows a model trained on:
  platt     p' = sigmoid(a logit(p) + b), (a, b) by Newton's method on the log loss
            (Platt, 1999, without his label smoothing);
  isotonic  the monotone step function of least squared error (pool adjacent
            violators), linear between steps as scikit-learn's IsotonicRegression
            (Zadrozny & Elkan, 2002).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit

from fjax.data.checks import check_count
from fjax.metrics import check_probabilities

CALIBRATORS = ("none", "platt", "isotonic")


def _logit(p: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), eps, 1 - eps)
    return logit(p)


def reliability_bins(pd: np.ndarray, y: np.ndarray, bins: int = 10):
    """(mean prediction, observed rate, count) per equal-width bin; NaN for empty bins."""
    check_probabilities(pd, y)
    check_count("bins", bins, 1)
    pd, y = np.asarray(pd, np.float64), np.asarray(y, np.float64)
    idx = np.clip((pd * bins).astype(int), 0, bins - 1)
    count = np.bincount(idx, minlength=bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(idx, weights=pd, minlength=bins) / count
        rate = np.bincount(idx, weights=y, minlength=bins) / count
    return mean, rate, count


def expected_calibration_error(pd: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    mean, rate, count = reliability_bins(pd, y, bins)
    used = count > 0
    return float(np.sum(count[used] * np.abs(mean[used] - rate[used])) / count.sum())


@dataclass(frozen=True)
class Identity:
    def __call__(self, pd: np.ndarray) -> np.ndarray:
        return np.asarray(pd, np.float64)


@dataclass(frozen=True)
class Platt:
    a: float
    b: float

    def __call__(self, pd: np.ndarray) -> np.ndarray:
        return expit(self.a * _logit(pd) + self.b)


def fit_platt(pd: np.ndarray, y: np.ndarray, iterations: int = 100) -> Platt:
    """Maximum-likelihood (a, b) by damped Newton steps in float64."""
    check_probabilities(pd, y)
    s, y = _logit(pd), np.asarray(y, np.float64)
    X = np.stack([s, np.ones_like(s)], axis=1)
    theta = np.array([1.0, 0.0])

    def nll(t):
        z = X @ t
        return float(np.sum(np.logaddexp(0, z) - y * z))

    for _ in range(iterations):
        p = expit(X @ theta)
        grad = X.T @ (p - y)
        hess = X.T @ (X * (p * (1 - p))[:, None]) + 1e-12 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        t, current = 1.0, nll(theta)
        while nll(theta - t * step) > current and t > 1e-8:
            t /= 2
        theta = theta - t * step
        if np.max(np.abs(t * step)) < 1e-12:
            break
    return Platt(a=float(theta[0]), b=float(theta[1]))


@dataclass(frozen=True)
class Isotonic:
    x: np.ndarray    # f64[m] increasing knots: first and last PD of every block
    y: np.ndarray    # f64[m] non-decreasing calibrated values at the knots

    def __call__(self, pd: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(pd, np.float64), self.x, self.y)


def fit_isotonic(pd: np.ndarray, y: np.ndarray) -> Isotonic:
    """Pool adjacent violators on labels sorted by PD (tied PDs pooled first)."""
    check_probabilities(pd, y)
    pd, y = np.asarray(pd, np.float64), np.asarray(y, np.float64)
    xs, inverse = np.unique(pd, return_inverse=True)
    count = np.bincount(inverse).astype(np.float64)
    bad = np.bincount(inverse, weights=y)
    starts = pool_adjacent_violators(bad, count)
    block_values = np.add.reduceat(bad, starts) / np.add.reduceat(count, starts)
    knots, values = [], []
    for value, first, last in zip(block_values, xs[starts], xs[np.r_[starts[1:], len(xs)] - 1]):
        knots += [first] if first == last else [first, last]
        values += [value] if first == last else [value, value]
    return Isotonic(x=np.array(knots), y=np.array(values))


def pool_adjacent_violators(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The first index of each block of pool-adjacent-violators on the means total /
    count (count > 0): neighbours whose means do not rise are pooled, so the blocks' means
    strictly increase. Isotonic calibration pools PDs' labels; monotone WOE pools bins."""
    blocks: list[list[float]] = []              # [total, count, first index]
    for k, (t, c) in enumerate(zip(total, count)):
        blocks.append([t, c, k])
        while len(blocks) > 1 and blocks[-2][0] * blocks[-1][1] >= blocks[-1][0] * blocks[-2][1]:
            t2, c2, _ = blocks.pop()
            blocks[-1][0] += t2
            blocks[-1][1] += c2
    return np.array([b[2] for b in blocks], np.int64)


def fit_calibrator(kind: str, pd: np.ndarray, y: np.ndarray):
    """A callable PD -> calibrated PD, fitted on held-out (pd, y)."""
    if kind == "none":
        return Identity()
    if kind == "platt":
        return fit_platt(pd, y)
    if kind == "isotonic":
        return fit_isotonic(pd, y)
    raise ValueError(f"calibration {kind!r} is unknown; choose one of {', '.join(CALIBRATORS)}")
