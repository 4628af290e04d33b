"""Scores of test periods -> the metrics fraud teams read (per period, then mean and
standard deviation over periods and seeds, as the handbook reports them)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy.special import expit

from fjax.data.split_stack import SplitStack
from fjax.data.transactions import Transactions
from fjax.data.fraud_protocol import Period, threshold_sources
from fjax.logistic_optimum import bce_loss, bce_newton_optimum, descended_objective
from fjax.fraud_metrics import (FPR_TARGETS, DailyAlerts, card_metrics, daily_alerts,
                                rates_at_threshold, ranking_metrics, recall_key,
                                threshold_at_alerts, threshold_at_fpr)
from fjax.tasks.fraud.config import FraudDataConfig

METRICS = ("auc", "average_precision", *map(recall_key, FPR_TARGETS), "card_precision",
           "card_recall", "cost")


def period_metrics(tx: Transactions, rows: np.ndarray, scores: np.ndarray,
                   cfg: FraudDataConfig, where: str) -> tuple[dict, DailyAlerts]:
    """Metrics of one test period: `rows` index the transactions, `scores` rank them.
    Metrics that need frauds are None on a period without any (with a warning naming
    `where`)."""
    label = tx.fraud[rows]
    alerts = daily_alerts(tx.day[rows], tx.customer[rows], scores, label, cfg.top_k)
    return ({**ranking_metrics(scores, label, where),
             **card_metrics(alerts, cfg.cost_alert, cfg.cost_missed, where)}, alerts)


def evaluate(name: str, tx: Transactions, stack: SplitStack, members: pd.DataFrame,
             scores: list[np.ndarray], cfg: FraudDataConfig
             ) -> tuple[pd.DataFrame, dict[tuple[int, int], DailyAlerts]]:
    """One row of metrics per member (seed x period), and each member's daily alerts."""
    rows_out, alerts = [], {}
    for (_, member), score in zip(members.iterrows(), scores):
        k, seed = int(member["fold"]), int(member["seed"])
        rows = stack.row[stack.val_rows(k)]
        where = f"test period {k} ({tx.date_of(tx.day[rows].min()).date()} to " \
                f"{tx.date_of(tx.day[rows].max()).date()})"
        values, alerts[(seed, k)] = period_metrics(tx, rows, score, cfg, where)
        rows_out.append({"model": name, "seed": seed, "period": k, **values})
    return pd.DataFrame(rows_out), alerts


def optimum_rows(name: str, config, members: pd.DataFrame, params, stack: SplitStack,
                 scores: list[np.ndarray]) -> pd.DataFrame:
    """Per member of a logistic model (`descended_objective`; empty for any other): its
    mean training loss and test average precision beside those of the optimum of the
    objective its optimizer descends on the same training rows (`bce_newton_optimum`, from
    the member's own parameters): a fixed epoch budget of minibatch steps stops short of it,
    so its figures are of that training, not of logistic regression at its best."""
    settings = descended_objective(config.model.kind, config.loss.name,
                                   config.loss.pos_weight, config.optim.name,
                                   config.optim.weight_decay)
    if settings is None:
        return pd.DataFrame()
    pos_weight, decay = settings
    x, y = stack.data["x"], np.asarray(stack.data["y"][:, 0], np.float64)
    dense = params["params"]["dense"]
    kernels, biases = (np.asarray(dense[p], np.float64) for p in ("kernel", "bias"))
    rows = []
    for i, (_, member) in enumerate(members.iterrows()):
        k = int(member["fold"])
        train, test = np.nonzero(stack.folds.train[k] > 0)[0], stack.val_rows(k)
        theta = np.r_[kernels[i, :, 0], biases[i]]
        fit = {"x": np.asarray(x[train], np.float64), "y": y[train],
               "weight": stack.folds.train[k][train], "pos_weight": pos_weight,
               "weight_decay": decay}
        best = bce_newton_optimum(start=theta, **fit)
        optimum_scores = np.asarray(x[test], np.float64) @ best[:-1] + best[-1]
        ap = [ranking_metrics(s, y[test])["average_precision"]
              for s in (scores[i], optimum_scores)]
        rows.append({"model": name, "seed": int(member["seed"]), "period": k,
                     "train_loss": bce_loss(theta, **fit)[0],
                     "optimum_train_loss": bce_loss(best, **fit)[0],
                     "average_precision": ap[0], "optimum_average_precision": ap[1]})
    return pd.DataFrame(rows)


