"""The credit run's plots and report.md (run.py writes its tables and metrics.json)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fjax.data.columns import MISSING
from fjax.intervals import rank_auc
from fjax.metrics import LOG_LOSS_EPS
from fjax.report import plots
from fjax.report.files import RunDir, figure_lines, markdown_table
from fjax.scorecard import MATERIAL_POINTS
from fjax.stability import psi_verdict
from fjax.tasks.credit.age import ELDERLY, TOLERANCE, age_table
from fjax.tasks.credit.bands import Gains
from fjax.tasks.credit.characteristics import IV_USEFUL, LEAK_AUC, SHIFT_CSI
from fjax.tasks.credit.config import CreditDataConfig
from fjax.tasks.credit.fairness import PD_INPUT
from fjax.tasks.credit.final import LINEAR_QUANTILES
from fjax.tasks.credit.oof import OutOfFold
from fjax.tasks.credit.selection import corrected_t


def chosen_history(history: list[dict], members: np.ndarray) -> list[dict]:
    """The per-epoch losses of `members` only: a compiled group also holds the members of
    the grid's other values of its continuous hyperparameters (a learning-rate sweep)."""
    keep = ("loss", "val_loss")
    return [{"epoch": h["epoch"], **{k: np.asarray(h[k])[members] for k in keep if k in h}}
            for h in history]


FIGURES = {
    "roc.png": "ROC of the out-of-fold PDs, one line per fold and the pooled one, each with "
               "its AUC: folds far apart mean the AUC depends on which applicants were held "
               "out.",
    "ks.png": "Cumulative shares of goods and bads by out-of-fold PD: the dashed gap, where "
              "the classes part most, is the reported KS.",
    "calibration.png": "Observed bad rate against mean PD in equal-width bins of the PDs "
                       "before calibration: points below the diagonal are PDs too high, "
                       "above it too low (the sparse top bins move most by chance).",
    "calibration_calibrated.png": "The same for the calibrated PDs the decisions use: they "
                                  "should lie nearer the diagonal.",
    "score_distributions.png": "Out-of-fold scores of goods and bads, each class's area 1: "
                               "the more the two overlap, the less the score separates them.",
    "learning_curve.png": "Training and validation-fold loss of the chosen configuration per "
                          "epoch: a validation loss that turns up while the training loss "
                          "falls is overfitting; a flat one, training longer gains nothing.",
}


def write_plots(run_dir: RunDir, y: np.ndarray, oof: OutOfFold, scores: np.ndarray,
                history: list[dict], members: np.ndarray, calibrated: bool,
                loss: str = "loss") -> list[str]:
    """ROC per fold (each legend entry with its curve's AUC, the pooled one as
    metrics.json's), KS curve, calibration, score distributions and the learning curves
    of the chosen configuration's `members` (their indices in its group's history), whose
    y axis names their `loss` ("bce loss")."""
    p = run_dir.path
    curves = {f"fold {j}": (oof.pd_raw[oof.fold == j], y[oof.fold == j])
              for j in range(int(oof.fold.max()) + 1)}
    curves["all (out of fold)"] = (oof.pd_raw, y)
    curves = {f"{name}: AUC {rank_auc(*c):.4f}": c for name, c in curves.items()}
    plots.roc_curve(curves, p / "roc.png", title="ROC, out-of-fold PD")
    plots.ks_curve(oof.pd_raw, y, p / "ks.png", title="KS: cumulative share by out-of-fold PD\n"
                   "(all folds pooled, before calibration: the reported KS)",
                   xlabel="out-of-fold PD", names=("goods", "bads"))
    plots.reliability(oof.pd_raw, y, p / "calibration.png",
                      title="Calibration, out-of-fold PD", ylabel="observed bad rate")
    names = ["calibration.png"]
    if calibrated:
        plots.reliability(oof.pd, y, p / "calibration_calibrated.png",
                          title="Calibration after cross-fitted calibration",
                          ylabel="observed bad rate")
        names.append("calibration_calibrated.png")
    plots.score_distributions(scores, y, p / "score_distributions.png", names=("good", "bad"),
                              title="Scores, out of fold (higher = safer)",
                              xlabel="score (points of the out-of-fold PD)")
    plots.loss_curves(chosen_history(history, members), p / "learning_curve.png",
                      keys={"loss": "training loss", "val_loss": "validation-fold loss"},
                      ylabel=loss,
                      title=f"Loss per epoch, chosen configuration ({len(members)} members: "
                            "folds x seeds)")
    return ["roc.png", "ks.png", *names, "score_distributions.png", "learning_curve.png"]


def _short(summary: pd.DataFrame) -> pd.DataFrame:
    keep = [c for c in summary.columns if not c.endswith(("_mean", "_std"))
            and c not in ("encoding", "group")]
    return summary[keep + ["auc_mean", "auc_std", "ks_mean", "brier_mean", "log_loss_mean"]]


def deployed_words(d: dict, per_fold: pd.DataFrame | None = None) -> str:
    """Which threshold rule was deployed, and why; with `per_fold` (its `cost`,
    `cost_bayes` and `applicants` columns), by how much it cost less and whether that lead
    is beyond chance at 5% by the corrected resampled t of the two rules' fold-paired
    difference, the test the selection's comparisons use on the same folds (whose
    training rows overlap, so a plain standard error is too small): a lead of 0.001 per
    applicant beside a fold-to-fold spread of 0.04 is no evidence."""
    if d["cost_per_applicant_cv_mean"] == d["cost_bayes_threshold_cv_mean"]:
        return "the Bayes rule (the two rules tied: nothing fitted)"
    words = f"the {'Bayes' if d['threshold_rule'] == 'bayes' else 'fitted'} rule, which cost less"
    if (per_fold is None or len(per_fold) < 2
            or not {"cost", "cost_bayes", "applicants"} <= set(per_fold)):
        return words
    diff = (per_fold["cost"] - per_fold["cost_bayes"]).to_numpy(np.float64)
    n_val = float(per_fold["applicants"].mean())      # the folds partition the applicants
    test = corrected_t(diff, float(per_fold["applicants"].sum()) - n_val, n_val)
    return (f"{words}, by {abs(diff.mean()):.4f} per applicant ("
            + ("beyond" if test["p_value"] < 0.05 else "within") + " chance at 5%: "
            f"p = {test['p_value']:.3g} by the corrected resampled t of the rules' "
            f"fold-paired difference, std {np.std(diff, ddof=1):.4f} over {len(diff)} folds)")


