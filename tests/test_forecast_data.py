"""Forecast data preparation: the default equals the peers' tutorial recipe, scalers see
training rows only, and bad files fail before any training."""

import dataclasses
import gzip
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import MinMaxScaler

from fjax.datasets import dataset_path
from fjax.tasks.forecast.config import EvaluationConfig, ForecastDataConfig
from fjax.tasks.forecast.config import Config
from fjax.tasks.forecast.data import data_facts, prepare, spacing_facts
from fjax.tasks.forecast.training import setup
from fjax.tasks.forecast.report import _spacing_lines, repairs_line, scaler_text
from fjax.data.windows import target_rows


def peer_windows(close, lookback=60, horizon=1, train_frac=0.8):
    """shared/peers/common.py make_windows, restated."""
    n = len(close)
    train_len = math.ceil(n * train_frac)
    scaler = MinMaxScaler(feature_range=(0, 1)).fit(close[:train_len].reshape(-1, 1))
    scaled = scaler.transform(close.reshape(-1, 1)).ravel()

    def build(starts):
        x = np.stack([scaled[i - lookback:i] for i in starts])[..., None]
        y = np.stack([scaled[i:i + horizon] for i in starts])
        return x.astype(np.float32), y.astype(np.float32)

    return (*build(range(lookback, train_len - horizon + 1)),
            *build(range(train_len, n - horizon + 1)))


