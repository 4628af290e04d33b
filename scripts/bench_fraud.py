"""Fraud benchmarks: transactions scored per second by the compiled scorers, and
transactions simulated per second and feature time (the handbook's generator at its
default scale).

    python scripts/bench.py --only fraud_scoring,fraud_simulator

The scorer is the trained model's `score(params, x)` under `jax.jit`, called on
device-resident batches one after another (dispatch is asynchronous; the clock stops
when the last batch is ready). Target on 2 CPU cores: 1 M transactions/s for the MLP.
"""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from fjax.config import ModelConfig
from fjax.data.fraud_features import handbook_features
from fjax.data.fraud_simulator import simulate
from fjax.models import build_model
from fjax.tasks.fraud import Config
from fjax.tasks.fraud.objective import score_function
from fjax.tasks.fraud.presets import PRESETS

FEATURES, HISTORY = 15, 5
TARGET = 1e6


def scoring_rate(model_cfg: ModelConfig, n: int, batch: int, reps: int) -> float:
    """Median transactions per second of the jitted scorer over n rows in batches."""
    model = build_model(model_cfg, out_dim=1)
    sequence = model_cfg.kind in ("gru", "lstm")
    shape = (batch, HISTORY, FEATURES) if sequence else (batch, FEATURES)
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1,) + shape[1:]))
    score = jax.jit(score_function(model, model_cfg.kind))
    rng = np.random.default_rng(0)
    batches = [jax.device_put(rng.normal(size=shape).astype(np.float32))
               for _ in range(max(1, n // batch))]
    score(params, batches[0]).block_until_ready()             # compile
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        out = [score(params, b) for b in batches]
        out[-1].block_until_ready()
        times.append(time.perf_counter() - t)
    return len(batches) * batch / statistics.median(times)


def fraud_scoring(quick: bool) -> list[dict]:
    n = 1 << (18 if quick else 21)
    rows = []
    models = [("mlp (default, 100x100)", Config().model, 65536),
              ("mlp (default, 100x100)", Config().model, 8192),
              ("logistic", PRESETS["logistic"][0], 65536),
              ("autoencoder (100-20-100)", PRESETS["autoencoder"][0], 65536),
              ("gru (64, history 5)", PRESETS["gru"][0], 8192)]
    for name, cfg, batch in models:
        rate = scoring_rate(cfg, n if cfg.kind != "gru" else n // 8, batch, 3 if quick else 5)
        note = f"target {TARGET:.0e}/s" if cfg.kind == "mlp" else ""
        rows.append({"bench": "fraud_scoring", "metric": f"{name}, batch {batch}: tx/s",
                     "value": rate, "note": note})
    return rows


def fraud_simulator(quick: bool) -> list[dict]:
    """Simulation, then the 15 handbook features, at the default scale."""
    kwargs = dict(n_customers=1000, n_terminals=2000) if quick else {}
    times, feature_times, sizes = [], [], []
    for seed in range(2 if quick else 3):
        t = time.perf_counter()
        tx = simulate(seed=seed, **kwargs)
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        handbook_features(tx)
        feature_times.append(time.perf_counter() - t)
        sizes.append(len(tx))
    label = "1,000 customers" if quick else "handbook default (5,000 customers, 183 days)"
    n, t_sim = statistics.median(sizes), statistics.median(times)
    t_feat = statistics.median(feature_times)
    return [{"bench": "fraud_simulator", "metric": f"{label}: transactions", "value": float(n)},
            {"bench": "fraud_simulator", "metric": f"{label}: simulate s", "value": t_sim},
            {"bench": "fraud_simulator", "metric": f"{label}: simulated tx/s", "value": n / t_sim},
            {"bench": "fraud_simulator", "metric": f"{label}: 15 features s", "value": t_feat}]


SECTIONS = {"fraud_scoring": fraud_scoring, "fraud_simulator": fraud_simulator}


if __name__ == "__main__":
    from bench import main
    raise SystemExit(main(sections=SECTIONS))
