"""The fraud models' plumbing: legitimate-only autoencoder folds, the anomaly feature of
the combined model (cross-fitted on the training week), the GRU on sequence stacks, and
chunked scoring."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from fjax.config import ModelConfig
from fjax.models import build_model
from fjax.data.split_stack import stack_scaled
from fjax.data.splits import Folds
from fjax.tasks.fraud import Config
from fjax.tasks.fraud.presets import preset
from fjax.tasks.fraud.training import (ModelRun, crossfit_errors, day_folds, fit_periods,
                                       make_trainable, model_folds, period_scores, score_rows,
                                       validation_scores, with_anomaly_feature)
from fjax.train.loop import CompileMeter

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
    x = stack.data["x"]
    error = 1.0 + np.abs(x[:, 0]) + 0.1 * np.arange(len(x))
    out = with_anomaly_feature(stack, error).data["x"]
    assert out.shape == (len(x), D + 1)
    np.testing.assert_array_equal(out[:, :D], x)
    for k in range(2):
        block = stack.block == k
        tr = stack.folds.train[k][block] > 0
        err = np.log(error[block])
        z = (err - err[tr].mean()) / err[tr].std()
        np.testing.assert_allclose(out[block, D], z, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(out[block, D][tr].mean(), 0, atol=1e-5)
        np.testing.assert_allclose(out[block, D][tr].std(), 1, atol=1e-5)
    missing = error.copy()
    missing[stack.block_rows(1)[-1]] = np.nan
    with pytest.raises(ValueError, match="lacks a finite, non-negative value for some of "
                                         "period 1's rows"):
        with_anomaly_feature(stack, missing)


def test_day_folds_leave_each_day_out_once_and_match_test_days_by_day():
    day = np.repeat(np.arange(12), 5)                   # 60 rows, 5 a day
    # period 0 trains on days 0-3, tests on 5-6; period 1 trains on days 6-8, tests on 11
    train = [(day <= 3), (day >= 6) & (day <= 8)]
    test = [(day == 5) | (day == 6), day == 11]
    stack = stack_scaled(X, Folds(train=np.array(train, np.float32),
                                  val=np.array(test, np.float32)), shared=LABELS)
    sday = day[stack.row]
    folds, n = day_folds(stack, sday, 7), 3             # min(7, fewest training days)
    assert folds.k == 2 * n
    for k, first in ((0, 0), (1, 6)):
        tr, te = stack.folds.train[k] > 0, stack.folds.val[k] > 0
        held = folds.val[k * n:(k + 1) * n] > 0
        fit = folds.train[k * n:(k + 1) * n] > 0
        np.testing.assert_array_equal(held.sum(axis=0), (tr | te).astype(int))  # once each
        for f in range(n):
            assert not np.any(fit[f] & held[f])
            assert not np.any(fit[f] & te)                                  # never the test
            np.testing.assert_array_equal(fit[f] | (held[f] & tr), tr)
            assert not set(sday[held[f]]) & set(sday[fit[f]])            # whole days
            assert set((sday[held[f]] - first) % n) == {f}               # the same "weekday"
    with pytest.raises(ValueError, match="at least 2 folds"):
        day_folds(stack, sday, 1)
    one_day = stack_scaled(X, Folds(train=np.array([day == 0], np.float32),
                                    val=np.array([day == 5], np.float32)), shared=LABELS)
    with pytest.raises(ValueError, match="period 0's training rows span 1 day"):
        day_folds(one_day, day[one_day.row], 7)
    gap = stack_scaled(X, Folds(train=np.array([np.isin(day, [0, 1, 3])], np.float32),
                                val=np.array([day == 5], np.float32)), shared=LABELS)
    with pytest.raises(ValueError, match="period 0 has no training rows in day-fold 2 of 3"):
        day_folds(gap, day[gap.row], 7)


def _planted_outlier_week():
    """One period: training days 0-3 (60 rows a day on a 2-d plane in 4-d), test days
    5-6; 20 legitimate rows of day 2 sit far off the plane (the planted outliers)."""
    rng = np.random.default_rng(1)
    day = np.concatenate([np.repeat(np.arange(4), 60), np.repeat([5, 6], 20)])
    n = len(day)
    x = (rng.normal(size=(n, 2)) @ rng.normal(size=(2, 4)) + 0.05 * rng.normal(size=(n, 4)))
    outliers = np.nonzero(day == 2)[0][:20]
    x[outliers] = [6.0, -6.0, 6.0, -6.0]
    y = np.zeros(n, np.float32)
    y[rng.choice(np.nonzero(day != 2)[0], 6, replace=False)] = 1.0
    periods = Folds(train=np.array([day <= 3], np.float32), val=np.array([day >= 5], np.float32))
    config = preset(Config(), "autoencoder")
    config = dataclasses.replace(
        config, model=ModelConfig(kind="autoencoder", hidden=(16,), bottleneck=2),
        optim=dataclasses.replace(config.optim, learning_rate=1e-2),
        train=dataclasses.replace(config.train, epochs=10, batch_size=32))
    return x.astype(np.float32), y, day, periods, outliers, config


def test_a_training_rows_anomaly_feature_comes_from_an_autoencoder_that_never_saw_it():
    x, y, day, periods, outliers, config = _planted_outlier_week()
    stack = stack_scaled(x, periods, shared={"y": y[:, None]})
    sday = day[stack.row]
    at = np.searchsorted(stack.row, outliers)           # one period: rows in order
    others = (stack.folds.train[0] > 0) & ~np.isin(np.arange(len(sday)), at)
    err = crossfit_errors(config, stack, sday, 7, progress=False)
    assert np.all(np.isfinite(err)) and np.all(err > 0)    # training and test rows
    # The planted rows were in no training set of the autoencoder that scored them:
    # their error is far above the other training rows'.
    assert err[at].min() > 20 * np.median(err[others])
    z = with_anomaly_feature(stack, err).data["x"][:, -1]
    assert z[at].min() > z[others].max()                  # the feature the model sees
    # The old scheme scored the training week with the autoencoder fitted on it: the
    # outliers it fitted look far less anomalous there (the optimistic feature).
    full = fit_periods("autoencoder", config, stack, progress=False)
    in_sample = score_rows(full.score, full.member_params(0), stack.data["x"], at)
    assert err[at].min() > 5 * np.median(in_sample)
    # A row's own label does not enter the fit that scores it: making one planted row a
    # fraud (dropping it from the legitimate-only fits that contain day 2) leaves every
    # day-2 error unchanged, and changes the errors of the days whose fit contained it.
    y2 = y.copy()
    y2[outliers[0]] = 1.0
    stack2 = dataclasses.replace(stack, data={**stack.data, "y": y2[stack.row][:, None]})
    err2 = crossfit_errors(config, stack2, sday, 7, progress=False)
    day2 = sday == 2
    np.testing.assert_array_equal(err2[day2], err[day2])
    assert not np.allclose(err2[(sday != 2) & (stack.folds.train[0] > 0)],
                           err[(sday != 2) & (stack.folds.train[0] > 0)])


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


def scored_mlp_members(hidden, members, seed):
    """A stack, an mlp config, its score program compiled once (as the test stage does),
    and `members` stacked initial parameters (on the device and on the host)."""
    stack = stack_scaled(X, PERIODS, shared=LABELS)
    cfg = dataclasses.replace(Config(), model=ModelConfig(kind="mlp", hidden=hidden))
    trainable, score = make_trainable(cfg, stack.data["x"], None)
    params = jax.vmap(trainable.init_fn)(jax.random.split(jax.random.PRNGKey(seed), members))
    host = jax.tree.map(np.asarray, params)
    score_rows(score, jax.tree.map(lambda a: a[0], host), stack.data["x"], stack.val_rows(0))
    return stack, cfg, score, params, host


def test_validation_scores_compile_nothing_the_test_stage_compiled():
    """Scoring the chosen members' validation weeks reuses the test stage's score program
    (same model, a fresh make_trainable): no program of its own, nor one per parameter
    shape to take a member out of a population of another size. Each member's scores are
    its own model's outputs on its period's validation rows."""
    from types import SimpleNamespace
    stack, cfg, _, params, host = scored_mlp_members((5, 4), 3, 0)
    population = SimpleNamespace(params=params, members=pd.DataFrame(   # a Population's
        {"seed": [0, 0, 1], "fold": [0, 1, 1]}))
    with CompileMeter() as meter:
        out = validation_scores(cfg, population, np.array([0, 2]), stack)
    assert meter.seconds == 0 and meter.compilations == 0
    model = build_model(cfg.model, out_dim=1)
    for i, key in [(0, (0, 0)), (2, (1, 1))]:
        rows = stack.val_rows(key[1])
        want = model.apply(jax.tree.map(lambda a: a[i], host), stack.data["x"][rows],
                           deterministic=True)[:, 0]
        np.testing.assert_allclose(out[key][0], want, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(out[key][1], Y[stack.row[rows]])
    assert set(out) == {(0, 0), (1, 1)}


def test_period_scores_compile_nothing_the_score_program_did_not():
    """Scoring each test member's period takes its parameters out of the stacked ones on
    the host: once the score program is compiled, a run of any size compiles nothing more
    (slicing on the device compiled a dynamic_slice and a squeeze per leaf shape). Each
    member's scores are its own model's outputs on its period's rows."""
    stack, cfg, score, params, host = scored_mlp_members((3, 2), 2, 1)
    run = ModelRun(name="mlp", config=cfg, members=pd.DataFrame({"seed": [0, 0], "fold": [0, 1]}),
                   params=params, score=score, test_scores=[], history=[], compile_s=0.0,
                   train_s=0.0)
    with CompileMeter() as meter:
        out = period_scores(run, stack)
    assert meter.compilations == 0
    model = build_model(cfg.model, out_dim=1)
    for i in range(2):
        rows = stack.val_rows(i)
        want = model.apply(jax.tree.map(lambda a: a[i], host), stack.data["x"][rows],
                           deterministic=True)[:, 0]
        np.testing.assert_allclose(out[i], want, rtol=1e-5, atol=1e-6)


