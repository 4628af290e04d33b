"""Calibration of predicted probabilities: measure it, and fix it after training.

Reliability bins: equal-width bins of the predicted PD; per bin the mean prediction and
the observed default rate. Expected calibration error (Naeini et al., AAAI 2015):

    ECE = sum_b (n_b / n) |mean_pred_b - observed_b|.

Logistic recalibration (Cox, 1958; Steyerberg, Clinical Prediction Models, 2nd ed., 15.2)
summarises calibration in two numbers, with the PDs clipped as log-loss clips them:
  slope     b of y ~ a + b logit(p): 1 ideal, under 1 the PDs are too extreme;
  CITL      a of y ~ a + logit(p), slope fixed at 1 (calibration-in-the-large): 0 ideal,
            above 0 the PDs are too low on average.

Post-hoc calibrators map a PD to a calibrated PD and are fitted on held-out predictions
(validation folds), never on the rows a model trained on:
  platt     p' = sigmoid(a logit(p) + b), (a, b) by Newton's method on the log loss
            (Platt, 1999, without his label smoothing);
  isotonic  the monotone step function of least squared error (pool adjacent
            violators, as scikit-learn's IsotonicRegression; Zadrozny & Elkan, 2002),
            each block's rate then shrunk to (bads + 0.5) / (n + 1), linear between steps.

Why shrink: least squares gives a block of n applicants without a bad the PD 0 (and one
of only bads PD 1), though n goods bound the bad rate only to about 1 / n; a PD of 0 has
no score (ln((1 - PD) / PD)) and an infinite log loss on the first bad it meets. (bads +
0.5) / (n + 1) is the mean of the bad rate's posterior under Jeffreys' Beta(1/2, 1/2)
prior, the half count the WOE bins add (`fjax.data.woe.SMOOTHING`): it moves a block by
at most 1 / (2 (n + 1)), so large blocks barely move and no PD is 0 or 1. A fixed floor
(Basel's 0.03%) was not taken: it ignores how many applicants back the block. Shrinking
can reorder two small blocks; those are pooled again (on the shrunk rates) until the
rates rise, so the map stays monotone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit, logit

from fjax.data.checks import check_count, check_unit_interval
from fjax.metrics import LOG_LOSS_EPS, check_probabilities

CALIBRATORS = ("none", "platt", "isotonic")


def _clip(p: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    return np.clip(np.asarray(p, np.float64), eps, 1 - eps)


def _checked(pd: np.ndarray, y: np.ndarray, eps: float = 1e-12
             ) -> tuple[np.ndarray, np.ndarray]:
    """`pd` checked against labels `y` and clipped to [eps, 1 - eps], and `y`, in float64:
    checked once, so a measure that fits (`calibration_slope`) does not check again."""
    check_probabilities(pd, y)
    return _clip(pd, eps), np.asarray(y, np.float64)


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


def calibration_slope(pd: np.ndarray, y: np.ndarray) -> float | None:
    """b of the logistic regression y ~ a + b logit(pd) (`fit_platt`'s a); None where no
    finite b exists: one class, or the PDs separate the classes (constant PDs too)."""
    p, y = _checked(pd, y, LOG_LOSS_EPS)
    bad, good = p[y > 0.5], p[y < 0.5]
    if not len(bad) or not len(good) or bad.min() >= good.max() or good.min() >= bad.max():
        return None
    return _fit_platt(logit(p), y).a


def calibration_in_the_large(pd: np.ndarray, y: np.ndarray) -> float | None:
    """a of y ~ a + logit(pd), the slope fixed at 1: the root of its score equation (its
    score rises with a); None with one class."""
    p, y = _checked(pd, y, LOG_LOSS_EPS)
    if not 0 < y.sum() < len(y):
        return None
    s = logit(p)   # |logit| <= 16.2 after clipping: the root lies inside (-60, 60)
    return float(brentq(lambda a: np.sum(expit(a + s)) - y.sum(), -60, 60, xtol=1e-12))


@dataclass(frozen=True)
class Identity:
    def __call__(self, pd: np.ndarray) -> np.ndarray:
        return np.asarray(pd, np.float64)


@dataclass(frozen=True)
class Platt:
    a: float
    b: float

    def __call__(self, pd: np.ndarray) -> np.ndarray:
        # 1.5 was clipped to 1 - 1e-12 and answered a plausible PD (isotonic extrapolates
        # flat, as scikit-learn's does)
        pd = check_unit_interval(pd, "PDs", "Platt calibration maps the model's "
                                 "probabilities (expit of its logits)", kind="probabilities ")
        return expit(self.a * logit(_clip(pd)) + self.b)


def fit_platt(pd: np.ndarray, y: np.ndarray, iterations: int = 100) -> Platt:
    """Maximum-likelihood (a, b) by damped Newton steps in float64."""
    p, y = _checked(pd, y)
    return _fit_platt(logit(p), y, iterations)


def _fit_platt(s: np.ndarray, y: np.ndarray, iterations: int = 100) -> Platt:
    """`fit_platt` on checked logits `s` and labels `y`."""
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


SHRINK = 0.5   # bads added to each isotonic block, of 2 * SHRINK applicants (module docstring)


def fit_isotonic(pd: np.ndarray, y: np.ndarray) -> Isotonic:
    """Pool adjacent violators on labels sorted by PD (tied PDs pooled first), each block's
    rate shrunk to (bads + 0.5) / (n + 1) and blocks reordered by it pooled again."""
    check_probabilities(pd, y)
    pd, y = np.asarray(pd, np.float64), np.asarray(y, np.float64)
    xs, inverse = np.unique(pd, return_inverse=True)
    count = np.bincount(inverse).astype(np.float64)
    bad = np.bincount(inverse, weights=y)
    starts = pool_adjacent_violators(bad, count)
    starts = starts[pool_adjacent_violators(np.add.reduceat(bad, starts),
                                            np.add.reduceat(count, starts), prior=SHRINK)]
    block_values = ((np.add.reduceat(bad, starts) + SHRINK)
                    / (np.add.reduceat(count, starts) + 2 * SHRINK))
    knots, values = [], []
    for value, first, last in zip(block_values, xs[starts], xs[np.r_[starts[1:], len(xs)] - 1]):
        knots += [first] if first == last else [first, last]
        values += [value] if first == last else [value, value]
    return Isotonic(x=np.array(knots), y=np.array(values))


def pool_adjacent_violators(total: np.ndarray, count: np.ndarray,
                            prior: float = 0.0) -> np.ndarray:
    """The first index of each block of pool-adjacent-violators on the means (total +
    prior) / (count + 2 prior) (count > 0), each block's sums shrunk once: neighbours
    whose means do not rise are pooled, left to right, so the blocks' means strictly
    increase. Isotonic calibration pools PDs' labels; monotone WOE pools bins."""
    blocks: list[list[float]] = []              # [total + prior, count + 2 prior, first]
    for k, (t, c) in enumerate(zip(total, count)):
        blocks.append([t + prior, c + 2 * prior, k])
        while len(blocks) > 1 and blocks[-2][0] * blocks[-1][1] >= blocks[-1][0] * blocks[-2][1]:
            t2, c2, _ = blocks.pop()
            blocks[-1][0] += t2 - prior
            blocks[-1][1] += c2 - 2 * prior
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
