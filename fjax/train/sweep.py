"""Config grids: split a grid over config fields into compile groups; `median_epochs`, the
epochs a model trains after a search chose them on validation.

A grid is {"optim.learning_rate": [...], "model.hidden": [...], ...}. Fields declared
with `hyper(...)` vary inside one compiled population; any other field (layer sizes,
model kind) changes the program, so each of its values starts a new group. Every group
gets the full product of the hyper values its choices read: a group whose loss ignores a
swept knob (bce's of focal_gamma under `--loss.name bce focal`) keeps it at its default
rather than training duplicate members; likewise grid points whose structural values
differ only where their choices do not read them (`--model.kind linear mlp
--model.dropout 0.1 0.3`: linear's dropout) are one group.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from fjax.config import check_grid_values, get_path, hyperparameters, read_in, replace_paths


@dataclass(frozen=True)
class Group:
    config: Any                           # structural values set; hyper fields = base values
    hparams: dict[str, list]              # short name ("learning_rate") -> values
    paths: dict[str, str]                 # short name -> config path ("optim.learning_rate")


def group_grid(base: Any, grid: Mapping[str, Sequence[Any]]) -> list[Group]:
    """The compile groups of `grid` around `base`, in the grid's order."""
    hyper_paths = set(hyperparameters(base))
    for path, values in grid.items():
        get_path(base, path)  # raises on an unknown path
        if len(values) == 0:
            raise ValueError(f"grid entry {path!r} has no values")
    check_grid_values(base, grid)   # each field's own validation, per value
    structural = [p for p in grid if p not in hyper_paths]
    hyper = [p for p in grid if p in hyper_paths]
    short = {p.split(".")[-1]: p for p in hyper}
    if len(short) != len(hyper):
        raise ValueError(f"hyperparameter names must be unique across sections: {hyper}")
    points = [replace_paths(base, dict(zip(structural, combo)))
              for combo in itertools.product(*(grid[p] for p in structural))]
    # Points that differ only in fields their choices do not read (linear's dropout) are
    # one config: it trains once, its column n/a where unread (`combined_table`).
    configs = [cfg for i, cfg in enumerate(points) if cfg not in points[:i]]
    # One that no group reads stays in each, for the loss's check to refuse by name.
    unread = {p for p in hyper if not any(read_in(cfg, p) for cfg in configs)}
    groups = []
    for cfg in configs:
        paths = {s: p for s, p in short.items() if p in unread or read_in(cfg, p)}
        groups.append(Group(config=cfg, hparams={s: list(grid[p]) for s, p in paths.items()},
                            paths=paths))
    return groups


def median_epochs(kept: Sequence[int]) -> int:
    """Epochs to train a model on the rows its searched members validated on (a credit
    refit, a fraud test stage): the median of the epochs those members kept, rounded half
    up (a median of 1.5 trains 2), at least 1."""
    return max(1, int(np.floor(np.median(kept) + 0.5)))
