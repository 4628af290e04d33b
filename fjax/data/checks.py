"""Boundary checks: bad input is caught before it reaches a compiled program, with a
message that names the field and the fix. numpy on the host; nothing here is traced."""

from __future__ import annotations

import numbers
from typing import Any, Callable, Iterable, Mapping

import jax
import numpy as np

SCALABLE = float(np.finfo(np.float32).max) / 1e6
"""The largest magnitude a column of features or prices may hold: scaled, summed and
squared in float32 training, it must stay finite."""


SQUARABLE = float(np.sqrt(np.finfo(np.float32).max)) / 1e4
"""The largest magnitude any input column, target or feature, may reach a model with
(after its scaler), ~1.8e15: beyond it float32 overflows in the model's products and
losses (its square is float32's largest value / 1e8: room for a batch's sum)."""


class DataSettingError(ValueError):
    """A refusal of data whose own words (not a file's or column's name it quotes) name a
    data setting (`--data.x`, `data.x`) as what to change, or as what chose the refused
    column: `fjax score`, which has no data settings, adds to these alone that a new run
    changes them (`fjax.tasks.frozen.as_run_read`)."""


def check_count(name: str, value: Any, minimum: int) -> None:
    """An integer (not a bool) >= `minimum`: kfold(n, 2.5) made fractional folds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_type(name: str, value: Any, *types: type) -> None:
    """`value` an instance of one of `types`: a dict or None where a config belongs failed
    deep inside training with an AttributeError."""
    if not isinstance(value, types):
        wanted = " or ".join(t.__name__ for t in types)
        raise TypeError(f"{name} must be an instance of {wanted}, got "
                        f"{type(value).__name__} {value!r:.60}; build one, e.g. "
                        f"{types[0].__name__}(...)")


def listed(values: Iterable, limit: int = 5) -> str:
    """Up to `limit` values, quoted (numpy scalars as plain Python), and how many more:
    `'a', 'b', ... (3 more)`, for a refusal's message."""
    values = [v.item() if isinstance(v, np.generic) else v for v in values]
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f", ... ({len(values) - limit} more)" if len(values) > limit else "")


def out_of_range(values: Any, in_range: Callable[[np.ndarray], np.ndarray]
                 ) -> tuple[np.ndarray, str]:
    """`values` as float64 and those not finite or not `in_range`, unique and `listed`
    (the first 10), '' when none: the listing each range check's refusal quotes."""
    values = np.asarray(values, np.float64)
    bad = values[~(np.isfinite(values) & in_range(values))]
    return values, listed(np.unique(bad), 10) if bad.size else ""


def check_unit_interval(values: Any, name: str, fix: str, kind: str = "") -> np.ndarray:
    """`values` as float64, every one in [0, 1] (NaN refused); else a ValueError naming
    the others, `name` (and its `kind`) and the `fix`: a PD or soft label of 2 or -1 was
    clipped or weighted into a plausible, wrong answer."""
    values, bad = out_of_range(values, lambda v: (v >= 0) & (v <= 1))
    if bad:
        raise ValueError(f"{name} must be {kind}in [0, 1]; found values [{bad}]; {fix}")
    return values


def check_binary_labels(labels: Any, name: str = "labels",
                        coding: str = "0/1 for a binary loss",
                        fix: str = "map your positive class to 1 and every other class to 0"
                        ) -> None:
    """Every value of `labels` 0 or 1 (bool accepted); else a ValueError naming the others:
    a -1/1 or 0/2 coding gives a plausible, wrong loss or metric. `coding` and `fix` word
    the message for the caller (a loss's classes, fraud's fraud and legitimate)."""
    values = np.asarray(labels)
    if values.dtype == bool:
        return
    bad = values[~np.isin(values, (0, 1))]
    if bad.size:
        raise ValueError(f"{name} must be {coding}; found values [{listed(np.unique(bad), 10)}]; "
                         f"{fix}")


