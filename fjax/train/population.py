"""Populations: many models as one model with a leading member axis.

Members are seeds x folds x hyperparameter grid points (grid innermost, `members.py`).
Their `TrainState`s are created by mapping `init_member` over them and trained by a
lifted `advance` (one epoch, `lift.py`) inside one compiled program. Continuous
hyperparameters are data: optimizer values live in `opt_state.hyperparams`, loss values
are passed to `loss_fn` as `hparams=`, and folds are masks over the same device arrays,
so any grid over them is one compilation.

Shapes: with P members, every leaf of the stacked state is `[P, ...]`, member sample
weights are selected from fold masks `f32[K, n]` by each member's fold index.
"""

from __future__ import annotations

import copy
import difflib
import functools
import inspect
import os
import warnings
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from fjax.config import OptimConfig, TrainConfig, metric_mode
from fjax.data.checks import check_count, check_type, check_weights
from fjax.data.splits import Folds
from fjax.optim import (HYPERPARAMS, SCHEDULE_STEPS, SPANS_RUN, build_optimizer, check_injected,
                        optimizer_settings, schedule_shape, set_hyperparams)
from fjax.runtime import to_device, write_atomic
from fjax.train.callbacks import Callback, ProgressBar
from fjax.train.epoch import num_batches
from fjax.train.fit import prepare
from fjax.train.lift import PopulationSpec, auto_chunk, member_mesh, population_epoch
from fjax.train.loop import EvalFn, LoopState, RunRecord, loop_spec, run_epochs, warn_unselected
from fjax.train.members import (InitFn, check_grid, check_optimizer_values, check_seeds,
                                init_population, member_grid)
from fjax.train.objective import apply_model, stable_apply
from fjax.train.population_file import population_bytes, population_fields, read_population
from fjax.train.step import check_loss_fn, inputs_named


