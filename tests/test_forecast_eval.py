"""Forecast scoring: baselines and metrics by hand on a small series, price conversion of
every head, intervals, ensembles and the Diebold-Mariano test against independent numpy."""

import dataclasses
import io

import numpy as np
import scipy.stats
import pandas as pd
import pytest

from fjax import intervals
from fjax.config import LossConfig
from fjax.tasks.forecast.config import EvaluationConfig, ForecastDataConfig
from fjax.tasks.forecast.data import prepare
from fjax.tasks.forecast.evaluate import (PriceForecast, baseline_forecasts, ensemble,
                                          evaluate, interval_metrics, member_prices,
                                          score_table)
from fjax.tasks.forecast.significance import (diebold_mariano, holm, independent_windows,
                                              overlap_lags)

# y_i = 1 + i (i + 1) / 2 for i = 0..19; test windows start at rows 16 and 17.
Y = np.array([1.0 + i * (i + 1) / 2 for i in range(20)])


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tri.csv"
    pd.DataFrame({"Date": pd.date_range("2024-01-01", periods=20), "Close": Y}).to_csv(path)
    data = prepare(ForecastDataConfig(path=str(path), window=2, horizon=3),
                   EvaluationConfig(season=2, moving_average=3))
    return data


def test_baseline_metrics_match_hand_computed_values(small):
    np.testing.assert_array_equal(small.plan.origins[small.test_index], [16, 17])
    actual = small.actual[small.test_index]
    ev = evaluate(small, PriceForecast(point=actual + 1.0),
                  EvaluationConfig(season=2, moving_average=3), stride=1)
    m = ev.metrics
    # naive errors [16, 33, 51], [17, 35, 54]; in-sample naive MAE (121 - 1) / 15 = 8.
    assert m["naive_scale"] == pytest.approx(8.0)
    naive = m["baselines"]["naive"]
    assert naive["mae"] == pytest.approx(206 / 6, rel=1e-6)
    assert naive["rmse"] == pytest.approx(np.sqrt(8376 / 6), rel=1e-6)
    assert naive["mase"] == pytest.approx(206 / 6 / 8, rel=1e-6)
    mape = 100 * np.mean(np.abs(np.array([16, 33, 51, 17, 35, 54])) / actual.ravel())
    assert naive["mape"] == pytest.approx(mape, rel=1e-5)
    assert naive["directional_accuracy"] is None
    # drift: slopes 8 and 8.5 -> errors 8, 17, 27, 8.5, 18, 28.5; always up, as the truth.
    assert m["baselines"]["drift"]["mae"] == pytest.approx(107 / 6, rel=1e-6)
    assert m["baselines"]["drift"]["directional_accuracy"] == 1.0
    # seasonal naive (m = 2): [106, 121, 106], [121, 137, 121]; never up.
    assert m["baselines"]["seasonal_naive"]["mae"] == pytest.approx(268 / 6, rel=1e-6)
    assert m["baselines"]["seasonal_naive"]["directional_accuracy"] == 0.0
    # ... and at step 2 (= its season) it is the last price: no direction called, n/a
    # there and left out overall (it once counted as a forced miss).
    assert m["per_horizon"]["seasonal_naive"]["directional_accuracy"] == [0.0, None, 0.0]
    assert m["per_horizon"]["naive"]["directional_accuracy"] == [None] * 3
    # moving average of 3: 319 / 3 and 364 / 3.
    assert m["baselines"]["moving_average"]["mae"] == pytest.approx(49.5, rel=1e-6)
    assert m["model"]["mae"] == pytest.approx(1.0) and m["model"]["rmse"] == pytest.approx(1.0)
    assert m["beats_naive"] == {"rmse": True, "mae": True}
    assert m["per_horizon"]["naive"]["mae"] == pytest.approx([16.5, 34.0, 52.5], rel=1e-6)


@pytest.mark.parametrize("shift, flagged", [(0.0, True), (0.001, True), (0.1, False)])
def test_mape_is_flagged_where_a_test_target_is_zero_or_near_it(tmp_path, shift, flagged):
    """A spread crossing zero reported MAPE (1323% on one) with no caveat. Test targets
    [1, .5, 0] and [.5, 0, -.5] plus `shift`: flagged where min |y| <= 1% of mean |y|."""
    path = tmp_path / "spread.csv"
    y = 9.0 - 0.5 * np.arange(20) + shift
    pd.DataFrame({"Date": pd.date_range("2024-01-01", periods=20), "Close": y}).to_csv(path)
    cfg = EvaluationConfig(season=2, moving_average=3)
    data = prepare(ForecastDataConfig(path=str(path), window=2, horizon=3), cfg)
    np.testing.assert_array_equal(data.plan.origins[data.test_index], [16, 17])
    actual = data.actual[data.test_index]
    m = evaluate(data, PriceForecast(point=actual + 1.0), cfg, stride=1).metrics
    targets = np.abs(np.array([1.0, 0.5, 0.0, 0.5, 0.0, -0.5]) + shift)
    assert ("mape_not_meaningful" in m) == flagged
    if flagged:
        c = m["mape_not_meaningful"]
        assert c["min_abs_target"] == pytest.approx(targets.min(), abs=1e-12)
        assert c["mean_abs_target"] == pytest.approx(targets.mean(), rel=1e-12)
        assert c["floor"] == 0.01
    assert m["model"]["mape"] == pytest.approx(100 * np.mean(1.0 / targets), rel=1e-9)


def test_score_table_matches_float64_numpy_per_weighting():
    rng = np.random.default_rng(0)
    actual = 100 + rng.standard_normal((40, 3)).cumsum(axis=0)
    last = actual[:, 0] - rng.standard_normal(40)
    pred = actual[None] + rng.standard_normal((2, 40, 3))
    observed = rng.random((40, 3)) > 0.2          # filled targets weigh 0, step by step
    weights = np.stack([np.ones(40), (np.arange(40) < 15).astype(float)])[:, :, None] * observed
    table, steps = score_table(pred.astype(np.float32), actual.astype(np.float32),
                               last.astype(np.float32), np.float32(2.0),
                               weights.astype(np.float32))
    for m in range(2):
        for g in range(2):
            seen = weights[g] > 0
            err = (pred[m] - actual)[seen]
            np.testing.assert_allclose(table["rmse"][m, g], np.sqrt(np.mean(err ** 2)), rtol=1e-5)
            np.testing.assert_allclose(table["mase"][m, g], np.mean(np.abs(err)) / 2.0, rtol=1e-5)
            moved = np.sign(pred[m] - last[:, None])
            hits = (moved == np.sign(actual - last[:, None]))[seen]
            np.testing.assert_allclose(table["directional_accuracy"][m, g], hits.mean(), rtol=1e-6)
        for h in range(3):
            seen = observed[:, h]
            np.testing.assert_allclose(steps["mae"][h, m, 0],
                                       np.mean(np.abs(pred[m] - actual)[seen, h]), rtol=1e-5)


def test_interval_coverage_and_width_by_hand():
    lower = np.array([[0.0, 0.0], [1.0, 1.0]])
    upper = np.array([[2.0, 2.0], [3.0, 5.0]])
    target = np.array([[1.0, 3.0], [2.0, 0.0]])
    assert float(intervals.coverage(lower, upper, target)) == pytest.approx(0.5)
    assert float(intervals.width(lower, upper)) == pytest.approx(2.5)
    assert intervals.gaussian_z(0.8) == pytest.approx(1.2815516, rel=1e-6)


def test_quantile_head_in_prices_sorted_and_inverted(small):
    index = small.test_index
    loss = LossConfig(name="pinball", quantiles=(0.9, 0.1, 0.5))
    # Raw outputs [N, H * Q] (step-major): crossing levels get sorted before inversion.
    raw = np.tile(np.array([0.2, -0.2, 0.0], np.float32), (len(index), 3))
    fc = member_prices(raw, loss, small, index, small.test_origin, level=0.8)
    assert fc.nominal == pytest.approx(0.8)
    z = small.unscale_target(np.array([-0.2, 0.0, 0.2]), 0)
    np.testing.assert_allclose(fc.lower, z[0])  # price transform: the level itself
    np.testing.assert_allclose(fc.point, z[1])
    np.testing.assert_allclose(fc.upper, z[2])


def test_gaussian_head_in_prices(small):
    index = small.test_index
    raw = np.concatenate([np.full((2, 3), 0.5), np.full((2, 3), np.log(0.1))], axis=1)
    fc = member_prices(raw.astype(np.float32), LossConfig(name="gaussian_nll"), small, index,
                       small.test_origin, level=0.8)
    mean = small.unscale_target(0.5, 0)
    sd = 0.1 * small.target_scale(0)
    np.testing.assert_allclose(fc.point, mean, rtol=1e-6)
    np.testing.assert_allclose(fc.upper - fc.point, 1.2815516 * sd, rtol=1e-5)


def test_each_origins_forecasts_are_unscaled_and_scored_in_its_own_scale(tmp_path):
    """Prices 1 + i(i+1)/2 rise, 40 rows, test blocks cut at 20 and 30: min-max over the
    rows before each cut is [1, 191] (origin 1) and [1, 436] (origin 2), so a scaled
    output of 0.5 is the price 96 in origin 1's block and 218.5 in origin 2's, and a
    Gaussian sigma of 0.1 is 19 and 43.5. The MASE scales, the mean one-step move over
    those rows, are 190 / 19 = 10 and 435 / 29 = 15."""
    path = tmp_path / "rise.csv"
    prices = np.array([1.0 + i * (i + 1) / 2 for i in range(40)])
    pd.DataFrame({"Date": pd.date_range("2024-01-01", periods=40), "Close": prices}).to_csv(path)
    cfg = EvaluationConfig(season=2, moving_average=3)
    data = prepare(ForecastDataConfig(path=str(path), window=2, test_fraction=0.5, origins=2),
                   cfg)
    index, origin = data.test_index, data.test_origin
    np.testing.assert_array_equal(origin, np.repeat([0, 1], 10))
    raw = np.tile(np.float32([0.5, np.log(0.1)]), (len(index), 1))
    fc = member_prices(raw, LossConfig(name="gaussian_nll"), data, index, origin, level=0.8)
    np.testing.assert_allclose(fc.point[:, 0], np.repeat([96.0, 218.5], 10), rtol=1e-6)
    np.testing.assert_allclose((fc.upper - fc.point)[:, 0],
                               scipy.stats.norm.ppf(0.9) * np.repeat([19.0, 43.5], 10),
                               rtol=1e-5)
    truth = member_prices(data.y[data.test_rows], LossConfig(), data, index, origin, 0.8)
    np.testing.assert_allclose(truth.point, data.actual[index], rtol=1e-6)
    m = evaluate(data, PriceForecast(point=data.actual[index] + 1.0), cfg, stride=1).metrics
    assert [o["naive_scale"] for o in m["per_origin"]] == pytest.approx([10.0, 15.0])
    assert "naive_scale" not in m
    assert m["model"]["mase"] == pytest.approx(np.mean(np.repeat([1 / 10, 1 / 15], 10)))


