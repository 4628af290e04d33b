"""The fraud task's data: transactions (simulated or loaded), the handbook's features,
the prequential periods and their stacks (see `fjax.data.split_stack`).

A user's `data.features` join the handbook's: numeric columns as more columns of
`features`, scaled with them on each training week; categorical ones one-hot by a
`fjax.data.tabular.TabularEncoder` per period, whose levels are those of the period's
training week. A level the training week never held (a new merchant category in the
test week) enters as the training week's mix of levels, as an unknown category does in
credit scoring (to a linear model, the average training transaction's level). The
report counts such test rows (`encodings`).

Each user column's stand-alone ROC-AUC on the training weeks (`auc_alone`) is reported
beside its encoding, and one of at least `LEAK_AUC` is warned of before training: a
value known only after the transaction (a chargeback date, a dispute flag, a fraud case
id) separates the labels almost perfectly, and a model reading it scores an AUC near 1
that no live system could reach."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from fjax.data.checks import DataSettingError
from fjax.data.columns import TableSchema
from fjax.data.fraud_features import (WINDOWS, feature_names, handbook_features,
                                      history_days, previous_rows, transaction_features)
from fjax.data.fraud_protocol import (Period, check_periods, delay_mask, rolling_periods,
                                      assessment_mask, train_mask, validation_periods)
from fjax.data.fraud_simulator import simulate
from fjax.data.scalers import Scaler
from fjax.data.split_stack import SplitStack, split_scalers, stack_scaled
from fjax.data.splits import Folds
from fjax.data.tabular import TabularEncoder, fit_encoder
from fjax.data.transactions import Transactions, load_transactions
from fjax.intervals import rank_auc
from fjax.tasks.fraud.config import FraudDataConfig

LEAK_AUC = 0.99
"""A user column whose values alone rank the training weeks' frauds at least this well
(ROC-AUC, either direction) is warned of as a likely label leak."""


SKEW_LIMIT = 10.0
"""A numeric user column whose skewness on the training weeks exceeds this (either sign)
is warned of: scaled raw, a few extreme values set its scale and crowd the rest into a
narrow band (a lognormal amount with sigma 1 has skewness 6, with sigma 1.5 33)."""


FOLDS = 5
"""Interleaved folds of a categorical column's `crossfit_shares` and `within_fold_auc`."""


def skewness(values: np.ndarray) -> float | None:
    """Sample skewness E[(x - mean)^3] / sd^3 in float64; None for a constant column."""
    x = np.asarray(values, np.float64)
    centered = x - x.mean()
    variance = np.mean(centered ** 2)
    if variance <= 0:
        return None
    return float(np.mean(centered ** 3) / variance ** 1.5)


def auc_alone(values: np.ndarray, label: np.ndarray, categorical: bool) -> float | None:
    """ROC-AUC of one column alone on labelled rows, folded to >= 0.5 (a model can read
    either direction): numbers rank by value, categories by their level's fraud share
    (`crossfit_shares`), pairs compared within a fold only (`within_fold_auc`). None
    without both frauds and legitimate rows (in one fold, for a category). Ties count half."""
    label = np.asarray(label).astype(bool)
    if label.all() or not label.any():
        return None
    if categorical:
        codes = np.unique(np.asarray(values).astype(str), return_inverse=True)[1]
        auc = within_fold_auc(crossfit_shares(codes.reshape(-1), label), label)
    else:
        auc = rank_auc(np.asarray(values, np.float64), label)
    return None if np.isnan(auc) else float(max(auc, 1.0 - auc))


def within_fold_auc(score: np.ndarray, label: np.ndarray) -> float:
    """ROC-AUC over the (fraud, legitimate) pairs of one fold (row i in fold i % 5, as
    `crossfit_shares`), summed over folds: each fold's Mann-Whitney U over its pairs.
    Pooled over folds, one level's rows would no longer tie: a fold holding more of the
    level's frauds gets a lower share from the other folds, so its frauds rank below the
    level's legitimate rows of other folds, and a binary column's AUC read about 0.02
    low (0.63 for 0.65 on 20,000 rows)."""
    fold = np.arange(len(label)) % FOLDS
    u = pairs = 0.0
    for f in range(FOLDS):
        s, y = score[fold == f], label[fold == f]
        m, n = int(y.sum()), int((~y).sum())
        if m and n:
            u += rank_auc(s, y) * m * n
            pairs += m * n
    return u / pairs if pairs else np.nan


