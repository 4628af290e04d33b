"""`fjax score forecast --run DIR --data prices.csv`: a finished forecast run's model (its
`model.msgpack`: the members that made its `ahead.csv`) forecasts after a newer file's
last row, without training, and is scored on the rows after the run's data that it
never saw.

The new file is read as the run read its own (columns, dates, missing values), must
agree with the run's last rows where it holds their dates, and is scaled by the saved
scaler, never refitted. `ahead.csv` comes from the run's own code (`ahead.forecast_windows`,
`report.ahead_frame`): the run's own file gives the run's `ahead.csv`. `errors.csv`
scores the windows whose targets all lie after the run's last row and in the file, on the
run's grid (`--data.stride` rows apart, the last ending on the file's last row), step by
step, beside the naive forecast (the last price).
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from fjax.config import to_dict
from fjax.config_fields import frozen_config
from fjax.data.series import inputs_first_row, to_inputs
from fjax.data.timeseries import Series, duration_text, load_series
from fjax.data.windows import Plan, origin_grid, target_rows
from fjax.datasets import read_table
from fjax.report.files import RunDir, markdown_table
from fjax.tasks.experiment import setup_lines, warned_setup_changes
from fjax.tasks.forecast.ahead import forecast_fields, forecast_windows
from fjax.tasks.forecast.data import (OUTAGE_SPACING, WEEKEND_SHARE, ForecastData,
                                      clock_name, date_texts, dates_offset, warn_spacing,
                                      windowed)
from fjax.tasks.forecast.evaluate import in_float64, point_metrics
from fjax.tasks.forecast.model_file import SavedForecaster, date_numbers, read_forecaster
from fjax.tasks.forecast.report import ahead_frame, grid_point_text
from fjax.tasks.frozen import (MODEL_FILE, as_run_read, model_path, out_folder,
                               rerun_command, run_settings_note, sha256)

OUTPUTS = ("config.json", "score.json", "ahead.csv", "errors.csv", "report.md")


@frozen_config
class ScoreConfig:
    """Forecast after a newer price file's last row with a finished forecast run's saved
    model (its model.msgpack), without training, and score it on the rows it never saw."""

    run: str
    """The folder a `fjax run forecast` (or `fjax sweep forecast`) wrote, e.g. runs/forecast."""
    data: str
    """The prices (.csv or .parquet): the run's columns, its rows and newer, or newer only."""
    out: str | None = None
    """Where to write; default: the run's folder name + _scored beside it."""


def saved_forecaster(run: Path) -> SavedForecaster:
    """The model a forecast run saved in `run` (`fjax.tasks.frozen.model_path`)."""
    return read_forecaster(model_path(run, "forecast", (
        "forecast with a model retrained on the new file, "
        f"`{rerun_command(run, 'forecast')} --data.path NEW.csv --out DIR`")))


def run_rows_end(model: SavedForecaster, dates: np.ndarray, values: np.ndarray,
                 columns: tuple[str, ...], source: str) -> int:
    """The number of the file's rows on or before the run's last date (0: the file starts
    after it), refusing a file that ends before it, disagrees with the run's last rows
    on a date both hold (revised prices: the model's scaler and errors are of the old). A
    file without dates is matched to the run's rows by row number, so it holds the run's rows
    from the first."""
    stamps = date_texts(dates_back(model.tail_dates, model))
    if dates[-1] < model.last_date:
        raise ValueError(f"--data {source} ends at {date_texts(dates_back(dates[-1:], model))[0]}"
                         f", before the run's last row ({stamps[-1]}): the model was trained "
                         "on later prices; give a file that ends on or after it"
                         + ROW_NUMBERS * (not model.dated))
    at = np.searchsorted(dates, model.tail_dates)
    held = (at < len(dates)) & (dates[np.minimum(at, len(dates) - 1)] == model.tail_dates)
    same = np.isclose(values[at[held]], model.tail_values[held], rtol=1e-12, atol=0)
    if not same.all():
        i, j = np.argwhere(~same)[0]
        raise ValueError(
            f"--data {source}: column {columns[j]!r} on {np.array(stamps)[held][i]} is "
            f"{float(values[at[held]][i, j])!r}, the run read "
            f"{float(model.tail_values[held][i, j])!r}: "
            "the file revises the run's rows (or its dates are not the run's), so the run's "
            "scaler and backtest do not describe it; retrain on it with `fjax run forecast`"
            + ROW_NUMBERS * (not model.dated))
    return int(np.searchsorted(dates, model.last_date, side="right"))


