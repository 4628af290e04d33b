"""Forecast windows and chronological spans: which windows train, validate and test.

A window with origin t reads inputs at rows [t - W, t) and targets at rows [t, t + H).
Origins lie on one grid anchored at the end, t = n - H - stride * j >= first + W: the last
window's last target is the data's last row, so with a stride the rows left out are the
oldest, and the most recent prices are always tested.

Rows are cut by fraction: training ends at A = ceil(n (1 - test - val)), validation at
B = ceil(n (1 - test)), the test span is [B, n) (the 80/20 tutorial split when val = 0).
A window trains (or validates) only if ALL its targets lie in that span, and the last
`gap` rows of each earlier span hold no targets, so no target of a later span is ever
an input or a target of an earlier one. A test window is placed by its first target;
its inputs may reach back into earlier spans, which is the past at forecast time.

Walk-forward: the test span is cut into K blocks starting at c_k. Origin k tests the
windows whose first target lies in [c_k, c_{k+1}); its validation and training spans
are the single split's, shifted forward by c_k - B and ending before c_k. Training is
expanding (from the first row) or rolling (the last `rolling_rows` rows). Spans are
masks over one set of windows, so the origins ride a population axis.

Each origin's scalers fit on its own training rows (`spans[k]["train"]`), the past of
its forecasts (`fjax.tasks.forecast.data`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fjax.data.checks import DataSettingError, check_count


@dataclass(frozen=True)
class Plan:
    """Every window's origin, and its span masks `f32[K, N]` for K forecast origins."""

    origins: np.ndarray      # i64[N]: row of each window's first target
    train: np.ndarray        # f32[K, N]
    val: np.ndarray          # f32[K, N] (all zero without a validation span)
    test: np.ndarray         # f32[K, N]
    spans: tuple[dict, ...]  # per origin: target rows {"train": (a, b), "val": ..., "test": ...}
    window: int
    horizon: int

    @property
    def k(self) -> int:
        return self.train.shape[0]

    @property
    def has_val(self) -> bool:
        return bool(self.val.any())


def _fractions_ok(test_fraction: float, val_fraction: float) -> None:
    if not 0 < test_fraction < 1:
        raise ValueError(f"ForecastDataConfig.test_fraction must be in (0, 1), got "
                         f"{test_fraction}; use e.g. 0.2")
    if not 0 <= val_fraction < 1 or test_fraction + val_fraction >= 1:
        raise ValueError(f"ForecastDataConfig.val_fraction must be in [0, 1) with "
                         f"test_fraction + val_fraction < 1, got {val_fraction}; use e.g. 0.1")


def origin_grid(start: int, last: int, stride: int) -> np.ndarray:
    """The origins from `start` to `last`, `stride` apart and anchored at `last` (the
    window whose last target is the data's last row): the oldest rows are left out."""
    return np.arange(start + (last - start) % stride, last + 1, stride, dtype=np.int64)


