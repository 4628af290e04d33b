"""Models with state beside their parameters (flax's batch norm `batch_stats`): the loss
returns the new state in `aux["model_state"]`, and the step stores it in `params`."""

from pathlib import Path

import flax.errors
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fjax.config import LossConfig, OptimConfig, TrainConfig
from fjax.optim import build_optimizer
from fjax.train import TrainState, fit, init_member, make_train_step, train_population
from fjax.train.epoch import epoch_permutation
from fjax.train.objective import supervised_loss

N, D = 64, 3
RNG = np.random.default_rng(0)
X = (RNG.normal(size=(N, D)) * [1.0, 3.0, 0.5] + [2.0, -1.0, 0.0]).astype(np.float32)
Y = (X @ np.array([1.0, -0.5, 2.0]) + 0.1 * RNG.normal(size=N)).astype(np.float32)


class Normed(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False, mask=None):
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x, mask=mask)
        return nn.Dense(1)(h)[:, 0]


MODEL = Normed()


def mse_loss(params, batch, rng):
    """A researcher's loss: training mode returns the new batch statistics."""
    w = batch["weight"]
    if rng is None:
        pred, model_state = MODEL.apply(params, batch["x"]), {}
    else:
        pred, model_state = MODEL.apply(params, batch["x"], train=True,   # no padding rows
                                        mask=batch["weight"][:, None] > 0,
                                        mutable=["batch_stats"])
    loss = jnp.sum(w * (pred - batch["y"]) ** 2) / jnp.maximum(w.sum(), 1e-12)
    return loss, {"model_state": model_state}


def reference(variables, tx, steps):
    """Full-batch steps in a plain optax loop over the trainable parameters only, the
    batch statistics as flax's BatchNorm defines them, in float64 numpy: momentum 0.9,
    biased variance."""
    params, stats = variables["params"], jax.tree.map(np.float64, variables["batch_stats"])
    opt = tx.init(params)
    x = X.astype(np.float64)
    for _ in range(steps):
        def loss(p):
            out, _ = MODEL.apply({"params": p, "batch_stats": variables["batch_stats"]}, X,
                                 train=True, mutable=["batch_stats"])
            return jnp.mean((out - Y) ** 2)
        updates, opt = tx.update(jax.grad(loss)(params), opt, params)
        params = optax.apply_updates(params, updates)
        bn = stats["BatchNorm_0"]
        bn["mean"] = 0.9 * bn["mean"] + 0.1 * x.mean(0)
        bn["var"] = 0.9 * bn["var"] + 0.1 * x.var(0)
    return params, stats


def test_batch_statistics_train_beside_the_parameters():
    """Before, `aux["model_state"]` went into the metrics (an error when averaged), and a
    loss could not update the statistics at all: they stayed at their initial 0 and 1, and
    adamw's weight decay shrank them."""
    variables = MODEL.init(jax.random.PRNGKey(0), X[:1])
    tx = optax.adamw(1e-2, weight_decay=0.5)
    state = TrainState.create(params=variables, tx=tx, rng=0)
    result = fit(state, mse_loss, {"x": X, "y": Y}, val_data={"x": X, "y": Y},
                 config=TrainConfig(epochs=5, batch_size=N), callbacks=())
    params, stats = reference(variables, tx, 5)
    got = result.state.params
    for want, have in zip(jax.tree.leaves(params), jax.tree.leaves(got["params"])):
        np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-6)
    for want, have in zip(jax.tree.leaves(stats), jax.tree.leaves(got["batch_stats"])):
        np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-6)
    assert set(result.history[-1]) == {"loss", "val_loss", "epoch", "time_s"}


