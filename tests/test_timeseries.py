"""fjax.data.timeseries: every bad table is an error naming the column, or a counted repair."""

import numpy as np
import pandas as pd
import pytest

from fjax.data.timeseries import load_series


def table(n=12, **overrides):
    frame = pd.DataFrame({"Date": pd.bdate_range("2024-01-01", periods=n),
                          "Close": np.linspace(10.0, 21.0, n), "Volume": np.arange(n) + 1.0})
    for key, value in overrides.items():
        frame[key] = value
    return frame


def load(frame, missing="error", columns=("Close",), **kw):
    return load_series(frame, columns, date_column=kw.pop("date_column", "Date"),
                       missing=missing, source="t.csv", **kw)


def test_clean_table_passes_through():
    s = load(table(), columns=("Close", "Volume"))
    assert s.values.shape == (12, 2) and s.filled == {} and s.inserted_rows == 0
    np.testing.assert_array_equal(s.values[:, 0], np.linspace(10.0, 21.0, 12))


def test_unsorted_dates():
    frame = table()
    frame.loc[[3, 4], "Date"] = frame.loc[[4, 3], "Date"].to_numpy()
    with pytest.raises(ValueError, match=r"'Date' of t.csv is not sorted: 1 rows go back .*row 4"):
        load(frame)


def test_a_file_newest_first_is_read_oldest_first():
    """Exchange exports often run newest first; fraud sorted them, forecasting refused."""
    frame = table(Close=np.r_[10.0, np.nan, np.linspace(12.0, 21.0, 10)])
    with pytest.warns(UserWarning, match="rows of t.csv run newest first; they are read oldest"):
        s = load(frame.iloc[::-1], missing="ffill", columns=("Close", "Volume"))
    expected = load(frame, missing="ffill", columns=("Close", "Volume"))
    np.testing.assert_array_equal(s.dates, expected.dates)
    np.testing.assert_array_equal(s.values, expected.values)
    assert s.filled == expected.filled == {"Close": 1}
    # Errors name dates, not positions, which differ between the file and time order.
    oldest_missing = table(Close=np.r_[np.nan, np.linspace(11.0, 21.0, 11)])
    with pytest.warns(UserWarning, match="newest first"):
        with pytest.raises(ValueError, match="'Close' at 2024-01-02 00:00:00"):
            load(frame.iloc[::-1])
        with pytest.raises(ValueError, match=r"missing at the earliest date \(2024-01-01"):
            load(oldest_missing.iloc[::-1], missing="ffill")


def test_duplicate_dates():
    frame = table()
    frame.loc[5, "Date"] = frame.loc[4, "Date"]
    with pytest.raises(ValueError, match=r"'Date' of t.csv has 1 duplicate dates .*rows 4 and 5"):
        load(frame)


def test_gaps_error_or_fill_with_a_count():
    frame = table(Date=pd.date_range("2024-01-01", periods=12))  # daily
    frame.loc[len(frame)] = [frame["Date"].iloc[-1] + pd.Timedelta(days=30), 30.0, 1.0]
    with pytest.raises(ValueError, match=r"'Date' of t.csv has 1 gaps longer than 7 x .*"
                                         r"from 2024-01-12 00:00:00 to 2024-02-11.*ffill"):
        load(frame)
    s = load(frame, missing="ffill")
    assert s.inserted_rows == 29  # a 30-day gap at a 1-day median spacing
    assert s.n == len(frame) + 29
    assert np.all(s.values[len(frame) - 1:-1, 0] == frame["Close"].iloc[-2])
    assert np.all(np.diff(s.dates) > np.timedelta64(0, "ns"))


def test_missing_values_counted_then_error_or_forward_fill():
    close = np.linspace(10.0, 21.0, 12)
    close[[3, 4, 9]] = np.nan
    with pytest.raises(ValueError, match=r"missing values \('Close': 3; first: 'Close' at "
                                         r"2024-01-04 00:00:00\)"):
        load(table(Close=close))
    s = load(table(Close=close), missing="ffill")
    assert s.filled == {"Close": 3}
    assert s.values[3, 0] == s.values[4, 0] == close[2] and s.values[9, 0] == close[8]


