"""Sample-weighted training losses: pure ``jnp`` functions, jit- and vmap-safe.

Every loss is ``L = sum_i w_i l_i / max(sum_i w_i, tiny)`` where ``l_i`` is the
per-sample loss averaged over trailing output dimensions (horizon steps, quantiles)
and ``w: f32[n]`` is a per-sample weight / mask (0 removes a sample; this is how a
cross-validation fold rides the population axis). ``weights=None`` is the plain mean;
all-zero weights give 0. Hyperparameters (``delta``, ``pos_weight``, ``gamma``,
``alpha``) may be traced scalars, so one program serves a vmapped grid of them.

The ``check_*`` functions are host-side (numpy) validators to call once on the data
before training; inside ``jit`` an invalid label cannot raise and silently corrupts the
loss. Called on concrete (not traced) arrays, each loss runs them itself, and checks its
hyperparameters and weights, so a direct call with a label 2 raises instead of returning
a plausible number; traced (the training step), nothing is checked and nothing syncs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fjax.data.checks import (check_binary_labels, check_unit_interval, listed, out_of_range,
                              untruncated)

Array = jax.Array
ArrayLike = jax.typing.ArrayLike

__all__ = [
    "weighted_mean",
    "mse",
    "mae",
    "huber",
    "binary_cross_entropy",
    "focal_loss",
    "softmax_cross_entropy",
    "pinball_loss",
    "gaussian_nll",
    "check_binary_labels",
    "check_class_labels",
]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _float(x: ArrayLike) -> Array:
    """``x`` as a floating array of at least f32 precision (host int64 not wrapped)."""
    x = jnp.asarray(untruncated(x))
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _matched(a: ArrayLike, b: ArrayLike, a_name: str, b_name: str) -> tuple[Array, Array]:
    """``a`` and ``b`` as floats (``_float``) of exactly one shape: silent broadcasting of
    f32[n, 1] against f32[n] to f32[n, n] is a classic bug."""
    a, b = _float(a), _float(b)
    if a.shape != b.shape:
        raise ValueError(
            f"{a_name} has shape {a.shape} but {b_name} has shape {b.shape}; they must "
            f"match exactly (reshape one of them, e.g. `{a_name}.reshape({b_name}.shape)`)"
        )
    return a, b


def _concrete(*values: object) -> bool:
    """True when no value is traced: only then can a check read it on the host."""
    return not any(isinstance(v, jax.core.Tracer) for v in values)


def _check_hyper(name: str, value: ArrayLike, in_range, bounds: str, fix: str) -> None:
    """A concrete (not traced) hyperparameter, finite and with ``in_range(v)`` true; an
    array's refusal lists its bad values (unique, the first few)."""
    if not _concrete(value):
        return
    v, bad = out_of_range(value, in_range)
    if bad:
        got = repr(v.item()) if v.ndim == 0 else f"[{bad}]"
        raise ValueError(f"{name} must be {bounds}, got {got}; {fix}")


def _check_soft_labels(labels: ArrayLike) -> None:
    """Concrete binary-loss labels in [0, 1]: a 2 or a -1 gives a plausible, wrong loss."""
    if not _concrete(labels):
        return
    check_unit_interval(labels, "labels", "a binary loss takes 0/1 or soft labels: map your "
                        "positive class to 1 and every other class to 0 (and pass (logits, "
                        "labels) in that order)")


def _check_weights(weights: ArrayLike | None) -> None:
    """Concrete weights finite and >= 0: a negative weight rewards error, a NaN hides it."""
    if weights is None or not _concrete(weights):
        return
    _, bad = out_of_range(weights, lambda w: w >= 0)
    if bad:
        raise ValueError(f"weights must be finite and >= 0, found [{bad}]; use 0 to drop a sample")


def weighted_mean(per_sample: ArrayLike, weights: ArrayLike | None = None) -> Array:
    """``sum_i w_i l_i / max(sum_i w_i, tiny)`` with ``l_i`` = mean of ``per_sample[i]``.

    Args:
      per_sample: ``f32[n, ...]``; trailing dimensions are averaged per sample.
      weights: ``f32[n]`` non-negative weights, or ``None`` for the plain mean. A zero
        weight removes the sample from the value, even where its loss is ``inf``/``nan``;
        its gradient is zero only where its loss is finite (0 x nan is nan), which is
        why `fit` and `train_population` reject non-finite data before training.
        Weights may also cover leading entries, ``f32[n, H]`` for ``per_sample[n, H,
        ...]`` (a forecast's steps, some unobserved): the sums then run over those
        entries, each the mean of its trailing dimensions (quantiles).

    Returns:
      An f32 scalar; 0 when every weight is 0.
    """
    per_sample = _float(per_sample)
    if per_sample.ndim == 0:
        raise ValueError("per_sample must have a leading sample axis, got a scalar")
    if per_sample.size == 0:
        raise ValueError(f"the loss has no values (shape {per_sample.shape}): pass at least "
                         "one sample")
    _check_weights(weights)
    per, weights = weighted_entries(per_sample, weights)
    if weights is None:
        return jnp.mean(per)
    terms = jnp.where(weights != 0, weights * per, 0.0)
    total = jnp.sum(weights)
    return jnp.sum(terms) / jnp.maximum(total, jnp.finfo(per_sample.dtype).tiny)


