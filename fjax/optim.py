"""Optimizers built from `OptimConfig`, with per-member hyperparameters.

`build_optimizer` wraps the whole chain (L2 or decoupled weight decay, clipping, the
optimizer and its schedule) in `optax.inject_hyperparams`, so `learning_rate`,
`weight_decay` and `momentum` are arrays in `opt_state.hyperparams` rather than constants
in the program. A population sets them per member with `set_hyperparams` inside
the population's init, and a whole grid runs as one compilation.

The schedule is a multiplier of the injected peak rate:
  lr(step) = learning_rate * shape(step)
so warm-up and decay apply to every member's own rate. A cosine schedule's length is
injected too (`schedule_steps`), so members with fewer training rows (walk-forward
folds) decay over their own steps in the same program.
"""

from __future__ import annotations

import functools
import weakref
from typing import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fjax.config import SPANS_RUN, VALUE_RULES, OptimConfig
from fjax.config_fields import above_zero
from fjax.data.checks import check_count

HYPERPARAMS = ("learning_rate", "weight_decay", "momentum")
DEFAULT_MOMENTUM = {"sgd": 0.0, "momentum": 0.9, "nesterov": 0.9, "adagrad": 0.0,
                    "rmsprop": 0.0, "adam": 0.9, "adamw": 0.9}


SCHEDULE_STEPS = "schedule_steps"   # the injected length of a schedule that spans the run
MAX_STEPS = int(np.iinfo(np.int32).max)   # optax counts steps in int32


def schedule_shape(cfg: OptimConfig, total_steps: int, whose: str = "this run"
                   ) -> optax.Schedule:
    """step -> multiplier of the peak learning rate (1.0 for `constant`). `total_steps`,
    the run's optimizer steps, must be at least 1 (0 was quietly taken as 1) and longer
    than the warm-up, and a cosine's at most `MAX_STEPS`; `whose` steps they are, as the
    refusals say (a population's shortest member)."""
    check_count("total_steps", total_steps, 1)
    total_steps = int(total_steps)
    if cfg.schedule in SPANS_RUN and total_steps > MAX_STEPS:
        # injected as int32 (optax's step count is one, saturating): it would wrap negative
        raise ValueError(f"this run takes {total_steps} optimizer steps (epochs x batches per "
                         f"epoch), more than a {cfg.schedule!r} schedule can count "
                         f"({MAX_STEPS}, int32); use fewer --train.epochs or a larger "
                         "--train.batch-size")
    if cfg.schedule == "warmup_cosine" and cfg.warmup_steps >= total_steps:
        # was cut to total - 1: a ramp, never a decay
        raise ValueError(f"OptimConfig.warmup_steps is {cfg.warmup_steps}, but {whose} "
                         f"takes only {total_steps} optimizer steps (epochs x batches "
                         "per epoch), so schedule='warmup_cosine' would never finish "
                         f"warming up; use --optim.warmup-steps below {total_steps} "
                         "(e.g. a tenth of the run), or train longer (--train.epochs)")
    return functools.partial(shape_at, cfg, total_steps=total_steps)


def shape_at(cfg: OptimConfig, count: jax.Array, total_steps: jax.Array | int
             ) -> jax.Array | float:
    """The multiplier at step `count` of a schedule `total_steps` long. Written in jnp,
    equal to optax's schedules (which take a Python length), so that `total_steps` may be
    traced: each population member's own length, injected (`SCHEDULE_STEPS`)."""
    if cfg.schedule == "constant":
        return 1.0   # what optax.constant_schedule(1.0) returns at every count
    if cfg.schedule == "exponential":
        return optax.exponential_decay(1.0, cfg.decay_steps, cfg.decay_rate)(count)
    total = jnp.asarray(total_steps, jnp.float32)
    if cfg.schedule == "cosine":        # optax.cosine_decay_schedule(1.0, total, alpha)
        return _cosine(count, total, cfg.final_factor)
    # optax.warmup_cosine_decay_schedule(0.0, 1.0, warmup, total, end_value=final_factor):
    # a linear ramp from 0 to 1 (none without warm-up), then a cosine over the rest.
    warmup = cfg.warmup_steps
    ramp = jnp.clip(count, 0, warmup) / warmup if warmup > 0 else 0.0
    return jnp.where(count < warmup, ramp,
                     _cosine(count - warmup, total - warmup, cfg.final_factor))


