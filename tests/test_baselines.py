"""fjax.baselines on a small series, against forecasts worked out by hand."""

import numpy as np
import pytest

from fjax import baselines

# y_i = 1 + i (i + 1) / 2: 1, 2, 4, 7, 11, 16, 22, 29, 37, 46
Y = np.array([1.0 + i * (i + 1) / 2 for i in range(10)], np.float32)
ORIGINS = np.array([6, 8], np.int32)  # last observed rows 5 (16) and 7 (29)


def test_naive_repeats_the_last_value():
    np.testing.assert_array_equal(baselines.naive(Y, ORIGINS, 3), [[16, 16, 16], [29, 29, 29]])


def test_drift_extends_the_average_change():
    # (16 - 1) / 5 = 3 and (29 - 1) / 7 = 4 per step; from row 2: (16 - 4) / 3 = 4.
    np.testing.assert_allclose(baselines.drift(Y, ORIGINS, 3), [[19, 22, 25], [33, 37, 41]])
    np.testing.assert_allclose(baselines.drift(Y, ORIGINS[:1], 2, 2), [[20, 24]])


def test_seasonal_naive_reuses_the_last_season():
    # m = 2, last row T: steps 1, 2, 3 read rows T - 1, T, T - 1.
    np.testing.assert_array_equal(baselines.seasonal_naive(Y, ORIGINS, 3, 2),
                                  [[11, 16, 11], [22, 29, 22]])
    # m = 1 is the naive forecast.
    np.testing.assert_array_equal(baselines.seasonal_naive(Y, ORIGINS, 3, 1),
                                  baselines.naive(Y, ORIGINS, 3))


def test_moving_average_of_the_last_rows():
    np.testing.assert_allclose(baselines.moving_average(Y, ORIGINS, 2, 3),
                               [[34 / 3, 34 / 3], [67 / 3, 67 / 3]], rtol=1e-6)


@pytest.mark.parametrize("season, window, need", [(5, 20, 20), (30, 20, 30), (1, 1, 2)])
def test_min_history(season, window, need):
    assert baselines.min_history(season, window) == need
