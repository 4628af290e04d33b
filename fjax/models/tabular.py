"""MLP over numeric columns plus learned embeddings of categorical columns.

Input `x: f32[batch, n_numeric + c]`: the numeric (standardized) columns first, then one
column per categorical attribute holding its category index as an exact small integer
(0 = unknown). Keeping one float array lets the standard supervised loss and the
population machinery carry it unchanged.

    z = [x_num, E_1[i_1], ..., E_c[i_c]]        (embed)
    logit = MLP(z)                              (head)

`embed` and `head` are separate methods so attributions (integrated gradients) can run
in the continuous space z, where every coordinate belongs to one attribute. Row 0 of
each embedding table (the unknown slot) starts at zero and, as no training row uses it,
stays there; credit's final model sets it to the mean embedding afterwards
(`fjax.tasks.credit.final.unknown_as_mix`).
Reference: Guo & Berkhahn, *Entity Embeddings of Categorical Variables*, 2016.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from fjax.models.mlp import MLP


def _unknown_zero_init(key, shape, dtype=jnp.float32):
    table = nn.initializers.normal(stddev=0.1)(key, shape, dtype)
    return table.at[0].set(0.0)


class TabularMLP(nn.Module):
    """`f32[batch, n_numeric + len(cardinalities)] -> f32[batch, out_dim]` logits.

    Attributes:
      n_numeric: leading float columns of x.
      cardinalities: table size per categorical column (known categories + 1 unknown).
      embedding_dim: width of every embedding.
      hidden, out_dim, activation, dropout: the MLP head (see `fjax.models.mlp`).
    """

    n_numeric: int
    cardinalities: Sequence[int]
    embedding_dim: int
    hidden: Sequence[int]
    out_dim: int = 1
    activation: str = "relu"
    dropout: float = 0.0

    def setup(self):
        self.embeddings = [nn.Embed(int(card), self.embedding_dim,
                                    embedding_init=_unknown_zero_init, name=f"embed_{i}")
                           for i, card in enumerate(self.cardinalities)]
        self.mlp = MLP(hidden=tuple(self.hidden), out_dim=self.out_dim,
                       activation=self.activation, dropout=self.dropout)

    def embed(self, x: jax.Array) -> jax.Array:
        """`f32[batch, n_numeric + c] -> f32[batch, n_numeric + c * embedding_dim]`."""
        expected = self.n_numeric + len(self.cardinalities)
        if x.shape[-1] != expected:
            raise ValueError(f"TabularMLP expects {expected} columns ({self.n_numeric} numeric "
                             f"+ {len(self.cardinalities)} category indices), got {x.shape[-1]}")
        idx = x[:, self.n_numeric:].astype(jnp.int32)
        parts = [x[:, :self.n_numeric]] + [emb(idx[:, i]) for i, emb in enumerate(self.embeddings)]
        return jnp.concatenate(parts, axis=-1)

    def head(self, z: jax.Array, deterministic: bool = True) -> jax.Array:
        return self.mlp(z, deterministic=deterministic)

    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        return self.head(self.embed(x), deterministic=deterministic)
