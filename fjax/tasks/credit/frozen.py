"""`fjax score credit --run DIR --data new.csv`: a finished credit run's frozen model
(its `model.msgpack`) scores a file of new applicants, without training.

The scores are those the run itself gives the same applicants (`--data.score-path`'s
new_scores.csv): the same encoder, parameters, reference applicant, calibrator,
threshold and scale, read back exactly. The file is checked as `--data.score-path` is
(every feature column, numbers readable as numbers); missing values and categories the
run never saw are scored as the training applicants' mix, as in the run, and counted, as
are numbers beyond the range the model was fitted on (`out_of_range`), which it scores by
extrapolating (standardised inputs) or in the end bin (WOE).
Where the file also holds the run's label column (a holdout, or a later vintage whose
outcomes are known), the model is measured on those labels as the run measures its
out-of-time applicants (`labelled_measures`), with the bad count and log-loss beside them.
Each label must be the run's bad one or its good one, or blank: an outcome not known yet,
its row scored but not measured (`file_labels`). One class on every labelled row (a file
of defaulted accounts only, say) is measured without what needs both classes, which the
outputs say (`labelled_facts`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from fjax.config import to_dict
from fjax.config_fields import frozen_config
from fjax.data.columns import label_classes, listed, matches_label
from fjax.report.files import RunDir, markdown_table
from fjax.stability import psi, psi_chance, psi_verdict
from fjax.tasks.credit.bands import hosmer_lemeshow, pd_bands
from fjax.tasks.credit.data import SCORED_BLANKS, check_ages, read_applicants
from fjax.tasks.credit.model_file import SavedModel, beyond_range, read_model
from fjax.tasks.credit.oof import log_loss_f64
from fjax.tasks.credit.report import (implausible_age_lines, order_text, range_lines,
                                      ranked_text, unseen_lines)
from fjax.tasks.credit.run import describe, labelled_measures
from fjax.tasks.credit.scoring import score_new
from fjax.tasks.experiment import setup_lines, warned_setup_changes
from fjax.tasks.frozen import MODEL_FILE, model_path, out_folder, rerun_command, sha256

OUTPUTS = ("config.json", "score.json", "new_scores.csv", "gains.csv", "report.md")


@frozen_config
class ScoreConfig:
    """Score new applicants with a finished credit run's saved model (its model.msgpack),
    without training: the approved model, frozen."""

    run: str
    """The folder a `fjax run credit` (or `fjax sweep credit`) wrote, e.g. runs/credit."""
    data: str
    """The applicants to score (.csv or .parquet): every feature column the run scored."""
    out: str | None = None
    """Where to write the scores; default: the run's folder name + _scored beside it."""


def saved_model(run: Path) -> SavedModel:
    """The model a credit run saved in `run` (`fjax.tasks.frozen.model_path`)."""
    return read_model(model_path(run, "credit", (
        f"score with the retraining route, `{rerun_command(run, 'credit')} "
        "--data.score-path NEW.csv --out DIR`, which trains the same model again")))


class Labels(NamedTuple):
    """A scored file's labels: known bool[n], the rows with a label (a blank one is an
    outcome not known yet); y f32[known.sum()] their labels (1 = bad); good, the value read
    as good (None where none is); unread, why they are not read at all ('' where they are)."""
    known: np.ndarray
    y: np.ndarray
    good: str | None
    unread: str = ""


def file_labels(cfg: ScoreConfig, model: SavedModel, frame) -> Labels | None:
    """The file's labels where it holds the run's label column, None where it holds none.
    Every label is the run's bad label or its good one (training's other class, recorded in
    the model file); a model file without it (an older fjax's) reads the file's one value
    other than the bad label as good where bad labels are present too (alone, it may be an
    unknown outcome: not measured). Any other value is refused, naming it; a blank label
    (an outcome not known yet) leaves its row out of the measures, not out of the scores."""
    schema, good = model.final.encoder.schema, model.good_label
    if schema.target not in frame.columns:
        return None
    known = frame[schema.target].notna().to_numpy()
    values = frame[schema.target][known]
    where = f"--data {cfg.data!r}: label column {schema.target!r}"
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


