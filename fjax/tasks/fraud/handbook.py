"""Published figures of the Fraud-Detection-Handbook (Le Borgne, Siblini, Lebichot,
Bontempi, *Reproducible Machine Learning for Credit Card Fraud Detection - Practical
Handbook*, ULB MLG), for the report's side-by-side table.

Simulated data (ch. 3.2): the published run with the default parameters.
Baselines (ch. 3.4): one split, training week from 2018-07-25, test week 2018-08-08.
Deep learning (ch. 7): test performance over 4 prequential periods (training weeks
from 2018-07-25 to 2018-08-15) of the configuration chosen on 4 validation periods.
"""

from __future__ import annotations

DATA = {"transactions": 1_754_155, "frauds": 14_681, "fraud_rate": 14_681 / 1_754_155,
        "frauds_by_scenario": {1: 978, 2: 9_099, 3: 4_604}}

ONE_SPLIT = "one split (ch. 3.4)"
PREQUENTIAL = "4 prequential test periods, tuned on validation (ch. 7)"

# (handbook model, fjax model it compares with, protocol, AUC, AP, CP@100)
FIGURES = (
    ("logistic regression", "logistic", ONE_SPLIT, 0.871, 0.606, 0.291),
    ("random forest", None, ONE_SPLIT, 0.867, 0.658, 0.287),
    ("XGBoost", None, ONE_SPLIT, 0.862, 0.639, 0.273),
    ("feed-forward network", "mlp", PREQUENTIAL, 0.876, 0.675, 0.303),
    ("LSTM", "gru", PREQUENTIAL, 0.876, 0.665, 0.297),
    ("autoencoder (unsupervised)", "autoencoder", "ch. 7.3", 0.836, 0.180, 0.217),
)


def reference(model: str) -> tuple | None:
    """The handbook's (name, protocol, AUC, AP, CP@100) for an fjax model, if any."""
    for name, ours, protocol, auc, ap, cp in FIGURES:
        if ours == model:
            return name, protocol, auc, ap, cp
    return None
