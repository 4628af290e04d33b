"""fjax.losses against independent float64 numpy references."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fjax import losses

N = 37
QUANTILES = (0.1, 0.5, 0.9)


# ----------------------------------------------------------------- float64 references


def ref_reduce(per, w):
    per = np.asarray(per, np.float64).reshape(len(per), -1).mean(axis=1)
    if w is None:
        return per.mean()
    w = np.asarray(w, np.float64)
    keep = w != 0
    total = w[keep].sum()
    return (w[keep] * per[keep]).sum() / total if total > 0 else 0.0


def softplus(x):  # log(1 + exp(x)) = -log sigmoid(-x)
    return np.logaddexp(0.0, x)


def ref_bce(x, y, pos_weight=1.0):
    return pos_weight * y * softplus(-x) + (1 - y) * softplus(x)


def ref_focal(x, y, gamma, alpha, pos_weight=1.0):
    p = 1.0 / (1.0 + np.exp(-x))
    p_t = np.where(y == 1, p, 1 - p)
    ce = np.where(y == 1, pos_weight * softplus(-x), softplus(x))
    loss = (1 - p_t) ** gamma * ce
    if alpha >= 0:
        loss = np.where(y == 1, alpha, 1 - alpha) * loss
    return loss


def ref_huber(e, delta):
    a = np.abs(e)
    return np.where(a <= delta, 0.5 * e**2, delta * (a - 0.5 * delta))


def ref_softmax_ce(logits, labels):
    m = logits.max(axis=-1, keepdims=True)
    lse = (m + np.log(np.exp(logits - m).sum(axis=-1, keepdims=True)))[..., 0]
    return lse - np.take_along_axis(logits, labels[..., None], axis=-1)[..., 0]


def ref_pinball(pred, target, quantiles):
    cols = []
    for j, q in enumerate(quantiles):
        e = target - pred[..., j]
        cols.append(np.where(e >= 0, q * e, (q - 1) * e))
    return np.stack(cols, axis=-1)


def ref_gaussian_nll(mu, log_sigma, y):
    var = np.exp(2 * log_sigma)
    return 0.5 * np.log(2 * np.pi * var) + (y - mu) ** 2 / (2 * var)


# ---------------------------------------------------------------------------- inputs


def make_inputs(seed):
    rng = np.random.default_rng(seed)
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    return {
        "pred": f32(rng.normal(size=(N, 3))),
        "target": f32(rng.normal(size=(N, 3))),
        "logits": f32(rng.normal(scale=3.0, size=N)),
        "labels": f32(rng.random(N) < 0.35),
        "class_logits": f32(rng.normal(size=(N, 4))),
        "classes": rng.integers(0, 4, size=N).astype(np.int32),
        "qpred": f32(rng.normal(size=(N, 5, len(QUANTILES)))),
        "qtarget": f32(rng.normal(size=(N, 5))),
        "log_scale": f32(rng.normal(scale=0.5, size=(N, 2))),
        "mean": f32(rng.normal(size=(N, 2))),
        "y": f32(rng.normal(size=(N, 2))),
    }


def make_weights(seed):
    rng = np.random.default_rng(seed + 1000)
    w = rng.uniform(0.0, 2.0, size=N)
    w[rng.random(N) < 0.3] = 0.0
    return w.astype(np.float32)


def f64(a):
    return np.asarray(a, np.float64)


# name -> (fjax call, per-sample float64 reference)
CASES = {
    "mse": (
        lambda a, w: losses.mse(a["pred"], a["target"], w),
        lambda a: (f64(a["pred"]) - f64(a["target"])) ** 2,
    ),
    "mae": (
        lambda a, w: losses.mae(a["pred"], a["target"], w),
        lambda a: np.abs(f64(a["pred"]) - f64(a["target"])),
    ),
    "huber": (
        lambda a, w: losses.huber(a["pred"], a["target"], w, delta=0.7),
        lambda a: ref_huber(f64(a["pred"]) - f64(a["target"]), 0.7),
    ),
    "bce": (
        lambda a, w: losses.binary_cross_entropy(a["logits"], a["labels"], w),
        lambda a: ref_bce(f64(a["logits"]), f64(a["labels"])),
    ),
    "bce_pos_weight": (
        lambda a, w: losses.binary_cross_entropy(a["logits"], a["labels"], w, pos_weight=4.0),
        lambda a: ref_bce(f64(a["logits"]), f64(a["labels"]), 4.0),
    ),
    "focal": (
        lambda a, w: losses.focal_loss(a["logits"], a["labels"], w, gamma=2.0),
        lambda a: ref_focal(f64(a["logits"]), f64(a["labels"]), 2.0, -1.0),
    ),
    "focal_alpha": (
        lambda a, w: losses.focal_loss(a["logits"], a["labels"], w, gamma=1.5, alpha=0.25),
        lambda a: ref_focal(f64(a["logits"]), f64(a["labels"]), 1.5, 0.25),
    ),
    "focal_pos_weight": (
        lambda a, w: losses.focal_loss(a["logits"], a["labels"], w, gamma=1.5, alpha=0.25,
                                       pos_weight=4.0),
        lambda a: ref_focal(f64(a["logits"]), f64(a["labels"]), 1.5, 0.25, 4.0),
    ),
    "softmax_ce": (
        lambda a, w: losses.softmax_cross_entropy(a["class_logits"], a["classes"], w),
        lambda a: ref_softmax_ce(f64(a["class_logits"]), a["classes"]),
    ),
    "pinball": (
        lambda a, w: losses.pinball_loss(a["qpred"], a["qtarget"], QUANTILES, w),
        lambda a: ref_pinball(f64(a["qpred"]), f64(a["qtarget"]), QUANTILES),
    ),
    "gaussian_nll": (
        lambda a, w: losses.gaussian_nll(a["mean"], a["log_scale"], a["y"], w),
        lambda a: ref_gaussian_nll(f64(a["mean"]), f64(a["log_scale"]), f64(a["y"])),
    ),
}

RTOL = 2e-5


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_matches_float64_reference(name, seed, weighted):
    fn, ref = CASES[name]
    a = make_inputs(seed)
    w = make_weights(seed) if weighted else None
    out = fn(a, w)
    chex.assert_shape(out, ())
    chex.assert_type(out, jnp.float32)
    np.testing.assert_allclose(out, ref_reduce(ref(a), w), rtol=RTOL, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_all_zero_weights_give_zero(name):
    fn, _ = CASES[name]
    out = fn(make_inputs(0), np.zeros(N, np.float32))
    assert np.isfinite(out)
    assert float(out) == 0.0


@pytest.mark.parametrize("name", sorted(CASES))
def test_zero_weight_equals_removing_the_sample(name):
    fn, _ = CASES[name]
    a, w = make_inputs(3), make_weights(3)
    keep = w != 0
    fn = jax.jit(fn)  # two shapes: one compile each instead of op-by-op dispatch
    dropped = fn({k: v[keep] for k, v in a.items()}, w[keep])
    np.testing.assert_allclose(fn(a, w), dropped, rtol=1e-6)


def test_zero_weight_masks_non_finite_values():
    a, w = make_inputs(4), make_weights(4)
    target = a["target"].copy()
    target[w == 0] = np.nan
    keep = w != 0
    out = losses.mse(a["pred"], target, w)
    np.testing.assert_allclose(out, losses.mse(a["pred"][keep], target[keep], w[keep]), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_jit_matches_eager(name):
    fn, _ = CASES[name]
    a, w = make_inputs(5), make_weights(5)
    jitted = jax.jit(fn)(a, w)
    np.testing.assert_allclose(jitted, fn(a, w), rtol=1e-6)


def test_weighted_mean_none_is_plain_mean_over_trailing_dims():
    per = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_allclose(losses.weighted_mean(per), per.mean(), rtol=1e-7)
    w = np.array([1.0, 0.0, 3.0, 0.0], np.float32)
    expected = (1 * per[0].mean() + 3 * per[2].mean()) / 4
    np.testing.assert_allclose(losses.weighted_mean(per, w), expected, rtol=1e-7)


def test_focal_with_gamma_zero_and_no_alpha_is_bce_with_the_same_class_weight():
    a, w = make_inputs(6), make_weights(6)
    for pw in (1.0, 4.0):
        focal = losses.focal_loss(a["logits"], a["labels"], w, gamma=0.0, alpha=-1.0,
                                  pos_weight=pw)
        bce = losses.binary_cross_entropy(a["logits"], a["labels"], w, pos_weight=pw)
        np.testing.assert_allclose(focal, bce, rtol=1e-6)


def test_pos_weight_scales_positive_term_only():
    a, w = make_inputs(7), make_weights(7)
    x, y = a["logits"], a["labels"]
    base = ref_bce(f64(x), f64(y))
    for pw in (0.5, 1.0, 3.0, 10.0):
        out = losses.binary_cross_entropy(x, y, w, pos_weight=pw)
        np.testing.assert_allclose(out, ref_reduce(ref_bce(f64(x), f64(y), pw), w), rtol=RTOL)
    # pos_weight=3 changes only the positives' contribution, by a factor of 3.
    pos = f64(y) == 1
    expected = ref_reduce(np.where(pos, 3 * base, base), w)
    np.testing.assert_allclose(
        losses.binary_cross_entropy(x, y, w, pos_weight=3.0), expected, rtol=RTOL
    )
    assert float(losses.binary_cross_entropy(x, y, w, pos_weight=3.0)) > float(
        losses.binary_cross_entropy(x, y, w)
    )


def test_bce_and_focal_are_stable_for_extreme_logits():
    x = np.array([-200.0, -50.0, 50.0, 200.0], np.float32)
    y = np.array([1.0, 0.0, 1.0, 0.0], np.float32)
    np.testing.assert_allclose(
        losses.binary_cross_entropy(x, y), ref_reduce(ref_bce(f64(x), f64(y)), None), rtol=1e-6
    )
    grad = jax.jit(jax.grad(losses.binary_cross_entropy))(jnp.asarray(x), y)
    assert np.all(np.isfinite(grad))
    focal = jax.jit(jax.value_and_grad(losses.focal_loss))
    for gamma in (0.0, 0.5, 2.0):
        out, grad = focal(jnp.asarray(x), y, gamma=gamma, pos_weight=5.0)
        np.testing.assert_allclose(
            out, ref_reduce(ref_focal(f64(x), f64(y), gamma, -1.0, 5.0), None), rtol=1e-5
        )
        assert np.all(np.isfinite(grad))


HYPER = {
    "gamma": (lambda a, w, h: losses.focal_loss(a["logits"], a["labels"], w, gamma=h),
              [0.0, 0.5, 1.0, 2.0, 5.0]),
    "alpha": (lambda a, w, h: losses.focal_loss(a["logits"], a["labels"], w, alpha=h),
              [-1.0, 0.0, 0.25, 0.75]),
    "pos_weight": (
        lambda a, w, h: losses.binary_cross_entropy(a["logits"], a["labels"], w, pos_weight=h),
        [0.5, 1.0, 4.0],
    ),
    "focal_pos_weight": (
        lambda a, w, h: losses.focal_loss(a["logits"], a["labels"], w, pos_weight=h),
        [0.5, 1.0, 4.0],
    ),
    "delta": (lambda a, w, h: losses.huber(a["pred"], a["target"], w, delta=h), [0.1, 1.0, 3.0]),
}


@pytest.mark.parametrize("name", sorted(HYPER))
def test_vmap_over_hyperparameter_equals_loop(name):
    fn, values = HYPER[name]
    a, w = make_inputs(8), make_weights(8)
    batched = jax.jit(jax.vmap(lambda h: fn(a, w, h)))(jnp.asarray(values, jnp.float32))
    chex.assert_shape(batched, (len(values),))
    looped = np.array([fn(a, w, v) for v in values])
    np.testing.assert_allclose(batched, looped, rtol=1e-6, atol=1e-7)


def test_traced_hyperparameters_compile_once():
    a, w = make_inputs(9), make_weights(9)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def loss(gamma, alpha):
        return losses.focal_loss(a["logits"], a["labels"], w, gamma=gamma, alpha=alpha)

    for gamma, alpha in [(0.0, -1.0), (2.0, 0.25), (1.0, 0.5)]:
        expected = ref_reduce(ref_focal(f64(a["logits"]), f64(a["labels"]), gamma, alpha), w)
        np.testing.assert_allclose(loss(jnp.float32(gamma), jnp.float32(alpha)), expected,
                                   rtol=RTOL)


def test_vmap_over_population_of_weight_masks():
    a = make_inputs(10)
    masks = np.stack([make_weights(s) for s in range(4)])
    batched = jax.vmap(lambda w: losses.mse(a["pred"], a["target"], w))(masks)
    looped = [ref_reduce((f64(a["pred"]) - f64(a["target"])) ** 2, m) for m in masks]
    np.testing.assert_allclose(batched, looped, rtol=RTOL)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"shape \(4, 1\).*shape \(4,\)"):
        losses.binary_cross_entropy(np.zeros((4, 1)), np.zeros(4))
    with pytest.raises(ValueError, match="weights must have shape"):
        losses.mse(np.zeros(4), np.zeros(4), np.ones(3))
    with pytest.raises(ValueError, match="quantile"):
        losses.pinball_loss(np.zeros((4, 2)), np.zeros(4), QUANTILES)
    with pytest.raises(ValueError, match="integer class ids"):
        losses.softmax_cross_entropy(np.zeros((4, 3)), np.zeros(4, np.float32))


def test_check_binary_labels():
    losses.check_binary_labels(np.array([0, 1, 1, 0]))
    losses.check_binary_labels(np.array([0.0, 1.0]))
    losses.check_binary_labels(np.array([True, False]))
    with pytest.raises(ValueError,
                       match=r"labels must be 0/1.*found values \[2\.0\].*positive class to 1"):
        losses.check_binary_labels(np.array([0.0, 1.0, 2.0, 2.0]))
    with pytest.raises(ValueError, match=r"^y_train must be 0/1.*\[-1, 2\]"):
        losses.check_binary_labels(np.array([-1, 0, 2, 1]), name="y_train")
    with pytest.raises(ValueError, match="nan"):
        losses.check_binary_labels(np.array([0.0, np.nan]))


def test_check_class_labels():
    losses.check_class_labels(np.array([0, 1, 2, 2]), num_classes=3)
    with pytest.raises(ValueError, match=r"\[0, 3\).*found values \[3, 7\]"):
        losses.check_class_labels(np.array([0, 3, 7, 1]), num_classes=3)
    with pytest.raises(ValueError, match=r"found values \[0\.5\]"):
        losses.check_class_labels(np.array([0.0, 0.5]), num_classes=2)
    with pytest.raises(ValueError, match="integer class ids"):
        losses.check_class_labels(np.array(["a", "b"]), num_classes=2)


@pytest.mark.parametrize("name", ["bce", "focal"])
def test_supervised_loss_applies_every_hyperparameter_of_its_loss(name):
    """Each per-member field of LossConfig reaches the loss, from the config and as a
    population's override (a focal run once ignored pos_weight)."""
    from fjax.config import LossConfig
    from fjax.train.objective import supervised_loss

    a, w = make_inputs(11), make_weights(11)
    x, y = f64(a["logits"]), f64(a["labels"])

    def ref(pos_weight, gamma, alpha):
        per = (ref_bce(x, y, pos_weight) if name == "bce"
               else ref_focal(x, y, gamma, alpha, pos_weight))
        return ref_reduce(per, w)

    cfg = LossConfig(name=name, pos_weight=3.0, focal_gamma=1.5, focal_alpha=0.25)
    loss_fn = supervised_loss(lambda p, x, deterministic: x[:, None], cfg)
    batch = {"x": a["logits"], "y": a["labels"][:, None], "weight": w}
    np.testing.assert_allclose(loss_fn(None, batch, None)[0], ref(3.0, 1.5, 0.25), rtol=RTOL)
    override = {"pos_weight": jnp.float32(0.5), "focal_gamma": jnp.float32(0.5),
                "focal_alpha": jnp.float32(-1.0)}
    np.testing.assert_allclose(loss_fn(None, batch, None, override)[0], ref(0.5, 0.5, -1.0),
                               rtol=RTOL)