def test_chunked_scoring_equals_one_call():
    score = jax.jit(lambda p, x: x @ p)
    w = jnp.asarray(RNG.normal(size=D), jnp.float32)
    x = RNG.normal(size=(40_000, D)).astype(np.float32)
    rows = RNG.permutation(40_000)[:33_000]
    np.testing.assert_allclose(score_rows(score, w, x, rows), x[rows] @ np.asarray(w),
                               rtol=1e-5, atol=1e-5)


def test_day_folds_count_days_from_each_periods_first_training_day():
    """A period whose first training day is not a multiple of F: fold f holds the days
    (d - t_k) mod F == f, not d mod F == f."""
    day = np.repeat(np.arange(12), 5)
    train, test = [(day >= 1) & (day <= 3)], [day == 8]   # t_0 = 1, F = 3
    stack = stack_scaled(X, Folds(train=np.array(train, np.float32),
                                  val=np.array(test, np.float32)), shared=LABELS)
    sday = day[stack.row]
    folds = day_folds(stack, sday, 7)
    assert folds.k == 3
    for f in range(3):
        assert set(sday[folds.val[f] > 0]) == {d for d in (1, 2, 3, 8) if (d - 1) % 3 == f}


def test_selection_scores_every_validation_row_and_reports_the_chosen_points_epochs(
        monkeypatch):
    """The ranking evaluation gathers as many rows as the largest validation period has;
    the chosen point's epochs are the median best epoch of its members (2 periods x 3
    seeds) and its value their mean best metric."""
    from fjax.tasks.fraud import training
    sizes = []
    real = training.ranking_eval
    monkeypatch.setattr(training, "ranking_eval",
                        lambda score, size: sizes.append(size) or real(score, size))
    val_periods = Folds(train=np.array([np.arange(N) < 20, (np.arange(N) >= 20) &
                                        (np.arange(N) < 40)], np.float32),
                        val=np.array([(np.arange(N) >= 20) & (np.arange(N) < 45),
                                      np.arange(N) >= 45], np.float32))
    stack = stack_scaled(X, val_periods, shared=LABELS)
    cfg = Config(model=ModelConfig(kind="mlp", hidden=(4,)),
                 train=dataclasses.replace(Config().train, epochs=4, batch_size=32),
                 sweep=dataclasses.replace(Config().sweep, seeds=3))
    chosen, table, info, resumed, _ = training.select(
        cfg, {"optim.learning_rate": [1e-3, 0.3]}, stack, None, progress=False)
    assert sizes and set(sizes) == {25} and resumed == {"validation group 0": 0}
    lr = info["hyperparameters"]["optim.learning_rate"]
    assert chosen.optim.learning_rate == lr
    rows = np.isclose(table["optim.learning_rate"].to_numpy(float), lr)
    assert rows.sum() == 6
    assert info["epochs"] == max(1, int(np.median(table.loc[rows, "best_epoch"])))
    metric = f"best_{cfg.train.monitor}"
    assert info["value"] == pytest.approx(table.loc[rows, metric].mean())
    means = table.groupby("optim.learning_rate")[metric].mean()
    assert info["value"] == pytest.approx(means.max())


