"""`fjax score forecast`: a forecast run's saved model (model.msgpack) forecasts after a
newer file's last row without training: the run's own file gives the run's ahead.csv
byte for byte; appended rows give the forecast and out-of-sample errors that a float64
numpy rebuild (test_forecast_ahead's) computes from the run's members; bad files are
refused before anything is written."""

import dataclasses
import json
import shutil
import warnings

import jax
import numpy as np
import pandas as pd
import pytest
from flax import serialization

from fjax import cli
from fjax.data.timeseries import load_series
from fjax.tasks.forecast import frozen, run
from fjax.tasks.forecast.frozen import ScoreConfig, partial_windows, run_rows_end, score
from fjax.tasks.forecast.model_file import read_forecaster
from fjax.tasks.frozen import MODEL_FILE, as_run_read, run_settings_note
from test_forecast_ahead import (GAUSSIAN, GRID, QUANTILE, ahead_by_hand, make_config,
                                 run_capturing)
from test_forecast_run import write_prices

RUN_ROWS, NEW_ROWS = 260, 40


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A 2-origin quantile run on the first RUN_ROWS rows of a longer price file."""
    root = tmp_path_factory.mktemp("frozen")
    full = write_prices(root / "full.csv", n=RUN_ROWS + NEW_ROWS)
    full.iloc[:RUN_ROWS].to_csv(root / "prices.csv", index=False)
    cfg = make_config(root, QUANTILE)
    with pytest.MonkeyPatch.context() as mp:
        out, results = run_capturing(cfg, None, mp)
    return root, cfg, full, out, results


def test_scoring_the_runs_own_file_writes_its_ahead_csv_byte_for_byte(saved_run, tmp_path):
    root, cfg, _, out, _ = saved_run
    scored = score(ScoreConfig(run=str(out), data=str(root / "prices.csv"),
                               out=str(tmp_path / "scored")))
    assert (scored / "ahead.csv").read_bytes() == (out / "ahead.csv").read_bytes()
    facts = json.loads((scored / "score.json").read_text())
    a = json.loads((out / "metrics.json").read_text())["ahead"]   # as credit's and fraud's:
    assert facts["model"] == (f"{cfg.model.kind}, the run's latest origin ({a['origin']}), "
                              f"{a['seeds']} seed(s), trained on rows up to "
                              f"{a['train_last_date']}")   # a line, and the run's config
    assert facts["run_config"] == json.loads((out / "config.json").read_text())
    assert facts["new_rows"] == 0 and facts["windows"] == 0 and facts["errors"] is None
    assert not (scored / "errors.csv").exists()
    note = (scored / "report.md").read_text()
    assert "nothing to score out of sample yet" in note
    assert "Times:" not in note                     # a file of dates writes no clock


def test_the_saved_members_are_the_latest_origins_seeds(saved_run):
    """model.msgpack's parameters are the reported members of the latest origin, one per
    seed, in seed order (read with flax, not fjax's reader)."""
    _, cfg, _, out, results = saved_run
    saved = serialization.msgpack_restore((out / MODEL_FILE).read_bytes())
    pop = results[0].population
    table = pop.table()
    members = table[table["fold"] == cfg.data.origins - 1].sort_values("seed")["member"]
    for s, member in enumerate(members):
        want = pop.member_params(int(member))
        got = jax.tree.map(lambda p, s=s: p[s], saved["params"])
        jax.tree.map(np.testing.assert_array_equal, got, jax.tree.map(np.asarray, want))


def test_a_gaussian_sweeps_chosen_point_scores_its_own_file_byte_for_byte(tmp_path):
    """A 2-point sweep with a validation span chooses point 2 (lr 0.1) on this data; the
    saved model is that point's, bounds from the Gaussian head: the run's own file gives
    its ahead.csv, lower and upper included."""
    write_prices(tmp_path / "prices.csv")
    with pytest.MonkeyPatch.context() as mp:
        out, _ = run_capturing(make_config(tmp_path, GAUSSIAN), GRID, mp)
    ahead = json.loads((out / "metrics.json").read_text())["ahead"]
    assert ahead["point"] == 2 and ahead["settings"] == {"optim.learning_rate": 0.1}
    assert read_forecaster(out / MODEL_FILE).facts["point"] == 2
    scored = score(ScoreConfig(run=str(out), data=str(tmp_path / "prices.csv"),
                               out=str(tmp_path / "scored")))
    assert {"lower", "upper"} <= set(pd.read_csv(scored / "ahead.csv").columns)
    assert (scored / "ahead.csv").read_bytes() == (out / "ahead.csv").read_bytes()
    assert "grid point 2: optim.learning_rate 0.1" in (scored / "report.md").read_text()
    assert "grid point 2: optim.learning_rate 0.1" in json.loads(
        (scored / "score.json").read_text())["model"]


def check_errors_by_hand(path, full, cfg, m, results) -> int:
    """errors.csv at `path` against the float64 rebuild's per-step RMSE over every window
    whose targets all lie after the run's rows, and the naive forecast's RMSE and MAE
    beside it; returns the number of those windows."""
    h = cfg.data.horizon
    starts = np.arange(RUN_ROWS, len(full) - h + 1)    # every target after the run's rows
    prices = full["price"].to_numpy(np.float64)
    actual = prices[starts[:, None] + np.arange(h)]
    point = np.array([ahead_by_hand(full, cfg, m, results, t)["forecast"] for t in starts])
    naive = prices[starts - 1][:, None]
    errors = pd.read_csv(path)
    assert errors["targets"].tolist() == [len(starts)] * h
    np.testing.assert_allclose(errors["rmse"], np.sqrt(np.mean((point - actual) ** 2, 0)),
                               rtol=1e-5)
    np.testing.assert_allclose(errors["naive_rmse"],
                               np.sqrt(np.mean((naive - actual) ** 2, 0)), rtol=1e-12)
    np.testing.assert_allclose(errors["naive_mae"], np.mean(np.abs(naive - actual), 0),
                               rtol=1e-12)
    return len(starts)


def test_appended_rows_give_a_numpy_rebuilds_forecast_and_errors(saved_run, tmp_path):
    """The file with NEW_ROWS more rows: ahead.csv is the float64 rebuild of the window
    ending at its last row (scaled by the run's latest origin's training rows, not
    refitted), and errors.csv the rebuild's per-step RMSE over every window whose
    targets all lie after the run's rows, beside the naive forecast's."""
    root, cfg, full, out, results = saved_run
    m = json.loads((out / "metrics.json").read_text())
    scored = score(ScoreConfig(run=str(out), data=str(root / "full.csv"),
                               out=str(tmp_path / "scored")))
    table = pd.read_csv(scored / "ahead.csv")
    expected = ahead_by_hand(full, cfg, m, results, len(full))
    for name, values in expected.items():
        np.testing.assert_allclose(table[name], values, rtol=2e-6, err_msg=name)
    run_table = pd.read_csv(out / "ahead.csv")
    assert table["test_rmse"].tolist() == run_table["test_rmse"].tolist()
    assert (pd.to_datetime(table["issued"]) == full["Date"].iloc[-1]).all()

    windows = check_errors_by_hand(scored / "errors.csv", full, cfg, m, results)
    facts = json.loads((scored / "score.json").read_text())
    assert facts["new_rows"] == NEW_ROWS and facts["windows"] == windows

    # a file of the new rows only forecasts the same (its last window lies in them)
    newer = tmp_path / "newer.csv"
    full.iloc[RUN_ROWS:].to_csv(newer, index=False)
    alone = score(ScoreConfig(run=str(out), data=str(newer), out=str(tmp_path / "alone")))
    assert (alone / "ahead.csv").read_bytes() == (scored / "ahead.csv").read_bytes()


def test_a_file_of_new_rows_only_scores_every_window_the_appended_file_does(saved_run,
                                                                           tmp_path):
    """The new rows alone, starting the row after the run's last: the windows whose
    targets all lie in them read their first inputs from the run's last rows (saved in
    model.msgpack), so errors.csv scores all of them, as the run's file with the rows
    appended does, not only those whose whole window lies in the new file."""
    root, cfg, full, out, results = saved_run
    m = json.loads((out / "metrics.json").read_text())
    newer = tmp_path / "newer.csv"
    full.iloc[RUN_ROWS:].to_csv(newer, index=False)
    alone = score(ScoreConfig(run=str(out), data=str(newer), out=str(tmp_path / "alone")))
    windows = check_errors_by_hand(alone / "errors.csv", full, cfg, m, results)
    facts = json.loads((alone / "score.json").read_text())
    assert facts["rows"] == NEW_ROWS and facts["new_rows"] == NEW_ROWS
    assert facts["windows"] == windows


def test_a_file_of_fewer_new_rows_than_a_window_is_read_after_the_runs_last_rows(
        saved_run, tmp_path):
    """5 new rows, fewer than the window's 10 (and the log return's 1): the saved model
    holds the run's last rows, so the forecast after them is the float64 rebuild's from
    the run's file with the 5 rows appended, not a refusal to give 11 rows."""
    root, cfg, full, out, results = saved_run
    m = json.loads((out / "metrics.json").read_text())
    new = 5
    assert new < cfg.data.window
    newer = tmp_path / "newer.csv"
    full.iloc[RUN_ROWS:RUN_ROWS + new].to_csv(newer, index=False)
    alone = score(ScoreConfig(run=str(out), data=str(newer), out=str(tmp_path / "alone")))
    table = pd.read_csv(alone / "ahead.csv")
    expected = ahead_by_hand(full, cfg, m, results, RUN_ROWS + new)
    np.testing.assert_allclose(table["forecast"], expected["forecast"], rtol=2e-6)
    assert json.loads((alone / "score.json").read_text())["rows"] == new


def test_a_short_file_starting_on_the_runs_last_rows_continues_them(saved_run, tmp_path):
    """The run's last row (or last 3) and 5 new ones, fewer than a window: the rows it
    shares with the run agree with model.msgpack's, so it forecasts as the run's file with
    the new rows appended (the float64 rebuild), not a refusal to give 11 rows; a shared
    row that disagrees is refused as a revision, not for its length."""
    root, cfg, full, out, results = saved_run
    m = json.loads((out / "metrics.json").read_text())
    expected = ahead_by_hand(full, cfg, m, results, RUN_ROWS + 5)
    for shared in (1, 3):
        path = tmp_path / f"from_run_{shared}.csv"
        full.iloc[RUN_ROWS - shared:RUN_ROWS + 5].to_csv(path, index=False)
        scored = score(ScoreConfig(run=str(out), data=str(path),
                                   out=str(tmp_path / f"scored_{shared}")))
        table = pd.read_csv(scored / "ahead.csv")
        np.testing.assert_allclose(table["forecast"], expected["forecast"], rtol=2e-6)
        facts = json.loads((scored / "score.json").read_text())
        assert facts["rows"] == shared + 5 and facts["new_rows"] == 5
    revised = full.iloc[RUN_ROWS - 1:RUN_ROWS + 5].copy()
    revised.iloc[0, revised.columns.get_loc("price")] *= 1.01
    revised.to_csv(tmp_path / "revised.csv", index=False)
    with pytest.raises(ValueError, match="the file revises the run's rows"):
        score(ScoreConfig(run=str(out), data=str(tmp_path / "revised.csv"),
                          out=str(tmp_path / "revised")))


def test_bad_files_are_refused_before_anything_is_written(saved_run, tmp_path, capsys):
    root, cfg, full, out, _ = saved_run
    dest = tmp_path / "scored"

    def refused(frame: pd.DataFrame, match: str) -> None:
        path = tmp_path / "bad.csv"
        frame.to_csv(path, index=False)
        with pytest.raises(ValueError, match=match):
            score(ScoreConfig(run=str(out), data=str(path), out=str(dest)))

    refused(full.drop(columns="volume"), "volume")
    short = cfg.data.window + 1                       # log returns need one row more
    refused(full.iloc[-short + 1:], rf"has {short - 1} rows.* give at least {short} rows")
    revised = full.copy()
    revised.loc[RUN_ROWS - 1, "price"] *= 1.01
    was, now = (float(f.loc[RUN_ROWS - 1, "price"]) for f in (full, revised))
    refused(revised, rf"column 'price' on \d{{4}}-\d\d-\d\d is {now!r}, the run read "
            rf"{was!r}: the file revises the run's")   # numbers, not np.float64(...)
    refused(full.iloc[:RUN_ROWS - 5], "before the run's last row")
    # new rows only, one business day left out: Tuesday 4 days after the run's last row,
    # a Friday, where the run's dates are at most 3 days apart (the Monday passes quietly);
    # its windows lie in the file, so it is scored, and the unscored days are warned of
    assert full["Date"].iloc[RUN_ROWS - 1].day_name() == "Friday"
    later = tmp_path / "later.csv"
    full.iloc[RUN_ROWS + 1:].to_csv(later, index=False)
    with pytest.warns(UserWarning, match=r"starts at 2022-01-04, 4 days after the run's last "
                      r"row \(2021-12-31\), .*at most 3 days\): errors.csv scores its rows"):
        score(ScoreConfig(run=str(out), data=str(later), out=str(tmp_path / "later")))
    gap = full.copy()
    gap.loc[RUN_ROWS + 3, "price"] = np.nan
    refused(gap, "price")
    older = tmp_path / "older"
    shutil.copytree(out, older)
    (older / MODEL_FILE).unlink()
    assert cli.main(["score", "forecast", "--run", str(older), "--data",
                     str(root / "full.csv"), "--out", str(dest)]) == 2
    assert "has no saved model (model.msgpack)" in capsys.readouterr().err
    # a model saved before format 2 (no clock, spacing or weekend share) is named, not a
    # KeyError
    saved = serialization.msgpack_restore((out / MODEL_FILE).read_bytes())
    (older / MODEL_FILE).write_bytes(serialization.msgpack_serialize(saved | {"version": 1}))
    assert cli.main(["score", "forecast", "--run", str(older), "--data",
                     str(root / "full.csv"), "--out", str(dest)]) == 2
    err = capsys.readouterr().err
    assert "in forecast model format 1; this fjax reads format 2" in err
    assert f"--config {older / 'config.json'} --out DIR`" in err   # the command to save anew
    assert not dest.exists()


def test_a_newer_file_of_trading_days_without_a_weekend_gets_no_step_dates(tmp_path):
    """The run's trading days (weekends between) get no step dates: no calendar is assumed.
    A newer file of only Monday to Thursday is evenly spaced on its own, and score dated
    the steps after Thursday as Friday and Saturday, a day no trading-day row falls on."""
    full = write_prices(tmp_path / "full.csv", n=264)   # 2021-01-04, a Monday, on
    full.iloc[:260].to_csv(tmp_path / "prices.csv", index=False)
    out = run(make_config(tmp_path, GAUSSIAN | dict(data=dict(GAUSSIAN["data"], window=3))),
              progress=False)
    assert "date" not in pd.read_csv(out / "ahead.csv")
    newer = tmp_path / "newer.csv"
    full.iloc[260:].to_csv(newer, index=False)
    assert full["Date"].iloc[260:].dt.day_name().tolist() == [
        "Monday", "Tuesday", "Wednesday", "Thursday"]
    scored = score(ScoreConfig(run=str(out), data=str(newer), out=str(tmp_path / "scored")))
    table = pd.read_csv(scored / "ahead.csv")
    assert "date" not in table and len(table) == GAUSSIAN["data"]["horizon"]


def test_an_outage_in_a_newer_file_of_every_days_rows_is_warned_as_the_run_warns(tmp_path):
    """Crypto trades every day. `fjax run forecast` warns of spacings over 1.5x the median
    in such a series (outages, under max_gap 7, each read as one row), but scoring a newer
    file did not: 2 days lost after the run's last row (2024-04-29, a Monday) were
    scored, windows across them taking a 3-day move for one step, without a word."""
    days = pd.date_range("2024-01-01", periods=160, freq="D")
    prices = 100 * np.exp(np.cumsum(0.03 * np.random.default_rng(1).standard_normal(160)))
    frame = pd.DataFrame({"Date": days, "price": prices})
    frame.iloc[:120].to_csv(tmp_path / "prices.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # the run's own file has no outage
        out = run(make_config(tmp_path, GAUSSIAN), progress=False)
        score(ScoreConfig(run=str(out), data=str(tmp_path / "prices.csv"),
                          out=str(tmp_path / "own")))
    newer = tmp_path / "newer.csv"
    frame.drop(index=[120, 121]).to_csv(newer, index=False)
    with pytest.warns(UserWarning, match=r"run through weekends .* 1 spacing\(s\) exceed 1.5x "
                      r"the median 1 day.*the longest 3 days from 2024-04-29 to 2024-05-02.*"
                      r"with its run.s --data.max-gap and --data.missing: changing them "
                      r"takes a new `fjax run forecast`\)$"):
        scored = score(ScoreConfig(run=str(out), data=str(newer), out=str(tmp_path / "new")))
    assert json.loads((scored / "score.json").read_text())["windows"] == 38 - 2 + 1


def test_a_join_the_run_would_call_an_outage_is_warned_after_a_longer_outage(tmp_path):
    """Hourly bars every day. The run's data had a 7-hour outage (under max_gap 7, warned
    and let pass), so its largest spacing was 7 hours, and a newer file starting 5 hours
    after the run's last bar passed silently: the join was judged by the run's largest
    spacing, not by the run's rule for such a series (over 1.5x the median is an outage,
    `outage_note`). The saved model keeps the run's median spacing and weekend share."""
    hours = pd.date_range("2024-01-01", periods=260, freq="h")
    prices = 100 * np.exp(np.cumsum(0.01 * np.random.default_rng(2).standard_normal(260)))
    frame = pd.DataFrame({"Date": hours, "price": prices})
    ran = frame.iloc[:200].drop(index=range(100, 106))      # 7 hours from row 99 to 106
    ran.to_csv(tmp_path / "prices.csv", index=False)
    with pytest.warns(UserWarning, match="exceed 1.5x the median 1 hour"):   # the run's note
        out = run(make_config(tmp_path, GAUSSIAN), progress=False)
    model = read_forecaster(out / MODEL_FILE)
    step = np.diff(ran["Date"].to_numpy().astype("datetime64[ns]")).astype(np.int64)
    assert model.largest_step == step.max() == 7 * 3600 * 10**9
    assert model.median_step == np.median(step) == 3600 * 10**9
    assert model.weekend_share == np.mean(ran["Date"].dt.day_of_week.to_numpy() >= 5)
    assert model.weekend_share > 0.2                        # a series that runs every day
    joined = tmp_path / "joined.csv"                        # starts 1 hour after: no gap
    frame.iloc[200:].to_csv(joined, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        score(ScoreConfig(run=str(out), data=str(joined), out=str(tmp_path / "joined")))
    later = tmp_path / "later.csv"                          # 4 bars left out: 5 hours
    frame.iloc[204:].to_csv(later, index=False)
    assert (hours[204] - hours[199]) / pd.Timedelta(hours=1) == 5 > 1.5 * 1
    with pytest.warns(UserWarning, match=r"starts at 2024-01-09 12:00, 5 hours after the "
                      r"run's last row \(2024-01-09 07:00\), over 1.5x the run's median "
                      r"spacing \(1 hour\).*errors.csv scores its rows only"):
        score(ScoreConfig(run=str(out), data=str(later), out=str(tmp_path / "later")))


def test_a_newer_file_on_another_clock_than_the_runs_is_refused(tmp_path):
    """Berlin hours across the March change are read as UTC; a newer file of April hours
    alone writes one offset, +02:00, and keeps its wall clocks, 2 hours ahead of the run's
    dates: it was matched to the run's rows 2 hours off (here, warned of as a 3-hour gap
    and scored). The saved model keeps its run's clock, and another is refused; the same
    hours written in UTC score."""
    stamps = pd.date_range("2024-03-25", periods=260, freq="h", tz="Europe/Berlin")
    prices = 100 * np.exp(np.cumsum(0.01 * np.random.default_rng(5).standard_normal(260)))
    frame = pd.DataFrame({"Date": [t.isoformat() for t in stamps], "price": prices})
    frame.iloc[:200].to_csv(tmp_path / "prices.csv", index=False)
    with pytest.warns(UserWarning, match="mixes UTC offsets"):
        out = run(make_config(tmp_path, GAUSSIAN), progress=False)
    assert read_forecaster(out / MODEL_FILE).offset == 0
    newer = tmp_path / "newer.csv"
    assert {t[-6:] for t in frame["Date"].iloc[200:]} == {"+02:00"}
    frame.iloc[200:].to_csv(newer, index=False)
    with pytest.raises(ValueError, match=r"writes its times on UTC\+02:00, the run's file "
                       r"on UTC.*2 hours"):
        score(ScoreConfig(run=str(out), data=str(newer), out=str(tmp_path / "new")))
    in_utc = frame.iloc[200:].assign(Date=[t.tz_convert("UTC").strftime("%Y-%m-%dT%H:%MZ")
                                           for t in stamps[200:]])
    in_utc.to_csv(newer, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # joined 1 hour after the run's last: no gap
        scored = score(ScoreConfig(run=str(out), data=str(newer), out=str(tmp_path / "new")))
    assert json.loads((scored / "score.json").read_text())["new_rows"] == 60
    note = (scored / "report.md").read_text()       # the saved clock, and the steps' times
    assert "- Times: UTC, the run's clock (saved with the model)" in note
    assert "after 2024-04-04 18:00, each step's time in its `date` column" in note
    assert "date" in pd.read_csv(scored / "ahead.csv")


def test_a_file_without_dates_is_matched_by_row_number(saved_run):
    """Without a date column every file counts its rows from 0: a file of new rows only
    is matched to the run's rows by number, and the refusal says so (no gap check)."""
    _, _, full, out, _ = saved_run
    model = dataclasses.replace(read_forecaster(out / MODEL_FILE), dated=False,
                                tail_dates=np.arange(RUN_ROWS - 11, RUN_ROWS))
    values = full[["price", "volume"]].to_numpy(np.float64)
    new = values[RUN_ROWS:]
    with pytest.raises(ValueError, match=r"ends at 39, before the run's last row \(259\).*"
                       "no date column, so its rows are matched to the run's by row number"):
        run_rows_end(model, np.arange(len(new)), new, ("price", "volume"), "'new.csv'")
    shifted = values[NEW_ROWS:]                     # as many rows as the run's, shifted
    with pytest.raises(ValueError, match=r"revises the run's rows.*by row number"):
        run_rows_end(model, np.arange(len(shifted)), shifted, ("price", "volume"), "'x'")
    assert run_rows_end(model, np.arange(len(values)), values, ("price", "volume"), "x") \
        == RUN_ROWS


def test_scoring_on_another_setup_than_the_runs_is_warned_and_recorded(saved_run, tmp_path):
    """As `fjax score credit`: the forecast equals the run's on the run's setup only, so a
    changed jax version is warned of on the command line and kept in score.json."""
    root, _, _, out, _ = saved_run
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    env = json.loads((moved / "environment.json").read_text())
    env["versions"]["jax"] = "0.0.1"
    (moved / "environment.json").write_text(json.dumps(env))
    with pytest.warns(UserWarning, match=r"--run .*moved: the setup differs from the run's: "
                      r"versions.jax '0.0.1' then, .* so the forecast may differ"):
        scored = score(ScoreConfig(run=str(moved), data=str(root / "prices.csv"),
                                   out=str(tmp_path / "scored")))
    facts = json.loads((scored / "score.json").read_text())
    assert facts["setup_changed"]["versions.jax"][0] == "0.0.1"
    assert ("- Setup: differs from the run's: versions.jax '0.0.1' then"
            in (scored / "report.md").read_text())


def test_a_strided_run_is_scored_on_its_own_grid_anchored_at_the_files_end(tmp_path):
    """A run trained and tested every 2 rows (--data.stride 2) was scored on every window
    after its rows, stride 1. Its grid on the 300-row file, anchored as the run anchors
    its own (the last window's last target is the last row), starts windows at rows 297,
    295, ..., 261 (by hand: 297 - 2j >= 260): errors.csv is the float64 rebuild's over
    those 19 windows only."""
    full = write_prices(tmp_path / "full.csv", n=RUN_ROWS + NEW_ROWS)
    full.iloc[:RUN_ROWS].to_csv(tmp_path / "prices.csv", index=False)
    cfg = make_config(tmp_path, QUANTILE | dict(data=dict(QUANTILE["data"], stride=2)))
    with pytest.MonkeyPatch.context() as mp:
        out, results = run_capturing(cfg, None, mp)
    m = json.loads((out / "metrics.json").read_text())
    scored = score(ScoreConfig(run=str(out), data=str(tmp_path / "full.csv"),
                               out=str(tmp_path / "scored")))
    h = cfg.data.horizon
    starts = np.arange(261, 298, 2)
    assert len(starts) == 19 and starts[-1] + h == len(full)
    prices = full["price"].to_numpy(np.float64)
    actual = prices[starts[:, None] + np.arange(h)]
    point = np.array([ahead_by_hand(full, cfg, m, results, t)["forecast"] for t in starts])
    naive = prices[starts - 1][:, None]
    errors = pd.read_csv(scored / "errors.csv")
    assert errors["targets"].tolist() == [19] * h
    np.testing.assert_allclose(errors["rmse"], np.sqrt(np.mean((point - actual) ** 2, 0)),
                               rtol=1e-5)
    np.testing.assert_allclose(errors["mae"], np.mean(np.abs(point - actual), 0), rtol=1e-5)
    np.testing.assert_allclose(errors["naive_rmse"],
                               np.sqrt(np.mean((naive - actual) ** 2, 0)), rtol=1e-12)
    facts = json.loads((scored / "score.json").read_text())
    assert facts["windows"] == 19 and facts["stride"] == 2
    assert facts["partial_windows"] == 1            # row 299: step 1 known, 2 and 3 not
    assert ("One window every 2 rows, as the run's (`--data.stride 2`), the last ending on "
            "the file's last row." in (scored / "report.md").read_text())


def test_windows_ending_past_the_files_last_row_are_counted_and_said_left_out(saved_run,
                                                                                 tmp_path):
    """errors.csv scores every step on the same windows, those whose targets all lie in
    the file; the windows after them, whose first steps are known, were left out without a
    word. By hand, horizon 3: 2 new rows leave no whole window but 2 begun ones (origins
    260 and 261: steps 1-2 and step 1 known); 40 new rows, 38 whole windows and the same
    2 begun ones (298 and 299). The report counts them and says why they are left out."""
    root, cfg, full, out, _ = saved_run
    assert cfg.data.horizon == 3 and cfg.data.stride == 1
    said = ("2 window(s) forecast the file's last rows but end past them: left out, "
            "their known steps too, so that every step is scored on the same windows (as in "
            "the run's backtest); a longer file scores them.")
    for new, windows in ((2, 0), (NEW_ROWS, NEW_ROWS - 2)):
        path = tmp_path / f"plus{new}.csv"
        full.iloc[:RUN_ROWS + new].to_csv(path, index=False)
        scored = score(ScoreConfig(run=str(out), data=str(path), out=str(tmp_path / str(new))))
        facts = json.loads((scored / "score.json").read_text())
        assert (facts["windows"], facts["partial_windows"]) == (windows, 2)
        assert (scored / "errors.csv").exists() == bool(windows)
        assert said in (scored / "report.md").read_text()
    own = score(ScoreConfig(run=str(out), data=str(root / "prices.csv"),
                            out=str(tmp_path / "own")))
    assert json.loads((own / "score.json").read_text())["partial_windows"] == 0
    assert "end past them" not in (own / "report.md").read_text()


def test_partial_windows_stay_on_the_grid_when_few_rows_are_new():
    """The begun windows are counted on the run's grid, anchored at the file's last row:
    the count started at the first scorable origin, off the grid when the file held fewer
    new rows than horizon - stride. By hand, horizon 5, stride 3, the run's rows end at
    260: 261 rows put the grid at 256, 259, 262 (none begun after 260: 0, not 1); 262 rows
    at 257, 260, 263 (260 begun: 1); 266 rows at 261, 264 (264 begun: 1)."""
    assert [partial_windows(n, 260, 5, 3) for n in (261, 262, 266)] == [0, 1, 1]


def test_scored_and_begun_windows_count_from_one_first_scorable_origin(saved_run, tmp_path,
                                                                       monkeypatch):
    """`frozen_data` works out the first scorable origin once (`scored_start`), and `score`
    counts the begun windows from that same value: moved to origin 299 of the 300-row
    file (horizon 3), no window is whole and one (299) is begun, where the run's rows
    (260) would give 38 and 2. Two copies of the rule would disagree here."""
    _, _, full, out, _ = saved_run
    path = tmp_path / "full.csv"
    full.to_csv(path, index=False)
    assert frozen.scored_start(RUN_ROWS, 10, 1) == RUN_ROWS   # by hand: max(260, 11)
    assert frozen.scored_start(2, 10, 1) == 11                # a file of the run's last rows
    calls = []

    def moved(end, window, first):
        calls.append((end, window, first))
        return len(full) - 1

    monkeypatch.setattr(frozen, "scored_start", moved)
    scored = score(ScoreConfig(run=str(out), data=str(path), out=str(tmp_path / "scored")))
    facts = json.loads((scored / "score.json").read_text())
    assert calls == [(RUN_ROWS, 10, 1)]             # window 10, log returns from row 1
    assert (facts["windows"], facts["partial_windows"]) == (0, 1)


def test_a_scored_folder_given_as_run_names_the_run_it_scored(tmp_path, capsys):
    """`--run runs/forecast_new` (a `fjax score` output, no model of its own) was told
    to rerun `fjax run forecast --config runs/forecast_new/config.json`, which fails:
    that config.json is the scoring's ({run, data, out}). It names the run it scored."""
    scored = tmp_path / "forecast_new"
    scored.mkdir()
    (scored / "config.json").write_text(json.dumps(
        {"run": "runs/forecast", "data": "prices.csv", "out": str(scored)}))
    (scored / "score.json").write_text("{}")
    assert cli.main(["score", "forecast", "--run", str(scored), "--data", "prices.csv",
                     "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "the output of `fjax score`, not a run" in err
    assert "--run runs/forecast" in err and "--config" not in err


def test_a_refusal_that_names_a_data_option_says_the_score_reads_the_runs(saved_run, tmp_path):
    """`fjax score forecast` has no --data.* options: a file refused with one of the run's
    fixes (--data.missing, --data.features, --data.transform) says those are the run's
    settings, changed by a new run, and nothing is written."""
    _, _, full, out, _ = saved_run
    missing, negative = full.copy(), full.copy()
    missing.loc[RUN_ROWS + 3, "price"] = np.nan
    negative.loc[RUN_ROWS + 3, "price"] = -5.0
    for frame, option in ((missing, "--data.missing ffill"),
                          (full.drop(columns="volume"), "--data.features"),
                          (negative, "--data.transform")):
        frame.to_csv(tmp_path / "bad.csv", index=False)
        with pytest.raises(ValueError, match=rf"{option}.*\(the saved model reads .*bad.csv' "
                           r"with its run's data settings: changing them takes a new "
                           r"`fjax run forecast`\)$"):
            score(ScoreConfig(run=str(out), data=str(tmp_path / "bad.csv"),
                              out=str(tmp_path / "scored")))
        assert not (tmp_path / "scored").exists()


def test_a_column_named_like_a_data_setting_draws_no_note():
    """The note goes by the refusal's type, not by its text: text in a price column of a
    file whose date column is named `data.date` (which the message names, unquoted) is
    the file's to fix, and draws no note; the same file's refusal that names
    --data.date-column as the fix still does."""
    frame = pd.DataFrame({"data.date": pd.date_range("2020-01-01", periods=6).astype(str),
                          "price": ["1", "2", "3", "abc", "5", "6"]})
    source = "'new.csv'"
    with pytest.raises(ValueError) as refused:
        as_run_read(lambda: load_series(frame, ["price"], date_column="data.date",
                                        source=source), source, "forecast")
    assert "(first at row 3 (data.date '2020-01-04'): 'abc')" in str(refused.value)
    assert "the saved model reads" not in str(refused.value)
    with pytest.raises(ValueError) as refused:
        as_run_read(lambda: load_series(frame.assign(price=1.0 + np.arange(6)), ["price"],
                                        date_column="day", source=source), source, "forecast")
    assert str(refused.value).endswith("pass --data.date-column NAME, or None to use the row "
                                       "order" + run_settings_note(source, "forecast"))
