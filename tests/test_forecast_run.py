"""`fjax run forecast` end to end on small files: the run folder, its numbers, the CLI."""

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fjax import cli
from fjax.config import (LossConfig, ModelConfig, OptimConfig, SweepConfig, TrainConfig,
                         from_json, to_json)
from fjax.tasks.forecast import Config, ForecastDataConfig, run

FILES = ("config.json", "environment.json", "metrics.json", "history.jsonl", "forecast.csv",
         "report.md", "forecast.png", "loss.png", "horizon.png")


def write_prices(path, n=260, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"Date": pd.bdate_range("2021-01-04", periods=n),
                          "price": 30 * np.exp(np.cumsum(0.015 * rng.standard_normal(n))),
                          "volume": rng.uniform(1e3, 2e3, n)})
    frame.to_csv(path, index=False)
    return frame


@pytest.fixture(scope="module")
def quantile_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    frame = write_prices(root / "prices.csv")
    cfg = Config(out=str(root / "out"),
                 data=ForecastDataConfig(path=str(root / "prices.csv"), target="price",
                                         features=("volume",), transform="log_return",
                                         window=10, horizon=3, origins=2),
                 model=ModelConfig(kind="mlp", hidden=(16,)), loss=LossConfig(name="pinball"),
                 train=TrainConfig(epochs=3, batch_size=32), sweep=SweepConfig(seeds=2))
    (root / "out").mkdir()   # an earlier run of this task: its config and a longer history
    (root / "out" / "config.json").write_text(to_json(cfg))
    (root / "out" / "history.jsonl").write_text('{"stale": "from an earlier run"}\n')
    out = run(cfg, progress=False)  # replaces an earlier run's files, never appends
    return cfg, frame, out


def test_run_folder_holds_every_file_and_the_full_config(quantile_run, undescribed):
    cfg, _, out = quantile_run
    assert not undescribed(out)
    for name in FILES:
        assert (out / name).stat().st_size > 0, name
    for name in ("forecast.png", "loss.png", "horizon.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert from_json(Config, (out / "config.json").read_text()) == cfg


def test_metrics_cover_model_baselines_intervals_ensemble_origins(quantile_run):
    cfg, _, out = quantile_run
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["baselines"]) == {"naive", "drift", "seasonal_naive", "moving_average"}
    for name in ("mae", "rmse", "mape", "smape", "mase", "directional_accuracy"):
        assert np.isfinite(m["model"][name])
        assert len(m["per_horizon"]["model"][name]) == 3
    assert m["interval"]["nominal"] == pytest.approx(0.8)
    assert 0.0 <= m["interval"]["coverage"] <= 1.0 and m["interval"]["width"] > 0
    assert m["ensemble"]["seeds"] == 2 and len(m["ensemble"]["member_rmse"]) == 2
    assert [o["origin"] for o in m["per_origin"]] == [1, 2]
    assert sum(o["windows"] for o in m["per_origin"]) == m["test_windows"]
    assert m["members"] == 4 and m["data"]["transform"] == "log_return"
    assert "runner_up_per_origin" not in m   # one grid point: there is no runner-up
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert all(len(h["loss"]) == 4 for h in history)


