"""Core benchmarks: the reference LSTM, populations vs one-by-one `fit`, the matmul floor.

Every figure is a median measured in this process, beside the figure it is compared to.
"""

from __future__ import annotations

import math
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from fjax.config import LossConfig, ModelConfig, OptimConfig, TrainConfig
from fjax.data.scalers import fit_scaler
from fjax.datasets import load_dataset
from fjax.models import build_model
from fjax.optim import build_optimizer
from fjax.train import fit, init_member, train_population
from fjax.train.epoch import num_batches
from fjax.train.objective import supervised_loss

WINDOW, BATCH, HIDDEN, DENSE = 60, 64, 50, 25


def matmul_gflops(size: int = 2048, reps: int = 10) -> float:
    """The machine's fp32 matmul throughput through XLA (the floor's denominator)."""
    a = jnp.ones((size, size), jnp.float32)
    f = jax.jit(lambda a, b: a @ b)
    f(a, a).block_until_ready()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f(a, a).block_until_ready()
        times.append(time.perf_counter() - t)
    return 2 * size**3 / statistics.median(times) / 1e9


def reference_windows(window: int = WINDOW) -> dict:
    """The peers' recipe (../shared/peers/common.py): S&P 500 closes, min-max fitted on
    the first ceil(0.8 n) rows, windows of `window` closes predicting the next one, all
    of whose targets lie in the training span."""
    close = load_dataset("sp500")["Close"].to_numpy()
    train_len = math.ceil(0.8 * len(close))
    scaled = fit_scaler("minmax", close, np.arange(len(close)) < train_len).transform(close)
    starts = np.arange(window, train_len)
    x = np.stack([scaled[s - window:s] for s in starts])[..., None].astype(np.float32)
    y = scaled[starts][:, None].astype(np.float32)
    return {"x": x, "y": y}


def lstm_flops_per_sample(window: int = WINDOW, features: int = 1, hidden: int = HIDDEN,
                          layers: int = 2) -> float:
    """Forward + backward matmul FLOPs of the stacked LSTM per training sample (the
    backward pass costs two forward passes); the dense head is negligible."""
    per_step, inp = 0, features
    for _ in range(layers):
        per_step += 2 * (inp + hidden) * 4 * hidden
        inp = hidden
    return 3 * per_step * window


def reference_problem(epochs: int):
    model = build_model(ModelConfig(kind="lstm", hidden=(HIDDEN, HIDDEN), head=(DENSE,)), 1)
    data = reference_windows()
    loss = supervised_loss(model.apply, LossConfig(name="mse"))
    init = lambda key: model.init(key, data["x"][:1])  # noqa: E731
    train = TrainConfig(epochs=epochs, batch_size=BATCH)
    steps = epochs * num_batches(len(data["y"]), BATCH)
    return model, data, loss, init, train, steps


def reference_lstm(quick: bool) -> list[dict]:
    """(a) one reference LSTM trained with `fit`: s/epoch, compile, GFLOP/s vs peak."""
    epochs = 3 if quick else 6
    _, data, loss, init, train, steps = reference_problem(epochs)
    tx = build_optimizer(OptimConfig(name="adam", learning_rate=1e-3), steps)
    result = fit(init_member(init, tx, 0), loss, data, config=train)
    s_epoch = statistics.median(result.epoch_s[1:])
    flops = lstm_flops_per_sample() * num_batches(len(data["y"]), BATCH) * BATCH
    peak = matmul_gflops()
    achieved = flops / s_epoch / 1e9
    return [
        {"bench": "reference LSTM", "metric": "s/epoch (median after the first)", "value": s_epoch},
        {"bench": "reference LSTM", "metric": "compile s (trace + XLA)", "value": result.compile_s},
        {"bench": "reference LSTM", "metric": "final train loss", "value": float(result.history[-1]["loss"])},
        {"bench": "reference LSTM", "metric": "achieved GFLOP/s", "value": achieved},
        {"bench": "matmul floor", "metric": "fp32 matmul GFLOP/s (2048^2, XLA)", "value": peak},
        {"bench": "reference LSTM", "metric": "fraction of matmul peak", "value": achieved / peak},
    ]


def _population_vs_sequential(name: str, members: int, sequential: int, loss, init, data,
                              optim: OptimConfig, train: TrainConfig, steps: int,
                              chunk: int | None = None) -> list[dict]:
    """Train `members` learning-rate x seed members as one population and `sequential`
    of them one after another with `fit`; compare member-epochs per second."""
    lrs = list(np.geomspace(3e-4, 3e-3, 4))
    seeds = list(range(max(1, members // len(lrs))))
    if chunk is not None:
        train = TrainConfig(**{**train.__dict__, "member_chunk": chunk})
    pop = train_population(loss, init, data, optim=optim, train=train,
                           hparams={"learning_rate": lrs}, seeds=seeds)
    pop_epoch = statistics.median(pop.epoch_s[1:])
    tx = build_optimizer(optim, steps)
    seq_times = []
    for i in range(sequential):
        state = init_member(init, tx, seeds[i % len(seeds)], {"learning_rate": lrs[i % len(lrs)]})
        result = fit(state, loss, data, config=train)
        seq_times.append(statistics.median(result.epoch_s[1:]))
    one_epoch = statistics.median(seq_times)
    ratio = (pop.size / pop_epoch) / (1 / one_epoch)
    lift = "vmap" if chunk is None else f"lax.map chunks of {chunk}"
    return [
        {"bench": name, "metric": f"population of {pop.size} ({lift}): s/epoch", "value": pop_epoch},
        {"bench": name, "metric": f"one member with fit (median of {sequential}): s/epoch", "value": one_epoch},
        {"bench": name, "metric": f"population compile s", "value": pop.compile_s},
        {"bench": name, "metric": f"per-member throughput ratio, {pop.size} members", "value": ratio},
    ]


def lstm_population(quick: bool) -> list[dict]:
    """(b) 16 and 64 reference LSTMs as populations vs one-by-one `fit`."""
    _, data, loss, init, train, steps = reference_problem(2 if quick else 3)
    optim = OptimConfig(name="adam", learning_rate=1e-3)
    rows = []
    for members in ((16,) if quick else (16, 64)):
        rows += _population_vs_sequential("LSTM population", members, 2 if quick else 3,
                                          loss, init, data, optim, train, steps)
    return rows


def mlp_population(quick: bool) -> list[dict]:
    """(c) 256 MLPs (64, 64) on 1,000 x 60 tabular data vs sequential `fit` calls."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 60)).astype(np.float32)
    y = (x[:, :5].sum(1) > 0).astype(np.float32)[:, None]
    model = build_model(ModelConfig(kind="mlp", hidden=(64, 64)), 1)
    loss = supervised_loss(model.apply, LossConfig(name="bce"))
    init = lambda key: model.init(key, x[:1])  # noqa: E731
    train = TrainConfig(epochs=4 if quick else 10, batch_size=64)
    steps = train.epochs * num_batches(1000, 64)
    return _population_vs_sequential("MLP population", 256, 8 if quick else 32, loss, init,
                                      {"x": x, "y": y}, OptimConfig(name="adam"), train, steps)


SECTIONS = {
    "reference_lstm": reference_lstm,
    "lstm_population": lstm_population,
    "mlp_population": mlp_population,
}