def plan_windows(n: int, *, window: int, horizon: int, stride: int = 1,
                 test_fraction: float = 0.2, val_fraction: float = 0.0, gap: int = 0,
                 origins: int = 1, training: str = "expanding", rolling_rows: int | None = None,
                 first: int = 0) -> Plan:
    """The windows of a series of `n` rows whose rows before `first` are undefined.

    `training="rolling"` trains each origin on its last `rolling_rows` rows (None: as
    many as the first origin has; more than it has is refused).

    Raises ValueError, naming the fields to change, when a span holds no window.
    """
    _fractions_ok(test_fraction, val_fraction)
    if training not in ("expanding", "rolling"):
        raise ValueError(f"ForecastDataConfig.training must be 'expanding' or 'rolling', "
                         f"got {training!r}")
    if rolling_rows is not None and rolling_rows < 1:
        raise ValueError(f"ForecastDataConfig.rolling_rows must be >= 1 or None, got "
                         f"{rolling_rows}")
    for name, value, low in (("window", window, 1), ("horizon", horizon, 1),
                             ("stride", stride, 1), ("gap", gap, 0), ("origins", origins, 1)):
        if int(value) != value or value < low:
            raise ValueError(f"ForecastDataConfig.{name} must be an integer >= {low}, "
                             f"got {value!r}")
    need = first + window + horizon
    grid = origin_grid(first + window, n - horizon, stride)
    if len(grid) == 0:
        raise ValueError(f"{n} rows are too few for one window: window={window} + "
                         f"horizon={horizon} needs {need} rows; lower ForecastDataConfig."
                         "window or .horizon, or use a longer series")
    b = math.ceil(n * (1.0 - test_fraction))
    a = math.ceil(n * (1.0 - test_fraction - val_fraction)) if val_fraction > 0 else b
    cuts = [b + round(k * (n - b) / origins) for k in range(origins + 1)]
    size = len(grid)
    train, val, test = (np.zeros((origins, size), np.float32) for _ in range(3))
    first_end = (a if val_fraction > 0 else b) - gap   # origin 1's training end
    length = rolling_rows or first_end - first         # a rolling window's rows
    if training == "rolling" and length > first_end - first:   # later origins end later
        raise DataSettingError(rolling_too_long(length, first_end, first, val_fraction > 0))
    spans = []
    for k in range(origins):
        shift = cuts[k] - b
        train_end = first_end + shift
        train_start = train_end - length if training == "rolling" else first
        span = {"train": (train_start, train_end), "val": None, "test": (cuts[k], cuts[k + 1])}
        train[k] = (grid >= train_start) & (grid + horizon <= train_end)
        test[k] = (grid >= cuts[k]) & (grid < cuts[k + 1])
        checks = [("training", "train", train[k]), ("test", "test", test[k])]
        if val_fraction > 0:
            span["val"] = (a + shift, b + shift - gap)
            val[k] = (grid >= a + shift) & (grid + horizon <= b + shift - gap)
            checks.insert(1, ("validation", "val", val[k]))
        spans.append(span)
        for label, key, mask in checks:
            if not mask.any():
                lo, hi = span[key]
                raise ValueError(
                    f"{n} rows are too few: origin {k + 1} of {origins} has no {label} "
                    f"window (its {label} targets are rows [{lo}, {hi}); a window needs "
                    f"window={window} earlier rows and horizon={horizon} targets; "
                    f"stride={stride}, gap={gap}); lower ForecastDataConfig.window, .horizon, "
                    ".gap or .origins, change .test_fraction / .val_fraction, or use a "
                    "longer series")
    return Plan(origins=grid, train=train, val=val, test=test, spans=tuple(spans),
                window=window, horizon=horizon)


def rolling_too_long(length: int, train_end: int, first: int, has_val: bool) -> str:
    """Why a rolling window longer than origin 1's training rows is refused: it would
    start before the data, so the first origins would silently train as expanding."""
    have = train_end - first
    return (f"ForecastDataConfig.rolling_rows={length} is more than the {have} rows that "
            f"origin 1 can train on (rows {first} to {train_end - 1}, before its "
            f"{'validation' if has_val else 'test'} span): a rolling window that long would "
            "start before the data, so the first origin(s) would train on every earlier row, "
            f"as training='expanding' does; set --data.rolling-rows {have} or fewer, leave "
            "it unset (origin 1's rows, for every origin), or use --data.training expanding")


def gather_inputs(values: np.ndarray, origins: np.ndarray, window: int) -> np.ndarray:
    """Inputs `f32[N, W, C]` of the windows with first-target rows `origins`: rows
    [t - W, t) of every column (targets come from `fjax.data.series.targets`). An origin
    below W read rows wrapped from the end (numpy's negative indices): refused."""
    values = np.asarray(values)
    if values.ndim == 1:
        values = values[:, None]
    check_count("window", window, 1)
    origins = np.asarray(origins)
    if origins.ndim != 1:
        raise ValueError(f"origins must be rows i[N], one per window, got shape {origins.shape}")
    bad = origins[(origins < window) | (origins > len(values))]
    if bad.size:
        raise ValueError(f"origins {bad[:5].tolist()} have no full window of {window} rows "
                         f"before them in {len(values)} rows: each origin t needs "
                         f"{window} <= t <= {len(values)} (inputs are rows [t - {window}, t))")
    return values[input_rows(origins, window)].astype(np.float32)


def input_rows(origins: np.ndarray, window: int) -> np.ndarray:
    """Rows read as inputs by each window: `i64[N, W]`."""
    return np.asarray(origins, np.int64)[:, None] + np.arange(-window, 0)[None, :]


def target_rows(origins: np.ndarray, horizon: int) -> np.ndarray:
    """Rows forecast by each window: `i64[N, H]`."""
    return np.asarray(origins)[:, None] + np.arange(horizon)[None, :]