def scored_labels(scores: Any, labels: Any, name: str = "labels", coding: str = "0/1",
                  fix: str = "map the positive class to 1 and every other class to 0"
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(f64[n] scores, i8[n] 0/1 labels), flattened, one score per label (`name`, `coding`
    and `fix` as `check_binary_labels`): with one label more than scores, the ranking
    metrics read the first n labels and dropped the rest unsaid."""
    scores, labels = np.asarray(scores, np.float64).reshape(-1), np.asarray(labels).reshape(-1)
    check_binary_labels(labels, name, coding, fix)
    if len(scores) != len(labels):
        raise ValueError(f"{name}: got {len(scores)} scores for {len(labels)} labels; pass "
                         "one score per label, in the labels' order")
    return scores, labels.astype(np.int8)


def first_unscalable(values: np.ndarray) -> int | None:
    """The index of the first value beyond `SCALABLE` (NaN ignored), or None."""
    rows = np.flatnonzero(np.abs(values) > SCALABLE)
    return int(rows[0]) if len(rows) else None


def _refuse_beyond_range(field: str, arr: np.ndarray, big: np.ndarray, shown: str,
                         fate: str) -> None:
    """Refuse `arr` where `big` marks values beyond its device dtype's range (`shown` after
    the range's name), naming the count, the first row and their `fate` on the device."""
    if big.any():
        row = int(np.nonzero(big.reshape(arr.shape[0], -1))[0][0])
        raise ValueError(f"{field} has {int(big.sum())} values beyond "
                         f"{device_dtype(arr.dtype).name}'s range{shown}, first at row {row}: "
                         f"on the device they would {fate}")


def check_arrays(data: Mapping[str, np.ndarray], name: str = "data") -> int:
    """Every array non-empty, finite and of the same length; returns that length."""
    if not isinstance(data, Mapping):
        raise TypeError(f"{name} must be a dict of arrays such as {{'x': X, 'y': y}}, got a "
                        f"{type(data).__name__}")
    if not data:
        raise ValueError(f"{name} is empty: pass a dict of arrays such as {{'x': ..., 'y': ...}}")
    lengths = {}
    for key, value in data.items():
        if isinstance(value, Mapping):   # np.asarray would make it a scalar object
            raise ValueError(f"{name}[{key!r}] is a dict of {sorted(value)}, not an array: "
                             f"each entry of {name} is one array with a row per sample; give "
                             "each of its arrays a key of its own and read them in the loss")
        arr = np.asarray(value)
        if arr.ndim == 0:
            raise ValueError(f"{name}[{key!r}] is a scalar; every entry needs one row per sample")
        if arr.shape[0] == 0:
            raise ValueError(f"{name}[{key!r}] has no rows: there is nothing to train on")
        # jax's test: numpy's calls bfloat16 no float, and refused it as non-numeric
        if jax.dtypes.issubdtype(arr.dtype, np.floating):
            bad = ~np.isfinite(arr)
            if bad.any():
                rows = np.unique(np.nonzero(bad.reshape(arr.shape[0], -1))[0])
                raise ValueError(
                    f"{name}[{key!r}] has {int(np.isnan(arr).sum())} NaN and "
                    f"{int(np.isinf(arr).sum())} infinite values in {len(rows)} rows "
                    f"(first at row {rows[0]}); impute or remove them before training")
            limit = jax.numpy.finfo(device_dtype(arr.dtype)).max
            _refuse_beyond_range(f"{name}[{key!r}]", arr, np.abs(arr) > limit,
                                 f" (+-{limit:.3g})", "be infinite; rescale the column")
        elif np.issubdtype(arr.dtype, np.integer):
            info = np.iinfo(device_dtype(arr.dtype))
            _refuse_beyond_range(f"{name}[{key!r}]", arr, (arr < info.min) | (arr > info.max),
                                 "", "wrap around; re-encode them (e.g. as 0..k-1)")
        elif arr.dtype != bool:
            raise ValueError(f"{name}[{key!r}] has dtype {arr.dtype}; encode it as numbers first")
        lengths[key] = arr.shape[0]
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{name} arrays have mismatched lengths {lengths}; every entry "
                         "needs the same number of rows")
    return next(iter(lengths.values()))


def device_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype an array of `dtype` gets on the device (float32 unless jax_enable_x64)."""
    return np.dtype(jax.dtypes.canonicalize_dtype(dtype))


def untruncated(value: Any) -> Any:
    """`value` as it was, but a host integer array that the device would truncate (int64
    without jax_enable_x64) as float64 numbers: jnp.asarray wrapped 2**40 to 0, and a
    metric or loss of it gave a plausible wrong number (an AUC of 0 for 1)."""
    if isinstance(value, jax.Array) or isinstance(value, jax.core.Tracer):
        return value
    arr = np.asarray(value)
    if np.issubdtype(arr.dtype, np.integer) and device_dtype(arr.dtype) != arr.dtype:
        return arr.astype(np.float64)
    return value


def check_weights(weights: np.ndarray, n: int, name: str = "weights",
                  ndim: int = 1) -> np.ndarray:
    """Sample weights f32[n] (or fold masks f32[k, n], ndim=2), finite, >= 0, not all
    zero."""
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim != ndim:
        shape = "[n]: one weight per row" if ndim == 1 else "[folds, n]: one mask per fold"
        raise ValueError(f"{name} has shape {w.shape}; it must be {shape}")
    if w.shape[-1] != n:
        raise ValueError(f"{name} has {w.shape[-1]} columns for {n} rows; give one weight per row")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"{name} must be finite and >= 0")
    empty = np.nonzero(w.reshape(-1, n).sum(axis=1) <= 0)[0]
    if len(empty):
        raise ValueError(f"{name} row(s) {empty.tolist()} select no samples; every member "
                         "needs at least one row with weight > 0")
    return w
