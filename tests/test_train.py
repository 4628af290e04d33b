"""The training core: steps, epochs, fit, populations, checkpoints, bad input."""

import dataclasses
import functools
import gc
import json
import logging
import os
import re
import shutil
import signal
import types
import warnings
import weakref
from typing import Any, Callable

import chex
import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
import pytest

from fjax import metrics
from fjax.config import LossConfig, ModelConfig, OptimConfig, TrainConfig, metric_mode
from fjax.data.splits import Folds, kfold, walk_forward
from fjax.models import LinearRegression, build_model
from fjax.optim import OPTIMIZERS_KEPT, _build, build_optimizer, optimizer_settings
from fjax.train import (Callback, TrainingDiverged, TrainState, fit, init_member,
                        make_eval_step, make_train_step, train_population)
from fjax.train.checkpoint import Checkpointer
from fjax.train.epoch import (epoch_permutation, evaluate, num_batches, shuffled_batches,
                              train_epoch)
from fjax.train.objective import check_targets, model_structure, output_dim, supervised_loss
from fjax.train.loop import LoopState, loop_spec, track_best
from fjax.train.members import member_grid
from fjax.train.population import Population

N, D = 90, 4
RNG = np.random.default_rng(0)
X = RNG.normal(size=(N, D)).astype(np.float32)
Y = (X @ RNG.normal(size=D) + 0.1 * RNG.normal(size=N)).astype(np.float32)[:, None]
DATA = {"x": X, "y": Y}


class Net(nn.Module):
    @nn.compact
    def __call__(self, x, deterministic=True):
        h = nn.Dropout(0.1, deterministic=deterministic)(nn.tanh(nn.Dense(8)(x)))
        return nn.Dense(1)(h)


MODEL = Net()
INIT = lambda key: MODEL.init(key, X[:1])  # noqa: E731
LOSS = supervised_loss(MODEL.apply, LossConfig(name="huber"))
CFG = TrainConfig(epochs=3, batch_size=16)


def tree_allclose(a, b, **kw):
    jax.tree.map(lambda u, v: np.testing.assert_allclose(np.asarray(u), np.asarray(v), **kw), a, b)


def tree_equal(a, b):
    return all(jax.tree.leaves(jax.tree.map(lambda u, v: bool(jnp.array_equal(u, v)), a, b)))


def fresh_state(optim=OptimConfig(learning_rate=1e-2), steps=100, seed=0, hp=None):
    return init_member(INIT, build_optimizer(optim, steps), seed, hp)


def test_train_step_is_pure_and_jittable():
    state = fresh_state()
    batch = {"x": jnp.asarray(X[:16]), "y": jnp.asarray(Y[:16]), "weight": jnp.ones(16)}
    step = make_train_step(LOSS)
    eager, m1 = step(state, batch)
    jitted, m2 = jax.jit(step)(state, batch)
    tree_allclose(eager.params, jitted.params, rtol=1e-5, atol=1e-7)
    assert int(jitted.step) == 1 and int(state.step) == 0  # the input state is untouched
    np.testing.assert_allclose(m1["loss"], m2["loss"], rtol=1e-6)
    # grad through a step (e.g. for meta-learning) is finite (jitted: eager is 4x slower)
    meta = lambda p: make_eval_step(LOSS)(  # noqa: E731
        step(state.replace(params=p), batch)[0].params, batch)["loss"]
    g = jax.jit(jax.grad(meta))(state.params)
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(g))


def test_the_epoch_loss_is_the_mean_over_observed_target_entries():
    """With batch["target_mask"] (a forecast's filled steps) each batch's loss is a mean
    over its observed entries; the epoch's (and evaluate's) was a mean of those weighted
    by rows, so a batch of mostly filled steps counted as fully observed. Oracle: float64
    numpy over all rows at once, which no batching changes (no update: lr 0)."""
    rng = np.random.default_rng(0)
    n, h, bs = 10, 3, 4
    out, y = rng.standard_normal((n, h)), rng.standard_normal((n, h))
    mask = (rng.random((n, h)) > 0.5).astype(np.float64)
    mask[:4] = [1, 0, 0]             # rows of one step observed: unequal batches
    weights = np.array([1, 1, 2, 1, 0, 1, 1, 1, 3, 1], np.float64)
    loss_fn = supervised_loss(lambda p, x: x + p["b"], LossConfig(name="mse"))
    state = TrainState.create(params={"b": jnp.zeros(h)}, tx=optax.sgd(0.0), rng=0)
    data = {"x": jnp.asarray(out, jnp.float32), "y": jnp.asarray(y, jnp.float32),
            "target_mask": jnp.asarray(mask, jnp.float32)}
    w = weights[:, None] * mask
    want = np.sum(w * (out - y) ** 2) / np.sum(w)
    _, m = train_epoch(make_train_step(loss_fn), state, data, jnp.asarray(weights, jnp.float32),
                       jnp.int32(0), batch_size=bs, n_batches=num_batches(n, bs))
    assert float(m["loss"]) == pytest.approx(want, rel=1e-5)
    got = evaluate(make_eval_step(loss_fn), state.params, data,
                   jnp.asarray(weights, jnp.float32), batch_size=bs)
    assert float(got["loss"]) == pytest.approx(want, rel=1e-5)


