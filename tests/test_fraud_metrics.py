"""Card precision@k, recall and cost at a budget (hand-computed, and the handbook's
pandas code), and ranking metrics against scikit-learn."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from fjax import fraud_metrics as fm
from fjax.fraud_metrics import card_metrics, daily_alerts, ranking_metrics


def test_card_precision_at_k_by_hand():
    # Day 0: cards 1 (fraud, max score .9), 2 (legit, .8), 3 (fraud, .3) -> top-2 = {1, 2}:
    #        CP = 1/2; card 1 is now detected.
    # Day 1: card 1 (fraud, .99) is removed; 3 (fraud, .7), 4 (legit, .6) -> top-2 =
    #        {3, 4}: CP = 1/2. Mean = 0.5. Without removal day 1 would be {1, 3}: CP = 1.
    day = np.array([0, 0, 0, 0, 1, 1, 1])
    card = np.array([1, 1, 2, 3, 1, 3, 4])
    score = np.array([0.9, 0.1, 0.8, 0.3, 0.99, 0.7, 0.6])
    label = np.array([0, 1, 0, 1, 1, 1, 0])
    a = daily_alerts(day, card, score, label, k=2)
    np.testing.assert_allclose(a.precision, [0.5, 0.5])
    assert a.card_precision == 0.5
    np.testing.assert_array_equal(a.alert_card, [1, 2, 3, 4])
    np.testing.assert_array_equal(a.alert_fraud, [1, 0, 1, 0])
    np.testing.assert_array_equal(a.compromised, [2, 1])     # day 1: card 1 already removed
    assert a.card_recall == pytest.approx(2 / 3)
    assert a.expected_cost(cost_alert=1.0, cost_missed=10.0) == 4 * 1.0 + 1 * 10.0
    kept = daily_alerts(day, card, score, label, k=2, remove_detected=False)
    np.testing.assert_allclose(kept.precision, [0.5, 1.0])


def test_fewer_cards_than_k_still_divides_by_k():
    a = daily_alerts(np.zeros(3), np.array([0, 1, 2]), np.array([0.1, 0.2, 0.3]),
                     np.array([1, 1, 0]), k=10)
    assert a.card_precision == pytest.approx(0.2) and a.alerted.tolist() == [3]


def _handbook_cp(df, top_k):
    """The book's card_precision_top_k (shared_functions, ch. 4.3), as written there."""
    detected, per_day = [], []
    for day in sorted(df.TX_TIME_DAYS.unique()):
        d = df[df.TX_TIME_DAYS == day][["predictions", "CUSTOMER_ID", "TX_FRAUD"]]
        d = d[~d.CUSTOMER_ID.isin(detected)]
        d = d.groupby("CUSTOMER_ID").max().sort_values(by="predictions", ascending=False)
        top = d.reset_index().head(top_k)
        found = list(top[top.TX_FRAUD == 1].CUSTOMER_ID)
        per_day.append(len(found) / top_k)
        detected.extend(found)
    return np.mean(per_day)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_card_precision_equals_the_handbooks_code(seed):
    rng = np.random.default_rng(seed)
    n = 3000
    card = rng.integers(0, 400, n)
    label = (rng.random(n) < 0.05 + 0.3 * (card % 7 == 0)).astype(int)
    score = rng.random(n) + label * rng.random(n)        # distinct, informative scores
    day = rng.integers(0, 7, n)
    df = pd.DataFrame({"TX_TIME_DAYS": day, "CUSTOMER_ID": card, "TX_FRAUD": label,
                       "predictions": score})
    for k in (5, 50):
        assert daily_alerts(day, card, score, label, k).card_precision == pytest.approx(
            _handbook_cp(df, k))


def test_ranking_metrics_match_scikit_learn():
    rng = np.random.default_rng(3)
    label = (rng.random(777) < 0.02).astype(int)
    label[:2] = [0, 1]
    score = np.round(rng.normal(size=777) + 2 * label, 1)     # ties included
    got = ranking_metrics(score, label)
    assert got["auc"] == pytest.approx(roc_auc_score(label, score), abs=1e-6)
    assert got["average_precision"] == pytest.approx(average_precision_score(label, score),
                                                     abs=1e-6)


