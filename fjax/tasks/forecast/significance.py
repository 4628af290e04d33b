"""Is the model's edge over a baseline more than noise? The Diebold-Mariano test.

    d_i = mean_h e_model[i, h]^2 - mean_h e_base[i, h]^2      (loss differential)
    DM  = mean(d) / sqrt(LRV / N)                             (~ N(0, 1) under H0)

LRV is the Newey-West (Bartlett) long-run variance of d with `lags` autocovariances:
windows whose targets overlap (H > stride) have correlated errors. DM < 0 means the
model's squared errors are smaller. Reference: Diebold & Mariano, *Comparing Predictive
Accuracy*, JBES 1995; Newey & West, Econometrica 1987.
"""

from __future__ import annotations

import math

import numpy as np


def overlap_lags(horizon: int, stride: int) -> int:
    """Lags at which two windows' targets overlap: ceil(H / stride) - 1."""
    return max(0, -(-horizon // stride) - 1)


def diebold_mariano(err_model: np.ndarray, err_base: np.ndarray, lags: int = 0) -> dict:
    """{statistic, p_value (two-sided), mean_loss_difference} for errors `f[N, H]`."""
    e1 = np.asarray(err_model, np.float64).reshape(len(err_model), -1)
    e2 = np.asarray(err_base, np.float64).reshape(len(err_base), -1)
    d = np.mean(e1 ** 2, axis=1) - np.mean(e2 ** 2, axis=1)
    n = len(d)
    mean = float(d.mean())
    u = d - mean
    lrv = float(u @ u) / n
    for lag in range(1, min(lags, n - 1) + 1):
        lrv += 2.0 * (1.0 - lag / (lags + 1)) * float(u[lag:] @ u[:-lag]) / n
    if n < 2 or lrv <= 0:
        return {"statistic": None, "p_value": None, "mean_loss_difference": mean, "lags": lags}
    stat = mean / math.sqrt(lrv / n)
    return {"statistic": stat, "p_value": math.erfc(abs(stat) / math.sqrt(2.0)),
            "mean_loss_difference": mean, "lags": lags}
