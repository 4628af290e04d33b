"""Applicants scored by the final model: PD (calibrated), score, decision and reason
codes, for the training applicants and for a file of new ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from fjax.calibration import Platt
from fjax.data.columns import MISSING
from fjax.explain import top_reasons
from fjax.scorecard import ScoreScale
from fjax.tasks.credit.config import Config, ScorecardConfig
from fjax.tasks.credit.final import FinalModel, attributions


def deployed_scale(sc: ScorecardConfig, calibrator) -> ScoreScale:
    """The scorecard's scale for the deployed PD. Platt's calibrated logit is affine in the
    model's, so points and base rescale exactly and a score's odds are the calibrated PD's;
    no other calibrator is affine (isotonic is a step function), so there the points stay
    those of the model's own logit. A slope <= 0 is refused first (`refuse_backward_platt`)."""
    slope, intercept = (calibrator.a, calibrator.b) if isinstance(calibrator, Platt) \
        else (1.0, 0.0)
    return ScoreScale(sc.base_score, sc.base_odds, sc.pdo, slope=slope, intercept=intercept)


def refuse_backward_platt(calibrator, oof_auc: float) -> None:
    """Refuse a Platt slope <= 0 (the out-of-fold PDs rank the bads backwards): rescaled by
    it every attribute's points would flip sign and reason codes would name favourable
    attributes, and no scale keeps points, scores and the deployed PDs consistent."""
    if isinstance(calibrator, Platt) and calibrator.a <= 0:
        raise ValueError(
            f"scorecard.calibration platt fitted a slope of {calibrator.a:.3g} (<= 0): the "
            f"model's out-of-fold PDs rank the bads backwards (pooled out-of-fold AUC "
            f"{oof_auc:.3f}), so it learned nothing that holds on unseen applicants. Nothing "
            "was scored: regularise the model (--optim.weight_decay, fewer --train.epochs), "
            "try --model logistic or use more applicants, until its cross-validated AUC is "
            "above 0.5.")


def scored(final: FinalModel, frame: pd.DataFrame, calibrator, threshold: float,
           scale: ScoreScale, k: int, skip: tuple[str, ...] = ()
           ) -> tuple[pd.DataFrame, np.ndarray, list[str], float, float, np.ndarray]:
    """Per applicant: PD, score, decision and reason codes (none of `skip`, none costing
    under MATERIAL_POINTS: a blank slot rather than a negligible reason); plus the
    contributions, their names, the reference applicant's logit, the largest
    completeness error and f64[n] the model's own PDs (before calibration: AUC ranks them)."""
    x = final.encode(frame)
    z = final.logits(x)
    names, contrib, ref_logit = attributions(final, x)
    raw = expit(np.asarray(z, np.float64))
    pd_ = calibrator(raw)
    out = pd.DataFrame({"pd": pd_, "score": scale.from_logit(z),
                        "decision": np.where(pd_ >= threshold, "reject", "accept")})
    reasons = top_reasons(contrib, names, k, skip, scale.material_logit())
    for i in range(k):
        attr = [r[i][0] if len(r) > i else "" for r in reasons]
        out[f"reason_{i + 1}"] = attr
        out[f"value_{i + 1}"] = reason_values(frame, attr)
        out[f"points_{i + 1}"] = [float(scale.points(r[i][1])) if len(r) > i else np.nan
                                  for r in reasons]
    completeness = float(np.max(np.abs(contrib.sum(axis=1) - (z - ref_logit))))
    return out, contrib, names, ref_logit, completeness, raw


def reason_values(frame: pd.DataFrame, attributes: list[str]) -> list[str]:
    """Each row's value of its reason's attribute (`attributes[row]`; "" for none), each
    column read once: `.array[row]` is `.iloc[row]`'s value without pandas' per-call cost
    (per row, 11 s of a 30,000-applicant run)."""
    columns = {a: frame[a].array for a in dict.fromkeys(attributes) if a}
    return [shown(columns[a][row]) if a else "" for row, a in enumerate(attributes)]


def shown(value) -> str:
    """A reason code's value as scorecard.csv names it: a missing one is "<missing>" (the
    bin it was scored in), not "nan"."""
    return MISSING if pd.isna(value) else str(value)


def score_new(config: Config, frame: pd.DataFrame, final: FinalModel, calibrator,
              threshold: float, scale: ScoreScale, ids: np.ndarray | None = None
              ) -> tuple[pd.DataFrame, np.ndarray]:
    """Applicants the final model never saw (`data.score_path`'s, or the out-of-time
    ones), scored like the training ones, under `ids` (default: their id column, else
    their row in `frame`); and f64[n] the model's own PDs of them (`scored`'s)."""
    sc = config.scorecard
    out, *_, raw = scored(final, frame, calibrator, threshold, scale, sc.reasons,
                          sc.no_reasons)
    if ids is None:
        ids = frame[config.data.id_column].to_numpy() if config.data.id_column \
            else np.arange(len(frame))
    out.insert(0, "applicant", ids)
    return out, raw
