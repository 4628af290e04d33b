import numpy as np
import pytest

from fjax.data.splits import Folds, holdout, kfold, stratified_kfold, walk_forward


def test_kfold_partitions_every_row_once():
    folds = kfold(103, 5, seed=1)
    assert folds.train.shape == (5, 103)
    np.testing.assert_array_equal(folds.val.sum(0), np.ones(103))
    np.testing.assert_array_equal(folds.train + folds.val, np.ones((5, 103)))
    sizes = folds.val.sum(1)
    assert sizes.max() - sizes.min() <= 1


def test_stratified_folds_keep_the_class_share():
    labels = np.r_[np.zeros(70), np.ones(30)]
    np.random.default_rng(0).shuffle(labels)
    folds = stratified_kfold(labels, 5, seed=0)
    np.testing.assert_array_equal(folds.val.sum(0), np.ones(100))
    for v in folds.val:
        assert v.sum() == 20 and labels[v > 0].sum() == 6


def test_stratified_needs_enough_rows_per_class():
    with pytest.raises(ValueError, match="class 1.0 has only 3 rows, fewer than the 5 folds"):
        stratified_kfold(np.r_[np.zeros(20), np.ones(3)], 5)


def test_walk_forward_trains_only_on_the_past_with_a_gap():
    folds = walk_forward(100, k=3, val_size=10, gap=4)
    for train, val in zip(folds.train, folds.val):
        first_val = np.argmax(val > 0)
        last_train = np.nonzero(train)[0].max()
        assert last_train < first_val - 4
        assert train[0] == 1  # expanding: starts at the beginning
    assert np.nonzero(folds.val[-1])[0].max() == 99


def test_rolling_window_has_a_fixed_length():
    folds = walk_forward(100, k=3, val_size=10, window=30)
    np.testing.assert_array_equal(folds.train.sum(1), [30, 30, 30])


def test_walk_forward_rejects_too_few_rows():
    with pytest.raises(ValueError, match="too few"):
        walk_forward(30, k=3, val_size=10, gap=2)


def test_holdout_in_time_order_validates_on_the_last_rows():
    folds = holdout(10, 0.2, seed=None)
    np.testing.assert_array_equal(folds.val[0], [0] * 8 + [1] * 2)


def test_folds_refuse_overlap():
    with pytest.raises(ValueError, match="both"):
        Folds(train=np.ones((1, 3)), val=np.ones((1, 3)))


def test_stratified_folds_are_equal_sized_when_class_counts_do_not_divide_k():
    """Each class continues the round-robin where the previous one stopped: 73 + 27 rows
    over 5 folds give folds of exactly 20, not 21/21/20/19/19."""
    labels = np.r_[np.zeros(73), np.ones(27)]
    folds = stratified_kfold(labels, 5, seed=1)
    np.testing.assert_array_equal(folds.val.sum(1), [20] * 5)
    for v in folds.val:                                  # 73/5 and 27/5 rounded either way
        assert labels[v > 0].sum() in (5, 6) and (1 - labels[v > 0]).sum() in (14, 15)


def test_rolling_window_with_a_gap_ends_gap_rows_before_validation():
    """Rolling training rows are the `window` rows before s - gap: [s-gap-window, s-gap)."""
    folds = walk_forward(100, k=3, val_size=10, gap=4, window=30)
    np.testing.assert_array_equal(folds.train.sum(1), [30, 30, 30])
    for s, train, val in zip([70, 80, 90], folds.train, folds.val):
        assert np.argmax(val > 0) == s
        np.testing.assert_array_equal(np.nonzero(train)[0], np.arange(s - 4 - 30, s - 4))


def test_stratified_folds_refuse_nan_labels():
    """NaN rows once got no fold at all (their assignment was never written)."""
    labels = np.array([0, 1, 0, 1, np.nan, 0, 1, 0, 1, np.nan])
    with pytest.raises(ValueError, match=r"labels have 2 NaN \(first at row 4\)"):
        stratified_kfold(labels, 2)


def test_kfold_needs_two_folds():
    with pytest.raises(ValueError, match="folds must be an integer >= 2, got 1"):
        kfold(10, 1)


