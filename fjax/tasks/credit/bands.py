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
    frame["binomial_p"] = [binomtest(int(k), int(n), min(max(p, 1e-12), 1 - 1e-12)).pvalue
                           for k, n, p in zip(frame["bads"], frame["applicants"],
                                              frame["mean_pd"])]
    return frame


def hosmer_lemeshow(bands: pd.DataFrame) -> dict:
    """HL statistic, degrees of freedom and p-value of a `pd_bands` table; `inversions`
    counts adjacent bands whose bad rate rises from a riskier band to a safer one."""
    expected = bands["mean_pd"] * bands["applicants"]
    variance = expected * (1 - bands["mean_pd"])
    stat = float(np.sum((bands["bads"] - expected) ** 2 / np.maximum(variance, 1e-12)))
    dof = len(bands)
    return {"statistic": stat, "dof": dof, "p_value": float(chi2.sf(stat, dof)),
            "inversions": int(np.sum(np.diff(bands["bad_rate"].to_numpy()) > 0))}