def per_fold_text(metrics: dict, per_fold: pd.DataFrame) -> str:
    """What the per-fold table holds: whose metrics, and with calibration how it did."""
    seeds = metrics["cv"]["seeds"]
    text = ("Per fold (validation rows only, `applicants` and `bads` of them; the "
            "models' own PDs"
            + (f", each metric the mean of the {seeds} seeds' own" if seeds > 1 else "")
            + "; ece: expected calibration error over 10 PD bins; psi: stability of the "
            "validation scores against the training ones):")
    if "cal_brier" in per_fold:
        raw, cal = per_fold["oof_brier"].mean(), per_fold["cal_brier"].mean()
        raw_ll, cal_ll = per_fold["oof_log_loss"].mean(), per_fold["cal_log_loss"].mean()
        verdict = {(True, True): "helped", (False, False): "did not help",
                   (True, False): "helped the Brier score only",
                   (False, True): "helped the log-loss only"}[(cal < raw, cal_ll < raw_ll)]
        text += (f" `cal_brier`, `cal_log_loss` and `cal_ece` are of the cross-fitted "
                 f"calibrated PDs (`pd_oof` in scores.csv), `oof_brier` and `oof_log_loss` "
                 f"of the PDs they calibrate (`pd_oof_raw`): mean Brier {cal:.4f} against "
                 f"{raw:.4f} uncalibrated, log-loss {cal_ll:.4f} against {raw_ll:.4f}, so "
                 f"calibration {verdict} here.")
        clipped = metrics["decision"]["cal_log_loss_clipped"]
        if clipped:
            were = "PD was" if clipped == 1 else "PDs were"
            text += (f" {clipped} calibrated {were} clipped to [{LOG_LOSS_EPS:g}, 1 - "
                     f"{LOG_LOSS_EPS:g}] for the log-loss (as every fjax log-loss), so it "
                     "is finite.")
    return text


def data_line(metrics: dict) -> str:
    """Rows read, bads and goods, rows held out and scored only, and each fold's size:
    the sample behind every figure below."""
    d, folds = metrics["data"], metrics["cv"]["per_fold"]
    oot = d["out_of_time"]
    line = f"Data: {d['rows']} labelled rows read ({d['bads']} bad, {d['goods']} good)"
    if oot["rows"]:
        line += (f"; the latest {oot['rows']} ({oot['bads']} bad) held out as the "
                 "out-of-time test")
    line += (f"; none dropped (a missing label is refused). {len(folds)}-fold "
             f"cross-validation on {d['rows'] - oot['rows']}: validation folds of "
             + ", ".join(str(f["applicants"]) for f in folds) + " applicants ("
             + ", ".join(str(f["bads"]) for f in folds) + " bads); the final model refits "
             "on all of them.")
    if d["new_applicants"]:
        s = metrics["stability"]
        line += (f" Scored only (never fitted on): {d['new_applicants']} new applicants "
                 "(`new_scores.csv`); PSI of their scores against the training applicants' "
                 f"{s['psi_new_applicants']:.3f} ("
                 + psi_verdict(s["psi_new_applicants"], s["psi_new_applicants_chance_95"])
                 + ").")
    return line


EXTRAPOLATION = {   # what a standardised input beyond the training range does, per model kind
    "logistic": "a logistic scorecard's points keep growing linearly with the value",
    "mlp": "an MLP's PD there follows its hidden units beyond the data, where no applicant "
           "it was fitted on checks it: it may level off, keep growing or turn"}


def encoding_words(encoding: str, kind: str) -> str:
    """How a model of `kind` scores a number beyond its training range under `encoding`."""
    if encoding == "woe":
        return ("WOE bins: each is scored in its end bin (the lowest or highest training "
                "bin's WOE), however far beyond it lies")
    return ("standardised inputs: the model extrapolates there, beyond every applicant it "
            f"was fitted on ({EXTRAPOLATION[kind]})")


def range_lines(found: dict | None) -> list[str]:
    """report.md's line on the numbers beyond the training range (`beyond_range`, whose
    entries name the encoding and model kind that score them; none without any)."""
    if found is None:
        return ["- Numbers beyond the training range: not checked; the model file, saved by "
                "an older fjax, records no training range (rerun the run to record it)."]
    if not found:
        return []
    columns = ", ".join(
        f"{c} {f['rows']} row(s) (most extreme {f['most_extreme']:.6g}; trained on "
        f"{f['training_min']:.6g} to {f['training_max']:.6g})" for c, f in found.items())
    means = "; ".join(encoding_words(*e) for e in dict.fromkeys(
        (f["encoding"], f["model_kind"]) for f in found.values()))
    return [f"- Numbers beyond the range the model was fitted on: {columns}; {means}. "
            "Check them for errors (units, a sign) before trusting their scores."]


def implausible_age_lines(found: dict | None) -> list[str]:
    """report.md's line on the ages outside the plausible range (`check_ages`; none
    without any)."""
    if not found or not found["rows"]:
        return []
    low, high = found["plausible"]
    rows = ", ".join(str(r) for r in found["first_rows"])
    return [f"- Ages implausible for a credit applicant (below {low} or above {high}): "
            f"{found['column']} {found['rows']} row(s) ({found['below']} below, "
            f"{found['above']} above; {found['min']:.6g} to {found['max']:.6g}; first at "
            f"row(s) {rows}); scored as given. Check them for errors (months for years, a "
            "typo, a code for 'unknown') before trusting their scores."]


def unseen_lines(unseen: dict[str, int]) -> list[str]:
    """report.md's line on the values the run never saw (per column, the rows holding one)."""
    counts = ", ".join(f"{c} {k} row(s)" for c, k in unseen.items()) if unseen else "none"
    return ["- Values the run never saw (scored as the training applicants' mix, 0 points "
            f"against the reference): {counts}."]