def test_holdout_rounds_the_validation_share():
    assert holdout(100, 0.199).val.sum() == 20   # 19.9 rows -> 20


def test_walk_forward_enforces_min_train():
    with pytest.raises(ValueError, match="too few"):
        walk_forward(20, 2, 5, min_train=15)     # the first origin trains on 10 rows
    assert walk_forward(20, 2, 5, min_train=10).train[0].sum() == 10


def test_stratified_folds_name_continuous_labels():
    """A regression target was refused as 'class -2.33 has only 1 rows ... use fewer folds'."""
    y = np.random.default_rng(0).normal(size=100)
    with pytest.raises(ValueError, match=r"labels look continuous \(100 distinct values in 100 "
                                         r"rows\).*kfold\(n, k\)"):
        stratified_kfold(y, 5)
    assert stratified_kfold(np.round(y * 3), 2).k == 2          # many whole-number classes
    with pytest.raises(ValueError, match="class .* has only 1 rows"):   # a rare class
        stratified_kfold(np.r_[np.zeros(50), 1.0], 2)


def test_grouped_folds_keep_groups_whole_and_stratify_by_their_worst_label():
    from fjax.data.splits import grouped_stratified_kfold
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(60), rng.integers(1, 4, 60))          # 1-3 rows a group
    labels = (rng.random(len(groups)) < 0.3).astype(float)
    folds = grouped_stratified_kfold(labels, groups, 3, seed=1)
    fold = np.argmax(folds.val, axis=0)
    assert all(len(set(fold[groups == g])) == 1 for g in np.unique(groups))
    assert (folds.val.sum(axis=0) == 1).all() and ((folds.train + folds.val) == 1).all()
    worst = np.array([labels[groups == g].max() for g in np.unique(groups)])
    per_fold = [worst[[fold[groups == g][0] == j for g in np.unique(groups)]].sum()
                for j in range(3)]
    assert max(per_fold) - min(per_fold) <= 1                          # defaulters spread


def test_kfold_shuffles_by_its_seed():
    same, again, other = kfold(40, 4, seed=3), kfold(40, 4, seed=3), kfold(40, 4, seed=4)
    np.testing.assert_array_equal(same.val, again.val)
    assert not np.array_equal(same.val, other.val)
    in_order = (np.arange(40)[None, :] % 4 == np.arange(4)[:, None]).astype(np.float32)
    assert not np.array_equal(same.val, in_order)


def test_grouped_folds_stratify_by_each_groups_worst_label():
    """An applicant who defaulted once counts as a defaulter, whatever their last loan."""
    from fjax.data.splits import grouped_stratified_kfold
    rng = np.random.default_rng(0)
    worst = rng.permutation([1] * 12 + [0] * 18)             # 30 applicants
    codes = np.repeat(np.arange(30), 2)                       # two loans each
    labels = np.stack([worst, np.zeros(30, int)], axis=1).ravel()   # default first, then good
    folds = grouped_stratified_kfold(labels, codes, 3, seed=5)
    want = stratified_kfold(worst, 3, seed=5)
    np.testing.assert_array_equal(folds.val, want.val[:, codes])


@pytest.mark.parametrize("make, match", [
    (lambda: kfold(20, 2.5), r"folds must be an integer >= 2, got 2.5"),
    (lambda: kfold(20, 21), r"folds must be at most the number of rows \(20\), got 21"),
    (lambda: stratified_kfold(np.arange(20) % 2, 2.0), r"folds must be an integer >= 2, got 2.0"),
    (lambda: walk_forward(20, 2, 3, gap=-1), r"gap must be an integer >= 0, got -1"),
    (lambda: walk_forward(20, 2, 3, window=0), r"window must be an integer >= 1, got 0"),
    (lambda: walk_forward(20, 1.5, 3), r"k must be an integer >= 1, got 1.5"),
])
def test_fold_counts_and_gaps_are_whole_numbers_in_range(make, match):
    """kfold(20, 2.5) made fractional fold masks, a negative gap failed as 'a fold has
    rows in both its training and validation masks', and window=0 trained on no rows."""
    with pytest.raises(ValueError, match=match):
        make()
