"""Scorecard scaling, PSI, KS/Gini, calibration and the cost threshold against
hand-computed cases and scikit-learn."""

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from scipy import stats
from sklearn.linear_model import LogisticRegression

from fjax import metrics
from fjax.calibration import Platt
from fjax.calibration import (calibration_in_the_large, calibration_slope,
                              expected_calibration_error, fit_isotonic, fit_platt,
                              reliability_bins)
from fjax.decision import bayes_threshold, best_threshold, confusion, expected_cost
from fjax.scorecard import ScoreScale
from fjax.stability import psi, psi_bins, psi_chance, psi_chance_folds, psi_verdict, shares

RNG = np.random.default_rng(0)


def test_score_scaling_hits_base_odds_and_doubles_every_pdo():
    scale = ScoreScale(base_score=600, base_odds=50, pdo=20)
    np.testing.assert_allclose(scale.from_pd(1 / 51), 600)       # odds 50:1 -> 600
    np.testing.assert_allclose(scale.from_pd(1 / 101), 620)      # odds 100:1 -> 620
    np.testing.assert_allclose(scale.from_pd(1 / 26), 580)       # odds 25:1 -> 580
    np.testing.assert_allclose(scale.from_logit(np.log(0.3 / 0.7)), scale.from_pd(0.3))


def test_the_reason_floor_is_half_a_point_on_the_deployed_scale():
    """pdo 20 and a Platt slope of 2: 0.5 points are 0.5 ln 2 / 40 in the model's logit."""
    scale = ScoreScale(pdo=20.0, slope=2.0)
    assert scale.material_logit() == pytest.approx(0.5 * np.log(2) / 40, rel=1e-12)
    assert scale.points(scale.material_logit()) == pytest.approx(-0.5, rel=1e-12)


def test_psi_matches_a_hand_computed_case():
    expected = np.arange(1, 11, dtype=float)          # one value per decile bin
    actual = np.array([1, 1, 1, 1, 1, 2, 3, 4, 5, 6], float)
    # shares: bin 0 holds 0.5 (vs 0.1), bins 1-5 hold 0.1 each, bins 6-9 are empty -> 1e-4
    hand = (0.5 - 0.1) * np.log(0.5 / 0.1) + 4 * (1e-4 - 0.1) * np.log(1e-4 / 0.1)
    assert psi(expected, actual) == pytest.approx(hand, rel=1e-12)
    assert psi(expected, expected) == 0.0


def test_ks_and_gini_match_hand_computed_cases():
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    labels = np.array([0, 0, 1, 0, 1, 1])
    # at threshold 0.5: TPR 2/3, FPR 0; 8 of the 9 (pos, neg) pairs are ordered right
    assert float(metrics.ks_statistic(scores, labels)) == pytest.approx(2 / 3, abs=1e-6)
    assert float(metrics.gini(scores, labels)) == pytest.approx(2 * 8 / 9 - 1, abs=1e-6)


def test_cost_threshold_is_the_brute_force_minimum():
    pd_ = RNG.uniform(size=300)
    y = (RNG.uniform(size=300) < pd_).astype(float)
    t = best_threshold(pd_, y, cost_fn=5.0, cost_fp=1.0)
    every = [expected_cost(pd_, y, c, 5.0, 1.0) for c in np.r_[np.unique(pd_), 2.0]]
    assert expected_cost(pd_, y, t, 5.0, 1.0) == pytest.approx(min(every), abs=1e-12)
    c = confusion(pd_, y, t)
    assert sum(c.values()) == 300
    assert (5 * c["fn"] + c["fp"]) / 300 == pytest.approx(min(every))
    # costs make rejecting cheap: the threshold falls below the 50% mark
    assert t < 0.5


def test_platt_scaling_equals_unpenalised_scikit_learn():
    raw = RNG.uniform(0.02, 0.98, size=400)
    y = (RNG.uniform(size=400) < raw ** 2).astype(float)   # miscalibrated on purpose
    platt = fit_platt(raw, y)
    logit = np.log(raw / (1 - raw))[:, None]
    ref = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(logit, y)
    np.testing.assert_allclose([platt.a, platt.b], [ref.coef_[0, 0], ref.intercept_[0]],
                               rtol=1e-5, atol=1e-6)
    assert expected_calibration_error(platt(raw), y) < expected_calibration_error(raw, y)


