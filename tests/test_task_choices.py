"""Each task's `--help` offers exactly what the task accepts: `fjax run forecast --help`
listed all 7 model kinds and 8 losses, the autoencoder's --model.bottleneck, and (in
`fjax sweep forecast`) --loss.pos-weight and the focal fields, all of which the task then
refused or never read; fraud's --train.monitor said "None: val_loss" but refused None.
What a task accepts is found here by trying each value on its Config, in Python, where a
plain ModelConfig / LossConfig / TrainConfig must still be taken."""

import contextlib
import dataclasses
import io
import re
import typing

import pytest

from fjax import cli
from fjax.config import LossConfig, ModelConfig, TrainConfig, from_json, to_json
from fjax.tasks import get_task
from fjax.tasks.forecast import ForecastDataConfig

TASKS = ("forecast", "credit", "fraud")
# Context that lets every choice be judged on its own (forecast's val_loss needs a span).
CONTEXT = {"forecast": dict(data=ForecastDataConfig(val_fraction=0.1)), "credit": {},
           "fraud": {}}
MONITORS = (None, "loss", "val_loss", "val_auc", "val_average_precision", "val_rmse")
# A valid value other than the default, for each general model and loss field.
OTHER_VALUE = {"hidden": (8, 8), "head": (4,), "activation": "tanh", "head_activation": "relu",
               "dropout": 0.1, "kernel_size": 5, "dilations": (1, 2), "bottleneck": 4,
               "pos_weight": 2.0, "focal_gamma": 1.0, "focal_alpha": 0.25, "huber_delta": 2.0,
               "quantiles": (0.2, 0.5, 0.8)}
GENERAL = {"model": ModelConfig, "loss": LossConfig, "train": TrainConfig}


@pytest.fixture(scope="module")
def helps():
    """{(command, task): its --help}, printed 100 columns wide (one column of options)."""
    out = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "100")
        for command in ("run", "sweep"):
            for task in TASKS:
                text = io.StringIO()
                with contextlib.redirect_stdout(text), pytest.raises(SystemExit):
                    cli.main([command, task, "--help"])
                out[command, task] = text.getvalue()
    return out


def option_lines(help_text: str) -> list[str]:
    """The lines that start an option (descriptions are indented further), in a box on a
    terminal or without one."""
    rows = [line.lstrip("│") for line in help_text.splitlines()]
    return [row.strip("│ ") for row in rows
            if row.lstrip().startswith("--") and len(row) - len(row.lstrip()) <= 2]


def listed_choices(help_text: str, flag: str) -> set[str]:
    """The {a,b,c} after `flag` ([{a,b,c} ...] where `sweep` takes several), which may wrap
    over lines of the help's box."""
    flat = " ".join(help_text.replace("│", " ").split())
    [choices] = re.findall(rf"{re.escape(flag)} \[?\{{([^}}]*)\}}", flat)
    return set("".join(choices.split()).split(","))


def accepts(task: str, group: str, **fields) -> bool:
    """Whether the task's Config takes its default `group` (model, loss, train) as a plain
    general config with `fields` changed; a field that only some choices read
    (`READ_BY`: quantiles, pinball's) under any of those choices."""
    config = get_task(task).Config
    default = getattr(config(), group)
    general = GENERAL[group]
    values = {f.name: getattr(default, f.name) for f in dataclasses.fields(general)}
    tries = [fields]
    for name in fields:
        if name in getattr(general, "READ_BY", {}):
            choice, readers = general.READ_BY[name]
            tries = [{**fields, choice: reader} for reader in readers]
    for changed in tries:
        with contextlib.suppress(ValueError):
            config(**CONTEXT[task], **{group: general(**{**values, **changed})})
            return True
    return False


def choices_of(tp) -> tuple:
    return typing.get_args(typing.get_args(tp)[0] if typing.get_origin(tp)
                           is typing.Annotated else tp)


