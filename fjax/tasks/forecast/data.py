"""From a file (or the embedded S&P 500) to scaled windows, span masks and price truth."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fjax.baselines import min_history
from fjax.data.checks import SQUARABLE, DataSettingError
from fjax.data.scalers import Scaler, fit_scaler
from fjax.data.series import first_rows, inputs_first_row, targets, to_inputs
from fjax.data.timeseries import Series, duration_text, load_series, median_spacing
from fjax.data.windows import Plan, gather_inputs, plan_windows, target_rows
from fjax.datasets import load_dataset, read_table
from fjax.tasks.forecast.config import EvaluationConfig, ForecastDataConfig


@dataclass(frozen=True)
class ForecastData:
    """Everything the forecaster trains on and is scored against.

    `x f32[K*N, W, C]` (the per-step series: the target by `transform`, each feature by
    its entry of `feature_transforms`) and `y f32[K*N, H]` (the change from the last
    price to each step, `fjax.data.series.targets`) stack K blocks of all N windows,
    block k scaled by origin k's scalers, fitted on its own (observed) training rows: a later
    origin rescales on its longer history, and an origin's members read only its block
    (`rows`, `stacked`), so training sees masks, not origins (as `fjax.data.split_stack`).
    One origin: one block, N rows. The plan's masks `[K, N]` say which windows each
    origin trains, validates and tests on; `observed` says which steps of each window
    forecast an observed price: a forward-filled one is left out of the loss and of
    every metric (`target_mask`). Prices are float64.
    """

    source: str
    series: Series
    transform: str
    feature_transforms: tuple[str, ...]   # one per feature column (1..C-1)
    scalers: tuple[Scaler, ...]   # per origin, per column of the per-step series;
                                  # column 0 scales y
    plan: Plan
    x: np.ndarray
    y: np.ndarray
    actual: np.ndarray        # f64[N, H]: the prices each window forecasts
    last_price: np.ndarray    # f64[N]: the last observed price, row t - 1
    observed: np.ndarray      # bool[N, H]: the target price was observed, not filled
    season: int = 5           # seasonal naive's period in rows (`infer_season`)
    season_words: str = ""    # how it was chosen, for the report
    unscored_targets: int = 0 # test targets (window, step) left out: filled, not observed
    spacing: dict | None = None   # the dates' spacing (`spacing_facts`), worked out once
    last_window: np.ndarray | None = None   # f32[1, W, C]: the inputs of the window after
                                            # the data (rows n-W..n-1, origin n), scaled by
                                            # the last origin's scalers (`ahead`)

    @property
    def prices(self) -> np.ndarray:
        return self.series.values[:, 0]

    @property
    def first(self) -> int:
        """The first row where every input column is defined (`inputs_first_row`)."""
        return inputs_first_row(self.transform, self.feature_transforms)

    @property
    def windows(self) -> int:
        """N, the windows in one block of `x` and `y`."""
        return len(self.plan.origins)

    def rows(self, index: np.ndarray, origin: np.ndarray | int) -> np.ndarray:
        """Positions in `x` and `y` of windows `index` scaled by `origin`'s scalers."""
        return np.asarray(origin, np.int64) * self.windows + np.asarray(index, np.int64)

    def stacked(self, masks: np.ndarray) -> np.ndarray:
        """Per-origin window masks `f[K, N]` as masks `f32[K, K*N]` over the stack: origin
        k's over its own block, zero elsewhere."""
        k = len(masks)
        eye = np.eye(k, dtype=np.float32)[:, :, None]
        return (eye * np.asarray(masks, np.float32)[:, None, :]).reshape(k, -1)

    @property
    def test_index(self) -> np.ndarray:
        """Windows scored on the test span, in time order (i64[Nt])."""
        return np.nonzero(self.plan.test.any(axis=0))[0]

    @property
    def test_origin(self) -> np.ndarray:
        """The walk-forward origin (0..K-1) that scores each test window."""
        return self.plan.test[:, self.test_index].argmax(axis=0)

    @property
    def test_rows(self) -> np.ndarray:
        """Positions in `x` and `y` of the test windows, each scaled by its origin's."""
        return self.rows(self.test_index, self.test_origin)

    def _target(self, stat: str, origin: np.ndarray | int, ndim: int) -> np.ndarray:
        """Column 0's `offset` or `scale` of `origin` (one, or one per window along the
        first of `ndim` axes)."""
        values = np.array([getattr(s, stat)[0] for s in self.scalers])[origin]
        return values.reshape(-1, *[1] * (ndim - 1)) if np.ndim(origin) else values

    def unscale_target(self, y: np.ndarray, origin: np.ndarray | int) -> np.ndarray:
        """Scaled targets of windows scored by `origin` (one, or one per window along the
        first axis) -> changes from the last price (`fjax.data.series.targets`)."""
        y = np.asarray(y, np.float64)
        return y * self._target("scale", origin, y.ndim) + self._target("offset", origin, y.ndim)

    def target_scale(self, origin: np.ndarray | int, ndim: int = 1) -> np.ndarray:
        """Target units per scaled unit of `origin`'s scaler (for a Gaussian head's
        sigma), shaped as `unscale_target`'s for an `ndim`-axis array."""
        return self._target("scale", origin, ndim)

    def naive_scale(self, k: int) -> float:
        """In-sample MAE of the one-step naive forecast on origin k's scaler rows, its
        training span: the MASE denominator (Hyndman & Koehler, 2006). Its prices start
        one row before the first input row when that is row 1 (a differenced target or
        feature), so every transform of the same series, with any features, gets the
        same scale. Only steps between two observed rows count (`missing="ffill"`): a
        step into a filled row is a zero change that would shrink the scale, and the
        step out of one carries the whole move across the gap, several rows' worth;
        without two consecutive observed rows there is no scale, and it raises."""
        start, end = self.plan.spans[k]["train"]
        lo = start - self.first
        steps = np.abs(np.diff(self.prices[lo:end]))
        if self.series.made is not None:
            seen = ~self.series.made[lo:end]
            steps = steps[seen[1:] & seen[:-1]]
        if not len(steps):
            raise ValueError(
                f"column {self.series.columns[0]!r} of {self.source} is observed on no two "
                f"consecutive rows of origin {k}'s training rows {lo}-{end - 1} (the rest "
                "were filled by --data.missing ffill), so the one-step naive error that "
                "scales MASE has no move to measure; resample the data to the target's own "
                "spacing, or fill its gaps before loading")
        return float(np.mean(steps))

    @property
    def target_mask(self) -> np.ndarray | None:
        """`observed` for every row of `y` (`f32[K*N, H]`), 0 on filled targets; None
        where every target was observed."""
        if self.observed.all():
            return None
        return np.tile(self.observed, (self.plan.k, 1)).astype(np.float32)

    def dates_of(self, rows: np.ndarray) -> np.ndarray:
        return self.series.dates[rows]


