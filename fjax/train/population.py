"""Populations: many models as one model with a leading member axis.

Members are seeds x folds x hyperparameter grid points (grid innermost). Their `TrainState`s are created
by mapping `init_member` over them and trained by a vmapped `advance` (one epoch) inside
one compiled program. Continuous hyperparameters are data: optimizer values live in
`opt_state.hyperparams`, loss values are passed to `loss_fn` as `hparams=`, and folds
are masks over the same device arrays, so any grid over them is one compilation.

Shapes: with P members, every leaf of the stacked state is `[P, ...]`, member sample
weights are selected from fold masks `f32[K, n]` by each member's fold index.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import numbers
import warnings
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
from fjax.runtime import default_platform
from fjax.train.callbacks import Callback, ProgressBar
from fjax.train.epoch import epoch_permutation, num_batches
from fjax.train.fit import default_eval_fn, inputs_named, prepare, resolve_monitor
from fjax.train.loop import (EvalFn, LoopSpec, LoopState, RunRecord, advance, run_epochs,
                             warn_unselected)
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
    """The `TrainState` of one member; `train_population` maps exactly this."""
    init_key, train_key = member_keys(seed)
    return TrainState.create(params=init_fn(init_key), tx=tx, rng=train_key,
                             hyperparams=hyperparams)


def init_population(init_fn: InitFn, tx, seeds: jax.Array,
                    hyperparams: Mapping[str, jax.Array]) -> LoopState:
    """`LoopState.start(init_member(...))` of every member, stacked: one compiled program
    that maps over the members (compiled once per `init_fn`, `tx` and shapes). Measured on
    2 CPU cores for 16 or 64 LSTMs: 2.3 s, against 4.3 s for the eager vmap (dozens of
    small programs). `jit(vmap(...))` compiles in 1.9 s but can hang on the CPU: its
    batched QRs (the orthogonal initialisers) deadlock jaxlib 0.10.2's LAPACK kernels,
    every thread idle. Mapped, each QR factors one matrix."""
    return initialiser()(init_fn, tx, seeds, dict(hyperparams))


def _init_members(init_fn: InitFn, tx, seeds: jax.Array, hyperparams: dict) -> LoopState:
    def one(args):
        seed, hp = args
        return LoopState.start(init_member(init_fn, tx, seed, hp))
    return jax.lax.map(one, (seeds, hyperparams))


# The initialiser runs once in ~0.02 s, so on the CPU it is compiled for compile time:
# at LLVM's O1 the reference LSTM population's compiled in 0.87-0.95 s instead of
# 1.07-1.22 s, to the same bits (the tests compare it with eager `init_member`). Other
# backends get their defaults.
_INITIALISERS = {
    "cpu": jax.jit(_init_members, static_argnums=(0, 1),
                   compiler_options={"xla_backend_optimization_level": 1}),
    "other": jax.jit(_init_members, static_argnums=(0, 1)),
}


def initialiser():
    """The jitted `init_population` program for the platform it will run on."""
    return _INITIALISERS["cpu" if default_platform() == "cpu" else "other"]


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

    def summary(self, metric: str | None = None, mode: str | None = None) -> pd.DataFrame:
        """Mean and std over seeds and folds of `best_<metric>`, one row per config.

        A member that diverged counts as the worst value (inf for mode "min", -inf for
        "max"), so a config ranks last if any of its seeds or folds diverged, rather than
        by the members that survived. Undefined values (NaN: e.g. AUC on a fold of one
        class) are left out of the mean, and `count` says how many were not."""
        metric = metric or self.monitor
        mode = mode or self.mode
        hp = [c for c in self.members.columns if c not in ("member", "seed", "fold")]
        table = self.table()
        col = f"best_{metric}"
        worst = np.inf if mode == "min" else -np.inf
        table[col] = table[col].where(table["diverged_epoch"] == 0, worst)
        if not hp:
            table = table.assign(config=0)
            hp = ["config"]
        return (table.groupby(hp, sort=False)[col].agg(["mean", "std", "count"])
                .rename(columns=lambda c: f"{metric}_{c}").reset_index())

    def best_config(self, metric: str | None = None, mode: str | None = None) -> dict:
        """The hyperparameters whose mean over folds and seeds of `metric` is best, among
        the configs whose mean is finite (see `best_row`)."""
        metric = metric or self.monitor
        mode = mode or self.mode
        summary = self.summary(metric, mode)
        col = f"{metric}_mean"
        row = summary.loc[best_row(summary[col], mode)]
        return {k: np.asarray(row[k]).item() for k in summary.columns  # plain Python values
                if k not in (col, f"{metric}_std", f"{metric}_count", "config")}


def best_row(means: pd.Series, mode: str) -> Any:
    """The index of the best finite mean. Configs with a diverged member (mean +-inf) or
    with the metric undefined on every member (NaN) are never chosen; if no config is
    left, that is an error rather than a pick among failures."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    finite = means[np.isfinite(means.to_numpy(np.float64))]
    if finite.empty:
        raise ValueError(f"no configuration has a finite mean {means.name}: each had a "
                         "member that diverged (inf) or the metric undefined on all its "
                         "members (NaN); see Population.table()")
    return finite.idxmin() if mode == "min" else finite.idxmax()


