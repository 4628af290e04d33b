"""The fraud run folder: metrics.json, members.csv, alerts.csv, daily.csv, plots and
report.md."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
from scipy.stats import binom

from fjax.data.fraud_features import feature_names
from fjax.data.fraud_protocol import Period
from fjax.data.transactions import Transactions, summary
from fjax.fraud_metrics import FPR_TARGETS, DailyAlerts, daily_alerts, recall_key
from fjax.report import plots
from fjax.report.files import RunDir, figure_lines, markdown_table, number_text
from fjax.tasks.experiment import loss_text, not_distinguishable, resumed_from
from fjax.tasks.fraud import handbook
from fjax.tasks.fraud.config import Config
from fjax.tasks.fraud.dataset import LEAK_AUC, SKEW_LIMIT, kept_features
from fjax.tasks.fraud.evaluation import (LOWER_IS_BETTER, THRESHOLD_COLUMNS, alerts_frame,
                                        budget_target, daily_frame, paired_differences,
                                        split_common, summarize, summarize_thresholds)
from fjax.tasks.fraud.plots import (clipped_to_percentiles, daily_card_precision,
                                    period_curves, standardised_by_period)


@dataclass
class ModelResult:
    """What the report needs of one model."""

    name: str
    table: pd.DataFrame                      # one row per member (seed x period)
    alerts: dict[tuple[int, int], DailyAlerts]
    scores: dict[int, np.ndarray]            # first seed: period -> test scores
    labels: dict[int, np.ndarray]            # period -> test labels
    logits: bool                             # scores are logits (supervised models)
    config: dict | None = None
    timing: dict = field(default_factory=dict)
    chosen: dict | None = None
    history: list | None = None
    test_scores: pd.DataFrame | None = None   # scores.csv.gz's rows (`scores_frame`)
    thresholds: pd.DataFrame = field(   # `threshold_rows`: its header where none is set
        default_factory=lambda: pd.DataFrame(columns=THRESHOLD_COLUMNS))
    blown_up: str | None = None              # its training's `blown_up_note`
    optimum: pd.DataFrame = field(default_factory=pd.DataFrame)  # `optimum_rows`


def no_alert_cost(day: np.ndarray, card: np.ndarray, label: np.ndarray,
                  cost_missed: float) -> float:
    """Cost of a period with no alert at all: cost_missed x compromised card-days (each
    card with a fraud on a day, none ever blocked), what a model's cost compares with."""
    card_days = np.unique(np.stack([day[label == 1], card[label == 1]]), axis=1)
    return float(cost_missed * card_days.shape[1])


def periods_table(tx: Transactions, periods: list[Period], trains, tests, removed,
                  top_k: int, cost_alert: float = 5.0, cost_missed: float = 100.0
                  ) -> pd.DataFrame:
    """Dates (first and last day of each span, YYYY-MM-DD) and sizes of each period, with
    the CP@k and cost a perfect ranking would reach (the ceiling set by how many cards
    are compromised each day; oracle_missed: the compromised card-days it leaves
    unalerted) and the cost without any alert (the floor to beat). A file without card
    ids has removed_known_cards_tx 0: no card recurs to be removed (`write` leaves the
    column out of its outputs)."""
    rows = []
    for k, (p, tr, te, gone) in enumerate(zip(periods, trains, tests, removed)):
        week = te | gone          # the whole test week: removal would lower its rate
        label = tx.fraud[te]
        oracle = daily_alerts(tx.day[te], tx.customer[te], label.astype(float), label, top_k)
        no_alerts = no_alert_cost(tx.day[te], tx.customer[te], label, 1.0)  # card-days
        costs = {"compromised_cards_per_day": no_alerts / p.test_days,
                 "cost_no_alerts": cost_missed * no_alerts,
                 "oracle_cost": oracle.expected_cost(cost_alert, cost_missed),
                 "oracle_missed": int(oracle.compromised.sum() - oracle.found.sum())}
        rows.append({"period": k,
                     "train_start": str(tx.date_of(p.train_start).date()),
                     "train_end": str(tx.date_of(p.train_start + p.train_days - 1).date()),
                     "test_start": str(tx.date_of(p.test_start).date()),
                     "test_end": str(tx.date_of(p.test_end - 1).date()),
                     "train_tx": int(tr.sum()), "train_frauds": int(tx.fraud[tr].sum()),
                     "test_tx": int(te.sum()), "test_frauds": int(tx.fraud[te].sum()),
                     "removed_known_cards_tx": int(gone.sum()),
                     "test_week_frauds": int(tx.fraud[week].sum()),
                     "train_fraud_rate": float(tx.fraud[tr].mean()),
                     "test_fraud_rate": float(tx.fraud[week].mean()),
                     f"oracle_cp@{top_k}": round(oracle.card_precision, 4), **costs})
    return pd.DataFrame(rows)


# The periods table's dates and sizes, what the validation periods report (`validation_note`).
SIZE_COLUMNS = ["period", "train_start", "train_end", "test_start", "test_end", "train_tx",
                "train_frauds", "test_tx", "test_frauds", "removed_known_cards_tx"]


def validation_note(validation_df: pd.DataFrame) -> list[str]:
    """Report lines giving the validation periods' sizes (a `periods_table` cut to
    `SIZE_COLUMNS`): how many frauds the selection rests on, in total and in the
    poorest period (a choice made on a dozen frauds is noise)."""
    frauds = validation_df["test_frauds"]
    return [f"Validated on {len(validation_df)} period(s) (the test periods moved back, so "
            "the last validation week ends where the first test period's training week "
            f"does), whose test weeks ({validation_df['test_start'].iloc[0]} to "
            f"{validation_df['test_end'].iloc[-1]}) hold {validation_df['test_tx'].sum()} "
            f"scored transactions and {frauds.sum()} frauds, {frauds.min()} in the "
            "fewest (columns as in the Periods table):", "",
            markdown_table(validation_df), ""]


def _values(hyperparameters: dict) -> str:
    """"optim.learning_rate = 0.001, model.hidden = (64,)": a configuration's values."""
    return ", ".join(f"{name} = {v:g}" if isinstance(v, float) else f"{name} = {v}"
                     for name, v in hyperparameters.items())


def diverged_note(chosen: dict) -> list[str]:
    """One report line naming each configuration with diverged validation members
    (`training.diverged_configs`); [] where none diverged."""
    if not chosen.get("diverged"):
        return []
    each = "; ".join(f"{_values(d['hyperparameters'])}: {d['diverged']} of {d['members']}"
                     for d in chosen["diverged"])
    return [f"Diverged on the validation periods (loss NaN or infinite; such a "
            f"configuration ranks last, `diverged_epoch` in validation.csv): {each}.", ""]


def spread_note(chosen: dict) -> list[str]:
    """One report line: the chosen configuration's and the runner-up's validation metric
    over the validation periods (`training.period_spread`); [] without a spread."""
    s = chosen.get("spread")
    if not s:
        return []
    def span(d):
        std = "" if np.isnan(d["std"]) else f", std {d['std']:.3f}"
        return f"{d['min']:.3f} to {d['max']:.3f}{std}"
    text = (f"Spread over the {s['periods']} validation period(s) ({chosen['metric']} of "
            f"each, the mean over seeds): the chosen {span(s['chosen'])}")
    if s["runner_up"]:
        r = s["runner_up"]
        text += (f"; the runner-up ({_values(r['hyperparameters'])}, mean {r['mean']:.4f}) "
                 f"{span(r)}; the chosen is ahead in {s['chosen_ahead_in']} of "
                 f"{s['periods']} period(s)" + tie_text(s.get("paired")))
    return [text + ".", ""]