def test_focal_alpha_zero_weights_only_the_negatives():
    """alpha = 0 is a valid alpha (alpha_t = 1 - y), not the "disabled" sentinel (alpha < 0)."""
    x = np.array([-2.0, -0.5, 0.3, 1.5, 3.0, -1.0], np.float32)
    y = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0], np.float32)
    out = float(losses.focal_loss(x, y, gamma=2.0, alpha=0.0))
    ref = ref_reduce(ref_focal(x.astype(np.float64), y.astype(np.float64), 2.0, 0.0), None)
    np.testing.assert_allclose(out, ref, rtol=1e-5)
    negatives_only = ref_focal(x.astype(np.float64), y.astype(np.float64), 2.0, -1.0) * (1 - y)
    np.testing.assert_allclose(out, negatives_only.mean(), rtol=1e-5)


def test_weighted_mean_with_total_weight_below_one():
    """Weights summing to < 1 (e.g. normalised sample weights) are still a weighted mean."""
    per = np.array([1.0, 3.0, 10.0])
    w = np.array([0.1, 0.3, 0.0])
    ref = float(np.sum(w * per) / np.sum(w))          # 2.5
    assert float(losses.weighted_mean(per, w)) == pytest.approx(ref, rel=1e-6)
    assert float(losses.mse(jnp.zeros(3), jnp.sqrt(per), w)) == pytest.approx(ref, rel=1e-6)