def threshold_targets(top_k: int) -> dict:
    """Target name -> threshold chooser `(score, label, n_days) -> t`: each of
    `FPR_TARGETS`, and an alert budget of `top_k` flagged transactions a day."""
    fpr = {f"FPR {100 * f:g}%": (lambda s, y, n, f=f: threshold_at_fpr(s, y, f))
           for f in FPR_TARGETS}
    return {**fpr, budget_target(top_k): lambda s, y, n: threshold_at_alerts(s, n, top_k)}


def budget_target(top_k: int) -> str:
    """The alert budget's target name in thresholds.csv."""
    return f"{top_k} alerts a day"


def threshold_rows(name: str, tx: Transactions, stack: SplitStack, members: pd.DataFrame,
                   scores: list[np.ndarray], periods: list[Period], cfg: FraudDataConfig,
                   validation: dict | None = None, validation_periods: Sequence[Period] = (),
                   delay: list[np.ndarray] | None = None) -> pd.DataFrame:
    """thresholds.csv: per member (seed x test period) and target, the threshold set in
    advance and set in hindsight on the test week itself, with what each does on the test
    week (`rates_at_threshold`). FPR targets need labels: set on the `threshold_sources`
    period's scores and labels (same seed; a validation period's from the sweep's chosen
    configuration, `validation`: (seed, period) -> (scores, labels); an earlier test
    period's from the model then running). The alert budget needs none: set on the
    member's own scores of its delay week, `delay`: per member as `scores` (the model
    that runs the test week, on the days just before it), else as the FPR targets."""
    keys = [(int(m["seed"]), int(m["fold"])) for _, m in members.iterrows()]
    test = {(seed, k): (np.asarray(s, np.float64), tx.fraud[stack.row[stack.val_rows(k)]])
            for (seed, k), s in zip(keys, scores)}
    delay = dict(zip(keys, delay)) if delay is not None else {}
    validation_periods = validation_periods if validation else ()
    sources = threshold_sources(periods, validation_periods)
    named = ([("validation", v) for v in range(len(validation_periods))]
             + [("test", j) for j in range(len(periods))])      # sources' indices
    scored = {"validation": validation or {}, "test": test}
    rows = []
    for (seed, k), (score, label) in sorted(test.items()):
        labelled = None
        if sources[k] is not None:
            stage, j = named[sources[k]]
            earlier = scored[stage].get((seed, j))
            labelled = None if earlier is None else (stage, j, *earlier, cfg.test_days)
        unlabelled = (("delay", k, delay[(seed, k)], None, cfg.delay_days)
                      if (seed, k) in delay else labelled)
        for target, choose in threshold_targets(cfg.top_k).items():
            source = unlabelled if target == budget_target(cfg.top_k) else labelled
            if source is None:
                continue
            stage, j, *chosen_on = source
            for set_on, (on_stage, on_period, *on) in (
                    ("in advance", (stage, j, *chosen_on)),
                    ("hindsight", ("test", k, score, label, cfg.test_days))):
                t = choose(*on)
                rates = rates_at_threshold(score, label, cfg.test_days, t)
                rows.append((name, seed, k, target, set_on, on_stage, on_period, t,
                             *(rates[m] for m in THRESHOLD_METRICS)))   # THRESHOLD_COLUMNS
    return pd.DataFrame(rows, columns=THRESHOLD_COLUMNS)   # a header where no period has one