def scored_text(metric: str) -> str:
    """What the Selection section's mean is, by the `metric` monitored: a validation
    metric at each member's best epoch (optimistic, the weeks chose that epoch), or the
    training loss, which measures fit on the training weeks and not detection."""
    if metric == "loss":
        return ("Each member is scored by its training loss at its best epoch (train.monitor "
                "loss: the lowest, on its training weeks), a measure of fit, not of fraud "
                "detection; the test periods, which no choice saw, give the honest figure.")
    return ("Each member is scored at its best epoch on the validation weeks themselves, so "
            "this mean is optimistic; the test periods, which no choice saw, give the honest "
            "figure.")


def labels_note(kind: str, metric: str) -> list[str]:
    """The autoencoder's selection (`kind`, monitored by `metric`): validation-week labels
    choose its epochs and settings unless it monitors its training loss; [] otherwise."""
    if kind != "autoencoder":
        return []
    if metric == "loss":
        return ["The autoencoder's epochs and settings were chosen by its training loss "
                "(train.monitor loss: reconstruction error of the training weeks' legitimate "
                "rows), so no validation-week label chose them.", ""]
    return [f"The autoencoder learns from no fraud, but its epochs and settings were chosen "
            f"by {metric} on the validation weeks' labels: weeks before the test periods, "
            "so nothing leaks into the test figures, but a run without labels could not "
            "tune it so; `--train.monitor loss` chooses by the training loss "
            "(reconstruction error) and reads no validation-week label.", ""]


def tie_text(paired: dict | None) -> str:
    """The chosen minus the runner-up, paired by period (`training.period_spread`), and,
    where its `lead` is none, behind or under two standard errors, that the two are not
    distinguishable (`experiment.not_distinguishable`, forecast's rule too); "" without a
    pairing."""
    if not paired or paired["difference"] is None:
        return ""
    se = paired["se"]
    text = (f"; paired by period (seeds averaged within one), the chosen minus the "
            f"runner-up is {paired['difference']:+.4f}"
            + ("" if se is None else f" ± {se:.4f} (standard error over periods)"))
    if not_distinguishable(paired["lead"], se):
        text += (". **Not distinguishable from the runner-up**: a lead of none, under two "
                 "standard errors, or behind; other periods or seeds could swap them")
    return text


def immature_label_periods(periods_df: pd.DataFrame) -> list[int]:
    """The last test periods (a run of them ending with the last) whose test week's fraud
    rate is under half the training weeks' pooled rate, by more than chance
    (binomial P(frauds <= observed) < 0.01 at the training rate). Chargebacks
    arrive 30-120 days after the transaction, so a file's last weeks hold frauds not yet
    labelled: its latest test weeks look cleaner than they are."""
    train_rate = periods_df["train_frauds"].sum() / periods_df["train_tx"].sum()
    week_tx = periods_df["test_tx"] + periods_df["removed_known_cards_tx"]
    low = ((periods_df["test_fraud_rate"] < 0.5 * train_rate)
           & (binom.cdf(periods_df["test_week_frauds"], week_tx, train_rate) < 0.01))
    flagged = []
    for k in reversed(range(len(low))):
        if not low.iloc[k]:
            break
        flagged.insert(0, k)
    return flagged


def immature_labels_note(periods_df: pd.DataFrame, delay_days: int) -> str:
    """The warning and report text for `immature_label_periods`; "" when none is."""
    flagged = immature_label_periods(periods_df)
    if not flagged:
        return ""
    rows = periods_df.iloc[flagged]
    train_rate = periods_df["train_frauds"].sum() / periods_df["train_tx"].sum()
    rates = ", ".join(f"{100 * r:.3f}%" for r in rows["test_fraud_rate"])
    return (f"Test period(s) {', '.join(map(str, flagged))} ({rows['test_start'].iloc[0]} to "
            f"{rows['test_end'].iloc[-1]}) have fraud rate(s) {rates}, under half the "
            f"training weeks' {100 * train_rate:.3f}%: the data's last weeks look cleaner "
            "than the earlier ones, a sign of immature labels (chargebacks arrive 30-120 "
            "days after the transaction, so recent frauds are not labelled yet), and their "
            "figures are measured against incomplete labels. End the file about 120 days "
            "before its labels were extracted, or set data.train_start earlier so that the "
            "test weeks end before its last months. The terminal-risk features and the "
            f"delay week also take a label to be known {delay_days} days after the "
            "transaction; for chargeback labels set data.delay_days to the days within "
            "which most arrive (e.g. 60).")


def alert_budget_note(periods_df: pd.DataFrame, top_k: int, cost_alert: float,
                      cardless: bool = False) -> str:
    """Report text naming the periods where a perfect ranking of `top_k` alerts a day
    costs more than raising none: the budget exceeds the cards compromised each day (a
    file without card ids, `cardless`: its frauds), so most alerts are bound to be false
    and cost is no target there; "" when none is."""
    over = periods_df[periods_df["oracle_cost"] > periods_df["cost_no_alerts"]]
    if over.empty:
        return ""
    costs = ", ".join(f"{a:.0f} against {b:.0f}"
                      for a, b in zip(over["oracle_cost"], over["cost_no_alerts"]))
    per_day = over["compromised_cards_per_day"].mean()
    hits = "frauds" if cardless else "compromised cards"
    return (f"{top_k} alerts a day cost more than none even with a perfect ranking in "
            f"period(s) {', '.join(map(str, over['period']))} ({costs}): they have "
            f"{per_day:.1f} {hits} a day, so on average at least "
            f"{top_k - per_day:.0f} of the {top_k} daily alerts are false ({cost_alert:g} "
            f"each). Set data.top_k near the daily {hits} to compare cost with "
            "raising no alerts; at this budget cost only ranks models against each other.")


def oracle_note(periods_df: pd.DataFrame, top_k: int, cards_recur: bool = True) -> str:
    """Report text naming the periods where a perfect ranking leaves compromised card-days
    unalerted (more than `top_k` compromised cards on some day): there, which of them it
    alerts first matters (blocking a card that would defraud again saves its later days,
    and leaves room for other cards' hits), so its CP@k and cost are no bounds; "" when
    none is, or when no card can be compromised on two test days (`cards_recur` False: one
    test day, or each transaction its own card), where the perfect ranking is the best."""
    short = periods_df[periods_df["oracle_missed"] > 0]
    if short.empty or not cards_recur:
        return ""
    missed = ", ".join(str(int(m)) for m in short["oracle_missed"])
    return (f"In period(s) {', '.join(map(str, short['period']))} a perfect ranking still "
            f"leaves {missed} compromised card-day(s) unalerted (over {top_k} compromised "
            "cards on some days): which compromised cards are alerted first matters there "
            f"(blocking one that would defraud again saves its later days), so oracle_cp@{top_k} "
            "and oracle_cost need not be the best a model can reach there: another order of "
            "the same compromised cards can cost less. They are bounds only where "
            "oracle_missed is 0; raise data.top_k to make them so.")


def fpr_volume_note(periods_df: pd.DataFrame, test_days: int,
                    thresholds: pd.DataFrame) -> str:
    """Report text turning the recall@FPR columns into alert volumes: the legitimate test
    transactions a day that each false-positive rate flags (scored transactions, removed
    cards left out), that its threshold is read off the test week's own labels, and the
    rates thresholds set in advance (thresholds.csv) realised instead."""
    legit_per_day = ((periods_df["test_tx"] - periods_df["test_frauds"]).sum()
                     / (len(periods_df) * test_days))
    volumes = "; ".join(f"FPR {100 * f:g}% flags about "
                        f"{number_text(f * legit_per_day, '{:.3g}')} legitimate "
                        "transactions a day" for f in FPR_TARGETS)
    return (f"Alert volume: the test weeks score {legit_per_day:.0f} legitimate transactions "
            f"a day, so {volumes}, beside the frauds caught. These thresholds are read off "
            "each test week's own labels (hindsight): " + advance_fpr_text(thresholds)
            + " (see Thresholds set in advance).")


