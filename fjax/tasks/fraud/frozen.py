"""`fjax score fraud --run DIR --data tx.csv --days N`: a finished fraud run's deployable
model (its `model.msgpack`, see `model_file`) scores the file's last N days, without
training.

The features need history: a card's windows read its transactions of the last 30 days,
a terminal's risk the labels of the 30 days behind the label delay. So the file holds
the history and the days to score, in the run's columns: every transaction of at least
`data.delay_days` + 30 days before the first day scored, labelled, then the days to
score, whose labels may be blank where no feature reads them (the last `delay_days`
days: terminal risk reads only labels at least that old). Both are checked, naming the
field and the fix. Given that, the handbook's features of the days scored are those the
run computed for the same transactions (the run's own scores for them, see the tests),
scaled with the deployed model's training-week scaler. A sequence model (gru, lstm)
also reads each card's last `data.history` transactions, whose own features need the
same history before them (checked too): exact where a card's last ones are in the file.
The scores' PSI against the training week's (saved with the model) says whether the days
scored look like the week the model learnt from (`fjax.stability.psi_verdict`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from fjax.config import to_dict
from fjax.config_fields import frozen_config
from fjax.data.columns import found_in, spelled_as
from fjax.data.fraud_features import (WINDOWS, handbook_features, history_days,
                                      previous_rows)
from fjax.data.fraud_protocol import Period, assessment_mask
from fjax.data.split_stack import stack_scaled
from fjax.data.splits import Folds
from fjax.data.transactions import Transactions, from_frame, header_lacks_cards
from fjax.datasets import read_table
from fjax.report.files import RunDir, markdown_table
from fjax.stability import psi, psi_chance, psi_verdict
from fjax.tasks.experiment import setup_lines, warned_setup_changes
from fjax.tasks.fraud.config import SEQUENCE_KINDS, FraudDataConfig
from fjax.tasks.fraud.dataset import with_user_columns
from fjax.tasks.fraud.model_file import SavedModel, read_model
from fjax.tasks.fraud.training import make_trainable, score_rows
from fjax.tasks.frozen import (MODEL_FILE, as_run_read, model_path, out_folder,
                               rerun_command, sha256)

OUTPUTS = ("config.json", "score.json", "scores.csv", "report.md")


@frozen_config
class ScoreConfig:
    """Score a file's last days of transactions with a finished fraud run's deployable
    model (its model.msgpack: the last period's model, frozen), without training."""

    run: str
    """The folder a `fjax run fraud` (or `fjax sweep fraud`) wrote, e.g. runs/fraud."""
    data: str
    """The transactions (.csv or .parquet) in the run's columns: data.delay_days + 30 days
    of labelled history, then the days to score (their labels may be blank)."""
    days: int = 1
    """The file's last `days` days are scored; the earlier ones are their history."""
    out: str | None = None
    """Where to write the scores; default: the run's folder name + _scored beside it."""
    target: str | None = None
    """The operating point: the target of a threshold the run set in advance for the
    model (thresholds.csv, e.g. "FPR 0.1%"; set on earlier labelled weeks, never on the
    days scored); None: its alert budget (data.top_k alerts a day)."""


def saved_model(run: Path) -> SavedModel:
    """The deployable model a fraud run saved in `run`."""
    return read_model(model_path(run, "fraud", (
        f"score them inside a run: `{rerun_command(run, 'fraud')} --data.path TX.csv "
        "--out DIR`, which trains again")))


def read_transactions(path: str, cfg: FraudDataConfig) -> tuple[Transactions, np.ndarray]:
    """The file's transactions read as the run read its own (`cfg`'s columns, user
    features and time zone), and which of them (in time order) had a blank label: read
    as 0, and `check_days` refuses them where a feature reads them. A refusal naming a
    --data option says the run's settings read the file (`as_run_read`)."""
    if header_lacks_cards(path, cfg.columns()):   # from_frame's decision, before loading
        raise ValueError(f"--data {path} has no card ids (data.customer_column "
                         f"{cfg.customer_column!r}) nor terminal ids: `fjax score fraud` "
                         "scores a run trained on the handbook's card and terminal features; "
                         "a run on a file without them is scored by training it again on "
                         "the newer file (`fjax run fraud --config RUN/config.json "
                         "--data.path NEW.csv --out DIR`)")
    frame = spelled_as(read_table(path, field="--data"), [*cfg.columns().values(), *cfg.features])
    label, ids = cfg.label_column, cfg.transaction_id_column
    blank = frame[label].isna().to_numpy() if label in frame.columns else None
    if blank is not None and blank.any():
        frame = frame.assign(**{label: frame[label].fillna(0)})
    tx = as_run_read(lambda: from_frame(frame, cfg.columns(), f"--data {path}", cfg.features,
                                        cfg.categorical, cfg.timezone), repr(path), "fraud")
    blank_ids = frame[ids].to_numpy()[blank] if blank is not None else []
    return tx, found_in(tx.transaction_id, blank_ids)


def check_days(tx: Transactions, blank: np.ndarray, days: int, cfg: FraudDataConfig,
               path: str) -> int:
    """The first day scored (the file's last `days`), refusing a file with less history
    than the features read before it, or blank labels a feature reads."""
    if days < 1:
        raise ValueError(f"--days is {days}; give the number of the file's last days to "
                         "score, e.g. --days 1")
    first, delay = tx.n_days - days, cfg.delay_days
    need = history_days(delay)
    if first < need:
        date = tx.date_of(first).date() if first >= 0 else "before the file's first day"
        raise ValueError(
            f"--data {path} holds {max(first, 0)} day(s) before the first day scored "
            f"({date}), but the features read {need}: the {max(WINDOWS)}-day card windows "
            f"and the terminals' {max(WINDOWS)}-day risk behind the {delay}-day label delay "
            f"(data.delay_days); give the transactions of the {need} days before it too, "
            f"or score fewer days (--days, at most {max(tx.n_days - need, 0)} here)")
    read = blank & (tx.day <= tx.n_days - 1 - delay)
    if read.any():
        row = int(np.nonzero(read)[0][0])
        raise ValueError(
            f"column {cfg.label_column!r} (label) of --data {path} has {int(read.sum())} "
            "blank label(s) on days whose labels the terminal risk of the days scored reads "
            f"(at least {delay} days old, data.delay_days; first: transaction "
            f"{tx.transaction_id[row]!r} on {tx.date_of(tx.day[row]).date()}); fill them "
            "(1 fraud, 0 legitimate): only the last delay_days days may be blank")
    return first


def sequences(tx: Transactions, model: SavedModel) -> np.ndarray | None:
    """i64[n, data.history]: each row's card's last transactions (`previous_rows`), which a
    sequence model (gru, lstm) reads; None for another model."""
    if model.model_config.model.kind not in SEQUENCE_KINDS:
        return None
    return previous_rows(tx, model.config.data.history)


def check_sequences(tx: Transactions, first: int, model: SavedModel,
                    history: np.ndarray | None, path: str) -> None:
    """For a sequence model (`history`: its `sequences`), refuse a file where a row a
    scored sequence reads (a card's last `data.history` transactions) has less history
    before it than its own features read. (A card with fewer transactions in the file may
    have had older ones: those are the file's to hold, which no check can see.)"""
    if history is None:
        return
    kind, cfg = model.model_config.model.kind, model.config.data
    read = history[tx.day >= first]
    read = read[read >= 0]
    need = history_days(cfg.delay_days)
    row = int(read[np.argmin(tx.day[read])])
    if tx.day[row] < need:
        raise ValueError(
            f"--data {path}: the {kind} model reads each card's last {cfg.history} "
            f"transactions (data.history), and transaction {tx.transaction_id[row]!r} on "
            f"{tx.date_of(tx.day[row]).date()}, which the days scored read, has "
            f"{tx.day[row]} day(s) before it in the file, not the {need} its features read; "
            f"give the transactions of the {need - tx.day[row]} day(s) before the file's "
            f"first ({tx.date_of(0).date()}) too")


def features(model: SavedModel, tx: Transactions, scored: np.ndarray,
             history: np.ndarray | None) -> np.ndarray:
    """The model's inputs for the rows `scored` (a mask, in row order): the handbook's
    features and the user's columns as the run built them (with `history`, its
    `sequences`), scaled (and one-hot encoded) with the deployed model's training-week
    statistics."""
    cfg = model.config.data
    names, values, categories = with_user_columns(tx, *handbook_features(tx, cfg.delay_days))
    if tuple(names) != model.names:
        raise ValueError(f"the file's feature columns {names} are not the model's "
                         f"{list(model.names)}; give the columns the run read")
    encoder = model.encoder
    stack = stack_scaled(
        values, Folds(train=np.zeros((1, len(tx)), np.float32),
                      val=scored[None].astype(np.float32)),
        history=history,
        encoded=((lambda k, rows: encoder.transform(categories.iloc[rows]).num)
                 if encoder is not None else None),
        scalers=[model.scaler])
    return stack.data["x"]


def known_compromised(tx: Transactions, first: int, cfg: FraudDataConfig,
                      train_start: str | None = None) -> np.ndarray:
    """bool[n]: the row's card is known compromised on its day, by the run's protocol
    (`fraud_protocol.assessment_mask`, whose look-back starts at the training week): a
    fraud labelled from the deployed model's training week's first day `train_start`
    (or `cfg.train_days` + `cfg.delay_days` days before `first`, the first day scored,
    where that is earlier or the model file does not say) to `delay_days` + 1 days before
    the row. The run's test weeks left such rows out (their card is blocked already),
    and its alert budget was set and measured without them."""
    start = first - cfg.delay_days - cfg.train_days
    if train_start is not None:
        start = min(start, tx.day_of(train_start))
    period = Period(start, first - cfg.delay_days - start, cfg.delay_days, tx.n_days - first)
    return assessment_mask(tx.day, tx.customer, tx.fraud, period, len(tx.customer_ids))[1]


def scores_table(model: SavedModel, tx: Transactions, first: int, raw: np.ndarray,
                 threshold: float | None) -> pd.DataFrame:
    """scores.csv: per transaction scored its id, date, card, terminal and score (as
    the run's scores.csv.gz: probability and logit, or reconstruction error), whether its
    card is `known_compromised`, and whether it is alerted at `threshold` (a known
    card's rows are not). `raw`: the scores of the rows from day `first` on."""
    rows = np.nonzero(tx.day >= first)[0]
    known = known_compromised(tx, first, model.config.data, model.train_start)[rows]
    logits = model.model_config.model.kind != "autoencoder"
    out = pd.DataFrame({"transaction_id": tx.transaction_id[rows],
                        "date": tx.date_texts(tx.day[rows]),
                        "card": tx.customer_ids[tx.customer[rows]],
                        "terminal": tx.terminal_ids[tx.terminal[rows]],
                        "score": expit(raw) if logits else raw,
                        **({"logit": raw} if logits else {}),
                        "known_compromised": known.astype(np.int8)})
    if threshold is not None:
        out["alert"] = ((raw >= threshold) & ~known).astype(np.int8)
    return out


def score_note(facts: dict, table: pd.DataFrame) -> str:
    """report.md: what was scored, with what, and the alerts."""
    point = facts["operating_point"] or {}
    measured = [text.format(point[key]) for key, text in (
        ("fpr", "flagged {:.3%} of the legitimate transactions"), ("recall", "recall {:.3f}"),
        ("alerts_per_day", "{:.1f} alerts a day")) if point.get(key) is not None]
    measured = f"; on the run's last test week: {', '.join(measured)}" if measured else ""
    source = ("" if "set_on_stage" not in point else
              f" on {point['set_on_stage']} period {point['set_on_period']}'s scores")
    alerts = (f"- Alerts: none set (the run had no threshold for {facts['target']} for this "
              "model)." if facts["threshold"] is None else
              f"- Alerts: {facts['alerts']} at the run's threshold {facts['threshold']:.6g} "
              f"(set in advance for {facts['target']}{source}{measured}), by day: "
              + ", ".join(f"{d} {n}" for d, n in facts["alerts_by_day"].items()) + ".")
    return "\n".join([
        "# Transactions scored with a saved fraud model", "",
        f"- Model: `{facts['model_file']}` (SHA-256 {facts['model_sha256'][:12]}...), "
        f"{facts['model']} trained on test period {facts['period']} (seed {facts['seed']}); "
        f"not retrained. Its evaluation is the run's own report (`{facts['run']}/report.md`).",
        f"- Transactions: {facts['scored']} scored on {facts['first_day']} to "
        f"{facts['last_day']}, from `{facts['data']}` (SHA-256 {facts['data_sha256'][:12]}"
        f"...), whose {facts['history_tx']} earlier transactions are their features' history. "
        f"{facts['known_compromised']} of those scored are by cards known compromised (a "
        "fraud labelled since the model's training week's start, at least "
        "data.delay_days + 1 days before, as the run's test weeks left out), which raise no "
        "alert.",
        alerts,
        f"- Stability: PSI of the scores against the model's training week's "
        f"{facts['psi_vs_training']:.3f}; "
        + psi_verdict(facts["psi_vs_training"], facts["psi_chance_95"]) + ".",
        *setup_lines(facts["setup_changed"], "scores"),
        "", "Scores per transaction are in scores.csv.", "", "## Highest scores", "",
        markdown_table(table.sort_values("score", ascending=False).head(10)), ""])


def score(cfg: ScoreConfig) -> Path:
    """Score `cfg.data`'s last `cfg.days` days with the model saved in `cfg.run`; returns
    the output folder."""
    t_start = time.perf_counter()
    run = Path(cfg.run)
    model = saved_model(run)
    data = model.config.data
    tx, blank = read_transactions(cfg.data, data)
    first = check_days(tx, blank, cfg.days, data, cfg.data)
    history = sequences(tx, model)
    check_sequences(tx, first, model, history, cfg.data)
    target, point = model.point(cfg.target)
    threshold = None if point is None else point["threshold"]
    out = out_folder(cfg.out, run)   # bad input fails before anything is written
    scored = tx.day >= first
    x = features(model, tx, scored, history)
    score_fn = make_trainable(model.model_config, x, None)[1]
    raw = score_rows(score_fn, model.params, x, np.arange(len(x)))
    table = scores_table(model, tx, first, raw, threshold)
    facts = {"run": str(run), "model_file": str(run / MODEL_FILE),
             "model_sha256": sha256(run / MODEL_FILE),
             "model": model.model_config.model.kind, "period": model.period,
             "seed": model.seed, "data": cfg.data, "data_sha256": sha256(Path(cfg.data)),
             "first_day": str(tx.date_of(first).date()),
             "last_day": str(tx.date_of(tx.n_days - 1).date()),
             "scored": int(scored.sum()), "history_tx": int((~scored).sum()),
             "known_compromised": int(table["known_compromised"].sum()),
             "target": target, "threshold": threshold, "operating_point": point,
             "top_k": data.top_k,
             "alerts": int(table["alert"].sum()) if "alert" in table else None,
             "alerts_by_day": ({d: int(n) for d, n in table.groupby("date")["alert"].sum()
                                .items()} if "alert" in table else {}),
             "psi_vs_training": psi(model.train_scores, raw),
             "psi_chance_95": psi_chance(model.train_scores, len(raw)),
             "setup_changed": warned_setup_changes(run, "the scores")}
    folder = RunDir(out)
    folder.remove(*OUTPUTS)
    folder.json("config.json", to_dict(cfg))
    folder.csv("scores.csv", table)
    folder.json("score.json", {**facts, "run_config": to_dict(model.config),
                               "timings_s": {"total": time.perf_counter() - t_start}})
    folder.text("report.md", score_note(facts, table))
    return out
