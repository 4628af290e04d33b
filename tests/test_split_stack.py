"""Splits stacked on one array: one block per split, transformed with that split's
training statistics, and masks that stay inside their block."""

import numpy as np
import pytest

from fjax.data.split_stack import split_rows, split_scalers, stack_scaled, stack_splits
from fjax.data.splits import Folds, stratified_kfold


def _splits(train, val):
    return Folds(train=np.array(train, np.float32), val=np.array(val, np.float32))


def test_kfold_blocks_hold_every_row_and_masks_stay_in_their_block():
    y = np.array([0, 1] * 6, np.float32)
    folds = stratified_kfold(y, 3, seed=0)
    per_fold = [{"x": np.full((12, 2 + j), j + 1.0)} for j in range(3)]
    stack = stack_splits(per_fold, folds, shared={"y": y})
    assert stack.data["x"].shape == (36, 4)
    np.testing.assert_array_equal(stack.data["x"][stack.block_rows(0)][:, 2:], 0)  # padding
    np.testing.assert_array_equal(stack.row, np.tile(np.arange(12), 3))
    np.testing.assert_array_equal(stack.data["y"], np.tile(y, 3))
    for j in range(3):
        assert set(stack.block[stack.folds.train[j] > 0]) == {j}
        assert set(stack.block[stack.folds.val[j] > 0]) == {j}
        np.testing.assert_array_equal(stack.folds.train[j][stack.block_rows(j)], folds.train[j])
        np.testing.assert_array_equal(stack.folds.val[j][stack.block_rows(j)], folds.val[j])
        assert np.all(stack.data["x"][stack.folds.train[j] > 0][:, :2 + j] == j + 1)


def test_scaled_stack_fits_each_split_on_its_training_rows_only():
    rng = np.random.default_rng(0)
    n = 40
    x = rng.normal(size=(n, 2)).astype(np.float32)
    x[30:] += 1000.0                                # wild test rows must not move the scaler
    y = (rng.random(n) < 0.3).astype(np.float32)
    train = [np.arange(n) < 10, (np.arange(n) >= 10) & (np.arange(n) < 20)]
    test = [np.arange(n) >= 30, (np.arange(n) >= 20) & (np.arange(n) < 30)]
    s = stack_scaled(x, _splits(train, test), shared={"y": y[:, None]})
    for k in range(2):
        tr = s.folds.train[k] > 0
        np.testing.assert_allclose(s.data["x"][tr].mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(s.data["x"][tr].std(axis=0), 1, atol=1e-5)
        np.testing.assert_array_equal(s.row[tr], np.nonzero(train[k])[0])
        np.testing.assert_array_equal(s.row[s.val_rows(k)], np.nonzero(test[k])[0])
        np.testing.assert_array_equal(s.row[s.block_rows(k)],
                                      split_rows(_splits(train, test), k))
        mean, std = x[train[k]].mean(0), x[train[k]].std(0)
        np.testing.assert_allclose(s.data["x"][s.val_rows(k)], (x[test[k]] - mean) / std,
                                   rtol=1e-4)
    np.testing.assert_array_equal(s.data["y"][:, 0], y[s.row])
    assert s.folds.train.sum() == 20 and s.folds.val.sum() == 20
    assert not np.any((s.folds.train > 0) & (s.folds.val > 0))


def test_sequence_stack_pads_missing_history_with_zeros():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    hist = np.array([[-1, 0], [0, 1], [-1, 2], [2, 3], [1, 4], [4, 5]])
    s = stack_scaled(x, _splits([np.arange(6) < 4], [np.arange(6) >= 4]), kind="none",
                     history=hist)
    assert s.data["x"].shape == (6, 2, 2)
    np.testing.assert_array_equal(s.data["x"][0], [[0, 0], [0, 1]])
    np.testing.assert_array_equal(s.data["x"][5], [[8, 9], [10, 11]])


def test_rows_scaled_with_fitted_scalers_need_no_training_rows():
    """Scalers fitted on other splits' training rows (a stack's, for the weeks before its
    test weeks): a split of validation rows alone holds only them, scaled with the
    training rows' float64 numpy mean and sd; fitting still needs training rows."""
    rng = np.random.default_rng(1)
    n = 30
    x = rng.normal(3.0, 2.0, size=(n, 2)).astype(np.float32)
    i = np.arange(n)
    train = np.array([i < 10, (i >= 5) & (i < 15)])
    val = np.array([(i >= 20) & (i < 25), i >= 25])
    s = stack_scaled(x, _splits(np.zeros_like(train), val), scalers=split_scalers(x, train))
    np.testing.assert_array_equal(s.row, [*range(20, 25), *range(25, 30)])
    assert not s.folds.train.any()
    for k in range(2):
        fit = x[train[k]].astype(np.float64)
        np.testing.assert_allclose(s.data["x"][s.val_rows(k)],
                                   (x[val[k]] - fit.mean(axis=0)) / fit.std(axis=0),
                                   rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="split 1 has no training rows"):
        stack_scaled(x, _splits([train[0], np.zeros(n)], val))


def test_bad_blocks_and_empty_splits_are_named():
    folds = _splits([[1, 1, 0, 0]], [[0, 0, 1, 1]])
    with pytest.raises(ValueError, match="got arrays for 2 splits but there are 1"):
        stack_splits([{"x": np.zeros((4, 1))}] * 2, folds)
    with pytest.raises(ValueError, match="entry 'x' must be"):
        stack_splits([{"x": np.zeros((3, 1))}], folds)
    with pytest.raises(ValueError, match="split 0 has no validation rows"):
        stack_scaled(np.zeros((4, 1)), _splits([[1, 1, 0, 0]], [[0, 0, 0, 0]]))


def test_a_block_holds_only_its_splits_training_and_validation_rows():
    """Prequential splits: rows in neither the training nor the test week stay out."""
    n = 10
    train, val = np.arange(n) < 3, (np.arange(n) >= 7)
    splits = _splits([train], [val])
    np.testing.assert_array_equal(split_rows(splits, 0), [0, 1, 2, 7, 8, 9])
    s = stack_scaled(np.arange(n, dtype=np.float32)[:, None], splits, kind="none",
                     shared={"y": np.arange(n)})
    np.testing.assert_array_equal(s.row, [0, 1, 2, 7, 8, 9])
    np.testing.assert_array_equal(s.data["y"], [0, 1, 2, 7, 8, 9])
    with pytest.raises(ValueError, match="shared entry 'y' has 9 rows, expected 10"):
        stack_scaled(np.zeros((n, 1)), splits, shared={"y": np.zeros(9)})
