"""Weight-of-evidence (WOE) binning, as traditional credit scorecards use it.

A column is cut into bins (quantile bins of a numeric column fitted on training rows, or
the categories of a categorical one; missing values form their own bin). Each bin gets

    WOE_b = ln( (good_b + a) / (G + a B) ) - ln( (bad_b + a) / (Bad + a B) )

with `a` a smoothing count (0.5) so empty cells stay finite, B the number of bins and G,
Bad the totals. Positive WOE means fewer bads than average. Values never seen in
training (a new category, a missing value when training had none) get WOE 0 (the
population's odds) as fitted here; the tabular encoder sets them to the training rows'
mean WOE (`with_unseen`: `CategoricalWoe.unseen`, `NumericWoe.missing_woe`), so that
they score as the average applicant does.
Every numeric bin holds training rows, so a value beyond the training range gets its end
bin's WOE, not the WOE of an empty bin. Edges are observed values and a bin [e_k, e_k+1)
holds e_k, so only the first bin can be empty: when many rows sit at the minimum (a count
that is mostly 0, a 0/1 flag) the first edge is the minimum itself, and it moves up to
the next observed value, so the rows at the minimum form their own bin. (Dropping it
instead merged a flag, or a count whose zeros fill every quantile, into one bin: WOE 0
for every row, and the column was lost.)
With `monotone`, adjacent bins are pooled (pool-adjacent-violators on the bins' bad rates,
weighted by their counts) until the bad rate only rises, or only falls, in the direction of
the column's rank correlation with the label, so scorecard points are explainable.
Reference: Siddiqi, *Credit Risk Scorecards*, 2006, ch. 6.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from fjax.calibration import pool_adjacent_violators

SMOOTHING = 0.5


def _shares(bins: np.ndarray, y: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(goods' share, bads' share) per bin, each count smoothed by `SMOOTHING`."""
    a = SMOOTHING
    bad = np.bincount(bins, weights=y, minlength=n_bins)
    good = np.bincount(bins, weights=1.0 - y, minlength=n_bins)
    return (good + a) / (good.sum() + a * n_bins), (bad + a) / (bad.sum() + a * n_bins)


def _woe(bins: np.ndarray, y: np.ndarray, n_bins: int) -> np.ndarray:
    good, bad = _shares(bins, y, n_bins)
    return np.log(good) - np.log(bad)


def information_value(bins: np.ndarray, y: np.ndarray, n_bins: int) -> float:
    """IV = sum_b (good share - bad share) WOE_b over `n_bins` bins (shares smoothed as
    the WOE's): how well a column separates goods from bads on its own. Siddiqi's reading:
    < 0.02 useless, < 0.1 weak, < 0.3 medium, <= 0.5 strong, > 0.5 suspiciously strong."""
    good, bad = _shares(np.asarray(bins), np.asarray(y, np.float64), n_bins)
    return float(np.sum((good - bad) * np.log(good / bad)))


@dataclass(frozen=True)
class NumericWoe:
    """Bins (-inf, e_0), [e_0, e_1), ..., [e_last, inf) and a missing bin."""

    edges: np.ndarray        # f64[B - 1] interior cut points
    woe: np.ndarray          # f64[B]
    missing_woe: float       # 0.0 when training had no missing values (see `with_unseen`)

    def bin_of(self, x: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.edges, x, side="right")

    def bin_or_missing(self, x: np.ndarray) -> np.ndarray:
        """Each value's bin; a missing value's is len(woe), the bin after the last."""
        x = np.asarray(x, np.float64)
        return np.where(np.isnan(x), len(self.woe), self.bin_of(np.nan_to_num(x)))

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        out = self.woe[self.bin_of(np.nan_to_num(x))]
        return np.where(np.isnan(x), self.missing_woe, out)

    def labels(self) -> list[str]:
        e = [f"{v:.6g}" for v in self.edges]
        lo, hi = ["-inf", *e], [*e, "inf"]
        return [f"[{a}, {b})" for a, b in zip(lo, hi)]


