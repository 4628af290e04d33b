"""Prediction-interval metrics: pure ``jnp``, sample-weighted like ``fjax.metrics``.

    coverage = mean 1[lower <= y <= upper]      (should match the nominal level)
    width    = mean (upper - lower)
    wilson   = (p + z^2/2n +- z sqrt(p (1 - p) / n + z^2/4n^2)) / (1 + z^2/n)

``lower, upper, target: f[n, ...]``; trailing (horizon) dims are averaged per sample
and ``weights: f32[n] | None`` weight samples. Reference: Gneiting & Raftery, *Strictly
Proper Scoring Rules, Prediction, and Estimation*, JASA 2007, section 6.2. `wilson`, the
sampling interval of a measured share p of n independent trials, is Wilson's (JASA 1927):
unlike p +- z sqrt(p (1 - p) / n) it stays inside [0, 1] and keeps its level near 0 and 1.
`auc_interval` is DeLong's interval for a ROC-AUC (DeLong, DeLong & Clarke-Pearson,
Biometrics 1988): with V10_i the share of negatives each positive outscores and V01_j the
share of positives that outscore each negative (ties half),
    var(AUC) = var(V10) / m + var(V01) / n   (m positives, n negatives),
computed from midranks (Sun & Xu, IEEE SPL 2014) in float64; `rank_auc` is the AUC
alone (the Mann-Whitney U of the same midranks), for figures that need no interval, and
`rank_ks` the Kolmogorov-Smirnov statistic in float64, max_t |F_bad(t) - F_good(t)|.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm
from scipy.stats import rankdata

from fjax.data.checks import scored_labels
from fjax.losses import weighted_mean
from fjax.metrics import host_jit

Array = jax.Array


def _check(lower: Array, upper: Array, target: Array | None = None) -> None:
    shapes = [lower.shape, upper.shape] + ([] if target is None else [target.shape])
    if len(set(shapes)) != 1 or lower.ndim == 0:
        raise ValueError(f"lower, upper (and target) must share one shape with a leading "
                         f"sample axis, got {shapes}")


@host_jit
def coverage(lower: Array, upper: Array, target: Array, weights: Array | None = None) -> Array:
    """Weighted share of targets inside [lower, upper], in the inputs' float type (at least
    float32): a float32 indicator made the weights float32 too, so float64 evaluation
    gave 9 of 25 as 0.360000014305."""
    lower, upper, target = jnp.asarray(lower), jnp.asarray(upper), jnp.asarray(target)
    _check(lower, upper, target)
    inside = (target >= lower) & (target <= upper)
    return weighted_mean(inside.astype(jnp.result_type(lower, upper, target, jnp.float32)),
                         weights)


@host_jit
def width(lower: Array, upper: Array, weights: Array | None = None) -> Array:
    """Weighted mean interval width."""
    lower, upper = jnp.asarray(lower), jnp.asarray(upper)
    _check(lower, upper)
    return weighted_mean(upper - lower, weights)


def gaussian_z(level: float) -> float:
    """The z-score of a central interval with coverage `level` (0.8 -> 1.2816)."""
    if not 0 < level < 1:
        raise ValueError(f"an interval level must be in (0, 1), got {level}")
    return float(norm.ppf(0.5 + level / 2))


def wilson(share: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Wilson's `level` interval for a share measured on `n` independent trials (n may
    be an effective, fractional count)."""
    if n <= 0:
        raise ValueError(f"a share needs at least one trial, got n = {n}")
    z = gaussian_z(level)
    shrink = 1.0 + z * z / n
    centre = (share + z * z / (2 * n)) / shrink
    half = z / shrink * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _positives(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f64[n] scores, bool[n] labels == 1), one 0/1 label per score (`scored_labels`
    refuses a 0/1/2 coding, which would otherwise merge two classes unsaid)."""
    scores, labels = scored_labels(scores, labels)
    return scores, labels == 1


def rank_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC-AUC of `scores` (higher: positive) for 0/1 `labels` in float64, ties half: the
    Mann-Whitney U of the positives' midranks over (positives x negatives). NaN without
    both classes."""
    scores, positive = _positives(scores, labels)
    m, n = int(positive.sum()), int((~positive).sum())
    if m == 0 or n == 0:
        return math.nan
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - m * (m + 1) / 2) / (m * n))


def rank_ks(scores: np.ndarray, labels: np.ndarray) -> float:
    """Kolmogorov-Smirnov statistic of `scores` between 0/1 `labels` in float64: the largest
    gap between the positives' and the negatives' empirical CDFs, tied scores moving
    together (scipy's `ks_2samp` statistic; `fjax.metrics.ks_statistic` in float32 merges
    scores closer than it resolves). NaN without both classes."""
    scores, positive = _positives(scores, labels)
    pos, neg = np.sort(scores[positive]), np.sort(scores[~positive])
    if len(pos) == 0 or len(neg) == 0:
        return math.nan
    cuts = np.unique(scores)
    gap = (np.searchsorted(pos, cuts, side="right") / len(pos)
           - np.searchsorted(neg, cuts, side="right") / len(neg))
    return float(np.max(np.abs(gap)))


def auc_interval(scores: np.ndarray, labels: np.ndarray, level: float = 0.95
                 ) -> tuple[float, float, float]:
    """(AUC, lower, upper): the ROC-AUC of `scores` (higher: positive) for 0/1 `labels`
    and DeLong's `level` interval, clipped to [0, 1]. The scores are taken as fixed: the
    interval is the sampling error of the applicants, not of the model's fit."""
    scores, positive = _positives(scores, labels)
    pos, neg = scores[positive], scores[~positive]
    m, n = len(pos), len(neg)
    if min(m, n) < 2:
        raise ValueError(f"an AUC interval needs two of each class, got {m} positive and "
                         f"{n} negative")
    ranks = rankdata(np.concatenate([pos, neg]))
    v10 = (ranks[:m] - rankdata(pos)) / n        # negatives below each positive
    v01 = 1 - (ranks[m:] - rankdata(neg)) / m    # positives above each negative
    auc = float(v10.mean())
    half = gaussian_z(level) * math.sqrt(v10.var(ddof=1) / m + v01.var(ddof=1) / n)
    return auc, max(0.0, auc - half), min(1.0, auc + half)
