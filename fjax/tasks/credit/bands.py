"""Rank ordering and calibration of PDs by band: the gains table a PD model's validator
reads first, with a binomial test per band and the Hosmer-Lemeshow test over all.

Bands cut at the deciles of the PDs (tied PDs share a band), riskiest first. Per band:
applicants, bads, observed bad rate, mean PD, the share of all bads in this band and the
riskier ones (cumulative capture), and the two-sided binomial p-value of the bads given
the band's mean PD. Hosmer-Lemeshow (Applied Logistic Regression, 2nd ed., 5.2.2):
    HL = sum_b (O_b - E_b)^2 / (E_b (1 - E_b / n_b)),   E_b = sum of the band's PDs,
chi-squared with as many degrees of freedom as bands, as for PDs scored on rows their
model never fitted (out of fold; bands - 2 is for a model's own training rows, Hosmer
and Lemeshow 5.2.2); a small p-value says the PDs are off.

Both tests need enough applicants. HL's chi-squared approximation needs the 2 x B table
of expected bads and goods to meet Cochran's rule (Biometrics 10, 1954: no expected count
under 1, at least 80% of them 5 or more). Where it fails, adjacent bands (in PD order) are
pooled, the usual remedy for expected counts too small for a chi-squared test: the band
with the smallest expected count joins its neighbour with the smaller one, until the pooled
table meets the rule. Bands that meet it are left as they are (the German run's safest
decile expects 4.7 bads: the common rule of 5 expected bads in every band would pool a
table Cochran's rule accepts). HL is then read on the pooled bands, one degree of freedom
each, as above; with fewer than 3 left no p-value is given, with why: two groups say
little of the PDs' shape. A band's binomial test is exact at any size,
but a band too small to reach 5% whatever its bads (`binomial_p` NaN) says nothing and is
not counted among the tests.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import binomtest, chi2

from fjax.stability import psi_bins


def pd_bands(pd_: np.ndarray, y: np.ndarray, bands: int = 10) -> pd.DataFrame:
    """One row per PD band, riskiest first (see the module docstring)."""
    pd_, y = np.asarray(pd_, np.float64), np.asarray(y, np.float64)
    band = np.searchsorted(psi_bins(pd_, bands), pd_, side="right")
    frame = pd.DataFrame({"band": band, "y": y, "pd": pd_}).groupby("band").agg(
        applicants=("y", "size"), bads=("y", "sum"), bad_rate=("y", "mean"),
        mean_pd=("pd", "mean"), pd_min=("pd", "min"), pd_max=("pd", "max"))
    frame = frame.iloc[::-1].reset_index(drop=True)
    frame.insert(0, "band", np.arange(1, len(frame) + 1))
    frame["bads"] = frame["bads"].astype(int)
    frame["bad_capture"] = frame["bads"].cumsum() / max(int(y.sum()), 1)
    frame["binomial_p"] = [_binomial_p(int(k), int(n), p) for k, n, p in
                           zip(frame["bads"], frame["applicants"], frame["mean_pd"])]
    return frame


class Gains(NamedTuple):
    """A gains table (`pd_bands`) and its Hosmer-Lemeshow test (`hosmer_lemeshow`), made
    together (`Gains.of`) so that a report's verdict is always on the bands it shows."""
    table: pd.DataFrame
    hosmer_lemeshow: dict

    @classmethod
    def of(cls, pd_: np.ndarray, y: np.ndarray) -> Gains:
        table = pd_bands(pd_, y)
        return cls(table, hosmer_lemeshow(table))


def _binomial_p(k: int, n: int, p: float) -> float:
    """Two-sided exact p-value of `k` bads in `n` at PD `p`; NaN where no outcome could
    fall under 5% (the smallest attainable p-value is that of 0 or n bads, the least
    likely outcomes of a unimodal pmf): such a test cannot reject anything."""
    p = min(max(p, 1e-12), 1 - 1e-12)
    if min(binomtest(0, n, p).pvalue, binomtest(n, n, p).pvalue) >= 0.05:
        return float("nan")
    return binomtest(k, n, p).pvalue