def fit_numeric_woe(x: np.ndarray, y: np.ndarray, n_bins: int = 5,
                    monotone: bool = False) -> NumericWoe:
    """Quantile bins of the training values `x` (NaN = missing) and their WOE; with
    `monotone`, adjacent bins merged until the bad rate is monotone (see the module)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    present = ~np.isnan(x)
    # Edges are observed values ("higher": the same bins for every training value as the
    # interpolated quantile, but no edge a rounding error above a value, which the label
    # would print as that value while the value falls in the bin below).
    levels = np.linspace(0, 1, n_bins + 1)[1:-1]
    qs = np.quantile(x[present], levels, method="higher") if present.any() else []
    edges = _minimum_in_its_own_bin(np.unique(qs), x[present])
    if monotone and present.any():
        edges = _monotone_edges(edges, x[present], y[present])
    n = len(edges) + 1
    bins = np.where(present, np.searchsorted(edges, np.nan_to_num(x), side="right"), n)
    has_missing = bool((~present).any())
    woe = _woe(bins, y, n + has_missing)
    missing = float(woe[n]) if has_missing else 0.0
    return NumericWoe(edges=edges, woe=woe[:n], missing_woe=missing)


def _minimum_in_its_own_bin(edges: np.ndarray, x: np.ndarray) -> np.ndarray:
    """`edges` with a first edge at the minimum of `x` (an empty bin below it) moved up
    to the next value of `x`, or dropped where `x` holds no other value."""
    if not len(edges) or edges[0] > x.min():
        return edges
    above = x[x > edges[0]]
    return np.unique(np.r_[above.min(), edges[1:]]) if len(above) else edges[1:]


def _monotone_edges(edges: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`edges` less those between bins that pool-adjacent-violators merges, so the bad
    rate rises (falls) with `x` where x's rank correlation with `y` is >= 0 (< 0)."""
    rho = spearmanr(x, y).statistic if np.ptp(x) > 0 and np.ptp(y) > 0 else 0.0
    sign = -1.0 if rho < 0 else 1.0
    bins = np.searchsorted(edges, x, side="right")
    count = np.bincount(bins, minlength=len(edges) + 1).astype(np.float64)
    bad = np.bincount(bins, weights=y, minlength=len(edges) + 1)
    return edges[pool_adjacent_violators(sign * bad, count)[1:] - 1]


@dataclass(frozen=True)
class CategoricalWoe:
    categories: tuple[str, ...]
    woe: np.ndarray          # f64[len(categories)]
    unseen: float = 0.0      # the WOE of a category training never held

    def transform(self, values: np.ndarray) -> np.ndarray:
        table = dict(zip(self.categories, self.woe))
        return np.array([table.get(v, self.unseen) for v in values], np.float64)

    def bin_or_missing(self, values: np.ndarray) -> np.ndarray:
        """Each value's category index; an unseen one's is len(categories)."""
        index = {c: i for i, c in enumerate(self.categories)}
        return np.array([index.get(v, len(index)) for v in values], np.int64)


WOE = NumericWoe | CategoricalWoe


def fit_categorical_woe(values: np.ndarray, y: np.ndarray) -> CategoricalWoe:
    """WOE of every category seen in the training `values` (strings)."""
    categories, codes = np.unique(np.asarray(values, dtype=str), return_inverse=True)
    woe = _woe(codes, np.asarray(y, np.float64), len(categories))
    return CategoricalWoe(categories=tuple(categories.tolist()), woe=woe)


def with_unseen(woe: WOE, values: np.ndarray) -> WOE:
    """`woe` scoring a value training never held (an unseen category; a missing number
    where the training `values` had none) as the mean WOE of the training `values` (the
    training applicants' mix). WOE 0 is the population's odds, not the average
    applicant's WOE (sum_b share_b WOE_b: 0.155 for German credit's checking account): a
    linear model would score such a value away from the average applicant."""
    if isinstance(woe, NumericWoe) and np.isnan(np.asarray(values, np.float64)).any():
        return woe                       # the missing bin has a WOE of its own
    mix = float(np.mean(woe.transform(values)))
    if isinstance(woe, CategoricalWoe):
        return CategoricalWoe(woe.categories, woe.woe, mix)
    return NumericWoe(woe.edges, woe.woe, mix)