def test_a_negative_reconstruction_error_is_refused():
    stack = stack_scaled(X, PERIODS, shared=LABELS)
    error = np.ones(len(stack.row))
    error[stack.block_rows(0)[0]] = -0.5
    with pytest.raises(ValueError, match="lacks a finite, non-negative value for some of "
                                         "period 0's rows"):
        with_anomaly_feature(stack, error)


def test_the_test_periods_train_for_the_median_best_epoch_rounded_half_up():
    from fjax.train.sweep import median_epochs
    assert median_epochs(np.array([2, 2, 1, 2, 1, 1, 1, 2])) == 2    # 1.5 was floored to 1
    assert median_epochs(np.array([3, 1, 2])) == 2
    assert median_epochs(np.array([0, 0])) == 1


def test_encoded_columns_join_the_scaled_ones_in_rows_and_histories():
    """A user's one-hot columns ride beside the scaled features: for each row, and for
    each earlier row of a card's history (zero where there is none)."""
    def onehot(k, rows):     # stands for period k's encoder
        return np.eye(3)[(rows + k) % 3]

    plain, base = (stack_scaled(X, PERIODS, shared=LABELS, encoded=e) for e in (onehot, None))
    np.testing.assert_array_equal(plain.data["x"][:, :D], base.data["x"])
    np.testing.assert_array_equal(plain.data["x"][:, D:], onehot(plain.block, plain.row))
    hist = np.stack([np.arange(N) - 1, np.arange(N)], axis=1)     # row 0 has no earlier row
    seq, base = (stack_scaled(X, PERIODS, shared=LABELS, history=hist, encoded=e)
                 for e in (onehot, None))
    assert seq.data["x"].shape == (len(seq.row), 2, D + 3)
    np.testing.assert_array_equal(seq.data["x"][..., :D], base.data["x"])
    want = onehot(seq.block[:, None], np.maximum(hist[seq.row], 0))
    want[hist[seq.row] < 0] = 0.0
    np.testing.assert_array_equal(seq.data["x"][..., D:], want)