def test_calibration_slope_and_in_the_large_match_float64_oracles():
    """Slope: scikit-learn's unpenalised (C = inf) logistic regression on logit(PD); CITL:
    the root of its score equation by scipy's brentq; PDs of 0 and 1 clipped as log-loss."""
    from scipy.optimize import brentq
    from scipy.special import expit, logit

    raw = np.r_[RNG.uniform(0.02, 0.98, size=400), 0.0, 1.0, 0.0, 1.0]
    y = np.r_[(RNG.uniform(size=400) < raw[:400] ** 2).astype(float), 0, 1, 1, 0]
    s = logit(np.clip(raw, metrics.LOG_LOSS_EPS, 1 - metrics.LOG_LOSS_EPS))
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(s[:, None], y)
    assert calibration_slope(raw, y) == pytest.approx(ref.coef_[0, 0], abs=1e-6)
    citl = brentq(lambda a: np.sum(expit(a + s) - y), -50, 50, xtol=1e-14)
    assert abs(citl) > 0.1 and calibration_in_the_large(raw, y) == pytest.approx(citl, abs=1e-6)
    # PDs far too low (plain Newton from 0 steps to 5e5 here): the bracket holds it
    tiny, half = np.full(100, 1e-6), np.r_[np.ones(50), np.zeros(50)]
    assert calibration_in_the_large(tiny, half) == pytest.approx(-logit(1e-6), abs=1e-6)


def test_calibrated_pds_have_slope_one_and_citl_zero():
    """y ~ Bernoulli(PD): slope near 1 and CITL near 0; PDs made too extreme (logit
    doubled) halve the slope, PDs too low (logit - 0.5) give a CITL near 0.5."""
    from scipy.special import expit, logit

    p = expit(RNG.normal(-1.0, 1.5, size=200_000))
    y = (RNG.uniform(size=p.size) < p).astype(float)
    assert calibration_slope(p, y) == pytest.approx(1, abs=0.02)
    assert calibration_in_the_large(p, y) == pytest.approx(0, abs=0.02)
    assert calibration_slope(expit(2 * logit(p)), y) == pytest.approx(0.5, abs=0.01)
    assert calibration_in_the_large(expit(logit(p) - 0.5), y) == pytest.approx(0.5, abs=0.02)


def test_calibration_slope_and_citl_are_none_without_a_finite_fit():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    assert calibration_slope(p, np.zeros(4)) is None
    assert calibration_in_the_large(p, np.zeros(4)) is None
    assert calibration_slope(p, np.array([0, 0, 1, 1.0])) is None    # separated: b infinite
    assert calibration_slope(np.full(4, 0.3), np.array([0, 1, 0, 1.0])) is None   # constant
    assert calibration_in_the_large(np.full(4, 0.3), np.array([0, 1, 0, 1.0])) == (
        pytest.approx(-np.log(0.3 / 0.7), abs=1e-9))


def shrunk_isotonic(x: np.ndarray, y: np.ndarray):
    """Oracle: scikit-learn's least-squares blocks, each rate shrunk by hand to (bads +
    0.5) / (n + 1); then, while two neighbours' shrunk rates do not rise, the leftmost
    such pair merged (and shrunk once). Linear between blocks, flat beyond them; and how
    many merges the shrinking needed."""
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    fit = IsotonicRegression().fit(x, y).predict(xs)
    cuts = np.r_[0, np.flatnonzero(np.abs(np.diff(fit)) > 1e-12) + 1, len(xs)]
    blocks = [[ys[a:b].sum(), b - a, xs[a], xs[b - 1]] for a, b in zip(cuts, cuts[1:])]
    rate = lambda b: (b[0] + 0.5) / (b[1] + 1)                   # noqa: E731
    merges = 0
    while (bad := [i for i in range(len(blocks) - 1)
                   if rate(blocks[i]) >= rate(blocks[i + 1])]):
        i = bad[0]
        left, right = blocks[i], blocks.pop(i + 1)
        blocks[i] = [left[0] + right[0], left[1] + right[1], left[2], right[3]]
        merges += 1
    knots = np.concatenate([[b[2], b[3]] for b in blocks])
    values = np.repeat([rate(b) for b in blocks], 2)
    return (lambda p: np.interp(p, knots, values)), merges


