"""Published figures of the Fraud-Detection-Handbook (Le Borgne, Siblini, Lebichot,
Bontempi, *Reproducible Machine Learning for Credit Card Fraud Detection - Practical
Handbook*, ULB MLG), for the report's side-by-side table, each with its protocol.

Simulated data (ch. 3.2): the published run with the default parameters.
Baselines (ch. 3.4): one split, training week from 2018-07-25, test week 2018-08-08.
Deep learning (ch. 7.2, 7.4): test performance over 4 prequential periods (training
weeks from 2018-07-25 to 2018-08-15) of the configuration chosen on 4 validation periods.
Autoencoder (ch. 7.3): one split, the first validation split of ch. 7 (training week
from 2018-07-11, test week from 2018-07-25); the book's autoencoder trains on every
training transaction (frauds included), fjax's on the legitimate ones.
"""

from __future__ import annotations

from typing import NamedTuple


class Protocol(NamedTuple):
    """How a published figure was measured."""

    text: str                          # for the report
    periods: tuple[tuple[str, str], ...]  # (first training day, first test day) per period
    note: str = ""                     # what else differs from fjax's model


class Figure(NamedTuple):
    model: str                 # the handbook's name
    fjax: str | None           # the fjax model it compares with
    protocol: Protocol
    auc: float
    average_precision: float
    card_precision: float      # CP@100


DATA = {"transactions": 1_754_155, "frauds": 14_681, "fraud_rate": 14_681 / 1_754_155,
        "frauds_by_scenario": {1: 978, 2: 9_099, 3: 4_604}}

ONE_SPLIT = Protocol("one split (ch. 3.4): training week from 2018-07-25, test week from "
                     "2018-08-08", (("2018-07-25", "2018-08-08"),))
PREQUENTIAL = Protocol("4 prequential test periods (training weeks from 2018-07-25 to "
                       "2018-08-15), tuned on 4 validation periods (ch. 7)",
                       tuple((f"2018-{a}", f"2018-{b}") for a, b in
                             (("07-25", "08-08"), ("08-01", "08-15"), ("08-08", "08-22"),
                              ("08-15", "08-29"))))
AUTOENCODER_SPLIT = Protocol("one split (ch. 7.3): training week from 2018-07-11, test "
                             "week from 2018-07-25", (("2018-07-11", "2018-07-25"),),
                             note="the book's autoencoder trains on all training "
                                  "transactions, fjax's on the legitimate ones")

FIGURES = (
    Figure("logistic regression", "logistic", ONE_SPLIT, 0.871, 0.606, 0.291),
    Figure("random forest", None, ONE_SPLIT, 0.867, 0.658, 0.287),
    Figure("XGBoost", None, ONE_SPLIT, 0.862, 0.639, 0.273),
    Figure("feed-forward network", "mlp", PREQUENTIAL, 0.876, 0.675, 0.303),
    Figure("LSTM", "gru", PREQUENTIAL, 0.876, 0.665, 0.297),
    Figure("autoencoder (unsupervised)", "autoencoder", AUTOENCODER_SPLIT, 0.836, 0.180, 0.217),
)


def reference(model: str) -> Figure | None:
    """The handbook's figure for an fjax model, if any."""
    for figure in FIGURES:
        if figure.fjax == model:
            return figure
    return None