def _searched_run(monkeypatch, optim, chosen_epochs):
    """A test stage after a search of 4 epochs of 3 batches (20 rows, batch 8) that chose
    `chosen_epochs`, and each population's injected schedule lengths."""
    from fjax.tasks.fraud import training
    from fjax.train import population
    stack = stack_scaled(X, PERIODS, shared=LABELS)
    cfg = Config(model=ModelConfig(kind="mlp", hidden=(4,)), optim=optim,
                 train=dataclasses.replace(Config().train, epochs=4, batch_size=8))
    with monkeypatch.context() as patch:
        patch.setattr(training, "select",
                      lambda config, *a: (config, None, {"epochs": chosen_epochs}, {}, None))
        lengths = []
        real = population.member_optimizer
        patch.setattr(population, "member_optimizer", lambda *a: lengths.append(
            np.asarray(real(*a)[1].get("schedule_steps"))) or real(*a))
        run = fit_periods("mlp", cfg, stack, grid={"optim.learning_rate": [1e-3, 1e-2]},
                          val_stack=stack, progress=False)
    return run, stack, lengths


def test_a_searched_warmup_is_not_refused_when_the_chosen_epochs_are_fewer(monkeypatch):
    """The search's 6-step warmup picks 1 epoch: the test stage trains that epoch on the
    searched run's 12-step schedule, as the chosen member did; a schedule squeezed into
    3 steps was refused."""
    optim = dataclasses.replace(Config().optim, schedule="warmup_cosine", warmup_steps=6)
    run, _, lengths = _searched_run(monkeypatch, optim, 1)
    assert run.config.train.epochs == 1 and len(run.history) == 1
    assert run.config.optim.schedule_epochs == 4
    np.testing.assert_array_equal(lengths[-1], [4 * int(np.ceil(20 / 8))] * len(run.members))


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_a_test_stage_models_saved_config_retrains_it(monkeypatch, schedule):
    """models/<m>/config.json (run.config, as saved and read back) retrains the test
    stage's model bit for bit: under a cosine decay it records the searched run's 4-epoch
    span; it said 2 epochs and cosine, so a rerun decayed over 6 steps, not 12."""
    from fjax.config import from_dict, to_dict
    optim = dataclasses.replace(Config().optim, learning_rate=1e-2, schedule=schedule)
    run, stack, lengths = _searched_run(monkeypatch, optim, 2)
    saved = from_dict(Config, json.loads(json.dumps(to_dict(run.config))))
    again = fit_periods("mlp", saved, stack, progress=False)
    jax.tree.map(np.testing.assert_array_equal, run.params, again.params)
    for a, b in zip(run.test_scores, again.test_scores):
        np.testing.assert_array_equal(a, b)
    if schedule == "cosine":   # 4 epochs x ceil(20 / 8) batches
        assert saved.optim.schedule_epochs == 4
        assert lengths[-1].tolist() == [12] * len(run.members)


