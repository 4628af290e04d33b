"""The credit models and their objective: logistic regression on one-hot columns or an
MLP with category embeddings, trained with the configured binary loss.

The logistic model starts from zero weights (the problem is convex, so the start only
matters for speed), which keeps the weight of a column that a fold never sees at exactly
0: with L2 (weight decay) it has no reason to move. Its bias starts at the log-odds of
the labelled applicants' bad rate, not at 0 (PD 0.5): from 0, a few thousand Adam steps
left the intercept short of a 3% portfolio's, and its PDs averaged 0.040 in sample
against a bad rate of 0.032 (at the optimum, with an undecayed bias, they are equal).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from fjax import losses, metrics
from fjax.models import LogisticRegression
from fjax.models.tabular import TabularMLP
from fjax.tasks.credit.config import Config
from fjax.tasks.credit.data import Shape
from fjax.tasks.experiment import Trainable
from fjax.train.objective import supervised_loss


def build_model(config: Config, shape: Shape) -> nn.Module:
    if config.model.kind == "logistic":
        return LogisticRegression(out_dim=1)
    return TabularMLP(n_numeric=shape.n_numeric, cardinalities=shape.cardinalities,
                      embedding_dim=config.model.embedding_dim, hidden=config.model.hidden,
                      activation=config.model.activation, dropout=config.model.dropout)


def init_fn(config: Config, model: nn.Module, shape: Shape, bad_rate: float = 0.5):
    """key -> params (for the logistic model zero weights and the bias at the log-odds of
    `bad_rate`), jitted: one compile, not one per parameter, when called outside a
    population. Equal for equal models and settings (a static argument of jit)."""
    return CreditInit(model, shape.width, config.model.kind == "logistic",
                      float(np.log(bad_rate / (1 - bad_rate))))


@dataclasses.dataclass(frozen=True)
class CreditInit:
    model: nn.Module
    width: int
    logistic: bool
    log_odds: float

    def __call__(self, key: jax.Array) -> Any:
        return _init_program(self, key)

    def init(self, key: jax.Array) -> Any:
        params = self.model.init(key, jnp.zeros((1, self.width), jnp.float32))
        if self.logistic:
            params = jax.tree.map(jnp.zeros_like, params)
            dense = params["params"]["dense"]
            bias = jnp.full_like(dense["bias"], self.log_odds)
            params = {"params": {**params["params"], "dense": {**dense, "bias": bias}}}
        return params


_init_program = jax.jit(CreditInit.init, static_argnums=0)


def logits(model: nn.Module, params: Any, x: jax.Array) -> jax.Array:
    """f32[n] logits of the PD, without dropout."""
    return model.apply(params, x, deterministic=True)[:, 0]


def eval_fn(model: nn.Module, blocks: int = 1):
    """Validation metrics over the weighted rows: the plain log loss (no pos_weight and no
    focal term, whatever the training loss) and ROC-AUC.

    With `blocks` > 1 the data is a split stack (`fjax.data.split_stack`): a member's
    validation weights lie in one block, which is found from them and evaluated alone,
    so the cost is that of n rows, not k*n.
    """
    return CreditEval(model, blocks)


@dataclasses.dataclass(frozen=True)
class CreditEval:
    """`eval_fn`'s function, equal for equal models (a static argument of jit)."""
    model: nn.Module
    blocks: int

    def __call__(self, params, val_data, val_weights):
        x, y, w = val_data["x"], val_data["y"], val_weights
        if self.blocks > 1:
            n = w.shape[0] // self.blocks
            j = jnp.argmax(w.reshape(self.blocks, n).sum(axis=1))
            x, y, w = (jax.lax.dynamic_slice_in_dim(a, j * n, n) for a in (x, y, w))
        z = logits(self.model, params, x)
        return {"loss": losses.binary_cross_entropy(z, y, w), "auc": metrics.roc_auc(z, y, w)}


def trainable(config: Config, shape: Shape, blocks: int = 1, bad_rate: float = 0.5
              ) -> Trainable:
    """Model, objective and validation metrics; `blocks` = folds of a split stack;
    `bad_rate` the labelled applicants' (the logistic model's starting intercept)."""
    model = build_model(config, shape)
    return Trainable(init_fn=init_fn(config, model, shape, bad_rate),
                     loss_fn=supervised_loss(model.apply, config.loss),
                     eval_fn=eval_fn(model, blocks))


def predict(config: Config, shape: Shape, params: Any, x: np.ndarray) -> np.ndarray:
    """f64[n] logits of one model on x: compiled once per model and shapes (modules
    built from the same config are equal), not once per call."""
    model = build_model(config, shape)
    return np.asarray(_jit_logits(model, params, jnp.asarray(x)), np.float64)


_jit_logits = jax.jit(logits, static_argnums=0)
