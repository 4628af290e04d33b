"""The credit task's configuration and command line: defaults, aliases, sweeps and
errors that name the field."""

import dataclasses

import pytest
import tyro

from fjax.cli import main, split_sweep, sweep_view
from fjax.config import LossConfig, SweepConfig, from_json, to_json
from fjax.tasks.credit import Config, CreditDataConfig, CreditModelConfig, ScorecardConfig
from fjax.tasks.credit.search import encodings


def test_defaults_are_logistic_regression_with_five_folds():
    cfg = Config()
    assert cfg.name == "credit" and cfg.model.kind == "logistic"
    assert cfg.sweep.folds == 5 and cfg.loss.name == "bce"
    assert cfg.optim.weight_decay > 0 and not cfg.train.restore_best
    assert (cfg.data.target, cfg.data.positive) == ("creditability", "bad")
    assert (cfg.data.cost_fn, cfg.data.cost_fp) == (5.0, 1.0)
    assert from_json(Config, to_json(cfg)) == cfg


def test_command_line_aliases():
    cfg = tyro.cli(Config, args=["--model", "mlp", "--cv", "3", "--data.woe", "numeric"])
    assert cfg.model.kind == "mlp" and cfg.sweep.folds == 3 and cfg.data.woe == "numeric"
    assert cfg.loss.name == "bce"  # nested defaults of the task survive


def test_the_command_line_takes_characteristics_withheld_from_reasons():
    cfg = tyro.cli(Config, args=["--scorecard.no-reasons", "zip3", "age"])
    assert cfg.scorecard.no_reasons == ("zip3", "age")
    assert from_json(Config, to_json(cfg)) == cfg


def test_sweep_keeps_the_task_defaults_and_collects_the_grid():
    parsed = tyro.cli(sweep_view(Config), args=["--optim.learning-rate", "1e-3", "3e-3",
                                                "--loss.pos-weight", "1", "2"])
    cfg, grid = split_sweep(Config, parsed)
    assert grid == {"optim.learning_rate": (1e-3, 3e-3), "loss.pos_weight": (1.0, 2.0)}
    assert cfg.loss.name == "bce" and cfg.sweep.folds == 5
    assert cfg.optim == dataclasses.replace(Config().optim, learning_rate=1e-3)


@pytest.mark.parametrize("make, field", [
    (lambda: Config(loss=LossConfig(name="mse")), "LossConfig.name"),
    (lambda: Config(sweep=SweepConfig(folds=1)), "SweepConfig.folds"),
    (lambda: CreditModelConfig(kind="lstm"), "CreditModelConfig.kind"),
    (lambda: CreditDataConfig(cost_fn=-1.0), "CreditDataConfig.cost_fn"),
    (lambda: CreditDataConfig(woe_bins=1), "CreditDataConfig.woe_bins"),
    (lambda: CreditDataConfig(cost_fn=0.0), "CreditDataConfig.cost_fn"),
    (lambda: CreditDataConfig(cost_fp=0.0), "CreditDataConfig.cost_fp"),
    (lambda: ScorecardConfig(base_odds=0.0), "ScorecardConfig.base_odds"),
    (lambda: ScorecardConfig(pdo=-20.0), "ScorecardConfig.pdo"),
    (lambda: ScorecardConfig(reasons=0), "ScorecardConfig.reasons"),
    (lambda: ScorecardConfig(ig_steps=0), "ScorecardConfig.ig_steps"),
])
def test_bad_config_names_the_field(make, field):
    with pytest.raises(ValueError, match=field):
        make()


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_cli_reports_a_bad_config_by_its_field(command, capsys):
    try:
        code = main([command, "credit", "--data.woe-bins", "1"])
    except SystemExit as stop:  # tyro reports errors raised while building the config
        code = stop.code
    assert code == 2
    assert "CreditDataConfig.woe_bins" in capsys.readouterr().err


def test_grid_entries_that_change_the_encoding_get_their_own_design():
    grid = {"model.kind": ["logistic", "mlp"], "data.woe": ["none", "all"],
            "optim.learning_rate": [1e-3, 3e-3]}
    configs = encodings(Config(), grid)
    assert [(c.model.kind, c.data.woe) for c in configs] == [
        ("logistic", "none"), ("logistic", "all"), ("mlp", "none"), ("mlp", "all")]
    assert all(c.optim.learning_rate == Config().optim.learning_rate for c in configs)


