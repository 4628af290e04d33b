"""The epoch loop shared by `fit` (one model) and `train_population` (many).

`LoopState` is everything a run carries between epochs: the train state, the best
parameters so far, early-stopping counters and the epoch number, all as device arrays.
`advance` is one pure epoch: train, evaluate, update the best and the stop flags. The
host loop (`run_epochs`) only calls a compiled `advance` once per epoch and hands the
results to callbacks; a population is the same loop over a vmapped `advance`.

Because the whole run's state is one pytree, a checkpoint of it resumes a run exactly.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from fjax.config import TrainConfig
from fjax.runtime import interrupted, to_device
from fjax.train.callbacks import Callback, Resumed
from fjax.train.epoch import num_batches, train_epoch
from fjax.train.state import TrainState

EvalFn = Callable[[Any, dict, jax.Array], dict]


@struct.dataclass
class LoopState:
    train: TrainState
    best_params: Any
    best_score: jax.Array    # f32: the monitored value, sign-flipped so lower is better
    best_epoch: jax.Array    # i32: 1-based epoch of best_params (0: none yet)
    bad_epochs: jax.Array    # i32: epochs since the last improvement
    stopped: jax.Array       # bool: early-stopped or diverged; no more updates
    diverged_epoch: jax.Array  # i32: epoch whose loss or val_loss was not finite (0: none)
    epoch: jax.Array         # i32: epochs completed

    @classmethod
    def start(cls, state: TrainState) -> "LoopState":
        zero = to_device(np.int32(0))   # host values: jnp.asarray compiles a program each
        return cls(train=state, best_params=state.params,
                   best_score=to_device(np.float32(np.inf)), best_epoch=zero,
                   bad_epochs=zero, stopped=to_device(np.False_), diverged_epoch=zero,
                   epoch=zero)


@dataclass(frozen=True)
class LoopSpec:
    """The static parts of `advance`: batch geometry and early-stopping rule."""

    batch_size: int
    n_batches: int
    monitor: str
    sign: float            # +1 to minimise the monitor, -1 to maximise it
    min_delta: float
    patience: int | None
    skip_empty: bool = False  # some members have fewer rows: skip their empty batches
    val_selects: bool = True  # validation picks epochs (restore_best or patience); if not,
                              # it is only logged, and a non-finite val_loss stops nothing


def loop_spec(config: TrainConfig, rows: Sequence[int], has_val: bool) -> LoopSpec:
    """The `LoopSpec` of members with `rows` weighted training rows each (one for `fit`):
    one batch size (no padding beyond the largest member's rows), enough batches for the
    largest, and empty batches skipped where a smaller member runs out of rows. The
    monitor defaults to val_loss with validation data, else loss."""
    most, fewest = max(int(np.max(rows)), 1), int(np.min(rows))
    batch_size = min(config.batch_size, most)
    n_batches = num_batches(most, batch_size)
    return LoopSpec(batch_size=batch_size, n_batches=n_batches,
                    monitor=config.monitor or ("val_loss" if has_val else "loss"),
                    sign=1.0 if config.monitor_mode == "min" else -1.0,
                    min_delta=config.min_delta, patience=config.patience,
                    skip_empty=num_batches(fewest, batch_size) < n_batches,
                    val_selects=config.val_selects)


def advance(spec: LoopSpec, train_step, eval_fn: EvalFn | None, loop: LoopState,
            data: dict, weights: jax.Array, val_data: dict | None,
            val_weights: jax.Array | None, perm: jax.Array | None = None,
            group: bool = False) -> tuple[LoopState, dict]:
    """One epoch: train, evaluate, track the best, decide to stop.

    For one member; or, with `group=True`, for a group of members that see the same
    batches (same seed and fold): `loop` is stacked `[G, ...]`, `train_step` and
    `eval_fn` take stacked states and params with shared data, and metrics are `[G]`.
    Sharing the batch lets XLA turn the members' first-layer matmuls into one matmul.
    Without `perm` (one model: `fit`), the epoch's shuffle is drawn for `shuffle_epoch`,
    the epochs the state's step count has done, so a `fit` continued from another's
    returned state draws the shuffles that one longer `fit` would have.
    A member that had already stopped (early stopping, divergence) trains this epoch only
    because it shares the program; its metrics are NaN, so no log shows an epoch it never
    kept.
    """
    state, metrics = train_epoch(train_step, loop.train, data, weights,
                                 shuffle_epoch(loop.train.step, spec.n_batches),
                                 batch_size=spec.batch_size, n_batches=spec.n_batches,
                                 skip_empty=spec.skip_empty, perm=perm)
    if eval_fn is not None and val_data is not None:
        metrics.update({f"val_{k}": v for k, v in eval_fn(state.params, val_data,
                                                          val_weights).items()})
    if spec.monitor not in metrics:
        raise ValueError(monitor_error(spec.monitor, sorted(metrics)))
    update = jax.vmap(track_best, in_axes=(None, 0, 0, 0)) if group else track_best
    logged = {k: jnp.where(loop.stopped, jnp.nan, v) for k, v in metrics.items()}
    return update(spec, loop, state, metrics), logged


def monitor_error(monitor: str, metrics: list[str]) -> str:
    """Why the monitor is not among the epoch's `metrics`. 'val_loss' is TrainConfig's
    default with validation data: an eval_fn without 'loss' was told that the monitor it
    never set is not a metric, as if it had set it."""
    returned = [m.removeprefix("val_") for m in metrics if m.startswith("val_")]
    if monitor != "val_loss" or not returned:
        return (f"TrainConfig.monitor {monitor!r} is not a metric of this run; choose one "
                f"of {metrics}")
    return (f"the monitor is 'val_loss', TrainConfig.monitor's default with validation "
            f"data, but the eval_fn returns no 'loss' (it returns {returned}, logged with "
            f"a val_ prefix); set TrainConfig.monitor to one of {metrics}, or have the "
            "eval_fn return 'loss'")


def shuffle_epoch(step: jax.Array, n_batches: int) -> jax.Array:
    """The epoch whose shuffle one model draws next: the whole epochs of `n_batches`
    steps its `step` count holds. From a fresh state that is the loop's epoch (one step
    per batch); from a state that `fit` returned, its epochs continue the sequence, where
    the loop's own epoch count would start again at 0 and replay the same shuffles."""
    return step // n_batches


