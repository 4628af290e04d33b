"""Is the chosen configuration better than the others by more than chance, and how far
does its mean cross-validated AUC move with the seed?

Configurations are compared paired: on the same folds and seeds, the chosen one's
validation AUC minus the other's, the seeds averaged within each fold, which leaves one
difference per fold. The folds' training rows overlap, so the differences are correlated
and a plain t test's variance is too small; Nadeau & Bengio (2003) multiply it by
1/k + n_val/n_train and keep t with k - 1 degrees of freedom.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
from scipy import stats


def corrected_t(diffs: np.ndarray, n_train: float, n_val: float) -> dict:
    """Mean of the per-fold differences `diffs`, its 95% interval and two-sided p-value
    by Nadeau & Bengio's corrected resampled t (folds of n_train and n_val rows)."""
    diffs = np.asarray(diffs, np.float64)
    k = len(diffs)
    mean = float(diffs.mean())
    se = float(np.sqrt((1 / k + n_val / n_train) * diffs.var(ddof=1)))
    t = mean / se if se > 0 else (0.0 if mean == 0 else np.copysign(np.inf, mean))
    half = stats.t.ppf(0.975, k - 1) * se
    return {"difference": mean, "ci_95": [mean - half, mean + half], "t": float(t),
            "p_value": float(2 * stats.t.sf(abs(t), k - 1)), "folds": k}


def fold_differences(table: pd.DataFrame, a: int, b: int) -> pd.Series:
    """Per fold: configuration a's AUC minus b's, paired on fold and seed, the seeds
    averaged within the fold; a pair where either member diverged (NaN) is left out."""
    def of(config: int) -> pd.Series:
        return table[table["config"] == config].set_index(["fold", "seed"])["auc"]
    return (of(a) - of(b)).dropna().groupby(level="fold").mean()


def challengers(summary: pd.DataFrame, kinds: Mapping[int, str], best: int) -> dict[str, int]:
    """The runner-up by mean AUC and, when the chosen model is no logistic regression and
    the runner-up is not one either, the best logistic scorecard."""
    others = summary[(summary["config"] != best) & summary["auc_mean"].notna()]
    others = others.sort_values("auc_mean", ascending=False, kind="stable")
    if others.empty:
        return {}
    out = {"runner_up": int(others["config"].iloc[0])}
    logistic = [int(c) for c in others["config"] if kinds[int(c)] == "logistic"]
    if kinds[best] != "logistic" and logistic and logistic[0] != out["runner_up"]:
        out["best_logistic"] = logistic[0]
    return out


def comparisons(table: pd.DataFrame, summary: pd.DataFrame, kinds: Mapping[int, str],
                best: int, n_train: float, n_val: float) -> list[dict]:
    """The chosen configuration's AUC against each of its `challengers`, where at least
    two folds have a pair of members that both converged."""
    out = []
    for role, other in challengers(summary, kinds, best).items():
        diffs = fold_differences(table, best, other)
        if len(diffs) >= 2:
            out.append({"against": role, "config": other,
                        **corrected_t(diffs.to_numpy(), n_train, n_val)})
    return out


def seed_spread(table: pd.DataFrame, config: int) -> dict | None:
    """The configuration's mean AUC over folds, per seed, and its spread over seeds;
    None with a single seed."""
    per_seed = table[table["config"] == config].groupby("seed")["auc"].mean()
    if len(per_seed) < 2:
        return None
    return {"seeds": len(per_seed), "min": float(per_seed.min()), "max": float(per_seed.max()),
            "std": float(per_seed.std(ddof=1)), "per_seed": per_seed.tolist()}
