"""A trained population as research code uses it: predicting with any apply function, and
the training core's names importable from `fjax.train`."""

import os
import subprocess
import sys
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from fjax.train.population import Population

RNG = np.random.default_rng(0)
X = RNG.normal(size=(37, 3)).astype(np.float32)
KEYS = jax.random.split(jax.random.PRNGKey(0), 3)


class Plain(nn.Module):
    """A flax module without a `deterministic` argument (no dropout)."""

    @nn.compact
    def __call__(self, x):
        return nn.Dense(2)(x)


class Dropping(nn.Module):
    """Dropout that is on unless told otherwise: predicting must turn it off."""

    @nn.compact
    def __call__(self, x, deterministic: bool = False):
        return nn.Dropout(0.5, deterministic=deterministic)(nn.Dense(2)(x))


def population(params) -> Population:
    """A population holding only stacked `params` (all `predict` reads)."""
    size = jax.tree.leaves(params)[0].shape[0]
    return Population(loop=None, params=params, members=pd.DataFrame({"member": range(size)}),
                      history=[], monitor="loss", mode="min", compile_s=0.0, compilations=0,
                      train_s=0.0, epoch_s=[])


def float64_dense(params, x):
    kernel = np.asarray(params["params"]["Dense_0"]["kernel"], np.float64)
    bias = np.asarray(params["params"]["Dense_0"]["bias"], np.float64)
    return x.astype(np.float64) @ kernel + bias


def test_predict_takes_a_module_without_deterministic_and_a_function_of_your_own():
    """A plain module's `model.apply`, a lambda and a def, each against float64 numpy."""
    model = Plain()
    pop = population(jax.vmap(lambda k: model.init(k, X[:1]))(KEYS))

    def mine(params, rows):
        dense = params["params"]["Dense_0"]
        return rows @ dense["kernel"] + dense["bias"]

    for apply_fn in (model.apply, lambda p, rows: model.apply(p, rows), mine):
        out = pop.predict(apply_fn, X, batch_size=16)   # 37 rows: a partial last batch
        assert out.shape == (3, 37, 2)
        for i in range(3):
            np.testing.assert_allclose(out[i], float64_dense(pop.member_params(i), X),
                                       rtol=1e-5, atol=1e-5)


def test_predict_passes_deterministic_where_the_model_takes_it():
    """Dropout on by default: without deterministic=True it would need a key (an error) or
    zero half the outputs; predictions equal the dropout-free float64 layer."""
    model = Dropping()
    pop = population(jax.vmap(lambda k: model.init(k, X[:1]))(KEYS))
    out = pop.predict(model.apply, X)
    for i in range(3):
        np.testing.assert_allclose(out[i], float64_dense(pop.member_params(i), X),
                                   rtol=1e-5, atol=1e-5)


def test_an_apply_functions_own_type_error_is_not_hidden():
    def broken(params, rows, deterministic=True):
        raise TypeError("a bug of its own")
    pop = population({"w": jnp.ones((2, 3))})
    with pytest.raises(TypeError, match="a bug of its own"):
        pop.predict(broken, X)


def test_checkpointer_is_exported_without_importing_orbax_with_fjax_train():
    """`import fjax.train` leaves orbax unloaded (it is slow to import); the name
    `fjax.train.Checkpointer` loads it on first use. In a fresh interpreter."""
    code = ("import sys, fjax.train\n"
            "loaded = lambda: sorted(m for m in sys.modules if m.split('.')[0] == 'orbax')\n"
            "assert not loaded(), loaded()[:3]\n"
            "from fjax.train import Checkpointer\n"
            "from fjax.train.checkpoint import Checkpointer as direct\n"
            "assert Checkpointer is direct and loaded() and 'Checkpointer' in dir(fjax.train)\n")
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
