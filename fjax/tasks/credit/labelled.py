"""A file of applicants whose outcomes are known (a holdout, a later vintage, the
out-of-time applicants): its labels read against the run's (`file_labels`), and the model
measured on them (`labelled_measures`, `labelled_facts`, `labelled_bands`, which
`write_bands` computes, with their Hosmer-Lemeshow test, and writes; `measure_file` the
whole chain for a scored file). One code path for `fjax score credit --data`, a run's
`--data.score-path` and its out-of-time applicants, so all report the same measures of
labelled applicants.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from fjax.calibration import calibration_in_the_large, calibration_slope
from fjax.data.columns import TableSchema, label_classes, listed, matches_label
from fjax.decision import confusion, expected_cost
from fjax.intervals import auc_interval, rank_auc, rank_ks
from fjax.report.files import RunDir
from fjax.tasks.credit.bands import Gains
from fjax.tasks.credit.model_file import SavedModel
from fjax.tasks.credit.oof import brier_f64, log_loss_f64


def pooled(pd_: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Ranking and accuracy of PDs pooled over applicants, in float64: `auc` and `ks`
    (`rank_auc`, the centre of `auc_95`, and `rank_ks`: PDs closer than float32 resolves
    are not tied), `brier` and `log_loss` as the calibrated PDs' (`log_loss_f64`'s clipping),
    and `auc_95` DeLong's 95% interval of the AUC (None with fewer than two of a class)."""
    pd_, y = np.asarray(pd_, np.float64), np.asarray(y, np.float64)
    auc = rank_auc(pd_, y)
    both = min(np.sum(y > 0.5), np.sum(y < 0.5)) >= 2
    return {"auc": auc, "auc_95": list(auc_interval(pd_, y)[1:]) if both else None,
            "gini": 2 * auc - 1, "ks": rank_ks(pd_, y),
            "brier": brier_f64(pd_, y), "log_loss": log_loss_f64(pd_, y)}


def labelled_measures(raw: np.ndarray, pd_: np.ndarray, y: np.ndarray, t: float,
                      cost_fn: float, cost_fp: float, gains: Gains | None = None
                      ) -> dict:
    """Labelled applicants the model never trained on (the out-of-time ones, or a scored
    file's): AUC, Gini and KS rank the model's own PDs `raw` (calibration's ties would lower
    them), None where `y` holds one class; mean PD, Brier, cost and confusion are of the
    deployed PDs `pd_` at the deployed threshold `t`, as are the calibration slope and
    calibration-in-the-large (None without a finite fit); rates in float64; and, given their
    `gains` (`labelled_bands`), the Hosmer-Lemeshow test of those."""
    both = 0 < y.sum() < len(y)
    ranked = pooled(raw, y) if both else dict.fromkeys(("auc", "auc_95", "gini", "ks"))
    bad_rate = float(np.mean(y, dtype=np.float64))
    return {"applicants": int(len(y)), "bad_rate": bad_rate,
            "mean_pd": float(np.mean(pd_)), "auc": ranked["auc"],
            "auc_95": ranked["auc_95"], "gini": ranked["gini"],
            "ks": ranked["ks"], "brier": brier_f64(pd_, y),
            "calibration_slope": calibration_slope(pd_, y),
            "calibration_in_the_large": calibration_in_the_large(pd_, y),
            "cost_per_applicant": expected_cost(pd_, y, t, cost_fn, cost_fp),
            "cost_accept_all": cost_fn * bad_rate,
            "confusion": confusion(pd_, y, t),
            **({} if gains is None else {"hosmer_lemeshow": gains.hosmer_lemeshow})}


class Labels(NamedTuple):
    """A scored file's labels: known bool[n], the rows with a label (a blank one is an
    outcome not known yet); y f32[known.sum()] their labels (1 = bad); good, the value read
    as good (None where none is); unread, why they are not read at all ('' where they are)."""
    known: np.ndarray
    y: np.ndarray
    good: str | None
    unread: str = ""