def _python(value: Any) -> Any:
    """A numpy or jax scalar as the Python number it holds."""
    return np.asarray(value).item() if hasattr(value, "__array__") else value


def check_grid(hparams: Mapping[str, Sequence[float]]) -> dict[str, list[float]]:
    """{name: [values]} with at least one finite number per name."""
    grid = {}
    for name, values in hparams.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise ValueError(f"hparams[{name!r}] must be a list of values, got {values!r}; "
                             f"write [{values!r}]")
        values = [_python(v) for v in values]
        if not values:
            raise ValueError(f"hparams[{name!r}] has no values; give at least one")
        for v in values:
            if v is not None and not (isinstance(v, numbers.Real) and np.isfinite(v)):
                raise ValueError(f"hparams[{name!r}] holds {v!r}; every value must be a "
                                 "finite number")
        grid[name] = values
    return grid


def check_seeds(seeds: Sequence[int]) -> list[int]:
    """Distinct integer seeds that a uint32 key holds (2**32 would repeat seed 0)."""
    seeds = [_python(s) for s in seeds]
    bad = [s for s in seeds if isinstance(s, (bool, np.bool_))
           or not isinstance(s, numbers.Integral) or not 0 <= s < 2**32]
    if not seeds or bad:
        raise ValueError(f"seeds must be one or more integers in [0, 2**32), got {seeds!r}")
    if len(set(seeds)) < len(seeds):
        raise ValueError(f"seeds {seeds} repeat a seed: its members would be identical")
    return [int(s) for s in seeds]


def check_optimizer_values(optim: OptimConfig, hparams: Mapping[str, Sequence[float]]) -> None:
    """Grid values of optimizer hyperparameters get `OptimConfig`'s own validation."""
    for name in HYPERPARAMS:
        for value in hparams.get(name, []):
            dataclasses.replace(optim, **{name: float(value)})


def member_grid(hparams: Mapping[str, Sequence[float]], seeds: Sequence[int],
                n_folds: int) -> pd.DataFrame:
    """Every (seed, fold, grid point) as a row: seeds outermost, grid points innermost,
    so each run of consecutive rows with one seed and fold (a group) sees the same
    batches."""
    names = list(hparams)
    rows = []
    for seed in seeds:
        for fold in range(n_folds):
            for point in itertools.product(*(hparams[n] for n in names)):
                rows.append({"seed": int(seed), "fold": fold, **dict(zip(names, point))})
    table = pd.DataFrame(rows)
    table.insert(0, "member", np.arange(len(table)))
    return table