@pytest.mark.parametrize("horizon", [1, 5])
def test_default_windows_equal_the_peers_recipe(horizon):
    with gzip.open(dataset_path("sp500")) as f:
        close = pd.read_csv(f)["Close"].to_numpy(np.float64)
    data = prepare(ForecastDataConfig(horizon=horizon))
    x_tr, y_tr, x_te, y_te = peer_windows(close, horizon=horizon)
    train, test = data.plan.train[0] > 0, data.plan.test[0] > 0
    np.testing.assert_allclose(data.x[train], x_tr, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(data.y[train], y_tr, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(data.x[test], x_te, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(data.y[test], y_te, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(data.actual[test][:, 0], close[math.ceil(0.8 * len(close)):
                                                                 len(close) - horizon + 1])


def random_walk(tmp_path, n=240, name="rw.csv", seed=0, **columns):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"Date": pd.bdate_range("2021-01-01", periods=n),
                          "price": 50 * np.exp(np.cumsum(0.02 * rng.standard_normal(n))),
                          "volume": rng.uniform(1e3, 2e3, n), **columns})
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path, frame


@pytest.mark.parametrize("kw", [
    dict(scaler="minmax"), dict(scaler="robust", transform="diff", features=("volume",)),
    dict(scaler="standard", transform="log_return", origins=3, val_fraction=0.1, gap=2),
    dict(scaler="standard", features=("volume",), feature_transforms=("log_return",)),
    dict(scaler="minmax", transform="diff", features=("volume",), feature_transforms=("log",),
         origins=2, training="rolling"),
])
def test_each_origins_scalers_see_only_its_training_rows(tmp_path, kw):
    """Changing every row from the end of origin k's training span on moves neither the
    scalers nor the training windows of origins 0..k, and moves every later origin's
    scalers (they fit on their own, longer, history)."""
    path, frame = random_walk(tmp_path)
    cfg = ForecastDataConfig(path=str(path), target="price", window=10, horizon=3, **kw)
    data = prepare(cfg)
    assert len(data.scalers) == data.plan.k and len(data.x) == data.plan.k * data.windows
    for k in range(data.plan.k):
        end = data.plan.spans[k]["train"][1]
        changed = frame.copy()
        factor = np.random.default_rng(1).uniform(0.5, 2.0, (len(frame) - end, 2))
        changed.loc[end:, ["price", "volume"]] *= factor
        path2 = tmp_path / "changed.csv"
        changed.to_csv(path2, index=False)
        data2 = prepare(ForecastDataConfig(**{**cfg.__dict__, "path": str(path2)}))
        for j in range(data.plan.k):
            same = all(np.array_equal(getattr(data.scalers[j], s), getattr(data2.scalers[j], s))
                       for s in ("offset", "scale"))
            assert same == (j <= k), (k, j)
        for j in range(k + 1):
            train = data.rows(np.nonzero(data.plan.train[j] > 0)[0], j)
            np.testing.assert_array_equal(data.x[train], data2.x[train])
            np.testing.assert_array_equal(data.y[train], data2.y[train])
        test = data.test_rows
        assert not np.array_equal(data.y[test], data2.y[test])
        for c in range(1, data.x.shape[2]):   # each feature's later values reach the test inputs
            assert not np.array_equal(data.x[test, :, c], data2.x[test, :, c])


@pytest.mark.parametrize("training, rows", [("expanding", None), ("rolling", 50)])
def test_each_origin_is_scaled_by_a_fit_on_exactly_its_training_rows(tmp_path, training, rows):
    """n = 200, test 0.3: the test span [140, 200) in 3 blocks cut at 140, 160, 180, so
    origin k trains on the rows before its cut (the last 50 when rolling). Min-max
    statistics of [price, log volume] over exactly those rows (numpy) scale origin k's
    block of every window."""
    path, frame = random_walk(tmp_path, n=200)
    cfg = ForecastDataConfig(path=str(path), target="price", features=("volume",),
                             feature_transforms=("log",), window=5, horizon=2,
                             test_fraction=0.3, origins=3, training=training, rolling_rows=rows)
    data = prepare(cfg)
    z = np.column_stack([frame["price"], np.log(frame["volume"])])
    t = data.plan.origins
    for k, cut in enumerate((140, 160, 180)):
        fit = z[(cut - rows if rows else 0):cut]
        lo, hi = fit.min(axis=0), fit.max(axis=0)
        np.testing.assert_allclose(data.scalers[k].offset, lo, rtol=1e-12)
        np.testing.assert_allclose(data.scalers[k].scale, hi - lo, rtol=1e-12)
        scaled = (z - lo) / (hi - lo)
        block = data.rows(np.arange(len(t)), k)
        want_x = np.stack([scaled[i - 5:i] for i in t])
        want_y = (z[t[:, None] + np.arange(2), 0] - lo[0]) / (hi[0] - lo[0])
        np.testing.assert_allclose(data.x[block], want_x, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(data.y[block], want_y, rtol=1e-6, atol=1e-6)
        steps = np.abs(np.diff(frame["price"].to_numpy()[(cut - rows if rows else 0):cut]))
        assert data.naive_scale(k) == pytest.approx(steps.mean(), rel=1e-12)


HAND = pd.DataFrame({"price": [10., 11, 12, 11, 13, 14, 13, 15, 16, 15, 17, 18],
                     "rsi": [50., 55, 61, 48, 52, 70, 65, 40, 45, 58, 82, 66],
                     "volume": [100., 200, 150, 300, 120, 240, 180, 90, 360, 270, 135, 2000]})


@pytest.mark.parametrize("transform", ["price", "log_return"])
def test_each_feature_is_transformed_by_its_own_and_windows_stay_aligned(tmp_path, transform):
    """An RSI as a level and volume as log returns, against numpy: volume's row 0 is
    undefined, so every column's windows start at row 1; min-max statistics come from
    the training rows [1, 9) only (test_fraction 0.25 of 12 rows)."""
    path = tmp_path / "hand.csv"
    HAND.to_csv(path, index=False)
    cfg = ForecastDataConfig(path=str(path), date_column=None, target="price",
                             features=("rsi", "volume"), feature_transforms=("level", "log_return"),
                             transform=transform, window=3, horizon=1, test_fraction=0.25,
                             scaler="minmax")
    data = prepare(cfg, EvaluationConfig(season=2, moving_average=2))
    p, v = HAND["price"].to_numpy(), HAND["volume"].to_numpy()
    target = p if transform == "price" else np.r_[np.nan, np.log(p[1:] / p[:-1])]
    z = np.column_stack([target, HAND["rsi"], np.r_[np.nan, np.log(v[1:] / v[:-1])]])
    lo, hi = z[1:9].min(axis=0), z[1:9].max(axis=0)
    scaled = (z - lo) / (hi - lo)
    assert scaled[10, 1] > 1 and scaled[11, 2] > 1   # the test rows lie outside their range
    np.testing.assert_array_equal(data.plan.origins, np.arange(4, 12))
    want = np.stack([scaled[t - 3:t] for t in range(4, 12)])
    np.testing.assert_allclose(data.x, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(data.y[:, 0], scaled[4:12, 0], rtol=1e-6, atol=1e-7)
    assert data.plan.spans[0]["train"] == (1, 9)
    facts = data_facts(data, cfg)
    assert facts["input_transforms"] == {"price": transform, "rsi": "level",
                                         "volume": "log_return"}
    assert facts["first_input_row"] == 1


@pytest.mark.parametrize("transform", ["price", "diff", "log_return"])
def test_features_transformed_like_the_target_equal_the_default(tmp_path, transform):
    path, _ = random_walk(tmp_path)
    kw = dict(path=str(path), target="price", features=("volume",), transform=transform,
              window=10, horizon=2)
    like = {"price": "level", "diff": "diff", "log_return": "log_return"}[transform]
    default = prepare(ForecastDataConfig(**kw))
    given = prepare(ForecastDataConfig(**kw, feature_transforms=(like,)))
    assert default.feature_transforms == (like,)
    np.testing.assert_array_equal(default.x, given.x)
    np.testing.assert_array_equal(default.y, given.y)
    assert default.naive_scale(0) == given.naive_scale(0)


def test_a_differenced_feature_leaves_the_mase_scale_alone(tmp_path):
    """Its inputs start at row 1, but the target's naive scale is the same as without it."""
    path, _ = random_walk(tmp_path)
    kw = dict(path=str(path), target="price", features=("volume",), window=10)
    level = prepare(ForecastDataConfig(**kw))
    diff = prepare(ForecastDataConfig(**kw, feature_transforms=("diff",)))
    assert (level.first, diff.first) == (0, 1)
    assert diff.naive_scale(0) == level.naive_scale(0)


def test_a_nonpositive_price_in_a_newest_first_file_is_named_by_its_date(tmp_path):
    """Time-order row 100 of a reversed file is file line ~140 here: "row 100" misled."""
    path, frame = random_walk(tmp_path, n=240)
    frame.loc[100, "price"] = 0.0
    frame.iloc[::-1].to_csv(path, index=False)
    when = frame.loc[100, "Date"]
    with pytest.warns(UserWarning, match="newest first"):
        with pytest.raises(ValueError, match=rf"column 'price' of '.*rw.csv' has 1 values <= 0 "
                           rf"\(first on {when}: 0.0\)"):
            prepare(ForecastDataConfig(path=str(path), target="price", window=10,
                                       transform="log_return"))


def test_a_log_feature_on_nonpositive_values_names_the_column_and_the_fix(tmp_path):
    path, frame = random_walk(tmp_path, spread=np.linspace(1.0, -1.0, 240))
    kw = dict(path=str(path), target="price", features=("volume", "spread"), window=10)
    with pytest.raises(ValueError, match=r"column 'spread' of '.*rw.csv' has 120 values <= 0 "
                       r"\(first on 2021-06-18 00:00:00: .*\); log returns need positive "
                       r"values; give it log1p \(a volume with zeros\), level or diff "
                       r"in --data.feature-transforms"):
        prepare(ForecastDataConfig(**kw, feature_transforms=("log", "log_return")))
    with pytest.raises(ValueError, match=r"column 'spread' of .* has 120 values <= 0 .* "
                       r"transformed like the target"):   # unset: the target's log returns
        prepare(ForecastDataConfig(**kw, transform="log_return"))
    data = prepare(ForecastDataConfig(**kw, feature_transforms=("log", "level")))
    np.testing.assert_allclose(data.scalers[0].inverse_transform(
        np.asarray(data.x[0], np.float64))[:, 1:], np.c_[np.log(frame["volume"]),
                                                         frame["spread"]][:10], rtol=1e-6)


def test_a_volume_with_zero_bars_reads_as_log1p(tmp_path):
    """`--data.feature-transforms log` refuses a zero-volume bar; log1p windows hold
    numpy's log(1 + volume), unscaled back exactly."""
    volume = np.r_[0.0, np.random.default_rng(3).lognormal(5, 1, 239)]
    path, frame = random_walk(tmp_path, volume=np.where(np.arange(240) == 7, 0.0, volume))
    kw = dict(path=str(path), target="price", features=("volume",), window=10)
    with pytest.raises(ValueError, match=r"column 'volume' .* 2 values <= 0 .* give it log1p"):
        prepare(ForecastDataConfig(**kw, feature_transforms=("log",)))
    data = prepare(ForecastDataConfig(**kw, feature_transforms=("log1p",)))
    np.testing.assert_allclose(data.scalers[0].inverse_transform(
        np.asarray(data.x[0], np.float64))[:, 1], np.log1p(frame["volume"][:10]), rtol=1e-6,
        atol=1e-6)


def test_a_feature_constant_over_the_training_rows_is_refused(tmp_path):
    """A column of ones, or a trend under `diff` (all ones), is refused like a constant
    target; the trend as a level varies and passes. Later rows may vary: the training
    rows decide, as the scaler is fitted there."""
    ones = np.r_[np.ones(200), np.linspace(1, 2, 40)]
    path, _ = random_walk(tmp_path, const=ones, trend=np.arange(240.0))
    kw = dict(path=str(path), target="price", window=10)
    with pytest.raises(ValueError, match=r"feature 'const' of .* is constant over the training "
                       r"rows 0-191 after its transform `level` \(every value 1\): .* drop it "
                       r"from --data.features"):
        prepare(ForecastDataConfig(**kw, features=("volume", "const")))
    with pytest.raises(ValueError, match=r"feature 'trend' .* after its transform `diff` "
                       r"\(every value 1\)"):
        prepare(ForecastDataConfig(**kw, features=("trend",), transform="diff"))
    prepare(ForecastDataConfig(**kw, features=("trend",), feature_transforms=("level",),
                               transform="diff"))


def test_values_whose_squares_overflow_float32_are_refused_before_training(tmp_path):
    """Prices in units of 1e20 under --data.scaler none (1e22 into the model) passed
    every check; the first epoch's squared errors overflowed float32 and the run was
    reported as diverged, blaming the learning rate. Scaled, the same file prepares."""
    rng = np.random.default_rng(0)
    big = 1e20 * 50 * np.exp(np.cumsum(0.02 * rng.standard_normal(240)))
    path, _ = random_walk(tmp_path, big=big)
    kw = dict(path=str(path), target="big", window=10)
    with pytest.raises(ValueError, match=r"column 'big' of .* reaches the model as 5.\d+e\+21 "
                       r"at row 0 .*scaled by none\), beyond the \+-1.8e\+15 .*--data.scaler"):
        prepare(ForecastDataConfig(**kw, scaler="none"))
    assert np.abs(prepare(ForecastDataConfig(**kw)).x).max() <= 1   # min-max: [0, 1]
    # A feature level far outside its training rows' range, under a fitted scaler.
    volume = np.r_[np.linspace(1, 2, 239), 1e30]
    path, _ = random_walk(tmp_path, name="v.csv", spike=volume)
    # The limit holds for every input column, so the message blames no squared error.
    with pytest.raises(ValueError, match=r"column 'spike' .* at row 239 \(its value 1e\+30 "
                                         r"after its transform, scaled by minmax\), beyond "
                                         r"the \+-1.8e\+15 an input may reach the model "
                                         r"with: float32 overflows in the model's products"):
        prepare(ForecastDataConfig(path=str(path), target="price", window=10,
                                   features=("spike",), feature_transforms=("level",)))


def test_facts_describe_spans_and_range(tmp_path):
    path, _ = random_walk(tmp_path)
    data = prepare(ForecastDataConfig(path=str(path), target="price", window=10, origins=2))
    facts = data_facts(data, ForecastDataConfig(path=str(path), target="price"))
    assert [s["origin"] for s in facts["spans"]] == [1, 2]
    assert sum(s["test_windows"] for s in facts["spans"]) == len(data.test_index)
    assert 0.0 <= facts["test_targets_outside_training_range"] <= 1.0


def test_the_spans_table_gives_the_test_windows_first_target_dates(tmp_path):
    """With H = 5 the last test window's first target is 4 rows before the series' end;
    an earlier origin's last window starts on its span's last row."""
    path, frame = random_walk(tmp_path)
    cfg = ForecastDataConfig(path=str(path), target="price", window=10, horizon=5, origins=2)
    facts = data_facts(prepare(cfg), cfg)
    dates = frame["Date"].astype(str).to_numpy()
    assert facts["spans"][1]["test_dates"][1] == dates[-5]
    assert facts["spans"][0]["test_dates"][1] == dates[facts["spans"][1]["test_rows"][0] - 1]
    assert facts["spans"][0]["test_dates"][0] == dates[facts["spans"][0]["test_rows"][0]]


def test_filling_the_nights_of_session_data_warns_and_the_report_says_so(tmp_path):
    """Hourly bars 9:00-16:00 on trading days: ffill inserts the nights and weekends, 70%
    of the rows; one missing day of daily data (under 10%) passes quietly."""
    days = pd.bdate_range("2024-01-01", periods=40)
    stamps = [d + pd.Timedelta(hours=h) for d in days for h in range(9, 17)]
    path, _ = random_walk(tmp_path, n=len(stamps), name="bars.csv")
    frame = pd.read_csv(path).assign(Date=[str(t) for t in stamps])
    frame.to_csv(path, index=False)
    cfg = ForecastDataConfig(path=str(path), target="price", window=10, missing="ffill")
    with pytest.warns(UserWarning, match=r"ffill inserted \d+ rows to close date gaps\. "
                      r"Inserted rows are 7\d% of the series: .* --data.max-gap"):
        data = prepare(cfg)
    assert data.series.inserted_rows / data.series.n > 0.7
    line = repairs_line(data_facts(data, cfg), "ffill")
    assert re.search(r"\*\*Inserted rows are 7\d% of the series: .*--data.max-gap", line)
    path, frame = random_walk(tmp_path, name="daily.csv")
    frame.drop(index=[100, 101, 102, 103, 104, 105]).to_csv(path, index=False)
    cfg = ForecastDataConfig(path=str(path), target="price", window=10, missing="ffill")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = prepare(cfg)
    assert data.series.inserted_rows > 0 and data_facts(data, cfg)["inserted_note"] is None


def test_missing_values_policy_through_prepare(tmp_path):
    path, frame = random_walk(tmp_path)
    frame.loc[[30, 31], "price"] = np.nan
    frame.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"missing values \('price': 2"):
        prepare(ForecastDataConfig(path=str(path), target="price", window=10))
    data = prepare(ForecastDataConfig(path=str(path), target="price", window=10, missing="ffill"))
    assert data.series.filled == {"price": 2}
    assert data.prices[31] == data.prices[29]


def test_too_few_rows_and_baseline_history(tmp_path):
    path, _ = random_walk(tmp_path, n=40)
    with pytest.raises(ValueError, match=r"40 rows are too few: origin 1 of 1 has no training"):
        prepare(ForecastDataConfig(path=str(path), target="price", window=30, horizon=5))
    with pytest.raises(ValueError, match=r"EvaluationConfig.season=5, .moving_average=60"):
        prepare(ForecastDataConfig(path=str(path), target="price", window=5),
                EvaluationConfig(moving_average=60))


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        prepare(ForecastDataConfig(path=str(tmp_path / "nope.csv")))


def test_parquet_reads_like_csv(tmp_path):
    path, frame = random_walk(tmp_path)
    frame.to_parquet(tmp_path / "rw.parquet")
    kw = dict(target="price", features=("volume",), window=10, horizon=2)
    a = prepare(ForecastDataConfig(path=str(path), **kw))
    b = prepare(ForecastDataConfig(path=str(tmp_path / "rw.parquet"), **kw))
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)


def test_report_dates_keep_the_time_of_intraday_data():
    """Hourly spans printed as days looked as if train and test overlapped."""
    from fjax.tasks.forecast.data import date_texts
    daily = np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[ns]")
    hourly = np.array(["2021-04-11T09:00", "2021-04-11T10:00"], dtype="datetime64[ns]")
    ticks = np.array(["2021-04-11T09:00:05", "2021-04-11T09:00:06"], dtype="datetime64[ns]")
    assert date_texts(daily) == ["2020-01-01", "2020-01-02"]
    assert date_texts(hourly) == ["2021-04-11 09:00", "2021-04-11 10:00"]
    assert date_texts(ticks) == ["2021-04-11 09:00:05", "2021-04-11 09:00:06"]
    assert date_texts(np.arange(2)) == ["0", "1"]


def test_spacing_names_the_longer_steps_a_max_gap_lets_through():
    """Hourly rows missing 3 hours pass max_gap 7; the report must still see them."""
    from fjax.tasks.forecast.data import spacing_facts
    from fjax.tasks.forecast.report import _spacing_lines
    hours = pd.date_range("2024-01-01", periods=48, freq="h").delete([10, 11, 12, 30]).to_numpy()
    s = spacing_facts(hours)
    assert (s["median"], s["longer"], s["longest"]) == ("1 hour", 2, "4 hours")
    assert s["longest_dates"] == ["2024-01-01 09:00", "2024-01-01 13:00"]
    assert "2 spacing(s) longer than 1.5x" in _spacing_lines(s, 7.0)[0]
    regular = spacing_facts(pd.date_range("2024-01-01", periods=10, freq="D").to_numpy())
    assert regular["longer"] == 0 and "none more than" in _spacing_lines(regular, 7.0)[0]
    assert spacing_facts(np.arange(10)) is None and _spacing_lines(None, 7.0) == []


def daily_with_outages(tmp_path) -> Path:
    """200 days of prices from 2024-01-01, without 2024-03-10 to 03-12 and 05-01."""
    days = pd.date_range("2024-01-01", periods=200, freq="D")
    lost = days.isin(pd.to_datetime(["2024-03-10", "2024-03-11", "2024-03-12", "2024-05-01"]))
    path = tmp_path / "btc.csv"
    prices = 100 + np.cumsum(np.random.default_rng(0).standard_normal(200))
    pd.DataFrame({"Date": days, "price": prices})[~lost].to_csv(path, index=False)
    return path


def test_outages_of_a_series_that_runs_every_day_are_named(tmp_path):
    """Crypto trades every day: a 4-day outage is 4x the median, under max_gap 7 (sized for
    trading days' 3-day weekends), so it passed unfilled and unnamed. Days 2024-03-10 to
    03-12 and 05-01 are missing: spacings of 4 and 2 days. Trading days with a 4-day
    holiday weekend stay quiet: their weekends explain their longer spacings."""
    cfg = ForecastDataConfig(path=str(daily_with_outages(tmp_path)), target="price", window=10)
    with pytest.warns(UserWarning, match=r"run through weekends \(2\d% of them.* 2 spacing\(s\) "
                      r"exceed 1.5x the median 1 day.*the longest 4 days from 2024-03-09 to "
                      r"2024-03-13; 2 days from 2024-04-30 to 2024-05-02\. .*--data.max-gap 1.5"):
        data = prepare(cfg)
    assert data.series.inserted_rows == 0
    line = _spacing_lines(data_facts(data, cfg)["spacing"], cfg.max_gap)[0]
    assert "**Outages: the rows run through weekends" in line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        filled = prepare(dataclasses.replace(cfg, max_gap=1.5, missing="ffill"))
        assert filled.series.inserted_rows == 4
        path, frame = random_walk(tmp_path, name="trading.csv")   # business days
        frame.drop(index=[40]).to_csv(path, index=False)          # a Friday: 4 days
        data = prepare(ForecastDataConfig(path=str(path), target="price", window=10))
    assert "4 days" in (line := _spacing_lines(spacing_facts(data.series.dates), 7.0)[0])
    assert "Outages" not in line


def test_a_runs_spacing_is_read_once_and_reported(tmp_path, monkeypatch):
    """`prepare` reads the dates' spacing once (its outage warning) and the report's facts
    reuse it: by hand, days 2024-03-10 to 03-12 and 05-01 missing leave 2 spacings over
    1.5 days, the longest 4 days from 03-09 to 03-13."""
    import fjax.tasks.forecast.data as forecast_data
    cfg = ForecastDataConfig(path=str(daily_with_outages(tmp_path)), target="price", window=10)
    calls = []

    def counted(dates):
        calls.append(len(dates))
        return spacing_facts(dates)

    monkeypatch.setattr(forecast_data, "spacing_facts", counted)
    with pytest.warns(UserWarning, match="run through weekends"):
        data = prepare(cfg)
    s = data_facts(data, cfg)["spacing"]
    assert calls == [196]
    assert (s["median"], s["longer"], s["longest"]) == ("1 day", 2, "4 days")
    assert s["longest_dates"] == ["2024-03-09", "2024-03-13"]


def test_spacings_read_as_a_person_says_them():
    """The report said rows were "a median 1 days 00:00:00 apart" (pandas' text)."""
    from fjax.data.timeseries import duration_text
    ns = pd.Timedelta
    assert duration_text(ns(days=1).value) == "1 day"
    assert duration_text(ns(days=7).value) == "7 days"
    assert duration_text(ns(days=2, hours=6).value) == "2 days 6 hours"
    assert duration_text(ns(minutes=15).value) == "15 minutes"
    assert duration_text(ns(hours=1, seconds=1).value) == "1 hour 1 second"
    for fraction in (ns(milliseconds=5), ns(seconds=1, milliseconds=500)):
        assert duration_text(fraction.value) == str(fraction)


@pytest.mark.parametrize("dates, season, words", [
    (pd.bdate_range("2024-01-01", periods=300), 5, "a week of rows"),          # trading days
    (pd.date_range("2024-01-01", periods=300, freq="D"), 7, "a week of rows"),  # crypto, 24/7
    (pd.date_range("2024-01-01", periods=500, freq="h"), 24, "a day of rows"),
    (pd.bdate_range("2024-01-01", periods=60).repeat(7)
     + pd.to_timedelta(np.tile(np.arange(9, 16), 60), unit="h"), 7, "a day of rows"),
    (pd.date_range("2010-01-31", periods=120, freq="ME"), 12, "a year of rows"),
    (pd.date_range("2010-01-03", periods=400, freq="W"), 52, "a year of rows"),
    # Fewer than three calendar periods: the period's length over the median spacing.
    (pd.date_range("2010-01-03", periods=80, freq="W"), 52, "a year of rows at the median"),
    (pd.date_range("2010-01-31", periods=20, freq="ME"), 12, "a year of rows at the median"),
    (pd.date_range("2024-01-01 09:00", periods=30, freq="h"), 24, "a day of rows at the"),
])
def test_the_seasonal_naive_period_is_inferred_from_the_dates(dates, season, words):
    """Weekends of S&P data give 5; a 24/7 series 7; trading hours (09-15) 7 a day."""
    from fjax.tasks.forecast.data import infer_season
    got, how = infer_season(pd.DatetimeIndex(dates).to_numpy())
    assert got == season and how.startswith(words)
    assert infer_season(np.arange(50)) == (5, "a trading week of daily rows; the rows have "
                                               "no dates to tell")


def test_a_set_season_wins_and_the_report_says_how_it_was_chosen(tmp_path):
    path = tmp_path / "crypto.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame({"Date": pd.date_range("2024-01-01", periods=200, freq="D"),
                  "price": 100 + np.cumsum(rng.standard_normal(200))}).to_csv(path, index=False)
    cfg = ForecastDataConfig(path=str(path), target="price", window=10)
    inferred = prepare(cfg)
    assert (inferred.season, data_facts(inferred, cfg)["season"]) == (7, 7)
    chosen = prepare(cfg, EvaluationConfig(season=3))
    assert (chosen.season, chosen.season_words) == (3, "set by --evaluation.season")


