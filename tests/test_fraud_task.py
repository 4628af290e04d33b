"""The fraud task end to end (CLI, user file, validation search, run folder), its
config checks and its class-weighted focal loss."""

import json
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from fjax import cli, losses
from fjax.config import ModelConfig, from_dict
from fjax.data.fraud_simulator import simulate
from fjax.tasks.fraud import Config, FraudDataConfig
from fjax.tasks.fraud.objective import class_weighted_focal

TINY = ["--data.train-start", "None", "--data.top-k", "20", "--train.epochs", "2",
        "--train.batch-size", "256", "--cv", "2"]


@pytest.fixture(scope="module")
def user_file(tmp_path_factory):
    """A small simulation written as a user's CSV with its own column names."""
    tx = simulate(n_customers=150, n_terminals=300, n_days=75, seed=7)
    frame = tx.to_frame().rename(columns={"TX_AMOUNT": "amount_eur", "CUSTOMER_ID": "card"})
    path = tmp_path_factory.mktemp("data") / "transactions.csv"
    extra = ["TX_FRAUD_SCENARIO", "TX_TIME_SECONDS", "TX_TIME_DAYS"]
    frame.drop(columns=extra).to_csv(path, index=False)
    return path


def test_sweep_on_a_users_file_writes_the_run_folder(user_file, tmp_path):
    out = tmp_path / "run"
    argv = ["sweep", "fraud", "--out", str(out), "--data.path", str(user_file),
            "--data.amount-column", "amount_eur", "--data.customer-column", "card",
            "--compare", "rule", "--optim.learning-rate", "1e-3", "1e-2", *TINY]
    assert cli.main(argv) == 0
    config = from_dict(Config, json.loads((out / "config.json").read_text()))
    assert config.data.path == str(user_file) and config.sweep.folds == 2
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["primary"] == "mlp" and set(metrics["models"]) == {"mlp", "rule"}
    chosen = metrics["models"]["mlp"]["chosen"]
    assert chosen["hyperparameters"]["optim.learning_rate"] in (1e-3, 1e-2)
    assert 1 <= chosen["epochs"] <= 2
    validation = pd.read_csv(out / "validation.csv")
    assert len(validation) == 2 * 2                   # 2 learning rates x 2 periods
    members = pd.read_csv(out / "members.csv")
    assert len(members) == 2 * 2 and members["auc"].between(0, 1).all()
    alerts = pd.read_csv(out / "alerts.csv")
    assert list(alerts.columns) == ["seed", "period", "date", "rank", "card", "score", "fraud"]
    assert alerts.groupby(["period", "date"]).size().max() <= 20
    assert alerts["score"].between(0, 1).all()
    # Nothing silently dropped: kept + removed (known compromised cards) = the test week.
    periods = pd.read_csv(out / "periods.csv")
    dates = pd.to_datetime(pd.read_csv(user_file)["TX_DATETIME"]).dt.normalize()
    for _, p in periods.iterrows():
        first, last = (pd.Timestamp(d) for d in p["test"].split(" .. "))
        in_week = int(((dates >= first) & (dates <= last)).sum())
        assert p["test_tx"] + p["removed_known_cards_tx"] == in_week
    for name in ("pr_curve.png", "roc_curve.png", "score_distributions.png",
                 "daily_card_precision.png", "report.md", "models/mlp/config.json"):
        assert (out / name).exists(), name
    report = (out / "report.md").read_text()
    assert "feed-forward network: 0.876 / 0.675 / 0.303" in report
    assert "Selection on the validation periods" in report


@pytest.mark.parametrize("make, field", [
    (lambda: Config(compare=("rule", "forest")), "Config.compare"),
    (lambda: Config(model=ModelConfig(kind="linear")), "Config.model"),
    (lambda: FraudDataConfig(top_k=0), "FraudDataConfig.top_k"),
    (lambda: FraudDataConfig(train_start="someday"), "FraudDataConfig.train_start"),
    (lambda: FraudDataConfig(scaler="zscore"), "FraudDataConfig.scaler"),
])
def test_bad_config_names_the_field(make, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        make()


def test_periods_that_do_not_fit_the_data_say_how_to_fix_it(user_file, tmp_path, capsys):
    argv = ["run", "fraud", "--out", str(tmp_path / "r"), "--data.path", str(user_file),
            "--data.amount-column", "amount_eur", "--data.customer-column", "card",
            "--data.train-start", "2018-06-01", "--cv", "4"]
    assert cli.main(argv) == 2
    assert "test period 0 spans days [61, 82) but the data has days [0, 75); move " \
           "data.train_start" in capsys.readouterr().err


def test_class_weighted_focal_reduces_to_weighted_bce_and_focal():
    rng = np.random.default_rng(0)
    logits = jnp.asarray(rng.normal(0, 3, (64, 1)), jnp.float32)
    labels = jnp.asarray(rng.random((64, 1)) < 0.2, jnp.float32)
    w = jnp.asarray(rng.uniform(0.5, 1.5, 64), jnp.float32)
    bce = losses.binary_cross_entropy(logits, labels, w, pos_weight=4.0)
    ours = class_weighted_focal(logits, labels, w, gamma=0.0, pos_weight=4.0, alpha=-1.0)
    np.testing.assert_allclose(ours, bce, rtol=1e-5)
    focal = losses.focal_loss(logits, labels, w, gamma=2.0, alpha=0.25)
    ours = class_weighted_focal(logits, labels, w, gamma=2.0, pos_weight=1.0, alpha=0.25)
    np.testing.assert_allclose(ours, focal, rtol=1e-4)


def test_class_weighted_focal_has_finite_gradients_at_saturated_logits():
    grad = jax.grad(lambda z: class_weighted_focal(z, jnp.array([[1.0], [0.0]]), None,
                                                   gamma=0.0, pos_weight=5.0, alpha=-1.0))
    g = grad(jnp.array([[60.0], [-60.0]]))
    assert np.all(np.isfinite(np.asarray(g)))


def test_the_briefs_sweep_is_one_compile_group_of_every_combination():
    import tyro

    from fjax.tasks.fraud import _check_grid
    from fjax.train.sweep import group_grid
    args = ["--optim.learning-rate", "1e-4", "3e-4", "1e-3", "--loss.focal-gamma", "0", "1",
            "2", "--loss.pos-weight", "1", "5", "--loss.name", "focal", "--seeds", "8"]
    config, grid = cli.split_sweep(Config, tyro.cli(cli.sweep_view(Config), args=args))
    [group] = group_grid(config, grid)
    assert group.hparams == {"learning_rate": [1e-4, 3e-4, 1e-3], "focal_gamma": [0.0, 1.0, 2.0],
                             "pos_weight": [1.0, 5.0]}
    assert config.sweep.seeds == 8
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_grid(config, grid)                      # focal: every entry matters
    with pytest.warns(UserWarning, match="focal_gamma has no effect with loss.name='bce'"):
        _check_grid(Config(), grid)
