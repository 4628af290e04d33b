import dataclasses
import re

import pytest

from fjax.config import (ExperimentConfig, LossConfig, ModelConfig, OptimConfig, SweepConfig,
                         TrainConfig, from_dict, from_json, frozen_config, get_path,
                         hyperparameters, replace_path, to_dict, to_json)


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
    # boundaries of every range check
    (lambda: ModelConfig(hidden=(8, 0)), "ModelConfig.hidden"),
    (lambda: ModelConfig(dropout=1.0), "ModelConfig.dropout"),
    (lambda: ModelConfig(kind="cnn", hidden=(4, 4), dilations=(1,)), "ModelConfig.dilations"),
    (lambda: LossConfig(focal_alpha=1.5), "LossConfig.focal_alpha"),
    (lambda: LossConfig(quantiles=(0.0, 0.5)), "LossConfig.quantiles"),
    (lambda: LossConfig(quantiles=(0.5, 1.0)), "LossConfig.quantiles"),
    (lambda: OptimConfig(name="momentum", momentum=1.0), "OptimConfig.momentum"),
    (lambda: OptimConfig(decay_rate=0.0), "OptimConfig.decay_rate"),
    (lambda: OptimConfig(final_factor=1.5), "OptimConfig.final_factor"),
    (lambda: OptimConfig(weight_decay=-1e-4), "OptimConfig.weight_decay"),
    (lambda: OptimConfig(warmup_steps=-1), "OptimConfig.warmup_steps"),
    (lambda: TrainConfig(patience=0), "TrainConfig.patience"),
    (lambda: TrainConfig(min_delta=-0.1), "TrainConfig.min_delta"),
    (lambda: TrainConfig(epochs=True), "TrainConfig.epochs"),
    (lambda: SweepConfig(seeds=0), "SweepConfig.seeds"),
    (lambda: ExperimentConfig(name="a\\b"), "ExperimentConfig.name"),
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


def test_an_unknown_grid_path_is_named_whole_with_its_spelling():
    """A typo in a grid (grid.json's "model.hiden") raised AttributeError from group_grid,
    and replace_path named only "'hiden' in ModelConfig"."""
    from fjax.train.sweep import group_grid
    cfg = ExperimentConfig()
    meant = re.escape("unknown config key 'model.hiden'; did you mean 'model.hidden'? "
                      "(ModelConfig has activation")
    with pytest.raises(ValueError, match=meant):
        group_grid(cfg, {"model.hiden": [[16], [32, 32]]})
    with pytest.raises(ValueError, match=meant):
        replace_path(cfg, "model.hiden", (16,))
    with pytest.raises(ValueError, match="'optim.learning_rate' is a value, not a section"):
        replace_path(cfg, "optim.learning_rate.x", 1.0)
    assert get_path(replace_path(cfg, "optim.learning_rate", 3e-4), "optim.learning_rate") == 3e-4


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


def _config_classes():
    """Every config dataclass of fjax and its tasks, in a fixed order (several are named
    `Config`: pytest-xdist needs every worker to collect the same order)."""
    import fjax.config
    import fjax.tasks.credit.config
    import fjax.tasks.forecast.config
    import fjax.tasks.fraud.config

    modules = (fjax.config, fjax.tasks.credit.config, fjax.tasks.forecast.config,
               fjax.tasks.fraud.config)
    return sorted({c for m in modules for c in vars(m).values()
                   if isinstance(c, type) and dataclasses.is_dataclass(c)
                   and c.__module__ == m.__name__}, key=lambda c: (c.__module__, c.__qualname__))


