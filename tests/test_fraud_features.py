"""The handbook's features (ch. 3.3): no look-ahead, label delay, and equality with the
book's own pandas rolling-window code."""

import dataclasses
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest

from fjax.data.fraud_features import (customer_windows, feature_names, handbook_features,
                                      history_days, previous_rows, terminal_risk)
from fjax.data.fraud_simulator import simulate
from fjax.data.transactions import DAY, Transactions

NOON = DAY // 2


def table(seconds, customer, terminal, amount, fraud, start="2018-04-01") -> Transactions:
    n = len(seconds)
    return Transactions(transaction_id=np.arange(n), seconds=np.asarray(seconds, np.int64),
                        customer=np.asarray(customer, np.int64),
                        terminal=np.asarray(terminal, np.int64),
                        amount=np.asarray(amount, float), fraud=np.asarray(fraud, np.int8),
                        start=pd.Timestamp(start), customer_ids=np.arange(max(customer) + 1),
                        terminal_ids=np.arange(max(terminal) + 1))


@pytest.fixture(scope="module")
def small():
    return simulate(n_customers=60, n_terminals=120, n_days=50, seed=4)


def test_terminal_risk_reads_only_labels_older_than_the_delay():
    # A fraud on terminal 0 at day 0 noon; queries 6 days and 7 days later.
    seconds = [NOON, 6 * DAY + NOON, 7 * DAY + NOON, 7 * DAY + NOON + 1, 15 * DAY + NOON]
    tx = table(seconds, [0, 1, 2, 3, 4], [0] * 5, [10] * 5, [1, 0, 0, 0, 0])
    f = terminal_risk(tx, delay_days=7, windows=(1, 7))
    # 6 days later the label is not known yet: nothing in the window.
    assert f["TERMINAL_ID_NB_TX_7DAY_WINDOW"][1] == 0 and f["TERMINAL_ID_RISK_7DAY_WINDOW"][1] == 0
    # Exactly 7 days later it is: window (t - 14 d, t - 7 d] holds the fraud.
    assert f["TERMINAL_ID_NB_TX_1DAY_WINDOW"][2] == 1 and f["TERMINAL_ID_RISK_1DAY_WINDOW"][2] == 1
    # One second later: the 1-day window holds the fraud and nothing after it.
    assert f["TERMINAL_ID_RISK_1DAY_WINDOW"][3] == 1
    # Day 15 noon: the 7-day window (day 1 noon, day 8 noon] holds the three legit rows
    # of days 6 and 7, not the day-0 fraud: risk 0 of 3 transactions.
    assert f["TERMINAL_ID_NB_TX_7DAY_WINDOW"][4] == 3 and f["TERMINAL_ID_RISK_7DAY_WINDOW"][4] == 0
    # Relabel the rows whose labels are younger than the delay: nothing changes.
    flipped = dataclasses.replace(tx, fraud=np.array([1, 1, 1, 1, 1], np.int8))
    g = terminal_risk(flipped, delay_days=7, windows=(1, 7))
    for key in f:
        np.testing.assert_array_equal(f[key][:4], g[key][:4])


def test_without_a_delay_a_row_reads_no_label_of_its_own_second():
    """delay_days=0 (accepted) ended the window at t inclusive: a row's risk held its own
    fraud label and those of later rows in the same second."""
    tx = table([DAY + 100, 2 * DAY, 2 * DAY], [0, 1, 2], [0] * 3, [1.0] * 3, [0, 0, 0])
    for labels in ([0, 1, 0], [0, 0, 1], [0, 1, 1]):
        f = terminal_risk(dataclasses.replace(tx, fraud=np.array(labels, np.int8)),
                          delay_days=0, windows=(1,))
        np.testing.assert_array_equal(f["TERMINAL_ID_RISK_1DAY_WINDOW"], [0, 0, 0])
        np.testing.assert_array_equal(f["TERMINAL_ID_NB_TX_1DAY_WINDOW"], [0, 1, 1])
    # An earlier row's label is known at once: both later rows read it.
    f = terminal_risk(dataclasses.replace(tx, fraud=np.array([1, 0, 0], np.int8)),
                      delay_days=0, windows=(1,))
    np.testing.assert_array_equal(f["TERMINAL_ID_RISK_1DAY_WINDOW"], [0, 1, 1])


def test_customer_windows_on_planted_spending():
    seconds = [NOON, DAY, 2 * DAY + NOON, 40 * DAY]
    tx = table(seconds, [0, 0, 0, 0], [0, 1, 0, 1], [10, 20, 30, 40], [0, 0, 0, 0])
    f = customer_windows(tx, windows=(1, 7, 30))
    np.testing.assert_array_equal(f["CUSTOMER_ID_NB_TX_1DAY_WINDOW"], [1, 2, 1, 1])
    np.testing.assert_allclose(f["CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"], [10, 15, 30, 40])
    np.testing.assert_array_equal(f["CUSTOMER_ID_NB_TX_7DAY_WINDOW"], [1, 2, 3, 1])
    np.testing.assert_allclose(f["CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW"], [10, 15, 20, 40])


