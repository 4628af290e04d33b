"""`fjax run credit`: cross-validate, choose, refit, explain, decide, and write the run.

The score is the scorecard scaling of the model's logit (mapped by Platt calibration,
which is affine, so a score's odds are the deployed PD's), so it is exactly the base
points plus each attribute's points; the PD used for decisions is the calibrated one
(identical without calibration).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from fjax.calibration import calibration_in_the_large, calibration_slope
from fjax.config import read_values, to_dict
from fjax.data.columns import other_label
from fjax.explain import MAX_STEPS, importance, top_reasons
from fjax.intervals import rank_auc
from fjax.report.files import RunDir
from fjax.scorecard import MATERIAL_POINTS, ScoreScale
from fjax.stability import psi, psi_chance, psi_chance_folds
from fjax.tasks.credit.age import age_check
from fjax.tasks.credit.bands import Gains
from fjax.tasks.credit.characteristics import characteristics
from fjax.tasks.credit.config import Config, CreditDataConfig, ScorecardConfig
from fjax.tasks.credit.data import (CreditData, code_words, load, missing_words,
                                    outlying_words)
from fjax.tasks.credit.fairness import FOUR_FIFTHS, PROXY_AUC, fair_lending, proxy_screen
from fjax.tasks.credit.final import (FinalModel, optimum_gap, points_table, refit,
                                     refit_config, reversed_woe)
from fjax.tasks.credit.labelled import (file_labels, labelled_measures, measure_file, pooled,
                                        write_bands)
from fjax.tasks.credit.members import METRICS
from fjax.tasks.credit.model_file import (SavedModel, beyond_range, model_bytes,
                                          numeric_ranges)
from fjax.tasks.credit.oof import OutOfFold, analyse, oof_pd
from fjax.tasks.credit.report import report_markdown, report_title, write_plots
from fjax.tasks.credit.scoring import (deployed_scale, refuse_backward_platt, score_new,
                                       scored)
from fjax.tasks.credit.search import ENCODING_DATA, Search, best_config_id, cross_validate
from fjax.tasks.credit.selection import comparisons, seed_spread
from fjax.tasks.experiment import (check_grid_paths, default_run_dir, finish_run,
                                   loss_text, resumed_epochs, resumed_from)
from fjax.tasks.frozen import MODEL_FILE


# The fields describe() names by its own rules (where the model, encoding or loss reads
# them); any other swept field is named after them.
DESCRIBED = ("model.kind", "model.hidden", "model.dropout", "model.embedding_dim", "data.woe",
             "data.woe_bins", "data.woe_monotone", "optim.name", "optim.learning_rate",
             "optim.weight_decay", "loss.name", "loss.pos_weight", "loss.focal_gamma",
             "loss.focal_alpha", "train.epochs")


def describe(cfg: Config, swept: Sequence[str] = ()) -> str:
    """One line naming the configuration's choices, and the value of every `swept` path
    its choices read, so grid points that differ anywhere read differently."""
    parts = [cfg.model.kind]
    if cfg.model.kind == "mlp":
        parts += [f"hidden={list(cfg.model.hidden)}", f"dropout={cfg.model.dropout}",
                  f"embedding_dim={cfg.model.embedding_dim}"]
    parts.append(f"woe={cfg.data.woe}")
    if cfg.data.woe != "none":   # the bins the encoding read
        parts += [f"woe_bins={cfg.data.woe_bins}", f"woe_monotone={cfg.data.woe_monotone}"]
    parts += [f"{cfg.optim.name} lr={cfg.optim.learning_rate:g}",
              f"weight_decay={cfg.optim.weight_decay:g}", f"loss={cfg.loss.name}",
              f"pos_weight={cfg.loss.pos_weight:g}"]
    if cfg.loss.name == "focal":
        parts += [f"focal_gamma={cfg.loss.focal_gamma:g}", f"focal_alpha={cfg.loss.focal_alpha:g}"]
    parts.append(f"epochs={cfg.train.epochs}")
    others = read_values(cfg, [path for path in swept if path not in DESCRIBED])
    parts += [f"{path}={value}" for path, value in others.items()]
    return ", ".join(parts)


def data_facts(data: CreditData) -> dict[str, Any]:
    """The rows read and where each went: labelled applicants (bads and goods), those
    held out as the out-of-time test, and the new ones scored only. No labelled row is
    dropped: a missing label is refused when the data is loaded."""
    later = np.zeros(0) if data.later_y is None else data.later_y
    y = np.concatenate([data.y, later])
    return {"rows": int(len(y)), "bads": int(y.sum()), "goods": int(len(y) - y.sum()),
            "out_of_time": {"rows": int(len(later)), "bads": int(later.sum())},
            "new_applicants": 0 if data.new is None else int(len(data.new)),
            "implausible_ages": data.implausible_ages}


def out_of_time_facts(config: Config, data: CreditData, oof: OutOfFold, final: FinalModel,
                      scores: pd.DataFrame, later: pd.DataFrame, later_raw: np.ndarray,
                      later_gains: Gains) -> dict:
    """The held-out later applicants beside the earlier ones' out-of-fold figures. AUC,
    Gini and KS rank the model's own PDs (as the cross-validation does: calibration's
    ties would lower them); Brier, cost and the confusion are of the deployed PDs at the
    deployed threshold, but for the earlier ones' cost and confusion, cross-fitted as the
    decision's (each fold at its t fitted on the other folds).
    AUC, Gini and KS are None where a group holds one class only; the Brier score is
    `brier_f64`'s, as the cross-validation's. `later_gains`: the later applicants' deployed
    PDs by band (`labelled_bands`), whose Hosmer-Lemeshow test is the later ones'
    calibration."""
    d, t = config.data, oof.threshold

    n_later, n_all = len(data.later_y), len(data.later_y) + len(data.y)
    # The earlier applicants' cost and confusion cross-fitted (each fold at its rule's t:
    # fitted on the other folds, or the fixed Bayes t): a t fitted on their own PDs is
    # their cheapest, which would flatter them beside the later ones; the confusion is the
    # decisions that cost is the mean of.
    earlier = {**labelled_measures(oof.pd_raw, oof.pd, data.y, t, d.cost_fn, d.cost_fp),
               "dates": data.date_spans["earlier"],
               "cost_per_applicant": oof.summary["cost_per_applicant_cross_fitted"],
               "confusion": oof.summary["confusion_cross_fitted"]}
    return {"date_column": d.date_column, "share": n_later / n_all, "threshold": t,
            "threshold_rule": oof.summary["threshold_rule"],
            "later_seen_earlier": data.later_seen_earlier,
            "unseen_values": final.encoder.unseen(data.later),
            "earlier_out_of_fold": earlier,
            "later": {**labelled_measures(later_raw, later["pd"].to_numpy(), data.later_y, t,
                                          d.cost_fn, d.cost_fp, later_gains),
                      "dates": data.date_spans["later"]},
            "psi": psi(scores["score"].to_numpy(), later["score"].to_numpy()),
            "psi_chance_95": psi_chance(scores["score"].to_numpy(), len(later))}


def fair_lending_facts(config: Config, data: CreditData, oof: OutOfFold,
                       later: pd.DataFrame | None, later_raw: np.ndarray | None,
                       proxies: pd.DataFrame) -> dict:
    """Per group of each protected column, at the deployed threshold: the out-of-fold
    figures (never the in-sample refit's) and, with a date column, the out-of-time ones;
    and the proxy screen (`proxies`, as proxies.csv)."""
    columns = config.data.protected_columns
    facts = {"columns": list(columns), "threshold": oof.threshold, "four_fifths": FOUR_FIFTHS,
             "out_of_fold": fair_lending(data.frame, columns, oof.threshold, oof.pd_raw,
                                         oof.pd, data.y),
             "proxy_auc": PROXY_AUC,
             "proxies": proxies.to_dict(orient="records")}
    if later is not None:
        facts["out_of_time"] = fair_lending(data.later, columns, oof.threshold, later_raw,
                                            later["pd"].to_numpy(), data.later_y)
    return facts


def odds_of(calibration: str) -> str:
    """Whose odds the score's points express."""
    return {"none": "model PD", "platt": "deployed (Platt-calibrated) PD"}.get(
        calibration, f"model PD before {calibration} calibration")


OPTIMUM_POINTS = 1.0   # a refit this many points from its objective's optimum is noted

OUTPUTS = ("metrics.json", "cv_table.csv", "cv_summary.csv", "scores.csv", "gains.csv",
           "characteristics.csv", "proxies.csv", "new_scores.csv", "new_gains.csv",
           "out_of_time_scores.csv",
           "out_of_time_gains.csv", "importance.csv", "scorecard.csv", "encoder.json",
           MODEL_FILE, "report.md", "history.jsonl", "roc.png", "ks.png", "calibration.png",
           "calibration_calibrated.png", "score_distributions.png", "learning_curve.png",
           "encoding_[0-9]*/history.jsonl")


def selection_facts(search: Search, best_id: int, data: CreditData,
                    swept: Sequence[str] = ()) -> dict:
    """The chosen configuration against the runner-up and the best logistic scorecard
    (paired per fold, Nadeau-Bengio corrected t), and its mean AUC's spread over seeds;
    each described with the `swept` paths' values."""
    kinds = {c: cfg.model.kind for c, cfg in search.configs.items()}
    n_train, n_val = ((m > 0).sum(axis=1).mean() for m in (data.folds.train, data.folds.val))
    against = comparisons(search.table, search.summary, kinds, best_id, n_train, n_val)
    return {"comparisons": [{**c, "description": describe(search.configs[c["config"]], swept)}
                            for c in against],
            "seed_spread": seed_spread(search.table, best_id)}


def report_notes(config: Config, members: int, configs: int, programs: int,
                 rejected_without_reason: int = 0, chosen: Config | None = None,
                 mean_pd: float | None = None, bad_rate: float | None = None,
                 repeated_ids: int = 0, resumed: Mapping[str, int] | None = None,
                 withheld: int = 0,
                 coded: Sequence[str] = (), age_unchecked: str | None = None,
                 outlying: Mapping[str, Mapping[str, float]] | None = None,
                 optimum_points: float | None = None,
                 completeness: float | None = None,
                 missing: Mapping[str, int] | None = None, rows: int = 0,
                 reversed_points: Mapping[str, float] | None = None,
                 refit_epochs: int | None = None,
                 fold_epochs: Sequence[int] | None = None) -> list[str]:
    """What a reader must know to trust (or discount) the numbers; `chosen` is the best
    configuration, `mean_pd` its mean out-of-fold PD and `bad_rate` the data's;
    `resumed` the epoch each population's checkpoint restored (`resumed_epochs`);
    `withheld` the rejected applicants a scorecard.no_reasons attribute was a principal
    reason for; `coded` the numeric columns that look like codes; `outlying` those a few
    extreme values scale (`outlying_numbers`), noted as the encoding reads them;
    `age_unchecked` data.age_column where the model does not score it; `optimum_points` the
    most points a logistic refit's score moves when solved to its objective's optimum
    (`optimum_gap`);
    `completeness` an MLP's largest integrated-gradient completeness error (logit);
    `missing` each input's missing values among the `rows` labelled ones (`missing_counts`);
    `reversed_points` the WOE attributes whose points fall as their WOE rises, with the
    points their bins span (`reversed_woe`); `refit_epochs` the epochs the final model
    trained and `fold_epochs` those the chosen configuration's fold members kept
    (`refit_config`)."""
    notes = [f"{members} members ({config.sweep.folds} folds x {configs} configurations x "
             f"{config.sweep.seeds} seeds) trained in {programs} compiled population(s); "
             "preprocessing fitted per fold on that fold's training rows."]
    if repeated_ids:
        notes.append(f"{repeated_ids} applicants ({config.data.id_column}) have several rows; "
                     "each applicant's rows are kept in one fold, so no model validates on "
                     "an applicant it trained on (folds stratified by the applicant's worst "
                     "label).")
    d, defaults = config.data, CreditDataConfig()
    if not d.embedded and (d.cost_fn, d.cost_fp) == (defaults.cost_fn, defaults.cost_fp):
        rate = "" if bad_rate is None else f", this file's {bad_rate:.3f}"
        notes.append(f"The costs are fjax's defaults, German credit's documented ones "
                     f"(accepting a bad applicant {d.cost_fn:g}, rejecting a good one "
                     f"{d.cost_fp:g}; its bad rate is 0.300{rate}), not costs set for this "
                     "file: the threshold t, the decisions and every cost in this report "
                     "follow from them. Set the lender's own with --data.cost-fn (the loss "
                     "on an accepted bad) and --data.cost-fp (the profit forgone on a "
                     "rejected good).")
    train = (chosen or config).train   # a grid over train.* sets the chosen one's
    if train.restore_best or train.patience:
        span = (chosen or config).optim.span(train.epochs)
        refitted = ("" if not fold_epochs else
                    f" The final model trains {refit_epochs} epochs, the median (rounded "
                    f"half up) of those the folds kept ({', '.join(map(str, fold_epochs))}), "
                    f"on their {span}-epoch schedule and without early stopping: the model "
                    "the folds scored, refitted on every applicant.")
        notes.append("train.restore_best / train.patience select epochs on the validation "
                     "fold, which makes the cross-validated metrics optimistic." + refitted)
    if configs > 1:
        notes.append("The best of several configurations is chosen on the same folds it is "
                     "scored on; its mean, and its lead over the others, are slightly "
                     "optimistic (no nested CV).")
    elif config.data.embedded and all(getattr(config, part) == getattr(Config(), part)
                                      for part in ("model", "loss", "optim", "train")):
        notes.append("The default settings were chosen by 5-fold cross-validation on this "
                     "same German credit data, so its metrics here carry a little of the "
                     "same selection optimism; on your own data they do not.")
    if config.scorecard.calibration == "platt":
        notes.append("Scores and points are rescaled to the Platt-calibrated log-odds (an "
                     "affine map of the model's logit), so a score's odds are the deployed "
                     "PD's.")
    elif config.scorecard.calibration != "none":
        sc = config.scorecard
        notes.append(f"Scores and points express the model's own, uncalibrated log-odds: "
                     f"{sc.base_score:g} points is {sc.base_odds:g}:1 good:bad odds of the "
                     f"uncalibrated PD, not of the deployed {sc.calibration} PD (a step "
                     "function of it, which no points per attribute can express). Scores "
                     "still rank as the deployed PDs do; read an applicant's deployed PD "
                     "from scores.csv's `pd`, or use --scorecard.calibration platt for "
                     "points whose odds are the deployed PD's.")
    if config.scorecard.calibration == "isotonic":
        notes.append("Isotonic PDs are each block's bad rate shrunk to (bads + 0.5) / "
                     "(applicants + 1), the half count the WOE bins add: a block without a "
                     "bad (or of bads only) gets a small PD, never 0 (or 1), which would have "
                     "no score and an infinite log loss on its first bad (or good).")
    loss = (chosen or config).loss
    if config.scorecard.calibration == "none" and (loss.name == "focal" or loss.pos_weight != 1):
        weighting = "focal loss" if loss.name == "focal" else f"pos_weight {loss.pos_weight:g}"
        seen = ("" if mean_pd is None else f": the mean out-of-fold PD is {mean_pd:.3f} "
                f"against a bad rate of {bad_rate:.3f}")
        notes.append(f"The loss reweights the classes ({weighting}), so the model's logit is "
                     f"not the log-odds and its PDs are not probabilities{seen}. PDs, Brier, "
                     "ECE and the score's odds anchor are shifted; the threshold is chosen on "
                     "these PDs, so decisions stay cost-optimal. For PDs that are "
                     "probabilities, use --scorecard.calibration platt.")
    if optimum_points is not None and optimum_points >= OPTIMUM_POINTS:
        fitted = chosen or config
        notes.append(f"The logistic model stops after {refit_epochs or fitted.train.epochs} "
                     "epochs short of "
                     f"the optimum of the objective it descends (mean bce loss + weight_decay "
                     f"{fitted.optim.weight_decay:g} / 2 |w|^2): solved to it (L-BFGS, "
                     f"float64), an applicant's score would move by up to "
                     f"{optimum_points:.1f} points. The epochs regularise on top of the "
                     "weight decay (cross-validation scored them so), so the points are "
                     "those of these epochs and learning rate, not a unique penalised "
                     "maximum-likelihood fit: other training settings move them (more "
                     "--train.epochs approach the optimum).")
    if reversed_points:
        named = ", ".join(f"{c} ({p:.2g} points across its bins)"
                          for c, p in reversed_points.items())
        notes.append(f"Reversed signs: the points of {named} fall as the WOE rises, so "
                     "bins holding relatively more goods score lower, against the "
                     "attribute's own evidence (its weight's sign is turned by correlated "
                     "inputs). Scorecard validation expects every WOE attribute's points to "
                     "rise with its WOE: drop it (--data.drop) or merge its bins, and refit.")
    if completeness is not None:
        sc = config.scorecard
        met = ("within" if completeness <= sc.ig_tolerance else
               f"NOT within ({MAX_STEPS} steps did not suffice: review the reason codes)")
        notes.append(f"MLP reason codes are integrated gradients, each applicant's steps "
                     f"doubled from {sc.ig_steps} until its attributions add up to its logit "
                     f"minus the reference's: the largest error is {completeness:.2g} in "
                     f"logit, {met} scorecard.ig_tolerance {sc.ig_tolerance:g}.")
    if rejected_without_reason:
        notes.append(f"{rejected_without_reason} rejected applicant(s) have no reason code: "
                     f"no attribute of theirs cost them {MATERIAL_POINTS:g} points or more "
                     "against the reference (mean) applicant: the reference's PD is at or "
                     "near the threshold, or many negligible shortfalls add up. Reasons are "
                     "relative to that reference; review these cases by hand.")
    if config.scorecard.no_reasons:
        named = ", ".join(config.scorecard.no_reasons)
        notes.append(f"Reason codes never name {named} (scorecard.no_reasons), which still "
                     f"count in every score: for {withheld} rejected applicant(s) one of them "
                     f"was among the {config.scorecard.reasons} attributes that raised the PD "
                     "most, so the reasons they are given are not their principal ones. An "
                     "adverse-action notice must state the principal reasons (US Regulation "
                     "B); a characteristic that may not be named, or that stands in for a "
                     "protected trait, usually should not be scored: drop it with "
                     f"--data.drop {' '.join(config.scorecard.no_reasons)} (or "
                     "--data.protected, which also reports approval rates per group).")
    notes += [code_words(column) + "." for column in coded]
    if outlying:
        notes.append(outlying_words(outlying, (chosen or config).data.woe))
    if missing:
        notes.append(missing_words(missing, rows, (chosen or config).data.woe))
    if not config.data.protected_columns:
        notes.append("No data.protected columns: the report has no fair-lending figures. "
                     "Name the columns of sex, marital status, national origin or any other "
                     "protected characteristic with --data.protected: they are then never "
                     "scored, and approval rates, adverse impact ratios, AUC and "
                     "calibration are reported per group.")
    if age_unchecked:
        notes.append(f"No age check: the model does not score {age_unchecked!r} "
                     "(data.age_column) as a number: the file lacks it, it is left out, or "
                     "it is read as categories. If the model scores the applicants' age, "
                     "name it with --data.age-column (as a number: --data.numeric), so the "
                     "report checks that applicants of 62 or more are not scored down for "
                     "age (Regulation B).")
    if where := resumed_from(resumed or {}):
        notes.append(f"The run resumed from {where}: "
                     "metrics.json's `timings_s` are this session's, without the epochs "
                     "trained before it stopped.")
    return notes


def check_sweep_paths(config: Config, grid: Mapping[str, Sequence[Any]]) -> None:
    """The fields a credit grid may vary: every task's sections, and the encodings (each
    value encodes the data again). `fjax sweep` asks it of a flag given several values."""
    check_grid_paths("credit", config, grid, varied=ENCODING_DATA)


def run(config: Config, grid: Mapping[str, Sequence[Any]] | None = None,
        progress: bool = True) -> Path:
    """Run the credit task; returns the run folder."""
    t_start = time.perf_counter()
    grid = {k: list(v) for k, v in (grid or {}).items()}
    check_sweep_paths(config, grid)
    data = load(config)  # bad input fails before anything is written
    good = other_label(data.frame[data.schema.target], data.schema.positive)
    new_labels = (None if data.new is None else file_labels(
        f"data.score_path {config.data.score_path!r}", data.schema, good, data.new))
    run_dir = default_run_dir(config, grid, OUTPUTS)
    sc = config.scorecard

    t0 = time.perf_counter()
    search = cross_validate(config, grid, data, run_dir, progress)
    cv_s = time.perf_counter() - t0
    best_id = best_config_id(search.summary)
    best = search.configs[best_id]
    rows = search.table[search.table["config"] == best_id]
    enc, grp = int(rows["encoding"].iloc[0]), int(rows["group"].iloc[0])
    oof = analyse(oof_pd(search.logits[(enc, grp)], rows, data.folds), data.y, data.folds,
                  sc.calibration, config.data.cost_fn, config.data.cost_fp)
    refuse_backward_platt(oof.calibrator, rank_auc(oof.pd_raw, data.y))
    scale = deployed_scale(sc, oof.calibrator)
    per_fold = (rows.groupby("fold")[list(METRICS)].mean().reset_index()
                .merge(oof.per_fold, on="fold"))

    refit_cfg, kept = refit_config(best, rows)
    t0 = time.perf_counter()
    final = refit(refit_cfg, data, progress)
    refit_s = time.perf_counter() - t0
    scores, imp, points, final_facts = write_scores(run_dir, config, data, final, oof, scale)
    final_facts.update(epochs=refit_cfg.train.epochs, fold_epochs=kept,
                       schedule_epochs=refit_cfg.optim.schedule_epochs)
    train_scores = scores["score"].to_numpy()
    ranges = numeric_ranges(data.frame, data.schema)   # the rows the final model fitted
    saved = SavedModel(config, final, oof.calibrator, oof.threshold, scale, train_scores,
                       good, ranges)
    run_dir.bytes(MODEL_FILE, model_bytes(saved))
    n_train, n_val = ((m > 0).sum(axis=1).mean() for m in (data.folds.train, data.folds.val))
    with_psi = max(int(per_fold["psi"].notna().sum()), 1)   # the folds the mean reads
    chance_mean, chance_max = psi_chance_folds(train_scores, round(n_val), round(n_train),
                                               with_psi)
    stability = {"psi_train_vs_val_mean": float(per_fold["psi"].mean()),
                 "psi_train_vs_val_std": float(per_fold["psi"].std(ddof=1)),
                 "psi_train_vs_val_mean_chance_95": chance_mean,
                 "psi_train_vs_val_max": float(per_fold["psi"].max()),
                 "psi_train_vs_val_max_chance_95": chance_max}
    new_labelled = new_gains = None
    if config.data.score_path:
        new, new_raw = score_new(config, data.new, final, oof.calibrator, oof.threshold,
                                 scale)
        run_dir.csv("new_scores.csv", new)
        # as `fjax score credit` measures a labelled file
        new_labelled, new_gains = measure_file(run_dir, "new_gains.csv", saved, new, new_raw,
                                               new_labels)
        stability["psi_new_applicants"] = psi(train_scores, new["score"].to_numpy())
        stability["psi_new_applicants_chance_95"] = psi_chance(train_scores, len(new))
        stability["new_applicants_unseen_values"] = final.encoder.unseen(data.new)
        stability["new_applicants_out_of_range"] = beyond_range(
            ranges, data.new, final.encoder.woe, final.config.model.kind)
        if data.new_implausible_ages is not None:
            stability["new_applicants_implausible_ages"] = data.new_implausible_ages
    later = later_raw = later_gains = None
    if data.later is not None:
        later, later_raw = score_new(config, data.later, final, oof.calibrator, oof.threshold,
                                     scale, ids=data.later_ids)
        later.insert(1, config.data.target, data.later[config.data.target].astype(str).to_numpy())
        later.insert(2, config.data.date_column, data.later[config.data.date_column].to_numpy())
        run_dir.csv("out_of_time_scores.csv", later)
        later_gains = write_bands(run_dir, "out_of_time_gains.csv", later["pd"].to_numpy(),
                                  data.later_y)
    groups = {name: frame for name, frame in (("later", data.later), ("new", data.new))
              if frame is not None}
    chars = characteristics(data.frame, data.schema, data.y, best.data.woe_bins, oof.fold,
                            groups, monotone=best.data.woe_monotone)   # as the chosen model
    run_dir.csv("characteristics.csv", chars)
    proxies = None
    if config.data.protected_columns:
        proxies = proxy_screen(data.frame, data.schema, config.data.protected_columns,
                               best.data.woe_bins, oof.fold, oof.pd_raw)
        run_dir.csv("proxies.csv", proxies)
    gains = Gains.of(oof.pd, data.y)
    run_dir.csv("gains.csv", gains.table)
    run_dir.csv("cv_table.csv", search.table)
    run_dir.csv("cv_summary.csv", search.summary)
    images = write_plots(run_dir, data.y, oof, scale.from_pd(oof.pd_raw),
                         search.results[enc][grp].population.history,
                         rows["member"].to_numpy(), sc.calibration != "none",
                         loss_text(to_dict(best.loss)))

    results = [r for rs in search.results for r in rs]
    resumed = {name: epoch for e, rs in enumerate(search.results) for name, epoch in
               resumed_epochs(rs, f"encoding {e} " if len(search.results) > 1 else "").items()}
    metrics_json = {
        "best": {"config": best_id, "description": describe(best, list(grid))},
        "data": data_facts(data),
        "cv": {"folds": data.folds.k, "seeds": config.sweep.seeds,
               "per_fold": per_fold.to_dict(orient="records"),
               "mean": {m: float(per_fold[m].mean()) for m in METRICS},
               "std": {m: float(per_fold[m].std(ddof=1)) for m in METRICS},
               "pooled_out_of_fold": pooled(oof.pd_raw, data.y),
               "hosmer_lemeshow": gains.hosmer_lemeshow,   # these three of pd_oof, as gains.csv
               "calibration_slope": calibration_slope(oof.pd, data.y),
               "calibration_in_the_large": calibration_in_the_large(oof.pd, data.y)},
        "decision": {**oof.summary, "cost_fn": config.data.cost_fn,
                     "cost_fp": config.data.cost_fp},
        "scorecard": {"base_score": sc.base_score, "base_odds": sc.base_odds, "pdo": sc.pdo,
                      "factor": scale.factor, "offset": scale.offset,
                      "logit_slope": scale.slope, "logit_intercept": scale.intercept,
                      "odds_of": odds_of(sc.calibration)},
        "selection": selection_facts(search, best_id, data, list(grid)),
        "final": final_facts,
        "stability": stability,
        **({} if new_labelled is None else {"new_applicants_labelled": new_labelled}),
        "characteristics": chars.to_dict(orient="records"),
        **({"out_of_time": out_of_time_facts(config, data, oof, final, scores, later,
                                             later_raw, later_gains)}
           if later is not None else {}),
        **({"fair_lending": fair_lending_facts(config, data, oof, later, later_raw, proxies)}
           if config.data.protected_columns else {}),
        **({"age": age_check(final, data.frame, data.age, scale)} if data.age else {}),
        "members": int(len(search.table)),
        "timings_s": {"cross_validation": cv_s, "refit": refit_s,
                      "compile": [r.population.compile_s for r in results],
                      "train": [r.population.train_s for r in results],
                      "resumed_epochs": resumed,
                      "total": time.perf_counter() - t_start},
    }
    run_dir.json("metrics.json", metrics_json)
    gap = final_facts["optimum_logit_gap"]
    notes = report_notes(config, len(search.table), len(search.summary), len(results),
                         final_facts["rejected_without_reason"], best,
                         float(np.mean(oof.pd_raw)), float(np.mean(data.y)), data.repeated_ids,
                         resumed,
                         final_facts["rejected_with_withheld_reason"], data.coded_numbers,
                         age_unchecked=config.data.age_column if not data.age else None,
                         outlying=data.outlying, missing=data.missing, rows=len(data.y),
                         optimum_points=None if gap is None else abs(float(scale.points(gap))),
                         completeness=None if final.config.model.kind == "logistic" else
                         final_facts["attribution_completeness_max_error"],
                         reversed_points=final_facts["woe_reversed_points"],
                         refit_epochs=final_facts["epochs"], fold_epochs=kept)
    notes = [*dict.fromkeys(r.blown_up for r in results if r.blown_up), *notes]
    run_dir.text("report.md", report_markdown(
        title=report_title(config.data), metrics=metrics_json,
        per_fold=per_fold, summary=search.summary, importance=imp, points=points,
        characteristics=chars, images=images, notes=notes, gains=gains,
        later_gains=later_gains, new_gains=new_gains,
        linear=final.encoder.standardized))
    finish_run(run_dir, OUTPUTS)
    return run_dir.path


def withheld(contrib: np.ndarray, names: list[str], sc: ScorecardConfig,
             rejected: pd.Series, floor: float) -> int:
    """Rejected applicants one of whose `sc.reasons` most adverse attributes (each costing
    `floor` logit or more, as reasons do) is in `sc.no_reasons`: the reasons they are given
    are not their principal ones."""
    unrestricted = top_reasons(contrib, names, sc.reasons, floor=floor)
    hidden = [any(a in sc.no_reasons for a, _ in r) for r in unrestricted]
    return int(np.sum(np.asarray(hidden) & rejected.to_numpy()))


def write_scores(run_dir: RunDir, config: Config, data: CreditData, final: FinalModel,
                 oof: OutOfFold, scale: ScoreScale
                 ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None, dict]:
    """Score every applicant with the refitted model and write what explains the scores:
    scores.csv (with the out-of-fold PD beside the in-sample one), importance.csv, the
    logistic model's scorecard.csv and encoder.json. Returns (scores, importance,
    scorecard points or None, the facts for metrics.json's "final")."""
    scores, contrib, names, ref_logit, completeness, _ = scored(
        final, data.frame, oof.calibrator, oof.threshold, scale, config.scorecard.reasons,
        config.scorecard.no_reasons)
    scores.insert(0, "applicant", data.ids)
    scores.insert(1, config.data.target, data.frame[config.data.target].astype(str).to_numpy())
    scores.insert(2, "fold", oof.fold)
    scores.insert(3, "pd_oof", oof.pd)
    if config.scorecard.calibration != "none":   # the PDs metrics.json's pooled_out_of_fold scores
        scores.insert(4, "pd_oof_raw", oof.pd_raw)
    run_dir.csv("scores.csv", scores)
    imp = pd.DataFrame({"attribute": names, "mean_abs_points": importance(scale.points(contrib))})
    imp = imp.sort_values("mean_abs_points", ascending=False, ignore_index=True)
    run_dir.csv("importance.csv", imp)
    points = None
    if final.config.model.kind == "logistic":
        points = points_table(final, data.frame, scale)
        run_dir.csv("scorecard.csv", points)
    run_dir.json("encoder.json", final.encoder.to_dict())
    facts = {"in_sample_auc": rank_auc(scores["pd"].to_numpy(), data.y),
             "base_points": float(scale.from_logit(ref_logit)),
             "attribution_completeness_max_error": completeness,
             "attribution_completeness_tolerance": (None if final.config.model.kind == "logistic"
                                                    else config.scorecard.ig_tolerance),
             "optimum_logit_gap": optimum_gap(final, data.y),
             "woe_reversed_points": reversed_woe(final, points),
             "decisions": scores["decision"].value_counts().to_dict(),
             "rejected_without_reason": int(((scores["decision"] == "reject")
                                             & (scores["reason_1"] == "")).sum()),
             "rejected_with_withheld_reason": withheld(
                 contrib, names, config.scorecard, scores["decision"] == "reject",
                 scale.material_logit())}
    return scores, imp, points, facts