BAD_LOSS_CALLS = {
    "bce label 2": (lambda: losses.binary_cross_entropy(np.zeros(3), [0.0, 1.0, 2.0]),
                    r"labels must be in \[0, 1\].*found values \[2\.0\]"),
    "bce label -1": (lambda: losses.binary_cross_entropy(np.zeros(3), [0.0, 1.0, -1.0]),
                     r"labels must be in \[0, 1\].*\[-1\.0\]"),
    "focal label nan": (lambda: losses.focal_loss(np.zeros(2), [np.nan, 1.0]), r"\[nan\]"),
    "softmax label C": (lambda: losses.softmax_cross_entropy(np.zeros((3, 4)), [0, 1, 4]),
                        r"class ids in \[0, 4\).*found values \[4\]"),
    "softmax label -1": (lambda: losses.softmax_cross_entropy(np.zeros((2, 4)), [0, -1]),
                         r"found values \[-1\]"),
    "focal gamma < 0": (lambda: losses.focal_loss(np.zeros(2), [0.0, 1.0], gamma=-1.0),
                        r"gamma must be >= 0, got -1\.0"),
    "focal alpha > 1": (lambda: losses.focal_loss(np.zeros(2), [0.0, 1.0], alpha=2.0),
                        r"alpha must be <= 1.*-1 to disable"),
    "bce pos_weight < 0": (lambda: losses.binary_cross_entropy(np.zeros(2), [0.0, 1.0],
                                                               pos_weight=-1.0),
                           r"pos_weight must be > 0"),
    "huber delta < 0": (lambda: losses.huber(np.zeros(2), np.ones(2), delta=-1.0),
                        r"delta must be > 0"),
    "quantile 1.5": (lambda: losses.pinball_loss(np.zeros((2, 2)), np.zeros(2), [0.5, 1.5]),
                     r"quantiles must be in \(0, 1\), got \[1\.5\]"),
    "quantile bare": (lambda: losses.pinball_loss(np.zeros((2, 1)), np.zeros(2), 0.5),
                      r"quantiles must be a sequence of levels, got 0\.5; pass e\.g\. \(0\.5,\)"),
    "quantile 0": (lambda: losses.pinball_loss(np.zeros((2, 1)), np.zeros(2), [0.0]),
                   r"quantiles must be in \(0, 1\)"),
    "weight < 0": (lambda: losses.mse(np.zeros(2), np.ones(2), [1.0, -1.0]),
                   r"weights must be finite and >= 0, found \[-1\.0\]"),
    "weight nan": (lambda: losses.mse(np.zeros(2), np.ones(2), [1.0, np.nan]),
                   r"weights must be finite.*\[nan\]"),
    "weight inf": (lambda: losses.mse(np.zeros(2), np.ones(2), [1.0, np.inf]),
                   r"weights must be finite.*\[inf\]"),
    "no rows": (lambda: losses.mse(np.zeros(0), np.zeros(0)), r"no values \(shape \(0,\)\)"),
}