@pytest.mark.parametrize("cls", _config_classes(), ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_field_of_every_config_rejects_a_value_of_another_type(cls):
    for f in dataclasses.fields(cls):
        with pytest.raises(ValueError, match=rf"^{cls.__name__}\.{f.name} "):
            cls(**{f.name: object()})


@pytest.mark.parametrize("make, message", [
    (lambda: ModelConfig(hidden="64"), r"ModelConfig.hidden must be a tuple of integers, "
                                       r"got '64'; write a tuple, e.g. \(64, 64\)$"),
    # (value,) only where the element check takes the value, else the field's default
    (lambda: ModelConfig(hidden=32), r"got 32; write a tuple, e.g. \(32,\)$"),
    (lambda: ModelConfig(hidden=1.5), r"got 1.5; write a tuple, e.g. \(64, 64\)$"),
    (lambda: ModelConfig(hidden=True), r"got True; write a tuple, e.g. \(64, 64\)$"),
    (lambda: ModelConfig(hidden="abc"), r"got 'abc'; write a tuple, e.g. \(64, 64\)$"),
    (lambda: LossConfig(quantiles=0.5), r"got 0.5; write a tuple, e.g. \(0.5,\)$"),
    (lambda: ModelConfig(hidden=(1.5,)), "ModelConfig.hidden must be a tuple of integers"),
    (lambda: ModelConfig(hidden=None), r"got None; write a tuple, e.g. \(64, 64\)$"),
    (lambda: OptimConfig(learning_rate="1e-3"), "OptimConfig.learning_rate must be a finite "
                                                "number, got '1e-3'; pass the value itself"),
    (lambda: TrainConfig(restore_best="no"), "TrainConfig.restore_best must be True or False"),
    (lambda: TrainConfig(patience=2.5), "TrainConfig.patience must be an integer or None"),
    (lambda: LossConfig(focal_alpha=float("nan")), "LossConfig.focal_alpha must be a finite"),
    (lambda: ExperimentConfig(model={"kind": "mlp"}), r"pass ModelConfig\(...\)"),
])
def test_a_value_of_the_wrong_type_names_the_field_and_the_fix(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("make, message", [
    (lambda: SweepConfig(seeds=0), "SweepConfig.seeds must be an integer >= 1, got 0; "
                                   "pass e.g. --seeds 3"),
    (lambda: SweepConfig(folds=-2), "SweepConfig.folds must be an integer >= 1, got -2"),
    (lambda: SweepConfig(seeds=2.5), "SweepConfig.seeds must be an integer, got 2.5"),
    (lambda: TrainConfig(patience=0), "TrainConfig.patience must be an integer >= 1"),
    (lambda: OptimConfig(warmup_steps=-1), "OptimConfig.warmup_steps must be an integer "
                                           ">= 0, got -1; pass e.g. --optim.warmup-steps"),
    (lambda: OptimConfig(learning_rate=0), "OptimConfig.learning_rate must be a finite "
                                           "number > 0, got 0.0; pass a value > 0"),
])
def test_a_count_out_of_bounds_is_asked_for_as_a_whole_number(make, message):
    """`fjax sweep --seeds 0` said seeds 'must be a finite number > 0', as if 0.5 would do:
    a field annotated int is a count, asked for as an integer >= 1 (or >= 0) by
    `check_integer`, and a float given to it is refused; a float field keeps its wording,
    even given an int."""
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        make()


def test_a_task_configs_choice_is_checked_when_built_in_python():
    from fjax.tasks.credit.config import ScorecardConfig
    from fjax.tasks.forecast.config import ForecastDataConfig

    with pytest.raises(ValueError, match="ScorecardConfig.calibration is 'Platt' "
                                         r"\(did you mean 'platt'\?\)"):
        ScorecardConfig(calibration="Platt")
    with pytest.raises(ValueError, match=r"write a tuple, e.g. \('Open',\)"):
        ForecastDataConfig(features="Open")


def test_numpy_and_jax_scalars_and_lists_become_plain_values():
    import jax.numpy as jnp
    import numpy as np

    optim = OptimConfig(learning_rate=np.float32(1e-3), weight_decay=jnp.float32(1e-4))
    assert type(optim.learning_rate) is float and optim.learning_rate == 0.001
    assert optim.weight_decay == 0.0001
    train = TrainConfig(epochs=np.int64(3))
    assert type(train.epochs) is int and train.epochs == 3
    model = ModelConfig(hidden=[np.int64(8), 4])
    assert model.hidden == (8, 4) and all(type(h) is int for h in model.hidden)
    hash(model)  # a list would make the config unhashable


def test_boundary_values_are_accepted():
    ModelConfig(dropout=0.0)
    LossConfig(focal_alpha=1.0, name="pinball", quantiles=(0.01, 0.99))
    OptimConfig(name="momentum", momentum=0.0, final_factor=1.0, schedule="cosine",
                weight_decay=0.0, warmup_steps=0)
    OptimConfig(schedule="exponential", decay_rate=1.0)
    TrainConfig(patience=1, min_delta=0.0)


def test_a_name_that_reads_both_better_and_worse_has_no_mode():
    from fjax.config import metric_mode
    assert metric_mode("val_auc_loss") is None and metric_mode("ks_error") is None


@pytest.mark.parametrize("task, kwargs, match", [
    ("forecast", dict(seed=-1), r"Config.seed must be an integer >= 0"),
    ("forecast", dict(seed=2**32 - 1, sweep=SweepConfig(seeds=2)), r"run to 4294967296"),
    ("credit", dict(name=".."), r"Config.name is '\.\.'"),
    ("forecast", dict(train=TrainConfig(monitor="val_auc")),
     r"ForecastTrainConfig.monitor is 'val_auc'; choose one of loss, val_loss"),
    ("credit", dict(train=TrainConfig(monitor="val_average_precision")),
     r"CreditTrainConfig.monitor is 'val_average_precision'; choose one of loss, val_loss"),
    ("fraud", dict(train=TrainConfig(monitor="val_loss")),
     r"FraudTrainConfig.monitor is 'val_loss'.*choose one of val_average_precision"),
])
def test_settings_that_failed_only_after_the_run_folder_was_replaced(task, kwargs, match):
    """A seed out of range, a monitor the run never logs, and the name '..' (runs/.. is
    the working folder) were caught after the run folder's old files were deleted."""
    from fjax.tasks import get_task
    with pytest.raises(ValueError, match=match):
        get_task(task).Config(**kwargs)


def test_a_forecast_monitoring_val_loss_needs_a_validation_span():
    from fjax.tasks.forecast import Config, ForecastDataConfig
    with pytest.raises(ValueError, match="has no validation span"):
        Config(data=ForecastDataConfig(val_fraction=0.0), train=TrainConfig(monitor="val_loss"))
    Config(data=ForecastDataConfig(val_fraction=0.1), train=TrainConfig(monitor="val_loss"))
    Config(data=ForecastDataConfig(val_fraction=0.0, origins=3),   # the test block, logged
           train=TrainConfig(monitor="val_loss"))


@pytest.mark.parametrize("cls", [c for c in _config_classes() if issubclass(c, TrainConfig)],
                         ids=lambda c: c.__name__)
@pytest.mark.parametrize("field, value", [("batch_size", 0), ("epochs", 0), ("patience", 0),
                                          ("eval_batch_size", 0), ("min_delta", -1.0)])
def test_a_task_config_keeps_the_checks_of_the_config_it_narrows(cls, field, value):
    """The tasks' TrainConfigs have no checks of their own, and took none: batch_size 0
    reached training as a ZeroDivisionError, epochs 0 an IndexError."""
    with pytest.raises(ValueError, match=rf"^{cls.__name__}\.{field} must be"):
        cls(**{field: value})


def test_a_config_subclass_without_checks_inherits_them_through_two_levels():
    from fjax.config import frozen_config

    @frozen_config
    class Narrow(OptimConfig):
        pass

    @frozen_config
    class Narrower(Narrow):
        pass

    with pytest.raises(ValueError, match=r"^Narrower\.learning_rate must be"):
        Narrower(learning_rate=-1.0)


@pytest.mark.parametrize("field, value, schedule, reader", [
    ("warmup_steps", 500, "cosine", "warmup_cosine"),
    ("warmup_steps", 500, "constant", "warmup_cosine"),
    ("decay_rate", 0.9, "cosine", "exponential"),
    ("decay_steps", 50, "warmup_cosine", "exponential"),
    ("final_factor", 0.1, "exponential", "cosine"),
    ("final_factor", 0.1, "constant", "cosine")])
def test_a_schedule_setting_the_chosen_schedule_ignores_is_refused(field, value, schedule,
                                                                   reader):
    """--optim.warmup-steps 500 with the cosine schedule trained without a warmup: every
    schedule but warmup_cosine ignored it. Its own schedule accepts it; defaults pass."""
    with pytest.raises(ValueError, match=rf"OptimConfig.{field} is {value!r}, but "
                       rf"schedule='{schedule}' ignores it; choose .*{reader}.*"
                       rf"--optim.schedule .*leave it out"):
        OptimConfig(schedule=schedule, **{field: value})
    OptimConfig(schedule=reader, **{field: value})
    OptimConfig(schedule=schedule)


def test_a_grid_over_the_schedule_keeps_warmup_for_the_schedule_that_reads_it():
    """A grid that varies the choice: each group holds warmup_steps only where it is read."""
    from fjax.train.sweep import group_grid

    base = ExperimentConfig(optim=OptimConfig(schedule="warmup_cosine", warmup_steps=5))
    groups = group_grid(base, {"optim.schedule": ["cosine", "warmup_cosine"]})
    assert [(g.config.optim.schedule, g.config.optim.warmup_steps) for g in groups] == [
        ("cosine", 0), ("warmup_cosine", 5)]


@pytest.mark.parametrize("grid", [
    {"optim.schedule": ["warmup_cosine", "cosine"], "optim.warmup_steps": [5, 7]},
    {"optim.warmup_steps": [5, 7], "optim.schedule": ["warmup_cosine", "cosine"]}])
def test_a_grid_over_the_schedule_and_warmup_sets_warmup_where_it_is_read(grid):
    """A grid over the schedule and warmup_steps, on a constant base and in either order,
    was refused (warmup_steps set on the constant base, or on the cosine groups); each
    warmup_cosine group holds its warmup, the cosine points one group at the default
    (they differ only in the warmup cosine ignores: two would train the same members)."""
    from fjax.train.sweep import group_grid

    groups = group_grid(ExperimentConfig(), grid)
    got = sorted((g.config.optim.schedule, g.config.optim.warmup_steps) for g in groups)
    assert got == [("cosine", 0), ("warmup_cosine", 5), ("warmup_cosine", 7)]
    with pytest.raises(ValueError, match=r"warmup_steps is 5, but schedule='constant'"):
        group_grid(ExperimentConfig(), {"optim.warmup_steps": [5, 7]})   # none reads it


def test_a_grid_over_the_loss_and_quantiles_sets_them_for_pinball_only():
    """{"loss.name": [mse, pinball], "loss.quantiles": [...]} was refused on the mse point;
    the two mse points (which differ only in quantiles, which mse ignores) are one group."""
    from fjax.train.sweep import group_grid

    grid = {"loss.name": ["mse", "pinball"], "loss.quantiles": [(0.1, 0.5, 0.9), (0.25, 0.75)]}
    groups = group_grid(ExperimentConfig(), grid)
    assert sorted((g.config.loss.name, g.config.loss.quantiles) for g in groups) == [
        ("mse", (0.1, 0.5, 0.9)), ("pinball", (0.1, 0.5, 0.9)), ("pinball", (0.25, 0.75))]
    from fjax.config import replace_paths
    point = replace_paths(ExperimentConfig(), {"loss.quantiles": (0.25,), "loss.name": "pinball"})
    assert point.loss == LossConfig(name="pinball", quantiles=(0.25,))


def test_quantiles_with_a_loss_other_than_pinball_are_refused():
    """--loss.quantiles 0.05 0.95 with mse trained one output per step, silently."""
    with pytest.raises(ValueError, match=r"LossConfig.quantiles is \(0.05, 0.95\), but "
                       r"name='mse' ignores it; choose pinball \(--loss.name pinball\)"):
        LossConfig(name="mse", quantiles=(0.05, 0.95))
    LossConfig(name="pinball", quantiles=(0.05, 0.95))
    LossConfig(name="mse")


@pytest.mark.parametrize("task, section, given, path, value", [
    ("credit", "sweep", {"seeds": 2}, "sweep.seeds", 2),
    ("forecast", "train", {"batch_size": 32}, "train.batch_size", 32),
    ("forecast", "model", {"hidden": [32]}, "model.hidden", (32,)),
    ("credit", "optim", {"schedule": "constant"}, "optim.schedule", "constant")])
def test_a_section_given_in_part_keeps_the_tasks_other_defaults(task, section, given, path,
                                                                value):
    """A hand-written config.json's `"sweep": {"seeds": 2}` rebuilt the section from its
    class defaults: credit's 5 folds became 1 (refused), and a forecast `"train"` or
    `"model"` given in part trained 10 epochs of an MLP, not the task's 50 of an LSTM. The
    oracle is the task's default config with the one field set as a flag sets it."""
    from fjax.tasks import get_task
    cls = get_task(task).Config
    assert from_dict(cls, {section: given}) == replace_path(cls(), path, value)


@frozen_config
class _Inner:
    width: int = 1
    depth: int = 2


@frozen_config
class _Middle:
    inner: _Inner = _Inner()


@frozen_config
class _Outer:
    middle: _Middle = _Middle(inner=_Inner(width=5))


def test_a_nested_section_given_in_part_keeps_its_enclosing_sections_default():
    """Three levels deep, a section given in part kept its class's defaults (width 1), not
    those its enclosing section's default gives it (width 5). The oracle is written out."""
    assert from_dict(_Outer, {"middle": {"inner": {"depth": 3}}}) == _Outer(
        middle=_Middle(inner=_Inner(width=5, depth=3)))


@pytest.mark.parametrize("task", ["forecast", "credit", "fraud"])
def test_a_config_files_section_that_is_not_an_object_is_told_in_json(task):
    """A hand-edited config.json's `"data": null` was told to "pass FraudDataConfig(...)",
    Python for someone editing JSON. Every section of every task's config gets the JSON
    fix, and the object it offers is one the config accepts."""
    import json

    from fjax.tasks import get_task
    cls = get_task(task).Config
    sections = [f.name for f in dataclasses.fields(cls)
                if dataclasses.is_dataclass(f.default_factory() if f.default is
                                            dataclasses.MISSING else f.default)]
    assert {"data", "model", "optim", "train"} <= set(sections)
    for section in sections:
        for value in (None, [1]):
            with pytest.raises(ValueError) as refused:
                from_dict(cls, {section: value})
            message = str(refused.value)
            assert f'give "{section}" an object of its fields, such as {{' in message
            assert f'or leave "{section}" out for the defaults' in message
            assert "(...)" not in message and "None" not in message
            example = json.loads(re.search(r"such as (\{.*?\}), or", message).group(1))
            assert example and from_dict(cls, {section: example})


@pytest.mark.parametrize("task", ["forecast", "credit", "fraud"])
def test_a_config_files_field_set_to_null_is_told_in_json(task):
    """A hand-edited config.json's `"epochs": null` was told "got None; pass an integer",
    Python for someone editing JSON. Every field of every task's config, top level and in
    its sections, either takes null or is refused in JSON: null, the field's path, and an
    example (the task's default) that the config accepts."""
    import json

    from fjax.tasks import get_task
    cls = get_task(task).Config
    base, refused = cls(), []
    for f in dataclasses.fields(cls):
        section = getattr(base, f.name)
        names = ([(f.name, g.name) for g in dataclasses.fields(section)]
                 if dataclasses.is_dataclass(section) else [(f.name,)])
        for path in names:
            given = {path[0]: None} if len(path) == 1 else {path[0]: {path[1]: None}}
            try:
                from_dict(cls, given)
                continue
            except ValueError as error:
                message = str(error)
            refused.append(path)
            assert message.startswith(f'config "{".".join(path)}" is null, but it takes '), \
                message
            assert "None" not in message and "tuple" not in message and "True" not in message
            assert f'or leave "{path[-1]}" out for its default' in message
            example = json.loads(re.search(r"such as (.*?): give", message).group(1))
            kept = {path[0]: example} if len(path) == 1 else {path[0]: {path[1]: example}}
            where = ".".join(path)
            assert get_path(from_dict(cls, kept), where) == get_path(base, where)
    assert ("seed",) in refused and ("train", "epochs") in refused


@pytest.mark.parametrize("task", ["forecast", "credit", "fraud"])
def test_a_null_in_a_config_files_list_is_told_in_json(task):
    """`"hidden": [16, null]` was told "got [16, None]; pass a tuple of integers", and a
    list holding null where a number belongs "got [0, None]". Every list field of every
    task's config, given a list holding null, and a number field given [1, null], are
    refused in JSON: the list as written, and not None, tuple or True."""
    import json
    import typing

    from fjax.config_fields import unwrap_annotation
    from fjax.tasks import get_task
    cls = get_task(task).Config
    base, lists = cls(), []
    for f in dataclasses.fields(cls):
        section = getattr(base, f.name)
        if not dataclasses.is_dataclass(section):
            continue
        hints = typing.get_type_hints(type(section))
        for g in dataclasses.fields(section):
            bare = unwrap_annotation(hints[g.name])[0]
            if typing.get_origin(bare) is tuple:
                lists.append((f.name, g.name, [None]))
    assert ("model", "hidden", [None]) in lists
    for section, name, value in [*lists, ("sweep", "seeds", [1, None]),
                                 ("train", "epochs", [[3, None]])]:
        with pytest.raises(ValueError) as error:
            from_dict(cls, {section: {name: value}})
        message = str(error.value)
        assert message.startswith(f'config "{section}.{name}" is {json.dumps(value)}, but it '
                                  "takes "), message
        assert "None" not in message and "tuple" not in message and "True" not in message
