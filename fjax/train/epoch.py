"""One epoch as one `jax.lax.scan` over batches gathered by index from device arrays.

A member's sample weights say which rows it trains on (a fold is a mask): the epoch's
shuffle (from the member's own key) puts the weighted rows first in random order, cuts
them into `num_batches` batches of `batch_size`, and pads the tail with weight 0. The
last partial batch is therefore masked, never dropped and never recompiled; a batch
with no weight at all (a member with fewer rows than the largest) makes no update.

Shapes: data arrays are `[n, ...]`, weights `f32[n]`; the epoch sees
`idx i32[num_batches, batch_size]` and `w f32[num_batches, batch_size]`.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp

from fjax.train.state import TrainState, epoch_key
from fjax.train.step import Batch, Metrics


def num_batches(num_rows: int, batch_size: int) -> int:
    """Batches in an epoch over `num_rows` weighted rows (at least one)."""
    return max(1, math.ceil(num_rows / batch_size))


def shuffled_batches(key: jax.Array, weights: jax.Array, batch_size: int,
                     n_batches: int) -> tuple[jax.Array, jax.Array]:
    """Row indices and weights of each batch: weighted rows first, in random order.

    One `top_k` over random 31-bit keys (-1 for rows of weight 0) is the shuffle: it is
    a single partial sort, where `jax.random.permutation` plus a stable sort to move the
    weighted rows first took several full sorts of all rows per member and epoch.
    """
    n = weights.shape[0]
    total = n_batches * batch_size
    bits = jax.random.bits(key, (n,), jnp.uint32) >> 1
    keys = jnp.where(weights > 0, bits.astype(jnp.int32), -1)
    _, order = jax.lax.top_k(keys, min(total, n))
    w = weights[order]
    if total > n:
        order = jnp.concatenate([order, jnp.zeros(total - n, order.dtype)])
        w = jnp.concatenate([w, jnp.zeros(total - n, weights.dtype)])
    return order.reshape(n_batches, batch_size), w.reshape(n_batches, batch_size)


def sequential_batches(n: int, weights: jax.Array, batch_size: int) -> tuple[jax.Array, jax.Array]:
    """Rows in order, padded with weight 0 to whole batches (for evaluation)."""
    n_batches = num_batches(n, batch_size)
    total = n_batches * batch_size
    idx = jnp.minimum(jnp.arange(total), n - 1)
    w = jnp.where(jnp.arange(total) < n, jnp.pad(weights, (0, total - n)), 0.0)
    return idx.reshape(n_batches, batch_size), w.reshape(n_batches, batch_size)


def gather(data: dict[str, jax.Array], idx: jax.Array, w: jax.Array) -> Batch:
    """The batch of rows `idx`, with its weights under "weight"."""
    batch = {k: v[idx] for k, v in data.items() if k != "weight"}
    batch["weight"] = w
    return batch


def _weighted_mean(metrics: Metrics, totals: jax.Array) -> Metrics:
    denom = jnp.maximum(totals.sum(), 1e-12)
    return {k: jnp.sum(v * totals) / denom for k, v in metrics.items()}


def train_epoch(train_step: Callable[[TrainState, Batch], tuple[TrainState, Metrics]],
                state: TrainState, data: dict[str, jax.Array], weights: jax.Array,
                epoch: jax.Array, *, batch_size: int, n_batches: int
                ) -> tuple[TrainState, Metrics]:
    """Scan `train_step` over one shuffled epoch; metrics are weighted means over batches."""
    idx, w = shuffled_batches(epoch_key(state, epoch), weights, batch_size, n_batches)
    zero_metrics = jax.tree.map(
        lambda s: jnp.zeros(s.shape, s.dtype),
        jax.eval_shape(train_step, state, gather(data, idx[0], w[0]))[1])

    def body(state, batch_idx):
        i, wb = batch_idx
        batch = gather(data, i, wb)
        state, metrics = jax.lax.cond(
            wb.sum() > 0, train_step, lambda s, _: (s, zero_metrics), state, batch)
        return state, (metrics, wb.sum())

    state, (metrics, totals) = jax.lax.scan(body, state, (idx, w))
    return state, _weighted_mean(metrics, totals)


def evaluate(eval_step: Callable[[Any, Batch], Metrics], params: Any,
             data: dict[str, jax.Array], weights: jax.Array, *, batch_size: int) -> Metrics:
    """Weighted means of `eval_step`'s metrics over all rows, in batches of `batch_size`."""
    n = weights.shape[0]
    idx, w = sequential_batches(n, weights, min(batch_size, n))

    def body(_, batch_idx):
        i, wb = batch_idx
        return None, (eval_step(params, gather(data, i, wb)), wb.sum())

    _, (metrics, totals) = jax.lax.scan(body, None, (idx, w))
    return _weighted_mean(metrics, totals)
