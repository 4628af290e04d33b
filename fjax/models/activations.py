"""Activation functions looked up by name.

Model configs name their nonlinearity with a string so that a config stays a plain,
hashable, CLI-friendly dataclass. This module is the table those names resolve through
(`ModelConfig` lists the same names for the CLI; a test checks that they agree); an
unknown name is an error that lists the valid ones.

- ``relu``:   max(x, 0)
- ``gelu``:   x * Phi(x), the exact (erf) form, as in PyTorch and Keras (Hendrycks &
  Gimpel, 2016, arXiv:1606.08415)
- ``tanh``:   tanh(x)
- ``silu``:   x * sigmoid(x) (a.k.a. swish; Elfwing et al., 2018, arXiv:1702.03118)
- ``linear``: x (identity)
"""

from __future__ import annotations

import types
from collections.abc import Callable

import jax
import jax.numpy as jnp


def identity(x: jax.Array) -> jax.Array:
    """The ``linear`` activation: returns ``x`` unchanged."""
    return x


def gelu(x: jax.Array) -> jax.Array:
    """Exact GELU, x * Phi(x) with Phi the standard normal CDF."""
    return jax.nn.gelu(x, approximate=False)


ACTIVATIONS: types.MappingProxyType[str, Callable[[jax.Array], jax.Array]] = (
    types.MappingProxyType(
        {
            "relu": jax.nn.relu,
            "gelu": gelu,
            "tanh": jnp.tanh,
            "silu": jax.nn.silu,
            "linear": identity,
        }
    )
)
"""Read-only map from activation name to function."""

ACTIVATION_NAMES: tuple[str, ...] = tuple(ACTIVATIONS)
"""The valid activation names, in a stable order."""


def get_activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """Returns the activation function called ``name``.

    Raises:
      ValueError: if ``name`` is not one of ``ACTIVATION_NAMES``; the message lists them.
    """
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {name!r}; valid activations are: "
            f"{', '.join(ACTIVATION_NAMES)}"
        ) from None
