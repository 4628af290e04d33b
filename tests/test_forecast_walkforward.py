"""Walk-forward origins as population members equal the same origins trained one by one
with `fjax.train.fit` (same keys, same optimizer), up to batched-kernel tolerance, and an
origin forecasts as a single split ending where its test block starts."""

import dataclasses

import chex
import jax
import numpy as np
import pandas as pd
import pytest

from fjax.config import ModelConfig, SweepConfig, TrainConfig
from fjax.optim import build_optimizer
from fjax.tasks.forecast import Config, ForecastDataConfig, run
from fjax.tasks.forecast.data import prepare
from fjax.tasks.forecast.training import MaskedEval, build_trainable, train
from fjax.train import fit, init_member
from fjax.train.fit import default_eval_fn
from fjax.train.epoch import num_batches


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    rng = np.random.default_rng(3)
    n = 220
    path = tmp_path_factory.mktemp("wf") / "rw.csv"
    pd.DataFrame({"Date": pd.bdate_range("2022-01-03", periods=n),
                  "price": 20 * np.exp(np.cumsum(0.02 * rng.standard_normal(n)))}).to_csv(path)
    cfg = Config(data=ForecastDataConfig(path=str(path), target="price", window=8, horizon=2,
                                         origins=3, training="rolling", rolling_rows=120),
                 model=ModelConfig(kind="mlp", hidden=(8,)),
                 train=TrainConfig(epochs=3, batch_size=16), sweep=SweepConfig(seeds=2))
    data = prepare(cfg.data)
    setup, results = train(cfg, data, progress=False)
    return cfg, data, setup, results[0].population


def test_members_are_seeds_by_origins_with_the_test_block_as_monitor(trained):
    cfg, data, setup, pop = trained
    assert pop.size == 6
    assert pop.members[["seed", "fold"]].values.tolist() == \
        [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]
    assert setup.monitor_only and setup.config.train.restore_best is False
    assert len(pop.history) == 3 and np.asarray(pop.history[0]["val_loss"]).shape == (6,)


def test_members_equal_separately_trained_origins(trained):
    cfg, data, setup, pop = trained
    trainable = build_trainable(cfg, data.x)
    steps = cfg.train.epochs * num_batches(int(data.plan.train.sum(axis=1).max()),
                                           cfg.train.batch_size)
    tx = build_optimizer(cfg.optim, steps)
    one_by_one = dataclasses.replace(cfg.train, restore_best=False)
    for member in (1, 5):
        seed, k = int(pop.members.seed[member]), int(pop.members.fold[member])
        result = fit(init_member(trainable.init_fn, tx, seed), trainable.loss_fn,
                     {"x": data.x, "y": data.y}, config=one_by_one,
                     weights=data.stacked(data.plan.train)[k])
        chex.assert_trees_all_close(pop.member_params(member), result.state.params,
                                    rtol=1e-5, atol=1e-6)
    # The check can fail: different origins (and seeds) really train different models.
    diff = jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))),
                        pop.member_params(0), pop.member_params(1))
    assert max(jax.tree.leaves(diff)) > 1e-3


def test_span_evaluation_equals_the_weighted_mean_over_every_window(trained):
    cfg, data, setup, pop = trained
    trainable = build_trainable(cfg, data.x)
    arrays = {"x": jax.numpy.asarray(data.x), "y": jax.numpy.asarray(data.y)}
    for k in range(data.plan.k):
        weights = jax.numpy.asarray(data.stacked(data.plan.test)[k])
        span = MaskedEval(trainable.loss_fn, setup.eval_rows)(
            pop.member_params(k), arrays, weights)
        full = default_eval_fn(trainable.loss_fn, 64)(pop.member_params(k), arrays, weights)
        np.testing.assert_allclose(span["loss"], full["loss"], rtol=1e-5)


def test_the_last_origin_forecasts_as_a_single_split_at_its_cut(tmp_path):
    """Origin 2 of 2 (test blocks cut at rows 140 and 170 of 200) trains on rows [0, 170)
    and tests [170, 200), as one split with test_fraction 0.15 does: scaled by its own
    training rows, it sees the same training windows, trains the same model (full
    batches: only the summation order differs) and forecasts the same prices. Scaled by
    the first origin's rows [0, 140), its inputs and targets differ (the rising prices
    of rows [140, 170) pass that span's maximum) and so do its prices."""
    rng = np.random.default_rng(5)
    n = 200
    path = tmp_path / "p.csv"
    price = 20 * np.exp(np.cumsum(0.01 + 0.02 * rng.standard_normal(n)))
    assert price[140:170].max() > price[:140].max()
    pd.DataFrame({"Date": pd.bdate_range("2022-01-03", periods=n), "price": price}).to_csv(path)

    def forecasts(name, **data):
        cfg = Config(out=str(tmp_path / name),
                     data=ForecastDataConfig(path=str(path), target="price", window=8, **data),
                     model=ModelConfig(kind="mlp", hidden=(8,)),
                     train=TrainConfig(epochs=5, batch_size=256))
        frame = pd.read_csv(run(cfg, progress=False) / "forecast.csv")
        return frame[frame["date"] >= str(pd.bdate_range("2022-01-03", periods=n)[170].date())]

    walk = forecasts("walk", test_fraction=0.3, origins=2)
    single = forecasts("single", test_fraction=0.15)
    assert (walk["origin"] == 2).all() and len(walk) == len(single) == 30
    np.testing.assert_allclose(walk["forecast"], single["forecast"], rtol=1e-5)
    np.testing.assert_array_equal(walk["actual"], single["actual"])
