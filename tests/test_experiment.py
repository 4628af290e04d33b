"""The task-layer runner: a diverging plain run stops with the member named; in a sweep
it is a warning and the member stays in the table."""

import dataclasses
import warnings

import numpy as np
import pytest

from fjax.config import (ExperimentConfig, LossConfig, ModelConfig, OptimConfig, TrainConfig,
                         get_path, to_json)
from fjax.models import build_model
from fjax.tasks.experiment import Trainable, check_sweep_divergence, combined_table, train_grid
from fjax.train import TrainingDiverged
from fjax.train.objective import supervised_loss

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 3)).astype(np.float32)
DATA = {"x": X, "y": (X @ np.ones(3) * 10).astype(np.float32)[:, None]}


def build(cfg):
    model = build_model(cfg.model, 1)
    return Trainable(init_fn=lambda k: model.init(k, X[:1]),
                     loss_fn=supervised_loss(model.apply, LossConfig()))


def config(lr):
    return ExperimentConfig(model=ModelConfig(kind="mlp", hidden=(8,)),
                            optim=OptimConfig(name="sgd", learning_rate=lr),
                            train=TrainConfig(epochs=4, batch_size=16))


def test_a_plain_run_that_diverges_names_the_member():
    with pytest.raises(TrainingDiverged, match=r"1 of 1 members diverged.*seed=0.*epoch \d.*"
                       r"Lower optim.learning_rate or set optim.clip_norm \(this run's "
                       r"optim.learning_rate is 10000, optim.clip_norm None\)\.$"):
        train_grid(config(1e4), {}, build, DATA, progress=False)


def test_a_sweep_warns_and_keeps_the_diverged_member():
    grid = {"optim.learning_rate": [1e-3, 1e4]}
    with pytest.warns(UserWarning, match=r"1 of 2 members diverged.*learning_rate=10000"):
        results = train_grid(config(1e-3), grid, build, DATA, progress=False)
    table = combined_table(results, grid)
    assert list(table["diverged_epoch"] > 0) == [False, True]
    assert "optim.learning_rate" in table.columns


def test_a_sweep_in_which_every_member_diverged_stops_and_says_so():
    """Forecast's sweep then failed in matplotlib ("cannot be log-scaled"), fraud's with a
    hint at the Python API."""
    grid = {"optim.learning_rate": [1e4, 1e5]}
    with pytest.warns(UserWarning), pytest.raises(TrainingDiverged, match="every member of "
                                                  "the sweep diverged.*--optim.learning-rate"):
        check_sweep_divergence(train_grid(config(1e-3), grid, build, DATA, progress=False),
                               grid)


def test_each_task_removes_the_checkpoints_of_every_population_it_trains_and_no_others():
    """Checkpoints sit beside each history log, in checkpoints/group_<g>: the patterns
    name exactly those folders (fraud's lstm and credit's encoding_<e> included)."""
    from fjax.tasks.credit.run import OUTPUTS as CREDIT
    from fjax.tasks.experiment import checkpoint_dirs
    from fjax.tasks.fraud import OUTPUTS as FRAUD
    from fjax.tasks.fraud.config import TRAINED_KINDS
    from fjax.tasks.forecast.run import OUTPUTS as FORECAST

    assert checkpoint_dirs(FORECAST) == ["checkpoints/group_[0-9]*"]
    assert checkpoint_dirs(CREDIT) == ["checkpoints/group_[0-9]*",
                                       "encoding_[0-9]*/checkpoints/group_[0-9]*"]
    fraud = set(checkpoint_dirs(FRAUD))
    for kind in (*TRAINED_KINDS, "autoencoder_crossfit"):
        assert {f"models/{kind}/checkpoints/group_[0-9]*",
                f"models/{kind}/validation/checkpoints/group_[0-9]*"} <= fraud