def test_point_head_inverts_differences(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"Date": pd.date_range("2024-01-01", periods=40),
                  "Close": Y.tolist() * 2}).to_csv(path)
    data = prepare(ForecastDataConfig(path=str(path), window=3, horizon=2, transform="diff",
                                      scaler="standard"))
    index = data.test_index
    fc = member_prices(data.y[index], LossConfig(), data, index, data.test_origin, level=0.8)
    np.testing.assert_allclose(fc.point, data.actual[index], rtol=1e-5)  # truth in -> truth out


def test_ensemble_mean_bounds_and_spread():
    a = PriceForecast(np.array([[1.0]]), np.array([[0.0]]), np.array([[2.0]]), nominal=0.8)
    b = PriceForecast(np.array([[3.0]]), np.array([[1.0]]), np.array([[5.0]]), nominal=0.8)
    e = ensemble([a, b])
    assert (e.point[0, 0], e.lower[0, 0], e.upper[0, 0], e.spread[0, 0]) == (2.0, 0.5, 3.5, 1.0)
    assert ensemble([a]).spread is None


@pytest.mark.parametrize("lags", [0, 2])
def test_diebold_mariano_against_an_explicit_double_sum(lags):
    rng = np.random.default_rng(1)
    e1, e2 = rng.standard_normal((50, 3)), 1.2 * rng.standard_normal((50, 3))
    d = (e1 ** 2).mean(axis=1) - (e2 ** 2).mean(axis=1)
    u = d - d.mean()
    lag = np.abs(np.subtract.outer(np.arange(50), np.arange(50)))
    w = np.where(lag <= lags, 1 - lag / (lags + 1), 0.0)
    lrv = u @ w @ u / 50
    q = lags + 1   # Harvey-Leybourne-Newbold: scale by k, Student's t with N - 1 df
    k = np.sqrt((50 + 1 - 2 * q + q * (q - 1) / 50) / 50)
    expected = k * d.mean() / np.sqrt(lrv / 50)
    out = diebold_mariano(e1, e2, lags)
    assert out["statistic"] == pytest.approx(expected, rel=1e-10)
    assert out["p_value"] == pytest.approx(2 * scipy.stats.t.sf(abs(expected), 49), rel=1e-10)


def test_overlap_lags():
    assert [overlap_lags(1, 1), overlap_lags(5, 1), overlap_lags(5, 5),
            overlap_lags(6, 4)] == [0, 4, 0, 1]


def test_p_values_too_small_for_float64_are_not_printed_as_zero():
    from fjax.tasks.forecast.report import p_text
    assert p_text(0.0) == "p < 1e-16" and p_text(3e-20) == "p < 1e-16"
    assert p_text(0.0123) == "p = 0.0123"


def test_a_verdict_on_few_test_windows_says_so():
    from fjax.tasks.forecast.report import verdict
    m = {"model": {"rmse": 1.0, "mae": 1.0}, "baselines": {"naive": {"rmse": 2.0, "mae": 2.0}},
         "beats_naive": {"rmse": True, "mae": True},
         "diebold_mariano_vs_naive": {"p_value": None}, "test_windows": 1}
    assert "Only 1 test window(s): too few" in verdict(m)
    assert "too few" not in verdict({**m, "test_windows": 250})


def test_a_lead_within_noise_is_not_called_beating_the_naive_forecast():
    """RMSE 312.8 vs 312.9 with DM p = 0.98 was headlined "The model beats the naive..."."""
    from fjax.tasks.forecast.report import verdict
    m = {"model": {"rmse": 312.8, "mae": 200.0}, "baselines": {"naive": {"rmse": 312.9,
                                                                         "mae": 199.0}},
         "beats_naive": {"rmse": True, "mae": False},
         "diebold_mariano_vs_naive": {"p_value": 0.984, "statistic": -0.02}, "test_windows": 900}
    assert verdict(m).startswith("**The model is no better than the naive last-value forecast "
                                 "beyond noise (lower RMSE; squared errors not significantly "
                                 "lower)**")
    significant = {**m, "diebold_mariano_vs_naive": {"p_value": 0.001, "statistic": -3.0},
                   "beats_naive": {"rmse": True, "mae": True}}
    assert verdict(significant).startswith("**The model beats the naive last-value forecast**")


def test_a_lower_mae_within_noise_says_the_test_was_on_squared_error():
    """"lower MAE, not significantly" read as an MAE test; the DM test is on squared error.
    Here the RMSE is higher (5.0 vs 4.9): "squared errors not significantly lower" read as
    if they were lower."""
    from fjax.tasks.forecast.report import verdict
    m = {"model": {"rmse": 5.0, "mae": 3.0}, "baselines": {"naive": {"rmse": 4.9, "mae": 3.1}},
         "beats_naive": {"rmse": False, "mae": True},
         "diebold_mariano_vs_naive": {"p_value": 0.6, "statistic": 0.5}, "test_windows": 900}
    assert verdict(m).startswith("**The model is no better than the naive last-value forecast "
                                 "beyond noise (lower MAE; higher RMSE, not significantly)**")


def test_the_model_is_tested_against_a_baseline_that_beats_the_naive_one(small):
    """The DM test ran against the naive forecast only: here drift's RMSE is a third of
    it, and the verdict said nothing of the yardstick the model had to clear."""
    from fjax.tasks.forecast.report import verdict
    actual = small.actual[small.test_index]
    cfg = EvaluationConfig(season=2, moving_average=3)
    point = actual + np.array([[1.0, -2.0, 3.0], [-1.5, 2.5, 1.0]])
    m = evaluate(small, PriceForecast(point), cfg, stride=3).metrics
    drift = baseline_forecasts(small, small.test_index, cfg)["drift"]
    want = diebold_mariano(point - actual, drift - actual, lags=0)
    dm = m["diebold_mariano_vs_best_baseline"]
    assert dm["baseline"] == "drift"
    assert dm["mean_loss_difference"] == pytest.approx(want["mean_loss_difference"])
    assert dm["p_value"] == pytest.approx(want["p_value"])
    assert (f"The best baseline by RMSE is drift (RMSE "
            f"{m['baselines']['drift']['rmse']:.4g}), not naive; the model's RMSE is lower, "
            f"and the difference in squared error ") in verdict(m)
    naive_best = {**m, "baselines": {**m["baselines"], "drift": {"rmse": 1e9, "mae": 1e9}}}
    naive_best.pop("diebold_mariano_vs_best_baseline")
    assert "best baseline" not in verdict(naive_best)


def test_the_best_baseline_picked_on_the_test_span_is_tested_holm_adjusted(small):
    """The baseline with the lowest test RMSE was tested as if chosen beforehand: with four
    baselines as good as the model (iid errors, 200 windows), 8.0% of DM tests against the
    one picked rejected at 5% (2.4% Holm-adjusted; simulated). Every baseline is tested,
    each p-value Holm-adjusted over the four, and the pick is read at its adjusted value;
    the tests and the adjustment are numpy's here (lag 0: HLN's k is sqrt((N - 1) / N))."""
    from fjax.tasks.forecast.report import verdict
    actual = small.actual[small.test_index]
    cfg = EvaluationConfig(season=2, moving_average=3)
    point = actual + np.array([[1.0, -2.0, 3.0], [-1.5, 2.5, 1.0]])
    m = evaluate(small, PriceForecast(point), cfg, stride=3).metrics
    base = baseline_forecasts(small, small.test_index, cfg)
    p = {}
    for name, f in base.items():      # DM at lag 0: k mean / sqrt(var / N), t with N - 1 df
        d = ((point - actual) ** 2).mean(axis=1) - ((f - actual) ** 2).mean(axis=1)
        n = len(d)
        stat = np.sqrt((n - 1) / n) * d.mean() / np.sqrt(d.var() / n)
        p[name] = 2 * scipy.stats.t.sf(abs(stat), n - 1)
    ranked = sorted(p, key=p.get)      # Holm: i-th smallest times (m - i), running max, cap 1
    want, top = {}, 0.0
    for i, name in enumerate(ranked):
        top = max(top, (len(p) - i) * p[name])
        want[name] = min(1.0, top)
    tests = m["diebold_mariano_vs_baselines"]
    assert list(tests) == ["naive", "drift", "seasonal_naive", "moving_average"]
    for name in p:
        assert tests[name]["p_value"] == pytest.approx(p[name], rel=1e-9)
        assert tests[name]["p_value_holm"] == pytest.approx(want[name], rel=1e-9)
    dm = m["diebold_mariano_vs_best_baseline"]
    assert dm["baseline"] == "drift" and dm["p_value_holm"] == pytest.approx(want["drift"])
    assert want["drift"] > p["drift"]
    assert (f"p = {want['drift']:.3g} Holm-adjusted over the 4 baselines' tests, since this "
            "baseline was picked by its RMSE on the same test windows") in verdict(m)