ROW_NUMBERS = (" (the file has no date column, so its rows are matched to the run's by "
               "row number: give the run's file with the new rows appended)")


def _gap(model: SavedForecaster, dates: np.ndarray) -> tuple[int, bool] | None:
    """Where a file of newer rows only (every date after the run's last) starts after a
    gap: further from the run's last date than the run's largest spacing between dates
    (its weekends and holidays), or, in a series that runs every day, than the run's
    outage rule allows (`OUTAGE_SPACING` x its median spacing, `outage_note`; its own
    outages no excuse), its distance from the run's last date and whether it is an
    outage; else None. A file without dates never starts after the run's rows (both count
    rows from 0)."""
    step = int(dates[0]) - model.last_date
    every_day = model.weekend_share > WEEKEND_SHARE
    outage = every_day and step > OUTAGE_SPACING * model.median_step
    return (step, outage) if step > model.largest_step or outage else None


def warn_gap(model: SavedForecaster, dates: np.ndarray, source: str,
             gap: tuple[int, bool]) -> None:
    """Warn of a file of newer rows only that starts after a gap (`_gap`): its windows
    lie in the file itself, so the forecast is right, but errors.csv leaves the rows in
    between unscored."""
    step, outage = gap
    first, last = date_texts(dates_back(np.array([dates[0], model.last_date]), model))
    why = (f"over {OUTAGE_SPACING:g}x the run's median spacing "
           f"({duration_text(model.median_step)}), which the run warns of as an outage in "
           f"a series that runs every day ({model.weekend_share:.0%} of its rows on a "
           "Saturday or Sunday)" if outage else
           f"longer than any spacing between the run's dates (at most "
           f"{duration_text(model.largest_step)})")
    warnings.warn(
        f"--data {source} starts at {first}, {duration_text(step)} after the run's last "
        f"row ({last}), {why}: errors.csv scores its rows only, not those in between; "
        f"include the rows after {last} to score them too")


def check_clock(model: SavedForecaster, series: Series, source: str) -> None:
    """Refuse a file whose times are on another clock than the run's (`dates_offset`): a
    run read as UTC (offsets across a daylight-saving change) and a newer file of one
    offset (+02:00, kept as written) would be matched to the run's rows hours off. A file
    or run that wrote no offset names no clock to compare."""
    offset = dates_offset(series)
    if offset is None or model.offset is None or offset == model.offset:
        return
    clock, run_clock = clock_name(offset), clock_name(model.offset)
    raise ValueError(
        f"--data {source} writes its times on {clock}, the run's file on {run_clock}: "
        f"matched to the run's rows by the times as read, they would be "
        f"{duration_text(abs(offset - model.offset) * 10**9)} off; write them on the run's "
        "clock" + (" (in UTC, e.g. 2024-04-01T10:00Z)" if run_clock == "UTC"
                   else f" (with the offset {run_clock[3:]})"))


def dates_back(numbers: np.ndarray, model: SavedForecaster) -> np.ndarray:
    """`date_numbers` undone: datetimes again where the run's were."""
    return np.array(numbers, "datetime64[ns]") if model.dated else numbers


