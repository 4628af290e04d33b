"""Causal dilated 1-D convolutional network (a WaveNet/TCN-style trunk).

Layer l is a causal convolution with kernel size k and dilation d_l:

    h^l[t] = dropout(act(b_l + sum_{j=0}^{k-1} h^{l-1}[t - j * d_l] W_l[k-1-j]))

with h^{l-1}[s] = 0 for s < 0 (left padding of (k - 1) * d_l steps, none on the right),
so h^l[t] depends only on inputs at times <= t. With the default dilations
1, 2, 4, ... the receptive field of the last layer is 1 + (k - 1) * sum_l d_l steps
(van den Oord et al., 2016, arXiv:1609.03499; Bai et al., 2018, arXiv:1803.01271).
The features of the last time step then go through a dense head to ``out_dim``.

Parameters: ``{"params": {"conv_0": {"kernel": f32[k, in, channels[0]], "bias": ...},
..., "head": {...}}}`` with ``head`` an ``MLP``. A PyTorch ``Conv1d`` with weight
``f32[out, in, k]`` is ``kernel = weight.permute(2, 1, 0)`` applied to
``F.pad(x, ((k - 1) * d, 0))`` with no padding of its own (``padding=(k - 1) * d`` pads
both sides).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from fjax.models.activations import get_activation
from fjax.models.mlp import MLP
from fjax.models.shapes import check_sequence


def default_dilations(num_layers: int) -> tuple[int, ...]:
    """1, 2, 4, ...: the dilation doubles with each layer."""
    return tuple(2**i for i in range(num_layers))


class CNN1D(nn.Module):
    """Causal dilated convolutions -> last time step's features -> dense head.

    ``f32[batch, time, features] -> f32[batch, out_dim]``. ``features(x)`` gives the
    per-time-step trunk output ``f32[batch, time, channels[-1]]``, where step t depends
    only on ``x[:, :t + 1]``.

    Attributes:
      channels: output channels of each convolution layer (at least one).
      out_dim: width of the final (linear) Dense layer.
      kernel_size: taps per convolution.
      dilations: dilation of each layer; ``None`` means 1, 2, 4, ... (doubling).
      head: widths of Dense layers between the last step's features and the output.
      activation: activation after each convolution.
      head_activation: activation of the head layers (default ``"linear"``).
      dropout: drop probability after each convolution's activation; 0 disables it.
    """

    channels: Sequence[int]
    out_dim: int
    kernel_size: int = 3
    dilations: Sequence[int] | None = None
    head: Sequence[int] = ()
    activation: str = "relu"
    head_activation: str = "linear"
    dropout: float = 0.0

    def setup(self):
        name = type(self).__name__
        if len(self.channels) == 0:
            raise ValueError(f"{name} needs at least one convolution layer; got channels=()")
        if self.kernel_size < 1:
            raise ValueError(f"{name} needs kernel_size >= 1; got {self.kernel_size}")
        dilations = (
            default_dilations(len(self.channels))
            if self.dilations is None
            else tuple(self.dilations)
        )
        if len(dilations) != len(self.channels):
            raise ValueError(
                f"{name} needs one dilation per layer; got {len(dilations)} dilations "
                f"for {len(self.channels)} channels"
            )
        if any(d < 1 for d in dilations):
            raise ValueError(f"{name} needs dilations >= 1; got {dilations}")
        self.act = get_activation(self.activation)
        get_activation(self.head_activation)  # Fail early on an unknown name.
        self.conv = [
            nn.Conv(
                features=width,
                kernel_size=(self.kernel_size,),
                kernel_dilation=(d,),
                padding=[((self.kernel_size - 1) * d, 0)],  # Left only: causal.
            )
            for width, d in zip(self.channels, dilations)
        ]
        self.drop = nn.Dropout(self.dropout)
        self.head_mlp = MLP(self.head, self.out_dim, self.head_activation, name="head")

    def features(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        """Causal trunk: ``f32[batch, time, features] -> f32[batch, time, channels[-1]]``."""
        check_sequence(x, type(self).__name__)
        h = x
        for conv in self.conv:
            h = self.act(conv(h))
            if self.dropout > 0.0:
                h = self.drop(h, deterministic=deterministic)
        return h

    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        """``f32[batch, time, features] -> f32[batch, out_dim]``.

        With ``deterministic=False`` and ``dropout > 0`` pass ``rngs={'dropout': key}``.
        """
        last = self.features(x, deterministic=deterministic)[:, -1, :]
        return self.head_mlp(last)
