"""`fit`: train ONE model, compiled once, with early stopping and best-epoch restore."""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import jax
import numpy as np

from fjax.config import TrainConfig
from fjax.data.checks import check_arrays, check_type, check_weights
from fjax.optim import SCHEDULE_STEPS, check_injected, optimizer_settings
from fjax.runtime import to_device
from fjax.train.callbacks import Callback, ProgressBar
from fjax.train.epoch import evaluate
from fjax.train.loop import (EvalFn, LoopSpec, LoopState, RunRecord, advance_jit, loop_spec,
                             run_epochs, warn_unselected)
from fjax.train.state import TrainState
from fjax.train.step import (LossFn, cached_per_loss, check_loss_fn, inputs_named,
                             make_eval_step, make_train_step)


class TrainingDiverged(FloatingPointError):
    """The loss or the validation loss became NaN or infinite. `.result` holds the run
    (its history, and the best epoch's parameters, finite), so nothing is lost: a
    `FitResult`, or where a task stops because every member diverged, its table."""

    def __init__(self, message: str, result: Any):
        super().__init__(message)
        self.result = result


@dataclass
class FitResult:
    state: TrainState        # final state; params are the best epoch's when restored (its
                             # opt_state and step stay the last epoch's: to train on, pass
                             # this FitResult to fit, or start afresh from these params)
    loop: LoopState
    history: list[dict]      # one dict of metrics per epoch
    best_epoch: int
    epochs_run: int
    compile_s: float         # trace + compile time (0 when reused); this and the next
    compilations: int        # two cover the whole run, a continued fit's earlier calls
    train_s: float           # included, but not epochs a Checkpointer restored
    epoch_s: list[float]     # one per epoch of `history` (its time_s), restored ones included
    spec: LoopSpec           # the loop's batches and early-stopping rule, which a
                             # continuation (`fit(result, ...)`) must share


def prepare(data: dict, weights: Any, name: str, loss_fn: Any = None) -> tuple[dict, jax.Array]:
    """Check the arrays (and the targets, if the loss can check them: `check_data`, or for
    data other than the training data `check_val_data` where the loss has it), move them to
    the device once, and build the sample weights."""
    n = check_arrays(data, name)
    check = getattr(loss_fn, "check_data", None)
    if name != "data":
        check = getattr(loss_fn, "check_val_data", check)
    if check is not None:
        try:
            check(data)
        except ValueError as err:   # its message says "data" or "y": say which data it is
            if name == "data":
                raise
            raise ValueError(f"{name}: {err}") from None
    w = np.ones(n, np.float32) if weights is None else check_weights(weights, n, f"{name} weights")
    if "weight" in data:
        w = w * check_weights(data["weight"], n, f"{name}['weight']")
    arrays = {k: to_device(v) for k, v in data.items() if k != "weight"}
    return arrays, to_device(w)


def warn_partial_epoch(step: int, n_batches: int) -> None:
    """Warn where a state to continue has taken a step count that is not whole epochs of
    this data: no single `fit` on it would have reached that state, so the continued run
    equals none, and its shuffles go on from epoch `step // n_batches`."""
    if step % n_batches:
        warnings.warn(
            f"fit got a state at step {step}, which is not a whole number of epochs of this "
            f"data ({n_batches} batches per epoch): it was trained on other data, another "
            "batch_size or weights, or stepped outside fit. Its shuffles go on from epoch "
            f"{step // n_batches}. To continue a fit as one longer fit, pass the same data "
            "and TrainConfig.batch_size", stacklevel=3)


def warn_schedule_end(opt_state: Any, last_step: int) -> None:
    """Warn where a fit may step past the end of its optimizer's cosine schedule (the
    `total_steps` given to `build_optimizer`, injected as "schedule_steps"): every later
    step takes the final rate, learning_rate * final_factor, by default 0, which trains
    nothing, silently."""
    injected = getattr(opt_state, "hyperparams", None)
    length = injected.get(SCHEDULE_STEPS) if isinstance(injected, Mapping) else None
    if length is not None and last_step > int(length):
        warnings.warn(
            f"the optimizer's schedule spans {int(length)} steps, but this fit may run to "
            f"step {last_step}: the steps after {int(length)} take its final rate, "
            "learning_rate * final_factor (0 by default: they train nothing). Build it for "
            "the whole run: build_optimizer(cfg, total_steps=epochs * num_batches(rows, "
            "batch_size)) (fjax.train.epoch.num_batches)", stacklevel=3)


