"""A population's members: their keys and initial states, and the grid they span.

Members are seeds x folds x hyperparameter grid points (grid innermost). Each starts from
`init_member(seed)`, exactly as `fit` would; `init_population` builds all of them in one
compiled program. The checks here run before anything trains, so a bad grid or seed list
fails at once with the name of the value to fix.
"""

from __future__ import annotations

import dataclasses
import itertools
import numbers
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from fjax.config import OptimConfig
from fjax.optim import HYPERPARAMS, VALUE_RULES, check_value
from fjax.runtime import default_platform
from fjax.train.loop import LoopState
from fjax.train.state import TrainState

InitFn = Callable[[jax.Array], Any]


@dataclasses.dataclass(frozen=True)
class ModuleInit:
    """`key -> model.init(key, zeros of one input row's shape and dtype)`: flax fixes the
    parameters' shapes from the input's, never their values from its values. Equal for
    equal models and shapes (a hashable static argument of `init_population`'s program,
    which a closure over an example array never matched in a second run)."""
    model: Any
    shape: tuple[int, ...]
    dtype: Any

    @classmethod
    def like(cls, model: Any, example: Any) -> "ModuleInit":
        """From an example batch: the shape and dtype of its first row."""
        row = jnp.asarray(example[:1])
        return cls(model, row.shape, row.dtype)

    def __call__(self, key: jax.Array) -> Any:
        return self.model.init(key, jnp.zeros(self.shape, self.dtype))


def member_keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """(init key, training key) of a member: members with the same seed share both, so
    a grid compares hyperparameters from the same initial weights and shuffles."""
    check_seed(seed)
    init_key, train_key = jax.random.split(jax.random.PRNGKey(seed))
    return init_key, train_key


def check_seed(seed: int | jax.Array) -> None:
    """A member's seed must be an integer (traced ones too) that its key can hold."""
    if not jnp.issubdtype(jnp.result_type(seed), jnp.integer):   # traced seeds too
        raise ValueError(f"seed={seed} is not an integer; pass the member's seed as one, "
                         "e.g. int(row['seed']) for a row of Population.members (iterrows "
                         "turns every column into floats)")
    if isinstance(seed, (int, np.integer)) and not 0 <= seed < 2**32:
        # PRNGKey keeps the low 32 bits: 2**32 was seed 0's member, -1 seed 2**32 - 1's
        raise ValueError(f"seed={seed}: a member's seed must be in [0, 2**32), as "
                         "train_population's seeds are (any other repeats the seed of "
                         "its low 32 bits); reduce it, e.g. seed % 2**32")


def init_member(init_fn: InitFn, tx, seed: int | jax.Array,
                hyperparams: Mapping[str, Any] | None = None) -> TrainState:
    """The `TrainState` of one member, as `train_population` makes each (`member_state`).

    One compiled program per `init_fn`, `tx` and shapes (inside a caller's `jax.jit` or
    `jax.lax.map`, part of the caller's program), to the same bits as op by op: the
    reference LSTM's initial state took 5.3 s op by op in a fresh process, against
    2.7-3.2 s compiled (2 loaded CPU cores). Compiled with jax's default options: the
    population initialiser's O1 would make a nested call fail (jax refuses compiler
    options below the top level). An `init_fn` or `tx` that cannot be hashed (a static
    argument must be) runs op by op, as before."""
    check_seed(seed)   # on the number as given: jit would read 2**31 as an int32
    if isinstance(seed, (int, np.integer)):
        seed = np.uint32(seed)
    try:
        hash((init_fn, tx))
    except TypeError:
        return member_state(init_fn, tx, seed, hyperparams)
    return _member_state_jit(init_fn, tx, seed, dict(hyperparams or {}))


def member_state(init_fn: InitFn, tx, seed: int | jax.Array,
                 hyperparams: Mapping[str, Any] | None = None) -> TrainState:
    """`init_member`'s state, traced or op by op: the member's parameters from its init key
    and its training key (`member_keys`)."""
    init_key, train_key = member_keys(seed)
    return TrainState.create(params=init_fn(init_key), tx=tx, rng=train_key,
                             hyperparams=hyperparams or None)


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
        return LoopState.start(member_state(init_fn, tx, seed, hp))
    return jax.lax.map(one, (seeds, hyperparams))


# The initialiser runs once in ~0.02 s, so on the CPU it is compiled for compile time:
# at LLVM's O1 the reference LSTM population's compiled in 0.87-0.95 s instead of
# 1.07-1.22 s, to the same bits (the tests compare it with `member_state` op by op).
# Other backends get their defaults.
_INITIALISERS = {
    "cpu": jax.jit(_init_members, static_argnums=(0, 1),
                   compiler_options={"xla_backend_optimization_level": 1}),
    "other": jax.jit(_init_members, static_argnums=(0, 1)),
}
_member_state_jit = jax.jit(member_state, static_argnums=(0, 1))


def initialiser():
    """The jitted `init_population` program for the platform it will run on."""
    return _INITIALISERS["cpu" if default_platform() == "cpu" else "other"]


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
            if v is None:
                raise ValueError(f"hparams[{name!r}] holds None; give the value itself (a "
                                 "config's None means a default, e.g. momentum: "
                                 "fjax.optim.DEFAULT_MOMENTUM)")
            if isinstance(v, bool) or not (isinstance(v, numbers.Real) and np.isfinite(v)):
                raise ValueError(f"hparams[{name!r}] holds {v!r}; every value must be a "
                                 "finite number")
        if len(set(values)) < len(values):
            raise ValueError(f"hparams[{name!r}] repeats a value ({values}): its members "
                             "would be identical; give each value once")
        grid[name] = values
    return grid


def check_seeds(seeds: Sequence[int]) -> list[int]:
    """Distinct integer seeds that a uint32 key holds (2**32 would repeat seed 0)."""
    if (isinstance(seeds, numbers.Number) or hasattr(seeds, "__array__")) and np.ndim(seeds) == 0:
        n = _python(seeds)
        raise ValueError(f"seeds={n!r} is one number; pass the seeds themselves, e.g. "
                         f"seeds=range({n}) for {n} members, or seeds=[{n}]")
    seeds = [_python(s) for s in seeds]
    bad = [s for s in seeds if isinstance(s, (bool, np.bool_))
           or not isinstance(s, numbers.Integral) or not 0 <= s < 2**32]
    if not seeds or bad:
        raise ValueError(f"seeds must be one or more integers in [0, 2**32), got {seeds!r}")
    if len(set(seeds)) < len(seeds):
        raise ValueError(f"seeds {seeds} repeat a seed: its members would be identical")
    return [int(s) for s in seeds]


def check_optimizer_values(optim: OptimConfig | Any, hparams: Mapping[str, Sequence[float]]
                           ) -> None:
    """Grid values of optimizer hyperparameters get `OptimConfig`'s own validation; for an
    optax optimizer of one's own, `fjax.config.VALUE_RULES` (a learning rate > 0, a weight
    decay >= 0), as there."""
    if isinstance(optim, OptimConfig):
        for name in HYPERPARAMS:
            for value in hparams.get(name, []):
                dataclasses.replace(optim, **{name: float(value)})
        return
    for name in VALUE_RULES:
        check_value(f"hparams[{name!r}]", name, hparams.get(name, []))


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
