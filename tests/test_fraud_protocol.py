"""The handbook's protocol (ch. 3.4, 5.2, 5.3) as masks."""

import datetime

import numpy as np
import pandas as pd
import pytest

from fjax.data.fraud_protocol import (Period, check_periods, rolling_periods, assessment_mask,
                                      train_mask, validation_periods)
from fjax.data.fraud_simulator import simulate


@pytest.fixture(scope="module")
def small():
    return simulate(n_customers=150, n_terminals=300, n_days=60, seed=5)


def test_periods_reproduce_the_handbooks_dates(small):
    # Ch. 5.3: test training weeks from 2018-07-25 back to 08-15 (4 folds, 7-day steps),
    # validation ones from 2018-07-11 back to 06-20.
    start = pd.Timestamp("2018-04-01")
    day = lambda s: (pd.Timestamp(s) - start).days  # noqa: E731
    test = rolling_periods(Period(day("2018-07-25")), 4, 7)
    val = validation_periods(test, 7)
    test_starts = ("2018-07-25", "2018-08-01", "2018-08-08", "2018-08-15")
    val_starts = ("2018-06-20", "2018-06-27", "2018-07-04", "2018-07-11")
    assert [p.train_start for p in test] == [day(d) for d in test_starts]
    assert [p.train_start for p in val] == [day(d) for d in val_starts]
    assert test[0].test_start == day("2018-08-08") and test[0].test_end == day("2018-08-15")
    # The last validation week ends where the first test training week ends.
    assert val[-1].test_end == test[0].train_start + test[0].train_days


