"""`fjax score credit --run DIR --data new.csv`: a finished credit run's frozen model
(its `model.msgpack`) scores a file of new applicants, without training.

The scores are those the run itself gives the same applicants (`--data.score-path`'s
new_scores.csv): the same encoder, parameters, reference applicant, calibrator,
threshold and scale, read back exactly. The file is checked as `--data.score-path` is
(every feature column, numbers readable as numbers; a refusal whose fix is one of the
run's data settings says the run's settings read the file: `as_run_read`); missing values
and categories the run never saw are scored as the training applicants' mix, as in the
run, and counted, as are numbers beyond the range the model was fitted on
(`out_of_range`), which it scores by extrapolating (standardised inputs) or in the end
bin (WOE).
Where the file also holds the run's label column (a holdout, or a later vintage whose
outcomes are known), the model is measured on those labels as the run measures its
out-of-time applicants (`labelled_measures`), with the bad count and log-loss beside them,
by `labelled`'s code, which a run's labelled `--data.score-path` file goes through too.
Each label must be the run's bad one or its good one, or blank: an outcome not known yet,
its row scored but not measured (`file_labels`). One class on every labelled row (a file
of defaulted accounts only, say) is measured without what needs both classes, which the
outputs say (`labelled_facts`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from fjax.config import to_dict
from fjax.config_fields import frozen_config
from fjax.report.files import RunDir, markdown_table
from fjax.stability import psi, psi_chance, psi_verdict
from fjax.tasks.credit.bands import Gains
from fjax.tasks.credit.data import SCORED_BLANKS, check_ages, read_applicants
from fjax.tasks.credit.labelled import file_labels, measure_file
from fjax.tasks.credit.model_file import SavedModel, beyond_range, read_model
from fjax.tasks.credit.report import (implausible_age_lines, labelled_lines, range_lines,
                                      unseen_lines)
from fjax.tasks.credit.run import describe
from fjax.tasks.credit.scoring import score_new
from fjax.tasks.experiment import setup_lines, warned_setup_changes
from fjax.tasks.frozen import (MODEL_FILE, as_run_read, model_path, out_folder,
                               rerun_command, sha256)

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


def out_of_range(model: SavedModel, frame) -> dict[str, dict] | None:
    """`beyond_range` of `frame` against the model file's training ranges; None where the
    model file (an older fjax's) records none. Read only: the scores do not depend on it."""
    return (None if model.ranges is None
            else beyond_range(model.ranges, frame, model.final.encoder.woe,
                              model.final.config.model.kind))


def file_ages(model: SavedModel, frame, data: str) -> dict | None:
    """`check_ages` of the file's ages (refused where negative), where the model scores the
    run's data.age_column as a number; None where it does not."""
    column = model.config.data.age_column
    if column not in model.final.encoder.schema.numeric:
        return None
    return check_ages(frame, column, f"--data {data!r}", SCORED_BLANKS)


def score_facts(cfg: ScoreConfig, model: SavedModel, frame, new,
                ages: dict | None = None, labelled: dict | None = None) -> dict:
    """What score.json records: where the model and applicants came from (with their
    SHA-256), the decisions, the PSI against the training applicants' scores, the
    values the run never saw, the numbers beyond its training range (`out_of_range`), the
    implausible ages (`file_ages`) and, where the file holds the run's labels, the model
    measured on them (`labelled`, `measure_file`'s facts)."""
    run, scores = Path(cfg.run), new["score"].to_numpy()
    labelled = {} if labelled is None else {"labelled": labelled}
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


def score_note(facts: dict, new, gains: Gains | None = None) -> str:
    """report.md: a short account of what was scored, with what, and how to read it
    (`gains`: the labelled applicants' PDs by band, gains.csv)."""
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
        *range_lines(facts["out_of_range"]),
        *implausible_age_lines(facts["implausible_ages"]),
        *labelled_lines(facts.get("labelled"), "gains.csv", gains),
        *setup_lines(facts["setup_changed"], "scores"),
        "", "Scores, PDs, decisions and reason codes per applicant are in new_scores.csv.",
        "", "## First applicants", "",
        markdown_table(new.head(10)), ""]
    return "\n".join(lines)


def score(cfg: ScoreConfig) -> Path:
    """Score `cfg.data` with the model saved in `cfg.run`; returns the output folder."""
    t_start = time.perf_counter()
    run = Path(cfg.run)
    model = saved_model(run)
    frame = as_run_read(lambda: read_applicants(cfg.data, model.final.encoder.schema,
                                                model.config.data.id_column, "--data"),
                        repr(cfg.data), "credit")
    labels = file_labels(f"--data {cfg.data!r}", model.final.encoder.schema,
                         model.good_label, frame)
    ages = file_ages(model, frame, cfg.data)
    out = out_folder(cfg.out, run)   # bad input fails before anything is written
    new, raw = score_new(model.config, frame, model.final, model.calibrator, model.threshold,
                    model.scale)
    folder = RunDir(out)
    folder.remove(*OUTPUTS)
    folder.json("config.json", to_dict(cfg))
    folder.csv("new_scores.csv", new)
    labelled, gains = measure_file(folder, "gains.csv", model, new, raw, labels)
    facts = score_facts(cfg, model, frame, new, ages, labelled)
    folder.json("score.json", {**facts, "run_config": to_dict(model.config),
                               "timings_s": {"total": time.perf_counter() - t_start}})
    folder.text("report.md", score_note(facts, new, gains))
    return out
