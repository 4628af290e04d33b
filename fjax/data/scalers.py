"""Feature scalers fitted on training rows only (numpy, float64 statistics).

`fit_scaler(kind, x, mask)` learns from the rows where `mask` is true, so a scaler never sees
validation or test data; `transform` and `inverse_transform` are exact inverses (up to
float64 rounding). Statistics are per column of a 2-D array (or of the last axis).
A constant column scales by 1 instead of dividing by zero. A kind may be given per column
(`fit_scaler(("minmax", "standard"), x)`): levels and returns of one input stack then
each get the scaling that suits them. A mask may also be given per column (`bool[n, C]`):
each column's statistics then come from its own rows (a series whose columns have holes
in different rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SCALERS = ("minmax", "standard", "robust", "none")


def _rows(x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    x2 = x.reshape(-1, x.shape[-1]) if x.ndim > 1 else x.reshape(-1, 1)
    if mask is not None:
        mask = np.asarray(mask, bool).reshape(-1)
        if mask.shape[0] != x2.shape[0]:
            hint = (f"; x has shape {x.shape}: fit the scaler on the series [n, C] before "
                    "windowing it, so that each row counts once, with a mask over its rows"
                    if x.ndim > 2 and mask.shape[0] == x.shape[0] else "")
            raise ValueError(f"scaler mask has {mask.shape[0]} entries for {x2.shape[0]} "
                             f"rows{hint}")
        x2 = x2[mask]
    if x2.shape[0] == 0:
        raise ValueError("a scaler needs at least one training row to fit")
    if not np.all(np.isfinite(x2)):
        raise ValueError("a scaler cannot fit NaN or infinite values; clean the data first")
    return x2


@dataclass(frozen=True)
class Scaler:
    """x_scaled = (x - offset) / scale, per column. Both directions return float64 whatever
    x's dtype (the statistics' precision, which prices read back need): cast to float32
    for a model, e.g. `scaler.transform(x).astype(np.float32)`."""

    kind: str | tuple[str, ...]   # one for every column, or one per column
    offset: np.ndarray  # f64[d]
    scale: np.ndarray   # f64[d], never 0

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return (x - self._b(x, self.offset)) / self._b(x, self.scale)

    def inverse_transform(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return x * self._b(x, self.scale) + self._b(x, self.offset)

    @staticmethod
    def _b(x: np.ndarray, stat: np.ndarray) -> np.ndarray:
        """Per-column statistics; a 1-D input is a single column."""
        columns = 1 if x.ndim == 1 else x.shape[-1]
        if columns != stat.size:
            raise ValueError(f"the scaler was fitted on {stat.size} column(s) but got "
                             f"{columns}; transform arrays with the columns it was fitted on")
        return stat[0] if x.ndim == 1 else stat

    def to_dict(self) -> dict:
        kind = self.kind if isinstance(self.kind, str) else list(self.kind)
        return {"kind": kind, "offset": self.offset.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, saved: dict) -> "Scaler":
        """The scaler `to_dict` wrote, every statistic the float64 it was."""
        kind = saved["kind"]
        return cls(kind if isinstance(kind, str) else tuple(kind),
                   np.asarray(saved["offset"], np.float64).reshape(-1),
                   np.asarray(saved["scale"], np.float64).reshape(-1))


def _safe(scale: np.ndarray) -> np.ndarray:
    return np.where(scale > 0, scale, 1.0)


def _statistics(kind: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(offset, scale) of every column of `rows` under `kind`."""
    if kind == "minmax":
        lo, hi = rows.min(axis=0), rows.max(axis=0)
        return lo, _safe(hi - lo)
    if kind == "standard":
        return rows.mean(axis=0), _safe(rows.std(axis=0))
    if kind == "robust":
        q1, med, q3 = np.percentile(rows, [25, 50, 75], axis=0)
        return med, _safe(q3 - q1)
    if kind == "none":
        return np.zeros(rows.shape[1]), np.ones(rows.shape[1])
    raise ValueError(f"unknown scaler {kind!r}; choose one of {', '.join(SCALERS)}")


def fit_scaler(kind: str | Sequence[str], x: np.ndarray,
               mask: np.ndarray | None = None) -> Scaler:
    """A scaler of `kind` (one, or one per column) fitted on the rows of `x` selected by
    `mask`.

    minmax: to [0, 1] over the training range (as the classic tutorial does);
    standard: zero mean, unit variance; robust: median and interquartile range;
    none: identity. A `mask bool[n, C]` of `x`'s shape selects each column's own rows.
    """
    if mask is not None and np.ndim(mask) == 2:
        mask = np.asarray(mask, bool)
        if mask.shape != np.shape(x):
            raise ValueError(f"a per-column scaler mask has shape {mask.shape} for x of "
                             f"shape {np.shape(x)}; give one of x's shape, or bool[n]")
        if (mask == mask[:, :1]).all():
            mask = mask[:, 0]   # one set of rows: every column's statistics at once
    columns = np.shape(x)[-1] if np.ndim(x) > 1 else 1
    kinds = (kind,) * columns if isinstance(kind, str) else tuple(kind)
    if len(kinds) != columns:
        raise ValueError(f"{len(kinds)} scaler kind(s) {kinds} for {columns} "
                         "column(s); give one kind per column, or one for all")
    offset, scale = np.zeros(columns), np.ones(columns)
    if np.ndim(mask) == 2:   # column j's statistics on its own rows mask[:, j]
        for j, one in enumerate(kinds):
            stats = _statistics(one, _rows(np.asarray(x)[:, j], mask[:, j]))
            offset[j], scale[j] = (stat[0] for stat in stats)
    else:
        rows = _rows(x, mask)
        for one in dict.fromkeys(kinds):   # each kind's statistics on all columns at once
            pick = np.array(kinds) == one
            offset[pick], scale[pick] = (stat[pick] for stat in _statistics(one, rows))
    return Scaler(kinds[0] if len(set(kinds)) == 1 else kinds, offset, scale)