@dataclass
class Population:
    """A trained population: stacked states plus one row of bookkeeping per member.
    `save(path)` and `Population.load(path)` keep it in one file (so does pickle)."""

    loop: LoopState              # stacked over members
    params: Any                  # stacked final params: best epoch's where validated
    members: pd.DataFrame        # member, seed, fold, and one column per hyperparameter
    history: list[dict]          # per epoch: metric -> np.ndarray[P]; NaN for a member
                                 # that had stopped (its epoch was computed, not kept)
    monitor: str
    mode: str
    compile_s: float             # compiling the epoch program (not the initial states')
    compilations: int
    train_s: float               # the epochs, first compile included
    epoch_s: list[float]         # one per epoch of `history` (its time_s), restored ones too
    resumed_epoch: int = 0       # epochs restored from a checkpoint (not in compile_s, train_s)
    # f64[P]: the loss at the first seed's initial parameters with each member's loss
    # values (`member_starts`), by which `blown_up` judges
    initial_loss: np.ndarray | float = float("nan")

    @property
    def size(self) -> int:
        return len(self.members)

    def member_params(self, i: int) -> Any:
        """Member `i`'s parameters (a row of `members`; negative counts from the end).
        Checked here: jax clamps an index past the end, which returned the last member."""
        if not -self.size <= i < self.size:
            raise IndexError(f"member {i} is out of range: the population has {self.size} "
                             f"members, 0 to {self.size - 1} (the rows of Population.members)")
        return jax.tree.map(lambda x: x[i], self.params)

    def table(self) -> pd.DataFrame:
        """One row per member: its hyperparameters, seed, fold, epochs run, the best epoch
        and every metric at its best and at its last epoch."""
        rows = self.members.copy()
        epochs = np.asarray(self.loop.epoch)
        best = np.asarray(self.loop.best_epoch)
        rows["epochs"] = epochs
        rows["best_epoch"] = best
        rows["diverged_epoch"] = np.asarray(self.loop.diverged_epoch)
        names = [k for k in self.history[0] if k not in ("epoch", "time_s")] if self.history else []
        for name in names:
            stacked = np.stack([np.asarray(h[name]) for h in self.history])  # [E, P, ...]
            idx = np.arange(self.size)
            at_best = stacked[np.maximum(best, 1) - 1, idx]
            selected = (best > 0).reshape((-1,) + (1,) * (at_best.ndim - 1))
            rows[f"final_{name}"] = _column(stacked[np.maximum(epochs, 1) - 1, idx])
            rows[f"best_{name}"] = _column(np.where(selected, at_best, np.nan))
        return rows

    def predict(self, apply_fn: Callable, x: Any, batch_size: int = 1024) -> Any:
        """`[P, n, ...]` in the model's output dtype (bfloat16 for a bfloat16 model):
        every member's output on `x` with its final `params`, as `apply_fn(params, rows)`
        in eval mode (`fjax.train.objective.apply_model`): e.g. a flax `model.apply`, with
        or without a `deterministic` argument, or a function of your own. A model with
        several outputs (a tuple or dict of arrays) gets each as `[P, n, ...]`; one with
        several inputs takes `x` as a tuple or dict of arrays of n rows each."""
        return predict_members(apply_fn, self.params, x, batch_size)()

    def save(self, path: str | os.PathLike) -> Path:
        """Write this population to one file at `path`, atomically (`population_file`):
        everything `load` needs to predict and to read its tables, not the optimizer
        state. Pickling a population stores the same."""
        return write_atomic(path, population_bytes(self))

    @classmethod
    def load(cls, path: str | os.PathLike, like: Any = None) -> "Population":
        """The population saved at `path`. Its parameters come back as nested dicts
        (flax's); pass `like`, one member's parameters (`init_fn(key)`, or its
        `jax.eval_shape`), for any other pytree or to check that they fit a model."""
        return cls(**read_population(path, like))

    def __reduce__(self):
        """The saved file's bytes, and one member's parameter shapes (`like`), which a
        file leaves to its reader: so parameters of any pytree unpickle as they were."""
        like = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), self.params)
        return _unpickle, (population_bytes(self), like)

    def __copy__(self) -> "Population":
        return replace(self)

    def __deepcopy__(self, memo: dict) -> "Population":
        """A whole copy, optimizer state included (pickling leaves it out)."""
        return Population(**{f.name: copy.deepcopy(getattr(self, f.name), memo)
                             for f in fields(self)})

    def mode_of(self, metric: str, mode: str | None = None) -> str:
        """`mode` if given, else the monitor's for the monitor, else the metric's own
        ("max" for val_auc, "min" for val_rmse: `fjax.config.metric_mode`)."""
        if mode not in (None, "min", "max"):   # summary read 'maximum' as min's worst
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        mode = mode or (self.mode if metric == self.monitor else metric_mode(metric))
        if mode is None:
            raise ValueError(f"whether a higher or a lower {metric!r} is better is not known "
                             "from its name; pass mode='min' or mode='max'")
        return mode

    def summary(self, metric: str | None = None, mode: str | None = None) -> pd.DataFrame:
        """Mean and std over seeds and folds of `best_<metric>`, one row per config.

        A member that diverged counts as the worst value (inf for mode "min", -inf for
        "max"), so a config ranks last if any of its seeds or folds diverged, rather than
        by the members that survived. Undefined values (NaN: e.g. AUC on a fold of one
        class) are left out of the mean, and `count` says how many were not."""
        metric = metric or self.monitor
        mode = self.mode_of(metric, mode)
        hp = grid_columns(self.members)
        table = self.table()
        col = f"best_{metric}"
        if col not in table:   # was a bare KeyError('best_val_auc')
            logged = [c.removeprefix("best_") for c in table if c.startswith("best_")
                      and c != "best_epoch"]
            raise ValueError(f"{metric!r} is not a metric of this population; choose one of "
                             f"{logged} (validation metrics come from val_data or folds, "
                             "and eval_fn's with a val_ prefix)")
        worst = np.inf if mode == "min" else -np.inf
        table[col] = table[col].where(table["diverged_epoch"] == 0, worst)
        if not hp:
            table = table.assign(config=0)
            hp = ["config"]
        return (table.groupby(hp, sort=False)[col].agg(["mean", "std", "count"])
                .rename(columns=lambda c: f"{metric}_{c}").reset_index())

    def best_config(self, metric: str | None = None, mode: str | None = None) -> dict:
        """The hyperparameters whose mean over folds and seeds of `metric` is best, among
        the configs whose mean is finite (see `best_row`). Configs tied exactly at that
        mean are warned of by name (a grid value that changes nothing, or a saturated
        metric): the first of them in the grid's order is returned."""
        metric = metric or self.monitor
        mode = self.mode_of(metric, mode)
        summary = self.summary(metric, mode)
        col = f"{metric}_mean"
        keys = [k for k in summary.columns
                if k not in (col, f"{metric}_std", f"{metric}_count", "config")]
        values = lambda row: {k: np.asarray(row[k]).item() for k in keys}  # noqa: E731
        best = summary.loc[best_row(summary[col], mode)]
        tied = [values(r) for _, r in summary[summary[col] == best[col]].iterrows()]
        if len(tied) > 1:
            warnings.warn(f"{len(tied)} configs tie at the best mean {metric} = "
                          f"{best[col]:.6g}: {'; '.join(map(str, tied))}"
                          "; best_config returns the first, in the grid's order (compare them "
                          "on another metric, or with more seeds or folds)", stacklevel=2)
        return values(best)     # plain Python values