def test_holm_against_hand_computed_values():
    """Sorted 0.01, 0.03, 0.04, 0.2 times 4, 3, 2, 1: 0.04, 0.09, 0.08 -> 0.09 (the running
    maximum), 0.2; an undefined test counts as p = 1, and nothing exceeds 1."""
    assert holm([0.04, 0.01, 0.2, 0.03]) == pytest.approx([0.09, 0.04, 0.2, 0.09])
    assert holm([0.3, None, 0.01]) == pytest.approx([0.6, 1.0, 0.03])


def test_the_mase_scale_is_the_same_for_every_transform(tmp_path):
    """The in-sample naive MAE of the first origin's training prices, whatever is modelled."""
    from fjax.tasks.forecast import ForecastDataConfig
    from fjax.tasks.forecast.data import prepare
    rng = np.random.default_rng(1)
    prices = 50 * np.exp(np.cumsum(0.02 * rng.standard_normal(150)))
    pd.DataFrame({"Date": pd.bdate_range("2022-01-03", periods=150), "p": prices}).to_csv(
        tmp_path / "p.csv", index=False)
    scales = {}
    for transform in ("price", "diff", "log_return"):
        data = prepare(ForecastDataConfig(path=str(tmp_path / "p.csv"), target="p", window=10,
                                          transform=transform))
        end = data.plan.spans[0]["train"][1]
        scales[transform] = data.naive_scale(0)
        assert scales[transform] == pytest.approx(np.mean(np.abs(np.diff(prices[:end]))),
                                                  rel=1e-6)
    assert scales["price"] == pytest.approx(scales["diff"]) == pytest.approx(scales["log_return"])


def test_a_target_on_either_bound_is_covered():
    """The interval is closed, [lower, upper]: equality on either side counts as inside."""
    lower = np.array([[1.0, 0.0], [2.0, -1.0]])
    upper = np.array([[3.0, 0.0], [4.0, 1.0]])
    target = np.array([[1.0, 0.0], [4.0, -1.0]])
    assert float(intervals.coverage(lower, upper, target)) == 1.0
    assert float(intervals.coverage(lower, upper, target - 1e-3)) == pytest.approx(0.25)


def test_interval_width_is_sample_weighted():
    lower = np.zeros((3, 2), np.float32)
    upper = np.array([[1, 1], [2, 4], [10, 10]], np.float32)
    w = np.array([1.0, 3.0, 0.0], np.float32)
    ref = np.average((upper - lower).astype(np.float64).mean(axis=1), weights=w)   # 2.5
    assert float(intervals.width(lower, upper, w)) == pytest.approx(ref, rel=1e-6)


def test_interval_shapes_must_match():
    with pytest.raises(ValueError, match="share one shape"):
        intervals.coverage(np.zeros((4, 1)), np.ones((4, 1)), np.zeros(4))


def test_the_point_of_asymmetric_quantile_levels_is_the_median_level(small):
    index = small.test_index
    loss = LossConfig(name="pinball", quantiles=(0.1, 0.5, 0.8, 0.9))
    raw = np.tile(np.array([-0.3, 0.0, 0.1, 0.2], np.float32), (len(index), 3))
    fc = member_prices(raw, loss, small, index, small.test_origin, level=0.8)
    z = small.unscale_target(np.array([-0.3, 0.0, 0.1, 0.2]), 0)
    np.testing.assert_allclose(fc.point, z[1])          # the 0.5 level, not the third
    np.testing.assert_allclose(fc.lower, z[0])
    np.testing.assert_allclose(fc.upper, z[3])
    assert fc.nominal == pytest.approx(0.8)


@pytest.mark.parametrize("levels, expected", [((0.1, 0.9), 0.0), ((0.25, 0.75), 0.0),
                                              ((0.1, 0.4, 0.6, 0.9), -0.05),
                                              ((0.3, 0.9), -0.2 + 0.4 * (1 / 3))])
def test_without_a_median_level_the_point_is_interpolated_at_0_5(small, levels, expected):
    """Levels (0.1, 0.9) once gave the 10% quantile as the point forecast (a tie broken
    to the first): its MAE was 3.6x the naive one's, and DM scored that quantile."""
    index = small.test_index
    values = {0.1: -0.2, 0.25: -0.1, 0.3: -0.2, 0.4: -0.1, 0.6: 0.0, 0.75: 0.1, 0.9: 0.2}
    raw = np.tile(np.array([values[q] for q in levels], np.float32), (len(index), 3))
    fc = member_prices(raw, LossConfig(name="pinball", quantiles=levels), small, index,
                       small.test_origin, 0.8)
    np.testing.assert_allclose(fc.point, small.unscale_target(np.float64(expected), 0), rtol=1e-6)


def test_crossed_raw_quantiles_are_counted_though_sorting_hides_them(small):
    """Sorting made crossed quantiles invisible: an undertrained head looked fine. Levels
    given out of order (0.9, 0.1, 0.5) are compared in level order; a tie is no crossing."""
    index, cfg = small.test_index, EvaluationConfig(season=2, moving_average=3)
    loss = LossConfig(name="pinball", quantiles=(0.9, 0.1, 0.5))
    ok, cross, tie = [0.2, -0.2, 0.0], [0.2, 0.1, -0.1], [0.0, 0.0, 0.0]
    # by hand: window 1 crosses at step 1, window 2 at steps 2 and 3: 3 of 6 forecasts.
    raw = np.array([cross + ok + tie, ok + cross + cross], np.float32)
    fc = member_prices(raw, loss, small, index, small.test_origin, level=0.8)
    np.testing.assert_array_equal(fc.crossed, [[1, 0, 0], [0, 1, 1]])
    assert np.all(fc.lower <= fc.upper)
    calm = member_prices(np.array([ok * 3] * 2, np.float32), loss, small, index,
                         small.test_origin, level=0.8)
    m = evaluate(small, ensemble([fc, calm]), cfg, stride=1).metrics
    assert m["quantile_crossing"] == pytest.approx(3 / 12)    # of 2 seeds x 6 forecasts
    assert evaluate(small, calm, cfg, stride=1).metrics["quantile_crossing"] == 0.0
    assert "quantile_crossing" not in evaluate(small, PriceForecast(fc.point), cfg,
                                               stride=1).metrics


def test_outputs_of_a_level_given_twice_never_cross_each_other():
    """quantiles (0.1, 0.5, 0.5, 0.9) are allowed; the two 0.5 outputs in either order
    were counted as crossed, though neither level is the higher. Checked by hand."""
    from fjax.tasks.forecast.evaluate import crossed

    levels = (0.1, 0.5, 0.5, 0.9)
    raw = np.array([[1.0, 3.0, 2.0, 4.0],     # the two 0.5s swapped: no crossing
                    [1.0, 2.0, 3.0, 2.5],     # the second 0.5 above 0.9: crossed
                    [1.0, 3.0, 2.0, 2.5],     # the first 0.5 above 0.9, past the tie: crossed
                    [1.0, 2.0, 2.0, 2.0]])    # ties of value: no crossing
    np.testing.assert_array_equal(crossed(raw, levels), [0, 1, 1, 0])
    np.testing.assert_array_equal(crossed(raw[:, ::-1], levels[::-1]), [0, 1, 1, 0])


def test_the_ensemble_point_is_the_mean_not_the_median_of_three_seeds():
    fcs = [PriceForecast(np.array([[v]])) for v in (1.0, 2.0, 6.0)]
    e = ensemble(fcs)
    assert e.point[0, 0] == 3.0 and e.lower is None
    assert e.spread[0, 0] == pytest.approx(np.std([1.0, 2.0, 6.0]))


def test_the_drift_baseline_is_the_same_for_every_transform(tmp_path):
    """A baseline is a yardstick on prices: y_T + h (y_T - y_0) / T for every transform
    (a differenced target once started the drift at row 1), as the MASE scale does."""
    path = tmp_path / "tri.csv"
    pd.DataFrame({"Date": pd.date_range("2024-01-01", periods=20), "Close": Y}).to_csv(path)
    cfg = EvaluationConfig(season=2, moving_average=3)
    for transform in ("diff", "log_return", "price"):
        data = prepare(ForecastDataConfig(path=str(path), window=2, horizon=3,
                                          transform=transform), cfg)
        index = data.test_index
        last_row = data.plan.origins[index] - 1
        slope = (Y[last_row] - Y[0]) / last_row
        want = Y[last_row][:, None] + np.arange(1, 4)[None, :] * slope[:, None]
        np.testing.assert_allclose(baseline_forecasts(data, index, cfg)["drift"], want,
                                   rtol=1e-6)


def two_origin_walk(tmp_path, rng):
    """A random walk of 80 daily closes, windows of 3, 2 steps ahead, 2 origins."""
    prices = 100 + np.cumsum(rng.standard_normal(80))
    path = tmp_path / "rw.csv"
    pd.DataFrame({"Date": pd.date_range("2024-01-01", periods=80), "Close": prices}).to_csv(path)
    cfg = EvaluationConfig(season=2, moving_average=3)
    return prepare(ForecastDataConfig(path=str(path), window=3, horizon=2, origins=2,
                                      test_fraction=0.4), cfg), cfg


def test_per_origin_metrics_dm_test_and_member_rmse_against_numpy(tmp_path):
    """Walk-forward origins: each origin's metrics use its own windows only; the DM test
    compares the model's errors with the naive forecast's at ceil(H / stride) - 1 lags."""
    rng = np.random.default_rng(3)
    data, cfg = two_origin_walk(tmp_path, rng)
    index, origin = data.test_index, data.test_origin
    assert data.plan.k == 2 and set(origin) == {0, 1}
    actual, last = data.actual[index], data.last_price[index]
    point = actual + rng.standard_normal(actual.shape) * np.where(origin == 0, 0.5, 2.0)[:, None]
    members = np.stack([point - 0.3, point + 0.3])
    ev = evaluate(data, PriceForecast(point, members=members), cfg, stride=1)
    naive = np.repeat(last[:, None], 2, axis=1)
    for k, row in enumerate(ev.metrics["per_origin"]):
        rows = origin == k
        assert row["origin"] == k + 1 and row["windows"] == rows.sum()
        for name, pred in (("model", point), ("naive", naive)):
            err = pred[rows] - actual[rows]
            assert row[f"{name}_rmse"] == pytest.approx(np.sqrt(np.mean(err ** 2)), rel=1e-5)
            assert row[f"{name}_mae"] == pytest.approx(np.mean(np.abs(err)), rel=1e-5)
    dm = ev.metrics["diebold_mariano_vs_naive"]
    want = diebold_mariano(point - actual, naive - actual, lags=1)
    assert dm["lags"] == 1
    # (the naive baseline is computed in float32)
    assert dm["statistic"] == pytest.approx(want["statistic"], rel=1e-5)
    assert dm["mean_loss_difference"] == pytest.approx(
        np.mean((point - actual) ** 2) - np.mean((naive - actual) ** 2), rel=1e-5)
    np.testing.assert_allclose(ev.metrics["ensemble"]["member_rmse"],
                               [np.sqrt(np.mean((m - actual) ** 2)) for m in members], rtol=1e-5)


