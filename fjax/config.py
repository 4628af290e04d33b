"""Configuration: frozen, typed dataclasses split by role.

Numeric hyperparameters that may differ between population members are declared with
`hyper(...)`: they become per-member values inside one compiled program (optimizer
values through `optax.inject_hyperparams`, loss values through the loss's `hparams`).
Every other field is structural: changing it changes the program, so a grid over it
is split into compile groups (`fjax.train.sweep.group_grid`), each compiled once.

Each class validates itself in `__post_init__` with an error that names the field and
the fix; every field is checked against its annotation first (`fjax.config_fields`,
whose `config_error` and `check_*` helpers the task configs use too, from here). Every
config round-trips through JSON (`to_json` / `from_json`), rejecting unknown keys.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import typing
from typing import Annotated, Any, Literal, TypeVar, get_args

import tyro

from fjax.config_fields import (check_integer, check_positive, check_read,
                                check_read_by_class, config_error, describe, frozen_config,
                                hyper, unread_reset, unwrap_annotation)

T = TypeVar("T")

SPANS_RUN = ("cosine", "warmup_cosine")   # schedules whose length is the run's (`span`)

ModelKind = Literal["linear", "logistic", "mlp", "lstm", "gru", "cnn", "autoencoder"]
Activation = Literal["relu", "gelu", "tanh", "silu", "linear"]
LossName = Literal["mse", "mae", "huber", "bce", "focal", "softmax_ce", "pinball", "gaussian_nll"]
OptimizerName = Literal["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"]
ScheduleName = Literal["constant", "cosine", "warmup_cosine", "exponential"]
MODEL_KINDS = get_args(ModelKind)
ACTIVATIONS = get_args(Activation)


@frozen_config
class ModelConfig:
    """Which model and its layer sizes (all structural)."""

    kind: Annotated[ModelKind, tyro.conf.arg(aliases=("--model",))] = "mlp"
    """The model family; each task accepts the kinds that fit its data."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden widths: MLP layers, recurrent layers, conv channels or encoder layers."""
    head: tuple[int, ...] = ()
    """Dense layers after a recurrent or convolutional trunk."""
    activation: Activation = "relu"
    """Activation of the MLP's, the CNN's and the autoencoder's layers."""
    head_activation: Activation = "linear"
    """Activation of the `head` layers after a recurrent or CNN trunk (linear: none, as in
    the tutorials' Dense(25))."""
    dropout: float = 0.0
    """Dropout rate of hidden layers during training (0: none)."""
    kernel_size: int = 3
    """CNN kernel width."""
    dilations: tuple[int, ...] | None = None
    """CNN dilations per layer; None doubles them: 1, 2, 4, ..."""
    bottleneck: int = 8
    """Autoencoder code width."""

    # Fields only some kinds read (`fjax.models.build_model`): a config refuses one set
    # away from its default that no kind it accepts reads (`check_read_by_class`); a run,
    # one set away from its task's default that no kind it trains reads (`check_read`, from
    # `fjax.tasks.experiment.check_model_grid`, where a sweep's kinds are known).
    READ_BY = {"hidden": ("kind", ("mlp", "lstm", "gru", "cnn", "autoencoder")),
               "dropout": ("kind", ("mlp", "lstm", "gru", "cnn", "autoencoder")),
               "activation": ("kind", ("mlp", "cnn", "autoencoder")),
               "head": ("kind", ("lstm", "gru", "cnn")),
               "head_activation": ("kind", ("lstm", "gru", "cnn")),
               "kernel_size": ("kind", ("cnn",)),
               "dilations": ("kind", ("cnn",)),
               "bottleneck": ("kind", ("autoencoder",))}

    def __post_init__(self):
        check_read_by_class(self, "model")
        for name in ("hidden", "head"):
            if any(int(h) < 1 for h in getattr(self, name)):
                raise config_error(self, name, f"has a width < 1: {getattr(self, name)}",
                                   "use positive widths")
        if self.kind in ("lstm", "gru", "cnn", "autoencoder") and not self.hidden:
            raise config_error(self, "hidden", f"is empty for kind={self.kind!r}",
                               "give at least one width")
        if not 0.0 <= self.dropout < 1.0:
            raise config_error(self, "dropout", f"must be in [0, 1), got {self.dropout}",
                               "use e.g. 0.1")
        check_integer(self, "kernel_size", 1, "pass e.g. --model.kernel-size 3")
        check_integer(self, "bottleneck", 1, "pass e.g. --model.bottleneck 8")
        if self.dilations is not None and len(self.dilations) != len(self.hidden):
            raise config_error(self, "dilations", f"has {len(self.dilations)} entries for "
                               f"{len(self.hidden)} layers",
                               "give one dilation per hidden layer or None")