def advance_fpr_text(thresholds: pd.DataFrame) -> str:
    """The realised FPR range, over models, seeds and periods, of each FPR target's
    thresholds set in advance (`threshold_rows`, header included where it has no row): a
    week's rate moves with its model and its transactions."""
    rows = thresholds[thresholds["set_on"] == "in advance"]
    ranges = []
    for f in FPR_TARGETS:
        fpr = pd.to_numeric(rows.loc[rows["target"] == f"FPR {100 * f:g}%", "fpr"],
                            errors="coerce").dropna()
        if len(fpr):
            ranges.append(f"FPR {100 * f:g}% flagged {100 * fpr.min():.2g}% to "
                          f"{100 * fpr.max():.2g}%")
    if not ranges:
        return "one set in advance on earlier labelled weeks flags another rate"
    return ("set in advance on earlier labelled weeks, " + " and ".join(ranges)
            + " of a test week's legitimate transactions over every model, seed and period")


def comparison_protocol(model: str, members: pd.DataFrame, periods_df: pd.DataFrame,
                        k: int) -> str:
    """How fjax's figure for `model` and the handbook's figure beside it were measured,
    and, when the handbook measured one split that is among this run's periods, fjax's
    figure on that split alone (the like-for-like number)."""
    ours = list(zip(periods_df["train_start"], periods_df["test_start"]))
    n = len(ours)
    text = (f"fjax: mean of {n} prequential test period{'s' if n != 1 else ''} "
            f"(training weeks from {ours[0][0]} to {ours[-1][0]})")
    ref = handbook.reference(model)
    if ref is None:
        return text + "; no handbook figure"
    text += f"; handbook: {ref.protocol.text}"
    theirs = list(ref.protocol.periods)
    if theirs == ours:
        text += "; same periods (on fjax's own simulation run)"
    elif len(theirs) == 1 and theirs[0] in ours:
        p = ours.index(theirs[0])
        rows = members[(members["model"] == model) & (members["period"] == p)]
        def value(m):
            v = pd.to_numeric(rows[m], errors="coerce").dropna()
            return f"{v.mean():.3f}" if len(v) else "n/a"
        text += (f"; fjax on that split (period {p}): {value('auc')} / "
                 f"{value('average_precision')} / {value('card_precision')}")
    else:
        text += "; the handbook's period(s) are not this run's: compare with care"
    if k != 100:
        text += f"; fjax ranks {k} cards a day, the handbook 100"
    if ref.protocol.note:
        text += f"; {ref.protocol.note}"
    return text


def trained_with(config: dict | None) -> str:
    """"adam lr 0.003, 16 epochs, focal loss (gamma 2)": how a model was trained, from its
    config dict, loss included, so that runs differing only in the loss tell apart."""
    if config is None:
        return "no training"
    return (f"{config['optim']['name']} lr {config['optim']['learning_rate']:g}, "
            f"{config['train']['epochs']} epochs, {_loss_text(config)}")


def _loss_text(config: dict) -> str:
    """"bce loss (pos_weight 10)": the loss a model minimised, with its non-default
    settings; the autoencoder's reconstruction error on legitimate training rows."""
    if config["model"]["kind"] == "autoencoder":
        return "reconstruction error of legitimate rows"
    return loss_text(config["loss"])


def alert_headings(k: int, cardless: bool = False) -> dict[str, str]:
    """The report's headings of the alert metrics; a file without card ids (`cardless`)
    alerts transactions: daily precision@k (a mean over days, not a pooled top k) and
    recall@k."""
    if cardless:
        return {"card_precision": f"daily precision@{k}", "card_recall": f"recall@{k}"}
    return {"card_precision": f"CP@{k}", "card_recall": f"card recall@{k}"}


def results_table(summary_df: pd.DataFrame, k: int, members: pd.DataFrame | None = None,
                  periods_df: pd.DataFrame | None = None, handbook_column: bool = True,
                  configs: dict[str, dict | None] | None = None,
                  cardless: bool = False) -> pd.DataFrame:
    """Each model's mean ± std, how it was trained (given `configs`), and beside it the
    handbook's figure for the same kind of model, with the protocol of both (when
    `members` and `periods_df` are given); `cardless`: a file without card ids."""
    rows = []
    for _, r in summary_df.iterrows():
        ref = handbook.reference(r["model"])
        fmt = partial(mean_spread, r)
        row = {"model": r["model"], "AUC": fmt("auc"), "AP": fmt("average_precision"),
               **{f"recall@FPR {100 * f:g}%": fmt(recall_key(f)) for f in FPR_TARGETS},
               **{h: fmt(m) for m, h in alert_headings(k, cardless).items()},
               "cost": fmt("cost", 0)}
        if configs is not None:
            row["trained with"] = trained_with(configs.get(r["model"]))
        if not handbook_column:
            rows.append(row)
            continue
        row["handbook (AUC / AP / CP@100)"] = (
            f"{ref.model}: {ref.auc:.3f} / {ref.average_precision:.3f} / "
            f"{ref.card_precision:.3f}" if ref else "-")
        if members is not None and periods_df is not None:
            row["protocol (fjax; handbook)"] = comparison_protocol(r["model"], members,
                                                                   periods_df, k)
        rows.append(row)
    return pd.DataFrame(rows)


def write(run_dir: RunDir, config: Config, tx: Transactions, periods_df: pd.DataFrame,
          results: list[ModelResult], timings: dict, selection: pd.DataFrame | None,
          encodings: list[dict] = (), validation_df: pd.DataFrame | None = None,
          immature: str = "") -> None:
    """The run folder's files; `encodings`: how each of data.features entered the models
    (`FraudData.encodings`); `validation_df`: a sweep's validation periods (`SIZE_COLUMNS`);
    `immature`: the run's `immature_labels_note`, already warned of."""
    k = config.data.top_k
    if tx.cardless:     # one card per transaction: none recurs, so none is removed
        periods_df, validation_df = (None if t is None else
                                     t.drop(columns="removed_known_cards_tx")
                                     for t in (periods_df, validation_df))
    members = pd.concat([r.table for r in results], ignore_index=True)
    summary_df = summarize(members)
    named = cardless_names if tx.cardless else (lambda table: table)
    run_dir.csv("members.csv", named(members))
    run_dir.csv("periods.csv", named(periods_df))
    if selection is not None:
        run_dir.csv("validation.csv", named(selection))
    primary = results[0]
    run_dir.csv("alerts.csv", alerts_frame(tx, primary.alerts, primary.logits))
    run_dir.csv("scores.csv.gz", primary.test_scores)
    daily = daily_frame(tx, {r.name: r.alerts for r in results})
    run_dir.csv("daily.csv", named(daily))
    thresholds = pd.concat([r.thresholds for r in results], ignore_index=True)
    run_dir.csv("thresholds.csv", thresholds)
    common, other = summaries = tuple(map(summarize_thresholds, split_common(thresholds)))
    data_summary = summary(tx)
    kept = kept_features(tx)
    paired = paired_differences(members, primary.name)
    run_dir.json("metrics.json", named({
        "primary": primary.name, "data": data_summary,
        "features": {"handbook": kept, "columns": list(encodings)},
        "periods": periods_df.to_dict("records"),
        "paired": paired.to_dict("records"),
        **({"validation_periods": validation_df.to_dict("records")}
           if validation_df is not None else {}),
        "models": {r.name: {"summary": summary_df[summary_df.model == r.name].iloc[0].to_dict(),
                            "members": r.table.to_dict("records"), "config": r.config,
                            "chosen": r.chosen, "timing": r.timing,
                            "thresholds": _model_rows(common, r.name),
                            "thresholds_other_periods": _model_rows(other, r.name),
                            **({"optimum": r.optimum.to_dict("records")}
                               if len(r.optimum) else {})}
                   for r in results},
        **({"handbook_data": handbook.DATA,   # the book's figures are of its simulation
            "handbook": [{"model": f.model, "fjax": f.fjax, "protocol": f.protocol.text,
                          "note": f.protocol.note, "auc": f.auc,
                          "average_precision": f.average_precision,
                          "card_precision_at_100": f.card_precision}
                         for f in handbook.FIGURES]} if config.data.path is None else {}),
        "timings": timings}))
    figures = _plots(run_dir, results, k, daily, summary_df, tx.cardless)
    run_dir.text("report.md", _markdown(config, data_summary, periods_df, summary_df, members,
                                        paired, results, timings, figures, encodings, kept,
                                        validation_df, thresholds, summaries, immature))