@pytest.mark.parametrize("horizon", [1, 3])
def test_filled_rows_are_never_scored(tmp_path, horizon):
    """With ffill, the rows inserted for a gap (and forward-filled targets) carry the
    last price: as test targets they scored the naive forecast as perfect."""
    rng = np.random.default_rng(1)
    dates = pd.date_range("2024-01-01", periods=300, freq="D")
    prices = 100 + np.cumsum(rng.standard_normal(300))
    frame = pd.DataFrame({"Date": dates, "price": prices}).drop(index=range(262, 274))
    frame.loc[frame.index[250], "price"] = np.nan          # a hole in the target too
    frame.loc[frame.index[100], "price"] = np.nan          # and one in training
    path = tmp_path / "gappy.csv"
    frame.to_csv(path, index=False)
    cfg = ForecastDataConfig(path=str(path), target="price", window=10, horizon=horizon,
                             missing="ffill", max_gap=3, val_fraction=0.1)
    data = prepare(cfg)
    observed = set(pd.to_datetime(frame.dropna()["Date"]))
    made = ~np.isin(data.series.dates, np.array(sorted(observed), dtype="datetime64[ns]"))
    # each step forecasting one of the 12 inserted days or a hole is masked, and only
    # those; a window goes only when all of its steps are (one step: H = 1)
    touched = made[target_rows(data.plan.origins, horizon)]
    np.testing.assert_array_equal(data.observed, ~touched)
    for mask in (data.plan.train[0], data.plan.val[0], data.plan.test[0]):
        np.testing.assert_array_equal(mask > 0, (mask > 0) & ~touched.all(axis=1))
    span = data.plan.origins >= 240                      # the test span's windows
    assert (data.plan.test[0] > 0).sum() == span.sum() - touched.all(axis=1)[span].sum()
    assert data.unscored_targets == int(touched[span].sum()) > 0
    assert data_facts(data, cfg)["unscored_test_targets"] == data.unscored_targets
    mask = setup(Config(data=cfg), data).arrays.get("target_mask")   # what the loss reads
    np.testing.assert_array_equal(mask, (~touched).astype(np.float32))
    # The MASE scale: one-day moves between observed prices of the scaler's rows only
    # (a filled row's zero move shrank it; the two-day move over the hole inflated it).
    start, end = data.plan.spans[0]["train"]
    seen = frame.dropna()
    rows = seen[(pd.to_datetime(seen["Date"]) >= pd.Timestamp(data.series.dates[start]))
                & (pd.to_datetime(seen["Date"]) < pd.Timestamp(data.series.dates[end]))]
    one_day = np.diff(pd.to_datetime(rows["Date"])) == pd.Timedelta(days=1)
    assert data.naive_scale(0) == pytest.approx(np.mean(np.abs(np.diff(rows["price"]))[one_day]))


