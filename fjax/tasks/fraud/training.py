"""Train one model on every period at once, and score its test transactions.

Hyperparameters are chosen as in the handbook (ch. 5.3): a grid trains on the
validation periods (each member = grid point x seed x period, one compiled population
per structure) and the best mean validation metric wins, with its median best epoch.
The chosen configuration then trains on the test periods for that many epochs, and
nothing is ever measured on a test week before the final scoring.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import jax
import numpy as np
import pandas as pd

from fjax.config import read_values, to_dict
from fjax.data.scalers import fit_scaler
from fjax.data.split_stack import SplitStack
from fjax.data.splits import Folds
from fjax.losses import check_binary_labels
from fjax.models import build_model
from fjax.report.files import RunDir
from fjax.tasks.experiment import (Trainable, best_result, check_sweep_divergence,
                                   combined_table, config_with, resumed_epochs, train_grid)
from fjax.tasks.fraud.config import Config
from fjax.tasks.fraud.evaluation import paired_difference
from fjax.tasks.fraud.objective import no_eval, ranking_eval, reconstruction_loss, score_function
from fjax.tasks.fraud.presets import saved_train, test_stage_train
from fjax.train.members import ModuleInit
from fjax.train.objective import supervised_loss
from fjax.train.sweep import median_epochs

SCORE_CHUNK = 16384


@dataclass
class ModelRun:
    """A model trained on the test periods, with its test scores."""

    name: str
    config: Config              # what the test periods trained with
    members: pd.DataFrame       # member, seed, fold (= period)
    params: Any                 # stacked [P, ...]
    score: Callable             # jitted score(params, x) -> f32[n] (`make_trainable`)
    test_scores: list[np.ndarray]  # per member: scores of its period's test rows
    history: list[dict]
    compile_s: float
    train_s: float
    selection: pd.DataFrame | None = None  # validation members, when a grid was searched
    chosen: dict | None = None             # chosen hyperparameters and epochs
    validation_scores: dict | None = None  # (seed, period) -> (scores, labels) of the
    # chosen configuration's validation weeks (`validation_scores`)
    resumed_epochs: dict = dataclasses.field(default_factory=dict)  # population -> the epoch
    # its checkpoint restored (--resume, `resumed_epochs`): the times above are this session's
    blown_up: str | None = None            # the test training's `blown_up_note`

    def member_params(self, i: int) -> Any:
        return member_on_host(self.params, i)


def member_on_host(params: Any, i: int) -> Any:
    """Member `i`'s parameters out of stacked `params`, sliced on the host: slicing on the
    device compiles a dynamic_slice and a squeeze per leaf shape and population size."""
    return jax.tree.map(lambda a: np.asarray(a)[i], params)


def make_trainable(cfg: Config, x_example: np.ndarray, eval_size: int | None
                   ) -> tuple[Trainable, Callable]:
    """The model of `cfg.model` as a Trainable, and its jitted score function
    (`_score_program`)."""
    model = build_model(cfg.model, out_dim=1)
    kind = cfg.model.kind
    score = score_function(model, kind)
    loss_fn = reconstruction_loss(model.apply) if kind == "autoencoder" else \
        supervised_loss(model.apply, cfg.loss)
    eval_fn = ranking_eval(score, eval_size) if eval_size else no_eval
    return Trainable(init_fn=ModuleInit.like(model, x_example), loss_fn=loss_fn,
                     eval_fn=eval_fn), functools.partial(_score_program, model, kind)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _score_program(model: Any, kind: str, params: Any, x: jax.Array) -> jax.Array:
    """`score_function(model, kind)(params, x)` at module level: jax caches its program by
    the model's fields (a linen module hashes by them), so the validation weeks and the
    test weeks of one configuration are scored by one compiled program."""
    return score_function(model, kind)(params, x)


def model_folds(stack: SplitStack, kind: str) -> Folds:
    """The stack's folds; the autoencoder trains on legitimate rows only."""
    if kind != "autoencoder":
        return stack.folds
    legit = (stack.data["y"][:, 0] == 0).astype(np.float32)
    return Folds(train=stack.folds.train * legit[None], val=stack.folds.val)


