"""The transaction simulator (handbook ch. 3.2) and loading users' transaction files."""

import warnings
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from fjax.data.fraud_simulator import (Scenarios, compromised_customer_frauds,
                                       compromised_terminal_frauds, simulate, terminals_within)
from fjax.data.transactions import (DAY, elapsed_seconds, from_frame, load_transactions, summary,
                                    user_columns)

SMALL = dict(n_customers=200, n_terminals=400, n_days=60)


@pytest.fixture(scope="module")
def small():
    return simulate(**SMALL, seed=1)


def test_same_seed_same_data_other_seed_other_data(small):
    again = simulate(**SMALL, seed=1)
    for name in ("seconds", "customer", "terminal", "amount", "fraud", "scenario"):
        np.testing.assert_array_equal(getattr(small, name), getattr(again, name))
    other = simulate(**SMALL, seed=2)
    assert len(other) != len(small) or not np.array_equal(other.amount, small.amount)


def test_default_scale_volume_and_fraud_rate_match_the_handbook():
    # The full default simulation (5,000 customers, 10,000 terminals, 183 days) takes
    # about a second. Handbook: 1,754,155 transactions, 14,681 frauds (0.84%), of which
    # 978 / 9,099 / 4,604 from scenarios 1 / 2 / 3. The expected volume is
    # 5000 * E[U(0,4)] * 183 * P(0 < N(43200, 20000) < 86400) = 1.774 M, +-1.2% (1 sd).
    s = summary(simulate())
    assert abs(s["transactions"] / 1_754_155 - 1) < 0.03
    assert 0.0075 < s["fraud_rate"] < 0.0095
    assert 13_000 < s["frauds"] < 16_500
    by = s["frauds_by_scenario"]
    assert 700 < by[1] < 1300 and 8000 < by[2] < 10_500 and 4000 < by[3] < 5500


def test_transactions_follow_the_generative_model(small):
    assert np.all(np.diff(small.seconds) >= 0)                      # time order
    t = small.seconds % DAY
    assert t.min() > 0 and t.max() < DAY
    legit = small.scenario != 3
    assert np.all(small.amount[legit] >= 0)
    np.testing.assert_allclose(small.amount, np.round(small.amount, 2))
    # Every transaction uses a terminal within the radius of its customer.
    cxy = small.extra["customers"]["xy"][small.customer]
    txy = small.extra["terminals"]["xy"][small.terminal]
    assert np.all(np.linalg.norm(cxy - txy, axis=1) < 5.0)


def test_scenario_one_is_every_large_amount(small):
    big = small.amount > 220
    assert np.all(small.fraud[big] == 1)
    assert np.all(small.amount[small.scenario == 1] > 220)


class PlantedChoice:
    """A stand-in random generator whose `choice` returns planted ids on given days."""

    def __init__(self, planted: dict[int, list[int]], default: list[int]):
        self.planted, self.default, self.calls = planted, default, 0

    def choice(self, n, size, replace):
        out = self.planted.get(self.calls, self.default)
        self.calls += 1
        return np.asarray(out[:size])


def test_a_planted_compromised_terminal_makes_all_its_later_transactions_fraud():
    # Terminal 3 has a transaction every day; it is compromised on day 5 only.
    day = np.repeat(np.arange(40), 2)
    terminal = np.tile([3, 1], 40)
    planted = PlantedChoice({5: [3, 9]}, default=[8, 9])
    fraud = compromised_terminal_frauds(terminal, day, 10, Scenarios(), planted)
    on_3 = terminal == 3
    assert np.all(fraud[on_3 & (day >= 5) & (day < 33)])
    assert not np.any(fraud[on_3 & ((day < 5) | (day >= 33))])
    assert not np.any(fraud[terminal == 1])
    assert planted.calls == 39                       # one draw per day before the last


def test_a_planted_compromised_customer_loses_a_third_of_its_window():
    day = np.repeat(np.arange(30), 3)                # customer 2: 3 transactions a day
    customer = np.full(len(day), 2)
    picked = compromised_customer_frauds(customer, day, 5, Scenarios(),
                                         _Sampler({4: [2, 0, 1]}, default=[0, 1, 3]))
    window = (day >= 4) & (day < 18)
    assert picked[window].sum() == window.sum() // 3
    assert not picked[~window].any()


class _Sampler(PlantedChoice):
    """Planted victims, and a real sampler for the transactions they lose."""

    def __init__(self, planted, default):
        super().__init__(planted, default)
        self.rng = np.random.default_rng(0)

    def choice(self, n, size, replace):
        if np.ndim(n) == 0:
            return super().choice(n, size, replace)
        return self.rng.choice(n, size=size, replace=replace)


def test_compromised_customers_get_inflated_amounts(small):
    s3 = small.scenario == 3
    assert s3.any()
    means = small.extra["customers"]["mean_amount"][small.customer]
    # Five times a N(m, m/2) draw: the median ratio is about 5.
    assert 3.5 < np.median(small.amount[s3] / means[s3]) < 6.5


def test_terminals_within_radius_match_brute_force():
    rng = np.random.default_rng(0)
    c, t = rng.uniform(0, 100, (50, 2)), rng.uniform(0, 100, (300, 2))
    for r in (3.0, 5.0, 40.0):
        offsets, ids = terminals_within(c, t, r)
        near = np.linalg.norm(c[:, None] - t[None], axis=-1) < r
        for i in range(len(c)):
            np.testing.assert_array_equal(ids[offsets[i]:offsets[i + 1]], np.nonzero(near[i])[0])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_users_file_round_trips(small, tmp_path, suffix):
    frame = small.to_frame()
    path = tmp_path / f"tx{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    back = load_transactions(path)
    np.testing.assert_array_equal(back.seconds, small.seconds)
    np.testing.assert_array_equal(back.fraud, small.fraud)
    np.testing.assert_allclose(back.amount, small.amount)
    np.testing.assert_array_equal(back.customer_ids[back.customer], small.customer)
    assert back.start == small.start and back.scenario is None


def _frame():
    return pd.DataFrame({"id": [1, 2, 3], "when": ["2020-01-01 10:00", "2020-01-01 11:00",
                                                 "2020-01-02 09:00"],
                         "card": ["a", "b", "a"], "shop": [7, 7, 8],
                         "amt": [10.0, 5.5, 3.0], "is_fraud": [0, 1, 0]})