def test_the_mase_scale_counts_only_steps_between_two_observed_hours(tmp_path):
    """Hours 6-8 are missing and hour 12's price is blank; ffill carries the last price
    over both. The in-sample naive MAE is NumPy's NaN-skipping mean of one-hour moves on
    the hourly grid (as R's forecast and fable drop a difference that touches an NA): the
    moves out of the filled rows, 5 -> 9 and 11 -> 13, span hours and are left out."""
    p = np.array([100., 101, 99, 102, 100, 103, np.nan, np.nan, np.nan, 140, 141, 139,
                  np.nan, 170, 171, 169, 172, 170, 173, 171, 174, 172], np.float64)
    dates = pd.date_range("2024-01-01", periods=len(p), freq="h")
    frame = pd.DataFrame({"Date": dates, "price": p})
    frame = frame.drop(index=[6, 7, 8])
    frame.to_csv(tmp_path / "hours.csv", index=False)
    cfg = ForecastDataConfig(path=str(tmp_path / "hours.csv"), target="price", window=3,
                             missing="ffill", max_gap=2, test_fraction=0.2)
    with pytest.warns(UserWarning, match="inserted 3 rows"):
        data = prepare(cfg, EvaluationConfig(season=2, moving_average=2))
    np.testing.assert_array_equal(data.series.dates, dates.to_numpy())
    start, end = data.plan.spans[0]["train"]
    assert end > 14                                 # both gaps lie in the training rows
    want = np.nanmean(np.abs(np.diff(p[start:end])))
    assert data.naive_scale(0) == pytest.approx(want, rel=1e-12)