def test_epoch_masks_the_last_partial_batch_like_a_float64_reference():
    """SGD on a linear model over one epoch equals a numpy loop over the same batches,
    where the padded tail of the last batch does not count."""
    model = LinearRegression(1)
    loss_fn = supervised_loss(model.apply, LossConfig(name="mse"))
    params = model.init(jax.random.PRNGKey(1), X[:1])
    tx = build_optimizer(OptimConfig(name="sgd", learning_rate=0.1), 10)
    state = TrainState.create(params=params, tx=tx, rng=jax.random.PRNGKey(2))
    n, bs = 70, 32
    data = {"x": jnp.asarray(X[:n]), "y": jnp.asarray(Y[:n])}
    weights = jnp.ones(n)
    new, _ = train_epoch(make_train_step(loss_fn), state, data, weights, jnp.int32(0),
                         batch_size=bs, n_batches=num_batches(n, bs))
    idx, w = shuffled_batches(epoch_permutation(state.rng, jnp.int32(0), n), weights, bs, 3)
    assert float(w[-1].sum()) == n - 2 * bs
    assert sorted(np.asarray(idx)[np.asarray(w) > 0].tolist()) == list(range(n))
    k = np.asarray(params["params"]["dense"]["kernel"], np.float64)
    b = np.asarray(params["params"]["dense"]["bias"], np.float64)
    x64, y64 = X[:n].astype(np.float64), Y[:n].astype(np.float64)
    for rows, wb in zip(np.asarray(idx), np.asarray(w)):
        xb, yb, wb = x64[rows], y64[rows], wb.astype(np.float64)
        err = (xb @ k + b) - yb
        gk = 2 * xb.T @ (wb[:, None] * err) / wb.sum()
        gb = 2 * (wb[:, None] * err).sum(0) / wb.sum()
        k, b = k - 0.1 * gk, b - 0.1 * gb
    np.testing.assert_allclose(new.params["params"]["dense"]["kernel"], k, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(new.params["params"]["dense"]["bias"], b, rtol=1e-4, atol=1e-5)


def test_rows_outside_the_fold_never_influence_training():
    folds = kfold(N, 3, seed=0)
    y2 = Y.copy()
    y2[folds.val[0] > 0] += 100.0   # planted values in the held-out rows
    a = fit(fresh_state(), LOSS, DATA, config=CFG, weights=folds.train[0])
    b = fit(fresh_state(), LOSS, {"x": X, "y": y2}, config=CFG, weights=folds.train[0])
    assert tree_equal(a.state.params, b.state.params)


def test_same_seed_gives_bit_identical_parameters():
    """For fit and for a population (Net has dropout: the keys matter every step)."""
    a = fit(fresh_state(), LOSS, DATA, config=CFG)
    b = fit(fresh_state(), LOSS, DATA, config=CFG)
    c = fit(fresh_state(seed=1), LOSS, DATA, config=CFG)
    assert tree_equal(a.state.params, b.state.params)
    assert not tree_equal(a.state.params, c.state.params)
    pop = lambda seeds: train_population(LOSS, INIT, DATA, optim=OptimConfig(),  # noqa: E731
                                         train=CFG, hparams={"learning_rate": [1e-3, 1e-2]},
                                         seeds=seeds)
    first, again, other = pop([0, 1]), pop([0, 1]), pop([1, 2])
    assert tree_equal(first.params, again.params)
    assert all(np.array_equal(x["loss"], y["loss"]) for x, y in zip(first.history, again.history))
    for i, j in [(i, j) for i in range(4) for j in range(4)]:   # a member is its seed and lr
        same = first.members.loc[i, ["seed", "learning_rate"]].tolist() == \
            other.members.loc[j, ["seed", "learning_rate"]].tolist()
        assert tree_equal(first.member_params(i), other.member_params(j)) == same


ONE_BY_ONE_OPTIM = OptimConfig(name="adam", learning_rate=1e-2, clip_norm=1.0)


@functools.cache
def _huber_loss(delta):
    """One loss per huber delta, so the fits that share it compile once."""
    return lambda p, b, r: LOSS(p, b, r, hparams={"huber_delta": delta})


@functools.cache
def _member_fit(seed, learning_rate, delta, fold):
    """A member of the population below trained alone by `fit` (shared by the chunk
    parametrizations: it does not depend on the chunk)."""
    folds = kfold(N, 2, seed=0)
    steps = CFG.epochs * num_batches(int(folds.train.sum(1).max()), CFG.batch_size)
    tx = build_optimizer(ONE_BY_ONE_OPTIM, steps)
    state = init_member(INIT, tx, seed, {"learning_rate": learning_rate})
    return fit(state, _huber_loss(delta), DATA, config=CFG, weights=folds.train[fold],
               val_data=DATA, val_weights=folds.val[fold])


@pytest.mark.parametrize("chunk", [None, 1, 3])
def test_population_equals_members_trained_one_by_one(chunk):
    """seeds x (learning rate, huber delta) x folds as one program == separate fits, with
    groups of 4 members vmapped (None), or members mapped one or three at a time."""
    folds = kfold(N, 2, seed=0)
    grid = {"learning_rate": [3e-3, 3e-2], "huber_delta": [0.5, 2.0]}
    with pytest.warns(UserWarning, match=r"the grid varies the loss itself \(huber_delta\), "
                                         "so val_loss is not comparable"):
        pop = train_population(LOSS, INIT, DATA, optim=ONE_BY_ONE_OPTIM, hparams=grid,
                               seeds=[0, 5], folds=folds,
                               train=dataclasses.replace(CFG, member_chunk=chunk))
    assert pop.size == 2 * 2 * 2 * 2
    chex.assert_tree_shape_prefix(pop.loop.train.params, (pop.size,))
    for i in (0, 7, 9, 14):  # together they cover every seed, grid value and fold
        row = pop.members.loc[i]
        one = _member_fit(int(row.seed), float(row.learning_rate), float(row.huber_delta),
                          int(row.fold))
        tree_allclose(one.state.params, pop.member_params(i), rtol=2e-4, atol=2e-5)
        np.testing.assert_allclose(one.history[-1]["val_loss"],
                                   pop.history[-1]["val_loss"][i], rtol=2e-4, atol=1e-6)
    # members differ from each other (the grid and seeds matter)
    assert not np.allclose(pop.history[-1]["loss"][0], pop.history[-1]["loss"][2])



def test_a_population_grids_any_hyperparameter_its_own_optimizer_injects():
    """Adam's b1 and eps, injected by the user's `optax.inject_hyperparams`: before, a grid
    key other than learning_rate, weight_decay or momentum went to the loss, which refused
    it. Each member equals `fit` with plain `optax.adam` built with its values."""
    tx = optax.inject_hyperparams(optax.adam)(learning_rate=1e-2)
    grid = {"b1": [0.5, 0.9], "eps": [1e-8, 1e-3]}
    pop = train_population(LOSS, INIT, DATA, optim=tx, train=CFG, hparams=grid, seeds=[3],
                           callbacks=())
    for i, row in pop.members.iterrows():
        plain = optax.adam(1e-2, b1=float(np.float32(row["b1"])),
                           eps=float(np.float32(row["eps"])))
        one = fit(init_member(INIT, plain, 3), LOSS, DATA, config=CFG, callbacks=())
        tree_allclose(one.state.params, pop.member_params(i), rtol=2e-4, atol=2e-5)
    assert not np.allclose(pop.history[-1]["loss"][0], pop.history[-1]["loss"][2])


def test_an_own_optimizers_grid_refuses_a_negative_rate_as_optim_config_does():
    """A negative learning rate went through with an optax optimizer of one's own (and was
    refused with OptimConfig): adam at -lr is gradient ascent, its loss rising."""
    tx = optax.inject_hyperparams(optax.adamw)(learning_rate=1e-2, weight_decay=1e-4)
    with pytest.raises(ValueError, match=r"hparams\['learning_rate'\] holds -0.01; it must "
                                         "be > 0: optax steps by -learning_rate"):
        train_population(LOSS, INIT, DATA, optim=tx, train=CFG,
                         hparams={"learning_rate": [1e-2, -1e-2]}, callbacks=())
    with pytest.raises(ValueError, match=r"hparams\['weight_decay'\] holds -0.5"):
        train_population(LOSS, INIT, DATA, optim=tx, train=CFG,
                         hparams={"weight_decay": [-0.5]}, callbacks=())


def test_a_negative_rate_in_the_optimizer_state_is_refused_before_training():
    """A negative (or infinite) learning rate or weight decay in the optimizer state, from
    TrainState.create's hyperparams or an optax optimizer of one's own built with it (also
    nested in a chain and a mask), was trained with by `fit` and by `train_population`
    without a grid: gradient ascent. Refused in the grid's words, naming where it is."""
    own = optax.inject_hyperparams(optax.adamw)
    rate = (r"hyperparams\['learning_rate'\] holds -0.001; it must be > 0: optax steps by "
            "-learning_rate")
    with pytest.raises(ValueError, match="TrainState.create: the optimizer state's " + rate):
        TrainState.create(params=INIT(jax.random.PRNGKey(0)), tx=own(learning_rate=1e-3),
                          rng=0, hyperparams={"learning_rate": -1e-3})
    negative = own(learning_rate=-1e-3)
    everything = lambda params: jax.tree.map(lambda _: True, params)  # noqa: E731
    nested = optax.chain(optax.clip(1.0), optax.masked(own(learning_rate=1e-3,
                                                           weight_decay=-0.5), everything))
    refused = [  # init_member's create is traced (jit), so fit is where these are caught
        (init_member(INIT, own(learning_rate=1e-3), 0, {"learning_rate": -1e-3}), rate),
        (init_member(INIT, negative, 0), rate),
        (init_member(INIT, nested, 0), r"\['weight_decay'\] holds -0.5; it must be >= 0: a "
                                       "negative decay grows the weights"),
        (init_member(INIT, own(learning_rate=np.inf), 0),
         r"\['learning_rate'\] holds inf; it must be finite and > 0")]
    for state, match in refused:
        with pytest.raises(ValueError, match="fit's state: .*" + match):
            fit(state, LOSS, DATA, config=CFG, callbacks=())
    for seeds in ([0], [0, 1]):
        with pytest.raises(ValueError, match="train_population's optim: .*" + rate):
            train_population(LOSS, INIT, DATA, optim=negative, train=CFG, seeds=seeds,
                             callbacks=())
    # a grid's values replace the optimizer's own, and a schedule's value is not checked
    # (at step 0 this warm-up's is 0, which a stored rate may not be)
    pop = train_population(LOSS, INIT, DATA, optim=negative, train=CFG,
                           hparams={"learning_rate": [1e-2]}, callbacks=())
    warmup = own(learning_rate=optax.linear_schedule(0.0, 1e-2, 5))
    scheduled = fit(init_member(INIT, warmup, 0), LOSS, DATA, config=CFG, callbacks=())
    for history in (pop.history, scheduled.history):
        assert np.ravel(history[-1]["loss"])[0] < np.ravel(history[0]["loss"])[0]


def test_an_own_optimizers_bad_values_are_refused_before_the_initialiser(monkeypatch):
    """A negative rate an optax optimizer of one's own was built with (alone, beside a
    grid over another of its values, or nested in a chain) was refused only once the
    population's initialiser had compiled and run, seconds for an LSTM; a grid's own
    values were refused before it already. Neither waits for it now, and a grid value
    still replaces the optimizer's own (the last case trains)."""
    import fjax.train.population as population
    started, initialise = [], population.init_population
    monkeypatch.setattr(population, "init_population",
                        lambda *args: started.append(1) or initialise(*args))
    own = optax.inject_hyperparams(optax.adamw)
    nested = optax.chain(optax.clip(1.0), own(learning_rate=1e-3, weight_decay=-0.5))
    for tx, hparams, match in [
            (own(learning_rate=1e-3), {"learning_rate": [1e-3, -1e-3]},
             r"hparams\['learning_rate'\] holds -0.001"),
            (own(learning_rate=-1e-3), {},
             r"state's hyperparams\['learning_rate'\] holds -0.001"),
            (own(learning_rate=-1e-3), {"b1": [0.8, 0.9]}, r"\['learning_rate'\] holds -0.001"),
            (nested, {}, r"\['weight_decay'\] holds -0.5; it must be >= 0")]:
        with pytest.raises(ValueError, match=match):
            train_population(LOSS, INIT, DATA, optim=tx, train=CFG, hparams=hparams,
                             seeds=[0, 1], callbacks=())
    assert started == []
    train_population(LOSS, INIT, DATA, optim=own(learning_rate=-1e-3), train=CFG,
                     hparams={"learning_rate": [1e-2]}, callbacks=())
    assert started == [1]


def test_a_vmapped_step_of_ones_own_takes_traced_rates_which_cannot_be_checked():
    """Under the caller's own vmap the rates are traced and have no value to check, so
    they pass as before; a negative one steps up the gradient (the hand-computed plain SGD
    step from zero weights, in float64), which is why a concrete one is refused."""
    def loss_fn(params, batch, rng):
        err = batch["x"] @ params["w"] + params["b"] - batch["y"][:, 0]
        return jnp.sum(batch["weight"] * err ** 2) / jnp.sum(batch["weight"]), {}

    zeros = lambda key: {"w": jnp.zeros(D), "b": jnp.zeros(())}  # noqa: E731
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    lrs = np.array([1e-2, -1e-2])
    states = jax.vmap(lambda lr: init_member(zeros, tx, 0, {"learning_rate": lr}))(lrs)
    batch = {"x": X, "y": Y, "weight": np.ones(N, np.float32)}
    states, _ = jax.jit(jax.vmap(make_train_step(loss_fn), in_axes=(0, None)))(states, batch)
    x, y = X.astype(np.float64), Y[:, 0].astype(np.float64)
    grad_w, grad_b = -2 / N * x.T @ y, -2 / N * y.sum()   # at w = 0, b = 0
    for i, lr in enumerate(lrs):
        np.testing.assert_allclose(states.params["w"][i], -lr * grad_w, rtol=1e-5)
        np.testing.assert_allclose(states.params["b"][i], -lr * grad_b, rtol=1e-5, atol=1e-8)
    loss = [np.mean((x @ np.asarray(states.params["w"][i], np.float64)
                     + float(states.params["b"][i]) - y) ** 2) for i in range(2)]
    assert loss[0] < np.mean(y ** 2) < loss[1]


def test_population_folds_validate_with_the_datas_sample_weights():
    """With folds, a member validates on its fold's rows weighted by data["weight"], as
    `fit` does: rows of weight 0 count nowhere, however wrong their targets."""
    folds = kfold(N, 2, seed=0)
    w = np.random.default_rng(3).uniform(0.5, 2.0, N).astype(np.float32)
    w[::5] = 0.0
    planted = Y.copy()
    planted[w == 0] += 1000.0
    optim = OptimConfig(learning_rate=1e-2)
    runs = [train_population(LOSS, INIT, {"x": X, "y": y, "weight": w}, optim=optim,
                             train=CFG, folds=folds, callbacks=()) for y in (Y, planted)]
    np.testing.assert_array_equal(runs[0].history[-1]["val_loss"],
                                  runs[1].history[-1]["val_loss"])
    steps = CFG.epochs * num_batches(int(((folds.train * w) > 0).sum(1).max()), CFG.batch_size)
    for fold in (0, 1):
        one = fit(init_member(INIT, build_optimizer(optim, steps), 0), LOSS,
                  {"x": X, "y": Y, "weight": w}, config=CFG, weights=folds.train[fold],
                  val_data={"x": X, "y": Y, "weight": w}, val_weights=folds.val[fold],
                  callbacks=())
        np.testing.assert_allclose(one.history[-1]["val_loss"],
                                   runs[0].history[-1]["val_loss"][fold], rtol=2e-4)

def test_one_trace_for_any_grid_size_and_epoch_count():
    traces = []

    def counting_loss(params, batch, rng, hparams=None):
        # traced calls only: the blow-up check's eager start per loss value is no trace
        if isinstance(jax.tree.leaves(params)[0], jax.core.Tracer):
            traces.append(1)
        return LOSS(params, batch, rng, hparams=hparams)

    def count(grid, epochs):
        traces.clear()
        train_population(counting_loss, INIT, DATA, optim=OptimConfig(),
                         train=TrainConfig(epochs=epochs, batch_size=32), hparams=grid)
        return len(traces)

    small = count({"learning_rate": [1e-3]}, 1)
    large = count({"learning_rate": [1e-3, 3e-3, 1e-2], "weight_decay": [0.0, 1e-4],
                   "huber_delta": [0.5, 1.0]}, 4)
    assert small == large > 0
    # A second run of one structure (other optimizer and loss values) finds its programs
    # and traces nothing: on a CPU the lift's choice, `auto_chunk`, traced the step every
    # population, and the loss check traced again for a first member's other loss values.
    assert count({"learning_rate": [3e-3, 1e-2, 3e-2], "weight_decay": [1e-4, 0.0],
                  "huber_delta": [0.7, 1.5]}, 4) == 0


def test_no_recompilation_between_runs_of_one_structure():
    first = fit(fresh_state(), LOSS, DATA, config=TrainConfig(epochs=2, batch_size=8))
    again = fit(fresh_state(seed=3), LOSS, DATA, config=TrainConfig(epochs=3, batch_size=8))
    assert first.compilations == 1 and again.compilations == 0
    grid = lambda lrs: train_population(  # noqa: E731
        LOSS, INIT, DATA, optim=OptimConfig(), train=TrainConfig(epochs=2, batch_size=8),
        hparams={"learning_rate": lrs, "huber_delta": [1.0, 2.0]}, seeds=[0, 1])
    a, b = grid([1e-3, 1e-2]), grid([3e-3, 3e-2])
    assert a.compilations == 1 and b.compilations == 0
    assert a.compile_s > 0


def test_a_longer_run_at_a_constant_rate_traces_nothing_again():
    """build_optimizer made a constant rate's optimizer anew for each run length, which it
    never reads: a second population of more epochs traced its initialiser and epoch."""
    traced = {"init": 0, "loss": 0}

    def init(key):
        traced["init"] += isinstance(key, jax.core.Tracer)
        return INIT(key)

    def loss(params, batch, rng):
        traced["loss"] += isinstance(jax.tree.leaves(params)[0], jax.core.Tracer)
        return LOSS(params, batch, rng)

    optim = OptimConfig(learning_rate=0.0123)   # a value no other test builds

    def run(epochs):
        traced.update(init=0, loss=0)
        pop = train_population(loss, init, DATA, optim=optim,
                               train=TrainConfig(epochs=epochs, batch_size=16),
                               hparams={"learning_rate": [0.0123, 0.03]}, callbacks=())
        return pop, dict(traced)

    _, traces = run(2)
    assert traces["init"] == 2 and traces["loss"] > 0   # init: its shapes for the loss check
    longer, traces = run(3)
    assert traces == {"init": 1, "loss": 0} and longer.compilations == 0
    # as one member's fit with an optimizer built for its own 18 steps, outside the cache
    fresh = _build.__wrapped__(optim, 18)
    alone = init_member(INIT, fresh, 0, {"learning_rate": 0.03})
    one = fit(alone, LOSS, DATA, config=TrainConfig(epochs=3, batch_size=16), callbacks=())
    tree_allclose(jax.tree.map(lambda a: a[1], longer.params), one.state.params, rtol=1e-5)
    cosine = OptimConfig(schedule="cosine")   # whose optimizer holds its length: not shared
    assert build_optimizer(cosine, 10) is not build_optimizer(cosine, 20)


@functools.cache
def _unchunked(grid: bool) -> Population:
    """The whole-vmap population the chunked ones are compared with (one per grid)."""
    return train_population(LOSS, INIT, DATA, optim=OptimConfig(), train=CFG,
                            hparams={"learning_rate": [1e-3, 1e-2, 3e-2]} if grid else None,
                            seeds=[0, 1] if grid else [0, 1, 2])


@pytest.mark.parametrize("grid, chunk", [
    ({"learning_rate": [1e-3, 1e-2, 3e-2]}, 1),   # groups of 3: members one at a time,
    ({"learning_rate": [1e-3, 1e-2, 3e-2]}, 2),   # two at a time,
    ({"learning_rate": [1e-3, 1e-2, 3e-2]}, 3),   # one group at a time (vmapped inside),
    ({"learning_rate": [1e-3, 1e-2, 3e-2]}, 6),   # two groups at a time
    (None, 2)])   # groups of 1, mapped directly, two at a time (the path of chunk 1 above)
def test_member_chunks_equal_full_vmap(grid, chunk):
    seeds = [0, 1] if grid else [0, 1, 2]
    full = _unchunked(bool(grid))
    chunked = train_population(LOSS, INIT, DATA, optim=OptimConfig(), hparams=grid,
                               seeds=seeds, train=dataclasses.replace(CFG, member_chunk=chunk))
    assert chunked.size == full.size == (6 if grid else 3)
    tree_allclose(full.params, chunked.params, rtol=1e-4, atol=1e-6)


def test_early_stopping_restores_the_best_epoch():
    folds = kfold(N, 3, seed=1)
    cfg = TrainConfig(epochs=40, batch_size=16, patience=2)
    optim = OptimConfig(learning_rate=0.3)  # large enough to overshoot: val loss goes up
    res = fit(fresh_state(optim), LOSS, DATA, config=cfg, weights=folds.train[0],
              val_data=DATA, val_weights=folds.val[0])
    val = [h["val_loss"] for h in res.history]
    assert res.best_epoch == int(np.argmin(val)) + 1
    assert res.epochs_run == len(val) and res.epochs_run - res.best_epoch == 2
    again = fit(fresh_state(optim), LOSS, DATA, weights=folds.train[0],
                config=TrainConfig(epochs=res.best_epoch, batch_size=16))
    tree_allclose(res.state.params, again.state.params, rtol=1e-6, atol=1e-7)


def test_divergence_stops_with_the_epoch_named():
    bad = OptimConfig(name="sgd", learning_rate=1e4)
    with pytest.raises(TrainingDiverged, match=r"diverged at epoch \d") as err:
        fit(fresh_state(bad), supervised_loss(MODEL.apply, LossConfig(name="mse")), DATA,
            config=TrainConfig(epochs=20, batch_size=16))
    params = err.value.result.state.params
    assert all(np.isfinite(np.asarray(p)).all() for p in jax.tree.leaves(params))


def test_divergence_names_the_best_epoch_whose_parameters_it_keeps():
    """SGD at lr 0.5 raises the MSE from epoch 1 on and diverges (at epoch 9 on CPUs, 10 on
    an H200): .result.state holds epoch 1's parameters (the lowest loss), which the error
    called "the last finite parameters" (the epoch before). Oracle: a 1-epoch fit from the
    same state."""
    mse = supervised_loss(MODEL.apply, LossConfig(name="mse"))
    start = lambda: fresh_state(OptimConfig(name="sgd", learning_rate=0.5))  # noqa: E731
    with pytest.raises(TrainingDiverged, match=r"diverged at epoch \d+: .* \.result\.state "
                                               r"holds epoch 1's parameters, the best") as err:
        fit(start(), mse, DATA, config=TrainConfig(epochs=20, batch_size=16), callbacks=())
    finite = int(re.search(r"diverged at epoch (\d+)", str(err.value)).group(1)) - 1
    losses = [float(h["loss"]) for h in err.value.result.history][:finite]
    assert finite >= 3 and np.all(np.isfinite(losses)) and int(np.argmin(losses)) == 0
    one = fit(start(), mse, DATA, config=TrainConfig(epochs=1, batch_size=16), callbacks=())
    tree_allclose(err.value.result.state.params, one.state.params, rtol=1e-6, atol=1e-7)


def test_a_diverging_member_does_not_stop_the_others():
    """The diverged member is named as such, and not as one whose loss blew up "finite" by
    its last finite loss (1e29), as it once was too."""
    with pytest.warns(UserWarning, match=r"1 of 2 members diverged \(loss or validation loss "
                                         r"became NaN or infinite\): seed=0, fold=0, "
                                         r"learning_rate=1.5 at epoch \d") as caught:
        pop = train_population(supervised_loss(MODEL.apply, LossConfig(name="mse")), INIT, DATA,
                               optim=OptimConfig(name="sgd", learning_rate=1e-2),
                               train=TrainConfig(epochs=6, batch_size=16),
                               hparams={"learning_rate": [1e-2, 1.5]})
    assert [w.category.__name__ for w in caught] == ["DivergedWarning"]
    table = pop.table()
    assert table.loc[0, "diverged_epoch"] == 0 and table.loc[0, "epochs"] == 6
    # The epoch named is the first whose logged loss is not finite (lr 1.5 takes a few).
    losses = np.stack([h["loss"][1] for h in pop.history])
    first_bad = int(np.flatnonzero(~np.isfinite(losses))[0]) + 1
    assert table.loc[1, "diverged_epoch"] == first_bad == table.loc[1, "epochs"] > 1
    assert all(np.isfinite(np.asarray(p)).all() for p in jax.tree.leaves(pop.params))


def test_a_population_closes_its_divergence_warning_with_the_callers_sentence():
    """A task's sweep silenced train_population's warning and said it again in its own
    words; the sentence is now an argument, said once."""
    with pytest.warns(UserWarning) as caught:
        train_population(supervised_loss(MODEL.apply, LossConfig(name="mse")), INIT, DATA,
                         optim=OptimConfig(name="sgd", learning_rate=1e-2),
                         train=TrainConfig(epochs=6, batch_size=16),
                         hparams={"learning_rate": [1e-2, 1.5]}, ranked="See members.csv.")
    assert [w.category.__name__ for w in caught] == ["DivergedWarning"]
    assert re.fullmatch(r"1 of 2 members diverged .* optim\.clip_norm\. See members\.csv\.",
                        str(caught[0].message), re.S)


def test_an_undefined_monitor_is_not_divergence():
    """Average precision on validation rows without positives is NaN in every epoch: the
    run trains on (its losses are finite), keeps its last epoch and says why."""
    y = (X[:, :1] > 0).astype(np.float32)
    data = {"x": X, "y": y}
    train_rows = (np.arange(N) < 60).astype(np.float32)
    negatives_only = ((y[:, 0] == 0) & (np.arange(N) >= 60)).astype(np.float32)

    def eval_fn(params, d, w):
        scores = MODEL.apply(params, d["x"])[:, 0]
        return {"average_precision": metrics.average_precision(scores, d["y"][:, 0], w)}

    config = TrainConfig(epochs=4, batch_size=16, monitor="val_average_precision")  # mode auto
    with pytest.warns(UserWarning, match="val_average_precision was undefined"):
        res = fit(fresh_state(), supervised_loss(MODEL.apply, LossConfig(name="bce")), data,
                  config=config, weights=train_rows, val_data=data, val_weights=negatives_only,
                  eval_fn=eval_fn, callbacks=())
    assert res.epochs_run == 4 and res.best_epoch == 0 and int(res.loop.diverged_epoch) == 0
    assert tree_equal(res.state.params, res.loop.train.params)
    # A population member in the same case keeps its last epoch too, not its initial weights.
    with pytest.warns(UserWarning, match="1 of 1 members had val_average_precision undefined"):
        pop = train_population(supervised_loss(MODEL.apply, LossConfig(name="bce")), INIT, data,
                               optim=OptimConfig(), train=config, eval_fn=eval_fn,
                               folds=Folds(train=train_rows[None], val=negatives_only[None]),
                               callbacks=())
    assert tree_equal(pop.member_params(0),
                      jax.tree.map(lambda x: x[0], pop.loop.train.params))
    assert not tree_equal(pop.member_params(0), jax.tree.map(lambda x: x[0], pop.loop.best_params))
    assert pop.mode == "max"   # auto, resolved: summary() and best_config() rank by it


def test_validation_that_is_only_logged_stops_nothing():
    """A forecast's test span, logged per epoch for the plot but never used to choose,
    once stopped a member whose test loss overflowed: a decision made on test data."""
    far = {"x": X, "y": Y + 1e30}   # finite targets whose squared error overflows float32
    mse = supervised_loss(MODEL.apply, LossConfig(name="mse"))
    logged_only = TrainConfig(epochs=3, batch_size=16, restore_best=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # nothing selects on it, so nothing to warn about
        pop = train_population(mse, INIT, DATA, optim=OptimConfig(), train=logged_only,
                               val_data=far, callbacks=())
    plain = train_population(mse, INIT, DATA, optim=OptimConfig(), train=logged_only,
                             callbacks=())
    assert np.isinf(pop.history[-1]["val_loss"]).all()
    assert int(pop.loop.diverged_epoch[0]) == 0 and int(pop.loop.epoch[0]) == 3
    assert tree_equal(pop.params, plain.params)


def test_a_non_finite_validation_loss_is_divergence():
    far = {"x": X, "y": Y + 1e30}   # finite targets whose squared error overflows float32
    with pytest.raises(TrainingDiverged, match=r"diverged at epoch 1: loss=[\d.]+, val_loss=inf"):
        fit(fresh_state(), supervised_loss(MODEL.apply, LossConfig(name="mse")), DATA,
            config=CFG, val_data=far, callbacks=())



@pytest.mark.parametrize("monitor, mode, scores", [
    ("val_auc", "max", [0.60, 0.70, 0.72, 0.74, 0.80]),
    ("val_auc", "auto", [0.60, 0.70, 0.72, 0.74, 0.80]),
    ("val_rmse", "min", [1.00, 0.90, 0.88, 0.86, 0.50]),
    ("val_rmse", "auto", [1.00, 0.90, 0.88, 0.86, 0.50])])
def test_early_stopping_follows_mode_min_delta_and_patience(monitor, mode, scores):
    """Epoch 2 improves by more than min_delta (0.05); epochs 3 and 4 improve by less, so
    with patience 2 the run stops after epoch 4 with epoch 2 as its best, and epoch 5's
    larger improvement is never seen."""
    config = TrainConfig(monitor=monitor, mode=mode, min_delta=0.05, patience=2)
    spec = loop_spec(config, [16], has_val=True)
    monitor, sign = spec.monitor, spec.sign
    loop = LoopState.start(fresh_state())
    for score in scores:
        loop = track_best(spec, loop, loop.train, {"loss": jnp.float32(0.1),
                                                   monitor: jnp.float32(score)})
    assert (int(loop.best_epoch), int(loop.epoch), bool(loop.stopped)) == (2, 4, True)
    assert float(loop.best_score) == pytest.approx(sign * scores[1])
    assert int(loop.diverged_epoch) == 0


def test_each_epoch_draws_its_own_shuffle():
    rng = jax.random.PRNGKey(3)
    orders = [np.asarray(epoch_permutation(rng, jnp.int32(e), N)) for e in (0, 1, 0)]
    assert sorted(orders[0]) == list(range(N))
    assert not np.array_equal(orders[0], orders[1])
    np.testing.assert_array_equal(orders[0], orders[2])


@pytest.mark.parametrize("optim", [
    OptimConfig(name="adam", learning_rate=1e-2),
    OptimConfig(name="adam", learning_rate=1e-2, schedule="cosine", final_factor=0.1),
    OptimConfig(name="sgd", learning_rate=0.1, schedule="warmup_cosine", warmup_steps=3),
], ids=["constant", "cosine", "warmup_cosine"])
def test_population_with_unequal_folds_equals_fits(optim):
    """Walk-forward folds train on 60, 70 and 80 rows: members with fewer rows skip the
    batches they lack, so each still takes exactly the steps its own `fit` takes, and its
    schedule spans those steps (it decayed over the longest fold's, never ending)."""
    folds = walk_forward(N, k=3, val_size=10)
    assert list(folds.train.sum(1)) == [60, 70, 80]
    pop = train_population(LOSS, INIT, DATA, optim=optim, train=CFG, folds=folds, callbacks=())
    for i in range(3):
        steps = CFG.epochs * num_batches(int(folds.train[i].sum()), CFG.batch_size)
        one = fit(init_member(INIT, build_optimizer(optim, steps), 0), LOSS, DATA, config=CFG,
                  weights=folds.train[i], val_data=DATA, val_weights=folds.val[i],
                  callbacks=())
        assert int(pop.loop.train.step[i]) == int(one.state.step) == steps
        tree_allclose(one.state.params, pop.member_params(i), rtol=2e-4, atol=2e-5)


def test_a_warmup_the_shortest_fold_would_never_finish_is_refused():
    """Folds of 60, 70 and 80 rows take 12, 15 and 15 steps: a 13-step warm-up fits the
    longest but the first member would end still warming up, so it is refused."""
    folds = walk_forward(N, k=3, val_size=10)
    optim = OptimConfig(schedule="warmup_cosine", warmup_steps=13)
    with pytest.raises(ValueError, match=r"warmup_steps is 13, but this run's shortest member "
                                         r"\(the fold with the fewest training rows; the "
                                         r"longest takes 15\) takes only 12 optimizer steps"):
        train_population(LOSS, INIT, DATA, optim=optim, train=CFG, folds=folds, callbacks=())


def stub_population(members, history, epochs, best_epoch, diverged_epoch) -> Population:
    """A `Population` of `members` (a `member_grid`) from a hand-built history and loop
    counters, for the tests of its table and rankings."""
    loop = types.SimpleNamespace(epoch=np.asarray(epochs), best_epoch=np.asarray(best_epoch),
                                 diverged_epoch=np.asarray(diverged_epoch))
    return Population(loop=loop, params=None, members=members, history=history,
                      monitor="val_loss", mode="min", compile_s=0.0, compilations=0,
                      train_s=0.0, epoch_s=[])


def one_epoch_population(members, val, diverged) -> Population:
    """One epoch in which each member either diverged (no best epoch) or scored `val`."""
    return stub_population(members, [{"loss": val, "val_loss": val, "epoch": 1, "time_s": 0.0}],
                           np.ones(len(members), int), np.where(diverged, 0, 1),
                           diverged.astype(int))


def test_table_reads_each_members_best_and_last_epoch():
    """A hand-built three-epoch history: member 0 was best at epoch 1 and ran 3 epochs,
    member 1 was best at epoch 2 and stopped there."""
    members = member_grid({"learning_rate": [1e-3, 1e-2]}, seeds=[0], n_folds=1)
    history = [{"val_loss": np.array([0.3, 0.9]), "epoch": 1, "time_s": 0.0},
               {"val_loss": np.array([0.4, 0.5]), "epoch": 2, "time_s": 0.0},
               {"val_loss": np.array([0.6, 0.5]), "epoch": 3, "time_s": 0.0}]
    table = stub_population(members, history, [3, 2], [1, 2], [0, 0]).table()
    assert table["best_val_loss"].tolist() == [0.3, 0.5]
    assert table["final_val_loss"].tolist() == [0.6, 0.5]


def test_summary_ranks_a_config_with_a_diverged_member_last():
    """lr 1.0 diverged on two seeds; its one survivor scored better than every lr 1e-3
    member, but a mean over survivors must not pick it."""
    members = member_grid({"learning_rate": [1e-3, 1.0]}, seeds=[0, 1, 2], n_folds=1)
    big = members["learning_rate"].to_numpy() == 1.0
    diverged = big & (members["seed"].to_numpy() < 2)
    val = np.where(diverged, np.nan, np.where(big, 0.45, 0.50))
    pop = one_epoch_population(members, val, diverged)
    summary = pop.summary().set_index("learning_rate")
    assert summary.loc[1e-3, "val_loss_mean"] == pytest.approx(0.50)
    assert summary.loc[1.0, "val_loss_mean"] == np.inf
    assert pop.best_config() == {"learning_rate": 1e-3}
    assert type(pop.best_config()["learning_rate"]) is float   # not np.float64
    # Maximising, the diverged members count as -inf.
    maximised = pop.summary("val_loss", "max").set_index("learning_rate")
    assert maximised.loc[1.0, "val_loss_mean"] == -np.inf
    # lr 1e-3 with its metric undefined (NaN) on every member: neither config can be
    # chosen, and picking the diverged one (pandas skips NaN) would be wrong.
    pop.history[0]["val_loss"] = np.where(big, val, np.nan)
    with pytest.raises(ValueError, match="no configuration has a finite mean val_loss_mean"):
        pop.best_config()


def test_a_metric_other_than_the_monitor_ranks_in_its_own_direction():
    """best_config("val_auc") of a population monitored by val_loss (mode min) returned
    the lowest AUC."""
    members = member_grid({"learning_rate": [1e-3, 1e-2, 1e-1]}, seeds=[0], n_folds=1)
    history = [{"val_loss": np.array([0.3, 0.2, 0.4]), "val_auc": np.array([0.6, 0.9, 0.7]),
                "val_score": np.array([1.0, 2.0, 3.0]), "epoch": 1, "time_s": 0.0}]
    pop = stub_population(members, history, [1, 1, 1], [1, 1, 1], [0, 0, 0])
    assert pop.mode == "min"
    assert pop.best_config() == {"learning_rate": 1e-2}             # lowest loss
    assert pop.best_config("val_auc") == {"learning_rate": 1e-2}    # highest AUC
    assert pop.best_config("val_auc", "min") == {"learning_rate": 1e-3}
    with pytest.raises(ValueError, match="pass mode='min' or mode='max'"):
        pop.best_config("val_score")
    assert pop.best_config("val_score", "max") == {"learning_rate": 1e-1}


@pytest.mark.parametrize("optim", [OptimConfig(learning_rate=1e-2),   # cosine: an injected
                                   OptimConfig(learning_rate=1e-2, schedule="cosine")])  # length
def test_resumed_run_is_bit_identical(tmp_path, optim):
    full = fit(fresh_state(optim), LOSS, DATA, config=TrainConfig(epochs=4, batch_size=16))
    fit(fresh_state(optim), LOSS, DATA, config=TrainConfig(epochs=2, batch_size=16),
        callbacks=[Checkpointer(tmp_path)])
    resumed = fit(fresh_state(optim), LOSS, DATA, config=TrainConfig(epochs=4, batch_size=16),
                  callbacks=[Checkpointer(tmp_path)])
    assert tree_equal(full.state.params, resumed.state.params)
    assert tree_equal(full.state.opt_state, resumed.state.opt_state)
    # The program `full` compiled serves the resume: orbax restored committed arrays,
    # which jit compiled apart from the fresh (uncommitted) state's.
    assert resumed.compilations == 0
    # The history is whole: the two saved epochs' logs, then the two run now.
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    for before, after in zip(full.history, resumed.history):
        assert before.keys() == after.keys()
        for k in before.keys() - {"time_s"}:
            assert np.asarray(after[k]).dtype == np.asarray(before[k]).dtype, k
            np.testing.assert_array_equal(after[k], before[k])


NO_DROPOUT = supervised_loss(lambda p, x: MODEL.apply(p, x), LossConfig(name="huber"))


@pytest.mark.parametrize("loss", [LOSS, NO_DROPOUT], ids=["dropout", "no_dropout"])
@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_a_fit_continued_from_its_state_equals_one_longer_fit(loss, schedule):
    """`fit(result.state, ...)` restarted the epoch count that draws the shuffles, so
    3 + 3 epochs replayed the first 3 epochs' orders and differed from 6 epochs. Oracles:
    the 6-epoch fit, and for it a hand loop of `train_epoch` over epochs 0..5 (a fresh
    fit's shuffles are unchanged)."""
    cfg = lambda epochs: TrainConfig(epochs=epochs, batch_size=16)  # noqa: E731
    state = fresh_state(OptimConfig(learning_rate=1e-2, schedule=schedule),
                        steps=6 * num_batches(N, 16))
    full = fit(state, loss, DATA, config=cfg(6), callbacks=())
    first = fit(state, loss, DATA, config=cfg(3), callbacks=())
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # whole epochs of the same data: no warning
        second = fit(first.state, loss, DATA, config=cfg(3), callbacks=())
    assert tree_equal(full.state, second.state) and int(second.state.step) == 6 * 6
    np.testing.assert_array_equal([h["loss"] for h in full.history[3:]],
                                  [h["loss"] for h in second.history])
    epoch = jax.jit(functools.partial(train_epoch, make_train_step(loss), batch_size=16,
                                      n_batches=num_batches(N, 16)))
    hand, data = state, jax.tree.map(jnp.asarray, DATA)
    for e in range(6):
        hand, _ = epoch(hand, data, jnp.ones(N), jnp.int32(e))
    tree_allclose(full.state.params, hand.params, rtol=1e-6, atol=1e-7)


# Validation rows unrelated to the training targets: val_loss is best after epoch 1 and
# worsens after it, so early stopping's state matters to the epochs after the first 3.
_V = np.random.default_rng(1)
NOISE_VAL = {"x": _V.normal(size=(40, D)).astype(np.float32),
             "y": 3 * _V.normal(size=(40, 1)).astype(np.float32)}


def _same_history(a, b):
    assert [h["epoch"] for h in a] == [h["epoch"] for h in b]
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x.keys() - {"time_s"}:
            np.testing.assert_array_equal(x[k], y[k])


@pytest.mark.parametrize("patience", [None, 4])
def test_a_continued_fit_result_equals_one_longer_fit_early_stopping_included(patience):
    """A fit continued from `result.state` restarted early stopping: with restore_best it
    returned the continuation's best epoch where one longer fit returns epoch 1's, and
    patience counted afresh (3 + 3 epochs ran where one fit stops after 5). `fit(result,
    ...)` carries the run on. Oracle: the 6-epoch fit, bitwise; its timings, the first
    fit's followed by the continuation's."""
    cfg = lambda epochs: TrainConfig(epochs=epochs, batch_size=16, patience=patience)  # noqa
    kw = dict(val_data=NOISE_VAL, callbacks=())
    full = fit(fresh_state(), LOSS, DATA, config=cfg(6), **kw)
    assert full.best_epoch == 1 and full.epochs_run == (6 if patience is None else 5)
    first = fit(fresh_state(), LOSS, DATA, config=cfg(3), **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = fit(first, LOSS, DATA, config=cfg(3), **kw)
    assert tree_equal(full.state, second.state) and tree_equal(full.loop, second.loop)
    assert (second.best_epoch, second.epochs_run) == (full.best_epoch, full.epochs_run)
    _same_history(full.history, second.history)
    # Its timings too are the whole run's (they were the continuation's alone).
    assert len(second.epoch_s) == len(second.history) == full.epochs_run
    assert second.epoch_s[:3] == first.epoch_s and second.train_s >= first.train_s
    assert second.compilations >= first.compilations and second.compile_s >= first.compile_s
    # From the last epoch's state, a new fit: the same weights, early stopping afresh.
    afresh = fit(first.loop.train, LOSS, DATA, config=cfg(3), **kw)
    assert afresh.best_epoch == 1 and not tree_equal(afresh.state.params, full.state.params)
    if patience is None:
        assert tree_equal(afresh.loop.train.params, full.loop.train.params)
    else:   # patience counted afresh: 3 more epochs, where the one fit stopped after 2
        assert afresh.epochs_run == 3


def test_continuing_a_stopped_or_differently_monitored_fit():
    """A run that early-stopped trains no further when continued (one longer fit would
    not), with a warning; one that monitored another metric is refused. One that diverged
    once pointed to its last (non-finite) state to train on; now to its best finite one."""
    cfg = TrainConfig(epochs=6, batch_size=16, patience=2)
    done = fit(fresh_state(), LOSS, DATA, config=cfg, val_data=NOISE_VAL, callbacks=())
    assert done.epochs_run == 3
    with pytest.warns(UserWarning, match="early-stopped at epoch 3: one longer fit trains no"):
        again = fit(done, LOSS, DATA, config=cfg, val_data=NOISE_VAL, callbacks=())
    assert again.epochs_run == 3 and tree_equal(again.loop, done.loop)
    with pytest.raises(ValueError, match=r"monitored val_loss \(min\), but this call "
                                         r"monitors loss \(min\)"):
        fit(done, LOSS, DATA, config=cfg, callbacks=())
    mse = supervised_loss(MODEL.apply, LossConfig(name="mse"))
    with pytest.raises(TrainingDiverged) as err:
        fit(fresh_state(OptimConfig(name="sgd", learning_rate=1e4)), mse, DATA, config=cfg,
            callbacks=())
    with pytest.warns(UserWarning, match=r"diverged at epoch 1: .* start again from "
                                         r"result.state \(its best epoch's parameters, finite\)"):
        with pytest.raises(TrainingDiverged):   # still the run that diverged, not trained on
            fit(err.value.result, mse, DATA, config=cfg, callbacks=())


def test_a_continued_fit_killed_and_resumed_equals_one_longer_fit(tmp_path):
    """A continued fit (epochs 4..6) interrupted among the callbacks of epoch 5 saves
    epoch 4 (its Checkpointer's history holds epochs from 4, which the save once read as
    epochs from 1) and, resumed, ends as the 6-epoch fit, its history whole (the
    checkpoint holds the continuation's epochs; the result it continues, the first 3)."""
    cfg = lambda epochs: TrainConfig(epochs=epochs, batch_size=16)  # noqa: E731
    kw = dict(val_data=NOISE_VAL)
    full = fit(fresh_state(), LOSS, DATA, config=cfg(6), callbacks=(), **kw)
    first = fit(fresh_state(), LOSS, DATA, config=cfg(3), callbacks=(), **kw)
    with pytest.raises(KeyboardInterrupt):
        fit(first, LOSS, DATA, config=cfg(3), callbacks=[Checkpointer(tmp_path, every=9),
                                                          _CtrlC("on_epoch_end", 5)], **kw)
    ckpt = Checkpointer(tmp_path)
    assert ckpt.latest_epoch() == 4
    resumed = fit(first, LOSS, DATA, config=cfg(3), callbacks=[ckpt], **kw)
    assert tree_equal(full.state, resumed.state) and tree_equal(full.loop, resumed.loop)
    _same_history(full.history, resumed.history)
    # first's 3 epochs' times, then the restored epoch 4's, then those run now
    assert resumed.epoch_s[:3] == first.epoch_s
    assert resumed.epoch_s == [h["time_s"] for h in resumed.history]


class _Times(Callback):
    """Each epoch's time_s as the run that measured it logged it."""

    def __init__(self):
        self.times = {}

    def on_epoch_end(self, epoch, logs, loop):
        self.times[epoch] = logs["time_s"]


def test_a_resumed_fit_times_every_epoch_of_its_history(tmp_path):
    """A fit resumed from a Checkpointer had the restored epochs in `history` but not in
    `epoch_s` (2 times for 5 epochs), so `epoch_s[i]` was not epoch i + 1's time. Now it
    holds one time per epoch of the history: the restored ones as the interrupted run
    measured them (the oracle: what that run logged), then this run's."""
    cfg = TrainConfig(epochs=5, batch_size=16)
    times = _Times()
    with pytest.raises(KeyboardInterrupt):
        fit(fresh_state(), LOSS, DATA, config=cfg, callbacks=[
            Checkpointer(tmp_path, every=9), times, _CtrlC("on_epoch_end", 4)])
    resumed = fit(fresh_state(), LOSS, DATA, config=cfg, callbacks=[Checkpointer(tmp_path)])
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4, 5]
    assert len(resumed.epoch_s) == 5
    assert resumed.epoch_s[:3] == [times.times[e] for e in (1, 2, 3)]
    assert resumed.epoch_s == [h["time_s"] for h in resumed.history]


def test_a_continued_fit_in_its_first_fits_checkpoint_directory_is_told_to_use_another(
        tmp_path):
    """`fit(result, callbacks=[Checkpointer(dir)])` in the directory of the fit it continues
    was refused as a run "with other inputs (initial weights or seed, data, ...)", none of
    which it had changed. The refusal names the continuation; a new directory works, and
    the continued fit equals one longer fit (the oracle, bitwise)."""
    cfg = TrainConfig(epochs=2, batch_size=16)
    first = fit(fresh_state(), LOSS, DATA, config=cfg, callbacks=[Checkpointer(tmp_path / "a")])
    with pytest.raises(ValueError, match=r"or it is the fit that this `fit\(result, \.\.\.\)` "
                                         r"continues.* or use a new directory"):
        fit(first, LOSS, DATA, config=cfg, callbacks=[Checkpointer(tmp_path / "a")])
    second = fit(first, LOSS, DATA, config=cfg, callbacks=[Checkpointer(tmp_path / "b")])
    full = fit(fresh_state(), LOSS, DATA, config=TrainConfig(epochs=4, batch_size=16),
               callbacks=())
    assert tree_equal(full.loop, second.loop)


@pytest.mark.parametrize("optim", [OptimConfig(learning_rate=1e-2, schedule="cosine"),
                                   OptimConfig(learning_rate=1e-2, schedule="warmup_cosine",
                                               warmup_steps=3)])
def test_a_fit_past_its_schedules_end_is_warned_of(optim):
    """A cosine schedule built for 10 steps, in a fit of 5 epochs of 6 batches, trained 10
    steps and then 20 at rate 0 (final_factor's default), silently: the weights after
    epoch 2 were those after epoch 5. A schedule of the fit's own 30 steps warns nothing."""
    config = lambda epochs: TrainConfig(epochs=epochs, batch_size=16)  # noqa: E731
    short = fresh_state(optim, steps=10)
    with pytest.warns(UserWarning, match=r"schedule spans 10 steps, but this fit may run to "
                                         r"step 30: the steps after 10 take its final rate"):
        five = fit(short, NO_DROPOUT, DATA, config=config(5), callbacks=())
    with pytest.warns(UserWarning, match="may run to step 12"):
        two = fit(short, NO_DROPOUT, DATA, config=config(2), callbacks=())
    assert tree_equal(two.state.params, five.state.params)   # steps 12..30 trained nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(fresh_state(optim, steps=30), NO_DROPOUT, DATA, config=config(5), callbacks=())


def test_continuing_a_stopped_fit_warns_once():
    """A continued fit that early stopping had stopped trains nothing, which it says; it
    also warned that it "may run to step 54" past its 36-step cosine schedule, a second
    warning of steps it never takes. Oracle: its loop, the stopped fit's, bitwise."""
    cfg = TrainConfig(epochs=6, batch_size=16, patience=2)
    optim = OptimConfig(learning_rate=1e-2, schedule="cosine")
    done = fit(fresh_state(optim, steps=36), LOSS, DATA, config=cfg, val_data=NOISE_VAL,
               callbacks=())
    assert done.epochs_run == 3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = fit(done, LOSS, DATA, config=cfg, val_data=NOISE_VAL, callbacks=())
    assert [str(w.message).split(":")[0] for w in caught] == [
        "fit continues a run that early-stopped at epoch 3"]
    assert tree_equal(again.loop, done.loop)


def test_continuing_a_state_of_other_data_warns():
    """A state whose step count is not whole epochs of this data cannot continue any one
    fit on it: say so, and which epoch its shuffles go on from."""
    first = fit(fresh_state(), LOSS, DATA, config=TrainConfig(epochs=1, batch_size=16),
                callbacks=())   # 6 steps: not whole epochs of batch size 20's 5
    with pytest.warns(UserWarning, match=r"step 6, which is not a whole number of epochs of "
                                         r"this data \(5 batches per epoch\).*from epoch 1"):
        fit(first.state, LOSS, DATA, config=TrainConfig(epochs=1, batch_size=20), callbacks=())


class _CtrlC(Callback):
    """A Ctrl-C that lands in this callback's `hook` at `epoch` (after the callbacks
    before it saw that epoch), as a signal may land anywhere in the host loop; in
    on_train_end, before the Checkpointer's final save."""

    def __init__(self, hook, epoch):
        self.hook, self.epoch = hook, epoch

    def on_epoch_end(self, epoch, logs, loop):
        if self.hook == "on_epoch_end" and epoch == self.epoch:
            raise KeyboardInterrupt

    def on_train_end(self, loop):
        if self.hook == "on_train_end":
            raise KeyboardInterrupt


@pytest.mark.parametrize("hook, at, saved", [("on_epoch_end", 3, 2), ("on_epoch_end", 4, 3),
                                             ("on_train_end", None, 4)])
def test_a_ctrl_c_among_the_callbacks_saves_the_last_finished_epoch(tmp_path, hook, at, saved):
    """A Ctrl-C after the Checkpointer logged epoch e but before the loop finished it
    (a later callback's on_epoch_end, or on_train_end after the last epoch) saved
    nothing: the history held e epochs, the state e - 1, so `on_interrupt` skipped its
    save, and on_train_end ran outside the interrupt handling. A forecast run stopped
    after its last epoch's log line resumed from epoch 1. Now epoch e - 1 (or the last
    one) is saved and the resume equals a run that never stopped."""
    cfg = TrainConfig(epochs=4, batch_size=16)
    full = fit(fresh_state(), LOSS, DATA, config=cfg, callbacks=())
    checkpoints = Checkpointer(tmp_path, every_s=1e9)   # saves only when stopped or done
    with pytest.raises(KeyboardInterrupt):
        fit(fresh_state(), LOSS, DATA, config=cfg,
            callbacks=[checkpoints, _CtrlC(hook, at)][::1 if at else -1])
    checkpoints.close()
    checkpoints = Checkpointer(tmp_path)
    assert checkpoints.latest_epoch() == saved
    resumed = fit(fresh_state(), LOSS, DATA, config=cfg, callbacks=[checkpoints])
    checkpoints.close()
    assert resumed.history[-1]["epoch"] == 4 and len(resumed.history) == 4
    assert tree_equal(full.state.params, resumed.state.params)
    for before, after in zip(full.history, resumed.history):
        np.testing.assert_array_equal(after["loss"], before["loss"])


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_ctrl_c_or_sigterm_during_a_save_lets_it_finish(tmp_path, monkeypatch, stop):
    """A Ctrl-C that landed in the final save (fjax run forecast, SIGINT just after the
    last epoch) cut orbax's write short; saving again over its unfinished folder failed
    with "error: File exists" (exit status 2) and left no checkpoint. Now a save holds
    the Ctrl-C (or the CLI's SIGTERM, a scheduler's preemption) until it is complete, then
    raises it; the resume equals a run that never stopped."""
    from fjax.runtime import reliable_interrupts

    cfg = TrainConfig(epochs=4, batch_size=16)
    full = fit(fresh_state(), LOSS, DATA, config=cfg, callbacks=())
    checkpoints = Checkpointer(tmp_path, every_s=1e9)   # saves only when done
    real, begun, ended = checkpoints.manager.save, [], []

    def interrupted_save(epoch, **kwargs):
        begun.append(epoch)
        os.kill(os.getpid(), stop)   # the signal arrives as the save starts
        real(epoch, **kwargs)
        ended.append(epoch)

    class Uncaught(Exception):
        """A signal that the CLI's handling missed (not pytest's to take)."""

    def uncaught(signum, frame):
        raise Uncaught
    monkeypatch.setattr(checkpoints.manager, "save", interrupted_save)
    outside = signal.signal(stop, uncaught)
    try:
        with pytest.raises(KeyboardInterrupt), reliable_interrupts() as signals:
            fit(fresh_state(), LOSS, DATA, config=cfg, callbacks=[checkpoints])
    finally:
        signal.signal(stop, outside)
    checkpoints.close()
    assert begun == ended == [4] and signals == [stop]
    checkpoints = Checkpointer(tmp_path)
    resumed = fit(fresh_state(), LOSS, DATA, config=cfg, callbacks=[checkpoints])
    checkpoints.close()
    assert tree_equal(full.state.params, resumed.state.params)


@pytest.mark.parametrize("leftover", ["3.orbax-checkpoint-tmp",
                                      "3.orbax-checkpoint-tmp-1754000000"])   # timestamped
def test_a_save_cut_short_is_removed_quietly_on_resume(tmp_path, caplog, leftover):
    """A run killed while saving epoch 3 left `3.orbax-checkpoint-tmp` among the
    checkpoints; its resume printed orbax's 'WARNING:absl:Attempted to create temporary
    directory ... which already exists' on reaching epoch 3. The unfinished save is now
    removed when the Checkpointer opens the folder, and the resume equals a run that
    never stopped."""
    cfg = lambda epochs: TrainConfig(epochs=epochs, batch_size=16)  # noqa: E731
    full = fit(fresh_state(), LOSS, DATA, config=cfg(4), callbacks=())
    checkpoints = Checkpointer(tmp_path)
    fit(fresh_state(), LOSS, DATA, config=cfg(2), callbacks=[checkpoints])
    checkpoints.close()
    cut = tmp_path / leftover
    shutil.copytree(tmp_path / "2", cut)   # what a killed save of epoch 3 leaves
    for done in cut.rglob("commit_success.txt"):
        done.unlink()
    with caplog.at_level("WARNING"):
        checkpoints = Checkpointer(tmp_path)
        resumed = fit(fresh_state(), LOSS, DATA, config=cfg(4), callbacks=[checkpoints])
        checkpoints.close()
    assert not [r for r in caplog.records if "temporary directory" in r.getMessage()]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["3", "4"]   # epoch 3 saved anew
    assert tree_equal(full.state.params, resumed.state.params)
    losses = lambda result: np.array([logs["loss"] for logs in result.history])  # noqa: E731
    assert np.array_equal(losses(full), losses(resumed))   # epochs 1-2 restored, 3-4 trained


def test_a_hand_loop_checkpointed_and_resumed_equals_one_that_never_stopped(tmp_path):
    # A researcher's own loop over the pure step: save, stop after 3 of 6 steps, resume
    # in a new Checkpointer (a new process) and finish; bit-identical to 6 steps at once.
    step = jax.jit(make_train_step(LOSS))
    batch = {"x": jnp.asarray(X[:16]), "y": jnp.asarray(Y[:16]), "weight": jnp.ones(16)}

    def run(state, first, last, ckpt=None):
        for epoch in range(first, last + 1):
            state, _ = step(state, batch)
            if ckpt is not None:
                ckpt.save(epoch, state)
        return state

    full = run(fresh_state(), 1, 6)
    run(fresh_state(), 1, 3, Checkpointer(tmp_path))   # stopped after step 3
    ckpt = Checkpointer(tmp_path)
    assert ckpt.latest_epoch() == 3
    state = ckpt.restore(fresh_state()).loop
    assert int(state.step) == 3
    resumed = run(state, ckpt.latest_epoch() + 1, 6, ckpt)
    assert tree_equal(full.params, resumed.params)
    assert tree_equal(full.opt_state, resumed.opt_state)
    assert tree_equal(full.rng, resumed.rng) and int(resumed.step) == 6


def test_resuming_another_runs_checkpoint_names_the_directory(tmp_path):
    fit(fresh_state(), LOSS, DATA, config=TrainConfig(epochs=1, batch_size=16),
        callbacks=[Checkpointer(tmp_path)])
    # The same tree with other shapes: a first Dense of 5 units instead of 8.
    wider_init = lambda k: {"params": {**MODEL.init(k, X[:1])["params"],  # noqa: E731
                                       "Dense_0": nn.Dense(5).init(k, X[:1])["params"]}}
    state = init_member(wider_init, build_optimizer(OptimConfig(learning_rate=1e-2), 100), 0)
    fresh = Checkpointer(tmp_path, resume=False)
    with pytest.raises(ValueError, match=r"already holds checkpoints \(up to epoch 1\) and "
                                         r"resume=False"):
        fit(fresh_state(), LOSS, DATA, config=CFG, callbacks=[fresh])
    fresh.close()
    checkpoints = Checkpointer(tmp_path)
    with pytest.raises(ValueError, match=r"checkpoint of epoch 1 in .* does not fit this run's "
                                         r"state.*other shapes: .*Dense_0/bias.*new directory"):
        checkpoints.restore(LoopState.start(state))
    checkpoints.close()


def _files(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_checkpoint_whose_optimizer_state_lacks_a_field_names_it_and_is_kept(tmp_path):
    """A cosine checkpoint of an fjax before `schedule_steps` was injected was refused as
    "a run with other inputs": the digest check came first and cannot say what differs."""
    state = fresh_state(COSINE)
    hyperparams = {k: v for k, v in state.opt_state.hyperparams.items()
                   if k != "schedule_steps"}   # the optimizer then uses its build's length
    older = state.replace(opt_state=state.opt_state._replace(hyperparams=hyperparams))
    fit(older, LOSS, DATA, config=TrainConfig(epochs=1, batch_size=16),
        callbacks=[Checkpointer(tmp_path)])
    saved = _files(tmp_path)
    checkpoints = Checkpointer(tmp_path)
    with pytest.raises(ValueError, match=r"checkpoint of epoch 1 in .* does not fit this run's "
                                         r"state .*: only in this run: "
                                         r"train/opt_state/hyperparams/schedule_steps\. .*"
                                         r"without --resume, or with --out elsewhere"):
        fit(fresh_state(COSINE), LOSS, DATA, config=TrainConfig(epochs=2, batch_size=16),
            callbacks=[checkpoints])
    checkpoints.close()
    assert _files(tmp_path) == saved   # nothing deleted or overwritten


def _truncate_largest(folder):
    """Empty the largest file under `folder` (a disk that lost a file's data)."""
    files = [f for f in folder.rglob("*") if f.is_file()]
    max(files, key=lambda f: f.stat().st_size).write_bytes(b"")


@pytest.mark.parametrize("damage", [
    lambda step: _truncate_largest(step / "loop"),          # tensorstore: a plain Exception
    lambda step: (step / "run" / "metadata").unlink(),      # once read as "an older format"
    lambda step: _truncate_largest(step / "history"),       # a bare JSON error, no folder
    lambda step: (step / "loop" / "_METADATA").unlink()],   # once read as "another model"
    ids=["array data", "run metadata", "history", "loop metadata"])
def test_a_damaged_checkpoint_names_its_folder_and_the_save_before_it(tmp_path, damage):
    """A checkpoint damaged after it was saved gave a tensorstore traceback, a JSON
    error or "older format"; now a message naming the folder to delete, and deleting it
    as told resumes from the save before it to the numbers of a run that never stopped."""
    cfg = lambda epochs: TrainConfig(epochs=epochs, batch_size=16)  # noqa: E731
    full = fit(fresh_state(), LOSS, DATA, config=cfg(4))
    fit(fresh_state(), LOSS, DATA, config=cfg(2), callbacks=[Checkpointer(tmp_path)])
    damage(tmp_path / "2")
    damaged = Checkpointer(tmp_path)
    with pytest.raises(ValueError, match=rf"checkpoint of epoch 2 in {tmp_path} cannot be "
                                         rf"read .*delete {tmp_path / '2'} to resume from "
                                         r"the checkpoint of epoch 1"):
        fit(fresh_state(), LOSS, DATA, config=cfg(4), callbacks=[damaged])
    damaged.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1", "2"]   # nothing deleted
    shutil.rmtree(tmp_path / "2")
    resumed = fit(fresh_state(), LOSS, DATA, config=cfg(4), callbacks=[Checkpointer(tmp_path)])
    assert tree_equal(full.state.params, resumed.state.params)


def test_build_optimizer_frees_optimizers_beyond_its_bound():
    # A sweep building thousands of configs in one process must not keep them all.
    cfg = OptimConfig(learning_rate=0.123, schedule="cosine")
    tx = build_optimizer(cfg, 10)
    assert build_optimizer(cfg, 10) is tx and optimizer_settings(tx) == (cfg, 10)
    dropped = weakref.ref(tx.init)
    del tx
    for i in range(OPTIMIZERS_KEPT):
        build_optimizer(OptimConfig(learning_rate=1.0 + i), 10)
    gc.collect()
    assert dropped() is None


def test_gradients_are_clipped_before_the_l2_term_is_added():
    # sgd: update = -lr * (clip(g) + wd * w) on the kernel, in float64 numpy
    cfg = OptimConfig(name="sgd", learning_rate=0.1, weight_decay=0.5, clip_norm=0.01)
    tx = build_optimizer(cfg, 10)
    params = {"kernel": jnp.asarray([[1.0, -2.0]]), "bias": jnp.asarray([3.0])}
    grads = {"kernel": jnp.asarray([[3.0, 0.0]]), "bias": jnp.asarray([4.0])}
    updates, _ = tx.update(grads, tx.init(params), params)
    g = {k: np.asarray(v, np.float64) for k, v in grads.items()}
    scale = min(1.0, 0.01 / np.sqrt(sum((v ** 2).sum() for v in g.values())))
    w = np.asarray(params["kernel"], np.float64)
    np.testing.assert_allclose(updates["kernel"], -0.1 * (scale * g["kernel"] + 0.5 * w),
                               rtol=1e-6)
    np.testing.assert_allclose(updates["bias"], -0.1 * scale * g["bias"], rtol=1e-6)


OTHER_INPUTS = "was written by a run with other inputs"
# A change that also changes the state's leaves (clipping, a schedule's injected length)
# is refused naming them; the digest catches the rest.
REFUSED = f"{OTHER_INPUTS}|does not fit this run's state"


def test_resuming_with_other_validation_settings_is_refused(tmp_path):
    fit(fresh_state(), LOSS, DATA, config=TrainConfig(epochs=1, batch_size=16),
        val_data=DATA, callbacks=[Checkpointer(tmp_path)])
    with pytest.raises(ValueError, match=OTHER_INPUTS):
        fit(fresh_state(), LOSS, DATA, config=TrainConfig(epochs=2, batch_size=16),
            callbacks=[Checkpointer(tmp_path)])


def test_fit_resumes_only_with_its_own_loss(tmp_path):
    fit(fresh_state(), LOSS, DATA, config=TrainConfig(epochs=1, batch_size=16),
        callbacks=[Checkpointer(tmp_path)])
    mse = supervised_loss(MODEL.apply, LossConfig(name="mse"))
    with pytest.raises(ValueError, match=OTHER_INPUTS):
        fit(fresh_state(), mse, DATA, config=TrainConfig(epochs=2, batch_size=16),
            callbacks=[Checkpointer(tmp_path)])


COSINE = OptimConfig(learning_rate=1e-2, schedule="cosine")


@pytest.mark.parametrize("saved, other", [
    ((COSINE, 100), (COSINE, 400)),
    ((OptimConfig(learning_rate=1e-2), 100),
     (OptimConfig(learning_rate=1e-2, clip_norm=0.01), 100)),
    ((COSINE, 100), (dataclasses.replace(COSINE, final_factor=0.5), 100))])
def test_fit_resumes_only_with_its_own_optimizer(tmp_path, saved, other):
    """Another schedule length or clip value has the same state shapes, and resumed
    silently into a run that was neither the old nor the new one. A constant schedule's
    length changes nothing, so it does not count."""
    assert optimizer_settings(build_optimizer(OptimConfig(), 10)) == (OptimConfig(), None)
    assert optimizer_settings(build_optimizer(OptimConfig(), 20)) == (OptimConfig(), None)
    fit(fresh_state(*saved), LOSS, DATA, config=TrainConfig(epochs=1, batch_size=16),
        callbacks=[Checkpointer(tmp_path)])
    with pytest.raises(ValueError, match=REFUSED):
        fit(fresh_state(*other), LOSS, DATA, config=TrainConfig(epochs=2, batch_size=16),
            callbacks=[Checkpointer(tmp_path)])


@pytest.mark.parametrize("change", ["learning_rate", "data", "seed", "patience", "schedule",
                                    "activation", "loss"])
def test_a_checkpoint_resumes_only_the_run_that_wrote_it(tmp_path, change):
    """A resume once continued the saved run with its old learning rates (read back from
    the optimizer state) while table() reported the new ones; another activation or
    loss, with the same parameter shapes, also resumed it."""
    def run(epochs, change=None):
        optim = OptimConfig(schedule="cosine") if change == "schedule" else OptimConfig()
        train = TrainConfig(epochs=epochs, batch_size=16,
                            patience=2 if change == "patience" else None)
        data = {"x": -X, "y": Y} if change == "data" else DATA
        lrs = [1e-2, 3e-2] if change == "learning_rate" else [1e-3, 1e-2]
        model = build_model(ModelConfig(kind="mlp", hidden=(8,), activation=(
            "tanh" if change == "activation" else "relu")), out_dim=1)
        loss = supervised_loss(model.apply, LossConfig(name="mse" if change == "loss" else "huber"))
        return train_population(loss, lambda k: model.init(k, X[:1]), data, optim=optim,
                                train=train,
                                hparams={"learning_rate": lrs}, val_data=DATA,
                                seeds=[1] if change == "seed" else [0],
                                callbacks=[Checkpointer(tmp_path)])

    run(1)
    with pytest.raises(ValueError, match=REFUSED):
        run(3, change)
    run(3)   # the same run still resumes: only epochs may grow (constant schedule)


def test_model_structure_has_no_memory_addresses():
    """A module holding a function has a repr with its memory address, which differs from
    process to process; the digest's text drops it, or a resumed run would be refused."""
    class Scaled(nn.Module):
        act: Any = functools.partial(nn.leaky_relu, negative_slope=0.1)

        @nn.compact
        def __call__(self, x):
            return self.act(nn.Dense(1)(x))

    assert " at 0x" in repr(Scaled())
    text = model_structure(Scaled().apply)
    assert text.startswith("Scaled(") and " at 0x" not in text and "negative_slope=0.1" in text
    assert model_structure(Scaled(act=nn.tanh).apply) != text
    assert model_structure(lambda params, x: x) is None
    assert LOSS.structure == f"{LossConfig(name='huber')!r} {model_structure(MODEL.apply)}"


def test_resuming_beyond_the_requested_epochs_is_refused(tmp_path):
    fit(fresh_state(), LOSS, DATA, config=TrainConfig(epochs=3, batch_size=16),
        callbacks=[Checkpointer(tmp_path)])
    with pytest.raises(ValueError, match="resumed at epoch 3, beyond this run's 2 epochs"):
        fit(fresh_state(), LOSS, DATA, config=TrainConfig(epochs=2, batch_size=16),
            callbacks=[Checkpointer(tmp_path)])


@pytest.mark.parametrize("kwargs", [{"every": 0}, {"keep": 0}, {"every": 1.5}])
def test_checkpointer_settings_are_checked(tmp_path, kwargs):
    with pytest.raises(ValueError, match=f"Checkpointer {next(iter(kwargs))} must be an integer"):
        Checkpointer(tmp_path, **kwargs)


def test_a_resumed_run_logs_each_epoch_once(tmp_path):
    """The history file keeps the epochs up to the checkpoint and drops those written
    after it (a run killed between its log line and its save), then logs the rest."""
    from fjax.report.callbacks import JsonlLogger

    log = tmp_path / "history.jsonl"
    other = JsonlLogger(log, extra={"group": 1})   # another population's lines stay
    other.on_epoch_end(5, {"loss": 0.5, "epoch": 5}, None)
    fit(fresh_state(), LOSS, DATA, config=TrainConfig(epochs=2, batch_size=16),
        callbacks=[JsonlLogger(log, extra={"group": 0}), Checkpointer(tmp_path / "ck")])
    JsonlLogger(log, extra={"group": 0}).on_epoch_end(3, {"loss": 0.1, "epoch": 3}, None)
    fit(fresh_state(), LOSS, DATA, config=TrainConfig(epochs=4, batch_size=16),
        callbacks=[JsonlLogger(log, extra={"group": 0}), Checkpointer(tmp_path / "ck")])
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(x["group"], x["epoch"]) for x in lines] == [(1, 5), (0, 1), (0, 2), (0, 3), (0, 4)]


def test_population_resumes_bit_identically(tmp_path):
    grid = {"learning_rate": [1e-3, 1e-2]}
    run = lambda epochs, cbs=(): train_population(  # noqa: E731
        LOSS, INIT, DATA, optim=OptimConfig(), hparams=grid, callbacks=cbs,
        train=TrainConfig(epochs=epochs, batch_size=16))
    full = run(3)
    run(1, [Checkpointer(tmp_path)])
    resumed = run(3, [Checkpointer(tmp_path)])
    assert tree_equal(full.params, resumed.params)
    assert resumed.compilations == 0   # as fit's: no second compile for restored arrays
    # table() reads the history by epoch: it needs the epochs before the resume too.
    pd.testing.assert_frame_equal(full.table(), resumed.table())


def test_callbacks_are_called_once_per_epoch():
    seen = []

    class Recorder(Callback):
        def on_epoch_end(self, epoch, logs, loop):
            seen.append((epoch, float(logs["loss"])))

    res = fit(fresh_state(), LOSS, DATA, config=CFG, callbacks=[Recorder()])
    assert [e for e, _ in seen] == [1, 2, 3]
    assert [l for _, l in seen] == [float(h["loss"]) for h in res.history]


@pytest.mark.parametrize("data, message", [
    ({"x": np.where(np.arange(N)[:, None] == 5, np.nan, X), "y": Y}, r"data\['x'\] has 4 NaN"),
    ({"x": np.where(np.arange(N)[:, None] == 7, np.inf, X), "y": Y}, r"infinite values.*row 7"),
    ({"x": X, "y": Y[:-1]}, "mismatched lengths"),
    ({"x": {"prices": X, "volumes": X}, "y": Y},   # read as a scalar
     r"data\['x'\] is a dict of \['prices', 'volumes'\], not an array: .* give each of "
     r"its arrays a key of its own"),
    ({"x": X[:0], "y": Y[:0]}, "has no rows"),
    ({}, "data is empty"),
    ({"x": X.astype(str), "y": Y}, "dtype"),
    ({"x": np.where(np.arange(N)[:, None] == 3, 1e39, X.astype(np.float64)), "y": Y},
     r"data\['x'\] has 4 values beyond float32's range .* first at row 3"),
    ({"x": X, "y": Y, "id": np.where(np.arange(N) == 9, 2**62, 1)},   # wrapped silently
     r"data\['id'\] has 1 values beyond int32's range, first at row 9: on the device they "
     r"would wrap around"),
    ({"x": X, "y": np.concatenate([Y, Y], axis=1)},
     r"the model outputs \(1,\) per row, but targets of shape \(2,\) with the loss 'huber' "
     r"need \(2,\): give the model's last layer 2 outputs \(fjax's build_model: "
     r"out_dim=output_dim"),
])
def test_bad_data_is_caught_at_the_boundary(data, message):
    with pytest.raises(ValueError, match=message):
        fit(fresh_state(), LOSS, data, config=CFG)


def test_a_models_output_width_is_named_for_a_model_of_ones_own():
    """A flax module of one's own has no out_dim: the step's refusal says the width its
    last layer needs (1 for one column of targets; pinball's 3 quantiles need 3)."""
    class Three(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(3)(x)

    params = Three().init(jax.random.PRNGKey(0), X[:1])
    batch = {"x": X[:8], "y": Y[:8], "weight": np.ones(8, np.float32)}
    state = TrainState.create(params=params, tx=optax.sgd(0.1), rng=0)
    step = make_train_step(supervised_loss(Three().apply, LossConfig(name="mse")))
    with pytest.raises(ValueError, match="need \\(1,\\): give the model's last layer 1 "
                                         "output \\("):
        step(state, batch)
    pinball = LossConfig(name="pinball", quantiles=(0.1, 0.5, 0.9))
    _, metrics = make_train_step(supervised_loss(Three().apply, pinball))(state, batch)
    assert np.isfinite(metrics["loss"])


@pytest.mark.parametrize("weights", [np.ones((1, N)), np.ones((2, N))])
def test_weights_of_another_shape_are_named(weights):
    with pytest.raises(ValueError, match=rf"data weights has shape \(\d, {N}\); it must be \[n\]"):
        fit(fresh_state(), LOSS, DATA, config=CFG, weights=weights)


def test_non_binary_labels_are_rejected_for_binary_losses():
    with pytest.raises(ValueError, match="0/1"):
        check_targets(LossConfig(name="bce"), np.array([0.0, 1.0, 2.0]))
    check_targets(LossConfig(name="bce"), np.array([0.0, 1.0, 1.0]))


def test_unknown_monitor_is_named():
    with pytest.raises(ValueError, match="monitor 'val_auc'.*val_loss"):
        fit(fresh_state(), LOSS, DATA, config=TrainConfig(epochs=1, monitor="val_auc"),
            val_data=DATA)



def test_an_eval_fn_without_loss_is_told_the_default_monitor():
    """An eval_fn returning no 'loss', with the monitor left unset, was told "monitor
    'val_loss' is not a metric" as if it had chosen it: the message says val_loss is the
    default, what the eval_fn returns and the field to set; setting it trains."""
    def eval_fn(params, val_data, val_weights):
        pred = MODEL.apply(params, val_data["x"])
        return {"mae": metrics.mae(pred, val_data["y"], val_weights)}
    with pytest.raises(ValueError, match=r"the monitor is 'val_loss', TrainConfig.monitor's "
                                         r"default .* returns no 'loss' \(it returns \['mae'\]"
                                         r".*set TrainConfig.monitor to one of "
                                         r"\['loss', 'val_mae'\]"):
        fit(fresh_state(), LOSS, DATA, config=TrainConfig(epochs=1), val_data=DATA,
            eval_fn=eval_fn, callbacks=())
    result = fit(fresh_state(), LOSS, DATA, config=TrainConfig(epochs=1, monitor="val_mae"),
                 val_data=DATA, eval_fn=eval_fn, callbacks=())
    assert set(result.history[-1]) == {"loss", "val_mae", "epoch", "time_s"}

def test_bad_weights_are_rejected():
    with pytest.raises(ValueError, match="select no samples"):
        fit(fresh_state(), LOSS, DATA, config=CFG, weights=np.zeros(N))
    with pytest.raises(ValueError, match="one weight per row"):
        fit(fresh_state(), LOSS, DATA, config=CFG, weights=np.ones(N - 1))


@pytest.mark.parametrize("share", [0.0, 0.4, 1.0])
def test_weighted_rows_come_first_in_permutation_order(share):
    from fjax.train.epoch import weighted_first
    rng = np.random.default_rng(0)
    perm = rng.permutation(50)
    weights = (rng.random(50) >= share).astype(np.float32)
    order = np.asarray(weighted_first(jnp.asarray(perm), jnp.asarray(weights)))
    expected = np.r_[perm[weights[perm] > 0], perm[weights[perm] == 0]]
    np.testing.assert_array_equal(order, expected)


def test_weighted_first_takes_one_prefix_sum():
    """Each prefix sum is about eight XLA:CPU fusions to compile in every population's
    epoch: the partition needs one (the inactive rows' places follow from it)."""
    from fjax.train.epoch import weighted_first
    def cumsums(jaxpr):   # nested jaxprs too (jnp.cumsum is a jitted function)
        inner = [getattr(p, "jaxpr", p) for e in jaxpr.eqns for p in e.params.values()]
        return (sum(e.primitive.name == "cumsum" for e in jaxpr.eqns)
                + sum(cumsums(j) for j in inner if hasattr(j, "eqns")))
    jaxpr = jax.make_jaxpr(weighted_first)(jnp.arange(50), jnp.ones(50)).jaxpr
    assert cumsums(jaxpr) == 1


@pytest.mark.parametrize("kind", ["mlp", "lstm", "gru", "cnn", "autoencoder", "logistic"])
def test_population_init_equals_eager_init_member(kind):
    """`init_population` (one jitted map) and `init_member` (one jitted member) give every
    member the state that `member_state` gives op by op, so populations and `fit` start
    from the same weights, the weights they had before either was compiled: bitwise on
    CPUs; on GPUs within float32 rounding (4.8e-7 at most on an H200, likely because
    fused kernels round some transcendentals differently from eager ones)."""
    from fjax.config import ModelConfig
    from fjax.models import build_model
    from fjax.runtime import default_platform
    from fjax.train.members import init_population, member_state
    x = RNG.normal(size=(4, 6, 3)).astype(np.float32)
    model = build_model(ModelConfig(kind=kind, hidden=(5,)), 1)
    init = lambda k: model.init(k, x[:1])  # noqa: E731
    tx = build_optimizer(OptimConfig(), 10)
    seeds, lrs = [0, 7, 7], [1e-3, 1e-3, 3e-2]
    pop = init_population(init, tx, jnp.asarray(seeds, jnp.uint32),
                          {"learning_rate": jnp.asarray(lrs, jnp.float32)})
    for i, (seed, lr) in enumerate(zip(seeds, lrs)):
        hp = {"learning_rate": jnp.float32(lr)}
        one = LoopState.start(member_state(init, tx, seed, hp))
        for made in jax.tree.map(lambda a: a[i], pop), LoopState.start(
                init_member(init, tx, seed, hp)):
            if default_platform() == "cpu":
                assert tree_equal(made, one), (kind, i)
            else:
                chex.assert_trees_all_close(made, one, rtol=1e-5, atol=1e-6)
    assert not tree_equal(jax.tree.map(lambda a: a[0], pop.train.params),
                          jax.tree.map(lambda a: a[1], pop.train.params))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_population_init_factors_one_matrix_per_qr(kind):
    """jaxlib 0.10.2's CPU LAPACK kernels deadlock when one program runs two batched QRs:
    a `jit(vmap(init))` of the reference LSTM, or orthogonal blocks drawn vmapped, hung
    with every thread idle (BENCHMARKS.md). So each QR of the population initialiser,
    which maps members and draws each gate's orthogonal block on its own, factors one
    matrix."""
    from fjax.config import ModelConfig
    from fjax.models import build_model
    from fjax.train.members import initialiser
    x = RNG.normal(size=(4, 6, 3)).astype(np.float32)
    model = build_model(ModelConfig(kind=kind, hidden=(5, 5)), 1)
    tx = build_optimizer(OptimConfig(), 10)
    seeds = jnp.arange(3, dtype=jnp.uint32)
    lowered = initialiser().trace(lambda k: model.init(k, x[:1]), tx, seeds, {}).lower(
        lowering_platforms=("cpu",))
    qrs = [line for line in lowered.as_text().splitlines() if "geqrf" in line]
    assert qrs and all('num_batch_dims = "0"' in line for line in qrs), qrs


def test_populations_compile_for_the_device_in_force():
    """`default_platform` reads `jax.default_device` (a device or a platform name), so a
    population inside `jax.default_device(cpu)` on a GPU machine gets the CPU's
    initialiser; outside any such context it is the default backend."""
    from fjax.runtime import default_platform
    from fjax.train.members import _INITIALISERS, initialiser
    assert default_platform() == jax.default_backend()
    for device, platform in ((jax.devices("cpu")[0], "cpu"), ("cpu", "cpu"), ("gpu", "gpu")):
        with jax.default_device(device):
            assert default_platform() == platform
            assert initialiser() is _INITIALISERS["cpu" if platform == "cpu" else "other"]


def test_lift_rule_runs_recurrent_models_one_at_a_time_on_cpu_only():
    """On CPUs a recurrent model's members train one at a time; an accelerator vmaps them
    all, and every backend vmaps models without a loop. The rule follows the device in
    force (`jax.default_device`), not the machine's default backend: the abstract step
    is the same, so only the platform decides."""
    from fjax.config import ModelConfig
    from fjax.models import build_model
    from fjax.train.lift import auto_chunk
    x = RNG.normal(size=(8, 5, 2)).astype(np.float32)
    data = {"x": jnp.asarray(x), "y": jnp.ones((8, 1))}
    tx = build_optimizer(OptimConfig(), 10)
    for kind in ("lstm", "mlp"):
        model = build_model(ModelConfig(kind=kind, hidden=(4,)), 1)
        loss = supervised_loss(model.apply, LossConfig())
        loop = jax.vmap(lambda s: LoopState.start(init_member(
            lambda k: model.init(k, x[:1]), tx, s)))(jnp.arange(2, dtype=jnp.uint32))
        for platform in ("cpu", "gpu"):
            with jax.default_device(platform):
                expected = 1 if kind == "lstm" and platform == "cpu" else None
                assert auto_chunk(loss, loop, data, {}) == expected, (kind, platform)


def test_population_rejects_bad_hyperparameters_and_ambiguous_validation():
    with pytest.raises(ValueError, match=r"OptimConfig\.learning_rate must be a finite number > 0"):
        train_population(LOSS, INIT, DATA, optim=OptimConfig(), train=CFG,
                         hparams={"learning_rate": [1e-3, -1e-3]})
    with pytest.raises(ValueError, match=r"OptimConfig\.momentum is 0\.9, but sgd has no momentum"):
        train_population(LOSS, INIT, DATA, optim=OptimConfig(name="sgd"), train=CFG,
                         hparams={"momentum": [0.0, 0.9]})
    with pytest.raises(ValueError, match=r"hparams key 'learnig_rate' \(did you mean "
                                         r"'learning_rate'\?\) is neither an optimizer"):
        train_population(LOSS, INIT, DATA, optim=OptimConfig(), train=CFG,
                         hparams={"learnig_rate": [1e-3]})
    with pytest.raises(ValueError, match="structural settings"):
        train_population(LOSS, INIT, DATA, optim=OptimConfig(), train=CFG,
                         hparams={"dropout": [0.1]})
    bce = supervised_loss(MODEL.apply, LossConfig(name="bce"))
    labels = {"x": X, "y": (Y > 0).astype(np.float32)}
    with pytest.raises(ValueError, match=r"LossConfig\.pos_weight must be a finite number > 0"):
        train_population(bce, INIT, labels, optim=OptimConfig(), train=CFG,
                         hparams={"pos_weight": [-5.0, 1.0]})
    with pytest.raises(ValueError, match=r"'focal_gamma' \(loss.focal_gamma\) has no effect "
                                         r"with loss.name='bce'; drop it from the grid, or set "
                                         r"loss.name to a loss that reads it: focal"):
        train_population(bce, INIT, labels, optim=OptimConfig(), train=CFG,
                         hparams={"focal_gamma": [0.0, 5.0]})
    with pytest.raises(ValueError, match=r"hparams\['learning_rate'\] must be a list of "
                                         r"values, got 0.001; write \[0.001\]"):
        train_population(LOSS, INIT, DATA, optim=OptimConfig(), train=CFG,
                         hparams={"learning_rate": 1e-3})
    with pytest.raises(ValueError, match="hparams\\['learning_rate'\\] holds nan"):
        train_population(LOSS, INIT, DATA, optim=OptimConfig(), train=CFG,
                         hparams={"learning_rate": [float("nan")]})
    # jax and numpy scalars are values like any other.
    pop = train_population(LOSS, INIT, DATA, optim=OptimConfig(), train=CFG,
                           hparams={"learning_rate": jnp.array([1e-3, 1e-2])},
                           seeds=jnp.arange(2), callbacks=())
    assert pop.members["learning_rate"].tolist() == pytest.approx([1e-3, 1e-2, 1e-3, 1e-2])
    for seeds in ([], [1.7], [0, 2**32], [3, 3]):
        with pytest.raises(ValueError, match="seeds"):
            train_population(LOSS, INIT, DATA, optim=OptimConfig(), train=CFG, seeds=seeds)
    for seeds in (3, np.int64(3), jnp.asarray(3)):   # the CLI's --seeds 3 is a count
        with pytest.raises(ValueError, match=r"seeds=.*3.* is one number; pass the seeds "
                                             r"themselves, e\.g\. seeds=range\(3\)"):
            train_population(LOSS, INIT, DATA, optim=OptimConfig(), train=CFG, seeds=seeds)
    with pytest.raises(ValueError, match="either folds"):
        train_population(LOSS, INIT, DATA, optim=OptimConfig(), train=CFG,
                         folds=kfold(N, 2), val_data=DATA)


def test_binary_losses_reject_non_binary_labels_in_fit():
    loss = supervised_loss(MODEL.apply, LossConfig(name="bce"))
    y = np.where(np.arange(N) == 3, 2.0, (Y > 0).astype(np.float32)[:, 0])[:, None]
    with pytest.raises(ValueError, match=r"0/1.*2\.0"):
        fit(fresh_state(), loss, {"x": X, "y": y.astype(np.float32)}, config=CFG)


def test_each_structure_compiles_once_and_grids_are_validated():
    from fjax.config import ExperimentConfig, ModelConfig
    from fjax.models import build_model
    from fjax.tasks.experiment import Trainable, train_grid
    from fjax.train.sweep import group_grid

    base = ExperimentConfig(model=ModelConfig(kind="mlp", hidden=(4,)),
                            train=TrainConfig(epochs=2, batch_size=16))
    grid = {"model.hidden": [(4,), (6,)], "optim.learning_rate": [1e-3, 1e-2]}

    def build(cfg):
        model = build_model(cfg.model, 1)
        return Trainable(init_fn=lambda k: model.init(k, X[:1]),
                         loss_fn=supervised_loss(model.apply, LossConfig()))

    results = train_grid(base, grid, build, DATA, progress=False)
    assert [r.population.compilations for r in results] == [1, 1]
    assert [r.population.size for r in results] == [2, 2]
    with pytest.raises(ValueError, match="OptimConfig.learning_rate"):
        group_grid(base, {"optim.learning_rate": [1e-3, -1.0]})


@pytest.mark.parametrize("name, mode", [("val_loss", "min"), ("loss", "min"), ("val_auc", "max"),
                                        ("val_average_precision", "max"), ("rmse", "min"),
                                        ("val_ks", "max"), ("val_sharpe", None)])
def test_metric_mode_reads_the_direction_from_the_name(name, mode):
    assert metric_mode(name) == mode


def test_a_mode_that_contradicts_the_monitor_is_refused():
    """mode='min' on an AUC once restored the worst epoch and picked the worst config."""
    with pytest.raises(ValueError, match="TrainConfig.mode is 'min' but the monitor 'val_auc' "
                                         "is better when higher; set mode='max'"):
        TrainConfig(monitor="val_auc", mode="min")
    with pytest.raises(ValueError, match="TrainConfig.mode is 'max' but the monitor 'val_loss'"):
        TrainConfig(mode="max")
    with pytest.raises(ValueError, match="monitor 'val_sharpe' is not a known loss or score; "
                                         "set mode to 'min' or 'max'"):
        TrainConfig(monitor="val_sharpe")
    assert TrainConfig(monitor="val_sharpe", mode="max").monitor_mode == "max"
    for own in ("val_sharpe", "val_pnl", "val_hit_rate", "val_ic"):   # not taken for typos
        with pytest.raises(ValueError, match="TrainConfig.mode is 'auto'"):
            TrainConfig(monitor=own)
    assert TrainConfig(monitor="val_auc").monitor_mode == "max"
    assert TrainConfig().monitor_mode == "min"


@pytest.mark.parametrize("typo, meant", [("val_los", "val_loss"), ("val_rsme", "val_rmse"),
                                         ("val_precison", "val_precision")])
def test_a_misspelt_monitor_is_named_with_its_spelling(typo, meant):
    """'val_los' once asked for mode='min', which then failed again as no metric of the
    run: the error names the monitor and its likely spelling first."""
    with pytest.raises(ValueError, match=f"TrainConfig.monitor is '{typo}', not a known loss "
                                         f"or score: did you mean '{meant}'"):
        TrainConfig(monitor=typo)


@pytest.mark.parametrize("both", ["val_loss_auc", "val_brier_ks", "val_cost_recall"])
def test_a_monitor_naming_a_loss_and_a_score_is_not_offered_its_own_spelling(both):
    """'val_loss_auc' names a loss and a score, each spelt right: the error said "did you
    mean 'val_loss_auc'?" (its first word close to a known one, itself)."""
    with pytest.raises(ValueError) as err:
        TrainConfig(monitor=both)
    assert "did you mean" not in str(err.value)
    assert f"the monitor '{both}' is not a known loss or score; set mode" in str(err.value)


def test_checkpoints_are_saved_at_most_once_in_every_s_and_at_the_end(tmp_path):
    checkpoints = Checkpointer(tmp_path, every_s=3600.0)
    fit(fresh_state(), LOSS, DATA, config=TrainConfig(epochs=3, batch_size=16),
        callbacks=[checkpoints])
    assert checkpoints.manager.all_steps() == [3]


def test_a_log_line_cut_short_by_the_interruption_is_dropped_on_resume(tmp_path):
    from fjax.report.callbacks import JsonlLogger

    log = tmp_path / "history.jsonl"
    log.write_text('{"epoch": 1, "loss": 0.5}\n{"epoch": 2, "lo')
    JsonlLogger(log).on_resumed(1)
    assert log.read_text() == '{"epoch": 1, "loss": 0.5}\n'


def test_parameters_built_for_other_inputs_name_the_data():
    narrow = lambda k: MODEL.init(k, X[:1, :2])  # noqa: E731  (built for 2 features, not 4)
    with pytest.raises(ValueError, match=r"do not fit rows of data\['x'\] \(or val_data\['x'\]\) "
                                         r"of shape \(4,\).*model.init\(key, x\[:1\]\)"):
        train_population(LOSS, narrow, DATA, optim=OptimConfig(), train=CFG, callbacks=())
    state = TrainState.create(params=narrow(jax.random.PRNGKey(0)), tx=optax.sgd(0.1),
                              rng=jax.random.PRNGKey(1))
    with pytest.raises(ValueError, match=r"do not fit rows of data\['x'\]"):
        fit(state, LOSS, DATA, config=CFG, callbacks=())


def test_a_train_step_of_ones_own_names_the_batch_rows_parameters_do_not_fit():
    """make_train_step applied to rows of 4 features with parameters built for 2 raised
    flax's ScopeParamShapeError; fit named the rows, a loop of one's own did not."""
    narrow = MODEL.init(jax.random.PRNGKey(0), X[:1, :2])
    state = TrainState.create(params=narrow, tx=optax.sgd(0.1), rng=0)
    step = jax.jit(make_train_step(LOSS))
    with pytest.raises(ValueError, match=r"do not fit rows of batch\['x'\] of shape \(4,\).*"
                                         r"model.init\(key, x\[:1\]\)"):
        step(state, {"x": X[:8], "y": Y[:8], "weight": np.ones(8, np.float32)})


def test_a_train_step_whose_batch_has_no_x_keeps_flaxs_misfit_error():
    """A loss reading its own keys (here 'inputs') with parameters that do not fit raised
    KeyError: 'x' from the naming of batch['x'], hiding flax's error."""
    def loss(params, batch, key):
        pred = MODEL.apply(params, batch["inputs"])
        return jnp.mean((pred[:, 0] - batch["y"]) ** 2), {}
    narrow = MODEL.init(jax.random.PRNGKey(0), X[:1, :2])
    state = TrainState.create(params=narrow, tx=optax.sgd(0.1), rng=0)
    with pytest.raises(flax.errors.ScopeParamShapeError):
        jax.jit(make_train_step(loss))(state, {"inputs": X[:8], "y": Y[:8]})


def assert_both_refuse(loss, data, val_data, message):
    """`fit` and `train_population` both refuse `val_data` beside `data` with `message`."""
    with pytest.raises(ValueError, match=message):
        fit(fresh_state(), loss, data, val_data=val_data, config=CFG, callbacks=())
    with pytest.raises(ValueError, match=message):
        train_population(loss, INIT, data, val_data=val_data, optim=OptimConfig(), train=CFG,
                         callbacks=())


def test_the_losss_data_check_names_val_data():
    """Labels of 2 or a missing 'y' in val_data were told as 'y must be 0/1' and 'data
    has no ['y']': the training data, which was right."""
    loss = supervised_loss(MODEL.apply, LossConfig(name="bce"))
    labels = {"x": X, "y": (Y > 0).astype(np.float32)}
    for val, message in (({"x": X, "y": 2 * labels["y"]}, r"^val_data: y must be 0/1"),
                         ({"x": X}, r"^val_data: supervised_loss reads .* has no \['y'\]")):
        assert_both_refuse(loss, labels, val, message)


def test_validation_rows_of_another_shape_are_named():
    """val_data['x'] of 2 features beside data['x'] of 4 was blamed on 'rows of data['x']
    (or val_data['x']) of shape (4,)', the training rows, which fit."""
    narrow = {"x": X[:, :2], "y": Y}
    message = r"do not fit rows of data\['x'\] of shape \(4,\) or val_data\['x'\] of shape \(2,\)"
    assert_both_refuse(LOSS, DATA, narrow, message)


def test_parameters_of_a_model_of_another_width_name_the_width_not_the_rows():
    """Parameters of a 2-logit model trained by a 3-logit softmax_ce loss were blamed on
    'rows of data['x'] of shape (4,)', which were right. Inputs normalised before a layer
    (a 1-D parameter the size of the features) still name the rows."""
    y = (np.arange(N) % 3).astype(np.int32)
    loss = supervised_loss(build_model(ModelConfig(kind="logistic"), out_dim=3).apply,
                           LossConfig(name="softmax_ce"))
    two = build_model(ModelConfig(kind="logistic"), out_dim=2)
    state = init_member(lambda k: two.init(k, X[:1]), build_optimizer(OptimConfig(), 10), 0)
    with pytest.raises(ValueError, match=r"other widths than the one applied \(its out_dim or "
                                         r"a hidden size differs, not the rows of data\['x'\].*"
                                         r"has shape \(4, 2\), where the model applied makes "
                                         r"\(4, 3\).*num_classes="):
        fit(state, loss, {"x": X, "y": y}, config=CFG, callbacks=())
    normed = nn.Sequential([nn.LayerNorm(), nn.Dense(1)])
    state = TrainState.create(params=normed.init(jax.random.PRNGKey(0), X[:1, :2]),
                              tx=optax.sgd(0.1), rng=0)
    with pytest.raises(ValueError, match=r"do not fit rows of data\['x'\].*shape \(4,\)"):
        fit(state, supervised_loss(normed.apply, LossConfig(name="mse")), DATA, config=CFG,
            callbacks=())


def test_a_train_state_takes_an_integer_seed_for_its_key():
    params = INIT(jax.random.PRNGKey(0))
    by_seed = TrainState.create(params=params, tx=optax.sgd(0.1), rng=3)
    by_key = TrainState.create(params=params, tx=optax.sgd(0.1), rng=jax.random.PRNGKey(3))
    np.testing.assert_array_equal(by_seed.rng, by_key.rng)


@pytest.mark.parametrize("seed", [2**32, 2**32 + 3, -1])
def test_init_member_refuses_a_seed_its_key_cannot_hold(seed):
    """PRNGKey keeps a seed's low 32 bits, so init_member(2**32) was seed 0's member and
    init_member(-1) seed 2**32 - 1's: two 'different' seeds, one model. train_population
    refuses these seeds; init_member, lifted on its own, now does too."""
    tx = optax.sgd(0.1)
    with pytest.raises(ValueError, match=rf"seed={seed}: a member's seed must be in "
                                         r"\[0, 2\*\*32\)"):
        init_member(INIT, tx, seed)
    with pytest.raises(ValueError, match=r"seeds must be one or more integers in \[0, 2\*\*32\)"):
        train_population(LOSS, INIT, DATA, optim=tx, train=CFG, seeds=[seed], callbacks=())
    edge = init_member(INIT, tx, 2**32 - 1)
    np.testing.assert_array_equal(edge.rng, jax.random.split(
        jax.random.PRNGKey(np.uint32(2**32 - 1)))[1])


def test_a_typed_key_state_resumes_like_a_raw_key(tmp_path):
    """TrainState.create accepts jax.random.key(...); its checkpoint then held raw key
    bits while the resuming state held a typed key, and the resume was refused."""
    tx = build_optimizer(OptimConfig(learning_rate=1e-2), 100)
    typed = TrainState.create(params=INIT(jax.random.PRNGKey(0)), tx=tx, rng=jax.random.key(1))
    raw = TrainState.create(params=INIT(jax.random.PRNGKey(0)), tx=tx, rng=jax.random.PRNGKey(1))
    np.testing.assert_array_equal(typed.rng, raw.rng)
    config = TrainConfig(epochs=2, batch_size=16)
    fit(typed, LOSS, DATA, config=dataclasses.replace(config, epochs=1),
        callbacks=[Checkpointer(tmp_path)])
    resumed = fit(typed, LOSS, DATA, config=config, callbacks=[Checkpointer(tmp_path)])
    assert tree_equal(resumed.state.params, fit(raw, LOSS, DATA, config=config,
                                                callbacks=()).state.params)


def test_softmax_labels_beyond_the_models_logits_are_named():
    """Four classes and a 2-logit model (output_dim's default) trained to NaN and were
    reported as a learning rate too high."""
    y = (np.arange(N) % 4).astype(np.int32)
    loss_cfg = LossConfig(name="softmax_ce")
    for width in (2, 4):
        model = build_model(ModelConfig(kind="logistic"), out_dim=width)
        loss = supervised_loss(model.apply, loss_cfg)
        state = init_member(lambda k: model.init(k, X[:1]), build_optimizer(OptimConfig(), 10), 0)
        run = lambda: fit(state, loss, {"x": X, "y": y},  # noqa: E731
                          config=TrainConfig(epochs=1, batch_size=16), callbacks=())
        if width == 2:
            with pytest.raises(ValueError, match=r"class ids up to 3, but the model outputs 2 "
                                                 r"logits.*num_classes=4"):
                run()
        else:
            assert np.isfinite(run().history[-1]["loss"])
    assert output_dim(loss_cfg, (), num_classes=4) == 4
    # Validation data of fewer classes, checked after the training data, hid them.
    model = build_model(ModelConfig(kind="logistic"), out_dim=2)
    state = init_member(lambda k: model.init(k, X[:1]), build_optimizer(OptimConfig(), 10), 0)
    loss = supervised_loss(model.apply, loss_cfg)
    with pytest.raises(ValueError, match="class ids up to 3, but the model outputs 2"):
        fit(state, loss, {"x": X, "y": y}, val_data={"x": X, "y": y % 2},
            config=TrainConfig(epochs=1), callbacks=())
    # The same loss with labels that fit: the earlier labels are not held against it.
    assert np.isfinite(fit(state, loss, {"x": X, "y": y % 2}, config=TrainConfig(epochs=1),
                           callbacks=()).history[-1]["loss"])
    with pytest.raises(ValueError, match="class ids up to 3"):   # and bad ones still caught
        fit(state, loss, {"x": X, "y": y}, config=TrainConfig(epochs=1), callbacks=())


def test_softmax_class_count_of_a_refused_run_is_not_held_against_the_next():
    """A run refused after its labels were checked but before the loss was traced (labels
    1..4 on 2 logits, and an eval_fn without val_data) left its class count pending in
    the dict that equal losses share: the next run, an equal fresh loss with 0/1 labels,
    was refused "y has class ids up to 4"."""
    model = build_model(ModelConfig(kind="logistic"), out_dim=2)

    def apply(p, x):   # this test's own: no earlier test's trace has told its width
        return model.apply(p, x)

    def make():
        state = init_member(lambda k: model.init(k, X[:1]), build_optimizer(OptimConfig(), 10), 0)
        return state, supervised_loss(apply, LossConfig(name="softmax_ce"))

    state, first = make()
    with pytest.raises(ValueError, match="eval_fn"):
        fit(state, first, {"x": X, "y": np.arange(N) % 4 + 1}, config=TrainConfig(epochs=1),
            eval_fn=lambda *a: {}, callbacks=())
    state, loss = make()
    assert loss == first
    result = fit(state, loss, {"x": X, "y": np.arange(N) % 2}, config=TrainConfig(epochs=1),
                 callbacks=())
    assert np.isfinite(result.history[-1]["loss"])


def test_softmax_class_checks_keep_no_dropped_loss_alive():
    """supervised_loss's softmax_ce class counts were kept in a module-level dict per loss
    and never freed: each run of a closure's apply (a new loss every time) kept its
    closure, and the arrays it holds, alive for the process's life."""
    from fjax.train.step import LOSS_CACHE_SIZE

    model = build_model(ModelConfig(kind="logistic"), out_dim=4)

    def loss_holding(array):
        return supervised_loss(lambda p, x: model.apply(p, x) + 0.0 * array[0, 0],
                               LossConfig(name="softmax_ce"))

    held = np.ones((200, 200))
    held_ref = weakref.ref(held)
    data = {"x": X, "y": (np.arange(N) % 4).astype(np.int32)}
    loss_holding(held).check_data(data)
    del held
    for _ in range(LOSS_CACHE_SIZE):   # later losses push the dropped one out
        loss_holding(np.ones((1, 1))).check_data(data)
    gc.collect()
    assert held_ref() is None


@pytest.mark.parametrize("y, fix", [
    (np.arange(N)[:, None] % 3, r"pass y\[:, 0\]"),
    (np.eye(3, dtype=np.int32)[np.arange(N) % 3], r"for one-hot .* pass y.argmax\(axis=1\)"),
])
def test_softmax_labels_of_one_column_name_the_array_and_the_fix(y, fix):
    """Labels y[n, 1] (or one-hot rows) were refused by a message about logits of shape
    (2, 3), from check_loss_fn's two-row trace, naming neither data['y'] nor the fix; a
    step called directly now names batch['y']."""
    model = build_model(ModelConfig(kind="logistic"), out_dim=3)
    loss = supervised_loss(model.apply, LossConfig(name="softmax_ce"))
    state = init_member(lambda k: model.init(k, X[:1]), build_optimizer(OptimConfig(), 10), 0)
    shape = re.escape(str(y.shape))
    with pytest.raises(ValueError, match=rf"'softmax_ce' takes one integer class id per row "
                                         rf"\(shape \(n,\)\), but data\['y'\].* {shape}; {fix}"):
        fit(state, loss, {"x": X, "y": y}, config=CFG, callbacks=())
    batch = {"x": jnp.asarray(X[:4]), "y": jnp.asarray(y[:4]), "weight": jnp.ones(4)}
    with pytest.raises(ValueError, match=rf"but batch\['y'\] has shape \(4, {y.shape[1]}\)"):
        make_train_step(loss)(state, batch)
    assert np.isfinite(fit(state, loss, {"x": X, "y": y.argmax(-1)}, config=CFG,
                           callbacks=()).history[-1]["loss"])


@pytest.mark.parametrize("values, match", [([None, 0.5], "holds None; give the value itself"),
                                           ([True], "holds True"),
                                           ([float("nan")], "holds nan"),
                                           ([0.5, 0.9, 0.5], r"repeats a value")])
def test_grid_values_that_are_not_numbers_are_named(values, match):
    with pytest.raises(ValueError, match=match):
        train_population(LOSS, INIT, DATA, optim=OptimConfig(name="momentum"),
                         train=TrainConfig(epochs=1), hparams={"momentum": values}, callbacks=())


@pytest.mark.parametrize("seed", [np.float64(1.0), 1.0])
def test_a_seed_that_is_not_an_integer_is_named(seed):
    """A seed from `members.iterrows()` (a float) failed inside jax: "PRNG key seed must
    be an integer; got JitTracer(float32[])"."""
    with pytest.raises(ValueError, match=r"seed=1\.0 is not an integer; .*int\(row\['seed'\]\)"):
        init_member(INIT, build_optimizer(OptimConfig(), 10), seed)
    members = member_grid({}, [7], 1)
    for _, row in members.astype(float).iterrows():   # as a table with float columns reads
        assert tree_equal(init_member(INIT, optax.sgd(0.1), int(row["seed"])).params,
                          INIT(jax.random.split(jax.random.PRNGKey(7))[0]))


def test_data_off_the_contract_is_told_the_contract():
    """Data keyed "X" failed with a bare KeyError from inside the loss."""
    with pytest.raises(ValueError, match=r"data has no \['x'\] \(its keys: \['X', 'y'\]\)"):
        fit(fresh_state(), LOSS, {"X": X, "y": Y}, config=TrainConfig(epochs=1), callbacks=())


def test_float64_metrics_under_x64_keep_the_loop_state_types():
    """With jax_enable_x64 and float64 data the val_loss is float64, and the float32 best
    score became float64 after the first epoch: a new loop type, so the whole epoch
    compiled a second time. The best score stays float32: the smallest val_loss logged."""
    data = {"x": X.astype(np.float64), "y": Y.astype(np.float64)}
    with jax.enable_x64(True):
        state = fresh_state()
        result = fit(state, LOSS, data, val_data=data, config=CFG, callbacks=())
        start = LoopState.start(state)
    assert jax.tree.map(lambda a: a.dtype, result.loop) == jax.tree.map(lambda a: a.dtype, start)
    np.testing.assert_allclose(result.loop.best_score,
                               min(h["val_loss"] for h in result.history), rtol=1e-6)


def test_bfloat16_inputs_train_and_their_nans_are_refused():
    """bfloat16 data (half the memory) was refused as 'has dtype bfloat16; encode it as
    numbers first' (numpy does not call bfloat16 a float), and predict let its NaNs
    through. It trains as float32 data holding the same values does (flax promotes the
    inputs to the float32 weights); a NaN is refused in training and prediction."""
    x16 = jnp.asarray(X, jnp.bfloat16)
    runs = [fit(fresh_state(), LOSS, {"x": x, "y": Y}, config=CFG, callbacks=())
            for x in (x16, np.asarray(x16, np.float32))]
    np.testing.assert_allclose([h["loss"] for h in runs[0].history],
                               [h["loss"] for h in runs[1].history], rtol=1e-6)
    with_nan = x16.at[3, 1].set(jnp.nan)
    with pytest.raises(ValueError, match=r"data\['x'\] has 1 NaN and 0 infinite values"):
        fit(fresh_state(), LOSS, {"x": with_nan, "y": Y}, config=CFG, callbacks=())
    pop = train_population(LOSS, INIT, {"x": x16, "y": Y}, optim=OptimConfig(), train=CFG,
                           callbacks=())
    with pytest.raises(ValueError, match=r"x has NaN or infinite values in 1 row\(s\)"):
        pop.predict(MODEL.apply, with_nan)


def test_a_lifted_step_without_weights_is_told_to_add_them():
    """The README's step called on {"x", "y"} alone failed with a bare KeyError('weight')
    from inside supervised_loss."""
    with pytest.raises(ValueError, match=r"batch has no \['weight'\] \(its keys: \['x', "
                       r"'y'\]\).*batch\['weight'\] = jnp.ones"):
        jax.jit(make_train_step(LOSS))(fresh_state(), {"x": X, "y": Y})


@pytest.mark.parametrize("kind", ["module", "function"])
def test_supervised_loss_trains_a_model_without_deterministic(kind):
    """A flax module without a `deterministic` argument, or a function `(params, x)` of
    your own, trains as `Population.predict` calls it: plain. It raised a TypeError asking
    for the argument. One full-batch SGD step on MSE against float64 numpy."""
    class Plain(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(1)(x)

    plain = Plain()
    params = plain.init(jax.random.PRNGKey(0), X[:1])
    apply_fn = plain.apply
    if kind == "function":
        params = dict(params["params"]["Dense_0"])
        apply_fn = lambda p, x: x @ p["kernel"] + p["bias"]  # noqa: E731
    state = TrainState.create(params=params, tx=optax.sgd(0.1), rng=0)
    result = fit(state, supervised_loss(apply_fn, LossConfig(name="mse")), DATA,
                 val_data=DATA, config=TrainConfig(epochs=1, batch_size=N), callbacks=())
    kernel, bias = (np.asarray(leaf, np.float64) for leaf in
                    (jax.tree.leaves(params)[1], jax.tree.leaves(params)[0]))
    residual = X.astype(np.float64) @ kernel + bias - Y
    want_kernel = kernel - 0.1 * 2 / N * X.T @ residual
    want_bias = bias - 0.1 * 2 / N * residual.sum(0)
    got_bias, got_kernel = jax.tree.leaves(result.state.params)
    np.testing.assert_allclose(got_kernel, want_kernel, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_bias, want_bias, rtol=1e-5, atol=1e-6)
    fitted = X.astype(np.float64) @ want_kernel + want_bias
    np.testing.assert_allclose(result.history[-1]["val_loss"], np.mean((fitted - Y) ** 2),
                               rtol=1e-4)


def test_population_predict_is_each_members_apply():
    pop = train_population(LOSS, INIT, DATA, optim=OptimConfig(), train=TrainConfig(epochs=1),
                           hparams={"learning_rate": [1e-3, 1e-1]}, seeds=[0, 1], callbacks=())
    out = pop.predict(MODEL.apply, X, batch_size=16)    # 90 rows: a partial last batch
    chex.assert_shape(out, (4, N, 1))
    for i in range(4):
        np.testing.assert_allclose(out[i], MODEL.apply(pop.member_params(i), X), rtol=1e-5,
                                   atol=1e-6)


def test_a_batch_larger_than_the_data_is_one_batch_of_the_data():
    """batch_size 2**40 padded every batch to 2**40 rows and ran out of memory."""
    huge = fit(fresh_state(), LOSS, DATA, config=TrainConfig(epochs=2, batch_size=2**40),
               callbacks=())
    whole = fit(fresh_state(), LOSS, DATA, config=TrainConfig(epochs=2, batch_size=N),
                callbacks=())
    assert tree_equal(huge.state.params, whole.state.params)
    pop = train_population(LOSS, INIT, DATA, optim=OptimConfig(learning_rate=1e-2),
                           train=TrainConfig(epochs=2, batch_size=2**40), callbacks=())
    np.testing.assert_allclose(pop.history[-1]["loss"][0], whole.history[-1]["loss"], rtol=1e-6)


@pytest.mark.parametrize("restore_best", [True, False])
def test_restore_best_decides_which_epochs_parameters_a_member_keeps(restore_best):
    """A fast learning rate over 15 epochs: some members' best validation epoch is before
    the last. restore_best keeps that epoch's parameters; without it a member keeps its
    last ones, even though validation chose another (a monitor that only logs must not
    pick parameters: forecasting's test span is logged that way). `fit` the same."""
    cfg = TrainConfig(epochs=15, batch_size=16, restore_best=restore_best)
    optim = OptimConfig(name="adam", learning_rate=0.3)
    pop = train_population(LOSS, INIT, DATA, optim=optim, train=cfg, seeds=[0],
                           folds=kfold(N, 3, seed=1))
    best = np.asarray(pop.loop.best_epoch)
    early = np.nonzero((best > 0) & (best < 15))[0]
    assert len(early), best               # the test needs a member whose best epoch is early
    for i in range(pop.size):
        keep = pop.loop.best_params if restore_best and i in early else pop.loop.train.params
        assert tree_equal(pop.member_params(i), jax.tree.map(lambda leaf: leaf[i], keep))
    for i in early:
        assert not tree_equal(jax.tree.map(lambda leaf: leaf[i], pop.loop.best_params),
                              jax.tree.map(lambda leaf: leaf[i], pop.loop.train.params))
    folds = kfold(N, 3, seed=1)
    j = int(early[0])
    tx = build_optimizer(optim, cfg.epochs * num_batches(int(folds.train[j].sum()), 16))
    one = fit(init_member(INIT, tx, 0), LOSS, DATA, config=cfg, weights=folds.train[j],
              val_data=DATA, val_weights=folds.val[j])
    assert one.loop.best_epoch < 15
    kept = one.loop.best_params if restore_best else one.loop.train.params
    assert tree_equal(one.state.params, kept)


def test_a_stopped_members_later_epochs_log_nan_and_its_own_epochs_match_its_fit():
    """Under patience the members stop at different epochs; the epochs a stopped member
    still computes (it shares the program) log NaN, so history, the JSONL log and the
    loss curves hold only epochs it kept, and those equal its own `fit`'s."""
    folds = kfold(N, 3, seed=1)
    cfg = TrainConfig(epochs=30, batch_size=16, patience=2)
    optim = OptimConfig(name="adam", learning_rate=0.3)
    grid = {"learning_rate": [0.3, 0.01]}
    pop = train_population(LOSS, INIT, DATA, optim=optim, train=cfg, hparams=grid,
                           folds=folds, callbacks=())
    epochs = np.asarray(pop.loop.epoch)
    assert epochs.min() < epochs.max() == len(pop.history)   # some stopped before others
    tx = build_optimizer(optim, cfg.epochs * num_batches(int(folds.train[0].sum()), 16))
    for i, member in pop.members.iterrows():
        fold = int(member["fold"])
        logged = np.array([[h[k][i] for k in ("loss", "val_loss")] for h in pop.history])
        assert np.isfinite(logged[:epochs[i]]).all() and np.isnan(logged[epochs[i]:]).all()
        one = fit(init_member(INIT, tx, 0, {"learning_rate": member["learning_rate"]}), LOSS,
                  DATA, config=cfg, weights=folds.train[fold], val_data=DATA,
                  val_weights=folds.val[fold], callbacks=())
        np.testing.assert_allclose(logged[:epochs[i], 1], [h["val_loss"] for h in one.history],
                                   rtol=1e-4)


def test_steps_are_cached_per_loss_untouched_bounded_and_unhashable_losses_work():
    import copy

    from fjax.train.fit import default_eval_fn
    from fjax.train.step import LOSS_CACHE_SIZE

    def loss_holding(array):
        def loss(params, batch, rng):
            return LOSS(params, batch, rng)[0] + 0.0 * float(array[0, 0]), {}
        return loss

    held = np.ones((200, 200))
    held_ref = weakref.ref(held)
    loss = loss_holding(held)
    step = make_train_step(loss)
    assert make_train_step(loss) is step and make_eval_step(loss) is make_eval_step(loss)
    assert default_eval_fn(loss, 8) is default_eval_fn(loss, 8) is not default_eval_fn(loss, 4)
    assert vars(loss) == {}   # the user's function gets no cache attribute
    partial = functools.partial(loss)
    copied = copy.copy(partial)
    assert make_train_step(copied) is not make_train_step(partial)   # by identity
    del loss, partial, copied, step, held
    for _ in range(LOSS_CACHE_SIZE):   # later losses push the dropped one out
        other = lambda params, batch, rng: LOSS(params, batch, rng)  # noqa: E731
        make_train_step(other), make_eval_step(other), default_eval_fn(other, 8)
    gc.collect()
    assert held_ref() is None    # no cache keeps a dropped loss and its arrays alive

    @dataclasses.dataclass
    class Loss:   # eq=True makes it unhashable
        scale: float = 1.0

        def __call__(self, params, batch, rng):
            value, aux = LOSS(params, batch, rng)
            return self.scale * value, aux

    state = fresh_state()
    batch = {"x": jnp.asarray(X[:16]), "y": jnp.asarray(Y[:16]), "weight": jnp.ones(16)}
    two = Loss(2.0)
    assert make_train_step(two) is make_train_step(two)
    _, m2 = make_train_step(two)(state, batch)
    _, m1 = make_train_step(Loss(1.0))(state, batch)
    np.testing.assert_allclose(m2["loss"], 2 * m1["loss"], rtol=1e-6)
    bound = types.SimpleNamespace(f=LOSS).f   # a plain attribute: still cached
    assert make_train_step(bound) is make_train_step(bound)
    method = Loss(3.0).__call__   # a new bound method on each access: cached per object
    assert make_train_step(method) is make_train_step(method.__self__.__call__)


def test_cached_per_loss_builds_unhashable_arguments_uncached():
    """`cached_per_loss` caches per loss and hashable arguments (`auto_chunk`'s shapes);
    arguments it cannot hash are built every time, not refused (it raised TypeError)."""
    from fjax.train.step import cached_per_loss

    built = []

    @cached_per_loss
    def build(loss_fn, shapes):
        built.append(shapes)
        return len(built)

    assert build(LOSS, (2, 3)) == build(LOSS, (2, 3)) == 1
    assert (build(LOSS, [2, 3]), build(LOSS, [2, 3])) == (2, 3)
    assert built == [(2, 3), [2, 3], [2, 3]]


def test_small_misuses_of_the_step_and_fit_are_named_or_just_work():
    state = fresh_state()
    batch = {"x": jnp.asarray(X[:16]), "y": jnp.asarray(Y[:16]), "weight": jnp.ones(16)}
    _, metrics = make_train_step(lambda p, b, r: (LOSS(p, b, r)[0], None))(state, batch)
    assert set(metrics) == {"loss"}   # an aux of None is no metrics
    big = TrainState.create(params=state.params, tx=state.tx, rng=2**31 + 5)
    np.testing.assert_array_equal(big.rng, jax.random.PRNGKey(np.uint32(2**31 + 5)))
    with pytest.raises(ValueError, match=r"rng=-1: an integer seed must be in \[0, 2\*\*32\)"):
        TrainState.create(params=state.params, tx=state.tx, rng=-1)
    with pytest.raises(ValueError, match="fit got an eval_fn but no val_data"):
        fit(state, LOSS, DATA, config=CFG, eval_fn=lambda p, d, w: {"x": 0.0}, callbacks=())


def test_a_population_takes_an_optax_chain_of_your_own():
    """Members equal `fit` with the same chain; a grid of learning rates needs the chain
    wrapped in inject_hyperparams, and says so when it is not."""
    tx = optax.inject_hyperparams(lambda learning_rate: optax.chain(
        optax.clip_by_global_norm(1.0), optax.adamw(learning_rate, weight_decay=1e-3)))(
        learning_rate=1e-3)
    grid = {"learning_rate": [1e-3, 3e-2]}
    pop = train_population(LOSS, INIT, DATA, optim=tx, train=CFG, hparams=grid, seeds=[3],
                           callbacks=())
    for i, lr in enumerate(grid["learning_rate"]):
        one = fit(init_member(INIT, tx, 3, {"learning_rate": lr}), LOSS, DATA, config=CFG,
                  callbacks=())
        tree_allclose(one.state.params, pop.member_params(i), rtol=1e-5, atol=1e-6)
    plain = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))
    with pytest.raises(ValueError, match=r"cannot set \['learning_rate'\] per member: the "
                       "optimizer injects no hyperparameters; wrap it in "
                       "optax.inject_hyperparams"):
        train_population(LOSS, INIT, DATA, optim=plain, train=CFG, hparams=grid, callbacks=())
    seeds = train_population(LOSS, INIT, DATA, optim=plain, train=CFG, seeds=[0, 1],
                             callbacks=())
    assert seeds.size == 2 and np.isfinite(seeds.table()["final_loss"]).all()


def test_a_scheduled_injected_hyperparameter_is_refused_as_a_grid_key():
    """optax.inject_hyperparams re-evaluates a schedule it was given at every step, so a
    grid over that name trained every member alike (before: identical parameters for
    learning rates 1e-2 and 1e-1). It is refused; the form the message suggests (a number
    injected, the schedule inside) gives each member its own rate: each equals `fit` with
    optax.adam(lr * cosine)."""
    cosine = optax.cosine_decay_schedule(1.0, 20)
    scheduled = optax.inject_hyperparams(optax.adam)(learning_rate=cosine)
    grid = {"learning_rate": [1e-2, 1e-1]}
    with pytest.raises(ValueError, match=r"cannot set \['learning_rate'\] per member: the "
                       "optimizer was given a schedule for it"):
        train_population(LOSS, INIT, DATA, optim=scheduled, train=CFG, hparams=grid,
                         callbacks=())
    with pytest.raises(ValueError, match="inject a number and apply the schedule inside"):
        TrainState.create(params=INIT(jax.random.PRNGKey(0)), tx=scheduled, rng=0,
                          hyperparams={"learning_rate": 0.1})
    inside = optax.inject_hyperparams(lambda learning_rate: optax.adam(
        lambda count: learning_rate * cosine(count)))(learning_rate=1e-3)
    pop = train_population(LOSS, INIT, DATA, optim=inside, train=CFG, hparams=grid, seeds=[3],
                           callbacks=())
    for i, lr in enumerate(grid["learning_rate"]):
        plain = optax.adam(lambda count: np.float32(lr) * cosine(count))
        one = fit(init_member(INIT, plain, 3), LOSS, DATA, config=CFG, callbacks=())
        tree_allclose(one.state.params, pop.member_params(i), rtol=2e-4, atol=2e-5)


def test_a_loss_that_ignores_the_weights_is_refused_where_validation_pads():
    """Full training batches let a loss ignore the weights, but 20 validation rows in
    batches of 16 are padded with 12 copies of the last row (weight 0): its val_loss
    counted them, 1636 for a true 504 here, and picked epochs by it. Refused; a loss
    that weights its rows gets the true value (numpy, float64)."""
    rng = np.random.default_rng(5)
    xv, yv = rng.normal(size=(20, D)).astype(np.float32), Y[:20].copy()
    yv[-1] = 100.0
    val = {"x": xv, "y": yv}
    config = TrainConfig(epochs=1, batch_size=16, eval_batch_size=16)
    unweighted = lambda p, b, r: (jnp.mean((MODEL.apply(p, b["x"]) - b["y"]) ** 2), {})  # noqa
    state = TrainState.create(params=INIT(jax.random.PRNGKey(0)), tx=optax.sgd(0.0), rng=0)
    data = {"x": X[:64], "y": Y[:64]}
    with pytest.raises(ValueError, match=r"does not read batch\['weight'\], but batches \(of "
                                         r"training or of validation\)"):
        fit(state, unweighted, data, val_data=val, config=config, callbacks=())
    with pytest.raises(ValueError, match=r"does not read batch\['weight'\]"):
        train_population(unweighted, INIT, data, optim=optax.sgd(0.0), train=config,
                         val_data=val, callbacks=())
    weighted = lambda p, b, r: (_mean(p, b), {})  # noqa: E731
    got = fit(state, weighted, data, val_data=val, config=config, callbacks=())
    out = np.asarray(MODEL.apply(state.params, xv), np.float64)
    np.testing.assert_allclose(got.history[-1]["val_loss"], np.mean((out - yv) ** 2), rtol=1e-5)


def test_a_grid_key_for_a_loss_without_hparams_is_named():
    """A misspelt optimizer key ('learnin_rate') goes to the loss; a loss of one's own
    without an hparams argument failed with "got an unexpected keyword argument
    'hparams'", which named neither the key nor the fix."""
    def plain(params, batch, rng):
        return LOSS(params, batch, rng)
    with pytest.raises(ValueError, match=r"hparams keys \['learnin_rate'\] \(did you mean "
                       r"'learning_rate'\?\) are not hyperparameters of the optimizer.*"
                       r"takes no hparams argument"):
        train_population(plain, INIT, DATA, optim=OptimConfig(), train=CFG,
                         hparams={"learnin_rate": [1e-3, 1e-2]}, callbacks=())


def test_a_loss_that_ignores_the_weights_is_refused_where_they_matter():
    """A mean over the batch trained on the rows outside a fold (its validation rows),
    which fill the last batch with weight 0: a model fitted to y=0 rows, with y=100 on
    the others, ended with bias 4.05 instead of about 0. Where every row of every batch
    has weight 1, the weights change nothing and the loss is accepted."""
    def mean_loss(params, batch, rng):
        return jnp.mean((MODEL.apply(params, batch["x"]) - batch["y"]) ** 2), {}
    folds = kfold(N, 2, seed=0)
    with pytest.raises(ValueError, match=r"loss does not read batch\['weight'\].*validation"):
        fit(fresh_state(), mean_loss, DATA, weights=folds.train[0], config=CFG, callbacks=())
    with pytest.raises(ValueError, match=r"loss does not read batch\['weight'\]"):
        train_population(mean_loss, INIT, DATA, optim=OptimConfig(), train=CFG, folds=folds,
                         callbacks=())
    whole = dataclasses.replace(CFG, batch_size=N // 2)   # two full batches of weight 1
    assert fit(fresh_state(), mean_loss, DATA, config=whole, callbacks=()).epochs_run == 3

    def weight_in_aux_only(params, batch, rng):
        loss, _ = mean_loss(params, batch, rng)
        return loss, {"rows": jnp.sum(batch["weight"])}
    with pytest.raises(ValueError, match=r"loss does not read batch\['weight'\]"):
        fit(fresh_state(), weight_in_aux_only, DATA, weights=folds.train[0], config=CFG,
            callbacks=())


def _per_row(params, batch):
    return batch["weight"] * jnp.sum((MODEL.apply(params, batch["x"]) - batch["y"]) ** 2, -1)


def _mean(params, batch):
    return jnp.sum(_per_row(params, batch)) / jnp.maximum(jnp.sum(batch["weight"]), 1e-12)


CONTRACT_BREAKS = [
    (lambda p, b, r: _mean(p, b), r"return \(loss, aux\).*got a single array of shape \(\)"),
    (lambda p, b, r: (_per_row(p, b), {}), r"loss has shape \(2,\) on a batch of 2 rows.*"
                                            r"Reduce the per-row losses"),
    (lambda p, b, r: (_mean(p, b).astype(jnp.int32), {}), r"loss is int32.*Compute it in floats"),
    (lambda p, b, r: (_mean(p, b), [_mean(p, b)]), r"aux is a list.*\{'accuracy': acc\}"),
    (lambda p, b, r: (_mean(p, b), {"a": {"b": _mean(p, b)}}), r"aux\['a'\] is a dict, not "
                                                                 "one array"),
    (lambda p, b, r: (_mean(p, b), {"loss": _mean(p, b)}), r"aux may not hold 'loss'"),
]


@pytest.mark.parametrize("loss_fn, message", CONTRACT_BREAKS)
def test_a_loss_that_breaks_the_contract_is_refused_with_the_contract(loss_fn, message):
    """jax's own errors for these name tracers ("LinearizeTracer", "Gradient only defined
    for scalar-output functions"); the loss is traced once before compiling instead."""
    with pytest.raises(ValueError, match=message):
        fit(fresh_state(), loss_fn, DATA, config=CFG, callbacks=())
    with pytest.raises(ValueError, match=message):
        train_population(loss_fn, INIT, DATA, optim=OptimConfig(), train=CFG, callbacks=())


@pytest.mark.parametrize("loss_fn, message", CONTRACT_BREAKS[:3])
def test_the_train_step_alone_refuses_a_loss_its_gradient_cannot_take(loss_fn, message):
    """Lifted out of fjax (`jax.jit(make_train_step(loss_fn))`), the step said only what
    jax says ("expected function with aux output to return a two-element tuple, but got
    ... LinearizeTracer"); it now gives the contract and the fix, when traced."""
    batch = {"x": X[:2], "y": Y[:2], "weight": np.ones(2, np.float32)}
    with pytest.raises(ValueError, match=message):
        jax.jit(make_train_step(loss_fn))(fresh_state(), batch)


def test_the_train_step_takes_a_batch_holding_a_scalar():
    """A batch of one's own may hold a scalar (a temperature); one whose key sorted first
    failed with IndexError in the contract check, which counted rows on the first leaf."""
    def loss(params, batch, rng):
        per = batch["a_scale"] * (params["w"] * batch["x"] - batch["y"]) ** 2
        return jnp.sum(batch["weight"] * per) / jnp.sum(batch["weight"]), {}
    x = jnp.asarray([1.0, 2.0, 3.0])
    batch = {"a_scale": jnp.asarray(2.0), "x": x, "y": jnp.zeros(3), "weight": jnp.ones(3)}
    state = TrainState.create(params={"w": jnp.asarray(1.0)}, tx=optax.sgd(0.1), rng=0)
    state, metrics = jax.jit(make_train_step(loss))(state, batch)
    # loss = 2 mean(x^2) = 28/3; d/dw = 4 mean(x^2) = 56/3 at w = 1
    np.testing.assert_allclose(metrics["loss"], 28 / 3, rtol=1e-6)
    np.testing.assert_allclose(state.params["w"], 1 - 0.1 * 56 / 3, rtol=1e-6)
    per_row = lambda p, b, r: (b["a_scale"] * p["w"] * b["x"], {})  # noqa: E731
    with pytest.raises(ValueError, match=r"loss has shape \(3,\) on a batch of 3 rows"):
        jax.jit(make_train_step(per_row))(state, batch)


def test_a_loss_with_no_aux_or_a_metric_per_class_trains():
    per_class = lambda p, b, r: (_mean(p, b), {"per_class": jnp.arange(3.0)})  # noqa: E731
    assert fit(fresh_state(), lambda p, b, r: (_mean(p, b), None), DATA, config=CFG,
               callbacks=()).epochs_run == CFG.epochs
    pop = train_population(per_class, INIT, DATA, optim=OptimConfig(), train=CFG, callbacks=())
    np.testing.assert_allclose(pop.table()["final_per_class"][0], [0.0, 1.0, 2.0])


def test_reaches_output_follows_the_equations_to_the_output():
    from fjax.train.step import reaches_output
    jaxpr = jax.make_jaxpr(lambda a, b, c: (a * 2 + jnp.sin(c), jnp.sum(b)))(1.0, 2.0, 3.0)
    only_first = jax.make_jaxpr(lambda a, b, c: a * 2 + jnp.sin(c))(1.0, 2.0, 3.0).jaxpr
    assert [reaches_output(jaxpr.jaxpr, i) for i in range(3)] == [True, True, True]
    assert [reaches_output(only_first, i) for i in range(3)] == [True, False, True]


def test_the_loss_check_traces_once_per_loss_and_shapes(monkeypatch):
    """Fits in a loop (300 in credit's sequential search) reuse the first verdict."""
    from fjax.train import step
    traced = []
    real = step._trace_verdict
    monkeypatch.setattr(step, "_trace_verdict", lambda *a: traced.append(1) or real(*a))

    def loss(params, batch, rng):
        return jnp.sum(batch["weight"] * params["w"] * batch["x"][:, 0]), {}
    params, w = {"w": jnp.ones(())}, np.ones(8)
    for x in (np.ones((8, 3), np.float32), np.zeros((8, 3), np.float32)):
        step.check_loss_fn(loss, params, {"x": x}, w, 4, 2)
    assert len(traced) == 1
    step.check_loss_fn(loss, params, {"x": np.ones((8, 5), np.float32)}, w, 4, 2)
    assert len(traced) == 2


def test_a_repeated_loss_key_sweep_does_not_trace_the_loss_check_again(monkeypatch):
    """train_population bound one member's loss values in a new functools.partial for its
    loss check, equal to no other: every run of a sweep over loss keys traced it again."""
    from fjax.train import step
    traced = []
    real = step._trace_verdict
    monkeypatch.setattr(step, "_trace_verdict", lambda *a: traced.append(1) or real(*a))

    def run(deltas):
        # a new equal loss, of a config no other test checks
        loss = supervised_loss(Net().apply, LossConfig(name="huber", huber_delta=0.37))
        return train_population(loss, INIT, DATA, optim=OptimConfig(learning_rate=1e-2),
                                hparams={"huber_delta": deltas},
                                train=TrainConfig(epochs=1, batch_size=16), seeds=(0,),
                                callbacks=())
    first, again = run([0.37, 2.0]), run([0.37, 2.0])
    assert len(traced) == 1 and again.compilations == 0
    assert tree_equal(again.params, first.params)
    other = run([0.73, 2.0])   # other loss values: as traced in training, of no known value
    assert len(traced) == 1 and other.compilations == 0


def test_member_schedule_lengths_beyond_int32_are_refused_not_wrapped():
    """Each member's cosine length is injected as int32: a fold of 2**31 steps (epochs x
    its batches) read as -2**31 while the shortest fold's optimizer built fine."""
    from fjax.train.population import member_optimizer
    weights = np.array([[1.0] * 4 + [0.0] * 4, [1.0] * 8])   # 1 and 2 batches of 4 rows
    optim, train = OptimConfig(schedule="cosine"), TrainConfig(epochs=2**30)
    with pytest.raises(ValueError, match="2147483648 optimizer steps"):
        member_optimizer(optim, train, 4, weights, np.array([0, 1]))
    _, steps = member_optimizer(optim, TrainConfig(epochs=3), 4, weights, np.array([1, 0, 1]))
    np.testing.assert_array_equal(steps["schedule_steps"], [6, 3, 6])


def test_a_rebuilt_equal_model_reuses_the_programs_and_another_structure_does_not():
    """Bound `model.apply`s compare by their module's identity, so every run built new
    static arguments around an equal model and traced and compiled its epoch again."""
    from fjax.train.members import ModuleInit
    from fjax.train.population import train_population

    train, optim = TrainConfig(epochs=2, batch_size=16), OptimConfig(learning_rate=1e-2)

    def run(hidden=(5,), loss=LossConfig(name="mse")):
        model = build_model(ModelConfig(kind="mlp", hidden=hidden), 1)   # a new equal module
        loss_fn = supervised_loss(model.apply, loss)
        pop = train_population(loss_fn, ModuleInit.like(model, X), DATA, optim=optim,
                               train=train, seeds=(0, 1), callbacks=())
        state = init_member(ModuleInit.like(model, X), build_optimizer(optim, 12), 0)
        return pop, fit(state, loss_fn, DATA, config=train, callbacks=())

    first, first_fit = run()
    again, again_fit = run()
    assert (again.compilations, again_fit.compilations) == (0, 0)
    assert tree_equal(again.params, first.params)
    assert tree_equal(again_fit.state.params, first_fit.state.params)
    wider, _ = run(hidden=(6,))
    mae, mae_fit = run(loss=LossConfig(name="mae"))
    assert wider.compilations > 0 and mae.compilations > 0 and mae_fit.compilations > 0
    assert not tree_equal(mae.params, first.params)   # not mse's program


def compiled_program_names(run: Callable[[], Any]) -> list[str]:
    """The names of the XLA programs `run()` builds (compiled or loaded from the
    persistent cache), from jax's compile log."""
    names = []

    class Names(logging.Handler):
        def emit(self, record):
            found = re.search(r"Finished XLA compilation of jit\((.*)\) in", record.getMessage())
            if found:
                names.append(found.group(1))

    logger, handler = logging.getLogger("jax._src.dispatch"), Names()
    logger.addHandler(handler)
    try:
        with jax.log_compiles():
            run()
    finally:
        logger.removeHandler(handler)
    return names


def test_a_first_population_builds_only_its_own_programs():
    """Host arrays reach the device without a copy program, and nothing is indexed or
    compared op by op: a first 16-member sweep of the reference LSTM built 30 small eager
    programs (10-45 ms each with the cache write) besides its own. Shapes no other test
    uses (41 rows of 3 features, 7 members), so no eager program is already cached."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(41, 3)).astype(np.float32)
    data = {"x": x, "y": x @ np.array([0.5, -1.0, 2.0], np.float32)}
    model = build_model(ModelConfig(kind="mlp", hidden=(5,)), 1)
    loss = supervised_loss(model.apply, LossConfig(name="mse"))
    names = compiled_program_names(lambda: train_population(
        loss, lambda k: model.init(k, x[:1]), data, optim=OptimConfig(),
        train=TrainConfig(epochs=2, batch_size=8), seeds=range(7), callbacks=()))
    assert set(names) == {"_init_members", "population_epoch", "_final_params",
                          "_first_member_losses"}, names


def test_init_member_is_one_program():
    """Op by op, a member's initial state built about 30 small programs (the reference
    LSTM's took 5.3 s in a fresh process, compiled 2.7-3.2 s); now one, the bits
    unchanged (`test_population_init_equals_eager_init_member`). Shapes no other test
    uses, so nothing is already cached."""
    x = np.zeros((1, 2, 11), np.float32)
    model = build_model(ModelConfig(kind="lstm", hidden=(3,)), 1)
    tx = build_optimizer(OptimConfig(), 10)
    init = lambda key: model.init(key, x)  # noqa: E731
    assert compiled_program_names(lambda: init_member(init, tx, 2**31 + 5)) == ["member_state"]


@pytest.mark.parametrize("lift", ["map", "jit_map"])
def test_init_member_lifts_under_map_and_jit_as_the_readme_shows(lift):
    """README: 'LSTM/GRU under jit: jax.lax.map(create, ...)'. init_member's own jit
    carries compiler options, which jax refuses inside another trace (lax.map, jit):
    the recipe raised a ValueError. Traced, it is member_state inside the caller's
    program; each member must equal member_state op by op (float32 rounding at most)."""
    from fjax.config import ModelConfig
    from fjax.models import build_model
    from fjax.train.members import member_state
    x = RNG.normal(size=(4, 6, 3)).astype(np.float32)
    model = build_model(ModelConfig(kind="lstm", hidden=(5,)), 1)
    init = lambda k: model.init(k, x[:1])  # noqa: E731
    tx = build_optimizer(OptimConfig(), 10)
    create = lambda seed: init_member(init, tx, seed)  # noqa: E731
    seeds = jnp.arange(2, dtype=jnp.uint32)
    lifted = {"map": lambda s: jax.lax.map(create, s),
              "jit_map": jax.jit(lambda s: jax.lax.map(create, s))}[lift]
    states = lifted(seeds)
    for i in range(2):
        chex.assert_trees_all_close(jax.tree.map(lambda a: a[i], states),
                                    member_state(init, tx, i), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["mse", "pinball", "gaussian_nll"])
def test_read_output_keeps_host_outputs_on_the_host(name):
    """Forecast reads each member's raw outputs as numpy (`raw_prices`), so no device
    program runs per member: gaussian_nll's jnp.split ran two. By hand: the mean is the
    first H columns, the log-scale the next H; quantiles are H x Q in row order."""
    from fjax.train.objective import read_output
    out = np.arange(24, dtype=np.float32).reshape(2, 12)
    cfg = LossConfig(name=name, **({"quantiles": (0.1, 0.5, 0.9, 0.95)}
                                   if name == "pinball" else {}))
    h = {"mse": 12, "pinball": 3, "gaussian_nll": 6}[name]
    pred = read_output(cfg, out, (h,))
    parts = pred if isinstance(pred, tuple) else (pred,)
    assert all(type(p) is np.ndarray for p in parts)
    if name == "gaussian_nll":
        np.testing.assert_array_equal(parts[0], [[0, 1, 2, 3, 4, 5], [12, 13, 14, 15, 16, 17]])
        np.testing.assert_array_equal(parts[1], parts[0] + 6)
    else:
        np.testing.assert_array_equal(parts[0].reshape(2, -1), out)