def test_no_feature_reads_a_later_transaction(small):
    names, full = handbook_features(small)
    rng = np.random.default_rng(0)
    for cut in (len(small) // 3, 2 * len(small) // 3):
        # Scramble every later amount and label: earlier features must not move.
        later = slice(cut, None)
        amount, fraud = small.amount.copy(), small.fraud.copy()
        amount[later] = rng.uniform(0, 500, len(amount) - cut)
        fraud[later] = rng.integers(0, 2, len(fraud) - cut)
        _, scrambled = handbook_features(dataclasses.replace(small, amount=amount, fraud=fraud))
        np.testing.assert_array_equal(scrambled[:cut], full[:cut])


def test_ties_in_time_read_only_earlier_rows():
    tx = table([NOON, NOON, NOON], [0, 0, 0], [0, 0, 0], [10, 20, 30], [0, 0, 0])
    f = customer_windows(tx, windows=(1,))
    np.testing.assert_array_equal(f["CUSTOMER_ID_NB_TX_1DAY_WINDOW"], [1, 2, 3])


def test_weekend_and_night_flags():
    # 2018-04-01 is a Sunday; 2018-04-02 a Monday.
    tx = table([6 * 3600 + 59 * 60, 7 * 3600, DAY + NOON], [0, 1, 2], [0, 0, 0], [1, 1, 1],
               [0, 0, 0])
    names, f = handbook_features(tx)
    weekend, night = f[:, names.index("TX_DURING_WEEKEND")], f[:, names.index("TX_DURING_NIGHT")]
    np.testing.assert_array_equal(weekend, [1, 1, 0])
    np.testing.assert_array_equal(night, [1, 0, 0])


def _handbook_pandas(tx: Transactions, delay=7) -> pd.DataFrame:
    """The book's ch. 3.3 code (get_customer_spending_behaviour_features and
    get_count_risk_rolling_window), as written there."""
    df = tx.to_frame()

    def customer(g):
        g = g.sort_values("TX_DATETIME")
        g.index = g.TX_DATETIME
        for w in (1, 7, 30):
            total = g.TX_AMOUNT.rolling(f"{w}D").sum()
            count = g.TX_AMOUNT.rolling(f"{w}D").count()
            g[f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW"] = list(count)
            g[f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"] = list(total / count)
        g.index = g.TRANSACTION_ID
        return g

    def terminal(g):
        g = g.sort_values("TX_DATETIME")
        g.index = g.TX_DATETIME
        fd = g.TX_FRAUD.rolling(f"{delay}D").sum()
        td = g.TX_FRAUD.rolling(f"{delay}D").count()
        for w in (1, 7, 30):
            fw = g.TX_FRAUD.rolling(f"{delay + w}D").sum() - fd
            tw = g.TX_FRAUD.rolling(f"{delay + w}D").count() - td
            g[f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW"] = list(tw)
            g[f"TERMINAL_ID_RISK_{w}DAY_WINDOW"] = list((fw / tw).fillna(0))
        g.index = g.TRANSACTION_ID
        return g

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = pd.concat([customer(g) for _, g in df.groupby("CUSTOMER_ID")]).sort_index()
        b = pd.concat([terminal(g) for _, g in df.groupby("TERMINAL_ID")]).sort_index()
    out = a[[c for c in a.columns if c.startswith("CUSTOMER_ID_")]].copy()
    for c in b.columns:
        if c.startswith("TERMINAL_ID_"):
            out[c] = b[c]
    return out


def test_features_equal_the_handbooks_pandas_code(small):
    names, ours = handbook_features(small)
    ref = _handbook_pandas(small)
    for i, name in enumerate(names[3:], start=3):
        np.testing.assert_allclose(ours[:, i], ref[name].to_numpy(float), rtol=1e-6, atol=1e-5,
                                   err_msg=name)
    assert names == feature_names()


def test_features_are_built_one_column_at_a_time(small):
    """The float32 features equal, bit for bit, all columns computed in float64 and cast
    at once (the handbook's flags, `customer_windows`, `terminal_risk`), and their build
    never holds every column in float64 (15 x 8 bytes a row) beside the result: that was
    the peak of a run's memory on a long transaction log."""
    hour = (small.clock_seconds % DAY) // 3600
    columns = {"TX_AMOUNT": small.amount, "TX_DURING_WEEKEND": small.weekday >= 5,
               "TX_DURING_NIGHT": hour <= 6, **customer_windows(small), **terminal_risk(small)}
    expected = np.stack([columns[name] for name in feature_names()], axis=1).astype(np.float32)
    tracemalloc.start()
    try:
        names, ours = handbook_features(small)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ours.dtype == np.float32 and ours.flags.c_contiguous
    np.testing.assert_array_equal(ours.view(np.int32), expected.view(np.int32))
    assert peak - ours.nbytes < len(names) * 8 * len(small), (peak, ours.nbytes)


def test_previous_rows_are_the_cards_own_history_oldest_first():
    tx = table([1, 2, 3, 4, 5], [0, 1, 0, 0, 1], [0] * 5, [1] * 5, [0] * 5)
    hist = previous_rows(tx, 3)
    np.testing.assert_array_equal(hist, [[-1, -1, 0], [-1, -1, 1], [-1, 0, 2], [0, 2, 3],
                                         [-1, 1, 4]])


def test_a_transaction_exactly_one_window_earlier_is_outside_the_card_window():
    """The window is (t - w days, t]: a row exactly w days older is excluded, as in pandas."""
    seconds = [NOON, NOON + DAY, NOON + 8 * DAY]
    tx = table(seconds, [0, 0, 0], [0, 0, 0], [10.0, 30.0, 50.0], [0, 0, 0])
    f = customer_windows(tx, windows=(1, 7))
    when = tx.start + pd.to_timedelta(np.asarray(seconds), unit="s")
    amount = pd.Series([10.0, 30.0, 50.0], index=when)
    for w in (1, 7):
        book = amount.rolling(f"{w}D")
        np.testing.assert_array_equal(f[f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW"], book.count())
        np.testing.assert_allclose(f[f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"], book.mean())
    np.testing.assert_array_equal(f["CUSTOMER_ID_NB_TX_1DAY_WINDOW"], [1, 1, 1])
    np.testing.assert_array_equal(f["CUSTOMER_ID_NB_TX_7DAY_WINDOW"], [1, 2, 1])


def test_saturday_is_weekend_and_night_is_read_on_every_day():
    # day 0 = Sunday 2018-04-01: day 6 is Saturday 04-07, day 5 Friday 04-06.
    tx = table([5 * DAY + NOON, 6 * DAY + NOON, 9 * DAY + 3 * 3600, 9 * DAY + 7 * 3600],
               [0, 1, 2, 3], [0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0])
    names, f = handbook_features(tx)
    np.testing.assert_array_equal(f[:, names.index("TX_DURING_WEEKEND")], [0, 1, 0, 0])
    np.testing.assert_array_equal(f[:, names.index("TX_DURING_NIGHT")], [0, 0, 1, 0])


def test_a_negative_label_delay_is_refused():
    tx = table([NOON], [0], [0], [1.0], [0])
    with pytest.raises(ValueError, match="delay_days must be >= 0, got -1"):
        handbook_features(tx, delay_days=-1)


def test_rows_out_of_time_order_get_the_features_of_their_time():
    """Rows need not be in time order: features are those of the same rows sorted."""
    rng = np.random.default_rng(1)
    n = 60
    seconds = np.sort(rng.integers(0, 20 * DAY, n))
    tx = table(seconds, rng.integers(0, 3, n), rng.integers(0, 3, n),
               rng.uniform(1, 100, n).round(2), rng.integers(0, 2, n))
    perm = rng.permutation(n)
    shuffled = dataclasses.replace(tx, seconds=tx.seconds[perm], customer=tx.customer[perm],
                                   terminal=tx.terminal[perm], amount=tx.amount[perm],
                                   fraud=tx.fraud[perm])
    _, want = handbook_features(tx)
    _, got = handbook_features(shuffled)
    np.testing.assert_allclose(got, want[perm], rtol=1e-6)


def test_the_terminal_window_opens_strictly_after_delay_plus_w_days():
    """Window (t - (delay + w), t - delay]: a fraud exactly 8 days before a query (delay 7,
    w 1) sits on the open end and is not counted."""
    tx = table([NOON, 8 * DAY + NOON], [0, 1], [0, 0], [10.0, 10.0], [1, 0])
    f = terminal_risk(tx, delay_days=7, windows=(1,))
    assert f["TERMINAL_ID_NB_TX_1DAY_WINDOW"][1] == 0 and f["TERMINAL_ID_RISK_1DAY_WINDOW"][1] == 0


def test_history_days_are_the_days_before_a_row_that_its_features_read(small):
    """The one definition that training's warning and scoring's refusal use: a day with
    history_days(delay) days of the file before it has the features the whole file gives
    (the oracle); with a day less, some differ. Hand count: 7 + 30 = 37."""
    delay = 7
    need = history_days(delay)
    assert need == 37
    _, full = handbook_features(small, delay)
    day = small.seconds // DAY
    for first, same in ((45 - need, True), (46 - need, False)):
        keep = day >= first
        cut = dataclasses.replace(small, **{k: getattr(small, k)[keep] for k in (
            "transaction_id", "seconds", "customer", "terminal", "amount", "fraud")},
            scenario=None if small.scenario is None else small.scenario[keep])
        _, part = handbook_features(cut, delay)
        on = day[keep] == 45
        assert on.sum() > 0
        assert np.array_equal(part[on], full[keep][on]) == same