@pytest.mark.parametrize("case", sorted(BAD_LOSS_CALLS))
def test_concrete_bad_input_raises_naming_the_argument(case):
    """Called on concrete arrays, a loss refuses what would be a plausible wrong number
    (a BCE with label 2 was negative; a quantile 1.5 or a negative weight rewarded
    error) or a deep ZeroDivisionError (no rows)."""
    call, message = BAD_LOSS_CALLS[case]
    with pytest.raises(ValueError, match=message):
        call()


def test_traced_inputs_are_not_checked():
    """Inside jit the checks step aside (no host sync, no concretization error)."""
    bce = jax.jit(losses.binary_cross_entropy)(jnp.zeros(2), jnp.array([0.0, 2.0]))
    focal = jax.jit(lambda g: losses.focal_loss(jnp.zeros(2), jnp.array([0.0, 1.0]),
                                                gamma=g))(-1.0)
    assert bce.shape == () and focal.shape == ()


def test_gaussian_nll_names_a_log_scale_that_does_not_fit_the_mean():
    # lax's "Incompatible types for broadcasting: input type=float32[4] ..." named neither
    mean, target = np.zeros((4, 1)), np.ones((4, 1))
    with pytest.raises(ValueError, match=r"log_scale has shape \(4,\).*mean's \(4, 1\)"):
        losses.gaussian_nll(mean, np.zeros(4), target)
    # log sigma = 0: 0.5 log(2 pi) + 0.5 (1 - 0)^2, by hand
    np.testing.assert_allclose(losses.gaussian_nll(mean, 0.0, target),
                               0.5 * np.log(2 * np.pi) + 0.5, rtol=1e-6)