def test_per_origin_interval_coverage_and_width_by_construction(tmp_path):
    """Each origin reports its own coverage and width: origin 1's bounds hold every
    target (width 2), origin 2's miss every other window (width 4)."""
    rng = np.random.default_rng(4)
    data, cfg = two_origin_walk(tmp_path, rng)
    origin, actual = data.test_origin, data.actual[data.test_index]
    second = np.nonzero(origin == 1)[0]
    miss = np.zeros(len(origin), bool)
    miss[second[::2]] = True
    half = np.where(origin == 0, 1.0, 2.0)[:, None] * np.ones_like(actual)
    centre = actual + np.where(miss, 10.0, 0.0)[:, None]
    fc = PriceForecast(actual, centre - half, centre + half, nominal=0.8)
    rows = evaluate(data, fc, cfg, stride=1).metrics["per_origin"]
    assert rows[0]["model_coverage"] == 1.0 and rows[0]["model_width"] == pytest.approx(2.0)
    assert rows[1]["model_coverage"] == pytest.approx(1 - len(second[::2]) / len(second))
    assert rows[1]["model_width"] == pytest.approx(4.0)
    no_bounds = evaluate(data, PriceForecast(actual), cfg, stride=1).metrics["per_origin"]
    assert "model_coverage" not in no_bounds[0]


def test_wilson_interval_matches_hand_computed_values():
    """40 of 50: centre (0.8 + z^2/100) / (1 + z^2/50), half-width
    z / (1 + z^2/50) sqrt(0.0032 + z^2/10^4), z = 1.959964; 0 of 10: upper z^2 / (10 + z^2)."""
    assert intervals.wilson(0.8, 50) == pytest.approx((0.669629, 0.887563), abs=1e-6)
    assert intervals.wilson(0.0, 10) == pytest.approx((0.0, 0.277533), abs=1e-6)


def test_independent_windows_count_overlapping_windows_once():
    assert [independent_windows(59, 5, 5), independent_windows(59, 5, 1),
            independent_windows(30, 1, 1), independent_windows(2, 5, 1)] == [59, 11.8, 30, 1]


def _sides(below: float, above: float, windows: float, nominal: float = 0.9) -> dict:
    """`interval_metrics`' shares of targets beyond each bound of a central interval."""
    return {"below_lower": below, "above_upper": above, "expected_below": (1 - nominal) / 2,
            "expected_above": (1 - nominal) / 2,
            "below_lower_interval": list(intervals.wilson(below, windows)),
            "above_upper_interval": list(intervals.wilson(above, windows))}


def test_coverage_is_judged_by_its_sampling_interval_not_a_fixed_tolerance(small):
    """82.7% against 90% on 59 non-overlapping windows was called "too narrow" (a fixed
    5-point tolerance); its 95% Wilson interval is 71.1% to 90.3%, which holds 90%."""
    from fjax.tasks.forecast.report import coverage_words
    iv = {"nominal": 0.9, "coverage": 0.827, "independent_windows": 59.0,
          "coverage_interval": list(intervals.wilson(0.827, 59)), **_sides(0.0865, 0.0865, 59)}
    assert "71.1% to 90.3%: consistent with the nominal level" in coverage_words(iv)
    many = {**iv, "independent_windows": 2000.0,
            "coverage_interval": list(intervals.wilson(0.827, 2000)),
            **_sides(0.0865, 0.0865, 2000)}
    assert "too narrow" in coverage_words(many)
    wide = {**many, "coverage_interval": list(intervals.wilson(0.98, 2000)),
            **_sides(0.01, 0.01, 2000)}
    assert "wider than needed" in coverage_words(wide)
    # evaluate counts 2 windows of horizon 3 at stride 1 as one independent window
    actual = small.actual[small.test_index]
    fc = PriceForecast(actual, actual - 1.0, actual + 1.0, nominal=0.9)
    iv = evaluate(small, fc, EvaluationConfig(season=2, moving_average=3),
                  stride=1).metrics["interval"]
    assert iv["independent_windows"] == 1.0
    assert iv["coverage_interval"] == pytest.approx(list(intervals.wilson(1.0, 1.0)))


def test_interval_coverage_weights_each_target():
    lower, upper = np.zeros(4), np.ones(4)
    target = np.array([0.5, 2.0, 0.5, 2.0])                  # hits 1, 0, 1, 0
    weights = np.array([3.0, 1.0, 1.0, 1.0])
    assert float(intervals.coverage(lower, upper, target, weights)) == pytest.approx(4 / 6)


def _sweep(hparams, paths, val, diverged=None, folds=1, seeds=(0, 1)):
    """Candidates of one compile group whose members scored `val` (a function of the
    member table) in their one epoch."""
    from test_train import one_epoch_population

    from fjax.tasks.experiment import GroupResult
    from fjax.tasks.forecast import Config
    from fjax.tasks.forecast.members import candidates
    from fjax.train.members import member_grid
    from fjax.train.sweep import Group
    members = member_grid(hparams, seeds=list(seeds), n_folds=folds)
    diverged = np.zeros(len(members), bool) if diverged is None else diverged(members)
    pop = one_epoch_population(members, np.where(diverged, np.nan, val(members)), diverged)
    group = Group(config=Config(), hparams=hparams, paths=paths)
    return members, candidates([GroupResult(group, pop)], has_val=True)


def test_a_grid_point_with_a_diverged_member_is_not_chosen():
    """lr 1.0 diverged on one of two seeds; its survivor's validation MSE is the lowest,
    but the point ranks last."""
    from fjax.tasks.forecast.members import choices, ranked
    lr = {"learning_rate": [1e-3, 1.0]}
    members, cands = _sweep(lr, {"learning_rate": "optim.learning_rate"},
                            lambda m: np.where(m["learning_rate"] == 1.0, 0.1, 0.5),
                            lambda m: (m["learning_rate"] == 1.0).to_numpy()
                            & (m["seed"] == 0).to_numpy())
    assert [c.val_loss.tolist() for c in cands] == [[pytest.approx(0.5)], [np.inf]]
    mse = np.where(members["learning_rate"] == 1.0, 0.1, 0.5)
    cands = ranked(cands, [mse])
    assert [c.val_mse.tolist() for c in cands] == [[pytest.approx(0.5)], [np.inf]]
    assert choices(cands, 1) == [0]


def test_each_origin_chooses_on_its_own_validation_span():
    """Three origins whose validation MSEs favour lr 1e-3, 1e-2, 1e-3; at the third,
    lr 1e-2 scores best but one of its members diverged there, so it ranks last there
    only. Each origin's choice is the numpy argmin of its own mean over seeds."""
    from fjax.tasks.forecast.members import choices, ranked
    lr = {"learning_rate": [1e-3, 1e-2]}
    table = np.array([[0.3, 0.5, 0.4], [0.4, 0.2, 0.1]])    # [point, origin]

    def score(m):
        point = (m["learning_rate"] == 1e-2).to_numpy().astype(int)
        return table[point, m["fold"].to_numpy()] + 0.01 * m["seed"].to_numpy()

    def diverged(m):
        return ((m["learning_rate"] == 1e-2) & (m["fold"] == 2) & (m["seed"] == 1)).to_numpy()

    members, cands = _sweep(lr, {"learning_rate": "optim.learning_rate"}, score, diverged,
                            folds=3)
    mse = score(members)
    cands = ranked(cands, [mse])
    expected = np.zeros((2, 3))
    for (point, fold), rows in members.assign(mse=mse).groupby(
            [members["learning_rate"] == 1e-2, "fold"]):
        expected[int(point), fold] = rows["mse"].mean()
    expected[1, 2] = np.inf
    np.testing.assert_allclose([c.val_mse for c in cands], expected)
    assert choices(cands, 3) == np.argmin(expected, axis=0).tolist() == [0, 1, 0]


def test_a_loss_sweep_ranks_the_point_forecasts_mse_not_the_loss():
    """A Huber delta of 0.001 makes the validation loss small by construction (about
    delta x |error|); the delta whose forecasts are closer on validation is reported."""
    from fjax.tasks.forecast.members import choices, ranked
    members, cands = _sweep({"huber_delta": [0.001, 1.0]}, {"huber_delta": "loss.huber_delta"},
                            lambda m: np.where(m["huber_delta"] == 0.001, 1e-4, 0.02))
    assert cands[0].val_loss < cands[1].val_loss
    cands = ranked(cands, [np.where(members["huber_delta"] == 0.001, 0.09, 0.04)])
    assert cands[choices(cands, 1)[0]].hparams == {"loss.huber_delta": 1.0}


