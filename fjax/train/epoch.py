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

from fjax.train.objective import entry_weights
from fjax.train.state import TrainState, epoch_key
from fjax.train.step import Batch, Metrics


def num_batches(num_rows: int, batch_size: int) -> int:
    """Batches in an epoch over `num_rows` weighted rows (at least one)."""
    return max(1, math.ceil(num_rows / batch_size))


def epoch_permutation(rng: jax.Array, epoch: jax.Array, n: int) -> jax.Array:
    """The epoch's shuffle of all n rows, from a member's key: members with the same key
    (the same seed) share it, so a population sorts once per seed, not per member."""
    return jax.random.permutation(epoch_key(rng, epoch), n)


def weighted_first(perm: jax.Array, weights: jax.Array) -> jax.Array:
    """`perm` reordered so rows with weight > 0 come first, each group in `perm` order.
    A stable partition by one prefix sum and one scatter: O(n), no sort. Position i has
    c_i active rows up to it (c = cumsum(active)), so i + 1 - c_i inactive ones: an
    inactive row goes to c_n + i - c_i. One prefix sum, not one per group: each is about
    eight XLA:CPU fusions to compile."""
    active = weights[perm] > 0
    ahead = jnp.cumsum(active, dtype=perm.dtype)
    after = ahead[-1] + jnp.arange(perm.shape[0], dtype=perm.dtype) - ahead
    return jnp.zeros_like(perm).at[jnp.where(active, ahead - 1, after)].set(perm)


def shuffled_batches(perm: jax.Array, weights: jax.Array, batch_size: int,
                     n_batches: int) -> tuple[jax.Array, jax.Array]:
    """Row indices and weights of each batch: the weighted rows in `perm` order, then
    padding with weight 0."""
    n = weights.shape[0]
    total = n_batches * batch_size
    order = weighted_first(perm, weights)[:total]
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


def batch_total(batch: Batch) -> jax.Array:
    """A batch's weight in the epoch's mean: the sum of its row weights, or, with a
    `target_mask`, of its weighted target entries (`entry_weights`), over which the loss
    is a mean: so the epoch's loss is the mean over every observed entry, not a mean of
    batch means that counts a batch of filled steps as if they were observed."""
    return jnp.sum(entry_weights(batch))


def _weighted_mean(metrics: Metrics, totals: jax.Array) -> Metrics:
    """Means over batches (axis 0) weighted by each batch's total (`batch_total`);
    metrics may carry a trailing member axis."""
    denom = jnp.maximum(totals.sum(), 1e-12)
    return {k: jnp.tensordot(totals, v, axes=1) / denom for k, v in metrics.items()}


def train_epoch(train_step: Callable[[TrainState, Batch], tuple[TrainState, Metrics]],
                state: TrainState, data: dict[str, jax.Array], weights: jax.Array,
                epoch: jax.Array, *, batch_size: int, n_batches: int,
                skip_empty: bool = False, perm: jax.Array | None = None
                ) -> tuple[TrainState, Metrics]:
    """Scan `train_step` over one shuffled epoch; metrics are weighted means over batches
    (`batch_total`).

    skip_empty: make no update on a batch without weight (needed only when members of a
      population have different row counts; a per-step branch costs time under vmap).
    perm: this epoch's row permutation, if already drawn (`epoch_permutation`).
    Numpy `data` and `weights` are taken too: gathered by a traced index, they failed
    with a TracerArrayConversionError.
    """
    data, weights = jax.tree.map(jnp.asarray, (data, weights))
    if perm is None:
        perm = epoch_permutation(state.rng, epoch, weights.shape[0])
    idx, w = shuffled_batches(perm, weights, batch_size, n_batches)

    def body(state, batch_idx):
        i, wb = batch_idx
        batch = gather(data, i, wb)
        if not skip_empty:
            state, metrics = train_step(state, batch)
        else:
            zero_metrics = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype),
                                        jax.eval_shape(train_step, state, batch)[1])
            state, metrics = jax.lax.cond(
                wb.sum() > 0, train_step, lambda s, _: (s, zero_metrics), state, batch)
        return state, (metrics, batch_total(batch))

    state, (metrics, totals) = jax.lax.scan(body, state, (idx, w))
    return state, _weighted_mean(metrics, totals)


def evaluate(eval_step: Callable[[Any, Batch], Metrics], params: Any,
             data: dict[str, jax.Array], weights: jax.Array, *, batch_size: int) -> Metrics:
    """Weighted means of `eval_step`'s metrics over all rows, in batches of `batch_size`
    (numpy `data` and `weights` too, as `train_epoch`)."""
    data, weights = jax.tree.map(jnp.asarray, (data, weights))
    n = weights.shape[0]
    idx, w = sequential_batches(n, weights, min(batch_size, n))

    def body(_, batch_idx):
        batch = gather(data, *batch_idx)
        return None, (eval_step(params, batch), batch_total(batch))

    _, (metrics, totals) = jax.lax.scan(body, None, (idx, w))
    return _weighted_mean(metrics, totals)
