"""The training core's rules, each pinned by a case a one-line slip would break: early
stopping on plateaus, fresh dropout randomness per step, which parameters a run keeps,
how a population's table and best config read its history, and what a resume may
continue."""

import types
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fjax import losses
from fjax.config import LossConfig, OptimConfig, TrainConfig
from fjax.data.checks import check_weights
from fjax.models import LinearRegression
from fjax.optim import build_optimizer
from fjax.train import (TrainState, fit, init_member, make_eval_step, make_train_step,
                        train_population)
from fjax.train.checkpoint import Checkpointer
from fjax.train.epoch import evaluate, num_batches, train_epoch
from fjax.train.loop import LoopSpec, LoopState, track_best
from fjax.train.members import member_grid
from fjax.train.objective import output_dim, supervised_loss
from fjax.train.population import Population


def _close(a, b):
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-7), a, b)


def _track(scores, patience=2, min_delta=0.0):
    spec = LoopSpec(batch_size=1, n_batches=1, monitor="val_loss", sign=1.0,
                    min_delta=min_delta, patience=patience)
    loop = LoopState.start(TrainState.create(params={"w": jnp.zeros(2)}, tx=optax.sgd(0.1),
                                             rng=0))
    for s in scores:
        loop = track_best(spec, loop, loop.train, {"loss": jnp.float32(0.1),
                                                   "val_loss": jnp.float32(s)})
    return int(loop.best_epoch), int(loop.epoch), bool(loop.stopped)


def test_a_plateau_is_not_an_improvement():
    """An exactly repeated value (a plateaued AUC or loss) must not reset patience."""
    assert _track([1.0, 1.0, 1.0, 1.0]) == (1, 3, True)


def test_an_improvement_resets_patience():
    assert _track([1.0, 1.1, 0.9, 1.0, 1.0, 1.0]) == (3, 5, True)


def test_evaluate_is_the_weighted_mean_over_all_rows_not_over_batches():
    """10 rows in batches of 4: the last batch holds 2 rows; the result must be the
    weighted mean over rows (float64 numpy), not the mean of the three batch means."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(10, 1)).astype(np.float32), rng.normal(size=(10, 1)).astype(np.float32)
    w = rng.uniform(0.5, 2.0, size=10).astype(np.float32)

    def eval_step(params, batch):
        return {"loss": losses.mse(batch["x"] * params, batch["y"], batch["weight"])}

    got = evaluate(eval_step, jnp.float32(1.5), {"x": jnp.asarray(x), "y": jnp.asarray(y)},
                   jnp.asarray(w), batch_size=4)
    per_row = ((1.5 * x.astype(np.float64) - y) ** 2)[:, 0]
    assert float(got["loss"]) == pytest.approx(np.average(per_row, weights=w), rel=1e-5)


def test_an_epoch_and_an_evaluation_take_numpy_arrays():
    """train_epoch and evaluate, lifted into a loop of one's own with numpy data (as fit
    takes it), failed with TracerArrayConversionError: numpy arrays gathered by a traced
    index. One batch of all 10 rows, so the update is one float64 gradient step."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(10, 1)).astype(np.float32), rng.normal(size=(10, 1)).astype(np.float32)
    w = rng.uniform(0.5, 2.0, size=10).astype(np.float32)

    def loss(params, batch, rng):
        return losses.mse(batch["x"] * params["w"], batch["y"], batch["weight"]), {}
    state = TrainState.create(params={"w": jnp.float32(1.5)}, tx=optax.sgd(0.1), rng=0)
    state, metrics = train_epoch(make_train_step(loss), state, {"x": x, "y": y}, w, 0,
                                 batch_size=10, n_batches=1)
    x64, y64 = x[:, 0].astype(np.float64), y[:, 0].astype(np.float64)
    grad = np.average(2 * (1.5 * x64 - y64) * x64, weights=w)
    np.testing.assert_allclose(metrics["loss"], np.average((1.5 * x64 - y64) ** 2, weights=w),
                               rtol=1e-5)
    np.testing.assert_allclose(state.params["w"], 1.5 - 0.1 * grad, rtol=1e-5)
    got = evaluate(make_eval_step(loss), state.params, {"x": x, "y": y}, w, batch_size=4)
    w1 = float(state.params["w"])
    np.testing.assert_allclose(got["loss"], np.average((w1 * x64 - y64) ** 2, weights=w),
                               rtol=1e-5)