def test_isotonic_calibration_is_scikit_learns_with_each_block_shrunk():
    rng, merged = np.random.default_rng(4), 0
    for _ in range(30):
        n = int(rng.integers(20, 300))
        raw = np.round(rng.uniform(size=n), 2)                  # ties included
        y = (rng.uniform(size=n) < raw).astype(float)
        oracle, merges = shrunk_isotonic(raw, y)
        grid = np.r_[raw, np.linspace(-0.1, 1.1, 57)]
        np.testing.assert_allclose(fit_isotonic(raw, y)(grid), oracle(grid), atol=1e-12)
        merged += merges > 0
    assert merged >= 5      # the cases include blocks the shrinking reordered


def test_isotonic_blocks_shrunk_by_hand_never_reach_0_or_1():
    """Least squares: 0 for the first applicant (a good), 1/8 for the next eight (one
    bad), 1 for the last two (bads). Shrunk: 0.5/2 = 0.25 > 1.5/9, so the first two
    blocks pool to 1.5/10 = 0.15; the last is 2.5/3, not 1."""
    pd_ = np.linspace(0.05, 0.55, 11)
    y = np.array([0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1], float)
    np.testing.assert_allclose(IsotonicRegression().fit(pd_, y).predict(pd_),
                               [0] + [1 / 8] * 8 + [1, 1])
    iso = fit_isotonic(pd_, y)
    assert shrunk_isotonic(pd_, y)[1] == 1
    np.testing.assert_allclose(iso(pd_), [0.15] * 9 + [2.5 / 3] * 2, atol=1e-15)
    # beyond the fitted PDs: the end blocks' values; between blocks: linear
    np.testing.assert_allclose(iso(np.array([0.0, 0.475, 1.0])),
                               [0.15, (0.15 + 2.5 / 3) / 2, 2.5 / 3], atol=1e-15)


def test_expected_calibration_error_by_hand():
    pd_ = np.array([0.05, 0.05, 0.15, 0.95])
    y = np.array([0, 1, 0, 1])
    # bins 0, 1, 9: |0.05 - 0.5| * 2/4 + |0.15 - 0| * 1/4 + |0.95 - 1| * 1/4
    hand = 0.45 * 0.5 + 0.15 * 0.25 + 0.05 * 0.25
    assert expected_calibration_error(pd_, y) == pytest.approx(hand)


def test_bayes_threshold_is_where_rejecting_and_accepting_cost_the_same():
    """German credit's 5:1 costs: reject when 5 p >= 1 - p, i.e. p >= 1/6."""
    assert bayes_threshold(cost_fn=5.0, cost_fp=1.0) == pytest.approx(1 / 6)
    t = bayes_threshold(cost_fn=2.0, cost_fp=3.0)
    assert 2.0 * t == pytest.approx(3.0 * (1 - t))     # cost of accepting == of rejecting


def test_a_pd_equal_to_the_threshold_is_rejected():
    """The decision rule is PD >= t (module docstring), not PD > t."""
    assert confusion(np.array([0.2, 0.5]), np.array([0, 1]), 0.5) == {
        "tp": 1, "fp": 0, "fn": 0, "tn": 1}


def test_psi_stays_finite_when_an_expected_bin_is_empty():
    """Ties at the low end leave the first bin of `expected` empty: its share is floored."""
    expected = np.r_[np.zeros(300), np.arange(1, 701)]
    # cuts: 0, 0.7, 100.6, 200.5, ..., 600.1 -> shares 0 (below 0), 0.3 (the zeros),
    # then 0.1 for each of 1-100, 101-200, ..., 601-700
    assert psi(expected, expected) == 0.0
    actual = np.r_[np.full(100, -1.0), np.zeros(200), np.arange(1, 701)]
    hand = (0.1 - 1e-4) * np.log(0.1 / 1e-4) + (0.2 - 0.3) * np.log(0.2 / 0.3)
    assert psi(expected, actual) == pytest.approx(hand, rel=1e-12)


def test_psi_bins_are_interior_quantiles_of_equal_share():
    """`bins` bins need bins - 1 interior cuts; the maximum is not a cut."""
    x = np.random.default_rng(3).normal(size=1000)
    edges = psi_bins(x, 10)
    assert len(edges) == 9 and edges.min() > x.min() and edges.max() < x.max()
    np.testing.assert_allclose(shares(x, edges), np.full(10, 0.1), atol=2e-3)


