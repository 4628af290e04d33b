"""Sample-weighted evaluation metrics: pure ``jnp`` functions, jit- and vmap-safe.

Every metric takes ``weights: f32[n] | None`` (non-negative; ``None`` means all ones;
the point metrics also ``f32[n, H]``, one per forecast step).
A zero weight behaves like removing the sample, so a cross-validation fold is a mask
and the metrics of a whole population are one ``jax.vmap``. There is no data-dependent
Python control flow and no boolean indexing: ranking metrics sort once and resolve tied
scores with ``searchsorted`` over the sorted scores, so ties are grouped exactly as
scikit-learn groups thresholds. Scores must be finite (``nan`` scores have no rank).

Where a metric is undefined (no positives, no negatives, zero total weight) it returns
``nan`` rather than raising; callers report it. Results are f32 scalars
(``precision_recall_f1`` returns a dict of three).

The public metrics are wrapped in ``jax.jit`` (they are mostly called from host code
once per epoch, where op-by-op dispatch of a sort-based metric costs far more than one
compile per shape); inside an outer ``jit``/``vmap`` the wrapper is transparent. Called
on concrete arrays, the classification metrics first check their inputs on the host
(0/1 labels, finite scores, weights >= 0) and raise a ``ValueError`` naming the problem;
traced, a used label other than 0/1 makes the result ``nan``. pandas Series and
DataFrames are read as their numpy arrays (``host_jit``). Arguments come as
``(scores, labels)``, the reverse of scikit-learn's ``(y_true, y_score)``.
"""

from __future__ import annotations

import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from fjax.data.checks import check_binary_labels, check_count, check_unit_interval, untruncated
from fjax.losses import _check_hyper, _check_weights, _concrete, weighted_entries

Array = jax.Array
ArrayLike = jax.typing.ArrayLike

__all__ = [
    "mae",
    "rmse",
    "mape",
    "smape",
    "mase",
    "directional_accuracy",
    "roc_auc",
    "average_precision",
    "ks_statistic",
    "gini",
    "brier",
    "log_loss",
    "precision_recall_f1",
    "precision_at_k",
]


def _float(x: ArrayLike) -> Array:
    x = jnp.asarray(x)
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _safe_div(num: Array, den: Array, undefined: float) -> Array:
    """``num / den``, but ``undefined`` where ``den <= 0``; no nan leaks into gradients. A
    NaN ``den`` stays NaN: ``den > 0`` answered a NaN forecast's or weight's ``undefined``
    (a precision of 0, an sMAPE term of 0 for a perfect forecast)."""
    bad = den <= 0
    return jnp.where(bad, undefined, num / jnp.where(bad, 1.0, den))


def _weights(weights: ArrayLike | None, n: int, dtype) -> Array:
    if weights is None:
        return jnp.ones((n,), dtype)
    weights = jnp.asarray(weights, dtype)
    if weights.shape != (n,):
        raise ValueError(
            f"weights must have shape ({n},) (one per sample), got {weights.shape}"
        )
    return weights


def _wmean(per_sample: Array, weights: ArrayLike | None) -> Array:
    """Weighted mean over samples of ``per_sample`` averaged over trailing dims; weights
    ``[n]``, or a leading part of ``per_sample``'s shape (``[n, H]``: per forecast step).

    Zero-weight entries are dropped even where their value is ``inf``/``nan``; ``nan``
    when the total weight is 0.
    """
    if weights is None:
        weights = jnp.ones(per_sample.shape[:1], per_sample.dtype)
    per, w = weighted_entries(per_sample, weights)
    total = jnp.sum(jnp.where(w != 0, w * per, 0.0))
    return _safe_div(total, jnp.sum(w), jnp.nan)


def _pair(pred: ArrayLike, target: ArrayLike) -> tuple[Array, Array]:
    pred, target = _float(pred), _float(target)
    if pred.shape != target.shape or pred.ndim == 0:
        raise ValueError(
            f"pred has shape {pred.shape} but target has shape {target.shape}; they "
            "must match exactly and have a leading sample axis"
        )
    if pred.shape[0] == 0:
        raise ValueError("pred and target have no rows: there is nothing to score")
    return pred, target


