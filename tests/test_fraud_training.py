"""The fraud models' plumbing: legitimate-only autoencoder folds, the anomaly feature of
the combined model, the GRU on sequence stacks, and chunked scoring."""


import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from fjax.data.split_stack import stack_scaled
from fjax.data.splits import Folds
from fjax.tasks.fraud import Config
from fjax.tasks.fraud.presets import preset
from fjax.tasks.fraud.training import (ModelRun, make_trainable, model_folds, score_rows,
                                       with_anomaly_feature)

RNG = np.random.default_rng(0)
N, D = 60, 3
X = RNG.normal(size=(N, D)).astype(np.float32)
Y = (RNG.random(N) < 0.3).astype(np.int8)
TRAIN = [np.arange(N) < 20, (np.arange(N) >= 20) & (np.arange(N) < 40)]
TEST = [(np.arange(N) >= 40) & (np.arange(N) < 50), np.arange(N) >= 50]
PERIODS = Folds(train=np.array(TRAIN, np.float32), val=np.array(TEST, np.float32))
LABELS = {"y": Y.astype(np.float32)[:, None]}


def test_the_autoencoder_trains_on_legitimate_rows_only():
    stack = stack_scaled(X, PERIODS, shared=LABELS)
    folds = model_folds(stack, "autoencoder")
    assert np.all(stack.data["y"][folds.train.sum(axis=0) > 0] == 0)
    np.testing.assert_array_equal(folds.train.sum(axis=1),
                                  [int((Y[t] == 0).sum()) for t in TRAIN])
    np.testing.assert_array_equal(folds.val, stack.folds.val)
    assert model_folds(stack, "mlp") is stack.folds


def test_the_anomaly_feature_is_standardized_on_each_training_week():
    stack = stack_scaled(X, PERIODS, shared=LABELS)
    score = jax.jit(lambda p, x: p["a"] * jnp.sum(jnp.square(x), axis=1) + 1.0)
    members = pd.DataFrame({"member": [0, 1], "seed": [0, 0], "fold": [0, 1]})
    run = ModelRun(name="autoencoder", config=Config(), members=members,
                   params={"a": jnp.array([1.0, 2.0])}, score=score, test_scores=[],
                   history=[], compile_s=0.0, train_s=0.0)
    x, out = stack.data["x"], with_anomaly_feature(stack, run).data["x"]
    assert out.shape == (len(x), D + 1)
    np.testing.assert_array_equal(out[:, :D], x)
    for k in range(2):
        tr = stack.folds.train[k] > 0
        np.testing.assert_allclose(out[tr, D].mean(), 0, atol=1e-5)
        np.testing.assert_allclose(out[tr, D].std(), 1, atol=1e-5)
        err = np.log(run.params["a"][k] * np.sum(x[stack.block == k] ** 2, axis=1) + 1.0)
        z = (err - err[tr[stack.block == k]].mean()) / err[tr[stack.block == k]].std()
        np.testing.assert_allclose(out[stack.block == k, D], z, rtol=1e-4, atol=1e-5)


def test_the_gru_preset_trains_on_sequence_stacks():
    hist = np.stack([np.maximum(np.arange(N) - 1, -1), np.arange(N)], axis=1)
    stack = stack_scaled(X, PERIODS, shared=LABELS, history=hist)
    x, y = stack.data["x"], stack.data["y"]
    cfg = preset(Config(), "gru")
    trainable, score = make_trainable(cfg, x, eval_size=16)
    params = jax.jit(trainable.init_fn)(jax.random.PRNGKey(0))
    batch = {"x": jnp.asarray(x[:8]), "y": jnp.asarray(y[:8]), "weight": jnp.ones(8)}
    loss, _ = jax.jit(trainable.loss_fn)(params, batch, jax.random.PRNGKey(1))
    assert np.isfinite(float(loss))
    metrics = jax.jit(trainable.eval_fn)(params, stack.data, jnp.asarray(stack.folds.val[0]))
    assert set(metrics) == {"auc", "average_precision"}
    assert jax.jit(score)(params, jnp.asarray(x[:5])).shape == (5,)


def test_chunked_scoring_equals_one_call():
    score = jax.jit(lambda p, x: x @ p)
    w = jnp.asarray(RNG.normal(size=D), jnp.float32)
    x = RNG.normal(size=(40_000, D)).astype(np.float32)
    rows = RNG.permutation(40_000)[:33_000]
    np.testing.assert_allclose(score_rows(score, w, x, rows), x[rows] @ np.asarray(w),
                               rtol=1e-5, atol=1e-5)
