"""The forecast after the data (`ahead.csv`, `ahead` in metrics.json): the latest origin's
reported members on the window ending at the file's last row, checked against a numpy
float64 rebuild from the CSV, and leaving every backtest number as it was."""

import importlib
import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from fjax.config import LossConfig, ModelConfig, SweepConfig, TrainConfig
from fjax.tasks.forecast import Config, ForecastDataConfig, run
from fjax.tasks.forecast.data import prepare
from fjax.tasks.forecast.evaluate import PriceForecast
from fjax.tasks.forecast.training import apply_fn_of
from test_forecast_run import write_prices

RUN = importlib.import_module("fjax.tasks.forecast.run")   # the module, not the function

QUANTILE = dict(data=dict(target="price", features=("volume",), transform="log_return",
                          window=10, horizon=3, origins=2),
                model=ModelConfig(kind="mlp", hidden=(16,)), loss=LossConfig(name="pinball"),
                train=TrainConfig(epochs=3, batch_size=32), sweep=SweepConfig(seeds=2))
GAUSSIAN = dict(data=dict(target="price", transform="diff", window=8, horizon=2,
                          val_fraction=0.1),
                model=ModelConfig(kind="linear"), loss=LossConfig(name="gaussian_nll"),
                train=TrainConfig(epochs=3, batch_size=32))
GRID = {"optim.learning_rate": [0.003, 0.1]}


def make_config(root, spec, out="out") -> Config:
    data = ForecastDataConfig(path=str(root / "prices.csv"), **spec["data"])
    return Config(out=str(root / out), data=data,
                  **{k: v for k, v in spec.items() if k != "data"})


def run_capturing(cfg, grid, monkeypatch):
    """The run folder and the trained populations (`train`'s results)."""
    seen = []

    def train(*args, **kwargs):
        seen.append(RUN_TRAIN(*args, **kwargs))
        return seen[-1]

    RUN_TRAIN = RUN.train
    monkeypatch.setattr(RUN, "train", train)
    out = run(cfg, grid, progress=False)
    monkeypatch.undo()
    return out, seen[0][1]