def labelled_lines(m: dict | None, csv: str, gains: Gains | None = None) -> list[str]:
    """report.md's line on the model measured on a scored file's own labels (none without:
    `labelled_facts`), its PDs by band `gains` in the CSV `csv`."""
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
        "the deployed PDs, as the run's out-of-time test measures them.",
        *labelled_bands_lines(csv, gains)]


def labelled_bands_lines(csv: str, gains: Gains | None) -> list[str]:
    """report.md's line on the labelled applicants' PDs by band (`gains`, the CSV `csv`):
    the gains table's verdict, `band_verdict`."""
    if gains is None:
        return []
    return [f"- By PD band ({csv}: the labelled applicants' deployed PDs in bands cut at "
            "their deciles, riskiest first, as the run's gains.csv). "
            + band_verdict(gains)]


def new_applicant_lines(metrics: dict, gains: Gains | None = None) -> list[str]:
    """The run's lines on `--data.score-path`'s values never seen, numbers beyond the
    training range and, where it holds the run's labels, the model measured on them
    (their PDs by band `gains`, new_gains.csv), worded as `fjax score credit`'s (none
    without a score path)."""
    stability = metrics["stability"]
    if "new_applicants_unseen_values" not in stability:
        return []
    return [*unseen_lines(stability["new_applicants_unseen_values"]),
            *range_lines(stability["new_applicants_out_of_range"]),
            *labelled_lines(metrics.get("new_applicants_labelled"), "new_gains.csv", gains),
            *implausible_age_lines(stability.get("new_applicants_implausible_ages")), ""]


def _confusion_words(c: dict) -> str:
    return (f"{c['tp']} bad applicants rejected, {c['fn']} accepted; {c['tn']} good "
            f"accepted, {c['fp']} rejected")


def interval_text(bounds: list[float] | None) -> str:
    return "n/a" if bounds is None else f"{bounds[0]:.3f} to {bounds[1]:.3f}"


def ranked_text(p: dict, delong: str = "") -> str:
    """An AUC with its DeLong interval (`delong` said after the name), and the Gini
    (2 AUC - 1) with the same interval mapped, which a validator quotes more often; KS."""
    gini_95 = None if p["auc_95"] is None else [2 * a - 1 for a in p["auc_95"]]
    return (f"ROC-AUC {p['auc']:.4f}, 95% interval {interval_text(p['auc_95'])} "
            f"(DeLong{delong}); Gini {p['gini']:.4f}, 95% interval {interval_text(gini_95)}; "
            f"KS {p['ks']:.4f}")


def pooled_auc_line(metrics: dict) -> str:
    """The pooled out-of-fold AUC, Gini and KS (`ranked_text`) with their sampling error."""
    return ("Pooled out of fold (every applicant's PD from the members that never saw it): "
            + ranked_text(metrics["cv"]["pooled_out_of_fold"],
                          ": the sampling error of an AUC on this many good and bad "
                          "applicants; the +/- above is the spread of single folds") + ".")


def recalibration_advice(calibration: str) -> str:
    """What to try when the deployed PDs' calibration is rejected: the calibrations not
    already applied (a rejected isotonic run is not told to use isotonic), or a refit."""
    others = [c for c in ("platt", "isotonic") if c != calibration]
    if calibration == "none":
        return "until recalibrated (`--scorecard.calibration platt` or `isotonic`) or refitted"
    return (f"even after the cross-fitted {calibration} calibration, until recalibrated "
            f"otherwise (`--scorecard.calibration {others[0]}`) or refitted")


def bands_lines(gains: Gains, calibration: str = "none") -> list[str]:
    """The gains table: rank ordering and calibration of the out-of-fold PDs by band
    (`gains`; `calibration`: the scorecard.calibration the deployed PDs went through)."""
    fit = ("rejected at 5%: the PDs are not the bad rates they predict (see the bands with a "
           "small `binomial_p`), so use them to rank, not as probabilities, "
           + recalibration_advice(calibration))
    return ["## Rank ordering and calibration by PD band (gains.csv)", "",
            "Out-of-fold PDs as deployed (`pd_oof`) in bands cut at their deciles, riskiest "
            "first. `bad_capture`: share of all bads in this band and the riskier ones; "
            "`binomial_p`: two-sided test of the band's bads at its mean PD.", "",
            markdown_table(gains.table), "", band_verdict(gains, fit), ""]


def recalibration_line(cv: dict) -> str:
    """The out-of-fold PDs' calibration slope and calibration-in-the-large, and what they mean."""
    slope, citl = cv["calibration_slope"], cv["calibration_in_the_large"]
    said = (f"slope {'no finite fit' if slope is None else format(slope, '.3f')}, "
            f"calibration-in-the-large {'no finite fit' if citl is None else format(citl, '+.3f')}")
    return (f"Logistic recalibration of the same PDs ({said}): the slope is b in "
            "logit P(bad) = a + b logit(PD), ideal 1, under 1 PDs too extreme, over 1 too "
            "timid; calibration-in-the-large is a with b fixed at 1, ideal 0, above 0 PDs "
            "too low on average, below 0 too high (Steyerberg).")


def band_verdict(gains: Gains, rejected: str = "rejected at 5%") -> str:
    """A gains table's verdict: its rank ordering (`order_text`), Hosmer-Lemeshow
    (`hl_text`, `rejected` its words for a p under 5%) and the bands' binomial tests."""
    hl = gains.hosmer_lemeshow
    return (f"Rank ordering: {order_text(hl)}. Hosmer-Lemeshow: {hl_text(hl, rejected)}. "
            f"{band_tests_text(gains.table)}")


def hl_text(hl: dict, rejected: str = "rejected at 5%") -> str:
    """The Hosmer-Lemeshow statistic and its verdict (`rejected`: the words for a p under
    5%), or, where the sample is too small for its p-value (`too_few`), why none is read."""
    if hl["p_value"] is None:
        return (f"no p-value and no verdict on calibration, too few applicants: "
                f"{hl['too_few']}")
    return (f"{hl['statistic']:.2f} on {hl['dof']} degrees of freedom{pooled_text(hl)}, "
            f"p = {hl['p_value']:.3g}: calibration is "
            + (rejected if hl["p_value"] < 0.05 else "not rejected at 5%"))


