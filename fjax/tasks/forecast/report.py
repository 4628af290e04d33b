"""The forecast run's tables: `forecast.csv` rows and a `report.md` a person can read on
its own (verdict against the naive forecast first, then what was run and every number)."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import numpy as np
import pandas as pd

from fjax.data.timeseries import duration_text
from fjax.report.files import figure_lines, markdown_table, number_text
from fjax.tasks.experiment import resumed_from
from fjax.tasks.forecast.config import Config
from fjax.tasks.forecast.data import (ForecastData, date_texts, dates_offset, next_dates,
                                      outage_note)
from fjax.tasks.forecast.evaluate import Evaluation

SIGNIFICANT = 12  # digits of forecast.csv's prices: 4 decimals at 3e7, exact to 2 below 1e9
METRIC_NAMES = {"mae": "MAE", "rmse": "RMSE", "mape": "MAPE %", "smape": "sMAPE %",
                "mase": "MASE", "directional_accuracy": "direction hit rate %"}
SHARES = ("directional_accuracy",)   # metrics.json's shares, in percent in report.md
AHEAD = "{:#.6g}"   # 6 significant digits, zeros kept: 2430.90 beside 2466.79, not 2430.9
PRICE = "{:#.4g}"   # 4 significant digits, zeros kept: MAE 97.00 beside RMSE 140.5, not 97


def price(v: float) -> str:
    """A price-unit number as the report's sentences and metric tables write it: `PRICE`,
    whole where that would take an exponent (43250, not 4.325e+04)."""
    return number_text(v, PRICE)


def ahead_price(v: float) -> str:
    """A number of the forecast after the data, to 6 digits: a cent off naive shows."""
    return number_text(v, AHEAD)


def forecast_frame(data: ForecastData, ev: Evaluation) -> pd.DataFrame:
    """One row per test window and step: dates, actual, forecast, bounds, baselines.
    A target that was forward-filled, not observed (and so not scored), has no actual.
    Dates read as UTC (mixed offsets, unix times) are written with +00:00, and those the
    file wrote with one offset with it (`on_clock`), so the rows join back to the file by
    instant, not by a wall-clock time of no named clock."""
    n, h = ev.actual.shape
    origins = data.plan.origins[ev.index]
    step = np.tile(np.arange(1, h + 1), n)
    rows = np.repeat(origins, h) + step - 1
    dates = lambda at: csv_dates(data, at)  # noqa: E731
    frame = pd.DataFrame({
        "origin": np.repeat(ev.origin + 1, h),
        "issued": dates(np.repeat(origins - 1, h)),
        "date": dates(rows), "step": step,
        "actual": np.where(ev.observed, ev.actual, np.nan).reshape(-1),
        "forecast": ev.model.point.reshape(-1)})
    if ev.model.lower is not None:
        frame["lower"] = ev.model.lower.reshape(-1)
        frame["upper"] = ev.model.upper.reshape(-1)
    if ev.model.spread is not None:
        frame["seed_spread"] = ev.model.spread.reshape(-1)
    for name, pred in ev.baselines.items():
        frame[name] = pred.reshape(-1)
    if ev.naive_interval is not None:
        frame["naive_lower"] = ev.naive_interval[..., 0].reshape(-1)
        frame["naive_upper"] = ev.naive_interval[..., -1].reshape(-1)
    return rounded(frame)


def csv_dates(data: ForecastData, rows: np.ndarray):
    """The dates of `rows` as the CSVs write them (`on_clock`)."""
    return on_clock(data, data.dates_of(rows))


def on_clock(data: ForecastData, dates: np.ndarray):
    """`dates` with their clock's UTC offset (`dates_offset`): +00:00 where they were read
    as UTC, the file's own where it wrote every time with one; as they are where it wrote
    none."""
    offset = dates_offset(data.series)
    if offset is None:
        return dates
    return pd.DatetimeIndex(dates).tz_localize(dt.timezone(dt.timedelta(seconds=offset)))


def rounded(frame: pd.DataFrame) -> pd.DataFrame:
    """Float columns to `SIGNIFICANT` digits."""
    prices = [c for c in frame.columns if frame[c].dtype == np.float64]
    frame[prices] = frame[prices].map(lambda v: float(f"{v:.{SIGNIFICANT}g}"))
    return frame


def ahead_frame(data: ForecastData, ahead: dict, m: dict) -> pd.DataFrame:
    """`ahead.csv`: one row per step after the last row (`ahead` in metrics.json): its
    date where the rows are evenly spaced (`next_dates`), the forecast, its bounds, the
    naive last value, and the backtest's error at that step (the model's and the naive
    forecast's test RMSE, the interval's test coverage): how far to trust it."""
    h = ahead["steps"]
    frame = pd.DataFrame({"step": np.arange(1, h + 1),
                          "issued": csv_dates(data, np.full(h, data.series.n - 1)),
                          "forecast": ahead["forecast"]})
    if (after := next_dates(data.series.dates, h)) is not None:   # evenly spaced rows
        frame.insert(2, "date", on_clock(data, after))
    for name in ("lower", "upper", "seed_spread"):
        if name in ahead:
            frame[name] = ahead[name]
    frame["naive"] = ahead["naive"]
    frame["test_rmse"] = m["per_horizon"]["model"]["rmse"]
    frame["naive_test_rmse"] = m["per_horizon"]["naive"]["rmse"]
    if "interval" in m:   # a share of test targets: 6 digits, not float32's noise
        frame["test_coverage"] = np.round(m["interval"]["coverage_by_step"], 6)
    return rounded(frame)


def setting_text(v) -> str:
    """A grid setting's value as report.md and the plots write it: 0.001 and 32, not
    0.001000 and 32.00."""
    return f"{v:g}" if isinstance(v, float) else str(v)


def grid_point_text(point: int, settings: dict) -> str:
    """"grid point 2: model.kind lstm, optim.learning_rate 0.001": a grid point (from 1)
    and its settings (None: a field its choices do not read), as report and plots name it."""
    text = ", ".join(f"{k} {setting_text(v)}" for k, v in settings.items() if v is not None)
    return f"grid point {point}" + (f": {text}" if text else "")


def model_label(choices: list[dict]) -> str:
    """The plots' name of a sweep's reported forecast: "model (grid point 1: model.kind
    lstm)", or each origin's grid point where the origins chose different ones.
    `choices`: `selected_per_origin`."""
    points = [c["point"] for c in choices]
    if len(set(points)) > 1:
        return f"model (grid points {', '.join(map(str, points))} by origin)"
    settings = {k: v for k, v in choices[0].items() if k not in ("origin", "point", "val_mse")}
    return f"model ({grid_point_text(points[0], settings)})"


def ahead_table(table: pd.DataFrame, steps: int) -> str:
    """`ahead.csv`'s `shown_steps` rows by `AHEAD`; the test coverage in percent, as the
    text gives the nominal level, where the file keeps the share."""
    shown = table[table["step"].isin(shown_steps(steps))].drop(columns="issued")
    if "date" in shown:
        shown = shown.assign(date=step_texts(table)[shown.index])
    if "test_coverage" in shown:
        shown = shown.assign(test_coverage=100 * shown["test_coverage"]).rename(
            columns={"test_coverage": "test_coverage %"})
    return markdown_table(shown, AHEAD)


def step_texts(table: pd.DataFrame) -> np.ndarray:
    """The steps' dates of `ahead_frame`'s table as the report writes dates."""
    return np.array(date_texts(pd.DatetimeIndex(table["date"]).tz_localize(None).to_numpy()))


def spacing(table: pd.DataFrame) -> int:
    """Nanoseconds between the evenly spaced rows of `ahead_frame`'s table (issued to
    step 1)."""
    return (pd.Timestamp(table["date"].iloc[0]) - pd.Timestamp(table["issued"].iloc[0])).value


def ahead_lines(a: dict, m: dict, table: pd.DataFrame, config: Config) -> list[str]:
    """The report's section on the forecast after the data: which model made it, on
    which rows, and that the backtest's per-step error, not the forecast itself, says
    how far to trust each step."""
    d = config.data
    after = (f"the {a['steps']} row(s) after {a['issued']}" if d.date_column else
             f"the {a['steps']} row(s) after row {a['issued']}")
    which = [*([grid_point_text(a["point"], a["settings"])] if "point" in a else []),
             *([f"origin {a['origin']}'s members"] if a["origin"] > 1 else []),
             *([f"the mean of {a['seeds']} seeds"] if a["seeds"] > 1 else [])]
    who = "The model scored above" + (f" ({', '.join(which)})" if which else "")
    last = (f"; last value {ahead_price(a['last_value'])}" + (
        f", carried forward from {a['last_observed_date']}"
        if a["last_observed_date"] != a["issued"] else ""))
    lines = [f"## Forecast for the {a['steps']} step(s) after the data", "",
             f"{who}, on the last {d.window} rows ({' to '.join(a['window_dates'])}{last}), "
             f"forecasts {after}: step h is the h-th row after it"
             + (" in the file's own spacing (no calendar is assumed)" if "date" not in table
                else f"; the rows are evenly spaced, {duration_text(spacing(table))} apart, "
                + (f"so step 1 falls on {on[0]}" if len(on := step_texts(table)) == 1
                   else f"so the steps fall on {on[0]} to {on[-1]}") + " (`date` in `ahead.csv`)")
             + ". It was trained on rows up to "
             f"{a['train_last_date']}, {a['rows_after_training']} rows before the last"
             + (f" (its epochs and settings chosen on the validation rows up to "
                f"{a['val_last_date']})" if "val_last_date" in a else "")
             + ", and reads them with the scalers fitted there; nothing was retrained, so "
             + ("the test metrics score this very model." if a["origin"] == 1 else
                f"origin {a['origin']}'s test block scores this very model (the earlier "
                "origins' blocks score the models trained at their own cuts)."), "",
             ahead_table(table, a["steps"]), "",
             "How far to trust each step: its test RMSE, the backtest's error at that step "
             f"over {m['test_windows']} test windows (the naive forecast's beside it"
             + ("" if a["origin"] == 1 else
                f"; pooled over {a['origin']} origins' blocks, of which origin {a['origin']}'s "
                f"own, every step, RMSE {ahead_price(m['per_origin'][-1]['model_rmse'])} vs "
                f"naive {ahead_price(m['per_origin'][-1]['naive_rmse'])}") + ")"
             + (f", and its interval's test coverage against the nominal {a['nominal']:.0%}"
                if "nominal" in a else "")
             + ", not how confident the forecast looks. Every step is in `ahead.csv`, "
             "and under `ahead` in `metrics.json`."]
    if a["inputs_outside_training_range"] > 0:
        lines[-1] += (f" **{a['inputs_outside_training_range']:.0%} of the last window's "
                      "input values lie outside the range of its training windows' inputs**: "
                      "the model extrapolates there (saturating units, as an LSTM's, flatten "
                      "out; inputs as `log_return` or `diff` stay in range).")
    return lines + [""]


FEW_WINDOWS = 30   # below this many test windows the verdict carries a warning


def p_text(p: float) -> str:
    """A p-value as text: below 1e-16 it is rounding (erfc underflows), not zero."""
    return "p < 1e-16" if p < 1e-16 else f"p = {p:.3g}"


def verdict(m: dict) -> str:
    model, naive = m["model"], m["baselines"]["naive"]
    ratio = model["rmse"] / naive["rmse"]
    beats = m["beats_naive"]
    dm = m["diebold_mariano_vs_naive"]
    noise = dm["p_value"] is not None and dm["p_value"] >= 0.05
    if (beats["rmse"] or beats["mae"]) and noise:
        head = ("The model is no better than the naive last-value forecast beyond noise "
                f"(lower {' and '.join(k.upper() for k in ('rmse', 'mae') if beats[k])}; "
                + ("squared errors not significantly lower)" if beats["rmse"] else
                   "higher RMSE, not significantly)"))
    elif beats["rmse"] and beats["mae"]:
        head = "The model beats the naive last-value forecast"
    elif beats["rmse"] or beats["mae"]:
        which = "RMSE" if beats["rmse"] else "MAE"
        head = f"The model beats the naive last-value forecast on {which} only"
    else:
        head = "The model does NOT beat the naive last-value forecast"
    text = (f"**{head}** on the test span: RMSE {price(model['rmse'])} vs "
            f"{price(naive['rmse'])} (ratio {ratio:.3f}), MAE {price(model['mae'])} vs "
            f"{price(naive['mae'])}, in price units.")
    if dm["p_value"] is not None:
        sig = "is" if dm["p_value"] < 0.05 else "is not"
        text += (f" The difference in squared error {sig} statistically significant at 5% "
                 f"(Diebold-Mariano statistic with Harvey-Leybourne-Newbold's correction "
                 f"{dm['statistic']:.3f}, {p_text(dm['p_value'])}; "
                 "negative favours the model).")
    if "diebold_mariano_vs_best_baseline" in m:
        text += " " + best_baseline_text(m)
    if m["test_windows"] < FEW_WINDOWS:
        text += (f" Only {m['test_windows']} test window(s): too few for this comparison to "
                 "mean much; use a longer test span.")
    return text


def best_baseline_text(m: dict) -> str:
    """The model against the baseline with the lowest RMSE where that is not the naive
    forecast, with the same Diebold-Mariano test on squared error, its p-value
    Holm-adjusted over every baseline's test: the baseline was picked on the test span."""
    dm = m["diebold_mariano_vs_best_baseline"]
    name = dm["baseline"]
    model, rmse = m["model"]["rmse"], m["baselines"][name]["rmse"]
    text = (f"The best baseline by RMSE is {name} (RMSE {price(rmse)}), not naive; the model's "
            f"RMSE is {'lower' if model < rmse else 'not lower'}")
    if dm["p_value"] is None:
        return text + "."
    sig = "is" if dm["p_value_holm"] < 0.05 else "is not"
    tests = len(m["diebold_mariano_vs_baselines"])
    return text + (f", and the difference in squared error {sig} significant at 5% "
                   f"(statistic {dm['statistic']:.3f}, {p_text(dm['p_value'])}; "
                   f"{p_text(dm['p_value_holm'])} Holm-adjusted over the {tests} baselines' "
                   "tests, since this baseline was picked by its RMSE on the same test "
                   "windows; every test is under `diebold_mariano_vs_baselines` in "
                   "`metrics.json`).")


