"""fjax.metrics against scikit-learn (classification) and float64 numpy (regression)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import metrics as skm

from fjax import metrics

N = 160
RTOL = 1e-5


def classification_data(seed, levels=10, n=N):
    """Scores on a grid of ``levels + 1`` values (many ties), labels, positive weights."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.4).astype(np.float32)
    labels[:2] = [0.0, 1.0]  # both classes present
    # Informative but noisy scores, rounded so that ties are frequent.
    raw = np.clip(0.35 * labels + rng.uniform(0.0, 0.65, n), 0.0, 1.0)
    scores = (np.round(raw * levels) / levels).astype(np.float32)
    weights = rng.uniform(0.1, 2.0, n).astype(np.float32)
    return scores, labels, weights


def probs_of(scores):  # the same clip is applied on the fjax side with jnp.clip
    return np.clip(scores, 0.05, 0.95).astype(np.float32)


def sk_ks(labels, scores, weights):
    fpr, tpr, _ = skm.roc_curve(labels, scores, sample_weight=weights, drop_intermediate=False)
    return np.max(np.abs(tpr - fpr))


def sk_prf(labels, scores, threshold, weights):
    pred = (scores >= threshold).astype(int)
    kw = dict(sample_weight=weights, zero_division=0)
    return {
        "precision": skm.precision_score(labels, pred, **kw),
        "recall": skm.recall_score(labels, pred, **kw),
        "f1": skm.f1_score(labels, pred, **kw),
    }


# name -> (fjax metric(scores, labels, weights), sklearn oracle(labels, scores, weights))
CLASSIFICATION = {
    "roc_auc": (
        metrics.roc_auc,
        lambda y, s, w: skm.roc_auc_score(y, s, sample_weight=w),
    ),
    "gini": (
        metrics.gini,
        lambda y, s, w: 2 * skm.roc_auc_score(y, s, sample_weight=w) - 1,
    ),
    "average_precision": (
        metrics.average_precision,
        lambda y, s, w: skm.average_precision_score(y, s, sample_weight=w),
    ),
    "ks_statistic": (metrics.ks_statistic, sk_ks),
    "brier": (
        lambda s, y, w: metrics.brier(jnp.clip(s, 0.05, 0.95), y, w),
        lambda y, s, w: skm.brier_score_loss(y, probs_of(s), sample_weight=w),
    ),
    "log_loss": (
        lambda s, y, w: metrics.log_loss(jnp.clip(s, 0.05, 0.95), y, w),
        lambda y, s, w: skm.log_loss(y, probs_of(s), sample_weight=w),
    ),
}


