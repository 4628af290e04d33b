"""Input-shape checks shared by the models.

Dense models (linear, MLP, autoencoder) read one feature vector per row and accept
``f32[batch, ...]`` by flattening the trailing dimensions; sequence models (LSTM, GRU,
CNN) need exactly ``f32[batch, time, features]``. Both checks raise a ``ValueError``
that names the model and the shape it got.
"""

from __future__ import annotations

import jax


def flatten_batch(x: jax.Array, model: str) -> jax.Array:
    """Flattens all trailing dimensions: ``f32[batch, ...] -> f32[batch, features]``.

    ``features`` is the product of the trailing dimensions (``f32[batch, a, b]`` gives
    ``f32[batch, a * b]``). A rank-1 input is rejected rather than guessed at.
    """
    if x.ndim < 2:
        raise ValueError(
            f"{model} expects inputs of shape [batch, features] (or [batch, ...] to be "
            f"flattened); got shape {tuple(x.shape)}"
        )
    if x.ndim == 2:
        return x
    return x.reshape(x.shape[0], -1)


def check_sequence(x: jax.Array, model: str) -> None:
    """Checks that ``x`` is a batch of sequences, ``f32[batch, time, features]``."""
    if x.ndim != 3:
        raise ValueError(
            f"{model} expects inputs of shape [batch, time, features]; "
            f"got shape {tuple(x.shape)}"
        )