def coverage_words(iv: dict) -> str:
    """The measured coverage against the nominal level, judged by the coverage's 95%
    Wilson interval on the independent windows (not a fixed tolerance)."""
    low, high = iv["coverage_interval"]
    n = iv["independent_windows"]
    text = (f"On about {n:.0f} test windows that share no target, the coverage's 95% "
            f"interval is {low:.1%} to {high:.1%}: ")
    if iv["nominal"] > high:
        text += "fewer targets fall inside than promised."
    elif iv["nominal"] < low:
        text += "more targets fall inside than promised."
    elif steps_off_nominal(iv):
        text += "consistent with the nominal level pooled over the steps, but not step by step."
    else:
        text += "consistent with the nominal level (the difference is within sampling noise)."
    return text + " " + tail_words(iv)


class Tail(NamedTuple):
    """One side's misses: their share, its expected share (the bound's quantile level),
    the share's 95% interval, and whether it is too often, too rarely or ok."""
    share: float
    expected: float
    low: float
    high: float
    verdict: str


def tail(iv: dict, side: str, bound: str) -> Tail:
    """The misses `side` ("below" or "above") of the `bound` ("lower" or "upper")."""
    expected = iv[f"expected_{side}"]
    low, high = iv[f"{side}_{bound}_interval"]
    verdict = "often" if expected < low else "rarely" if expected > high else "ok"
    return Tail(iv[f"{side}_{bound}"], expected, low, high, verdict)