def test_known_compromised_cards_leave_later_test_days():
    p = Period(train_start=10)          # train 10-16, delay 17-23, test 24-30
    #            A: fraud in training   B: fraud on delay day 19   C: fraud before training
    day = np.array([12, 25, 19, 26, 27, 5, 24, 29, 24])
    card = np.array([0, 0, 1, 1, 1, 2, 2, 3, 3])
    fraud = np.array([1, 0, 1, 0, 0, 1, 0, 1, 0])
    kept, removed = assessment_mask(day, card, fraud, p)
    # A is known from the start of the test week; B from day 19 + 7 + 1 = 27 on;
    # C's fraud predates the training week, so (as in the book) it is not known;
    # D's own test-day fraud does not remove it.
    np.testing.assert_array_equal(kept, [0, 0, 0, 1, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(removed, [0, 1, 0, 0, 1, 0, 0, 0, 0])


def _handbook_split(df, start, delta_train=7, delta_delay=7, delta_test=7):
    """The book's get_train_test_set (shared_functions, ch. 3.4), as written there."""
    train_df = df[(df.TX_DATETIME >= start) &
                  (df.TX_DATETIME < start + datetime.timedelta(days=delta_train))]
    known = set(train_df[train_df.TX_FRAUD == 1].CUSTOMER_ID)
    first_day = train_df.TX_TIME_DAYS.min()
    test = []
    for d in range(delta_test):
        test_day = df[df.TX_TIME_DAYS == first_day + delta_train + delta_delay + d]
        delay_day = df[df.TX_TIME_DAYS == first_day + delta_train + d - 1]
        known = known.union(set(delay_day[delay_day.TX_FRAUD == 1].CUSTOMER_ID))
        test.append(test_day[~test_day.CUSTOMER_ID.isin(known)])
    return train_df, pd.concat(test)


def test_masks_equal_the_handbooks_split(small):
    df = small.to_frame()
    for first in (30, 37):
        p = Period(first)
        train_df, test_df = _handbook_split(df, small.date_of(first))
        kept, _ = assessment_mask(small.day, small.customer, small.fraud, p)
        np.testing.assert_array_equal(np.nonzero(train_mask(small.day, p))[0],
                                      train_df.TRANSACTION_ID.to_numpy())
        np.testing.assert_array_equal(np.nonzero(kept)[0],
                                      np.sort(test_df.TRANSACTION_ID.to_numpy()))


def test_periods_outside_the_data_are_rejected():
    with pytest.raises(ValueError, match="test period 1 spans days.*move data.train_start"):
        check_periods(rolling_periods(Period(30), 2, 7), n_days=55)
    # No start fits: 5 periods 10 days apart need 61 days; moving the start cannot help.
    with pytest.raises(ValueError, match="test periods need 61 days .* more than the data's 55"):
        check_periods(rolling_periods(Period(0), 5, 10), n_days=55)
    # A sweep's validation periods lie before the test periods: together they need 49 days.
    test = rolling_periods(Period(14), 2, 7)
    check_periods(test, n_days=45)
    with pytest.raises(ValueError, match="validation period 0 spans days \\[-7, 14\\).*the "
                                         "validation and test periods need 49 days"):
        check_periods(validation_periods(test, 7), 45, "validation", test)


def test_periods_no_setting_fits_name_the_days_needed_not_the_settings():
    """The shortest periods (one training and one test day, no delay, one period) need 2
    days, and a sweep's validation period before them a third (by hand: validation trains
    on day 0 and tests on day 1, the test period on days 1 and 2). A shorter file was told
    to use fewer periods or shorter spans, which cannot fit it."""
    short = Period(0, 1, 0, 1)
    check_periods([short], n_days=2)
    check_periods(validation_periods([short.shifted(1)], 1), 3, "validation",
                  [short.shifted(1)])
    with pytest.raises(ValueError, match="test periods need at least 2 days") as e:
        check_periods([short], n_days=1)
    assert "fewer periods" not in str(e.value) and "validation" not in str(e.value)
    test = [short]                # its validation period: days [-1, 1)
    with pytest.raises(ValueError, match="validation and test periods need at least 3 days"
                                         ".*more than the data's 2; use a file spanning at "
                                         "least 3 days, or `fjax run fraud`") as e:
        check_periods(validation_periods(test, 1), 2, "validation", test)
    assert "fewer periods" not in str(e.value)
    with pytest.raises(ValueError, match="need at least 3 days.*more than the data's 1; use a "
                                         "file spanning at least 3 days$") as e:
        check_periods(validation_periods(test, 1), 1, "validation", test)
    assert "fjax run fraud" not in str(e.value)      # a run needs 2 days: no fix for 1


@pytest.mark.parametrize("make, match", [
    (lambda: Period(0, train_days=0), "train_days must be >= 1"),
    (lambda: Period(0, test_days=0), "test_days must be >= 1"),
    (lambda: Period(0, delay_days=-1), "delay_days must be >= 0"),
    (lambda: rolling_periods(Period(0), 2, 0), "step >= 1"),
    (lambda: check_periods([Period(-1)], n_days=60), "test period 0 spans days \\[-1, 20\\)"),
])
def test_bad_periods_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_a_period_ending_on_the_last_day_fits_and_removed_rows_are_test_rows():
    check_periods([Period(0)], n_days=21)               # days [0, 21): no error
    with pytest.raises(ValueError, match="spans days \\[0, 21\\)"):
        check_periods([Period(0)], n_days=20)
    p = Period(train_start=10)                          # test 24-30
    # card 0: fraud on day 10, so known from day 18 on: its delay-week and later rows
    # are "known", but only test-week rows can be removed.
    day = np.array([10, 20, 25, 31])
    kept, removed = assessment_mask(day, np.zeros(4, int), np.array([1, 0, 0, 0]), p)
    np.testing.assert_array_equal(kept, [0, 0, 0, 0])
    np.testing.assert_array_equal(removed, [0, 0, 1, 0])


def test_thresholds_are_set_on_the_latest_period_whose_labels_are_in():
    from fjax.data.fraud_protocol import Period, rolling_periods, threshold_sources
    # 7-day train, delay and test, step 7: period j's labels are in 7 days after its test
    # week ends, which is when period j + 2's test week starts.
    assert threshold_sources(rolling_periods(Period(0), 4, 7)) == [None, None, 0, 1]
    assert threshold_sources(rolling_periods(Period(0), 3, 14)) == [None, 0, 1]
    assert threshold_sources(rolling_periods(Period(0, delay_days=0), 3, 7)) == [None, 0, 1]


def test_validation_periods_are_threshold_sources_until_a_test_periods_labels_are_in():
    from fjax.data.fraud_protocol import (Period, rolling_periods, threshold_sources,
                                          validation_periods)
    tests = rolling_periods(Period(21), 4, 7)
    val = validation_periods(tests, 7)         # 4 periods, the last ending at day 28
    # Indices into [*val, *tests]: the last validation period (3) serves test periods 0
    # and 1 (its labels are in on day 35 = test period 0's start); test period 0 (4) ends
    # on day 42 + 7 delay = period 2's start, test period 1 (5) period 3's.
    assert threshold_sources(tests, val) == [3, 3, 4, 5]
    # An earlier validation week if the last one's labels are not in yet.
    assert threshold_sources(tests, [p.shifted(7) for p in val])[0] == 2


def test_the_delay_weeks_scores_and_budget_ignore_the_delay_and_test_labels():
    """The delay stack (features, scaling, known-card removal) reads no label of a
    delay or test week: shuffling them leaves its rows, its x and the alert-budget
    threshold of a fixed scorer unchanged; and its rows are the delay week's minus the
    cards a numpy oracle finds known compromised (same look-back as the test week)."""
    import dataclasses
    from fjax.data.fraud_features import handbook_features
    from fjax.fraud_metrics import threshold_at_alerts
    from fjax.tasks.fraud.config import FraudDataConfig
    from fjax.tasks.fraud.dataset import FraudData
    tx = simulate(n_customers=150, n_terminals=300, n_days=60, seed=5)
    periods = rolling_periods(Period(25), 2, 7)
    w = np.random.default_rng(0).normal(size=15)

    def budget(tx):
        data = FraudData(cfg=FraudDataConfig(), tx=tx, names=[],
                         features=handbook_features(tx, 7)[1], periods=periods)
        stack = data.stack("delay")
        rows = [stack.row[stack.val_rows(k)] for k in range(2)]
        return rows, [threshold_at_alerts(stack.data["x"][stack.val_rows(k)] @ w, 7, 20)
                      for k in range(2)]

    rows, thresholds = budget(tx)
    for k, p in enumerate(periods):      # labels not in when period k's test week starts
        later = tx.day >= p.test_start - 7
        fraud = tx.fraud.copy()
        fraud[later] = np.random.default_rng(k).permutation(fraud[later])
        assert (fraud != tx.fraud).any()
        rows_again, thresholds_again = budget(dataclasses.replace(tx, fraud=fraud))
        np.testing.assert_array_equal(rows[k], rows_again[k])
        assert thresholds[k] == thresholds_again[k] and np.isfinite(thresholds[k])
    for p, kept in zip(periods, rows):
        delay = np.nonzero((tx.day >= p.test_start - 7) & (tx.day < p.test_start))[0]
        known = [i for i in delay if ((tx.customer == tx.customer[i]) & (tx.fraud == 1)
                                      & (tx.day >= p.train_start - 7)
                                      & (tx.day <= tx.day[i] - 8)).any()]
        np.testing.assert_array_equal(kept, np.setdiff1d(delay, known))


def test_the_delay_stack_holds_only_the_delay_weeks_scaled_as_the_test_weeks(small):
    """The delay stack trains nothing, so it holds no training week (the test stack has
    them): each block is its delay week's rows alone, their x (flat, and the last step of
    each card's history) scaled with each training week's float64 numpy mean and sd."""
    from fjax.data.fraud_features import handbook_features
    from fjax.tasks.fraud.config import FraudDataConfig
    from fjax.tasks.fraud.dataset import FraudData
    tx, periods = small, rolling_periods(Period(25), 2, 7)
    features = handbook_features(small, 7)[1]
    data = FraudData(cfg=FraudDataConfig(history=3), tx=tx, names=[], features=features,
                     periods=periods)
    for sequence in (False, True):
        delay = data.stack("delay", sequence=sequence)
        assert not delay.folds.train.any()
        for k, p in enumerate(periods):
            rows = delay.block_rows(k)
            np.testing.assert_array_equal(delay.val_rows(k), rows)
            day = tx.day[delay.row[rows]]
            assert ((day >= p.test_start - 7) & (day < p.test_start)).all()
            fit = features[train_mask(tx.day, p)].astype(np.float64)
            sd = fit.std(axis=0)
            want = (features[delay.row[rows]] - fit.mean(axis=0)) / np.where(sd > 0, sd, 1)
            got = delay.data["x"][rows][:, -1] if sequence else delay.data["x"][rows]
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_sequence_stacks_share_one_card_history(small, monkeypatch):
    """The test, delay and validation sequence stacks read the cards' histories
    (`previous_rows`, 0.6 s on the default data) computed once per FraudData, and hold
    the same bits as stacks built each from a history of its own."""
    from fjax.data.fraud_features import handbook_features, previous_rows
    from fjax.tasks.fraud import dataset
    from fjax.tasks.fraud.config import FraudDataConfig
    calls = []

    def counted(tx, length):
        calls.append(length)
        return previous_rows(tx, length)

    monkeypatch.setattr(dataset, "previous_rows", counted)
    features = handbook_features(small, 7)[1]

    def fresh():
        return dataset.FraudData(cfg=FraudDataConfig(history=3), tx=small, names=[],
                                 features=features, periods=rolling_periods(Period(32), 2, 7))

    data, which = fresh(), ("test", "delay", "validation")
    shared = [data.stack(w, sequence=True) for w in which]
    assert calls == [3]
    np.testing.assert_array_equal(data.card_history, previous_rows(small, 3))
    for w, got in zip(which, shared):
        want = fresh().stack(w, sequence=True)        # its own previous_rows call
        assert got.data["x"].shape[1] == 3
        for name in ("x", "y"):
            np.testing.assert_array_equal(got.data[name], want.data[name], strict=True)
        np.testing.assert_array_equal(got.row, want.row)
        np.testing.assert_array_equal(got.folds.train, want.folds.train)
        np.testing.assert_array_equal(got.folds.val, want.folds.val)
    assert calls == [3, 3, 3, 3]