def test_a_period_without_fraud_says_so_instead_of_nan():
    with pytest.warns(UserWarning, match="test period 3 has no fraud"):
        got = ranking_metrics(np.arange(5.0), np.zeros(5), where="test period 3")
    assert got == {"auc": None, "average_precision": None,
                   "recall_at_fpr_1pct": None, "recall_at_fpr_0_1pct": None}
    a = daily_alerts(np.zeros(5), np.arange(5), np.arange(5.0), np.zeros(5), k=2)
    with pytest.warns(UserWarning, match=r"test period 3 has no compromised card \(no fraud\): "
                                         r"card recall@2 is undefined and reported as n/a"):
        got = card_metrics(a, cost_alert=1.0, cost_missed=10.0, where="test period 3")
    assert got == {"card_precision": 0.0, "card_recall": None, "cost": 2.0}
    assert a.card_recall is None                  # never NaN


def test_a_period_with_fraud_warns_about_nothing():
    a = daily_alerts(np.zeros(3), np.arange(3), np.arange(3.0), np.array([0, 0, 1]), k=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = card_metrics(a, cost_alert=1.0, cost_missed=10.0, where="test period 0")
    assert got == {"card_precision": 0.5, "card_recall": 1.0, "cost": 2.0}


def test_a_test_period_without_fraud_is_reported_as_na_end_to_end():
    from fjax.tasks.fraud.config import FraudDataConfig
    from fjax.tasks.fraud.evaluation import period_metrics, summarize
    from fjax.tasks.fraud.report import results_table

    class Tx:                                       # the fields period_metrics reads
        day = np.array([0, 0, 1, 1, 5, 5, 6])
        customer = np.array([0, 1, 0, 2, 0, 1, 2])
        fraud = np.array([0, 1, 0, 1, 0, 0, 0])

    score = np.arange(7.0)
    cfg = FraudDataConfig(top_k=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with_fraud, _ = period_metrics(Tx, np.arange(4), score[:4], cfg, "test period 0")
    with pytest.warns(UserWarning) as caught:
        without, _ = period_metrics(Tx, np.arange(4, 7), score[4:], cfg, "test period 1")
    messages = " | ".join(str(w.message) for w in caught)
    assert "test period 1 has no fraud: ROC-AUC and average precision" in messages
    assert "test period 1 has no compromised card (no fraud): card recall@2" in messages
    assert without["card_recall"] is None and without["auc"] is None
    assert not any(isinstance(v, float) and np.isnan(v) for v in without.values())
    table = pd.DataFrame([{"model": "m", "seed": 0, "period": 0, **with_fraud},
                          {"model": "m", "seed": 0, "period": 1, **without}])
    row = results_table(summarize(table), 2).iloc[0]
    # one defined value: a mean without a spread (a sample std of one value is undefined)
    assert row["card recall@2"] == f"{with_fraud['card_recall']:.3f} (1 of 2)"


def test_bad_alert_inputs_are_named():
    for k in (0, True, 1.0):   # a bool ran as k=1
        with pytest.raises(ValueError, match="k must be an integer >= 1"):
            daily_alerts(np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2), k=k)
    with pytest.raises(ValueError, match="scores must be finite"):
        daily_alerts(np.zeros(2), np.zeros(2), np.array([0.0, np.nan]), np.zeros(2), k=1)


def test_cards_tied_in_score_are_ranked_by_card_code():
    """Module docstring: ties in score are broken by card code (lowest first)."""
    a = daily_alerts(np.zeros(3), np.array([5, 2, 9]), np.array([0.7, 0.7, 0.7]),
                     np.array([1, 0, 0]), k=1)
    np.testing.assert_array_equal(a.alert_card, [2])
    a = daily_alerts(np.zeros(3), np.array([5, 2, 9]), np.array([0.7, 0.7, 0.7]),
                     np.array([1, 0, 0]), k=2)
    np.testing.assert_array_equal(a.alert_card, [2, 5])


def test_a_period_of_only_frauds_says_so_instead_of_nan():
    """ROC-AUC and average precision also need legitimate transactions."""
    with pytest.warns(UserWarning, match="test period has no legitimate transactions"):
        got = ranking_metrics(np.arange(3.0), np.ones(3))
    assert got == {"auc": None, "average_precision": None,
                   "recall_at_fpr_1pct": None, "recall_at_fpr_0_1pct": None}


def test_tied_card_scores_are_broken_by_card_code_and_ranks_start_at_one():
    n = 64
    rng = np.random.default_rng(0)
    card = rng.permutation(n)
    score = rng.choice([0.2, 0.5, 0.9], size=n)          # many ties
    alerts = daily_alerts(np.zeros(n, int), card, score, np.zeros(n, int), k=20)
    by_card = dict(zip(card.tolist(), score.tolist()))
    expected = sorted(by_card, key=lambda c: (-by_card[c], c))[:20]   # plain Python oracle
    assert alerts.alert_card.tolist() == expected
    assert alerts.alert_rank.tolist() == list(range(1, 21))


def test_the_alert_cost_counts_the_cards_alerted_not_k():
    """3 cards alerted on a day with k = 10, every compromised one found: 3 alerts' cost."""
    a = daily_alerts(np.zeros(3), np.array([0, 1, 2]), np.array([0.1, 0.2, 0.3]),
                     np.array([1, 1, 0]), k=10)
    assert a.expected_cost(1.0, 10.0) == 3.0


def test_ranking_metrics_are_float64_exact():
    """Scores distinct in float64 but equal in float32 (1 + i * 1e-9) ranked as ties and
    the float32 sums drifted: AUC and AP must equal scikit-learn's to 1e-12."""
    rng = np.random.default_rng(5)
    n = 5000
    label = (rng.random(n) < 0.1).astype(int)
    score = 1.0 + np.argsort(rng.random(n) - 0.3 * label) * 1e-9
    got = ranking_metrics(score, label)
    assert abs(got["auc"] - roc_auc_score(label, score)) < 1e-12
    assert abs(got["average_precision"] - average_precision_score(label, score)) < 1e-12


def test_scores_file_recomputes_the_reported_auc_exactly_from_its_logits():
    """Probabilities of logits beyond ~37 round to exactly 1: ties the ranking lacked.
    The file's logit column recomputes the reported AUC and AP to 1e-12."""
    from fjax.data.split_stack import SplitStack
    from fjax.data.splits import Folds
    from fjax.tasks.fraud.evaluation import scores_frame

    rng = np.random.default_rng(0)
    n = 400
    label = (rng.random(n) < 0.2).astype(np.int8)
    logit = 40.0 + 5 * rng.random(n) + 3 * label * rng.random(n)   # all saturate

    class Tx:
        fraud, day, customer = label, np.zeros(n, int), np.arange(n)
        transaction_id, customer_ids, cardless = np.arange(n), np.arange(n), False
        date_texts = staticmethod(lambda days: np.full(len(days), "2024-01-01"))

    stack = SplitStack(data={}, folds=Folds(train=np.zeros((1, n)), val=np.ones((1, n))),
                       row=np.arange(n), block=np.zeros(n, int))
    members = pd.DataFrame({"member": [0], "seed": [0], "fold": [0]})
    frame = scores_frame(Tx, stack, members, [logit], logits=True)
    reported = ranking_metrics(logit, label)
    assert frame["score"].eq(1.0).all()                    # the probabilities tie
    assert abs(roc_auc_score(frame["fraud"], frame["logit"]) - reported["auc"]) < 1e-12
    assert abs(average_precision_score(frame["fraud"], frame["logit"])
               - reported["average_precision"]) < 1e-12
    assert abs(roc_auc_score(frame["fraud"], frame["score"]) - reported["auc"]) > 0.01


def test_recall_at_a_false_positive_rate_matches_scikit_learns_roc_curve():
    """The largest TPR among roc_curve's points (all of them: drop_intermediate=False)
    whose FPR is at most the target; ties in score move together."""
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(11)
    n = 20000
    label = (rng.random(n) < 0.02).astype(int)
    score = np.round(rng.normal(size=n) + 2.5 * label, 2)           # ties included
    got = ranking_metrics(score, label)
    fpr, tpr, _ = roc_curve(label, score, drop_intermediate=False)
    for target, key in ((0.01, "recall_at_fpr_1pct"), (0.001, "recall_at_fpr_0_1pct")):
        assert abs(got[key] - tpr[fpr <= target].max()) < 1e-12


def test_recall_at_a_false_positive_rate_by_hand():
    """10 legitimate transactions (FPR steps of 0.1), 4 frauds; target FPR 0.1."""
    from fjax.fraud_metrics import recall_at_fpr, roc_corners

    score = np.array([9, 8, 7, 7, 6, 5, 4, 3, 2, 1, 0, 0, -1, -2], float)
    label = np.array([1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    tp, fp = roc_corners(score, label)
    # above 7: 2 frauds, no legitimate; at 7: +1 fraud +1 legitimate (FPR 0.1, TPR 0.75)
    assert recall_at_fpr(tp, fp, 0.1) == 0.75
    assert recall_at_fpr(tp, fp, 0.05) == 0.5        # the tie at 7 cannot be split
    assert recall_at_fpr(tp, fp, 0.0) == 0.5
    assert recall_at_fpr(tp, fp, 0.25) == 0.75       # the fourth fraud needs FPR 0.3
    assert recall_at_fpr(tp, fp, 0.3) == 1.0


def test_rates_at_a_threshold_match_a_confusion_matrix():
    from sklearn.metrics import confusion_matrix
    from fjax.fraud_metrics import rates_at_threshold
    rng = np.random.default_rng(3)
    label = (rng.random(400) < 0.1).astype(int)
    score = rng.normal(size=400) + 2.0 * label
    for t in (-1.0, 0.5, 1.7, 9.0):
        (tn, fp), (fn, tp) = confusion_matrix(label, score >= t, labels=[0, 1])
        got = rates_at_threshold(score, label, 7, t)
        assert got["fpr"] == pytest.approx(fp / (fp + tn))
        assert got["recall"] == pytest.approx(tp / (tp + fn))
        assert got["alerts_per_day"] == pytest.approx((tp + fp) / 7)
        assert got["precision"] == (pytest.approx(tp / (tp + fp)) if tp + fp else None)


def test_thresholds_set_on_labelled_scores_by_hand():
    from fjax.fraud_metrics import rates_at_threshold, threshold_at_alerts, threshold_at_fpr
    score = np.array([9, 8, 7, 7, 6, 5, 4, 3, 2, 1, 0.5, 0.1], float)
    label = np.array([1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    # 9 legitimate: FPR <= 1/9 allows one of them flagged, so t = 8 (7 ties a legitimate
    # one with a fraud and flags two); FPR 0 allows none: t = 9.
    assert threshold_at_fpr(score, label, 1 / 9) == 8
    assert threshold_at_fpr(score, label, 0.0) == 9
    assert threshold_at_fpr(score, label, 2 / 9) == 6          # flags 9, 8, 7, 7, 6
    assert rates_at_threshold(score, label, 1, 6) == {
        "fpr": 2 / 9, "recall": 1.0, "precision": 3 / 5, "alerts_per_day": 5.0}
    # The alert budget needs no labels: at most 3 alerts over 2 days -> t = 8 (7 ties).
    assert threshold_at_alerts(score, 2, 1.5) == 8
    assert threshold_at_alerts(score, 1, 0.5) == np.inf       # even 9 alone is too many
    assert rates_at_threshold(score, label, 1, np.inf)["precision"] is None


def test_the_fpr_threshold_is_the_roc_curves_and_reaches_recall_at_fpr():
    from sklearn.metrics import roc_curve
    from fjax.fraud_metrics import (rates_at_threshold, recall_at_fpr, roc_corners,
                                    threshold_at_fpr)
    rng = np.random.default_rng(5)
    label = (rng.random(3000) < 0.02).astype(int)
    score = np.round(rng.normal(size=3000) + 2.5 * label, 2)   # ties
    for target in (0.01, 0.001):
        fpr, _, thresholds = roc_curve(label, score, drop_intermediate=False)
        t = threshold_at_fpr(score, label, target)
        assert t == thresholds[fpr <= target].min()
        got = rates_at_threshold(score, label, 7, t)
        assert got["fpr"] <= target
        assert got["recall"] == recall_at_fpr(*roc_corners(score, label), target)


@pytest.mark.parametrize("coding", ["-1/1", "0/2", "yes/no"])
def test_labels_other_than_0_1_are_refused_not_counted(coding):
    """Labels coded -1/1 or 0/2 were summed as fraud counts: ranking_metrics gave AP -0.65
    and 0.79 where scikit-learn's is 0.40, card precision and the thresholds' rates moved
    too, all silently. Each function now names the values; bool labels still give
    scikit-learn's figures."""
    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.1).astype(int)
    score = rng.normal(size=200) + y
    label = {"-1/1": 2 * y - 1, "0/2": 2 * y, "yes/no": np.where(y == 1, "yes", "no")}[coding]
    day, card = np.arange(200) // 50, np.arange(200) % 30
    calls = [lambda: fm.ranking_metrics(score, label),
             lambda: fm.daily_alerts(day, card, score, label, k=5),
             lambda: fm.threshold_at_fpr(score, label, 0.01),
             lambda: fm.rates_at_threshold(score, label, 4, 1.0)]
    for call in calls:
        with pytest.raises(ValueError, match="must be 0 .legitimate. or 1 .fraud."):
            call()
    metrics = fm.ranking_metrics(score, y.astype(bool))
    assert metrics["auc"] == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert metrics["average_precision"] == pytest.approx(average_precision_score(y, score),
                                                         abs=1e-12)


def test_scores_and_labels_of_other_lengths_are_refused():
    # one label more than scores: the first 29 labels were read, the 30th dropped unsaid
    rng = np.random.default_rng(0)
    score, label = rng.random(30), (rng.random(30) < 0.4).astype(int)
    for call in (lambda s, y: ranking_metrics(s, y), lambda s, y: fm.threshold_at_fpr(s, y, 0.1),
                 lambda s, y: fm.rates_at_threshold(s, y, 3, 0.5),
                 lambda s, y: daily_alerts(np.zeros(len(y)), np.arange(len(y)), s, y, k=2)):
        for s, y in ((score[:-1], label), (score, label[:-1])):
            with pytest.raises(ValueError, match="scores for .* labels; pass one score per"):
                call(s, y)
    assert ranking_metrics(score, label)["auc"] == pytest.approx(roc_auc_score(label, score),
                                                                 abs=1e-12)


def test_alert_and_threshold_settings_out_of_range_are_refused():
    rng = np.random.default_rng(0)
    score, label = rng.random(30), (rng.random(30) < 0.4).astype(int)
    day, card = np.repeat(np.arange(3), 10), rng.integers(0, 8, 30)
    for fpr in (1.5, -0.1, np.nan):   # 1.5 gave the lowest score, -0.1 inf, unsaid
        with pytest.raises(ValueError, match=r"fpr must be a false-positive rate in \[0, 1\]"):
            fm.threshold_at_fpr(score, label, fpr)
    with pytest.raises(ValueError, match="n_days must be an integer >= 1"):
        fm.threshold_at_alerts(score, 0, 2)
    with pytest.raises(ValueError, match="per_day must be a number of alerts >= 0"):
        fm.threshold_at_alerts(score, 3, -1)
    with pytest.raises(ValueError, match="per_day must be a number of alerts >= 0, and finite"):
        fm.threshold_at_alerts(score, 3, np.inf)   # flagged every transaction, unsaid
    alerts = daily_alerts(day, card, score[:, None], label, k=2)   # [n, 1]: numpy's error
    assert alerts.card_precision == daily_alerts(day, card, score, label, k=2).card_precision
    with pytest.raises(ValueError, match="must be finite and >= 0"):
        card_metrics(alerts, -1.0, 5.0)
    # 2 alerts a day over 3 days: the 6th highest score is the lowest threshold
    assert fm.threshold_at_alerts(score, 3, 2) == np.sort(score)[-6]