def test_a_grid_over_a_data_field_read_once_at_loading_is_refused(sweep_saved_grid,
                                                                   monkeypatch):
    """Only data.woe* are encoded again per grid value; the others are read once as the
    data is loaded: a grid.json over data.drop gave both encodings the same x f32[N, 66]
    while cv_summary.csv named () and ('age_in_years',)."""
    import importlib

    credit_run = importlib.import_module("fjax.tasks.credit.run")
    monkeypatch.setattr(credit_run, "load", lambda *a, **k: pytest.fail("data was loaded"))
    status, err, out = sweep_saved_grid("credit", Config(),
                                        {"data.drop": [[], ["age_in_years"]]})
    assert status == 2
    assert "grid entry data.drop cannot be swept: the credit data is prepared once, from " \
           "data.drop=(), for every member (a grid may vary model.*, loss.*, optim.*, " \
           "train.*, data.woe, data.woe_bins, data.woe_monotone); run one sweep per value " \
           "instead (`fjax sweep credit ... --data.drop VALUE`)" in err
    assert not out.exists()
    with pytest.raises(ValueError, match="grid entry data.cost_fn cannot be swept"):
        credit_run.run(Config(), {"data.cost_fn": [1.0, 5.0]}, progress=False)


def test_a_grid_over_the_scorecard_or_the_seeds_is_refused(monkeypatch):
    """The scorecard (scale, calibration, reasons) is read once from the run's own
    config.scorecard, by every member's metrics and the report; sweep.folds and seed once
    as the folds are split and the members seeded: a grid over them named values that no
    member or report used."""
    import importlib

    credit_run = importlib.import_module("fjax.tasks.credit.run")
    monkeypatch.setattr(credit_run, "load", lambda *a, **k: pytest.fail("data was loaded"))
    for grid in ({"scorecard.pdo": [20.0, 40.0]}, {"scorecard.calibration": ["none", "platt"]},
                 {"sweep.folds": [3, 5]}, {"seed": [0, 1]}):
        path = list(grid)[0]
        with pytest.raises(ValueError, match=rf"grid entry {path} cannot be swept: the credit "
                                             rf"run reads it once, from {path}="):
            credit_run.run(Config(), grid, progress=False)


def test_model_fields_a_task_never_reads_are_refused_and_hidden():
    """`fjax run credit --help` listed --model.kernel-size and four more fields that no
    credit model reads; setting one changed nothing, silently."""
    import contextlib
    import io

    from fjax import cli
    from fjax.config import ModelConfig
    from fjax.tasks.credit.config import CreditModelConfig
    from fjax.tasks.forecast import Config as ForecastConfig
    from fjax.tasks.fraud import Config as FraudConfig
    for field, value in (("kernel_size", 5), ("head", (8,)), ("bottleneck", 2)):
        with pytest.raises(ValueError, match=f"CreditModelConfig.{field} is .*every kind "
                           r"CreditModelConfig accepts \(logistic, mlp\) ignores it"):
            CreditModelConfig(**{field: value})
    with pytest.raises(ValueError, match="ModelConfig.bottleneck is 4, but every kind For"):
        ForecastConfig(model=ModelConfig(kind="lstm", hidden=(8,), bottleneck=4))
    with pytest.raises(ValueError, match="ModelConfig.kernel_size is 5, but every kind Fraud"):
        FraudConfig(model=ModelConfig(kind="mlp", kernel_size=5))
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        cli.main(["run", "credit", "--help"])
    assert "--model.hidden" in out.getvalue() and "--model.kernel-size" not in out.getvalue()


def test_monotone_woe_is_refused_without_woe_bins_and_round_trips():
    with pytest.raises(ValueError, match="CreditDataConfig.woe_monotone.*--data.woe numeric"):
        CreditDataConfig(woe_monotone=True)
    cfg = tyro.cli(Config, args=["--data.woe", "numeric", "--data.woe-monotone"])
    assert cfg.data.woe_monotone and from_json(Config, to_json(cfg)) == cfg