def tail_words(iv: dict) -> str:
    """Where the misses fall: below the lower bound and above the upper, each against its
    expected share (its quantile level) and 95% interval. Both too often: too narrow;
    both too rarely: too wide; one side too often and not the other: a biased forecast,
    which a wider interval would not fix."""
    below, above = tail(iv, "below", "lower"), tail(iv, "above", "upper")
    text = (f"By side, {below.share:.1%} of the targets fall below the lower bound (expected "
            f"{below.expected:.1%}; 95% interval {below.low:.1%} to {below.high:.1%}) and "
            f"{above.share:.1%} above the upper (expected {above.expected:.1%}; "
            f"{above.low:.1%} to {above.high:.1%})")
    if below.verdict == above.verdict == "often":
        return text + ": both bounds are crossed too often, **the intervals are too narrow**."
    if below.verdict == above.verdict == "rarely":
        return text + ": both bounds are crossed too rarely, the intervals are wider than needed."
    if (below.verdict == "often") != (above.verdict == "often"):
        runs = "high" if below.verdict == "often" else "low"
        return text + (f": **the misses pile up on one side, the forecast runs {runs}**, which "
                       "a wider interval would not fix.")
    return text + "."


def naive_interval_text(iv: dict) -> str:
    """The model's interval beside the naive one (the last price moved by the empirical
    quantiles of each step's training changes), judged by pinball loss: coverage near
    nominal can come from bounds that are merely wide, or right on average only."""
    naive, lo, hi = iv["naive"], iv["levels"][0], iv["levels"][-1]
    dm = iv["diebold_mariano_vs_naive"]
    text = (f"Against the naive interval (the last price moved by the {lo:g} and {hi:g} "
            "quantiles of each step's change over the origin's training windows; "
            f"`naive_lower`, `naive_upper` in `forecast.csv`): coverage {naive['coverage']:.1%}, "
            f"mean width {price(naive['width'])}. Pinball loss at levels {lo:g}, 0.5 and {hi:g} "
            f"(price units, lower is better): model {price(iv['pinball'])}, naive "
            f"{price(naive['pinball'])}")
    test = ("" if dm["p_value"] is None else f" (Diebold-Mariano on the pinball loss "
            f"{dm['statistic']:.3f}, {p_text(dm['p_value'])})")
    if iv["pinball"] >= naive["pinball"]:
        return text + test + ": **the model's quantiles are no better than the naive interval's**."
    if dm["p_value"] is None or dm["p_value"] >= 0.05:
        return text + test + ": lower, but not significantly at 5%."
    return text + test + ": the model's quantiles are significantly better at 5%."


