"""The chosen configuration refitted on every labelled applicant, and what it explains:
attributions per attribute (exact for logistic regression, integrated gradients for the
MLP), reason codes, global importance and, for logistic regression, the scorecard's
points per attribute value."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from fjax.data.columns import numeric_values
from fjax.data.tabular import UNKNOWN, TabularEncoder
from fjax.data.woe import CategoricalWoe, NumericWoe
from fjax.explain import by_attribute, complete_integrated_gradients, linear_contributions
from fjax.logistic_optimum import bce_optimum, descended_objective
from fjax.optim import build_optimizer
from fjax.train.callbacks import ProgressBar
from fjax.scorecard import ScoreScale
from fjax.tasks.credit.config import Config
from fjax.tasks.credit.data import CreditData, Shape, full_design, pack
from fjax.tasks.credit.model import build_model, predict, trainable
from fjax.train import fit, init_member
from fjax.train.epoch import num_batches
from fjax.train.sweep import median_epochs

LINEAR_QUANTILES = (0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
"""The training quantiles that stand for a numeric attribute without WOE bins in the
scorecard's points table (its points are linear in the value between and beyond them)."""


@dataclass
class FinalModel:
    config: Config
    encoder: TabularEncoder
    shape: Shape
    params: Any
    x: np.ndarray | None        # f32[n, width] the training applicants, encoded (None: a
    # saved model, which keeps only their mean in attribution space, `reference`)
    reference: np.ndarray | None = None   # f64[A] that mean; from x where None

    @property
    def model(self):
        return build_model(self.config, self.shape)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        return pack(self.encoder.transform(frame), self.shape.n_numeric)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return predict(self.config, self.shape, self.params, x)


def kept_epochs(members: pd.DataFrame, restore_best: bool) -> np.ndarray:
    """int[m] the epochs each undiverged member (a row of the search's table) kept: its
    best epoch where it restored one, else the epochs it ran (early stopping ends them);
    every member's where all diverged."""
    ran = members["epochs"].to_numpy(int)
    kept = ran
    if restore_best:
        best = members["best_epoch"].to_numpy(float)
        kept = np.where(best > 0, best, ran).astype(int)
    undiverged = (members["diverged_epoch"] == 0).to_numpy()
    return kept[undiverged] if undiverged.any() else kept


def refit_config(config: Config, members: pd.DataFrame) -> tuple[Config, list[int] | None]:
    """The configuration the final model trains: `config` itself where validation chose no
    epochs; else (train.patience or restore_best) the median of the epochs its fold
    members kept (`kept_epochs`, `median_epochs`), without early stopping (the refit has
    no validation rows) and on the folds' schedule (`OptimConfig.spanning`), so it
    is the model the folds scored and its config reruns it. Also the kept epochs (None
    where nothing was chosen)."""
    if not config.train.val_selects:
        return config, None
    kept = kept_epochs(members, config.train.restore_best)
    train = dataclasses.replace(config.train, epochs=median_epochs(kept), patience=None,
                                restore_best=False)
    optim = config.optim.spanning(config.train.epochs)
    return dataclasses.replace(config, train=train, optim=optim), kept.tolist()


def refit(config: Config, data: CreditData, progress: bool = True) -> FinalModel:
    """Train `config` once on every row for train.epochs (`refit_config`'s: the epochs
    the folds kept), nothing monitored: there are no validation rows."""
    encoder, x, shape = full_design(config, data)
    t = trainable(config, shape, bad_rate=float(np.mean(data.y)))
    epochs = config.optim.span(config.train.epochs)
    steps = epochs * num_batches(len(x), config.train.batch_size)
    state = init_member(t.init_fn, build_optimizer(config.optim, steps), config.seed)
    bar = ProgressBar(config.train.epochs, desc="refit", disable=None if progress else True)
    train = dataclasses.replace(config.train, monitor=None, mode="auto")
    result = fit(state, t.loss_fn, {"x": x, "y": data.y}, config=train, callbacks=[bar])
    return FinalModel(config=config, encoder=encoder, shape=shape, x=x,
                      params=unknown_as_mix(result.state.params, encoder))


