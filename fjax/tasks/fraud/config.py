"""Configuration of the fraud task: data (simulator or file), protocol, evaluation,
and the models compared in the report.

Defaults reproduce the Fraud-Detection-Handbook's setting (Le Borgne et al., ch. 3.2,
5.3 and 7): the simulator's published parameters, 15 features with a 7-day label
delay, four weekly prequential test periods whose first training week starts on
2018-07-25, card precision@100, and a feed-forward network trained on batches of 64
with Adam; its size, dropout, learning rate and epochs were chosen on the handbook's
validation periods (see presets.py).
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import tyro

from fjax.config import (BinaryLossConfig, DataConfig, ExperimentConfig, ModelConfig,
                         OptimConfig, SweepConfig, TrainConfig, check_integer, check_positive,
                         config_error, frozen_config)

MODELS = ("rule", "logistic", "mlp", "autoencoder", "combined", "gru")
FraudModel = Literal["logistic", "mlp", "autoencoder", "gru", "lstm"]
Monitor = Literal["val_average_precision", "val_auc", "loss"]   # what its runs log
TRAINED_KINDS = get_args(FraudModel)
SEQUENCE_KINDS = ("gru", "lstm")


@frozen_config
class FraudDataConfig(DataConfig):
    """Where transactions come from, how they are split, and how alerts are scored."""

    path: str | None = None
    """A CSV or Parquet file of transactions; None simulates them (settings below). The
    column names below match the file's exactly, or ignoring case where one column does."""
    transaction_id_column: str = "TRANSACTION_ID"
    """Column of transaction ids (written back in scores.csv.gz)."""
    timestamp_column: str = "TX_DATETIME"
    """Column of dates and times (one UTC offset keeps its wall clock; several: ordered,
    windowed and split into days in UTC, one clock for every card, night and weekend on
    each time's own written clock)."""
    timezone: str | None = None
    """IANA zone of the cardholders' clock (e.g. America/New_York): unix times and times
    with offsets are shown on it, times without are read as its wall clocks; night,
    weekend and days (weeks, daily alerts) follow it, order and windows the instant.
    None: the times' own clocks (UTC for unix times)."""
    customer_column: str = "CUSTOMER_ID"
    """Column of card (customer) ids: alerts and card precision count cards. A file with
    neither this nor the terminal column (the ULB/Kaggle creditcard.csv) is one card per
    transaction, modelled on its amount and numeric columns without the card and terminal
    features; its transaction ids may be absent (row numbers), and its times seconds
    elapsed (numbers below 1e8)."""
    terminal_column: str = "TERMINAL_ID"
    """Column of terminal (merchant) ids, for the terminal-risk features."""
    amount_column: str = "TX_AMOUNT"
    """Column of amounts (>= 0)."""
    label_column: str = "TX_FRAUD"
    """Column of labels: 1 fraud, 0 legitimate."""
    features: tuple[str, ...] = ()
    """Other columns of the file the models read beside the handbook's 15 features (e.g.
    mcc channel risk_score): numbers scaled as those are; text and true/false columns
    one-hot over the levels of each training week (a level first seen later enters as
    that week's mix of levels); a categorical column may hold at most 100 distinct values
    in the whole file. No missing values."""
    categorical: tuple[str, ...] = ()
    """Columns of `features` holding number codes (merchant category, country) to one-hot
    as categories instead of reading them as numbers."""
    n_customers: int = 5000
    """Simulated customers (cards)."""
    n_terminals: int = 10000
    """Simulated terminals."""
    n_days: int = 183
    """Simulated days."""
    start_date: str = "2018-04-01"
    """First simulated day."""
    radius: float = 5.0
    """Customers use the terminals closer than this (on the 100 x 100 grid). Each card
    reaches about n_terminals * pi radius^2 / 10^4 of them (75 by default), all listed:
    to simulate a bank s times larger (customers and terminals times s), divide the
    radius by sqrt(s), else the list grows as s^2 (s = 16: 96 M pairs, 6 GB)."""
    simulation_seed: int = 0
    """Seed of the simulated data (the run's `seed` seeds the models)."""
    delay_days: int = 7
    """Label delay: terminal risk reads labels this old, and the protocol's delay week.
    For a file's chargeback labels, the days within which most arrive (e.g. 60)."""
    train_start: str | None = "2018-07-25"
    """First day of the first period's training week; None: the latest start that fits
    all periods in the data."""
    train_days: int = 7
    """Days of each period's training week."""
    test_days: int = 7
    """Days of each period's test week (after the delay)."""
    step_days: int = 7
    """Days between consecutive prequential periods (their number is sweep.folds)."""
    scaler: Literal["minmax", "standard", "robust", "none"] = "standard"
    """Feature scaling, fitted on each period's training week."""
    history: int = 5
    """Transactions per card in the GRU's input sequence (the current one included)."""
    top_k: int = 100
    """Cards investigators check per day (card precision@k, recall and cost at k)."""
    cost_alert: float = 5.0
    """Cost of investigating one alerted card (currency units, illustrative)."""
    cost_missed: float = 100.0
    """Cost of one compromised card left unalerted for a day (illustrative)."""

    def __post_init__(self):
        for name in ("n_customers", "n_terminals", "n_days", "train_days", "test_days",
                     "step_days", "history", "top_k"):
            check_integer(self, name, 1, "pass e.g. 7")
        check_integer(self, "delay_days", 0, "pass e.g. 7")
        check_positive(self, "radius")
        check_positive(self, "cost_alert", allow_zero=True)
        check_positive(self, "cost_missed", allow_zero=True)
        self._check_features()
        self._check_timezone()
        for name in ("start_date", "train_start"):
            value = getattr(self, name)
            if value is not None:
                try:
                    pd.Timestamp(value)
                except (ValueError, TypeError):
                    raise config_error(self, name, f"is not a date: {value!r}",
                                       "use YYYY-MM-DD") from None

    def _check_features(self) -> None:
        """features: distinct, not role columns, only on a user's file; categorical: a
        subset of them. (The file's own checks come when it is read.)"""
        if self.features and self.path is None:
            raise config_error(self, "features", f"names {list(self.features)} but data.path "
                               "is None: the simulation has only the six role columns",
                               "give your file with --data.path, or leave data.features out")
        for name in ("features", "categorical"):
            seen = [c for i, c in enumerate(getattr(self, name)) if c in getattr(self, name)[:i]]
            if seen:
                raise config_error(self, name, f"lists {seen[0]!r} twice", "list it once")
        roles = {column.lower(): role for role, column in self.columns().items()}
        for c in self.features:
            if c.lower() in roles:
                role = roles[c.lower()]
                raise config_error(self, "features", f"names {c!r}, the {role} column "
                                   f"(data.{role}_column), which the handbook's features "
                                   "already read", f"leave {c!r} out of data.features")
        stray = [c for c in self.categorical if c not in self.features]
        if stray:
            raise config_error(self, "categorical", f"names {stray}, which data.features "
                               "does not list", "list them in data.features too")

    def _check_timezone(self) -> None:
        """An IANA zone that the standard library knows, for a user's file."""
        if self.timezone is None:
            return
        if self.path is None:
            raise config_error(self, "timezone", f"is {self.timezone!r} but data.path is "
                               "None: the simulation's times are local clocks already",
                               "give your file with --data.path, or leave data.timezone out")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise config_error(self, "timezone", f"is not a time zone: {self.timezone!r}",
                               "use an IANA name such as America/New_York or "
                               "Europe/Paris") from None

    def columns(self) -> dict[str, str]:
        return {"transaction_id": self.transaction_id_column,
                "timestamp": self.timestamp_column, "customer": self.customer_column,
                "terminal": self.terminal_column, "amount": self.amount_column,
                "label": self.label_column}