THRESHOLD_METRICS = ("fpr", "recall", "precision", "alerts_per_day")   # rates_at_threshold's
THRESHOLD_COLUMNS = ("model", "seed", "period", "target", "set_on", "set_on_stage",
                     "set_on_period", "threshold", *THRESHOLD_METRICS)


def operating_point(row: pd.Series) -> dict:
    """What model.msgpack keeps of a thresholds.csv row set in advance for the deployed
    model: the threshold (inf: flag nothing), its source, and what it did on that test
    week (`THRESHOLD_METRICS`, None where undefined)."""
    return {"threshold": float(row["threshold"]), "set_on_stage": str(row["set_on_stage"]),
            "set_on_period": int(row["set_on_period"]),
            **{m: None if pd.isna(row[m]) else float(row[m]) for m in THRESHOLD_METRICS}}


def common_periods(table: pd.DataFrame) -> dict[str, set[int]]:
    """Target -> the test periods every model with a threshold for it has one for: only a
    sweep's own model has validation scores to set its first periods' FPR thresholds on."""
    return {target: set.intersection(*(set(g["period"]) for _, g in rows.groupby("model")))
            for target, rows in table.groupby("target", sort=False)}


def split_common(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """thresholds.csv's rows on their target's `common_periods`, which compare across
    models, and the rest (periods only some models have a threshold for)."""
    if table.empty:
        return table, table
    common = common_periods(table)
    shared = np.array([p in common[t] for t, p in zip(table["target"], table["period"])])
    return table[shared], table[~shared]


def summarize_thresholds(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample std over members of `THRESHOLD_METRICS`, per model, target and
    set_on (in advance, hindsight), as `summarize` does for the metrics, with the test
    periods averaged."""
    out = []
    if table.empty:
        return pd.DataFrame()
    for (model, target, set_on), group in table.groupby(["model", "target", "set_on"],
                                                        sort=False):
        row = {"model": model, "target": target, "set_on": set_on,
               "periods": sorted(int(p) for p in set(group["period"])), "members": len(group)}
        out.append(row | mean_std_count(group, THRESHOLD_METRICS))
    return pd.DataFrame(out)


def scores_frame(tx: Transactions, stack: SplitStack, members: pd.DataFrame,
                 scores: list[np.ndarray], logits: bool) -> pd.DataFrame:
    """scores.csv.gz: every member's score of every test transaction, with its label.
    For supervised models (`logits`) `score` is the probability and `logit` the model's
    output: probabilities of large logits round to exactly 1 (ties the ranking did not
    have), so AUC and AP recompute exactly from `logit`, or from `score` otherwise. A file
    without card ids has no card column: each card would be its transaction_id."""
    frames = []
    for (_, member), score in zip(members.iterrows(), scores):
        rows = stack.row[stack.val_rows(int(member["fold"]))]
        score = np.asarray(score, np.float64)
        frames.append(pd.DataFrame({
            "seed": int(member["seed"]), "period": int(member["fold"]),
            "transaction_id": tx.transaction_id[rows],
            "date": tx.date_texts(tx.day[rows]),
            **({} if tx.cardless else {"card": tx.customer_ids[tx.customer[rows]]}),
            "score": expit(score) if logits else score,
            **({"logit": score} if logits else {}), "fraud": tx.fraud[rows]}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def rule_scores(tx: Transactions, stack: SplitStack, seed: int) -> tuple[pd.DataFrame, list]:
    """The rule baseline: rank transactions by amount (a threshold rule's score)."""
    k_all = range(stack.folds.k)
    members = pd.DataFrame({"member": list(k_all), "seed": seed, "fold": list(k_all)})
    return members, [tx.amount[stack.row[stack.val_rows(k)]] for k in k_all]


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample standard deviation over members of each metric, one row per model
    (std None for a single member)."""
    out = []
    for model, group in table.groupby("model", sort=False):
        out.append({"model": model, "members": len(group)} | mean_std_count(group, METRICS))
    return pd.DataFrame(out)


def mean_std_count(group: pd.DataFrame, metrics: tuple[str, ...]) -> dict:
    """Each metric's mean, sample std (ddof 1, as credit's and Population.summary's; None
    for one value) and count over the members where it is defined (precision: those that
    raised an alert)."""
    row = {}
    for m in metrics:
        values = pd.to_numeric(group[m], errors="coerce").dropna()
        row[f"{m}_mean"] = float(values.mean()) if len(values) else None
        row[f"{m}_std"] = float(values.std(ddof=1)) if len(values) > 1 else None
        row[f"{m}_count"] = len(values)
    return row


LOWER_IS_BETTER = ("cost",)


def paired_differences(table: pd.DataFrame, primary: str) -> pd.DataFrame:
    """The run's own model against each other model of members.csv's `table` on the same
    test periods: per metric of `METRICS`, the difference primary - other in each period
    (each model's seeds averaged within the period; periods where either is undefined
    left out), its mean over the periods, its standard error (sample sd / sqrt(periods);
    None for one period) and `ahead_in`, the periods where the primary is better (higher;
    lower for `LOWER_IS_BETTER`). The models score the same test weeks, so a hard week
    lowers both: the spread of each model over periods (the Results table's ±) is not the
    noise of their difference, and a lead within it can hold in every period."""
    means = {model: rows.groupby("period")[list(METRICS)].agg(
                 lambda v: pd.to_numeric(v, errors="coerce").mean())
             for model, rows in table.groupby("model", sort=False)}
    return pd.DataFrame([{"model": other, "metric": metric,
                          **paired_difference(means[primary][metric], means[other][metric],
                                              metric in LOWER_IS_BETTER)}
                         for other in (m for m in means if m != primary) for metric in METRICS])


def paired_difference(first: pd.Series, second: pd.Series, lower_is_better: bool) -> dict:
    """`first` - `second`, two per-period series (index: period) of one metric: the
    periods both define, the mean difference over them, its standard error (sample sd /
    sqrt(periods); None for one period) and `ahead_in`, the periods where `first` is
    better. Pairing by period takes out what a hard period does to both."""
    d = (first - second).dropna()
    better = d < 0 if lower_is_better else d > 0
    return {"periods": len(d), "difference": float(d.mean()) if len(d) else None,
            "se": float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else None,
            "ahead_in": int(better.sum())}


def daily_frame(tx: Transactions, alerts_by_model: dict[str, dict[tuple[int, int], DailyAlerts]]
                ) -> pd.DataFrame:
    """daily.csv: per model, seed, period and test day, the counts behind CP@k, card
    recall and cost: alerted cards, compromised cards found among them, compromised
    cards still open that day (a file without card ids: that day's frauds, which
    `report.cardless_names` renames `frauds`)."""
    frames = []
    for name, alerts in alerts_by_model.items():
        for (seed, period), a in sorted(alerts.items()):
            frames.append(pd.DataFrame({
                "model": name, "seed": seed, "period": period,
                "date": tx.date_texts(a.days),
                "alerted": a.alerted, "found": a.found,
                "compromised": a.compromised,
                "card_precision": a.precision}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def alerts_frame(tx: Transactions, alerts: dict[tuple[int, int], DailyAlerts],
                 to_probability: bool) -> pd.DataFrame:
    """alerts.csv: every day's top-k cards with their score (probability for
    supervised models) and whether the card had a fraud that day; a file without card ids
    alerts transactions, named by transaction_id."""
    frames = []
    for (seed, period), a in sorted(alerts.items()):
        score = expit(np.asarray(a.alert_score, np.float64)) if to_probability else a.alert_score
        frames.append(pd.DataFrame({
            "seed": seed, "period": period,
            "date": tx.date_texts(a.alert_day),
            "rank": a.alert_rank,
            "transaction_id" if tx.cardless else "card": tx.customer_ids[a.alert_card],
            "score": score, "fraud": a.alert_fraud}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
