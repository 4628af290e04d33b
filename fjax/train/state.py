"""`TrainState`: everything one model needs to take a step, as one pytree.

params and opt_state are the model's and optimizer's pytrees, `step` counts optimizer
updates and `rng` is the member's own key; the optimizer itself is static (part of the
tree's structure), so one optimizer object serves a whole compile group and its
per-member hyperparameters live in `opt_state.hyperparams`.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from fjax.optim import check_injected, set_hyperparams


@struct.dataclass
class TrainState:
    params: Any
    opt_state: Any
    step: jax.Array
    rng: jax.Array
    tx: optax.GradientTransformation = struct.field(pytree_node=False)

    @classmethod
    def create(cls, *, params: Any, tx: optax.GradientTransformation, rng: jax.Array,
               hyperparams: Mapping[str, Any] | None = None) -> "TrainState":
        """A fresh state; `rng` is a key or an integer seed, and `hyperparams` overrides
        injected optimizer values (e.g. the learning rate of this member). A negative or
        non-finite injected learning rate or weight decay is refused (`check_injected`;
        not where traced, e.g. under the caller's vmap: `fit` checks again)."""
        opt_state = tx.init(params)
        if hyperparams:
            opt_state = set_hyperparams(opt_state, hyperparams)
        check_injected(opt_state, "TrainState.create: the optimizer state's hyperparams")
        if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
            if not 0 <= rng < 2**32:
                raise ValueError(f"TrainState.create rng={rng}: an integer seed must be in "
                                 "[0, 2**32), as train_population's seeds are")
            rng = np.uint32(rng)   # jnp.asarray would read seeds >= 2**31 as an int32 overflow
        rng = jnp.asarray(rng)
        if jnp.issubdtype(rng.dtype, jax.dtypes.prng_key):
            rng = jax.random.key_data(rng)   # a typed key as raw bits, as checkpoints hold it
        elif rng.ndim == 0 and jnp.issubdtype(rng.dtype, jnp.integer):
            rng = jax.random.PRNGKey(rng)   # an integer seed becomes its key
        return cls(params=params, opt_state=opt_state, step=jnp.zeros((), jnp.int32),
                   rng=rng, tx=tx)

    def apply_gradients(self, grads: Any) -> "TrainState":
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
        params = optax.apply_updates(self.params, updates)
        return self.replace(params=params, opt_state=opt_state, step=self.step + 1)


def step_key(state: TrainState) -> jax.Array:
    """The key for this step's randomness (dropout): fold_in(stream 0, step)."""
    return jax.random.fold_in(jax.random.fold_in(state.rng, 0), state.step)


def epoch_key(rng: jax.Array, epoch: jax.Array) -> jax.Array:
    """The key for this epoch's shuffle, from a state's `rng`: fold_in(stream 1, epoch)."""
    return jax.random.fold_in(jax.random.fold_in(rng, 1), epoch)