@pytest.mark.parametrize("name", sorted(CLASSIFICATION))
@pytest.mark.parametrize("levels", [2, 10, 1000], ids=["heavy-ties", "ties", "few-ties"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_matches_sklearn(name, levels, seed):
    ours, oracle = CLASSIFICATION[name]
    s, y, w = classification_data(seed, levels)
    out = ours(s, y, w)
    chex.assert_shape(out, ())
    chex.assert_type(out, jnp.float32)
    np.testing.assert_allclose(out, oracle(y, s.astype(np.float64), w.astype(np.float64)),
                               rtol=RTOL)
    # weights=None is the unweighted metric.
    np.testing.assert_allclose(ours(s, y, None), oracle(y, s.astype(np.float64), None), rtol=RTOL)


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.9, 1.5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_precision_recall_f1_matches_sklearn(threshold, seed):
    s, y, w = classification_data(seed)
    for weights in (w, None):
        out = metrics.precision_recall_f1(s, y, threshold, weights)
        expected = sk_prf(y, s, threshold, weights)
        assert set(out) == {"precision", "recall", "f1"}
        for key in expected:
            np.testing.assert_allclose(out[key], expected[key], rtol=RTOL, err_msg=key)


def test_precision_recall_f1_zero_division_is_zero():
    s = np.array([0.1, 0.2, 0.3], np.float32)
    out = metrics.precision_recall_f1(s, np.zeros(3, np.float32), threshold=0.5)
    assert {k: float(v) for k, v in out.items()} == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_tiny_auc_with_ties_by_hand():
    # pairs (pos, neg): (0.8,0.5) win, (0.8,0.8) tie, (0.5,0.5) tie, (0.5,0.8) loss
    s = np.array([0.8, 0.5, 0.5, 0.8], np.float32)
    y = np.array([1, 1, 0, 0], np.float32)
    np.testing.assert_allclose(metrics.roc_auc(s, y), (1 + 0.5 + 0.5 + 0) / 4)
    # weight 3 on the first positive: (3*1 + 3*0.5 + 0.5 + 0) / (4 * 2)
    w = np.array([3, 1, 1, 1], np.float32)
    np.testing.assert_allclose(metrics.roc_auc(s, y, w), 5.0 / 8.0)


# Metrics with the shared (scores, labels, weights) signature, for the generic tests.
ALL_CLASSIFICATION = {
    **{k: v[0] for k, v in CLASSIFICATION.items()},
    "precision_at_k": lambda s, y, w: metrics.precision_at_k(s, y, 25, w),
    "f1": lambda s, y, w: metrics.precision_recall_f1(s, y, 0.5, w)["f1"],
    "precision": lambda s, y, w: metrics.precision_recall_f1(s, y, 0.5, w)["precision"],
}


@pytest.mark.parametrize("name", sorted(ALL_CLASSIFICATION))
@pytest.mark.parametrize("seed", [0, 1])
def test_zero_weight_equals_dropping_the_row(name, seed):
    fn = ALL_CLASSIFICATION[name]
    s, y, w = classification_data(seed, levels=10)
    rng = np.random.default_rng(seed + 100)
    w[rng.permutation(N)[:60]] = 0.0  # a fixed count keeps one compiled shape across seeds
    keep = w != 0
    np.testing.assert_allclose(fn(s, y, w), fn(s[keep], y[keep], w[keep]), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(ALL_CLASSIFICATION))
def test_vmap_over_stacked_rows_equals_per_row(name):
    fn = ALL_CLASSIFICATION[name]
    rows = [classification_data(seed, levels=10) for seed in range(4)]
    s, y, w = (np.stack(parts) for parts in zip(*rows))
    w[1, ::3] = 0.0  # a fold mask on one member
    batched = jax.jit(jax.vmap(fn))(s, y, w)
    chex.assert_shape(batched, (4,))
    looped = np.array([fn(s[i], y[i], w[i]) for i in range(4)])
    np.testing.assert_allclose(batched, looped, rtol=1e-6)


@pytest.mark.parametrize("name", ["roc_auc", "average_precision", "precision_at_k"])
def test_jit_matches_eager(name):
    fn = ALL_CLASSIFICATION[name]
    s, y, w = classification_data(7, n=40)
    with jax.disable_jit():  # the metrics are jitted at definition; run them op by op
        eager = fn(s, y, w)
    np.testing.assert_allclose(jax.jit(fn)(s, y, w), eager, rtol=1e-6)


def test_undefined_ranking_metrics_are_nan():
    s = np.array([0.2, 0.4, 0.9], np.float32)
    zeros, ones = np.zeros(3, np.float32), np.ones(3, np.float32)
    for fn in (metrics.roc_auc, metrics.gini, metrics.ks_statistic):
        assert np.isnan(fn(s, zeros)), fn
        assert np.isnan(fn(s, ones)), fn
    assert np.isnan(metrics.average_precision(s, zeros))
    np.testing.assert_allclose(metrics.average_precision(s, ones), 1.0)
    # a mask that removes every positive makes AUC undefined too
    y = np.array([1, 0, 0], np.float32)
    assert np.isnan(metrics.roc_auc(s, y, np.array([0, 1, 1], np.float32)))
    assert np.isnan(metrics.precision_at_k(s, y, 2, np.zeros(3, np.float32)))


def test_perfect_and_reversed_rankings():
    s = np.linspace(0, 1, 10).astype(np.float32)
    y = (s > 0.5).astype(np.float32)
    assert float(metrics.roc_auc(s, y)) == 1.0
    assert float(metrics.roc_auc(-s, y)) == 0.0
    assert float(metrics.ks_statistic(s, y)) == 1.0
    assert float(metrics.ks_statistic(-s, y)) == 1.0  # |TPR - FPR|
    assert float(metrics.average_precision(s, y)) == 1.0
    # every score tied: one threshold, AUC = 1/2, KS = 0, AP = prevalence
    flat = np.full(10, 0.3, np.float32)
    assert float(metrics.roc_auc(flat, y)) == 0.5
    assert float(metrics.ks_statistic(flat, y)) == 0.0
    np.testing.assert_allclose(metrics.average_precision(flat, y), y.mean())


def test_precision_at_k_by_hand():
    s = np.array([0.9, 0.8, 0.8, 0.1, 0.95], np.float32)
    y = np.array([0, 1, 0, 1, 1], np.float32)
    # unweighted order: 4 (0.95), 0 (0.9), 1 (0.8, lower index), 2 (0.8), 3
    assert float(metrics.precision_at_k(s, y, 1)) == 1.0
    assert float(metrics.precision_at_k(s, y, 2)) == 0.5
    np.testing.assert_allclose(metrics.precision_at_k(s, y, 3), 2 / 3)
    # weight 0 removes sample 4; weight 2 on sample 0
    w = np.array([2, 1, 1, 1, 0], np.float32)
    assert float(metrics.precision_at_k(s, y, 1, w)) == 0.0
    np.testing.assert_allclose(metrics.precision_at_k(s, y, 2, w), 1 / 3)
    np.testing.assert_allclose(metrics.precision_at_k(s, y, 3, w), 1 / 4)
    # a numpy integer k (as array arithmetic gives) reads as the int; a bool or float is refused
    assert float(metrics.precision_at_k(s, y, np.int64(2), w)) == float(
        metrics.precision_at_k(s, y, 2, w))
    for bad in (True, 2.0, 0):
        with pytest.raises(ValueError, match="k must be an integer >= 1"):
            metrics.precision_at_k(s, y, bad, w)
    # k larger than the number of weighted samples: all of them
    np.testing.assert_allclose(metrics.precision_at_k(s, y, 10, w), 2 / 5)
    # ties broken by index
    tied = np.full(3, 0.5, np.float32)
    assert float(metrics.precision_at_k(tied, np.array([1, 0, 0], np.float32), 1)) == 1.0
    assert float(metrics.precision_at_k(tied, np.array([0, 1, 0], np.float32), 1)) == 0.0
    assert float(metrics.precision_at_k(tied, np.array([0, 1, 0], np.float32), 2)) == 0.5


# -------------------------------------------------------------------------- regression


def regression_data(seed, n=N, horizon=3):
    rng = np.random.default_rng(seed)
    target = rng.normal(1.0, 1.0, (n, horizon)).astype(np.float32)
    pred = (target + rng.normal(0.0, 0.5, (n, horizon))).astype(np.float32)
    pred[0], target[0] = 0.0, 0.0  # smape: 0 when both are 0 (the row gets weight 0 below for mape)
    last = rng.normal(1.0, 1.0, n).astype(np.float32)
    w = rng.uniform(0.1, 2.0, n).astype(np.float32)
    w[rng.random(n) < 0.3] = 0.0
    w[0] = 0.0
    return pred, target, last, w


def ref_mean(per, w):
    per = np.asarray(per, np.float64).reshape(len(per), -1).mean(axis=1)
    if w is None:
        return per.mean()
    keep = w != 0
    return (w[keep] * per[keep]).sum() / w[keep].sum()


def ref_regression(name, p, t, last, w):
    p, t, last = (np.asarray(a, np.float64) for a in (p, t, last))
    e = p - t
    if name == "mae":
        return ref_mean(np.abs(e), w)
    if name == "rmse":
        return np.sqrt(ref_mean(e**2, w))
    if name == "mape":
        with np.errstate(divide="ignore", invalid="ignore"):  # weight-0 row has t == 0
            return ref_mean(100 * np.abs(e) / np.abs(t), w)
    if name == "smape":
        den = np.abs(p) + np.abs(t)
        safe = np.where(den == 0, 1.0, den)
        return ref_mean(np.where(den == 0, 0.0, 200 * np.abs(e) / safe), w)
    if name == "mase":
        return ref_mean(np.abs(e), w) / 0.8
    if name == "directional_accuracy":
        up_p, up_t = np.sign(p - last[:, None]), np.sign(t - last[:, None])
        return ref_mean((up_p == up_t).astype(float), w)
    raise KeyError(name)


REGRESSION = {
    "mae": lambda p, t, last, w: metrics.mae(p, t, w),
    "rmse": lambda p, t, last, w: metrics.rmse(p, t, w),
    "mape": lambda p, t, last, w: metrics.mape(p, t, w),
    "smape": lambda p, t, last, w: metrics.smape(p, t, w),
    "mase": lambda p, t, last, w: metrics.mase(p, t, 0.8, w),
    "directional_accuracy": lambda p, t, last, w: metrics.directional_accuracy(p, t, last, w),
}


@pytest.mark.parametrize("name", sorted(REGRESSION))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_regression_matches_float64_reference(name, seed):
    p, t, last, w = regression_data(seed)
    out = REGRESSION[name](p, t, last, w)
    chex.assert_shape(out, ())
    chex.assert_type(out, jnp.float32)
    np.testing.assert_allclose(out, ref_regression(name, p, t, last, w), rtol=RTOL)
    if name != "mape":  # row 0 has target 0, so unweighted mape is inf
        np.testing.assert_allclose(
            REGRESSION[name](p, t, last, None), ref_regression(name, p, t, last, None), rtol=RTOL
        )


@pytest.mark.parametrize("name", sorted(REGRESSION))
def test_regression_zero_weight_equals_dropping_the_row(name):
    p, t, last, w = regression_data(3)
    keep = w != 0
    fn = REGRESSION[name]
    np.testing.assert_allclose(fn(p, t, last, w), fn(p[keep], t[keep], last[keep], w[keep]),
                               rtol=1e-6)


@pytest.mark.parametrize("name", sorted(REGRESSION))
def test_regression_vmap_over_fold_masks(name):
    p, t, last, _ = regression_data(4)
    masks = np.stack([regression_data(s)[3] for s in range(3)])
    fn = REGRESSION[name]
    batched = jax.vmap(lambda w: fn(p, t, last, w))(masks)
    np.testing.assert_allclose(batched, [fn(p, t, last, m) for m in masks], rtol=1e-6)


def test_regression_zero_total_weight_is_nan():
    p, t, last, _ = regression_data(5)
    assert np.isnan(metrics.mae(p, t, np.zeros(N, np.float32)))


def test_mape_and_smape_by_hand():
    p = np.array([110.0, 90.0, 0.0], np.float32)
    t = np.array([100.0, 100.0, 0.0], np.float32)
    np.testing.assert_allclose(metrics.mape(p[:2], t[:2]), 10.0, rtol=1e-6)
    # 200*10/210, 200*10/190, 0
    np.testing.assert_allclose(metrics.smape(p, t), (2000 / 210 + 2000 / 190) / 3, rtol=1e-6)


def test_directional_accuracy_by_hand():
    last = np.array([1.0, 1.0, 1.0, 1.0], np.float32)
    pred = np.array([2.0, 0.0, 1.5, 1.0], np.float32)
    target = np.array([3.0, 2.0, 0.5, 1.0], np.float32)
    # up/up hit, down/up miss, up/down miss, flat/flat hit
    assert float(metrics.directional_accuracy(pred, target, last)) == 0.5
    w = np.array([1, 1, 1, 2], np.float32)
    np.testing.assert_allclose(metrics.directional_accuracy(pred, target, last, w), 3 / 5)
    # two-step horizon: last broadcasts over the horizon axis
    pred2 = np.stack([pred, pred], axis=1)
    target2 = np.stack([target, [0.0, 3.0, 2.0, 2.0]], axis=1)  # step 2: down, up, up, up
    # step 2 hits: (up, down) miss, (down, up) miss, (up, up) hit, (flat, up) miss
    expected = np.mean([(1 + 0) / 2, (0 + 0) / 2, (0 + 1) / 2, (1 + 0) / 2])
    np.testing.assert_allclose(metrics.directional_accuracy(pred2, target2, last), expected)


def test_shape_errors():
    with pytest.raises(ValueError, match="scores and labels"):
        metrics.roc_auc(np.zeros(5), np.zeros(4))
    with pytest.raises(ValueError, match="weights must have shape"):
        metrics.roc_auc(np.zeros(5), np.zeros(5), np.ones(4))
    with pytest.raises(ValueError, match="pred has shape"):
        metrics.mae(np.zeros((5, 1)), np.zeros(5))


@pytest.mark.parametrize("seed", [0, 1])
def test_regression_metrics_match_sklearn(seed):
    from sklearn.metrics import (mean_absolute_error, mean_absolute_percentage_error,
                                 root_mean_squared_error)
    rng = np.random.default_rng(seed)
    target = rng.normal(5.0, 2.0, size=200)
    pred = target + rng.normal(0.0, 0.5, size=200)
    w = rng.random(200) * (rng.random(200) > 0.2)
    kw = dict(rtol=1e-5)
    np.testing.assert_allclose(metrics.mae(pred, target, w),
                               mean_absolute_error(target, pred, sample_weight=w), **kw)
    np.testing.assert_allclose(metrics.rmse(pred, target, w),
                               root_mean_squared_error(target, pred, sample_weight=w), **kw)
    np.testing.assert_allclose(metrics.mape(pred, target, w),
                               100 * mean_absolute_percentage_error(target, pred, sample_weight=w),
                               **kw)


def test_log_loss_of_certain_predictions_is_finite():
    """Probabilities of exactly 0 and 1 are clipped to [eps, 1 - eps] (eps = 1e-7)."""
    right = float(metrics.log_loss(np.array([1.0, 0.0]), np.array([1.0, 0.0])))
    assert np.isfinite(right) and right == pytest.approx(0.0, abs=1e-6)
    wrong = float(metrics.log_loss(np.array([1.0, 0.0]), np.array([0.0, 1.0])))
    p = np.clip(np.array([1.0, 0.0]), 1e-7, 1 - 1e-7)
    ref = -np.mean([np.log(1 - p[0]), np.log(p[1])])       # float64: -log(1e-7) = 16.12
    # float32 cannot hold 1 - 1e-7 (it rounds to 1 - 1.19e-7): 1% covers that
    assert np.isfinite(wrong) and wrong == pytest.approx(ref, rel=1e-2)


@pytest.mark.parametrize("call, message", [
    (lambda: metrics.roc_auc([0.1, 0.4, np.nan, 0.8], [0, 0, 1, 1]),
     r"scores have 1 NaN or infinite values \(first at row 2\)"),
    (lambda: metrics.average_precision([0.1, 0.4, 0.35, 0.8], [0, 0, 2, 2]),
     r"labels must be 0/1; found values \[2\.0\]; map the positive"),
    (lambda: metrics.roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], -np.ones(4)),
     r"weights must be finite and >= 0, found \[-1\.0\]; use 0 to drop"),
    (lambda: metrics.brier([0.1, 1.4], [0, 1]), r"probabilities must be in \[0, 1\]"),
    (lambda: metrics.precision_at_k([0.1, np.inf], [0, 1], k=1), "scores have 1 NaN"),
])
def test_classification_metrics_refuse_inputs_they_would_misrank(call, message):
    """A NaN score on a positive once gave an AUC of 1.0; labels 1 and 2 an AP of 1.72."""
    with pytest.raises(ValueError, match=message):
        call()