def frozen_data(model: SavedForecaster, frame: pd.DataFrame, source: str) -> tuple:
    """The file as the run's own data would read it, scaled by the saved scaler: a
    `ForecastData` of one origin whose windows are those scored out of sample (every
    target after the run's last row, in the file: its test span's rows), the first
    scorable origin (`scored_start`) and the file's row count. A file of newer rows only
    that continues the run's is read after the run's last rows (`after_run_rows`)."""
    d = model.config.data
    file = as_run_read(lambda: load_series(frame, d.columns, date_column=d.date_column,
                                           missing=d.missing, max_gap=d.max_gap,
                                           source=source), source, "forecast")
    check_clock(model, file, source)
    spacing = warn_spacing(file, d.max_gap, run_settings_note(
        source, "forecast", "--data.max-gap and --data.missing"))
    transforms = d.used_feature_transforms
    first, window, horizon = inputs_first_row(d.transform, transforms), d.window, d.horizon
    numbers = date_numbers(file.dates, model.dated)
    gap = _gap(model, numbers)
    continues = continues_run(model, numbers, gap)
    # the run's last rows or none, then newer: read after its last rows (a window's worth)
    series = after_run_rows(model, file, numbers) if continues else file
    if series.n < window + first:
        raise ValueError(f"--data {source} has {series.n} rows; the model reads windows of "
                         f"{window} rows" + (f" after {first} row(s) its differences need"
                                             if first else "")
                         + f": give at least {window + first} rows")
    run_rows = run_rows_end(model, numbers, file.values, file.columns, source)
    if gap is not None:   # after run_rows_end's refusals, none of which such a file meets
        warn_gap(model, numbers, source, gap)
    end = len(model.tail_dates) if continues else run_rows   # the run's rows' end in `series`
    z = as_run_read(lambda: to_inputs(series.values, d.transform, transforms, series.columns,
                                      dates=series.dates, source=source), source, "forecast")
    # the run's grid (`plan_windows`) on the file, from the first window of new targets:
    # a model trained and tested every `stride` rows is scored as its backtest was
    start = scored_start(end, window, first)
    origins = origin_grid(start, series.n - horizon, d.stride)
    rows = target_rows(origins, horizon)
    observed = (np.ones(rows.shape, bool) if series.made is None else ~series.made[rows])
    n = len(origins)
    plan = Plan(origins=origins, train=np.zeros((1, n), np.float32),
                val=np.zeros((1, n), np.float32), test=np.ones((1, n), np.float32),
                spans=({"train": (0, 0), "val": None, "test": (end, series.n)},),
                window=window, horizon=horizon)
    return windowed(d, source, series, plan, (model.scaler,), [model.scaler.transform(z)],
                    observed, spacing=spacing), start, file.n


def continues_run(model: SavedForecaster, numbers: np.ndarray,
                  gap: tuple[int, bool] | None) -> bool:
    """Whether a file continues the run's rows from model.msgpack's: it starts after the
    run's last date but not after a gap (`gap`: `_gap`'s), or on one of the run's last
    rows that model.msgpack holds and ends after them (its shared rows are checked
    against the run's by `run_rows_end`)."""
    first, last = int(numbers[0]), int(numbers[-1])
    if first > model.last_date:
        return gap is None
    return first >= int(model.tail_dates[0]) and last > model.last_date


def after_run_rows(model: SavedForecaster, series: Series, numbers: np.ndarray) -> Series:
    """A file that continues the run's rows (`continues_run`; `numbers`: its dates as
    `date_numbers`), its rows after the run's last date put after the run's last rows
    (`model.tail_*`: a window's and its differences' worth), so that the windows whose
    targets lie in the file but whose inputs begin before it are scored, as in the run's
    file with the rows appended."""
    new = numbers > model.last_date   # the rows after those the run also holds
    holes = series.holes
    if holes is not None:
        holes = np.vstack([np.zeros(model.tail_values.shape, bool), holes[new]])
    dates = dates_back(np.concatenate([model.tail_dates, numbers[new]]), model)
    return dataclasses.replace(series, dates=dates, holes=holes,
                               values=np.vstack([model.tail_values, series.values[new]]))