def test_leading_missing_value_cannot_be_filled():
    close = np.linspace(10.0, 21.0, 12)
    close[0] = np.nan
    with pytest.raises(ValueError, match=r"\['Close'\] are missing at the earliest date "
                                         r"\(2024-01-01 00:00:00\)"):
        load(table(Close=close), missing="ffill")
    # Without ffill it says so at once, rather than suggesting ffill, which then fails.
    with pytest.raises(ValueError, match=r"missing at the earliest date .*drop those earliest"):
        load(table(Close=close))


def test_non_numeric_target_names_the_first_bad_entry():
    frame = table(Close=["1,234.5"] + [str(v) for v in range(11)])
    with pytest.raises(ValueError, match=r"column 'Close' of t.csv is not numeric: 1 entries .*"
                                         r"row 0 \(Date .*\): '1,234.5'"):
        load(frame)
    frame = table(Close=["up"] * 12)
    with pytest.raises(ValueError, match="12 entries cannot be read as numbers"):
        load(frame)


def test_missing_columns_list_what_exists():
    with pytest.raises(ValueError, match=r"no column 'Price'; columns are "
                                         r"\['Date', 'Close', 'Volume'\]"):
        load(table(), columns=("Price",))
    with pytest.raises(ValueError, match=r"no date column 'When'.*--data.date-column"):
        load(table(), date_column="When")


def test_names_match_ignoring_case_and_row_order_without_dates():
    frame = table().rename(columns={"Date": "date", "Close": "close"})
    assert load(frame, date_column="Date").columns == ("close",)
    shuffled = table().sample(frac=1.0, random_state=0)
    s = load(shuffled, date_column=None)  # no date column: the row order is the time order
    np.testing.assert_array_equal(s.values[:, 0], shuffled["Close"].to_numpy())


def test_two_names_of_one_column_ignoring_case_are_refused():
    """"close" beside the target "Close", or "volume" beside "VOLUME", would feed one
    column twice (and a dict keyed by column would drop one of its transforms)."""
    with pytest.raises(ValueError, match=r"the feature 'close' and the target 'Close' both "
                                         r"name column 'Close' of t.csv.*--data.features"):
        load(table(), columns=("Close", "close"))
    with pytest.raises(ValueError, match=r"the feature 'VOLUME' and the feature 'volume' "
                                         r"both name column 'Volume'"):
        load(table(), columns=("Close", "volume", "VOLUME"))
    assert load(table(), columns=("close", "volume")).columns == ("Close", "Volume")


def test_a_numeric_date_column_is_refused():
    """Dates 0..n were read as nanoseconds since 1970 and printed as such in forecast.csv."""
    with pytest.raises(ValueError, match="date column 'Date' of t.csv holds numbers, not dates"):
        load(table(Date=np.arange(12)))


def test_a_repeated_local_hour_at_a_dst_change_says_how_to_keep_both_rows():
    """Naive local hourly data holds 02:00 twice on 2024-10-27 (Europe): both rows are
    real, so "keep one row per date" alone would advise dropping an hour."""
    stamps = pd.date_range("2024-10-26 20:00", "2024-10-27 06:00", freq="h", tz="Europe/Berlin")
    local = stamps.tz_localize(None).strftime("%Y-%m-%d %H:%M:%S")
    frame = pd.DataFrame({"Date": local, "Close": np.linspace(10.0, 20.0, len(local))})
    with pytest.raises(ValueError, match=r"duplicate dates \(first 2024-10-27 02:00:00 .*keep "
                       r"one row per date; if these are local times, clocks repeat an hour "
                       r"where daylight saving time ends.*UTC offset"):
        load(frame)
    daily = table()
    daily.loc[5, "Date"] = daily.loc[4, "Date"]
    with pytest.raises(ValueError, match=r"keep one row per date$"):
        load(daily)