def steps_off_nominal(iv: dict) -> dict[str, list[int]]:
    """The steps (1-based) whose coverage's 95% interval lies below the nominal level
    ("narrow") or above it ("wide"); empty for one step, where the pooled figure is it."""
    bounds = iv.get("coverage_interval_by_step") or []
    if len(bounds) < 2:
        return {}
    off = {"narrow": [h for h, (_, high) in enumerate(bounds, 1) if iv["nominal"] > high],
           "wide": [h for h, (low, _) in enumerate(bounds, 1) if iv["nominal"] < low]}
    return {k: v for k, v in off.items() if v}


def step_coverage_text(iv: dict, steps: list[int]) -> str:
    """Coverage of the `steps` shown, each with its 95% interval, and the steps whose
    interval excludes the nominal level: a pooled coverage on nominal can average steps
    too wide and too narrow, and an interval is used at one step."""
    shown = ", ".join(f"{s}: {iv['coverage_by_step'][s - 1]:.1%} "
                      f"({iv['coverage_interval_by_step'][s - 1][0]:.0%}-"
                      f"{iv['coverage_interval_by_step'][s - 1][1]:.0%})" for s in steps)
    text = f"Coverage by step (95% interval on the windows that share no step-h move): {shown}."
    off = steps_off_nominal(iv)
    if not off:
        return text
    words = {"narrow": "too narrow", "wide": "wider than needed"}
    parts = "; ".join(f"{words[k]} at step(s) {', '.join(map(str, v))}" for k, v in off.items())
    return text + (f" **The nominal {iv['nominal']:.0%} lies outside the interval at "
                   f"{sum(map(len, off.values()))} of {len(iv['coverage_by_step'])} steps: "
                   f"{parts}** (about one step in 20 would by chance alone); judge the "
                   "interval at the step it is used for.")


