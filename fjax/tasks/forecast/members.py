"""Which population members make one forecast: a grid point's seeds x origins.

Each walk-forward origin's test block is forecast by the members trained for that
origin; the seeds of a grid point form the ensemble. The headline grid point is the
best mean validation loss on the first origin's validation span when there is one: that
span precedes every test block, while a later origin's validation span holds the
earlier origins' test blocks, so a mean over origins would let test data choose the
forecast scored on it. Without a validation span nothing is chosen (that would choose
on the test span) and the first grid point is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from fjax.config import get_path
from fjax.tasks.experiment import GroupResult


@dataclass(frozen=True)
class Candidate:
    group: int
    hparams: dict              # grid values, e.g. {"optim.learning_rate": 0.001}
    members: np.ndarray        # i64[S, K]: member index per seed and origin
    val_loss: float | None     # mean best validation loss of the first origin's members
                               # (inf: one diverged); None without a validation span


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
    """Index of the candidate to report: best first-origin validation loss, else the first."""
    scored = [i for i, c in enumerate(cands) if c.val_loss is not None
              and np.isfinite(c.val_loss)]
    if not scored:
        return 0
    return min(scored, key=lambda i: cands[i].val_loss)


def assemble(raw: np.ndarray, cand: Candidate, origin: np.ndarray) -> np.ndarray:
    """Raw outputs `f32[P, Nt, out]` -> `f32[S, Nt, out]`: window i from its origin's member."""
    picked = cand.members[:, origin]                       # [S, Nt]
    return raw[picked, np.arange(len(origin))[None, :]]