def test_test_targets_are_judged_against_their_own_origins_training_range(tmp_path):
    """Prices near 100, then near 150 from row 170; origin 1 trains on rows before 160,
    origin 2 on rows before 180, which include the new level. Half of origin 1's test
    targets (rows 170-179) lie outside what it trained on, none of origin 2's (rows
    180-199): 10 of 40, not the 30 that origin 1's range alone gives."""
    price = np.r_[np.tile([99.0, 101.0], 80), np.full(10, 100.0), np.tile([149.0, 151.0], 5),
                  np.full(20, 150.0)]
    frame = pd.DataFrame({"Date": pd.bdate_range("2020-01-01", periods=200), "price": price})
    frame.to_csv(tmp_path / "p.csv", index=False)
    cfg = ForecastDataConfig(path=str(tmp_path / "p.csv"), target="price", window=10,
                             origins=2)
    data = prepare(cfg)
    facts = data_facts(data, cfg)
    assert [s["test_rows"] for s in facts["spans"]] == [[160, 180], [180, 200]]
    assert [s["train_rows"][1] for s in facts["spans"]] == [160, 180]
    assert facts["test_targets_outside_training_range"] == pytest.approx(10 / 40)


@pytest.mark.parametrize("transform", ["diff", "log_return"])
def test_changes_are_standardized_unless_a_scaler_is_given(tmp_path, transform):
    """Returns and differences default to the standard scaler (float64 numpy mean and
    std of the training rows' changes): under min-max one 40% crash set the range and
    squeezed every ordinary day into a sliver of [0, 1]. Prices keep the tutorial's
    min-max, and a given scaler is used as given."""
    rng = np.random.default_rng(5)
    r = 0.02 * rng.standard_t(3, 400)
    r[100] = -0.5                                   # a crash in the training rows
    price = 1000 * np.exp(np.cumsum(r))
    pd.DataFrame({"Date": pd.date_range("2021-01-01", periods=400, freq="D"),
                  "close": price}).to_csv(tmp_path / "c.csv", index=False)
    cfg = ForecastDataConfig(path=str(tmp_path / "c.csv"), target="close", window=10,
                             horizon=3, transform=transform)
    scaler = prepare(cfg).scalers[0]
    start, end = prepare(cfg).plan.spans[0]["train"]
    z = np.diff(np.log(price) if transform == "log_return" else price)[start - 1:end - 1]
    assert scaler.kind == "standard"
    np.testing.assert_allclose([scaler.offset[0], scaler.scale[0]], [z.mean(), z.std()],
                               rtol=1e-12)
    given = dataclasses.replace(cfg, scaler="minmax")
    assert prepare(given).scalers[0].kind == "minmax"
    levels = dataclasses.replace(cfg, transform="price")
    assert prepare(levels).scalers[0].kind == "minmax"