def score_rows(fn: Callable, params: Any, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Scores of x[rows] by a jitted `fn(params, x)`, in fixed-size chunks (one compile)."""
    out = np.empty(len(rows), np.float64)
    for lo in range(0, len(rows), SCORE_CHUNK):
        idx = rows[lo:lo + SCORE_CHUNK]
        batch = np.zeros((SCORE_CHUNK,) + x.shape[1:], np.float32)
        batch[:len(idx)] = x[idx]
        out[lo:lo + len(idx)] = np.asarray(fn(params, batch))[:len(idx)]
    return out


def chosen_values(chosen: Config, best: Any, hparams: Mapping[str, float],
                  grid: Mapping[str, Sequence]) -> dict[str, Any]:
    """{grid path: the chosen value} of every swept field, in the grid's order: the
    structural ones (model.activation) from the chosen group's config, which its
    hyperparameters alone left out of the report, the numbers as the group trained them."""
    values = {**read_values(chosen, grid),
              **{best.group.paths[k]: v for k, v in hparams.items()}}
    return {path: values[path] for path in grid if path in values}


def diverged_configs(table: pd.DataFrame, keys: Sequence[str]) -> list[dict]:
    """Each configuration (its values of the grid `keys`) of validation.csv's `table`
    with a diverged member: {"hyperparameters", "diverged", "members"}, for the report,
    which else named only the chosen point and a finite runner-up."""
    out = []
    for values, rows in table.groupby(list(keys), sort=False, dropna=False):
        count = int((rows["diverged_epoch"] > 0).sum())
        if count:
            values = values if isinstance(values, tuple) else (values,)
            out.append({"hyperparameters": {k: v.item() if hasattr(v, "item") else v
                                            for k, v in zip(keys, values)},
                        "diverged": count, "members": len(rows)})
    return out


def _by_period(per: pd.Series) -> dict:
    """`per`, the per-period means over seeds, with their min, max and std over periods."""
    return {"by_period": per.tolist(), "min": float(per.min()), "max": float(per.max()),
            "std": float(per.std(ddof=1)) if len(per) > 1 else float("nan")}


def period_spread(table: pd.DataFrame, keys: Sequence[str], chosen: np.ndarray, metric: str,
                  mode: str) -> dict:
    """How far the chosen configuration's and the runner-up's validation `metric` move
    from one validation period to the next (seeds averaged within a period), and in how
    many periods the chosen one is ahead; `paired` (`evaluation.paired_difference`, as the
    report's Paired comparison): the chosen minus the runner-up period by period, its mean
    and standard error, a lead under two of which is noise.

    `table`: validation.csv's rows (`best_<metric>`, `diverged_epoch`, `seed`, `fold` and
    the configuration columns `keys`); `chosen`: bool mask of the chosen one's rows. The
    runner-up is the other configuration with the best finite mean over its members,
    a diverged member counting as the worst value as in the selection; None without one."""
    values = table[f"best_{metric}"].where(table["diverged_epoch"] == 0,
                                           np.inf if mode == "min" else -np.inf)
    config = table.groupby(list(keys), sort=False, dropna=False).ngroup()
    means = values.groupby(config).mean()
    others = means.drop(config[chosen].unique())
    others = others[np.isfinite(others.to_numpy(np.float64))]
    per_chosen = values[chosen].groupby(table["fold"][chosen]).mean()
    out = {"periods": int(table["fold"].nunique()), "chosen": _by_period(per_chosen),
           "runner_up": None}
    if others.empty:
        return out
    runner = config == (others.idxmin() if mode == "min" else others.idxmax())
    first = table[runner].iloc[0]
    per_runner = values[runner].groupby(table["fold"][runner]).mean()
    out["runner_up"] = {"hyperparameters": {k: first[k].item() if hasattr(first[k], "item")
                                            else first[k] for k in keys},
                        "mean": float(means[config[runner].iloc[0]]),
                        **_by_period(per_runner)}
    paired = paired_difference(per_chosen, per_runner, mode == "min")
    out["chosen_ahead_in"] = paired["ahead_in"]
    # chosen - runner-up, as the report's Paired comparison; `lead`: that difference
    # signed so that positive is the chosen one better (None where no period pairs)
    lead = paired["difference"]
    out["paired"] = {**paired, "lead": None if lead is None else -lead if mode == "min" else lead}
    return out


def validation_scores(config: Config, population, members: np.ndarray,
                      val_stack: SplitStack) -> dict:
    """(seed, period) -> (scores, labels) of each validation week by `population`'s
    `members` (positions; their params are their best epoch's): out of sample, the
    labelled scores a threshold for the first test periods can be set on in advance."""
    score = make_trainable(config, val_stack.data["x"], None)[1]
    out = {}
    for i in members:
        member = population.members.iloc[i]
        rows = val_stack.val_rows(int(member["fold"]))
        out[(int(member["seed"]), int(member["fold"]))] = (
            score_rows(score, member_on_host(population.params, i), val_stack.data["x"], rows),
            val_stack.data["y"][rows, 0].astype(np.int8))
    return out


def period_scores(run: ModelRun, stack: SplitStack) -> list[np.ndarray]:
    """Per member (run.members' order), its scores of its period's val rows of `stack`:
    the test weeks (FraudData.stack("test")), or the delay weeks just before them
    (stack("delay")), unlabelled then, which an alert budget is set on."""
    return [score_rows(run.score, run.member_params(i), stack.data["x"],
                       stack.val_rows(int(fold)))
            for i, fold in enumerate(run.members["fold"])]


def select(config: Config, grid: Mapping[str, Sequence], val_stack: SplitStack,
           run_dir: RunDir | None, progress: bool
           ) -> tuple[Config, pd.DataFrame, dict, dict, dict]:
    """Train the grid on the validation periods; the best config and its epochs, the
    epoch each group's checkpoint restored (`resumed_epochs`), and its undiverged members'
    `validation_scores`. Each group trains on its own kind's rows (`model_folds`)."""
    eval_size = int(val_stack.folds.val.sum(axis=1).max())
    folds = lambda cfg: model_folds(val_stack, cfg.model.kind)   # noqa: E731  per group's kind
    build = lambda cfg: make_trainable(cfg, val_stack.data["x"], eval_size)[0]  # noqa: E731
    results = train_grid(config, grid, build, val_stack.data, folds=folds,
                         run_dir=run_dir, progress=progress,
                         ranked="They rank last in the choice of settings; see "
                         "validation.csv's diverged_epoch (fold: the validation period)")
    check_sweep_divergence(results, grid)
    monitor, mode = config.train.monitor, config.train.monitor_mode
    best, hparams = best_result(results, monitor, mode)
    chosen = config_with(best, hparams)
    every = combined_table(results, grid)
    g = next(i for i, r in enumerate(results) if r is best)
    rows = (every["group"] == g).to_numpy().copy()
    for short, value in hparams.items():
        rows &= np.isclose(every[best.group.paths[short]].to_numpy(float), value)
    best_epochs = every.loc[rows, "best_epoch"].to_numpy()
    info = {"metric": monitor, "mode": mode, "epochs": median_epochs(best_epochs),
            "best_epochs": best_epochs.astype(int).tolist(),
            "hyperparameters": chosen_values(chosen, best, hparams, grid),
            "value": float(every.loc[rows, f"best_{monitor}"].mean()),
            "spread": period_spread(every, list(grid), rows, monitor, mode),
            "diverged": diverged_configs(every, list(grid)),
            "blown_up": [r.blown_up for r in results if r.blown_up]}   # `blown_up_points`
    resumed = resumed_epochs(results, "validation ")
    in_group = np.nonzero(every["group"].to_numpy() == g)[0]   # best.population's members
    kept = (rows & (every["diverged_epoch"] == 0).to_numpy())[in_group]
    return chosen, every, info, resumed, validation_scores(chosen, best.population,
                                                           np.nonzero(kept)[0], val_stack)


def fit_periods(name: str, config: Config, stack: SplitStack, *,
                grid: Mapping[str, Sequence] | None = None,
                val_stack: SplitStack | None = None, run_dir: RunDir | None = None,
                test_dir: Callable[[Config], RunDir] | None = None,
                progress: bool = True) -> ModelRun:
    """Train `config.model` on every test period of `stack` (after a validation search
    over `grid` when one is given) and score each period's test transactions. The search
    logs in `run_dir`/validation, the test stage in `test_dir(chosen config)` (default
    `run_dir`): a search over model.kind may choose another kind than `config`'s."""
    if config.model.kind != "autoencoder":
        check_binary_labels(stack.data["y"], "TX_FRAUD labels")
    selection, chosen, resumed, val_scores = None, {"epochs": config.train.epochs}, {}, None
    if grid:
        if val_stack is None:
            raise ValueError("a grid needs the validation periods' stack (val_stack)")
        sub = run_dir.sub("validation", config) if run_dir else None
        config, selection, chosen, resumed, val_scores = select(config, grid, val_stack, sub,
                                                                progress)
    if run_dir and test_dir:
        run_dir = test_dir(config)
    folds = model_folds(stack, config.model.kind)
    if grid:   # the chosen epochs on the searched run's schedule (`OptimConfig.spanning`)
        config = dataclasses.replace(config, optim=config.optim.spanning(config.train.epochs))
    # Saved as a plain run's config, which reruns this stage (`saved_train`).
    test_config = dataclasses.replace(config, train=saved_train(config.train, chosen["epochs"]))
    trainable, score = make_trainable(test_config, stack.data["x"], None)
    if run_dir:
        run_dir.record("config.json", to_dict(test_config))
    loop = dataclasses.replace(test_config, train=test_stage_train(test_config.train))
    [result] = train_grid(loop, {}, lambda cfg: trainable, stack.data,
                          folds=folds, run_dir=run_dir, progress=progress)
    pop = result.population
    run = ModelRun(name=name, config=test_config, members=pop.members, params=pop.params,
                   score=score, test_scores=[], history=pop.history,
                   compile_s=pop.compile_s, train_s=pop.train_s, selection=selection,
                   chosen=chosen, resumed_epochs={**resumed, "test": pop.resumed_epoch},
                   blown_up=result.blown_up,
                   validation_scores=val_scores)
    run.test_scores = period_scores(run, stack)
    return run


def day_folds(stack: SplitStack, day: np.ndarray, n_folds: int) -> Folds:
    """Cross-fitting folds of every period, by day.

    `day i64[N]` is the day of each stacked row. With F = min(n_folds, fewest training
    days of any period), a row of period k on day d is in fold (d - t_k) mod F, where t_k
    is the period's first training day: on a 7-day week with F = 7, one fold per day of
    the week, and a test day shares the fold of the training day with the same weekday
    (the test week starts 14 days after the training week). Member j = k * F + f trains
    on period k's training rows outside fold f and is scored on ("validates" on) its
    rows in fold f, training and test. Returns the [K * F, N] masks."""
    if n_folds < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds, got {n_folds}")
    day = np.asarray(day)
    if day.shape != (len(stack.row),):
        raise ValueError(f"day must have one entry per stacked row ({len(stack.row)}), got "
                         f"shape {day.shape}")
    train, test = stack.folds.train > 0, stack.folds.val > 0
    n_days = [len(np.unique(day[train[k]])) for k in range(stack.k)]
    if min(n_days) < 2:
        k = int(np.argmin(n_days))
        raise ValueError(f"period {k}'s training rows span {n_days[k]} day(s): cross-fitting "
                         "the anomaly feature by day needs at least 2")
    folds = min(n_folds, min(n_days))
    fit = np.zeros((stack.k * folds, len(day)), np.float32)
    held = np.zeros_like(fit)
    for k in range(stack.k):
        fold = (day - day[train[k]].min()) % folds
        for f in range(folds):
            if not np.any(train[k] & (fold == f)):
                raise ValueError(f"period {k} has no training rows in day-fold {f} of {folds} "
                                 "(days without transactions); cross-fitting needs each")
            fit[k * folds + f] = train[k] & (fold != f)
            held[k * folds + f] = (train[k] | test[k]) & (fold == f)
    return Folds(train=fit, val=held)


def crossfit_errors(config: Config, stack: SplitStack, day: np.ndarray, n_folds: int, *,
                    run_dir: RunDir | None = None, progress: bool = True) -> np.ndarray:
    """Reconstruction errors of every stacked row from an autoencoder that never saw it.

    For each period and each day-fold f (`day_folds`), an autoencoder with `config`
    (first seed only) trains on the legitimate training rows outside fold f and scores
    the period's rows in fold f: training rows of the held-out days, and test rows of
    the same days of the week. All K x F autoencoders train as one population.
    Returns f64[N], one error per stacked row."""
    if config.model.kind != "autoencoder":
        raise ValueError(f"crossfit_errors trains an autoencoder, got model.kind "
                         f"{config.model.kind!r}")
    folds = day_folds(stack, day, n_folds)
    one_seed = dataclasses.replace(config, sweep=dataclasses.replace(config.sweep, seeds=1))
    crossfit = dataclasses.replace(stack, folds=folds)
    run = fit_periods("autoencoder (cross-fit)", one_seed, crossfit, run_dir=run_dir,
                      progress=progress)
    err = np.full(len(stack.row), np.nan)
    for (_, member), scores in zip(run.members.iterrows(), run.test_scores):
        err[crossfit.val_rows(int(member["fold"]))] = scores
    return err


def with_anomaly_feature(stack: SplitStack, error: np.ndarray) -> SplitStack:
    """The stack with one more input: the log reconstruction error `error` (f64[N],
    from `crossfit_errors`), standardized on each period's training rows.

    Every row's error must come from an autoencoder that did not train on it, and the
    training and test rows' errors from autoencoders alike. Scoring the training week
    with the autoencoder fitted on it would give the legitimate rows it fitted in-sample
    errors, lower than it gives anything unseen: the supervised model would learn an
    optimistic feature (a planted outlier it memorised looks normal, see the tests).
    Cross-fitting by day fixes that. The test week is scored by the same day-fold
    autoencoders (a test day by the one that left out the same weekday of the training
    week), not by one fitted on the whole week: with the preset's 2 epochs, a whole-week
    autoencoder (1/F more data and steps) reconstructs better: on the default
    simulation it put the test weeks' legitimate rows 0.45 standard deviations below
    the training weeks' (mean feature), against 0.10 for the geometric mean of the
    day-fold autoencoders and 0.01 with the weekday match used here. (The input scalers
    stay the week's, as for every model.)
    """
    x = stack.data["x"]
    error = np.asarray(error, np.float64)
    if error.shape != (len(x),):
        raise ValueError(f"error must have one entry per stacked row ({len(x)}), got "
                         f"shape {error.shape}")
    z = np.zeros(len(x), np.float32)
    for k in range(stack.k):
        rows = stack.block_rows(k)
        if not np.all(np.isfinite(error[rows]) & (error[rows] >= 0)):
            raise ValueError(f"error lacks a finite, non-negative value for some of period "
                             f"{k}'s rows (see crossfit_errors)")
        err = np.log(error[rows] + 1e-12)
        z[rows] = fit_scaler("standard", err, stack.folds.train[k, rows] > 0).transform(err)
    return dataclasses.replace(stack, data={**stack.data,
                                            "x": np.concatenate([x, z[:, None]], axis=1)})