@pytest.mark.parametrize("command", ["run", "sweep"])
@pytest.mark.parametrize("task", TASKS)
def test_help_lists_exactly_the_choices_the_task_accepts(helps, command, task):
    text = helps[command, task]
    kinds = choices_of(typing.get_type_hints(ModelConfig, include_extras=True)["kind"])
    losses = choices_of(typing.get_type_hints(LossConfig)["name"])
    assert listed_choices(text, "--model.kind") == {k for k in kinds
                                                    if accepts(task, "model", kind=k)}
    assert listed_choices(text, "--loss.name") == {n for n in losses
                                                   if accepts(task, "loss", name=n)}
    assert listed_choices(text, "--train.monitor") == {str(m) for m in MONITORS
                                                       if accepts(task, "train", monitor=m)}


@pytest.mark.parametrize("command", ["run", "sweep"])
@pytest.mark.parametrize("task", TASKS)
def test_help_offers_a_model_or_loss_field_only_where_the_task_reads_it(helps, command, task):
    """A field is offered iff the task takes a value of it other than the default; `sweep`
    names only those among the fields it sweeps."""
    flags = {f for line in option_lines(helps[command, task])
             for f in re.findall(r"--[\w.-]+", line)}
    preamble = " ".join(helps[command, task].split("╭")[0].split())
    for name, value in OTHER_VALUE.items():
        group = "model" if name in {f.name for f in dataclasses.fields(ModelConfig)} else "loss"
        flag = f"--{group}.{name.replace('_', '-')}"
        assert (flag in flags) == accepts(task, group, **{name: value}), flag
        if command == "sweep" and group == "loss" and name != "quantiles":
            assert (flag in preamble) == (flag in flags), flag


def test_a_hidden_field_is_refused_on_the_command_line(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["sweep", "forecast", "--loss.pos-weight", "1", "2"])
    assert stop.value.code == 2 and "--loss.pos-weight" in capsys.readouterr().err


@pytest.mark.parametrize("task", TASKS)
def test_plain_general_configs_are_taken_in_python_and_round_trip(tmp_path, task):
    """Config(model=ModelConfig(...)) keeps working: the values are kept in the task's
    narrower class, which its saved config.json reads back as."""
    config_cls = get_task(task).Config
    model = ModelConfig(kind="mlp", hidden=(8,), dropout=0.1)
    config = config_cls(model=model, loss=LossConfig(name=config_cls().loss.name),
                        train=TrainConfig(epochs=2, monitor=config_cls().train.monitor))
    assert isinstance(config.model, type(config_cls().model))
    assert {f.name: getattr(config.model, f.name) for f in dataclasses.fields(ModelConfig)} \
        == dataclasses.asdict(model)
    assert from_json(config_cls, to_json(config)) == config
    assert dataclasses.replace(config, model=model) == config


@pytest.mark.parametrize("task, make, message", [
    ("forecast", lambda: ModelConfig(kind="autoencoder"),
     r"ForecastModelConfig.kind is 'autoencoder'; choose one of linear, mlp, lstm, gru, cnn"),
    ("forecast", lambda: ModelConfig(bottleneck=4),
     r"ForecastModelConfig.bottleneck is 4, but every kind ForecastModelConfig accepts "
     r"\(linear, mlp, lstm, gru, cnn\) ignores it; leave it out"),
    ("fraud", lambda: ModelConfig(kind="cnn"),
     r"FraudModelConfig.kind is 'cnn'; choose one of logistic, mlp, autoencoder, gru, lstm"),
    ("credit", lambda: LossConfig(name="mse"), r"BinaryLossConfig.name is 'mse'; choose one of "
                                               r"bce, focal"),
    ("fraud", lambda: TrainConfig(), r"FraudTrainConfig.monitor must be one of "
                                     r"val_average_precision, val_auc, loss, got None"),
])
def test_a_plain_config_that_does_not_fit_names_the_field_and_the_choices(task, make, message):
    value = make()
    group = next(g for g, cls in GENERAL.items() if type(value) is cls)
    with pytest.raises(ValueError, match=message):
        get_task(task).Config(**{group: value})