def range_note(facts: dict) -> str | None:
    share = facts["test_targets_outside_training_range"]
    if share <= 0.05:
        return None
    return (f"{share:.0%} of the test targets lie outside the range their origin's "
            f"training span covered (`{facts['transform']}` units). Networks with saturating "
            "units (LSTM, GRU) cannot follow them there and fall behind; targets as "
            "`log_return` or `diff` stay in range.")


def constant_text(m: dict) -> str:
    """The hit rate of the better constant call (`constant_call`): the share of test
    steps that rose, or that fell where more did. That, not 50%, is the mark a hit rate
    must beat; always calling a rise is no mark in a falling span."""
    rose, fell, call = m["rising_share"], m["falling_share"], m["constant_call"]
    share = rose if call == "rise" else fell
    return (f"{rose:.1%} of the test steps rose and {fell:.1%} fell, so a forecast that "
            f"always calls a {call} hits {share:.1%}: the mark a hit rate must beat, not 50%.")


def direction_test_text(m: dict) -> str:
    """The model's hit rate against the better constant call, by the DM test on the 0/1
    miss (`direction_vs_constant`): a hit rate a few points off the constant's share is
    often noise, and one below it is no edge."""
    dm = m.get("direction_vs_constant")
    if dm is None:
        return ""
    hit, call = m["model"]["directional_accuracy"], dm["call"]
    share = m["rising_share"] if call == "rise" else m["falling_share"]
    text = (f" The model's hit rate {hit:.1%} against always calling a {call} "
            "(Diebold-Mariano on each step's 0/1 miss, with the lags of the squared-error "
            "test for overlapping windows")
    if dm["p_value"] is None:
        return text + ": no test, the misses do not differ)."
    stat, p = dm["statistic"], dm["p_value"]
    verdict = ("not significantly different at 5%" if p >= 0.05 else
               "**significantly higher at 5%**" if stat < 0 else
               f"**significantly lower at 5%: worse than always calling a {call} "
               f"({share:.1%})**")
    return text + f": statistic {stat:.3f}, {p_text(p)}): {verdict}."


def mape_text(m: dict) -> str:
    """Where a test target is zero or near it (`mape_not_meaningful`), that MAPE divides
    by it and says nothing, and what to read instead; "" otherwise."""
    c = m.get("mape_not_meaningful")
    if c is None:
        return ""
    return (f" **MAPE is not meaningful here**: the smallest test target is "
            f"{price(c['min_abs_target'])} in absolute value, at most {c['floor']:.0%} of "
            f"their mean {price(c['mean_abs_target'])} (a series that crosses or nears "
            "zero, as a spread), and MAPE divides each error by its target (infinite, n/a, "
            "at a zero one). Read MASE, and MAE and RMSE in price units; sMAPE is bounded "
            "(at most 200% a target) but also inflated by targets near zero.")


def metric_table(m: dict) -> str:
    """Each method's test metrics; the hit rate in percent, as the text gives it."""
    rows = [{"method": name, **{METRIC_NAMES[k]: np.nan if v is None else
                                100 * v if k in SHARES else v for k, v in vals.items()}}
            for name, vals in [("model", m["model"]), *m["baselines"].items()]]
    return markdown_table(pd.DataFrame(rows), PRICE)


def origin_table(m: dict) -> str:
    """Each origin's test metrics (`per_origin`); the interval's coverage in percent, as
    the text gives it, where metrics.json keeps the share."""
    pct = {"model_coverage": "model_coverage %"}
    rows = [{pct.get(k, k): 100 * v if k in pct else v for k, v in o.items()}
            for o in m["per_origin"]]
    return markdown_table(pd.DataFrame(rows), PRICE)


def grid_table(rows: list[dict]) -> str:
    """The sweep's rows or each origin's choice: metrics by `PRICE`, as the metric table
    writes them, and each grid setting (a `section.field` column) as the text names it
    (`setting_text`; None, a field this point's choices do not read: n/a)."""
    shown = [{k: setting_text(v) if "." in k and v is not None else v for k, v in row.items()}
             for row in rows]
    return markdown_table(pd.DataFrame(shown), PRICE)


def shown_steps(horizon: int) -> list[int]:
    """Every step up to 12, else 1, 5, 10, ... and the last."""
    if horizon <= 12:
        return list(range(1, horizon + 1))
    return sorted({1, horizon, *range(5, horizon + 1, 5)})