def _small_mlp_config(optimizer=None):
    """A 4-unit MLP trained 2 epochs in batches of 32, the selection tests' run; `optimizer`
    names the optimiser, left at the default when None."""
    cfg = Config(model=ModelConfig(kind="mlp", hidden=(4,)),
                 train=dataclasses.replace(Config().train, epochs=2, batch_size=32))
    if optimizer is None:
        return cfg
    return dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, name=optimizer))


def test_selection_names_every_swept_field_of_the_chosen_point():
    """A grid over an activation (a compile group each) and the learning rate: the chosen
    point's values name both, and are the best mean of validation.csv's rows recomputed
    with pandas; the activation was left out (only the group's numbers were named), and a
    grid over the activation alone named nothing, so the report had no selection at all."""
    from fjax.tasks.fraud import training
    stack = stack_scaled(X, PERIODS, shared=LABELS)
    cfg = _small_mlp_config()
    grid = {"model.activation": ["relu", "tanh"], "optim.learning_rate": [1e-3, 0.3]}
    chosen, table, info, _, _ = training.select(cfg, grid, stack, None, progress=False)
    means = table.groupby(list(grid))[f"best_{cfg.train.monitor}"].mean()
    activation, lr = means.idxmax()
    assert info["hyperparameters"] == {"model.activation": activation,
                                       "optim.learning_rate": pytest.approx(lr)}
    assert chosen.model.activation == activation
    only = {"model.activation": ["relu", "tanh"]}
    chosen, table, info, _, _ = training.select(cfg, only, stack, None, progress=False)
    means = table.groupby("model.activation")[f"best_{cfg.train.monitor}"].mean()
    assert info["hyperparameters"] == {"model.activation": means.idxmax()}