def track_best(spec: LoopSpec, loop: LoopState, state: TrainState, metrics: dict) -> LoopState:
    """One member's bookkeeping after an epoch: best parameters, patience, divergence.
    A member that had already stopped keeps its state: its epoch was computed (it shares
    the program with the others) but is discarded.

    Divergence is a loss (training, or validation where it selects epochs) that is not
    finite. Validation that is only logged (a test span monitored for the plot) decides
    nothing, divergence included. A monitored metric that is undefined (NaN: e.g. AUC on
    validation rows of one class) only fails to improve: it says nothing about the
    parameters."""
    epoch = loop.epoch + 1
    score = spec.sign * metrics[spec.monitor]
    finite = jnp.isfinite(metrics["loss"])
    if "val_loss" in metrics and spec.val_selects:
        finite &= jnp.isfinite(metrics["val_loss"])
    improved = finite & jnp.isfinite(score) & (score < loop.best_score - spec.min_delta)
    bad = jnp.where(improved, 0, loop.bad_epochs + 1)
    patience_out = bad >= spec.patience if spec.patience is not None else False
    new = LoopState(
        train=state,
        best_params=jax.tree.map(lambda a, b: jnp.where(improved, a, b),
                                 state.params, loop.best_params),
        # kept f32: a float64 metric (jax_enable_x64) changed the loop's type, and
        # the epoch compiled again
        best_score=jnp.where(improved, score, loop.best_score).astype(loop.best_score.dtype),
        best_epoch=jnp.where(improved, epoch, loop.best_epoch),
        bad_epochs=bad,
        stopped=~finite | patience_out,
        diverged_epoch=jnp.where(finite, loop.diverged_epoch, epoch),
        epoch=epoch,
    )
    return jax.tree.map(lambda old, upd: jnp.where(loop.stopped, old, upd), loop, new)


def warn_unselected(subject: str) -> None:
    """Warn (for the caller of `fit` or `train_population`) that `subject`, e.g. "1 of 4
    members had val_auc", never had a finite monitor, so no epoch was selected."""
    warnings.warn(
        f"{subject} undefined (not finite) in every epoch, so no epoch was selected and the "
        "last one's parameters are kept. It may be undefined on the validation rows (e.g. "
        "AUC or average precision with one class only): give validation rows with both "
        "classes or choose another TrainConfig.monitor. In an eval_fn of your own, "
        "fjax.metrics take (scores, labels), the reverse of scikit-learn's order; labels "
        "other than 0/1 make them NaN", stacklevel=3)


# One compiled program per structure: static arguments are the loop spec, the train step
# and the eval function, so repeated runs with the same ones reuse the compilation.
advance_jit = jax.jit(advance, static_argnums=(0, 1, 2))


@dataclass
class RunRecord:
    """What the host loop measured: per-epoch logs, timings and compilations."""

    history: list[dict] = field(default_factory=list)
    compile_s: float = 0.0     # tracing, lowering and XLA compilation (the first epoch)
    compilations: int = 0      # XLA compilations during the run (1 for a fresh structure)
    train_s: float = 0.0
    epoch_s: list[float] = field(default_factory=list)   # one per epoch of `history`:
    # its `time_s`, a restored epoch's as its own session measured it
    resumed_epoch: int = 0     # epochs a checkpoint restored (not timed in the sums above)