NAMES = {"transaction_id": "id", "timestamp": "when", "customer": "card", "terminal": "shop",
         "amount": "amt", "label": "is_fraud"}


def test_named_columns_are_used():
    tx = from_frame(_frame(), NAMES)
    assert list(tx.customer_ids[tx.customer]) == ["a", "b", "a"]
    assert list(tx.day) == [0, 0, 1] and tx.fraud.tolist() == [0, 1, 0]


@pytest.mark.parametrize("change, column, match", [
    (lambda f: f.drop(columns="amt"), "amt", "lacks the column"),
    (lambda f: f.assign(amt=[1.0, -2.0, 3.0]), "amt", "negative"),
    (lambda f: f.assign(amt=["1", "x", "3"]), "amt", "non-numeric"),
    (lambda f: f.assign(is_fraud=[0, 2, 1]), "is_fraud", r"other than 0/1: \[2\]"),
    (lambda f: f.assign(amt=[1.0, float("inf"), 3.0]), "amt", r"non-numeric .*row 1: inf\)"),
    (lambda f: f.assign(amt=[1.0, 1e300, 3.0]), "amt", r"holds 1e\+300 at row 1, beyond"),
    (lambda f: f.assign(when=[16, 17, 18]), "when", "holds numbers, not dates .*unix times"),
    (lambda f: f.assign(when=[1.6e9, 1.6e9 + 0.5, 1.6e9 + 86400]), "when", "holds numbers"),
    (lambda f: f.assign(when=["2020-01-01", None, "2020-01-02"]), "when", "missing"),
    (lambda f: f.assign(when=["2020-01-01", "soon", "2020-01-02"]), "when", "not parseable"),
    (lambda f: f.assign(is_fraud=[0, None, 1]), "is_fraud", r"1 missing labels \(first at row 1\)"),
    (lambda f: f.assign(id=[7, 8, 7]), "id", r"repeats 1 ids \(first 7 at row 2\)"),
    (lambda f: f.assign(id=[7, None, 9]), "id", r"1 missing ids \(first at row 1\)"),
])
def test_bad_input_names_the_column(change, column, match):
    with pytest.raises(ValueError, match=match) as err:
        from_frame(change(_frame()), NAMES)
    assert repr(column) in str(err.value)


def test_columns_no_role_names_are_listed_as_unused():
    tx = from_frame(_frame().assign(mcc=[5411, 5812, 5411], country=["FR", "FR", "DE"]), NAMES)
    assert tx.unused_columns == ("mcc", "country")
    assert summary(tx)["unused_columns"] == ["mcc", "country"]
    assert "unused_columns" not in summary(from_frame(_frame(), NAMES))
    from fjax.tasks.fraud.report import _unused_note
    assert _unused_note(summary(tx))[0].startswith("Not used: the file's column(s) mcc, country.")
    assert _unused_note(summary(from_frame(_frame(), NAMES))) == []


def test_a_column_named_for_two_roles_is_refused():
    with pytest.raises(ValueError, match=r"'card' is named for 2 roles \(customer, terminal\)"):
        from_frame(_frame(), {**NAMES, "terminal": "card"})


def test_one_utc_offset_keeps_local_days_several_read_as_utc_with_a_warning():
    """00:30 at +02:00 is the local day 2020-01-02 (UTC: still 2020-01-01). A daylight-
    saving change (two offsets) is read as UTC, which keeps true order and durations."""
    local = _frame().assign(when=["2020-01-01 10:00+02:00", "2020-01-02 00:30+02:00",
                                  "2020-01-02 09:00+02:00"])
    tx = from_frame(local, NAMES)
    assert tx.start == pd.Timestamp("2020-01-01") and list(tx.day) == [0, 1, 1]
    assert list(tx.seconds) == [36_000, DAY + 1_800, DAY + 32_400]
    dst = _frame().assign(when=["2020-03-29 00:30+01:00", "2020-03-29 03:30+02:00",
                                "2020-03-29 23:30+02:00"])
    with pytest.warns(UserWarning, match="'when'.*mixes UTC offsets.*as UTC") as told:
        tx = from_frame(dst, NAMES)
    # The remedy is the fraud task's own: a zone, not times stripped of their offsets.
    assert "to count local days, name the cardholders' zone with --data.timezone" \
        in str(told[0].message)
    assert tx.start == pd.Timestamp("2020-03-28")      # 00:30+01:00 is 23:30 UTC the day before
    assert list(tx.seconds) == [23 * 3600 + 1_800, DAY + 3_600 + 1_800, DAY + 21 * 3600 + 1_800]


def _timed(written: list[str]) -> pd.DataFrame:
    n = len(written)
    return pd.DataFrame({"id": range(n), "when": written, "card": ["a"] * n, "shop": [7] * n,
                         "amt": [10.0] * n, "is_fraud": [0] * n})


def _night_and_weekend(tx) -> tuple[list[float], list[float]]:
    from fjax.data.fraud_features import handbook_features
    names, x = handbook_features(tx)
    return (x[:, names.index("TX_DURING_NIGHT")].tolist(),
            x[:, names.index("TX_DURING_WEEKEND")].tolist())


def test_several_offsets_put_night_and_weekend_on_each_times_own_local_clock():
    """A purchase at 21:00 -05:00 is 02:00 UTC: UTC clocks called it night (and a Friday
    evening a Saturday). Night and weekend now read each time's clock as written."""
    written = ["2024-03-08 21:00-05:00",    # Fri 21:00 local (Sat 02:00 UTC): day, weekday
               "2024-03-09 23:30-05:00",    # Sat 23:30 local (Sun 04:30 UTC): day, weekend
               "2024-03-10 06:30-04:00",    # Sun 06:30 local (10:30 UTC): night, weekend
               "2024-03-11 00:30+01:00"]    # Mon 00:30 local (Sun 23:30 UTC): night, weekday
    with pytest.warns(UserWarning, match="mixes UTC offsets"):
        tx = from_frame(_timed(written), NAMES)
    night, weekend = _night_and_weekend(tx)
    assert night == [0, 0, 1, 1] and weekend == [0, 1, 1, 0]
    local = [datetime.fromisoformat(w) for w in written]     # the standard library's clocks
    assert night == [float(t.hour <= 6) for t in local]
    assert weekend == [float(t.weekday() >= 5) for t in local]