def _column(values: np.ndarray) -> Any:
    """Per-member values `[P]` as a column; a metric of several values per member (`[P,
    ...]`: an aux metric per class) as one array per row."""
    return values if values.ndim == 1 else list(values)


def _unpickle(data: bytes, like: Any = None) -> Population:
    return Population(**population_fields(data, "a pickled Population", like))


def predict_members(apply_fn: Callable, params: Any, x: Any,
                    batch_size: int = 1024) -> Callable[[], Any]:
    """A compiled `() -> [P, N, ...]` (or a pytree of them, each in the model's output
    dtype): every stacked member's output (eval mode, `apply_model`) on every row of `x`
    (an array, or a pytree of arrays of N rows each), `batch_size` rows at a time.

    Returned uncalled so callers can time compilation and execution apart. The program
    is jax's own jit cache's (`_predict_rows`), by `apply_fn` (a bound `model.apply` is
    the same as any equal model's, `stable_apply`), row count and shapes: calling again with
    the same ones traces and compiles nothing.
    """
    x = jax.tree.map(np.asarray, x)
    rows = [a.shape[0] if a.ndim else 0 for a in jax.tree.leaves(x)]
    if not rows or min(rows) != max(rows) or not rows[0]:
        raise ValueError(f"x holds arrays of {rows} rows; predicting needs an array, or a "
                         "pytree of arrays, with the same number of rows (at least one)")
    check_count("batch_size", batch_size, 1)
    check_finite_rows(x)
    n = rows[0]
    bs = min(batch_size, n)
    nb = num_batches(n, bs)
    xb = jax.tree.map(lambda a: to_device(np.concatenate(
        [a, np.repeat(a[-1:], nb * bs - n, axis=0)]).reshape(nb, bs, *a.shape[1:])), x)
    apply_fn = stable_apply(apply_fn)   # a rebuilt equal model's is the same
    with inputs_named({"x": x}, "x"):
        compiled = _predict_rows.lower(apply_fn, n, params, xb).compile()

    def run() -> Any:
        return jax.tree.map(np.asarray, compiled(params, xb))

    return run


@functools.partial(jax.jit, static_argnums=(0, 1))
def _predict_rows(apply_fn: Callable, n: int, params: Any, xb: Any) -> Any:
    """Every member's output on the first `n` rows of the batches `xb` (`[nb, bs, ...]`
    leaves): at module level so that jax caches its program across calls."""
    def one(p, xb):
        out = jax.lax.map(lambda b: apply_model(apply_fn, p, b, None), xb)
        return jax.tree.map(lambda o: o.reshape((-1,) + o.shape[2:])[:n], out)
    return jax.vmap(one, in_axes=(0, None))(params, xb)


def check_finite_rows(x: Any) -> None:
    """Every float array of `x` finite: a row with a NaN got a NaN prediction, silently;
    refused as training refuses it (as scikit-learn's predict does)."""
    for path, a in jax.tree_util.tree_leaves_with_path(x):
        if jax.dtypes.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
            bad = np.unique(np.nonzero(~np.isfinite(a.reshape(len(a), -1)))[0])
            raise ValueError(f"x{jax.tree_util.keystr(path)} has NaN or infinite values in "
                             f"{len(bad)} row(s) (first at row {bad[0]}); impute or remove "
                             "them before predicting, as for training")


