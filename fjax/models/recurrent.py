"""Stacked LSTM and GRU sequence models.

A stack of recurrent layers, each returning its full output sequence to the next, then a
dense head on the last layer's final hidden state:

    h^0 = x,  h^l = dropout(RNN_l(h^{l-1}))  (l = 1..L, sequences f32[batch, time, H_l])
    y = head(h^L[:, -1])                     (Dense head layers -> Dense(out_dim))

LSTM cell (Hochreiter & Schmidhuber, 1997; flax ``nn.OptimizedLSTMCell``):

    i = sigma(x W_ii + h W_hi + b_hi)      f = sigma(x W_if + h W_hf + b_hf)
    g = tanh(x W_ig + h W_hg + b_hg)       o = sigma(x W_io + h W_ho + b_ho)
    c' = f * c + i * g                     h' = o * tanh(c')

GRU cell (Cho et al., 2014, arXiv:1406.1078, with the reset gate applied after the
recurrent matmul, as flax ``nn.GRUCell``, PyTorch's ``nn.GRU`` and cuDNN do; Cho et al.
apply it to h before the matmul):

    r = sigma(x W_ir + b_ir + h W_hr)      z = sigma(x W_iz + b_iz + h W_hz)
    n = tanh(x W_in + b_in + r * (h W_hn + b_hn))
    h' = (1 - z) * n + z * h

Carries start at zero. The reference forecasting model is
``LSTM(hidden=(50, 50), head=(25,), out_dim=H)``: LSTM 50 -> LSTM 50 -> Dense 25
(linear) -> Dense H, as in the usual Keras stock-price tutorial.

Parameters: ``{"params": {"rnn_0": ..., "rnn_1": ..., "head": {...}}}``. An LSTM layer
holds ``w_ih f32[in, 4H]``, ``w_hh f32[H, 4H]`` and ``b f32[4H]`` with gates in the order
i, f, g, o (``lstm_layer.py``); a GRU layer holds ``w_ih f32[in, 3H]``, ``b_ih f32[3H]``,
``w_hh f32[H, 3H]`` and ``b_hn f32[H]`` with gates in the order r, z, n
(``gru_layer.py``). The layers run time-major inside; inputs and outputs are batch-major.
Dropout follows every layer, the last included (PyTorch's ``nn.LSTM(dropout=p)`` drops
between layers only). PyTorch and Keras weight mappings: ``docs/FROM_PYTORCH.md``,
``docs/FROM_KERAS.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from fjax.models.activations import get_activation
from fjax.models.gru_layer import GRULayer
from fjax.models.lstm_layer import LSTMLayer
from fjax.models.mlp import MLP
from fjax.models.shapes import check_sequence


class _RecurrentStack(nn.Module):
    """Shared body of ``LSTM`` and ``GRU``; subclasses set ``_layer``, the time-major
    layer with the mathematics of flax's ``OptimizedLSTMCell`` or ``GRUCell``."""

    hidden: Sequence[int]
    out_dim: int
    head: Sequence[int] = ()
    head_activation: str = "linear"
    dropout: float = 0.0

    _layer: ClassVar[type[nn.Module]]

    def setup(self):
        if len(self.hidden) == 0:
            raise ValueError(
                f"{type(self).__name__} needs at least one recurrent layer; got hidden=()"
            )
        get_activation(self.head_activation)  # Fail early on an unknown name.
        self.rnn = [self._layer(width) for width in self.hidden]
        self.drop = nn.Dropout(self.dropout)
        self.head_mlp = MLP(self.head, self.out_dim, self.head_activation, name="head")

    def _run(self, x: jax.Array, deterministic: bool, sequence: bool) -> jax.Array:
        """Time-major through the layers; the last returns its sequence or only h_T."""
        check_sequence(x, type(self).__name__)
        h = jnp.swapaxes(x, 0, 1)
        for i, layer in enumerate(self.rnn):
            h = layer(h, sequence=sequence or i < len(self.rnn) - 1)
            if self.dropout > 0.0:
                h = self.drop(h, deterministic=deterministic)
        return h

    def features(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        """Last layer's hidden states, ``f32[batch, time, features] ->
        f32[batch, time, hidden[-1]]``.

        Dropout (when ``dropout > 0`` and not ``deterministic``) follows every layer,
        this last one included.
        """
        return jnp.swapaxes(self._run(x, deterministic, sequence=True), 0, 1)

    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        """``f32[batch, time, features] -> f32[batch, out_dim]``.

        With ``deterministic=False`` and ``dropout > 0`` pass ``rngs={'dropout': key}``.
        """
        return self.head_mlp(self._run(x, deterministic, sequence=False))


class LSTM(_RecurrentStack):
    """Stacked LSTM -> final hidden state -> dense head.

    ``f32[batch, time, features] -> f32[batch, out_dim]``. ``features(x)`` gives the
    last layer's hidden states, ``f32[batch, time, hidden[-1]]``.

    Attributes:
      hidden: units of each LSTM layer, first to last (at least one).
      out_dim: width of the final (linear) Dense layer, e.g. the forecast horizon.
      head: widths of Dense layers between the last hidden state and the output.
      head_activation: activation of the head layers (default ``"linear"``).
      dropout: drop probability after each LSTM layer's output; 0 disables it.
    """

    _layer: ClassVar[type[nn.Module]] = LSTMLayer


class GRU(_RecurrentStack):
    """Stacked GRU -> final hidden state -> dense head.

    ``f32[batch, time, features] -> f32[batch, out_dim]``. ``features(x)`` gives the
    last layer's hidden states, ``f32[batch, time, hidden[-1]]``.

    Attributes:
      hidden: units of each GRU layer, first to last (at least one).
      out_dim: width of the final (linear) Dense layer.
      head: widths of Dense layers between the last hidden state and the output.
      head_activation: activation of the head layers (default ``"linear"``).
      dropout: drop probability after each GRU layer's output; 0 disables it.
    """

    _layer: ClassVar[type[nn.Module]] = GRULayer
