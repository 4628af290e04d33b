"""The forecast config: tutorial defaults, errors that name the field, JSON and CLI."""

import dataclasses

import pytest
import tyro

from fjax import cli
from fjax.config import LossConfig, ModelConfig, SweepConfig, TrainConfig, from_json, to_json
from fjax.tasks.forecast import Config, ForecastDataConfig, ForecastModelConfig
from fjax.tasks.forecast.training import check_sweep_paths


def test_defaults_reproduce_the_tutorial():
    c = Config()
    assert (c.name, c.data.target, c.data.window, c.data.horizon, c.data.used_scalers) == \
        ("forecast", "Close", 60, 1, ("minmax",))
    assert (c.data.test_fraction, c.data.val_fraction, c.data.transform) == (0.2, 0.0, "price")
    assert c.model == ForecastModelConfig(kind="lstm", hidden=(50, 50), head=(25,))
    assert (c.optim.name, c.optim.learning_rate, c.train.batch_size, c.loss.name) == \
        ("adam", 1e-3, 64, "mse")
    assert c.run_dir == "runs/forecast"


@pytest.mark.parametrize("make, match", [
    (lambda: ForecastDataConfig(horizon=0), r"ForecastDataConfig.horizon must be an integer >= 1"),
    (lambda: ForecastDataConfig(window=0), r"ForecastDataConfig.window must be an integer >= 1"),
    (lambda: ForecastDataConfig(stride=0), r"ForecastDataConfig.stride"),
    (lambda: ForecastDataConfig(test_fraction=0.0), r"ForecastDataConfig.test_fraction"),
    (lambda: ForecastDataConfig(val_fraction=0.9), r"ForecastDataConfig.val_fraction"),
    (lambda: ForecastDataConfig(features=("Close",)), r"ForecastDataConfig.features repeats"),
    (lambda: ForecastDataConfig(max_gap=0.5), r"ForecastDataConfig.max_gap"),
    # the dates themselves as a value ("is not numeric ... remove thousands separators")
    (lambda: ForecastDataConfig(features=("date",)),
     r"ForecastDataConfig.features names the date column 'Date'; name value columns"),
    (lambda: ForecastDataConfig(target="Date"), r"ForecastDataConfig.target names the date"),
    (lambda: ForecastDataConfig(features=("Open", "Volume"), feature_transforms=("log",)),
     r"ForecastDataConfig.feature_transforms has 1 value\(s\) \('log',\) for 2 feature\(s\) "
     r"\('Open', 'Volume'\); give one per --data.features entry"),
    (lambda: ForecastDataConfig(feature_transforms=("level",)),
     r"ForecastDataConfig.feature_transforms has 1 value\(s\) \('level',\) for 0 feature"),
    (lambda: ForecastDataConfig(features=("Volume",), feature_transforms=("logret",)),
     r"ForecastDataConfig.feature_transforms has 'logret' \(did you mean 'log_return'\?\); "
     r"choose each from level, log, log1p, diff, log_return"),
    (lambda: ForecastDataConfig(features=("RSI",), feature_transforms=("price",)),
     r"ForecastDataConfig.feature_transforms has 'price' \(did you mean 'level'\?\)"),
    (lambda: ForecastDataConfig(transform="pct"), r"ForecastDataConfig.transform is 'pct'"),
    (lambda: Config(loss=LossConfig(name="bce")),
     r"ForecastLossConfig.name is 'bce'; choose one of mse, mae, huber, pinball, gaussian_nll"),
    (lambda: Config(model=ModelConfig(kind="logistic")), r"ModelConfig.kind is 'logistic'"),
    (lambda: Config(loss=LossConfig(name="pinball", quantiles=(0.5,))), r"LossConfig.quantiles"),
    (lambda: Config(loss=LossConfig(name="pinball", quantiles=(0.6, 0.9))),
     r"LossConfig.quantiles are \(0.6, 0.9\), all on one side of the median.*include 0.5"),
    (lambda: Config(train=TrainConfig(patience=3)), r"TrainConfig.patience needs a validation"),
    # nothing chooses an epoch, so it read nothing, while a grid over it is refused
    (lambda: Config(train=TrainConfig(min_delta=0.1)),
     r"TrainConfig.min_delta is 0.1, but no epoch is chosen.*--data.val-fraction 0.1"),
    (lambda: Config(sweep=SweepConfig(folds=3)), r"SweepConfig.folds is 3.*--data.origins"),
    (lambda: ForecastDataConfig(rolling_rows=500),
     r"ForecastDataConfig.rolling_rows is 500, but training is 'expanding'.*--data.training "
     r"rolling"),
])
def test_bad_values_name_the_field(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_min_delta_is_read_with_a_validation_span():
    cfg = Config(data=ForecastDataConfig(val_fraction=0.1), train=TrainConfig(min_delta=0.1))
    assert cfg.train.min_delta == 0.1


def test_json_round_trip():
    c = Config(data=ForecastDataConfig(features=("Open", "Volume"), horizon=5, origins=3,
                                       feature_transforms=("diff", "log"),
                                       rolling_rows=500, training="rolling"),
               loss=LossConfig(name="pinball", quantiles=(0.05, 0.5, 0.95)))
    assert from_json(Config, to_json(c)) == c


def test_command_line_fields_and_errors(capsys):
    c = tyro.cli(Config, args=["--data.path", "my.csv", "--data.target", "price",
                               "--data.horizon", "5", "--data.features", "Open", "High",
                               "--data.feature-transforms", "level", "log_return"])
    assert (c.data.path, c.data.target, c.data.horizon, c.data.features) == \
        ("my.csv", "price", 5, ("Open", "High"))
    assert c.data.feature_transforms == ("level", "log_return")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "forecast", "--data.horizon", "0"])
    assert exit_.value.code == 2
    assert "ForecastDataConfig.horizon must be an integer >= 1" in capsys.readouterr().err