def _binary(scores: ArrayLike, labels: ArrayLike, weights: ArrayLike | None):
    """Scores, labels and weights as f32[n]; ``[n, 1]`` inputs are flattened."""
    scores, labels = _float(scores), _float(labels)
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if scores.ndim != 1 or scores.shape != labels.shape:
        raise ValueError(
            f"scores and labels must both be f32[n] (one score per sample), got "
            f"shapes {scores.shape} and {labels.shape}"
        )
    if scores.shape[0] == 0:   # ks_statistic raised an IndexError, brier a ZeroDivisionError
        raise ValueError("scores and labels have no rows: there is nothing to score")
    w = _weights(weights, scores.shape[0], scores.dtype)
    # Traced inputs skip the host check: a used label other than 0/1 (e.g. scores and
    # labels passed in scikit-learn's order, labels first) makes the result NaN, not a
    # plausible number.
    binary = jnp.all((labels == 0) | (labels == 1) | (w == 0))
    return scores, labels, jnp.where(binary, w, jnp.nan)


def _binary_metric(probabilities: bool = False, static_argnames: tuple[str, ...] = ()):
    """`jax.jit`, and for concrete (not traced) inputs a host-side check first: labels
    0/1, weights finite and >= 0, scores finite (and in [0, 1] for `probabilities`) on
    the rows with weight > 0. Without it a NaN score or a label 2 gives a plausible
    number (a NaN on a positive once made an AUC of 1.0)."""
    def check(arguments):
        scores, labels = list(arguments.values())[:2]
        _check_binary_inputs(scores, labels, arguments.get("weights"), probabilities)
        if arguments.get("threshold") is not None:
            check_threshold(arguments["threshold"], "pass the score at which to flag a sample")
    return lambda fn: host_jit(fn, check, static_argnames)


def host_jit(fn, check=None, static_argnames: tuple[str, ...] = ()):
    """`jax.jit(fn)` that first makes pandas arguments (anything with `to_numpy`) numpy
    arrays, which jit refuses ("Argument '0  0.63 ...' of type Series is not a valid JAX
    type"), and int64 ones floats (`untruncated`); then runs `check(arguments by name)`,
    which skips traced values."""
    jitted = jax.jit(fn, static_argnames=static_argnames)
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        for name, value in bound.arguments.items():
            if hasattr(value, "to_numpy") and not isinstance(value, jax.Array):
                value = value.to_numpy()
            if name not in static_argnames:
                bound.arguments[name] = untruncated(value)
        if check is not None:
            check(bound.arguments)
        return jitted(*bound.args, **bound.kwargs)

    return wrapped


def _check_binary_inputs(scores, labels, weights, probabilities: bool) -> None:
    if not _concrete(scores, labels, weights):
        return   # inside jit or vmap: checked where the data entered
    labels = np.asarray(labels, np.float64).reshape(-1)
    scores = np.asarray(scores, np.float64).reshape(-1)
    w = np.ones(labels.shape) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    if scores.shape != labels.shape or w.shape != labels.shape:
        return   # the metric names the shapes
    _check_weights(w)
    used = w > 0
    name = "probabilities" if probabilities else "scores"
    bad = ~np.isfinite(scores) & used
    if bad.any():
        raise ValueError(f"{name} have {int(bad.sum())} NaN or infinite values (first at row "
                         f"{int(np.flatnonzero(bad)[0])}); they have no rank: drop or fix them")
    if probabilities:
        check_unit_interval(scores[used], "probabilities", "pass probabilities (a sigmoid "
                            "of the logits), not raw scores")
    check_binary_labels(labels[used], "labels", "0/1",
                        "map the positive class to 1 and every other class to 0")


def check_probabilities(probs: ArrayLike, labels: ArrayLike) -> None:
    """f[n] probabilities in [0, 1] and f[n] 0/1 labels, finite, one per sample: the
    host-side check of the numpy evaluation helpers (`fjax.calibration`,
    `fjax.decision`), where a NaN, a label 2 or a misaligned array gave a NaN fit, a
    calibrated PD above 1 or a numpy broadcasting error."""
    shapes = np.shape(probs), np.shape(labels)
    if len(shapes[0]) != 1 or shapes[0] != shapes[1] or not shapes[0][0]:
        raise ValueError(f"probabilities and labels must both be [n] with n >= 1 (one per "
                         f"sample), got shapes {shapes[0]} and {shapes[1]}")
    _check_binary_inputs(probs, labels, None, probabilities=True)


