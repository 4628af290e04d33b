"""The configuration each compared model trains with.

`model.kind` trains with the run's own model, loss, optimizer and loop settings (and
is the one `fjax sweep fraud` tunes). The other models of `compare` train with fixed
presets, so the comparison does not move when the main model is tuned:

  logistic     one dense layer, bce, Adam 1e-2, 14 epochs
  mlp          the task's default network (Config(): 100 x 100, dropout 0.2, Adam 3e-3,
               16 epochs)
  autoencoder  15 -> 100 -> 20 -> 100 -> 15, ReLU, MSE on legitimate rows, Adam 1e-3,
               2 epochs (handbook ch. 7.3)
  gru          GRU(64) over the card's last `data.history` transactions, then a dense
               layer of 32, Adam 1e-3, 5 epochs (handbook ch. 7.4: an LSTM over 5)
  combined     the mlp preset with an autoencoder's log error as a 16th input,
               cross-fitted: the autoencoder preset (or the run's own autoencoder,
               `anomaly_config`) trains once per day-fold of the training week
               (CROSSFIT_FOLDS = 7: leave one day out); a training row's error is from
               the one trained without its day, a test row's from the one trained
               without the same weekday (`training.with_anomaly_feature`)

Learning rates and epochs were chosen on the handbook's 4 validation periods (training
weeks 2018-06-20 .. 07-11 of the default simulation; best mean validation average
precision over lr in {1e-3, 3e-3} (logistic: {1e-3, 1e-2, 3e-2}) and the median best
epoch), never on the test periods. For the MLP, 100, 100 x 100, 500 and 100 x 100 with
dropout 0.2 were compared the same way (validation AP .696, .689, .691, .701).
"""

from __future__ import annotations

import dataclasses

from fjax.config import ModelConfig, TrainConfig
from fjax.tasks.experiment import task_default
from fjax.tasks.fraud.config import Config

CROSSFIT_FOLDS = 7
"""Day-folds of the training week for the combined model's anomaly feature."""

# kind -> (model, loop overrides, learning rate)
PRESETS = {
    "logistic": (ModelConfig(kind="logistic"), dict(epochs=14), 1e-2),
    "mlp": (Config().model, dict(epochs=Config().train.epochs), Config().optim.learning_rate),
    "autoencoder": (ModelConfig(kind="autoencoder", hidden=(100,), bottleneck=20),
                    dict(epochs=2), 1e-3),
    "gru": (ModelConfig(kind="gru", hidden=(64,), head=(32,), head_activation="relu"),
            dict(epochs=5), 1e-3),
}


def preset(config: Config, name: str) -> Config:
    """The config `name` trains with under `config` (seed, data and sweep kept)."""
    kind = "mlp" if name == "combined" else name
    if kind == config.model.kind and name != "combined":
        return config
    return fixed_preset(config, kind)


def fixed_preset(config: Config, kind: str) -> Config:
    """`kind`'s preset (`PRESETS`) under `config` (seed, data and sweep kept), whatever
    the run's own model."""
    model, train, learning_rate = PRESETS[kind]
    base = Config()
    return dataclasses.replace(
        config, model=model, loss=base.loss,
        optim=dataclasses.replace(base.optim, learning_rate=learning_rate),
        train=dataclasses.replace(base.train, **train))


# The loop settings a plain run does not read: its test stage (`test_stage_train`) trains
# train.epochs on every period and keeps the last epoch, monitoring nothing.
PLAIN_UNREAD = ("patience", "monitor", "mode", "min_delta", "restore_best")


def saved_train(train: TrainConfig, epochs: int) -> TrainConfig:
    """The loop settings a test-stage model's config (models/<m>/config.json) saves: its
    `epochs`, and the task's defaults of those a plain run refuses (`PLAIN_UNREAD`), which
    the test stage does not read; so `fjax run fraud --config` of it trains that model."""
    usual = task_default(Config(), "train")   # as _check_plain_train reads them
    return dataclasses.replace(train, epochs=int(epochs),
                               **{name: getattr(usual, name) for name in PLAIN_UNREAD})


def test_stage_train(train: TrainConfig) -> TrainConfig:
    """Loop settings for the test periods: train.epochs, nothing monitored on the test
    weeks, the last epoch's parameters kept."""
    return dataclasses.replace(train, monitor="loss", mode="auto", patience=None,
                               restore_best=False)
