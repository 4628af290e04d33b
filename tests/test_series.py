"""fjax.data.series: per-step series, change-from-last targets and their exact inverse."""

import numpy as np
import pytest

from fjax.data.series import first_row, gaussian_prices, targets, to_prices, to_target

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