def hosmer_lemeshow(bands: pd.DataFrame) -> dict:
    """HL statistic, degrees of freedom and p-value of a `pd_bands` table, on its bands
    pooled until the expected counts meet Cochran's rule (`pool_bands`; `pooled` lists the
    groups of band numbers where any band was pooled); `inversions` counts adjacent bands
    whose bad rate rises from a riskier band to a safer one. The p-value is None where
    fewer than 3 pooled bands remain, `too_few` saying why."""
    n = bands["applicants"].to_numpy(np.float64)
    expected = bands["mean_pd"].to_numpy(np.float64) * n
    groups, (pooled, pooled_n, observed) = pool_bands(
        expected, n, bands["bads"].to_numpy(np.float64))
    variance = pooled * (1 - pooled / pooled_n)
    stat = float(np.sum((observed - pooled) ** 2 / np.maximum(variance, 1e-12)))
    too_few = _too_few(expected, n, pooled, pooled_n, int(bands["bads"].sum()))
    return {"statistic": stat, "dof": len(groups),
            "p_value": None if too_few else float(chi2.sf(stat, len(groups))),
            **({"too_few": too_few} if too_few else {}),
            **({"pooled": [[b + 1 for b in g] for g in groups]}
               if len(groups) < len(bands) else {}),
            "inversions": int(np.sum(np.diff(bands["bad_rate"].to_numpy()) > 0))}


def cochran_ok(bads: np.ndarray, n: np.ndarray) -> bool:
    """Whether expected bads `bads` and goods `n - bads` per band meet Cochran's rule."""
    five, under_one = _cells(bads, n)
    return bool(five >= 0.8 * 2 * len(n) and not under_one)


def _cells(bads: np.ndarray, n: np.ndarray) -> tuple[int, int]:
    """How many expected bads and goods are 5 or more, and how many under 1."""
    cells = np.concatenate([bads, n - bads])
    # a mean PD of 0.1 over 50 is 4.9999999...
    return int(np.sum(cells >= 5 - 1e-9)), int(np.sum(cells < 1 - 1e-9))


def pool_bands(bads: np.ndarray, n: np.ndarray, observed: np.ndarray
               ) -> tuple[list[list[int]], np.ndarray]:
    """Adjacent bands (indices, in PD order) pooled until their expected bads `bads` and
    goods `n - bads` meet Cochran's rule (`cochran_ok`), or into one band: the band with
    the smallest expected count joins its neighbour with the smaller smallest count (the
    safer one on a tie). One group per band where the rule holds already. Returns the
    groups and f64[3, groups]: the expected bads, applicants and `observed` bads summed
    over each group."""
    per_band = np.array([bads, n, observed], np.float64)
    groups, sums = [[b] for b in range(len(n))], per_band
    while len(groups) > 1 and not cochran_ok(sums[0], sums[1]):
        least = np.minimum(sums[0], sums[1] - sums[0])
        i = int(np.argmin(least))
        j = min((k for k in (i - 1, i + 1) if 0 <= k < len(groups)),
                key=lambda k: (least[k], -k))
        lo = min(i, j)
        groups[lo:lo + 2] = [groups[lo] + groups[lo + 1]]
        sums = np.add.reduceat(per_band, [g[0] for g in groups], axis=1)
    return groups, sums


def _too_few(bads: np.ndarray, n: np.ndarray, pooled: np.ndarray, pooled_n: np.ndarray,
             observed: int) -> str:
    """Why HL gives no p-value: fewer than 3 bands are left once the bands' expected bads
    `bads` and goods `n - bads` are pooled until they meet Cochran's rule (`pool_bands`:
    `pooled` and `pooled_n`, their sums per group); '' where 3 or more are left.
    `observed`: the bands' bads."""
    b, g = len(n), len(pooled_n)
    if g >= 3:
        return ""
    five, under_one = _cells(bads, n)
    if not cochran_ok(pooled, pooled_n):
        left = f"Even all {b} bands pooled into one fail it"
    elif g < b:
        left = f"Pooled (adjacent bands, in PD order) until they meet it, they make {g} band(s)"
    else:
        left = f"They meet it, but as {b} band(s)"
    return (f"{int(n.sum())} applicants ({observed} bad(s)) "
            f"in {b} bands expect 5 or more bads or goods in {five} of the {2 * b} cells and "
            f"under 1 in {under_one}; the chi-squared approximation needs at least 80% of "
            "them 5 or more and none under 1 (Cochran's rule): about 5 expected bads and 5 "
            f"goods in each band. {left}: fewer than the 3 bands Hosmer-Lemeshow needs")