@frozen_config
class LossConfig:
    """The training loss; its numeric knobs may vary per population member."""

    name: LossName = "mse"
    """The loss; each task accepts the losses that fit its targets."""
    pos_weight: float = hyper(1.0)
    """Weight of the positive class in binary cross-entropy."""
    focal_gamma: float = hyper(2.0)
    """Focal loss focusing exponent (0: weighted cross-entropy)."""
    focal_alpha: float = hyper(-1.0)
    """Focal loss class balance in [0, 1]; negative disables it."""
    huber_delta: float = hyper(1.0)
    """Huber loss: the error size where it turns from quadratic to linear."""
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    """Quantile levels predicted with the pinball loss."""

    # Fields only some losses read: a loss the class does not accept refuses a value other
    # than the default (`check_read_by_class`); another loss, quantiles here (`check_read`),
    # the per-member ones where the grid is known (`fjax.train.objective.check_loss_grid`),
    # as a sweep puts its first value here.
    READ_BY = {"quantiles": ("name", ("pinball",)),
               "pos_weight": ("name", ("bce", "focal")),
               "focal_gamma": ("name", ("focal",)),
               "focal_alpha": ("name", ("focal",)),
               "huber_delta": ("name", ("huber",))}

    def __post_init__(self):
        check_read_by_class(self, "loss")
        check_read(self, "loss")
        check_positive(self, "pos_weight")
        check_positive(self, "focal_gamma", allow_zero=True)
        check_positive(self, "huber_delta")
        if self.focal_alpha > 1:
            raise config_error(self, "focal_alpha", f"must be <= 1, got {self.focal_alpha}",
                               "use a value in [0, 1], or -1 to disable")
        if not self.quantiles or not all(0 < q < 1 for q in self.quantiles):
            raise config_error(self, "quantiles",
                               f"must be levels in (0, 1), got {self.quantiles}",
                               "use e.g. 0.1 0.5 0.9")


@frozen_config
class BinaryLossConfig(LossConfig):
    """A LossConfig of the losses for a binary label (credit, fraud), without the other
    losses' fields; a plain LossConfig given to a task is converted to one."""

    name: Literal["bce", "focal"] = "bce"
    huber_delta: Annotated[float, tyro.conf.Suppress] = hyper(1.0)
    quantiles: Annotated[tuple[float, ...], tyro.conf.Suppress] = (0.1, 0.5, 0.9)


# The rates' bounds, for OptimConfig and for `fjax.optim.check_value` (a grid's values for
# an optax optimizer of one's own, an optimizer state's): name -> (0 allowed, why).
VALUE_RULES = {"learning_rate": (False, "optax steps by -learning_rate * update, so a "
                                 "negative rate climbs the loss"),
               "weight_decay": (True, "a negative decay grows the weights")}


