"""Pure steps on ONE model: the public unit of reuse.

    train_step = make_train_step(loss_fn)
    state, metrics = jax.jit(train_step)(state, batch)

`loss_fn(params, batch, rng) -> (loss, aux)` where `aux` is a dict of scalar metrics and
`rng` is None in evaluation (no dropout). Both steps are plain functions: jit them, vmap
them over a population, grad through them, or put them in your own loop. The same `loss_fn` always gives the same step function, so jitted callers
that take it as a static argument compile once per loss.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax

from fjax.train.state import TrainState, step_key

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]
LossFn = Callable[[Any, Batch, jax.Array | None], tuple[jax.Array, Metrics]]


@functools.lru_cache(maxsize=None)
def make_train_step(loss_fn: LossFn) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics]]:
    """`train_step(state, batch) -> (state, metrics)`: one gradient update."""

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        (loss, aux), grads = grad_fn(state.params, batch, step_key(state))
        return state.apply_gradients(grads), {"loss": loss, **aux}

    return train_step


@functools.lru_cache(maxsize=None)
def make_eval_step(loss_fn: LossFn) -> Callable[[Any, Batch], Metrics]:
    """`eval_step(params, batch) -> metrics`: the loss and aux metrics without dropout."""

    def eval_step(params: Any, batch: Batch) -> Metrics:
        loss, aux = loss_fn(params, batch, None)
        return {"loss": loss, **aux}

    return eval_step