def test_psi_chance_is_the_95th_percentile_of_psi_between_same_size_samples():
    """Against a brute-force loop of `psi` itself (its own quantile bins on each resample
    of 1,000 training scores, and 20 applicants drawn from them): 20 applicants of the
    training population reach a PSI far above the rule of thumb's 0.25 by chance, and
    above the chi-square approximation, which their empty bins break. For large samples
    it is that approximation, chi2_95(9) (1/n + 1/N) (Yurdakul 2018)."""
    train = np.random.default_rng(5).normal(size=1000)
    rng = np.random.default_rng(1)
    loop = [psi(rng.choice(train, 1000), rng.choice(train, 20)) for _ in range(2000)]
    chi2 = stats.chi2.ppf(0.95, 9) * (1 / 20 + 1 / 1000)
    assert psi_chance(train, 20) == pytest.approx(np.quantile(loop, 0.95), rel=0.1)
    assert psi_chance(train, 20) > 2 * max(chi2, 0.25)
    assert psi_chance(train, 5000, 20000) == pytest.approx(
        stats.chi2.ppf(0.95, 9) * (1 / 5000 + 1 / 20000), rel=0.1)


def test_psi_chance_folds_is_what_k_cv_folds_mean_and_largest_psi_reach():
    """Against a brute-force loop of `psi` over random 5-fold partitions of 1,000 scores of
    one population (each fold's validation 200 against its training 800, its own quantile
    bins): the 95th percentiles of the folds' mean PSI and of their largest. One fold's
    level, which the report read the mean against, is passed by the mean 1 time in
    hundreds and by one of the 5 folds about 1 time in 5."""
    rng = np.random.default_rng(2)
    means, largest = [], []
    for _ in range(1000):
        x = rng.normal(size=1000)
        fold = rng.permutation(np.arange(1000) % 5)
        fold_psi = [psi(x[fold != j], x[fold == j]) for j in range(5)]
        means.append(np.mean(fold_psi))
        largest.append(np.max(fold_psi))
    train = rng.normal(size=1000)
    chance_mean, chance_max = psi_chance_folds(train, 200, 800, 5)
    assert chance_mean == pytest.approx(np.quantile(means, 0.95), rel=0.1)
    assert chance_max == pytest.approx(np.quantile(largest, 0.95), rel=0.1)
    one_fold = psi_chance(train, 200, 800)
    assert psi_chance_folds(train, 200, 800, 1) == (one_fold, one_fold)
    assert np.mean(np.array(means) > one_fold) < 0.01
    assert 0.1 < np.mean(np.array(largest) > one_fold) < 0.35


def test_psi_verdict_sizes_only_a_psi_beyond_chance():
    assert "no evidence of a shift" in psi_verdict(1.684, 1.9)
    assert "shifted" not in psi_verdict(1.684, 1.9)
    assert psi_verdict(1.684, 0.5).endswith("shifted")
    assert "some shift" in psi_verdict(0.15, 0.05)
    assert "stable" in psi_verdict(0.05, 0.01)


def test_scores_of_certain_pds_are_finite():
    """PD 0 and 1 are clipped to eps, not sent to logit's +-inf."""
    scale = ScoreScale()
    got = scale.from_pd(np.array([0.0, 1.0]))
    assert np.isfinite(got).all()
    eps_logit = np.log(1e-12 / (1 - 1e-12))
    np.testing.assert_allclose(got, [scale.offset - scale.factor * eps_logit,
                                     scale.offset + scale.factor * eps_logit], rtol=1e-5)
    # (1 - 1e-12 is not exact in float64, hence the tolerance)


def test_a_pd_of_one_falls_in_the_last_reliability_bin():
    """PD 1.0 would index bin 10 of 10 without the clip."""
    mean, rate, count = reliability_bins(np.array([0.05, 1.0]), np.array([0, 1]))
    assert len(mean) == len(rate) == len(count) == 10
    assert count[0] == 1 and count[9] == 1 and count.sum() == 2
    assert mean[9] == 1.0 and rate[9] == 1.0


def test_platt_identity_keeps_extreme_pds():
    pd_ = np.array([1e-6, 1e-4, 0.5, 1 - 1e-5])
    np.testing.assert_allclose(Platt(a=1.0, b=0.0)(pd_), pd_, rtol=1e-6)


