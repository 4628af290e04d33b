"""Price series as levels, differences or log returns, and the exact way back to prices.

Inputs are the per-step series (stationary for diff and log_return):

    price:       z_t = p_t
    diff:        z_t = p_t - p_{t-1}
    log_return:  z_t = log p_t - log p_{t-1}

Each extra input column (a feature x) has a transform of its own (`to_inputs`):

    level:       x_t             (an RSI, a funding rate, a spread: what `price` is to p)
    log:         log x_t         (volume)
    log1p:       log(1 + x_t)    (volume with zero bars: an outage, an illiquid hour)
    diff:        x_t - x_{t-1}
    log_return:  log x_t - log x_{t-1}

Every value at row t uses rows <= t only; a differenced column's row 0 is NaN, so
the windows of a series start where every one of its inputs is defined
(`inputs_first_row`), and input row t is the same date in every column.

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
import pandas as pd

from fjax.data.checks import DataSettingError

TRANSFORMS = ("price", "diff", "log_return")
FEATURE_TRANSFORMS = ("level", "log", "log1p", "diff", "log_return")
LIKE_TARGET = {"price": "level", "diff": "diff", "log_return": "log_return"}
"""The feature transform that transforms a feature like the target."""


def check_transform(transform: str) -> None:
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown transform {transform!r}; choose one of {', '.join(TRANSFORMS)}")


def first_row(transform: str) -> int:
    """The first row where the per-step series is defined."""
    check_transform(transform)
    return 0 if transform == "price" else 1


FEATURE_FIX = ("give it log1p (a volume with zeros), level or diff in "
               "--data.feature-transforms (one value per "
               "feature, in the order of --data.features; unset, every feature is "
               "transformed like the target), or drop it from --data.features")


def where(i: int, dates: np.ndarray | None = None) -> str:
    """Row `i` by its date where rows are dated ("on 2015-05-27 00:00:00"): rows in time
    order are not the file's when it runs newest first. Else "at row i"."""
    if dates is None or not np.issubdtype(np.asarray(dates).dtype, np.datetime64):
        return f"at row {i}"
    return f"on {pd.Timestamp(dates[i])}"


def _check_positive(values: np.ndarray, names: Sequence[str], need: str = "log returns",
                    fix: str | None = None, dates: np.ndarray | None = None,
                    source: str | None = None, zero_ok: bool = False) -> None:
    """Raise naming the column (and `source`), how many values are <= 0 (< 0 where
    `zero_ok`) and the first, by date where `dates` are given. `fix` defaults to the
    target's fix for column 0 and a feature's for the others."""
    cols = values.reshape(values.shape[0], -1)
    of = f" of {source}" if source else ""
    bound, kind = ("< 0", "non-negative") if zero_ok else ("<= 0", "positive")
    for c in range(cols.shape[1]):
        bad = np.nonzero(~(cols[:, c] >= 0 if zero_ok else cols[:, c] > 0))[0]
        if len(bad):
            name = names[c] if c < len(names) else f"column {c}"
            raise DataSettingError(
                f"column {name!r}{of} has {len(bad)} values {bound} (first "
                f"{where(bad[0], dates)}: {float(cols[bad[0], c])!r}); {need} need {kind} "
                "values; "
                f"{fix or ('use --data.transform diff or price' if c == 0 else FEATURE_FIX)}")


def to_target(values: np.ndarray, transform: str, names: Sequence[str] = ("target",), *,
              dates: np.ndarray | None = None, source: str | None = None) -> np.ndarray:
    """The per-step series of columns `f64[n, C]` (or `f64[n]`); row 0 is NaN for diff
    and log_return. Raises ValueError naming the column (of `source`) and the first row
    (its date, given `dates`) when a log meets a value <= 0."""
    check_transform(transform)
    v = np.asarray(values, dtype=np.float64)
    if transform == "price":
        return v.copy()
    if transform == "log_return":
        _check_positive(v, names, dates=dates, source=source)
        v = np.log(v)
    out = np.full_like(v, np.nan)
    out[1:] = v[1:] - v[:-1]
    return out


def check_feature_transform(transform: str) -> None:
    if transform not in FEATURE_TRANSFORMS:
        raise ValueError(f"unknown feature transform {transform!r}; choose one of "
                         f"{', '.join(FEATURE_TRANSFORMS)}")


def feature_first_row(transform: str) -> int:
    """The first row where a feature's transform is defined."""
    check_feature_transform(transform)
    return 1 if transform in ("diff", "log_return") else 0


def first_rows(transform: str, feature_transforms: Sequence[str]) -> tuple[int, ...]:
    """Each input's first defined row: the target's, then each feature's."""
    return (first_row(transform), *map(feature_first_row, feature_transforms))


def inputs_first_row(transform: str, feature_transforms: Sequence[str]) -> int:
    """The first row where the target's and every feature's transform are defined."""
    return max(first_rows(transform, feature_transforms))


def to_feature(values: np.ndarray, transform: str, name: str = "feature", *,
               dates: np.ndarray | None = None, source: str | None = None) -> np.ndarray:
    """One feature column `f64[n]` as the model reads it; row 0 is NaN for diff and
    log_return. Raises ValueError as `to_target` does when a log meets a value <= 0."""
    check_feature_transform(transform)
    v = np.asarray(values, dtype=np.float64)
    if transform == "level":
        return v.copy()
    if transform == "log1p":
        _check_positive(v, (name,), "log1p inputs", FEATURE_FIX, dates, source, zero_ok=True)
        return np.log1p(v)
    if transform in ("log", "log_return"):
        _check_positive(v, (name,), "logs" if transform == "log" else "log returns",
                        FEATURE_FIX, dates, source)
        v = np.log(v)
    if transform == "log":
        return v
    out = np.full_like(v, np.nan)
    out[1:] = v[1:] - v[:-1]
    return out


def to_inputs(values: np.ndarray, transform: str, feature_transforms: Sequence[str],
              names: Sequence[str], *, dates: np.ndarray | None = None,
              source: str | None = None) -> np.ndarray:
    """The per-step inputs `f64[n, C]`: column 0 (the target) by `transform`, column
    j >= 1 by `feature_transforms[j - 1]`; `dates` and `source` locate a bad value."""
    v = np.asarray(values, dtype=np.float64)
    if feature_transforms is None or isinstance(feature_transforms, str):
        raise TypeError(f"feature_transforms must be a list of transform names, one per "
                        f"feature ({v.shape[1] - 1} here; [] for none), e.g. "
                        f"{['level'] * (v.shape[1] - 1)!r}, got {feature_transforms!r:.60}")
    if len(feature_transforms) != v.shape[1] - 1:
        raise ValueError(f"{len(feature_transforms)} feature transforms for "
                         f"{v.shape[1] - 1} features; give one per feature")
    at = {"dates": dates, "source": source}
    columns = [to_target(v[:, 0], transform, names[:1], **at)]
    columns += [to_feature(v[:, j], t, names[j], **at)
                for j, t in enumerate(feature_transforms, 1)]
    return np.stack(columns, axis=1)


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