CARDLESS_NAMES = {"card_precision": "daily_precision_at_k", "card_recall": "recall_at_k",
                  "oracle_cp": "oracle_precision",
                  "compromised_cards_per_day": "frauds_per_day", "compromised": "frauds"}
"""A file without card ids counts each transaction as its own card: its card metrics are
the precision and recall of each day's top-k transactions, named so in its outputs (the
precision a mean over days: `fjax.metrics.precision_at_k` pools its top k). Each entry is
a whole name, or its stem before `CARDLESS_SUFFIX` (`summarize`'s columns, `oracle_cp@k`);
no other name is renamed."""

CARDLESS_SUFFIX = re.compile(r"(_mean|_std|_count|@\d+)?$")


def cardless_name(text: str) -> str:
    """The name a file without card ids gives `text` (`CARDLESS_NAMES`): `text` itself
    where its stem is none of them."""
    suffix = CARDLESS_SUFFIX.search(text).group()
    stem = text[:len(text) - len(suffix)]
    return CARDLESS_NAMES[stem] + suffix if stem in CARDLESS_NAMES else text


def cardless_names(table):
    """`table` (a DataFrame's columns, or metrics.json's keys and its paired metrics) with
    `CARDLESS_NAMES`: its metrics named for what a file without card ids counts."""
    if isinstance(table, pd.DataFrame):
        return table.rename(columns=cardless_name)
    if isinstance(table, dict):
        return {cardless_name(str(k)): (cardless_name(v) if k == "metric"
                                        and v in CARDLESS_NAMES else cardless_names(v))
                for k, v in table.items()}
    if isinstance(table, list):
        return [cardless_names(v) for v in table]
    return table


def _model_rows(table: pd.DataFrame, model: str) -> list[dict]:
    """`table`'s rows of `model` as records ([] for an empty table)."""
    return table[table["model"] == model].to_dict("records") if len(table) else []


def optimum_note(result: ModelResult) -> list[str]:
    """A report line for a logistic model (`optimum_rows`): its mean training loss and test
    AP beside its objective's optimum's; [] for other models."""
    o = result.optimum
    if o.empty:
        return []
    c = result.config
    return [f"{result.name} stops short of the optimum of its own objective (training "
            "loss, solved in float64 by Newton's method on each period's training rows): "
            f"its training loss is {o['train_loss'].mean():.5f} against the optimum's "
            f"{o['optimum_train_loss'].mean():.5f} and its test AP "
            f"{o['average_precision'].mean():.3f} against the optimum's "
            f"{o['optimum_average_precision'].mean():.3f} (means over periods and seeds; "
            f"{c['optim']['name']} at learning rate {c['optim']['learning_rate']:g} "
            f"({c['optim']['schedule']} schedule), {c['train']['epochs']} epochs of batches "
            f"of {c['train']['batch_size']}), so its figures are of this training, not of "
            "logistic regression at its best; metrics.json has each period's "
            f"(models.{result.name}.optimum).", ""]


def paired_note(paired: pd.DataFrame, primary: str, k: int, cardless: bool = False
                ) -> list[str]:
    """Report section of `paired`, `paired_differences`' table (metrics.json's `paired`):
    the run's own model minus each other model, period by period; [] when the run scores
    one model only; `cardless`: a file without card ids."""
    if paired.empty:
        return []
    names = {"auc": "AUC", "average_precision": "AP",
             **{recall_key(f): f"recall@FPR {100 * f:g}%" for f in FPR_TARGETS},
             **alert_headings(k, cardless), "cost": "cost"}
    rows = [{f"{primary} minus": other,
             **{names[r["metric"]]: paired_cell(r) for _, r in group.iterrows()}}
            for other, group in paired.groupby("model", sort=False)]
    return ["## Paired comparison (same test periods)", "", markdown_table(pd.DataFrame(rows)),
            "", f"Each cell: {primary}'s metric minus the other model's on each test period "
            "(seeds averaged within a period), the mean over periods ± its standard error "
            "(sample sd / sqrt(periods)), and (in parentheses) the periods where "
            f"{primary} is better (higher; for cost, lower) of those compared. The models "
            "score the same test weeks, so a hard week lowers both: judge a lead here, not "
            "by the Results table's ±, which is each model's own spread over periods. A "
            "lead within about two standard errors of 0, or not ahead in most periods, may "
            "be noise; with few periods the standard error is itself rough "
            "(periods - 1 degrees of freedom).", ""]


def paired_cell(r: pd.Series) -> str:
    """One cell of the Paired comparison table: "+0.010 ± 0.002 (3/4)"."""
    if r["difference"] is None or pd.isna(r["difference"]):
        return "n/a"
    digits = 0 if r["metric"] in LOWER_IS_BETTER else 3
    se = "" if r["se"] is None or pd.isna(r["se"]) else f" ± {r['se']:.{digits}f}"
    return f"{r['difference']:+.{digits}f}{se} ({r['ahead_in']}/{r['periods']})"


def paired_lead(r: pd.Series) -> int:
    """+1 where a Paired comparison row's first model clearly leads, -1 where the other
    does, 0 where the table's note calls it possible noise: the sweeps' rule on the
    leader's lead (`not_distinguishable`; one period: none), or no lead in most periods."""
    d, se = r["difference"], r["se"]
    if d is None or se is None or pd.isna(d) or pd.isna(se) or not_distinguishable(abs(d), se):
        return 0
    first = (d < 0) == (r["metric"] in LOWER_IS_BETTER)
    ahead = r["ahead_in"] if first else r["periods"] - r["ahead_in"]
    return 0 if 2 * ahead <= r["periods"] else (1 if first else -1)


def autoencoder_note(paired: pd.DataFrame, primary: str, autoencoder: str | None,
                     supervised: list[str]) -> list[str]:
    """One sentence on why the autoencoder ranks where it does beside the run's supervised
    models: it learns from no fraud, so it should trail them where labels exist; then
    where it stands against each by the Paired comparison's AP (`paired_lead`). [] where
    the table sets no autoencoder beside a supervised model."""
    if autoencoder is None or paired.empty:
        return []
    def row(other, metric):
        return paired[(paired["model"] == other) & (paired["metric"] == metric)].iloc[0]
    pairs = ([(o, 1) for o in supervised if o != primary] if autoencoder == primary
             else [(autoencoder, -1)] if primary in supervised else [])
    if not pairs:
        return []
    words = {1: "ahead of", -1: "behind", 0: "not distinguishable from"}
    each = []
    for other, sign in pairs:
        ap, cost = row(other, "average_precision"), row(other, "cost")
        versus = other if sign == 1 else primary
        each.append(f"{words[sign * paired_lead(ap)]} {versus} ({primary} minus {other}: AP "
                    f"{paired_cell(ap)}, cost {paired_cell(cost)})")
    return [f"The autoencoder learns from no fraud: it trains on each training week's "
            "legitimate transactions only (the labels serve only to drop that week's few "
            "frauds) and ranks by reconstruction error, so it is expected to trail "
            "supervised models where labels exist and is the option where they are scarce "
            "or late; here, by the paired AP above (a lead within two standard errors or "
            f"not held in most periods counts as none), it is {'; '.join(each)}.", ""]