def test_best_threshold_takes_the_lowest_of_tied_thresholds():
    # cuts: reject all (2/3), 0.3 (1/3), 0.7 (2/3), reject none (1/3): 0.3 and "none" tie
    t = best_threshold(np.array([0.1, 0.5, 0.9]), np.array([0, 1, 0]), 1.0, 1.0)
    assert t == pytest.approx(0.3)


def test_best_threshold_can_reject_everyone():
    pd_, y = np.array([0.1, 0.9]), np.array([1, 1])
    t = best_threshold(pd_, y, cost_fn=1.0, cost_fp=1.0)
    assert t <= 0.1 and expected_cost(pd_, y, t, 1.0, 1.0) == 0.0


def test_negative_costs_are_refused():
    with pytest.raises(ValueError, match="costs must be >= 0"):
        best_threshold(np.array([0.1, 0.9]), np.array([0, 1]), cost_fn=1.0, cost_fp=-1.0)


P, Y = np.array([0.1, 0.4, 0.6, 0.9]), np.array([0, 1, 0, 1])


@pytest.mark.parametrize("call", [fit_platt, fit_isotonic, expected_calibration_error,
                                  lambda p, y: best_threshold(p, y, 5.0, 1.0),
                                  lambda p, y: confusion(p, y, 0.5)],
                         ids=["platt", "isotonic", "ece", "best_threshold", "confusion"])
@pytest.mark.parametrize("pd_, y, match", [
    (np.r_[np.nan, P[1:]], Y, r"probabilities have 1 NaN or infinite values \(first at row 0\)"),
    (P, 2 * Y, r"labels must be 0/1; found values \[2\.0\]"),     # platt: a fit; isotonic: PD 2
    (P * 3, Y, r"probabilities must be in \[0, 1\]; found values \[1\.2.*, 2\.7\]; pass prob"),
    (P[:3], Y, r"must both be \[n\] .*got shapes \(3,\) and \(4,\)"),   # numpy's broadcast
    (P[:0], Y[:0], r"with n >= 1"),
])
def test_calibration_and_decisions_refuse_what_the_metrics_refuse(call, pd_, y, match):
    """As fjax.metrics (and scikit-learn) refuse them; before, these gave a NaN Platt fit, an
    isotonic map to 2, an ECE above 1, or numpy's broadcasting error."""
    with pytest.raises(ValueError, match=match):
        call(pd_, y)


def test_costs_that_are_both_zero_are_refused():
    """bayes_threshold(0, 0) divided by zero."""
    with pytest.raises(ValueError, match="costs must be >= 0, finite and not both 0"):
        bayes_threshold(0.0, 0.0)
    with pytest.raises(ValueError, match="not both 0"):
        best_threshold(P, Y, 0.0, 0.0)


def test_shares_of_a_single_value():
    np.testing.assert_array_equal(shares(np.array([5.0]), np.array([1.0])), [0.0, 1.0])


@pytest.mark.parametrize("kwargs", [dict(pdo=0.0), dict(pdo=-20.0), dict(base_odds=0.0),
                                    dict(base_odds=-1.0)])
def test_score_scale_refuses_a_non_positive_pdo_or_base_odds(kwargs):
    """pdo = 0 makes factor 0 (every applicant scores the same); ln of odds <= 0 is undefined."""
    with pytest.raises(ValueError, match="base_odds and pdo must be > 0"):
        ScoreScale(**kwargs)


def test_reject_none_is_above_a_pd_of_one():
    """With no bad applicant, the cheapest rule rejects no one: t above every possible
    PD (1 included), so a later applicant's PD of 0.5 or 1 is still accepted."""
    t = best_threshold(np.array([0.1, 0.2]), np.array([0.0, 0.0]), 1.0, 1.0)
    assert t > 1.0 and confusion(np.array([0.5, 1.0]), np.array([0, 0]), t)["fp"] == 0


