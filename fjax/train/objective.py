"""Supervised objectives: a model's apply function plus a `LossConfig` make a `loss_fn`.

    loss_fn = supervised_loss(model.apply, cfg.loss)
    loss, aux = loss_fn(params, {"x": x, "y": y, "weight": w}, rng)

The model's raw output `f32[n, out_dim]` is read against the target `y: [n, ...]`:
  - mse/mae/huber: one value per target entry (out_dim = size of a target row);
  - bce/focal: one logit per target entry (labels 0/1);
  - softmax_ce: `out_dim` class logits, integer labels `y: i32[n]`;
  - pinball: one value per target entry and quantile (out_dim = size x Q);
  - gaussian_nll: a mean and a log-scale per target entry (out_dim = 2 x size).
`hparams` (pos_weight, focal_gamma, focal_alpha, huber_delta) default to the config's
values and may be traced per-member scalars in a population.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
from typing import Any, Callable, Mapping, Sequence

import jax
import flax.errors
import flax.linen as nn
import numpy as np

from fjax import losses
from fjax.config import LossConfig, hyperparameters
from fjax.config_fields import check_read
from fjax.optim import HYPERPARAMS
from fjax.train.step import cached_per_loss

BINARY = ("bce", "focal")


def output_dim(cfg: LossConfig, target_shape: tuple[int, ...], num_classes: int = 2) -> int:
    """The model width that `cfg` needs for targets of per-row shape `target_shape`."""
    size = math.prod(target_shape)
    if cfg.name == "softmax_ce":
        return num_classes
    if cfg.name == "pinball":
        return size * len(cfg.quantiles)
    if cfg.name == "gaussian_nll":
        return 2 * size
    return size


def loss_hyperparameters(cfg: LossConfig) -> dict[str, float]:
    return {k.split(".")[-1]: v for k, v in hyperparameters(cfg).items()}


def read_output(cfg: LossConfig, out: jax.Array, target_shape: tuple[int, ...]) -> Any:
    """Model output -> the prediction the loss reads: values, logits, quantiles
    `[n, *target, Q]`, or (mean, log_scale)."""
    n = out.shape[0]
    if cfg.name == "softmax_ce":
        return out
    if cfg.name == "pinball":
        return out.reshape((n, *target_shape, len(cfg.quantiles)))
    if cfg.name == "gaussian_nll":
        half = out.shape[-1] // 2   # slices, not jnp.split: numpy stays numpy on the host
        mean, log_scale = out[..., :half], out[..., half:]
        return mean.reshape((n, *target_shape)), log_scale.reshape((n, *target_shape))
    return out.reshape((n, *target_shape))


def loss_value(cfg: LossConfig, pred: Any, y: jax.Array, w: jax.Array,
               hp: Mapping[str, Any]) -> jax.Array:
    name = cfg.name
    if name == "mse":
        return losses.mse(pred, y, w)
    if name == "mae":
        return losses.mae(pred, y, w)
    if name == "huber":
        return losses.huber(pred, y, w, delta=hp["huber_delta"])
    if name == "bce":
        return losses.binary_cross_entropy(pred, y, w, pos_weight=hp["pos_weight"])
    if name == "focal":
        return losses.focal_loss(pred, y, w, gamma=hp["focal_gamma"], alpha=hp["focal_alpha"],
                                 pos_weight=hp["pos_weight"])
    if name == "softmax_ce":
        return losses.softmax_cross_entropy(pred, y, w)
    if name == "pinball":
        return losses.pinball_loss(pred, y, cfg.quantiles, w)
    if name == "gaussian_nll":
        return losses.gaussian_nll(pred[0], pred[1], y, w)
    raise ValueError(f"LossConfig.name {name!r} is unknown")


def apply_model(apply_fn: Callable, params: Any, x: jax.Array, rng: jax.Array | None) -> jax.Array:
    """Run the model in training mode (dropout on, its key in `rngs`) when `rng` is given,
    else in eval mode. As `Population.predict` does, `deterministic` (and `rngs`) are
    passed only where the function takes them: a flax module without dropout, or a
    function `(params, x)` of your own, is called plain. A model that updates a
    collection in training mode (batch norm's batch_stats) needs a loss of its own: flax's
    "collection is immutable" did not say so. In eval mode, a model whose switch has
    another name (`train`) ran in its default mode, or not at all: said with the fix."""
    kwargs: dict[str, Any] = {"deterministic": rng is None}
    if rng is not None:
        kwargs["rngs"] = {"dropout": rng}
    by_hand = ("apply it in eval mode yourself: to predict, e.g. "
               "Population.predict(functools.partial(model.apply, train=False), x)")
    eval_fix = ("name its switch `deterministic`, which fjax passes where the function "
                f"takes it, or {by_hand}")
    while True:
        try:
            return apply_fn(params, x, **kwargs)
        except (flax.errors.ModifyScopeVariableError, flax.errors.InvalidRngError) as err:
            if rng is None:
                why = ("it took deterministic=True, which another switch (e.g. `train`) "
                       f"overrides; {by_hand}" if "deterministic" in kwargs else
                       f"it takes no `deterministic`, so it ran in its default mode; {eval_fix}")
                raise ValueError(
                    "the model, applied in eval mode, ran in training mode (it updated batch "
                    f"norm's batch_stats, or its dropout asked for a key): {why}") from err
            if isinstance(err, flax.errors.InvalidRngError):
                raise
            raise ValueError(
                "the model updates a variable collection in training mode (batch norm's "
                "batch_stats), which supervised_loss cannot store; write your own loss "
                "that calls apply(..., mutable=['batch_stats']) and returns the new "
                "statistics as aux['model_state'] (README, 'Batch norm:'; "
                "docs/DEVELOPING.md, 'Training core')") from err
        except TypeError as err:
            refused = [k for k in kwargs if f"unexpected keyword argument '{k}'" in str(err)]
            if not refused:
                if rng is None and "required" in str(err) and "argument" in str(err):
                    raise ValueError(f"the model cannot be applied as (params, x) in eval mode "
                                     f"({err}); {eval_fix}") from err
                raise
            del kwargs[refused[0]]


def model_structure(apply_fn: Callable) -> str | None:
    """The flax module behind a bound `model.apply` as text: its class and attributes
    (activation, dropout, widths), with memory addresses removed so that it is the same
    in every process. None for any other function. Checkpoint digests include it."""
    module = getattr(apply_fn, "__self__", None)
    if not isinstance(module, nn.Module):
        return None
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(module))


def entry_weights(batch: Mapping[str, jax.Array]) -> jax.Array:
    """The batch's row weights `f32[n]`, times its `target_mask` per target entry where it
    has one (`f32[n, *target]`)."""
    w = batch["weight"]
    if "target_mask" not in batch:
        return w
    mask = batch["target_mask"]
    return w.reshape(w.shape + (1,) * (mask.ndim - 1)) * mask


def check_batch(batch: Mapping[str, Any]) -> None:
    """A batch called directly (a lifted train step) holds what the loss reads: a bare
    KeyError('weight') did not say that the weights are the caller's to add."""
    missing = [k for k in ("x", "y", "weight") if k not in batch]
    if missing:
        raise ValueError(
            f"supervised_loss reads batch['x'], batch['y'] and batch['weight'] (one weight "
            f"per row, 0 leaves a row out), but the batch has no {missing} (its keys: "
            f"{sorted(batch)}); fit and train_population add 'weight', a step called "
            "directly needs it, e.g. batch['weight'] = jnp.ones(len(batch['x']))")


@dataclasses.dataclass(frozen=True)
class ModuleMethod:
    """A bound method of a flax module, `module.apply`, compared and hashed by the module's
    fields and the method: Python compares bound methods by their object's identity, so
    jit's static arguments built around two equal models never matched, and every run
    of one structure traced and compiled its programs again."""
    module: nn.Module
    method: Callable

    def __call__(self, *args, **kwargs):
        return self.method(self.module, *args, **kwargs)


def stable_apply(apply_fn: Callable) -> Callable:
    """`apply_fn` as a hashable callable that equals every other made from an equal model
    (`ModuleMethod`) where it is a bound method of a hashable flax module; else itself,
    or a partial of it where it has no hash (compared by identity, as before)."""
    module = getattr(apply_fn, "__self__", None)
    try:
        if isinstance(module, nn.Module):
            hash(module)
            return ModuleMethod(module, apply_fn.__func__)
        hash(apply_fn)
        return apply_fn
    except TypeError:   # a field without a hash (a list, an array): compared by identity
        return functools.partial(apply_fn)


def supervised_loss(apply_fn: Callable, cfg: LossConfig) -> Callable:
    """`loss_fn(params, batch, rng, hparams=None) -> (loss, {})` for batches with x, y, weight.

    An optional `batch["target_mask"]` of y's shape (0/1 per target entry: a forecast
    step whose price was forward-filled, not observed) leaves those entries out of the
    loss (`entry_weights`).

    `apply_fn` is called as `apply_fn(params, x, deterministic=..., rngs={"dropout": key})`
    (fjax's models, flax modules with dropout), without the keywords it does not take
    (`apply_model`): a flax module without dropout, or a function `(params, x)`.

    The returned `SupervisedLoss` also has `check_data(data)` and `check_val_data(data)`,
    which `fit` and `train_population` call on the host before training, on the training
    and then the validation data (0/1 labels for binary losses),
    `check_hparams(grid)` (`check_loss_grid`), which `train_population` calls on its
    grid's loss keys, and `structure` (the loss config and `model_structure`), which
    their checkpoints compare, so that a run with another activation or loss does not
    resume this one. Two losses of equal models (`stable_apply`) and configs are equal,
    so that jax's caches reuse the programs of one for the other.
    """
    return SupervisedLoss(stable_apply(apply_fn), cfg,
                          f"{cfg!r} {model_structure(apply_fn)}")


@cached_per_loss
def _seen(loss_fn: Callable) -> dict[str, int]:
    """softmax_ce: labels are checked on the host, the model's width is known when it is
    traced. Before the first trace the classes of this run's data wait for it (its training
    data's check starts the count, its validation data's adds to it); after, each
    dataset is checked against the width at once (a cached program never traces). Kept
    per loss by equality, for the latest losses as `check_loss_fn`'s verdicts (which
    trace it again once dropped): a dict for every loss ever made kept each closure alive."""
    return {}


@dataclasses.dataclass(frozen=True)
class SupervisedLoss:
    """`supervised_loss`'s loss function: a model's (hashable) apply and a loss config."""
    apply_fn: Callable
    cfg: LossConfig
    structure: str = dataclasses.field(compare=False)

    def __call__(self, params, batch, rng, hparams=None):
        cfg, defaults = self.cfg, loss_hyperparameters(self.cfg)
        unknown = set(hparams or {}) - set(defaults)
        if unknown:
            raise ValueError(f"unknown loss hyperparameters {sorted(unknown)}; the loss "
                             f"{cfg.name!r} takes {sorted(defaults)}")
        hp = {**defaults, **(hparams or {})}
        check_batch(batch)
        y = batch["y"]
        if cfg.name == "softmax_ce":
            check_class_id_shape(y.shape, "batch['y']")
        out = apply_model(self.apply_fn, params, batch["x"], rng)
        target_shape = y.shape[1:] if cfg.name != "softmax_ce" else ()
        width = output_dim(cfg, target_shape)
        if cfg.name != "softmax_ce" and out.shape[1:] != (width,):
            raise ValueError(
                f"the model outputs {out.shape[1:]} per row, but targets of shape "
                f"{tuple(target_shape)} with the loss {cfg.name!r} need ({width},): give "
                f"the model's last layer {width} output{'s' * (width != 1)} (fjax's "
                "build_model: out_dim=output_dim(loss_config, y.shape[1:]))")
        if cfg.name == "softmax_ce":
            seen = _seen(self)
            seen["width"] = out.shape[-1]
            check_classes(seen.pop("classes", 0), seen["width"])
        pred = read_output(cfg, out, target_shape)
        return loss_value(cfg, pred, y, entry_weights(batch), hp), {}

    def check_data(self, data) -> None:
        """Check a run's training data; its class count is this run's own (a run refused
        before its first trace leaves no count behind for the next)."""
        self._check(data, fresh=True)

    def check_val_data(self, data) -> None:
        """Check a run's validation data, after its training data: its classes add to
        theirs."""
        self._check(data, fresh=False)

    def _check(self, data, fresh: bool) -> None:
        missing = [k for k in ("x", "y") if k not in data]
        if missing:
            raise ValueError(f"supervised_loss reads data['x'] (inputs) and data['y'] "
                             f"(targets), but data has no {missing} (its keys: "
                             f"{sorted(data)}); rename the arrays")
        y = np.asarray(data["y"])
        check_targets(self.cfg, y)
        if self.cfg.name == "softmax_ce" and y.size:
            classes, seen = int(np.max(y)) + 1, _seen(self)
            if "width" in seen:
                check_classes(classes, seen["width"])
            else:   # training, then validation data: the most classes of either
                seen["classes"] = max(0 if fresh else seen.get("classes", 0), classes)

    def check_hparams(self, grid: Mapping[str, Sequence[float]]) -> None:
        check_loss_grid(self.cfg, grid)


def check_classes(classes: int, width: int) -> None:
    if classes > width:
        raise ValueError(
            f"y has class ids up to {classes - 1}, but the model outputs {width} "
            f"logits; build it with out_dim=output_dim(loss_config, (), "
            f"num_classes={classes})")


def check_loss_grid(cfg: LossConfig, grid: Mapping[str, Sequence[float]]) -> None:
    """A population's grid over loss keys: every key one that the loss `cfg.name` reads
    (`LossConfig.READ_BY`), every value one that `LossConfig` accepts; and every loss
    field the grid does not sweep that `cfg.name` ignores at its default."""
    defaults = loss_hyperparameters(cfg)
    for name, values in grid.items():
        if name not in defaults:
            close = difflib.get_close_matches(name, [*HYPERPARAMS, *defaults], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"hparams key {name!r}{hint} is neither an optimizer hyperparameter "
                f"({', '.join(HYPERPARAMS)}, or one that an optax optimizer of your "
                "own injects with optax.inject_hyperparams) nor a loss one "
                f"({', '.join(defaults)}); "
                "structural settings (dropout, hidden, batch_size, ...) change the "
                "program: give each its own population (fjax.train.sweep.group_grid)")
        users = type(cfg).READ_BY[name][1] if name in type(cfg).READ_BY else (cfg.name,)
        if cfg.name not in users:
            raise ValueError(f"hparams key {name!r} (loss.{name}) has no effect with "
                             f"loss.name={cfg.name!r}; drop it from the grid"
                             + (f", or set loss.name to a loss that reads it: "
                                f"{', '.join(users)} (--loss.name {users[0]})"
                                if users else ""))
        for value in values:
            dataclasses.replace(cfg, **{name: value})   # LossConfig's own checks
    check_read(cfg, "loss", [name for name in type(cfg).READ_BY if name not in grid])


def check_targets(cfg: LossConfig, y: np.ndarray) -> None:
    """Host-side check that targets suit the loss (0/1 labels for bce/focal, ...)."""
    if cfg.name in BINARY:
        losses.check_binary_labels(y, "y")
    elif cfg.name == "softmax_ce":
        check_class_id_shape(y.shape, "data['y'] (or val_data['y'])")
        losses.check_class_labels(y, int(np.max(y)) + 1, "y")


def check_class_id_shape(shape: tuple[int, ...], name: str) -> None:
    """softmax_ce reads one class id per row, `y: i32[n]`; a column `[n, 1]` (or one-hot
    rows) was refused only when traced, by a message about the logits of a two-row batch
    that named neither the array nor the fix."""
    if len(shape) == 1:
        return
    fix = ("pass y[:, 0] (or y.ravel())" if tuple(shape[1:]) == (1,) else
           "for one-hot or probability rows pass y.argmax(axis=1)" if len(shape) == 2 else
           "give one class id per row")
    raise ValueError(f"the loss 'softmax_ce' takes one integer class id per row (shape "
                     f"(n,)), but {name} has shape {tuple(shape)}; {fix}")