def scored_start(end: int, window: int, first: int) -> int:
    """The first origin scored out of sample: after the run's rows (`end`) and with a
    whole window of defined inputs (rows from `first`); the scored windows and the
    begun ones (`partial_windows`) are both counted from it."""
    return max(end, window + first)


def partial_windows(n: int, start: int, horizon: int, stride: int) -> int:
    """How many windows of the scored grid (`origin_grid`), after its last, forecast the
    file's last rows but not all their steps (a target past row n - 1): left out of
    errors.csv, known steps too, so that every step is scored on the same windows, as in
    the run's backtest."""
    return int(np.count_nonzero(np.arange(n - horizon + stride, n, stride) >= start))


@in_float64
def step_errors(data: ForecastData, point: np.ndarray, lower, upper,
                naive_scale: float) -> pd.DataFrame:
    """`errors.csv`: per step, the model's and the naive forecast's RMSE, MAE and MASE
    (scaled by the run's latest origin's training span) over the observed targets of
    the out-of-sample windows, and the interval's coverage where it has one."""
    naive = np.repeat(data.last_price[:, None], data.plan.horizon, axis=1)
    out = []
    for h in range(data.plan.horizon):
        col, seen = slice(h, h + 1), data.observed[:, h:h + 1]
        model, base = (point_metrics(p[:, col], data.actual[:, col], data.last_price,
                                     naive_scale, seen) for p in (point, naive))
        row = {"step": h + 1, "targets": int(seen.sum()),
               **{name: model[name] for name in ("rmse", "mae", "mase")},
               **{f"naive_{name}": base[name] for name in ("rmse", "mae", "mase")}}
        if lower is not None:
            inside = (lower[:, h] <= data.actual[:, h]) & (data.actual[:, h] <= upper[:, h])
            row["coverage"] = float(inside[seen[:, 0]].mean())
        out.append(row)
    return pd.DataFrame(out)


def describe(model: SavedForecaster) -> str:
    """One line naming the saved members: the model kind, the run's latest origin, its
    seeds, the grid point (a sweep's) and the last training row."""
    m = model.facts
    return (f"{model.config.model.kind}, the run's latest origin ({m['origin']}), "
            f"{m['seeds']} seed(s)"
            + (f", {grid_point_text(m['point'], m['settings'])}" if m.get("point") else "")
            + f", trained on rows up to {m['train_last_date']}")


def run_config(run: Path) -> dict | None:
    """The run's own config.json (a sweep's: its base config), as credit and fraud record
    the run's config in score.json; None where the folder has none."""
    path = run / "config.json"
    return json.loads(path.read_text()) if path.is_file() else None


