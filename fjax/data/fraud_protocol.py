"""The handbook's evaluation protocol: train week, delay week, test week, as masks.

Le Borgne et al., *Fraud Detection Handbook*, ch. 3.4 (`get_train_test_set`) and ch. 5.2
(prequential validation, `prequentialSplit`):

  |-- train (7 d) --|-- delay (7 d) --|-- test (7 d) --|

The model trains on the training week; the delay week is not trained on: its labels are
not known yet when the test week starts (its transactions are, `delay_mask`). On each
test day t, cards with a fraud already known, i.e. on a day in [train start,
t - delay - 1], are removed: investigators would have blocked them. Prequential
(rolling) evaluation repeats the split with the whole window shifted by `step` days;
each period is one population member's fold.

The handbook's model selection (ch. 5.3, used for its ch. 7 figures) trains test
periods starting 2018-07-25, 08-01, 08-08, 08-15 and validation periods
`delay + test + (n - 1) step` days earlier (06-20 ... 07-11).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from fjax.data.checks import DataSettingError


@dataclass(frozen=True)
class Period:
    """Day indices of one train / delay / test split."""

    train_start: int
    train_days: int = 7
    delay_days: int = 7
    test_days: int = 7

    def __post_init__(self):
        for name in ("train_days", "test_days"):
            if getattr(self, name) < 1:
                raise ValueError(f"Period.{name} must be >= 1, got {getattr(self, name)}")
        if self.delay_days < 0:
            raise ValueError(f"Period.delay_days must be >= 0, got {self.delay_days}")

    @property
    def test_start(self) -> int:
        return self.train_start + self.train_days + self.delay_days

    @property
    def test_end(self) -> int:
        """First day after the test week."""
        return self.test_start + self.test_days

    def shifted(self, days: int) -> "Period":
        return Period(self.train_start + days, self.train_days, self.delay_days, self.test_days)


def rolling_periods(first: Period, n: int, step: int) -> list[Period]:
    """`n` periods, the first at `first`, each `step` days after the previous one."""
    if n < 1 or step < 1:
        raise ValueError(f"rolling_periods needs n >= 1 and step >= 1, got n={n}, step={step}")
    return [first.shifted(i * step) for i in range(n)]


def validation_periods(test_periods: list[Period], step: int) -> list[Period]:
    """The handbook's validation periods: the test periods moved back by
    delay + test + (n - 1) step days, so the last validation week ends where the first
    test period's training week ends (ch. 5.3)."""
    p = test_periods[0]
    back = p.delay_days + p.test_days + (len(test_periods) - 1) * step
    return [q.shifted(-back) for q in test_periods]


def train_mask(day: np.ndarray, period: Period) -> np.ndarray:
    """bool[n]: rows of the training week."""
    return (day >= period.train_start) & (day < period.train_start + period.train_days)


def known_fraud_day(day: np.ndarray, card: np.ndarray, fraud: np.ndarray, period: Period,
                    n_cards: int) -> np.ndarray:
    """i64[n_cards]: each card's first fraud day on or after the training start
    (a large sentinel for cards with none)."""
    first = np.full(n_cards, np.iinfo(np.int64).max // 2, np.int64)
    hit = (fraud == 1) & (day >= period.train_start)
    np.minimum.at(first, card[hit], day[hit])
    return first


def assessment_mask(day: np.ndarray, card: np.ndarray, fraud: np.ndarray, period: Period,
              n_cards: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(kept, removed): bool[n] rows of the test week whose card is not known to be
    compromised on that day, and the test-week rows removed because it is."""
    n_cards = int(card.max()) + 1 if n_cards is None else n_cards
    in_test = (day >= period.test_start) & (day < period.test_end)
    known = known_fraud_day(day, card, fraud, period, n_cards)[card] <= day - period.delay_days - 1
    return in_test & ~known, in_test & known


def delay_mask(day: np.ndarray, card: np.ndarray, fraud: np.ndarray, period: Period,
               n_cards: int | None = None) -> np.ndarray:
    """bool[n]: rows of the delay week (between training and test) kept as the test
    week's are: a card known compromised on that day by the same look-back (frauds on
    days from delay_days before the training start to day - delay - 1, labels in before
    the test week) is removed. A look-back from the training start (nearly empty then)
    kept 30% more rows, frauds of known cards among them, and the rule's budget set
    there flagged ~70 a day of 100 on the test weeks. Their transactions (and features,
    built from earlier data) exist when the test week starts, their labels do not: an
    unlabelled sample of what the deployed model will score."""
    before = Period(period.train_start - period.delay_days, period.train_days,
                    period.delay_days, period.delay_days)     # its test week: the delay week
    return assessment_mask(day, card, fraud, before, n_cards)[0]


def check_periods(periods: Sequence[Period], n_days: int, what: str = "test",
                  beside: Sequence[Period] = ()) -> None:
    """Every period must lie inside the data's days [0, n_days). `beside`: periods that
    must fit with them (the test periods, when checking the validation periods), so the
    error can tell a start that moves from a data set too short for them all."""
    every = [*periods, *beside]
    need = max(p.test_end for p in every) - min(p.train_start for p in every)
    both = f"{what} and test" if beside else what
    for i, p in enumerate(periods):
        if p.train_start < 0 or p.test_end > n_days:
            # the shortest periods: one period of a training and a test day, no delay
            least = 3 if beside else 2
            if n_days < least:
                fix = (f"the {both} periods need at least {least} days whatever --cv, "
                       "data.step_days, data.train_days / delay_days / test_days (one "
                       "training and one test day each"
                       + (", the validation test day being the test training day"
                          if beside else "")
                       + f"), more than the data's {n_days}; use a file spanning at least "
                       f"{least} days"
                       # `fjax run fraud` itself needs the 2 days of one period
                       + (", or `fjax run fraud`, which needs no validation period"
                          if beside and n_days >= 2 else ""))
            elif need > n_days:
                fix = (f"the {both} periods need {need} days from the first training day to "
                       f"the last test day, more than the data's {n_days} at any "
                       "data.train_start; use fewer periods (--cv), a smaller "
                       "data.step_days, or a shorter data.train_days / delay_days / test_days")
            else:
                fix = ("move data.train_start (None: the latest start that fits), or use "
                       "fewer periods (--cv), a smaller data.step_days, or a shorter "
                       "data.train_days / delay_days / test_days")
            raise DataSettingError(f"{what} period {i} spans days [{p.train_start}, {p.test_end}) "
                                   f"but the data has days [0, {n_days}); {fix}")


def threshold_sources(periods: list[Period], validation: Sequence[Period] = ()
                      ) -> list[int | None]:
    """Per test period k, the labelled scores a team has to set k's alert threshold in
    advance: among the validation periods and the test periods before k, the latest (by
    test week) whose test week's labels are all in when k's test week starts (its test
    end + delay <= k's test start), as an index into [*validation, *periods]. None when
    there is none (without validation periods, with the default 7-day step and delay,
    test periods 0 and 1)."""
    candidates = [*validation, *periods]
    return [max((i for i in range(len(validation) + k)
                 if candidates[i].test_end + candidates[i].delay_days <= p.test_start),
                key=lambda i: (candidates[i].test_end, i), default=None)
            for k, p in enumerate(periods)]