def weighted_entries(per_sample: Array, weights: ArrayLike | None) -> tuple[Array, Array | None]:
    """``per_sample`` averaged over the dimensions that ``weights`` (``[n]``, or a
    leading part of ``per_sample``'s shape) does not cover, and the weights."""
    n = per_sample.shape[0]
    if weights is None:
        return jnp.mean(per_sample.reshape(n, -1), axis=1), None
    weights = jnp.asarray(weights, per_sample.dtype)
    if weights.ndim == 0 or weights.shape != per_sample.shape[:weights.ndim]:
        raise ValueError(
            f"weights must have shape ({n},) (one per sample) or a leading part of the "
            f"values' shape {per_sample.shape}, got {weights.shape}"
        )
    return jnp.mean(per_sample.reshape(weights.shape + (-1,)), axis=-1), weights


def mse(pred: ArrayLike, target: ArrayLike, weights: ArrayLike | None = None) -> Array:
    """Mean squared error ``(pred - target)^2``."""
    pred, target = _matched(pred, target, "pred", "target")
    return weighted_mean(jnp.square(pred - target), weights)


def mae(pred: ArrayLike, target: ArrayLike, weights: ArrayLike | None = None) -> Array:
    """Mean absolute error ``|pred - target|``."""
    pred, target = _matched(pred, target, "pred", "target")
    return weighted_mean(jnp.abs(pred - target), weights)


def huber(
    pred: ArrayLike,
    target: ArrayLike,
    weights: ArrayLike | None = None,
    delta: ArrayLike = 1.0,
) -> Array:
    """Huber loss ``0.5 e^2`` for ``|e| <= delta``, else ``delta (|e| - 0.5 delta)``.

    References: Huber, *Robust Estimation of a Location Parameter*, 1964.
    """
    _check_hyper("delta", delta, lambda v: v > 0, "> 0", "use e.g. 1.0")
    pred, target = _matched(pred, target, "pred", "target")
    abs_err = jnp.abs(pred - target)
    quadratic = jnp.minimum(abs_err, delta)
    per = 0.5 * jnp.square(quadratic) + delta * (abs_err - quadratic)
    return weighted_mean(per, weights)


def binary_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    weights: ArrayLike | None = None,
    pos_weight: ArrayLike = 1.0,
) -> Array:
    """``-[pos_weight * y log sigmoid(x) + (1 - y) log sigmoid(-x)]``, stable in ``x``.

    ``pos_weight > 1`` up-weights the positive class (as in PyTorch's
    ``BCEWithLogitsLoss``); labels may be soft (in ``[0, 1]``). Unlike that loss's
    ``weight``, whose mean divides by the row count, ``weights`` divide by their sum.
    """
    logits, labels = _matched(logits, labels, "logits", "labels")
    _check_soft_labels(labels)
    _check_hyper("pos_weight", pos_weight, lambda v: v > 0, "> 0", "use 1.0 for no re-weighting")
    per = -(
        pos_weight * labels * jax.nn.log_sigmoid(logits)
        + (1.0 - labels) * jax.nn.log_sigmoid(-logits)
    )
    return weighted_mean(per, weights)


def focal_loss(
    logits: ArrayLike,
    labels: ArrayLike,
    weights: ArrayLike | None = None,
    gamma: ArrayLike = 2.0,
    alpha: ArrayLike = -1.0,
    pos_weight: ArrayLike = 1.0,
) -> Array:
    """Focal loss ``-alpha_t w_t (1 - p_t)^gamma log p_t``; ``alpha < 0`` disables ``alpha_t``.

    ``p_t = p`` for positives and ``1 - p`` for negatives, ``alpha_t = alpha`` for
    positives and ``1 - alpha`` for negatives, and ``w_t = pos_weight`` for positives
    and 1 for negatives (the class weight of :func:`binary_cross_entropy`). So
    ``gamma = 0, alpha < 0`` is that weighted BCE. The per-row term is optax's
    log-space ``sigmoid_focal_loss``, finite in value and gradient at saturated logits:
    torchvision's ``sigmoid_focal_loss`` (mean), whose default ``alpha`` is 0.25, not -1.
    References: Lin et al., *Focal Loss for Dense Object Detection*, 2017.
    """
    logits, labels = _matched(logits, labels, "logits", "labels")
    _check_soft_labels(labels)
    _check_hyper("gamma", gamma, lambda v: v >= 0, ">= 0", "use e.g. 2.0 (0 is cross-entropy)")
    _check_hyper("alpha", alpha, lambda v: v <= 1, "<= 1", "use a value in [0, 1], or -1 to "
                 "disable it")
    _check_hyper("pos_weight", pos_weight, lambda v: v > 0, "> 0", "use 1.0 for no re-weighting")
    per = optax.losses.sigmoid_focal_loss(logits, labels, alpha=None, gamma=gamma)
    alpha_t = alpha * labels + (1.0 - alpha) * (1.0 - labels)
    per = jnp.where(alpha >= 0, alpha_t * per, per)
    return weighted_mean((pos_weight * labels + (1.0 - labels)) * per, weights)


