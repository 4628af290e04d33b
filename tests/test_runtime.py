"""The persistent compilation cache: a repeated run loads every program it compiles."""

import json
import os
import subprocess
import sys

RUN = """
import json, sys
import jax, numpy as np
from fjax.runtime import enable_compilation_cache
events = []
jax.monitoring.register_event_listener(lambda event, **_: events.append(event))
jax.monitoring.register_event_duration_secs_listener(lambda event, _, **__: events.append(event))
enable_compilation_cache(sys.argv[1])
from fjax.config import LossConfig, ModelConfig, OptimConfig, TrainConfig
from fjax.models import build_model
from fjax.train import train_population
from fjax.train.objective import supervised_loss
x = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
y = (x[:, :1] > 0).astype(np.float32)
model = build_model(ModelConfig(kind="mlp", hidden=(4,)), 1)
pop = train_population(supervised_loss(model.apply, LossConfig(name="bce")),
                       lambda k: model.init(k, x[:1]), {"x": x, "y": y},
                       optim=OptimConfig(), train=TrainConfig(epochs=2, batch_size=8),
                       hparams={"learning_rate": [1e-3, 1e-2]}, callbacks=())
print(json.dumps({"programs": events.count("/jax/core/compile/backend_compile_duration"),
                  "hits": events.count("/jax/compilation_cache/cache_hits"),
                  "loss": np.asarray(pop.history[-1]["loss"]).tolist()}))
"""


def _run(cache_dir) -> dict:
    done = subprocess.run([sys.executable, "-c", RUN, str(cache_dir)], capture_output=True,
                          text=True, check=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_repeated_run_compiles_nothing(tmp_path):
    """A small population's first run compiles its programs; the same run in a new
    process loads every one of them from the cache (small ones too: jax's default
    threshold would store only the slow ones) and computes the same losses."""
    first, second = _run(tmp_path), _run(tmp_path)
    assert first["hits"] == 0 and first["programs"] > 2
    assert second["hits"] == second["programs"] == first["programs"]
    assert second["loss"] == first["loss"]


def test_environment_without_an_installed_fjax_or_its_checkout(monkeypatch):
    """Run from a source tree on PYTHONPATH (no dist-info), environment() once raised and
    every run failed; and fjax installed inside another git repository must not record
    that repository's revision."""
    import importlib.metadata

    from fjax import runtime

    real = importlib.metadata.version

    def version(name):
        if name == "fjax":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    monkeypatch.setattr(runtime.os.path, "exists", lambda path: False)   # no fjax/.git
    env = runtime.environment()
    assert env["versions"]["fjax"] is None and env["versions"]["jax"]
    assert env["fjax_commit"] is None
