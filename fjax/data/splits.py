"""Splits as masks: a fold is a per-sample weight vector over the same arrays.

`Folds.train` and `Folds.val` are `f32[k, n]` masks (1 = in the split). Because a fold
is a mask rather than a copy, folds ride the population axis: K folds x G configs x
S seeds train as one program over one device-resident copy of the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fjax.data.checks import check_count


@dataclass(frozen=True)
class Folds:
    train: np.ndarray  # f32[k, n]
    val: np.ndarray    # f32[k, n]

    def __post_init__(self):
        if self.train.shape != self.val.shape or self.train.ndim != 2:
            raise ValueError(f"Folds.train {self.train.shape} and Folds.val {self.val.shape} "
                             "must both be [k, n]")
        if np.any((self.train > 0) & (self.val > 0)):
            raise ValueError("a fold has rows in both its training and validation masks")

    @property
    def k(self) -> int:
        return self.train.shape[0]

    @property
    def n(self) -> int:
        return self.train.shape[1]


def _masks(assign: np.ndarray, k: int) -> Folds:
    val = (assign[None, :] == np.arange(k)[:, None]).astype(np.float32)
    return Folds(train=1.0 - val, val=val)


def kfold(n: int, k: int, seed: int = 0) -> Folds:
    """K shuffled folds of (nearly) equal size."""
    check_count("folds", k, 2)
    if k > n:
        raise ValueError(f"folds must be at most the number of rows ({n}), got {k}")
    assign = np.empty(n, np.int64)
    assign[np.random.default_rng(seed).permutation(n)] = np.arange(n) % k
    return _masks(assign, k)


def stratified_kfold(labels: np.ndarray, k: int, seed: int = 0) -> Folds:
    """K folds with each class spread evenly: every fold's class shares match the data's."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels have shape {labels.shape}; pass one label per row, e.g. y[:, 0]")
    if np.issubdtype(labels.dtype, np.floating) and np.isnan(labels).any():
        raise ValueError(f"labels have {int(np.isnan(labels).sum())} NaN (first at row "
                         f"{int(np.flatnonzero(np.isnan(labels))[0])}); every row needs a "
                         "class to be assigned a fold")
    classes, counts = np.unique(labels, return_counts=True)
    check_count("folds", k, 2)
    if np.issubdtype(labels.dtype, np.floating) and len(classes) > len(labels) // 2 \
            and not np.all(classes == np.round(classes)):
        raise ValueError(f"labels look continuous ({len(classes)} distinct values in "
                         f"{len(labels)} rows): stratified folds need classes; use "
                         "kfold(n, k) for a regression target")
    if counts.min() < k:
        small = classes[counts.argmin()]
        raise ValueError(f"class {small.item()!r} has only {counts.min()} rows, fewer than the "
                         f"{k} folds; use fewer folds")
    rng = np.random.default_rng(seed)
    assign = np.empty(len(labels), np.int64)
    offset = 0
    for c in classes:
        rows = rng.permutation(np.nonzero(labels == c)[0])
        assign[rows] = (np.arange(len(rows)) + offset) % k
        offset += len(rows)
    return _masks(assign, k)


def grouped_stratified_kfold(labels: np.ndarray, groups: np.ndarray, k: int,
                             seed: int = 0) -> Folds:
    """Stratified folds that keep every group's rows in one fold (an applicant's several
    loans), so no group trains a model that validates on it. Groups are stratified by
    their largest label (an applicant with any default counts as a defaulter)."""
    labels = np.asarray(labels)
    codes, uniques = pd.factorize(pd.Series(groups), use_na_sentinel=False)
    group_label = np.full(len(uniques), -np.inf)
    np.maximum.at(group_label, codes, labels.astype(np.float64))
    by_group = stratified_kfold(group_label, k, seed)
    return Folds(train=by_group.train[:, codes], val=by_group.val[:, codes])


def holdout(n: int, val_fraction: float, seed: int | None = 0) -> Folds:
    """One split; `seed=None` keeps order (the last rows validate, for time series)."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n_val = max(1, int(round(n * val_fraction)))
    order = np.arange(n) if seed is None else np.random.default_rng(seed).permutation(n)
    val = np.zeros((1, n), np.float32)
    val[0, order[n - n_val:]] = 1.0
    return Folds(train=1.0 - val, val=val)


def walk_forward(n: int, k: int, val_size: int, *, gap: int = 0, min_train: int | None = None,
                 window: int | None = None) -> Folds:
    """K chronological origins over rows in time order.

    Origin j validates on rows [s_j, s_j + val_size) with s_j spaced so the last ends at n,
    and trains on the rows before s_j - gap: all of them (expanding window) or the last
    `window` (rolling). `gap` keeps training targets out of validation inputs.
    """
    check_count("k", k, 1)
    check_count("val_size", val_size, 1)
    check_count("gap", gap, 0)   # a negative gap validated on training rows
    if window is not None:
        check_count("window", window, 1)
    starts = n - val_size * np.arange(k, 0, -1)
    first_train = starts[0] - gap
    need = min_train or 1
    if first_train < need:
        raise ValueError(f"{n} rows are too few for {k} origins of {val_size} validation rows "
                         f"with gap {gap}: the first origin would train on {first_train} rows "
                         f"(need {need}); use fewer origins or a smaller val_size")
    train = np.zeros((k, n), np.float32)
    val = np.zeros((k, n), np.float32)
    for j, s in enumerate(starts):
        end = s - gap
        begin = 0 if window is None else max(0, end - window)
        train[j, begin:end] = 1.0
        val[j, s:s + val_size] = 1.0
    return Folds(train=train, val=val)