def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, weights: ArrayLike | None = None
) -> Array:
    """``-log softmax(logits)[label]`` for integer class labels.

    ``logits: f32[n, ..., C]``, ``labels: int[n, ...]`` in ``[0, C)`` (validate once with
    :func:`check_class_labels`; out-of-range labels give garbage under ``jit``).
    Class weights: pass ``weights=class_weight[labels]``; the mean divides by their sum,
    as PyTorch's ``CrossEntropyLoss(weight=class_weight)`` does.
    """
    logits = _float(logits)
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(
            f"labels must be integer class ids, got dtype {labels.dtype}; "
            "convert with labels.astype(jnp.int32)"
        )
    if logits.shape[:-1] != labels.shape:
        raise ValueError(
            f"logits has shape {logits.shape} so labels must have shape "
            f"{logits.shape[:-1]} (one class id per row), got {labels.shape}"
        )
    if _concrete(labels):
        check_class_labels(labels, logits.shape[-1])
    per = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    return weighted_mean(per, weights)


def pinball_loss(
    pred: ArrayLike,
    target: ArrayLike,
    quantiles: Sequence[float] | ArrayLike,
    weights: ArrayLike | None = None,
) -> Array:
    """Quantile (pinball) loss ``max(q e, (q - 1) e)``, ``e = target - pred``, mean over q.

    ``pred: f32[n, ..., Q]`` holds one forecast per quantile, ``target: f32[n, ...]``.
    References: Koenker & Bassett, *Regression Quantiles*, 1978.
    """
    pred, target = _float(pred), _float(target)
    q = jnp.asarray(quantiles, pred.dtype)
    if q.ndim != 1:   # a bare 0.5 was told "pred shape (n, 1) for () quantiles"
        raise ValueError(f"quantiles must be a sequence of levels, got {quantiles!r}; pass "
                         "e.g. (0.5,) for the median or (0.1, 0.5, 0.9)")
    if pred.ndim == 0 or pred.shape[-1] != q.shape[0]:
        raise ValueError(
            f"pred must end in one column per quantile: got pred shape {pred.shape} "
            f"for {q.shape} quantiles"
        )
    _check_hyper("quantiles", quantiles, lambda v: (v > 0) & (v < 1), "in (0, 1)",
                 "use e.g. (0.1, 0.5, 0.9)")
    if pred.shape[:-1] != target.shape:
        raise ValueError(
            f"pred has shape {pred.shape} so target must have shape {pred.shape[:-1]} "
            f"(pred without its quantile axis), got {target.shape}"
        )
    err = target[..., None] - pred
    per = jnp.maximum(q * err, (q - 1.0) * err)
    return weighted_mean(per, weights)


def gaussian_nll(
    mean: ArrayLike,
    log_scale: ArrayLike,
    target: ArrayLike,
    weights: ArrayLike | None = None,
) -> Array:
    """``-log N(target; mean, sigma^2) = 0.5 log(2 pi) + log sigma + 0.5 ((y - mu)/sigma)^2``.

    ``sigma = exp(log_scale)``; ``log_scale`` broadcasts to ``mean``'s shape.
    References: Nix & Weigend, *Estimating the Mean and Variance of the Target
    Probability Distribution*, 1994.
    """
    mean, target = _matched(mean, target, "mean", "target")
    log_scale = _float(log_scale)
    try:
        log_scale = jnp.broadcast_to(log_scale, mean.shape)
    except ValueError:   # lax's "Incompatible types for broadcasting" named neither
        raise ValueError(f"log_scale has shape {log_scale.shape}, which does not broadcast "
                         f"to mean's {mean.shape}; give one of mean's shape (or a scalar)"
                         ) from None
    z = (target - mean) * jnp.exp(-log_scale)
    per = _HALF_LOG_2PI + log_scale + 0.5 * jnp.square(z)
    return weighted_mean(per, weights)


def check_class_labels(labels: ArrayLike, num_classes: int, name: str = "labels") -> None:
    """Host-side: raise ``ValueError`` unless ``labels`` are integer ids in ``[0, C)``."""
    values = np.asarray(labels)
    if values.dtype == bool or not np.issubdtype(values.dtype, np.number):
        raise ValueError(
            f"{name} must be integer class ids for softmax cross-entropy, got dtype "
            f"{values.dtype}; encode them with np.unique({name}, return_inverse=True)"
        )
    integral = np.isfinite(values) & (np.round(values) == values)
    bad = values[~(integral & (values >= 0) & (values < num_classes))]
    if bad.size:
        raise ValueError(
            f"{name} must be integer class ids in [0, {num_classes}) for softmax "
            f"cross-entropy; found values [{listed(np.unique(bad), 10)}]; re-encode the "
            f"classes as 0..{num_classes - 1} (np.unique({name}, return_inverse=True)) "
            "or raise num_classes"
        )
