"""Train one model on every period at once, and score its test transactions.

Hyperparameters are chosen as in the handbook (ch. 5.3): a grid trains on the
validation periods (each member = grid point x seed x period, one compiled population
per structure) and the best mean validation metric wins, with its median best epoch.
The chosen configuration then trains on the test periods for that many epochs, and
nothing is ever measured on a test week before the final scoring.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from fjax.data.scalers import fit_scaler
from fjax.data.split_stack import SplitStack
from fjax.data.splits import Folds
from fjax.losses import check_binary_labels
from fjax.models import build_model
from fjax.report.files import RunDir
from fjax.tasks.experiment import Trainable, best_result, combined_table, config_with, train_grid
from fjax.tasks.fraud.config import Config
from fjax.tasks.fraud.objective import (classification_loss, no_eval, ranking_eval,
                                        reconstruction_loss, score_function)
from fjax.tasks.fraud.presets import test_stage_train

SCORE_CHUNK = 16384


@dataclass
class ModelRun:
    """A model trained on the test periods, with its test scores."""

    name: str
    config: Config              # what the test periods trained with
    members: pd.DataFrame       # member, seed, fold (= period)
    params: Any                 # stacked [P, ...]
    score: Callable             # jitted score(params, x) -> f32[n]
    test_scores: list[np.ndarray]  # per member: scores of its period's test rows
    history: list[dict]
    compile_s: float
    train_s: float
    selection: pd.DataFrame | None = None  # validation members, when a grid was searched
    chosen: dict | None = None             # chosen hyperparameters and epochs

    def member_params(self, i: int) -> Any:
        return jax.tree.map(lambda a: a[i], self.params)


def make_trainable(cfg: Config, x_example: np.ndarray, eval_size: int | None
                   ) -> tuple[Trainable, Callable]:
    """The model of `cfg.model` as a Trainable, and its score function."""
    model = build_model(cfg.model, out_dim=1)
    kind = cfg.model.kind
    score = score_function(model, kind)
    x0 = jnp.asarray(x_example[:1])
    loss_fn = reconstruction_loss(model.apply) if kind == "autoencoder" else \
        classification_loss(model.apply, cfg.loss)
    eval_fn = ranking_eval(score, eval_size) if eval_size else no_eval
    return Trainable(init_fn=lambda key: model.init(key, x0), loss_fn=loss_fn,
                     eval_fn=eval_fn), score


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


def select(config: Config, grid: Mapping[str, Sequence], val_stack: SplitStack,
           run_dir: RunDir | None, progress: bool) -> tuple[Config, pd.DataFrame, dict]:
    """Train the grid on the validation periods; the best config and its epochs."""
    eval_size = int(val_stack.folds.val.sum(axis=1).max())
    folds = model_folds(val_stack, config.model.kind)
    build = lambda cfg: make_trainable(cfg, val_stack.data["x"], eval_size)[0]  # noqa: E731
    results = train_grid(config, grid, build, val_stack.data, folds=folds,
                         run_dir=run_dir, progress=progress)
    monitor, mode = config.train.monitor, config.train.mode
    best, hparams = best_result(results, monitor, mode)
    chosen = config_with(config, best, hparams)
    table = best.population.table()
    mask = np.ones(len(table), bool)
    for short, value in hparams.items():
        mask &= np.isclose(table[short].to_numpy(float), value)
    epochs = int(max(1, np.median(table.loc[mask, "best_epoch"].to_numpy())))
    info = {"metric": monitor, "mode": mode, "epochs": epochs,
            "hyperparameters": {best.group.paths[k]: v for k, v in hparams.items()},
            "value": float(table.loc[mask, f"best_{monitor}"].mean())}
    return chosen, combined_table(results, grid), info


def fit_periods(name: str, config: Config, stack: SplitStack, *,
                grid: Mapping[str, Sequence] | None = None,
                val_stack: SplitStack | None = None, run_dir: Path | None = None,
                progress: bool = True) -> ModelRun:
    """Train `config.model` on every test period of `stack` (after a validation search
    over `grid` when one is given) and score each period's test transactions."""
    if config.model.kind != "autoencoder":
        check_binary_labels(stack.data["y"], "TX_FRAUD labels")
    selection, chosen = None, {"epochs": config.train.epochs}
    if grid:
        if val_stack is None:
            raise ValueError("a grid needs the validation periods' stack (val_stack)")
        sub = RunDir(run_dir / "validation", config) if run_dir else None
        config, selection, chosen = select(config, grid, val_stack, sub, progress)
    test_config = dataclasses.replace(
        config, train=test_stage_train(config.train, chosen["epochs"]))
    trainable, score = make_trainable(test_config, stack.data["x"], None)
    score = jax.jit(score)
    sub = RunDir(run_dir, test_config) if run_dir else None
    [result] = train_grid(test_config, {}, lambda cfg: trainable, stack.data,
                          folds=model_folds(stack, config.model.kind), run_dir=sub,
                          progress=progress)
    pop = result.population
    run = ModelRun(name=name, config=test_config, members=pop.members, params=pop.params,
                   score=score, test_scores=[], history=pop.history,
                   compile_s=pop.compile_s, train_s=pop.train_s, selection=selection,
                   chosen=chosen)
    for i, fold in enumerate(pop.members["fold"]):
        run.test_scores.append(score_rows(score, run.member_params(i), stack.data["x"],
                                          stack.val_rows(int(fold))))
    return run


def with_anomaly_feature(stack: SplitStack, autoencoder: ModelRun) -> SplitStack:
    """The stack with one more input: log reconstruction error of the period's
    autoencoder (first seed), standardized on the period's training rows."""
    x = stack.data["x"]
    z = np.zeros(len(x), np.float32)
    first_seed = autoencoder.members["seed"].min()
    for i, row in autoencoder.members.iterrows():
        if row["seed"] != first_seed:
            continue
        k = int(row["fold"])
        rows = stack.block_rows(k)
        err = np.log(score_rows(autoencoder.score, autoencoder.member_params(i), x, rows)
                     + 1e-12)
        z[rows] = fit_scaler("standard", err, stack.folds.train[k, rows] > 0).transform(err)
    return dataclasses.replace(stack, data={**stack.data,
                                            "x": np.concatenate([x, z[:, None]], axis=1)})
