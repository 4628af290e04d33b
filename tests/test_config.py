import dataclasses

import pytest

from fjax.config import (ExperimentConfig, LossConfig, ModelConfig, OptimConfig, TrainConfig,
                         from_dict, from_json, hyperparameters, replace_path,
                         to_dict, to_json)


def test_json_round_trip_keeps_every_field():
    cfg = ExperimentConfig(
        name="x", seed=3, model=ModelConfig(kind="lstm", hidden=(8, 4), head=(3,), dilations=None),
        loss=LossConfig(name="pinball", quantiles=(0.2, 0.8)),
        optim=OptimConfig(name="adamw", learning_rate=3e-4, momentum=0.8, clip_norm=1.0),
        train=TrainConfig(epochs=2, patience=3))
    back = from_json(ExperimentConfig, to_json(cfg))
    assert back == cfg
    assert isinstance(back.model.hidden, tuple)


def test_unknown_key_is_named_with_a_suggestion():
    data = to_dict(ExperimentConfig())
    data["optim"]["learning_rat"] = 0.1
    with pytest.raises(ValueError, match=r"optim\.learning_rat.*did you mean.*learning_rate"):
        from_dict(ExperimentConfig, data)


@pytest.mark.parametrize("make, field", [
    (lambda: OptimConfig(learning_rate=-1e-3), "OptimConfig.learning_rate"),
    (lambda: OptimConfig(name="adm"), "OptimConfig.name"),
    (lambda: OptimConfig(name="sgd", momentum=0.9), "OptimConfig.momentum"),
    (lambda: OptimConfig(name="adagrad", momentum=0.5), "OptimConfig.momentum"),
    (lambda: ModelConfig(kind="transformer"), "ModelConfig.kind"),
    (lambda: ModelConfig(dropout=1.5), "ModelConfig.dropout"),
    (lambda: TrainConfig(batch_size=0), "TrainConfig.batch_size"),
    (lambda: TrainConfig(epochs=2.5), "TrainConfig.epochs"),
    (lambda: LossConfig(quantiles=(0.5, 1.2)), "LossConfig.quantiles"),
    (lambda: LossConfig(pos_weight=0.0), "LossConfig.pos_weight"),
])
def test_invalid_values_name_the_field(make, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        make()


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ValueError, match="did you mean 'adam'"):
        OptimConfig(name="adm")


def test_hyperparameters_are_the_hyper_fields():
    a = ExperimentConfig(optim=OptimConfig(learning_rate=0.1), loss=LossConfig(pos_weight=3.0))
    b = ExperimentConfig(optim=OptimConfig(learning_rate=0.2))
    hp = hyperparameters(a)
    assert hp["optim.learning_rate"] == 0.1 and hp["loss.pos_weight"] == 3.0
    assert "model.hidden" not in hp
    assert set(hyperparameters(b)) == set(hp)
    c = replace_path(b, "model.hidden", (5,))
    assert c.model.hidden == (5,) and b.model.hidden != (5,)


def test_replace_path_validates_and_rejects_unknown():
    cfg = ExperimentConfig()
    with pytest.raises(ValueError, match="learning_rate"):
        replace_path(cfg, "optim.learning_rate", -1.0)
    with pytest.raises(ValueError, match="unknown config key"):
        replace_path(cfg, "optim.nope", 1.0)


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ExperimentConfig().seed = 2


def test_help_describes_the_fields_in_run_and_sweep(capsys):
    from fjax import cli
    for command in ("run", "sweep"):
        with pytest.raises(SystemExit):
            cli.main([command, "forecast", "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for doc in ("Input rows per window (W).", "Forecasting models: linear, mlp, lstm, gru",
                    "Passes over the training rows", "Peak learning rate"):
            assert doc in text, (command, doc)


def test_a_mistyped_task_or_command_gets_the_closest_name(capsys):
    from fjax import cli
    assert cli.main(["run", "forcast"]) == 2
    assert "unknown task 'forcast'; did you mean 'forecast'?" in capsys.readouterr().err
    assert cli.main(["rn", "credit"]) == 2
    assert "unknown command 'rn'; did you mean 'run'?" in capsys.readouterr().err