def test_a_repeated_hour_written_with_its_utc_offset_is_a_plain_duplicate():
    """Hourly crypto bars written 2024-01-01 05:00:00+00:00 repeat one bar: the same
    instant twice, which no daylight-saving change explains, yet the refusal advised
    writing each time with its UTC offset, as the file already does."""
    stamps = pd.date_range("2024-01-01", periods=12, freq="h", tz="UTC").astype(str)
    for written in (stamps, stamps.str.replace("+00:00", "Z")):
        frame = pd.DataFrame({"Date": written.insert(6, written[5]),
                              "Close": np.linspace(10.0, 20.0, 13)})
        with pytest.raises(ValueError, match=r"duplicate dates \(first 2024-01-01 05:00:00 "
                           r"at rows 5 and 6\); keep one row per date$"):
            load(frame)


def test_a_duplicate_date_in_a_newest_first_file_is_named_with_the_file_rows():
    """It was called unsorted ("sort the file"), as a reversed file is not increasing."""
    frame = table()
    frame.loc[5, "Date"] = frame.loc[4, "Date"]
    with pytest.raises(ValueError, match=r"1 duplicate dates \(first 2024-01-05 00:00:00 at "
                       r"rows 6 and 7\)"):
        load(frame.iloc[::-1])


def test_a_bad_value_is_named_with_the_date_the_file_writes():
    close = list(np.linspace(10.0, 21.0, 12))
    close[2] = "n/a"
    with pytest.raises(ValueError, match=r"first at row 2 \(Date '2024-01-03.*'\): 'n/a'"):
        load(table(Close=close))
    with pytest.raises(ValueError, match=r"first at row 2: 'n/a'"):
        load(table(Close=close), date_column=None)


def test_infinite_values_are_rejected():
    close = np.linspace(10.0, 21.0, 12)
    close[2] = np.inf
    with pytest.raises(ValueError, match="'Close' of t.csv has 1 infinite values"):
        load(table(Close=close))
    close[2] = 1e39      # beyond float32: its scaled values became inf, its metrics null
    with pytest.raises(ValueError, match=r"'Close' of t.csv holds 1e\+39 at row 2 \(Date "
                       r"'2024-01-03.*'\), beyond"):
        load(table(Close=close))


@pytest.mark.parametrize("jump, is_gap", [(7, False), (8, True)])
def test_a_gap_is_a_spacing_strictly_longer_than_max_gap_times_the_median(jump, is_gap):
    """Module docstring: closures up to 7x the median spacing are allowed (max_gap=7)."""
    dates = pd.date_range("2024-01-01", periods=12).append(
        pd.DatetimeIndex([pd.Timestamp("2024-01-12") + pd.Timedelta(days=jump)]))
    frame = table(n=13, Date=dates)
    if is_gap:
        with pytest.raises(ValueError, match=r"has 1 gaps longer than 7 x"):
            load(frame)
    else:
        s = load(frame)
        assert s.n == 13 and s.inserted_rows == 0


def test_a_name_matching_several_columns_ignoring_case_is_not_guessed():
    """"Close" with columns "close" and "CLOSE": no single match, so no column is picked."""
    frame = table().rename(columns={"Close": "close"})
    frame["CLOSE"] = frame["close"] * 2
    with pytest.raises(ValueError, match=r"no column 'Close'"):
        load(frame, columns=("Close",))
    assert load(frame.drop(columns="CLOSE"), columns=("Close",)).columns == ("close",)


def test_a_boolean_column_is_not_a_numeric_series():
    """The refusal named no fix."""
    frame = table(Up=[True, False] * 6)
    with pytest.raises(ValueError, match=r"column 'Up' of t.csv is boolean \(True/False\), not a "
                                         r"numeric series; write it as 1/0 and give it the "
                                         r"transform level"):
        load(frame, columns=("Close", "Up"))


