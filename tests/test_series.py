"""fjax.data.series: per-step series, change-from-last targets and their exact inverse."""

import numpy as np
import pandas as pd
import pytest

from fjax.data.series import (first_row, gaussian_prices, inputs_first_row, targets, to_feature,
                              to_inputs, to_prices, to_target)

PRICES = np.array([100.0, 102.0, 101.0, 105.0, 104.0, 108.0, 110.0])


def future(origins, horizon):
    return np.stack([PRICES[t:t + horizon] for t in origins])


@pytest.mark.parametrize("transform", ["price", "diff", "log_return"])
@pytest.mark.parametrize("horizon", [1, 3])
def test_targets_round_trip_to_prices(transform, horizon):
    origins = np.arange(1, len(PRICES) - horizon + 1)
    c = targets(PRICES, origins, horizon, transform)
    back = to_prices(c, PRICES[origins - 1], transform)
    np.testing.assert_allclose(back, future(origins, horizon), rtol=1e-13)


@pytest.mark.parametrize("transform", ["price", "diff", "log_return"])
def test_one_step_target_is_the_next_per_step_value(transform):
    origins = np.arange(1, len(PRICES))
    z = to_target(PRICES, transform)
    np.testing.assert_allclose(targets(PRICES, origins, 1, transform)[:, 0], z[origins],
                               rtol=1e-13)


def test_hand_values():
    np.testing.assert_array_equal(to_target(PRICES, "diff")[1:4], [2.0, -1.0, 4.0])
    np.testing.assert_allclose(to_target(PRICES, "log_return")[1], np.log(1.02), rtol=1e-12)
    assert np.isnan(to_target(PRICES, "diff")[0]) and np.isnan(to_target(PRICES, "log_return")[0])
    # From row 2 (last price 102): changes to 101, 105, 104.
    np.testing.assert_array_equal(targets(PRICES, np.array([2]), 3, "diff"), [[-1.0, 3.0, 2.0]])
    np.testing.assert_allclose(targets(PRICES, np.array([2]), 2, "log_return"),
                               [np.log([101 / 102, 105 / 102])], rtol=1e-13)
    np.testing.assert_allclose(to_prices(np.array([[1.0, 3.0]]), np.array([10.0]), "diff"),
                               [[11.0, 13.0]])
    np.testing.assert_allclose(
        to_prices(np.log([[1.1, 1.2]]), np.array([10.0]), "log_return"), [[11.0, 12.0]])
    assert first_row("price") == 0 and first_row("log_return") == 1


def test_quantile_axis_inverts_each_level():
    c = np.array([[[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0]]])  # [N=1, H=2, Q=3]
    out = to_prices(c, np.array([50.0]), "diff")
    np.testing.assert_allclose(out[0], [[49.0, 50.0, 51.0], [48.0, 50.0, 52.0]])
    out = to_prices(c, np.array([50.0]), "log_return")
    assert np.all(np.diff(out, axis=-1) > 0)  # order (and so quantiles) preserved


def test_columns_transform_independently():
    cols = np.stack([PRICES, PRICES * 2], axis=1)
    z = to_target(cols, "diff", names=("a", "b"))
    np.testing.assert_allclose(z[1:, 1], 2 * z[1:, 0])


def test_log_return_rejects_nonpositive_naming_the_column():
    cols = np.stack([PRICES, np.r_[PRICES[:3], 0.0, PRICES[4:]]], axis=1)
    with pytest.raises(ValueError, match=r"'Volume' has 1 values <= 0 .*row 3.*drop it from "
                       r"--data.features"):
        to_target(cols, "log_return", names=("Close", "Volume"))
    with pytest.raises(ValueError, match=r"'Close' has 1 values <= 0.*; use --data.transform"):
        to_target(cols[:, ::-1], "log_return", names=("Close", "Volume"))
    with pytest.raises(ValueError, match=r"'target' has 1 values <= 0"):
        targets(np.r_[PRICES, -1.0], np.array([2]), 1, "log_return")


def test_feature_transforms_hand_values():
    x = np.array([2.0, 4.0, 1.0, 8.0])
    np.testing.assert_array_equal(to_feature(x, "level"), x)
    np.testing.assert_allclose(to_feature(x, "log"), np.log(x), rtol=1e-15)
    np.testing.assert_array_equal(to_feature(x, "diff")[1:], [2.0, -3.0, 7.0])
    np.testing.assert_allclose(to_feature(x, "log_return")[1:], np.log([2.0, 0.25, 8.0]),
                               rtol=1e-15)
    assert np.isnan(to_feature(x, "diff")[0]) and np.isnan(to_feature(x, "log_return")[0])
    # Inputs start where every column is defined: row 1 once any column is differenced.
    assert inputs_first_row("price", ["level", "log"]) == 0
    assert inputs_first_row("price", ["level", "diff"]) == 1
    assert inputs_first_row("log_return", []) == 1


@pytest.mark.parametrize("transform", ["level", "log", "log1p", "diff", "log_return"])
def test_a_feature_at_row_t_uses_rows_up_to_t_only(transform):
    x = np.random.default_rng(0).uniform(1.0, 2.0, 20)
    later = np.r_[x[:10], 3 * x[10:]]
    np.testing.assert_array_equal(to_feature(x, transform)[:10], to_feature(later, transform)[:10])
    assert to_feature(x, transform)[10] != to_feature(later, transform)[10]