def mean_spread(r: pd.Series, m: str, digits: int = 3) -> str:
    """A summary row's metric `m` as "mean ± std", "(k of n)" after it where only k of its
    n members define it, "n/a" where none does."""
    mean, std, count = r[f"{m}_mean"], r[f"{m}_std"], r[f"{m}_count"]
    if mean is None or pd.isna(mean):
        return "n/a"
    spread = "" if std is None or pd.isna(std) else f" ± {std:.{digits}f}"
    partial = f" ({count} of {r['members']})" if count < r["members"] else ""
    return f"{mean:.{digits}f}{spread}{partial}"


def threshold_table(threshold_summary: pd.DataFrame) -> pd.DataFrame:
    """The report's view of `summarize_thresholds`: per model, target and where the
    threshold was set, realised FPR, recall, precision and alerts a day (mean ± std; "(1
    of 2)" where only some members define it, e.g. precision where one raised no alert)."""
    return pd.DataFrame([{"model": r["model"], "target": r["target"], "set on": r["set_on"],
                          "periods": ", ".join(map(str, r["periods"])),
                          "FPR": mean_spread(r, "fpr", 4),
                          "recall": mean_spread(r, "recall", 3),
                          "precision": mean_spread(r, "precision", 3),
                          "alerts a day": mean_spread(r, "alerts_per_day", 1)}
                         for _, r in threshold_summary.iterrows()])


def threshold_sources_text(thresholds: pd.DataFrame) -> str:
    """Which period each test period's threshold was set on ('test period 0 on
    validation 3, 2 on test 0'), per model where the models differ (only a sweep's own
    model has validation scores)."""
    advance = thresholds[(thresholds["set_on"] == "in advance")
                         & (thresholds["set_on_stage"] != "delay")]
    by_model = {}
    for model, rows in advance.groupby("model", sort=False):
        pairs = sorted(set(zip(rows["period"], rows["set_on_stage"], rows["set_on_period"])))
        by_model[model] = "test period " + ", ".join(f"{k} on {stage} {j}"
                                                     for k, stage, j in pairs)
    if len(set(by_model.values())) == 1:
        return next(iter(by_model.values()))
    return "; ".join(f"{model}: {text}" for model, text in by_model.items())


def budget_text(thresholds: pd.DataFrame, top_k: int, delay_days: int,
                cardless: bool = False) -> str:
    """How each model's alert budget was set in advance: on its delay week's unlabelled
    scores, or (combined, whose anomaly feature the delay week lacks; every model without
    a delay week) on the FPR targets' labelled source; `cardless`: no card is removed."""
    budget = thresholds[(thresholds["target"] == budget_target(top_k))
                        & (thresholds["set_on"] == "in advance")]
    on_delay = budget.groupby("model", sort=False)["set_on_stage"].agg(
        lambda stage: bool((stage == "delay").all()))
    delayed, labelled = list(on_delay.index[on_delay]), list(on_delay.index[~on_delay])
    text = []
    if delayed:
        text.append(f"The alert budget of {', '.join(delayed)} needs no labels: each test "
                    "period's model scores the delay week just before its test week "
                    "(transactions in, labels not yet"
                    + ("" if cardless else "; known compromised cards removed as in the test "
                       "week") + ") and takes the lowest threshold that raised at most that "
                    "many alerts (flagged transactions) a day there, so it is on the running "
                    "model's score scale, not an earlier model's.")
    if labelled:
        why = ("the run has no delay week (data.delay_days 0)" if delay_days == 0 else
               "the combined model's anomaly feature is cross-fitted on the training and "
               "test weeks only, so the delay week lacks it")
        text.append(f"{', '.join(labelled)} set{'s' if len(labelled) == 1 else ''} the alert "
                    "budget as the FPR targets, on the source period's scores (another "
                    "period's model, so its scale is not the running model's; the lowest "
                    f"threshold that raised at most that many alerts a day there): {why}.")
    return " ".join(text)


def apart_why(other: pd.DataFrame, top_k: int) -> str:
    """Why `split_common`'s other rows exist, only the reasons these rows have: FPR targets
    a sweep's own model set on its validation weeks, alert budgets set on delay weeks that
    the combined model sets on labelled periods (and lacks for the first ones)."""
    budget = other["target"] == budget_target(top_k)
    why = []
    if (~budget).any():
        why.append("a sweep's own model's first periods, set on its validation weeks")
    if budget.any():
        why.append("the first periods of an alert budget set on delay weeks, which the "
                   "combined model sets on labelled periods")
    return "; ".join(why)


def selected_source_note(thresholds: pd.DataFrame) -> str:
    """Report text naming the test periods whose FPR thresholds were set on a validation
    week: its scores come from the epoch chosen on that week's own labels, so that source
    is a selected one, while every rate reported at the threshold is the test week's;
    "" when no threshold was set on a validation week."""
    rows = thresholds[(thresholds["set_on"] == "in advance")
                      & (thresholds["set_on_stage"] == "validation")]
    if rows.empty:
        return ""
    each = "; ".join(f"{model}: test period(s) {', '.join(map(str, sorted(set(g['period']))))}"
                     for model, g in rows.groupby("model", sort=False))
    return (f"Set on a validation week ({each}): its scores are at the epoch the validation "
            "search chose on that week's own labels, a slightly optimistic sample, but "
            "that optimism stays in the validation figures (the Selection section's): "
            "every rate in these tables is measured on the test week the threshold is "
            "applied to, never on its source.")


def threshold_note(thresholds: pd.DataFrame, summaries: tuple[pd.DataFrame, pd.DataFrame],
                   top_k: int, delay_days: int, cardless: bool = False) -> list[str]:
    """Report section from thresholds.csv's rows (`threshold_rows`): alert thresholds set
    before each test week, beside hindsight, compared across models on the periods every
    model has a threshold for; `summaries`: `summarize_thresholds` of `split_common`'s
    two parts (those periods, the others apart), as metrics.json holds them; `cardless`:
    a file without card ids."""
    lines = ["## Thresholds set in advance", ""]
    if thresholds.empty:
        return lines + ["No test period has a validation period or an earlier test period "
                        "whose labels are all in when it starts (its test end + the label "
                        "delay), so no threshold can be set in advance on labelled scores; "
                        "run a sweep (its validation periods), add periods (sweep.folds) or "
                        "step further (data.step_days).", ""]
    common, other = summaries
    budget = (budget_text(thresholds, top_k, delay_days, cardless)
              or "No model has an alert budget row.")
    lines += [markdown_table(threshold_table(common)), ""]
    if not other.empty:
        lines += [f"Periods only some models have a threshold for ({apart_why(other, top_k)}"
                  "): apart, as the first table's rows do not average them.", "",
                  markdown_table(threshold_table(other)), ""]
    return lines + ["A fraud team fixes the alert threshold before a week starts. Each test "
                    "period's threshold here is set on the latest period whose labels are "
                    "all in by then (its test end + the label delay), among a sweep's "
                    "validation periods and the earlier test periods: its out-of-sample "
                    "scores and its labels (a validation period's from the chosen "
                    "configuration at its best epoch there, an earlier test period's from "
                    "the model then running; same seed), then applied unchanged to this "
                    "period's retrained model ("
                    f"{threshold_sources_text(thresholds) or 'no test period has one'}; "
                    "periods without such a source "
                    "are left out of both rows). The first table averages, per target, the "
                    "test periods every model has a threshold for (column periods), so its "
                    "rows compare. FPR targets take the lowest threshold that "
                    "flagged at most that share of the source week's legitimate "
                    f"transactions. {budget} "
                    "'hindsight' sets the same targets "
                    "on the test week's own labels, as the Results table's recall@FPR does, "
                    "on the same periods. The gap between the rows is what setting the "
                    "threshold in advance costs; thresholds.csv has every member's threshold "
                    "and source (in the model's raw score: logits for supervised models).", "",
                    *([selected, ""] if (selected := selected_source_note(thresholds)) else [])]


