"""Prediction-interval metrics: pure ``jnp``, sample-weighted like ``fjax.metrics``.

    coverage = mean 1[lower <= y <= upper]      (should match the nominal level)
    width    = mean (upper - lower)
    wilson   = (p + z^2/2n +- z sqrt(p (1 - p) / n + z^2/4n^2)) / (1 + z^2/n)

``lower, upper, target: f[n, ...]``; trailing (horizon) dims are averaged per sample
and ``weights: f32[n] | None`` weight samples. Reference: Gneiting & Raftery, *Strictly
Proper Scoring Rules, Prediction, and Estimation*, JASA 2007, section 6.2. `wilson`, the
sampling interval of a measured share p of n independent trials, is Wilson's (JASA 1927):
unlike p +- z sqrt(p (1 - p) / n) it stays inside [0, 1] and keeps its level near 0 and 1.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.stats import norm

from fjax.losses import weighted_mean

Array = jax.Array


def _check(lower: Array, upper: Array, target: Array | None = None) -> None:
    shapes = [lower.shape, upper.shape] + ([] if target is None else [target.shape])
    if len(set(shapes)) != 1 or lower.ndim == 0:
        raise ValueError(f"lower, upper (and target) must share one shape with a leading "
                         f"sample axis, got {shapes}")


@jax.jit
def coverage(lower: Array, upper: Array, target: Array, weights: Array | None = None) -> Array:
    """Weighted share of targets inside [lower, upper]."""
    lower, upper, target = jnp.asarray(lower), jnp.asarray(upper), jnp.asarray(target)
    _check(lower, upper, target)
    inside = (target >= lower) & (target <= upper)
    return weighted_mean(inside.astype(jnp.float32), weights)


@jax.jit
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
