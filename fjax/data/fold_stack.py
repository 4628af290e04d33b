"""Per-fold features on one shared array, so fold-fitted preprocessing rides the
population axis.

Preprocessing is fitted on each fold's training rows, so one applicant has k different
encodings. `stack_folds` lays them out as k blocks of n rows: block j is every row
encoded with fold j's statistics (zero-padded to the widest fold), and the folds become
masks over the k*n rows: fold j trains on block j's training rows and validates on block
j's validation rows. A member therefore only ever reads features made with its own
fold's statistics, all members still share ONE device-resident array, and the training
core needs no notion of "which fold am I" (a fold is still just a mask). The price is k
times the rows, which is small for tabular data; batches per epoch are unchanged
because they are counted over the weighted (training) rows.

Shapes: `data[key]` is `[k*n, ...]`, `folds.train` / `folds.val` are `f32[k, k*n]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from fjax.data.splits import Folds


@dataclass(frozen=True)
class FoldStack:
    data: dict[str, np.ndarray]      # every entry [k*n, ...]
    folds: Folds                     # masks over the k*n stacked rows
    row: np.ndarray                  # i64[k*n] original row of each stacked row
    block: np.ndarray                # i64[k*n] fold whose statistics encoded the row
    widths: dict[str, tuple[int, ...]]  # unpadded width of each fold's entry

    @property
    def k(self) -> int:
        return self.folds.k

    @property
    def n(self) -> int:
        return self.folds.n // self.folds.k

    def block_rows(self, j: int) -> slice:
        return slice(j * self.n, (j + 1) * self.n)


def _pad(x: np.ndarray, width: int) -> np.ndarray:
    pad = [(0, 0)] * x.ndim
    pad[-1] = (0, width - x.shape[-1])
    return np.pad(x, pad)


def stack_folds(per_fold: Sequence[Mapping[str, np.ndarray]], folds: Folds,
                shared: Mapping[str, np.ndarray] | None = None) -> FoldStack:
    """Stack fold j's arrays `per_fold[j][key]: [n, d_j]` into block j of `[k*n, max d]`.

    `shared` entries (e.g. labels) are the same for every fold and are repeated per block.
    """
    k, n = folds.k, folds.n
    if len(per_fold) != k:
        raise ValueError(f"got features for {len(per_fold)} folds but the folds have {k}")
    keys = list(per_fold[0])
    data, widths = {}, {}
    for key in keys:
        arrays = [np.asarray(f[key]) for f in per_fold]
        if any(a.shape[0] != n or a.ndim != 2 for a in arrays):
            raise ValueError(f"per-fold entry {key!r} must be [n={n}, d] in every fold, got "
                             f"{[a.shape for a in arrays]}")
        width = max(a.shape[1] for a in arrays)
        widths[key] = tuple(a.shape[1] for a in arrays)
        data[key] = np.concatenate([_pad(a, width) for a in arrays])
    for key, value in (shared or {}).items():
        value = np.asarray(value)
        if value.shape[0] != n:
            raise ValueError(f"shared entry {key!r} has {value.shape[0]} rows, expected {n}")
        data[key] = np.concatenate([value] * k)
    eye = np.eye(k, dtype=np.float32)
    train = np.einsum("jb,jn->jbn", eye, folds.train).reshape(k, k * n)
    val = np.einsum("jb,jn->jbn", eye, folds.val).reshape(k, k * n)
    return FoldStack(data=data, folds=Folds(train=train, val=val),
                     row=np.tile(np.arange(n), k), block=np.repeat(np.arange(k), n),
                     widths=widths)