def test_each_task_removes_its_finished_mark_as_a_run_or_resume_starts(tmp_path):
    """A resume calls a run finished when its metrics.json and report.md are there: every
    task must list them among the outputs that a run, or a resume, removes before it
    trains. A report whose metrics.json was deleted by hand is no finished run."""
    from fjax.tasks.credit.run import OUTPUTS as CREDIT
    from fjax.tasks.experiment import FINISHED, RunFinished, default_run_dir
    from fjax.tasks.fraud import OUTPUTS as FRAUD
    from fjax.tasks.forecast.run import OUTPUTS as FORECAST

    assert FINISHED == ("metrics.json", "report.md")
    assert all(set(FINISHED) <= set(outputs) for outputs in (CREDIT, FRAUD, FORECAST))
    cfg = ExperimentConfig(out=str(tmp_path))
    default_run_dir(cfg, None, FINISHED)
    resume = dataclasses.replace(cfg, resume=True)
    with pytest.warns(UserWarning, match="no finished results and no checkpoint"):
        default_run_dir(resume, None, FINISHED)   # no report: it trains
    for name in FINISHED:
        (tmp_path / name).write_text("done")
    with pytest.raises(RunFinished, match="holds this run, finished"):
        default_run_dir(resume, None, FINISHED)
    assert (tmp_path / "report.md").read_text() == "done"
    (tmp_path / "metrics.json").unlink()            # deleted by hand: results not all in
    with pytest.warns(UserWarning, match="no finished results and no checkpoint"):
        default_run_dir(resume, None, FINISHED)   # trains again, as an unfinished run
    assert not (tmp_path / "report.md").exists()    # the stale report goes as it starts
    default_run_dir(cfg, None, FINISHED)      # a new run starts over
    assert not any((tmp_path / name).exists() for name in FINISHED)


def test_a_swept_loss_value_the_loss_ignores_is_refused_before_the_folder_is_touched(tmp_path):
    """`fjax sweep credit --loss.focal-gamma 0 1` (with bce) deleted an earlier run's
    outputs before training refused the grid."""
    from fjax.tasks.experiment import default_run_dir

    earlier = tmp_path / "metrics.json"
    earlier.write_text("{}")
    cfg = ExperimentConfig(out=str(tmp_path), loss=LossConfig(name="bce"))
    (tmp_path / "config.json").write_text(to_json(cfg))
    with pytest.raises(ValueError, match=r"\(loss.focal_gamma\) has no effect with "
                                         r"loss.name='bce'; drop it from the grid, or set "
                                         r"loss.name to a loss that reads it: focal "
                                         r"\(--loss.name focal\)"):
        default_run_dir(cfg, {"loss.focal_gamma": [0.0, 1.0]}, ("metrics.json",))
    with pytest.raises(ValueError, match=r"\(loss.pos_weight\) has no effect with "
                                         r"loss.name='mse'.*: bce, focal \(--loss.name bce\)"):
        default_run_dir(ExperimentConfig(out=str(tmp_path)), {"loss.pos_weight": [1.0, 2.0]},
                        ("metrics.json",))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "metrics.json"]
    default_run_dir(cfg, {"loss.pos_weight": [1.0, 2.0]}, ("metrics.json",))   # bce reads it
    assert not earlier.exists() and (tmp_path / "grid.json").exists()


def test_swept_loss_values_are_checked_per_compile_group_as_training_checks_them():
    """The check before the folder is touched is training's own, per group: a structural
    sweep over loss.name was refused as 'loss.name has no effect with loss.name=bce'."""
    from fjax.tasks.experiment import check_loss_grid

    bce = ExperimentConfig(loss=LossConfig(name="bce"))
    check_loss_grid(bce, {"loss.name": ["bce", "focal"], "loss.pos_weight": [1.0, 2.0]})
    grid = {"loss.name": ["bce", "mse"], "loss.focal_gamma": [0.0, 1.0]}   # neither reads it
    with pytest.raises(ValueError) as before:
        check_loss_grid(bce, grid)
    loss = supervised_loss(build_model(ModelConfig(kind="linear"), 1).apply, LossConfig(
        name="bce"))
    with pytest.raises(ValueError) as training:   # train_population's check of the bce group
        loss.check_hparams({"focal_gamma": [0.0, 1.0]})
    assert str(before.value) == str(training.value)