def test_reliability_bins_match_scikit_learns_uniform_calibration_curve():
    """Equal-width bins [0, 0.1), [0.1, 0.2), ...: a PD of 0.06 is in the first bin."""
    from sklearn.calibration import calibration_curve
    rng = np.random.default_rng(3)
    pd_ = rng.uniform(0, 1, 400)
    y = (rng.uniform(0, 1, 400) < pd_).astype(int)
    mean, rate, count = reliability_bins(pd_, y, bins=10)
    want_rate, want_mean = calibration_curve(y, pd_, n_bins=10, strategy="uniform")
    used = count > 0
    np.testing.assert_allclose(mean[used], want_mean, rtol=1e-12)
    np.testing.assert_allclose(rate[used], want_rate, rtol=1e-12)


def test_points_under_platt_calibration_add_up_to_the_calibrated_pds_score():
    """Base + points = the plain scale's score of sigmoid(a logit + c), the deployed PD."""
    from scipy.special import expit
    a, c = 0.7, -0.4
    calibrated = ScoreScale(slope=a, intercept=c)
    reference_logit, contributions = -1.5, np.array([0.8, -0.3, 1.1])
    total = calibrated.from_logit(reference_logit) + calibrated.points(contributions).sum()
    deployed_pd = expit(a * (reference_logit + contributions.sum()) + c)
    assert total == pytest.approx(ScoreScale().from_pd(deployed_pd), rel=1e-12)


@pytest.mark.parametrize("pd_", [2.0, -0.5, np.nan])
def test_a_pd_outside_0_1_is_refused_not_clipped(pd_):
    # from_pd(2.0) was -310 points, the score of PD 1 - 1e-12
    scale = ScoreScale()
    with pytest.raises(ValueError, match=r"PDs must be probabilities in \[0, 1\]"):
        scale.from_pd(np.array([0.5, pd_]))
    odds = 0.8 / 0.2   # PD 0.2: 600 + 20 log2(4 / 50) by the scaling's definition
    np.testing.assert_allclose(scale.from_pd(np.array([0.2])), 600 + 20 * np.log2(odds / 50))


@pytest.mark.parametrize("bad", [{"actual": np.r_[np.arange(9.0), np.nan]},
                                 {"expected": np.r_[np.arange(9.0), np.inf]},
                                 {"actual": np.ones((5, 2))}, {"bins": 1}, {"bins": 0}])
def test_psi_refuses_nan_scores_2d_arrays_and_fewer_than_2_bins(bad):
    # a NaN actual score gave PSI 0.19 (binned last), bins=0 a PSI of 0 whatever the shift
    args = {"expected": np.arange(10.0), "actual": np.arange(10.0) + 5, "bins": 2, **bad}
    with pytest.raises(ValueError, match="NaN or infinite|one non-empty array|bins must be"):
        psi(**args)
    # by hand: cut at 4.5; expected shares (0.5, 0.5), actual (0, 1) -> floored at 1e-4
    e, a = np.array([0.5, 0.5]), np.array([1e-4, 1.0])
    assert psi(np.arange(10.0), np.arange(10.0) + 5, bins=2) == pytest.approx(
        np.sum((a - e) * np.log(a / e)), rel=1e-12)


@pytest.mark.parametrize("bad", [{"pdo": np.inf}, {"slope": 0.0}, {"intercept": np.nan},
                                 {"base_score": np.inf}])
def test_a_scale_that_cannot_score_is_refused_when_built(bad):
    # pdo inf scored every PD NaN; slope 0 raised ZeroDivisionError in material_logit
    with pytest.raises(ValueError, match="must be finite and slope not 0"):
        ScoreScale(**bad)
    # 0.5 points at factor 20 / ln 2 and slope -2: 0.5 ln 2 / 40 in logit
    assert ScoreScale(slope=-2.0).material_logit() == pytest.approx(0.5 * np.log(2) / 40)


def test_platt_refuses_pds_outside_0_1():
    # Platt mapped 1.5 to its PD at 1 - 1e-12, unsaid (isotonic extrapolates flat, as
    # scikit-learn's IsotonicRegression: test_isotonic_calibration_is_scikit_learns_...)
    p, y = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 1, 0, 1])
    calibrate = fit_platt(p, y)
    for bad in (1.5, -1.0, np.nan):
        with pytest.raises(ValueError,
                           match=r"PDs must be probabilities in \[0, 1\].*Platt calibration"):
            calibrate(np.array([0.2, bad]))
    expected = 1 / (1 + np.exp(-(calibrate.a * np.log(0.25 / 0.75) + calibrate.b)))
    assert calibrate(np.array([0.25]))[0] == pytest.approx(expected, rel=1e-12)