def best_row(means: pd.Series, mode: str) -> Any:
    """The index of the best finite mean. Configs with a diverged member (mean +-inf) or
    with the metric undefined on every member (NaN) are never chosen; if no config is
    left, that is an error rather than a pick among failures. An exact tie goes to the
    first in `means`' order, silently: the tasks' sweeps report a choice that is not
    distinguishable from its runner-up (ties included), and `best_config` warns."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    finite = means[np.isfinite(means.to_numpy(np.float64))]
    if finite.empty:
        raise ValueError(f"no configuration has a finite mean {means.name}: each had a "
                         "member that diverged (inf) or the metric undefined on all its "
                         "members (NaN); see Population.table()")
    return finite.idxmin() if mode == "min" else finite.idxmax()


# Where diverged members rank, and are listed, for a user of `Population`.
RANKED = "They rank last in summary() and best_config(); see table()['diverged_epoch']"


def train_population(loss_fn: Callable, init_fn: InitFn, data: dict, *,
                     optim: OptimConfig | optax.GradientTransformation,
                     train: TrainConfig, hparams: Mapping[str, Sequence[float]] | None = None,
                     seeds: Sequence[int] = (0,), folds: Folds | None = None,
                     val_data: dict | None = None, eval_fn: EvalFn | None = None,
                     callbacks: Sequence[Callback] | None = None,
                     devices: Sequence[jax.Device] | None = None,
                     ranked: str = RANKED) -> Population:
    """Train seeds x folds x grid members of one structure as one compiled program.

    Args:
      loss_fn: `(params, batch, rng, *, hparams) -> (loss, aux)`. `hparams` holds this
        member's values of the grid keys the optimizer does not own (e.g. "focal_gamma");
        it is only passed when the grid has such keys.
      init_fn: `key -> params` (e.g. `lambda k: model.init(k, x[:1])`).
      data: arrays with one row per sample, shared by all members (sent to the device once).
      optim, train: the compile group's optimizer and loop settings. Each member's
        schedule (warmup, decay) spans its own `E * num_batches(rows, batch_size)`
        steps (E: `optim.schedule_epochs` where set, else `train.epochs`), its training
        rows' (a walk-forward fold with fewer rows decays as fully as the longest), as
        its `fit` with `build_optimizer(optim, that length)`; the lengths are injected
        values (`opt_state.hyperparams["schedule_steps"]`), so unequal folds are still
        one program. A warm-up is
        judged on the shortest member: it must end within that member's steps.
        `optim` may instead be an optax transformation of your own (a chain, a schedule
        of your own length); a grid over its hyperparameters needs it wrapped in
        `optax.inject_hyperparams`, outermost: every name it injects ("learning_rate",
        "b1", "eps", ...) may then be a grid key.
      hparams: grid of per-member values, e.g. {"learning_rate": [1e-3, 3e-3],
        "weight_decay": [0, 1e-4]}; optimizer keys are "learning_rate", "weight_decay",
        "momentum" (and those your own `optim` injects); any other key goes to `loss_fn`.
      seeds: one member per seed for every grid point and fold.
      folds: training/validation masks over `data` (members validate on their fold).
        Without folds, members train on all rows and validate on `val_data` if given.
      eval_fn: `(params, val_data, val_weights) -> metrics`; default: weighted loss.
      devices: where members train (default: `fjax.runtime.default_devices()`, every
        local device of the default backend unless `jax.default_device` pins one).
        Groups of members (those sharing seed and fold) are spread over the most devices
        that divide their number evenly, the data copied to each; where that is one (one
        device given, or e.g. 3 groups on 2 devices), nothing is sharded.
      ranked: the divergence warning's closing sentence, on where diverged members rank
        (a task's names its files; by default these `Population` methods).
    """
    check_type("train_population's train", train, TrainConfig)
    check_type("train_population's optim", optim, OptimConfig, optax.GradientTransformation)
    hparams = check_grid(hparams or {})
    seeds = check_seeds(seeds)
    optimizer_names, loss_names = grid_owners(hparams, optim, init_fn, loss_fn)
    data, base_weights, train_masks, val_data, val_masks = member_data(
        loss_fn, data, folds, val_data)
    has_val = val_data is not None
    members = member_grid(hparams, seeds, train_masks.shape[0])

    member_weights = np.asarray(train_masks) * np.asarray(base_weights)
    spec = loop_spec(train, np.sum(member_weights > 0, axis=1), has_val)
    tx, member_steps = member_optimizer(optim, train, spec.batch_size, member_weights,
                                        members["fold"].to_numpy())

    with inputs_named(data):
        check_loss_fn(loss_fn, jax.eval_shape(lambda: init_fn(jax.random.PRNGKey(0))), data,
                      member_weights, spec.batch_size, spec.n_batches,
                      val_masks if has_val and eval_fn is None else None, train.eval_batch_size,
                      loss_names)
    columns = {k: to_device(members[k].to_numpy(np.float32)) for k in hparams}
    loss_hp = {k: columns[k] for k in loss_names}
    loop = init_population(init_fn, tx, to_device(members["seed"].to_numpy(np.uint32)),
                           {**{k: columns[k] for k in optimizer_names}, **member_steps})
    group_size = int(np.prod([len(v) for v in hparams.values()])) if hparams else 1
    group_fold, group_seed, seed_rngs = member_groups(members, group_size, loop)
    initial_loss = member_starts(loss_fn, loop.train, data, base_weights, members, loss_names)

    chunk = train.member_chunk
    if chunk is None:
        with inputs_named(data):
            chunk = auto_chunk(loss_fn, loop, data, loss_hp)
    mesh = member_mesh(len(group_fold), devices)
    pop_spec = PopulationSpec(loop=spec, with_hparams=bool(loss_names), has_val=has_val,
                              eval_batch_size=train.eval_batch_size, group_size=group_size,
                              chunk=chunk, mesh=mesh)
    step_fn = functools.partial(population_epoch, pop_spec, loss_fn, eval_fn)
    args = (loss_hp, group_fold, group_seed, data, base_weights, train_masks, val_data,
            val_masks, seed_rngs)
    if mesh is not None:   # each device holds its groups' members and all the data
        split, copy = NamedSharding(mesh, P("pop")), NamedSharding(mesh, P())
        loop, args = jax.device_put((loop, args), (split, (split,) * 3 + (copy,) * 6))
    if callbacks is None:
        callbacks = [ProgressBar(train.epochs)]
    if loss_names and eval_fn is None and has_val and spec.monitor == "val_loss":
        warnings.warn(f"the grid varies the loss itself ({', '.join(loss_names)}), "
                      "so val_loss is not comparable across members and summary() and "
                      "best_config() favour the values that make it small; pass an eval_fn "
                      "with a metric that does not depend on the loss (e.g. AUC) and "
                      "monitor it",
                      stacklevel=2)
    record = RunRecord()
    # The digest's settings: what shapes the program, the model and loss where the loss
    # says (`supervised_loss` does), and the schedule (its length matters unless it is
    # constant), so a checkpoint resumes only the same run.
    # Not the devices: a run resumes on any number of them.
    settings = (replace(pop_spec, mesh=None), optimizer_settings(tx),
                getattr(loss_fn, "structure", None))
    with inputs_named(data, val_data=val_data):
        loop = run_epochs(step_fn, loop, args, train.epochs, callbacks, record,
                          settings=settings)
    params = _final_params(train.restore_best, has_val, loop)
    unselected = (np.asarray(loop.best_epoch) == 0) & (np.asarray(loop.diverged_epoch) == 0)
    if has_val and spec.val_selects and unselected.any():
        warn_unselected(f"{int(unselected.sum())} of {len(members)} members had {spec.monitor}")
    warn_diverged(members, np.asarray(loop.diverged_epoch), ranked)
    pop = Population(loop=loop, params=params, members=members, history=record.history,
                     monitor=spec.monitor, mode=train.monitor_mode, compile_s=record.compile_s,
                     compilations=record.compilations, train_s=record.train_s,
                     epoch_s=record.epoch_s, resumed_epoch=record.resumed_epoch,
                     initial_loss=initial_loss)
    warn_blown_up(blown_up(pop))
    return pop


def member_optimizer(optim: OptimConfig | optax.GradientTransformation, train: TrainConfig,
                     batch_size: int, member_weights: np.ndarray, member_fold: np.ndarray
                     ) -> tuple[optax.GradientTransformation, dict[str, jax.Array]]:
    """The optimizer, and the injected values that give each member a schedule of its own
    `train.epochs * num_batches(rows, batch_size)` steps (`optim.schedule_epochs` where
    set), as its `fit` on its rows takes (a walk-forward fold with fewer rows ended short
    of the longest one's decay). Built for the shortest member, so a warm-up it would
    never finish is refused."""
    if not isinstance(optim, OptimConfig):
        return optim, {}
    rows = np.sum(member_weights > 0, axis=1)
    span = optim.span(train.epochs)
    fold_steps = np.array([span * num_batches(int(r), batch_size) for r in rows])
    longest, shortest = int(fold_steps.max()), int(fold_steps.min())
    schedule_shape(optim, longest)   # its length fits int32
    if shortest < longest:   # a warm-up must end within the shortest member's steps
        schedule_shape(optim, shortest, whose="this run's shortest member (the fold with the "
                       f"fewest training rows; the longest takes {longest})")
    tx = build_optimizer(optim, shortest)
    if optim.schedule not in SPANS_RUN:
        return tx, {}
    return tx, {SCHEDULE_STEPS: to_device(fold_steps[member_fold].astype(np.int32))}


def grid_owners(hparams: Mapping[str, Sequence[float]],
                optim: OptimConfig | optax.GradientTransformation, init_fn: InitFn,
                loss_fn: Callable) -> tuple[list[str], list[str]]:
    """(the grid keys the optimizer takes, those that go to the loss), each checked: the
    optimizer's values by `check_optimizer_values`, the loss's keys by its `check_hparams`,
    and an optax optimizer of one's own by `check_injected` on a member's state: its own
    values where the grid sets none (a negative rate it was built with). All before the
    population's initialiser compiles (seconds for an LSTM), which would hold them too."""
    check_optimizer_values(optim, hparams)
    state = None if isinstance(optim, OptimConfig) else own_optimizer_state(optim, init_fn)
    own = getattr(state, "hyperparams", None) or {}
    injected = tuple(dict.fromkeys([*HYPERPARAMS, *own]))
    if state is not None:
        first = {k: hparams[k][0] for k in hparams if k in injected}
        check_injected(set_hyperparams(state, first) if first else state,
                       "train_population's optim: the optimizer state's hyperparams")
    loss_names = [k for k in hparams if k not in injected]
    if hasattr(loss_fn, "check_hparams"):
        loss_fn.check_hparams({k: hparams[k] for k in loss_names})
    elif loss_names and not takes_hparams(loss_fn):
        close = difflib.get_close_matches(loss_names[0], injected, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"hparams keys {loss_names}{hint} are not hyperparameters of the optimizer "
            f"({', '.join(injected)}), so they would go to loss_fn(..., hparams={{...}}), "
            "which takes no hparams argument; rename them, or give loss_fn a "
            "`hparams=None` argument and read them from it")
    return [k for k in hparams if k in injected], loss_names


def takes_hparams(loss_fn: Callable) -> bool:
    """Whether `loss_fn` accepts `hparams=` (a parameter of that name, or **kwargs); True
    where its signature cannot be read, so that only a clear refusal is added."""
    try:
        params = inspect.signature(loss_fn).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == "hparams" or p.kind is p.VAR_KEYWORD for p in params)


def own_optimizer_state(optim: optax.GradientTransformation, init_fn: InitFn):
    """An optax optimizer's state on one member's zero parameters (their shapes from
    `init_fn`, traced, not run): the hyperparameters it injects (b1, eps, ...) and their
    values, without compiling anything."""
    shapes = jax.eval_shape(init_fn, jax.random.PRNGKey(0))
    return optim.init(jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes))


