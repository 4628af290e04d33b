"""`fjax score credit --run DIR --data new.csv`: a finished credit run's frozen model
(its `model.msgpack`) scores a file of new applicants, without training.

The scores are those the run itself gives the same applicants (`--data.score-path`'s
new_scores.csv): the same encoder, parameters, reference applicant, calibrator,
threshold and scale, read back exactly. The file is checked as `--data.score-path` is
(every feature column, numbers readable as numbers); missing values and categories the
run never saw are scored as the training applicants' mix, as in the run, and counted.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from fjax.config import to_dict
from fjax.config_fields import frozen_config
from fjax.report.files import RunDir, markdown_table
from fjax.stability import psi, psi_chance, psi_verdict
from fjax.tasks.credit.data import read_applicants
from fjax.tasks.credit.model_file import MODEL_FILE, SavedModel, read_model
from fjax.tasks.credit.run import describe
from fjax.tasks.credit.scoring import score_new
from fjax.tasks.experiment import saved_environment, setup_words, warned_setup_changes

OUTPUTS = ("config.json", "score.json", "new_scores.csv", "report.md")


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
    """The model a credit run saved in `run`, refusing a folder that holds none (another
    task's, an unfinished run's, or one written before runs saved their model)."""
    if not run.is_dir():
        raise ValueError(f"--run {str(run)!r}: no such folder; give the folder a `fjax run "
                         "credit` wrote, e.g. --run runs/credit")
    task = saved_environment(run).get("config_class")
    if task is not None and not str(task).startswith("fjax.tasks.credit."):
        raise ValueError(f"--run {str(run)!r} holds a run of {task}, not a credit run; "
                         "`fjax score credit` scores with a credit run's saved model")
    if not (run / MODEL_FILE).is_file():
        rerun = (f"rerun it (`fjax run credit --config {run / 'config.json'} --out DIR`) to "
                 f"save one, or score with the retraining route, `fjax run credit --config "
                 f"{run / 'config.json'} --data.score-path NEW.csv --out DIR`, which trains "
                 "the same model again") if (run / "config.json").is_file() \
            else "give the folder of a finished `fjax run credit`"
        raise ValueError(f"--run {str(run)!r} has no saved model ({MODEL_FILE}): the run "
                         f"is unfinished or was written by an fjax that saved none; {rerun}")
    return read_model(run / MODEL_FILE)


def out_folder(cfg: ScoreConfig, run: Path) -> Path:
    """The folder for the scores, which must not be a run's own (its new_scores.csv and
    config.json are the run's results)."""
    out = Path(cfg.out) if cfg.out else run.parent / f"{run.resolve().name}_scored"
    if out.exists() and (out.resolve() == run.resolve()
                         or (out / "environment.json").exists()):
        raise ValueError(f"--out {str(out)!r} holds a training run, whose files the scores "
                         "would replace; give another folder, e.g. --out runs/scored")
    return out


def sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def score_facts(cfg: ScoreConfig, model: SavedModel, frame, new) -> dict:
    """What score.json records: where the model and applicants came from (with their
    SHA-256), the decisions, the PSI against the training applicants' scores and the
    values the run never saw."""
    run, scores = Path(cfg.run), new["score"].to_numpy()
    return {"run": str(run), "model_file": str(run / MODEL_FILE),
            "model_sha256": sha256(run / MODEL_FILE),
            "model": describe(model.final.config), "data": cfg.data,
            "data_sha256": sha256(Path(cfg.data)), "applicants": int(len(new)),
            "decisions": new["decision"].value_counts().to_dict(),
            "threshold": model.threshold, "mean_pd": float(np.mean(new["pd"])),
            "psi_vs_training": psi(model.train_scores, scores),
            "psi_chance_95": psi_chance(model.train_scores, len(scores)),
            "unseen_values": model.final.encoder.unseen(frame),
            "setup_changed": warned_setup_changes(run, "the scores")}


def score_note(facts: dict, new) -> str:
    """report.md: a short account of what was scored, with what, and how to read it."""
    decisions = ", ".join(f"{k} {v}" for k, v in sorted(facts["decisions"].items()))
    unseen = facts["unseen_values"]
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
        "- Values the run never saw (scored as the training applicants' mix, 0 points "
        "against the reference): " + (", ".join(f"{c} {k} row(s)" for c, k in unseen.items())
                                      if unseen else "none") + ".",
        *([f"- Setup: {setup_words(facts['setup_changed'])}; the same model on another "
           "setup can differ from the run's scores in float32's last digits."]
          if facts["setup_changed"] else []),
        "", "Scores, PDs, decisions and reason codes per applicant are in new_scores.csv.",
        "", "## First applicants", "",
        markdown_table(new.head(10)), ""]
    return "\n".join(lines)


def score(cfg: ScoreConfig) -> Path:
    """Score `cfg.data` with the model saved in `cfg.run`; returns the output folder."""
    t_start = time.perf_counter()
    run = Path(cfg.run)
    model = saved_model(run)
    frame = read_applicants(cfg.data, model.final.encoder.schema, model.config.data.id_column,
                            "--data")
    out = out_folder(cfg, run)   # bad input fails before anything is written
    new = score_new(model.config, frame, model.final, model.calibrator, model.threshold,
                    model.scale)
    folder = RunDir(out)
    folder.remove(*OUTPUTS)
    folder.json("config.json", to_dict(cfg))
    folder.csv("new_scores.csv", new)
    facts = score_facts(cfg, model, frame, new)
    folder.json("score.json", {**facts, "run_config": to_dict(model.config),
                               "timings_s": {"total": time.perf_counter() - t_start}})
    folder.text("report.md", score_note(facts, new))
    return out
