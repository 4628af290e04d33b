"""Boundary checks: bad input is caught before it reaches a compiled program, with a
message that names the field and the fix. numpy only; nothing here is traced."""

from __future__ import annotations

from typing import Mapping

import numpy as np


def check_arrays(data: Mapping[str, np.ndarray], name: str = "data") -> int:
    """Every array non-empty, finite and of the same length; returns that length."""
    if not data:
        raise ValueError(f"{name} is empty: pass a dict of arrays such as {{'x': ..., 'y': ...}}")
    lengths = {}
    for key, value in data.items():
        arr = np.asarray(value)
        if arr.ndim == 0:
            raise ValueError(f"{name}[{key!r}] is a scalar; every entry needs one row per sample")
        if arr.shape[0] == 0:
            raise ValueError(f"{name}[{key!r}] has no rows: there is nothing to train on")
        if np.issubdtype(arr.dtype, np.floating):
            bad = ~np.isfinite(arr)
            if bad.any():
                rows = np.unique(np.nonzero(bad.reshape(arr.shape[0], -1))[0])
                raise ValueError(
                    f"{name}[{key!r}] has {int(np.isnan(arr).sum())} NaN and "
                    f"{int(np.isinf(arr).sum())} infinite values in {len(rows)} rows "
                    f"(first at row {rows[0]}); impute or remove them before training")
        elif not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
            raise ValueError(f"{name}[{key!r}] has dtype {arr.dtype}; encode it as numbers first")
        lengths[key] = arr.shape[0]
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{name} arrays have mismatched lengths {lengths}; every entry "
                         "needs the same number of rows")
    return next(iter(lengths.values()))


def check_weights(weights: np.ndarray, n: int, name: str = "weights") -> np.ndarray:
    """Sample weights (or fold masks) of shape [..., n], finite, >= 0, not all zero."""
    w = np.asarray(weights, dtype=np.float32)
    if w.shape[-1] != n:
        raise ValueError(f"{name} has {w.shape[-1]} columns for {n} rows; give one weight per row")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"{name} must be finite and >= 0")
    empty = np.nonzero(w.reshape(-1, n).sum(axis=1) <= 0)[0]
    if len(empty):
        raise ValueError(f"{name} row(s) {empty.tolist()} select no samples; every member "
                         "needs at least one row with weight > 0")
    return w