def horizon_table(m: dict) -> str:
    """Test RMSE by horizon step, the model's and each baseline's."""
    per = m["per_horizon"]
    steps = shown_steps(len(per["model"]["rmse"]))
    rows = [{"step": s, **{name: per[name]["rmse"][s - 1] for name in per}} for s in steps]
    return markdown_table(pd.DataFrame(rows), PRICE)


def _counts(by_column: dict) -> str:
    """{"close": 1, "volume": 3} -> "close 1, volume 3"; "no" when empty."""
    return ", ".join(f"{k} {v}" for k, v in by_column.items()) or "no"


def _inputs_text(facts: dict) -> str:
    """Each input column with its transform; where a differenced one starts the inputs
    at row 1, says so (every input row is one date in every column)."""
    names = [f"{c} (`{t}`{', the target' if i == 0 else ''})"
             for i, (c, t) in enumerate(facts["input_transforms"].items())]
    text = ", ".join(names)
    if len(names) > 1 and facts["first_input_row"]:
        text += (f"; windows read rows from {facts['first_input_row']} on, where every "
                 "input is defined (a difference has no row 0)")
    return text


def scaler_kinds_text(kinds: tuple[str, ...], columns: tuple[str, ...]) -> str:
    """`minmax`, or with kinds that differ by column, each kind with its columns."""
    if len(set(kinds)) == 1:
        return f"Scaler `{kinds[0]}`"
    named = [f"`{k}` ({', '.join(c for c, kc in zip(columns, kinds) if kc == k)})"
             for k in dict.fromkeys(kinds)]
    return "Scalers " + ", ".join(named)


def scaler_text(facts: dict, kinds: tuple[str, ...], columns: tuple[str, ...]) -> str:
    """Which scaler scales which column, and where it was fitted: one origin's training
    rows, or each origin's own; where values were filled, on each column's observed ones."""
    kind = scaler_kinds_text(kinds, columns)
    filled = (" (each column on its observed rows there: forward-filled values, and a "
              "differenced column's step out of them, left out)"
              if facts["forward_filled"] or facts["inserted_rows"] else "")
    if "scaler_rows" in facts:
        start, end = facts["scaler_rows"]
        return f"{kind} fitted on rows {start}-{end - 1} (the training span) only{filled}."
    return (f"{kind} fitted on each origin's own training span only{filled} (`spans` in "
            "`metrics.json`): each origin trains, forecasts and is scored in its own scale.")


def naive_scale_text(m: dict) -> str:
    """The MASE denominator: one, or each origin's on its own training span."""
    if "naive_scale" in m:
        return price(m["naive_scale"])
    scales = ", ".join(price(o["naive_scale"]) for o in m["per_origin"])
    return f"each origin's own, on its training span: {scales}"


def mase_text(m: dict) -> str:
    """What MASE divides by, and over several steps the naive forecast's own MASE beside
    the model's: the scale is the one-step naive MAE while a step-h error spans h moves,
    so on a random walk the naive forecast's step-h MASE is about sqrt(h) times its
    step-1 one (S&P 500, 5 steps: 1.26 to 2.80, 2.129 overall): 1 is no mark to beat."""
    text = f"MASE divides MAE by the in-sample one-step naive MAE ({naive_scale_text(m)})"
    if m["horizon"] == 1:
        return text + "."
    naive, steps = m["baselines"]["naive"]["mase"], m["per_horizon"]["naive"]["mase"]
    return text + (f", while a step-h error spans h moves: the naive forecast's own MASE is "
                   f"{naive:.3f} over the {m['horizon']} steps ({steps[0]:.3f} at step 1, "
                   f"{steps[-1]:.3f} at step {len(steps)}), so **a MASE above 1 does not "
                   f"mean worse than naive here**: the model's {m['model']['mase']:.3f} "
                   f"is to be read against the naive's {naive:.3f}.")


def _describe_spans(facts: dict) -> str:
    rows = []
    for s in facts["spans"]:
        row = {"origin": s["origin"], "train rows": " to ".join(s["train_dates"]),
               "train windows": s["train_windows"]}
        if "val_dates" in s:
            row.update({"validation targets": " to ".join(s["val_dates"]),
                        "val windows": s["val_windows"]})
        row.update({"test first targets": " to ".join(s["test_dates"]),
                    "test windows": s["test_windows"]})
        rows.append(row)
    return markdown_table(pd.DataFrame(rows))


def _spacing_lines(spacing: dict | None, max_gap: float) -> list[str]:
    """Rows a median apart, the longer spacings a window does not see as time, and, in a
    series that runs every day, that they are outages (`outage_note`)."""
    if spacing is None:
        return []
    line = f"- Spacing: rows a median {spacing['median']} apart"
    if not spacing["longer"]:
        return [line + ", none more than 1.5x that."]
    note = outage_note(spacing, max_gap)
    return [line + f"; {spacing['longer']} spacing(s) longer than 1.5x that, the longest "
            f"{spacing['longest']} ({' to '.join(spacing['longest_dates'])}). Windows count "
            f"rows, not time. Spacings over {max_gap:g}x the median stop the run "
            "(`--data.max-gap`), or are filled with `--data.missing ffill`."
            + (f" **Outages: {note}.**" if note else "")]