def read_frame(cfg: ForecastDataConfig):
    if cfg.path is None:
        return load_dataset("sp500"), "embedded S&P 500 (fjax/datasets/data/sp500.csv.gz)"
    return read_table(cfg.path, field="data.path"), repr(cfg.path)


def prepare(cfg: ForecastDataConfig, evaluation: EvaluationConfig | None = None) -> ForecastData:
    """Load, check, transform, plan the spans, fit each origin's scaler on its training
    rows, window."""
    frame, source = read_frame(cfg)
    series = load_series(frame, cfg.columns, date_column=cfg.date_column, missing=cfg.missing,
                         max_gap=cfg.max_gap, source=source)
    spacing = warn_spacing(series, cfg.max_gap)
    feature_transforms = cfg.used_feature_transforms
    lags = first_rows(cfg.transform, feature_transforms)   # each input's first row
    first = max(lags)
    plan = plan_windows(series.n, window=cfg.window, horizon=cfg.horizon, stride=cfg.stride,
                        test_fraction=cfg.test_fraction, val_fraction=cfg.val_fraction,
                        gap=cfg.gap, origins=cfg.origins, training=cfg.training,
                        rolling_rows=cfg.rolling_rows, first=first)
    plan, observed, unscored = without_made_targets(plan, series.made)
    evaluation = evaluation or EvaluationConfig()
    season, season_words = ((evaluation.season, "set by --evaluation.season")
                            if evaluation.season is not None else infer_season(series.dates))
    check_history(plan, first, season, evaluation.moving_average)
    spans = [span["train"] for span in plan.spans]
    for start, end in spans:
        if np.ptp(series.values[start:end, 0]) == 0:
            raise DataSettingError(f"column {cfg.target!r} of {source} is constant over the "
                                   f"training rows {start}-{end - 1}: there is nothing to learn, "
                                   "and the naive forecast's error (the scale of every comparison) "
                                   "is zero; check that data.target names the price column")
    z = to_inputs(series.values, cfg.transform, feature_transforms, series.columns,
                  dates=series.dates, source=source)
    for rows in spans:
        check_features_vary(z, series.columns, feature_transforms, rows, source)
    scalers = tuple(fit_scaler(cfg.used_scalers, z, scaler_rows(series, rows, lags))
                    for rows in spans)
    scaled = [s.transform(z) for s in scalers]   # each origin's inputs, as the model reads them
    check_scaled(z, scaled, series.columns, cfg, source)
    data = windowed(cfg, source, series, plan, scalers, scaled, observed, season=season,
                    season_words=season_words, unscored_targets=unscored, spacing=spacing)
    for k in range(plan.k):   # refuse before training, not after: a scale MASE cannot have
        data.naive_scale(k)
    return data


