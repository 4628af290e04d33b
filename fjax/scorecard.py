"""Scorecard scaling: probability of default to points, and points per attribute.

    factor = pdo / ln 2,   offset = base_score - factor * ln(base_odds)
    score  = offset + factor * ln(odds),   odds = (1 - PD) / PD   (good : bad)

so `base_odds` good:bad odds score `base_score`, and every `pdo` points double the odds.
With a logistic model logit(PD) = b + sum_c w_c x_c, the score splits exactly into a base
(the score of the reference applicant x_ref) plus one term per attribute a:

    score = [offset - factor (b + w . x_ref)] + sum_a -factor sum_{c in a} w_c (x_c - x_ref_c)

With Platt calibration the deployed PD is sigmoid(a logit + c), an affine map of the
logit: `slope` a and `intercept` c rescale the points (by a) and the base (by the map of
the reference logit), so the score is still the base plus the attributes' points and
now reads as the deployed (calibrated) odds. slope 1, intercept 0: the model's own.

Reference: Siddiqi, *Credit Risk Scorecards*, 2006, ch. 10 (scaling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import logit

from fjax.data.checks import check_unit_interval

MATERIAL_POINTS = 0.5
"""Fewest points a reason code costs (against the reference applicant, on the deployed
scale): half a point, below which a shortfall rounds to 0 in a points table published in
whole points."""


@dataclass(frozen=True)
class ScoreScale:
    base_score: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0
    slope: float = 1.0      # the score expresses the log-odds slope * logit + intercept
    intercept: float = 0.0

    def __post_init__(self):
        values = (self.base_score, self.base_odds, self.pdo, self.slope, self.intercept)
        if not (np.all(np.isfinite(values)) and self.slope != 0 and self.base_odds > 0
                and self.pdo > 0):
            # pdo inf scored every PD NaN, pdo 0 every PD the same; slope 0 raised
            # ZeroDivisionError in material_logit; ln of odds <= 0 is undefined
            raise ValueError(f"scorecard base_score, base_odds, pdo, slope and intercept must "
                             f"be finite and slope not 0, and base_odds and pdo must be > 0; "
                             f"got base_score={self.base_score}, base_odds={self.base_odds}, "
                             f"pdo={self.pdo}, slope={self.slope}, intercept={self.intercept}")

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def from_logit(self, logit: np.ndarray) -> np.ndarray:
        """Score of a model's PD given as its logit ln(PD / (1 - PD)) (exact, no clipping)."""
        z = np.asarray(logit, np.float64)
        return self.offset - self.factor * (self.slope * z + self.intercept)

    def from_pd(self, pd: np.ndarray, eps: float = 1e-12) -> np.ndarray:
        """Score of a PD in [0, 1] (clipped to [eps, 1 - eps]): a PD of 2 or -1 was clipped
        too, and scored as a near-certain bad or good."""
        p = check_unit_interval(pd, "PDs", "pass the model's probability of default "
                                "(from_logit takes its logit)", kind="probabilities ")
        p = np.clip(p, eps, 1 - eps)
        return self.from_logit(logit(p))

    def points(self, logit_contribution: np.ndarray) -> np.ndarray:
        """Points of a contribution to the model's logit (raising PD lowers the score)."""
        return -self.factor * self.slope * np.asarray(logit_contribution, np.float64)

    def material_logit(self) -> float:
        """The logit contribution that costs MATERIAL_POINTS: the reason codes' floor."""
        return MATERIAL_POINTS / abs(self.factor * self.slope)