def test_a_nested_forecast_takes_each_block_from_its_origins_choice():
    """Windows of origin k come from forecast choice[k], bounds and seeds alike; one
    choice everywhere is that forecast itself; bounds at different levels are dropped."""
    from fjax.tasks.forecast.members import nested
    origin = np.array([0, 0, 1, 1, 1, 2])
    fc = [PriceForecast(np.full((6, 2), v), np.full((6, 2), v - 1), np.full((6, 2), v + 1),
                        np.full((3, 6, 2), v), 0.8) for v in (10.0, 20.0)]
    out = nested(fc, [1, 0, 1], origin)
    want = np.where(origin == 1, 10.0, 20.0)[:, None].repeat(2, axis=1)
    np.testing.assert_array_equal(out.point, want)
    np.testing.assert_array_equal(out.lower, want - 1)
    np.testing.assert_array_equal(out.upper, want + 1)
    np.testing.assert_array_equal(out.members, np.broadcast_to(want, (3, 6, 2)))
    assert out.nominal == 0.8 and nested(fc, [1, 1, 1], origin) is fc[1]
    mixed = [fc[0], dataclasses.replace(fc[1], nominal=0.9)]
    assert nested(mixed, [1, 0, 1], origin).lower is None


def test_the_point_forecast_of_each_head_in_scaled_units():
    """The median of (unsorted) quantiles, a Gaussian head's mean, else the output; its
    MSE is the weighted mean over windows of the mean over steps."""
    from fjax.config import LossConfig
    from fjax.tasks.forecast.members import point_mse, scaled_point
    quantiles = np.array([[[0.3, 0.1, 0.2, 1.3, 0.9, 1.1]]], np.float32)   # [P=1, N=1, H*Q]
    point = scaled_point(LossConfig(name="pinball", quantiles=(0.1, 0.5, 0.9)), quantiles, 2)
    np.testing.assert_allclose(point, [[[0.2, 1.1]]], rtol=1e-6)
    gaussian = np.array([[[0.5, -1.0, 3.0, 7.0]]], np.float32)             # means, log scales
    np.testing.assert_allclose(scaled_point(LossConfig(name="gaussian_nll"), gaussian, 2),
                               [[[0.5, -1.0]]])
    point = np.array([[[1.0, 3.0], [0.0, 0.0]]])
    np.testing.assert_allclose(point_mse(point, np.zeros((2, 2)), np.array([[1.0, 1.0],
                                                                             [3.0, 3.0]])),
                               [5.0 / 4])
    # a filled target (weight 0) is out: (1 x 1 + 3 x 0) / (1 + 3 + 3)
    np.testing.assert_allclose(point_mse(point, np.zeros((2, 2)), np.array([[1.0, 0.0],
                                                                             [3.0, 3.0]])),
                               [1.0 / 7])
    assert point_mse(np.full((1, 2, 2), np.nan), np.zeros((2, 2)), np.ones((2, 2)))[0] == np.inf


def test_metrics_at_a_high_price_level_match_float64_numpy(tmp_path):
    """A price near 3e7 moving by about 2 a row: float32 holds it to about 2 (a naive
    RMSE read 2.321 for 2.120); every price-unit number is float64, and forecast.csv
    keeps enough digits to recompute them."""
    from fjax.tasks.forecast.report import forecast_frame
    rng = np.random.default_rng(5)
    prices = 3e7 + np.cumsum(rng.normal(0, 2, 300)).round(2)
    pd.DataFrame({"Date": pd.bdate_range("2020-01-01", periods=300), "p": prices}).to_csv(
        tmp_path / "big.csv", index=False)
    data = prepare(ForecastDataConfig(path=str(tmp_path / "big.csv"), target="p", window=5,
                                      horizon=2), EvaluationConfig(season=5, moving_average=4))
    cfg = EvaluationConfig(season=5, moving_average=4)
    o = data.plan.origins[data.test_index]
    actual = np.stack([prices[o], prices[o + 1]], axis=1)
    model = prices[o - 1][:, None] + rng.normal(0, 1, actual.shape)
    ev = evaluate(data, PriceForecast(point=model), cfg, stride=1)
    m = ev.metrics
    naive = np.repeat(prices[o - 1][:, None], 2, axis=1)
    moving = np.stack([prices[t - 4:t].mean() for t in o])[:, None].repeat(2, axis=1)
    slope = (prices[o - 1] - prices[0]) / (o - 1)
    drift = prices[o - 1][:, None] + np.arange(1, 3) * slope[:, None]
    rmse = lambda f: np.sqrt(np.mean((f - actual) ** 2))  # noqa: E731
    assert m["baselines"]["naive"]["rmse"] == pytest.approx(rmse(naive), rel=1e-9)
    assert m["baselines"]["moving_average"]["rmse"] == pytest.approx(rmse(moving), rel=1e-9)
    assert m["baselines"]["drift"]["rmse"] == pytest.approx(rmse(drift), rel=1e-9)
    assert m["model"]["rmse"] == pytest.approx(rmse(model), rel=1e-9)
    assert m["model"]["mae"] == pytest.approx(np.mean(np.abs(model - actual)), rel=1e-9)
    assert m["per_origin"][0]["naive_mae"] == pytest.approx(np.mean(np.abs(naive - actual)),
                                                            rel=1e-9)
    dm = diebold_mariano(model - actual, naive - actual, 1)
    assert m["diebold_mariano_vs_naive"]["statistic"] == pytest.approx(dm["statistic"], rel=1e-9)
    frame = forecast_frame(data, ev)
    for column, values in (("actual", actual), ("forecast", model), ("naive", naive),
                           ("moving_average", moving)):
        np.testing.assert_allclose(frame[column], values.ravel(), rtol=0, atol=1e-3)


def test_dates_read_as_utc_are_written_and_reported_as_utc(tmp_path):
    """Berlin hours across a daylight-saving change are read as UTC: forecast.csv's dates
    carry +00:00 and the report's data line says UTC, so outputs join back by instant."""
    from fjax.tasks.forecast.data import data_facts
    from fjax.tasks.forecast.report import data_line, forecast_frame
    stamps = pd.date_range("2024-03-28", periods=120, freq="h", tz="Europe/Berlin")
    prices = 100 + np.cumsum(np.random.default_rng(2).normal(0, 1, 120))
    pd.DataFrame({"Date": [t.isoformat() for t in stamps], "p": prices}).to_csv(
        tmp_path / "berlin.csv", index=False)
    cfg = ForecastDataConfig(path=str(tmp_path / "berlin.csv"), target="p", window=5)
    with pytest.warns(UserWarning, match="mixes UTC offsets"):
        data = prepare(cfg, EvaluationConfig(season=24, moving_average=4))
    ev = evaluate(data, PriceForecast(point=data.actual[data.test_index]),
                  EvaluationConfig(season=24, moving_average=4), stride=1)
    frame = forecast_frame(data, ev)
    last = stamps[-1].tz_convert("UTC")
    assert frame["date"].iloc[-1] == last and frame["issued"].iloc[-1] == last - pd.Timedelta("1h")
    assert frame.to_csv(index=False).splitlines()[-1].split(",")[2] == str(last)
    assert str(last).endswith("+00:00")
    assert " UTC (the file mixes UTC offsets" in data_line(data_facts(data, cfg))



def _hourly_evaluation(tmp_path, written_as: str) -> tuple:
    """(the dates as written, config, data, evaluation) of 120 hourly prices from
    2024-03-01 09:00 written with strftime format `written_as`, naive forecasts tested."""
    stamps = pd.date_range("2024-03-01 09:00", periods=120, freq="h")
    written = [t.strftime(written_as) for t in stamps]
    prices = 100 + np.cumsum(np.random.default_rng(4).normal(0, 1, 120))
    pd.DataFrame({"Date": written, "p": prices}).to_csv(tmp_path / "hours.csv", index=False)
    cfg = ForecastDataConfig(path=str(tmp_path / "hours.csv"), target="p", window=5,
                             horizon=2)
    evaluation = EvaluationConfig(season=24, moving_average=4)
    data = prepare(cfg, evaluation)
    ev = evaluate(data, PriceForecast(point=data.actual[data.test_index]), evaluation,
                  stride=1)
    return written, cfg, data, ev


def test_times_written_with_one_offset_keep_it_in_the_outputs(tmp_path):
    """Hourly bars written with +08:00 keep their wall clocks, but forecast.csv, ahead.csv
    and the report dropped the offset and never named it, so the outputs read as another
    clock's times (UTC's, as unix-time files are labelled). They now carry it: each CSV
    date is the instant the file wrote, and the data line names the clock."""
    from fjax.tasks.forecast.data import data_facts
    from fjax.tasks.forecast.report import ahead_frame, data_line, forecast_frame
    written, cfg, data, ev = _hourly_evaluation(tmp_path, "%Y-%m-%dT%H:%M:%S+08:00")
    instants = pd.to_datetime(pd.Series(written))   # the oracle: pandas reads the offset
    out = pd.read_csv(io.StringIO(forecast_frame(data, ev).to_csv(index=False)))
    assert out["date"].iloc[-1] == written[-1].replace("T", " ")
    assert pd.to_datetime(out["date"]).iloc[-1] == instants.iloc[-1]
    m = {"per_horizon": {k: {"rmse": [1.0, 2.0]} for k in ("model", "naive")}}
    ahead = ahead_frame(data, {"steps": 2, "forecast": [1.0, 2.0], "naive": [0.0, 0.0]}, m)
    after = instants.iloc[-1] + pd.to_timedelta([1, 2], unit="h")
    assert list(pd.to_datetime(ahead["date"])) == list(after)
    assert str(ahead["issued"].iloc[0]) == "2024-03-06 08:00:00+08:00"
    facts = data_facts(data, cfg)
    assert facts["last_date"] == "2024-03-06 08:00" and facts["clock"] == "UTC+08:00"
    assert "to 2024-03-06 08:00 (times as written, UTC+08:00" in data_line(facts)
    assert not facts["utc"]


