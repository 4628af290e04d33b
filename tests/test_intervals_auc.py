"""DeLong's interval for a ROC-AUC: a hand-computed case, the pairwise definition
(float64 numpy, scikit-learn's AUC) and a bootstrap."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from fjax.intervals import auc_interval


def test_a_small_case_matches_the_hand_computation():
    """Positives 0.8, 0.6, 0.4 against negatives 0.7, 0.3, 0.2: placements V10 = 1, 2/3,
    2/3 and V01 = 1/3, 1, 1, so AUC = 7/9, var = (1/27)/3 + (4/27)/3 = 5/81."""
    scores = [0.8, 0.6, 0.4, 0.7, 0.3, 0.2]
    labels = [1, 1, 1, 0, 0, 0]
    auc, lower, upper = auc_interval(scores, labels)
    half = 1.959963984540054 * math.sqrt(5 / 81)
    assert auc == pytest.approx(7 / 9, rel=1e-12)
    assert lower == pytest.approx(7 / 9 - half, rel=1e-6) and upper == 1.0   # clipped (z: f32)


def test_ties_and_variance_match_the_pairwise_definition():
    """Placements from every (positive, negative) pair, ties counted half."""
    rng = np.random.default_rng(0)
    labels = rng.random(300) < 0.2
    scores = np.round(rng.normal(labels * 0.8, 1.0), 1)          # many ties
    pos, neg = scores[labels], scores[~labels]
    kernel = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = kernel.mean(axis=1), kernel.mean(axis=0)
    se = math.sqrt(v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg))
    auc, lower, upper = auc_interval(scores, labels, level=0.9)
    assert auc == pytest.approx(roc_auc_score(labels, scores), rel=1e-12)
    assert (auc - lower, upper - auc) == pytest.approx((1.6448536 * se,) * 2, rel=1e-6)


def test_the_interval_is_as_wide_as_a_bootstrap_says():
    """The standard error agrees with the spread of AUCs over resampled applicants."""
    rng = np.random.default_rng(1)
    labels = rng.random(500) < 0.1                               # about 50 bads
    scores = rng.normal(labels * 1.0, 1.0)
    auc, lower, upper = auc_interval(scores, labels)
    boot = []
    for _ in range(1000):
        rows = rng.integers(0, len(scores), len(scores))
        boot.append(roc_auc_score(labels[rows], scores[rows]))
    assert (upper - lower) / (2 * 1.959964) == pytest.approx(np.std(boot), rel=0.1)


def test_one_of_a_class_is_refused():
    with pytest.raises(ValueError, match="two of each class"):
        auc_interval([0.1, 0.2, 0.3], [1, 0, 0])


def test_rank_auc_is_scikit_learns_with_ties_and_nan_without_a_class():
    from fjax.intervals import rank_auc
    rng = np.random.default_rng(3)
    y = rng.random(300) < 0.2
    x = np.round(rng.normal(size=300) + y, 1)
    assert rank_auc(x, y) == pytest.approx(roc_auc_score(y, x), abs=1e-12)
    assert rank_auc(x, y) == pytest.approx(auc_interval(x, y)[0], abs=1e-12)
    assert np.isnan(rank_auc(x, np.zeros(300)))


def test_rank_ks_is_scipys_two_sample_statistic_with_ties_and_near_ties():
    """The bads' vs goods' score CDFs: rounded scores (many ties), PDs 1e-9 apart (one
    value in float32, where the KS would be 0) and a hand case; NaN without a class."""
    from scipy.stats import ks_2samp
    from fjax.intervals import rank_ks
    rng = np.random.default_rng(6)
    y = rng.random(300) < 0.3
    tied = np.round(rng.normal(size=300) + y, 1)
    near = 0.2 + 1e-9 * (np.arange(300) + 120 * y)
    for x in (tied, near, rng.normal(size=300) + y):
        assert rank_ks(x, y) == pytest.approx(ks_2samp(x[y], x[~y]).statistic, abs=1e-12)
    assert rank_ks(near, y) > 0.4
    # Bads 0.9, 0.5, 0.5; goods 0.5, 0.1: at 0.1 the CDFs are 0 and 1/2, at 0.5 2/3 and 1.
    assert rank_ks([0.9, 0.5, 0.5, 0.5, 0.1], [1, 1, 1, 0, 0]) == pytest.approx(1 / 2)
    assert np.isnan(rank_ks(tied, np.ones(300)))


@pytest.mark.parametrize("name", ["rank_auc", "rank_ks", "auc_interval"])
def test_labels_other_than_0_1_and_misaligned_arrays_are_refused(name):
    # a 0/1/2 coding gave an AUC of its 1s and 2s against its 0s, unsaid
    from fjax import intervals
    rng = np.random.default_rng(1)
    s, y = rng.random(40), (rng.random(40) < 0.4).astype(int)
    fn = getattr(intervals, name)
    with pytest.raises(ValueError, match=r"labels must be 0/1; found values \[2\]"):
        fn(s, np.r_[y[:-1], 2])
    with pytest.raises(ValueError, match="got 39 scores for 40 labels"):
        fn(s[:-1], y)
    if name == "rank_auc":
        assert fn(s, y.astype(bool)) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    if name == "auc_interval":
        assert fn(s, y)[0] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
