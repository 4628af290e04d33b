"""The fraud task's data: transactions (simulated or loaded), the handbook's features,
the prequential periods and their stacks (see `fjax.data.split_stack`)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from fjax.data.fraud_features import WINDOWS, handbook_features, previous_rows
from fjax.data.fraud_protocol import (Period, check_periods, rolling_periods, assessment_mask,
                                      train_mask, validation_periods)
from fjax.data.fraud_simulator import simulate
from fjax.data.split_stack import SplitStack, stack_scaled
from fjax.data.splits import Folds
from fjax.data.transactions import Transactions, load_transactions
from fjax.tasks.fraud.config import FraudDataConfig


def load(cfg: FraudDataConfig) -> Transactions:
    """The user's file at `cfg.path`, or the simulator's transactions."""
    if cfg.path is not None:
        return load_transactions(cfg.path, cfg.columns())
    return simulate(n_customers=cfg.n_customers, n_terminals=cfg.n_terminals,
                    n_days=cfg.n_days, start_date=cfg.start_date, radius=cfg.radius,
                    seed=cfg.simulation_seed)


def assessment_periods(cfg: FraudDataConfig, tx: Transactions, n: int,
                       validation: bool = False) -> list[Period]:
    """`n` rolling periods from `cfg.train_start` (or the latest start that fits); with
    `validation` (a sweep) their validation periods must fit the data too."""
    span = cfg.train_days + cfg.delay_days + cfg.test_days + (n - 1) * cfg.step_days
    start = tx.day_of(cfg.train_start) if cfg.train_start else tx.n_days - span
    if cfg.train_start and not 0 <= start < tx.n_days:
        default = (" (the default: the handbook simulation's first training day)"
                   if cfg.train_start == type(cfg)().train_start else "")
        raise ValueError(f"data.train_start {cfg.train_start}{default} is outside the data, "
                         f"which runs from {tx.date_of(0).date()} to "
                         f"{tx.date_of(tx.n_days - 1).date()}; pass --data.train-start None "
                         "for the latest start that fits, or a date in that range")
    periods = rolling_periods(Period(start, cfg.train_days, cfg.delay_days, cfg.test_days),
                              n, cfg.step_days)
    earliest = periods
    if validation:
        earliest = validation_periods(periods, cfg.step_days)
        check_periods(earliest, tx.n_days, "validation", periods)
    check_periods(periods, tx.n_days, "test")
    need = cfg.delay_days + max(WINDOWS)
    first = min(p.train_start for p in earliest)
    if first < need:
        warnings.warn(f"the first training week starts on day {first} of the data "
                      f"({tx.date_of(first).date()}), but the {max(WINDOWS)}-day card and "
                      f"terminal windows (the latter after the {cfg.delay_days}-day delay) "
                      f"need {need} days of history: its features see less than the test "
                      "weeks' do. Start later (data.train_start) or give earlier data",
                      stacklevel=2)
    return periods


@dataclass
class FraudData:
    """Transactions, features and the periods' masks; stacks are built on demand."""

    cfg: FraudDataConfig
    tx: Transactions
    names: list[str]
    features: np.ndarray                      # f32[n, d]
    periods: list[Period]                     # test periods
    _stacks: dict = field(default_factory=dict, repr=False)

    @property
    def validation_periods(self) -> list[Period]:
        periods = validation_periods(self.periods, self.cfg.step_days)
        check_periods(periods, self.tx.n_days, "validation", self.periods)
        return periods

    def masks(self, periods: list[Period]) -> tuple[list, list, list]:
        """Per period: train mask, kept test mask, removed (known compromised) mask."""
        tx = self.tx
        day, n_cards = tx.day, len(tx.customer_ids)
        trains, tests, removed = [], [], []
        for p in periods:
            kept, gone = assessment_mask(day, tx.customer, tx.fraud, p, n_cards)
            trains.append(train_mask(day, p))
            tests.append(kept)
            removed.append(gone)
        return trains, tests, removed

    def stack(self, which: str = "test", sequence: bool = False) -> SplitStack:
        """The stack of the test (or validation) periods: data {"x": f32[N, d], "y":
        f32[N, 1]}, folds train = training week, val = test week, one scaler per period;
        `sequence` gives each row its card's last `cfg.history` transactions,
        x f32[N, history, d]."""
        key = (which, sequence)
        if key not in self._stacks:
            periods = self.periods if which == "test" else self.validation_periods
            trains, tests, _ = self.masks(periods)
            for k, (tr, te) in enumerate(zip(trains, tests)):
                if not te.any():
                    raise ValueError(f"{which} period {k} has no test transactions left "
                                     "(after removing known compromised cards)")
                if not self.tx.fraud[tr].any():
                    warnings.warn(f"{which} period {k}: its training week has no fraud; "
                                  "supervised models learn nothing from it", stacklevel=2)
                if which == "validation" and not self.tx.fraud[te].any():
                    warnings.warn(f"validation period {k}: its test week has no fraud; its "
                                  "ROC-AUC and average precision are undefined (NaN) and it "
                                  "cannot inform the selection", stacklevel=2)
            history = previous_rows(self.tx, self.cfg.history) if sequence else None
            periods_as_splits = Folds(train=np.array(trains, np.float32),
                                      val=np.array(tests, np.float32))
            self._stacks[key] = stack_scaled(
                self.features, periods_as_splits, self.cfg.scaler, history=history,
                shared={"y": self.tx.fraud.astype(np.float32)[:, None]})
        return self._stacks[key]


def prepare(cfg: FraudDataConfig, n_periods: int, validation: bool = False) -> FraudData:
    """The transactions, their features and `n_periods` test periods, checked to fit the
    data (with their validation periods, for a sweep) before anything is trained."""
    tx = load(cfg)
    periods = assessment_periods(cfg, tx, n_periods, validation)
    names, features = handbook_features(tx, cfg.delay_days)
    return FraudData(cfg=cfg, tx=tx, names=names, features=features, periods=periods)
