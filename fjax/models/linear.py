"""Linear and logistic regression as Flax modules.

Both are one affine map, y = x W + b. ``LinearRegression`` reads y as the prediction
(pair it with a squared-error loss); ``LogisticRegression`` reads y as logits, so
p = sigmoid(y) for binary labels (``out_dim=1``) or p = softmax(y) for ``out_dim``
classes. The logits are returned rather than probabilities so that the loss can use the
numerically stable log-sigmoid / log-softmax forms (``fjax.losses``).

Parameters: ``{"params": {"dense": {"kernel": f32[features, out_dim],
"bias": f32[out_dim]}}}``.
"""

from __future__ import annotations

import flax.linen as nn
import jax

from fjax.models.shapes import flatten_batch


class _Affine(nn.Module):
    """y = x W + b on rows flattened to ``f32[batch, prod(...)]``, named ``dense``."""

    out_dim: int

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        """Applies the affine map. ``deterministic`` is accepted and ignored."""
        del deterministic  # No dropout; accepted for a uniform apply signature.
        x = flatten_batch(x, type(self).__name__)
        return nn.Dense(self.out_dim, name="dense")(x)


class LinearRegression(_Affine):
    """Least-squares linear model: y = x W + b.

    ``f32[batch, features] -> f32[batch, out_dim]``; ``f32[batch, ...]`` inputs are
    flattened to ``f32[batch, prod(...)]`` first.

    Attributes:
      out_dim: number of regression targets.
    """


class LogisticRegression(_Affine):
    """Logistic regression: returns the logits z = x W + b (not probabilities).

    p(y=1 | x) = sigmoid(z) when ``out_dim == 1``; p(y=k | x) = softmax(z)_k otherwise.

    ``f32[batch, features] -> f32[batch, out_dim]`` logits; ``f32[batch, ...]`` inputs
    are flattened to ``f32[batch, prod(...)]`` first.

    Attributes:
      out_dim: 1 for binary classification, else the number of classes.
    """

    out_dim: int = 1