def _probe_loss(params, batch, rng):
    """A loss whose aux reports the randomness it was given."""
    loss = losses.weighted_mean(jnp.broadcast_to(jnp.sum(params["w"] ** 2), batch["weight"].shape),
                                batch["weight"])
    u = jnp.float32(-1.0) if rng is None else jax.random.uniform(rng)
    return loss, {"u": u}


def test_each_step_draws_new_dropout_randomness_and_evaluation_draws_none():
    state = TrainState.create(params={"w": jnp.ones(2)}, tx=optax.sgd(0.1), rng=0)
    batch = {"x": jnp.zeros((4, 1)), "weight": jnp.ones(4)}
    step = make_train_step(_probe_loss)
    state, m1 = step(state, batch)
    state, m2 = step(state, batch)
    assert float(m1["u"]) != float(m2["u"])                 # not one mask for every step
    assert float(make_eval_step(_probe_loss)(state.params, batch)["u"]) == -1.0   # rng None


def _growing_loss(params, batch, rng):
    # sgd lr 1.5 on (w - 1)^2 multiplies w - 1 by -2 every step: the loss grows
    per = jnp.broadcast_to((params["w"] - 1.0) ** 2, batch["weight"].shape)
    return losses.weighted_mean(per, batch["weight"]), {}


def test_without_validation_fit_keeps_the_last_parameters():
    """restore_best selects on validation only; without val_data the final params are the
    last epoch's, not the epoch of lowest training loss."""
    state = TrainState.create(params={"w": jnp.float32(1.1)}, tx=optax.sgd(1.5), rng=0)
    res = fit(state, _growing_loss, {"x": np.zeros((4, 1), np.float32)},
              config=TrainConfig(epochs=3, batch_size=4), callbacks=())
    assert float(res.state.params["w"]) == pytest.approx(1.0 + 0.1 * (-2.0) ** 3, rel=1e-5)


def test_pinball_output_has_one_column_per_target_entry_and_quantile():
    cfg = LossConfig(name="pinball", quantiles=(0.1, 0.5, 0.9))
    assert output_dim(cfg, (4,)) == 12 and output_dim(cfg, ()) == 3


def test_table_reads_a_stopped_members_own_last_epoch_and_nan_when_unselected():
    """Member 1 stopped after epoch 2 (its epoch-3 value was computed and discarded, so it
    differs); member 2 never had a selected epoch."""
    members = member_grid({"learning_rate": [1e-3, 1e-2, 1e-1]}, seeds=[0], n_folds=1)
    history = [{"val_loss": np.array([0.3, 0.9, 0.8]), "epoch": 1, "time_s": 0.0},
               {"val_loss": np.array([0.4, 0.5, 0.8]), "epoch": 2, "time_s": 0.0},
               {"val_loss": np.array([0.6, 0.7, 0.8]), "epoch": 3, "time_s": 0.0}]
    loop = types.SimpleNamespace(epoch=np.array([3, 2, 3]), best_epoch=np.array([1, 2, 0]),
                                 diverged_epoch=np.array([0, 0, 0]))
    pop = Population(loop=loop, params=None, members=members, history=history,
                     monitor="val_loss", mode="min", compile_s=0.0, compilations=0,
                     train_s=0.0, epoch_s=[])
    table = pop.table()
    assert table["final_val_loss"].tolist() == [0.6, 0.5, 0.8]
    assert table["best_val_loss"].tolist()[:2] == [0.3, 0.5]
    assert np.isnan(table["best_val_loss"].iloc[2])


def test_best_config_picks_the_smallest_mean_when_minimising_and_largest_when_maximising():
    members = member_grid({"learning_rate": [1e-3, 1e-2]}, seeds=[0, 1], n_folds=1)
    val = np.where(members["learning_rate"].to_numpy() == 1e-3, 0.6, 0.4) + 0.01 * members["seed"]
    loop = types.SimpleNamespace(epoch=np.ones(4, int), best_epoch=np.ones(4, int),
                                 diverged_epoch=np.zeros(4, int))
    pop = Population(loop=loop, params=None, members=members,
                     history=[{"val_loss": val, "epoch": 1, "time_s": 0.0}],
                     monitor="val_loss", mode="min", compile_s=0.0, compilations=0,
                     train_s=0.0, epoch_s=[])
    assert pop.best_config() == {"learning_rate": 1e-2}
    assert pop.best_config(mode="max") == {"learning_rate": 1e-3}


