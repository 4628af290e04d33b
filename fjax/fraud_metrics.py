"""Metrics fraud teams use: daily card alerts, card precision@k, recall and cost at a
fixed alert budget (numpy, host side: they run once on a test period's scores).

Card precision@k (Le Borgne et al., *Fraud Detection Handbook*, ch. 4.3,
`card_precision_top_k`): each day, a card's score is the highest score of its
transactions that day and it is compromised if any of them is fraud; investigators
check the k highest-scoring cards; CP@k = (compromised cards among them) / k. Cards
found on earlier days are removed from later days (they are blocked). The period's
figure is the mean over its days. Ties in score are broken by card code.

With the same daily alerts: card recall at budget k = found compromised cards /
compromised cards, over the period's card-days; expected cost = cost_alert x alerts +
cost_missed x compromised card-days not alerted.

Transaction-level ROC-AUC, average precision and recall (TPR) at a false-positive rate
are computed here in float64 on the scores as given (not in `fjax.metrics`' float32), so
they recompute exactly from scores.csv.gz with scikit-learn. Recall at FPR f is the
largest TPR among the ROC curve's corners with FPR <= f (no interpolation: a threshold
reaches it). Metrics that need positives are undefined on a period without fraud:
ROC-AUC, average precision and recall at an FPR (which also need legitimate
transactions), and card recall (no compromised card-day to find). `ranking_metrics` and
`card_metrics` then warn, naming the period and the metrics, and report None (n/a)
instead of NaN. Card precision@k stays defined there (0: no alert can be right) and
`card_metrics` says so in the same warning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from fjax.data.checks import check_count, scored_labels


FRAUD_CODING = ("0 (legitimate) or 1 (fraud)", "map fraud to 1 and legitimate to 0")
"""`check_binary_labels`' coding and fix, in fraud's words."""


@dataclass(frozen=True)
class DailyAlerts:
    """The k alerts of every day, and per-day counts."""

    days: np.ndarray            # i64[D]
    precision: np.ndarray       # f64[D] card precision@k
    compromised: np.ndarray     # i64[D] compromised cards still open that day
    found: np.ndarray           # i64[D] compromised cards among the alerts
    alerted: np.ndarray         # i64[D] alerts raised (k, or fewer cards)
    alert_day: np.ndarray       # i64[A] one row per alert ...
    alert_rank: np.ndarray      # i64[A] 1 = highest score
    alert_card: np.ndarray      # i64[A]
    alert_score: np.ndarray     # f64[A]
    alert_fraud: np.ndarray     # i8[A] the card had a fraud that day
    k: int

    @property
    def card_precision(self) -> float | None:
        """Mean over days of the daily card precision@k; None for a period without days."""
        return float(self.precision.mean()) if len(self.days) else None

    @property
    def card_recall(self) -> float | None:
        """Found / compromised card-days; None (undefined) when no card was compromised
        (`card_metrics` warns about it)."""
        total = int(self.compromised.sum())
        return float(self.found.sum() / total) if total else None

    def expected_cost(self, cost_alert: float, cost_missed: float) -> float:
        missed = int(self.compromised.sum() - self.found.sum())
        return float(cost_alert * self.alerted.sum() + cost_missed * missed)


def daily_alerts(day: np.ndarray, card: np.ndarray, score: np.ndarray, label: np.ndarray,
                 k: int = 100, remove_detected: bool = True) -> DailyAlerts:
    """The daily top-k cards of a test period (see the module docstring)."""
    check_count("k", k, 1)
    day, card = np.asarray(day), np.asarray(card)
    score, label = scored_labels(score, label, "labels", *FRAUD_CODING)
    if not (len(day) == len(card) == len(score) == len(label)):
        raise ValueError(f"day, card, score and label need one entry per transaction; got "
                         f"lengths {len(day)}, {len(card)}, {len(score)}, {len(label)}")
    if not np.all(np.isfinite(score)):
        raise ValueError("scores must be finite to rank cards; got NaN or infinite scores")
    detected: set = set()
    days = np.unique(day)
    per_day = {"precision": [], "compromised": [], "found": [], "alerted": []}
    alerts = {"day": [], "rank": [], "card": [], "score": [], "fraud": []}
    for d in days:
        rows = np.nonzero(day == d)[0]
        if detected:
            rows = rows[~np.isin(card[rows], np.fromiter(detected, np.int64))]
        cards, inverse = np.unique(card[rows], return_inverse=True)
        card_score = np.full(len(cards), -np.inf)
        np.maximum.at(card_score, inverse, score[rows])
        card_fraud = np.zeros(len(cards), np.int8)
        np.maximum.at(card_fraud, inverse, label[rows])
        top = np.lexsort((cards, -card_score))[:k]
        hits = card_fraud[top]
        per_day["precision"].append(hits.sum() / k)
        per_day["compromised"].append(int(card_fraud.sum()))
        per_day["found"].append(int(hits.sum()))
        per_day["alerted"].append(len(top))
        alerts["day"].append(np.full(len(top), d))
        alerts["rank"].append(np.arange(1, len(top) + 1))
        alerts["card"].append(cards[top])
        alerts["score"].append(card_score[top])
        alerts["fraud"].append(hits)
        if remove_detected:
            detected.update(cards[top][hits == 1].tolist())
    cat = lambda key, dtype: (np.concatenate(alerts[key]).astype(dtype) if alerts[key]  # noqa: E731
                              else np.zeros(0, dtype))
    return DailyAlerts(days=days.astype(np.int64),
                       precision=np.asarray(per_day["precision"], float),
                       compromised=np.asarray(per_day["compromised"], np.int64),
                       found=np.asarray(per_day["found"], np.int64),
                       alerted=np.asarray(per_day["alerted"], np.int64),
                       alert_day=cat("day", np.int64), alert_rank=cat("rank", np.int64),
                       alert_card=cat("card", np.int64), alert_score=cat("score", np.float64),
                       alert_fraud=cat("fraud", np.int8), k=int(k))


def card_metrics(alerts: DailyAlerts, cost_alert: float, cost_missed: float,
                 where: str = "test period") -> dict:
    """Card precision@k, card recall@k and expected cost of a period's alerts; card recall
    is None (and a warning naming `where` says why) when the period has no compromised
    card."""
    if not (np.isfinite([cost_alert, cost_missed]).all() and min(cost_alert, cost_missed) >= 0):
        raise ValueError(f"cost_alert and cost_missed must be finite and >= 0, got "
                         f"{cost_alert} and {cost_missed}")
    k = alerts.k
    if int(alerts.compromised.sum()) == 0:
        warnings.warn(f"{where} has no compromised card (no fraud): card recall@{k} is "
                      f"undefined and reported as n/a; card precision@{k} is 0 by "
                      "construction", stacklevel=2)
    return {"card_precision": alerts.card_precision, "card_recall": alerts.card_recall,
            "cost": alerts.expected_cost(cost_alert, cost_missed)}


def roc_corners(score: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frauds (tp) and legitimate transactions (fp) scoring at least each distinct score,
    highest score first: the corners of the ROC curve (scikit-learn's roc_curve with
    drop_intermediate=False, less its (0, 0) start), as float64 counts."""
    order = np.argsort(-score, kind="stable")
    s, y = score[order], label[order].astype(np.float64)
    last = np.r_[s[1:] != s[:-1], True]            # a threshold's last row: ties move together
    return np.cumsum(y)[last], np.cumsum(1.0 - y)[last]


