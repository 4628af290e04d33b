"""Which population members make one forecast: a grid point's seeds x origins.

Each walk-forward origin's test block is forecast by the members trained for that
origin; the seeds of a grid point form the ensemble. Each origin chooses its own grid
point (nested walk-forward): the lowest validation MSE of the point forecast (scaled
units: the median of a quantile head, the mean of a Gaussian one) on its own validation
span, averaged over seeds. That span precedes its test block, so no test block chooses
the forecast scored on it, and every origin's choice uses all the data before it. The
MSE, not the validation loss: a loss setting (a Huber delta, the quantile levels, a
Gaussian head) changes the loss itself, so a small delta would win by construction.
Without a validation span nothing is chosen (that would choose on the test span) and
the first grid point is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import numpy as np

from fjax.config import LossConfig, read_values
from fjax.tasks.experiment import GroupResult
from fjax.tasks.forecast.evaluate import PriceForecast, median
from fjax.train.objective import read_output


@dataclass(frozen=True)
class Candidate:
    group: int
    hparams: dict              # grid values, e.g. {"optim.learning_rate": 0.001}
    members: np.ndarray        # i64[S, K]: member index per seed and origin
    val_loss: np.ndarray | None    # f64[K]: each origin's members' mean best validation
                                   # loss (inf: one diverged); None without a validation span
    val_mse: np.ndarray | None = None  # f64[K], what ranks: each origin's members' mean
                                       # point-forecast MSE on its validation span (`ranked`)
    diverged: np.ndarray | None = None  # i64[K]: how many of its members (one per seed)
                                        # diverged at each origin
    seed_mse: np.ndarray | None = None  # f64[S, K]: each member's own MSE of `val_mse`


def candidates(results: list[GroupResult], has_val: bool,
               grid: Mapping[str, Sequence] | None = None) -> list[Candidate]:
    """One candidate per grid point of every compile group, in grid order; `hparams`
    holds the point's hyperparameters and the group's structural grid values (not a swept
    field its choices ignore: mse's huber_delta, linear's dropout)."""
    out = []
    hyper = {p for r in results for p in r.group.paths.values()}
    for g, result in enumerate(results):
        # a field its choice does not read: n/a (None)
        structure = read_values(result.group.config, [p for p in grid or {} if p not in hyper])
        table = result.population.table()
        names = list(result.group.hparams)
        keys = table[names].apply(tuple, axis=1) if names else [()] * len(table)
        table = table.assign(_key=list(keys))
        for key in dict.fromkeys(table["_key"]):
            rows = table[table["_key"] == key].sort_values(["seed", "fold"])
            seeds, folds = rows["seed"].nunique(), rows["fold"].nunique()
            members = rows["member"].to_numpy(np.int64).reshape(seeds, folds)
            val = origin_losses(rows) if has_val else None
            hp = {**structure, **{result.group.paths[n]: float(v) for n, v in zip(names, key)}}
            diverged = np.sum(rows["diverged_epoch"].to_numpy().reshape(seeds, folds) > 0,
                              axis=0, dtype=np.int64)      # per origin, as `members`' columns
            out.append(Candidate(g, hp, members, val, diverged=diverged))
    return out


def origin_losses(rows) -> np.ndarray:
    """Mean best validation loss of a grid point's members (one per seed) at each origin,
    `f64[K]`. At an origin where one of them diverged the point ranks last (inf), not by
    its survivors."""
    out = []
    for _, members in rows.groupby("fold", sort=True):
        diverged = (members["diverged_epoch"] > 0).any()
        out.append(np.inf if diverged else float(members["best_val_loss"].mean()))
    return np.array(out)


def choices(cands: list[Candidate], origins: int) -> list[int]:
    """Each origin's candidate: the lowest `val_mse` on its own validation span (the first
    on a tie, or where every point diverged); without scores, the first."""
    if cands[0].val_mse is None:
        return [0] * origins
    return np.argmin([c.val_mse for c in cands], axis=0).tolist()


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
    """`f64[..., N, H]` point forecasts of targets `y [N, H]` -> weighted mean squared
    error over the (window, step) targets (`weight [..., N, H]`, 0 on a filled target,
    as the loss weighs them), `f64[...]`; NaN becomes inf."""
    se = (point - np.asarray(y, np.float64)) ** 2
    mse = np.sum(se * weight, axis=(-2, -1)) / np.sum(weight, axis=(-2, -1))
    return np.where(np.isnan(mse), np.inf, mse)


def ranked(cands: list[Candidate], mse: list[np.ndarray]) -> list[Candidate]:
    """The candidates with `val_mse`, per origin the mean over seeds of its members' MSE
    on their validation span, `mse[group][member]` (inf where one of them diverged)."""
    out = []
    for c in cands:
        seed_mse = np.asarray(mse[c.group], np.float64)[c.members]
        out.append(replace(c, seed_mse=seed_mse,
                           val_mse=np.where(c.val_loss == np.inf, np.inf, seed_mse.mean(axis=0))))
    return out


def assemble(raw: np.ndarray, cand: Candidate, origin: np.ndarray) -> np.ndarray:
    """Raw outputs `f32[P, Nt, out]` -> `f32[S, Nt, out]`: window i from its origin's member."""
    picked = cand.members[:, origin]                       # [S, Nt]
    return raw[picked, np.arange(len(origin))[None, :]]


def nested(forecasts: list[PriceForecast], choice: list[int],
           origin: np.ndarray) -> PriceForecast:
    """Each test window from its origin's chosen forecast, `forecasts[choice[origin[i]]]`.
    Intervals stay only where every chosen point has them at the same level."""
    picked = [forecasts[c] for c in choice]
    if len(set(choice)) == 1:
        return picked[0]

    def rows(name: str) -> np.ndarray:
        out = np.array(getattr(picked[0], name))
        for k, f in enumerate(picked):
            out[..., origin == k, :] = getattr(f, name)[..., origin == k, :]
        return out

    nominal, levels = picked[0].nominal, picked[0].levels
    bounds = nominal is not None and all((f.nominal, f.levels) == (nominal, levels)
                                         for f in picked)
    crossing = all(f.crossed is not None for f in picked)
    return PriceForecast(rows("point"), rows("lower") if bounds else None,
                         rows("upper") if bounds else None, rows("members"),
                         nominal if bounds else None, rows("crossed") if crossing else None,
                         levels if bounds else None)


def chosen_history(histories: list[list[dict]], cands: list[Candidate],
                   choice: list[int]) -> list[dict]:
    """Per epoch, every logged metric of the members whose forecasts are reported, each
    origin's chosen point's seeds in origin order, `f[K * S]` (`histories[group]` is a
    group's history; NaN past the last epoch of a group that stopped earlier)."""
    picks = [(cands[c].group, cands[c].members[:, k]) for k, c in enumerate(choice)]
    longest = max((histories[g] for g, _ in picks), key=len)
    names = [n for n in longest[0] if n not in ("epoch", "time_s", "group")]

    def values(g: int, members: np.ndarray, e: int, name: str) -> np.ndarray:
        if e >= len(histories[g]):
            return np.full(len(members), np.nan)
        return np.asarray(histories[g][e][name], np.float64)[members]

    return [{"epoch": row["epoch"],
             **{n: np.concatenate([values(g, m, e, n) for g, m in picks]) for n in names}}
            for e, row in enumerate(longest)]