def test_sweep_grid_from_the_command_line():
    parsed = tyro.cli(cli.sweep_view(Config), args=["--optim.learning-rate", "1e-3", "3e-3",
                                                    "--sweep.seeds", "2"])
    base, grid = cli.split_sweep(Config, parsed)
    assert grid == {"optim.learning_rate": (1e-3, 3e-3)}
    assert dataclasses.replace(base, optim=Config().optim, sweep=Config().sweep) == Config()


def test_a_grid_over_a_data_or_shared_field_is_refused_before_the_data_is_prepared(
        sweep_saved_grid, monkeypatch):
    """Every member shares one set of windows, prepared from the run's data.window and
    data.horizon: a grid.json over them is refused, naming the field and the fix."""
    import importlib
    forecast_run = importlib.import_module("fjax.tasks.forecast.run")
    monkeypatch.setattr(forecast_run, "prepare", lambda *a, **k: pytest.fail("data prepared"))
    status, err, out = sweep_saved_grid("forecast", Config(), {"data.window": [10, 20]})
    assert status == 2
    assert "grid entry data.window cannot be swept: the forecast data is prepared once, from " \
           "data.window=60, for every member (a grid may vary model.*, loss.*, optim.*, " \
           "train.*); run one sweep per value instead (`fjax sweep forecast ... " \
           "--data.window VALUE`)" in err
    assert not out.exists()
    with pytest.raises(ValueError, match="grid entry data.horizon cannot be swept"):
        forecast_run.run(Config(), {"data.horizon": [1, 5]}, progress=False)
    with pytest.raises(ValueError, match="grid entry sweep.folds cannot be swept: the "
                                         "forecast run reads it once, from sweep.folds=1"):
        forecast_run.run(Config(), {"sweep.folds": [2, 3]}, progress=False)


def test_a_grid_over_the_epoch_choice_needs_a_validation_span(monkeypatch):
    """Without a validation span the run keeps every member's last epoch (restore_best and
    patience off), but a grid over train.restore_best set it back per group: with two
    origins the True group restored its best epoch on the test block (test RMSE 0.94
    against 2.68 for False). The fields that choose an epoch are refused there, before
    the data is prepared, and accepted with a validation span."""
    import importlib
    forecast_run = importlib.import_module("fjax.tasks.forecast.run")
    monkeypatch.setattr(forecast_run, "prepare", lambda *a, **k: pytest.fail("data prepared"))
    two_origins = dataclasses.replace(Config(), data=dataclasses.replace(
        Config().data, origins=2))
    for grid in ({"train.restore_best": [True, False]}, {"train.monitor": ["loss", "val_loss"]},
                 {"train.min_delta": [0.0, 0.1]}, {"train.mode": ["min", "max"]}):
        with pytest.raises(ValueError, match=rf"grid entry {list(grid)[0]} cannot be swept: "
                                             "this run has no validation span"):
            forecast_run.run(two_origins, grid, progress=False)
    with_val = dataclasses.replace(two_origins, data=dataclasses.replace(
        two_origins.data, val_fraction=0.1))
    check_sweep_paths(with_val, {"train.restore_best": [True, False],
                                 "train.min_delta": [0.0, 0.1]})