def labelled_bands(new, labels: Labels | None) -> pd.DataFrame | None:
    """The labelled rows' deployed PDs by decile (`pd_bands`: gains.csv), the run's gains
    table on the file's own outcomes; None where no row has a label read."""
    if labels is None or labels.unread or not labels.known.any():
        return None
    return pd_bands(new["pd"].to_numpy(np.float64)[labels.known], labels.y)


def labelled_facts(model: SavedModel, new, raw: np.ndarray, labels: Labels,
                   bands: pd.DataFrame | None = None) -> dict:
    """The model measured on the file's own labels, as the run measures its out-of-time
    applicants (`labelled_measures`: AUC, Gini and KS of the model's own PDs `raw` with
    DeLong's interval; Brier, cost and confusion of the deployed ones), plus the bads and the
    deployed PDs' log-loss (`log_loss_f64`), all in float64, on the rows with a label
    (`unlabelled` counts the blank ones), and the Hosmer-Lemeshow test of `bands`
    (`labelled_bands`). One class leaves out what needs both, and no label at all
    everything (`not_measured` says why)."""
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
    raw, pd_ = raw[known], new["pd"].to_numpy(np.float64)[known]
    return {**facts, "bads": int(y.sum()),
            **labelled_measures(raw, pd_, y, model.threshold, data.cost_fn, data.cost_fp),
            "log_loss": log_loss_f64(pd_, y.astype(np.float64)),
            **({} if bands is None else {"hosmer_lemeshow": hosmer_lemeshow(bands)})}


def out_of_range(model: SavedModel, frame) -> dict[str, dict] | None:
    """`beyond_range` of `frame` against the model file's training ranges; None where the
    model file (an older fjax's) records none. Read only: the scores do not depend on it."""
    return (None if model.ranges is None
            else beyond_range(model.ranges, frame, model.final.encoder.woe))


def file_ages(model: SavedModel, frame, data: str) -> dict | None:
    """`check_ages` of the file's ages (refused where negative), where the model scores the
    run's data.age_column as a number; None where it does not."""
    column = model.config.data.age_column
    if column not in model.final.encoder.schema.numeric:
        return None
    return check_ages(frame, column, f"--data {data!r}", SCORED_BLANKS)


def score_facts(cfg: ScoreConfig, model: SavedModel, frame, new, raw: np.ndarray,
                labels: Labels | None = None, ages: dict | None = None,
                bands: pd.DataFrame | None = None) -> dict:
    """What score.json records: where the model and applicants came from (with their
    SHA-256), the decisions, the PSI against the training applicants' scores, the
    values the run never saw, the numbers beyond its training range (`out_of_range`), the
    implausible ages (`file_ages`) and,
    where the file holds the run's labels (`labels`), the model (its own PDs `raw`, and the
    deployed ones) measured on them (`labelled`; `bands`, their PDs by band)."""
    run, scores = Path(cfg.run), new["score"].to_numpy()
    labelled = {} if labels is None else {
        "labelled": labelled_facts(model, new, raw, labels, bands)}
    return {"run": str(run), "model_file": str(run / MODEL_FILE),
            "model_sha256": sha256(run / MODEL_FILE),
            "model": describe(model.final.config), "data": cfg.data,
            "data_sha256": sha256(Path(cfg.data)), "applicants": int(len(new)),
            "decisions": new["decision"].value_counts().to_dict(),
            "threshold": model.threshold, "mean_pd": float(np.mean(new["pd"])),
            "psi_vs_training": psi(model.train_scores, scores),
            "psi_chance_95": psi_chance(model.train_scores, len(scores)),
            "unseen_values": model.final.encoder.unseen(frame),
            "out_of_range": out_of_range(model, frame), "implausible_ages": ages,
            **labelled, "setup_changed": warned_setup_changes(run, "the scores")}