def test_a_population_member_with_batch_statistics_is_its_fit():
    init_fn = lambda key: MODEL.init(key, X[:1])  # noqa: E731
    config = TrainConfig(epochs=3, batch_size=16)
    pop = train_population(mse_loss, init_fn, {"x": X, "y": Y}, optim=OptimConfig(name="adam"),
                           train=config, hparams={"learning_rate": [1e-3, 1e-2]},
                           seeds=[0, 1], callbacks=())
    for i, row in pop.members.iterrows():
        state = init_member(init_fn, build_optimizer(OptimConfig(name="adam"), 3 * 4),
                            int(row["seed"]), {"learning_rate": row["learning_rate"]})
        alone = fit(state, mse_loss, {"x": X, "y": Y}, config=config, callbacks=())
        for want, have in zip(jax.tree.leaves(alone.state.params),
                              jax.tree.leaves(pop.member_params(i))):
            np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-6)
    assert np.all(pop.params["batch_stats"]["BatchNorm_0"]["var"] != 1.0)   # they trained


def test_statistics_without_a_place_in_the_parameters_are_named():
    variables = MODEL.init(jax.random.PRNGKey(0), X[:1])
    state = TrainState.create(params={"params": variables["params"]}, tx=optax.sgd(0.1), rng=0)

    def loss(params, batch, rng):   # the statistics passed from outside the state
        return mse_loss({**params, "batch_stats": variables["batch_stats"]}, batch, rng)
    with pytest.raises(ValueError, match=r"aux\['model_state'\] with \['batch_stats'\], but the "
                                         r"parameters hold \['params'\]; .*model.init"):
        fit(state, loss, {"x": X, "y": Y}, config=TrainConfig(epochs=1), callbacks=())


def test_masked_batch_statistics_leave_out_the_padding_of_a_partial_batch():
    """64 rows in batches of 40: the second holds 24 rows and 16 of padding (weight 0),
    which the mask keeps out of the statistics. Parameters fixed (learning rate 0)."""
    state = TrainState.create(params=MODEL.init(jax.random.PRNGKey(0), X[:1]),
                              tx=optax.sgd(0.0), rng=3)
    result = fit(state, mse_loss, {"x": X, "y": Y}, config=TrainConfig(epochs=1, batch_size=40),
                 callbacks=())
    order = np.asarray(epoch_permutation(state.rng, jnp.int32(0), N))
    mean, var = np.zeros(D), np.ones(D)
    for rows in (X[order[:40]].astype(np.float64), X[order[40:]].astype(np.float64)):
        mean, var = 0.9 * mean + 0.1 * rows.mean(0), 0.9 * var + 0.1 * rows.var(0)
    stats = result.state.params["batch_stats"]["BatchNorm_0"]
    np.testing.assert_allclose(stats["mean"], mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats["var"], var, rtol=1e-5, atol=1e-6)


class NormedByDeterministic(nn.Module):
    """Batch norm keyed on the `deterministic` that supervised_loss passes."""
    @nn.compact
    def __call__(self, x, deterministic: bool = True):
        return nn.Dense(1)(nn.BatchNorm(use_running_average=deterministic)(x))


def test_supervised_loss_over_batch_norm_points_to_the_recipe():
    """supervised_loss applies the model without `mutable`, so its batch norm raised flax's
    "collection batch_stats is immutable", which did not say that such a model needs a
    loss of its own, nor where the docs show one. The passages it names exist."""
    model = NormedByDeterministic()
    state = TrainState.create(params=model.init(jax.random.PRNGKey(0), X[:1]),
                              tx=optax.sgd(0.1), rng=0)
    loss_fn = supervised_loss(model.apply, LossConfig(name="mse"))
    with pytest.raises(ValueError, match=r"mutable=\['batch_stats'\].*aux\['model_state'\] "
                                         r"\(README, 'Batch norm:'; docs/DEVELOPING.md, "
                                         r"'Training core'\)") as info:
        fit(state, loss_fn, {"x": X, "y": Y[:, None]}, config=TrainConfig(epochs=1),
            callbacks=())
    assert isinstance(info.value.__cause__, flax.errors.ModifyScopeVariableError)
    root = Path(__file__).resolve().parents[1]
    assert "\nBatch norm:" in (root / "README.md").read_text()
    developing = (root / "docs" / "DEVELOPING.md").read_text()
    section = developing.split("## Training core", 1)[1].split("\n## ", 1)[0]
    assert "aux[\"model_state\"]" in section and "mutable=[\"batch_stats\"]" in section


