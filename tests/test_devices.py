"""Populations over several devices: four fake CPU devices (set before jax starts, so in a
subprocess) train the same members as one device, each device holding its own groups."""

import json
import os
import subprocess
import sys

import pytest

RUN = """
import contextlib, json, sys
import jax, numpy as np
from fjax.config import LossConfig, ModelConfig, OptimConfig, TrainConfig
from fjax.data.splits import stratified_kfold
from fjax.models import build_model
from fjax.train import Callback, train_population
from fjax.train.checkpoint import Checkpointer
from fjax.train.lift import member_mesh
from fjax.train.objective import supervised_loss

kind, folder = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
shape = (240, 6) if kind == "mlp" else (240, 8, 2)
x = rng.normal(size=shape).astype(np.float32)
y = (x.reshape(240, -1)[:, :1] > 0).astype(np.float32)
model = build_model(ModelConfig(kind=kind, hidden=(8,)), 1)
loss = supervised_loss(model.apply, LossConfig(name="bce"))


def init(key):   # one function for every call: its initialisation compiles once
    return model.init(key, x[:1])


def train(devices, epochs=3, callbacks=()):
    return train_population(loss, init, {"x": x, "y": y},
                            optim=OptimConfig(), train=TrainConfig(epochs=epochs, batch_size=32),
                            hparams={"learning_rate": [1e-3, 1e-2]}, seeds=[0, 1],
                            folds=stratified_kfold(y[:, 0], 2), callbacks=callbacks,
                            devices=devices)


class Stop(Callback):
    def on_epoch_end(self, epoch, logs, loop):
        if epoch == 2:
            raise KeyboardInterrupt


def flat(pop):
    return [np.asarray(a).tolist() for a in jax.tree.leaves(pop.params)] + \\
        [np.asarray(h["val_loss"]).tolist() for h in pop.history]


with jax.default_device(jax.devices()[1]):   # a pinned device: members stay on it
    pinned_mesh = member_mesh(4)
spread, one = train(None), train(jax.devices()[:1])
leaf = jax.tree.leaves(spread.loop.train.params)[0]
with contextlib.suppress(KeyboardInterrupt):
    train(None, callbacks=[Checkpointer(folder), Stop()])
resumed = train(None, callbacks=[Checkpointer(folder)])
with contextlib.suppress(KeyboardInterrupt):   # interrupted on 4 devices, resumed on 1
    train(None, callbacks=[Checkpointer(folder + "_one"), Stop()])
on_one = train(jax.devices()[:1], callbacks=[Checkpointer(folder + "_one")])
print(json.dumps({
    "devices": len(jax.devices()),
    "holding": len(leaf.sharding.device_set), "one_holding": len(
        jax.tree.leaves(one.loop.train.params)[0].sharding.device_set),
    "spread": flat(spread), "one": flat(one), "resumed": flat(resumed),
    "on_one": flat(on_one),
    "used": [0 if m is None else m.size for m in (member_mesh(g) for g in (4, 6, 5, 8))],
    "pinned": member_mesh(4, jax.devices()[1:2]) is None and pinned_mesh is None,
    "table_equal": spread.table().equals(resumed.table())}))
"""


@pytest.fixture(scope="module", params=["mlp", "lstm"])
def runs(request, tmp_path_factory):
    env = {**os.environ, "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    done = subprocess.run([sys.executable, "-c", RUN, request.param,
                           str(tmp_path_factory.mktemp("ckpt"))],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return request.param, json.loads(done.stdout.strip().splitlines()[-1])


def test_members_spread_over_devices_train_as_on_one(runs):
    """4 groups (2 seeds x 2 folds, 2 learning rates each) on 4 devices: each device
    holds one group; parameters and validation losses equal one device's (bitwise where
    members are trained one at a time, as LSTMs are on CPUs; vmapped MLP groups of
    another size may round differently)."""
    kind, out = runs
    assert out["devices"] == 4 and out["holding"] == 4 and out["one_holding"] == 1
    for a, b in zip(out["spread"], out["one"], strict=True):
        if kind == "lstm":
            assert a == b
        else:
            import numpy as np
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_spread_population_resumes_to_the_same_numbers(runs):
    """On the same devices bitwise; on one device (the digest leaves the devices out)
    within the rounding of one device against four."""
    import numpy as np
    _, out = runs
    assert out["resumed"] == out["spread"] and out["table_equal"]
    for a, b in zip(out["on_one"], out["spread"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_the_mesh_uses_the_devices_that_divide_the_groups(runs):
    """4 groups on 4 devices: 4; 6 groups: 3 (each two); 5 groups: one device, no mesh;
    one device given or pinned with jax.default_device: no mesh."""
    assert runs[1]["used"] == [4, 3, 0, 4] and runs[1]["pinned"]