def test_times_written_in_gmt_name_the_utc_clock(tmp_path):
    """Times written "... GMT" were read on pandas' UTC zone, but the offset check knew only
    Z, UTC and numeric offsets, so the outputs named no clock and wrote bare times. GMT is
    UTC+00:00: the CSV dates now carry +00:00 (oracle: the last instant written by hand,
    not pandas' reading of the text, which is naive before pandas 3.1) and the data line
    names UTC."""
    from fjax.tasks.forecast.data import data_facts
    from fjax.tasks.forecast.report import data_line, forecast_frame
    written, cfg, data, ev = _hourly_evaluation(tmp_path, "%Y-%m-%d %H:%M:%S GMT")
    assert written[-1] == "2024-03-06 08:00:00 GMT"
    out = pd.read_csv(io.StringIO(forecast_frame(data, ev).to_csv(index=False)))
    assert out["date"].iloc[-1] == "2024-03-06 08:00:00+00:00"
    assert pd.to_datetime(out["date"]).iloc[-1] == pd.Timestamp("2024-03-06 08:00", tz="UTC")
    facts = data_facts(data, cfg)
    assert facts["clock"] == "UTC" and not facts["utc"]
    assert "to 2024-03-06 08:00 (times as written, UTC" in data_line(facts)


def test_the_loss_history_shown_is_each_origins_chosen_members():
    """Two compile groups, the second stopped an epoch earlier; origin 1 chose a point of
    group 2, origin 2 one of group 1: per epoch, origin 1's seeds from group 2, then
    origin 2's from group 1 (NaN where group 2 has no epoch), no other member."""
    from fjax.tasks.forecast.members import Candidate, chosen_history
    hist = [[{"epoch": e + 1, "loss": 100 * g + 10 * e + np.arange(4.0),
              "val_loss": -(100 * g + 10 * e + np.arange(4.0)), "time_s": 0.1}
             for e in range(3 - g)] for g in (0, 1)]
    cands = [Candidate(0, {}, np.array([[0, 1], [2, 3]]), None),      # [seed, origin]
             Candidate(1, {}, np.array([[1, 0], [3, 2]]), None)]
    out = chosen_history(hist, cands, [1, 0])
    assert [row["epoch"] for row in out] == [1, 2, 3]
    for e, row in enumerate(out):
        origin1 = [100 + 10 * e + 1, 100 + 10 * e + 3] if e < 2 else [np.nan, np.nan]
        np.testing.assert_array_equal(row["loss"], origin1 + [10 * e + 1, 10 * e + 3])
        np.testing.assert_array_equal(row["val_loss"], -np.array(origin1 + [10 * e + 1,
                                                                             10 * e + 3]))
        assert set(row) == {"epoch", "loss", "val_loss"}


def test_filled_target_steps_are_out_of_every_metric_and_only_those(tmp_path):
    """H = 3 with forward-filled prices in the test span: each window keeps the steps
    that forecast an observed price (a whole window once went as soon as one step was
    filled) and every metric, overall, per step and of the interval, skips exactly the
    filled (window, step) targets: float64 numpy over the observed targets."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"Date": pd.date_range("2024-01-01", periods=200, freq="D"),
                          "price": 100 * np.exp(np.cumsum(0.02 * rng.standard_normal(200)))})
    holes = [60, 171, 185, 186]                   # one in training, three in the test span
    frame.loc[holes, "price"] = np.nan
    frame.to_csv(tmp_path / "p.csv", index=False)
    h = 3
    data = prepare(ForecastDataConfig(path=str(tmp_path / "p.csv"), target="price",
                                      window=10, horizon=h, missing="ffill"))
    steps = data.plan.origins[:, None] + np.arange(h)[None, :]
    np.testing.assert_array_equal(data.observed, ~np.isin(steps, holes))
    index = data.test_index
    first_test = data.plan.spans[0]["test"][0]
    np.testing.assert_array_equal(data.plan.origins[index],
                                  np.arange(first_test, 200 - h + 1))   # no window dropped
    assert data.unscored_targets == int(np.isin(steps[index], holes).sum()) == 9
    actual = frame["price"].to_numpy()[steps[index]]           # NaN where filled
    seen = ~np.isnan(actual)
    point = data.actual[index] * (1 + 0.01 * rng.standard_normal((len(index), h)))
    lower, upper = point * 0.99, point * 1.01
    ev = evaluate(data, PriceForecast(point, lower, upper, nominal=0.8), EvaluationConfig(),
                  stride=1)
    m = ev.metrics
    err = (point - actual)[seen]
    assert m["test_windows"] == len(index)
    assert m["model"]["rmse"] == pytest.approx(np.sqrt(np.mean(err ** 2)), rel=1e-9)
    assert m["model"]["mae"] == pytest.approx(np.mean(np.abs(err)), rel=1e-9)
    assert m["model"]["mase"] == pytest.approx(np.mean(np.abs(err)) / m["naive_scale"],
                                               rel=1e-9)
    naive = np.repeat(data.last_price[index][:, None], h, axis=1)
    assert m["baselines"]["naive"]["rmse"] == pytest.approx(
        np.sqrt(np.mean((naive - actual)[seen] ** 2)), rel=1e-9)
    for step in range(h):
        e = (point - actual)[seen[:, step], step]
        assert m["per_horizon"]["model"]["rmse"][step] == pytest.approx(
            np.sqrt(np.mean(e ** 2)), rel=1e-9)
    inside = (actual >= lower) & (actual <= upper)
    assert m["interval"]["coverage"] == pytest.approx(inside[seen].mean(), rel=1e-6)
    assert m["interval"]["width"] == pytest.approx((upper - lower)[seen].mean(), rel=1e-6)
    assert m["interval"]["coverage_by_step"] == pytest.approx(
        [inside[seen[:, s], s].mean() for s in range(h)], rel=1e-6)
    d = np.nanmean((point - actual) ** 2 - (naive - actual) ** 2, axis=1)
    assert m["diebold_mariano_vs_naive"]["mean_loss_difference"] == pytest.approx(d.mean())


@pytest.mark.parametrize("name", ["mse", "pinball", "gaussian_nll"])
def test_the_loss_leaves_out_masked_target_steps(name):
    """`batch["target_mask"]` (0 on a filled forecast step): the loss is the mean over
    the observed (window, step) entries, each the mean over its quantiles (float64
    numpy)."""
    import jax.numpy as jnp
    from fjax.train.objective import supervised_loss
    rng = np.random.default_rng(0)
    n, h = 6, 3
    cfg = LossConfig(name=name, quantiles=(0.1, 0.5, 0.9))
    width = {"mse": h, "pinball": 3 * h, "gaussian_nll": 2 * h}[name]
    out = rng.standard_normal((n, width))
    y = rng.standard_normal((n, h))
    mask = (rng.random((n, h)) > 0.4).astype(np.float64)
    weight = np.array([1.0, 1.0, 0.0, 1.0, 2.0, 1.0])
    loss_fn = supervised_loss(lambda params, x: x, cfg)
    batch = {"x": jnp.asarray(out, jnp.float32), "y": jnp.asarray(y, jnp.float32),
             "weight": jnp.asarray(weight, jnp.float32),
             "target_mask": jnp.asarray(mask, jnp.float32)}
    got, _ = loss_fn(None, batch, None)
    if name == "mse":
        per = (out - y) ** 2
    elif name == "pinball":
        q = np.array([0.1, 0.5, 0.9])
        e = y[..., None] - out.reshape(n, h, 3)
        per = np.maximum(q * e, (q - 1) * e).mean(axis=-1)
    else:
        mean, log_scale = out[:, :h], out[:, h:]
        per = 0.5 * np.log(2 * np.pi) + log_scale + 0.5 * ((y - mean) / np.exp(log_scale)) ** 2
    w = weight[:, None] * mask
    assert float(got) == pytest.approx(np.sum(w * per) / np.sum(w), rel=1e-5)


def test_interval_median_width_is_the_typical_width_one_wide_step_cannot_set():
    """A log-return Gaussian bound maps to prices through exp: one wide step (upper 1.5e8
    on a price of 2,400 after one epoch) set a 'mean width' of 1.2e4 where the typical
    width was 121. The median, over observed targets only, is numpy's."""
    rng = np.random.default_rng(0)
    actual = 2400 + rng.standard_normal((50, 4))
    lower, upper = actual - rng.uniform(40, 80, (50, 4)), actual + 60.0
    upper[7, 2] = 1.5e8
    observed = np.ones((50, 4), bool)
    observed[3, 1] = False
    iv = interval_metrics(PriceForecast(actual, lower, upper, nominal=0.8), actual, observed, 1)
    widths = (upper - lower)[observed]
    assert iv["width"] == pytest.approx(widths.mean(), rel=1e-9)
    assert iv["median_width"] == pytest.approx(np.median(widths), rel=1e-12)
    assert iv["median_width"] < 200 < iv["width"]


def _wilson(p, n, z=1.959963984540054):
    """Wilson's 95% interval by its formula (Wilson, JASA 1927), in float64 numpy."""
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def test_coverage_is_judged_at_every_step_not_only_pooled():
    """An 80% interval covering every step-1 target and 60% of the step-2 ones pools to
    80%, 'consistent with the nominal level', while neither step is: a 5-step quantile run
    on the S&P 500 pooled 77.4% (interval 71.2-82.7%) from steps at 97, 60, 67, 93 and 69%.
    Step h is judged on N min(stride, h) / h windows: 400 at step 1, 200 at step 2."""
    from fjax.tasks.forecast.report import coverage_words, step_coverage_text
    n = 400
    actual = np.full((n, 2), 100.0)
    lower, upper = actual - 1.0, actual + 1.0
    upper[: int(0.4 * n), 1] = 99.5                 # 40% of step-2 targets fall outside
    iv = interval_metrics(PriceForecast(actual, lower, upper, nominal=0.8), actual,
                          np.ones((n, 2), bool), 1)
    assert iv["coverage_by_step"] == pytest.approx([1.0, 0.6])
    assert iv["coverage"] == pytest.approx(0.8)
    assert iv["coverage_interval"] == pytest.approx(_wilson(0.8, n / 2), abs=1e-6)
    assert np.ravel(iv["coverage_interval_by_step"]) == pytest.approx(
        np.ravel([_wilson(1.0, n), _wilson(0.6, n / 2)]), abs=1e-6)
    assert "pooled over the steps, but not step by step" in coverage_words(iv)
    text = step_coverage_text(iv, [1, 2])
    assert "too narrow at step(s) 2; wider than needed at step(s) 1" in text
    assert "about one step in 20 would by chance alone" in text
    calibrated = interval_metrics(PriceForecast(actual, lower, actual + 1.0, nominal=0.8),
                                  actual + np.where(np.arange(n) % 5 == 0, 2.0, 0.0)[:, None],
                                  np.ones((n, 2), bool), 1)
    assert calibrated["coverage_by_step"] == pytest.approx([0.8, 0.8])
    assert "outside" not in step_coverage_text(calibrated, [1, 2])
    assert "consistent with the nominal level (the difference" in coverage_words(calibrated)