def test_selection_names_the_configurations_whose_members_diverged():
    """A learning rate of 1e30 diverges on every validation period: the report named only
    the chosen point (the diverged one had no finite mean to be the runner-up), so its
    failure was on stderr only. The diverged configurations and counts now come with the
    choice, as validation.csv's `diverged_epoch` counts them."""
    from fjax.tasks.fraud import training
    from fjax.tasks.fraud.report import diverged_note
    stack = stack_scaled(X, PERIODS, shared=LABELS)
    cfg = _small_mlp_config("sgd")
    with pytest.warns(UserWarning, match=r"members diverged.*fold=1.*see validation.csv's "
                      r"diverged_epoch \(fold: the validation period\)$"):   # not table()'s
        _, table, info, _, _ = training.select(
            cfg, {"optim.learning_rate": [1e-3, 1e30]}, stack, None, progress=False)
    bad = table[table["diverged_epoch"] > 0].groupby("optim.learning_rate").size()
    assert bad.index.tolist() == [1e30]
    assert info["diverged"] == [{"hyperparameters": {"optim.learning_rate": 1e30},
                                 "diverged": int(bad.iloc[0]), "members": 2}]
    assert info["hyperparameters"] == {"optim.learning_rate": 1e-3}
    assert "optim.learning_rate = 1e+30: 2 of 2." in diverged_note(info)[0]


def test_selection_names_the_configurations_whose_loss_blew_up_but_stayed_finite():
    """`fjax sweep fraud --model logistic --optim.learning-rate 1e-3 3e-3 1000` chose lr
    1000 on validation AP with a training loss 470 times its start; the sweep said so on
    stderr only (the report named the test stage's blow-up, not the search's). The note
    reads the point's median final loss from its own validation.csv rows."""
    from fjax.tasks.fraud import training
    stack = stack_scaled(X, PERIODS, shared=LABELS)
    cfg = _small_mlp_config("adam")
    with pytest.warns(UserWarning, match="blew up"):
        _, table, info, _, _ = training.select(
            cfg, {"optim.learning_rate": [1e-3, 1e3]}, stack, None, progress=False)
    end = float(np.median(table.loc[table["optim.learning_rate"] == 1e3, "final_loss"]))
    [note] = info["blown_up"]
    assert note.startswith("Sweep grid point(s) that blew up: optim.learning_rate 1000. ")
    assert f"The training loss ended at {end:.4g}, " in note


@pytest.mark.parametrize("kinds", [["autoencoder", "logistic"], ["logistic", "autoencoder"]])
def test_a_sweep_over_the_kind_trains_each_group_on_its_own_kinds_rows(monkeypatch, kinds):
    """`fjax sweep fraud --model.kind autoencoder mlp`: every group trained on the run's
    kind's rows, so the supervised group saw no fraud (its validation AP was 0.0037 for
    pos_weight 1 and 5 alike, below the 0.009 fraud rate) and an autoencoder swept beside a
    supervised run kind trained on frauds. Each group's training rows, against numpy."""
    from fjax.tasks import experiment
    from fjax.tasks.fraud import training
    seen, real = [], experiment.train_population
    monkeypatch.setattr(experiment, "train_population",
                        lambda *a, **k: seen.append(k["folds"]) or real(*a, **k))
    stack = stack_scaled(X, PERIODS, shared=LABELS)
    cfg = Config(model=ModelConfig(kind=kinds[0], hidden=(4,), dropout=0.0),
                 train=dataclasses.replace(Config().train, epochs=1, batch_size=32))
    _, table, _, _, _ = training.select(cfg, {"model.kind": kinds}, stack, None,
                                        progress=False)
    assert table.groupby("group")["model.kind"].first().tolist() == kinds
    for kind, folds in zip(kinds, seen):
        legit = Y == 0 if kind == "autoencoder" else np.ones(N, bool)
        np.testing.assert_array_equal(folds.train > 0,
                                      (stack.folds.train > 0) & legit[stack.row][None])
        assert (folds.train > 0).sum() == sum(int((t & legit).sum()) for t in TRAIN)
