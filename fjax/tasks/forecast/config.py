"""The forecasting task's configuration. Defaults reproduce the classic tutorial (and the
PyTorch/Keras peers): S&P 500 Close, 60-day windows, next day, min-max scaling fitted on
the first 80% of rows, LSTM 50 -> LSTM 50 -> Dense 25 -> Dense H, Adam 1e-3, batch 64.

    fjax run forecast --data.path my.csv --data.target price --data.horizon 5
"""

from __future__ import annotations

import difflib
import math
from typing import Annotated, Literal

import tyro

from fjax.config import (DataConfig, ExperimentConfig, LossConfig, ModelConfig, TrainConfig,
                         check_integer, config_error, frozen_config, hyper)
from fjax.data.series import FEATURE_TRANSFORMS, LIKE_TARGET

ForecastModel = Literal["linear", "mlp", "lstm", "gru", "cnn"]
ForecastLoss = Literal["mse", "mae", "huber", "pinball", "gaussian_nll"]
DEFAULT_EPOCHS = 50


@frozen_config
class ForecastDataConfig(DataConfig):
    """The series, its transform and scaling, the windows and the spans."""

    path: str | None = None
    """A CSV or Parquet file; None: the embedded S&P 500 (1999-2018, daily)."""
    date_column: str | None = "Date"
    """Column of dates (checked sorted, unique, without gaps); None: row order is time."""
    target: str = "Close"
    """The column to forecast."""
    features: tuple[str, ...] = ()
    """Extra input columns (e.g. Open High Low Volume); transformed like the target
    unless `feature_transforms` says otherwise."""
    feature_transforms: tuple[str, ...] = ()
    """One per feature, in order: level (as is, e.g. an RSI or a spread), log (e.g.
    volume), log1p (a volume with zero bars), diff or log_return; empty: each feature
    transformed like the target."""
    transform: Literal["price", "diff", "log_return"] = "price"
    """Model price levels, differences or log returns (all results are in prices)."""
    scaler: Literal["auto", "minmax", "standard", "robust", "none"] = "auto"
    """Fitted on each walk-forward origin's own training rows only, each column on its
    observed ones (not filled by --data.missing ffill). auto: per column by its own
    transform, minmax for prices, levels and logs (the tutorial), standard for diff and
    log_return: changes centred on no change in units of volatility, where min-max lets
    the largest move set the range (one crash squeezes ordinary days into a sliver of
    [0, 1]). A given kind scales every column."""
    window: int = 60
    """Input rows per window (W)."""
    horizon: int = 1
    """Steps forecast at once (H, direct multi-output)."""
    stride: int = 1
    """Rows between consecutive window origins, counted back from the last window, whose
    last target is the last row (the oldest rows are the ones left out)."""
    test_fraction: float = 0.2
    """Share of the last rows whose windows are tested (0.2: the tutorial's 80/20)."""
    val_fraction: float = 0.0
    """Validation rows before the test span, for early stopping and sweeps (0: none)."""
    gap: int = 0
    """Rows at the end of each earlier span that hold no targets (an embargo)."""
    missing: Literal["error", "ffill"] = "error"
    """Missing values and date gaps: raise, or forward-fill (counted in the report; over
    10% inserted rows warns: session breaks are better allowed with `max_gap`)."""
    max_gap: float = 7.0
    """Largest spacing between dates, in multiples of the median spacing."""
    origins: int = 1
    """Walk-forward forecast origins over the test span (1: one chronological split)."""
    training: Literal["expanding", "rolling"] = "expanding"
    """Walk-forward training window: all earlier rows, or the last `rolling_rows`."""
    rolling_rows: int | None = None
    """Rows of a rolling training window; None: as many as the first origin has (at most
    that many: a longer window would train the first origins as expanding)."""

    def __post_init__(self):
        check_integer(self, "window", 1, "pass e.g. --data.window 60")
        check_integer(self, "horizon", 1, "pass e.g. --data.horizon 1")
        check_integer(self, "stride", 1, "pass e.g. --data.stride 1")
        check_integer(self, "gap", 0, "pass e.g. --data.gap 0")
        check_integer(self, "origins", 1, "pass e.g. --data.origins 5")
        if self.rolling_rows is not None:
            check_integer(self, "rolling_rows", 1, "pass a row count or None")
            if self.training != "rolling":
                raise config_error(self, "rolling_rows", f"is {self.rolling_rows}, but "
                                   f"training is {self.training!r}, which trains on every "
                                   "earlier row", "pass --data.training rolling, or leave "
                                   "rolling_rows out")
        if not 0 < self.test_fraction < 1:
            raise config_error(self, "test_fraction",
                               f"must be in (0, 1), got {self.test_fraction}", "use e.g. 0.2")
        if not 0 <= self.val_fraction < 1 or self.val_fraction + self.test_fraction >= 1:
            raise config_error(self, "val_fraction", f"must be in [0, 1) with test_fraction + "
                               f"val_fraction < 1, got {self.val_fraction}", "use e.g. 0.1")
        if not (math.isfinite(self.max_gap) and self.max_gap >= 1):
            raise config_error(self, "max_gap", f"must be a number >= 1, got {self.max_gap}",
                               "use e.g. 7")
        for name, values in (("target", (self.target,)), ("features", self.features)):
            if self.date_column and self.date_column.lower() in (v.lower() for v in values):
                raise config_error(self, name, f"names the date column {self.date_column!r}",
                                   "name value columns (prices, volumes); the dates order "
                                   "the rows (data.date_column)")
        if self.target in self.features:
            raise config_error(self, "features", f"repeats the target {self.target!r}",
                               "list only extra columns; the target is always an input")
        if len(set(self.features)) != len(self.features):
            raise config_error(self, "features", f"has duplicates: {self.features}",
                               "list each column once")
        self._check_feature_transforms()

    def _check_feature_transforms(self):
        given = self.feature_transforms
        if given and len(given) != len(self.features):
            raise config_error(self, "feature_transforms", f"has {len(given)} value(s) "
                               f"{given} for {len(self.features)} feature(s) "
                               f"{self.features}", "give one per --data.features entry, "
                               "in the same order, or none to transform every feature "
                               "like the target")
        for value in given:
            if value not in FEATURE_TRANSFORMS:
                close = ["level"] if value == "price" else \
                    difflib.get_close_matches(value, FEATURE_TRANSFORMS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise config_error(self, "feature_transforms", f"has {value!r}{hint}",
                                   f"choose each from {', '.join(FEATURE_TRANSFORMS)}")

    @property
    def used_feature_transforms(self) -> tuple[str, ...]:
        """Each feature's transform: the given ones, or the target's."""
        return self.feature_transforms or (LIKE_TARGET[self.transform],) * len(self.features)

    @property
    def used_scalers(self) -> tuple[str, ...]:
        """Each input column's scaler kind, the target first: the given one for all, or
        under auto each column's by its own transform (`scaler`): a log-return feature
        of a price target is standardized, as a log-return target is."""
        if self.scaler != "auto":
            return (self.scaler,) * len(self.columns)
        return tuple("standard" if t in ("diff", "log_return") else "minmax"
                     for t in (self.transform, *self.used_feature_transforms))

    @property
    def columns(self) -> tuple[str, ...]:
        """Model input columns: the target first."""
        return (self.target, *self.features)


@frozen_config
class EvaluationConfig:
    """Baselines and intervals, scored on exactly the model's test windows."""

    season: int | None = None
    """Seasonal naive's period in rows; None infers it from the dates: a day of rows for
    intraday data, a week for daily (5 for trading days, 7 for every day), a year for
    weekly or coarser; 5 without dates."""
    moving_average: int = 20
    """Rows averaged by the moving-average baseline."""
    interval: float = 0.8
    """Central interval level of a Gaussian head (quantile heads use their outer levels)."""
    zoom: int = 120
    """Last test dates shown close up in the forecast plot (where lag is visible)."""

    def __post_init__(self):
        if self.season is not None:
            check_integer(self, "season", 1, "pass e.g. --evaluation.season 5, or None")
        check_integer(self, "moving_average", 1, "pass e.g. --evaluation.moving-average 20")
        check_integer(self, "zoom", 2, "pass e.g. --evaluation.zoom 120")
        if not 0 < self.interval < 1:
            raise config_error(self, "interval", f"must be in (0, 1), got {self.interval}",
                               "use e.g. 0.8")


@frozen_config
class ForecastModelConfig(ModelConfig):
    """A ModelConfig of the kinds that forecast; a plain ModelConfig given to `Config` is
    converted to one (and refused, by field, if it does not fit)."""

    kind: Annotated[ForecastModel, tyro.conf.arg(aliases=("--model",))] = "mlp"
    bottleneck: Annotated[int, tyro.conf.Suppress] = 8   # hidden from --help, refused if set


@frozen_config
class ForecastLossConfig(LossConfig):
    """A LossConfig of the forecasting losses, without the binary losses' fields."""

    name: ForecastLoss = "mse"
    pos_weight: Annotated[float, tyro.conf.Suppress] = hyper(1.0)
    focal_gamma: Annotated[float, tyro.conf.Suppress] = hyper(2.0)
    focal_alpha: Annotated[float, tyro.conf.Suppress] = hyper(-1.0)


@frozen_config
class ForecastTrainConfig(TrainConfig):
    """A TrainConfig monitoring what a forecast run logs."""

    monitor: Literal["loss", "val_loss"] | None = None


@frozen_config
class Config(ExperimentConfig):
    """`fjax run forecast`: the tutorial's LSTM on the S&P 500, scored honestly."""

    name: str = "forecast"
    data: ForecastDataConfig = ForecastDataConfig()
    model: ForecastModelConfig = ForecastModelConfig(kind="lstm", hidden=(50, 50), head=(25,))
    """Forecasting models: linear, mlp, lstm, gru or cnn."""
    loss: ForecastLossConfig = ForecastLossConfig(name="mse")
    """Forecasting losses: mse, mae, huber, pinball (quantiles) or gaussian_nll."""
    train: ForecastTrainConfig = ForecastTrainConfig(epochs=DEFAULT_EPOCHS, batch_size=64)
    evaluation: EvaluationConfig = EvaluationConfig()

    def __post_init__(self):
        super().__post_init__()
        if self.loss.name == "pinball" and len(self.loss.quantiles) < 2:
            raise config_error(self.loss, "quantiles", f"has one level {self.loss.quantiles}",
                               "give at least two levels for an interval, e.g. 0.1 0.5 0.9")
        if self.loss.name == "pinball" and not min(self.loss.quantiles) <= 0.5 <= max(
                self.loss.quantiles):
            raise config_error(self.loss, "quantiles", f"are {self.loss.quantiles}, all on one "
                               "side of the median that gives the point forecast",
                               "include 0.5, or levels below and above it, e.g. 0.1 0.5 0.9")
        if self.sweep.folds != 1:
            raise config_error(self.sweep, "folds", f"is {self.sweep.folds}, but forecasting "
                               "does not shuffle rows into folds", "use --data.origins for "
                               "walk-forward origins over the test span")
        if self.train.monitor == "val_loss" and self.data.val_fraction == 0 \
                and self.data.origins == 1:
            raise config_error(self.train, "monitor", "is 'val_loss', but this run has no "
                               "validation span", "set --data.val-fraction 0.1, or leave "
                               "the monitor unset")
        if self.train.patience is not None and self.data.val_fraction == 0:
            raise config_error(self.train, "patience", "needs a validation span to stop on "
                               "(early stopping on the test span would leak it)",
                               "set --data.val-fraction 0.1 or leave patience unset")
        if self.train.min_delta != 0 and self.data.val_fraction == 0:   # as a grid over it
            raise config_error(self.train, "min_delta", f"is {self.train.min_delta}, but no "
                               "epoch is chosen without a validation span (every member "
                               "keeps its last)", "set --data.val-fraction 0.1 or leave "
                               "min_delta at 0")