def check_threshold(threshold: ArrayLike, fix: str) -> None:
    """A concrete (not traced) threshold without NaN: score >= NaN is False, so it flagged
    nothing (all zeros, every applicant accepted) unsaid. `fix` ends the message."""
    if _concrete(threshold) and np.isnan(threshold).any():
        raise ValueError(f"threshold is NaN; {fix}")


# --------------------------------------------------------------------------- regression


def _check_point_inputs(arguments) -> None:
    """Weights finite and >= 0 (weights 2, -1, 1 gave a plausible weighted mean), and
    `naive_mae` finite and >= 0 (a negative scale gave a negative MASE)."""
    _check_weights(arguments.get("weights"))
    if arguments.get("naive_mae") is not None:
        _check_hyper("naive_mae", arguments["naive_mae"], lambda v: v >= 0, "finite and >= 0",
                     "pass the naive forecast's MAE on the training rows")


def _point_metric(fn):
    """`host_jit` with `_check_point_inputs` on concrete inputs."""
    return host_jit(fn, _check_point_inputs)


@_point_metric
def mae(pred: ArrayLike, target: ArrayLike, weights: ArrayLike | None = None) -> Array:
    """Mean absolute error ``mean |pred - target|``."""
    pred, target = _pair(pred, target)
    return _wmean(jnp.abs(pred - target), weights)


@_point_metric
def rmse(pred: ArrayLike, target: ArrayLike, weights: ArrayLike | None = None) -> Array:
    """Root mean squared error ``sqrt(mean (pred - target)^2)``."""
    pred, target = _pair(pred, target)
    return jnp.sqrt(_wmean(jnp.square(pred - target), weights))


@_point_metric
def mape(pred: ArrayLike, target: ArrayLike, weights: ArrayLike | None = None) -> Array:
    """Mean absolute percentage error ``100 mean |pred - target| / |target|``.

    ``inf`` if a weighted sample has ``target == 0``; prefer :func:`smape` there.
    """
    pred, target = _pair(pred, target)
    return _wmean(100.0 * jnp.abs(pred - target) / jnp.abs(target), weights)


@_point_metric
def smape(pred: ArrayLike, target: ArrayLike, weights: ArrayLike | None = None) -> Array:
    """Symmetric MAPE ``mean 200 |pred - target| / (|pred| + |target|)``, 0 when both 0.

    In percent, bounded by 200. References: Makridakis, *Accuracy measures*, 1993.
    """
    pred, target = _pair(pred, target)
    den = jnp.abs(pred) + jnp.abs(target)
    return _wmean(_safe_div(200.0 * jnp.abs(pred - target), den, 0.0), weights)


@_point_metric
def mase(
    pred: ArrayLike,
    target: ArrayLike,
    naive_mae: ArrayLike,
    weights: ArrayLike | None = None,
) -> Array:
    """Mean absolute scaled error ``mae(pred, target) / naive_mae``; with one ``naive_mae``
    per target column, each column is scaled by its own before the mean, and with one per
    sample (shape ``[n, 1, ...]``: each walk-forward origin's own scale), each sample.

    ``naive_mae`` is the in-sample MAE of the naive (last value) forecast on the
    training set, computed by the caller so no test data leaks into the scale.
    References: Hyndman & Koehler, *Another look at measures of forecast accuracy*, 2006.
    """
    pred, target = _pair(pred, target)
    naive_mae = _float(naive_mae)
    per_sample = (pred.shape[0],) + (1,) * (pred.ndim - 1)
    if naive_mae.ndim and naive_mae.shape not in (pred.shape[1:], per_sample):
        raise ValueError(f"naive_mae must be a scalar or one value per target column "
                         f"{pred.shape[1:]} or per sample {per_sample}, got shape "
                         f"{naive_mae.shape}")
    return _wmean(jnp.abs(pred - target) / naive_mae, weights)