def test_intervals_are_scored_by_pinball_loss_beside_the_naive_interval(small):
    """Coverage alone cannot rank intervals: a 5-step quantile run on the S&P 500 covered
    77.4% for a nominal 80% while its pinball loss was 13.7 against 8.03 for the last
    price moved by the training windows' empirical 0.1 / 0.9 step changes. Here the
    naive interval comes from Y itself: training windows t = 2..13 (the test span starts
    at row 16, horizon 3), log changes Y[t - 1 + h] / Y[t - 1], numpy's quantiles."""
    from fjax.tasks.forecast.report import naive_interval_text
    index = small.test_index
    actual, last = small.actual[index], small.last_price[index]
    fc = PriceForecast(actual, actual - 1.0, actual + 2.0, nominal=0.8)
    ev = evaluate(small, fc, EvaluationConfig(season=2, moving_average=3), stride=1)
    t = np.arange(2, 14)
    expected = np.empty((len(index), 3, 3))
    for h in range(1, 4):
        change = np.quantile(np.log(Y[t - 1 + h] / Y[t - 1]), [0.1, 0.5, 0.9])
        expected[:, h - 1] = last[:, None] * np.exp(change)[None, :]
    np.testing.assert_allclose(ev.naive_interval, expected, rtol=1e-12)
    iv = ev.metrics["interval"]
    assert iv["levels"] == pytest.approx([0.1, 0.5, 0.9])
    # e = 1 below the 0.1 bound (0.1 x 1), 0 at the median, -2 at the 0.9 bound (0.1 x 2)
    assert iv["pinball"] == pytest.approx(0.1, rel=1e-12)
    e = actual[..., None] - expected
    q = np.array([0.1, 0.5, 0.9])
    naive = np.maximum(q * e, (q - 1) * e).mean(axis=-1)
    assert iv["naive"]["pinball"] == pytest.approx(naive.mean(), rel=1e-12)
    assert iv["naive"]["pinball_by_step"] == pytest.approx(naive.mean(axis=0), rel=1e-12)
    inside = (actual >= expected[..., 0]) & (actual <= expected[..., 2])
    assert iv["naive"]["coverage"] == pytest.approx(inside.mean(), abs=1e-7)
    d = (0.1 - naive).mean(axis=1)                  # per-window loss differential
    assert iv["diebold_mariano_vs_naive"]["mean_loss_difference"] == pytest.approx(d.mean())
    worse = {**iv, "pinball": 2 * naive.mean()}
    assert "no better than the naive interval" in naive_interval_text(worse)
    noise = {**iv, "diebold_mariano_vs_naive": {"statistic": -1.0, "p_value": 0.3}}
    assert "lower, but not significantly at 5%" in naive_interval_text(noise)
    sure = {**iv, "diebold_mariano_vs_naive": {"statistic": -3.0, "p_value": 0.003}}
    assert "significantly better at 5%" in naive_interval_text(sure)


def test_the_hit_rate_of_always_calling_a_rise_is_reported(tmp_path):
    """In a rising market 50% is no mark for a hit rate: on the S&P 500 2015-2018, 57.0%
    of 5-step test steps rose; a log-return model hit 55.2% (which reads as skill) and
    drift, always rising, 57.0%. The share is numpy's over the file's prices, and a
    forecast that always calls a rise scores exactly it."""
    from test_forecast_data import random_walk

    from fjax.tasks.forecast.report import constant_text
    path, frame = random_walk(tmp_path, n=240)
    data = prepare(ForecastDataConfig(path=str(path), date_column="Date", target="price",
                                      window=5, horizon=3),
                   EvaluationConfig(season=5, moving_average=3))
    p = frame["price"].to_numpy()
    t = np.arange(192, 238)                         # test first targets: ceil(0.8 n) to n - H
    rose = np.stack([p[t - 1 + h] > p[t - 1] for h in (1, 2, 3)], axis=1)
    assert np.array_equal(data.plan.origins[data.test_index], t)
    last = data.last_price[data.test_index]
    up = PriceForecast(np.repeat(last[:, None] + 1.0, 3, axis=1))
    m = evaluate(data, up, EvaluationConfig(season=5, moving_average=3), stride=1).metrics
    assert m["rising_share"] == pytest.approx(rose.mean(), rel=1e-12)
    assert m["model"]["directional_accuracy"] == pytest.approx(rose.mean(), abs=1e-6)
    fell = np.stack([p[t - 1 + h] < p[t - 1] for h in (1, 2, 3)], axis=1).mean()
    assert fell > rose.mean()   # this walk fell more often: always calling a fall is the mark
    assert m["constant_call"] == "fall"
    assert (f"{rose.mean():.1%} of the test steps rose and {fell:.1%} fell, so a forecast "
            f"that always calls a fall hits {fell:.1%}") in constant_text(m)


def test_each_bound_is_judged_as_the_quantile_it_is():
    """A 5-step S&P 500 quantile run (0.1 / 0.9) covered 77.4%, within noise of 80%, with
    20.1% of its targets above the upper bound and 2.5% below the lower (10% expected
    each): a forecast running low, not a calibrated one. Here 30% of 400 targets lie
    above the upper bound and none below; a 0.8 interval expects 10% each side."""
    from fjax.tasks.forecast.report import coverage_words
    n = 400
    actual = np.full((n, 1), 100.0)
    lower, upper = actual - 1.0, actual + 1.0
    upper[: int(0.3 * n)] = 99.5
    observed = np.ones((n, 1), bool)
    iv = interval_metrics(PriceForecast(actual, lower, upper, nominal=0.8), actual,
                          observed, 1)
    assert iv["above_upper"] == pytest.approx(np.mean(actual > upper))
    assert iv["below_lower"] == pytest.approx(np.mean(actual < lower)) == 0.0
    assert [iv["expected_below"], iv["expected_above"]] == pytest.approx([0.1, 0.1])
    assert iv["above_upper_interval"] == pytest.approx(_wilson(0.3, n), abs=1e-9)
    assert "the forecast runs low" in coverage_words(iv)
    # a quantile head's own outer levels set the expected shares: 0.05 and 1 - 0.7
    fc = PriceForecast(actual, lower, upper, nominal=0.65, levels=(0.05, 0.7))
    iv = interval_metrics(fc, actual, observed, 1)
    assert [iv["expected_below"], iv["expected_above"]] == pytest.approx([0.05, 0.3])
    assert "runs" not in coverage_words(iv) and "too narrow" not in coverage_words(iv)


def test_a_bounds_expected_share_is_printed_as_it_is():
    """A 0.95 interval expects 2.5% beyond each bound; the text printed them to whole
    percents, as 2% below and 3% above (1 - 0.975 is 0.025000000000000022)."""
    from fjax.tasks.forecast.report import tail_words
    n = 400
    actual = np.full((n, 1), 100.0)
    iv = interval_metrics(PriceForecast(actual, actual - 1.0, actual + 1.0, nominal=0.95),
                          actual, np.ones((n, 1), bool), 1)
    assert [iv["expected_below"], iv["expected_above"]] == pytest.approx([0.025, 0.025])
    text = tail_words(iv)
    assert "below the lower bound (expected 2.5%;" in text
    assert "above the upper (expected 2.5%;" in text


def walk_of_three_steps(tmp_path, drift=0.0):
    """A 240-day random walk (log drift `drift` a day) forecast 3 steps ahead from windows
    of 5: the prepared data, its evaluation config, the prices and the test windows' first
    target rows."""
    from test_forecast_data import random_walk
    path, frame = random_walk(tmp_path, n=240)
    frame["price"] = frame["price"] * np.exp(drift * np.arange(len(frame)))
    frame.to_csv(path, index=False)
    cfg = EvaluationConfig(season=5, moving_average=3)
    data = prepare(ForecastDataConfig(path=str(path), date_column="Date", target="price",
                                      window=5, horizon=3), cfg)
    return data, cfg, frame["price"].to_numpy(), data.plan.origins[data.test_index]


def test_the_naive_forecasts_own_mase_is_shown_and_1_is_not_the_mark(tmp_path):
    """MASE divides every step by the one-step naive MAE, so the naive forecast's own MASE
    grows with the step (S&P 500, 5 steps: 1.26 at step 1, 2.80 at step 5, 2.129 overall)
    and a model's 2.133 read as far worse than naive. The report gives the naive's MASE
    beside the model's; both are numpy's here (mean |error| / mean |training move|)."""
    from fjax.tasks.forecast.report import mase_text
    data, cfg, p, t = walk_of_three_steps(tmp_path)
    scale = np.mean(np.abs(np.diff(p[:data.plan.spans[0]["train"][1]])))
    moved = np.stack([np.abs(p[t - 1 + h] - p[t - 1]) for h in (1, 2, 3)], axis=1) / scale
    point = p[t - 1][:, None] + np.array([0.5, -0.2, 0.9])
    model = np.mean(np.abs(point - np.stack([p[t - 1 + h] for h in (1, 2, 3)], axis=1))) / scale
    m = evaluate(data, PriceForecast(point), cfg, stride=1).metrics
    assert m["baselines"]["naive"]["mase"] == pytest.approx(moved.mean(), rel=1e-9)
    assert m["model"]["mase"] == pytest.approx(model, rel=1e-9)
    assert moved.mean() > 1.0      # the naive forecast is "worse than naive" by the 1 mark
    text = mase_text(m)
    assert (f"the naive forecast's own MASE is {moved.mean():.3f} over the 3 steps "
            f"({moved[:, 0].mean():.3f} at step 1, {moved[:, 2].mean():.3f} at step 3), so "
            "**a MASE above 1 does not mean worse than naive here**: the model's "
            f"{model:.3f} is to be read against the naive's {moved.mean():.3f}.") in text
    one = {**m, "horizon": 1}
    assert "does not mean" not in mase_text(one) and mase_text(one).endswith(").")