_RNG = np.random.default_rng(0)
_X = _RNG.normal(size=(64, 4)).astype(np.float32)
_Y = (_X @ _RNG.normal(size=4)).astype(np.float32)[:, None]
_DATA = {"x": _X, "y": _Y}
_MODEL = LinearRegression(1)
_INIT = lambda key: _MODEL.init(key, _X[:1])  # noqa: E731


def _mse():
    return supervised_loss(_MODEL.apply, LossConfig(name="mse"))


def test_members_still_training_after_another_stopped_match_their_own_fit():
    """Member 0 diverges in its first epochs and stops; member 1 trains on, and its
    shuffles (drawn from the population's current epoch) must stay those of its own fit."""
    optim, cfg = OptimConfig(name="sgd", learning_rate=0.01), TrainConfig(epochs=5, batch_size=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pop = train_population(_mse(), _INIT, _DATA, optim=optim, train=cfg,
                               hparams={"learning_rate": [50.0, 0.01]}, val_data=_DATA,
                               callbacks=())
    assert int(pop.loop.epoch[0]) < 5 and int(pop.loop.epoch[1]) == 5
    tx = build_optimizer(optim, cfg.epochs * num_batches(64, 16))
    one = fit(init_member(_INIT, tx, 0, {"learning_rate": 0.01}), _mse(), _DATA, config=cfg,
              val_data=_DATA, callbacks=())
    _close(one.state.params, pop.member_params(1))


def test_a_checkpoint_of_a_shorter_decaying_schedule_is_not_resumed(tmp_path):
    """With a cosine schedule, more epochs is another schedule: resuming would continue
    the old decay."""
    def run(epochs):
        return train_population(_mse(), _INIT, _DATA, optim=OptimConfig(schedule="cosine"),
                                train=TrainConfig(epochs=epochs, batch_size=16),
                                hparams={"learning_rate": [1e-3, 1e-2]}, val_data=_DATA,
                                callbacks=[Checkpointer(str(tmp_path))])
    run(1)
    with pytest.raises(ValueError, match="other inputs"):
        run(3)


def test_a_run_resumed_twice_keeps_its_whole_history(tmp_path):
    def run(epochs):
        state = TrainState.create(params=_INIT(jax.random.PRNGKey(0)), tx=optax.adam(1e-2), rng=0)
        return fit(state, _mse(), _DATA, config=TrainConfig(epochs=epochs, batch_size=16),
                   callbacks=[Checkpointer(str(tmp_path))])
    run(1)
    run(2)
    third = run(3)
    assert [h["epoch"] for h in third.history] == [1, 2, 3]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_weights_are_refused(bad):
    with pytest.raises(ValueError, match="finite"):
        check_weights(np.array([1.0, bad, 1.0]), 3)


def test_validation_that_is_only_logged_never_warns_about_selection():
    """restore_best=False and no patience: validation is only logged, so an undefined
    monitor selects nothing and must not warn that no epoch was selected."""
    def eval_fn(params, d, w):
        return {"auc": jnp.float32(jnp.nan)}     # e.g. AUC on rows of one class
    state = TrainState.create(params=_INIT(jax.random.PRNGKey(0)), tx=optax.adam(1e-2), rng=0)
    cfg = TrainConfig(epochs=2, batch_size=16, restore_best=False, monitor="val_auc", mode="max")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = fit(state, _mse(), _DATA, config=cfg, val_data=_DATA, eval_fn=eval_fn, callbacks=())
    assert res.epochs_run == 2 and res.best_epoch == 0


def test_summary_std_is_the_sample_std_over_seeds():
    """Two seeds at 0.4 and 0.6: std 0.1414 (ddof 1, as credit and fraud report), not 0.1."""
    members = member_grid({}, seeds=[0, 1], n_folds=1)
    loop = types.SimpleNamespace(epoch=np.ones(2, int), best_epoch=np.ones(2, int),
                                 diverged_epoch=np.zeros(2, int))
    pop = Population(loop=loop, params=None, members=members,
                     history=[{"val_loss": np.array([0.4, 0.6]), "epoch": 1, "time_s": 0.0}],
                     monitor="val_loss", mode="min", compile_s=0.0, compilations=0,
                     train_s=0.0, epoch_s=[])
    row = pop.summary().iloc[0]
    assert row["val_loss_mean"] == pytest.approx(0.5)
    assert row["val_loss_std"] == pytest.approx(np.std([0.4, 0.6], ddof=1))
