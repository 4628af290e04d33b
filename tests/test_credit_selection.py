"""The chosen configuration against its challengers, and its spread over seeds."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fjax.tasks.credit.selection import (challengers, corrected_t, fold_differences,
                                         seed_spread)


def test_corrected_t_against_a_hand_computation():
    d = np.array([0.02, -0.01, 0.03, 0.015, 0.005])      # 5 folds
    n_train, n_val = 800.0, 200.0
    mean = d.sum() / 5
    var = ((d - mean) ** 2).sum() / 4
    se = np.sqrt((1 / 5 + 200 / 800) * var)               # Nadeau & Bengio's correction
    t = mean / se
    out = corrected_t(d, n_train, n_val)
    assert out["difference"] == pytest.approx(0.012)
    assert out["t"] == pytest.approx(t)
    assert out["p_value"] == pytest.approx(2 * (1 - stats.t.cdf(t, df=4)))
    half = stats.t.ppf(0.975, df=4) * se
    assert out["ci_95"] == pytest.approx([0.012 - half, 0.012 + half])
    # Uncorrected (1/k only) the interval is narrower: the correction widens it.
    assert half > stats.t.ppf(0.975, df=4) * np.sqrt(var / 5)


def test_fold_differences_average_the_seeds_within_a_fold_and_skip_diverged_pairs():
    table = pd.DataFrame({
        "config": [0] * 6 + [1] * 6, "fold": [0, 0, 1, 1, 2, 2] * 2, "seed": [0, 1] * 6,
        "auc": [0.80, 0.82, 0.70, 0.74, 0.90, np.nan,
                0.78, 0.78, 0.71, 0.71, 0.85, 0.99]})
    diffs = fold_differences(table, 0, 1)
    # fold 0: (0.02 + 0.04) / 2; fold 1: (-0.01 + 0.03) / 2; fold 2: seed 1 diverged.
    np.testing.assert_allclose(diffs.to_numpy(), [0.03, 0.01, 0.05])


def test_challengers_are_the_runner_up_and_a_different_best_logistic():
    summary = pd.DataFrame({"config": [0, 1, 2, 3], "auc_mean": [0.70, 0.78, 0.75, np.nan]})
    mixed = {0: "logistic", 1: "mlp", 2: "mlp", 3: "logistic"}
    assert challengers(summary, mixed, 1) == {"runner_up": 2, "best_logistic": 0}
    assert challengers(summary, {**mixed, 2: "logistic"}, 1) == {"runner_up": 2}
    assert challengers(summary, {c: "logistic" for c in range(4)}, 1) == {"runner_up": 2}
    assert challengers(summary.iloc[[1]], mixed, 1) == {}


def test_seed_spread_is_over_each_seeds_mean_over_folds():
    table = pd.DataFrame({"config": [0] * 4, "fold": [0, 0, 1, 1], "seed": [0, 1, 0, 1],
                          "auc": [0.70, 0.80, 0.74, 0.78]})
    spread = seed_spread(table, 0)
    assert spread["min"] == pytest.approx(0.72) and spread["max"] == pytest.approx(0.79)
    assert spread["std"] == pytest.approx(np.std([0.72, 0.79], ddof=1))
    assert seed_spread(table[table["seed"] == 0], 0) is None