def dm_oracle(d: np.ndarray, lags: int) -> tuple[float, float]:
    """numpy's DM statistic and p-value of a loss difference: an explicit Bartlett double
    sum, HLN's k, Student's t."""
    n = len(d)
    u = d - d.mean()
    lag = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    lrv = u @ np.where(lag <= lags, 1 - lag / (lags + 1), 0.0) @ u / n
    q = lags + 1
    stat = np.sqrt((n + 1 - 2 * q + q * (q - 1) / n) / n) * d.mean() / np.sqrt(lrv / n)
    return stat, 2 * scipy.stats.t.sf(abs(stat), n - 1)


@pytest.mark.parametrize("drift,call", [(0.01, "rise"), (-0.01, "fall")])
def test_the_hit_rate_is_tested_against_the_better_constant_call(tmp_path, drift, call):
    """A hit rate had no test: on the S&P 500 (5 steps, 3 origins) a log-return model's
    51.5% beside a rising share of 57.0% was given no verdict; the DM test on the 0/1 miss
    against always-up (Newey-West over the 4 lags of overlapping 5-step windows) puts it
    significantly below (statistic 3.04, p = 0.0024). In a falling span always calling a
    rise was still the mark, though always calling a fall hits more: the mark is the
    better constant call. Here a model that calls step 1 right in 70% of windows, step 2
    never (the last price: no call, left out) and step 3 at random is tested against numpy
    on a walk rising 1% a day and one falling 1% a day."""
    from fjax.tasks.forecast.report import constant_text, direction_test_text
    data, cfg, p, t = walk_of_three_steps(tmp_path, drift)
    last, actual = p[t - 1], np.stack([p[t - 1 + h] for h in (1, 2, 3)], axis=1)
    rose, fell = (actual > last[:, None]).mean(), (actual < last[:, None]).mean()
    assert (rose >= fell) == (call == "rise")
    rng = np.random.default_rng(3)
    right = np.sign(actual[:, 0] - last) * np.where(rng.uniform(size=len(t)) < 0.7, 1, -1)
    calls = np.stack([right, np.zeros(len(t)), rng.choice([-1.0, 1.0], len(t))], axis=1)
    m = evaluate(data, PriceForecast(last[:, None] + calls), cfg, stride=1).metrics
    assert m["constant_call"] == call
    assert (m["rising_share"], m["falling_share"]) == pytest.approx((rose, fell), rel=1e-12)
    miss = (calls != np.sign(actual - last[:, None]))[:, [0, 2]]
    constant = (actual <= last[:, None]) if call == "rise" else (actual >= last[:, None])
    d = miss.mean(axis=1) - constant[:, [0, 2]].mean(axis=1)
    stat, p_value = dm_oracle(d, lags=2)
    dm = m["direction_vs_constant"]
    assert dm["call"] == call
    assert dm["statistic"] == pytest.approx(stat, rel=1e-9)
    assert dm["p_value"] == pytest.approx(p_value, rel=1e-9)
    assert m["model"]["directional_accuracy"] == pytest.approx(1 - miss.mean(), abs=1e-9)
    share = rose if call == "rise" else fell
    assert f"always calls a {call} hits {share:.1%}" in constant_text(m)
    text = direction_test_text(m)
    assert f"against always calling a {call}" in text and f"statistic {stat:.3f}" in text
    worse = {**m, "direction_vs_constant": {**dm, "statistic": 2.5, "p_value": 0.01}}
    assert f"significantly lower at 5%: worse than always calling a {call} ({share:.1%})" \
        in direction_test_text(worse)
    better = {**m, "direction_vs_constant": {**dm, "statistic": -2.5, "p_value": 0.01}}
    assert "significantly higher at 5%" in direction_test_text(better)
    noise = {**m, "direction_vs_constant": {**dm, "p_value": 0.3}}
    assert "not significantly different at 5%" in direction_test_text(noise)


def test_the_verdict_writes_prices_whole_and_to_comparable_digits():
    """A series priced like bitcoin read "RMSE 4.325e+04", and MAE 96.995 read "97" beside
    RMSE "140.5": prices above 10,000 are written whole (the report tables' rule), and
    every price to 4 significant digits, zeros kept."""
    from fjax.tasks.forecast.report import verdict
    m = {"model": {"rmse": 43250.5, "mae": 96.995},
         "baselines": {"naive": {"rmse": 140.53, "mae": 0.5}},
         "beats_naive": {"rmse": False, "mae": False},
         "diebold_mariano_vs_naive": {"p_value": None}, "test_windows": 900}
    assert ("RMSE 43250 vs 140.5 (ratio 307.767), MAE 97.00 vs 0.5000, in price units."
            in verdict(m))


def test_the_metric_table_gives_the_hit_rate_in_percent_as_the_text_does():
    """The text said "hit rate 48.6%" while the table's "direction hit rate" column read
    0.4861; the column is now in percent, its header says so, as MAPE's does."""
    from fjax.tasks.forecast.report import metric_table
    row = {"mae": 1.0, "rmse": 2.0, "mape": 3.0, "smape": 3.0, "mase": 1.5,
           "directional_accuracy": 0.48611}
    table = metric_table({"model": row, "baselines": {
        "naive": {**row, "directional_accuracy": None}}}).splitlines()
    assert table[0].endswith("| MASE | direction hit rate % |")
    assert table[2].endswith("| 1.500 | 48.61 |") and table[3].endswith("| n/a |")


def test_the_origin_table_gives_coverage_in_percent_and_prices_as_the_text_does():
    """The walk-forward origins table read model_coverage 0.9433 while the text gives
    coverage in percent, and its prices by ".4g": RMSE "114" beside "101.8", "19.8" beside
    "14.82". Coverage is now in percent, its header says so; prices keep 4 digits."""
    from fjax.tasks.forecast.report import origin_table
    o = {"origin": 1, "windows": 335, "model_rmse": 114.0, "model_mae": 101.8,
         "naive_rmse": 19.8, "naive_mae": 43250.5, "naive_scale": 10.47,
         "model_coverage": 0.94328, "model_width": 119.3}
    table = origin_table({"per_origin": [o, {**o, "origin": 2}]}).splitlines()
    assert table[0] == ("| origin | windows | model_rmse | model_mae | naive_rmse | naive_mae "
                        "| naive_scale | model_coverage % | model_width |")
    assert table[2] == "| 1 | 335 | 114.0 | 101.8 | 19.80 | 43250 | 10.47 | 94.33 | 119.3 |"
    no_interval = {k: v for k, v in o.items() if not k.startswith("model_c")}
    assert "model_coverage" not in origin_table({"per_origin": [no_interval]})


def test_the_sweep_table_writes_errors_by_price_and_settings_as_the_text_does():
    """The sweep table wrote every number by ".4g": test MAE "57.8" beside RMSE "67.06".
    Its errors now keep 4 digits, as the metric table's; its grid settings read as the
    Model line names them (0.001, batch 32), not by that rule (0.001000, 32.00)."""
    from fjax.tasks.forecast.report import grid_table
    row = {"point": 1, "group": 0, "optim.learning_rate": 0.001, "train.batch_size": 32,
           "model.hidden": "(64,)", "val_loss": None, "val_mse": 0.0012346,
           "test_rmse": 67.06, "test_mae": 57.8, "test_mase": 5.5, "naive_rmse": 43250.5}
    other = {**row, "point": 2, "train.batch_size": None, "val_loss": 0.25}
    table = grid_table([row, other]).splitlines()
    assert table[2] == ("| 1 | 0 | 0.001 | 32 | (64,) | n/a | 0.001235 | 67.06 | 57.80 "
                        "| 5.500 | 43250 |")
    assert table[3].startswith("| 2 | 0 | 0.001 | n/a | (64,) | 0.2500 |")


def test_the_ahead_table_keeps_six_digits_and_gives_coverage_in_percent():
    """The ahead table read lower "2430.9" beside forecast "2466.79" (".6g" drops zeros)
    and test_coverage 0.49503 while the text gives the nominal 80% and the interval
    section 49.5%. Zeros are kept, coverage is in percent; ahead.csv keeps the share."""
    from fjax.tasks.forecast.report import ahead_table
    frame = pd.DataFrame({"step": [1, 2], "issued": ["2018-12-31"] * 2,
                          "forecast": [2466.79, 43250.5], "lower": [2430.9, 1.0],
                          "test_rmse": [79.0393, 80.0], "test_coverage": [0.49503, 0.8]})
    table = ahead_table(frame, 2).splitlines()
    assert table[0] == "| step | forecast | lower | test_rmse | test_coverage % |"
    assert table[2:] == ["| 1 | 2466.79 | 2430.90 | 79.0393 | 49.5030 |",
                         "| 2 | 43250.5 | 1.00000 | 80.0000 | 80.0000 |"]
    assert frame["test_coverage"].tolist() == [0.49503, 0.8]


def test_interval_coverage_is_exact_in_float64_evaluation():
    """metrics.json's coverage_by_step read 0.360000014305: the float32 indicator inside
    intervals.coverage made its weights float32 too, in the float64 evaluation. By hand:
    9 of 25 targets inside, over 2 steps 9 + 25 of 50, is 0.36 and 0.68 exactly."""
    from fjax.tasks.forecast.evaluate import interval_metrics
    actual = np.full((25, 2), 100.0)
    lower = np.c_[np.where(np.arange(25) < 9, 99.0, 101.0), np.full(25, 99.0)]
    fc = PriceForecast(actual.copy(), lower=lower, upper=lower + 2.0, nominal=0.8)
    iv = interval_metrics(fc, actual, np.ones((25, 2)), stride=1)
    assert iv["coverage_by_step"] == [0.36, 1.0] and iv["coverage"] == 0.68
