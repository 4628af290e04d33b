"""Pure steps on ONE model: the public unit of reuse.

    train_step = make_train_step(loss_fn)
    state, metrics = jax.jit(train_step)(state, batch)

`loss_fn(params, batch, rng) -> (loss, aux)` where `aux` is a dict of scalar metrics
(or None) and `rng` is None in evaluation (no dropout). Both steps are plain functions:
jit them, vmap them over a population, grad through them, or put them in your own
loop. The same `loss_fn` always gives the same step function (kept on the function,
`cached_per_loss`), so jitted callers that take it as a static argument compile once
per loss.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax

from fjax.train.state import TrainState, step_key

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]
LossFn = Callable[[Any, Batch, jax.Array | None], tuple[jax.Array, Metrics]]


def cached_per_loss(build: Callable) -> Callable:
    """`build(loss_fn, *args)`, made once per loss function and `args` and kept on the
    function itself (in its `__dict__`), so it is freed with the loss: a global cache
    would keep every loss alive, with the arrays its closure holds, and refuse losses
    that cannot be hashed (a dataclass with `__call__`). A loss without a `__dict__` (a
    bound method) is cached globally if it can be hashed, else not at all."""
    name = f"_fjax_{build.__name__}"
    fallback = functools.lru_cache(maxsize=None)(build)

    @functools.wraps(build)
    def cached(loss_fn, *args):
        attrs = getattr(loss_fn, "__dict__", None)
        if not isinstance(attrs, dict):   # no __dict__ of its own
            try:
                return fallback(loss_fn, *args)
            except TypeError:   # cannot be hashed
                return build(loss_fn, *args)
        store = attrs.get(name)
        if store is None or store["owner"] is not loss_fn:   # a copy carries its original's
            store = attrs[name] = {"owner": loss_fn}
        if args not in store:
            store[args] = build(loss_fn, *args)
        return store[args]
    return cached


@cached_per_loss
def make_train_step(loss_fn: LossFn) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics]]:
    """`train_step(state, batch) -> (state, metrics)`: one gradient update."""

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        (loss, aux), grads = grad_fn(state.params, batch, step_key(state))
        return state.apply_gradients(grads), {"loss": loss, **(aux or {})}

    return train_step


@cached_per_loss
def make_eval_step(loss_fn: LossFn) -> Callable[[Any, Batch], Metrics]:
    """`eval_step(params, batch) -> metrics`: the loss and aux metrics without dropout."""

    def eval_step(params: Any, batch: Batch) -> Metrics:
        loss, aux = loss_fn(params, batch, None)
        return {"loss": loss, **(aux or {})}

    return eval_step
