"""How a population's epoch lifts one member's step over the members.

Three lifts, chosen per backend and model by `auto_chunk` and overridable with
`TrainConfig.member_chunk`: every member vmapped (groups that share seed and fold see one
batch, so their matmuls become one larger matmul); members mapped one at a time
(`lax.map`), for recurrent models on the CPU, where batched small matmuls are slower;
or chunks of members vmapped inside the map. All three compute the same numbers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from fjax.runtime import default_devices, default_platform
from fjax.train.epoch import epoch_permutation
from fjax.train.fit import default_eval_fn
from fjax.train.loop import EvalFn, LoopSpec, LoopState, advance
from fjax.train.step import cached_per_loss, make_train_step


@dataclass(frozen=True)
class PopulationSpec:
    """The static parts of a population epoch (with the loss and eval functions)."""

    loop: LoopSpec
    with_hparams: bool     # pass per-member `hparams=` to the loss
    has_val: bool
    eval_batch_size: int
    group_size: int        # consecutive members sharing seed and fold (the grid's size)
    chunk: int | None      # None: all members at once; k: about k at a time
    mesh: Mesh | None = None   # devices the groups are spread over (axis "pop"), or one


def member_mesh(n_groups: int, devices: Sequence[jax.Device] | None = None) -> Mesh | None:
    """A 1-D mesh (axis "pop") over as many of `devices` (default: `default_devices()`)
    as divide the groups evenly, so each device trains whole groups; None when that is
    one device."""
    devices = list(default_devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices is empty; pass at least one device, or None for all")
    used = max(k for k in range(1, len(devices) + 1) if n_groups % k == 0)
    return None if used == 1 else Mesh(np.array(devices[:used]), ("pop",))


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
    its own batches. Shuffles are drawn once per seed. With a mesh, each device runs
    this on its own groups (`shard_map`): members are independent, so the devices never
    communicate, and the data is on every device.
    Shapes: loop and hp `[P, ...]` with P = Q groups x G; group_fold, group_seed `[Q]`.
    """
    run = functools.partial(_epoch, spec, loss_fn, eval_fn)
    if spec.mesh is None:
        return run(loop, hp, group_fold, group_seed, data, base_weights, train_masks,
                   val_data, val_masks, seed_rngs)
    members, shared = P("pop"), P()
    return jax.shard_map(
        lambda per_member, everyone: run(*per_member, *everyone), mesh=spec.mesh,
        in_specs=(members, shared), out_specs=members, check_vma=False)(
            (loop, hp, group_fold, group_seed),
            (data, base_weights, train_masks, val_data, val_masks, seed_rngs))


def _epoch(spec: PopulationSpec, loss_fn: Callable, eval_fn: EvalFn | None, loop: LoopState,
           hp: dict, group_fold: jax.Array, group_seed: jax.Array, data: dict,
           base_weights: jax.Array, train_masks: jax.Array, val_data: dict | None,
           val_masks: jax.Array | None, seed_rngs: jax.Array) -> tuple[LoopState, dict]:
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


def auto_chunk(loss_fn: Callable, loop: LoopState, data: dict, loss_hp: dict) -> int | None:
    """How many members to train at once when `TrainConfig.member_chunk` is None
    (None: all of them); `loss_hp` holds the members' loss hyperparameters (may be empty).

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
    batch = {k: one(v, 2) for k, v in data.items()}
    batch["weight"] = jax.ShapeDtypeStruct((2,), jnp.float32)
    trees = (jax.tree.map(one, loop.train), batch, {k: one(v) for k, v in loss_hp.items()})
    flat = tuple((d, tuple(x)) for x, d in map(jax.tree.flatten, trees))
    return 1 if _step_loops(loss_fn, *flat) else None


@cached_per_loss
def _step_loops(loss_fn: Callable, *flat: tuple) -> bool:
    """Whether the step of `loss_fn` on these shapes (flattened state, batch and loss
    hyperparameters) runs a loop: traced once per loss and shapes, so a second population
    of one structure traces nothing."""
    state, batch, hp = (jax.tree.unflatten(d, x) for d, x in flat)

    def step(state, batch, hp):
        member_loss = functools.partial(loss_fn, hparams=hp) if hp else loss_fn
        return make_train_step.__wrapped__(member_loss)(state, batch)
    return _has_loop(jax.make_jaxpr(step)(state, batch, hp).jaxpr)


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