def pooled_text(hl: dict) -> str:
    """Which bands Hosmer-Lemeshow pooled (`hosmer_lemeshow`'s `pooled`), '' where none."""
    if "pooled" not in hl:
        return ""
    runs = [f"{g[0]}-{g[-1]}" for g in hl["pooled"] if len(g) > 1]
    return (f" (the {hl['pooled'][-1][-1]} bands pooled into {hl['dof']}: bands "
            + ", ".join(runs) + (" each" if len(runs) > 1 else "") + " as one, adjacent in "
            "PD order, so that the expected bads and goods meet Cochran's rule)")


def order_text(hl: dict) -> str:
    """Whether the bad rate rises from a safer band to a riskier one (`hosmer_lemeshow`'s
    inversions)."""
    return ("the bad rate never rises from a riskier band to a safer one"   # ties allowed
            if hl["inversions"] == 0 else
            f"{hl['inversions']} inversion(s): a safer band with a higher bad rate")


def band_tests_text(bands: pd.DataFrame) -> str:
    """How many bands' binomial tests fall under 5%, against the number expected by
    chance alone: with B bands of exact PDs about 0.05 B do, so one small p among ten is
    weak evidence (Bonferroni's level: 0.05 / B); Hosmer-Lemeshow tests them together."""
    b, tested = len(bands), int(bands["binomial_p"].notna().sum())
    small = int((bands["binomial_p"] < 0.05).sum())
    if not tested:
        return ("No band's binomial test is read: each band holds too few applicants for "
                "its test to fall under 5% whatever its bads (`binomial_p` left blank).")
    which = (f"the {b} bands" if tested == b else
             f"the {tested} bands large enough to fall under 5% ({b - tested} of the {b} "
             "hold too few applicants for that, whatever their bads: `binomial_p` left "
             "blank)")
    return (f"Binomial tests under 5%: {small} of {which}, where {0.05 * tested:.2g} "
            "would be by chance alone with exact PDs (each band tested on its "
            f"own; Bonferroni's level for {tested} tests is {0.05 / tested:.3g}).")


def selection_lines(sel: dict | None, seeds: int) -> list[str]:
    """Whether the chosen configuration beats the runner-up (and the best logistic
    scorecard) by more than chance, and how far its mean AUC moves with the seed."""
    lines = []
    if sel and sel["comparisons"]:
        k = sel["comparisons"][0]["folds"]
        roles = {"runner_up": "the runner-up", "best_logistic": "the best logistic"}
        each = [f"chosen minus {roles[c['against']]} (`{c['description']}`): "
                f"{c['difference']:+.4f}, 95% interval {c['ci_95'][0]:+.4f} to "
                f"{c['ci_95'][1]:+.4f}, p = {c['p_value']:.3g} ("
                + ("beyond" if c["p_value"] < 0.05 else "within") + " chance at 5%)"
                for c in sel["comparisons"]]
        lines.append(f"Validation AUC, paired on the same {k} folds"
                     + (f" (the {seeds} seeds averaged within each fold)" if seeds > 1 else "")
                     + ", with Nadeau and Bengio's corrected resampled t (variance times "
                     f"1/k + n_val/n_train, {k - 1} df): " + "; ".join(each) + ".")
    if sel and sel["seed_spread"]:
        s = sel["seed_spread"]
        lines.append(f"Seed sensitivity: the chosen configuration's mean CV AUC over its "
                     f"{s['seeds']} seeds runs {s['min']:.4f} to {s['max']:.4f} "
                     f"(std {s['std']:.4f}).")
    return [line for text in lines for line in (text, "")]


def _fmt(mean: float, std: float) -> str:
    return f"{mean:.4f} +/- {std:.4f}"


def out_of_time_lines(oot: dict | None, gains: Gains | None = None) -> list[str]:
    """The held-out later applicants beside the earlier ones' out-of-fold figures, and
    `gains`, their PDs by band (out_of_time_gains.csv) with its Hosmer-Lemeshow test."""
    if oot is None:
        return []
    early, late = oot["earlier_out_of_fold"], oot["later"]
    fitted = oot["threshold_rule"] == "fitted"
    cost = ("cost at t (earlier: each fold's t fitted on the other folds)" if fitted
            else "cost at t")

    def row(name: str, f: dict) -> dict:
        return {"applicants": name, "dates": " to ".join(f["dates"]), "n": f["applicants"],
                "bad rate": f["bad_rate"], "mean PD": f["mean_pd"], "AUC": f["auc"],
                "AUC 95% CI": interval_text(f["auc_95"]),
                "KS": f["ks"], "Brier": f["brier"], cost: f["cost_per_applicant"],
                "accept-all cost": f["cost_accept_all"]}

    seen = oot["later_seen_earlier"]
    lines = ["## Out-of-time test", "",
             f"The latest applicants by `{oot['date_column']}` ({oot['share']:.0%}, whole "
             "days) were held out: column roles, cross-validation, calibration, the "
             "threshold and the final model saw only the earlier ones. The final model "
             f"scores the later ones once, at t = {oot['threshold']:.4f} "
             "(out_of_time_scores.csv); the earlier row is its out-of-fold estimate. AUC "
             "and KS rank the model's own PDs, as the cross-validation above does; mean "
             "PD, Brier and cost are of the deployed PDs, "
             + ("the earlier row's cost (and its confusion counts in metrics.json) "
                "cross-fitted: each fold at the t fitted on the other folds, as the decision "
                "above scores the rule, not at the t shown, which was fitted on those PDs "
                "and would flatter them. " if fitted else
                "both rows' cost at the Bayes t shown, which nothing was fitted to. ")
             + "The AUC's 95% interval is DeLong's: the sampling error of these applicants "
             "(few bads: wide)."
             + (f" {seen} later applicant(s) also have earlier rows (the same id): the "
                "model trained on their earlier loans." if seen else ""), "",
             markdown_table(pd.DataFrame([row("earlier (out of fold)", early),
                                          row("later (out of time)", late)])), "",
             f"PSI of the later applicants' scores against the earlier ones': "
             f"{oot['psi']:.3f} ({psi_verdict(oot['psi'], oot['psi_chance_95'])}). "
             f"Later: {_confusion_words(late['confusion'])}."]
    if late["auc"] is None:
        lines.append("AUC and KS need both classes; the later applicants hold one only.")
    if oot["unseen_values"]:
        counts = ", ".join(f"{c} {k}" for c, k in oot["unseen_values"].items())
        lines.append(f"Values the earlier applicants never held (a category, or a missing "
                     f"value where they had none), among the later ones (applicants per "
                     f"column): {counts}. The model has learned nothing about them: they "
                     "score as the earlier applicants' mix (0 points against the reference "
                     "applicant, under WOE too).")
    if gains is not None:
        lines += ["", "The later applicants' deployed PDs in bands cut at their deciles, "
                  "riskiest first (out_of_time_gains.csv, columns as gains.csv's): the "
                  "calibration and rank ordering the cross-validation's gains table "
                  "estimates, on applicants no fit saw.", "", markdown_table(gains.table), "",
                  band_verdict(gains)]
    return lines + [""]