def test_input_checks_skip_zero_weight_rows_and_traced_calls():
    s, y = np.array([0.1, 0.4, np.nan, 0.8]), np.array([0.0, 0.0, 5.0, 1.0])
    w = np.array([1.0, 1.0, 0.0, 1.0])   # the bad row weighs nothing
    assert float(metrics.roc_auc(s, y, w)) == pytest.approx(
        skm.roc_auc_score([0, 0, 1], s[[0, 1, 3]]))
    traced = jax.jit(lambda s, y: metrics.roc_auc(s, y))(jnp.asarray(s[[0, 1, 3]]),
                                                         jnp.asarray([0.0, 0.0, 1.0]))
    assert float(traced) == 1.0


def test_mase_needs_one_scale_per_target_column_or_sample():
    pred, target = np.ones((5, 3)), np.zeros((5, 3))
    with pytest.raises(ValueError, match=r"naive_mae must be a scalar or one value per target "
                                         r"column \(3,\) or per sample \(5, 1\), got shape "
                                         r"\(4,\)"):
        metrics.mase(pred, target, np.ones(4))
    np.testing.assert_allclose(metrics.mase(pred, target, np.array([1.0, 2.0, 4.0])),
                               np.mean([1.0, 0.5, 0.25]), rtol=1e-6)
    per_sample = np.array([1.0, 2.0, 4.0, 1.0, 1.0])[:, None]
    np.testing.assert_allclose(metrics.mase(pred, target, per_sample),
                               np.mean([1.0, 0.5, 0.25, 1.0, 1.0]), rtol=1e-6)