@frozen_config
class OptimConfig:
    """Optimizer, schedule and clipping. learning_rate, weight_decay and momentum are
    injected per member; everything else is structural."""

    name: OptimizerName = "adam"
    """The optax optimizer (momentum and nesterov: SGD with momentum), with optax's
    defaults: rmsprop is torch's RMSprop with alpha=0.9, adagrad torch's Adagrad with
    initial_accumulator_value=0.1; docs/FROM_PYTORCH.md and docs/FROM_KERAS.md list every
    difference."""
    learning_rate: float = hyper(1e-3)
    """Peak learning rate (the schedule multiplies it)."""
    weight_decay: float = hyper(0.0)
    """Decoupled for adamw (each step takes learning_rate * weight_decay * w, as torch's
    AdamW, without its default of 0.01); an L2 term added to the gradient otherwise. Only
    matrices and kernels decay: biases and other parameters of one dimension or fewer
    do not."""
    momentum: float | None = hyper(None)
    """SGD momentum, RMSprop momentum or Adam's beta1; None = the optimizer's default."""
    schedule: ScheduleName = "constant"
    """Learning-rate shape over the run's steps, multiplying learning_rate."""
    warmup_steps: int = 0
    """warmup_cosine: steps of linear warm-up from 0 (at most the run's steps - 1; with
    walk-forward origins, those of the origin with the fewest training rows)."""
    decay_rate: float = 0.5
    """Exponential schedule: lr(step) = learning_rate * decay_rate ** (step / decay_steps),
    a smooth decay (no staircase)."""
    decay_steps: int = 1000
    """Exponential schedule: optimizer steps (batches) over which the rate falls by
    decay_rate."""
    final_factor: float = 0.0
    """Cosine schedules end at learning_rate * final_factor."""
    schedule_epochs: int | None = None
    """Cosine schedules: the epochs they span, if not train.epochs (None). A fraud sweep's
    test stage trains the chosen epochs on the searched run's longer schedule and saves
    that span here, so its saved config retrains the same model."""
    clip_norm: float | None = None
    """Clip the global gradient norm to this value (None: no clipping)."""

    # Fields only some schedules read: another schedule refuses a value other than the
    # default (`check_read`), which it would ignore.
    READ_BY = {"warmup_steps": ("schedule", ("warmup_cosine",)),
               "decay_rate": ("schedule", ("exponential",)),
               "decay_steps": ("schedule", ("exponential",)),
               "final_factor": ("schedule", SPANS_RUN),
               "schedule_epochs": ("schedule", SPANS_RUN)}

    def __post_init__(self):
        for name, (allow_zero, _) in VALUE_RULES.items():
            check_positive(self, name, allow_zero)
        if self.momentum is not None and not 0.0 <= self.momentum < 1.0:
            raise config_error(self, "momentum", f"must be in [0, 1), got {self.momentum}",
                               "use e.g. 0.9")
        if self.momentum and self.name in ("sgd", "adagrad"):
            raise config_error(self, "momentum", f"is {self.momentum:g}, but {self.name} has "
                               "no momentum", "choose name 'momentum' or 'nesterov' for SGD "
                               "with momentum, or leave momentum unset")
        check_integer(self, "warmup_steps", 0, "pass e.g. --optim.warmup-steps 100")
        check_integer(self, "decay_steps", 1, "pass e.g. --optim.decay-steps 1000")
        if not 0.0 < self.decay_rate <= 1.0:
            raise config_error(self, "decay_rate", f"must be in (0, 1], got {self.decay_rate}",
                               "use e.g. 0.5")
        if not 0.0 <= self.final_factor <= 1.0:
            raise config_error(self, "final_factor",
                               f"must be in [0, 1], got {self.final_factor}",
                               "use e.g. 0.0 or 0.1")
        if self.clip_norm is not None:
            check_positive(self, "clip_norm")
        if self.schedule_epochs is not None:
            check_integer(self, "schedule_epochs", 1, "pass the epochs the schedule spans, or None")
        check_read(self, "optim")

    def span(self, epochs: int) -> int:
        """Epochs the schedule of a run of `epochs` spans: `schedule_epochs` where set (a
        run stopped early on a longer run's schedule), else `epochs`. Refused below
        `epochs`: the steps past its end would take the final rate (0 by default),
        training nothing."""
        span = epochs if self.schedule_epochs is None else self.schedule_epochs
        if span < epochs:
            raise config_error(self, "schedule_epochs", f"is {span}, but the run trains "
                               f"{epochs} epochs, past the schedule's end",
                               f"use --optim.schedule-epochs of at least {epochs}, or leave "
                               "it unset (the run's epochs)")
        return span

    def spanning(self, epochs: int) -> OptimConfig:
        """This optimizer with its schedule's span fixed at a run of `epochs`'s
        (`schedule_epochs`, which a saved config keeps), so a shorter run on it (a refit
        or test stage training the epochs a search chose) stops where the searched
        members did rather than on a schedule squeezed into fewer epochs: another model
        than the one validated. Unchanged for constant and exponential rates, which do
        not depend on the run's length."""
        if self.schedule not in SPANS_RUN:
            return self
        return dataclasses.replace(self, schedule_epochs=self.span(epochs))