def optimum_gap(final: FinalModel, y: np.ndarray) -> float | None:
    """Logistic regression only: the largest |logit| difference over the training
    applicants between the refit and the optimum of the objective its optimizer descends,
    mean bce (pos_weight on the bads) + weight_decay/2 |kernel|^2 (the bias not decayed,
    as `fjax.optim` adds the decay to the gradient), solved in float64 by L-BFGS. Far
    from 0, train.epochs stopped the fit short of it: the epochs regularise beyond
    weight_decay, and the points move with them and the learning rate. None for the MLP,
    focal loss, adamw (decoupled decay descends no such objective) and weight_decay 0
    (on separable rows the optimum is at infinity)."""
    cfg = final.config
    settings = descended_objective(cfg.model.kind, cfg.loss.name, cfg.loss.pos_weight,
                                   cfg.optim.name, cfg.optim.weight_decay)
    if settings is None or settings[1] <= 0:
        return None
    dense = final.params["params"]["dense"]
    start = np.r_[np.asarray(dense["kernel"], np.float64)[:, 0],
                  np.asarray(dense["bias"], np.float64)]
    x = final.x.astype(np.float64)
    best = bce_optimum(x, y, start, pos_weight=settings[0], weight_decay=settings[1])
    z = x @ best[:-1] + best[-1]
    return float(np.max(np.abs(final.logits(final.x) - z)))


def reversed_woe(final: FinalModel, points: pd.DataFrame | None) -> dict[str, float]:
    """Logistic WOE attributes whose points fall as their WOE rises (a positive weight on
    the PD's logit: the bins with more goods score lower, against the attribute's own
    evidence, as correlated inputs can make them), each with the points its bins span.
    `points`: the scorecard's points per attribute value (`points_table`, whose first rows
    of a WOE attribute are its bins in order; None for the MLP, which has none), so the
    span is the one scorecard.csv shows. A scorecard validator expects every WOE
    attribute's points to rise with its WOE (Siddiqi, *Credit Risk Scorecards*, 2006, ch. 6)."""
    if points is None:
        return {}
    out = {}
    for column, woe in final.encoder.woe.items():
        bins = points.loc[points["attribute"] == column, "points"].to_numpy()[:len(woe.woe)]
        if np.ptp(woe.woe) > 0 and bins[np.argmax(woe.woe)] < bins[np.argmin(woe.woe)]:
            out[column] = float(np.ptp(bins))
    return out


def unknown_as_mix(params: Any, encoder: TabularEncoder) -> Any:
    """The MLP's unknown slot (row 0 of each embedding table, never trained) set to the
    training applicants' mean embedding, so an unseen category enters as the average
    applicant does (0 against the reference), as in the logistic scorecard. Other
    models' parameters are returned as they are."""
    tables = dict(params["params"])
    for i, column in enumerate(encoder.cat_columns):
        table = tables[f"embed_{i}"]["embedding"]
        mix = jnp.asarray(encoder.shares[column], table.dtype) @ table
        tables[f"embed_{i}"] = {**tables[f"embed_{i}"], "embedding": table.at[0].set(mix)}
    return {**params, "params": tables}


def embed(model: Any, params: Any, x: jax.Array) -> jax.Array:
    """The MLP's embedding of x (`_embed`: one program per equal model and shapes)."""
    return model.apply(params, x, method="embed")


_embed = jax.jit(embed, static_argnums=0)