def _cosine(count: jax.Array, steps: jax.Array, alpha: float) -> jax.Array:
    """optax.cosine_decay_schedule(1.0, steps, alpha)(count), for a traced `steps`."""
    count = jnp.minimum(count, steps)
    return (1 - alpha) * (0.5 * (1 + jnp.cos(jnp.pi * count / steps))) + alpha


def _not_bias(params):
    """Weight-decay mask: matrices and kernels only. Biases (Dense's `bias`, the recurrent
    layers' `b`, `b_ih`, `b_hn`), norm scales and other vectors or scalars are not decayed."""
    return jax.tree.map(lambda leaf: jnp.ndim(leaf) > 1, params)


def _chain(cfg: OptimConfig, total_steps: int | None
           ) -> Callable[..., optax.GradientTransformation]:
    """The chain's constructor, of the injected values; `total_steps` None for a constant
    rate, which reads no length."""

    def make(learning_rate, weight_decay, momentum,
             schedule_steps=None) -> optax.GradientTransformation:
        # Injected (numeric) only where the schedule has a length; None stays static.
        length = total_steps if schedule_steps is None else schedule_steps
        lr = lambda count: learning_rate * shape_at(cfg, count, length)  # noqa: E731
        # The stateful part runs on one flat vector of every parameter (optax.flatten):
        # a few fused updates instead of several per leaf, which on a CPU took 12-14% off a
        # 16-member LSTM sweep (BENCHMARKS.md). The decay mask needs the tree: outside.
        name = cfg.name
        if name == "adamw":   # optax.adamw's chain, its scale_by_adam flattened
            core = optax.chain(optax.flatten(optax.scale_by_adam(b1=momentum)),
                               optax.add_decayed_weights(weight_decay, mask=_not_bias),
                               optax.scale_by_learning_rate(lr))
        else:
            core = optax.chain(
                optax.add_decayed_weights(weight_decay, mask=_not_bias),
                optax.flatten({
                    "sgd": lambda: optax.sgd(lr),
                    "momentum": lambda: optax.sgd(lr, momentum=momentum),
                    "nesterov": lambda: optax.sgd(lr, momentum=momentum, nesterov=True),
                    "adagrad": lambda: optax.adagrad(lr),
                    "rmsprop": lambda: optax.rmsprop(lr, momentum=momentum),
                    "adam": lambda: optax.adam(lr, b1=momentum),
                }[name]()))
        if cfg.clip_norm is not None:
            core = optax.chain(optax.clip_by_global_norm(cfg.clip_norm), core)
        return core

    return make


OPTIMIZERS_KEPT = 128   # the latest optimizers `build_optimizer` returns again


def build_optimizer(cfg: OptimConfig, total_steps: int) -> optax.GradientTransformation:
    """The optimizer for one compile group; its state carries the injected values.

    Equal arguments return the same object (of the latest `OPTIMIZERS_KEPT` built), and
    so does any `total_steps` for a constant rate, which reads none: the optimizer is
    part of the train state's structure, so reusing it lets repeated runs reuse their
    compiled programs (a second run of more epochs or other rows too). Bounded, so a sweep
    over thousands of configs frees the old ones.

    Order of a step (as PyTorch's clip_grad_norm_ then step): the gradient is clipped to
    `clip_norm` first; then, except for adamw, the L2 term weight_decay * w (kernels only)
    is added unclipped and the sum goes to the optimizer. adamw's decay is decoupled.

    Args:
      cfg: optimizer name, default hyperparameters, schedule and clipping.
      total_steps: optimizer steps in the whole run (the length of cosine schedules; a
        population sets each member's own in `opt_state.hyperparams["schedule_steps"]`).
    """
    schedule_shape(cfg, total_steps)   # checks the length before it is made an int32
    return _build(cfg, None if cfg.schedule == "constant" else total_steps)


@functools.lru_cache(maxsize=OPTIMIZERS_KEPT)
def _build(cfg: OptimConfig, total_steps: int | None) -> optax.GradientTransformation:
    """`build_optimizer`'s transformation, built once per config and (checked) length."""
    chain = _chain(cfg, total_steps)
    injected = default_hyperparams(cfg)
    if cfg.schedule in SPANS_RUN:   # a length each population member may set to its own
        # int32 of a fixed (not weak) type, as a checkpoint restores it: else a resumed run
        # would compile its program anew
        injected[SCHEDULE_STEPS] = np.asarray(total_steps, np.int32)
    tx = optax.inject_hyperparams(chain)(**injected)
    # A constant rate has no length. Keyed weakly by tx's init function (a tuple, tx has
    # no weak references): freed with the optimizer.
    _SETTINGS[tx.init] = (cfg, total_steps)
    return tx


