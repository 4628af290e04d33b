"""Populations: many models as one model with a leading member axis.

Members are seeds x hyperparameter grid points x folds. Their `TrainState`s are created
by `jax.vmap(init_member)` and trained by a vmapped `advance` (one epoch) inside one
compiled program. Continuous hyperparameters are data: optimizer values live in
`opt_state.hyperparams`, loss values are passed to `loss_fn` as `hparams=`, and folds
are masks over the same device arrays, so any grid over them is one compilation.

Shapes: with P members, every leaf of the stacked state is `[P, ...]`, member sample
weights are selected from fold masks `f32[K, n]` by each member's fold index.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from fjax.config import OptimConfig, TrainConfig
from fjax.data.checks import check_weights
from fjax.data.splits import Folds
from fjax.optim import HYPERPARAMS, build_optimizer
from fjax.train.callbacks import Callback
from fjax.train.epoch import num_batches
from fjax.train.fit import default_eval_fn, prepare, resolve_monitor
from fjax.train.loop import EvalFn, LoopSpec, LoopState, RunRecord, advance, run_epochs
from fjax.train.state import TrainState
from fjax.train.step import make_train_step

InitFn = Callable[[jax.Array], Any]


def member_keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """(init key, training key) of a member: members with the same seed share both, so
    a grid compares hyperparameters from the same initial weights and shuffles."""
    init_key, train_key = jax.random.split(jax.random.PRNGKey(seed))
    return init_key, train_key


def init_member(init_fn: InitFn, tx, seed: int | jax.Array,
                hyperparams: Mapping[str, Any] | None = None) -> TrainState:
    """The `TrainState` of one member; `train_population` vmaps exactly this."""
    init_key, train_key = member_keys(seed)
    return TrainState.create(params=init_fn(init_key), tx=tx, rng=train_key,
                             hyperparams=hyperparams)


@dataclass
class Population:
    """A trained population: stacked states plus one row of bookkeeping per member."""

    loop: LoopState              # stacked over members
    params: Any                  # stacked final params: best epoch's where validated
    members: pd.DataFrame        # member, seed, fold, and one column per hyperparameter
    history: list[dict]          # per epoch: metric -> np.ndarray[P]
    monitor: str
    mode: str
    compile_s: float
    compilations: int
    train_s: float
    epoch_s: list[float]

    @property
    def size(self) -> int:
        return len(self.members)

    def member_params(self, i: int) -> Any:
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
            stacked = np.stack([np.asarray(h[name]) for h in self.history])  # [E, P]
            idx = np.arange(self.size)
            rows[f"final_{name}"] = stacked[np.maximum(epochs, 1) - 1, idx]
            rows[f"best_{name}"] = np.where(best > 0, stacked[np.maximum(best, 1) - 1, idx], np.nan)
        return rows

    def summary(self, metric: str | None = None) -> pd.DataFrame:
        """Mean and std over seeds and folds of `best_<metric>`, one row per config."""
        metric = metric or self.monitor
        hp = [c for c in self.members.columns if c not in ("member", "seed", "fold")]
        table = self.table()
        col = f"best_{metric}"
        if not hp:
            table = table.assign(config=0)
            hp = ["config"]
        return (table.groupby(hp, sort=False)[col].agg(["mean", "std", "count"])
                .rename(columns=lambda c: f"{metric}_{c}").reset_index())

    def best_config(self, metric: str | None = None, mode: str | None = None) -> dict:
        """The hyperparameters whose mean over folds and seeds of `metric` is best."""
        metric = metric or self.monitor
        mode = mode or self.mode
        summary = self.summary(metric)
        col = f"{metric}_mean"
        i = summary[col].idxmin() if mode == "min" else summary[col].idxmax()
        row = summary.loc[i]
        return {k: row[k] for k in summary.columns if k not in (col, f"{metric}_std",
                                                              f"{metric}_count", "config")}


def check_optimizer_values(hparams: Mapping[str, Sequence[float]]) -> None:
    """Grid values get the same checks as `OptimConfig` fields."""
    rules = {"learning_rate": (lambda v: v > 0, "> 0"), "weight_decay": (lambda v: v >= 0, ">= 0"),
             "momentum": (lambda v: 0 <= v < 1, "in [0, 1)")}
    for name, (ok, bound) in rules.items():
        bad = [v for v in hparams.get(name, []) if not (np.isfinite(v) and ok(v))]
        if bad:
            raise ValueError(f"hyperparameter {name} must be {bound}; got {bad}")


def member_grid(hparams: Mapping[str, Sequence[float]], seeds: Sequence[int],
                n_folds: int) -> pd.DataFrame:
    """Every (seed, grid point, fold) as a row: seeds outermost, folds innermost."""
    names = list(hparams)
    rows = []
    for seed in seeds:
        for point in itertools.product(*(hparams[n] for n in names)):
            for fold in range(n_folds):
                rows.append({"seed": int(seed), "fold": fold, **dict(zip(names, point))})
    table = pd.DataFrame(rows)
    table.insert(0, "member", np.arange(len(table)))
    return table


def train_population(loss_fn: Callable, init_fn: InitFn, data: dict, *, optim: OptimConfig,
                     train: TrainConfig, hparams: Mapping[str, Sequence[float]] | None = None,
                     seeds: Sequence[int] = (0,), folds: Folds | None = None,
                     val_data: dict | None = None, eval_fn: EvalFn | None = None,
                     callbacks: Sequence[Callback] = ()) -> Population:
    """Train seeds x grid x folds members of one structure as one compiled program.

    Args:
      loss_fn: `(params, batch, rng, *, hparams) -> (loss, aux)`. `hparams` holds this
        member's values of the grid keys the optimizer does not own (e.g. "focal_gamma");
        it is only passed when the grid has such keys.
      init_fn: `key -> params` (e.g. `lambda k: model.init(k, x[:1])`).
      data: arrays with one row per sample, shared by all members (sent to the device once).
      optim, train: the compile group's optimizer and loop settings.
      hparams: grid of per-member values, e.g. {"learning_rate": [1e-3, 3e-3],
        "weight_decay": [0, 1e-4]}; optimizer keys are "learning_rate", "weight_decay",
        "momentum"; any other key goes to `loss_fn`.
      seeds: one member per seed for every grid point and fold.
      folds: training/validation masks over `data` (members validate on their fold).
        Without folds, members train on all rows and validate on `val_data` if given.
      eval_fn: `(params, val_data, val_weights) -> metrics`; default: weighted loss.
    """
    hparams = {k: list(v) for k, v in (hparams or {}).items()}
    if any(len(v) == 0 for v in hparams.values()):
        raise ValueError(f"every hyperparameter needs at least one value: {hparams}")
    check_optimizer_values(hparams)
    data, base_weights = prepare(data, None, "data", loss_fn)
    n = base_weights.shape[0]
    if folds is not None and val_data is not None:
        raise ValueError("pass either folds (members validate on their fold of `data`) or "
                         "val_data, not both")
    if folds is not None:
        if folds.n != n:
            raise ValueError(f"folds cover {folds.n} rows but data has {n}")
        train_masks = jnp.asarray(check_weights(folds.train, n, "folds.train"))
        val_masks = jnp.asarray(check_weights(folds.val, n, "folds.val"))
        val_data = data
    else:
        train_masks = jnp.ones((1, n), jnp.float32)
        val_masks = None
        if val_data is not None:
            val_data, val_w = prepare(val_data, None, "val_data", loss_fn)
            val_masks = val_w[None]
    has_val = val_data is not None
    members = member_grid(hparams, seeds, train_masks.shape[0])
    opt_names = [k for k in hparams if k in HYPERPARAMS]
    loss_names = [k for k in hparams if k not in HYPERPARAMS]

    max_rows = int(jnp.max(jnp.sum((train_masks * base_weights) > 0, axis=1)))
    spec_batches = num_batches(max_rows, train.batch_size)
    tx = build_optimizer(optim, train.epochs * spec_batches)
    monitor, sign = resolve_monitor(train, has_val)
    spec = LoopSpec(batch_size=train.batch_size, n_batches=spec_batches, monitor=monitor,
                    sign=sign, min_delta=train.min_delta, patience=train.patience)

    columns = {k: jnp.asarray(members[k].to_numpy(), jnp.float32) for k in hparams}
    opt_hp = {k: columns[k] for k in opt_names}
    loss_hp = {k: columns[k] for k in loss_names}
    # vmapped but not jitted: initialisers are random-number code that XLA:CPU compiles
    # slowly (seconds), while eager ops are compiled once per shape and then reused.
    init = jax.vmap(lambda seed, hp: LoopState.start(init_member(init_fn, tx, seed, hp)))
    loop = init(jnp.asarray(members["seed"].to_numpy(), jnp.uint32), opt_hp)
    fold_idx = jnp.asarray(members["fold"].to_numpy(), jnp.int32)

    pop_spec = PopulationSpec(loop=spec, with_hparams=bool(loss_names), has_val=has_val,
                              eval_batch_size=train.eval_batch_size, chunk=train.member_chunk)
    step_fn = functools.partial(population_epoch, pop_spec, loss_fn, eval_fn)
    args = (fold_idx, loss_hp, data, base_weights, train_masks, val_data, val_masks)
    record = RunRecord()
    loop = run_epochs(step_fn, loop, args, train.epochs, callbacks, record)
    # Best-epoch parameters where the run was validated and asked for them; a member that
    # diverged without validation data gets its best (lowest training loss) epoch. With
    # validation data but restore_best=False the validation rows may be a test span, so
    # nothing is selected on them: a diverged member keeps its non-finite parameters and
    # is flagged in `table()["diverged_epoch"]`.
    use_best = (train.restore_best and has_val) | ((loop.diverged_epoch > 0) & (not has_val))
    params = jax.tree.map(lambda best, last: jnp.where(_expand(use_best, best), best, last),
                          loop.best_params, loop.train.params)
    return Population(loop=loop, params=params, members=members, history=record.history,
                      monitor=monitor, mode=train.mode, compile_s=record.compile_s,
                      compilations=record.compilations, train_s=record.train_s,
                      epoch_s=record.epoch_s)


def _expand(flags: jax.Array, like: jax.Array) -> jax.Array:
    """Broadcast per-member flags f32[P] against a stacked leaf [P, ...]."""
    return flags.reshape(flags.shape + (1,) * (like.ndim - flags.ndim))


@dataclass(frozen=True)
class PopulationSpec:
    """The static parts of a population epoch (with the loss and eval functions)."""

    loop: LoopSpec
    with_hparams: bool     # pass per-member `hparams=` to the loss
    has_val: bool
    eval_batch_size: int
    chunk: int | None      # member lift: None = vmap all, k = lax.map in chunks of k


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def population_epoch(spec: PopulationSpec, loss_fn: Callable, eval_fn: EvalFn | None,
                     loop: LoopState, fold: jax.Array, hp: dict, data: dict,
                     base_weights: jax.Array, train_masks: jax.Array, val_data: dict | None,
                     val_masks: jax.Array | None) -> tuple[LoopState, dict]:
    """One epoch of every member: `advance` lifted over the member axis."""

    def member_advance(loop, fold, hp, data, base_weights, train_masks, val_data, val_masks):
        # With traced per-member hparams the loss is new on every trace: build its steps
        # uncached so that no tracer outlives the trace in a cache.
        cached = not spec.with_hparams
        member_loss = functools.partial(loss_fn, hparams=hp) if spec.with_hparams else loss_fn
        make_step = make_train_step if cached else make_train_step.__wrapped__
        make_eval = default_eval_fn if cached else default_eval_fn.__wrapped__
        member_eval = eval_fn or make_eval(member_loss, spec.eval_batch_size)
        weights = train_masks[fold] * base_weights
        val_weights = None if val_masks is None else val_masks[fold % val_masks.shape[0]]
        return advance(spec.loop, make_step(member_loss),
                       member_eval if spec.has_val else None,
                       loop, data, weights, val_data, val_weights)

    lifted = lift_members(member_advance, spec.chunk)
    return lifted(loop, fold, hp, data, base_weights, train_masks, val_data, val_masks)


def lift_members(member_fn: Callable, chunk: int | None) -> Callable:
    """Lift `member_fn(loop, fold, hp, *shared)` over the member axis.

    chunk=None: one `jax.vmap` over all members. chunk=k: `jax.lax.map` with
    batch_size=k, i.e. vmap over k members at a time, sequentially over chunks.
    """
    if chunk is None:
        return jax.vmap(member_fn, in_axes=(0, 0, 0) + (None,) * 5)

    def lifted(loop, fold, hp, *shared):
        return jax.lax.map(lambda m: member_fn(*m, *shared), (loop, fold, hp), batch_size=chunk)

    return lifted