def test_several_offsets_still_order_and_count_days_by_the_utc_instant():
    """Local clocks run backwards here (01:00 +01:00, then 20:00 -05:00 the day before) but
    the instants run forwards: no re-sorting, and seconds, days and the card's windows
    follow UTC."""
    from fjax.data.fraud_features import handbook_features
    written = ["2024-03-10 01:00+01:00", "2024-03-09 20:00-05:00", "2024-03-10 19:30-05:00"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)              # not "not in time order"
        with pytest.raises(UserWarning, match="mixes UTC offsets"):
            from_frame(_timed(written), NAMES)
    with pytest.warns(UserWarning, match="mixes UTC offsets"):
        tx = from_frame(_timed(written), NAMES)
    utc = [datetime.fromisoformat(w).astimezone(timezone.utc) for w in written]
    midnight = datetime(2024, 3, 10, tzinfo=timezone.utc)        # of the first UTC instant
    assert list(tx.transaction_id) == [0, 1, 2] and tx.start == pd.Timestamp("2024-03-10")
    assert list(tx.seconds) == [int((t - midnight).total_seconds()) for t in utc]
    assert list(tx.day) == [0, 0, 1]
    assert _night_and_weekend(tx)[0] == [1, 0, 0]               # 01:00, 20:00, 19:30 local
    names, x = handbook_features(tx)
    assert x[:, names.index("CUSTOMER_ID_NB_TX_1DAY_WINDOW")].tolist() == [1, 2, 2]


def test_one_offset_and_no_offset_keep_their_features_and_clocks_match_across_writings():
    """The same wall clocks written without an offset, with one, or with several: night
    and weekend agree (several offsets read UTC clocks before), and the naive and the
    one-offset files' features are byte-identical."""
    from fjax.data.fraud_features import handbook_features
    clocks = ["2024-03-08 21:00", "2024-03-09 23:30", "2024-03-10 06:30", "2024-03-11 00:30"]
    naive = from_frame(_timed(clocks), NAMES)
    one = from_frame(_timed([c + "-05:00" for c in clocks]), NAMES)
    assert naive.clock_offset is None and one.clock_offset is None and not one.utc
    assert handbook_features(naive)[1].tobytes() == handbook_features(one)[1].tobytes()
    with pytest.warns(UserWarning, match="mixes UTC offsets"):
        mixed = from_frame(_timed([c + z for c, z in zip(clocks, ["-05:00", "-05:00", "-04:00",
                                                                  "+01:00"])]), NAMES)
    assert _night_and_weekend(mixed) == _night_and_weekend(naive)
    local = [datetime.fromisoformat(c) for c in clocks]
    assert _night_and_weekend(naive) == ([float(t.hour <= 6) for t in local],
                                         [float(t.weekday() >= 5) for t in local])


@pytest.mark.parametrize("offset", ["", "-05:00"])
def test_times_on_one_clock_written_in_varying_formats_stay_that_clock(offset):
    """08:15:00 then 10:00 (seconds left off) made pandas refuse the column as one format;
    it was read as UTC with a warning that it "mixes UTC offsets", and with none written,
    labelled UTC with zero offsets. They are the written clocks, as in one format."""
    written = [w + offset for w in ["2024-01-02 08:15:00", "2024-01-02 09:30:00",
                                    "2024-01-03 10:00"]]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        tx = from_frame(_timed(written), NAMES)
    assert not tx.utc and tx.clock_offset is None and "times_utc" not in summary(tx)
    assert tx.start == pd.Timestamp("2024-01-02")
    assert list(tx.seconds) == [8 * 3600 + 15 * 60, 9 * 3600 + 30 * 60, DAY + 10 * 3600]


def test_the_summary_and_the_report_say_which_clock_night_and_weekend_read():
    """Several offsets: days in UTC, night and weekend on the written clocks; unix times:
    UTC clocks (no offset is written); one offset: local clocks, nothing to say."""
    from fjax.tasks.fraud.report import _utc_note
    mixed = _frame().assign(when=["2024-03-09 12:00-05:00", "2024-03-09 23:30-05:00",
                                  "2024-03-10 12:00-04:00"])
    with pytest.warns(UserWarning, match="mixes UTC offsets"):
        tx = from_frame(mixed, NAMES)
    assert summary(tx)["times_utc"] is True
    assert summary(tx)["feature_clock"] == "written offsets"
    note = " ".join(_utc_note(summary(tx)))
    assert "days and windows run, in UTC" in note
    assert "TX_DURING_WEEKEND read each time's local clock" in note
    assert "Days stay one clock for every card" in note and "--data.timezone ZONE" in note
    unix = from_frame(_frame().assign(when=[1.6e9, 1.6e9 + 60, 1.6e9 + 86400]), NAMES)
    assert summary(unix)["times_utc"] is True and summary(unix)["feature_clock"] == "utc"
    assert "TX_DURING_NIGHT (00:00-06:59) and TX_DURING_WEEKEND read UTC clocks" in \
        " ".join(_utc_note(summary(unix)))
    local = from_frame(_frame().assign(when=["2024-03-09 12:00-05:00", "2024-03-09 23:30-05:00",
                                             "2024-03-10 12:00-05:00"]), NAMES)
    assert "times_utc" not in summary(local) and _utc_note(summary(local)) == []


def test_unsorted_timestamps_warn_and_sort_without_dropping():
    frame = _frame().iloc[[2, 0, 1]]
    with pytest.warns(UserWarning, match="'when'.*not in time order"):
        tx = from_frame(frame, NAMES)
    assert len(tx) == 3 and list(tx.transaction_id) == [1, 2, 3]