def crossing_text(share: float) -> str:
    """The share of quantile forecasts whose raw levels crossed, which sorting hid."""
    return (f"**The raw quantiles crossed (a higher level below a lower one) in {share:.1%} "
            "of the test forecasts (seed, window, step)**; they were sorted before use, so "
            "the bounds above never cross. A share well above zero says the quantile head is "
            "undertrained or overfit (`quantile_crossing` in `metrics.json`).")


def data_line(facts: dict) -> str:
    """Rows, dates (said to be UTC when they were read as UTC, on the file's clock where it
    wrote one UTC offset) and inputs."""
    line = f"- Data: {facts['rows']} rows from {facts['first_date']} to {facts['last_date']}"
    if facts.get("clock"):
        line += (f" (times as written, {facts['clock']}: the file gives every time that "
                 "offset; the CSVs write it)")
    if facts.get("utc"):
        line += (" UTC (the file mixes UTC offsets or holds unix times, so every date here "
                 "and in `forecast.csv` is UTC, not the file's wall-clock time)")
    return line + f"; inputs {_inputs_text(facts)}."


def repairs_line(facts: dict, missing: str) -> str:
    """What was filled, and, where inserted rows are a large share, that they should not be."""
    line = (f"- Repairs: {_counts(facts['forward_filled'])} missing values forward-filled, "
            f"{facts['inserted_rows']} rows inserted to close date gaps "
            f"(policy `missing={missing}`)")
    if missing != "ffill":
        return line + "."
    line += ("; a forecast step whose target is a filled row neither trains nor scores (a "
             "carried-forward price would make the naive forecast look perfect), "
             f"{facts['unscored_test_targets']} of them in the test span.")
    return line + (f" **{facts['inserted_note']}.**" if facts.get("inserted_note") else "")


# The grid paths the Model line names by themselves (`report_markdown`).
MODEL_LINE_PATHS = ("model.kind", "model.hidden", "model.head", "loss.name", "optim.name",
                    "optim.learning_rate", "train.batch_size")


def swept_text(selected: dict) -> str:
    """", optim.weight_decay 0.0001, loss.huber_delta 0.5": the reported grid point's
    value of every swept field the Model line does not already name (None: a field its
    choices do not read)."""
    return "".join(f", {path} {setting_text(v)}" for path, v in selected.items()
                   if path not in MODEL_LINE_PATHS and v is not None)


FIGURES = {
    "forecast.png": "The test forecasts against the actual prices and the naive last-value "
                    "line: above, the whole test span (step 1 when forecasting several); "
                    "below, a close-up, where a forecast that follows the actual one row "
                    "late is copying the last price.",
    "horizon.png": "Test RMSE in price units of the model and every baseline (by forecast "
                   "step when forecasting several, on a log scale where they span over a "
                   "factor of 10): the model adds something only where it lies below naive "
                   "and drift.",
    "loss.png": "Loss per epoch of the reported members, in scaled units (a log scale "
                "where every loss is positive and they span over a factor of 10), "
                "validation beside training where there is a validation span (without "
                "one, over several origins, the test block's, for monitoring only): a "
                "validation loss that turns up while training falls is overfitting.",
}