def crossfit_shares(codes: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Each row's level fraud share among the other folds' rows (row i in fold i % 5);
    a level they never hold gets their overall share. In sample, a rare level's share is
    its own rows' labels, so an id-like column of random levels would rank the frauds
    almost perfectly (AUC 0.99 at 10,000 levels of 20,000 rows) and read as a leak."""
    fold = np.arange(len(codes)) % FOLDS
    levels = int(codes.max()) + 1
    cell = fold * levels + codes
    rows = np.bincount(cell, minlength=FOLDS * levels).reshape(FOLDS, levels)
    frauds = np.bincount(cell, weights=label, minlength=FOLDS * levels).reshape(FOLDS, levels)
    other_rows = rows.sum(0)[codes] - rows[fold, codes]
    other_frauds = frauds.sum(0)[codes] - frauds[fold, codes]
    overall = (frauds.sum() - frauds.sum(1)[fold]) / (len(codes) - rows.sum(1)[fold])
    return np.where(other_rows > 0, other_frauds / np.maximum(other_rows, 1), overall)


def load(cfg: FraudDataConfig) -> Transactions:
    """The user's file at `cfg.path`, or the simulator's transactions."""
    if cfg.path is not None:
        return load_transactions(cfg.path, cfg.columns(), cfg.features, cfg.categorical,
                                 cfg.timezone, field="data.path")
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
        raise DataSettingError(f"data.train_start {cfg.train_start}{default} is outside the data, "
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
    need = history_days(cfg.delay_days)
    first = min(p.train_start for p in earliest)
    if first < need and not tx.cardless:    # without cards, no feature reads a window
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
    features: np.ndarray                      # f32[n, d]: handbook + numeric user columns
    periods: list[Period]                     # test periods
    categories: pd.DataFrame | None = None    # the user's categorical columns, n rows
    _stacks: dict = field(default_factory=dict, repr=False)
    _encoders: dict = field(default_factory=dict, repr=False)
    _scalers: dict = field(default_factory=dict, repr=False)
    _masks: dict = field(default_factory=dict, repr=False)   # (kind, Period) -> bool[n]

    @cached_property
    def card_history(self) -> np.ndarray:
        """i64[n, cfg.history]: each row's card's last transactions (`previous_rows`),
        computed once for the sequence stacks (test, delay, validation) that share it."""
        return previous_rows(self.tx, self.cfg.history)

    @property
    def validation_periods(self) -> list[Period]:
        periods = validation_periods(self.periods, self.cfg.step_days)
        check_periods(periods, self.tx.n_days, "validation", self.periods)
        return periods

    def check_training_frauds(self, which: str = "test") -> None:
        """Refuse periods whose training week holds no fraud: a supervised model trained
        on one learns only to score everything legitimate, and its test figures (seen:
        AUC 0.001, a ranking driven by whatever the untrained weights read) would enter
        the means beside real ones."""
        periods = self.periods if which == "test" else self.validation_periods
        for k, (p, train) in enumerate(zip(periods, self.train_masks(periods))):
            if not self.tx.fraud[train].any():
                last = p.train_start + p.train_days - 1
                raise DataSettingError(
                    f"{which} period {k}'s training week ({self.tx.date_of(p.train_start).date()}"
                    f" to {self.tx.date_of(last).date()}, {int(train.sum())} transactions) "
                    "holds no fraud, so a supervised model has nothing to learn from it; "
                    "lengthen data.train_days or move data.train_start; only the rule and "
                    "the autoencoder (--model autoencoder --compare rule) train without "
                    "frauds")

    def check_scored(self, which: str = "test") -> None:
        """Refuse a period whose test week keeps no transaction to score (none on its
        days, or only cards with a fraud known by then): its metrics have no rows, and
        its oracle CP@k (None) crashed the periods table with a TypeError. Likewise a
        test period's delay week, which the alert budget is set on (it failed after
        training)."""
        self._check_test_weeks(which)
        if which == "test" and self.cfg.delay_days > 0:
            self._check_delay_weeks()

    def _check_test_weeks(self, which: str) -> None:
        """`check_scored`'s refusal of an empty test (or validation) week."""
        periods = self._periods(which)
        _, kept, removed = self.masks(periods)
        for k, (p, te, gone) in enumerate(zip(periods, kept, removed)):
            if not te.any():
                why = (f"all {int(gone.sum())} of its transactions are of cards with a fraud "
                       "known by then (removed, as investigators would have blocked them)"
                       if gone.any() else "the data has no transaction on those days")
                raise DataSettingError(
                    f"{which} period {k}'s test week ({self.tx.date_of(p.test_start).date()} "
                    f"to {self.tx.date_of(p.test_end - 1).date()}) has nothing to score: "
                    f"{why}; move data.train_start, or change --cv or data.step_days so that "
                    "no test week falls there")

    def _check_delay_weeks(self) -> None:
        """`check_scored`'s refusal of a test period's empty delay week."""
        tx = self.tx
        for k, (p, delay) in enumerate(zip(self.periods, self.delay_masks(self.periods))):
            if not delay.any():       # the alert budget is set on its scores
                first, last = (tx.date_of(d).date() for d in (p.test_start - p.delay_days,
                                                               p.test_start - 1))
                raise DataSettingError(
                    f"test period {k}'s delay week ({first} to {last}) has no transaction "
                    "to score (none on those days, or only cards with a known fraud), and "
                    "each period's alert budget is set on its model's scores of that week; "
                    "move data.train_start, or change --cv or data.step_days so that no "
                    "delay week falls there")

    def masks(self, periods: list[Period]) -> tuple[list, list, list]:
        """Per period: train mask, kept test mask, removed (known compromised) mask; each
        built once per period (the run, its stacks and its report read them), read-only."""
        tx = self.tx
        for p in periods:
            if ("kept", p) not in self._masks:
                kept, gone = assessment_mask(tx.day, tx.customer, tx.fraud, p,
                                             len(tx.customer_ids))
                self._masks["kept", p], self._masks["removed", p] = _frozen(kept), _frozen(gone)
        return (self.train_masks(periods), [self._masks["kept", p] for p in periods],
                [self._masks["removed", p] for p in periods])

    def train_masks(self, periods: list[Period]) -> list[np.ndarray]:
        """Per period, its training week's mask (without `masks`' known-card check of
        the test week), built once per period, read-only."""
        for p in periods:
            if ("train", p) not in self._masks:
                self._masks["train", p] = _frozen(train_mask(self.tx.day, p))
        return [self._masks["train", p] for p in periods]

    def delay_masks(self, periods: list[Period]) -> list[np.ndarray]:
        """Per period, its delay week's mask (`delay_mask`), built once per period (the
        delay week's check and its stack read it), read-only."""
        tx = self.tx
        for p in periods:
            if ("delay", p) not in self._masks:
                self._masks["delay", p] = _frozen(delay_mask(tx.day, tx.customer, tx.fraud, p,
                                                             len(tx.customer_ids)))
        return [self._masks["delay", p] for p in periods]

    def _periods(self, which: str) -> list[Period]:
        """The validation periods, or the test periods (also those of the delay weeks)."""
        return self.validation_periods if which == "validation" else self.periods

    def encoders(self, which: str = "test") -> list[TabularEncoder]:
        """One-hot encoders of the categorical columns, one per test (or validation)
        period, each fitted on that period's training week only; [] without any."""
        if self.categories is None or self.categories.shape[1] == 0:
            return []
        if which not in self._encoders:
            self._encoders[which] = fit_category_encoders(
                self.categories, self.train_masks(self._periods(which)))
        return self._encoders[which]

    def scalers(self, which: str = "test") -> list[Scaler]:
        """Feature scalers (`cfg.scaler`), one per test (or validation) period, each
        fitted on that period's training week only."""
        if which not in self._scalers:
            self._scalers[which] = split_scalers(
                self.features, np.array(self.train_masks(self._periods(which))),
                self.cfg.scaler)
        return self._scalers[which]

    def training_aucs(self) -> dict[str, float | None]:
        """Each user column's `auc_alone` on the test periods' training weeks pooled:
        rows and labels a model trains on, never a test week's."""
        trains = np.any(self.train_masks(self.periods), axis=0)
        label = self.tx.fraud[trains]
        return {name: auc_alone(values[trains], label, name in self.tx.categorical_columns)
                for name, values in self.tx.user_columns.items()}

    def training_skews(self) -> dict[str, float | None]:
        """Each numeric user column's `skewness` on the test periods' training weeks
        pooled (the rows its scalers are fitted on)."""
        trains = np.any(self.train_masks(self.periods), axis=0)
        return {name: skewness(values[trains]) for name, values in self.tx.user_columns.items()
                if name not in self.tx.categorical_columns}

    def suspected_leaks(self) -> dict[str, float]:
        """The user columns whose training AUC alone reaches `LEAK_AUC`."""
        return {name: auc for name, auc in self.training_aucs().items()
                if auc is not None and auc >= LEAK_AUC}

    def encodings(self) -> list[dict]:
        """How each user column entered the test periods' models (metrics.json and the
        report): numeric, or one-hot with its levels and test rows of unseen levels per
        period; with its AUC alone on the training weeks (`training_aucs`)."""
        encoders, tests = self.encoders("test"), self.masks(self.periods)[1]
        unseen = [e.unseen(self.categories.loc[te]) for e, te in zip(encoders, tests)]
        aucs, skews = self.training_aucs(), self.training_skews()
        return [{"column": name, "encoding": "numeric", "scaler": self.cfg.scaler,
                 "auc_alone": aucs[name], "training_skew": skews[name]}
                if name not in self.tx.categorical_columns else
                {"column": name, "encoding": "one-hot",
                 "levels": [len(e.vocab[name]) for e in encoders],
                 "unseen_test_rows": [u.get(name, 0) for u in unseen],
                 "auc_alone": aucs[name]}
                for name in self.tx.user_columns]

    def stack(self, which: str = "test", sequence: bool = False) -> SplitStack:
        """The stack of the test (or validation) periods: data {"x": f32[N, d], "y":
        f32[N, 1]}, folds train = training week, val = test week, one scaler per period;
        `sequence` gives each row its card's last `cfg.history` transactions,
        x f32[N, history, d]. "delay": the test periods' delay weeks (`delay_mask`) as val,
        and no training rows, scaled and encoded with the test periods' scalers and
        encoders, for the deployed model to score unlabelled."""
        key = (which, sequence)
        if key not in self._stacks:
            periods = self._periods(which)
            fitted_on = "validation" if which == "validation" else "test"
            if which == "delay":      # scaled and encoded as the test weeks: no training rows
                self._check_delay_weeks()
                tests = self.delay_masks(periods)
                trains = np.zeros_like(tests)
            else:
                self._check_test_weeks(which)
                trains, tests, _ = self.masks(periods)
            if which == "validation":
                for k, te in enumerate(tests):
                    if not self.tx.fraud[te].any():
                        warnings.warn(f"validation period {k}: its test week has no fraud; "
                                      "its ROC-AUC and average precision are undefined (NaN) "
                                      "and it cannot inform the selection", stacklevel=2)
            history = self.card_history if sequence else None
            periods_as_splits = Folds(train=np.array(trains, np.float32),
                                      val=np.array(tests, np.float32))
            encoders = self.encoders(fitted_on)
            onehot = ((lambda k, rows: encoders[k].transform(self.categories.iloc[rows]).num)
                      if encoders else None)
            self._stacks[key] = stack_scaled(
                self.features, periods_as_splits, history=history,
                shared={"y": self.tx.fraud.astype(np.float32)[:, None]}, encoded=onehot,
                scalers=self.scalers(fitted_on))
        return self._stacks[key]