def windowed(cfg: ForecastDataConfig, source: str, series: Series, plan: Plan,
             scalers: tuple[Scaler, ...], scaled: list[np.ndarray], observed: np.ndarray,
             **facts) -> ForecastData:
    """`plan`'s windows and price truth, a block per scaler (`scaled`: the inputs it scaled),
    `facts` the other fields: a run's data (`prepare`) and a new file's (`fjax score`)."""
    prices = series.values[:, 0]
    change = targets(prices, plan.origins, cfg.horizon, cfg.transform)
    x = np.concatenate([gather_inputs(inputs, plan.origins, cfg.window) for inputs in scaled])
    y = np.concatenate([((change - s.offset[0]) / s.scale[0]).astype(np.float32)
                        for s in scalers])
    return ForecastData(source=source, series=series, transform=cfg.transform,
                        feature_transforms=cfg.used_feature_transforms, scalers=scalers,
                        plan=plan, x=x, y=y, actual=prices[target_rows(plan.origins, cfg.horizon)],
                        last_price=prices[plan.origins - 1], observed=observed,
                        last_window=gather_inputs(scaled[-1], np.array([series.n]), cfg.window),
                        **facts)


def check_scaled(z: np.ndarray, scaled: list[np.ndarray], columns: tuple[str, ...],
                 cfg: ForecastDataConfig, source: str) -> None:
    """Refuse any input column (target or feature) that reaches the model, scaled, beyond
    `SQUARABLE`: prices in units of 1e20 under --data.scaler none passed every check, then
    the first epoch's squared errors overflowed float32 and the run was reported as
    diverged, blaming the learning rate; a feature that large overflows the model's
    products the same way."""
    for inputs in scaled:   # one per origin's scaler: `z` after it
        big = np.abs(inputs) > SQUARABLE   # NaN (rows before `first`): False
        if big.any():
            row, j = np.argwhere(big)[0]
            raise DataSettingError(
                f"column {columns[j]!r} of {source} reaches the model as {inputs[row, j]:.3g} "
                f"at row {row} (its value {z[row, j]:.3g} after its transform, scaled by "
                f"{cfg.used_scalers[j]}), beyond the +-{SQUARABLE:.1e} an input may reach "
                "the model with: float32 overflows in the model's products and losses past "
                "it and training would diverge; scale it (--data.scaler auto) or rescale "
                "the column in the file")


def span_mask(n: int, rows: tuple[int, int]) -> np.ndarray:
    """`bool[n]`, true on rows [start, end)."""
    mask = np.zeros(n, bool)
    mask[slice(*rows)] = True
    return mask


def scaler_rows(series: Series, rows: tuple[int, int], lags: tuple[int, ...]) -> np.ndarray:
    """`bool[n, C]`: the training rows [start, end) each column's scaler fits on, those
    where its input is observed: with --data.missing ffill, neither a row where that
    column was filled (a carried-forward level, a zero change; a feature's own blank
    counts, not only the target's) nor, where the column is differenced (`lags[j]` 1),
    the row after one (the whole move across the gap as one step), as
    `ForecastData.naive_scale` counts the target's steps. Every row is still transformed."""
    mask = np.repeat(span_mask(series.n, rows)[:, None], len(series.columns), axis=1)
    if series.holes is None:
        return mask
    for j, lag in enumerate(lags):
        mask[:, j] &= ~series.holes[:, j]
        if lag:
            mask[lag:, j] &= ~series.holes[:-lag, j]
        if not mask[:, j].any():
            raise ValueError(
                f"column {series.columns[j]!r} is observed on no training rows {rows[0]}-"
                f"{rows[1] - 1}" + (" after an observed row" if lag else "") + " (the "
                "rest were filled by --data.missing ffill), so no scaler can be fitted; "
                "resample the data to the target's own spacing, or fill its gaps before "
                "loading")
    return mask