def check_continued(previous: FitResult, spec: LoopSpec) -> None:
    """Refuse to continue a run that monitored another metric or mode (its best value
    says nothing of this one's), and warn that a stopped run trains no further."""
    old, new = ((s.monitor, "min" if s.sign > 0 else "max") for s in (previous.spec, spec))
    if old != new:
        raise ValueError(
            f"fit continues a run that monitored {old[0]} ({old[1]}), but this call monitors "
            f"{new[0]} ({new[1]}): its best value is not comparable. Pass the same val_data "
            "(or none) and TrainConfig.monitor and mode, or start a new fit from the last "
            "epoch's state: fit(result.loop.train, ...)")
    if bool(previous.loop.stopped):
        diverged = int(previous.loop.diverged_epoch)
        fix = ("start again from result.state (its best epoch's parameters, finite) with a "
               "lower learning rate" if diverged else "to train on from its last epoch with early "
               "stopping afresh, fit(result.loop.train, ...)")
        warnings.warn(
            f"fit continues a run that {'diverged' if diverged else 'early-stopped'} at epoch "
            f"{int(previous.loop.epoch)}: one longer fit trains no further, so nothing is "
            f"trained; {fix}", stacklevel=3)


@cached_per_loss
def default_eval_fn(loss_fn: LossFn, batch_size: int) -> EvalFn:
    """Weighted mean of the loss and aux metrics over all rows (no dropout)."""
    return functools.partial(evaluate, make_eval_step(loss_fn), batch_size=batch_size)