def curve_legend(summary_df: pd.DataFrame, metric: str, name: str, seeds: int
                 ) -> dict[str, str]:
    """Model -> "mlp: AUC 0.870 (mean of 4 periods)": the Results table's mean of `metric`
    (`name` in the text) over its members (periods x `seeds`) where it is defined, for the
    per-period curves, whose pooled curve's area it is not."""
    out = {}
    for _, r in summary_df.iterrows():
        mean = r[f"{metric}_mean"]
        value = "n/a" if mean is None or pd.isna(mean) else f"{mean:.3f}"
        over = "periods" if seeds == 1 else "periods x seeds"
        out[r["model"]] = f"{r['model']}: {name} {value} (mean of {r[f'{metric}_count']} {over})"
    return out


def daily_figure(cardless: bool, k: int) -> tuple[str, str]:
    """The daily alert precision's figure file and what it measures: a file without card
    ids alerts transactions."""
    if cardless:
        return "daily_precision.png", f"precision@{k}"
    return "daily_card_precision.png", f"card precision@{k}"


def figure_captions(k: int, first: str, cardless: bool = False) -> dict[str, str]:
    """What to look for in each figure; `first`: the model the score and loss plots draw;
    `cardless`: a file without card ids, whose alerts are transactions."""
    alerted = "transactions" if cardless else "cards"
    daily, measure = daily_figure(cardless, k)
    return {
        "pr_curve.png": "Precision against recall, one line per test period and model, the "
                        "legend giving each model's mean average precision: with frauds a "
                        "fraction of a percent of transactions, this shows what share of the "
                        "alerts are frauds, which the ROC hides.",
        "roc_curve.png": "ROC, one line per test period and model: an alert budget lives at "
                         "false positive rates under 1%, the curves' rise at the left edge.",
        "score_distributions.png": f"{first}'s test scores of legitimate and fraudulent "
                                   "transactions, standardised within each period: where the "
                                   "classes overlap it cannot rank them; a legend's share in "
                                   "an end bin is clipped scores piled up, not a mode.",
        daily: f"Each test day's {measure}, the share of frauds among the {k} {alerted} a "
               "model alerts on, one line per period: what investigators checking that many "
               f"{alerted} a day would find, and how much it varies from day to day.",
        "training_loss.png": f"{first}'s training loss per epoch over its members: still "
                             "falling at the last epoch, more epochs may help.",
    }


def _plots(run_dir: RunDir, results: list[ModelResult], k: int, daily: pd.DataFrame,
           summary_df: pd.DataFrame, cardless: bool = False) -> list[str]:
    seeds = sorted({s for s, _ in results[0].alerts})
    # a title's second line: on the first, it ran past a 4.5-inch figure's edges
    which = f"\nthe first of {len(seeds)} seeds (seed {seeds[0]})" if len(seeds) > 1 else ""
    curves = {r.name: [(r.scores[p], r.labels[p]) for p in sorted(r.scores)] for r in results}
    for kind, file, title, metric, name in (
            ("pr", "pr_curve.png", "Precision-recall", "average_precision", "AP"),
            ("roc", "roc_curve.png", "ROC", "auc", "AUC")):
        period_curves(kind, curves, curve_legend(summary_df, metric, name, len(seeds)),
                      run_dir.file(file), title=f"{title}, one line per test period\n(each "
                      f"period's own model: scores not pooled){which}")
    primary = results[0]
    scores, labels = standardised_by_period(curves[primary.name])
    clipped, names = clipped_to_percentiles(scores, labels, ("legitimate", "fraud"))
    kind = ("reconstruction error" if primary.name == "autoencoder"
            else "logit" if primary.logits else "score")
    plots.score_distributions(clipped, labels, run_dir.file("score_distributions.png"),
                              names=names,
                              xlabel=f"{kind} minus its test period's mean, over its std",
                              title=f"{primary.name}: test scores standardised within each "
                                    f"period\n(each period's own model and scale; "
                                    f"0.1-99.9 percentiles){which}")
    # each day's precision, the mean over seeds as in the report (daily.csv's rows)
    by_day = daily.groupby(["model", "period", "date"], sort=False)["card_precision"].mean()
    series = {r.name: [(pd.to_datetime(days.index.get_level_values("date")).to_numpy(),
                        days.to_numpy()) for _, days in by_day[r.name].groupby(level="period")]
              for r in results}
    daily_png, measure = daily_figure(cardless, k)
    daily_card_precision(series, measure, run_dir.file(daily_png),
                         note=f"mean over {len(seeds)} seeds" if len(seeds) > 1 else "")
    figures = ["pr_curve.png", "roc_curve.png", "score_distributions.png", daily_png]
    if primary.history:
        plots.loss_curves(primary.history, run_dir.file("training_loss.png"),
                          keys={"loss": "training loss"},
                          ylabel=_loss_text(primary.config) if primary.config else "loss",
                          title=f"{primary.name}: training loss per epoch, "
                                f"{len(primary.scores)} test periods x {len(seeds)} seed(s)")
        figures.append("training_loss.png")
    return figures


def _rule_note(results: list[ModelResult]) -> str:
    """" The rule ranks by amount." when the rule is among the results, else ""."""
    return " The rule ranks by amount." if any(r.name == "rule" for r in results) else ""


def _presets_note(results: list[ModelResult]) -> str:
    """Which models this run's settings trained, and which fixed presets."""
    if not any(r.config for r in results[1:]):
        return ""
    first = results[0].name
    text = (f" Only {first} trains with this run's settings; the other models train with "
            "fixed presets chosen on the handbook's validation weeks "
            "(fjax/tasks/fraud/presets.py), so tuning the first does not move them")
    if first == "autoencoder" and any(r.name == "combined" for r in results):
        text += ", except combined, whose anomaly feature comes from this run's autoencoder"
    return text + "."


def _features_section(encodings: list[dict], kept: list[str]) -> list[str]:
    """How each of data.features entered the models, per period: its encoding, and for
    a one-hot column its levels and the test rows whose level training never held."""
    if not encodings:
        return []
    per_period = lambda values: " / ".join(str(v) for v in values)  # noqa: E731
    rows = [{"column": e["column"],
             "encoding": (f"number, {e['scaler']} scaler{_skew_note(e.get('training_skew'))}"
                          if e["encoding"] == "numeric"
                          else f"one-hot, {per_period(e['levels'])} levels"),
             "test rows of an unseen level": ("-" if e["encoding"] == "numeric"
                                              else per_period(e["unseen_test_rows"])),
             "AUC alone (training weeks)": _auc_alone(e.get("auc_alone"))}
            for e in encodings]
    leaks = [e["column"] for e in encodings if (e.get("auc_alone") or 0) >= LEAK_AUC]
    flags = f"the handbook's {', '.join(kept)} and " if kept else ""
    return ["## Features", "",
            (f"The models read {flags}these columns of the file (its amount and numeric "
             "ones, or its amount and data.features), each encoded with statistics of the "
             if len(kept) < len(feature_names()) else f"The models read the handbook's "
             f"{len(kept)} features and these columns of the file (data.features), each "
             "encoded with statistics of the ") +
            "period's training week only (values per period: 0 / 1 / ...):", "",
            markdown_table(pd.DataFrame(rows)), "",
            "Numbers are scaled as the handbook's features are; categories are one-hot over "
            "the levels of the training week, unscaled. A level first seen after the "
            "training week enters as the training week's mix of levels (each level's share "
            "of its transactions). AUC alone: the column's own ROC-AUC on the training "
            "weeks' rows (either direction; a category by its level's fraud share in the "
            "other folds of those rows, so that many rare levels do not read as signal, "
            "frauds and legitimate rows compared within a fold).",
            "",
            *([f"**Likely label leak: {', '.join(leaks)}** alone separate(s) the training "
               f"frauds almost perfectly (AUC >= {LEAK_AUC}). A value known only after the "
               "transaction (chargeback or dispute date, fraud case) makes every test "
               "figure below unreachable in production; drop it from data.features unless "
               "it is known when the card is charged.", ""] if leaks else [])]


