"""fjax models: Flax linen modules used only through pure ``init`` / ``apply``.

Every model's ``__call__`` takes ``deterministic: bool = True`` as a keyword, so training
code can call any of them the same way::

    params = model.init(key, x)
    y = model.apply(params, x)                                         # evaluation
    y = model.apply(params, x, deterministic=False, rngs={"dropout": k})  # training

``build_model(config, out_dim)`` picks the model named by ``config.kind``.
"""

from __future__ import annotations

import numbers
from typing import Any

import flax.linen as nn

from fjax.config import MODEL_KINDS
from fjax.models.activations import ACTIVATION_NAMES, ACTIVATIONS, get_activation
from fjax.models.autoencoder import Autoencoder, reconstruction_error
from fjax.models.conv import CNN1D
from fjax.models.linear import LinearRegression, LogisticRegression
from fjax.models.mlp import MLP
from fjax.models.recurrent import GRU, LSTM


def _ints(values) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


def build_model(config: Any, out_dim: int) -> nn.Module:
    """Builds the model named by ``config.kind``.

    ``config`` is any object with these attributes (``fjax.config.ModelConfig`` has
    them): ``kind``, ``hidden``, ``head``, ``activation``, ``head_activation``,
    ``dropout``, ``kernel_size``, ``dilations``, ``bottleneck``. Attributes a kind does
    not use are not read.

    ===============  ==============================================================
    kind             model
    ===============  ==============================================================
    ``linear``       ``LinearRegression(out_dim)``
    ``logistic``     ``LogisticRegression(out_dim)`` (logits)
    ``mlp``          ``MLP(hidden, out_dim, activation, dropout)``
    ``lstm``         ``LSTM(hidden, out_dim, head, head_activation, dropout)``
    ``gru``          ``GRU(hidden, out_dim, head, head_activation, dropout)``
    ``cnn``          ``CNN1D(channels=hidden, out_dim, kernel_size, dilations, head,
                     activation, head_activation, dropout)``
    ``autoencoder``  ``Autoencoder(hidden, bottleneck, activation, dropout)``;
                     ``out_dim`` is ignored (the output has the input's shape)
    ===============  ==============================================================

    Raises:
      ValueError: for an unknown ``kind`` or activation name (the message lists the
        valid ones), or an ``out_dim`` that is not a positive integer.
    """
    if isinstance(out_dim, bool) or not isinstance(out_dim, numbers.Integral) or out_dim < 1:
        raise ValueError(f"out_dim must be a positive integer (outputs per row), got {out_dim!r}")
    kind = config.kind
    if kind == "linear":
        return LinearRegression(out_dim=int(out_dim))
    if kind == "logistic":
        return LogisticRegression(out_dim=int(out_dim))
    if kind == "mlp":
        get_activation(config.activation)
        return MLP(
            hidden=_ints(config.hidden),
            out_dim=int(out_dim),
            activation=config.activation,
            dropout=float(config.dropout),
        )
    if kind in ("lstm", "gru"):
        get_activation(config.head_activation)
        cls = LSTM if kind == "lstm" else GRU
        return cls(
            hidden=_ints(config.hidden),
            out_dim=int(out_dim),
            head=_ints(config.head),
            head_activation=config.head_activation,
            dropout=float(config.dropout),
        )
    if kind == "cnn":
        get_activation(config.activation)
        get_activation(config.head_activation)
        dilations = config.dilations
        return CNN1D(
            channels=_ints(config.hidden),
            out_dim=int(out_dim),
            kernel_size=int(config.kernel_size),
            dilations=None if dilations is None else _ints(dilations),
            head=_ints(config.head),
            activation=config.activation,
            head_activation=config.head_activation,
            dropout=float(config.dropout),
        )
    if kind == "autoencoder":
        get_activation(config.activation)
        return Autoencoder(
            hidden=_ints(config.hidden),
            bottleneck=int(config.bottleneck),
            activation=config.activation,
            dropout=float(config.dropout),
        )
    raise ValueError(
        f"unknown model kind {kind!r}; valid kinds are: {', '.join(MODEL_KINDS)}"
    )


__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_NAMES",
    "MODEL_KINDS",
    "Autoencoder",
    "CNN1D",
    "GRU",
    "LSTM",
    "LinearRegression",
    "LogisticRegression",
    "MLP",
    "build_model",
    "get_activation",
    "reconstruction_error",
]