def member_data(loss_fn: Callable, data: dict, folds: Folds | None, val_data: dict | None
                ) -> tuple[dict, jax.Array, jax.Array, dict | None, jax.Array | None]:
    """The checked arrays every member shares: (data, its weights `[n]`, training masks
    `[K, n]`, validation data, validation weights `[K, n]` or `[1, m]` or None). With
    folds, member k trains on mask k and validates on fold k of `data` itself."""
    data, base_weights = prepare(data, None, "data", loss_fn)
    n = base_weights.shape[0]
    if folds is not None and val_data is not None:
        raise ValueError("pass either folds (members validate on their fold of `data`) or "
                         "val_data, not both")
    if folds is not None:
        if not isinstance(folds, Folds):   # folds=5 failed with "'int' has no attribute 'n'"
            raise TypeError(f"folds must be a Folds (training and validation masks), got "
                            f"{type(folds).__name__} {folds!r:.60}; build one, e.g. "
                            "fjax.data.splits.stratified_kfold(labels, 5) or kfold(n, 5)")
        if folds.n != n:
            raise ValueError(f"folds cover {folds.n} rows but data has {n}")
        train_masks = to_device(check_weights(folds.train, n, "folds.train", ndim=2))
        # Members validate on their fold's rows with the data's own weights, as `fit`.
        val_masks = to_device(check_weights(folds.val, n, "folds.val", ndim=2)
                              * np.asarray(base_weights))
        return data, base_weights, train_masks, data, val_masks
    train_masks = to_device(np.ones((1, n), np.float32))
    if val_data is None:
        return data, base_weights, train_masks, None, None
    val_data, val_weights = prepare(val_data, None, "val_data", loss_fn)
    return data, base_weights, train_masks, val_data, val_weights[None]