def _skew_note(skew: float | None) -> str:
    """", skewness 35: log it" for a column past `SKEW_LIMIT` (prepare warns of it)."""
    if skew is None or abs(skew) <= SKEW_LIMIT:
        return ""
    return f", skewness {skew:.0f}: write its log1p to the file"


def _auc_alone(auc: float | None) -> str:
    if auc is None:
        return "n/a"
    return f"{auc:.3f}" + (" (leak?)" if auc >= LEAK_AUC else "")


def _bold_note(text: str) -> list[str]:
    return [f"**{text}**", ""] if text else []


def _resumed_note(results: list[ModelResult]) -> list[str]:
    """Which models resumed from a checkpoint (--resume): their times are this session's."""
    resumed = [f"{r.name} from {where}" for r in results
               if (where := resumed_from(r.timing.get("resumed_epochs", {})))]
    if not resumed:
        return []
    return [f"Resumed (--resume): {', '.join(resumed)}; the times above are this "
            "session's and leave out the restored epochs.", ""]


def _cardless_note(data_summary: dict) -> list[str]:
    """What a file without card and terminal ids leaves out, and how its figures read."""
    if not data_summary.get("cardless"):
        return []
    elapsed = (" Its times are seconds elapsed, not dates: day 0 (the first day of the "
               "tables' dates) is shown as 1970-01-01, and days run 86,400 seconds from "
               "there." if data_summary.get("times_elapsed_seconds") else "")
    return ["**No card or terminal ids**: each transaction counts as its own card, so the "
            "handbook's card precision@k (CP@k) is the precision of each day's k "
            "highest-scored transactions, named daily precision@k here, recall@k is the "
            "share of the day's frauds among them, and alerts.csv lists transaction ids. "
            "Left out, as they need cards and terminals: the handbook's 12 card and "
            "terminal history features (spending per card, fraud risk per terminal), the "
            "removal of cards with a known fraud from later test days (no card recurs), "
            "the sequence models (gru, lstm), and `fjax score fraud` of the run's model "
            "(its file holds no card histories to check)."
            + (" Left out too: the night and weekend flags (a file of seconds elapsed has no "
               "clock; give them as columns where yours has one). The models read the amount "
               "and the file's own columns." if elapsed else " The models read the amount, "
               "the night and weekend flags and the file's own columns.")
            + elapsed, ""]


def _cp_legend(k: int, cardless: bool) -> str:
    """What CP@k is: a file without card ids has one card per transaction, and no card
    recurs to be removed from later days."""
    if cardless:
        return (f"daily precision@{k}: the precision of each day's {k} highest-scored "
                "transactions (the handbook's card precision with each transaction its own "
                "card; nothing is removed from later days), averaged over days: not the "
                f"precision of a period's {k} highest-scored transactions.")
    return (f"CP@{k}: card precision@{k}, the share of compromised cards among the {k} "
            "riskiest cards of each day (detected cards removed from later days), averaged "
            "over days.")


def _recall_legend(k: int, cardless: bool, cost_alert: float, cost_missed: float) -> str:
    """What card recall@k and the cost count: a file without card ids has one card per
    transaction, so its compromised card-days are its frauds."""
    if cardless:
        return (f"Recall@{k}: alerted frauds / frauds (of each day's {k} highest-scored). "
                f"Cost: {cost_alert:g} per alert + {cost_missed:g} per fraud not alerted")
    return (f"Card recall@{k}: found / compromised card-days. Cost: {cost_alert:g} per "
            f"alert + {cost_missed:g} per compromised card-day not alerted")


def _periods_legend(k: int, cardless: bool, cost_missed: float) -> str:
    """The Periods table's legend: a file without card ids has one card per transaction,
    so its compromised card-days are its frauds and no card recurs to be removed."""
    if cardless:
        removed, cp, hits, hit, missed = "", "precision", "frauds", "fraud", "frauds"
        per_day, rates = "frauds", "training and test days."
    else:
        removed = ("removed_known_cards_tx: test transactions of cards with a fraud known "
                   "by that day (reported, not scored). ")
        cp, hits, hit = "card precision", "compromised cards", "compromised card"
        missed, per_day = "compromised card-days", "card-days with a fraud"
        rates = "training week and of the whole test week (removed cards included)."
    oracle, daily = f"oracle_cp@{k}", "compromised_cards_per_day"
    if cardless:   # as the Periods table names them
        oracle, daily = cardless_name(oracle), cardless_name(daily)
    return (f"{removed}{oracle} and oracle_cost: the {cp}@{k} and cost of a perfect "
            f"ranking (each day's {hits} first), the best a model can reach with {k} alerts "
            f"a day where it alerts every {hit} (oracle_missed, the {missed} it leaves "
            f"unalerted, is 0). cost_no_alerts: the cost of raising none ({cost_missed:g} "
            f"per {missed.removesuffix('s')}): a model saves cost_no_alerts - its cost. "
            f"{daily}: {per_day} over test days. train_fraud_rate and "
            f"test_fraud_rate: the fraud rates of the {rates}")


def _dates_note(data_summary: dict) -> list[str]:
    if not data_summary.get("dates_only"):
        return []
    return ["Dates only: every timestamp is 00:00:00, so TX_DURING_NIGHT is 1 for every "
            "transaction and carries nothing, and within a day the file's order stands for "
            "the order in time (the card windows count the day's earlier rows).", ""]


def _utc_note(data_summary: dict) -> list[str]:
    """Times read as UTC, or on data.timezone: which clock days, night and weekend read."""
    if zone := data_summary.get("timezone"):
        return [f"Times are on the {zone} clock (data.timezone, daylight saving included): "
                "days (the training and test weeks, each day's alerts, the dates in "
                "scores.csv.gz), TX_DURING_NIGHT (00:00-06:59) and TX_DURING_WEEKEND read "
                "it; order and the windows follow the instant.", ""]
    if not data_summary.get("times_utc"):
        return []
    if data_summary.get("feature_clock") == "written offsets":
        return ["Times carry several UTC offsets: they are ordered, and days and windows run, "
                "in UTC (days from midnight UTC), while TX_DURING_NIGHT (00:00-06:59) and "
                "TX_DURING_WEEKEND read each time's local clock, by the offset written with "
                "it. Days stay one clock for every card, so each day's alerts and the weeks' "
                "boundaries are one instant; --data.timezone ZONE puts all on ZONE.", ""]
    return ["Times are UTC (the file gives unix times, which carry no offset): days run "
            "from midnight UTC, and TX_DURING_NIGHT (00:00-06:59) and TX_DURING_WEEKEND "
            "read UTC clocks, not the cardholder's local night and weekend. Pass "
            "--data.timezone (e.g. America/New_York) to model local ones.", ""]


def _unused_note(data_summary: dict) -> list[str]:
    unused = data_summary.get("unused_columns")
    if not unused:
        return []
    chosen = " and the columns of data.features" if data_summary.get("feature_columns") else ""
    return [f"Not used: the file's column(s) {', '.join(unused)}. The models read only the "
            f"15 features built from the six role columns{chosen}; name a column in "
            "data.features (--data.features) to model it.", ""]