def test_a_grid_over_the_loss_varies_a_knob_only_in_the_groups_whose_loss_reads_it():
    """bce/focal x focal_gamma was refused ('has no effect with loss.name=bce'): bce now
    trains once at the default gamma, focal at each; a knob no swept loss reads is still
    refused, with the message of a loss that ignores it."""
    from fjax.tasks.experiment import check_loss_grid
    from fjax.train.sweep import group_grid
    base = ExperimentConfig(loss=LossConfig(name="bce", focal_gamma=0.0))  # the CLI's base
    grid = {"loss.name": ["bce", "focal"], "loss.focal_gamma": [0.0, 1.0, 2.0],
            "optim.learning_rate": [1e-3, 1e-2]}
    check_loss_grid(base, grid)
    groups = group_grid(base, grid)
    assert [(g.config.loss.name, g.config.loss.focal_gamma, g.hparams) for g in groups] == [
        ("bce", 2.0, {"learning_rate": [1e-3, 1e-2]}),
        ("focal", 0.0, {"learning_rate": [1e-3, 1e-2], "focal_gamma": [0.0, 1.0, 2.0]})]
    assert groups[0].paths == {"learning_rate": "optim.learning_rate"}
    for names in (["mse", "huber"], ["bce"]):
        with pytest.raises(ValueError, match=rf"\(loss.focal_gamma\) has no effect with "
                                             rf"loss.name='{names[0]}'.*\(--loss.name focal\)"):
            check_loss_grid(base, {"loss.name": names, "loss.focal_gamma": [0.0, 1.0]})


def test_a_cli_sweep_of_a_loss_value_the_loss_ignores_names_the_field_and_the_flag(
        tmp_path, capsys):
    from fjax import cli
    assert cli.main(["sweep", "credit", "--loss.focal-gamma", "0", "1",
                     "--out", str(tmp_path / "r")]) == 2
    assert ("error: hparams key 'focal_gamma' (loss.focal_gamma) has no effect with "
            "loss.name='bce'; drop it from the grid, or set loss.name to a loss that reads "
            "it: focal (--loss.name focal)") in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("loss, field, value, reader", [
    ("bce", "focal_gamma", 1.0, "focal"), ("bce", "focal_alpha", 0.25, "focal"),
    ("mse", "pos_weight", 3.0, "bce or focal"), ("bce", "huber_delta", 2.0, "huber")])
def test_a_fixed_loss_value_the_loss_ignores_is_refused_before_and_in_training(
        loss, field, value, reader):
    """--loss.focal-gamma 1 with bce trained plain bce, silently. Refused where the grid is
    known (a sweep puts its first value in the config), in a plain run and by training."""
    from fjax.tasks.experiment import check_loss_grid
    cfg = LossConfig(name=loss, **{field: value})
    message = (rf"LossConfig.{field} is {value!r}, but name='{loss}' ignores it; "
               rf"choose {reader} \(--loss.name .*leave it out")
    with pytest.raises(ValueError, match=message):
        check_loss_grid(ExperimentConfig(loss=cfg), {})
    apply = build_model(ModelConfig(kind="linear"), 1).apply
    with pytest.raises(ValueError, match=message):
        supervised_loss(apply, cfg).check_hparams({})   # train_population's check
    check_loss_grid(ExperimentConfig(loss=LossConfig(name=loss)), {})
    check_loss_grid(ExperimentConfig(loss=dataclasses.replace(cfg, name=reader.split()[0])),
                    {})


