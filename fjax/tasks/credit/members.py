"""Every trained member scored on its own fold: logits, validation metrics, PSI.

A member m with fold j predicts block j of the stacked design (every applicant encoded
with fold j's statistics); its validation metrics use fold j's validation rows only, and
its PSI compares the scores of fold j's training rows with those of its validation rows.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.special import expit

from fjax import metrics
from fjax.calibration import expected_calibration_error
from fjax.scorecard import ScoreScale
from fjax.stability import psi
from fjax.tasks.credit.config import Config
from fjax.tasks.credit.data import FoldDesign
from fjax.tasks.credit.model import build_model, logits
from fjax.tasks.credit.oof import brier_f64, log_loss_f64

METRICS = ("auc", "gini", "ks", "brier", "log_loss", "ece", "psi")


def member_logits(config: Config, design: FoldDesign, params: Any, fold: np.ndarray
                  ) -> np.ndarray:
    """f32[P, n]: member m's logits for every applicant, from block fold[m]."""
    model = build_model(config, design.shape)
    x = design.stack.data["x"]                    # k-fold: every block holds all n rows
    blocks = jnp.asarray(x).reshape(design.stack.k, -1, x.shape[-1])
    return np.asarray(_fold_logits(model, params, jnp.asarray(fold, jnp.int32), blocks))


@functools.partial(jax.jit, static_argnums=0)
def _fold_logits(model: Any, params: Any, fold: jax.Array, blocks: jax.Array) -> jax.Array:
    """`member_logits`' program, one per (hashable) model and shapes: a run of an equal
    model finds it compiled, where a jit of a closure per call compiled it every run."""
    return jax.lax.map(lambda m: logits(model, m[0], blocks[m[1]]), (params, fold),
                       batch_size=64)


@jax.jit
def _ranked(z, y, w):
    return jax.vmap(lambda zi, wi: jnp.stack([
        metrics.roc_auc(zi, y, wi), metrics.ks_statistic(zi, y, wi)]))(z, w)


def member_metrics(z: np.ndarray, fold: np.ndarray, y: np.ndarray, val: np.ndarray,
                   train: np.ndarray, scale: ScoreScale,
                   diverged: np.ndarray | None = None) -> pd.DataFrame:
    """One row per member: its validation metrics and train-vs-validation PSI; NaN (n/a)
    for a member that diverged (`diverged`, bool[P]) or has a non-finite logit, whose
    scores would otherwise rank as a coin flip (AUC 0.5) and read as perfectly stable
    (PSI 0). The Brier score and log-loss (`brier_f64`, `log_loss_f64`) are in float64 as the
    calibrated PDs' (`cal_brier`, `cal_log_loss`): the two compare in one precision and
    clipping."""
    out = np.asarray(_ranked(jnp.asarray(z), jnp.asarray(y), jnp.asarray(val[fold])), np.float64)
    table = pd.DataFrame({"auc": out[:, 0], "gini": 2 * out[:, 0] - 1, "ks": out[:, 1]})
    pd_ = expit(z.astype(np.float64))
    scores = scale.from_logit(z)
    finite = np.isfinite(z).all(axis=1)
    if diverged is not None:
        finite &= ~np.asarray(diverged, bool)
    y64 = np.asarray(y, np.float64)
    brier, loss, ece, shift = (np.full(len(z), np.nan) for _ in range(4))
    for m in np.flatnonzero(finite):
        v, t = val[fold[m]] > 0, train[fold[m]] > 0
        brier[m] = brier_f64(pd_[m, v], y64[v])
        loss[m] = log_loss_f64(pd_[m, v], y64[v])
        ece[m] = expected_calibration_error(pd_[m, v], y[v])
        shift[m] = psi(scores[m, t], scores[m, v])
    table["brier"] = brier
    table["log_loss"] = loss
    table["ece"] = ece
    table["psi"] = shift
    table.loc[~finite] = np.nan
    return table