def check_features_vary(z: np.ndarray, columns: tuple[str, ...], transforms: tuple[str, ...],
                        rows: tuple[int, int], source: str) -> None:
    """Refuse a feature whose transformed inputs `z[:, j]` are constant over the training
    rows (a column of ones; a constant column under `diff`): as the target's check,
    there is nothing to learn from it, and the scaler would pass it through unscaled."""
    start, end = rows
    for j, (column, transform) in enumerate(zip(columns[1:], transforms), 1):
        if np.ptp(z[start:end, j]) == 0:
            raise DataSettingError(
                f"feature {column!r} of {source} is constant over the training rows "
                f"{start}-{end - 1} after its transform `{transform}` (every value "
                f"{z[start, j]:g}): it carries nothing to learn; drop it from "
                "--data.features, or give it a transform under which it varies "
                "(--data.feature-transforms)")


INSERTED_SHARE = 0.1
"""Above this share of inserted rows, --data.missing ffill is filling sessions' breaks."""


def inserted_note(series: Series) -> str | None:
    """A sentence when forward-filling date gaps inserted more than `INSERTED_SHARE` of
    the rows (the nights and weekends of 5-minute bars: 79%): windows are then mostly
    carried-forward prices, and the gaps are better allowed with --data.max-gap."""
    share = series.inserted_rows / series.n
    if share <= INSERTED_SHARE:
        return None
    return (f"Inserted rows are {share:.0%} of the series: that share of every window's "
            "inputs are carried-forward prices. For session data (market hours, trading "
            "days) allow the breaks with a larger --data.max-gap instead of filling them")


def warn_spacing(series: Series, max_gap: float, after: str = "") -> dict | None:
    """Warn where date gaps were mostly filled (`inserted_note`) or outages of a series
    that runs every day passed `max_gap` (`outage_note`), `after` closing each warning:
    for a run's file, and for the newer file `fjax score forecast` reads, whose windows
    cross them as well. Returns the spacing facts it read (`spacing_facts`), which the
    data keeps for the report."""
    if (note := inserted_note(series)) is not None:
        warnings.warn(f"--data.missing ffill inserted {series.inserted_rows} rows to close "
                      f"date gaps. {note}{after}", stacklevel=3)
    spacing = spacing_facts(series.dates)
    if (note := outage_note(spacing, max_gap)) is not None:
        warnings.warn(note + after, stacklevel=3)
    return spacing


def without_made_targets(plan: Plan, made: np.ndarray | None) -> tuple[Plan, np.ndarray, int]:
    """Which targets were observed, and the plan without windows that observed none.
    A target row inserted or forward-filled by `missing="ffill"` neither trains (a
    carried-forward price is a zero move no market made) nor scores (it would make the
    naive forecast perfect): that step of that window is masked, its other steps count.
    Every span left holds a window with an observed target (one with none is refused), so
    no span's loss is a weighted mean over zero weight (which would read 0).
    Returns the plan, `bool[N, H]` (true: observed) and how many test targets left."""
    observed = np.ones((len(plan.origins), plan.horizon), bool)
    if made is None:
        return plan, observed, 0
    observed = ~made[target_rows(plan.origins, plan.horizon)]
    unscored = int((~observed[plan.test.any(axis=0)]).sum())
    some = observed.any(axis=1)
    plan = dataclasses.replace(plan, train=plan.train * some, val=plan.val * some,
                               test=plan.test * some)
    for k in range(plan.k):
        spans = [("training", plan.train[k]), ("test", plan.test[k])]
        if plan.spans[k]["val"] is not None:
            spans.append(("validation", plan.val[k]))
        for name, mask in spans:
            if not mask.any():
                raise DataSettingError(
                    f"every {name} window of origin {k + 1} forecasts only rows that "
                    "--data.missing ffill filled (a date gap or a missing price), and "
                    "filled prices neither train nor score; move the spans onto observed "
                    "prices with --data.val-fraction / --data.test-fraction, use fewer "
                    "--data.origins, allow date gaps with --data.max-gap, or clean the file")
    return plan, observed, unscored