def _frozen(mask: np.ndarray) -> np.ndarray:
    """`mask`, read-only: one array is shared by every reader of a period's masks."""
    mask.setflags(write=False)
    return mask


def fit_category_encoders(categories: pd.DataFrame, trains: list[np.ndarray]
                          ) -> list[TabularEncoder]:
    """One one-hot encoder of `categories`' columns per training mask, its levels (and
    the mix an unseen level enters as) learned from those rows only."""
    schema = TableSchema(target="", positive="1", numeric=(),
                         categorical=tuple(categories.columns))
    unread = np.zeros(len(categories))       # labels: read only by WOE, unused here
    return [fit_encoder(categories, schema, unread, rows=train) for train in trains]


def with_user_columns(tx: Transactions, names: list[str], features: np.ndarray
                      ) -> tuple[list[str], np.ndarray, pd.DataFrame]:
    """The handbook's (names, features) with the user's numeric columns appended, and
    the user's categorical columns as a frame (n rows, maybe no columns)."""
    numeric = [c for c in tx.user_columns if c not in tx.categorical_columns]
    if numeric:
        values = np.stack([tx.user_columns[c] for c in numeric], axis=1).astype(np.float32)
        names, features = [*names, *numeric], np.concatenate([features, values], axis=1)
    categories = pd.DataFrame({c: tx.user_columns[c] for c in tx.categorical_columns},
                              index=pd.RangeIndex(len(tx)))
    return names, features, categories