def test_hours_across_a_daylight_saving_change_keep_their_true_order():
    """Wall-clock hours repeat when clocks go back (02:30+02:00, then 02:30+01:00); read
    as UTC, with a warning, they stay one hour apart and in order."""
    hours = ["2024-10-27 01:30+02:00", "2024-10-27 02:30+02:00", "2024-10-27 02:30+01:00",
             "2024-10-27 03:30+01:00"]
    with pytest.warns(UserWarning, match="'Date' of t.csv mixes UTC offsets") as told:
        s = load(pd.DataFrame({"Date": hours, "Close": [1.0, 2.0, 3.0, 4.0]}))
    assert str(told[0].message).endswith("to count local days, write local times without "
                                         "offsets")   # forecast has no data.timezone
    np.testing.assert_array_equal(np.diff(s.dates), np.timedelta64(3600, "s"))
    assert str(pd.Timestamp(s.dates[0])) == "2024-10-26 23:30:00" and s.utc
    same_offset = [h[:16] + "+05:00" for h in hours[:2]] + ["2024-10-27 03:30+05:00"]
    one = load(pd.DataFrame({"Date": same_offset, "Close": [1.0, 2.0, 3.0]}))
    assert str(pd.Timestamp(one.dates[0])) == "2024-10-27 01:30:00"   # its own wall clock
    assert not one.utc and not load(table()).utc


def test_unix_milliseconds_of_an_exchange_export_are_dates():
    hours = pd.date_range("2024-01-01", periods=5, freq="h")
    ms = (hours - pd.Timestamp("1970-01-01")) // pd.Timedelta(milliseconds=1)
    s = load(pd.DataFrame({"Date": ms, "Close": np.arange(5.0) + 1}))
    np.testing.assert_array_equal(s.dates, hours.to_numpy("datetime64[ns]"))
    assert s.utc


def test_times_with_and_without_an_offset_are_read_as_utc_with_a_warning():
    frame = pd.DataFrame({"Date": ["2020-03-28T10:00+01:00", "2020-03-29T10:00",
                                   "2020-03-30T10:00"], "Close": [1.0, 2.0, 3.0]})
    with pytest.warns(UserWarning, match="mixes UTC offsets"):
        s = load(frame)
    assert [str(pd.Timestamp(d)) for d in s.dates] == ["2020-03-28 09:00:00",
                                                       "2020-03-29 10:00:00",
                                                       "2020-03-30 10:00:00"]


def test_a_mistyped_column_name_gets_the_closest_column():
    with pytest.raises(ValueError, match=r"no column 'Volumne' \(did you mean 'Volume'\?\)"):
        load(table(), columns=("Volumne",))
    with pytest.raises(ValueError, match=r"no date column 'dat' \(did you mean 'Date'\?\)"):
        load(table(), date_column="dat")


def test_a_series_with_a_zone_reads_hours_as_instants_and_days_as_its_own_dates():
    """Hourly Parquet times on New York's clock repeat 01:00 at its change back: read as
    wall clocks they were refused as duplicates (told to write the offsets they have).
    They now read as their UTC instants; daily midnights keep their local dates (as UTC,
    Berlin's would fall on the day before)."""
    from fjax.data.timeseries import checked_dates
    hours = pd.date_range("2024-11-03 03:00", periods=6, freq="h", tz="UTC")
    frame = pd.DataFrame({"Date": hours.tz_convert("America/New_York"), "y": 1.0})
    with pytest.warns(UserWarning, match="'Date' of t.parquet mixes UTC offsets"):
        dates, _, utc, _ = checked_dates(frame, "Date", "t.parquet")
    assert utc and list(dates) == list(hours.tz_localize(None).to_numpy())
    for zone in ("Europe/Berlin", "America/New_York"):
        days = pd.date_range("2024-10-25", periods=12, freq="D", tz=zone)   # both changes
        dates, _, utc, _ = checked_dates(pd.DataFrame({"Date": days, "y": 1.0}), "Date", "t")
        assert not utc and [str(pd.Timestamp(d).date()) for d in dates] == \
            [str(d.date()) for d in days]