def infer_season(dates: np.ndarray) -> tuple[int, str]:
    """(rows in one season, how it was found): the median count of rows per full calendar
    day for intraday data, per week for daily data, per year for weekly or coarser (the
    first and last, partial, periods left out). Without dates: 5, a trading week."""
    if not np.issubdtype(dates.dtype, np.datetime64) or len(dates) < 3:
        return 5, "a trading week of daily rows; the rows have no dates to tell"
    spacing = median_spacing(dates)
    stamps = pd.DatetimeIndex(dates)
    day = pd.Timedelta(days=1).value
    period, words, length = ((stamps.normalize(), "day", day) if spacing < day else
                             (stamps.to_period("W"), "week", 7 * day) if spacing < 7 * day else
                             (stamps.year, "year", 365.25 * day))
    counts = pd.Series(1, index=period).groupby(level=0).size().to_numpy()
    if len(counts) < 3:   # no full period between the partial first and last ones
        season = max(1, int(np.floor(length / spacing + 0.5)))
        return season, f"a {words} of rows at the median spacing (no full {words} to count)"
    season = max(1, int(np.floor(np.median(counts[1:-1]) + 0.5)))
    return season, f"a {words} of rows, the median count per {words} of the dates"


def check_history(plan: Plan, first: int, season: int, moving_average: int) -> None:
    """Every test origin needs enough observed rows for every baseline."""
    need = min_history(season, moving_average)
    earliest = int(plan.origins[plan.test.any(axis=0)].min())
    if earliest - first < need:
        raise ValueError(
            f"the first test window has {earliest - first} observed rows before it but the "
            f"baselines need {need} (EvaluationConfig.season={season}, "
            f".moving_average={moving_average}); lower them or use a longer series")


def date_texts(dates: np.ndarray) -> list[str]:
    """Dates as the report prints them: days when every date is a midnight (daily data),
    else to the minute or second (intraday spans would look as if they overlapped)."""
    if not np.issubdtype(dates.dtype, np.datetime64):
        return [str(d) for d in dates]   # row numbers
    stamps = pd.DatetimeIndex(dates)
    if (stamps == stamps.normalize()).all():
        return list(stamps.strftime("%Y-%m-%d"))
    return list(stamps.strftime("%Y-%m-%d %H:%M" if (stamps.second == 0).all()
                                else "%Y-%m-%d %H:%M:%S"))


OUTAGE_SPACING = 1.5
"""In a series that runs every day (`WEEKEND_SHARE`), a spacing over this many median
spacings is an outage (`outage_note`): no weekend or session break explains it."""


def clock_name(offset: int) -> str:
    """The clock of times written with one UTC offset (`Series.offset`, seconds): "UTC",
    "UTC+08:00", "UTC-05:30"."""
    if not offset:
        return "UTC"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"UTC{'+' if offset > 0 else '-'}{hours:02d}:{minutes:02d}"


def dates_offset(series: Series) -> int | None:
    """The UTC offset of a series' dates' clock, in seconds: 0 where they were read as UTC,
    the one offset the file wrote, None where it wrote none (wall clocks of no named
    clock, `clock_name`)."""
    return 0 if series.utc else series.offset


def spacing_facts(dates: np.ndarray) -> dict | None:
    """The median spacing of dated rows, the spacings over `OUTAGE_SPACING` x it (weekends of
    daily prices; missing hours that `max_gap` let pass), the longest three of them,
    and the share of rows on a Saturday or Sunday (`outage_note`). None for row numbers."""
    if not np.issubdtype(dates.dtype, np.datetime64) or len(dates) < 3:
        return None
    step = np.diff(dates.astype("datetime64[ns]"))
    median = median_spacing(dates)
    longer = np.nonzero(step.astype(np.int64) > OUTAGE_SPACING * median)[0]
    top = longer[np.argsort(-step[longer].astype(np.int64), kind="stable")][:3]
    i = int(top[0]) if len(top) else None
    text = date_texts(dates)
    return {"median": duration_text(median), "longer": int(len(longer)),
            "longest": None if i is None else duration_text(step[i].astype(np.int64)),
            "longest_dates": None if i is None else [text[i], text[i + 1]],
            "longest_three": [[duration_text(step[j].astype(np.int64)), text[j], text[j + 1]]
                              for j in top],
            "weekend_rows": float(np.mean(pd.DatetimeIndex(dates).day_of_week >= 5))}


def next_dates(dates: np.ndarray, steps: int) -> np.ndarray | None:
    """The dates of the `steps` rows after the last where every spacing is the same (a
    series that runs every day or hour): the last date plus 1..steps spacings. None where
    spacings vary (trading days' weekends: the next rows' dates need a calendar) or there
    are no dates."""
    if not np.issubdtype(dates.dtype, np.datetime64) or len(dates) < 2:
        return None
    step = np.diff(dates.astype("datetime64[ns]"))
    if (step != step[0]).any():
        return None
    return dates[-1] + np.arange(1, steps + 1) * step[0]