def test_from_frame_realigns_every_column_of_an_unsorted_file():
    """Sorting by time must carry every column along, not only the timestamp."""
    rng = np.random.default_rng(7)
    n = 40
    sorted_frame = pd.DataFrame({
        "id": np.arange(100, 100 + n),
        "when": pd.Timestamp("2021-03-01") + pd.to_timedelta(np.sort(rng.choice(
            10 * DAY, n, replace=False)), unit="s"),
        "card": rng.choice(["c1", "c2", "c3", "c4", "c5"], n),
        "shop": rng.integers(0, 9, n),
        "amt": np.round(rng.uniform(1, 500, n), 2),
        "is_fraud": rng.integers(0, 2, n)})
    want = from_frame(sorted_frame, NAMES)
    with pytest.warns(UserWarning, match="not in time order"):
        got = from_frame(sorted_frame.iloc[rng.permutation(n)], NAMES)
    np.testing.assert_array_equal(got.seconds, want.seconds)
    np.testing.assert_array_equal(got.transaction_id, sorted_frame["id"])
    np.testing.assert_array_equal(got.customer_ids[got.customer], sorted_frame["card"])
    np.testing.assert_array_equal(got.terminal_ids[got.terminal], sorted_frame["shop"])
    np.testing.assert_array_equal(got.amount, sorted_frame["amt"])
    np.testing.assert_array_equal(got.fraud, sorted_frame["is_fraud"])
    np.testing.assert_array_equal(got.customer, want.customer)
    np.testing.assert_array_equal(got.terminal, want.terminal)


def test_days_weekdays_and_summary_by_hand():
    # 2020-01-01 is a Wednesday; the last row is one second before day 3 ends.
    frame = pd.DataFrame({
        "id": [1, 2, 3, 4], "card": ["a", "b", "a", "a"], "shop": [7, 7, 8, 8],
        "when": ["2020-01-01 10:00:00", "2020-01-02 23:59:59", "2020-01-04 00:00:00",
                 "2020-01-04 23:59:59"],
        "amt": [10.0, 0.0, 3.0, 4.0], "is_fraud": [0, 1, 1, 0]})
    tx = from_frame(frame, NAMES)                       # a zero amount is a payment
    assert tx.day.tolist() == [0, 1, 3, 3]
    assert tx.weekday.tolist() == [2, 3, 5, 5]
    s = summary(tx)
    assert (s["transactions"], s["frauds"], s["days"]) == (4, 2, 4)
    assert s["compromised_cards"] == 2 and s["fraud_rate"] == 0.5