def test_a_grid_over_the_loss_keeps_a_loss_value_for_the_loss_that_reads_it():
    """focal_gamma=1 under a grid over loss.name: the bce group trains at the default."""
    from fjax.tasks.experiment import check_loss_grid
    from fjax.train.sweep import group_grid
    base = ExperimentConfig(loss=LossConfig(name="focal", focal_gamma=1.0))
    grid = {"loss.name": ["bce", "focal"]}
    check_loss_grid(base, grid)
    assert [(g.config.loss.name, g.config.loss.focal_gamma)
            for g in group_grid(base, grid)] == [("bce", 2.0), ("focal", 1.0)]


OTHER_MODEL_VALUE = {"hidden": (8, 8), "dropout": 0.1, "activation": "tanh", "head": (4,),
                     "head_activation": "relu", "kernel_size": 5, "dilations": (1, 3),
                     "bottleneck": 4}


def test_the_model_fields_each_kind_reads_are_those_its_built_module_depends_on():
    """ModelConfig.READ_BY against build_model: a kind reads a field iff changing the field
    changes the flax module it builds."""
    from fjax.config import MODEL_KINDS
    for name, value in OTHER_MODEL_VALUE.items():
        assert ModelConfig.READ_BY[name][0] == "kind"
        readers = {kind for kind in MODEL_KINDS
                   if repr(build_model(ModelConfig(kind=kind), 1)) != repr(build_model(
                       ModelConfig(kind=kind, **{name: value}), 1))}
        assert set(ModelConfig.READ_BY[name][1]) == readers, name


def task_config(task, **model):
    from fjax.tasks import get_task
    cls = get_task(task).Config
    return cls(model=dataclasses.replace(cls().model, **model))


@pytest.mark.parametrize("task, model, grid, message", [
    ("credit", dict(dropout=0.3), {}, r"CreditModelConfig.dropout is 0.3, but kind='logistic' "
     r"ignores it; choose mlp \(--model.kind mlp\) to use it, or leave it out \(default 0.5\)"),
    ("credit", dict(embedding_dim=5), {}, r"embedding_dim is 5, but kind='logistic'"),
    ("credit", dict(activation="tanh"), {"model.kind": ["logistic"]}, r"activation is 'tanh'"),
    ("credit", {}, {"model.hidden": [(32,), (64,)]}, r"grid entry model.hidden has no effect: "
     r"kind='logistic' ignores it; choose mlp \(--model.kind mlp\) to use it, or drop it"),
    ("fraud", dict(kind="logistic", dropout=0.3), {}, r"FraudModelConfig.dropout is 0.3, but "
     r"kind='logistic' ignores it; choose mlp or lstm or gru or autoencoder"),
    ("fraud", dict(kind="gru", activation="tanh"), {}, r"choose mlp or autoencoder"),
    ("fraud", dict(head=(4,)), {}, r"head is \(4,\), but kind='mlp' ignores it; choose lstm "
     r"or gru \(--model.kind lstm\)"),
    ("fraud", dict(kind="mlp", bottleneck=4), {}, r"choose autoencoder"),
    ("forecast", dict(activation="tanh"), {}, r"activation is 'tanh', but kind='lstm'"),
    ("forecast", dict(kind="mlp", head_activation="relu"), {}, r"choose lstm or gru or cnn"),
    ("forecast", dict(kernel_size=5), {"model.kind": ["lstm", "gru"]},
     r"kernel_size is 5, but every kind this run trains \(lstm, gru\) ignores it; choose cnn"),
    ("forecast", dict(kind="linear", hidden=(8,)), {}, r"hidden is \(8,\), but kind='linear'"),
    # a grid over the kind replaces the run's own: mlp never trains here
    ("credit", dict(kind="mlp", dropout=0.3), {"model.kind": ["logistic"]},
     r"dropout is 0.3, but kind='logistic' ignores it"),
])
def test_a_model_field_every_trained_kind_ignores_is_refused(task, model, grid, message):
    """`fjax run credit --model.dropout 0.3` trained the logistic model, silently."""
    from fjax.tasks.experiment import check_model_grid
    with pytest.raises(ValueError, match=message):
        check_model_grid(task_config(task, **model), grid)