def kept_features(tx: Transactions) -> list[str]:
    """The handbook features the models read: all of them, or, for a file without card
    ids (whose amount is one of its own columns, `Transactions.user_columns`), the weekend
    and night flags (`transaction_features`) where its times are on a clock, else none."""
    if not tx.cardless:
        return feature_names()
    return feature_names(())[1:1 if tx.elapsed else 3]


def own_features(tx: Transactions, delay_days: int) -> tuple[list[str], np.ndarray]:
    """The handbook's 15 features, or `kept_features`' for a file without card ids (the
    user's columns join either, `with_user_columns`)."""
    if tx.cardless:
        names = kept_features(tx)
        return names, transaction_features(tx)[:, 1:1 + len(names)]
    return handbook_features(tx, delay_days)


def prepare(cfg: FraudDataConfig, n_periods: int, validation: bool = False) -> FraudData:
    """The transactions, their features and `n_periods` test periods, checked to fit the
    data (with their validation periods, for a sweep) before anything is trained."""
    tx = load(cfg)
    if tx.dates_only:
        warnings.warn(f"every time of column {cfg.timestamp_column!r} is 00:00:00 (dates "
                      "without times of day): the handbook's TX_DURING_NIGHT is 1 for every "
                      "transaction and carries nothing; give times of day if you have them",
                      stacklevel=2)
    periods = assessment_periods(cfg, tx, n_periods, validation)
    names, features, categories = with_user_columns(tx, *own_features(tx, cfg.delay_days))
    data = FraudData(cfg=cfg, tx=tx, names=names, features=features, periods=periods,
                     categories=categories)
    for name, auc in data.suspected_leaks().items():
        warnings.warn(f"column {name!r} of data.features alone ranks the training weeks' "
                      f"frauds with ROC-AUC {auc:.3f}: it nearly is the label. A value known "
                      "only after the transaction (chargeback or dispute date, fraud case, "
                      "refund) leaks it, and the test scores then promise what no live "
                      f"system reaches; leave {name!r} out of data.features unless it is "
                      "known when the card is charged", stacklevel=2)
    for name, skew in data.training_skews().items():
        if skew is not None and abs(skew) > SKEW_LIMIT:
            warnings.warn(f"column {name!r} of {cfg.path} has skewness {skew:.0f} on the "
                          f"training weeks: scaled raw (data.scaler {cfg.scaler}), its few "
                          "extreme values set the scale and crowd the rest into a narrow "
                          f"band; write log1p({name}) to the file in its place (sign(x) "
                          "log1p(|x|) if it has negative values)", stacklevel=2)
    return data
