"""What the fraud models minimise and how they score transactions (pure JAX).

Supervised models output one logit per transaction and train on
`fjax.train.objective.supervised_loss`; the score is the logit itself (monotone in the
probability, and free of the ties that a saturated f32 sigmoid makes among the riskiest
cards). Losses:
  bce:   -[w+ y log p + (1 - y) log(1 - p)]                       (w+ = loss.pos_weight)
  focal: -[w+ y (1 - p)^g log p + (1 - y) p^g log(1 - p)]          (g = loss.focal_gamma;
         Lin et al., 2017), alpha-balanced when loss.focal_alpha >= 0. With the class
         weight kept, `fjax sweep fraud --loss.name focal --loss.focal-gamma 0 1 2
         --loss.pos-weight 1 5` is a full grid (g = 0 is the weighted bce).
The autoencoder minimises the mean squared reconstruction error of legitimate
training transactions; its score is that error (Chapter 7.3 of the handbook).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from fjax import losses, metrics
from fjax.models import reconstruction_error
from fjax.train.objective import apply_model, model_structure, stable_apply


def reconstruction_loss(apply_fn: Callable) -> Callable:
    """Weighted mean squared reconstruction error (train only on legitimate rows by
    giving frauds weight 0); equal for equal models (`stable_apply`), so that a rerun
    reuses the compiled programs."""
    return ReconstructionLoss(stable_apply(apply_fn),
                              f"reconstruction {model_structure(apply_fn)}")


@dataclasses.dataclass(frozen=True)
class ReconstructionLoss:
    apply_fn: Callable
    structure: str = dataclasses.field(compare=False)

    def __call__(self, params, batch, rng, hparams=None):
        x_hat = apply_model(self.apply_fn, params, batch["x"], rng)
        per_row = jnp.mean(jnp.square(x_hat - batch["x"]).reshape(x_hat.shape[0], -1), axis=1)
        return losses.weighted_mean(per_row, batch["weight"]), {}


def score_function(model: Any, kind: str) -> Callable[[Any, jax.Array], jax.Array]:
    """`score(params, x) -> f32[n]`: higher is riskier (logit, or reconstruction error)."""
    return Score(model, kind)


@dataclasses.dataclass(frozen=True)
class Score:
    """`score_function`'s score, equal for equal models (a static argument of jit)."""
    model: Any
    kind: str

    def __call__(self, params, x):
        if self.kind == "autoencoder":
            return reconstruction_error(self.model, params, x)
        return self.model.apply(params, x, deterministic=True)[:, 0]


def ranking_eval(score: Callable, size: int) -> Callable:
    """`eval_fn(params, data, weights)`: ROC-AUC and average precision over the rows with
    weight > 0 (at most `size` of them, gathered so that only they are scored)."""
    return RankingEval(score, size)


@dataclasses.dataclass(frozen=True)
class RankingEval:
    score: Callable
    size: int

    def __call__(self, params, data, weights):
        size = self.size
        idx = jnp.nonzero(weights > 0, size=size, fill_value=0)[0]
        w = jnp.where(jnp.arange(size) < jnp.sum(weights > 0), weights[idx], 0.0)
        s = self.score(params, data["x"][idx])
        y = data["y"][idx, 0]
        return {"auc": metrics.roc_auc(s, y, w),
                "average_precision": metrics.average_precision(s, y, w)}


def no_eval(params, data, weights) -> dict:
    """Test periods are never evaluated during training: nothing is selected on them."""
    return {}