@_point_metric
def directional_accuracy(
    pred: ArrayLike,
    target: ArrayLike,
    last: ArrayLike,
    weights: ArrayLike | None = None,
) -> Array:
    """Weighted share of ``sign(pred - last) == sign(target - last)``.

    ``last: f32[n]`` (or ``pred``'s shape) is the last observed value; it broadcasts over
    ``pred``'s trailing (horizon) dims. A flat forecast of a flat move counts as right.
    """
    pred, target = _pair(pred, target)
    last = _float(last)
    if last.ndim == 0 or last.shape != pred.shape[: last.ndim]:
        raise ValueError(
            f"last must have shape {pred.shape[:1]} (one last value per sample) or "
            f"{pred.shape}, got {last.shape}"
        )
    last = last.reshape(last.shape + (1,) * (pred.ndim - last.ndim))
    hit = jnp.sign(pred - last) == jnp.sign(target - last)
    return _wmean(hit.astype(pred.dtype), weights)


# ------------------------------------------------------------------------ classification


def _group_cumsums(keys: Array, *values: Array) -> list[tuple[Array, Array]]:
    """For each element of ascending-sorted ``keys``: cumsums before / through its tie group.

    Returns, per value array (already in ``keys`` order), ``(before, through)`` where
    ``before[i] = sum(v[keys < keys[i]])`` and ``through[i] = sum(v[keys <= keys[i]])``.
    """
    lo = jnp.searchsorted(keys, keys, side="left")
    hi = jnp.searchsorted(keys, keys, side="right")
    out = []
    for v in values:
        c = jnp.concatenate([jnp.zeros((1,), v.dtype), jnp.cumsum(v)])
        out.append((c[lo], c[hi]))
    return out


def _sorted_by(keys: Array, *values: Array) -> tuple[Array, ...]:
    """Sort ``values`` by ascending ``keys`` (stable)."""
    return lax.sort((keys, *values), num_keys=1, is_stable=True)


@_binary_metric()
def roc_auc(scores: ArrayLike, labels: ArrayLike, weights: ArrayLike | None = None) -> Array:
    """Area under the ROC curve: ``P(s_pos > s_neg) + 0.5 P(s_pos == s_neg)``, weighted.

    Weighted Mann-Whitney U with tied scores credited 1/2, which equals the trapezoidal
    area of ``sklearn.metrics.roc_auc_score``. ``nan`` without positives or negatives.
    References: Hanley & McNeil, *The meaning and use of the area under a ROC curve*, 1982.
    """
    scores, labels, w = _binary(scores, labels, weights)
    wpos, wneg = w * labels, w * (1.0 - labels)
    keys, wpos, wneg = _sorted_by(scores, wpos, wneg)
    [(neg_below, neg_through)] = _group_cumsums(keys, wneg)
    num = jnp.sum(wpos * (neg_below + neg_through)) * 0.5
    return _safe_div(num, jnp.sum(wpos) * jnp.sum(wneg), jnp.nan)


@_binary_metric()
def gini(scores: ArrayLike, labels: ArrayLike, weights: ArrayLike | None = None) -> Array:
    """Gini coefficient (accuracy ratio) ``2 AUC - 1``; ``nan`` where AUC is undefined."""
    return 2.0 * roc_auc(scores, labels, weights) - 1.0


def _descending_counts(scores: Array, labels: Array, w: Array):
    """Sorted by descending score: weights and ``tp``/``fp`` at threshold = own score."""
    keys, wpos, wneg = _sorted_by(-scores, w * labels, w * (1.0 - labels))
    (_, tp), (_, fp) = _group_cumsums(keys, wpos, wneg)
    return wpos, wneg, tp, fp


@_binary_metric()
def average_precision(
    scores: ArrayLike, labels: ArrayLike, weights: ArrayLike | None = None
) -> Array:
    """Average precision ``sum_t (R_t - R_{t-1}) P_t`` over distinct-score thresholds ``t``.

    Step-function (uninterpolated) area under the precision-recall curve, identical to
    ``sklearn.metrics.average_precision_score``: tied scores form one threshold, so each
    positive contributes ``w_i / W_pos`` times the precision at its score's threshold.
    ``nan`` without positives.
    """
    scores, labels, w = _binary(scores, labels, weights)
    wpos, _, tp, fp = _descending_counts(scores, labels, w)
    precision = _safe_div(tp, tp + fp, 0.0)
    return _safe_div(jnp.sum(wpos * precision), jnp.sum(wpos), jnp.nan)