def member_groups(members: pd.DataFrame, group_size: int, loop: LoopState
                  ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Per group of `group_size` consecutive members (one seed and fold): its fold `[Q]`
    and its seed's index `[Q]` into the seeds' training keys `[S, ...]`, which are
    returned third, taken from the members that hold them (the shuffles' keys)."""
    groups = members.iloc[::group_size]
    _, first, seed_idx = np.unique(groups["seed"].to_numpy(), return_index=True,
                                   return_inverse=True)
    seed_rngs = to_device(np.asarray(loop.train.rng)[groups["member"].to_numpy()[first]])
    return (to_device(groups["fold"].to_numpy(np.int32)), to_device(seed_idx.astype(np.int32)),
            seed_rngs)


def diverged_message(members: pd.DataFrame, diverged_epoch: np.ndarray) -> str | None:
    """Which members diverged and when (None if none did)."""
    hit = diverged_epoch > 0
    if not hit.any():
        return None
    shown = [", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in row.items() if k != "member") + f" at epoch {e}"
             for (_, row), e in zip(members[hit].head(5).iterrows(), diverged_epoch[hit])]
    return (f"{int(hit.sum())} of {len(members)} members diverged (loss or validation loss "
            f"became NaN or infinite): {'; '.join(shown)}{'; ...' if hit.sum() > 5 else ''}. "
            "Lower optim.learning_rate or set optim.clip_norm")


class DivergedWarning(UserWarning):
    """Some population members diverged (they stay in the table, ranked last)."""


def warn_diverged(members: pd.DataFrame, diverged_epoch: np.ndarray,
                  ranked: str = RANKED) -> None:
    """`fit` raises on divergence; a population trains on and ranks diverged members last,
    so it says which they were, or a failed learning rate would pass unnoticed. `ranked`
    says where they rank and where to read them (a task run: its files)."""
    message = diverged_message(members, diverged_epoch)
    if message:
        warnings.warn(f"{message}. {ranked}", DivergedWarning, stacklevel=3)


def grid_columns(members: pd.DataFrame) -> list[str]:
    """The hyperparameter columns of a members table: all but member, seed and fold."""
    return [c for c in members.columns if c not in ("member", "seed", "fold")]


def grid_points(members: pd.DataFrame, columns: Sequence[str]) -> Iterable:
    """(values, rows) per distinct value of `columns` in the grid's order; one group of
    every row where there are no columns."""
    return members.groupby(list(columns), sort=False) if columns else [((), members)]


# A final training loss over this many times the loss at the initial parameters marks a
# run that blew up without a NaN: an untrained model's loss is what any fit must improve
# on, and the noise of one that learned (dropout, minibatches, a fold's rows) moves its
# loss by far less than tenfold. Ten times a BCE start of log 2 is 6.9 nats a row: a
# mean probability of 0.001 on the true class.
BLOWN_UP_FACTOR = 10.0
INITIAL_LOSS_ROWS = 4096   # evenly spread rows: a ratio of 10 needs no more, and one eager
                           # pass over every row (fraud's history stacks) could fill memory


def member_starts(loss_fn: Callable, initial: Any, data: dict, weights: jax.Array,
                  members: pd.DataFrame, loss_names: Sequence[str]) -> np.ndarray:
    """Each member's loss at the first member's initial parameters and training key (the
    first seed's, from `initial`, the population's stacked initial `TrainState`; the rows'
    `weights`), with its own values of the grid keys the loss reads (`loss_names`): a
    model that learned nothing. A focal gamma of 5 starts near 0.02 where gamma 0 starts
    near 0.69, so one start for all would call a point that learned one that blew up. In
    training mode (dropout on, from the member's training key), as the logged training
    loss is measured, and as every loss runs: evaluation (rng None) is asked only of a loss
    that validates. Over every row up to `INITIAL_LOSS_ROWS`, else over that many spread
    evenly across them; one evaluation per distinct set of loss values."""
    n = len(weights)
    rows = np.linspace(0, n - 1, min(n, INITIAL_LOSS_ROWS)).round().astype(np.int32)
    members = members.reset_index(drop=True)
    starts = np.empty(len(members))
    for values, frame in grid_points(members, loss_names):
        hp = {k: np.float32(v) for k, v in zip(loss_names, np.atleast_1d(values))}
        starts[frame.index] = float(_first_member_losses(
            loss_fn, initial.params, initial.rng, data, weights, rows, hp))
    return starts


@functools.partial(jax.jit, static_argnums=0)
def _first_member_losses(loss_fn: Callable, params: Any, rng: jax.Array, data: dict,
                         weights: jax.Array, rows: jax.Array, hp: dict) -> jax.Array:
    """`loss_fn` at member 0 of the stacked `params` and `rng`, on `rows` of `data`: one
    program for every set of loss values and every run of one structure (eager, op by op,
    it took 0.4-0.9 s; slicing and gathering eagerly built a dozen small programs)."""
    params, rng = jax.tree.map(lambda a: a[0], (params, rng))
    batch = {**jax.tree.map(lambda a: a[rows], data), "weight": weights[rows]}
    return loss_fn(params, batch, rng, **({"hparams": hp} if hp else {}))[0]


def blown_up(pop: Population) -> list[tuple[dict, float, float]]:
    """The grid points whose training blew up without a NaN: (hyperparameter values, end,
    start), where `end`, the median over the point's seeds and folds of each member's last
    finite training loss (early stopping leaves NaN after it), is over `BLOWN_UP_FACTOR`
    times `start`, its members' `pop.initial_loss` (NaN in a file saved without it: none
    judged). A learning rate far too high can keep the loss finite and huge from the first
    epoch on, which no divergence check catches; members that diverged are left out (their
    warning and rank are their own). Per point: a median over all members hides one point
    among sane ones. No point whose start is <= 0 (a Gaussian likelihood's), where a ratio
    says nothing."""
    members = pop.members.reset_index(drop=True)
    starts = np.broadcast_to(np.asarray(pop.initial_loss, np.float64), len(members))
    if not pop.history:
        return []
    losses = np.stack([np.asarray(h["loss"], np.float64) for h in pop.history])   # [E, P]
    diverged = np.asarray(pop.loop.diverged_epoch) > 0
    last = np.array([m[np.isfinite(m)][-1] if np.isfinite(m).any() and not d else np.nan
                     for m, d in zip(losses.T, diverged)])
    hp = grid_columns(members)
    points = []
    for values, frame in grid_points(members, hp):
        ends, start = last[frame.index], float(starts[frame.index[0]])
        end = float(np.median(ends[np.isfinite(ends)])) if np.isfinite(ends).any() else None
        if end is not None and np.isfinite(start) and 0 < start < end / BLOWN_UP_FACTOR:
            points.append((dict(zip(hp, np.atleast_1d(values).tolist())), end, start))
    return points


class BlownUpWarning(UserWarning):
    """Some grid points' training loss ended finite but far above its start."""


def warn_blown_up(points: list[tuple[dict, float, float]]) -> None:
    """Name the `blown_up` points: their metrics are broken models', ranked with the rest."""
    if not points:
        return
    shown = "; ".join(", ".join([f"{k}={v:g}" for k, v in values.items()] or ["all members"])
                      + f": {end:.4g} ({end / start:.3g} times its {start:.4g})"
                      for values, end, start in points[:5])
    warnings.warn(f"training blew up at {len(points)} grid point(s): the training loss "
                  f"ended finite but over {BLOWN_UP_FACTOR:g} times its value at the "
                  f"initial parameters (the median over a point's seeds and folds): {shown}"
                  f"{'; ...' if len(points) > 5 else ''}. Lower optim.learning_rate or set "
                  "optim.clip_norm", BlownUpWarning, stacklevel=3)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _final_params(restore_best: bool, has_val: bool, loop: LoopState) -> Any:
    """Each member's best-epoch parameters where the run was validated and asked for
    them; a member that diverged without validation data gets its best (lowest training
    loss) epoch. With validation data but restore_best=False the validation rows may be a
    test span, so nothing is selected on them: a diverged member keeps its non-finite
    parameters and is flagged in `table()["diverged_epoch"]`. A member whose monitor was
    never defined (no epoch selected) keeps its last epoch, as `fit` does. Jitted: one
    program rather than one small program per leaf."""
    diverged, selected = loop.diverged_epoch > 0, loop.best_epoch > 0
    use_best = ((restore_best and has_val) & (selected | diverged)) | (diverged & (not has_val))
    return jax.tree.map(lambda best, last: jnp.where(_expand(use_best, best), best, last),
                        loop.best_params, loop.train.params)


def _expand(flags: jax.Array, like: jax.Array) -> jax.Array:
    """Broadcast per-member flags bool[P] against a stacked leaf [P, ...]."""
    return flags.reshape(flags.shape + (1,) * (like.ndim - flags.ndim))