def score_note(facts: dict, new, kind: str) -> str:
    """report.md: a short account of what was scored, with what (a model of `kind`), and
    how to read it."""
    decisions = ", ".join(f"{k} {v}" for k, v in sorted(facts["decisions"].items()))
    lines = [
        "# New applicants scored with a saved credit model", "",
        f"- Model: `{facts['model_file']}` (SHA-256 {facts['model_sha256'][:12]}...), "
        f"{facts['model']}; not retrained. Its validation is the run's own report "
        f"(`{facts['run']}/report.md`).",
        f"- Applicants: {facts['applicants']} from `{facts['data']}` (SHA-256 "
        f"{facts['data_sha256'][:12]}...); {decisions} at the run's threshold "
        f"{facts['threshold']:.4g} on the deployed PD (mean PD {facts['mean_pd']:.4g}).",
        f"- Stability: PSI of their scores against the training applicants' "
        f"{facts['psi_vs_training']:.3f}; "
        + psi_verdict(facts["psi_vs_training"], facts["psi_chance_95"]) + ".",
        *unseen_lines(facts["unseen_values"]),
        *range_lines(facts["out_of_range"], kind),
        *implausible_age_lines(facts["implausible_ages"]),
        *labelled_lines(facts.get("labelled")),
        *setup_lines(facts["setup_changed"], "scores"),
        "", "Scores, PDs, decisions and reason codes per applicant are in new_scores.csv.",
        "", "## First applicants", "",
        markdown_table(new.head(10)), ""]
    return "\n".join(lines)


def labelled_lines(m: dict | None) -> list[str]:
    """report.md's line on the model measured on the file's own labels (none without)."""
    if m is None:
        return []
    if "bads" not in m:
        return [f"- Performance not measured: {m['not_measured']}."]
    good = "" if m["good_label"] is None else f", good = {m['good_label']!r}"
    said = (f"measured on this file's own labels (`{m['label_column']}`, bad = "
            f"{m['bad_label']!r}{good})")
    if not m["good_label_recorded"] and m["good_label"] is not None:
        said += (" (the model file, saved by an older fjax, records no good label: the file's "
                 "one other value is read as good; rerun the run to record it)")
    blank = (f" ({m['unlabelled']} more, whose label is blank (outcomes not known yet), "
             "scored but left out of these measures)" if m["unlabelled"] else "")
    counts = (f"{m['applicants']} applicants{blank}, {m['bads']} bads; bad rate "
              f"{m['bad_rate']:.4f} against mean PD {m['mean_pd']:.4f}")
    if m["auc"] is None:
        return [f"- Performance, {said}: {counts}; Brier {m['brier']:.4f}; log-loss "
                f"{m['log_loss']:.4f}, of the deployed PDs; {m['not_measured']}."]
    return [
        f"- Performance, {said}: {counts}; {ranked_text(m)}; Brier {m['brier']:.4f}; log-loss "
        f"{m['log_loss']:.4f}. AUC, Gini and KS rank the model's own PDs, the rest are of "
        "the deployed PDs, as the run's out-of-time test measures them.", *bands_lines(m)]


def bands_lines(m: dict) -> list[str]:
    """report.md's line on the labelled applicants' PDs by band (gains.csv)."""
    hl = m.get("hosmer_lemeshow")
    if hl is None:
        return []
    return [f"- By PD band (gains.csv: the labelled applicants' deployed PDs in bands cut at "
            f"their deciles, riskiest first, as the run's gains.csv): rank ordering: "
            f"{order_text(hl)}; Hosmer-Lemeshow {hl['statistic']:.2f} on {hl['dof']} degrees "
            f"of freedom, p = {hl['p_value']:.3g}: calibration is "
            + ("rejected" if hl["p_value"] < 0.05 else "not rejected") + " at 5%."]


def score(cfg: ScoreConfig) -> Path:
    """Score `cfg.data` with the model saved in `cfg.run`; returns the output folder."""
    t_start = time.perf_counter()
    run = Path(cfg.run)
    model = saved_model(run)
    frame = read_applicants(cfg.data, model.final.encoder.schema, model.config.data.id_column,
                            "--data")
    labels = file_labels(cfg, model, frame)
    ages = file_ages(model, frame, cfg.data)
    out = out_folder(cfg.out, run)   # bad input fails before anything is written
    new, raw = score_new(model.config, frame, model.final, model.calibrator, model.threshold,
                    model.scale)
    folder = RunDir(out)
    folder.remove(*OUTPUTS)
    folder.json("config.json", to_dict(cfg))
    folder.csv("new_scores.csv", new)
    bands = labelled_bands(new, labels)
    if bands is not None:
        folder.csv("gains.csv", bands)
    facts = score_facts(cfg, model, frame, new, raw, labels, ages, bands)
    folder.json("score.json", {**facts, "run_config": to_dict(model.config),
                               "timings_s": {"total": time.perf_counter() - t_start}})
    folder.text("report.md", score_note(facts, new, model.final.config.model.kind))
    return out
