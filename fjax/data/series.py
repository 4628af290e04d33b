"""Price series as levels, differences or log returns, and the exact way back to prices.

Inputs are the per-step series (stationary for diff and log_return):

    price:       z_t = p_t
    diff:        z_t = p_t - p_{t-1}
    log_return:  z_t = log p_t - log p_{t-1}

Targets of a window with origin t (last observed price p_{t-1}) are the change from
p_{t-1} to each forecast step h = 1..H, so every step maps back to a price on its own:

    price:       c_h = p_{t-1+h}                     p = c_h
    diff:        c_h = p_{t-1+h} - p_{t-1}           p = p_{t-1} + c_h
    log_return:  c_h = log p_{t-1+h} - log p_{t-1}   p = p_{t-1} exp(c_h)

Each map is increasing in c_h, so quantiles and interval bounds stay quantiles and
bounds in prices, with no assumption about how steps depend on each other. For H = 1
the target is the next z. Everything is float64 numpy; round trips are exact to rounding.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

TRANSFORMS = ("price", "diff", "log_return")


def check_transform(transform: str) -> None:
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown transform {transform!r}; choose one of {', '.join(TRANSFORMS)}")


def first_row(transform: str) -> int:
    """The first row where the per-step series is defined."""
    check_transform(transform)
    return 0 if transform == "price" else 1


def _check_positive(values: np.ndarray, names: Sequence[str]) -> None:
    cols = values.reshape(values.shape[0], -1)
    for c in range(cols.shape[1]):
        bad = np.nonzero(~(cols[:, c] > 0))[0]
        if len(bad):
            name = names[c] if c < len(names) else f"column {c}"
            fix = ("use --data.transform diff or price" if c == 0 else
                   "every input column takes --data.transform, so drop it from "
                   "--data.features, shift it to positive values (e.g. volume + 1) in the "
                   "file, or use --data.transform diff or price")
            raise ValueError(
                f"column {name!r} has {len(bad)} values <= 0 (first at row {bad[0]}: "
                f"{float(cols[bad[0], c])!r}); log returns need positive values; {fix}")


def to_target(values: np.ndarray, transform: str, names: Sequence[str] = ("target",)) -> np.ndarray:
    """The per-step series of columns `f64[n, C]` (or `f64[n]`); row 0 is NaN for diff
    and log_return. Raises ValueError naming the column when a log meets a value <= 0."""
    check_transform(transform)
    v = np.asarray(values, dtype=np.float64)
    if transform == "price":
        return v.copy()
    if transform == "log_return":
        _check_positive(v, names)
        v = np.log(v)
    out = np.full_like(v, np.nan)
    out[1:] = v[1:] - v[:-1]
    return out


def targets(prices: np.ndarray, origins: np.ndarray, horizon: int, transform: str) -> np.ndarray:
    """The change from p_{t-1} to p_{t-1+h}, h = 1..H, of every window: `f64[N, H]`."""
    check_transform(transform)
    p = np.asarray(prices, dtype=np.float64)
    origins = np.asarray(origins, np.int64)
    future = p[origins[:, None] + np.arange(horizon)[None, :]]
    last = p[origins - 1][:, None]
    if transform == "price":
        return future
    if transform == "diff":
        return future - last
    _check_positive(p, ("target",))
    return np.log(future) - np.log(last)


def to_prices(c: np.ndarray, last_price: np.ndarray, transform: str) -> np.ndarray:
    """Invert targets (or their quantiles) `f64[N, H, ...]` made after last prices `f64[N]`."""
    check_transform(transform)
    c = np.asarray(c, dtype=np.float64)
    if transform == "price":
        return c.copy()
    last = np.asarray(last_price, dtype=np.float64).reshape((-1,) + (1,) * (c.ndim - 1))
    return last + c if transform == "diff" else last * np.exp(c)


def gaussian_prices(mean: np.ndarray, sigma: np.ndarray, last_price: np.ndarray,
                    transform: str, z_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(point, lower, upper) prices of Gaussian targets `f64[N, H]`: mean -/+ z sigma,
    mapped through `to_prices`. For log returns the point is the median p exp(mean)."""
    mean, sigma = np.asarray(mean, np.float64), np.asarray(sigma, np.float64)
    return tuple(to_prices(v, last_price, transform)
                 for v in (mean, mean - z_score * sigma, mean + z_score * sigma))
