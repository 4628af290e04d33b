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

Both tests need enough applicants. HL's chi-squared p-value is given only where the 2 x B
table of expected bads and goods meets Cochran's rule (Biometrics 10, 1954: no expected
count under 1, at least 80% of them 5 or more); else its p-value is None, with why. A
band's binomial test is exact at any size, but a band too small to reach 5% whatever its
bads (`binomial_p` NaN) says nothing and is not counted among the tests.
"""

from __future__ import annotations

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


def _binomial_p(k: int, n: int, p: float) -> float:
    """Two-sided exact p-value of `k` bads in `n` at PD `p`; NaN where no outcome could
    fall under 5% (the smallest attainable p-value is that of 0 or n bads, the least
    likely outcomes of a unimodal pmf): such a test cannot reject anything."""
    p = min(max(p, 1e-12), 1 - 1e-12)
    if min(binomtest(0, n, p).pvalue, binomtest(n, n, p).pvalue) >= 0.05:
        return float("nan")
    return binomtest(k, n, p).pvalue


def hosmer_lemeshow(bands: pd.DataFrame) -> dict:
    """HL statistic, degrees of freedom and p-value of a `pd_bands` table; `inversions`
    counts adjacent bands whose bad rate rises from a riskier band to a safer one. The
    p-value is None where the expected counts fail Cochran's rule, `too_few` saying why."""
    expected = bands["mean_pd"] * bands["applicants"]
    variance = expected * (1 - bands["mean_pd"])
    stat = float(np.sum((bands["bads"] - expected) ** 2 / np.maximum(variance, 1e-12)))
    dof = len(bands)
    too_few = _too_few(bands, expected.to_numpy(np.float64))
    return {"statistic": stat, "dof": dof,
            "p_value": None if too_few else float(chi2.sf(stat, dof)),
            **({"too_few": too_few} if too_few else {}),
            "inversions": int(np.sum(np.diff(bands["bad_rate"].to_numpy()) > 0))}


def _too_few(bands: pd.DataFrame, bads: np.ndarray) -> str:
    """Why the bands' expected bads and goods are too few for HL's chi-squared p-value
    (Cochran's rule), '' where they suffice."""
    cells = np.concatenate([bads, bands["applicants"].to_numpy(np.float64) - bads])
    five = int(np.sum(cells >= 5 - 1e-9))     # a mean PD of 0.1 over 50 is 4.9999999...
    under_one = int(np.sum(cells < 1 - 1e-9))
    if five >= 0.8 * len(cells) and not under_one:
        return ""
    b = len(bands)
    return (f"{int(bands['applicants'].sum())} applicants ({int(bands['bads'].sum())} bad(s)) "
            f"in {b} bands expect 5 or more bads or goods in {five} of the {2 * b} cells and "
            f"under 1 in {under_one}; the chi-squared approximation needs at least 80% of "
            "them 5 or more and none under 1 (Cochran's rule): about 5 expected bads and 5 "
            f"goods in each band, {5 * b} of each over {b} bands")