@frozen_config
class FraudModelConfig(ModelConfig):
    """A ModelConfig of the kinds that score transactions; a plain ModelConfig given to
    `Config` is converted to one (and refused, by field, if it does not fit)."""

    kind: Annotated[FraudModel, tyro.conf.arg(aliases=("--model",))] = "mlp"
    # CNN fields: hidden from --help, and refused if set.
    kernel_size: Annotated[int, tyro.conf.Suppress] = 3
    dilations: Annotated[tuple[int, ...] | None, tyro.conf.Suppress] = None


@frozen_config
class FraudTrainConfig(TrainConfig):
    """A TrainConfig monitoring what a fraud run logs."""

    monitor: Monitor = "val_average_precision"
    """Metric for early stopping and best-epoch selection, scored on the validation
    periods (loss: the training loss)."""


@frozen_config
class Config(ExperimentConfig):
    """`fjax run fraud`: simulate, build the handbook's features, train model.kind on
    every prequential period at once, evaluate, and compare with `compare`."""

    name: str = "fraud"
    data: FraudDataConfig = FraudDataConfig()
    model: FraudModelConfig = FraudModelConfig(kind="mlp", hidden=(100, 100), dropout=0.2)
    """Fraud models: logistic, mlp, autoencoder, gru or lstm."""
    loss: BinaryLossConfig = BinaryLossConfig()
    """Fraud losses: bce or focal (the autoencoder minimises reconstruction error and
    refuses loss settings)."""
    optim: OptimConfig = OptimConfig(name="adam", learning_rate=3e-3)
    train: FraudTrainConfig = FraudTrainConfig(epochs=16, batch_size=64, eval_batch_size=8192)
    sweep: SweepConfig = SweepConfig(seeds=1, folds=4)
    compare: tuple[str, ...] = ("rule", "logistic")
    """Other models scored beside model.kind: rule (amount), logistic, mlp, autoencoder,
    combined (mlp + autoencoder error), gru. They train with fixed presets (epochs,
    learning rate: fjax/tasks/fraud/presets.py), not with this run's --train/--optim."""

    # The autoencoder minimises reconstruction error and reads no loss setting: a sweep's
    # autoencoder points that differ only in the loss are one config (`replace_paths`).
    READ_BY = {"loss": ("model.kind",
                        tuple(k for k in get_args(FraudModel) if k != "autoencoder"))}

    def __post_init__(self):
        super().__post_init__()
        unknown = [m for m in self.compare if m not in MODELS]
        if unknown:
            raise config_error(self, "compare", f"has unknown model(s) {unknown}",
                               f"choose among {', '.join(MODELS)}")