def test_regression_metrics_of_no_rows_say_so():
    with pytest.raises(ValueError, match="no rows: there is nothing to score"):
        metrics.rmse(np.zeros((0,)), np.zeros((0,)))


def test_two_column_scores_are_refused_not_truncated():
    with pytest.raises(ValueError, match="scores and labels"):
        metrics.roc_auc(np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.3]]), np.array([0, 1, 0]))


@pytest.mark.parametrize("metric", [metrics.roc_auc, metrics.average_precision,
                                    metrics.ks_statistic, metrics.gini, metrics.brier,
                                    metrics.log_loss])
def test_traced_labels_other_than_0_1_give_nan_not_a_plausible_number(metric):
    """Inside jit the host check cannot run: labels and scores passed in scikit-learn's
    order (labels first) once gave an AUC of -6.2; a used label other than 0/1 is NaN."""
    rng = np.random.default_rng(0)
    y = jnp.asarray((rng.random(40) < 0.3).astype(np.float32))
    p = jnp.asarray(rng.random(40).astype(np.float32))
    assert np.isnan(float(jax.jit(lambda y, p: metric(y, p))(y, p)))   # labels first: wrong
    assert np.isfinite(float(jax.jit(lambda p, y: metric(p, y))(p, y)))
    w = jnp.ones(40).at[0].set(0.0)   # a label 7 that weighs nothing changes nothing
    assert float(jax.jit(metric)(p, y.at[0].set(7.0), w)) == pytest.approx(
        float(metric(p, y, w)), rel=1e-6)