def report_title(data) -> str:
    """report.md's title: the transactions scored (the file, or the simulation and its
    seed), as forecast's names its series; the run's name is its folder's already."""
    return "Fraud detection: " + (repr(data.path) if data.path else "simulated transactions "
                                  f"(handbook generator, seed {data.simulation_seed})")


def _markdown(config, data_summary, periods_df, summary_df, members, paired, results,
              timings, figures, encodings, kept, validation_df, thresholds, summaries,
              immature) -> str:
    k = config.data.top_k
    cardless = bool(data_summary.get("cardless"))
    hb = handbook.DATA
    simulated = config.data.path is None   # the handbook's figures are for its simulation
    source = config.data.path or (f"simulated (handbook generator, seed "
                                  f"{config.data.simulation_seed})")
    lines = [f"# {report_title(config.data)}", "",
             f"Data: {source}. Protocol: {len(periods_df)} prequential period(s) of "
             f"{config.data.train_days} training, {config.data.delay_days} delay and "
             f"{config.data.test_days} test days; "
             + ("" if cardless else
                "cards with a known fraud are removed from later test days; ")
             + "scalers are fitted on each training week. Each period is one "
             f"population member; seeds: {config.sweep.seeds}.", "",
             "## Data", "",
             markdown_table(pd.DataFrame([
                 {"": "this run", "transactions": data_summary["transactions"],
                  "frauds": data_summary["frauds"],
                  "fraud rate": f"{100 * data_summary['fraud_rate']:.2f}%",
                  "by scenario (1/2/3)": "/".join(
                      str(v) for v in data_summary.get("frauds_by_scenario", {}).values()) or "-"},
                 *([{"": "handbook (ch. 3.2)", "transactions": hb["transactions"],
                     "frauds": hb["frauds"], "fraud rate": f"{100 * hb['fraud_rate']:.2f}%",
                     "by scenario (1/2/3)": "/".join(
                         str(v) for v in hb["frauds_by_scenario"].values())}]
                   if simulated else []),
             ])), "", *_cardless_note(data_summary), *_dates_note(data_summary),
             *_utc_note(data_summary),
             *_unused_note(data_summary),
             *_features_section(encodings, kept),
             "## Periods", "",
             markdown_table(cardless_names(periods_df) if cardless else periods_df), "",
             _periods_legend(k, cardless, config.data.cost_missed),
             "",
             *_bold_note(immature),
             *_bold_note(alert_budget_note(periods_df, k, config.data.cost_alert, cardless)),
             *_bold_note(oracle_note(periods_df, k, config.data.test_days > 1
                                     and not cardless)),
             "## Results (test periods; mean ± std over periods and seeds)", "",
             markdown_table(results_table(summary_df, k, members, periods_df, simulated,
                                          {r.name: r.config for r in results}, cardless)),
             "",
             _cp_legend(k, cardless)
             + " Recall@FPR 1%: the share of fraudulent transactions scored above "
             "a threshold that flags at most 1% of the legitimate ones (the largest such "
             "share, read off the ROC curve's points without interpolation; 0.1% likewise), "
             "the recall of an alert volume set by its false-positive rate. "
             + _recall_legend(k, cardless, config.data.cost_alert,
                              config.data.cost_missed)
             + ", summed over a period's test days and "
             f"averaged over periods (without alerts: {periods_df['cost_no_alerts'].mean():.0f};"
             f" a perfect ranking: {periods_df['oracle_cost'].mean():.0f}). "
             "± is the sample standard deviation over periods and "
             "seeds, not the uncertainty of a difference between models (see Paired "
             "comparison)." + _rule_note(results) + _presets_note(results), "",
             *_bold_note(" ".join(f"{r.name}: {r.blown_up}" for r in results if r.blown_up)),
             *[line for r in results for line in optimum_note(r)],
             fpr_volume_note(periods_df, config.data.test_days, thresholds), ""]
    lines += paired_note(paired, results[0].name, k, cardless)
    lines += autoencoder_note(paired, results[0].name, next(
        (r.name for r in results if r.config and r.config["model"]["kind"] == "autoencoder"),
        None), [r.name for r in results if r.logits])
    lines += threshold_note(thresholds, summaries, k, config.data.delay_days, cardless)
    if simulated:
        lines += [
            "The handbook's figures are for its own simulation run and the protocol "
            "in the last column: a one-split figure is one period, so set it beside fjax's "
            "figure on that same split where the column gives one, not beside the mean over "
            "periods; a difference from the handbook within the ± (period-to-period) spread "
            "is noise (this run's models, which share their test periods, compare in the "
            "Paired comparison table).", "",
            "## The handbook's published figures", "",
            markdown_table(pd.DataFrame([{"model": f.model, "protocol": f.protocol.text,
                                          "AUC": f.auc, "AP": f.average_precision,
                                          "CP@100": f.card_precision}
                                         for f in handbook.FIGURES]), floatfmt="{:.3f}"), ""]
    chosen = [r for r in results if r.chosen and r.chosen.get("hyperparameters")]
    if chosen:
        c = chosen[0].chosen
        values = _values(c["hyperparameters"])
        optim = chosen[0].config["optim"]
        span = optim.get("schedule_epochs")   # the searched run's (OptimConfig.spanning)
        span = f", on the searched {span}-epoch {optim['schedule']} schedule" if span else ""
        lines += ["## Selection on the validation periods", "",
                  f"{chosen[0].name}: best mean {c['metric']} = {c['value']:.4f} with "
                  f"{values}; trained on the test periods for {c['epochs']} epochs, the "
                  f"median (rounded half up) of its members' best epochs "
                  f"{c.get('best_epochs', '')}{span} (validation.csv lists every member). "
                  + scored_text(c["metric"]), "",
                  *labels_note(chosen[0].config["model"]["kind"], c["metric"]),
                  *spread_note(c), *diverged_note(c), *_bold_note(" ".join(c.get("blown_up", []))),
                  *(validation_note(validation_df) if validation_df is not None else [])]
    lines += ["## Timings", "", markdown_table(pd.DataFrame(
        [{"step": key, "seconds": value} for key, value in timings.items()]), "{:.2f}"), "",
        *_resumed_note(results), "## Figures", "",
        *figure_lines(figures, figure_captions(k, results[0].name, cardless))]
    raw = "logit" if results[0].logits else "score"
    lines += ["## Files", "",
              "- `config.json` (this run's full config), `environment.json` (the machine "
              "and versions), `metrics.json` (every number above), `grid.json` (a sweep: the "
              "swept values of each field).",
              "- `members.csv`: every member's metrics; `periods.csv`: the periods table; "
              "`validation.csv` (a sweep): every validation member's metrics, whose means "
              "chose the settings.",
              f"- `scores.csv.gz`: the {results[0].name} model's score of every test "
              f"transaction, per seed (AUC and AP recompute exactly from its {raw} column); "
              + (f"`alerts.csv`: its daily top-{k} transactions (transaction_id, score, "
                 "fraud); `daily.csv`: every model's alerted transactions, frauds among them "
                 "and frauds per day (columns alerted, found, frauds; daily "
                 "precision@k, recall@k and cost recompute from it); " if cardless else
                 f"`alerts.csv`: its daily top-{k} cards; `daily.csv`: every model's alerted, "
                 "found and compromised cards per day (CP@k, card recall and cost recompute "
                 "from it); ")
              + "`thresholds.csv`: every model's alert threshold per seed, period "
              "and target, set in advance and in hindsight, with its realised FPR, "
              "recall, precision and alerts a day.",
              "- `models/<name>/`: each model's `config.json` and training log "
              "(`history.jsonl`); a sweep's validation runs in "
              f"`models/{config.model.kind}/validation/`."]
    return "\n".join(lines) + "\n"
