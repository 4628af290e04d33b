"""Card fraud detection on the Fraud-Detection-Handbook's simulator and protocol.

    fjax run fraud                                  # simulate, MLP + rule + logistic
    fjax run fraud --compare rule logistic autoencoder combined gru
    fjax sweep fraud --optim.learning-rate 1e-4 3e-4 1e-3 --seeds 3

`run` simulates (or loads) transactions, builds the handbook's 15 features with a
7-day label delay (beside a user file's own columns named in `data.features`), stacks
the prequential periods so that each is one population member, trains `model.kind`
(after a validation search when `grid` is given) and the models of `compare`, and
writes the run folder (see `report.py`), with the deployable model `model.msgpack`
(`model_file`) that `fjax score fraud` applies to new transactions (`frozen`).
Reference: Le Borgne et al., *Reproducible Machine Learning for Credit Card Fraud
Detection - Practical Handbook*, ULB MLG.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from fjax.config import config_error, to_dict
from fjax.data.transactions import header_lacks_cards
from fjax.report.files import RunDir
from fjax.tasks.experiment import (check_grid_paths, check_loss_grid, check_model_grid,
                                  default_run_dir, finish_run, task_default, trained_kinds)
from fjax.tasks.fraud.config import (MODELS, SEQUENCE_KINDS, TRAINED_KINDS, Config, FraudDataConfig,
                                     FraudModelConfig, FraudTrainConfig)
from fjax.tasks.fraud.dataset import FraudData, prepare
from fjax.tasks.fraud.evaluation import (evaluate, operating_point,
                                        optimum_rows, rule_scores, scores_frame,
                                        threshold_rows)
from fjax.tasks.fraud.model_file import SavedModel, model_bytes
from fjax.tasks.fraud.presets import CROSSFIT_FOLDS, PLAIN_UNREAD, fixed_preset, preset
from fjax.tasks.fraud.report import (SIZE_COLUMNS, ModelResult, immature_labels_note,
                                     periods_table, write)
from fjax.tasks.fraud.training import (ModelRun, crossfit_errors, fit_periods, period_scores,
                                       score_rows, with_anomaly_feature)
from fjax.tasks.frozen import MODEL_FILE

__all__ = ["Config", "FraudDataConfig", "FraudModelConfig", "FraudTrainConfig",
           "check_sweep_paths", "run"]

UNSUPERVISED = ("rule", "autoencoder")   # models that need no fraud in a training week

# Files of an earlier run in the same folder, removed before this one writes: exact
# names, so nothing else of a user's folder is touched.
OUTPUTS = (MODEL_FILE, "members.csv", "periods.csv", "validation.csv", "alerts.csv",
           "scores.csv.gz", "daily.csv", "thresholds.csv", "metrics.json",
           "report.md", "pr_curve.png", "roc_curve.png", "score_distributions.png",
           "daily_card_precision.png", "daily_precision.png", "training_loss.png",
           *(f"models/{model}/{stage}{name}"
             for model in sorted({*MODELS, *TRAINED_KINDS, "autoencoder_crossfit",
                                  *(f"{kind} (swept)" for kind in TRAINED_KINDS)})  # chosen_name
             for stage in ("", "validation/")
             for name in ("config.json", "history.jsonl")))


# Why a grid over train.restore_best changes nothing (prepare() reads data and sweep.folds
# once: check_grid_paths refuses them too).
RESTORE_UNREAD = ("no fraud member reads it: the validation search ranks every member by "
                  "its monitor at its best epoch and the test periods train the chosen one's "
                  "median best epoch, whether or not its best parameters were restored; drop "
                  "it from the sweep")
# Why a grid over the monitor or its mode cannot choose between groups.
MONITOR_UNREAD = ("the validation search ranks every group by the run's own train.monitor "
                  "and train.mode, so a group monitoring another metric would be ranked on "
                  "the run's at the epoch its own chose; set --train.monitor and "
                  "--train.mode once, outside the grid")


def _check_plain_train(config: Config) -> None:
    """Refuse an epoch-selection setting in a plain run, where nothing reads it: there is
    no validation search, and the test weeks are never monitored."""
    usual = task_default(config, "train")
    for name in PLAIN_UNREAD:
        value, default = getattr(config.train, name), getattr(usual, name)
        if value != default:
            raise config_error(
                config.train, name, f"is {value!r}, but has nothing to select on in a plain "
                "run: each period trains train.epochs and keeps its last epoch, as the test "
                "weeks are never monitored and there is no validation search (a sweep "
                "selects at each member's best validation epoch and trains the test periods "
                "the chosen configuration's median best epoch)", "sweep a hyperparameter "
                "(`fjax sweep fraud --optim.learning-rate 1e-3 3e-3`) to choose epochs on the "
                f"validation weeks, or leave it out (default {default!r})")


def check_sweep_paths(config: Config, grid: Mapping[str, Sequence[Any]]) -> None:
    """The fields a fraud grid may vary: every task's sections but the epoch-selection
    ones the validation search reads once. `fjax sweep` asks it of a flag given several
    values."""
    check_grid_paths("fraud", config, grid, unread={"train.restore_best": RESTORE_UNREAD,
                                                    "train.monitor": MONITOR_UNREAD,
                                                    "train.mode": MONITOR_UNREAD})


def _check_grid(config: Config, grid: Mapping[str, Sequence[Any]]) -> None:
    """Reject settings a plain run would ignore, and swept values that cannot change the
    model being trained."""
    if not grid:
        _check_plain_train(config)
    check_sweep_paths(config, grid)
    _check_kind_grid(config, grid)
    _check_loss_read(config, grid)
    _check_loss_monitor(config, grid)
    _check_history_read(config, grid)
    check_loss_grid(config, grid)
    check_model_grid(config, grid)


def _check_kind_grid(config: Config, grid: Mapping[str, Sequence[Any]]) -> None:
    """Refuse a grid over model.kind that mixes sequence and per-row kinds, or differs from
    the run's own kind in that: every member trains on one stack, built for the run's kind
    (a gru member on per-row features crashed after the data was prepared)."""
    sequence = config.model.kind in SEQUENCE_KINDS
    odd = [k for k in trained_kinds(config, grid) if (k in SEQUENCE_KINDS) != sequence]
    if odd:
        raise ValueError(f"grid entry model.kind has {', '.join(odd)}, which "
                         f"{'do not read' if sequence else 'read'} a card's sequence, unlike "
                         f"the run's model.kind={config.model.kind!r}; sweep sequence kinds "
                         "(gru, lstm) and per-row kinds in separate runs, with --model.kind "
                         "one of the swept kinds")


def _check_loss_read(config: Config, grid: Mapping[str, Sequence[Any]]) -> None:
    """Refuse a loss setting (swept, or set away from the task's default) when only the
    autoencoder trains from this run's config: it minimises reconstruction error, and the
    compared models train with their presets' loss, so nothing would read it."""
    if trained_kinds(config, grid) != ["autoencoder"]:
        return
    ignores = ("the autoencoder (model.kind='autoencoder') minimises reconstruction error "
               "and ignores the loss (the compared models train with their presets' loss)")
    for path in grid:
        if path.startswith("loss."):
            raise ValueError(f"grid entry {path} has no effect on the autoencoder: {ignores}; "
                             "drop it from the sweep, or sweep a supervised model "
                             "(--model.kind mlp)")
    usual = task_default(config, "loss")
    for field in dataclasses.fields(config.loss):
        value, default = getattr(config.loss, field.name), getattr(usual, field.name)
        if value != default:
            raise config_error(config.loss, field.name, f"is {value!r}, but {ignores}",
                               f"leave it out (default {default!r}), or train a supervised "
                               "model (--model.kind mlp) to use it")


def _check_loss_monitor(config: Config, grid: Mapping[str, Sequence[Any]]) -> None:
    """Refuse, under train.monitor loss, a grid whose groups minimise different losses:
    selection ranks them by their training loss, and the autoencoder's reconstruction error
    beside a supervised model's BCE (or BCE beside focal, or two pos_weights) are numbers
    on different scales, so the lowest one says nothing about which detects fraud best."""
    if config.train.monitor != "loss":
        return
    kinds = trained_kinds(config, grid)
    mixed = "autoencoder" in kinds and len(kinds) > 1
    losses = [path for path in grid if path.startswith("loss.")]
    if not mixed and not losses:
        return
    what = (f"model.kind ({', '.join(kinds)}) mixes the autoencoder's reconstruction error "
            "with a supervised model's loss" if mixed else
            f"{', '.join(losses)} changes the loss each group minimises")
    raise ValueError(f"grid entry {what}, but train.monitor='loss' ranks the groups by their "
                     "training loss, which is then not comparable between them; monitor a "
                     "validation metric (--train.monitor val_average_precision), or sweep "
                     "one kind and one loss at a time")


def _check_history_read(config: Config, grid: Mapping[str, Sequence[Any]]) -> None:
    """Refuse data.history set away from the task's default when no model the run trains
    reads a card's sequence: only gru and lstm (the run's, or compared gru) do."""
    kinds = [*trained_kinds(config, grid), *(m for m in config.compare if m in MODELS)]
    if any(kind in SEQUENCE_KINDS for kind in kinds):   # compared gru: its preset
        return
    ignoring = f"no model this run trains ({', '.join(dict.fromkeys(kinds))}) reads it"
    default = task_default(config, "data").history
    if config.data.history != default:
        raise config_error(config.data, "history", f"is {config.data.history}, but only the "
                           f"sequence models (gru, lstm) read it and {ignoring}",
                           f"leave it out (default {default}), or train one (--model.kind gru "
                           "or --compare gru)")


def _check_cardless(cfg: FraudDataConfig, kinds: Sequence[str]) -> None:
    """Refuse a sequence model on a file without card ids, from its header before it is
    loaded: each transaction is its own card there, so a card's history is the
    transaction alone."""
    sequence = sorted({k for k in kinds if k in SEQUENCE_KINDS})
    if sequence and cfg.path is not None and header_lacks_cards(cfg.path, cfg.columns()):
        raise ValueError(f"{', '.join(sequence)} read(s) each card's last transactions, but "
                         f"{cfg.path} has no card ids (data.customer_column "
                         f"{cfg.customer_column!r}), so every transaction is its own "
                         "card; train a per-row model (--model mlp, logistic or autoencoder; "
                         "--compare rule logistic)")


def chosen_name(name: str, kind: str, names: Sequence[str]) -> str:
    """The name the results and its folder models/<name> give the run's own model: the
    kind a sweep over model.kind chose, which may not be the first one swept, `name`;
    "(swept)" is added where a compared model of `names` has that kind."""
    if kind == name:
        return name
    return f"{kind} (swept)" if kind in names else kind


def _delay_scores(name: str, data: FraudData, run: ModelRun | None, seed: int,
                  sequence: bool) -> list | None:
    """Per member, `name`'s scores of its period's delay week (`run` None: the rule's),
    which its alert budget is set on; None without a delay week, and for `combined`,
    whose anomaly feature is cross-fitted on the training and test weeks only."""
    if data.cfg.delay_days == 0 or name == "combined":
        return None
    delay = data.stack("delay", sequence=sequence)
    return rule_scores(data.tx, delay, seed)[1] if run is None else period_scores(run, delay)


def _result(name: str, data: FraudData, stack, members, scores, logits: bool,
            run: ModelRun | None = None, primary: bool = False,
            delay: list | None = None) -> ModelResult:
    table, alerts = evaluate(name, data.tx, stack, members, scores, data.cfg)
    test_scores = (scores_frame(data.tx, stack, members, scores, logits)
                   if primary else None)      # scores.csv.gz holds the run's own model
    first_seed = int(members["seed"].min())
    by_period = {int(m["fold"]): s for (_, m), s in zip(members.iterrows(), scores)
                 if int(m["seed"]) == first_seed}
    labels = {k: data.tx.fraud[stack.row[stack.val_rows(k)]] for k in by_period}
    validation = run.validation_scores if run is not None else None
    thresholds = threshold_rows(name, data.tx, stack, members, scores, data.periods, data.cfg,
                                validation, data.validation_periods if validation else (),
                                delay)
    if run is None:
        return ModelResult(name, table, alerts, by_period, labels, logits,
                           test_scores=test_scores, thresholds=thresholds)
    return ModelResult(name, table, alerts, by_period, labels, logits, thresholds=thresholds,
                       config=to_dict(run.config), chosen=run.chosen, history=run.history,
                       blown_up=run.blown_up,
                       timing={"compile_s": run.compile_s, "train_s": run.train_s,
                               "resumed_epochs": run.resumed_epochs},
                       test_scores=test_scores)


def deployable(config: Config, data: FraudData, run: ModelRun,
               result: ModelResult) -> SavedModel:
    """The run's own model as trained on the last test period (first seed), with its
    training week's scaler and encoder, the alert thresholds the run set for it in
    advance (see `model_file` for why this one), and its scores of its training week."""
    members = run.members.reset_index(drop=True)
    period, seed = int(members["fold"].max()), int(members["seed"].min())
    i = int(np.nonzero((members["fold"] == period) & (members["seed"] == seed))[0][0])
    rows = result.thresholds
    rows = rows[(rows["seed"] == seed) & (rows["period"] == period)
                & (rows["set_on"] == "in advance")]
    points = {row["target"]: operating_point(row) for _, row in rows.iterrows()}
    encoders = data.encoders("test")
    stack = data.stack("test", sequence=run.config.model.kind in SEQUENCE_KINDS)
    train = np.nonzero(stack.folds.train[period] > 0)[0]
    params = run.member_params(i)
    return SavedModel(config=config, model_config=run.config, period=period, seed=seed,
                      names=tuple(data.names), scaler=data.scalers("test")[period],
                      encoder=encoders[period] if encoders else None,
                      params=params,
                      train_scores=score_rows(run.score, params,
                                              stack.data["x"], train),
                      operating_points=points,
                      train_start=str(data.tx.date_of(data.periods[period].train_start).date()))


def anomaly_config(config: Config, runs: Mapping[str, ModelRun], names: Sequence[str]
                   ) -> Config:
    """The config the combined model's day-fold autoencoders train with: that of the
    autoencoder the report names so where the run trained one (compared, or its own model
    where that is, or a sweep chose, an autoencoder), chosen values and epochs included;
    else the autoencoder preset. So that model's saved config, which keeps `compare`,
    reruns combined (`runs`: the models trained so far, by their name in `names`)."""
    trained = {chosen_name(n, r.config.model.kind, names): r for n, r in runs.items()}
    own = trained.get("autoencoder")
    return own.config if own is not None else fixed_preset(config, "autoencoder")


def _fit(name: str, config: Config, data: FraudData, grid: Mapping, runs: dict,
         models: RunDir, names: Sequence[str], progress: bool):
    """Train model `name` (its validation search when it is the run's own model, logged in
    models/`name`/validation; the chosen kind trains in its own folder, `chosen_name`)."""
    sequence = preset(config, name).model.kind in SEQUENCE_KINDS
    stack = data.stack("test", sequence=sequence)
    if name == "combined":   # cross-fitted by day: see `with_anomaly_feature`
        error = crossfit_errors(anomaly_config(config, runs, names), stack,
                                data.tx.day[stack.row], CROSSFIT_FOLDS,
                                run_dir=models.sub("autoencoder_crossfit"), progress=progress)
        stack = with_anomaly_feature(stack, error)
    grid = grid if name == config.model.kind else None
    val_stack = data.stack("validation", sequence=sequence) if grid else None
    test_dir = None if grid is None else (   # only the run's own model is swept
        lambda chosen: models.sub(chosen_name(name, chosen.model.kind, names)))
    runs[name] = fit_periods(name, preset(config, name), stack, grid=grid, val_stack=val_stack,
                             run_dir=models.sub(name), progress=progress, test_dir=test_dir)
    return runs[name], stack


def run(config: Config, grid: Mapping[str, Sequence[Any]] | None = None,
        progress: bool = True) -> Path:
    """Run the fraud experiment; returns the run folder."""
    grid = dict(grid or {})
    _check_grid(config, grid)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    # Bad input fails before anything is written; a sweep's validation periods too.
    names = [config.model.kind] + [m for m in MODELS if m in config.compare
                                   and m != config.model.kind]
    _check_cardless(config.data, [*trained_kinds(config, grid), *names])
    data = prepare(config.data, config.sweep.folds, validation=bool(grid))
    if any(m not in UNSUPERVISED for m in names):
        data.check_training_frauds("test")
    if grid and config.model.kind not in UNSUPERVISED:     # only it trains on them
        data.check_training_frauds("validation")
    for which in ("test", "validation") if grid else ("test",):
        data.check_scored(which)
    trains, tests, removed = data.masks(data.periods)
    periods_df = periods_table(data.tx, data.periods, trains, tests, removed, config.data.top_k,
                               config.data.cost_alert, config.data.cost_missed)
    validation_df = None
    if grid:
        validation = data.validation_periods
        validation_df = periods_table(data.tx, validation, *data.masks(validation),
                                      config.data.top_k)[SIZE_COLUMNS]
    immature = immature_labels_note(periods_df, config.data.delay_days)
    if immature:
        warnings.warn(immature, stacklevel=2)
    timings["data (simulate or load + features)"] = time.perf_counter() - t0
    run_dir = default_run_dir(config, grid, OUTPUTS)

    results, runs, selection = [], {}, None
    for name in names:
        t = time.perf_counter()
        if name == "rule":
            stack = data.stack("test")
            members, scores = rule_scores(data.tx, stack, config.seed)
            results.append(_result(name, data, stack, members, scores, logits=False,
                                   primary=not results,
                                   delay=_delay_scores(name, data, None, config.seed,
                                                       False)))
        else:
            run_, stack = _fit(name, config, data, grid, runs, run_dir.sub("models"), names,
                               progress)
            selection = run_.selection if run_.selection is not None else selection
            if name == config.model.kind:   # a compared model keeps its name (combined: mlp)
                name = chosen_name(name, run_.config.model.kind, names)
            sequence = run_.config.model.kind in SEQUENCE_KINDS
            results.append(_result(name, data, stack, run_.members, run_.test_scores,
                                   logits=run_.config.model.kind != "autoencoder", run=run_,
                                   primary=not results, delay=_delay_scores(
                                       name, data, run_, config.seed, sequence)))
        timings[name] = time.perf_counter() - t
        if name != "rule":       # a logistic model's optimum, timed apart from its training
            t = time.perf_counter()
            results[-1].optimum = optimum_rows(name, run_.config, run_.members, run_.params,
                                               stack, run_.test_scores)
            if len(results[-1].optimum):
                timings[f"{name} optimum (Newton)"] = time.perf_counter() - t

    timings["total"] = time.perf_counter() - t0
    # Before metrics.json and report.md, which mark the run finished (a resume's test).
    run_dir.bytes(MODEL_FILE, model_bytes(deployable(config, data, runs[config.model.kind],
                                                     results[0])))
    write(run_dir, config, data.tx, periods_df, results, timings, selection, data.encodings(),
          validation_df, immature)
    finish_run(run_dir, OUTPUTS)
    return run_dir.path