@pytest.mark.parametrize("transform", ["price", "log_return"])
def test_auto_scales_each_column_by_its_own_transform(tmp_path, transform):
    """Under `--data.scaler auto` each column's scaler follows its own transform: levels
    and logs min-max (numpy min and range of the column's training values), diff and
    log_return standard (numpy mean and std), per origin; a log-return feature of a
    price target was min-max scaled, its largest move setting the range."""
    rng = np.random.default_rng(3)
    spread = rng.standard_normal(240)
    path, frame = random_walk(tmp_path, spread=spread, other=50 + np.cumsum(spread))
    names = ("volume", "spread", "other", "price_too")
    frame["price_too"] = frame["price"] * 1.5
    frame.to_csv(path, index=False)
    cfg = ForecastDataConfig(path=str(path), target="price", window=10, transform=transform,
                             features=names, origins=2,
                             feature_transforms=("log", "level", "diff", "log_return"))
    data = prepare(cfg)
    columns = {"price": np.log(frame["price"]) if transform == "log_return" else frame["price"],
               "volume": np.log(frame["volume"]), "spread": frame["spread"],
               "other": frame["other"], "price_too": np.log(frame["price_too"])}
    changes = {"price": transform == "log_return", "other": True, "price_too": True}
    for scaler, span in zip(data.scalers, data.plan.spans):
        start, end = span["train"]
        for j, name in enumerate(("price", *names)):
            v = np.asarray(columns[name], np.float64)
            if changes.get(name, False):
                train = np.diff(v)[start - 1:end - 1]
                want = [train.mean(), train.std()]
            else:
                train = v[start:end]
                want = [train.min(), train.max() - train.min()]
            np.testing.assert_allclose([scaler.offset[j], scaler.scale[j]], want, rtol=1e-12,
                                       err_msg=name)


