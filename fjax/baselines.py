"""Baseline forecasts from a series' own past: pure ``jnp``, jit-safe.

Each takes the series ``f[n]``, the windows' origins ``i32[N]`` (row of the first
forecast step, so row ``t - 1`` is the last one observed) and the horizon ``H``, and
returns ``f[N, H]``. With ``T = t - 1`` and ``h = 1..H``:

    naive:            y_T
    drift:            y_T + h (y_T - y_s) / (T - s)      (s: first row of the history)
    seasonal naive:   y_{T + h - m (floor((h - 1) / m) + 1)}
    moving average:   mean(y_{T-k+1}, ..., y_T)

Reference: Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed.,
section 5.2. Callers check that every origin has enough history (``min_history``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

Array = jax.Array


def _steps(horizon: int) -> Array:
    return jnp.arange(1, horizon + 1)


@functools.partial(jax.jit, static_argnames="horizon")
def naive(series: Array, origins: Array, horizon: int) -> Array:
    """The last observed value for every step."""
    last = jnp.asarray(series)[origins - 1]
    return jnp.broadcast_to(last[:, None], (last.shape[0], horizon))


@functools.partial(jax.jit, static_argnames="horizon")
def drift(series: Array, origins: Array, horizon: int, start: int | Array = 0) -> Array:
    """The last value plus h times the average change since row `start`."""
    series = jnp.asarray(series)
    last = series[origins - 1]
    slope = (last - series[start]) / (origins - 1 - start)
    return last[:, None] + _steps(horizon)[None, :] * slope[:, None]


@functools.partial(jax.jit, static_argnames=("horizon", "season"))
def seasonal_naive(series: Array, origins: Array, horizon: int, season: int) -> Array:
    """The value one season (m rows) before each forecast step, repeated past one season."""
    h = _steps(horizon)
    rows = origins[:, None] - 1 + h[None, :] - season * ((h[None, :] - 1) // season + 1)
    return jnp.asarray(series)[rows]


@functools.partial(jax.jit, static_argnames=("horizon", "window"))
def moving_average(series: Array, origins: Array, horizon: int, window: int) -> Array:
    """The mean of the last `window` observed values for every step."""
    rows = origins[:, None] + jnp.arange(-window, 0)[None, :]
    mean = jnp.mean(jnp.asarray(series)[rows], axis=1)
    return jnp.broadcast_to(mean[:, None], (mean.shape[0], horizon))


def min_history(season: int, window: int) -> int:
    """Observed rows every baseline needs before an origin (drift needs two)."""
    return max(2, season, window)