def fair_lending_table(groupings: dict[str, list[dict]]) -> str:
    """One row per group of every protected grouping."""
    return markdown_table(pd.DataFrame([
        {"characteristic": name, "group": r["group"], "n": r["applicants"], "bads": r["bads"],
         "approval rate": r["approval_rate"], "AIR": r["adverse_impact_ratio"],
         "AIR < 0.8": "yes" if r["below_four_fifths"] else "",
         "AUC": r["auc"], "AUC 95% CI": interval_text(r["auc_95"]),
         "mean PD": r["mean_pd"], "bad rate": r["bad_rate"]}
        for name, rows in groupings.items() for r in rows]))


def lowest_air(groupings: dict[str, list[dict]]) -> str:
    """The sentence naming the least approved group relative to the reference."""
    rows = [(r["adverse_impact_ratio"], name, r) for name, rows in groupings.items()
            for r in rows if r["adverse_impact_ratio"] is not None]
    if not rows:
        return "No applicant is approved out of fold, so no AIR is defined. "
    air, name, r = min(rows, key=lambda row: row[0])
    return (f"The lowest AIR is {air:.3f}: {name} = {r['group']} ({r['applicants']} "
            f"applicants) is approved {r['approval_rate']:.1%} of the time, {air:.0%} of the "
            "reference group's rate. ")


def fair_lending_lines(fair: dict | None) -> list[str]:
    """Approval, adverse impact, ranking and calibration per protected group, with what
    the figures can and cannot show."""
    if fair is None:
        return []
    flagged = [f"{name} = {r['group']}" for name, rows in fair["out_of_fold"].items()
               for r in rows if r["below_four_fifths"]]
    blanks = any(r["group"] == MISSING for when in ("out_of_fold", "out_of_time")
                 for rows in fair.get(when, {}).values() for r in rows)
    lines = ["## Fair lending (protected characteristics, never scored)", "",
             f"{', '.join(f'`{c}`' for c in fair['columns'])} (data.protected) are no model "
             "input; they are kept only to compare groups. Out of fold (every applicant's "
             "PD from members that never saw it), an applicant is approved when its PD "
             f"is under t = {fair['threshold']:.4f}. AIR, the adverse impact ratio, is a "
             "group's approval rate over the reference group's, the most approved one"
             + (f" but never `{MISSING}` (a blank is no group to measure fairness against; "
                "its own row is shown)" if blanks else "")
             + "; under 0.8 (the four-fifths rule) it is flagged. AUC is the ranking within "
             "the group (the models' own PDs), mean PD beside bad rate its calibration within "
             "the group.",
             "", fair_lending_table(fair["out_of_fold"]), "",
             lowest_air(fair["out_of_fold"])
             + ("Flagged (AIR < 0.8): " + "; ".join(flagged) + ". " if flagged
                else "No group's AIR is under 0.8. ")
             + "The four-fifths rule is a screen, not a legal test: a low ratio calls for a "
             "look at which characteristics drive it and whether a less discriminatory "
             "alternative predicts as well; a ratio above 0.8 does not show the model fair, "
             "since other inputs can stand in for a protected trait. Groups of a few dozen "
             "applicants (n, bads) give rates and AUCs far from precise (see the AUC's 95% "
             "interval).", ""]
    if "out_of_time" in fair:
        lines += ["Out of time (the later applicants, scored by the final model):", "",
                  fair_lending_table(fair["out_of_time"]), ""]
    return lines + proxy_lines(pd.DataFrame(fair["proxies"]), fair["proxy_auc"])


def proxy_lines(proxies: pd.DataFrame, cut: float) -> list[str]:
    """The proxy screen: how well the PD, and each input alone, tell each protected group
    from the rest; the strong proxies named, and what to do about them."""
    if proxies.empty:   # every protected column has one group: no rest to tell it from
        return ["### Proxy screen", "", "Not run: every protected column has a single "
                "group among the labelled applicants, so no group can be told from the rest "
                "(proxies.csv has no rows).", ""]
    score = proxies[proxies["input"] == PD_INPUT]
    inputs = proxies[proxies["input"] != PD_INPUT]
    strongest = inputs.loc[inputs.groupby("input")["auc"].idxmax()].sort_values(
        "auc", ascending=False)
    flagged = inputs[inputs["proxy"]].sort_values("auc", ascending=False)
    lines = ["### Proxy screen (proxies.csv)", "",
             "A protected trait left out of the model can come back through inputs that "
             "go with it. Each group is screened one against the rest (of two groups, the "
             "smaller), on the labelled applicants. The model PD's AUC for membership "
             "(out of fold; above 0.5: the group's members get higher PDs, with DeLong's "
             f"95% interval) is flagged at >= {cut:g} or <= {1 - cut:g}; an input's AUC "
             "alone is cross-fitted (its WOE bins of membership fitted on the other folds, "
             "so its direction is learned: 0.5 is no signal, below it noise) and flagged "
             f"at >= {cut:g}, Hosmer and Lemeshow's 'acceptable discrimination'.", "",
             markdown_table(pd.DataFrame({
                 "characteristic": score["characteristic"], "group": score["group"],
                 "members": score["members"], "AUC of the PD": score["auc"],
                 "95% CI": [interval_text(None if pd.isna(lo) else [lo, hi])
                            for lo, hi in zip(score["auc_low"], score["auc_high"])],
                 "flagged": np.where(score["proxy"], "yes", "")})), "",
             "Each input's strongest group (every group's AUC in proxies.csv):", "",
             markdown_table(pd.DataFrame({
                 "input": strongest["input"],
                 "group": strongest["characteristic"] + " = " + strongest["group"],
                 "AUC alone": strongest["auc"],
                 "flagged": np.where(strongest["proxy"], "yes", "")})), ""]
    named = "; ".join(f"`{r.input}` for {r.characteristic} = {r.group} (AUC {r.auc:.3f})"
                      for r in flagged.itertuples())
    found = (f"Strong proxies (AUC >= {cut:g}): {named}." if named
             else f"No input alone reaches an AUC of {cut:g} for any group.")
    lines += [found + " A proxy is not removed automatically: whether an input that also "
              "predicts default stays (a business necessity, and no less discriminatory "
              "alternative predicting as well) is a business and legal decision. To score "
              "without it, pass --data.drop <column>, and compare the approval rates and "
              "AIRs above. A screen of single inputs misses proxies that only combinations "
              "of inputs make; the PD's AUC measures what the model as a whole carries.", ""]
    return lines