def test_inputs_transform_each_column_by_its_own_transform():
    cols = np.stack([PRICES, PRICES - 104.0, PRICES * 10], axis=1)   # a signed spread
    z = to_inputs(cols, "log_return", ["level", "log"], ("Close", "Spread", "Volume"))
    np.testing.assert_allclose(z[1:, 0], np.diff(np.log(PRICES)), rtol=1e-13)
    np.testing.assert_array_equal(z[:, 1], PRICES - 104.0)
    np.testing.assert_allclose(z[:, 2], np.log(PRICES * 10), rtol=1e-15)
    # Transformed like the target, the columns equal to_target's, bit for bit.
    np.testing.assert_array_equal(to_inputs(cols[:, [0, 2]], "log_return", ["log_return"], "ab"),
                                  to_target(cols[:, [0, 2]], "log_return"))


def test_a_nonpositive_value_is_named_by_date_and_source_when_given():
    dates = pd.date_range("2024-01-01", periods=len(PRICES)).to_numpy()
    spread = np.r_[PRICES[:2], -0.5, PRICES[2:-1]]
    with pytest.raises(ValueError, match=r"column 'Spread' of 'f.csv' has 1 values <= 0 \(first "
                       r"on 2024-01-03 00:00:00: -0.5\)"):
        to_inputs(np.stack([PRICES, spread], axis=1), "price", ["log"], ("Close", "Spread"),
                  dates=dates, source="'f.csv'")


@pytest.mark.parametrize("transform, need", [("log_return", "log returns"), ("log", "logs")])
def test_a_log_feature_rejects_nonpositive_naming_the_column_and_the_fix(transform, need):
    spread = np.r_[PRICES[:2], -0.5, PRICES[3:5], 0.0, PRICES[6:]]
    with pytest.raises(ValueError, match=rf"column 'Spread' has 2 values <= 0 \(first at row 2: "
                       rf"-0.5\); {need} need positive values; give it log1p \(a volume "
                       r"with zeros\), level or diff in --data.feature-transforms"):
        to_inputs(np.stack([PRICES, spread], axis=1), "price", [transform], ("Close", "Spread"))
    with pytest.raises(ValueError, match="unknown feature transform 'price'"):
        to_feature(PRICES, "price")


def test_log1p_takes_a_volume_with_zero_bars_and_refuses_negatives():
    """Crypto volume has zero bars (an outage, an illiquid hour): `log` refuses them,
    `log1p` is numpy's log(1 + x) there and elsewhere; a negative value is still named."""
    volume = np.array([12.0, 0.0, 3.5e6, 0.25])
    np.testing.assert_allclose(to_feature(volume, "log1p"), np.log1p(volume), rtol=1e-15)
    z = to_inputs(np.stack([PRICES[:4], volume], axis=1), "log_return", ["log1p"],
                  ("Close", "Volume"))
    np.testing.assert_allclose(z[:, 1], np.log1p(volume), rtol=1e-15)
    with pytest.raises(ValueError, match=r"column 'Volume' has 1 values < 0 \(first at row "
                       r"2: -1.0\); log1p inputs need non-negative values; give it log1p"):
        to_feature(np.array([1.0, 0.0, -1.0]), "log1p", "Volume")


def test_gaussian_prices_map_each_step_bound():
    mean, sigma = np.array([[1.0, 2.0]]), np.array([[3.0, 4.0]])
    point, lo, hi = gaussian_prices(mean, sigma, np.array([10.0]), "diff", z_score=2.0)
    np.testing.assert_allclose(point, [[11.0, 12.0]])
    np.testing.assert_allclose(lo, [[5.0, 4.0]])
    np.testing.assert_allclose(hi, [[17.0, 20.0]])
    point, lo, hi = gaussian_prices(np.zeros((1, 1)), np.ones((1, 1)), np.array([10.0]),
                                    "log_return", z_score=1.0)
    np.testing.assert_allclose([point[0, 0], lo[0, 0], hi[0, 0]], [10.0, 10 / np.e, 10 * np.e])
    point, lo, hi = gaussian_prices(mean, sigma, np.array([10.0]), "price", z_score=1.0)
    np.testing.assert_allclose(lo, [[-2.0, -2.0]])


def test_unknown_transform():
    with pytest.raises(ValueError, match="choose one of price, diff, log_return"):
        to_target(PRICES, "returns")


@pytest.mark.parametrize("transforms", [None, "log"])
def test_feature_transforms_not_a_list_are_refused_by_name(transforms):
    """None raised a bare TypeError (len of None); a string "log" was read as the
    transforms 'l', 'o' and 'g'."""
    cols = np.stack([PRICES, PRICES + 1.0], axis=1)
    with pytest.raises(TypeError, match=r"^feature_transforms must be a list of transform "
                                        r"names, one per feature \(1 here.*\['level'\]"):
        to_inputs(cols, "log_return", transforms, ("Close", "Spread"))