_SETTINGS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def optimizer_settings(tx: optax.GradientTransformation) -> tuple[OptimConfig, int | None] | None:
    """(cfg, total_steps) of an optimizer `build_optimizer` made (steps None for a constant
    schedule, which they do not change), else None: what a checkpoint compares, since a
    transformation's functions cannot be compared."""
    try:
        return _SETTINGS.get(tx.init)
    except TypeError:   # an init of one's own that cannot be hashed or weakly referenced
        return None


def default_hyperparams(cfg: OptimConfig) -> dict[str, float]:
    momentum = DEFAULT_MOMENTUM[cfg.name] if cfg.momentum is None else cfg.momentum
    return {"learning_rate": cfg.learning_rate, "weight_decay": cfg.weight_decay,
            "momentum": momentum}


INJECTED = (optax.InjectHyperparamsState, optax.InjectStatefulHyperparamsState)


def check_value(field: str, name: str, values) -> None:
    """Refuse the first of `values` (numbers, an array) of `name` in `VALUE_RULES` that is
    not finite or breaks its rule, naming `field`."""
    allow_zero, why = VALUE_RULES[name]
    values = np.asarray(values).ravel()
    ok, bound = above_zero(values, allow_zero)
    bad = values[~(np.isfinite(values) & ok)]
    if bad.size:
        finite = "" if np.isfinite(bad[0]) else "finite and "
        raise ValueError(f"{field} holds {bad[0]!s}; it must be {finite}{bound}: {why}")


def check_injected(opt_state, where: str) -> None:
    """`check_value` on the learning rate and weight decay of every
    `optax.inject_hyperparams` state in `opt_state`, however nested (chains, masks): on
    the host, before a step climbs the loss. Scalars or [members] vectors, so cheap.
    Skipped: traced values (inside a caller's own jit or vmap, where they have none yet)
    and schedules (re-evaluated every step: no stored value to check)."""
    injected = lambda node: isinstance(node, INJECTED)  # noqa: E731
    for node in jax.tree.leaves(opt_state, is_leaf=injected):
        if not injected(node):
            continue
        scheduled = getattr(node, "hyperparams_states", None) or {}
        for name in VALUE_RULES:
            value = node.hyperparams.get(name)
            if not (value is None or name in scheduled or isinstance(value, jax.core.Tracer)):
                check_value(f"{where}[{name!r}]", name, value)
        check_injected(node.inner_state, where)


def set_hyperparams(opt_state, values: Mapping[str, jax.Array | float]):
    """A copy of an injected optimizer state with some hyperparameters replaced."""
    if not isinstance(getattr(opt_state, "hyperparams", None), Mapping):
        raise ValueError(f"cannot set {sorted(values)} per member: the optimizer injects no "
                         "hyperparameters; wrap it in optax.inject_hyperparams (as "
                         "fjax.optim.build_optimizer does), outermost")
    unknown = set(values) - set(opt_state.hyperparams)
    if unknown:
        raise ValueError(f"unknown optimizer hyperparameters {sorted(unknown)}; "
                         f"injected ones are {sorted(opt_state.hyperparams)}")
    scheduled = sorted(set(values) & set(getattr(opt_state, "hyperparams_states", None) or {}))
    if scheduled:   # inject_hyperparams recomputes these from their schedule every step
        raise ValueError(
            f"cannot set {scheduled} per member: the optimizer was given a schedule for "
            f"{'it' if len(scheduled) == 1 else 'them'}, which optax.inject_hyperparams "
            "re-evaluates at every step, so the value set here would be ignored; inject "
            "a number and apply the schedule inside, e.g. optax.inject_hyperparams("
            "lambda learning_rate: optax.adam(lambda count: learning_rate * "
            "shape(count)))(learning_rate=1e-3), with shape(0) = 1")
    hp = dict(opt_state.hyperparams)
    for name, value in values.items():
        hp[name] = jnp.asarray(value, dtype=jnp.asarray(hp[name]).dtype)
    return opt_state._replace(hyperparams=hp)