@_binary_metric()
def ks_statistic(
    scores: ArrayLike, labels: ArrayLike, weights: ArrayLike | None = None
) -> Array:
    """Kolmogorov-Smirnov statistic ``max_t |TPR(t) - FPR(t)|`` over score thresholds.

    Thresholds are the distinct scores (tied samples move together), so this equals
    ``max |tpr - fpr|`` of ``sklearn.metrics.roc_curve``. ``nan`` without positives or
    negatives.
    """
    scores, labels, w = _binary(scores, labels, weights)
    _, _, tp, fp = _descending_counts(scores, labels, w)
    p, n = tp[-1], fp[-1]  # totals from the same cumsums, so the last point is exactly (1, 1)
    # |tp/p - fp/n| = |tp n - fp p| / (p n)
    return _safe_div(jnp.max(jnp.abs(tp * n - fp * p)), p * n, jnp.nan)


@_binary_metric(probabilities=True)
def brier(probs: ArrayLike, labels: ArrayLike, weights: ArrayLike | None = None) -> Array:
    """Brier score ``mean (p - y)^2``. References: Brier, *Monthly Weather Review*, 1950."""
    probs, labels, w = _binary(probs, labels, weights)
    return _wmean(jnp.square(probs - labels), w)


LOG_LOSS_EPS = 1e-7   # log_loss clips probabilities to [eps, 1 - eps]: finite at 0 and 1


@_binary_metric(probabilities=True)
def log_loss(
    probs: ArrayLike,
    labels: ArrayLike,
    weights: ArrayLike | None = None,
    eps: float = LOG_LOSS_EPS,
) -> Array:
    """Binary log loss ``-mean [y log p + (1 - y) log(1 - p)]``, ``p`` clipped to
    ``[eps, 1-eps]``."""
    probs, labels, w = _binary(probs, labels, weights)
    p = jnp.clip(probs, eps, 1.0 - eps)
    return _wmean(-(labels * jnp.log(p) + (1.0 - labels) * jnp.log1p(-p)), w)


@_binary_metric()
def precision_recall_f1(
    scores: ArrayLike,
    labels: ArrayLike,
    threshold: ArrayLike,
    weights: ArrayLike | None = None,
) -> dict[str, Array]:
    """Precision ``tp/(tp+fp)``, recall ``tp/(tp+fn)``, F1 ``2tp/(2tp+fp+fn)`` at
    ``score >= threshold``.

    Each is 0 where its denominator is 0 (scikit-learn's ``zero_division=0``).
    """
    scores, labels, w = _binary(scores, labels, weights)
    predicted = (scores >= threshold).astype(scores.dtype)
    tp = jnp.sum(w * predicted * labels)
    fp = jnp.sum(w * predicted * (1.0 - labels))
    fn = jnp.sum(w * (1.0 - predicted) * labels)
    return {
        "precision": _safe_div(tp, tp + fp, 0.0),
        "recall": _safe_div(tp, tp + fn, 0.0),
        "f1": _safe_div(2.0 * tp, 2.0 * tp + fp + fn, 0.0),
    }


@_binary_metric(static_argnames=("k",))
def precision_at_k(
    scores: ArrayLike, labels: ArrayLike, k: int, weights: ArrayLike | None = None
) -> Array:
    """Weighted share of positives among the ``k`` highest-scoring samples with weight > 0.

    Tied scores are broken by index (the earlier sample ranks higher), so the result is
    deterministic. ``k`` is a static integer (Python's or numpy's); with fewer than ``k``
    weighted samples all of them are used. ``nan`` when no sample has weight > 0.
    """
    check_count("k", k, 1)
    scores, labels, w = _binary(scores, labels, weights)
    n = scores.shape[0]
    excluded = (w <= 0).astype(jnp.int32)
    index = jnp.arange(n, dtype=jnp.int32)
    *_, top_w, top_y = lax.sort((excluded, -scores, index, w, labels), num_keys=3)
    top_w, top_y = top_w[:k], top_y[:k]
    top_w = jnp.where(top_w > 0, top_w, 0.0)
    return _safe_div(jnp.sum(top_w * top_y), jnp.sum(top_w), jnp.nan)