@pytest.mark.parametrize("task, model, grid", [
    ("credit", {}, {}), ("forecast", {}, {}), ("fraud", {}, {}),
    ("fraud", dict(kind="logistic"), {}),          # carries the task's 100 x 100, dropout 0.2
    ("fraud", dict(kind="autoencoder", bottleneck=4), {}),
    ("forecast", dict(kind="mlp"), {}),            # carries the task's head (25,)
    ("forecast", dict(kind="cnn", kernel_size=5, activation="tanh"), {}),
    ("credit", dict(dropout=0.3, embedding_dim=5), {"model.kind": ["logistic", "mlp"]}),
    ("credit", {}, {"model.kind": ["logistic", "mlp"], "model.hidden": [(8,), (16,)]}),
    ("credit", dict(kind="mlp", dropout=0.3, activation="tanh"), {}),
])
def test_a_model_field_some_trained_kind_reads_or_left_at_the_task_default_is_kept(
        task, model, grid):
    from fjax.tasks.experiment import check_model_grid
    check_model_grid(task_config(task, **model), grid)


@pytest.mark.parametrize("task", ["forecast", "fraud", "credit"])
def test_a_model_built_from_its_class_defaults_is_kept(task):
    """`Config(model=ForecastModelConfig(kind="linear"))` carries the class's widths (64, 64),
    not the task's (50, 50): the user set nothing, so nothing is refused; a width set by hand
    still is."""
    from fjax.tasks import get_task
    from fjax.tasks.experiment import check_model_grid
    cls = get_task(task).Config
    model_class = type(cls().model)
    check_model_grid(cls(model=model_class(kind="linear" if task == "forecast" else
                                           "logistic")), {})
    with pytest.raises(ValueError, match=r"hidden is \(8,\), but kind="):
        check_model_grid(cls(model=model_class(kind="linear" if task == "forecast" else
                                               "logistic", hidden=(8,))), {})