FPR_TARGETS = (0.01, 0.001)
"""False-positive rates at which transaction recall is reported: fraud teams size alert
volumes by the share of legitimate transactions they may flag."""


def recall_key(fpr: float) -> str:
    """The metric name of recall at false-positive rate `fpr`: recall_at_fpr_1pct,
    recall_at_fpr_0_1pct (no dot: keys stay plain names in pandas, jq and spreadsheets)."""
    return f"recall_at_fpr_{100 * fpr:g}pct".replace(".", "_")


def recall_at_fpr(tp: np.ndarray, fp: np.ndarray, fpr: float) -> float:
    """Transaction recall (TPR) at a false-positive rate, from `roc_corners`: the largest
    TPR of a corner whose FPR is at most `fpr` (0 when none is). Conservative: no
    interpolation between corners, so some score threshold reaches it exactly."""
    within = fp / fp[-1] <= fpr
    return float(np.max(tp[within], initial=0.0) / tp[-1])


def ranking_metrics(score: np.ndarray, label: np.ndarray, where: str = "test period") -> dict:
    """Transaction-level ROC-AUC, average precision and recall at the `FPR_TARGETS` in
    float64 (the scores as given, so scores.csv.gz's raw column recomputes them exactly);
    None (and a warning naming
    `where`) when the labels lack frauds or legitimate transactions."""
    score, label = scored_labels(score, label, f"{where}'s labels", *FRAUD_CODING)
    positives = int(label.sum())
    if positives == 0 or positives == len(label):
        missing = "fraud" if positives == 0 else "legitimate transactions"
        warnings.warn(f"{where} has no {missing}: ROC-AUC and average precision, and "
                      "recall at a false-positive rate, are undefined and reported as n/a",
                      stacklevel=2)
        return {"auc": None, "average_precision": None,
                **{recall_key(f): None for f in FPR_TARGETS}}
    if not np.all(np.isfinite(score)):
        raise ValueError(f"{where}: scores must be finite to rank transactions; got NaN or "
                         "infinite scores")
    tp, fp = roc_corners(score, label)
    p, n = tp[-1], fp[-1]
    d_tp, d_fp = np.diff(tp, prepend=0.0), np.diff(fp, prepend=0.0)
    # Trapezoids between corners (ties credited half): integer counts until the division.
    auc = np.sum(d_fp * (2.0 * tp - d_tp)) / (2.0 * p * n)
    average_precision = np.sum(d_tp * tp / (tp + fp)) / p
    return {"auc": float(auc), "average_precision": float(average_precision),
            **{recall_key(f): recall_at_fpr(tp, fp, f) for f in FPR_TARGETS}}