class CompileMeter:
    """Sums JAX's own compile-time events (trace, lower, backend compile) while active."""

    EVENTS = ("/jax/core/compile/jaxpr_trace_duration",
              "/jax/core/compile/jaxpr_to_mlir_module_duration",
              "/jax/core/compile/backend_compile_duration")

    def __init__(self):
        self.seconds, self.compilations = 0.0, 0

    def _listen(self, event: str, duration: float, **_) -> None:
        if event in self.EVENTS:
            self.seconds += duration
            self.compilations += event == self.EVENTS[-1]

    def __enter__(self):
        jax.monitoring.register_event_duration_secs_listener(self._listen)
        return self

    def __exit__(self, *exc):
        jax.monitoring.unregister_event_duration_listener(self._listen)


def run_digest(loop: LoopState, args: tuple, settings: Any) -> str:
    """A digest of everything a run starts from: its initial state (weights, optimizer
    state with the per-member hyperparameters, keys), the epoch's array arguments (data,
    weights, masks, loss hyperparameters) and its static `settings` (a repr-stable
    value). Two runs with equal digests compute the same epochs."""
    digest = hashlib.blake2b(repr(settings).encode(), digest_size=16)
    for leaf in jax.tree.leaves((loop, args)):
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        a = np.ascontiguousarray(np.asarray(leaf))
        digest.update(f"{a.dtype}{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def begin(callbacks: Sequence[Callback], loop: LoopState, record: RunRecord) -> LoopState:
    """The state to start from after each callback's `on_train_begin`: the one it
    returns, if any; a `Resumed` run also brings the history of its epochs into `record`
    (after those `record` holds: a continued `fit`'s earlier ones, which the checkpoint,
    written by this call, does not), with their times (`time_s`, NaN where not logged) in
    `epoch_s`, so that it stays one per epoch of the history; and callbacks with an
    `on_resumed(epoch)` method (loggers) learn where it resumes."""
    for cb in callbacks:
        begun = cb.on_train_begin(loop)
        if isinstance(begun, Resumed):
            loop, record.history = begun.loop, record.history + list(begun.history)
            record.epoch_s += [float(logs.get("time_s", np.nan)) for logs in begun.history]
            record.resumed_epoch = len(record.history)
            for other in callbacks:
                if hasattr(other, "on_resumed"):
                    other.on_resumed(record.resumed_epoch)
        elif begun is not None:
            loop = begun
    return loop


def run_epochs(step_fn, loop: LoopState, args: tuple, epochs: int,
               callbacks: Sequence[Callback], record: RunRecord, settings: Any = None) -> LoopState:
    """Call the jitted `step_fn(loop, *args)` once per epoch.

    It compiles on the first call (measured in `record`) and never again: shapes and
    static arguments do not change between epochs. The host does per-epoch work only:
    callbacks get numpy logs; the loop ends when every member has stopped or `epochs`
    is reached. On Ctrl-C each callback's `on_interrupt` gets the last finished epoch's
    state (a `Checkpointer` saves it), then the KeyboardInterrupt goes on. Callbacks
    with an `on_run_inputs(digest)` method (a `Checkpointer`) get
    `run_digest(loop, args, settings)` first, so that a checkpoint is only resumed by
    the run that wrote it.
    """
    digest = None
    for cb in callbacks:
        if hasattr(cb, "on_run_inputs"):
            digest = digest or run_digest(loop, args, settings)
            cb.on_run_inputs(digest)
    loop = begin(callbacks, loop, record)
    start = int(np.max(np.asarray(loop.epoch)))
    if start > epochs:
        raise ValueError(f"the run resumed at epoch {start}, beyond this run's {epochs} "
                         "epochs; ask for at least as many epochs as the checkpoint holds, "
                         "or use a new checkpoint directory")
    t_train = time.perf_counter()
    with CompileMeter() as meter:
        done = loop   # the state after the last epoch every callback has seen
        try:
            for epoch in range(start + 1, epochs + 1):
                if bool(np.all(np.asarray(loop.stopped))):
                    break
                t = time.perf_counter()
                loop, metrics = step_fn(loop, *args)
                logs = {k: np.asarray(v) for k, v in metrics.items()}
                record.epoch_s.append(time.perf_counter() - t)
                logs["epoch"] = epoch
                logs["time_s"] = record.epoch_s[-1]
                record.history.append(logs)
                for cb in callbacks:
                    cb.on_epoch_end(epoch, logs, loop)
                done = loop
                if interrupted():   # a Ctrl-C that Python swallowed (`reliable_interrupts`)
                    raise KeyboardInterrupt
            record.compile_s, record.compilations = meter.seconds, meter.compilations
            record.train_s = time.perf_counter() - t_train
            for cb in callbacks:   # a Ctrl-C here still saves the last epoch
                cb.on_train_end(loop)
        except KeyboardInterrupt:
            for cb in callbacks:
                if hasattr(cb, "on_interrupt"):
                    cb.on_interrupt(done)
            raise
    return loop