@pytest.fixture(scope="module", params=["quantile", "gaussian_sweep"])
def ahead_run(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    frame = write_prices(root / "prices.csv")
    spec, grid = (QUANTILE, None) if request.param == "quantile" else (GAUSSIAN, GRID)
    cfg = make_config(root, spec)
    with pytest.MonkeyPatch.context() as mp:
        out, results = run_capturing(cfg, grid, mp)
    return root, cfg, grid, frame, out, results


def inputs_by_hand(frame: pd.DataFrame, cfg: Config) -> np.ndarray:
    """The per-step inputs `f64[n, C]`: each column's difference, of logs for log_return."""
    d = cfg.data
    values = frame[[d.target, *d.features]].to_numpy(np.float64)
    if d.transform == "log_return":
        values = np.log(values)
    z = np.full_like(values, np.nan)
    z[1:] = np.diff(values, axis=0)
    return z


def window_by_hand(frame: pd.DataFrame, cfg: Config, metrics: dict, end: int) -> np.ndarray:
    """Rows [end - W, end) of the inputs, standardized with the mean and (population) std
    of the latest origin's training rows, computed here and checked against the run's
    own scaler parameters."""
    z = inputs_by_hand(frame, cfg)
    span = metrics["data"]["spans"][-1]
    start, stop = span["train_rows"]
    mean, std = z[start:stop].mean(axis=0), z[start:stop].std(axis=0)
    saved = span.get("scaler", metrics["data"].get("scaler"))
    np.testing.assert_allclose(saved["offset"], mean, rtol=1e-10)
    np.testing.assert_allclose(saved["scale"], std, rtol=1e-10)
    return (z[end - cfg.data.window:end] - mean) / std


def ahead_by_hand(frame, cfg, metrics, results, end) -> dict:
    """The forecast of the window ending before row `end`, from its last price, in
    float64 numpy: every reported member of the latest origin (the chosen learning rate
    in a sweep), outputs unscaled, inverted to prices, averaged over seeds."""
    d, k = cfg.data, len(metrics["data"]["spans"]) - 1
    x = window_by_hand(frame, cfg, metrics, end)[None].astype(np.float32)
    pop = results[0].population
    table = pop.table()
    rows = table[table["fold"] == k]
    if "optim.learning_rate" in metrics["selected"]:
        rows = rows[np.isclose(rows["learning_rate"], metrics["selected"]["optim.learning_rate"])]
    assert len(rows) == cfg.sweep.seeds
    spans = metrics["data"]["spans"][-1]
    z = inputs_by_hand(frame, cfg)[slice(*spans["train_rows"]), 0]
    offset, scale = z.mean(), z.std()
    last = frame[d.target].to_numpy(np.float64)[end - 1]
    back = (lambda c: last * np.exp(c)) if d.transform == "log_return" else (lambda c: last + c)
    point, lower, upper = [], [], []
    for member in rows["member"]:
        out = np.asarray(apply_fn_of(cfg)(pop.member_params(member), x, deterministic=True),
                         np.float64)[0]
        if cfg.loss.name == "pinball":
            q = np.sort(out.reshape(d.horizon, -1) * scale + offset, axis=-1)
            point.append(back(q[:, 1]))             # levels 0.1, 0.5, 0.9
            lower.append(back(q[:, 0]))
            upper.append(back(q[:, -1]))
        else:                                       # gaussian_nll: mean, log scale
            mean = out[:d.horizon] * scale + offset
            sigma = np.exp(out[d.horizon:]) * scale
            z80 = norm.ppf(0.9)
            point.append(back(mean))
            lower.append(back(mean - z80 * sigma))
            upper.append(back(mean + z80 * sigma))
    return {"forecast": np.mean(point, axis=0), "lower": np.mean(lower, axis=0),
            "upper": np.mean(upper, axis=0), "naive": np.full(d.horizon, last)}


def test_ahead_equals_a_numpy_rebuild_from_the_csv(ahead_run):
    """The last window rebuilt from the file, scaled by the latest origin's training rows,
    through the reported members, back to prices from the last price: `ahead.csv`."""
    _, cfg, _, frame, out, results = ahead_run
    m = json.loads((out / "metrics.json").read_text())
    table = pd.read_csv(out / "ahead.csv")
    expected = ahead_by_hand(frame, cfg, m, results, len(frame))
    assert table["step"].tolist() == list(range(1, cfg.data.horizon + 1))
    for name, values in expected.items():
        np.testing.assert_allclose(table[name], values, rtol=2e-6, err_msg=name)
        np.testing.assert_allclose(m["ahead"][name], values, rtol=2e-6, err_msg=name)
    assert (table["lower"] <= table["forecast"]).all()
    assert (table["forecast"] <= table["upper"]).all()
    # each step's backtest error beside it, as metrics.json has it
    assert table["test_rmse"].tolist() == pytest.approx(m["per_horizon"]["model"]["rmse"])
    assert table["test_coverage"].tolist() == pytest.approx(
        m["interval"]["coverage_by_step"], abs=1e-6)
    last_date = frame["Date"].iloc[-1]
    assert m["ahead"]["issued"] == str(last_date.date())
    assert (pd.to_datetime(table["issued"]) == last_date).all()
    assert "date" not in table   # trading days: the next rows' dates are not known
    spans = m["data"]["spans"][-1]
    assert m["ahead"]["train_last_date"] == spans["train_dates"][1]
    assert m["ahead"]["rows_after_training"] == len(frame) - spans["train_rows"][1]


def test_ahead_reads_the_window_ending_at_the_last_row(ahead_run):
    """The model's last window is rows n-W..n-1 of the file, not one row earlier, and a
    forecast from the window one row earlier (and its last price) is not `ahead.csv`."""
    root, cfg, _, frame, out, results = ahead_run
    m = json.loads((out / "metrics.json").read_text())
    n = len(frame)
    data = prepare(cfg.data, cfg.evaluation)
    np.testing.assert_allclose(data.last_window[0], window_by_hand(frame, cfg, m, n),
                               rtol=1e-5, atol=1e-6)
    assert not np.allclose(data.last_window[0], window_by_hand(frame, cfg, m, n - 1),
                           rtol=1e-3)
    earlier = ahead_by_hand(frame, cfg, m, results, n - 1)["forecast"]
    assert not np.allclose(pd.read_csv(out / "ahead.csv")["forecast"], earlier, rtol=1e-4)


def test_the_report_says_which_model_forecasts_which_rows(ahead_run, undescribed):
    _, cfg, grid, frame, out, _ = ahead_run
    text = (out / "report.md").read_text()
    m = json.loads((out / "metrics.json").read_text())
    section = text[text.index("## Forecast for the"):text.index("## What was run")]
    h, last = cfg.data.horizon, frame["Date"].iloc[-1].date()
    assert f"forecasts the {h} row(s) after {last}" in section
    assert f"trained on rows up to {m['data']['spans'][-1]['train_dates'][1]}" in section
    assert "test RMSE" in section and "no calendar is assumed" in section
    assert ("grid point" in section) == bool(grid)
    origins = cfg.data.origins   # the pooled test metrics score one model per origin
    assert ("the test metrics score this very model" in section) == (origins == 1)
    assert (f"origin {origins}'s test block scores this very model" in section) == (origins > 1)
    assert not undescribed(out)


def test_the_ahead_forecast_changes_no_backtest_number(ahead_run, monkeypatch):
    """The same run with the ahead forecast replaced by NaNs (the path before it existed)
    writes the same metrics and forecast.csv: it reads the trained members, changes none."""
    root, cfg, grid, _, out, _ = ahead_run
    h = cfg.data.horizon
    monkeypatch.setattr(RUN, "ahead_forecast",
                        lambda *_: PriceForecast(np.full((1, h), np.nan)))
    other = run(make_config(root, QUANTILE if grid is None else GAUSSIAN, "without"), grid,
                progress=False)
    a, b = (json.loads((p / "metrics.json").read_text()) for p in (out, other))
    for m in (a, b):
        del m["ahead"], m["timing"]
    assert a == b
    assert (out / "forecast.csv").read_bytes() == (other / "forecast.csv").read_bytes()


@pytest.mark.parametrize("spacing", ["days", "unix_hours"])
def test_rows_evenly_spaced_give_each_steps_date(tmp_path, spacing):
    """Crypto trades every day and every hour, yet ahead.csv gave only the date issued,
    leaving the user to count the steps' days (weekends included) or hours. Where every
    spacing is the same, step h is the last date plus h spacings: after Friday
    2024-04-26, Saturday to Monday; after 20:00 UTC, 21:00 to 23:00 UTC, as unix times
    read. Trading days (weekends between) get no dates: no calendar is assumed."""
    n, freq = 117, {"days": "D", "unix_hours": "h"}[spacing]
    dates = pd.date_range("2024-01-01", periods=n, freq=freq)
    prices = 100 * np.exp(np.cumsum(0.03 * np.random.default_rng(3).standard_normal(n)))
    unix = (dates - pd.Timestamp(0)) // pd.Timedelta(seconds=1)
    written = unix if spacing == "unix_hours" else dates
    pd.DataFrame({"Date": written, "price": prices}).to_csv(tmp_path / "prices.csv",
                                                            index=False)
    spec = dict(GAUSSIAN, data=dict(GAUSSIAN["data"], horizon=3))
    out = run(make_config(tmp_path, spec), progress=False)
    table = pd.read_csv(out / "ahead.csv")
    after = dates[-1] + pd.to_timedelta(np.arange(1, 4), unit=freq)
    if spacing == "days":
        assert dates[-1].day_name() == "Friday"
        assert table["date"].tolist() == ["2024-04-27", "2024-04-28", "2024-04-29"]
        shown = "2024-04-27 to 2024-04-29"
    else:
        assert str(dates[-1]) == "2024-01-05 20:00:00"
        assert table["date"].tolist() == [str(d) + "+00:00" for d in after]
        shown = "2024-01-05 21:00 to 2024-01-05 23:00"
    assert list(table.columns[:3]) == ["step", "issued", "date"]
    text = (out / "report.md").read_text()
    unit = spacing.split("_")[-1][:-1]
    assert f"the rows are evenly spaced, 1 {unit} apart, so the steps fall on {shown}" in text


def test_one_evenly_spaced_step_names_its_date_once(tmp_path):
    """With one step the report said "2024-04-27 to 2024-04-27": the first and last step's
    dates joined, the same date twice."""
    dates = pd.date_range("2024-01-01", periods=117, freq="D")
    prices = 100 * np.exp(np.cumsum(0.03 * np.random.default_rng(3).standard_normal(117)))
    pd.DataFrame({"Date": dates, "price": prices}).to_csv(tmp_path / "prices.csv", index=False)
    out = run(make_config(tmp_path, GAUSSIAN | dict(data=dict(GAUSSIAN["data"], horizon=1))),
              progress=False)
    assert pd.read_csv(out / "ahead.csv")["date"].tolist() == ["2024-04-27"]
    assert ("the rows are evenly spaced, 1 day apart, so step 1 falls on 2024-04-27 "
            "(`date` in `ahead.csv`)") in (out / "report.md").read_text()
