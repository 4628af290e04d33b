"""Dense autoencoder for anomaly scoring (e.g. fraud detection).

    z = encoder(x)      hidden[0] -> ... -> hidden[-1] -> bottleneck   (linear code)
    x_hat = decoder(z)  hidden[-1] -> ... -> hidden[0] -> width(x)     (linear output)

Both halves are ``MLP``s: ``activation`` and dropout follow every hidden layer, the code
and the reconstruction are linear. The decoder mirrors the encoder and its output width
is read from the input, so the same module fits any feature count. Trained to minimise
||x - x_hat||^2 on (mostly) normal rows, the per-row reconstruction error
``reconstruction_error`` is the anomaly score: rows unlike the training data reconstruct
badly (Hinton & Salakhutdinov, 2006, Science 313; Sakurada & Yairi, 2014, MLSDA).

Parameters: ``{"params": {"encoder": {"hidden_0", ..., "out"},
"decoder": {"hidden_0", ..., "out"}}}``.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from fjax.models.mlp import MLP
from fjax.models.shapes import flatten_batch


class Autoencoder(nn.Module):
    """Dense encoder to a ``bottleneck`` code, mirrored decoder back to the input.

    ``__call__``: ``f32[batch, ...] -> f32[batch, ...]`` (reconstruction, same shape as
    the input; trailing dimensions are flattened inside and restored on output).
    ``encode``: ``f32[batch, ...] -> f32[batch, bottleneck]``.

    Attributes:
      hidden: encoder widths, input side first; the decoder uses them reversed.
      bottleneck: width of the code.
      activation: activation after every hidden layer of both halves.
      dropout: drop probability after each hidden activation; 0 disables it.
    """

    hidden: Sequence[int]
    bottleneck: int
    activation: str = "relu"
    dropout: float = 0.0

    def setup(self):
        self.encoder = MLP(self.hidden, self.bottleneck, self.activation, self.dropout)

    def encode(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        """The code: ``f32[batch, ...] -> f32[batch, bottleneck]``."""
        return self.encoder(flatten_batch(x, type(self).__name__), deterministic)

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        """Reconstruction: ``f32[batch, ...] -> f32[batch, ...]`` (shape of ``x``).

        With ``deterministic=False`` and ``dropout > 0`` pass ``rngs={'dropout': key}``.
        """
        flat = flatten_batch(x, type(self).__name__)
        code = self.encoder(flat, deterministic)
        decoder = MLP(
            tuple(reversed(tuple(self.hidden))),
            flat.shape[-1],
            self.activation,
            self.dropout,
            name="decoder",
        )
        return decoder(code, deterministic).reshape(x.shape)


def reconstruction_error(model: Autoencoder, params, x: jax.Array) -> jax.Array:
    """Anomaly score: mean squared reconstruction error of each row.

    e_i = mean_j (x_ij - x_hat_ij)^2 over all non-batch entries j, with x_hat =
    ``model.apply(params, x)`` in deterministic mode (no dropout).

    ``f32[batch, ...] -> f32[batch]``. Pure: jit it with ``model`` closed over or
    static, vmap it over ``params``.
    """
    x_hat = model.apply(params, x, deterministic=True)
    err = jnp.square(x_hat - x)
    return err.reshape(x.shape[0], -1).mean(axis=-1)