def test_timestamp_ties_keep_the_files_order_and_a_sorted_file_does_not_warn():
    n = 40
    when = pd.Timestamp("2021-01-01") + pd.to_timedelta(np.repeat([3, 2, 1, 0], n // 4),
                                                        unit="h")
    frame = pd.DataFrame({"id": np.arange(n), "when": when, "card": ["a"] * n,
                          "shop": [1] * n, "amt": np.ones(n), "is_fraud": np.zeros(n, int)})
    with pytest.warns(UserWarning, match="not in time order"):
        tx = from_frame(frame, NAMES)
    # hours 0, 1, 2, 3 in turn; within an hour, the file's order (ids ascending)
    want = np.concatenate([np.arange(k * n // 4, (k + 1) * n // 4) for k in (3, 2, 1, 0)])
    np.testing.assert_array_equal(tx.transaction_id, want)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # ties alone are in time order
        from_frame(frame.iloc[want].reset_index(drop=True), NAMES)


def test_missing_card_ids_are_named():
    frame = _frame().assign(card=["a", None, "a"])
    with pytest.raises(ValueError, match=r"'card' \(customer\) has 1 missing ids .*row 1"):
        from_frame(frame, NAMES)


def test_column_names_match_ignoring_case():
    cased = _frame().rename(columns=str.upper)
    tx, same = from_frame(cased, NAMES), from_frame(_frame(), NAMES)
    np.testing.assert_array_equal(tx.seconds, same.seconds)
    np.testing.assert_array_equal(tx.amount, same.amount)
    np.testing.assert_array_equal(tx.fraud, same.fraud)
    assert list(tx.customer_ids) == ["a", "b"]
    with pytest.raises(ValueError, match="lacks the column"):   # two candidates: ambiguous
        from_frame(cased.assign(Amt=cased["AMT"]), NAMES)


def test_unix_seconds_and_milliseconds_are_read_as_utc_times():
    """Exchange and payment exports write unix times; whole numbers of seconds or
    milliseconds since 1970 (2001 to 2099) are read as such."""
    want = from_frame(_frame().assign(when=["2020-09-13 12:26:40", "2020-09-13 12:27:40",
                                            "2020-09-14 12:26:40"]), NAMES)
    for scale in (1, 1000):
        got = from_frame(_frame().assign(when=np.array([1.6e9, 1.6e9 + 60, 1.6e9 + 86400])
                                         * scale), NAMES)
        np.testing.assert_array_equal(got.seconds, want.seconds)
        assert got.start == want.start


def test_feature_columns_are_kept_in_row_order_numbers_as_numbers_text_as_categories():
    frame = _frame().assign(mcc=[5411, 5812, 5411], channel=["web", "pos", "web"],
                            risk=[0.5, 0.25, 0.75], country=["FR", "FR", "DE"])
    with pytest.warns(UserWarning, match="not in time order"):
        tx = from_frame(frame.iloc[[2, 0, 1]], NAMES, features=("mcc", "channel", "risk"),
                        categorical=("mcc",))
    assert list(tx.transaction_id) == [1, 2, 3]             # sorted, columns carried along
    assert tx.categorical_columns == ("mcc", "channel")
    assert list(tx.user_columns["mcc"]) == ["5411", "5812", "5411"]
    assert list(tx.user_columns["channel"]) == ["web", "pos", "web"]
    assert tx.user_columns["risk"].dtype == np.float64
    assert tx.user_columns["risk"].tolist() == [0.5, 0.25, 0.75]
    assert tx.unused_columns == ("country",)                 # only the columns left out
    assert summary(tx)["feature_columns"] == {"mcc": "categorical", "channel": "categorical",
                                              "risk": "numeric"}
    plain = from_frame(frame, NAMES, features=("mcc",))      # number codes: numbers
    assert plain.categorical_columns == () and plain.user_columns["mcc"].tolist() == [
        5411.0, 5812.0, 5411.0]


def _many(n=150):
    rng = np.random.default_rng(0)
    return pd.DataFrame({"id": np.arange(n), "when": pd.Timestamp("2020-01-01")
                         + pd.to_timedelta(np.arange(n) * 600, unit="s"),
                         "card": rng.choice(["a", "b", "c"], n), "shop": rng.integers(0, 5, n),
                         "amt": rng.uniform(1, 50, n), "is_fraud": rng.integers(0, 2, n),
                         "risk": rng.normal(size=n), "channel": rng.choice(["web", "pos"], n)})


def _with(column, row, value):
    def change(frame):
        frame = frame.copy()
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame
    return change


@pytest.mark.parametrize("change, features, column, match", [
    (lambda f: f, ("mcc",), "mcc", r"data.features names column\(s\) \['mcc'\] that data "
                                   r"does not have; its columns are \['id', 'when'"),
    (lambda f: f, ("AMT",), "AMT", "names the role column"),
    (_with("risk", 7, None), ("risk",), "risk", r"has 1 missing values \(first at row 7\)"),
    (_with("channel", 3, None), ("channel",), "channel", r"1 missing values \(first at row 3\)"),
    (_with("risk", 5, np.inf), ("risk",), "risk", r"1 infinite values \(first at row 5: inf\)"),
    (_with("risk", 5, "-inf"), ("risk",), "risk", r"1 infinite values \(first at row 5: -inf\)"),
    (_with("risk", 4, "n/a"), ("risk",), "risk", r"non-numeric text 'n/a' .*row 4"),
    (_with("risk", 4, 1e300), ("risk",), "risk", r"holds 1e\+300 at row 4, beyond"),
    (lambda f: f.assign(txn=[f"t{i}" for i in range(len(f))]), ("txn",), "txn",
     r"a different value in every row \(150\), like an identifier"),
    (lambda f: f.assign(code=np.arange(len(f)) % 120), ("code",), "code",
     r"has 120 distinct values, more than the 100"),
    (lambda f: f.assign(channel="web"), ("channel",), "channel",   # as credit refuses it
     r"has the single value 'web' in every row .*leave it out of data.features"),
    (lambda f: f.assign(risk=0.5), ("risk",), "risk", r"single value 0.5 in every row"),
])
def test_bad_feature_columns_name_the_column(change, features, column, match):
    categorical = ("code",) if "code" in features else ()
    with pytest.raises(ValueError, match=match) as err:
        from_frame(change(_many()), NAMES, features=features, categorical=categorical)
    assert repr(column) in str(err.value) or f"['{column}']" in str(err.value)


def test_number_codes_beyond_the_level_cap_read_as_numbers():
    frame = _many().assign(code=np.arange(150) % 120)
    tx = from_frame(frame, NAMES, features=("code",))
    assert tx.categorical_columns == () and tx.user_columns["code"].max() == 119


def test_a_mistyped_column_name_gets_the_closest_column():
    with pytest.raises(ValueError, match=r"label -> 'is_fruad' \(did you mean 'is_fraud'\?\)"):
        from_frame(_frame(), {**NAMES, "label": "is_fruad"})
    with pytest.raises(ValueError, match=r"\['crd'\] that data does not have \(did you "
                                         r"mean 'card'\?\)"):
        user_columns(_frame(), ("crd",))


NEW_YORK = ZoneInfo("America/New_York")


def _on_clocks(tx, clocks: list[datetime]) -> None:
    """tx's night, weekend and days read `clocks` (the standard library's local times)."""
    assert _night_and_weekend(tx) == ([float(t.hour <= 6) for t in clocks],
                                      [float(t.weekday() >= 5) for t in clocks])
    first = min(t.date() for t in clocks)
    assert list(tx.day) == [(t.date() - first).days for t in clocks]
    assert tx.start == pd.Timestamp(first)
    assert list(tx.date_texts(tx.day)) == [t.date().isoformat() for t in clocks]


def test_a_timezone_puts_unix_times_night_weekend_and_days_on_its_clock_across_dst():
    """A US bank's unix times: Sat 21:00 EST is Sun 02:00 UTC (night, and the next day, on
    UTC clocks). On America/New_York, through both daylight-saving changes of 2024, night,
    weekend and days read New York's clock, while seconds and windows keep the instants."""
    from fjax.data.fraud_features import handbook_features
    unix = [1710032400,     # 2024-03-10 01:00 UTC: Sat 03-09 20:00 EST
            1710054000,     # 07:00 UTC: 03:00 EDT, the hour after the change
            1710126000,     # 03-11 03:00 UTC: Sun 03-10 23:00 EDT
            1730507400,     # 2024-11-02 00:30 UTC: Fri 11-01 20:30 EDT
            1730615400,     # 11-03 06:30 UTC: 01:30 EST, the repeated hour's second pass
            1730644200]     # 11-03 14:30 UTC: Sun 09:30 EST
    frame = _timed(unix).assign(card=["a", "a", "a", "b", "b", "b"])
    utc = from_frame(frame, NAMES)
    tx = from_frame(frame, NAMES, timezone="America/New_York")
    clocks = [datetime.fromtimestamp(t, NEW_YORK) for t in unix]
    _on_clocks(tx, clocks)
    assert _night_and_weekend(utc) != _night_and_weekend(tx)
    assert list(np.diff(tx.seconds)) == list(np.diff(unix))          # the instants
    names, x = handbook_features(tx)
    t = np.array(unix)
    same = np.array(frame["card"])[:, None] == np.array(frame["card"])[None, :]
    within = (t[None, :] <= t[:, None]) & (t[None, :] > t[:, None] - DAY) & same
    assert x[:, names.index("CUSTOMER_ID_NB_TX_1DAY_WINDOW")].tolist() == \
        within.sum(1).tolist()
    assert summary(tx)["timezone"] == "America/New_York" and "times_utc" not in summary(tx)
    from fjax.tasks.fraud.report import _utc_note
    assert "Times are on the America/New_York clock" in " ".join(_utc_note(summary(tx)))


def test_a_timezone_reads_naive_times_as_its_wall_clocks_and_refuses_a_skipped_hour():
    """Naive times on America/New_York keep their clocks; their instants are New York's
    (zoneinfo's). 02:30 on 2024-03-10 does not exist there: the file is on another clock."""
    written = ["2024-03-09 23:00", "2024-03-10 03:30", "2024-11-02 22:00",
               "2024-11-03 00:30", "2024-11-03 07:00"]
    tx = from_frame(_timed(written), NAMES, timezone="America/New_York")
    clocks = [datetime.fromisoformat(w) for w in written]
    _on_clocks(tx, clocks)
    instants = [t.replace(tzinfo=NEW_YORK).timestamp() for t in clocks]
    assert list(np.diff(tx.seconds)) == list(np.diff(instants))
    naive = from_frame(_timed(written), NAMES)
    assert _night_and_weekend(naive) == _night_and_weekend(tx)
    skipped = _timed(["2024-03-10 01:30", "2024-03-10 02:30"])
    with pytest.raises(ValueError, match=r"'when'.*'2024-03-10 02:30' at row 1.*"
                                         r"data.timezone 'America/New_York' skips"):
        from_frame(skipped, NAMES, timezone="America/New_York")
    dates = from_frame(_timed(["2024-03-09", "2024-03-10", "2024-03-11"]), NAMES,
                       timezone="America/New_York")
    assert dates.dates_only and list(dates.day) == [0, 1, 2]


def test_a_timezone_reads_a_repeated_hours_two_passes_from_the_file_order():
    """New York repeats 01:00-02:00 on 2026-11-01. In a file in time order the clock steps
    back once within that hour: rows before the step are its first pass (EDT, zoneinfo's
    fold=0), rows after it the second (EST, fold=1), so the rows keep the file's order and
    their true gaps. Where the order cannot tell (no step back, or a file out of time
    order) the times are refused, not guessed."""
    written = ["2026-11-01 00:30", "2026-11-01 01:10", "2026-11-01 01:50",
               "2026-11-01 01:20", "2026-11-01 01:40", "2026-11-01 02:10"]
    folds = [0, 0, 0, 1, 1, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)   # no "not in time order" re-sorting
        tx = from_frame(_timed(written), NAMES, timezone="America/New_York")
    clocks = [datetime.fromisoformat(w) for w in written]
    _on_clocks(tx, clocks)
    instants = [t.replace(tzinfo=NEW_YORK, fold=f).timestamp() for t, f in zip(clocks, folds)]
    assert list(tx.transaction_id) == list(range(len(written)))
    assert list(np.diff(tx.seconds)) == list(np.diff(instants))
    for bad, why in ((["2026-11-01 00:30", "2026-11-01 01:30", "2026-11-01 02:10"],
                      "does not step back within that hour"),
                     (["2026-11-01 01:10", "2026-11-01 01:50", "2026-11-01 01:20",
                       "2026-11-01 00:40"], r"not in time order \(row 3")):
        with pytest.raises(ValueError, match=r"'when'.*'2026-11-01 01:[13]0' at row [01].*"
                                             rf"'America/New_York' repeats.*{why}.*UTC"):
            from_frame(_timed(bad), NAMES, timezone="America/New_York")


@pytest.mark.parametrize("zone, dates", [
    ("America/Santiago", ["2024-09-07", "2024-09-08", "2024-09-09"]),   # 00:00 -> 01:00
    ("Asia/Beirut", ["2024-03-30", "2024-03-31", "2024-04-01"]),        # 00:00 -> 01:00
    ("America/Havana", ["2024-11-02", "2024-11-03", "2024-11-04"])])    # 01:00 -> 00:00
def test_a_timezone_that_skips_or_repeats_midnight_reads_dates_as_their_first_instant(
        zone, dates):
    """Where a zone changes its clock at midnight, a file of dates names a midnight that
    does not exist (or comes twice): each date is its day's first instant (zoneinfo's
    fold=0 gives the change's instant for a skipped time), one day apart on the calendar."""
    tx = from_frame(_timed(dates), NAMES, timezone=zone)
    clocks = [datetime.fromisoformat(d) for d in dates]
    assert tx.dates_only
    _on_clocks(tx, clocks)
    instants = [t.replace(tzinfo=ZoneInfo(zone)).timestamp() for t in clocks]
    assert list(np.diff(tx.seconds)) == list(np.diff(instants))


def test_santiagos_midnight_clock_changes_keep_each_transactions_calendar_day():
    """Santiago's clocks go from Saturday 24:00 back to 23:00 (2024-04-07) and from Sunday
    00:00 on to 01:00 (2024-09-08): the days of unix times there are zoneinfo's local dates,
    which never step back, and a naive file's repeated 23:00 hour reads by its order."""
    zone = ZoneInfo("America/Santiago")
    unix = [1712455800, 1712458800, 1712460600, 1712464200, 1725768000, 1725771600]
    tx = from_frame(_timed(unix), NAMES, timezone="America/Santiago")
    clocks = [datetime.fromtimestamp(t, zone) for t in unix]
    _on_clocks(tx, clocks)
    assert np.all(np.diff(tx.day) >= 0)
    written = [c.strftime("%Y-%m-%d %H:%M") for c in clocks[:4]]   # 23:10, 23:00, 23:30, 00:30
    naive = from_frame(_timed(written), NAMES, timezone="America/Santiago")
    assert list(np.diff(naive.seconds)) == list(np.diff(unix[:4]))


def test_to_frame_writes_a_zones_times_as_its_local_times_with_the_zone():
    """TX_DATETIME of unix times read on New York is New York's clock with the zone
    (pandas' conversion of the instants), across the 2024-11-03 change; that frame written
    as text (a CSV's) reads back on the zone to the same times and days."""
    unix = [1730507400, 1730611800, 1730615400, 1730644200]   # 01:30 EDT and 01:30 EST
    tx = from_frame(_timed(unix), NAMES, timezone="America/New_York")
    shown = tx.to_frame()["TX_DATETIME"]
    expected = pd.to_datetime(unix, unit="s", utc=True).tz_convert("America/New_York")
    assert list(shown) == list(expected) and str(shown.dt.tz) == "America/New_York"
    again = from_frame(tx.to_frame().astype({"TX_DATETIME": str}), timezone="America/New_York")
    assert again.seconds.tobytes() == tx.seconds.tobytes()
    assert again.day.tobytes() == tx.day.tobytes() and again.start == tx.start


def test_a_timezone_converts_written_offsets_to_its_clock():
    """An explicit zone wins over written offsets: a file of UTC times written with Z (one
    offset) or with several offsets reads on New York's clock, as the standard library
    converts them, without the warning that days run from midnight UTC. Times written
    with GMT were read as New York's wall clocks (5 hours late): GMT is +00:00."""
    one = ["2024-03-10T01:00:00Z", "2024-03-10T07:30:00Z", "2024-03-11T03:00:00Z"]
    several = ["2024-03-09 20:00-05:00", "2024-03-10 08:30+01:00", "2024-03-11 03:00+00:00"]
    gmt = ["2024-03-10 01:00:00 GMT", "2024-03-10 07:30:00 GMT", "2024-03-11 03:00:00 GMT"]
    for written in (one, several, gmt):
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            tx = from_frame(_timed(written), NAMES, timezone="America/New_York")
        iso = [w.replace(" GMT", "+00:00") for w in written]
        clocks = [datetime.fromisoformat(w).astimezone(NEW_YORK) for w in iso]
        _on_clocks(tx, clocks)
        instants = [datetime.fromisoformat(w).timestamp() for w in iso]
        assert list(np.diff(tx.seconds)) == list(np.diff(instants))


def test_a_timezone_reads_zone_names_rewriting_them_once(monkeypatch):
    """GMT and UTC in a data.timezone column were rewritten as +00:00 by read_dates, again
    when its ISO 8601 fallback read formats that vary by row, and twice more when
    written_instants parsed the column a second time for its instants; read_dates now
    gives them. Oracle: the standard library's conversion of the times written +00:00."""
    from fjax.datasets import ZONE_NAME
    from pandas.core.strings.accessor import StringMethods
    written = ["2024-03-10 01:00:00 GMT", "2024-03-10 07:30 GMT", "2024-03-11 03:00:00 UTC"]
    rewrites = []
    replace = StringMethods.replace

    def counted(self, pat, *args, **kw):
        rewrites.append(pat is ZONE_NAME)
        return replace(self, pat, *args, **kw)
    monkeypatch.setattr(StringMethods, "replace", counted)
    tx = from_frame(_timed(written), NAMES, timezone="America/New_York")
    assert sum(rewrites) == 1
    iso = [w.replace(" GMT", "+00:00").replace(" UTC", "+00:00") for w in written]
    _on_clocks(tx, [datetime.fromisoformat(w).astimezone(NEW_YORK) for w in iso])


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York"])
@pytest.mark.parametrize("written", [
    ["2024-03-10T00:00:00+01:00", "2024-03-11", "2024-03-12"],                # dates
    ["2024-03-09 20:00-05:00", "2024-03-10 03:30", "2024-03-11T12:00:00Z",   # across New
     "2024-03-11 13:00"]])                                                   # York's DST
def test_a_timezone_reads_times_without_offsets_among_ones_with_them_as_its_clock(
        zone, written):
    """Times without an offset among ones with one are on data.timezone's clock, as in a
    file of them, not UTC: New York's 2024-03-11 was read as 03-10 20:00 there (a day
    early), Berlin's 13:00 as 14:00. Each row's instant is the standard library's, its
    written offset's or, without one, the zone's."""
    def instant(w: str) -> datetime:
        t = datetime.fromisoformat(w)
        return t if t.tzinfo else t.replace(tzinfo=ZoneInfo(zone))
    tx = from_frame(_timed(written), NAMES, timezone=zone)
    clocks = [instant(w).astimezone(ZoneInfo(zone)) for w in written]
    _on_clocks(tx, clocks)
    instants = [instant(w).timestamp() for w in written]
    assert list(np.diff(tx.seconds)) == list(np.diff(instants))


def test_utc_as_the_timezone_gives_the_features_and_days_of_no_timezone_byte_for_byte():
    """The zone's path at UTC (zero offsets) reproduces the features and days read without
    a zone, for naive and unix times: a file without data.timezone reads as before."""
    from fjax.data.fraud_features import handbook_features
    for when in (["2024-03-08 21:00", "2024-03-09 23:30", "2024-03-11 00:30"],
                 [1710032400, 1710054000, 1710126000]):
        plain, zoned = (from_frame(_timed(when), NAMES, timezone=z) for z in (None, "UTC"))
        assert plain.clock_offset is None and plain.zone is None
        assert handbook_features(plain)[1].tobytes() == handbook_features(zoned)[1].tobytes()
        assert plain.day.tobytes() == zoned.day.tobytes() and plain.start == zoned.start


def test_times_with_a_zone_read_as_their_instants_with_or_without_a_timezone():
    """A zoned column (Parquet, feather, `to_frame`) was read as its wall clocks: at New
    York's change back the 01:30 EDT and 01:00 EST rows re-sorted out of order, and on a
    data.timezone every row took the first row's offset (EST rows an hour early). Each time
    is now its instant; night, weekend and days read the column's own zone, or the named one."""
    unix = [1730604600, 1730608200, 1730610000, 1730611800, 1730613600, 1730640600]
    shown = pd.Series(pd.to_datetime(unix, unit="s", utc=True).tz_convert("America/New_York"))
    frame = _timed(unix).assign(when=shown)                   # 00:30, 01:30 EDT, 01:00 EST ...
    with pytest.warns(UserWarning, match="mixes UTC offsets"):
        own = from_frame(frame, NAMES)
    assert list(own.transaction_id) == list(range(6))
    assert list(np.diff(own.seconds)) == list(np.diff(unix))
    with pytest.warns(UserWarning, match="mixes UTC offsets"):   # as its offsets written
        written = from_frame(_timed([t.isoformat() for t in shown]), NAMES)
    assert _night_and_weekend(own) == _night_and_weekend(written)
    assert own.clock_offset.tobytes() == written.clock_offset.tobytes()
    for zone in ("America/New_York", "Europe/Berlin"):
        tx = from_frame(frame, NAMES, timezone=zone)
        assert list(tx.transaction_id) == list(range(6))
        assert list(np.diff(tx.seconds)) == list(np.diff(unix))
        _on_clocks(tx, [datetime.fromtimestamp(t, ZoneInfo(zone)) for t in unix])
        again = from_frame(tx.to_frame(), timezone=zone)      # to_frame's zoned times
        assert again.seconds.tobytes() == tx.seconds.tobytes() and again.start == tx.start


def test_dates_with_a_zone_keep_their_days_on_a_timezone():
    """Midnights in Berlin across its change back (+02:00, then +01:00) are their own days;
    on data.timezone each is its instant, not the first row's offset (a day early after it)."""
    days = pd.date_range("2024-10-25", periods=5, freq="D", tz="Europe/Berlin")
    frame = _timed(list(range(5))).assign(when=pd.Series(days))
    assert list(from_frame(frame, NAMES).date_texts(from_frame(frame, NAMES).day)) == \
        [str(d.date()) for d in days]
    for zone in ("Europe/Berlin", "America/New_York"):
        tx = from_frame(frame, NAMES, timezone=zone)
        _on_clocks(tx, [d.to_pydatetime().astimezone(ZoneInfo(zone)) for d in days])


def test_daily_times_written_with_their_offsets_keep_their_written_dates():
    """Berlin midnights across its change back (+02:00, then +01:00), as a tz-aware system
    exports them, were read as UTC: each day fell on the one before (22:00 or 23:00), with
    a warning. They now keep their written dates, night and weekend; on data.timezone each
    is its own instant (pandas' parse of its offset), not shifted by the first row's."""
    berlin = [datetime(2024, 10, 24 + i, tzinfo=ZoneInfo("Europe/Berlin")) for i in range(6)]
    frame = _timed([t.isoformat() for t in berlin])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _on_clocks(from_frame(frame, NAMES), berlin)
    instants = pd.to_datetime(frame["when"], utc=True).dt.tz_localize(None).to_numpy(
        "datetime64[s]").astype(np.int64)
    for zone in ("Europe/Berlin", "America/New_York"):
        tx = from_frame(frame, NAMES, timezone=zone)
        assert list(np.diff(tx.seconds)) == list(np.diff(instants))
        _on_clocks(tx, [t.astimezone(ZoneInfo(zone)) for t in berlin])


@pytest.mark.parametrize("values, seconds", [
    ([0.0, 86_400.5, 172_792.0], [0, 86_400, 172_792]),          # ULB's Time
    ([1.6e9, 1.6e9 + 60, 1.6e9 + 120], None),   # unix times: dates, as read_dates reads
    (["2020-01-01", "2020-01-02", "2020-01-03"], None),
    ([-5.0, 0.0, 10.0], None),
    ([True, False, True], None),
])
def test_elapsed_seconds_are_told_apart_from_dates(values, seconds):
    got = elapsed_seconds(pd.Series(values))
    assert (got is None) if seconds is None else (got.tolist() == seconds)


def test_a_table_without_card_ids_is_one_card_per_transaction():
    """ULB/Kaggle's shape: Time (seconds elapsed), V columns, Amount, Class; no ids."""
    frame = pd.DataFrame({"Time": [90_000.0, 10.0, 200.0], "V1": [0.5, -1.0, 2.0],
                          "note": ["a", "b", "c"], "Amount": [1.0, 2.0, 3.0],
                          "Class": [1, 0, 0]})
    names = {"timestamp": "Time", "amount": "Amount", "label": "Class"}
    with pytest.warns(UserWarning, match="not in time order"):
        tx = from_frame(frame, names)
    assert tx.cardless and tx.elapsed
    assert tx.seconds.tolist() == [10, 200, 90_000] and tx.day.tolist() == [0, 0, 1]
    assert tx.transaction_id.tolist() == [1, 2, 0]          # row numbers, in time order
    assert tx.customer_ids[tx.customer].tolist() == [1, 2, 0] and len(tx.terminal_ids) == 1
    assert list(tx.user_columns) == ["Amount", "V1"]       # the amount: one of its columns
    assert tx.user_columns["V1"].tolist() == [-1, 2, 0.5]
    assert tx.user_columns["Amount"].tolist() == tx.amount.tolist() == [2, 3, 1]
    assert tx.unused_columns == ("note",)
    s = summary(tx)
    assert s["cardless"] and s["times_elapsed_seconds"] and "customers" not in s
    with pytest.raises(ValueError, match="holds seconds elapsed, not times of day on a "
                       "clock, but data.timezone is 'Europe/Paris'"):
        from_frame(frame, names, timezone="Europe/Paris")
    with pytest.raises(ValueError, match="holds numbers, not dates"):   # ids: dates needed
        from_frame(frame.assign(CUSTOMER_ID=1, TERMINAL_ID=2, TRANSACTION_ID=[7, 8, 9]),
                   names)
    with pytest.raises(ValueError, match=r"lacks the column\(s\) transaction_id -> "
                       r"'TRANSACTION_ID', terminal -> 'TERMINAL_ID'"):   # one of the two
        from_frame(frame.assign(CUSTOMER_ID=1), names)


def test_a_table_without_card_ids_refuses_a_row_counter_as_a_feature():
    """Its numeric columns become the features; a saved pandas index ('Unnamed: 0', 0..n-1)
    or a sequential id under another name was one of them, so the models ranked test
    transactions by file order (on a later test day: values training never saw). It is
    refused as credit's schema refuses it, naming the fix; named as the ids, it is read."""
    n = 30
    frame = pd.DataFrame({"Unnamed: 0": np.arange(n), "Time": np.arange(n) * 6_000.0,
                          "V1": np.linspace(-1, 1, n), "Amount": 1.0 + np.arange(n) % 7,
                          "Class": np.arange(n) % 5 == 0})
    names = {"timestamp": "Time", "amount": "Amount", "label": "Class"}
    with pytest.raises(ValueError, match=r"column 'Unnamed: 0' of data numbers the rows.*"
                       r"--data.transaction-id-column 'Unnamed: 0'"):
        from_frame(frame.assign(Class=frame["Class"].astype(int)), names)
    tx = from_frame(frame.assign(Class=frame["Class"].astype(int)),
                    {**names, "transaction_id": "Unnamed: 0"})
    assert list(tx.user_columns) == ["Amount", "V1"]
    assert tx.transaction_id.tolist() == list(range(n))
