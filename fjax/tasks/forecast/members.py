"""Which population members make one forecast: a grid point's seeds x origins.

Each walk-forward origin's test block is forecast by the members trained for that
origin; the seeds of a grid point form the ensemble. The headline grid point has the
lowest validation MSE of its point forecast (scaled units: the median of a quantile
head, the mean of a Gaussian one) on the first origin's validation span, averaged over
seeds. The MSE, not the validation loss: a loss setting (a Huber delta, the quantile
levels, a Gaussian head) changes the loss itself, so a small delta would win by
construction. The first origin's span: it precedes every test block, while a later
origin's validation span holds the earlier origins' test blocks, so a mean over origins
would let test data choose the forecast scored on it. Without a validation span nothing
is chosen (that would choose on the test span) and the first grid point is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import numpy as np

from fjax.config import LossConfig, get_path
from fjax.tasks.experiment import GroupResult
from fjax.tasks.forecast.evaluate import median
from fjax.train.objective import read_output


@dataclass(frozen=True)
class Candidate:
    group: int
    hparams: dict              # grid values, e.g. {"optim.learning_rate": 0.001}
    members: np.ndarray        # i64[S, K]: member index per seed and origin
    val_loss: float | None     # mean best validation loss of the first origin's members
                               # (inf: one diverged); None without a validation span
    val_mse: float | None = None   # what ranks: the first origin's members' mean point-
                                   # forecast MSE on validation (`ranked`), scaled units


def candidates(results: list[GroupResult], has_val: bool,
               grid: Mapping[str, Sequence] | None = None) -> list[Candidate]:
    """One candidate per grid point of every compile group, in grid order; `hparams`
    holds the point's hyperparameters and the group's structural grid values."""
    out = []
    for g, result in enumerate(results):
        structure = {p: get_path(result.group.config, p) for p in (grid or {})
                     if p not in result.group.paths.values()}
        table = result.population.table()
        names = list(result.group.hparams)
        keys = table[names].apply(tuple, axis=1) if names else [()] * len(table)
        table = table.assign(_key=list(keys))
        for key in dict.fromkeys(table["_key"]):
            rows = table[table["_key"] == key].sort_values(["seed", "fold"])
            seeds, folds = rows["seed"].nunique(), rows["fold"].nunique()
            members = rows["member"].to_numpy(np.int64).reshape(seeds, folds)
            val = first_origin_loss(rows) if has_val else None
            hp = {**structure, **{result.group.paths[n]: float(v) for n, v in zip(names, key)}}
            out.append(Candidate(g, hp, members, val))
    return out


def first_origin_loss(rows) -> float:
    """Mean best validation loss of a grid point's first-origin members (one per seed):
    the only validation span before every test block. A point with a diverged
    first-origin member ranks last (inf), not by its survivors."""
    first = rows[rows["fold"] == 0]
    if (first["diverged_epoch"] > 0).any():
        return np.inf
    return float(first["best_val_loss"].mean())


def headline(cands: list[Candidate]) -> int:
    """Index of the candidate to report: best `val_mse`, else the first."""
    scored = [i for i, c in enumerate(cands) if c.val_mse is not None
              and np.isfinite(c.val_mse)]
    if not scored:
        return 0
    return min(scored, key=lambda i: cands[i].val_mse)


def scaled_point(loss: LossConfig, raw: np.ndarray, horizon: int) -> np.ndarray:
    """Raw outputs `f32[..., N, out]` -> the point forecast `f64[..., N, H]` in scaled
    target units: the median of sorted quantiles, a Gaussian head's mean, else the
    output (the scaling is affine and increasing, so the median commutes with it)."""
    lead = raw.shape[:-2]
    flat = raw.reshape((-1, raw.shape[-1]))
    pred = read_output(loss, flat, (horizon,))
    if loss.name == "pinball":
        levels = np.sort(np.asarray(loss.quantiles, np.float64))
        point = median(np.sort(np.asarray(pred, np.float64), axis=-1), levels)
    elif loss.name == "gaussian_nll":
        point = np.asarray(pred[0], np.float64)
    else:
        point = np.asarray(pred, np.float64)
    return point.reshape((*lead, raw.shape[-2], horizon))


def point_mse(point: np.ndarray, y: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """`f64[..., N, H]` point forecasts of targets `y [N, H]` -> weighted mean over the
    windows of the mean squared error over steps, `f64[...]`; NaN becomes inf."""
    se = np.mean((point - np.asarray(y, np.float64)) ** 2, axis=-1)
    mse = np.sum(se * weight, axis=-1) / np.sum(weight)
    return np.where(np.isnan(mse), np.inf, mse)


def ranked(cands: list[Candidate], mse: list[np.ndarray]) -> list[Candidate]:
    """The candidates with `val_mse`: the mean over seeds of their first-origin members'
    MSE, `mse[group][member]` (inf when a first-origin member diverged)."""
    return [replace(c, val_mse=float(np.inf if c.val_loss == np.inf else
                                     np.mean(mse[c.group][c.members[:, 0]])))
            for c in cands]


def assemble(raw: np.ndarray, cand: Candidate, origin: np.ndarray) -> np.ndarray:
    """Raw outputs `f32[P, Nt, out]` -> `f32[S, Nt, out]`: window i from its origin's member."""
    picked = cand.members[:, origin]                       # [S, Nt]
    return raw[picked, np.arange(len(origin))[None, :]]