def file_labels(source: str, schema: TableSchema, good: str | None, frame
                ) -> Labels | None:
    """The labels of `frame` (read from `source`, an option and its file) where it holds
    the run's label column (`schema.target`), None where it holds none. Every label is the
    run's bad label or its good one (`good`: training's other class, recorded in the model
    file); without it (an older fjax's model file) the file's one value other than the bad
    label is read as good where bad labels are present too (alone, it may be an unknown
    outcome: not measured). Any other value is refused, naming it; a blank label (an
    outcome not known yet) leaves its row out of the measures, not out of the scores."""
    if schema.target not in frame.columns:
        return None
    known = frame[schema.target].notna().to_numpy()
    values = frame[schema.target][known]
    where = f"{source}: label column {schema.target!r}"
    fix = ("; leave a label blank where the outcome is not known yet, or remove the column "
           "to score the file without measuring the model on it")
    bad = matches_label(values, schema.positive)
    others = pd.Series(sorted(label_classes(values[~bad])))  # as listed
    if good is None and len(others) > 1:
        raise ValueError(
            f"{where} holds {listed(others)} besides the bad label {schema.positive!r}, and "
            "the model file (saved by an older fjax) records no good label, so only one "
            "other value can be read as good: map them to the bad label and one good "
            f"value{fix}")
    unseen = others[~matches_label(others, good)] if good is not None else others[:0]
    if len(unseen):
        rows = int((~bad & ~matches_label(values, good)).sum())
        raise ValueError(
            f"{where} holds {listed(unseen)} in {rows} row(s), which the run never saw: its "
            f"labels are {schema.positive!r} (bad) and {good!r} (good); map those values to "
            f"one of them{fix}")
    if good is None and len(others) and not bad.any():
        return Labels(known, np.zeros(0, np.float32), None, (
            f"the label column {schema.target!r} holds {listed(others)} on every labelled "
            f"row, not the bad label {schema.positive!r}, and the model file (saved by an "
            "older fjax) records no good label to read it as, so the model is not measured"))
    read_good = good if good is not None else (others[0] if len(others) else None)
    return Labels(known, bad.astype(np.float32), read_good)


def file_rows(new, labels: Labels | None) -> tuple[np.ndarray, np.ndarray]:
    """A scored file's labelled rows: their deployed PDs f64[known.sum()] and labels (none
    where `labels` is None or unread)."""
    if labels is None or labels.unread:
        return np.zeros(0), np.zeros(0, np.float32)
    return new["pd"].to_numpy(np.float64)[labels.known], labels.y


def labelled_bands(pd_: np.ndarray, y: np.ndarray) -> Gains | None:
    """Labelled applicants' deployed PDs `pd_` by decile with their Hosmer-Lemeshow test
    (`Gains`: the run's gains table on their own outcomes `y`); None where no applicant is
    labelled."""
    return Gains.of(pd_, y) if len(y) else None


def write_bands(folder: RunDir, name: str, pd_: np.ndarray, y: np.ndarray
                ) -> Gains | None:
    """`labelled_bands(pd_, y)`, its table written to the CSV `name` in `folder` (nothing
    without one), returned."""
    gains = labelled_bands(pd_, y)
    if gains is not None:
        folder.csv(name, gains.table)
    return gains


def measure_file(folder: RunDir, name: str, model: SavedModel, new: pd.DataFrame,
                 raw: np.ndarray, labels: Labels | None
                 ) -> tuple[dict | None, Gains | None]:
    """A scored file (`new`, the model's own PDs `raw`) measured on its `labels`: its
    labelled rows (`file_rows`) by band (`write_bands`, to the CSV `name` in `folder`) and
    `labelled_facts` (None where the file holds no label column), with the bands."""
    pd_, y = file_rows(new, labels)
    gains = write_bands(folder, name, pd_, y)
    facts = None if labels is None else labelled_facts(model, raw, labels, pd_, gains)
    return facts, gains


def labelled_facts(model: SavedModel, raw: np.ndarray, labels: Labels, pd_: np.ndarray,
                   gains: Gains | None = None) -> dict:
    """The model measured on the file's own labels, as the run measures its out-of-time
    applicants (`labelled_measures`: AUC, Gini and KS of the model's own PDs `raw` with
    DeLong's interval; Brier, cost and confusion of the deployed ones `pd_`, the labelled
    rows' as `file_rows` selects them), plus the bads and the deployed PDs' log-loss
    (`log_loss_f64`), all in float64, on the rows with a label (`unlabelled` counts the
    blank ones), and the Hosmer-Lemeshow test of `gains` (`labelled_bands`). One class
    leaves out what needs both, and no label at all everything (`not_measured` says why)."""
    final, data = model.final, model.config.data
    column = final.encoder.schema.target
    facts = {"label_column": column, "bad_label": final.encoder.schema.positive,
             "good_label": labels.good, "good_label_recorded": model.good_label is not None}
    y, known = labels.y, labels.known
    if labels.unread or not known.any():
        return {**facts, "applicants": 0, "unlabelled": int((~known).sum()), "not_measured": (
            labels.unread or f"the label column {column!r} is blank on every row (outcomes "
            "not known yet), so the model is not measured on it")}
    facts["unlabelled"] = int((~known).sum())
    if not 0 < y.sum() < len(y):
        one = final.encoder.schema.positive if y.all() else labels.good
        facts["not_measured"] = (
            f"the label column {column!r} holds one class ({one!r}) on every labelled row, "
            "so AUC, Gini and KS are not measured: they need both classes")
    return {**facts, "bads": int(y.sum()),
            **labelled_measures(raw[known], pd_, y, model.threshold, data.cost_fn, data.cost_fp,
                                gains),
            "log_loss": log_loss_f64(pd_, y.astype(np.float64))}