@frozen_config
class TrainConfig:
    """The training loop: epochs, batches, early stopping and how members are lifted."""

    epochs: int = 10
    """Passes over the training rows (fewer if early stopping ends a run)."""
    batch_size: int = 64
    """Rows per optimizer step."""
    eval_batch_size: int = 4096
    """Rows per evaluation and prediction call. It trades memory for speed; other values
    change results only in float32's last digits (sums in another order)."""
    patience: int | None = None
    """Stop a member after this many epochs without improvement (None: never)."""
    monitor: str | None = None
    """Metric for early stopping and best-epoch selection; None: val_loss, or loss
    without validation data."""
    mode: Literal["auto", "min", "max"] = "auto"
    """Whether a lower (min) or higher (max) monitor is better; auto reads it from the
    monitor's name: max for auc, precision, recall, accuracy, f1, ks, gini and r2, min for
    losses and errors."""
    min_delta: float = 0.0
    """Smallest change of the monitor that counts as an improvement."""
    restore_best: bool = True
    """Return the parameters of the best epoch (only when there is validation data)."""
    member_chunk: int | None = None
    """Population lift: k vmaps k members at a time (jax.lax.map with batch_size=k; a k
    of at least the member count vmaps all at once); None chooses by a measured rule:
    all at once, except one at a time for recurrent models on a CPU."""

    def __post_init__(self):
        for name, example in (("epochs", 10), ("batch_size", 64), ("eval_batch_size", 4096)):
            check_integer(self, name, 1, f"pass e.g. {example}")
        if self.patience is not None:
            check_integer(self, "patience", 1, "pass e.g. --train.patience 5, or None")
        check_positive(self, "min_delta", allow_zero=True)
        if self.member_chunk is not None:
            check_integer(self, "member_chunk", 1, "pass e.g. --train.member-chunk 8, or None")
        monitor = self.monitor or "val_loss"
        known = metric_mode(monitor)
        if self.mode == "auto" and known is None:
            guess = metric_spelling(monitor)
            if guess:   # a misspelt 'val_loss' is a typo, not a metric of the user's own
                raise config_error(self, "monitor", f"is {monitor!r}, not a known loss or "
                                   f"score: did you mean {guess!r}?", "correct it, or set "
                                   "mode to 'min' or 'max' for a metric of your own")
            raise config_error(self, "mode", f"is 'auto' but the monitor {monitor!r} is not "
                               "a known loss or score", "set mode to 'min' or 'max'")
        if self.mode != "auto" and known not in (None, self.mode):
            raise config_error(self, "mode", f"is {self.mode!r} but the monitor {monitor!r} "
                               f"is better when {'higher' if known == 'max' else 'lower'}",
                               f"set mode={known!r} or leave it 'auto'")

    @property
    def monitor_mode(self) -> str:
        """"min" or "max": the mode, with auto resolved from the monitor's name."""
        return self.mode if self.mode != "auto" else metric_mode(self.monitor or "val_loss")

    @property
    def val_selects(self) -> bool:
        """Whether validation picks epochs (restore_best or patience); if not, it is only
        logged and decides nothing."""
        return self.restore_best or self.patience is not None


HIGHER_IS_BETTER = frozenset({"auc", "precision", "recall", "accuracy", "f1", "ks", "gini", "r2"})
LOWER_IS_BETTER = frozenset({"loss", "mse", "rmse", "mae", "mape", "mase", "error", "nll",
                             "brier", "ece", "cost"})


def metric_mode(name: str) -> str | None:
    """"max" for a score ("val_auc", "val_average_precision"), "min" for a loss or an
    error ("val_loss", "rmse"), None when its name does not say."""
    words = set(name.lower().split("_"))
    higher, lower = bool(words & HIGHER_IS_BETTER), bool(words & LOWER_IS_BETTER)
    return "max" if higher and not lower else "min" if lower and not higher else None


def metric_spelling(name: str) -> str | None:
    """`name` with a word close to a known loss's or score's ('val_los' -> 'val_loss'),
    or None. The cutoff is high so that a metric of one's own ('val_sharpe', 'pnl') is
    not taken for a misspelt one ('mape', 'nll')."""
    known = sorted(HIGHER_IS_BETTER | LOWER_IS_BETTER)
    words = name.split("_")
    for i, word in enumerate(words):
        if word.lower() in known:
            continue   # spelt right: 'val_loss_auc' names two, not a misspelt one
        close = difflib.get_close_matches(word.lower(), known, n=1, cutoff=0.75)
        if close:
            return "_".join([*words[:i], close[0], *words[i + 1:]])
    return None