@pytest.mark.parametrize("zone, first", [("Europe/Berlin", "2024-10-24"),
                                         ("Europe/London", "2025-03-27")])
def test_a_daily_series_written_with_its_offsets_keeps_its_dates_across_a_dst_change(zone, first):
    """A tz-aware system's daily export writes each midnight with its day's offset (Berlin:
    +02:00, then +01:00). Read as UTC instants, every date fell on the day before at 22:00
    or 23:00, and London's spring change put two rows on 30 March; each row is now its
    written local date, one a day."""
    days = pd.date_range(first, periods=8, freq="D", tz=zone)
    written = [d.isoformat() for d in days]
    assert len({w[-6:] for w in written}) == 2                  # the change is in the file
    s = load(table(8, Date=written))
    assert not s.utc and s.inserted_rows == 0
    assert list(s.dates) == list(days.tz_localize(None).to_numpy())    # pandas' wall clocks
    assert set(np.diff(s.dates)) == {np.timedelta64(1, "D")}


@pytest.mark.parametrize("written", ["%Y-%m-%d %H:%M:%S+08:00", "%Y-%m-%dT%H:%M:%S+08:00",
                                     "%Y-%m-%d %H:%M+08:00"])   # after one with seconds:
def test_a_series_reads_its_dates_offset_from_the_one_parse(monkeypatch, written):
    """The offset of a file's clock (+08:00: 28800 s, by hand) came from parsing the dates
    a second time; it now comes with `read_dates`' own parse, so loading the series calls
    pandas' to_datetime no more often than reading its dates does (the oracle)."""
    from fjax.datasets import read_dates
    hours = pd.date_range("2024-03-01", periods=4, freq="h")
    text = list(hours.strftime(written))
    if written == "%Y-%m-%d %H:%M+08:00":   # formats that vary from row to row
        text[0] = hours[0].strftime("%Y-%m-%d %H:%M:%S+08:00")
    frame = pd.DataFrame({"Date": text, "Close": [1.0, 2.0, 3.0, 4.0]})
    calls, parse = [], pd.to_datetime

    def counted(*args, **kwargs):
        calls.append(1)
        return parse(*args, **kwargs)

    monkeypatch.setattr(pd, "to_datetime", counted)
    read_dates(frame["Date"], "d")
    alone = len(calls)
    series = load_series(frame, ["Close"], date_column="Date")
    assert series.offset == 28800 and not series.utc
    assert len(calls) - alone == alone


@pytest.mark.parametrize("dates, refusal", [
    (["01/02/2020", "03/04/2020"], "each date reads as day/month or as month/day"),
    ([1.5, 2.5], "holds numbers, not dates"),
    (["2020-01-01", "soon"], "is not parseable as dates")])
def test_each_date_refusal_names_the_setting_by_its_type(dates, refusal):
    """checked_dates turned every ValueError of read_dates into a DataSettingError, on the
    promise that each one ends with its --data.date-column fix; read_dates now raises the
    class it is given, so a refusal's type comes from where its words are written."""
    from fjax.data.checks import DataSettingError
    from fjax.data.timeseries import checked_dates
    from fjax.datasets import read_dates
    frame = pd.DataFrame({"Date": dates, "y": 1.0})
    with pytest.raises(DataSettingError, match=refusal) as refused:
        checked_dates(frame, "Date", "t.csv")
    assert str(refused.value).endswith("or pass --data.date-column None to use the row order")
    with pytest.raises(ValueError, match=refusal) as plain:
        read_dates(frame["Date"], "column 'Date'")
    assert type(plain.value) is ValueError
    with pytest.raises(DataSettingError, match=refusal):
        read_dates(frame["Date"], "column 'Date'", fix=", or set data.x", error=DataSettingError)