WEEKEND_SHARE = 0.2
"""Above this share of rows on Saturdays and Sundays a series runs every day (crypto,
2/7 = 29%); trading days have none (a market opening Monday morning in Asia: a few %)."""


def outage_note(spacing: dict | None, max_gap: float) -> str | None:
    """A warning when a series that runs every day has spacings over 1.5x its median:
    no weekend or session break explains them, so they are outages, which `max_gap`
    (7x by default, sized for trading days, whose weekends are 3x) let pass unfilled: a
    window then reads days as one row, a target a days-long move as one step."""
    if spacing is None or not spacing["longer"] or spacing["weekend_rows"] <= WEEKEND_SHARE:
        return None
    longest = "; ".join(f"{d} from {a} to {b}" for d, a, b in spacing["longest_three"])
    return (f"the rows run through weekends ({spacing['weekend_rows']:.0%} of them on a "
            f"Saturday or Sunday), yet {spacing['longer']} spacing(s) exceed "
            f"{OUTAGE_SPACING:g}x the median "
            f"{spacing['median']}, which no weekend explains: likely outages, the longest "
            f"{longest}. They pass --data.max-gap {max_gap:g} unfilled and count as one row "
            "each; fill them with --data.max-gap 1.5 --data.missing ffill (filled steps "
            "neither train nor score), or check the file")


def input_transforms(data: ForecastData) -> dict:
    """Each input column's transform, the target's first."""
    return dict(zip(data.series.columns, (data.transform, *data.feature_transforms)))


def outside_training_range(data: ForecastData) -> float:
    """Share of test targets outside the range of their own origin's training targets:
    what that origin's members saw (a later expanding origin saw more than the first)."""
    outside = []
    for k in range(data.plan.k):
        train = np.nonzero(data.plan.train[k] > 0)[0]
        test = data.test_index[data.test_origin == k]
        seen = data.y[data.rows(train, k)][data.observed[train]]
        y = data.y[data.rows(test, k)][data.observed[test]]
        outside.append((y < seen.min()) | (y > seen.max()))
    return float(np.mean(np.concatenate(outside)))


def data_facts(data: ForecastData, cfg: ForecastDataConfig) -> dict:
    """What the report says about the data: rows, repairs, spans with dates."""
    plan, dates = data.plan, data.series.dates
    text = date_texts(dates)

    def when(lo: int, hi: int) -> list:
        return [text[lo], text[hi - 1]] if hi > lo else []

    def first_targets(mask: np.ndarray) -> list:
        """The first-target dates of the first and last windows in `mask`: the span's
        limits are not (the series' last test window starts H - 1 rows before its end)."""
        rows = plan.origins[mask > 0]
        return [text[rows.min()], text[rows.max()]]

    spans = []
    for k, span in enumerate(plan.spans):
        row = {"origin": k + 1, "train_rows": list(span["train"]),
               "train_dates": when(*span["train"]),
               "train_windows": int(plan.train[k].sum()),
               "test_rows": list(span["test"]), "test_dates": first_targets(plan.test[k]),
               "test_windows": int(plan.test[k].sum())}
        if span["val"] is not None:
            row.update(val_rows=list(span["val"]), val_dates=when(*span["val"]),
                       val_windows=int(plan.val[k].sum()))
        if plan.k > 1:   # each origin's own, fitted on its train_rows
            row["scaler"] = data.scalers[k].to_dict()
        spans.append(row)
    one = {"scaler": data.scalers[0].to_dict(),
           "scaler_rows": list(plan.spans[0]["train"])} if plan.k == 1 else {}
    outside = outside_training_range(data)
    return {"source": data.source, "rows": int(data.series.n), "columns": list(data.series.columns),
            "first_date": text[0], "last_date": text[-1], "utc": data.series.utc,
            **({} if data.series.offset is None else {"clock": clock_name(data.series.offset)}),
            "spacing": data.spacing,
            "season": data.season, "season_words": data.season_words,
            "forward_filled": data.series.filled, "inserted_rows": data.series.inserted_rows,
            "inserted_note": inserted_note(data.series),
            "unscored_test_targets": data.unscored_targets,
            "transform": cfg.transform, "input_transforms": input_transforms(data),
            "first_input_row": data.first, **one, "windows": int(len(plan.origins)),
            "spans": spans, "test_targets_outside_training_range": outside}