def fit(state: TrainState | FitResult, loss_fn: LossFn, data: dict, *, config: TrainConfig,
        val_data: dict | None = None, weights: Any = None, val_weights: Any = None,
        eval_fn: EvalFn | None = None, callbacks: Sequence[Callback] | None = None) -> FitResult:
    """Train one model for `config.epochs` epochs (fewer if it early-stops).

    Args:
      state: the model's `TrainState`, or a `FitResult` to continue that run.
      loss_fn: `(params, batch, rng) -> (loss, aux)`; a batch holds the rows of `data`
        plus "weight" (the batch's sample weights, 0 on padding), by which the loss must
        weight each row (`check_loss_fn` refuses one that does not, where it matters).
      data: arrays with one row per sample, e.g. {"x": f32[n, d], "y": f32[n]}; an
        optional "weight" entry multiplies every sample's weight.
      val_data, val_weights: evaluated after every epoch with `eval_fn` (default: the
        weighted mean of `loss_fn` without dropout); metrics get a "val_" prefix.
      weights: f32[n] sample weights or a 0/1 mask (e.g. one fold).
      callbacks: host-side hooks called once per epoch (progress, logging, checkpoints);
        None: a progress bar; () for none.

    Continuing: `fit(result, ...)` with the same data, batch size, validation and monitor
    trains `config.epochs` more epochs as one longer fit would: 5 epochs and then 5 more
    equal 10 epochs bitwise (parameters, history, best epoch), dropout, schedule and
    early stopping included. It goes on from the last epoch's state, with the best value
    and parameters so far and the epochs since the last improvement; its history, epoch
    numbers and timings (`epoch_s`, `train_s`, `compile_s`, `compilations`) are the
    whole run's; a `Checkpointer` of it needs a directory of its own
    (it holds the continuation's epochs). A run that had stopped (patience, divergence)
    trains no further, with a warning. `fit(result.loop.train, ...)` instead starts a new
    fit from the last epoch's state: the shuffles go on (each epoch's is drawn for the
    epochs the state's step count holds), but early stopping and the best epoch start
    afresh; `result.state` holds the best epoch's parameters where they were restored,
    with the last epoch's optimizer state. Build the optimizer for the whole run's steps
    (a schedule's count lives in its state). A state whose step count is not whole
    epochs of this data (other data or batch size, or steps taken outside `fit`) is
    warned about: its shuffles go on from epoch `step // batches per epoch`.

    Raises:
      TrainingDiverged: the loss (or validation loss) became NaN or infinite; names the
        epoch.
    """
    previous = state if isinstance(state, FitResult) else None
    if previous is not None:
        state = previous.loop.train
    check_type("fit's config", config, TrainConfig)
    check_injected(state.opt_state, "fit's state: the optimizer state's hyperparams")
    data, weights = prepare(data, weights, "data", loss_fn)
    has_val = val_data is not None
    if eval_fn is not None and not has_val:
        raise ValueError("fit got an eval_fn but no val_data to evaluate it on; pass "
                         "val_data (and val_weights), or leave eval_fn out")
    evaluates = has_val and eval_fn is None   # the loss also gives the validation loss
    if has_val:
        val_data, val_weights = prepare(val_data, val_weights, "val_data", loss_fn)
        eval_fn = eval_fn or default_eval_fn(loss_fn, config.eval_batch_size)
    spec = loop_spec(config, [int((np.asarray(weights) > 0).sum())], has_val)
    if previous is not None:
        check_continued(previous, spec)
    warn_partial_epoch(int(state.step), spec.n_batches)
    if previous is None or not bool(previous.loop.stopped):   # else nothing steps
        warn_schedule_end(state.opt_state, int(state.step) + config.epochs * spec.n_batches)
    with inputs_named(data):
        check_loss_fn(loss_fn, state.params, data, np.asarray(weights), spec.batch_size,
                      spec.n_batches, val_weights if evaluates else None,
                      config.eval_batch_size)
    step_fn = functools.partial(advance_jit, spec, make_train_step(loss_fn),
                                eval_fn if has_val else None)
    loop = LoopState.start(state) if previous is None else previous.loop
    epochs = int(loop.epoch) + config.epochs
    args = (data, weights, val_data, val_weights)

    if callbacks is None:
        callbacks = [ProgressBar(epochs)]
    record = (RunRecord() if previous is None else   # the whole run's history and epoch times
              RunRecord(history=list(previous.history), epoch_s=list(previous.epoch_s)))
    with inputs_named(data, val_data=val_data):
        loop = run_epochs(step_fn, loop, args, epochs, callbacks, record,
                          settings=(spec, optimizer_settings(state.tx),
                                    getattr(loss_fn, "structure", None)))
    diverged = int(loop.diverged_epoch)
    use_best = diverged or (config.restore_best and has_val and int(loop.best_epoch) > 0)
    state = loop.train.replace(params=loop.best_params) if use_best else loop.train
    if previous is not None:   # the whole run's, as its history is
        record.compile_s += previous.compile_s
        record.compilations += previous.compilations
        record.train_s += previous.train_s
    result = FitResult(state=state, loop=loop, history=record.history,
                       best_epoch=int(loop.best_epoch), epochs_run=int(loop.epoch),
                       compile_s=record.compile_s, compilations=record.compilations,
                       train_s=record.train_s, epoch_s=record.epoch_s, spec=spec)
    if not diverged and has_val and spec.val_selects and result.best_epoch == 0 and record.history:
        warn_unselected(f"{spec.monitor} was")
    if diverged:
        logs = record.history[-1] if record.history else {}
        shown = dict.fromkeys(["loss", "val_loss", spec.monitor])
        values = ", ".join(f"{k}={float(logs[k]):.4g}" for k in shown if k in logs)
        kept = (f"epoch {result.best_epoch}'s parameters, the best before it" if
                result.best_epoch else "the initial parameters (no epoch improved on them)")
        raise TrainingDiverged(
            f"training diverged at epoch {diverged}: {values}. Lower optim.learning_rate, "
            "set optim.clip_norm, or check the inputs for extreme values. This error's "
            f".result.state holds {kept}.", result)
    return result