def test_smape_nan_forecast_is_not_perfect():
    # a NaN forecast scored 0 (den > 0 is False for NaN); mae and rmse give NaN, as numpy
    p, t = np.array([np.nan, 1.0, 0.0]), np.array([1.0, 2.0, 0.0])
    with np.errstate(invalid="ignore"):
        oracle = np.mean(np.where(np.abs(p) + np.abs(t) == 0, 0.0,
                                  200 * np.abs(p - t) / (np.abs(p) + np.abs(t))))
    assert np.isnan(oracle) and np.isnan(metrics.smape(p, t))
    np.testing.assert_allclose(metrics.smape(p[1:], t[1:]), 200 / 3 / 2, rtol=1e-6)


def test_a_nan_weight_under_jit_gives_nan_not_zero_division():
    # traced weights skip the host check; a NaN one made tp + fp NaN, which `den > 0` read as
    # zero division: precision, recall and F1 0.0, plausible numbers
    s, y = np.array([0.9, 0.8, 0.2, 0.1]), np.array([1.0, 0.0, 1.0, 0.0])
    w = np.array([1.0, np.nan, 1.0, 1.0])
    got = jax.jit(lambda w: metrics.precision_recall_f1(s, y, 0.5, w))(w)
    assert all(np.isnan(float(v)) for v in got.values())     # numpy: 1 / (1 + nan) is nan
    w = np.array([1.0, 2.0, 1.0, 1.0])
    clean = jax.jit(lambda w: metrics.precision_recall_f1(s, y, 0.5, w))(w)
    assert float(clean["precision"]) == pytest.approx(skm.precision_score(y, s >= 0.5,
                                                                          sample_weight=w))
    assert float(clean["recall"]) == pytest.approx(skm.recall_score(y, s >= 0.5,
                                                                    sample_weight=w))