def test_a_validation_span_of_only_filled_targets_is_refused_never_scored_zero(tmp_path):
    """A validation span whose every target was forward-filled would have loss weight 0
    (its mean reads 0, a 'best' epoch); it is refused naming the fields. One observed
    target left (row 239, only the last window reaches it) keeps the span, weighted 1."""
    rng = np.random.default_rng(1)
    dates = pd.date_range("2024-01-01", periods=300, freq="D")
    frame = pd.DataFrame({"Date": dates, "price": 100 + np.cumsum(rng.standard_normal(300))})
    cfg = ForecastDataConfig(path=str(tmp_path / "holes.csv"), target="price", window=10,
                             horizon=3, missing="ffill", val_fraction=0.1)
    # 300 rows: validation targets are rows [211, 240) (ceil(300 * 0.7) in floats)
    frame.loc[210:239, "price"] = np.nan
    frame.to_csv(cfg.path, index=False)
    with pytest.raises(ValueError, match=r"every validation window of origin 1 .*"
                       r"--data.val-fraction / --data.test-fraction"):
        prepare(cfg)
    frame.loc[239, "price"] = 1.0
    frame.to_csv(cfg.path, index=False)
    data = prepare(cfg)
    assert data.plan.spans[0]["val"] == (211, 240)
    kept = data.plan.origins[data.plan.val[0] > 0]
    np.testing.assert_array_equal(kept, [237])
    assert data.observed[data.plan.val[0] > 0].sum() == 1


