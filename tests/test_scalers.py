import numpy as np
import pytest

from fjax.data.scalers import fit_scaler


@pytest.mark.parametrize("kind", ["minmax", "standard", "robust", "none"])
def test_inverse_round_trips(kind):
    x = np.random.default_rng(0).normal(size=(50, 3)) * [1, 10, 100]
    s = fit_scaler(kind, x)
    np.testing.assert_allclose(s.inverse_transform(s.transform(x)), x, rtol=1e-12, atol=1e-9)


def test_statistics_come_from_training_rows_only():
    x = np.arange(10, dtype=float)
    mask = np.arange(10) < 6
    planted = x.copy()
    planted[8] = 1e6   # a planted value in a held-out row
    a, b = fit_scaler("minmax", x, mask), fit_scaler("minmax", planted, mask)
    np.testing.assert_array_equal(a.offset, b.offset)
    np.testing.assert_array_equal(a.scale, b.scale)
    np.testing.assert_allclose(a.transform(x[:6]), np.arange(6) / 5)


def test_known_values():
    x = np.array([[1.0], [2.0], [3.0], [4.0], [100.0]])
    std = fit_scaler("standard", x)
    np.testing.assert_allclose(std.offset, [x.mean()])
    np.testing.assert_allclose(std.scale, [x.std()])
    rob = fit_scaler("robust", x)
    np.testing.assert_allclose(rob.offset, [3.0])
    np.testing.assert_allclose(rob.scale, [2.0])


def test_constant_column_does_not_divide_by_zero():
    s = fit_scaler("standard", np.ones((5, 2)))
    assert np.all(np.isfinite(s.transform(np.ones((5, 2)))))


def test_bad_input():
    with pytest.raises(ValueError, match="unknown scaler"):
        fit_scaler("max", np.ones((3, 1)))
    with pytest.raises(ValueError, match="at least one training row"):
        fit_scaler("minmax", np.ones((3, 1)), np.zeros(3, bool))
    with pytest.raises(ValueError, match="NaN"):
        fit_scaler("minmax", np.array([1.0, np.nan]))


def test_transform_refuses_arrays_with_other_columns():
    """Broadcasting once applied a 1-column fit to 3 columns, or 3 columns' statistics
    to 1 column, silently."""
    x = np.arange(30.0).reshape(10, 3)
    three, one = fit_scaler("standard", x), fit_scaler("standard", x[:, 0])
    with pytest.raises(ValueError, match=r"fitted on 3 column\(s\) but got 1"):
        three.transform(x[:, :1])
    with pytest.raises(ValueError, match=r"fitted on 1 column\(s\) but got 3"):
        one.transform(x)
    np.testing.assert_allclose(one.transform(x[:, 0]), three.transform(x)[:, 0])


def test_a_column_with_a_small_spread_is_still_standardised():
    x = np.random.default_rng(0).normal(0.05, 1e-4, size=(500, 1))   # e.g. a rate
    z = fit_scaler("standard", x).transform(x)
    assert z.std() == pytest.approx(1.0, rel=1e-9) and abs(z.mean()) < 1e-9


def test_a_mask_over_windows_is_told_to_fit_the_series():
    windows = np.zeros((10, 5, 2))
    with pytest.raises(ValueError, match=r"mask has 10 entries for 50 rows; x has shape "
                                         r"\(10, 5, 2\): fit the scaler on the series"):
        fit_scaler("standard", windows, np.ones(10, bool))
    with pytest.raises(ValueError, match=r"mask has 3 entries for 50 rows$"):
        fit_scaler("standard", windows, np.ones(3, bool))


def test_a_kind_per_column():
    """Each column gets its own kind's statistics (float64 numpy of that column); one kind
    repeated is that kind; a kind count that is not the column count is refused."""
    x = np.random.default_rng(1).standard_t(3, size=(40, 3)) * [1, 10, 100]
    s = fit_scaler(("minmax", "standard", "minmax"), x)
    np.testing.assert_allclose(s.offset, [x[:, 0].min(), x[:, 1].mean(), x[:, 2].min()],
                               rtol=1e-12)
    np.testing.assert_allclose(s.scale, [np.ptp(x[:, 0]), x[:, 1].std(), np.ptp(x[:, 2])],
                               rtol=1e-12)
    assert s.kind == ("minmax", "standard", "minmax")
    assert s.to_dict()["kind"] == ["minmax", "standard", "minmax"]
    same = fit_scaler(("standard",) * 3, x)
    assert same.kind == "standard"
    np.testing.assert_array_equal(same.offset, fit_scaler("standard", x).offset)
    with pytest.raises(ValueError, match=r"2 scaler kind\(s\).*for 3 column\(s\)"):
        fit_scaler(("minmax", "standard"), x)


def test_a_per_column_mask_fits_each_column_on_its_own_rows():
    """mask bool[n, C]: column j's statistics are NumPy's float64 ones over x[mask[:, j], j]
    (each column its own kind); a mask whose columns agree is the bool[n] one, bit for bit."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3)) * [1.0, 5.0, 0.1]
    mask = rng.random((40, 3)) > 0.3
    s = fit_scaler(("minmax", "standard", "robust"), x, mask)
    a, b, c = (x[mask[:, j], j] for j in range(3))
    q1, med, q3 = np.percentile(c, [25, 50, 75])
    np.testing.assert_allclose(s.offset, [a.min(), b.mean(), med], rtol=1e-12)
    np.testing.assert_allclose(s.scale, [np.ptp(a), b.std(), q3 - q1], rtol=1e-12)
    assert s.kind == ("minmax", "standard", "robust")
    rows = mask[:, 0]
    same = fit_scaler("standard", x, np.repeat(rows[:, None], 3, axis=1))
    one = fit_scaler("standard", x, rows)
    assert same.kind == "standard"
    np.testing.assert_array_equal(same.offset, one.offset)
    np.testing.assert_array_equal(same.scale, one.scale)