def score_note(facts: dict, ahead: pd.DataFrame, errors: pd.DataFrame | None,
               clock: str | None) -> str:
    """report.md: what was forecast, with which model, and how it did on the new rows;
    `clock` names the run's saved clock (`clock_name`; None where its file wrote none)."""
    lines = [
        "# Forecast from a saved forecast model", "",
        f"- Model: `{facts['model_file']}` (SHA-256 {facts['model_sha256'][:12]}...), "
        f"{facts['model']}; not retrained. Its backtest is the run's own report "
        f"(`{facts['run']}/report.md`).",
        f"- Data: {facts['rows']} rows of `{facts['data']}` (SHA-256 "
        f"{facts['data_sha256'][:12]}...), {facts['new_rows']} after the run's last row "
        f"({facts['run_last_date']}); the last is {facts['issued']}.",
        f"- `ahead.csv`: the {len(ahead)} row(s) after {facts['issued']}"
        + (", each step's time in its `date` column" if "date" in ahead else "")
        + ", scaled by the run's scaler (fitted on that origin's training rows), beside "
        "each step's backtest test RMSE as the measure of trust.",
        *setup_lines(facts["setup_changed"], "forecast"),
        *([f"- Times: {clock}, the run's clock (saved with the model); the CSVs write "
           "them on it."] if clock else []), ""]
    partial = facts["partial_windows"]
    left_out = (f"{partial} window(s) forecast the file's last rows but end past "
                "them: left out, their known steps too, so that every step is scored on "
                "the same windows (as in the run's backtest); a longer file scores them."
                if partial else "")
    if errors is None:
        lines += ["No window has every target after the run's last row and in the file: "
                  "nothing to score out of sample yet." + (" " + left_out) * bool(partial),
                  ""]
    else:
        stride = facts["stride"]
        lines += [f"## Out of sample: {facts['windows']} window(s) forecasting only rows "
                  "after the run's data", "",
                  *([f"One window every {stride} rows, as the run's (`--data.stride "
                     f"{stride}`), the last ending on the file's last row.", ""]
                    if stride > 1 else []),
                  *([left_out, ""] if partial else []),
                  "Per step, the model's errors beside the naive forecast's (the last "
                  "price); MASE is scaled by the naive one-step error of the run's latest "
                  "training span.", "", markdown_table(errors), ""]
    return "\n".join(lines)


def score(cfg: ScoreConfig) -> Path:
    """Forecast after `cfg.data`'s last row with the model saved in `cfg.run`, and score
    it on the rows after the run's; returns the output folder."""
    t_start = time.perf_counter()
    run = Path(cfg.run)
    model = saved_forecaster(run)
    data, start, file_rows = frozen_data(model, read_table(cfg.data, field="--data"),
                                         repr(cfg.data))
    end, n = data.plan.spans[0]["test"]   # the rows after the run's
    out = out_folder(cfg.out, run)   # bad input fails before anything is written
    c, d = model.config, model.config.data
    level, batch = c.evaluation.interval, c.train.eval_batch_size
    fc = forecast_windows(c, model.params, data.last_window, data.prices[-1:], data, 0,
                          level, batch)
    ahead = ahead_frame(data, {"steps": data.plan.horizon,
                               **forecast_fields(fc, float(data.prices[-1]))}, model.trust)
    if model.largest_step != model.median_step:   # the run's rows are not evenly spaced, so
        ahead = ahead.drop(columns="date", errors="ignore")   # a few newer ones don't date it
    errors = None
    if len(data.plan.origins):
        oos = forecast_windows(c, model.params, data.x, data.last_price, data, 0, level, batch)
        errors = step_errors(data, oos.point, oos.lower, oos.upper, model.naive_scale)
    text = date_texts(data.series.dates)
    facts = {"run": str(run), "model_file": str(run / MODEL_FILE),
             "model_sha256": sha256(run / MODEL_FILE), "model": describe(model),
             "model_facts": model.facts,
             "data": cfg.data, "data_sha256": sha256(Path(cfg.data)),
             "rows": file_rows, "run_last_date": model.facts["issued"],
             "new_rows": int(n - end), "issued": text[-1],
             "windows": int(len(data.plan.origins)), "stride": d.stride,
             "partial_windows": partial_windows(data.series.n, start, d.horizon, d.stride),
             "setup_changed": warned_setup_changes(run, "the forecast")}
    folder = RunDir(out)
    folder.remove(*OUTPUTS)
    folder.json("config.json", to_dict(cfg))
    folder.csv("ahead.csv", ahead)
    if errors is not None:
        folder.csv("errors.csv", errors)
    folder.json("score.json", {**facts, "run_config": run_config(run),
                               "errors": None if errors is None
                               else errors.to_dict(orient="records"),
                               "timings_s": {"total": time.perf_counter() - t_start}})
    clock = None if model.offset is None else clock_name(model.offset)
    folder.text("report.md", score_note(facts, ahead, errors, clock))
    return out