def _distinct_scores(score: np.ndarray) -> np.ndarray:
    """Distinct scores, highest first: the thresholds behind `roc_corners`' corners."""
    return np.unique(np.asarray(score, np.float64))[::-1]


def threshold_at_fpr(score: np.ndarray, label: np.ndarray, fpr: float) -> float:
    """The lowest score threshold t (flag score >= t) that flags at most `fpr` of the
    legitimate transactions of these labelled scores: the corner `recall_at_fpr` reads.
    inf (flag nothing) when even the highest score flags more."""
    if not 0 <= fpr <= 1:   # a rate of 1.5 flagged everything, -0.1 nothing, unsaid
        raise ValueError(f"fpr must be a false-positive rate in [0, 1], got {fpr!r}")
    score, label = scored_labels(score, label, "labels", *FRAUD_CODING)
    if label.sum() == len(label):
        raise ValueError("threshold_at_fpr needs legitimate transactions to count false "
                         "positives; got only frauds")
    tp, fp = roc_corners(score, label)
    within = np.nonzero(fp / fp[-1] <= fpr)[0]
    return float(_distinct_scores(score)[within[-1]]) if len(within) else np.inf


def threshold_at_alerts(score: np.ndarray, n_days: int, per_day: float) -> float:
    """The lowest score threshold t (flag score >= t) raising at most `per_day` alerts a
    day over `n_days` days of these scores (no labels needed); inf when even the highest
    score raises more."""
    check_count("n_days", n_days, 1)
    if not (np.isfinite(per_day) and per_day >= 0):   # inf would flag every transaction
        raise ValueError(f"per_day must be a number of alerts >= 0, and finite; got {per_day!r}")
    values, counts = np.unique(np.asarray(score, np.float64), return_counts=True)
    flagged = np.cumsum(counts[::-1])               # flagged at each value, highest first
    within = np.nonzero(flagged <= per_day * n_days)[0]
    return float(values[::-1][within[-1]]) if len(within) else np.inf


def rates_at_threshold(score: np.ndarray, label: np.ndarray, n_days: int,
                       threshold: float) -> dict:
    """What flagging score >= `threshold` does on a labelled period of `n_days` days:
    false-positive rate, recall, precision and alerts (flagged transactions) a day; a
    rate is None where its denominator is 0 (no legitimate, no fraud, no alert)."""
    score, label = scored_labels(score, label, "labels", *FRAUD_CODING)
    label = label.astype(bool)
    flag = score >= threshold
    legit, fraud, alerts = int((~label).sum()), int(label.sum()), int(flag.sum())
    hits = int((flag & label).sum())
    return {"fpr": (alerts - hits) / legit if legit else None,
            "recall": hits / fraud if fraud else None,
            "precision": hits / alerts if alerts else None,
            "alerts_per_day": alerts / n_days}
