"""Splits stacked on one array, so that split-fitted preprocessing rides the population axis.

Scalers and encoders are fitted on each split's training rows only (no leakage), so a
row has a different encoding in every split and one shared feature array cannot serve
them all. The stack holds one block per split: the rows that split trains or validates
on, in row order, transformed with that split's statistics (the last axis zero-padded
to the widest split). `folds` are masks over the stacked rows: split k trains on block
k's training rows and validates on block k's validation rows. A member therefore only
reads features made with its own split's statistics, all members share ONE
device-resident array, and the training core needs no notion of "which split am I"
(a fold is still just a mask). A row used by several splits appears once per block.

K-fold CV (credit): every block holds all n rows, N = k*n. Prequential periods
(fraud): a block is one period's training week and test week, blocks differ in size.

Shapes: `data[key]` is `[N, ...]`, `folds.train` / `folds.val` are `f32[K, N]`,
`row` and `block` are `i64[N]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from fjax.data.scalers import Scaler, fit_scaler
from fjax.data.splits import Folds


@dataclass(frozen=True)
class SplitStack:
    data: dict[str, np.ndarray]         # every entry [N, ...]
    folds: Folds                        # masks over the N stacked rows
    row: np.ndarray                     # i64[N] original row of each stacked row
    block: np.ndarray                   # i64[N] split whose statistics transformed the row

    @property
    def k(self) -> int:
        return self.folds.k

    def block_rows(self, k: int) -> np.ndarray:
        """Positions in the stack of split k's block."""
        return np.nonzero(self.block == k)[0]

    def val_rows(self, k: int) -> np.ndarray:
        """Positions in the stack of split k's validation (or test) rows."""
        return np.nonzero(self.folds.val[k] > 0)[0]


def split_rows(splits: Folds, k: int) -> np.ndarray:
    """i64 rows of split k's block: those it trains or validates on, in row order."""
    return np.nonzero((splits.train[k] > 0) | (splits.val[k] > 0))[0]


def _check_rows(masks: np.ndarray, what: str) -> None:
    """Refuse a split whose `masks[k]` selects no row."""
    for k, mask in enumerate(masks):
        if not np.any(mask > 0):
            raise ValueError(f"split {k} has no {what} rows; every split needs some")


def _pad(x: np.ndarray, width: int) -> np.ndarray:
    pad = [(0, 0)] * x.ndim
    pad[-1] = (0, width - x.shape[-1])
    return np.pad(x, pad)


def stack_splits(blocks: Sequence[Mapping[str, np.ndarray]], splits: Folds,
                 shared: Mapping[str, np.ndarray] | None = None) -> SplitStack:
    """Stack `blocks[k][key]: [n_k, ..., d_k]`, the rows `split_rows(splits, k)` transformed
    with split k's statistics. `shared[key]: [n, ...]` (e.g. labels) is the same for every
    split and is gathered into each block. A split may have no training rows when its
    statistics were fitted elsewhere (`stack_scaled`'s `scalers`)."""
    _check_rows(splits.val, "validation")
    if len(blocks) != splits.k:
        raise ValueError(f"got arrays for {len(blocks)} splits but there are {splits.k}")
    rows = [split_rows(splits, k) for k in range(splits.k)]
    data = {}
    for key in blocks[0]:
        arrays = [np.asarray(b[key]) for b in blocks]
        if any(a.ndim < 2 or a.shape[0] != len(r) or a.shape[1:-1] != arrays[0].shape[1:-1]
               for a, r in zip(arrays, rows)):
            raise ValueError(f"entry {key!r} must be [rows of the split's block, ..., d] in "
                             f"every split: blocks have {[len(r) for r in rows]} rows, got "
                             f"{[a.shape for a in arrays]}")
        width = max(a.shape[-1] for a in arrays)
        data[key] = np.concatenate([_pad(a, width) for a in arrays])
    row = np.concatenate(rows)
    for key, value in (shared or {}).items():
        value = np.asarray(value)
        if value.shape[0] != splits.n:
            raise ValueError(f"shared entry {key!r} has {value.shape[0]} rows, expected "
                             f"{splits.n}")
        data[key] = value[row]
    block = np.repeat(np.arange(splits.k), [len(r) for r in rows])
    train = np.zeros((splits.k, len(row)), np.float32)
    val = np.zeros((splits.k, len(row)), np.float32)
    for k, r in enumerate(rows):
        at = block == k
        train[k, at], val[k, at] = splits.train[k, r], splits.val[k, r]
    return SplitStack(data=data, folds=Folds(train=train, val=val), row=row, block=block)


def split_scalers(features: np.ndarray, trains: np.ndarray, kind: str = "standard"
                  ) -> list[Scaler]:
    """Per split, a `kind` scaler (`fjax.data.scalers`) of `features f[n, d]` fitted on
    its training rows `trains[k]` (masks [K, n]) only."""
    _check_rows(trains, "training")
    return [fit_scaler(kind, features[train > 0]) for train in trains]


def stack_scaled(features: np.ndarray, splits: Folds, kind: str = "standard",
                 shared: Mapping[str, np.ndarray] | None = None,
                 history: np.ndarray | None = None,
                 encoded: Callable[[int, np.ndarray], np.ndarray] | None = None,
                 scalers: Sequence[Scaler] | None = None) -> SplitStack:
    """`data["x"] f32[N, d]`: `features f[n, d]` scaled per split by a `kind` scaler
    (`fjax.data.scalers`) fitted on that split's training rows.

    `scalers`, one per split, fitted already (`split_scalers`), are used instead: rows
    scored by another stack's splits, e.g. the weeks just before its test weeks, are then
    scaled as its rows were, and a split needs no training rows (a block without them
    holds only the split's validation rows).
    `encoded(k, rows) -> f[len(rows), e]`: more columns of `rows`, encoded with split
    k's own statistics (e.g. one-hot categories), appended unscaled.
    `history i64[n, L]` (each row's earlier rows, -1 where there is none) makes x the
    sequence `f32[N, L, d]` of those rows, scaled like the row and zero (the training
    mean for a standard scaler) where missing.
    """
    if scalers is None:
        scalers = split_scalers(features, splits.train, kind)
    blocks = []
    for k, scaler in enumerate(scalers):
        rows = split_rows(splits, k)
        take = rows if history is None else np.maximum(history[rows], 0)   # [n_k(, L)]
        x = scaler.transform(features[take])
        if encoded is not None:
            x = np.concatenate([x, encoded(k, take.ravel()).reshape(*take.shape, -1)], axis=-1)
        x = x.astype(np.float32)
        if history is not None:
            x[history[rows] < 0] = 0.0
        blocks.append({"x": x})
    return stack_splits(blocks, splits, shared)