def forgetful_loss(params, batch, rng):
    """The recipe's loss, but for the new statistics, which it drops."""
    return mse_loss(params, batch, rng)[0], {}


STATS_REFUSED = (r"params hold a 'batch_stats' collection .* aux has no 'model_state': the "
                 r"model ran on its running averages .* or the loss drops the new statistics"
                 r".*mutable=\['batch_stats'\].*aux\['model_state'\] \(README, 'Batch norm:'")


class NormedByTrain(nn.Module):
    """Batch norm keyed on `train`, which supervised_loss never passes (bn2.py)."""
    @nn.compact
    def __call__(self, x, train: bool = False):
        return nn.Dense(1)(nn.BatchNorm(use_running_average=not train)(x))


@pytest.mark.parametrize("loss_name", ["supervised_loss", "forgetful"])
def test_a_loss_that_leaves_batch_statistics_to_the_optimizer_is_refused(loss_name):
    """A model keyed on `train` under supervised_loss (which passes `deterministic`, dropped
    as unknown) always ran on its running averages, and a loss without aux["model_state"]
    dropped the new statistics: with no error, adam trained the running mean and variance
    as weights (3 epochs: mean ~±0.0009, var 1.0002-1.011, not the data's). fit and
    train_population now refuse both before training, pointing to the recipe."""
    if loss_name == "supervised_loss":
        model, data = NormedByTrain(), {"x": X, "y": Y[:, None]}
        loss_fn = supervised_loss(model.apply, LossConfig(name="mse"))
    else:
        model, data, loss_fn = MODEL, {"x": X, "y": Y}, forgetful_loss
    init_fn = lambda key: model.init(key, X[:1])  # noqa: E731
    state = TrainState.create(params=init_fn(jax.random.PRNGKey(0)), tx=optax.adam(1e-3), rng=0)
    with pytest.raises(ValueError, match=STATS_REFUSED):
        fit(state, loss_fn, data, config=TrainConfig(epochs=1, batch_size=16), callbacks=())
    with pytest.raises(ValueError, match=STATS_REFUSED):
        train_population(loss_fn, init_fn, data, optim=OptimConfig(name="adam"),
                         train=TrainConfig(epochs=1, batch_size=16), seeds=[0], callbacks=())


def test_a_loop_of_ones_own_refuses_batch_statistics_left_to_the_optimizer():
    """make_train_step ran no check_loss_fn (fit's and train_population's), so a loop of
    one's own trained the running mean and variance as weights, silently; its trace now
    refuses with the same message (nothing is added per step)."""
    model = NormedByTrain()
    step = jax.jit(make_train_step(supervised_loss(model.apply, LossConfig(name="mse"))))
    state = TrainState.create(params=model.init(jax.random.PRNGKey(0), X[:1]),
                              tx=optax.adam(1e-3), rng=0)
    batch = {"x": X[:16], "y": Y[:16, None], "weight": np.ones(16, np.float32)}
    with pytest.raises(ValueError, match=STATS_REFUSED):
        step(state, batch)


def test_statistics_frozen_on_purpose_pass_as_an_empty_model_state():
    """The refusal's stated way out: aux["model_state"] = {} keeps the statistics as they
    are (the optimizer kept off them here by a zero learning rate)."""
    variables = MODEL.init(jax.random.PRNGKey(0), X[:1])

    def frozen_loss(params, batch, rng):
        pred = MODEL.apply(params, batch["x"])
        w = batch["weight"]
        return jnp.sum(w * (pred - batch["y"]) ** 2) / jnp.maximum(w.sum(), 1e-12), {
            "model_state": {}}
    state = TrainState.create(params=variables, tx=optax.sgd(0.0), rng=0)
    result = fit(state, frozen_loss, {"x": X, "y": Y}, config=TrainConfig(epochs=1),
                 callbacks=())
    stats = result.state.params["batch_stats"]["BatchNorm_0"]
    np.testing.assert_array_equal(stats["mean"], np.zeros(D))
    np.testing.assert_array_equal(stats["var"], np.ones(D))



