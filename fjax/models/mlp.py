"""Multi-layer perceptron.

h_0 = x,  h_l = dropout(act(h_{l-1} W_l + b_l)) for l = 1..L,  y = h_L W_out + b_out.

The output layer is linear (regression values or logits). Dropout (Srivastava et al.,
2014, JMLR 15) follows every hidden activation and draws from the ``'dropout'`` RNG
stream when ``deterministic=False``.

Parameters: ``{"params": {"hidden_0": ..., ..., "hidden_{L-1}": ..., "out": ...}}``,
each a Dense ``{"kernel", "bias"}``.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from fjax.models.activations import get_activation
from fjax.models.shapes import flatten_batch


class MLP(nn.Module):
    """Dense layers with a nonlinearity and dropout, then a linear output layer.

    ``f32[batch, features] -> f32[batch, out_dim]``; ``f32[batch, ...]`` inputs are
    flattened to ``f32[batch, prod(...)]`` first. Also used as the prediction head of the
    sequence models.

    Attributes:
      hidden: widths of the hidden layers; ``()`` gives a linear model.
      out_dim: width of the (linear) output layer.
      activation: one of relu, gelu, tanh, silu, linear (see ``activations.py``).
      dropout: drop probability after each hidden activation; 0 disables it.
    """

    hidden: Sequence[int]
    out_dim: int
    activation: str = "relu"
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        """Runs the network; with ``deterministic=False`` pass ``rngs={'dropout': key}``."""
        act = get_activation(self.activation)
        h = flatten_batch(x, type(self).__name__)
        for i, width in enumerate(self.hidden):
            h = act(nn.Dense(width, name=f"hidden_{i}")(h))
            if self.dropout > 0.0:
                h = nn.Dropout(self.dropout)(h, deterministic=deterministic)
        return nn.Dense(self.out_dim, name="out")(h)
