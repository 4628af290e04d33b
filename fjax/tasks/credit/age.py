"""Age in the score: does the final model score applicants of 62 or more down for age?

US Regulation B (12 CFR 1002.6(b)(2)(ii)) lets an empirically derived, demonstrably and
statistically sound scoring system use age only if "the age of an elderly applicant is
not assigned a negative factor or value": applicants of 62 or more ("elderly", 1002.2)
must score for age at least as well as the most favoured age group under 62. The check
sets each labelled applicant's age to every whole age the applicants hold (and 62, and
the edges of the model's age bins), all else as it is, and scores them with the final
model: an age of 62 or more that scores under the best age below 62 for any applicant is
a negative factor. For logistic regression the points of age are the same for everyone
(its scorecard.csv rows); for the MLP they vary with the other inputs, so the share of
applicants scored down is reported too (of a seeded sample of `MAX_APPLICANTS` in a
larger book, which bounds the rows rescored).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fjax.data.columns import numeric_values
from fjax.data.woe import NumericWoe
from fjax.scorecard import ScoreScale
from fjax.tasks.credit.final import FinalModel

ELDERLY = 62         # Regulation B's "elderly": 62 or older
TOLERANCE = 1e-3     # points: far above float32 logit noise, far below a printed point
MAX_ROWS = 12        # age bands listed in the report before it lists chosen ages only
MAX_APPLICANTS = 2000  # applicants rescored per age (a seeded sample of a larger book)


def age_scores(final: FinalModel, frame: pd.DataFrame, column: str, scale: ScoreScale,
               ages: np.ndarray) -> np.ndarray:
    """f64[n, len(ages)]: each applicant's score with its age set to each of `ages`."""
    n = len(frame)
    moved = frame.iloc[np.repeat(np.arange(n), len(ages))].reset_index(drop=True)
    moved[column] = np.tile(np.asarray(ages, np.float64), n)
    logits = np.asarray(final.logits(final.encode(moved)), np.float64)
    return np.asarray(scale.from_logit(logits), np.float64).reshape(n, len(ages))


def age_grid(values: np.ndarray, woe) -> np.ndarray:
    """The whole ages of `values`, `ELDERLY`, and the edges of the model's age bins (where
    it bins age) inside their range: every band the applicants reach, at a few ages each."""
    ages = np.union1d(np.floor(values), [ELDERLY])
    if isinstance(woe, NumericWoe):
        ages = np.union1d(ages, woe.edges[(woe.edges > ages[0]) & (woe.edges < ages[-1])])
    return ages


def bins(woe, ages: np.ndarray) -> list[str] | None:
    """The bin of each age where the model bins the column (`woe` a NumericWoe), else None."""
    if not isinstance(woe, NumericWoe):
        return None
    labels = woe.labels()
    return [labels[i] for i in woe.bin_or_missing(ages)]


def age_check(final: FinalModel, frame: pd.DataFrame, column: str, scale: ScoreScale
              ) -> dict:
    """Points of each age against the most favoured age under `ELDERLY` (mean over the
    applicants of `frame`; exact for everyone under logistic regression), the worst age
    of `ELDERLY` or more, and whether any applicant is scored down for such an age."""
    values, woe = numeric_values(frame, column), final.encoder.woe.get(column)
    ages = age_grid(values[np.isfinite(values)], woe)
    facts = {"column": column, "elderly_from": ELDERLY, "negative_factor": False}
    if len(frame) > MAX_APPLICANTS:   # the report says the figures are of a sample
        facts["sample"] = {"applicants": MAX_APPLICANTS, "of": len(frame)}
        rows = np.random.default_rng(0).choice(len(frame), MAX_APPLICANTS, replace=False)
        frame = frame.iloc[np.sort(rows)]
    old = ages >= ELDERLY
    if old.all():
        return {**facts, "ages": ages.tolist(), "points": None}
    scores = age_scores(final, frame, column, scale, ages)
    shortfall = scores[:, ~old].max(axis=1) - scores[:, old].min(axis=1)
    mean = scores.mean(axis=0)
    points = mean - mean[~old].max()
    best = int(np.argmax(np.where(old, -np.inf, mean)))
    worst = int(np.argmin(np.where(old, mean, np.inf)))
    binned = bins(woe, ages)   # None where age is not binned: each age is its own band

    def at(i: int) -> dict:
        return {"age": float(ages[i]), "band": binned[i] if binned else None}

    return {**facts, "ages": ages.tolist(), "bands": binned or [f"{a:g}" for a in ages],
            "points": points.tolist(), "best_under": at(best),
            "worst_elderly": {**at(worst), "points": float(points[worst])},
            "shortfall_max": float(shortfall.max()),
            "applicants_scored_down": float(np.mean(shortfall > TOLERANCE)),
            "negative_factor": bool(shortfall.max() > TOLERANCE)}


def age_table(age: dict) -> pd.DataFrame:
    """One row per age band (per age where the bands are many: a few chosen ones), with
    its mean points against the most favoured age under `ELDERLY`."""
    table = pd.DataFrame({"age": age["ages"], "band": age["bands"], "points": age["points"]})
    rows = table.groupby("band", sort=False).agg(ages_from=("age", "min"),
                                                 ages_to=("age", "max"),
                                                 points=("points", "mean")).reset_index()
    if len(rows) <= MAX_ROWS:
        return rows
    chosen = {age["best_under"]["age"], age["worst_elderly"]["age"], ELDERLY,
              *np.quantile(table["age"], [0, 0.25, 0.5, 0.75, 1], method="nearest"),
              table["age"][table["age"] < ELDERLY].max()}
    return table[table["age"].isin(chosen)].drop(columns="band")