def train_population(loss_fn: Callable, init_fn: InitFn, data: dict, *, optim: OptimConfig,
                     train: TrainConfig, hparams: Mapping[str, Sequence[float]] | None = None,
                     seeds: Sequence[int] = (0,), folds: Folds | None = None,
                     val_data: dict | None = None, eval_fn: EvalFn | None = None,
                     callbacks: Sequence[Callback] | None = None) -> Population:
    """Train seeds x folds x grid members of one structure as one compiled program.

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
    hparams = check_grid(hparams or {})
    seeds = check_seeds(seeds)
    check_optimizer_values(optim, hparams)
    loss_names = [k for k in hparams if k not in HYPERPARAMS]
    if hasattr(loss_fn, "check_hparams"):
        loss_fn.check_hparams({k: hparams[k] for k in loss_names})
    data, base_weights = prepare(data, None, "data", loss_fn)
    n = base_weights.shape[0]
    if folds is not None and val_data is not None:
        raise ValueError("pass either folds (members validate on their fold of `data`) or "
                         "val_data, not both")
    if folds is not None:
        if folds.n != n:
            raise ValueError(f"folds cover {folds.n} rows but data has {n}")
        train_masks = jnp.asarray(check_weights(folds.train, n, "folds.train", ndim=2))
        # Members validate on their fold's rows with the data's own weights, as `fit`.
        val_masks = jnp.asarray(check_weights(folds.val, n, "folds.val", ndim=2)) * base_weights
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

    rows = np.sum((np.asarray(train_masks) * np.asarray(base_weights)) > 0, axis=1)
    spec_batches = num_batches(int(rows.max()), train.batch_size)
    tx = build_optimizer(optim, train.epochs * spec_batches)
    monitor, sign = resolve_monitor(train, has_val)
    spec = LoopSpec(batch_size=train.batch_size, n_batches=spec_batches, monitor=monitor,
                    sign=sign, min_delta=train.min_delta, patience=train.patience,
                    skip_empty=num_batches(int(rows.min()), train.batch_size) < spec_batches,
                    val_selects=train.val_selects)

    columns = {k: jnp.asarray(members[k].to_numpy(), jnp.float32) for k in hparams}
    opt_hp = {k: columns[k] for k in opt_names}
    loss_hp = {k: columns[k] for k in loss_names}
    loop = init_population(init_fn, tx, jnp.asarray(members["seed"].to_numpy(), jnp.uint32),
                           opt_hp)
    group_size = int(np.prod([len(v) for v in hparams.values()])) if hparams else 1
    groups = members.iloc[::group_size]
    _, first, seed_idx = np.unique(groups["seed"].to_numpy(), return_index=True,
                                   return_inverse=True)
    # Each seed's training key (its shuffles), as its members hold it.
    seed_rngs = jnp.asarray(np.asarray(loop.train.rng)[groups["member"].to_numpy()[first]])

    chunk = train.member_chunk
    if chunk is None:
        with inputs_named(data):
            chunk = auto_chunk(loss_fn, loop, data, loss_names, loss_hp)
    pop_spec = PopulationSpec(loop=spec, with_hparams=bool(loss_names), has_val=has_val,
                              eval_batch_size=train.eval_batch_size, group_size=group_size,
                              chunk=chunk)
    step_fn = functools.partial(population_epoch, pop_spec, loss_fn, eval_fn)
    args = (loss_hp, jnp.asarray(groups["fold"].to_numpy(), jnp.int32),
            jnp.asarray(seed_idx, jnp.int32), data, base_weights, train_masks, val_data,
            val_masks, seed_rngs)
    if callbacks is None:
        callbacks = [ProgressBar(train.epochs)]
    if loss_names and eval_fn is None and has_val and monitor == "val_loss":
        warnings.warn(f"the grid varies {', '.join(loss_names)}, which change the loss itself, "
                      "so val_loss is not comparable across members and summary() and "
                      "best_config() favour the values that make it small; pass an eval_fn "
                      "with a metric they do not change (e.g. AUC) and monitor it",
                      stacklevel=2)
    record = RunRecord()
    # The digest's settings: what shapes the program and the schedule (its length
    # matters unless it is constant), so a checkpoint resumes only the same run.
    steps = None if optim.schedule == "constant" else train.epochs * spec_batches
    with inputs_named(data):
        loop = run_epochs(step_fn, loop, args, train.epochs, callbacks, record,
                          settings=(pop_spec, optim, steps))
    # Best-epoch parameters where the run was validated and asked for them; a member that
    # diverged without validation data gets its best (lowest training loss) epoch. With
    # validation data but restore_best=False the validation rows may be a test span, so
    # nothing is selected on them: a diverged member keeps its non-finite parameters and
    # is flagged in `table()["diverged_epoch"]`. A member whose monitor was never defined
    # (no epoch selected) keeps its last epoch, as `fit` does.
    params = _final_params(train.restore_best, has_val, loop)
    unselected = np.asarray((loop.best_epoch == 0) & (loop.diverged_epoch == 0))
    if has_val and spec.val_selects and unselected.any():
        warn_unselected(f"{int(unselected.sum())} of {len(members)} members had {monitor}")
    warn_diverged(members, np.asarray(loop.diverged_epoch))
    return Population(loop=loop, params=params, members=members, history=record.history,
                      monitor=monitor, mode=train.monitor_mode, compile_s=record.compile_s,
                      compilations=record.compilations, train_s=record.train_s,
                      epoch_s=record.epoch_s)


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


def warn_diverged(members: pd.DataFrame, diverged_epoch: np.ndarray) -> None:
    """`fit` raises on divergence; a population trains on and ranks diverged members last,
    so it says which they were, or a failed learning rate would pass unnoticed."""
    message = diverged_message(members, diverged_epoch)
    if message:
        warnings.warn(f"{message}. They rank last in summary() and best_config(); see "
                      "table()['diverged_epoch']", DivergedWarning, stacklevel=3)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _final_params(restore_best: bool, has_val: bool, loop: LoopState) -> Any:
    """Each member's best-epoch parameters where chosen (see `train_population`), else
    its last ones; jitted, as one program rather than one small program per leaf."""
    diverged, selected = loop.diverged_epoch > 0, loop.best_epoch > 0
    use_best = ((restore_best and has_val) & (selected | diverged)) | (diverged & (not has_val))
    return jax.tree.map(lambda best, last: jnp.where(_expand(use_best, best), best, last),
                        loop.best_params, loop.train.params)


def _expand(flags: jax.Array, like: jax.Array) -> jax.Array:
    """Broadcast per-member flags bool[P] against a stacked leaf [P, ...]."""
    return flags.reshape(flags.shape + (1,) * (like.ndim - flags.ndim))


@dataclass(frozen=True)
class PopulationSpec:
    """The static parts of a population epoch (with the loss and eval functions)."""

    loop: LoopSpec
    with_hparams: bool     # pass per-member `hparams=` to the loss
    has_val: bool
    eval_batch_size: int
    group_size: int        # consecutive members sharing seed and fold (the grid's size)
    chunk: int | None      # None: all members at once; k: about k at a time


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def population_epoch(spec: PopulationSpec, loss_fn: Callable, eval_fn: EvalFn | None,
                     loop: LoopState, hp: dict, group_fold: jax.Array, group_seed: jax.Array,
                     data: dict, base_weights: jax.Array, train_masks: jax.Array,
                     val_data: dict | None, val_masks: jax.Array | None,
                     seed_rngs: jax.Array) -> tuple[LoopState, dict]:
    """One epoch of every member.

    Members form groups of `group_size` that share seed and fold, hence batches. Vmapped,
    a group gathers each batch once and its members' matmuls with it become one larger
    matmul. Members trained one (or `chunk`) at a time are mapped directly, each taking
    its own batches. Shuffles are drawn once per seed.
    Shapes: loop and hp `[P, ...]` with P = Q groups x G; group_fold, group_seed `[Q]`.
    """
    n_groups, size = group_fold.shape[0], spec.group_size
    epoch = jnp.max(loop.epoch)   # members still training are all at this epoch
    perms = jax.vmap(lambda rng: epoch_permutation(rng, epoch, base_weights.shape[0]))(seed_rngs)

    def member_loss(h):
        return functools.partial(loss_fn, hparams=h) if spec.with_hparams else loss_fn

    # With traced per-member hparams the loss is new on every trace: build its steps
    # uncached so that no tracer outlives the trace in a cache.
    make_step = make_train_step.__wrapped__ if spec.with_hparams else make_train_step
    make_eval = default_eval_fn.__wrapped__ if spec.with_hparams else default_eval_fn

    def members_advance(lift, loop, hp, fold, seed, data, base_weights, train_masks, val_data,
                        val_masks, perms):
        """One epoch of one member (lift None) or of a stacked group sharing seed and fold,
        whose members `lift(f, states, hp)` runs."""
        grouped, lift = lift is not None, lift or (lambda f, *xs: f(*xs))

        def step(states, batch):
            return lift(lambda s, h: make_step(member_loss(h))(s, batch), states, hp)

        def evaluate(params, val_data, val_weights):
            def one(p, h):
                fn = eval_fn or make_eval(member_loss(h), spec.eval_batch_size)
                return fn(p, val_data, val_weights)
            return lift(one, params, hp)

        weights = train_masks[fold] * base_weights
        val_weights = None if val_masks is None else val_masks[fold % val_masks.shape[0]]
        return advance(spec.loop, step, evaluate if spec.has_val else None, loop, data,
                       weights, val_data, val_weights, perm=perms[seed], group=grouped)

    shared = (data, base_weights, train_masks, val_data, val_masks, perms)
    if spec.chunk is not None and (spec.chunk < size or size == 1):
        # Mapping members directly, not groups then members, is one loop fewer: the
        # reference LSTM's population epoch compiled in 1.6-1.9 s instead of 2.3 s. (Groups
        # of one gain nothing from vmapping their one member.)
        fold, seed = jnp.repeat(group_fold, size), jnp.repeat(group_seed, size)
        advance_one = functools.partial(members_advance, None)
        return jax.lax.map(lambda m: advance_one(*m, *shared), (loop, hp, fold, seed),
                           batch_size=spec.chunk if spec.chunk > 1 else None)
    # Groups of `size` members vmapped: their matmuls with the shared batch become one.
    advance_group = functools.partial(members_advance, lambda f, *xs: jax.vmap(f)(*xs))
    grouped = jax.tree.map(lambda x: x.reshape((n_groups, size) + x.shape[1:]), (loop, hp))
    per_group = (*grouped, group_fold, group_seed)
    if spec.chunk is None:
        out = jax.vmap(advance_group, in_axes=(0,) * 4 + (None,) * 6)(*per_group, *shared)
    else:
        # batch_size=1 would still vmap (over one group); plain map keeps the step unbatched.
        groups_at_once = spec.chunk // size
        out = jax.lax.map(lambda g: advance_group(*g, *shared), per_group,
                          batch_size=groups_at_once if groups_at_once > 1 else None)
    return jax.tree.map(lambda x: x.reshape((n_groups * size,) + x.shape[2:]), out)


def auto_chunk(loss_fn: Callable, loop: LoopState, data: dict, loss_names: list,
               loss_hp: dict) -> int | None:
    """How many members to train at once when `TrainConfig.member_chunk` is None
    (None: all of them).

    Accelerators: all of them. CPU: all of them, unless the model's step runs a loop
    (a recurrence, as a scan or one of fjax's C++ LSTM and GRU kernels): then one at a
    time. Measured on 2 CPU cores (BENCHMARKS.md): 256 MLPs vmapped train faster per
    member than one `fit`, while 16 vmapped LSTMs train at 0.4x the per-member speed of
    one at a time: their per-step matmuls are too small to gain from batching, and the
    batched kernels are slower.
    """
    if default_platform() != "cpu":
        return None
    # Shapes only: slicing real arrays here would compile a small program per leaf.
    def one(x, rows=None):
        return jax.ShapeDtypeStruct(x.shape[1:] if rows is None else (rows,) + x.shape[1:],
                                    x.dtype)
    state = jax.tree.map(one, loop.train)
    batch = {k: one(v, 2) for k, v in data.items()}
    batch["weight"] = jax.ShapeDtypeStruct((2,), jnp.float32)

    def step(state, batch, hp):
        member_loss = functools.partial(loss_fn, hparams=hp) if loss_names else loss_fn
        return make_train_step.__wrapped__(member_loss)(state, batch)
    hp = {k: one(v) for k, v in loss_hp.items()}
    jaxpr = jax.make_jaxpr(step)(state, batch, hp)
    return 1 if _has_loop(jaxpr.jaxpr) else None


def _has_loop(jaxpr) -> bool:
    """Whether the step runs a loop: a scan, a while, or a kernel (fjax's recurrences)."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in ("scan", "while", "ffi_call"):
            return True
        for param in eqn.params.values():
            for inner in param if isinstance(param, (tuple, list)) else (param,):
                inner = getattr(inner, "jaxpr", inner)   # cond branches, closed jaxprs
                if hasattr(inner, "eqns") and _has_loop(inner):
                    return True
    return False