def test_the_credit_experiments_grid_over_kinds_is_kept():
    """experiments/credit_german.py sweeps kind over logistic and mlp from a logistic base."""
    import importlib.util
    from pathlib import Path
    from fjax.tasks import credit
    from fjax.tasks.experiment import check_model_grid
    script = Path(__file__).parents[1] / "experiments" / "credit_german.py"
    spec = importlib.util.spec_from_file_location("credit_german", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    check_model_grid(credit.Config(name="credit_german"), module.GRID)


@pytest.mark.parametrize("args, message", [
    (["run", "credit", "--model.dropout", "0.3"], "CreditModelConfig.dropout is 0.3"),
    (["run", "fraud", "--model.kind", "logistic", "--model.hidden", "8"],
     "FraudModelConfig.hidden is (8,)"),
])
def test_a_cli_run_with_a_model_field_its_kind_ignores_writes_nothing(tmp_path, capsys,
                                                                        args, message):
    from fjax import cli
    assert cli.main([*args, "--out", str(tmp_path / "r")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_members_seeds_start_at_the_configured_seed():
    from fjax.config import SweepConfig
    from fjax.tasks.experiment import seeds_of
    assert seeds_of(ExperimentConfig(seed=5, sweep=SweepConfig(seeds=3))) == [5, 6, 7]


def test_a_resume_with_other_swept_values_is_refused(tmp_path):
    import json

    from fjax.config import to_dict
    from fjax.tasks.experiment import check_resumable
    cfg = config(0.01)
    (tmp_path / "config.json").write_text(json.dumps(to_dict(cfg)))
    (tmp_path / "grid.json").write_text(json.dumps({"optim.learning_rate": [0.01, 0.1]}))
    check_resumable(tmp_path, cfg, {"optim.learning_rate": [0.01, 0.1]})    # the same run
    with pytest.raises(ValueError, match=r"differs .* in the swept values \(grid.json\)"):
        check_resumable(tmp_path, cfg, {"optim.learning_rate": [0.01, 0.3]})
    with pytest.raises(ValueError, match=r"in the swept values \(grid.json\)"):
        check_resumable(tmp_path, cfg, None)


def test_a_resume_naming_the_same_data_file_by_another_path_is_not_refused(tmp_path,
                                                                         monkeypatch):
    """A run started with a relative --data.path and resumed with the absolute one (or
    the reverse) read the same bytes: it was refused as differing in data.path."""
    import json

    from fjax.config import DataConfig, to_dict
    from fjax.tasks.experiment import check_resumable, data_files
    monkeypatch.chdir(tmp_path)
    for name in ("prices.csv", "other.csv"):
        (tmp_path / name).write_text("Date,Close\n2020-01-01,1\n")
    run = tmp_path / "run"
    run.mkdir()
    cfg = ExperimentConfig(data=DataConfig(path="prices.csv"))
    (run / "config.json").write_text(json.dumps(to_dict(cfg)))
    (run / "environment.json").write_text(json.dumps({"data_files": data_files(cfg)}))
    check_resumable(run, cfg, None)
    check_resumable(run, ExperimentConfig(data=DataConfig(path=str(tmp_path / "prices.csv"))),
                    None)
    with pytest.raises(ValueError, match=r"differs from the one in .* in data\.path;"):
        check_resumable(run, ExperimentConfig(data=DataConfig(path="other.csv")), None)


def test_a_training_loss_that_rose_is_said():
    """Adam at lr 1e6 kept the loss finite near 1e25: no divergence, a report that read
    as a model merely worse than the naive forecast."""
    from fjax.tasks.experiment import rising_loss_note
    rose = [{"loss": np.array([1e24, 2e24])}, {"loss": np.array([3e25, 1e25])}]
    assert rising_loss_note(rose).startswith("The training loss rose from 1.5e+24 (epoch 1) "
                                             "to 2e+25 (epoch 2)")
    assert rising_loss_note([{"loss": 0.5}, {"loss": 0.2}]) is None
    assert rising_loss_note([{"loss": 0.5}]) is None
    assert rising_loss_note([{"loss": np.nan}, {"loss": 0.2}]) is None


def test_environment_json_is_read_the_same_by_every_check(tmp_path):
    """A run's environment.json, or {} where there is none or it is not fjax's: the
    task check, the data and the setup comparisons read it through one reader."""
    import json

    from fjax.cli import saved_task
    from fjax.tasks.experiment import (changed_data_files, changed_environment,
                                       saved_environment)

    assert saved_environment(tmp_path) == {}
    for text in ("[1, 2]", "not json", '"a string"'):
        (tmp_path / "environment.json").write_text(text)
        assert saved_environment(tmp_path) == {}
        assert saved_task(tmp_path / "config.json") is None
        assert changed_environment(tmp_path) == {}
        assert changed_data_files(ExperimentConfig(), tmp_path) == {}
    written = {"config_class": "fjax.tasks.credit.config.Config", "versions": {"jax": "0"}}
    (tmp_path / "environment.json").write_text(json.dumps(written))
    assert saved_environment(tmp_path) == written
    assert saved_task(tmp_path / "config.json") == "credit"
    assert list(changed_environment(tmp_path)) == ["versions.jax"]


def _fraud_config():
    from fjax.tasks.fraud.config import Config
    return Config()


def _forecast_config():
    from fjax.tasks.forecast.config import Config
    return Config()


@pytest.mark.parametrize("base, grid, want", [
    # linear reads no dropout: its two points are one; mlp trains at each (2 x 2 -> 3)
    (_forecast_config, {"model.kind": ["linear", "mlp"], "model.dropout": [0.1, 0.3]},
     [("linear", {}), ("mlp", {}), ("mlp", {})]),
    # constant reads neither decay field: 1 group, exponential 2 x 2 (2 x 2 x 2 -> 5)
    (ExperimentConfig, {"optim.schedule": ["constant", "exponential"],
                        "optim.decay_rate": [0.5, 0.9], "optim.decay_steps": [100, 200]},
     [("constant", {})] + [("exponential", {})] * 4),
    # the autoencoder reads no loss: 1 group; mlp: bce, and focal at each gamma (8 -> 4)
    (_fraud_config, {"model.kind": ["autoencoder", "mlp"], "loss.name": ["bce", "focal"],
                     "loss.focal_gamma": [0.0, 1.0]},
     [("autoencoder", {}), ("mlp", {}), ("mlp", {"focal_gamma": [0.0, 1.0]})])])
def test_grid_points_that_differ_only_in_fields_their_choices_ignore_train_once(
        base, grid, want):
    """`--model.kind linear mlp --model.dropout 0.1 0.3` trained two identical linear
    populations (fraud's autoencoder x --loss.name bce focal likewise): the points differ
    only in a field linear does not read. Counted by hand: one group per distinct config."""
    from fjax.train.sweep import group_grid
    groups = group_grid(base(), grid)
    choice = next(iter(grid))
    assert [(get_path(g.config, choice), g.hparams) for g in groups] == want
    configs = [g.config for g in groups]
    assert all(a != b for i, a in enumerate(configs) for b in configs[i + 1:])


def test_a_plain_run_whose_loss_blew_up_but_stayed_finite_is_warned_of():
    """`fjax run credit --optim.learning-rate 1e30` (Adam) trained to a loss near 1e30 from
    epoch 1 on, finite, so no divergence check stopped it and the report read AUC 0.65 as a
    model's; the loss never rose from its (already blown up) epoch 1, so the rising-loss
    note said nothing either. The final loss is compared with the loss at the initial
    parameters, here numpy's float64 MSE of the MLP at seed 0's initial weights."""
    import jax

    from fjax.tasks.experiment import blown_up_note
    from fjax.train.population import BLOWN_UP_FACTOR
    cfg = dataclasses.replace(config(1e3), optim=OptimConfig(name="adam", learning_rate=1e3))
    with pytest.warns(UserWarning, match="training blew up") as caught:
        [result] = train_grid(cfg, {}, build, DATA, progress=False)
    p = build(cfg).init_fn(jax.random.split(jax.random.PRNGKey(0))[0])["params"]
    w1, b1, w2, b2 = (np.asarray(p[layer][name], np.float64)
                      for layer in ("hidden_0", "out") for name in ("kernel", "bias"))
    start = np.mean((np.maximum(X @ w1 + b1, 0) @ w2 + b2 - DATA["y"]) ** 2)
    end = float(np.median(result.population.history[-1]["loss"]))
    assert np.isfinite(end) and end > BLOWN_UP_FACTOR * start
    assert f"ended at {end:.4g}, {end / start:.3g} times its {start:.4g} at the initial " \
        "parameters" in str(caught[0].message)
    assert result.blown_up == str(caught[0].message) and result.blown_points == [{}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        [calm] = train_grid(config(1e-2), {}, build, DATA, progress=False)
    assert calm.blown_up is None and calm.blown_points == []
    assert blown_up_note(2e29, 0.6).startswith(
        "The training loss ended at 2e+29, 3.33e+29 times its 0.6 ")


def test_a_sweep_names_the_grid_point_whose_loss_blew_up_but_stayed_finite():
    """`fjax sweep forecast --optim.learning-rate 30 100` reported lr 30 (val_mse 4330,
    test RMSE 57230 against naive's 20) without a word, where `fjax run` at lr 100 says its
    training blew up: a sweep checked no blow-up. Each point is judged on its own members'
    median final loss against numpy's float64 loss at seed 0's initial weights."""
    import jax

    grid = {"optim.learning_rate": [1e-2, 1e3]}
    cfg = dataclasses.replace(config(1e-2), optim=OptimConfig(name="adam", learning_rate=1e-2),
                              sweep=dataclasses.replace(ExperimentConfig().sweep, seeds=2))
    with pytest.warns(UserWarning, match="blew up") as caught:
        [result] = train_grid(cfg, grid, build, DATA, progress=False)
    p = build(cfg).init_fn(jax.random.split(jax.random.PRNGKey(0))[0])["params"]
    w1, b1, w2, b2 = (np.asarray(p[layer][name], np.float64)
                      for layer in ("hidden_0", "out") for name in ("kernel", "bias"))
    start = np.mean((np.maximum(X @ w1 + b1, 0) @ w2 + b2 - DATA["y"]) ** 2)
    final = np.asarray(result.population.history[-1]["loss"], np.float64)
    lr = result.population.members["learning_rate"].to_numpy()
    end, calm = np.median(final[lr == 1e3]), np.median(final[lr == 1e-2])
    assert end > 10 * start > calm
    assert result.blown_up.startswith("Sweep grid point(s) that blew up: optim.learning_rate "
                                      "1000. At optim.learning_rate 1000: ")
    assert f"ended at {end:.4g}, {end / start:.3g} times its {start:.4g} " in result.blown_up
    assert "0.01" not in result.blown_up and result.blown_points == [{"learning_rate": 1e3}]
    assert any(str(w.message) == result.blown_up for w in caught)


def test_a_sweep_point_that_blew_up_and_stopped_early_is_still_named():
    """With --train.patience, a point whose members early stopping stopped has NaN losses
    in the epochs after: the last epoch's median (a plain run's end) read nothing and the
    point went unnamed. Hand-made history: lr 100's members stop after epoch 1 at losses
    40 and 60 (median 50, 50 times the start of 1.0); lr 0.001's learn."""
    from types import SimpleNamespace

    import pandas as pd

    from fjax.tasks.experiment import blown_up_points
    from fjax.train.population import blown_up
    from fjax.train.sweep import Group
    nan = np.nan
    pop = SimpleNamespace(
        members=pd.DataFrame({"member": range(4), "seed": [0, 0, 1, 1], "fold": 0,
                              "learning_rate": [1e-3, 100.0] * 2}),
        history=[{"loss": np.array([1.0, 40.0, 0.9, 60.0])},
                 {"loss": np.array([0.5, nan, 0.6, nan])},
                 {"loss": np.array([0.4, nan, 0.5, nan])}], initial_loss=1.0,
        loop=SimpleNamespace(diverged_epoch=np.zeros(4, int)))
    group = Group(ExperimentConfig(), {"learning_rate": [1e-3, 100.0]},
                  {"learning_rate": "optim.learning_rate"})
    note = blown_up_points(blown_up(pop), group, {"optim.learning_rate": [1e-3, 100.0]})
    assert note.startswith("Sweep grid point(s) that blew up: optim.learning_rate 100. At "
                           "optim.learning_rate 100: The training loss ended at 50, 50 times "
                           "its 1 at the initial parameters")


def test_a_sweeps_config_json_holds_the_first_value_of_every_swept_field(tmp_path):
    """A grid.json over structure (model.hidden) left config.json at the default widths
    ([50, 50], in no grid point), so `fjax run --config` of the sweep trained a model the
    sweep never had, where its note says it reruns the first value of each swept field."""
    import json

    from fjax.tasks.experiment import default_run_dir
    cfg = ExperimentConfig(out=str(tmp_path), model=ModelConfig(kind="mlp", hidden=(50, 50)))
    grid = {"model.hidden": [(16,), (32, 32)], "optim.learning_rate": [3e-3, 1e-2]}
    default_run_dir(cfg, grid, ("metrics.json",))
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model"]["hidden"] == [16] and saved["optim"]["learning_rate"] == 3e-3
    assert json.loads((tmp_path / "grid.json").read_text())["model.hidden"] == [[16], [32, 32]]
    with pytest.warns(UserWarning, match="holds no finished results"):   # the same run
        default_run_dir(dataclasses.replace(cfg, resume=True), grid, ("metrics.json",))