def leakage_lines(chars: pd.DataFrame) -> list[str]:
    """A warning, first in the report, for each column that alone ranks the defaults
    almost perfectly: every later metric is void if it leaks the label."""
    strong = chars[chars["auc_alone"] >= LEAK_AUC]
    if strong.empty:
        return []
    named = ", ".join(f"`{r.attribute}` ({r.auc_alone:.3f})" for r in strong.itertuples())
    return [f"**Check for leakage.** On its own (cross-fitted, see Characteristics) "
            f"{named} ranks the defaults with a ROC-AUC of {LEAK_AUC} or more. A column "
            "recorded after the outcome (recoveries, collections, days past due, a closed "
            "status) leaks the label and makes every number below meaningless; if so, drop "
            f"it with --data.drop {' '.join(strong['attribute'])}.", ""]


def _age(at: dict) -> str:
    """An age, with its band where the model bins age (WOE)."""
    return f"{at['age']:g}" + (f" (band {at['band']})" if at["band"] else "")


def _share(share: float) -> str:
    """A share in whole percents, but never "0%" for a share above 0 (one applicant of a
    thousand scored down is not none)."""
    return f"{share:.0%}" if share == 0 or share >= 0.005 else "under 0.5%"


def _sampled(age: dict) -> str:
    """Where the age check rescored a seeded sample (`age_check`'s `sample`), that it did,
    e.g. " (a seeded sample of 2,000 of the 5,000)"; else nothing."""
    s = age.get("sample")
    return f" (a seeded sample of {s['applicants']:,} of the {s['of']:,})" if s else ""


def age_warning(age: dict | None) -> list[str]:
    """A warning, first in the report, where an age of `ELDERLY` or more scores under the
    most favoured age below it: US Regulation B's condition for scoring age fails."""
    if age is None or not age["negative_factor"]:
        return []
    worst, best, column = age["worst_elderly"], age["best_under"], age["column"]
    said = (f"`{column}` = {_age(worst)} scores {worst['points']:+.2f} points against "
            f"the age under {ELDERLY} that scores best on average ({_age(best)})")
    average = (f"On average over the applicants, {said}." if worst["points"] < -TOLERANCE
               else f"Averaged over the applicants, no age of {ELDERLY} or more is scored "
               f"down ({said}): the model scores age differently for different applicants, "
               "and the average hides those scored down.")
    return [f"**Age is a negative factor for applicants of {ELDERLY} or more.** "
            f"{_share(age['applicants_scored_down'])} of the applicants{_sampled(age)} "
            f"score lower at an age of {ELDERLY} or more than at their own best age under "
            f"{ELDERLY} (`{column}` set to each age, all else as it is), by up to "
            f"{age['shortfall_max']:.2f} points. "
            f"{average} US Regulation "
            "B (12 CFR 1002.6(b)(2)(ii)) allows age in an empirically derived, "
            f"statistically sound system only if applicants aged {ELDERLY} or older are "
            "not assigned a negative factor or value. Fix: drop the column "
            f"(--data.drop {column}), or bin it so that ages of {ELDERLY} or more share the "
            "most favoured band (cap the age before scoring, or --data.woe numeric "
            "--data.woe-monotone where the bad rate falls with age), and rerun this check.",
            ""]


def age_lines(age: dict | None) -> list[str]:
    """How the final model scores each age against the most favoured age under
    `ELDERLY`, and whether that meets Regulation B's condition."""
    if age is None:
        return []
    lines = [f"## Age (US Regulation B: applicants of {ELDERLY} or more)", "",
             f"`{age['column']}` is scored. Each applicant{_sampled(age)} is scored again "
             "with every age "
             f"the applicants hold (and {ELDERLY}), all else as it is; points are the mean "
             f"score against the most favoured age under {ELDERLY} (0: as good; negative: "
             "worse; exact for every applicant under logistic regression).", ""]
    if age["points"] is None:
        return lines + [f"Every applicant is {ELDERLY} or older: no younger age to compare "
                        "with.", ""]
    lines += [markdown_table(age_table(age)), ""]
    if age["negative_factor"]:
        return lines + ["Applicants of {} or more are scored down for age: see the warning "
                        "at the top.".format(ELDERLY), ""]
    return lines + [f"No age of {ELDERLY} or more scores under the most favoured age below "
                    f"it for any applicant (the worst, {age['worst_elderly']['age']:g}, "
                    f"scores {age['worst_elderly']['points']:+.2f} points against "
                    f"{age['best_under']['age']:g}), as Regulation B requires of a scored "
                    "age.", ""]