@pytest.mark.parametrize("name", ["mae", "rmse", "mape", "smape", "mase",
                                  "directional_accuracy"])
def test_point_metrics_refuse_negative_weights(name):
    # weights 2, -1, 1 gave mae 1.5, the plausible weighted mean sum(w e) / sum(w)
    p, t = np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.5, 0.5])
    args = {"mase": (1.0,), "directional_accuracy": (np.zeros(3),)}.get(name, ())
    fn = getattr(metrics, name)
    with pytest.raises(ValueError, match="weights must be finite and >= 0"):
        fn(p, t, *args, weights=np.array([2.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="weights must be finite and >= 0"):
        fn(p, t, *args, weights=np.array([1.0, np.nan, 1.0]))
    traced = jax.jit(lambda w: fn(p, t, *args, weights=w))(np.ones(3))   # no host check
    np.testing.assert_allclose(traced, fn(p, t, *args), rtol=1e-6)


@pytest.mark.parametrize("scale", [-2.0, np.nan, np.inf, np.array([1.0, -1.0])])
def test_mase_refuses_a_negative_or_nan_scale(scale):
    # naive_mae -2 gave MASE -1.0 where mae is 2
    with pytest.raises(ValueError, match="naive_mae must be finite and >= 0"):
        metrics.mase(np.ones((3, 2)) * 3, np.ones((3, 2)), scale)
    np.testing.assert_allclose(metrics.mase(np.ones((3, 2)) * 3, np.ones((3, 2)), 4.0), 0.5)


def test_metrics_read_pandas_inputs():
    # jit refused a Series with "Argument '0  0.63 ...' of type Series is not a valid JAX type"
    import pandas as pd
    from fjax import intervals
    rng = np.random.default_rng(3)
    s, y, w = rng.random(30), (rng.random(30) < 0.4).astype(float), rng.random(30)
    S, Y, W = pd.Series(s), pd.Series(y), pd.Series(w)
    np.testing.assert_allclose(metrics.roc_auc(S, Y, weights=W),
                               skm.roc_auc_score(y, s, sample_weight=w), rtol=1e-5)
    np.testing.assert_allclose(metrics.roc_auc(pd.DataFrame({"s": s}), Y),
                               skm.roc_auc_score(y, s), rtol=1e-5)
    np.testing.assert_allclose(metrics.log_loss(S, Y), skm.log_loss(y, s), rtol=1e-5)
    np.testing.assert_allclose(metrics.precision_at_k(S, Y, 5), metrics.precision_at_k(s, y, 5))
    np.testing.assert_allclose(metrics.rmse(S, Y, W),
                               np.sqrt(np.average((s - y) ** 2, weights=w)), rtol=1e-5)
    np.testing.assert_allclose(metrics.mase(S, Y, pd.Series([2.0])[0]),
                               np.mean(np.abs(s - y)) / 2, rtol=1e-5)
    np.testing.assert_allclose(intervals.coverage(S - 0.1, S + 0.1, Y),
                               np.mean(np.abs(y - s) <= 0.1), rtol=1e-6)
    np.testing.assert_allclose(intervals.width(S, S + 2), 2.0, rtol=1e-6)
    with pytest.raises(ValueError, match="must match exactly"):
        metrics.mae(pd.DataFrame({"s": s}), Y)   # (n, 1) against (n,): named, not broadcast


@pytest.mark.parametrize("name", ["roc_auc", "gini", "average_precision", "ks_statistic",
                                  "brier", "log_loss", "precision_recall_f1",
                                  "precision_at_k"])
def test_binary_metrics_refuse_empty_inputs(name):
    # ks_statistic raised "index is out of bounds", brier "integer modulo by zero"
    extra = {"precision_recall_f1": (0.5,), "precision_at_k": (3,)}.get(name, ())
    with pytest.raises(ValueError, match="no rows: there is nothing to score"):
        getattr(metrics, name)(np.zeros(0), np.zeros(0), *extra)


def test_a_nan_threshold_is_refused_not_read_as_flagging_nothing():
    # score >= NaN is False: precision, recall and F1 were all 0
    from fjax.decision import confusion
    s, y = np.array([0.2, 0.7, 0.9]), np.array([0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="threshold is NaN"):
        metrics.precision_recall_f1(s, y, np.nan)
    with pytest.raises(ValueError, match="threshold is NaN"):
        confusion(s, y, float("nan"))
    assert confusion(s, y, 0.5) == {"tp": 2, "fp": 0, "fn": 0, "tn": 1}
    # one threshold per row (credit's cross-fitted folds): 0.8 rejects the 0.7
    assert confusion(s, y, np.array([0.1, 0.8, 0.5])) == {"tp": 1, "fp": 1, "fn": 1, "tn": 0}
    with pytest.raises(ValueError, match="threshold is NaN"):
        confusion(s, y, np.array([0.1, np.nan, 0.5]))
    np.testing.assert_allclose(metrics.precision_recall_f1(s, y, 0.8)["recall"], 0.5)


def test_int64_inputs_are_not_wrapped_to_int32():
    # without jax_enable_x64, jnp.asarray wrapped 2**32 to 0: roc_auc 0.0 for 1.0, mae 0
    from fjax import losses
    big = np.array([2**32, 1], np.int64)
    assert float(metrics.roc_auc(big, np.array([1, 0]))) == skm.roc_auc_score([1, 0], big)
    np.testing.assert_allclose(metrics.mae(big, np.zeros(2, np.int64)), np.mean(big), rtol=1e-6)
    np.testing.assert_allclose(losses.mse(big, np.zeros(2, np.int64)),
                               np.mean(big.astype(np.float64) ** 2), rtol=1e-6)
    np.testing.assert_allclose(metrics.precision_at_k(big, np.array([0, 1]), 1), 0.0)