def test_forecast_csv_rows_match_the_file_and_the_metrics(quantile_run):
    cfg, frame, out = quantile_run
    m = json.loads((out / "metrics.json").read_text())
    fc = pd.read_csv(out / "forecast.csv", parse_dates=["issued", "date"])
    assert len(fc) == m["test_windows"] * 3
    assert list(fc.columns[:8]) == ["origin", "issued", "date", "step", "actual", "forecast",
                                    "lower", "upper"]
    truth = frame.set_index("Date")["price"]
    np.testing.assert_allclose(fc["actual"], truth.loc[fc["date"]].to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(fc["naive"], truth.loc[fc["issued"]].to_numpy(), rtol=1e-6)
    assert (fc["date"] > fc["issued"]).all() and (fc["lower"] <= fc["upper"]).all()
    err = fc["forecast"] - fc["actual"]
    assert np.sqrt(np.mean(err ** 2)) == pytest.approx(m["model"]["rmse"], rel=1e-4)
    inside = ((fc["lower"] <= fc["actual"]) & (fc["actual"] <= fc["upper"])).mean()
    assert inside == pytest.approx(m["interval"]["coverage"], abs=1e-6)


def test_report_states_the_verdict_against_naive(quantile_run):
    _, _, out = quantile_run
    m = json.loads((out / "metrics.json").read_text())
    text = (out / "report.md").read_text()
    beats = m["beats_naive"]["rmse"] and m["beats_naive"]["mae"]
    none = not (m["beats_naive"]["rmse"] or m["beats_naive"]["mae"])
    within_noise = m["diebold_mariano_vs_naive"]["p_value"] >= 0.05
    if (beats or not none) and within_noise:
        assert "**The model is no better than the naive last-value forecast beyond noise" in text
    elif beats:
        assert "**The model beats the naive last-value forecast**" in text
    elif none:
        assert "**The model does NOT beat the naive last-value forecast**" in text
    for part in ("## Test metrics", "## Prediction intervals", "## Seed ensemble",
                 "## Walk-forward origins", "| moving_average |", "## RMSE by horizon step"):
        assert part in text
    assert "{'" not in text   # no Python dict reprs
    assert 0 <= m["quantile_crossing"] <= 1   # said where sorting hid crossed quantiles:
    assert ("The raw quantiles crossed" in text) == (m["quantile_crossing"] > 0)
    # Each baseline with its setting: on hourly data a "season" of 5 rows is 5 hours.
    assert "seasonal_naive repeats the price 5 rows before each step" in text
    assert "moving_average is the mean of the last 20 rows" in text


def test_user_csv_from_the_command_line(tmp_path, capsys):
    frame = write_prices(tmp_path / "my.csv", n=200)
    frame.loc[[50, 51], "price"] = np.nan
    frame.loc[[70], "volume"] = np.nan
    frame.to_csv(tmp_path / "my.csv", index=False)
    code = cli.main(["run", "forecast", "--data.path", str(tmp_path / "my.csv"),
                     "--data.target", "price", "--data.horizon", "5", "--data.window", "20",
                     "--data.features", "volume", "--data.feature-transforms", "diff",
                     "--model.kind", "linear", "--train.epochs", "1", "--data.missing", "ffill",
                     "--out", str(tmp_path / "cli")])
    assert code == 0 and "report:" in capsys.readouterr().out
    report = (tmp_path / "cli" / "report.md").read_text()
    assert "- Repairs: price 2, volume 1 missing values forward-filled" in report
    assert ("inputs price (`price`, the target), volume (`diff`); windows read rows from 1 "
            "on, where every input is defined") in report
    fc = pd.read_csv(tmp_path / "cli" / "forecast.csv")
    assert sorted(fc["step"].unique()) == [1, 2, 3, 4, 5]
    cfg = json.loads((tmp_path / "cli" / "config.json").read_text())
    assert cfg["model"]["kind"] == "linear" and cfg["data"]["horizon"] == 5
    assert cfg["data"]["feature_transforms"] == ["diff"]
    facts = json.loads((tmp_path / "cli" / "metrics.json").read_text())["data"]
    assert facts["input_transforms"] == {"price": "price", "volume": "diff"}


def test_a_constant_target_is_refused_before_training(tmp_path):
    frame = write_prices(tmp_path / "flat.csv", n=120).assign(price=100.0)
    frame.to_csv(tmp_path / "flat.csv", index=False)
    cfg = Config(out=str(tmp_path / "out"), data=ForecastDataConfig(
        path=str(tmp_path / "flat.csv"), target="price", window=10))
    with pytest.raises(ValueError, match=r"column 'price' of .* is constant over the training"):
        run(cfg, progress=False)
    assert not (tmp_path / "out").exists()


def test_bad_file_fails_before_training(tmp_path):
    frame = write_prices(tmp_path / "bad.csv", n=120)
    frame.iloc[[10, 11]] = frame.iloc[[11, 10]].to_numpy()
    frame.to_csv(tmp_path / "bad.csv", index=False)
    cfg = Config(out=str(tmp_path / "out"), data=ForecastDataConfig(
        path=str(tmp_path / "bad.csv"), target="price", window=10))
    with pytest.raises(ValueError, match="'Date' of .* is not sorted"):
        run(cfg, progress=False)
    assert not (tmp_path / "out").exists()


def test_a_sweep_records_its_grid_and_reports_the_point_it_chose(tmp_path, undescribed):
    write_prices(tmp_path / "p.csv", n=200)
    out = tmp_path / "out"
    common = ["--data.path", str(tmp_path / "p.csv"), "--data.target", "price",
              "--data.window", "10", "--data.val-fraction", "0.2", "--model.kind", "linear",
              "--train.epochs", "3", "--out", str(out)]
    # A learning rate that cannot move the weights in 3 epochs loses on validation.
    assert cli.main(["sweep", "forecast", "--optim.learning-rate", "1e-9", "0.03", *common]) == 0
    grid = json.loads((out / "grid.json").read_text())
    assert grid == {"optim.learning_rate": [1e-9, 0.03]}
    assert json.loads((out / "config.json").read_text())["optim"]["learning_rate"] == 1e-9
    m = json.loads((out / "metrics.json").read_text())
    assert m["selected"]["optim.learning_rate"] == pytest.approx(0.03)
    # One origin: one row per grid point, the reported one's test RMSE the model's.
    assert [set(row) for row in m["sweep"]] == 2 * [{
        "point", "group", "optim.learning_rate", "val_loss", "val_mse", "test_rmse",
        "test_mae", "test_mase", "naive_rmse"}]
    assert m["sweep"][1]["test_rmse"] == m["model"]["rmse"]
    assert "adam lr 0.03," in (out / "report.md").read_text()
    assert not undescribed(out)
    # A plain run in the same folder leaves no stale grid beside its config.
    assert cli.main(["run", "forecast", *common]) == 0
    assert not (out / "grid.json").exists()
    # A bad grid value fails before anything is written or removed.
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert cli.main(["sweep", "forecast", "--optim.learning-rate", "1e-3", "-1", *common]) == 2
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def _results(out):
    """The run's numbers without its timings."""
    metrics = json.loads((out / "metrics.json").read_text())
    metrics.pop("timing")
    history = [{k: v for k, v in json.loads(line).items() if k != "time_s"}
               for line in (out / "history.jsonl").read_text().splitlines()]
    return metrics, history, (out / "forecast.csv").read_text()


def test_an_interrupted_run_resumes_to_the_results_of_one_that_never_stopped(
        tmp_path, monkeypatch, run_killed_at):
    from fjax.report.callbacks import JsonlLogger

    write_prices(tmp_path / "p.csv", n=200)
    args = ["run", "forecast", "--data.path", str(tmp_path / "p.csv"), "--data.target",
            "price", "--data.window", "10", "--data.origins", "2", "--model.kind", "mlp",
            "--seeds", "2", "--train.epochs", "4"]
    assert cli.main([*args, "--out", str(tmp_path / "full")]) == 0

    run_killed_at(3, lambda: cli.main([*args, "--out", str(tmp_path / "cut")]), every_s=0.0)
    assert (tmp_path / "cut" / "checkpoints" / "group_0").is_dir()
    assert not (tmp_path / "cut" / "metrics.json").exists()

    trained, logged = [], JsonlLogger.on_epoch_end
    with monkeypatch.context() as m:
        m.setattr(JsonlLogger, "on_epoch_end", lambda self, epoch, logs, loop: (
            trained.append(epoch), logged(self, epoch, logs, loop)))
        assert cli.main([*args, "--out", str(tmp_path / "cut"), "--resume"]) == 0
    assert trained == [3, 4]   # from the checkpoint of epoch 2, not from scratch
    assert _results(tmp_path / "cut") == _results(tmp_path / "full")
    timing = json.loads((tmp_path / "cut" / "metrics.json").read_text())["timing"]
    assert timing["resumed_epochs"] == {"group 0": 2}   # its times are this session's: said
    assert "resumed from a checkpoint of epoch 2" in (tmp_path / "cut" / "report.md").read_text()
    assert json.loads((tmp_path / "full" / "metrics.json").read_text())["timing"][
        "resumed_epochs"] == {"group 0": 0}
    assert not (tmp_path / "cut" / "checkpoints").exists()   # a finished run needs none
    # The folder now holds a finished run with resume=True: a plain rerun starts over.
    assert json.loads((tmp_path / "cut" / "config.json").read_text())["resume"] is True


@pytest.mark.parametrize("stop, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_saves_the_last_finished_epoch_and_says_how_to_resume(
        tmp_path, monkeypatch, capsys, run_killed_at, stop, status):
    """Ctrl-C printed a traceback and kept only the last periodic checkpoint (up to 30 s
    of training behind). SIGTERM, what a batch scheduler (Slurm) sends before preempting
    a job, then still did: now it stops a run as Ctrl-C does, status 128 + 15."""
    from fjax.report.callbacks import JsonlLogger

    write_prices(tmp_path / "p.csv", n=200)
    args = ["run", "forecast", "--data.path", str(tmp_path / "p.csv"), "--data.target",
            "price", "--data.window", "10", "--model.kind", "mlp", "--train.epochs", "5"]
    assert cli.main([*args, "--out", str(tmp_path / "full")]) == 0
    missed = []   # a signal the run did not catch comes here (not to pytest's own handling)

    def catch(signum, frame):
        missed.append(signum)
    outside = signal.signal(stop, catch)
    try:
        code = run_killed_at(4, lambda: cli.main([*args, "--out", str(tmp_path / "cut")]),
                             every_s=1e9, by=stop)
        restored = signal.getsignal(stop)
    finally:
        signal.signal(stop, outside)
    assert (code, missed) == (status, []) and restored is catch
    said = "interrupted" if stop == signal.SIGINT else "stopped by SIGTERM"
    assert f"{said}. To continue, rerun the same command with --resume" in \
        capsys.readouterr().err
    trained, logged = [], JsonlLogger.on_epoch_end
    with monkeypatch.context() as m:
        m.setattr(JsonlLogger, "on_epoch_end", lambda self, epoch, logs, loop: (
            trained.append(epoch), logged(self, epoch, logs, loop)))
        assert cli.main([*args, "--out", str(tmp_path / "cut"), "--resume"]) == 0
    # Periodic saves were off: the stop saved epoch 3, the last every callback saw (epoch 4
    # was interrupted in the log's callback, before the checkpoint's).
    assert trained == [4, 5]
    assert _results(tmp_path / "cut") == _results(tmp_path / "full")


def test_a_resume_from_a_damaged_checkpoint_prints_one_line(tmp_path, run_killed_at):
    """The newest checkpoint's data files cut to half their size: the resume's one-line
    error was followed by dozens of "RuntimeError: Event loop is closed" tracebacks from
    the reads orbax still had in flight. In a fresh interpreter, as a user runs it."""
    write_prices(tmp_path / "p.csv", n=200)
    args = ["run", "forecast", "--data.path", str(tmp_path / "p.csv"), "--data.target",
            "price", "--data.window", "10", "--model.kind", "mlp", "--train.epochs", "4",
            "--out", str(tmp_path / "cut")]
    run_killed_at(3, lambda: cli.main(args), every_s=0.0)   # saved epochs 1 and 2
    newest = tmp_path / "cut" / "checkpoints" / "group_0" / "2"
    for data in (newest / "loop" / "d").iterdir():
        data.write_bytes(data.read_bytes()[:data.stat().st_size // 2])
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "fjax.cli", *args, "--resume"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr[:2000]
    assert f"checkpoint of epoch 2 in {newest.parent} cannot be read" in lines[0]
    assert f"delete {newest} to resume from the checkpoint of epoch 1" in lines[0]


def test_resume_refuses_other_settings_and_an_empty_folder(tmp_path, capsys):
    write_prices(tmp_path / "p.csv", n=200)
    args = ["run", "forecast", "--data.path", str(tmp_path / "p.csv"), "--data.target",
            "price", "--data.window", "10", "--model.kind", "linear", "--train.epochs", "1",
            "--out", str(tmp_path / "r")]
    assert cli.main([*args, "--resume"]) == 2
    assert "holds no run to resume (no config.json); run without --resume" in \
        capsys.readouterr().err
    assert not (tmp_path / "r").exists()   # a refused resume creates nothing
    assert cli.main(args) == 0
    assert cli.main([*args, "--resume", "--train.epochs", "2", "--seed", "3"]) == 2
    assert "differs from the one in" in (err := capsys.readouterr().err)
    assert "seed, train.epochs;" in err


def test_a_run_records_its_data_files_bytes_and_a_rerun_on_changed_data_is_told(tmp_path,
                                                                               capsys):
    """config.json holds the data path only, as given: a file edited since the run (or
    another one at the same relative path) was rerun with --config, or resumed, to other
    numbers without a word."""
    data = tmp_path / "p.csv"
    write_prices(data, n=200)
    args = ["run", "forecast", "--data.path", str(data), "--data.target", "price",
            "--data.window", "10", "--model.kind", "linear", "--train.epochs", "1"]
    assert cli.main([*args, "--out", str(tmp_path / "r")]) == 0
    sha = hashlib.sha256(data.read_bytes()).hexdigest()
    env = json.loads((tmp_path / "r" / "environment.json").read_text())
    assert env["data_files"] == {"data.path": {"path": str(data.resolve()), "sha256": sha,
                                               "bytes": len(data.read_bytes())}}
    saved = ["--config", str(tmp_path / "r" / "config.json")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # the same bytes: nothing to say
        assert cli.main(["run", "forecast", *saved, "--out", str(tmp_path / "a")]) == 0
    write_prices(data, n=200, seed=1)    # the file changed since
    with pytest.warns(UserWarning, match=rf"the data changed since that run, so the numbers "
                                         rf"will differ: data.path \(sha256 {sha[:12]}"):
        assert cli.main(["run", "forecast", *saved, "--out", str(tmp_path / "b")]) == 0
    write_prices(tmp_path / "q.csv", n=200)   # a file of its own is not compared
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cli.main(["run", "forecast", *saved, "--data.path", str(tmp_path / "q.csv"),
                         "--out", str(tmp_path / "c")]) == 0
    capsys.readouterr()
    assert cli.main([*args, "--out", str(tmp_path / "r"), "--resume"]) == 2
    assert f"in the contents of data.path (sha256 {sha[:12]}" in capsys.readouterr().err


def test_a_rerun_or_resume_under_other_jax_settings_is_told(tmp_path, run_killed_at):
    """JAX_ENABLE_X64=1 or JAX_THREEFRY_PARTITIONABLE=0 in a shell changed a run's numbers
    (measured on `fjax run forecast`) while config.json and environment.json read the
    same: the settings are recorded, and a --config rerun or a resume under others warns."""
    import jax
    write_prices(tmp_path / "p.csv", n=200)
    args = ["run", "forecast", "--data.path", str(tmp_path / "p.csv"), "--data.target",
            "price", "--data.window", "10", "--model.kind", "linear", "--train.epochs", "3"]
    run_killed_at(2, lambda: cli.main([*args, "--out", str(tmp_path / "r")]), every_s=0.0)
    env_file = tmp_path / "r" / "environment.json"
    env = json.loads(env_file.read_text())
    assert env["jax_config"]["jax_enable_x64"] is jax.config.jax_enable_x64 is False
    assert env["jax_config"]["jax_default_prng_impl"] == jax.config.jax_default_prng_impl
    saved = ["run", "forecast", "--config", str(tmp_path / "r" / "config.json")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # the same setup: nothing to say
        assert cli.main([*saved, "--out", str(tmp_path / "a")]) == 0
    env["jax_config"]["jax_enable_x64"] = True   # as a shell with JAX_ENABLE_X64=1 records
    env_file.write_text(json.dumps(env))
    told = r"the setup differs from that run's \(jax_config.jax_enable_x64 True then, False now"
    with pytest.warns(UserWarning, match=rf"--config .*config.json: {told}"):
        assert cli.main([*saved, "--out", str(tmp_path / "b")]) == 0
    with pytest.warns(UserWarning, match=rf"--resume: {told}"):
        assert cli.main([*args, "--out", str(tmp_path / "r"), "--resume"]) == 0


def test_a_refused_resume_keeps_the_config_and_environment_that_wrote_the_checkpoints(
        tmp_path, run_killed_at, capsys):
    """A resume refused as its checkpoint was read (another fjax's) rewrote config.json
    (resume: true) and environment.json (this fjax's commit) first: the folder no longer
    said which fjax wrote its checkpoints, and the next resume was not told it differs."""
    from fjax.runtime import environment
    write_prices(tmp_path / "p.csv", n=200)
    args = ["run", "forecast", "--data.path", str(tmp_path / "p.csv"), "--data.target",
            "price", "--data.window", "10", "--model.kind", "linear", "--train.epochs", "3"]
    run_killed_at(2, lambda: cli.main([*args, "--out", str(tmp_path / "r")]), every_s=0.0)
    shutil.copytree(tmp_path / "r", tmp_path / "ok")
    env_file = tmp_path / "r" / "environment.json"
    env = json.loads(env_file.read_text())
    env["fjax_commit"] = "0" * 40    # written by another fjax, in an older checkpoint format
    env_file.write_text(json.dumps(env))
    for item in (tmp_path / "r" / "checkpoints").glob("group_0/[0-9]*/run"):
        shutil.rmtree(item)
    before = {name: (tmp_path / "r" / name).read_bytes()
              for name in ("config.json", "environment.json")}
    told = r"--resume: the setup differs .*fjax_commit '0{40}' then"
    for _ in range(2):   # told again on a second try: the files still say which fjax
        with pytest.warns(UserWarning, match=told):
            assert cli.main([*args, "--out", str(tmp_path / "r"), "--resume"]) == 2
        assert "is in an older format" in capsys.readouterr().err
        assert {name: (tmp_path / "r" / name).read_bytes() for name in before} == before
    # A resume that restores records itself, as before: resume true, this fjax and machine.
    assert cli.main([*args, "--out", str(tmp_path / "ok"), "--resume"]) == 0
    assert json.loads((tmp_path / "ok" / "config.json").read_text())["resume"] is True
    resumed = json.loads((tmp_path / "ok" / "environment.json").read_text())
    assert resumed["fjax_commit"] == environment()["fjax_commit"]
    assert resumed["data_files"] == env["data_files"] and "cpu_kernels" in resumed


def test_a_saved_config_reruns_the_run_and_a_sweep_with_its_grid(tmp_path, capsys):
    write_prices(tmp_path / "p.csv", n=200)
    common = ["--data.path", str(tmp_path / "p.csv"), "--data.target", "price",
              "--data.window", "10", "--model.kind", "linear", "--train.epochs", "2"]
    assert cli.main(["sweep", "forecast", "--optim.learning-rate", "1e-3", "3e-2", *common,
                     "--out", str(tmp_path / "a")]) == 0
    saved = str(tmp_path / "a" / "config.json")
    assert cli.main(["sweep", "forecast", f"--config={saved}", "--out", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "grid.json").read_text()) == \
        {"optim.learning_rate": [1e-3, 3e-2]}
    assert _results(tmp_path / "b")[0] == _results(tmp_path / "a")[0]
    # A plain run from it takes the first values; flags after --config override it.
    assert cli.main(["run", "forecast", "--config", saved, "--train.epochs", "1",
                     "--out", str(tmp_path / "c")]) == 0
    cfg = json.loads((tmp_path / "c" / "config.json").read_text())
    assert cfg["train"]["epochs"] == 1 and cfg["data"]["window"] == 10
    assert not (tmp_path / "c" / "grid.json").exists()
    import jax
    env = json.loads((tmp_path / "c" / "environment.json").read_text())
    assert env["versions"]["jax"] and env["backend"] == jax.default_backend()
    from fjax.kernels import kernel_state   # this process's, as the run ended
    assert env["cpu_kernels"] == kernel_state() and "FJAX_CPU_KERNELS" not in env
    capsys.readouterr()
    assert cli.main(["run", "forecast", "--config", str(tmp_path / "nope.json")]) == 2
    assert "no such file; give a run folder's config.json" in capsys.readouterr().err


def test_resume_before_any_checkpoint_logs_each_epoch_once_and_after_the_end_trains_none(
        tmp_path, run_killed_at, monkeypatch, capsys):
    """Killed before its first save (saves come at most every 30 s), a population trains
    again from epoch 1: its earlier log lines must go, not be followed by a second epoch 1.
    Resumed after it finished (its report written, its checkpoints deleted), a run once
    trained all over again for the same numbers; now it says where its results are."""
    from fjax.train import population

    write_prices(tmp_path / "p.csv", n=200)
    args = ["run", "forecast", "--data.path", str(tmp_path / "p.csv"), "--data.target",
            "price", "--data.window", "10", "--model.kind", "linear", "--train.epochs", "3"]
    assert cli.main([*args, "--out", str(tmp_path / "full")]) == 0
    run_killed_at(2, lambda: cli.main([*args, "--out", str(tmp_path / "cut")]))
    # --out written another way names the same folder: not a difference.
    with pytest.warns(UserWarning, match="holds no finished results and no checkpoint .* "
                                         "trains again from epoch 1"):
        assert cli.main([*args, "--out", str(tmp_path / "cut") + "/.", "--resume"]) == 0
    assert _results(tmp_path / "cut") == _results(tmp_path / "full")
    files = {p.name: p.read_bytes() for p in (tmp_path / "cut").iterdir()}
    capsys.readouterr()
    with monkeypatch.context() as m:
        m.setattr(population, "run_epochs", lambda *a, **k: pytest.fail("trained again"))
        assert cli.main([*args, "--out", str(tmp_path / "cut"), "--resume"]) == 0
    out, err = capsys.readouterr()
    assert f"{tmp_path / 'cut'} holds this run, finished: its results are in" in err
    assert out == f"report: {tmp_path / 'cut'}/report.md\n"
    assert {p.name: p.read_bytes() for p in (tmp_path / "cut").iterdir()} == files
    # A finished run of other settings is still refused, not called finished.
    assert cli.main([*args, "--out", str(tmp_path / "cut"), "--resume", "--seed", "1"]) == 2
    assert "differs from the one in" in capsys.readouterr().err


def test_a_finished_sweep_is_not_trained_again_by_a_resume(tmp_path, monkeypatch, capsys):
    from fjax.train import population

    write_prices(tmp_path / "p.csv", n=200)
    args = ["sweep", "forecast", "--optim.learning-rate", "1e-3", "3e-2", "--data.path",
            str(tmp_path / "p.csv"), "--data.target", "price", "--data.window", "10",
            "--model.kind", "linear", "--train.epochs", "2", "--out", str(tmp_path / "s")]
    assert cli.main(args) == 0
    capsys.readouterr()
    with monkeypatch.context() as m:
        m.setattr(population, "run_epochs", lambda *a, **k: pytest.fail("trained again"))
        assert cli.main([*args, "--resume"]) == 0
    assert "holds this run, finished" in capsys.readouterr().err
    assert cli.main([*args[:4], "1e-2", *args[4:], "--resume"]) == 2   # another grid
    assert "in the swept values (grid.json)" in capsys.readouterr().err


def test_a_run_removes_only_its_own_files(tmp_path):
    """Recursive patterns once deleted a user's own checkpoints/ folders and other runs'
    checkpoints nested under --out."""
    write_prices(tmp_path / "p.csv", n=200)
    out = tmp_path / "project"
    own = out / "mymodel" / "checkpoints" / "best.pt"
    nested = out / "other_run" / "checkpoints" / "group_0" / "1" / "state"
    top = out / "checkpoints" / "my_model.pt"   # the user's, beside the run's group_<g>
    for path in (own, nested, top):
        path.parent.mkdir(parents=True)
        path.write_text("keep")
    # A kill during a save can leave folders without files; the run's own go too.
    (out / "checkpoints" / "group_0" / "13.orbax-checkpoint-tmp" / "loop").mkdir(parents=True)
    assert cli.main(["run", "forecast", "--data.path", str(tmp_path / "p.csv"),
                     "--data.target", "price", "--data.window", "10", "--model.kind",
                     "linear", "--train.epochs", "1", "--out", str(out)]) == 0
    assert own.read_text() == "keep" and nested.read_text() == "keep"
    assert top.read_text() == "keep" and not (out / "checkpoints" / "group_0").exists()


def test_the_rising_loss_note_reads_the_reported_grid_points_members(tmp_path):
    """The note took the median over the whole compile group: a reported point that
    learned was said not to have, because its neighbour (SGD at lr 1: loss 2.2 -> 5.9)
    did not. A reported point that blew up was said so only under 'How to read this',
    after a verdict that read as usual."""
    write_prices(tmp_path / "prices.csv")
    data = ForecastDataConfig(path=str(tmp_path / "prices.csv"), target="price", window=10,
                              val_fraction=0.0)   # no validation: grid point 1 is reported
    cfg = Config(data=data, model=ModelConfig(kind="mlp", hidden=(8,)),
                 optim=OptimConfig(name="sgd", learning_rate=0.01),
                 train=TrainConfig(epochs=4, batch_size=32))
    for lrs, said in (([0.01, 1.0], False), ([1.0, 0.01], True)):   # point 1 is reported
        out = run(dataclasses.replace(cfg, out=str(tmp_path / str(lrs[0]))),
                  grid={"optim.learning_rate": lrs}, progress=False)
        report = (out / "report.md").read_text()
        assert ("The training loss rose" in report) == said
        # lr 1 ends at 13 times its initial loss: named, reported or not, once; before the
        # verdict where it is the reported point (its numbers are a broken model's)
        note = "Sweep grid point(s) that blew up: optim.learning_rate 1. "
        assert report.count(note) == 1
        opening = report.split("\n## ")[0]
        assert (note in opening) == said
        if said:
            assert opening.index(note) < opening.index("naive last-value forecast")


def test_a_plain_run_that_blew_up_says_so_before_its_verdict(tmp_path):
    """SGD at lr 1 ends finite at about 13 times its initial loss (the sweep above): a
    plain run's report opened with a verdict that read as usual, the blow-up said only
    under 'How to read this'. The note now opens the report, once."""
    write_prices(tmp_path / "prices.csv")
    cfg = Config(out=str(tmp_path / "out"),
                 data=ForecastDataConfig(path=str(tmp_path / "prices.csv"), target="price",
                                         window=10, val_fraction=0.0),
                 model=ModelConfig(kind="mlp", hidden=(8,)),
                 optim=OptimConfig(name="sgd", learning_rate=1.0),
                 train=TrainConfig(epochs=4, batch_size=32))
    with pytest.warns(UserWarning, match="training blew up"):
        out = run(cfg, progress=False)
    report = (out / "report.md").read_text()
    opening = report.split("\n## ")[0]
    assert "training blew up" in opening and "the metrics are a broken model's" in opening
    assert opening.index("training blew up") < opening.index("naive last-value forecast")
    assert report.count("training blew up") == 1


def test_a_spread_crossing_zero_reports_mape_as_not_meaningful(tmp_path):
    """A spread's MAPE (1323% on one) was reported with no caveat; the floor is read
    against the test actuals `forecast.csv` writes."""
    rng = np.random.default_rng(3)
    n = 200
    spread = 2 * np.sin(np.arange(n) / 9) + 0.1 * rng.standard_normal(n)
    pd.DataFrame({"Date": pd.bdate_range("2021-01-04", periods=n),
                  "spread": spread}).to_csv(tmp_path / "s.csv", index=False)
    cfg = Config(out=str(tmp_path / "out"),
                 data=ForecastDataConfig(path=str(tmp_path / "s.csv"), target="spread",
                                         transform="diff", window=10),
                 model=ModelConfig(kind="linear"), train=TrainConfig(epochs=1, batch_size=32))
    out = run(cfg, progress=False)
    m = json.loads((out / "metrics.json").read_text())
    actual = np.abs(pd.read_csv(out / "forecast.csv")["actual"].to_numpy())
    assert actual.min() <= 0.01 * actual.mean()    # the case: near zero against its level
    c = m["mape_not_meaningful"]
    assert c["min_abs_target"] == pytest.approx(actual.min(), rel=1e-9)
    assert c["mean_abs_target"] == pytest.approx(actual.mean(), rel=1e-9)
    section = (out / "report.md").read_text().split("## Test metrics")[1].split("\n## ")[0]
    assert "**MAPE is not meaningful here**" in section and "Read MASE" in section


def test_a_ctrl_c_that_python_swallowed_still_stops_the_run_after_its_epoch(tmp_path,
                                                                            monkeypatch, capsys):
    """A KeyboardInterrupt raised inside a garbage-collector callback is printed as
    "Exception ignored" and lost; a run went on to finish. Here the SIGINT is caught and
    dropped inside a callback: the run still stops after that epoch, saved, status 130."""
    from fjax.report.callbacks import JsonlLogger

    write_prices(tmp_path / "p.csv", n=200)
    args = ["run", "forecast", "--data.path", str(tmp_path / "p.csv"), "--data.target",
            "price", "--data.window", "10", "--model.kind", "mlp", "--train.epochs", "5",
            "--out", str(tmp_path / "cut")]
    logged = JsonlLogger.on_epoch_end

    def swallowing(self, at, logs, loop):
        logged(self, at, logs, loop)
        if at == 2:
            try:
                signal.raise_signal(signal.SIGINT)
            except KeyboardInterrupt:
                pass                      # as Python does inside a GC callback

    before = signal.getsignal(signal.SIGINT)   # SIG_IGN where pytest runs in the background
    with monkeypatch.context() as m:
        m.setattr(JsonlLogger, "on_epoch_end", swallowing)
        assert cli.main(args) == 130
    assert "interrupted. To continue" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is before   # restored
    trained = []
    with monkeypatch.context() as m:
        m.setattr(JsonlLogger, "on_epoch_end", lambda self, epoch, logs, loop: (
            trained.append(epoch), logged(self, epoch, logs, loop)))
        assert cli.main([*args, "--resume"]) == 0
    assert trained == [3, 4, 5]


def test_a_loss_sweep_reports_the_point_with_the_lowest_validation_mse(tmp_path, recwarn):
    """Loss settings make val_loss incomparable; the run ranks `val_mse` instead, without
    the population's advice to pass an eval_fn the forecast CLI does not offer."""
    write_prices(tmp_path / "p.csv", n=200)
    cfg = Config(out=str(tmp_path / "out"), loss=LossConfig(name="huber"),
                 data=ForecastDataConfig(path=str(tmp_path / "p.csv"), target="price",
                                         window=10, val_fraction=0.2, origins=2),
                 model=ModelConfig(kind="linear"), train=TrainConfig(epochs=3))
    out = run(cfg, {"loss.huber_delta": [0.001, 1.0]}, progress=False)
    assert not [w for w in recwarn if "eval_fn" in str(w.message)]
    m = json.loads((out / "metrics.json").read_text())
    last = [row["val_mse"] for row in m["sweep"] if row["origin"] == 2]
    assert all(np.isfinite([row["val_mse"] for row in m["sweep"]]))
    assert m["selected"]["loss.huber_delta"] == [0.001, 1.0][int(np.argmin(last))]
    assert "the lowest `val_mse`" in (out / "report.md").read_text()


def test_a_sweep_over_the_loss_varies_huber_delta_only_where_huber_reads_it(tmp_path):
    """mse x huber_delta was refused ('has no effect with loss.name=mse'): mse trains once
    (1 + 2 points, not 2 + 2), its huber_delta shown as n/a, ranked with the others."""
    write_prices(tmp_path / "p.csv", n=200)
    cfg = Config(out=str(tmp_path / "out"),
                 data=ForecastDataConfig(path=str(tmp_path / "p.csv"), target="price",
                                         window=10, val_fraction=0.2, origins=2),
                 model=dataclasses.replace(Config().model, kind="linear"),
                 train=TrainConfig(epochs=3))
    out = run(cfg, {"loss.name": ["mse", "huber"], "loss.huber_delta": [0.5, 1.0]},
              progress=False)
    m = json.loads((out / "metrics.json").read_text())
    points = [(r["loss.name"], r["loss.huber_delta"]) for r in m["sweep"] if r["origin"] == 2]
    assert points == [("mse", None), ("huber", 0.5), ("huber", 1.0)]
    last = [r["val_mse"] for r in m["sweep"] if r["origin"] == 2]
    assert points[int(np.argmin(last))] == (m["selected"]["loss.name"],
                                            m["selected"].get("loss.huber_delta"))
    assert "| 1 | 1 | 0 | mse | n/a |" in (out / "report.md").read_text()   # origin, point, group


NESTED_GRID = {"optim.learning_rate": [0.01, 0.03, 0.1]}


def nested_config(path, out=None) -> Config:
    """Three origins with validation spans, two seeds: on `write_prices(n=260)` the
    origins choose differently (learning rates 0.03, 0.03, 0.1)."""
    return Config(out=out, data=ForecastDataConfig(path=str(path), target="price", window=10,
                                                   val_fraction=0.1, origins=3),
                  model=ModelConfig(kind="linear"), train=TrainConfig(epochs=3),
                  sweep=SweepConfig(seeds=2))


def train_and_choose(path):
    from fjax.tasks.forecast.data import prepare
    from fjax.tasks.forecast.run import choose
    from fjax.tasks.forecast.training import train
    cfg = nested_config(path)
    data = prepare(cfg.data, cfg.evaluation)
    _, results = train(cfg, data, NESTED_GRID, progress=False)
    return data, results, *choose(results, data, NESTED_GRID, 64)


@pytest.fixture(scope="module")
def nested_choice(tmp_path_factory):
    root = tmp_path_factory.mktemp("nested")
    frame = write_prices(root / "p.csv", n=260)
    return (frame, *train_and_choose(root / "p.csv"))


def test_each_origin_chooses_the_argmin_of_its_own_validation_mse(nested_choice):
    """Each member predicts its own origin's validation windows one by one; numpy's mean
    over seeds of their MSEs, argmin per origin, is the choice."""
    from fjax.tasks.forecast.training import apply_fn_of
    _, data, results, cands, choice = nested_choice
    pop = results[0].population
    apply = apply_fn_of(results[0].group.config)
    table = pop.table()
    mse = []
    for member, fold in zip(table["member"], table["fold"]):
        index = np.nonzero(data.plan.val[fold])[0]
        rows = data.rows(index, fold)   # its origin's block: windows in its own scale
        pred = np.asarray(apply(pop.member_params(member), data.x[rows], deterministic=True))
        mse.append(np.mean((pred.astype(np.float64) - data.y[rows]) ** 2))
    expected = (table.assign(mse=mse).groupby(["learning_rate", "fold"])["mse"].mean()
                .unstack().loc[NESTED_GRID["optim.learning_rate"]].to_numpy())
    np.testing.assert_allclose([c.val_mse for c in cands], expected, rtol=1e-5)
    assert choice == np.argmin(expected, axis=0).tolist()
    assert len(set(choice)) > 1          # the origins disagree: one choice would not do


def test_an_origins_choice_ignores_the_data_after_its_validation_span(nested_choice,
                                                                       tmp_path):
    """From the row after origin 2's validation span (its test block and later) the
    prices are a new, wilder walk: origins 1 and 2 score and choose exactly as before;
    origin 3, whose validation span holds the new rows, does not."""
    frame, data, _, cands, choice = nested_choice
    end = data.plan.spans[1]["val"][1]
    changed = frame.copy()
    steps = np.random.default_rng(9).normal(0, 0.05, len(frame) - end)
    changed.loc[end:, "price"] = frame["price"][end - 1] * np.exp(np.cumsum(steps))
    changed.to_csv(tmp_path / "changed.csv", index=False)
    _, _, cands2, choice2 = train_and_choose(tmp_path / "changed.csv")
    before, after = (np.array([c.val_mse for c in cs]) for cs in (cands, cands2))
    np.testing.assert_array_equal(after[:, :2], before[:, :2])
    assert choice2[:2] == choice[:2]
    assert not np.allclose(after[:, 2], before[:, 2], rtol=0.01)


@pytest.fixture(scope="module")
def nested_run(tmp_path_factory):
    """The run folder of `nested_config`'s sweep, whose origins choose differently, and
    the arguments of each `loss_curves` call it made."""
    import importlib
    run_module = importlib.import_module("fjax.tasks.forecast.run")   # not the function
    root = tmp_path_factory.mktemp("nested_run")
    write_prices(root / "p.csv", n=260)
    plotted = []

    def loss_curves(history, *args, **kwargs):
        plotted.append((history, args))
        return draw(history, *args, **kwargs)

    draw = run_module.loss_curves
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(run_module, "loss_curves", loss_curves)
        out = run(nested_config(root / "p.csv", str(root / "out")), NESTED_GRID,
                  progress=False)
    return out, plotted


def test_a_nested_sweep_scores_and_reports_each_origins_choice(nested_run):
    """Each origin's test block comes from the grid point it chose: forecast.csv's errors
    per block are that point's test RMSE, and pooled they give the model's RMSE and
    Diebold-Mariano statistic; the report names every origin's choice."""
    from fjax.tasks.forecast.significance import diebold_mariano
    out, _ = nested_run
    m = json.loads((out / "metrics.json").read_text())
    sweep = pd.DataFrame(m["sweep"])
    lowest = sweep.loc[sweep.groupby("origin")["val_mse"].idxmin()]
    assert sweep[sweep["reported"]]["point"].tolist() == lowest["point"].tolist()
    assert lowest["point"].nunique() > 1
    csv = pd.read_csv(out / "forecast.csv")
    for row, per_origin in zip(lowest.itertuples(), m["per_origin"]):
        block = csv[csv["origin"] == row.origin]
        rmse = np.sqrt(np.mean((block["forecast"] - block["actual"]) ** 2))
        assert rmse == pytest.approx(row.test_rmse, rel=1e-9)
        assert per_origin["model_rmse"] == pytest.approx(row.test_rmse, rel=1e-9)
    err, naive = (csv[c].to_numpy() - csv["actual"].to_numpy() for c in ("forecast", "naive"))
    assert m["model"]["rmse"] == pytest.approx(np.sqrt(np.mean(err ** 2)), rel=1e-9)
    dm = diebold_mariano(err[:, None], naive[:, None])
    assert m["diebold_mariano_vs_naive"]["statistic"] == pytest.approx(dm["statistic"],
                                                                      rel=1e-6)
    lrs = NESTED_GRID["optim.learning_rate"]
    assert m["selected"]["optim.learning_rate"] == lrs[lowest["point"].iloc[-1] - 1]
    report = (out / "report.md").read_text()
    picks = ", ".join(f"origin {o} point {p}" for o, p in zip(lowest["origin"], lowest["point"]))
    assert picks in report and "on its own validation span only" in report


def test_a_nested_sweep_shows_every_origins_settings(nested_run):
    """Origins that chose different learning rates: `selected_per_origin` holds each one's
    point, val_mse and learning rate (the sweep table's lowest val_mse at that origin),
    `selected` the last one's, and the report tabulates them under 'What was run'."""
    out, _ = nested_run
    m = json.loads((out / "metrics.json").read_text())
    sweep = pd.DataFrame(m["sweep"])
    lowest = sweep.loc[sweep.groupby("origin")["val_mse"].idxmin()]
    assert lowest["optim.learning_rate"].nunique() > 1
    rows = lowest.to_dict("records")
    assert m["selected_per_origin"] == [
        {"origin": r["origin"], "point": r["point"], "val_mse": pytest.approx(r["val_mse"]),
         "optim.learning_rate": pytest.approx(r["optim.learning_rate"])} for r in rows]
    assert m["selected"] == {k: v for k, v in m["selected_per_origin"][-1].items()
                             if k.startswith("optim.")}
    report = (out / "report.md").read_text()
    what_was_run = report.split("## What was run")[1].split("## Test metrics")[0]
    assert "these are the last origin's settings" in what_was_run
    for r in rows:
        assert (f"| {r['origin']} | {r['point']} | {r['val_mse']:.4g} | "
                f"{r['optim.learning_rate']:.4g} |") in what_was_run


def test_the_loss_plot_draws_each_origins_chosen_members(nested_run, nested_choice):
    """loss.png's curves are, per epoch, the losses of the members whose forecasts are
    reported (origin k's seeds at the learning rate it chose), not the whole grid; its
    title says so."""
    _, _, results, _, choice = nested_choice
    pop = results[0].population
    table = pop.members
    [(history, args)] = nested_run[1]
    assert len(history) == len(pop.history)
    for row, logged in zip(history, pop.history):
        for name in ("loss", "val_loss"):
            want = np.concatenate([
                np.sort(np.asarray(logged[name])[
                    (table["learning_rate"] == NESTED_GRID["optim.learning_rate"][c])
                    & (table["fold"] == k)]) for k, c in enumerate(choice)])
            got = np.concatenate([np.sort(g) for g in np.split(row[name], len(choice))])
            np.testing.assert_allclose(got, want, rtol=1e-6)
    assert "reported members" in args[2] and "chosen grid point" in args[2]


def test_a_sweep_without_validation_marks_no_point_as_chosen(tmp_path, monkeypatch):
    """Two origins, no validation span: nothing can be chosen, so the sweep table has no
    `reported` column (it marked point 1 at every origin as if chosen), no origin has a
    val_mse, and the report says grid point 1 is a default; so does loss.png's title
    (it said "each origin's chosen grid point")."""
    import importlib

    run_module = importlib.import_module("fjax.tasks.forecast.run")   # not the function
    titles = []
    monkeypatch.setattr(run_module, "loss_curves",
                        lambda history, path, keys, title, **kw: titles.append(title))
    write_prices(tmp_path / "p.csv", n=200)
    cfg = Config(out=str(tmp_path / "out"),
                 data=ForecastDataConfig(path=str(tmp_path / "p.csv"), target="price",
                                         window=10, origins=2),
                 model=ModelConfig(kind="linear"), train=TrainConfig(epochs=2))
    out = run(cfg, {"optim.learning_rate": [0.01, 0.1]}, progress=False)
    m = json.loads((out / "metrics.json").read_text())
    assert len(m["sweep"]) == 4 and not any("reported" in row for row in m["sweep"])
    assert [(s["point"], s["val_mse"]) for s in m["selected_per_origin"]] == [(1, None)] * 2
    sweep = (out / "report.md").read_text().split("## Sweep")[1]
    assert "every origin reports grid point 1, a default, not a choice" in sweep
    assert "| reported |" not in sweep and "True" not in sweep
    assert titles == ["Loss per epoch of the 2 reported members\n(2 origin(s) x 1 seed(s), "
                      "grid point 1 by default)"]


class Killed(BaseException):
    """A process killed there (not an Exception, so nothing on the way catches it)."""


def test_a_resume_of_a_run_killed_before_deleting_its_checkpoints_deletes_them(
        tmp_path, monkeypatch, capsys):
    """Killed between report.md and deleting the checkpoints, a run left checkpoints/,
    and --resume called it finished and left them there for good."""
    import importlib

    from fjax.train import population
    forecast_run = importlib.import_module("fjax.tasks.forecast.run")   # not the function

    def killed(run_dir, outputs):
        raise Killed

    write_prices(tmp_path / "p.csv", n=200)
    args = ["run", "forecast", "--data.path", str(tmp_path / "p.csv"), "--data.target",
            "price", "--data.window", "10", "--model.kind", "linear", "--train.epochs", "3"]
    assert cli.main([*args, "--out", str(tmp_path / "full")]) == 0
    with monkeypatch.context() as m:
        m.setattr(forecast_run, "finish_run", killed)
        with pytest.raises(Killed):
            cli.main([*args, "--out", str(tmp_path / "cut")])
    assert (tmp_path / "cut" / "report.md").is_file()
    assert list((tmp_path / "cut" / "checkpoints" / "group_0").iterdir())
    capsys.readouterr()
    with monkeypatch.context() as m:
        m.setattr(population, "run_epochs", lambda *a, **k: pytest.fail("trained again"))
        assert cli.main([*args, "--out", str(tmp_path / "cut"), "--resume"]) == 0
    assert "nothing to resume; the checkpoints it left (it stopped before deleting them) " \
           "are deleted" in capsys.readouterr().err
    assert not (tmp_path / "cut" / "checkpoints").exists()
    files = [sorted(str(p.relative_to(f)) for p in f.rglob("*"))
             for f in (tmp_path / "full", tmp_path / "cut")]
    assert files[0] == files[1]
    assert _results(tmp_path / "cut") == _results(tmp_path / "full")


def test_a_sweep_resumed_in_its_second_group_says_where_each_group_resumed(tmp_path,
                                                                          monkeypatch):
    """A sweep killed in its second group said it resumed from the first group's last
    epoch (the highest over groups): 'a checkpoint of epoch 3' where group 1 went on from
    epoch 1."""
    from fjax.report.callbacks import JsonlLogger
    from fjax.tasks import experiment

    write_prices(tmp_path / "p.csv", n=200)
    args = ["sweep", "forecast", "--model.kind", "linear", "mlp", "--data.path",
            str(tmp_path / "p.csv"), "--data.target", "price", "--data.window", "10",
            "--train.epochs", "3"]
    assert cli.main([*args, "--out", str(tmp_path / "full")]) == 0
    logged = JsonlLogger.on_epoch_end

    def killed(self, epoch, logs, loop):
        logged(self, epoch, logs, loop)
        if self.extra["group"] == 1 and epoch == 2:   # group 1 saved epoch 1 only
            raise Killed

    with monkeypatch.context() as m:
        m.setattr(experiment, "CHECKPOINT_EVERY_S", 0.0)
        m.setattr(JsonlLogger, "on_epoch_end", killed)
        with pytest.raises(Killed):
            cli.main([*args, "--out", str(tmp_path / "cut")])
    assert cli.main([*args, "--out", str(tmp_path / "cut"), "--resume"]) == 0
    assert _results(tmp_path / "cut") == _results(tmp_path / "full")
    timing = json.loads((tmp_path / "cut" / "metrics.json").read_text())["timing"]
    assert timing["resumed_epochs"] == {"group 0": 3, "group 1": 1}
    assert ("the run resumed from checkpoints of epoch 3 (group 0), 1 (group 1), whose "
            "epochs' times are not counted") in (tmp_path / "cut" / "report.md").read_text()


def test_a_sweep_table_counts_each_points_diverged_members(tmp_path):
    """A learning rate of 1e8 diverges: the sweep table showed its val_mse as n/a and its
    test RMSE (of untrained parameters) with nothing saying why. It now counts each
    point's diverged seeds per origin, as history.jsonl's non-finite losses do, and the
    report says what that means."""
    write_prices(tmp_path / "p.csv", n=200)
    cfg = Config(out=str(tmp_path / "out"), optim=OptimConfig(name="sgd"),
                 data=ForecastDataConfig(path=str(tmp_path / "p.csv"), target="price",
                                         window=10, val_fraction=0.2, origins=2),
                 model=ModelConfig(kind="linear"), train=TrainConfig(epochs=2),
                 sweep=SweepConfig(seeds=2))
    with pytest.warns(UserWarning, match=r"4 of 8 members diverged.*fold=1.*They rank last at "
                      r"their origin \(fold k: origin k \+ 1\); see `diverged` in report.md's "
                      r"sweep table and metrics.json$"):   # not the Python API's table()
        out = run(cfg, {"optim.learning_rate": [0.01, 1e8]}, progress=False)
    logs = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    bad = ~np.isfinite(np.array([log["loss"] for log in logs], float)).all(axis=0)
    # members: seeds x origins x grid points, the grid innermost
    want = bad.reshape(2, 2, 2).sum(axis=0)          # [origin, point]
    m = json.loads((out / "metrics.json").read_text())
    got = [[r["diverged"] for r in m["sweep"] if r["origin"] == k + 1] for k in range(2)]
    assert got == want.tolist() == [[0, 2], [0, 2]]
    assert "`diverged`: how many of a point's 2 seed(s) diverged" in \
        (out / "report.md").read_text()


def test_the_model_line_names_every_swept_fields_chosen_value(tmp_path):
    """A sweep over the Huber delta and weight decay: the report's Model line named the
    loss and learning rate but neither swept value, which only the sweep table showed. The
    point is the one of lowest val_mse in metrics.json's sweep table (pandas)."""
    write_prices(tmp_path / "p.csv", n=200)
    cfg = Config(out=str(tmp_path / "out"), loss=LossConfig(name="huber"),
                 data=ForecastDataConfig(path=str(tmp_path / "p.csv"), target="price",
                                         window=10, val_fraction=0.2),
                 model=ModelConfig(kind="linear"), train=TrainConfig(epochs=2))
    out = run(cfg, {"loss.huber_delta": [0.5, 2.0], "optim.weight_decay": [0.0, 0.01]},
              progress=False)
    sweep = pd.DataFrame(json.loads((out / "metrics.json").read_text())["sweep"])
    best = sweep.loc[sweep["val_mse"].idxmin()]
    [line] = [t for t in (out / "report.md").read_text().splitlines() if t.startswith("- Model")]
    assert (f"lr 0.001, loss.huber_delta {best['loss.huber_delta']:g}, optim.weight_decay "
            f"{best['optim.weight_decay']:g}, batch") in line


def test_the_sweep_table_counts_groups_as_history_jsonl_does(tmp_path):
    """The sweep table (report.md, metrics.json) counted compiled groups from 1 while
    history.jsonl, which a resume reads, and the resume note count them from 0."""
    write_prices(tmp_path / "p.csv", n=200)
    cfg = Config(out=str(tmp_path / "out"), model=ModelConfig(kind="linear"),
                 data=ForecastDataConfig(path=str(tmp_path / "p.csv"), target="price",
                                         window=10, val_fraction=0.2),
                 train=TrainConfig(epochs=1))
    out = run(cfg, {"model.kind": ["linear", "mlp"]}, progress=False)
    logs = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    sweep = json.loads((out / "metrics.json").read_text())["sweep"]
    assert sorted(r["group"] for r in sweep) == sorted({log["group"] for log in logs}) == [0, 1]
    assert "`group`, the compiled program that trained it, from 0" in \
        (out / "report.md").read_text()


@pytest.mark.parametrize("a, b, tie", [
    ([1.0, 2.0, 3.0], [1.1, 1.9, 3.05], True),     # leads 0.1, -0.1, 0.05: under 2 SE
    ([1.0, 2.0, 3.0], [1.5, 2.5, 3.6], False),     # leads 0.5, 0.5, 0.6: far beyond
    ([1.0], [1.0], True)])                         # an exact tie, one seed: the first wins
def test_a_sweep_says_when_its_choice_is_not_distinguishable_from_the_runner_up(a, b, tie):
    """`fjax sweep forecast --optim.learning-rate 1e-3 1.001e-3 --seeds 3` reported point 2
    (val_mse 0.0024281 vs 0.0024311) as "the lowest `val_mse`", a lead of 3.0e-6 against
    a standard error of 5.2e-6 over the seeds, without a word. The lead and its standard
    error are numpy's over hand-written per-seed MSEs, paired by seed."""
    from fjax.tasks.forecast.members import Candidate, choices, ranked
    from fjax.tasks.forecast.run import runner_up_leads, tie_text

    seeds = len(a)
    mse = [np.ravel(np.column_stack([a, b]))]               # members: seed-major, grid inner
    cands = ranked([Candidate(0, {"optim.learning_rate": lr}, np.arange(p, 2 * seeds, 2)[:, None],
                              np.zeros(1)) for p, lr in enumerate((0.1, 0.2))], mse)
    [row] = runner_up_leads(cands, choices(cands, 1))
    lead = np.subtract(b, a)
    assert row["point"] == 1 and row["runner_up_point"] == 2
    np.testing.assert_allclose(row["lead"], lead.mean(), rtol=1e-12)
    if seeds > 1:
        np.testing.assert_allclose(row["lead_se"], lead.std(ddof=1) / np.sqrt(seeds),
                                   rtol=1e-12)
    text = tie_text([row])
    assert ("Not distinguishable from the runner-up** (point 1 leads point 2 by "
            f"{lead.mean():.3g}" in text) == tie
    assert (text == "") == (not tie)