class TrainingByDefault(nn.Module):
    """Dropout, and batch norm where `norm`, keyed on `train`, training unless told
    (PyTorch's habit)."""
    norm: bool = True

    @nn.compact
    def __call__(self, x, train: bool = True, mask=None):
        if self.norm:
            x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x, mask=mask)
        return nn.Dense(1)(nn.Dropout(0.5, deterministic=not train)(x))[:, 0]


@pytest.mark.parametrize("norm", [True, False])
def test_predicting_with_a_model_that_trains_by_default_names_the_fix(norm):
    """`Population.predict` passes `deterministic` only where the apply takes it, so a model
    keyed on `train=True` ran in training mode: batch norm's failure was worded for
    supervised_loss ("write your own loss"), dropout's was flax's missing key; neither
    said to apply it in eval mode. The fix the message names predicts as numpy's float64
    eval-mode model (running averages, no dropout)."""
    import functools
    model = TrainingByDefault(norm)

    def loss(params, batch, rng):
        w = batch["weight"]
        pred, state = model.apply(params, batch["x"], train=True, mask=w[:, None] > 0,
                                  mutable=["batch_stats"], rngs={"dropout": rng})
        return jnp.sum(w * (pred - batch["y"]) ** 2) / jnp.maximum(w.sum(), 1e-12), {
            "model_state": state if norm else {}}
    pop = train_population(loss, lambda k: model.init(k, X[:1], train=False), {"x": X, "y": Y},
                           optim=OptimConfig(name="adam"), train=TrainConfig(epochs=2),
                           callbacks=())
    with pytest.raises(ValueError, match=r"applied in eval mode, ran in training mode .*"
                                         r"functools.partial\(model.apply, train=False\)"):
        pop.predict(model.apply, X)
    got = pop.predict(functools.partial(model.apply, train=False), X)[0]
    p = jax.tree.map(lambda a: np.asarray(a[0], np.float64), pop.params)
    h = X.astype(np.float64)
    if norm:
        bn, scale = p["batch_stats"]["BatchNorm_0"], p["params"]["BatchNorm_0"]
        h = (h - bn["mean"]) / np.sqrt(bn["var"] + 1e-5) * scale["scale"] + scale["bias"]
    dense = p["params"]["Dense_0"]
    np.testing.assert_allclose(got, (h @ dense["kernel"] + dense["bias"])[:, 0], rtol=1e-5,
                               atol=1e-6)


class BothSwitches(nn.Module):
    """Takes `deterministic`, but its dropout is keyed on `train`, training unless told."""

    @nn.compact
    def __call__(self, x, deterministic: bool = True, train: bool = True):
        return nn.Dense(1)(nn.Dropout(0.5, deterministic=not train)(x))[:, 0]


def test_predicting_with_a_model_whose_deterministic_does_not_switch_it_off():
    """A model that takes `deterministic` but trains on by another switch was told "it
    takes no `deterministic`" and to name its switch so, which it had. The error says that
    deterministic=True was overridden; its fix predicts as numpy's float64 eval-mode model
    (no dropout)."""
    import functools
    model = BothSwitches()
    pop = train_population(lambda p, b, r: (jnp.sum(b["weight"]) * 0.0, {}),
                           lambda k: model.init(k, X[:1], train=False), {"x": X, "y": Y},
                           optim=OptimConfig(name="adam"), train=TrainConfig(epochs=1),
                           callbacks=())
    with pytest.raises(ValueError, match=r"it took deterministic=True, which another switch "
                                         r"\(e.g. `train`\) overrides; apply it in eval mode "
                                         r"yourself") as err:
        pop.predict(model.apply, X)
    assert "takes no `deterministic`" not in str(err.value)
    got = pop.predict(functools.partial(model.apply, train=False), X)[0]
    dense = jax.tree.map(lambda a: np.asarray(a[0], np.float64), pop.params)["params"]["Dense_0"]
    np.testing.assert_allclose(got, (X.astype(np.float64) @ dense["kernel"] + dense["bias"])[:, 0],
                               rtol=1e-5, atol=1e-6)
