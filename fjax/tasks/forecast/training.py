"""Train the forecaster: seeds x grid x walk-forward origins as one population per
compile group, and predict every member on the test windows.

Origins are folds: each member trains on its origin's training mask over the same
device-resident windows, those of its origin's block (`ForecastData.stacked`: each
origin's windows are scaled by its own scalers). Its validation mask is the origin's
validation span; without one (and with several origins) it is the origin's test block,
logged as `val_loss` for monitoring only: best-epoch restore and early stopping are then
off, so nothing is chosen on test data. One origin without validation trains on its mask
alone.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Callable, Mapping, Sequence

import jax.numpy as jnp
import numpy as np

from fjax.data.splits import Folds
from fjax.models import build_model
from fjax.report.files import RunDir
from fjax.tasks.experiment import (GroupResult, Trainable, check_grid_paths, check_sweep_divergence,
                                  train_grid)
from fjax.tasks.forecast.config import Config
from fjax.tasks.forecast.data import ForecastData
from fjax.train.members import ModuleInit
from fjax.train.objective import output_dim, supervised_loss


# Loop fields that choose an epoch: without a validation span `setup` turns them off, and
# a grid setting one back would restore each member's best epoch on the test block.
EPOCH_CHOICE = ("train.restore_best", "train.monitor", "train.mode", "train.min_delta")


def check_sweep_paths(config: Config, grid: Mapping[str, Sequence[Any]] | None) -> None:
    """Only model, loss, optimizer and loop fields may vary: members share the windows.
    Without a validation span nothing chooses an epoch, so the fields that do cannot vary."""
    why = ("this run has no validation span to choose epochs on (data.val_fraction=0): "
           "every member keeps its last epoch, and the test block must not choose one; "
           "set --data.val-fraction 0.1 to sweep it")
    unread = dict.fromkeys(EPOCH_CHOICE, why) if config.data.val_fraction == 0 else {}
    check_grid_paths("forecast", config, grid or {}, unread=unread)


def build_trainable(config: Config, example_x: np.ndarray) -> Trainable:
    """The model and loss of one compile group; `example_x[:1]` fixes the input shape."""
    model = build_model(config.model, output_dim(config.loss, (config.data.horizon,)))
    return Trainable(init_fn=ModuleInit.like(model, example_x),
                     loss_fn=supervised_loss(model.apply, config.loss))


def apply_fn_of(config: Config) -> Callable:
    return build_model(config.model, output_dim(config.loss, (config.data.horizon,))).apply


@dataclasses.dataclass(frozen=True)
class MaskedEval:
    """Evaluate only the `rows` highest-weighted windows (a span is far smaller than all
    windows): same result as the weighted mean over every row, at a fraction of the cost.
    A dataclass, not a closure, so equal losses give equal eval functions (a static
    argument: no recompilation)."""
    loss_fn: Callable
    rows: int

    def __call__(self, params, data, weights):
        idx = jnp.argsort(-weights, stable=True)[:self.rows]
        batch = {k: v[idx] for k, v in data.items()}
        batch["weight"] = weights[idx]
        loss, aux = self.loss_fn(params, batch, None)
        return {"loss": loss, **aux}


@dataclasses.dataclass(frozen=True)
class Setup:
    """The arrays, folds and effective config that `train_grid` receives."""

    config: Config
    arrays: dict
    folds: Folds | None
    monitor_only: bool        # val_loss is the test block: logged, never used to choose
    eval_rows: int


def setup(config: Config, data: ForecastData) -> Setup:
    plan = data.plan
    arrays = {"x": data.x, "y": data.y}
    if (mask := data.target_mask) is not None:   # forward-filled targets: out of the loss
        arrays["target_mask"] = mask
    if plan.k == 1 and not plan.has_val:
        train = dataclasses.replace(config.train, restore_best=False)
        return Setup(dataclasses.replace(config, train=train),
                     {**arrays, "weight": plan.train[0]}, None, False, 0)
    monitor_only = not plan.has_val
    val = plan.val if plan.has_val else plan.test
    cfg = config
    if monitor_only:
        cfg = dataclasses.replace(config, train=dataclasses.replace(
            config.train, restore_best=False, patience=None))
    return Setup(cfg, arrays, Folds(train=data.stacked(plan.train), val=data.stacked(val)),
                 monitor_only, int(val.sum(axis=1).max()))


def train(config: Config, data: ForecastData, grid: Mapping[str, Sequence[Any]] | None = None,
          run_dir: RunDir | None = None, progress: bool = True) -> tuple[Setup, list[GroupResult]]:
    """Every member of the grid x seeds x origins, one compiled population per group
    (`run` has checked the grid: `check_sweep_paths`)."""
    s = setup(config, data)
    loss_grid = [p for p in (grid or {}) if p.startswith("loss.")]

    def build(group_config: Config) -> Trainable:
        t = build_trainable(group_config, data.x)
        if s.folds is None or loss_grid:
            return t
        return dataclasses.replace(t, eval_fn=MaskedEval(t.loss_fn, s.eval_rows))

    with warnings.catch_warnings():
        # The population warns that val_loss is incomparable across loss settings; the
        # forecast ranks grid points on the point forecast's MSE instead (`members`).
        warnings.filterwarnings("ignore", message="the grid varies", category=UserWarning)
        results = train_grid(s.config, grid or {}, build, s.arrays, folds=s.folds,
                             run_dir=run_dir, progress=progress,
                             ranked="They rank last at their origin (fold k: origin k + 1); "
                             "see `diverged` in report.md's sweep table and metrics.json")
    check_sweep_divergence(results, grid)
    return s, results