def characteristics_lines(chars: pd.DataFrame) -> list[str]:
    """Each column on its own: strength, WOE trend and, for later or new applicants, its
    stability, with the characteristics that shifted beyond chance named."""
    lines = ["## Characteristics (each column on its own; characteristics.csv)", "",
             "`iv`: information value of the column's WOE bins on the labelled applicants "
             "(Siddiqi: < 0.02 useless, < 0.1 weak, < 0.3 medium, <= 0.5 strong, above "
             "suspicious), each bin's goods and bads smoothed by 0.5 as the WOE's (so "
             "finite with an empty cell, and a little above or below the IV of the raw "
             "counts); it grows with the number of bins even for noise. "
             "`iv_out_of_fold`: the IV the bins carry to applicants they were not fitted "
             "on, each fold's goods' mean WOE minus its bads', the WOE fitted on the other "
             "folds (about 0 for noise), with its standard error (`_se`); `iv_inflated`: "
             f"an in-sample IV of {IV_USEFUL} or more of which under half holds out of "
             "fold. `auc_alone`: "
             "the column's ROC-AUC alone, its WOE fitted on the other folds (0.5: no "
             "signal, at any number of bins). `woe_trend`: how a numeric column's WOE "
             "moves as its value rises; a scorecard's points usually should move one way, "
             "so a column `not monotone` wants coarser bins or an explanation. "
             "`csi_later` / `csi_new`: the PSI of the column's bins among the later "
             "(out-of-time) / new applicants against the labelled ones.", "",
             markdown_table(chars), ""]
    inflated = chars[chars["iv_inflated"]]
    if len(inflated):
        named = ", ".join(f"`{r.attribute}` ({r.iv:.3f} in sample, {r.iv_out_of_fold:.3f} "
                          f"± {r.iv_out_of_fold_se:.3f} out of fold)"
                          for r in inflated.itertuples())
        lines += [f"In-sample IV overstates: {named}. Under half of the IV holds on "
                  "applicants the bins were not fitted on: the rest is the bins fitting this "
                  "sample's noise (more levels and fewer bads fit more). Read their "
                  "strength from the out-of-fold IV and `auc_alone`; coarser bins (grouped "
                  "levels) or dropping the column (--data.drop) is usual.", ""]
    for group, who in (("later", "later (out-of-time)"), ("new", "new")):
        if f"shifted_{group}" not in chars:
            continue
        moved = chars[chars[f"shifted_{group}"]]
        if len(moved):
            named = ", ".join(f"`{r.attribute}` (CSI {getattr(r, f'csi_{group}'):.3f})"
                              for r in moved.itertuples())
            lines += [f"Shifted among the {who} applicants (CSI >= {SHIFT_CSI}, beyond "
                      f"chance): {named}. The score's PSI can stay low while a "
                      "characteristic drifts; check whether the risk it measures moved or "
                      "only how it is recorded.", ""]
    return lines


def scorecard_lines(points: pd.DataFrame | None, linear: tuple[str, ...] = ()) -> list[str]:
    """The scorecard's points per attribute value, to the hundredth of a point (the
    refit leaves float32 noise such as 1.192e-07 on values scored as the training mix:
    0 points); scorecard.csv keeps every digit. `linear`: numeric attributes without WOE
    bins, whose rows are a few values of a line (`points_table`), which a reader
    implementing the scorecard from the table must be told."""
    if points is None:
        return []
    named = ", ".join(f"`{c}`" for c in linear)
    quantiles = ", ".join({0: "min", 1: "max"}.get(q, f"{q:.0%}") for q in LINEAR_QUANTILES)
    line = (f" {named}: points are linear in the value (standardised, not binned); each "
            f"one's rows are its training quantiles ({quantiles}), and "
            "any other value scores on the line through them, beyond them too." if linear
            else "")
    return ["Scorecard points per attribute value (logistic regression; score = base + "
            f"the points of each attribute):{line}", "", markdown_table(points, "{:.2f}"), ""]


def fold_psi_words(stability: dict, per_fold: pd.DataFrame) -> str:
    """The per-fold train-vs-validation PSIs read as k folds: their mean against what k
    folds' mean reaches by chance, the largest against what the largest of k reaches (a
    mean judged at one fold's level, or one fold among k, passes far too easily)."""
    k = int(per_fold["psi"].notna().sum())   # a fold whose every member diverged has none
    if k == 0:
        return "no fold has a PSI (every member diverged)"
    worst = per_fold.loc[per_fold["psi"].idxmax()]
    missing = len(per_fold) - k
    return (f"mean of {k} folds" + (f" ({missing} without a PSI: every member diverged)"
                                    if missing else "") + ": " + psi_verdict(
                stability["psi_train_vs_val_mean"], stability["psi_train_vs_val_mean_chance_95"],
                f"{k} folds of same-size samples of the training scores reach a mean of")
            + f"; largest, fold {int(worst['fold'])}'s {worst['psi']:.4f}: " + psi_verdict(
                stability["psi_train_vs_val_max"], stability["psi_train_vs_val_max_chance_95"],
                f"the largest of {k} such folds reaches"))


def report_title(data: CreditDataConfig) -> str:
    """report.md's title: the applicants scored (the file, or the embedded German credit
    data), as forecast's names its series; the run's name is its folder's already."""
    return "Credit scoring: " + ("embedded German credit (fjax/datasets/data/germancredit.csv)"
                                 if data.embedded else repr(data.path))