def _space(final: FinalModel, x: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The continuous inputs attributions run over, and the attribute of each column."""
    attrs = list(final.encoder.num_attributes)
    if final.config.model.kind == "logistic":
        return np.asarray(x, np.float64), attrs
    z = _embed(final.model, final.params, jnp.asarray(x))
    dim = final.config.model.embedding_dim
    for column in final.encoder.cat_columns:
        attrs += [column] * dim
    return np.asarray(z), attrs


def attribution_reference(final: FinalModel) -> np.ndarray:
    """f64[A] the mean training applicant in the attribution space: the reference that
    reason codes and points are relative to (kept in a saved model, whose x is gone)."""
    if final.reference is not None:
        return final.reference
    return _space(final, final.x)[0].mean(axis=0)


@dataclass(frozen=True)
class Head:
    """The model's PD logit at one attribution-space point, its parameters an argument:
    equal for equal models, so explain's compiled programs serve every fit of a structure
    and keep no parameters alive."""

    model: Any

    def __call__(self, v: jax.Array, params: Any) -> jax.Array:
        return self.model.apply(params, v[None], method="head")[0, 0]


def attributions(final: FinalModel, x: np.ndarray) -> tuple[list[str], np.ndarray, float]:
    """(attributes, f64[n, A] contributions to the PD's logit, the reference logit).

    The reference is the mean training applicant in the attribution space; the
    contributions of a row add up to its logit minus the reference logit (exactly for
    logistic regression, within scorecard.ig_tolerance for the MLP).
    """
    z, attrs = _space(final, x)
    ref = attribution_reference(final)
    model = final.model
    if final.config.model.kind == "logistic":
        dense = final.params["params"]["dense"]
        w = np.asarray(dense["kernel"], np.float64)[:, 0]
        contrib = linear_contributions(w, z, ref)
        ref_logit = float(np.asarray(dense["bias"], np.float64)[0] + ref @ w)
    else:
        sc, head = final.config.scorecard, Head(model)
        contrib = np.asarray(complete_integrated_gradients(
            head, jnp.asarray(z, jnp.float32), jnp.asarray(ref, jnp.float32), sc.ig_tolerance,
            sc.ig_steps, args=(final.params,))[0], np.float64)
        ref_logit = float(head(jnp.asarray(ref, jnp.float32), final.params))
    names, summed = by_attribute(contrib, attrs)
    return names, summed, ref_logit


def _candidates(encoder: TabularEncoder, frame: pd.DataFrame, column: str
                ) -> tuple[list, list[str]]:
    """Values of one attribute that span its encodings, with readable labels."""
    if column in encoder.vocab:
        cats = list(encoder.vocab[column])
        return cats + [UNKNOWN], cats + [UNKNOWN]
    woe = encoder.woe.get(column)
    if isinstance(woe, CategoricalWoe):
        cats = list(woe.categories)
        return cats + [UNKNOWN], cats + [UNKNOWN]
    if isinstance(woe, NumericWoe):
        values = [np.nextafter(woe.edges[0], -np.inf) if len(woe.edges) else 0.0,
                  *woe.edges.tolist()]
        return values + [np.nan], woe.labels() + ["<missing>"]
    raw = numeric_values(frame, column)
    values = np.unique(np.nanquantile(raw, LINEAR_QUANTILES)).tolist()
    labels = [f"{v:.6g}" for v in values]
    if column in encoder.indicators:
        values, labels = values + [np.nan], labels + ["<missing>"]
    return values, labels


def points_table(final: FinalModel, frame: pd.DataFrame, scale: ScoreScale) -> pd.DataFrame:
    """One row per attribute value with its points, logistic only.

    score = the base points (the reference logit's score, from `attributions`) + the
    points of each of the applicant's attribute values, exactly. Numeric attributes
    without WOE are linear in the value: the table lists points at the training quantiles.
    """
    w = np.asarray(final.params["params"]["dense"]["kernel"], np.float64)[:, 0]
    ref = attribution_reference(final)
    attrs = np.array(final.encoder.num_attributes)
    rows = []
    for column in final.encoder.schema.features:
        values, labels = _candidates(final.encoder, frame, column)
        cand = pd.DataFrame({c: [frame[c].iloc[0]] * len(values)
                             for c in final.encoder.schema.features})
        cand[column] = pd.Series(values, dtype=object)
        enc = final.encode(cand).astype(np.float64)
        cols = np.nonzero(attrs == column)[0]
        contrib = (enc[:, cols] - ref[cols]) @ w[cols]
        for label, c in zip(labels, contrib):
            rows.append({"attribute": column, "value": label, "points": float(scale.points(c))})
    return pd.DataFrame(rows)