def report_markdown(config: Config, facts: dict, m: dict, extra: dict,
                    ahead: pd.DataFrame) -> str:
    """report.md; `ahead` is `ahead.csv`'s frame, shown beside `m["ahead"]`."""
    d, mdl = config.data, config.model
    differ = len({c["point"] for c in extra["per_origin_choice"]}) > 1   # origins' choices
    resumed = resumed_from(extra.get("resumed_epochs", {}))
    lines = [f"# Forecast of {d.target!r}: {facts['source']}", "",
             *([f"**{extra['blown_up']}**", ""] if extra.get("blown_up") else []),
             verdict(m), ""]
    lines += ahead_lines(m["ahead"], m, ahead, config)
    lines += ["## What was run", "",
              data_line(facts),
              *_spacing_lines(facts.get("spacing"), d.max_gap),
              repairs_line(facts, d.missing),
              f"- Target: `{d.transform}`; every number below is in prices. "
              + scaler_text(facts, d.used_scalers, d.columns),
              f"- Windows: {d.window} inputs -> {d.horizon} step(s) ahead, stride {d.stride}, "
              f"gap {d.gap}. A window trains only if all its targets are in the training "
              "span; test windows are placed by their first target.",
              f"- Model: `{mdl.kind}`"
              + ("" if mdl.kind == "linear" else
                 f" hidden {list(mdl.hidden)} head {list(mdl.head)}") + ", loss "
              f"`{config.loss.name}`, {config.optim.name} lr {config.optim.learning_rate:g}"
              f"{swept_text(extra.get('selected', {}))}, batch {config.train.batch_size}, "
              f"{extra['epochs_run']} epochs, "
              f"{config.sweep.seeds} seed(s), {d.origins} origin(s) ({d.training} training), "
              f"{extra['members']} members in {extra['groups']} compiled program(s)."
              + (" The origins chose different grid points: these are the last origin's "
                 "settings; each origin's are under 'Settings per origin'."
                 if differ else ""),
              f"- Time: compile {extra['compile_s']:.1f} s, train {extra['train_s']:.1f} s, "
              f"forecast {m['test_windows']} test windows x {extra['members']} members in "
              f"{extra['predict_s']:.3f} s, whole run {extra['total_s']:.1f} s"
              + (f" (this session's: the run resumed from {resumed}, whose epochs' times "
                 "are not counted)." if resumed else "."), ""]
    if differ:
        lines += ["### Settings per origin", "",
                  "Each origin's test block is forecast by the grid point it chose on its own "
                  "validation span (`selected_per_origin` in `metrics.json`).", "",
                  grid_table(extra["per_origin_choice"]), ""]
    lines += ["### Spans", "", _describe_spans(facts), ""]
    lines += ["## Test metrics (price units)", "",
              f"{m['test_windows']} test windows x {m['horizon']} step(s), identical for every "
              f"method. {mase_text(m)} The direction hit rate is the share of steps whose "
              "move from the last observed price has the right sign, over the steps where a "
              "method calls a move (n/a for the naive forecast, which never does; seasonal "
              "naive repeats the last price at multiples of its season). "
              + constant_text(m) + direction_test_text(m) + mape_text(m), "",
              metric_table(m), "",
              "Baselines, from the same last observed rows: naive repeats the last price; "
              "drift extends it by the average change per row since the first row; "
              f"seasonal_naive repeats the price {facts['season']} rows before each step "
              f"({facts['season_words']}; `--evaluation.season`); moving_average is the "
              f"mean of the last {config.evaluation.moving_average} rows "
              "(`--evaluation.moving-average`: rows, not days).", ""]
    if m["horizon"] > 1:
        lines += ["## RMSE by horizon step", "", horizon_table(m), ""]
    if "interval" in m:
        iv = m["interval"]
        lines += ["## Prediction intervals", "",
                  f"Nominal coverage {iv['nominal']:.0%}; measured {iv['coverage']:.1%} of test "
                  f"targets fall inside, mean width {price(iv['width'])} price units "
                  f"(median {price(iv['median_width'])}). "
                  + coverage_words(iv), ""]
        lines += [naive_interval_text(iv), ""]
        if m.get("quantile_crossing"):
            lines += [crossing_text(m["quantile_crossing"]), ""]
        if m["horizon"] > 1:
            lines += [step_coverage_text(iv, shown_steps(m["horizon"])), ""]
    if "ensemble" in m:
        e = m["ensemble"]
        lines += ["## Seed ensemble", "",
                  f"The forecast is the mean of {e['seeds']} seeds; their point forecasts differ "
                  f"by {price(e['spread_mean'])} (mean standard deviation, price units). "
                  "Each seed's RMSE: " + ", ".join(map(price, e["member_rmse"])) + ".",
                  ""]
    if m["origins"] > 1:
        lines += ["## Walk-forward origins", "",
                  "Each origin is trained on its own past and scores its own test block; the "
                  "metrics above pool every block.", "",
                  origin_table(m), ""]
    if extra.get("sweep"):
        lines += ["## Sweep", "", extra["selection"], "",
                  grid_table(extra["sweep"]), "",
                  "`point` counts the grid points from 1, as the text does; `group`, the "
                  "compiled program that trained it, from 0, as `history.jsonl`'s `group` "
                  "and the resume's `group <g>` do.", ""]
    lines += ["## How to read this", "",
              "- A price forecast that repeats the last value tracks the actual curve closely "
              "and looks convincing on a chart while predicting nothing: compare with the "
              "naive line, and look at the close-up panel of `forecast.png` for a one-step lag.",
              f"- {extra['val_note']}",
              *([f"- {extra['loss_note']}"] if extra.get("loss_note") else []),
              *([f"- {note}"] if (note := range_note(facts)) else []),
              "", "## Figures", "",
              *figure_lines(["forecast.png", "horizon.png", "loss.png"], FIGURES), "## Files", "",
              "`config.json` (this run's full configuration), `environment.json` (the "
              "machine and versions), `metrics.json` (every number "
              "here), `history.jsonl` (per-epoch losses), `forecast.csv` (date, actual, "
              "forecast, bounds, baselines), `ahead.csv` (the forecast after the data, "
              "each step's test error beside it), `forecast.png`, `loss.png`, `horizon.png`; "
              "`grid.json` (a sweep): the swept values of each field.", ""]
    return "\n".join(lines)