def report_markdown(*, title: str, metrics: dict, per_fold: pd.DataFrame,
                    summary: pd.DataFrame, importance: pd.DataFrame,
                    points: pd.DataFrame | None, characteristics: pd.DataFrame,
                    images: list[str], notes: list[str], gains: Gains,
                    later_gains: Gains | None = None,
                    new_gains: Gains | None = None, linear: tuple[str, ...] = ()) -> str:
    m, s = metrics["cv"]["mean"], metrics["cv"]["std"]
    d = metrics["decision"]
    ages = implausible_age_lines(metrics["data"].get("implausible_ages"))
    lines = [f"# {title}", "",
             f"Chosen configuration (highest mean validation ROC-AUC over folds and seeds): "
             f"`{metrics['best']['description']}`.", "", data_line(metrics), "",
             *ages, *([""] if ages else []),
             *new_applicant_lines(metrics, new_gains), *leakage_lines(characteristics),
             *age_warning(metrics.get("age")),
             "## Cross-validation (chosen configuration)", "",
             markdown_table(pd.DataFrame({"metric": list(m), "mean +/- std over folds":
                                          [_fmt(m[k], s[k]) for k in m]})),
             "", pooled_auc_line(metrics), "",
             per_fold_text(metrics, per_fold), "", markdown_table(per_fold), "",
             *bands_lines(gains, d["calibration"]),
             recalibration_line(metrics["cv"]), "",
              "## Every configuration (mean and std over folds x seeds; all metrics in "
              "cv_summary.csv)", "", markdown_table(_short(summary)), "",
              *selection_lines(metrics.get("selection"), metrics["cv"]["seeds"]),
              "## Decision under the cost matrix", "",
              f"Costs: accepting a bad applicant {d['cost_fn']}, rejecting a good one "
              f"{d['cost_fp']}; an applicant is rejected when PD >= t. Two rules for t, each "
              "scored cross-fitted (fold j's PDs judged with a t from the other folds "
              "only):", "",
              f"- fitted (the t of least cost on the out-of-fold PDs): expected cost per "
              f"applicant {_fmt(d['cost_per_applicant_cv_mean'], d['cost_per_applicant_cv_std'])}",
              f"- Bayes (t = cost_fp / (cost_fp + cost_fn) = {d['bayes_threshold']:.4f}, right "
              f"for calibrated PDs): "
              f"{_fmt(d['cost_bayes_threshold_cv_mean'], d['cost_bayes_threshold_cv_std'])}",
              f"- baselines: accept everyone {d['cost_accept_all']:.4f}, reject everyone "
              f"{d['cost_reject_all']:.4f}", "",
              f"Deployed: {deployed_words(d, per_fold)}, **t = {d['threshold']:.4f}** (the "
              f"fitted t on all out-of-fold PDs is {d['fitted_threshold']:.4f}). At t, on the "
              "out-of-fold "
              f"PDs of scores.csv (`pd_oof`): expected cost "
              f"{d['cost_per_applicant_oof']:.4f} per applicant"
              + (" (in sample: t was chosen on these PDs, so optimistic)"
                 if d["threshold_rule"] == "fitted" else "")
              + f"; {_confusion_words(d['confusion_oof'])}. The per-fold table's `threshold` "
              "is each fold's fitted t, `cost` and `cost_bayes` the two rules' costs on it. "
              "The deployed rule's cross-fitted cost is slightly optimistic: the cheaper of "
              "the two was chosen on these same folds.", "",
              *out_of_time_lines(metrics.get("out_of_time"), later_gains),
              *fair_lending_lines(metrics.get("fair_lending")), *age_lines(metrics.get("age")),
              *characteristics_lines(characteristics),
              "## Final model (refit on every applicant"
              + (" before the out-of-time span)" if "out_of_time" in metrics else ")"), "",
              f"Base points (mean applicant): {metrics['final']['base_points']:.1f}; "
              f"score = {metrics['scorecard']['offset']:.2f} + "
              f"{metrics['scorecard']['factor']:.4f} ln(good:bad odds of the "
              f"{metrics['scorecard']['odds_of']}). "
              f"PSI train vs validation scores per fold: {_fmt(m['psi'], s['psi'])} "
              f"({fold_psi_words(metrics['stability'], per_fold)}).",
              "",
              "Global attribute importance (mean |points| per applicant):", "",
              markdown_table(importance), ""]
    lines += scorecard_lines(points, linear)
    lines += ["## Plots", "", *figure_lines(images, FIGURES)]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    lines += ["## Files", "",
              "- `scores.csv`: one row per applicant: `fold` (the fold that held it out), "
              "`pd_oof` (its out-of-fold PD, from the members that never saw it: the honest "
              "estimate; with calibration, `pd_oof_raw` is the PD before it, which the "
              "pooled out-of-fold metrics score), `pd`, `score` and `decision` (from the "
              "final model refit on every applicant, so in-sample), and up to "
              "`scorecard.reasons` reason codes: the attribute, its value and its points "
              "against the reference applicant, most adverse first, only attributes that "
              f"cost {MATERIAL_POINTS:g} points or more (else the slot is blank: less "
              "rounds to 0 in a table of whole points, so it is no reason to give). The "
              "reference is the mean training applicant (the base "
              "points'): under logistic regression each attribute's points average 0 over "
              "the training applicants, so the reasons are the attributes scored furthest "
              "below all applicants' average for them (a method Regulation B's commentary, "
              "comment 9(b)(2)-5, accepts), not the points lost against each attribute's "
              "best value, which can rank them otherwise.",
              "- `scorecard.csv` (logistic regression): points per attribute value; "
              "`<missing>` is a missing value and `<unknown>` a category the training data "
              "never held (scored, as is a missing value where the training data held none, "
              "as the training applicants' mix: 0 points). "
              "`encoder.json`: the fitted encoding. `model.msgpack`: the final model "
              "(parameters, encoding, calibration, threshold, score scale), which "
              "`fjax score credit --run DIR --data new.csv` scores new applicants with, "
              "without training.",
              "- `new_scores.csv` (with `--data.score-path`): new applicants scored like "
              "`scores.csv`, and `new_gains.csv` (where that file holds the labels) their "
              "PDs by band as `gains.csv`'s; `out_of_time_scores.csv` (with "
              "`--data.date-column`): the held-out later applicants, scored likewise, with "
              "their label and date, and `out_of_time_gains.csv` their PDs by band as "
              "`gains.csv`'s. `importance.csv`: mean |points| per attribute. "
              "`characteristics.csv`: each "
              "column on its own (IV, cross-fitted AUC, WOE trend, CSI of later or new "
              "applicants). `proxies.csv` (with data.protected): each protected group's "
              "AUC of the model PD and of each input alone (the proxy screen). "
              "`gains.csv`: the out-of-fold PDs' deciles with counts, bad rates, mean PD "
              "and each band's binomial test.",
              "- `cv_table.csv`: every member (configuration x fold x seed) with its "
              "validation metrics (`diverged_epoch`: the epoch its loss stopped being "
              "finite, 0 for never); `cv_summary.csv`: their means and spreads per "
              "configuration; `metrics.json`: every number above; `history.jsonl`: the "
              "training log (when the grid sweeps the encoding, one per encoding in "
              "`encoding_<i>/`, whose settings are `cv_table.csv`'s rows of `encoding` i); "
              "`config.json` and `environment.json`: the full settings and the machine; "
              "`grid.json` (a sweep): the swept values of each field.", ""]
    return "\n".join(lines)