@frozen_config
class SweepConfig:
    """How many members: seeds x folds (grids of hyperparameters come from the CLI's `fjax
    sweep` or from `train_population(hparams=...)`)."""

    seeds: Annotated[int, tyro.conf.arg(aliases=("--seeds",))] = 1
    """Number of seeds per configuration (seed, seed + 1, ...)."""
    folds: Annotated[int, tyro.conf.arg(aliases=("--cv",))] = 1
    """Folds on the population axis: credit's cross-validation folds, fraud's prequential
    test periods (forecasting uses data.origins instead)."""

    def __post_init__(self):
        check_integer(self, "seeds", 1, "pass e.g. --seeds 3")
        check_integer(self, "folds", 1, "pass e.g. --cv 5")


@frozen_config
class DataConfig:
    """Where the data comes from. Tasks extend this with their own fields."""

    path: str | None = None
    """A CSV or Parquet file; None uses the task's embedded dataset."""


@frozen_config
class ExperimentConfig:
    """Everything one run needs; the task configs extend it."""

    name: str = "experiment"
    """The run's name: its folder is runs/<name> unless --out is given."""
    seed: int = 0
    """First seed (initial weights and shuffles); members use seed, seed + 1, ... Credit
    also draws its CV folds from it, once for every member, so `fjax run credit --seed s`
    repeats a sweep's seed-s members only where s is the sweep's --seed."""
    out: str | None = None
    """Run folder; None: runs/<name>."""
    resume: bool = False
    """Continue an interrupted run in its folder, with the same settings: each population
    resumes from its last epoch (runs save them under checkpoints/ and delete them when
    they finish). A finished run (its report.md written) is not trained again."""
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()
    sweep: SweepConfig = SweepConfig()

    def __post_init__(self):
        if not self.name or self.name in (".", "..") or any(c in self.name for c in "/\\"):
            raise config_error(self, "name", f"is {self.name!r}",
                               "use a plain name without slashes (not . or ..)")
        check_integer(self, "seed", 0, "use a seed >= 0")
        if self.seed + self.sweep.seeds > 2**32:
            raise config_error(self, "seed", f"is {self.seed}, and its {self.sweep.seeds} "
                               f"seed(s) run to {self.seed + self.sweep.seeds - 1}, past the "
                               f"largest seed {2**32 - 1}", "use a smaller seed")
        self.optim.span(self.train.epochs)

    @property
    def run_dir(self) -> str:
        return self.out or f"runs/{self.name}"


# --- JSON round trip ------------------------------------------------------------------


