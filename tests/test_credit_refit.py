"""The credit refit trains the model the folds scored: where validation chose each fold's
epochs (train.patience, restore_best), the median of the epochs they kept, on their
schedule, and its saved config reruns it bit for bit."""

import dataclasses
import json

import jax
import numpy as np
import pandas as pd
import pytest

from fjax.config import TrainConfig, to_json
from fjax.datasets import load_dataset
from fjax.optim import build_optimizer
from fjax.tasks.credit import Config, CreditDataConfig, run
from fjax.tasks.credit.data import full_design, load
from fjax.tasks.credit.model import trainable
from fjax.tasks.credit.model_file import read_model
from fjax.train import fit, init_member
from fjax.train.epoch import num_batches

EPOCHS = 12


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    frame = load_dataset("german_credit").sample(240, random_state=0).reset_index(drop=True)
    path = tmp_path_factory.mktemp("credit_refit") / "applicants.csv"
    frame.to_csv(path, index=False)
    return path


def config(path, out, **train):
    """3 folds; a learning rate at which the validation folds peak within EPOCHS."""
    return Config(data=CreditDataConfig(path=str(path)), out=str(out),
                  sweep=Config().sweep.__class__(folds=3),
                  optim=dataclasses.replace(Config().optim, learning_rate=3e-2),
                  train=TrainConfig(epochs=EPOCHS, batch_size=64, **train))


def leaves(params):
    return [np.asarray(x) for x in jax.tree.leaves(params)]


def plain_fit(cfg: Config, epochs: int, span: int):
    """The oracle: one fit of `epochs` epochs on every applicant, nothing monitored, on a
    cosine schedule of `span` epochs; the refit's seed and initial state."""
    data = load(cfg)
    _, x, shape = full_design(cfg, data)
    t = trainable(cfg, shape, bad_rate=float(np.mean(data.y)))
    tx = build_optimizer(cfg.optim, span * num_batches(len(x), cfg.train.batch_size))
    result = fit(init_member(t.init_fn, tx, cfg.seed), t.loss_fn, {"x": x, "y": data.y},
                 config=TrainConfig(epochs=epochs, batch_size=cfg.train.batch_size,
                                    restore_best=False), callbacks=())
    return result.state.params


@pytest.mark.parametrize("train", [dict(restore_best=True),
                                   dict(patience=2, monitor="val_auc", restore_best=False)])
def test_refit_trains_the_median_of_the_epochs_the_folds_kept(csv_path, tmp_path, train):
    """The refit trained every epoch though each fold's member kept its best epoch (or
    stopped early), so the cross-validation scored another model than the one deployed;
    with monitor val_auc the refit (no validation rows) failed after the whole search."""
    cfg = config(csv_path, tmp_path / "run", **train)
    out = run(cfg, progress=False)
    table = pd.read_csv(out / "cv_table.csv")
    ran = table["epochs"].to_numpy(float)
    kept = (np.where(table["best_epoch"] > 0, table["best_epoch"], ran)
            if cfg.train.restore_best else ran)
    k = int(np.floor(np.median(kept) + 0.5))
    final = json.loads((out / "metrics.json").read_text())["final"]
    assert final["epochs"] == k < EPOCHS
    assert sorted(final["fold_epochs"]) == sorted(kept.astype(int).tolist())
    assert final["schedule_epochs"] == EPOCHS
    saved = read_model(out / "model.msgpack")
    for a, b in zip(leaves(saved.final.params), leaves(plain_fit(cfg, k, EPOCHS)),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    assert f"The final model trains {k} epochs" in (out / "report.md").read_text()

    # The saved model's config reruns it, bit for bit, as a plain run.
    model_cfg = dataclasses.replace(saved.final.config, out=str(tmp_path / "rerun"))
    assert not model_cfg.train.val_selects
    again = read_model(run(model_cfg, progress=False) / "model.msgpack")
    for a, b in zip(leaves(saved.final.params), leaves(again.final.params), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_run_without_epoch_selection_refits_its_own_config(csv_path, tmp_path):
    """No patience or restore_best: the refit is the run's configuration, every epoch."""
    cfg = config(csv_path, tmp_path / "run", restore_best=False)
    out = run(cfg, progress=False)
    final = json.loads((out / "metrics.json").read_text())["final"]
    assert (final["epochs"], final["fold_epochs"], final["schedule_epochs"]) == (EPOCHS, None,
                                                                                 None)
    saved = read_model(out / "model.msgpack")
    assert to_json(saved.final.config) == to_json(cfg)
    for a, b in zip(leaves(saved.final.params), leaves(plain_fit(cfg, EPOCHS, EPOCHS)),
                    strict=True):
        np.testing.assert_array_equal(a, b)