def test_a_target_never_observed_on_consecutive_rows_is_refused_before_training(tmp_path):
    """Prices on every other row (a feature sampled twice as often), filled by ffill, leave
    no one-step move between observed rows: the MASE scale was NaN (a mean of nothing),
    and every MASE with it, after training."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"Date": pd.date_range("2024-01-01", periods=200, freq="D"),
                          "price": 100 + np.cumsum(rng.standard_normal(200)),
                          "volume": rng.uniform(1, 2, 200)})
    frame.loc[frame.index[1::2], "price"] = np.nan
    path = tmp_path / "every_other.csv"
    frame.to_csv(path, index=False)
    cfg = ForecastDataConfig(path=str(path), target="price", features=("volume",), window=10,
                             missing="ffill")
    with pytest.raises(ValueError, match=r"'price' of .* observed on no two consecutive rows "
                                         r"of origin 0's training rows .*--data\.missing ffill"):
        prepare(cfg)


@pytest.mark.parametrize("transform,scaler", [("log_return", "standard"), ("diff", "robust"),
                                              ("price", "standard")])
def test_scalers_fit_on_observed_rows_and_steps_only(tmp_path, transform, scaler):
    """Hours 60-64 are missing and hour 110's price is blank; ffill carries the last price
    over both. Each origin's scaler is NumPy's float64 statistics of its training rows'
    inputs where they are observed: a filled row's level or zero change, and the move out
    of it spanning hours, are left out (as the MASE scale leaves them out), not of every
    filled row (which shrank a log-return scaler's std)."""
    rng = np.random.default_rng(3)
    hours = pd.date_range("2024-01-01", periods=240, freq="h")
    p = 100 * np.exp(np.cumsum(0.01 * rng.standard_normal(240)))
    p[60:65] = np.nan                                  # the outage's hours (rows dropped)
    p[110] = np.nan                                    # a blank price
    frame = pd.DataFrame({"Date": hours, "price": p}).drop(index=range(60, 65))
    frame.to_csv(tmp_path / "outage.csv", index=False)
    cfg = ForecastDataConfig(path=str(tmp_path / "outage.csv"), target="price", window=5,
                             transform=transform, scaler=scaler, missing="ffill",
                             max_gap=2, origins=2, test_fraction=0.3)
    data = prepare(cfg)
    assert data.series.inserted_rows == 5
    np.testing.assert_array_equal(data.series.dates, hours.to_numpy())
    truth = {"price": p, "diff": np.r_[np.nan, np.diff(p)],
             "log_return": np.r_[np.nan, np.diff(np.log(p))]}[transform]   # NaN: filled
    filled = {"price": data.series.values[:, 0],
              "diff": np.r_[np.nan, np.diff(data.series.values[:, 0])],
              "log_return": np.r_[np.nan, np.diff(np.log(data.series.values[:, 0]))]}[transform]

    def statistics(v):
        if scaler == "standard":
            return v.mean(), v.std()
        q1, med, q3 = np.percentile(v, [25, 50, 75])
        return med, q3 - q1

    for k, span in enumerate(data.plan.spans):
        start, end = span["train"]
        assert start <= 60 and end > 111                # the outage and the hole train
        seen = truth[start:end][~np.isnan(truth[start:end])]
        fitted = data.scalers[k].offset[0], data.scalers[k].scale[0]
        assert fitted == pytest.approx(statistics(seen), rel=1e-12)
        assert fitted != pytest.approx(statistics(filled[start:end]), rel=1e-6)
    text = scaler_text(data_facts(data, cfg), cfg.used_scalers, cfg.columns)
    assert "each column on its observed rows there: forward-filled values" in text
    clean = dataclasses.replace(cfg, path=str(dataset_path("sp500")), target="Close",
                                max_gap=7, missing="error")
    assert "observed rows" not in scaler_text(data_facts(prepare(clean), clean),
                                              clean.used_scalers, clean.columns)


def test_a_scaler_with_no_observed_training_step_is_refused_by_name(tmp_path):
    """Every other price blank: under log_return no training step joins two observed
    prices, so no scaler can be fitted; the error says why, not only 'no rows'."""
    p = 100 + np.arange(120, dtype=np.float64) % 7
    p[1::2] = np.nan
    frame = pd.DataFrame({"Date": pd.date_range("2024-01-01", periods=120, freq="h"),
                          "price": p})
    frame.to_csv(tmp_path / "p.csv", index=False)
    cfg = ForecastDataConfig(path=str(tmp_path / "p.csv"), target="price", window=5,
                             transform="log_return", missing="ffill")
    with pytest.raises(ValueError, match="'price' is observed on no training rows .* after "
                                         "an observed row"):
        prepare(cfg)


@pytest.mark.parametrize("volume_transform", ["log", "log_return"])
def test_a_features_own_holes_leave_only_its_scaler(tmp_path, volume_transform):
    """Every price is present; 'volume' is blank on hours 30-33 and 90 (ffill carries the
    last volume over them), 'spread' never is. Each origin's volume scaler is NumPy's
    float64 statistics of its training rows' observed volume inputs only (under
    log_return, the step out of a blank is left out too, spanning hours); the price's and
    the spread's are NumPy's over every training row, as without the blanks."""
    rng = np.random.default_rng(5)
    n = 200
    p = 100 * np.exp(np.cumsum(0.01 * rng.standard_normal(n)))
    volume = np.exp(10 + rng.standard_normal(n))
    spread = rng.standard_normal(n)
    blank = volume.copy()
    blank[[30, 31, 32, 33, 90]] = np.nan
    frame = pd.DataFrame({"Date": pd.date_range("2024-01-01", periods=n, freq="h"),
                          "price": p, "volume": blank, "spread": spread})
    frame.to_csv(tmp_path / "blank_volume.csv", index=False)
    cfg = ForecastDataConfig(path=str(tmp_path / "blank_volume.csv"), target="price",
                             window=5, transform="log_return", scaler="standard",
                             features=("volume", "spread"),
                             feature_transforms=(volume_transform, "level"), missing="ffill",
                             origins=2, test_fraction=0.3)
    data = prepare(cfg)
    assert data.series.made is None and data.series.filled == {"volume": 5}
    returns = np.r_[np.nan, np.diff(np.log(p))]
    truth = {"log": np.log(blank), "log_return": np.r_[np.nan, np.diff(np.log(blank))]}
    for k, span in enumerate(data.plan.spans):
        start, end = span["train"]
        assert start <= 30 and end > 92                 # the blanks and the steps out train
        seen = truth[volume_transform][start:end]
        seen = seen[~np.isnan(seen)]
        assert len(seen) == end - start - (5 if volume_transform == "log" else 7)
        for j, v in enumerate((returns[start:end], seen, spread[start:end])):
            fitted = data.scalers[k].offset[j], data.scalers[k].scale[j]
            assert fitted == pytest.approx((v.mean(), v.std()), rel=1e-12, abs=1e-15)