def to_dict(cfg: Any) -> dict:
    """A JSON-ready dict of a config (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def to_json(cfg: Any) -> str:
    return json.dumps(to_dict(cfg), indent=2, sort_keys=False)


def from_dict(cls: type[T], data: dict, _path: str = "", _base: Any = None) -> T:
    """Build `cls` from a dict, recursively, rejecting unknown keys by their full path. A
    section the dict gives in part keeps the rest of its default in the enclosing config
    (`_base`: a task's own, such as credit's 5 folds), as the flags do; choices first, each
    resetting the fields its value does not read (`unread_reset`)."""
    if not isinstance(data, dict):
        raise not_an_object(cls, _path.rstrip("."), data, _base)
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        where = f"{_path}{key}"
        if key not in fields:
            raise unknown_key(where, key, _path, cls, fields)
        kwargs[key] = _convert(hints[key], value, where,
                               getattr(cls if _base is None else _base, key, None))
    if _base is None:
        return cls(**kwargs)
    choices = {owner for owner, _ in getattr(cls, "READ_BY", {}).values()}
    changes = {}
    for name in choices & set(kwargs):
        changes.update(unread_reset(_base, name, kwargs[name]))
    return dataclasses.replace(_base, **{**changes, **kwargs})


def _convert(tp: Any, value: Any, where: str, default: Any) -> Any:
    """Nested configs from their dicts, over `default` where it is one; a null (or a list
    holding one) where the field takes no None is refused in JSON (`null_value`); the
    field checks do the rest (lists to tuples)."""
    bare, optional = unwrap_annotation(tp)
    if dataclasses.is_dataclass(bare) and not (value is None and optional):
        return from_dict(bare, value, f"{where}.",
                         default if dataclasses.is_dataclass(default) else None)
    if refused_null(tp, value):
        raise null_value(tp, where, default, value)
    return value


def refused_null(tp: Any, value: Any) -> bool:
    """Whether JSON `value` is null, or a list holding one, where annotation `tp` takes
    none (a field's, a list field's elements', or any in a list where none belongs)."""
    bare, optional = unwrap_annotation(tp)
    if value is None:
        return not optional
    if not isinstance(value, list):
        return False
    each = get_args(bare)[0] if typing.get_origin(bare) is tuple else bare
    return any(refused_null(each, v) for v in value)


def in_json(tp: Any) -> str:
    """`describe(tp)` in JSON's words: lists, true or false, null."""
    return (describe(tp).replace("a tuple of", "a list of")
            .replace("True or False", "true or false").replace(" or None", " or null"))


def null_value(tp: Any, where: str, default: Any, value: Any = None) -> ValueError:
    """A config file's field `where` ("train.epochs") set to null, or to a list holding
    one (`value`), which its annotation `tp` does not take, refused in the JSON it was
    written in (it was told "got None; pass an integer", or "got [16, None]"), with its
    `default` (the task's) as the example."""
    key = where.rsplit(".", 1)[-1]
    example = "" if default is None else f", such as {json.dumps(default)}"
    return ValueError(f'config "{where}" is {json.dumps(value)}, but it takes {in_json(tp)}'
                      f'{example}: give one, or leave "{key}" out for its default')


def not_an_object(cls: type, where: str, value: Any, base: Any = None) -> ValueError:
    """A config file's section `where` ("data"; "" for the whole file) that is not an
    object of `cls`'s fields, refused in the JSON it was written in (`"data": null` was
    told to "pass FraudDataConfig(...)"), with an example field of its default `base`."""
    try:
        got = json.dumps(value)
    except (TypeError, ValueError):
        got = repr(value)
    if not where:
        return ValueError(f"the config must be a JSON object ({{...}}) of {cls.__name__} "
                          f"fields, got {got}")
    example = next(({f.name: getattr(base, f.name, f.default)} for f in dataclasses.fields(cls)
                    if f.init and f.default is not None and f.default is not dataclasses.MISSING
                    and not dataclasses.is_dataclass(f.default)), {})
    return ValueError(f'config "{where}" is {got}, not an object: give "{where}" an object of '
                      f"its fields, such as {json.dumps(example)}, or leave \"{where}\" out "
                      "for the defaults")


def from_json(cls: type[T], text: str) -> T:
    return from_dict(cls, json.loads(text))


# --- hyperparameters vs structure -----------------------------------------------------


def hyperparameters(cfg: Any, _prefix: str = "") -> dict[str, Any]:
    """{'optim.learning_rate': 0.001, 'loss.pos_weight': 1.0, ...}: the per-member fields."""
    out = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out.update(hyperparameters(value, f"{_prefix}{f.name}."))
        elif f.metadata.get("hyper"):
            out[f"{_prefix}{f.name}"] = value
    return out


def replace_path(cfg: T, path: str, value: Any) -> T:
    """`replace_path(cfg, 'optim.learning_rate', 3e-4)`: a copy with one nested field set.
    Setting a choice (optim.schedule) returns the fields it does not read (warmup_steps)
    to their defaults, so a grid over the choice keeps them for the values that read them."""
    get_path(cfg, path)   # an unknown path is named whole, once
    return _replace_parts(cfg, path.split("."), value)


def _replace_parts(cfg: T, parts: list[str], value: Any) -> T:
    """`replace_path` of a path already checked, split at its dots."""
    head, *rest = parts
    if rest:
        return dataclasses.replace(cfg, **{head: _replace_parts(getattr(cfg, head), rest, value)})
    return dataclasses.replace(cfg, **unread_reset(cfg, head, value))


def replace_paths(cfg: T, changes: typing.Mapping[str, Any]) -> T:
    """`cfg` with several nested fields set (a grid point): each choice before the fields
    it governs (model.kind, then loss.name, then loss.pos_weight), each field only where
    its choices read it (`READ_BY`); one they ignore stays at its default, so that a grid
    over a choice and a field only some of its values read (schedule x warmup_steps) is a
    grid, not a refusal, and its points that differ only in unread fields are one config."""
    for path in sorted(changes, key=lambda path: _depth(cfg, path)):
        if read_in(cfg, path):
            cfg = replace_path(cfg, path, changes[path])
    return cfg


def check_grid_values(cfg: Any, grid: typing.Mapping[str, typing.Sequence[Any]]) -> None:
    """Build a config with each value of `grid` (path -> values) around `cfg`, so a bad one
    is named before anything trains; a field only some choices read is built under the
    first of the grid's (or `cfg`'s) choices that reads it, and refused if none does. A
    value given twice is refused too: its members would repeat others'."""
    for path, values in grid.items():
        given = list(values)
        repeated = [v for i, v in enumerate(given) if v in given[:i]]
        if repeated:
            raise ValueError(f"grid entry {path} (--{path.replace('_', '-')}) repeats the "
                             f"value {repeated[0]!r} ({given}): its members would "
                             "train twice; give each value once")
        reader = _reader_in(cfg, path, grid)
        for value in values:
            if reader:
                replace_paths(cfg, {**reader, path: value})
            else:   # the field's own error, or the choice's refusal naming its readers
                replace_path(cfg, path, value)


def _governors(cfg: Any, path: str) -> list[tuple[str, tuple]]:
    """(choice path, the values that read it) of every `READ_BY` entry over `path`: its
    section's for the field, and an enclosing config's for a section holding it (fraud's
    Config: the loss, which its autoencoder ignores)."""
    out, section, prefix = [], cfg, ""
    for part in path.split("."):
        owner, readers = getattr(type(section), "READ_BY", {}).get(part, (None, ()))
        if owner is not None:
            out.append((prefix + owner, readers))
        section, prefix = getattr(section, part, None), prefix + part + "."
    return out


def _depth(cfg: Any, path: str) -> int:
    """0 for a field no choice governs, else one more than its deepest choice's."""
    return max((1 + _depth(cfg, owner) for owner, _ in _governors(cfg, path)), default=0)


def read_in(cfg: Any, path: str) -> bool:
    """Whether every choice governing `path` (`READ_BY`) holds a value that reads it."""
    return all(get_path(cfg, owner) in readers for owner, readers in _governors(cfg, path))


def read_values(cfg: Any, paths: typing.Iterable[str]) -> dict[str, Any]:
    """{path: `cfg`'s value} of each of `paths` its choices read (`read_in`): a grid point's
    swept values, without those its choices ignore (linear's dropout)."""
    return {path: get_path(cfg, path) for path in paths if read_in(cfg, path)}


def _reader_in(cfg: Any, path: str, grid: typing.Mapping[str, typing.Sequence[Any]]
               ) -> dict[str, Any]:
    """{choice path: the first value of the grid's choice that reads `path`'s field} for
    each choice of `cfg` that does not, or {} where `cfg`'s own choices read it or one
    that does not has no value swept that does."""
    reader = {}
    for owner, readers in _governors(cfg, path):
        if get_path(cfg, owner) not in readers:
            first = next((v for v in grid.get(owner, ()) if v in readers), None)
            if first is None:
                return {}
            reader[owner] = first
    return reader


def unknown_key(where: str, key: str, prefix: str, section: type | None, fields
                ) -> ValueError:
    """The refusal of config key `where`, whose part `key` is not among the `fields` of
    config class `section` (reached by `prefix`; None: `prefix` names a value, not a
    section): its likely spelling, and what the section holds."""
    close = difflib.get_close_matches(key, sorted(fields), n=1)
    hint = f"; did you mean {prefix + close[0]!r}?" if close else ""
    known = (f"{section.__name__} has {', '.join(sorted(fields))}" if section else
             f"{prefix.rstrip('.')!r} is a value, not a section")
    return ValueError(f"unknown config key {where!r}{hint} ({known})")


def get_path(cfg: Any, path: str) -> Any:
    """`get_path(cfg, 'optim.learning_rate')`: a nested field's value; an unknown path is
    refused naming it whole, its likely spelling and the fields where it went wrong."""
    done = ""
    for part in path.split("."):
        fields = ([f.name for f in dataclasses.fields(cfg)] if dataclasses.is_dataclass(cfg)
                  else [])
        if part not in fields:
            raise unknown_key(path, part, done, type(cfg) if fields else None, fields)
        cfg, done = getattr(cfg, part), done + part + "."
    return cfg
