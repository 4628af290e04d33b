"""The credit task: cross-validated members equal separately trained folds, the logistic
model reaches scikit-learn's L2 optimum, and a run writes a complete, consistent report."""

import dataclasses
import json
import warnings

import jax
import numpy as np
import pandas as pd
import pytest
import scipy.stats
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from fjax.calibration import fit_isotonic
from fjax.config import OptimConfig, TrainConfig, from_dict, replace_path
from fjax.data.splits import kfold, stratified_kfold
from fjax.data.tabular import fit_encoder
from fjax.datasets import load_dataset
from fjax.optim import build_optimizer
from fjax.scorecard import ScoreScale
from fjax.tasks.credit import Config, CreditDataConfig, ScorecardConfig, run
from fjax.tasks.credit.bands import Gains
from fjax.tasks.credit.data import Shape, fold_design, load, pack
from fjax.explain import by_attribute
from fjax.tasks.credit.final import (_space, attribution_reference, attributions,
                                      points_table, refit)
from fjax.tasks.credit.members import member_metrics
from fjax.tasks.credit.model import build_model, predict, trainable
from fjax.tasks.credit.oof import analyse
from fjax.tasks.credit.report import pooled_auc_line
from fjax.tasks.credit.run import pooled
from fjax.train import TrainingDiverged, fit, init_member, train_population
from fjax.train.epoch import num_batches
from fjax.train.loop import CompileMeter

N = 240


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    frame = load_dataset("german_credit").sample(N, random_state=0).reset_index(drop=True)
    path = tmp_path_factory.mktemp("credit") / "applicants.csv"
    frame.to_csv(path, index=False)
    frame.iloc[:25].drop(columns="creditability").to_csv(path.with_name("new.csv"), index=False)
    return path


def small_config(path, **kw):
    base = Config(data=CreditDataConfig(path=str(path)), sweep=Config().sweep.__class__(folds=3),
                  train=TrainConfig(epochs=3, batch_size=64, restore_best=False))
    return dataclasses.replace(base, **kw)


def population(cfg):
    data = load(cfg)
    design = fold_design(cfg, data)
    t = trainable(cfg, design.shape, design.stack.k)
    pop = train_population(t.loss_fn, t.init_fn, design.stack.data, optim=cfg.optim,
                           train=cfg.train, seeds=(0,), folds=design.stack.folds,
                           eval_fn=t.eval_fn)
    return data, design, t, pop


@pytest.fixture(scope="module")
def full_batch(csv_path):
    """A 3-fold logistic population trained full-batch to convergence."""
    cfg = small_config(csv_path, optim=OptimConfig(name="adam", learning_rate=0.05,
                                                   weight_decay=0.02, schedule="cosine"),
                       train=TrainConfig(epochs=1000, batch_size=1024, restore_best=False))
    return (cfg, *population(cfg))


def fit_alone(cfg, t, data, weights, val_data=None, val_weights=None):
    rows = int((np.asarray(weights) > 0).sum())
    tx = build_optimizer(cfg.optim, cfg.train.epochs * num_batches(rows, cfg.train.batch_size))
    return fit(init_member(t.init_fn, tx, 0), t.loss_fn, data, config=cfg.train,
               weights=weights, val_data=val_data, val_weights=val_weights,
               eval_fn=None if val_data is None else t.eval_fn)


def test_cross_validated_members_equal_separately_trained_folds(csv_path):
    """Mini-batches: each member equals `fit` on the same stacked data and fold masks."""
    cfg = small_config(csv_path)
    data, design, t, pop = population(cfg)
    stack = design.stack
    j = 2
    alone = fit_alone(cfg, t, stack.data, stack.folds.train[j], stack.data, stack.folds.val[j])
    np.testing.assert_allclose(pop.member_params(j)["params"]["dense"]["kernel"],
                               alone.state.params["params"]["dense"]["kernel"],
                               rtol=1e-4, atol=1e-6)
    assert pop.history[-1]["val_auc"][j] == pytest.approx(alone.history[-1]["val_auc"],
                                                          abs=1e-5)


def test_member_equals_a_fold_preprocessed_on_its_own(full_batch):
    """Independently: fold 1's encoder fitted straight on its training rows, n rows only;
    full-batch training makes the row order irrelevant."""
    cfg, data, design, t, pop = full_batch
    j = 1
    enc = fit_encoder(data.frame, data.schema, data.y, data.folds.train[j] > 0)
    x = pack(enc.transform(data.frame), design.shape.n_numeric)
    np.testing.assert_array_equal(x, design.stack.data["x"][design.stack.block_rows(j)])
    alone = fit_alone(cfg, t, {"x": x, "y": data.y}, data.folds.train[j])
    member = predict(cfg, design.shape, pop.member_params(j), x)
    np.testing.assert_allclose(member, predict(cfg, design.shape, alone.state.params, x),
                               atol=1e-4)


def test_logistic_member_reaches_the_scikit_learn_l2_optimum(full_batch):
    cfg, data, design, t, pop = full_batch
    j = 2
    rows = data.folds.train[j] > 0
    x = design.stack.data["x"][design.stack.block_rows(j)]
    # mean log loss + wd/2 |w|^2  <=>  sum log loss + |w|^2 / (2 C) with C = 1 / (wd n)
    ref = LogisticRegression(C=1 / (cfg.optim.weight_decay * rows.sum()), tol=1e-10,
                             max_iter=10_000).fit(x[rows], data.y[rows])
    np.testing.assert_allclose(predict(cfg, design.shape, pop.member_params(j), x),
                               ref.decision_function(x), atol=3e-3)


@pytest.mark.parametrize("pos_weight", [1.0, 2.0])
def test_optimum_gap_is_the_distance_to_scikit_learns_l2_optimum(csv_path, pos_weight):
    """A 3-epoch refit stops far from the optimum of mean bce + wd/2 |w|^2, which is
    scikit-learn's L2 logistic regression at C = 1 / (wd n) (class_weight for pos_weight):
    the gap is their largest |logit| difference. The MLP and adamw have none."""
    from fjax.tasks.credit.final import optimum_gap
    from fjax.config import BinaryLossConfig
    cfg = small_config(csv_path, loss=BinaryLossConfig(pos_weight=pos_weight))
    data = load(cfg)
    final = refit(cfg, data, progress=False)
    x = final.x.astype(np.float64)
    ref = LogisticRegression(C=1 / (cfg.optim.weight_decay * len(x)), tol=1e-12,
                             max_iter=100_000, class_weight={1: pos_weight, 0: 1.0})
    want = np.max(np.abs(final.logits(final.x) - ref.fit(x, data.y).decision_function(x)))
    assert want > 0.1
    assert optimum_gap(final, data.y) == pytest.approx(want, abs=1e-4)
    adamw = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, name="adamw"))
    assert optimum_gap(dataclasses.replace(final, config=adamw), data.y) is None


def test_a_refit_far_from_its_optimum_is_noted():
    from fjax.tasks.credit.run import report_notes
    noted = [n for n in report_notes(Config(), 5, 1, 1, optimum_points=20.0)
             if "short of the optimum" in n]
    assert len(noted) == 1 and "up to 20.0 points" in noted[0]
    assert not any("short of the optimum" in n
                   for n in report_notes(Config(), 5, 1, 1, optimum_points=0.5))


@pytest.mark.parametrize("kind", ["logistic", "mlp"])
def test_predicting_again_traces_and_compiles_nothing(kind):
    """A fitted model's logits in a loop compile once; the same as a fresh program, bit
    for bit (a new model is built per call: equal modules share the program)."""
    cfg = dataclasses.replace(Config(), model=dataclasses.replace(Config().model, kind=kind))
    shape = Shape(n_numeric=4, cardinalities=(3, 5) if kind == "mlp" else ())
    params = trainable(cfg, shape).init_fn(jax.random.PRNGKey(1))
    x = np.random.default_rng(0).normal(size=(30, shape.width)).astype(np.float32)
    if kind == "mlp":
        x[:, 4:] = np.abs(x[:, 4:]).round() % 3
    first = predict(cfg, shape, params, x)
    with CompileMeter() as meter:
        again = predict(cfg, shape, params, x)
    assert meter.seconds == 0 and meter.compilations == 0
    model = build_model(cfg, shape)
    fresh = jax.jit(lambda p, v: model.apply(p, v, deterministic=True)[:, 0])(params, x)
    assert np.array_equal(first, again) and np.array_equal(again, np.asarray(fresh, np.float64))


def test_the_attribution_space_of_an_equal_model_compiles_nothing():
    """An MLP's embedding of applicants (what its reason codes integrate over) was a jit of
    a fresh closure per call, compiled anew for every reference and every attribution; it
    is one program per model structure, equal to `model.apply(..., method="embed")`."""
    from types import SimpleNamespace

    from fjax.tasks.credit.final import FinalModel
    cfg = dataclasses.replace(Config(), model=dataclasses.replace(Config().model, kind="mlp"))
    shape = Shape(n_numeric=4, cardinalities=(3, 5))
    encoder = SimpleNamespace(num_attributes=("a", "b", "c", "d"), cat_columns=("e", "f"))
    x = np.random.default_rng(0).normal(size=(30, shape.width)).astype(np.float32)
    x[:, 4:] = np.abs(x[:, 4:]).round() % 3
    z = []
    for seed in (1, 2):
        params = trainable(cfg, shape).init_fn(jax.random.PRNGKey(seed))
        final = FinalModel(cfg, encoder, shape, params, x)
        _space(final, x)
        with CompileMeter() as meter:
            z.append(_space(final, x)[0])
        assert meter.compilations == 0
        np.testing.assert_array_equal(
            z[-1], np.asarray(build_model(cfg, shape).apply(params, x, method="embed")))
    assert not np.array_equal(*z)


def test_logistic_reason_codes_are_exact_coefficient_times_value(csv_path):
    cfg = small_config(csv_path)
    data = load(cfg)
    final = refit(cfg, data, progress=False)
    names, contrib, ref_logit = attributions(final, final.x)
    w = np.asarray(final.params["params"]["dense"]["kernel"], np.float64)[:, 0]
    x = final.x.astype(np.float64)
    mean = x.mean(axis=0)
    attrs = np.array(final.encoder.num_attributes)
    for a, name in enumerate(names):
        cols = attrs == name
        np.testing.assert_allclose(contrib[:, a], (x[:, cols] - mean[cols]) @ w[cols],
                                   rtol=1e-9, atol=1e-12)
    z = final.logits(final.x)
    np.testing.assert_allclose(contrib.sum(axis=1), z - ref_logit, atol=1e-5)
    bias = float(np.asarray(final.params["params"]["dense"]["bias"], np.float64)[0])
    assert ref_logit == pytest.approx(bias + mean @ w, rel=1e-12)   # float64 numpy
    scale = ScoreScale()
    points = points_table(final, data.frame, scale)   # the table only: one reference logit
    base = scale.from_logit(ref_logit)
    np.testing.assert_allclose(base + scale.points(contrib).sum(axis=1), scale.from_logit(z),
                               atol=1e-3)
    # a categorical attribute's tabulated points equal the applicant's exact contribution
    table = points.set_index(["attribute", "value"])["points"]
    col = "purpose"
    for i in range(5):
        value = str(data.frame[col].iloc[i])
        assert table[(col, value)] == pytest.approx(scale.points(contrib[i, names.index(col)]),
                                                    abs=1e-6)


@pytest.fixture(scope="module")
def logistic_run(csv_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = small_config(csv_path, out=str(out), sweep=Config().sweep.__class__(folds=3, seeds=2),
                       scorecard=ScorecardConfig(calibration="platt", reasons=3),
                       data=CreditDataConfig(path=str(csv_path),
                                             score_path=str(csv_path.with_name("new.csv"))))
    return cfg, run(cfg, grid={"optim.weight_decay": [1e-3, 1e-2]}, progress=False)


def tabulated_points(path, frame: pd.DataFrame) -> pd.DataFrame:
    """Each applicant's points per attribute, from the run's scorecard.csv (pandas lookups,
    a line through each numeric attribute's tabulated points)."""
    card = pd.read_csv(path / "scorecard.csv", keep_default_na=False)
    points = {}
    for name, rows in card.groupby("attribute", sort=False):
        if pd.api.types.is_numeric_dtype(frame[name]):
            slope, intercept = np.polyfit(rows["value"].astype(float), rows["points"], 1)
            points[name] = slope * frame[name] + intercept
        else:
            points[name] = frame[name].astype(str).map(dict(zip(rows["value"], rows["points"])))
    return pd.DataFrame(points)


def test_reasons_costing_under_half_a_point_are_left_blank(logistic_run, csv_path):
    """The saved model asked for a reason per attribute: the reasons are exactly the
    attributes costing 0.5 points (MATERIAL_POINTS) or more by scorecard.csv, most first,
    then blank slots; before, every attribute costing anything was listed (the default
    German run gave 15 applicants 17 reasons under 0.5 points, the least 0.19)."""
    from fjax.tasks.credit.frozen import saved_model
    from fjax.tasks.credit.scoring import score_new
    _, path = logistic_run
    frame = pd.read_csv(csv_path)
    m = saved_model(path)
    k = len(m.final.encoder.schema.features)
    config = dataclasses.replace(m.config, scorecard=dataclasses.replace(
        m.config.scorecard, reasons=k))
    new, _ = score_new(config, frame, m.final, m.calibrator, m.threshold, m.scale)
    points = tabulated_points(path, frame)
    assert ((points < 0) & (points > -0.5)).to_numpy().sum() > 50
    for i, row in points.iterrows():
        material = list(row[row <= -0.5].sort_values(kind="stable").index)
        given = [new.loc[i, f"reason_{j + 1}"] for j in range(k)]
        assert given == material + [""] * (k - len(material))


def test_report_says_numeric_scorecard_rows_are_points_on_a_line(logistic_run, csv_path):
    """A standardised numeric attribute's scorecard rows are its points at the training
    quantiles (float64 numpy) on one line; report.md said only 'score = base + the points
    of each attribute', which a scorecard implemented from the table cannot apply to a
    value between the rows."""
    _, path = logistic_run
    frame = pd.read_csv(csv_path)
    card = pd.read_csv(path / "scorecard.csv", keep_default_na=False)
    linear = ["duration_in_month", "credit_amount", "age_in_years"]
    report = (path / "report.md").read_text()
    said = next(line for line in report.splitlines() if line.startswith("Scorecard points"))
    for column in linear:
        rows = card[(card["attribute"] == column) & (card["value"] != "<missing>")]
        value, points = rows["value"].astype(float).to_numpy(), rows["points"].to_numpy()
        expect = np.unique(np.quantile(frame[column].to_numpy(np.float64),
                                       [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1]))
        np.testing.assert_allclose(value, expect, rtol=1e-5)
        fit = np.polyval(np.polyfit(value, points, 1), value)
        np.testing.assert_allclose(fit, points, atol=1e-4)
        assert f"`{column}`" in said
    assert "linear in the value" in said and "`purpose`" not in said


def test_reason_codes_follow_the_average_applicant_convention_the_report_states(
        logistic_run, csv_path):
    """Recomputed from scorecard.csv and the raw applicants (pandas lookups, a line
    through each numeric attribute's tabulated points): every attribute's points average
    0 over the training applicants, and each applicant's reasons are its most negative
    attributes (0.5 points or more), in order. The report used to say only 'against the
    reference applicant', never which one, nor that this is not the best-attainable convention
    (on the default German run, 495 of the 649 rejected applicants' four reasons differ
    from the best-attainable ones as a set, 624 in set or order)."""
    cfg, path = logistic_run
    scores = pd.read_csv(path / "scores.csv", keep_default_na=False)
    points = tabulated_points(path, pd.read_csv(csv_path))
    np.testing.assert_allclose(points.mean(), 0, atol=1e-3)
    reasons = [f"reason_{k + 1}" for k in range(cfg.scorecard.reasons)]
    rejected = np.flatnonzero(scores["decision"] == "reject")
    assert len(rejected) > 10
    for i in range(len(scores)):   # a reason costs 0.5 points or more (MATERIAL_POINTS)
        row = points.iloc[i]
        worst = list(row[row <= -0.5].sort_values(kind="stable").index[:len(reasons)])
        assert [r for r in scores.loc[i, reasons] if r] == worst
    report = (path / "report.md").read_text()
    assert "The reference is the mean training applicant" in report
    assert "points average 0 over the training applicants" in report
    assert "not the points lost against each attribute's best value" in report


def test_run_reports_the_cross_fitted_calibrated_log_loss_beside_the_brier(logistic_run):
    """metrics.json's per-fold `cal_log_loss` (beside `cal_brier`) is scikit-learn's
    log_loss of Platt fitted by its LogisticRegression on the other folds' `pd_oof_raw`
    in scores.csv; the report's table and sentence carry it."""
    from scipy.special import logit
    from sklearn.metrics import log_loss
    cfg, path = logistic_run
    scores = pd.read_csv(path / "scores.csv")
    metrics = json.loads((path / "metrics.json").read_text())
    y = (scores["creditability"] == cfg.data.positive).to_numpy(float)
    raw, fold = scores["pd_oof_raw"].to_numpy(), scores["fold"].to_numpy()
    for j, row in enumerate(metrics["cv"]["per_fold"]):
        assert list(row)[list(row).index("cal_brier") + 1] == "cal_log_loss"
        ref = LogisticRegression(C=1e12, tol=1e-12, max_iter=10_000).fit(
            logit(raw[fold != j])[:, None], y[fold != j])
        cal = ref.predict_proba(logit(raw[fold == j])[:, None])[:, 1]
        np.testing.assert_allclose(cal, scores["pd_oof"][fold == j], atol=1e-9)
        assert row["cal_log_loss"] == pytest.approx(log_loss(y[fold == j], cal), abs=1e-8)
    assert metrics["decision"]["cal_log_loss_clipped"] == 0
    report = (path / "report.md").read_text()
    assert "| brier | log_loss | ece | psi | applicants | bads | cal_brier | cal_log_loss |" \
        in report
    mean = np.mean([r["cal_log_loss"] for r in metrics["cv"]["per_fold"]])
    assert f"log-loss {mean:.4f} against" in report


def test_run_writes_a_complete_consistent_report(logistic_run, undescribed):
    cfg, path = logistic_run
    for name in ("config.json", "grid.json", "metrics.json", "cv_table.csv", "cv_summary.csv",
                 "scores.csv", "new_scores.csv", "scorecard.csv", "importance.csv",
                 "report.md", "roc.png", "ks.png", "calibration.png",
                 "calibration_calibrated.png", "score_distributions.png",
                 "learning_curve.png", "history.jsonl", "encoder.json"):
        assert (path / name).exists(), name
    # config.json holds the grid's first point (the base config's decay, 3e-3, never trained)
    assert from_dict(Config, json.loads((path / "config.json").read_text())) == \
        replace_path(cfg, "optim.weight_decay", 1e-3)
    table = pd.read_csv(path / "cv_table.csv")
    assert len(table) == 3 * 2 * 2 and set(table["fold"]) == {0, 1, 2}
    assert not any(c.startswith("best_") for c in table.columns)
    metrics = json.loads((path / "metrics.json").read_text())
    folds = pd.DataFrame(metrics["cv"]["per_fold"])
    best = table[table["config"] == metrics["best"]["config"]].sort_values("fold")
    by_fold = best.groupby("fold")["auc"].mean()     # each fold's mean over its 2 seeds
    np.testing.assert_allclose(folds["auc"], by_fold)
    assert metrics["cv"]["mean"]["auc"] == pytest.approx(by_fold.mean())
    assert metrics["cv"]["std"]["auc"] == pytest.approx(by_fold.std(ddof=1))
    summary = pd.read_csv(path / "cv_summary.csv")
    assert summary["auc_mean"].max() == pytest.approx(metrics["cv"]["mean"]["auc"])
    scores = pd.read_csv(path / "scores.csv")
    assert len(scores) == N and list(scores.columns[:5]) == ["applicant", "creditability",
                                                             "fold", "pd_oof", "pd_oof_raw"]
    # The pooled out-of-fold metrics score the PDs before calibration (sklearn's AUC).
    from sklearn.metrics import roc_auc_score
    bad = (scores["creditability"] == cfg.data.positive).to_numpy()
    assert metrics["cv"]["pooled_out_of_fold"]["auc"] == pytest.approx(
        roc_auc_score(bad, scores["pd_oof_raw"]), abs=1e-12)   # float64
    t = metrics["decision"]["threshold"]
    assert ((scores["pd"] >= t) == (scores["decision"] == "reject")).all()
    assert (scores["points_1"].dropna() < 0).all()
    assert (scores["points_1"].dropna() <= scores["points_2"].dropna().reindex(
        scores["points_1"].dropna().index).fillna(0)).all()
    gains = pd.read_csv(path / "gains.csv")   # deciles of pd_oof, riskiest first
    assert gains["applicants"].sum() == N and gains["bads"].sum() == bad.sum()
    assert (np.diff(gains["mean_pd"]) < 0).all()
    expected = gains["applicants"] * gains["mean_pd"]
    hl = sum((gains["bads"] - expected) ** 2 / (expected * (1 - gains["mean_pd"])))
    assert metrics["cv"]["hosmer_lemeshow"]["statistic"] == pytest.approx(hl, rel=1e-9)
    # Calibration slope of the same PDs: scikit-learn's unpenalised fit on their logits.
    from sklearn.linear_model import LogisticRegression
    logits = np.log(scores["pd_oof"] / (1 - scores["pd_oof"])).to_numpy()[:, None]
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(logits, bad)
    assert metrics["cv"]["calibration_slope"] == pytest.approx(ref.coef_[0, 0], abs=1e-6)
    new = pd.read_csv(path / "new_scores.csv")
    assert len(new) == 25 and "psi_new_applicants" in metrics["stability"]
    # The same applicants scored again (float32 logits, other batches: rounding only).
    np.testing.assert_allclose(new["score"], scores["score"].iloc[:25], rtol=1e-6)
    report = (path / "report.md").read_text()
    assert report.startswith(f"# Credit scoring: {str(cfg.data.path)!r}\n")   # not the name
    assert "## Decision under the cost matrix" in report and "## Files" in report
    assert "## Rank ordering and calibration by PD band" in report
    cv = metrics["cv"]
    assert (f"(slope {cv['calibration_slope']:.3f}, calibration-in-the-large "
            f"{cv['calibration_in_the_large']:+.3f}): the slope is b in" in report)
    assert "{'" not in report   # no Python dict reprs
    assert not undescribed(path)   # a sweep: grid.json too
    # The data statement, from the input csv and each applicant's fold in scores.csv.
    labels = pd.read_csv(cfg.data.path)["creditability"]
    n_bad = int((labels == cfg.data.positive).sum())
    folds = pd.crosstab(scores["fold"], scores["creditability"] == cfg.data.positive)
    assert (f"Data: {len(labels)} labelled rows read ({n_bad} bad, {len(labels) - n_bad} "
            f"good); none dropped (a missing label is refused). 3-fold cross-validation on "
            f"{len(labels)}: validation folds of {', '.join(map(str, folds.sum(axis=1)))} "
            f"applicants ({', '.join(map(str, folds[True]))} bads); the final model refits "
            "on all of them. Scored only (never fitted on): 25 new applicants") in report
    silent = int(((scores["decision"] == "reject") & scores["reason_1"].isna()).sum())
    assert metrics["final"]["rejected_without_reason"] == silent
    # The chosen configuration against the runner-up (the other weight decay), from
    # cv_table.csv: seeds averaged per fold, then Nadeau & Bengio's corrected t by hand.
    (vs,) = metrics["selection"]["comparisons"]
    other = table[table["config"] == vs["config"]]
    assert vs["against"] == "runner_up" and vs["config"] != metrics["best"]["config"]
    d = by_fold.to_numpy() - other.groupby("fold")["auc"].mean().to_numpy()
    n_val = np.bincount(scores["fold"]).mean()
    se = np.sqrt((1 / 3 + n_val / (N - n_val)) * np.var(d, ddof=1))
    assert vs["difference"] == pytest.approx(d.mean())
    assert vs["p_value"] == pytest.approx(2 * scipy.stats.t.sf(abs(d.mean()) / se, 2))
    assert vs["ci_95"][1] == pytest.approx(d.mean() + scipy.stats.t.ppf(0.975, 2) * se)
    per_seed = best.groupby("seed")["auc"].mean()
    spread = metrics["selection"]["seed_spread"]
    assert [spread["min"], spread["max"], spread["std"]] == pytest.approx(
        [per_seed.min(), per_seed.max(), per_seed.std(ddof=1)])
    assert f"95% interval {vs['ci_95'][0]:+.4f} to {vs['ci_95'][1]:+.4f}" in report
    assert "(the 2 seeds averaged within each fold)" in report
    assert (f"mean CV AUC over its 2 seeds runs {per_seed.min():.4f} to "
            f"{per_seed.max():.4f} (std {per_seed.std(ddof=1):.4f})") in report
    assert (f"{silent} rejected applicant(s) have no reason code" in report) == (silent > 0)


def test_the_characteristics_bin_as_the_chosen_configuration(csv_path, tmp_path):
    """A sweep over data.woe_bins chooses a value; characteristics.csv binned every
    column with the run's own data.woe_bins (5) instead, whichever the sweep chose."""
    cfg = small_config(csv_path, out=str(tmp_path / "run"),
                       data=CreditDataConfig(path=str(csv_path), woe="numeric"),
                       sweep=Config().sweep.__class__(folds=2),
                       train=TrainConfig(epochs=1, batch_size=256, restore_best=False))
    path = run(cfg, grid={"data.woe_bins": [2, 3]}, progress=False)
    best = json.loads((path / "metrics.json").read_text())["best"]
    summary = pd.read_csv(path / "cv_summary.csv").set_index("config")
    chosen = int(summary.loc[best["config"], "data.woe_bins"])
    assert f"woe=numeric, woe_bins={chosen}, woe_monotone=False" in best["description"]
    chars = pd.read_csv(path / "characteristics.csv")
    numeric = chars[chars["kind"] == "numeric"]
    assert chosen != cfg.data.woe_bins and len(numeric)
    assert numeric["bins"].max() == chosen       # credit_amount: hundreds of distinct values


def test_rejections_without_a_reason_code_are_counted_and_reported(csv_path, tmp_path,
                                                                    monkeypatch):
    """Reason codes are relative to the reference (mean) applicant: one whose attributes
    all lower the PD below the reference's gets none, and rejected at a threshold below
    the reference's PD, it had no reason given (a user's MLP: 104 such rejections), as has
    one whose attributes each cost under 0.5 points (this 3-epoch model's weights are
    small: many). The reasons of 7 more rejected applicants are removed, as such
    applicants would have none."""
    import importlib
    run_module = importlib.import_module("fjax.tasks.credit.run")
    scored = run_module.scored
    silent = []

    def without_reasons(*args):
        out, *rest = scored(*args)
        reject = out["decision"] == "reject"
        silent.append(int((reject & (out["reason_1"] == "")).sum()))
        first = out.index[reject & (out["reason_1"] != "")][:7]
        out.loc[first, [c for c in out.columns if c.startswith(("reason_", "value_"))]] = ""
        return (out, *rest)

    monkeypatch.setattr(run_module, "scored", without_reasons)
    path = run(small_config(csv_path, out=str(tmp_path)), progress=False)
    (before,) = silent
    assert json.loads((path / "metrics.json").read_text())["final"][
        "rejected_without_reason"] == before + 7
    assert (f"{before + 7} rejected applicant(s) have no reason code"
            in (path / "report.md").read_text())


def test_mlp_run_explains_with_complete_integrated_gradients(csv_path, tmp_path):
    keep = {"duration_in_month", "credit_amount", "age_in_years", "purpose",
            "status_of_existing_checking_account", "credit_history", "creditability"}
    drop = tuple(c for c in load_dataset("german_credit").columns if c not in keep)
    cfg = small_config(csv_path, out=str(tmp_path),
                       data=CreditDataConfig(path=str(csv_path), drop=drop),
                       model=dataclasses.replace(Config().model, kind="mlp", hidden=(8,)),
                       scorecard=ScorecardConfig(ig_steps=32))
    path = run(cfg, progress=False)
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["final"]["attribution_completeness_max_error"] <= 1e-3
    assert metrics["final"]["attribution_completeness_tolerance"] == 1e-3
    assert "within scorecard.ig_tolerance 0.001" in (path / "report.md").read_text()
    assert not (path / "scorecard.csv").exists()
    scores = pd.read_csv(path / "scores.csv")
    assert set(scores["reason_1"].dropna()) <= keep - {"creditability"}


def test_bad_input_fails_before_anything_is_written(csv_path, tmp_path):
    frame = pd.read_csv(csv_path)
    frame.loc[:4, "creditability"] = "unknown"  # a third class
    bad = tmp_path / "three_classes.csv"
    frame.to_csv(bad, index=False)
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="target column 'creditability'.*exactly two"):
        run(small_config(bad, out=str(out)), progress=False)
    assert not out.exists()


def test_the_best_config_is_chosen_among_those_without_diverged_members():
    from fjax.tasks.credit.search import best_config_id
    summary = pd.DataFrame({"config": [0, 1, 2], "auc_mean": [0.70, 0.90, 0.75],
                            "diverged": [0, 1, 0]})
    assert best_config_id(summary) == 2
    assert best_config_id(summary.assign(diverged=[1, 1, 2])) == 1
    # A config all of whose members diverged has no mean: never chosen, and if none
    # has one, the run stops and says so.
    assert best_config_id(summary.assign(auc_mean=[0.70, np.nan, 0.75], diverged=[1, 5, 2])) == 2
    with pytest.raises(TrainingDiverged, match="every member of every configuration diverged"):
        best_config_id(summary.assign(auc_mean=np.nan))


def test_a_diverged_configs_members_are_n_a_in_the_cv_table(csv_path):
    from fjax.tasks.credit.search import cross_validate
    cfg = small_config(csv_path, optim=OptimConfig(name="sgd", learning_rate=1e-2))
    # The warning names the run's file, not the Python API's summary() and table().
    with pytest.warns(UserWarning, match=r"diverged.*fold=0.*They rank last in the choice of "
                      r"settings; see cv_table.csv's diverged_epoch$"):
        search = cross_validate(cfg, {"optim.learning_rate": [1e-2, 1e38]}, load(cfg),
                                progress=False)
    diverged = search.table["diverged_epoch"] > 0
    assert diverged.sum() == 3 and (search.table.loc[diverged, "optim.learning_rate"] == 1e38).all()
    assert search.table.loc[diverged, ["auc", "ks", "psi"]].isna().all().all()
    assert search.table.loc[~diverged, ["auc", "ks", "psi"]].notna().all().all()


def test_a_diverged_member_is_not_scored_as_a_coin_flip():
    """NaN logits ranked as AUC 0.5, KS 0 and PSI 0 (perfectly stable), with a numpy
    warning from binning NaN PDs; now every metric of such a member is n/a."""
    rng = np.random.default_rng(0)
    n, k = 80, 2
    y = (rng.random(n) < 0.4).astype(np.float32)
    val = np.stack([np.arange(n) % k == j for j in range(k)]).astype(np.float32)
    z = rng.normal(size=(3, n)).astype(np.float32) + y
    z[1, 5] = np.nan
    fold = np.array([0, 1, 1])
    scale = ScoreScale(600.0, 50.0, 20.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = member_metrics(z, fold, y, val, 1 - val, scale)
    assert table.loc[1].isna().all() and table.loc[[0, 2]].notna().all().all()
    alone = member_metrics(z[[0, 2]], fold[[0, 2]], y, val, 1 - val, scale)
    np.testing.assert_allclose(table.loc[[0, 2]].to_numpy(), alone.to_numpy())


def test_a_bad_file_to_score_fails_before_training(csv_path, tmp_path):
    missing = tmp_path / "nowhere.csv"
    cfg = small_config(csv_path, out=str(tmp_path / "a"), data=CreditDataConfig(
        path=str(csv_path), score_path=str(missing)))
    with pytest.raises(ValueError, match="nowhere.csv"):
        run(cfg, progress=False)
    pd.read_csv(csv_path).drop(columns=["purpose"]).to_csv(tmp_path / "new.csv", index=False)
    cfg = small_config(csv_path, out=str(tmp_path / "b"), data=CreditDataConfig(
        path=str(csv_path), score_path=str(tmp_path / "new.csv")))
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['purpose'\]"):
        run(cfg, progress=False)
    # A value a numeric column cannot hold: named before training, with the file.
    bad = pd.read_csv(csv_path.with_name("new.csv")).astype({"credit_amount": object})
    bad.loc[3, "credit_amount"] = "abc"
    bad.to_csv(tmp_path / "text.csv", index=False)
    cfg = small_config(csv_path, out=str(tmp_path / "c"), data=CreditDataConfig(
        path=str(csv_path), score_path=str(tmp_path / "text.csv")))
    with pytest.raises(ValueError, match=r"data.score_path .*text.csv.*'credit_amount' has "
                                         r"non-numeric text 'abc'"):
        run(cfg, progress=False)
    assert not (tmp_path / "c").exists()
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_too_few_rows_are_named_before_the_columns(csv_path, tmp_path):
    pd.read_csv(csv_path).head(1).to_csv(tmp_path / "one.csv", index=False)
    with pytest.raises(ValueError, match=r"one.csv' has 1 row\(s\); 3-fold cross-validation"):
        load(small_config(tmp_path / "one.csv"))


def _oof_case(seed=0, n=160, k=4):
    rng = np.random.default_rng(seed)
    pd_raw = np.round(rng.uniform(0.02, 0.98, n), 3)
    y = (rng.uniform(size=n) < pd_raw ** 2).astype(float)     # miscalibrated on purpose
    return pd_raw, y, stratified_kfold(y, k, seed=seed)


def test_cross_fitted_calibration_and_threshold_never_read_the_folds_own_labels():
    """Fold j's calibrator and cost threshold are fitted on the other folds only."""
    pd_raw, y, folds = _oof_case()
    got = analyse(pd_raw, y, folds, "isotonic", cost_fn=5.0, cost_fp=1.0)
    for j in range(folds.k):
        inside, outside = got.fold == j, got.fold != j
        iso = fit_isotonic(pd_raw[outside], y[outside])   # scikit-learn's, shrunk: test_scorecard
        np.testing.assert_allclose(got.pd[inside], iso(pd_raw[inside]), atol=1e-12)
        # the fold's threshold is a brute-force cost minimum on the other folds
        cal_out = iso(pd_raw[outside])
        cost = lambda t: (5.0 * np.sum((cal_out < t) & (y[outside] == 1))   # noqa: E731
                          + 1.0 * np.sum((cal_out >= t) & (y[outside] == 0))) / outside.sum()
        best = min(cost(t) for t in np.r_[np.unique(cal_out), 2.0])
        assert cost(got.per_fold["threshold"][j]) == pytest.approx(best, abs=1e-12)
    # flipping fold 0's labels changes neither fold 0's calibrated PDs nor its threshold
    flipped = y.copy()
    flipped[got.fold == 0] = 1 - flipped[got.fold == 0]
    again = analyse(pd_raw, flipped, folds, "isotonic", cost_fn=5.0, cost_fp=1.0)
    np.testing.assert_array_equal(again.pd[got.fold == 0], got.pd[got.fold == 0])
    assert again.per_fold["threshold"][0] == got.per_fold["threshold"][0]


@pytest.mark.parametrize("calibration", ["platt", "isotonic"])
def test_cross_fitted_calibrated_log_loss_against_scikit_learn(calibration):
    """Each fold's `cal_log_loss` is scikit-learn's log_loss of its PDs calibrated on the
    other folds: Platt by scikit-learn's (unpenalised) LogisticRegression on the logits,
    isotonic by its least-squares blocks shrunk by hand (test_scorecard's oracle)."""
    from scipy.special import logit
    from sklearn.metrics import log_loss
    from test_scorecard import shrunk_isotonic
    pd_raw, y, folds = _oof_case(seed=3)
    got = analyse(pd_raw, y, folds, calibration, cost_fn=5.0, cost_fp=1.0)
    for j in range(folds.k):
        inside, outside = got.fold == j, got.fold != j
        if calibration == "platt":
            ref = LogisticRegression(C=1e12, tol=1e-12, max_iter=10_000).fit(
                logit(pd_raw[outside])[:, None], y[outside])
            cal = ref.predict_proba(logit(pd_raw[inside])[:, None])[:, 1]
        else:
            cal = shrunk_isotonic(pd_raw[outside], y[outside])[0](pd_raw[inside])
        assert got.per_fold["cal_log_loss"][j] == pytest.approx(   # scikit-learn's lbfgs
            log_loss(y[inside], cal), abs=1e-8)
        assert got.per_fold["cal_log_loss"][j] != pytest.approx(   # not the raw PDs'
            log_loss(y[inside], pd_raw[inside]), rel=1e-3)
    assert got.summary["cal_log_loss_clipped"] == 0
    assert "cal_log_loss" not in analyse(pd_raw, y, folds, "none", 5.0, 1.0).per_fold


def test_calibrated_log_loss_clips_pds_as_fjax_log_loss_and_the_report_says_so():
    """Platt on folds that separate the classes but for one bad at a low PD, held out:
    its calibrated PD underflows below 1e-7 (to 0 in float64: an infinite log-loss). It is
    clipped to [1e-7, 1 - 1e-7] as `fjax.metrics.log_loss` clips, counted and reported."""
    from sklearn.metrics import log_loss
    from fjax.tasks.credit.report import per_fold_text
    y = np.tile([0.0, 1.0], 40)
    pd_raw = np.where(y > 0, 0.7, 0.3) + np.linspace(0, 0.1, 80)
    y[0], pd_raw[0] = 1.0, 0.05                              # a bad at a low PD
    folds = kfold(80, 4, seed=0)
    got = analyse(pd_raw, y, folds, "platt", cost_fn=5.0, cost_fp=1.0)
    clipped = (got.pd < 1e-7) | (got.pd > 1 - 1e-7)
    assert clipped.sum() > 0 and got.summary["cal_log_loss_clipped"] == clipped.sum()
    assert got.pd[0] < 1e-7 and np.isfinite(got.per_fold["cal_log_loss"]).all()
    for j in range(folds.k):
        inside = got.fold == j
        assert got.per_fold["cal_log_loss"][j] == pytest.approx(
            log_loss(y[inside], np.clip(got.pd[inside], 1e-7, 1 - 1e-7)), rel=1e-12)
    per_fold = got.per_fold.assign(brier=0.2, log_loss=0.6)
    text = per_fold_text({"cv": {"seeds": 1}, "decision": got.summary}, per_fold)
    assert (f"{clipped.sum()} calibrated PDs were clipped to [1e-07, 1 - 1e-07] for the "
            "log-loss") in text


def test_isotonic_pds_on_the_german_data_stay_strictly_inside_0_and_1():
    """`fjax run credit --scorecard.calibration isotonic` deployed 73 of 1000 PDs of 0 and
    4 of 1, and cross-fitted one bad PD 0 (log loss infinite): least squares gives a block
    without a bad PD 0. On the default data's out-of-fold PDs (a logistic regression, 5
    folds) every PD is now inside (0, 1) and the log loss finite; the lowest least-squares
    block, n goods without a bad, gets 0.5 / (n + 1) by hand."""
    frame = load_dataset("german_credit")
    y = (frame.pop("creditability") == "bad").to_numpy(float)
    x = pd.get_dummies(frame, dtype=float).to_numpy()
    x = (x - x.mean(0)) / x.std(0)
    folds = stratified_kfold(y, 5, seed=0)
    pd_raw = np.empty(len(y))
    for j in range(folds.k):
        v = folds.val[j] > 0
        model = LogisticRegression(C=0.1, max_iter=1000).fit(x[~v], y[~v])
        pd_raw[v] = model.predict_proba(x[v])[:, 1]
    least_squares = IsotonicRegression().fit(pd_raw, y).predict(pd_raw)
    lowest = least_squares == 0                          # the case: 76 goods at PD 0
    assert lowest.sum() > 10 and y[lowest].sum() == 0
    got = analyse(pd_raw, y, folds, "isotonic", cost_fn=5.0, cost_fp=1.0)
    deployed = got.calibrator(pd_raw)
    for p in (got.pd, deployed):                         # cross-fitted, deployed
        assert 0 < p.min() and p.max() < 1
        assert np.isfinite(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))
    np.testing.assert_allclose(deployed[lowest], 0.5 / (lowest.sum() + 1), rtol=1e-12)


def test_accept_all_costs_every_bad_and_reject_all_every_good():
    """Accepting everyone misses every bad (cost_fn each); rejecting everyone, every good."""
    pd_raw, y, folds = _oof_case(seed=1)
    s = analyse(pd_raw, y, folds, "none", cost_fn=5.0, cost_fp=1.0).summary
    bad = y.sum() / len(y)
    assert s["cost_accept_all"] == pytest.approx(5.0 * bad)
    assert s["cost_reject_all"] == pytest.approx(1.0 * (1 - bad))
    assert s["bayes_threshold"] == pytest.approx(1 / 6)


def test_member_psi_compares_validation_scores_against_training_scores():
    """PSI is asymmetric: expected = the fold's training scores, actual = its validation."""
    n = 20
    folds = kfold(n, 2, seed=0)
    train0, val0 = folds.train[0] > 0, folds.val[0] > 0
    z = np.zeros((1, n), np.float32)
    z[0, train0] = np.arange(10) / 10          # ten distinct training scores, one per decile
    z[0, val0] = 0.0                           # every validation score in one training decile
    y = np.tile([0.0, 1.0], n // 2)
    table = member_metrics(z, np.array([0]), y, folds.val, folds.train, ScoreScale())
    # shares: validation 1.0 in one decile (training 0.1), 0 (floored to 1e-4) in the other nine
    hand = 0.9 * np.log(1.0 / 0.1) + 9 * (1e-4 - 0.1) * np.log(1e-4 / 0.1)
    assert table["psi"][0] == pytest.approx(hand, rel=1e-9)


def test_fewer_rows_than_two_per_fold_are_refused(csv_path, tmp_path):
    pd.read_csv(csv_path).head(5).to_csv(tmp_path / "five.csv", index=False)
    with pytest.raises(ValueError, match=r"five.csv' has 5 row\(s\); 3-fold cross-validation "
                                         r"needs .* \(6 rows\)"):
        load(small_config(tmp_path / "five.csv"))


def test_folds_follow_the_configured_seed(csv_path):
    data = load(small_config(csv_path, seed=7))
    want = stratified_kfold(data.y, 3, seed=7)
    np.testing.assert_array_equal(data.folds.val, want.val)
    assert not np.array_equal(want.val, stratified_kfold(data.y, 3, seed=0).val)


def test_the_mlp_design_holds_category_indices_and_the_logistic_one_hot_columns(csv_path):
    cfg = small_config(csv_path)
    data = load(cfg)
    logistic = fold_design(cfg, data)
    assert logistic.shape.cardinalities == ()
    mlp_cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, kind="mlp"))
    mlp = fold_design(mlp_cfg, data)
    cats = data.schema.categorical
    assert mlp.encoders[0].cat_columns == cats
    assert mlp.shape.cardinalities == tuple(
        max(len(e.vocab[c]) + 1 for e in mlp.encoders) for c in cats)
    x = mlp.stack.data["x"]
    assert x.shape[1] == mlp.shape.n_numeric + len(cats)
    # the last columns are integer category indices within each table
    idx = x[:, mlp.shape.n_numeric:]
    np.testing.assert_array_equal(idx, np.round(idx))
    assert (idx.max(axis=0) < np.array(mlp.shape.cardinalities)).all()


def test_member_metrics_read_only_the_members_validation_fold():
    """AUC, Gini, KS, Brier, log loss and ECE of a member: its fold's validation rows only
    (scikit-learn and numpy float64 as oracles)."""
    from scipy.special import expit
    from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve
    from sklearn.metrics import log_loss as sk_log_loss
    rng = np.random.default_rng(5)
    n = 60
    y = (rng.uniform(size=n) < 0.4).astype(np.float64)
    folds = stratified_kfold(y, 3, seed=0)
    z = (rng.normal(size=(2, n)) + 1.5 * y).astype(np.float32)
    z[:, folds.train[2] > 0] = 5.0 * (2 * y[folds.train[2] > 0] - 1)   # perfect on training rows
    fold = np.array([2, 2])
    table = member_metrics(z, fold, y.astype(np.float32), folds.val, folds.train, ScoreScale())
    v = folds.val[2] > 0
    for m in range(2):
        zv, yv = z[m, v].astype(np.float64), y[v]
        p = expit(zv)
        auc = roc_auc_score(yv, zv)
        fpr, tpr, _ = roc_curve(yv, zv)
        bins = np.minimum((p * 10).astype(int), 9)
        ece = sum(abs(p[bins == b].mean() - yv[bins == b].mean()) * (bins == b).sum()
                  for b in np.unique(bins)) / len(p)
        row = table.iloc[m]
        assert row["auc"] == pytest.approx(auc, abs=1e-5)
        assert row["gini"] == pytest.approx(2 * auc - 1, abs=1e-5)
        assert row["ks"] == pytest.approx(np.max(tpr - fpr), abs=1e-5)
        assert row["brier"] == pytest.approx(brier_score_loss(yv, p), rel=1e-12)   # float64
        assert row["log_loss"] == pytest.approx(sk_log_loss(yv, p), rel=1e-13)   # float64
        assert row["ece"] == pytest.approx(ece, abs=1e-9)


def _sure_and_ordinary_members(sure: float):
    """(member_metrics' table, y, the validation rows, f32[2, 60] logits) of two members
    validated on fold 1 of 3: one at logit `sure` on every bad and -`sure` on every good,
    one ordinary."""
    rng = np.random.default_rng(7)
    n = 60
    y = (rng.uniform(size=n) < 0.4).astype(np.float64)
    folds = stratified_kfold(y, 3, seed=0)
    z = np.stack([np.where(y > 0, sure, -sure), rng.normal(size=n) + y]).astype(np.float32)
    table = member_metrics(z, np.array([1, 1]), y, folds.val, folds.train, ScoreScale())
    return table, y, folds.val[1] > 0, z


def test_raw_and_calibrated_log_losses_share_precision_and_clipping():
    """The per-fold raw `log_loss` is computed as the calibrated `cal_log_loss` is
    (`log_loss_f64`: float64, PDs clipped to [1e-7, 1 - 1e-7]), so the two compare.
    By hand: a member sure of the wrong class on every validation row (logit -40 on bads,
    +40 on goods) loses -log(1e-7) = 16.118 per row; float32's 1 - 1e-7 rounds to
    1 - 1.19e-7, which read 15.94 for the goods. Ordinary logits: scikit-learn's float64
    log_loss."""
    from scipy.special import expit
    from sklearn.metrics import log_loss as sk_log_loss

    from fjax.tasks.credit.oof import log_loss_f64
    table, y, v, z = _sure_and_ordinary_members(-40.0)
    wrong = z[0].astype(np.float64)
    assert table["log_loss"][0] == pytest.approx(-np.log(1e-7), rel=1e-9)   # 1 - 1e-7: inexact
    assert table["log_loss"][0] == log_loss_f64(expit(wrong[v]), y[v])
    p = expit(z[1, v].astype(np.float64))
    assert table["log_loss"][1] == pytest.approx(sk_log_loss(y[v], p), rel=1e-13)


def test_raw_and_calibrated_brier_scores_share_precision():
    """The per-fold raw `brier` is computed as the calibrated `cal_brier` is (float64 PDs,
    numpy's mean of (pd - y)^2), so the report's verdict compares the two in one precision.
    A member right on every validation row (logit +20 on bads, -20 on goods) scores
    expit(-20)^2 = 4.2e-18 per row; float32's sigmoid(20) is exactly 1, which read 0 for
    the bads (2.5e-18 here). Oracles: scikit-learn's float64 brier_score_loss (to 7
    digits there: it forms 1 - (1 - p) for the goods), float64 numpy."""
    from scipy.special import expit
    from sklearn.metrics import brier_score_loss

    table, y, v, z = _sure_and_ordinary_members(20.0)
    right = z[0].astype(np.float64)
    p = expit(right[v])
    assert table["brier"][0] == pytest.approx(expit(-20.0) ** 2, rel=1e-6, abs=0)   # 1 - p
    assert table["brier"][0] == pytest.approx(np.mean((p - y[v]) ** 2), rel=1e-12, abs=0)
    assert table["brier"][0] == pytest.approx(brier_score_loss(y[v], p), rel=1e-6, abs=0)
    p = expit(z[1, v].astype(np.float64))
    assert table["brier"][1] == pytest.approx(brier_score_loss(y[v], p), rel=1e-12)


def test_out_of_fold_pd_averages_the_seeds_that_validated_each_row():
    from scipy.special import expit

    from fjax.tasks.credit.oof import oof_pd
    y = np.array([0, 1] * 6, np.float64)
    folds = stratified_kfold(y, 2, seed=0)
    z = np.random.default_rng(0).normal(size=(4, 12))
    members = pd.DataFrame({"member": [0, 1, 2, 3], "fold": [0, 1, 0, 1]})  # 2 seeds x 2 folds
    got = oof_pd(z, members, folds)
    v0 = folds.val[0] > 0
    want = np.where(v0, (expit(z[0]) + expit(z[2])) / 2, (expit(z[1]) + expit(z[3])) / 2)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_the_earlier_applicants_cost_beside_the_later_ones_is_cross_fitted():
    """The out-of-time table's earlier row: each fold's applicants at the t the other
    folds give (by hand), pooled; the deployed t, fitted on these same PDs, was their
    cheapest (0.2875 against 0.31875 here) and flattered them beside the later ones."""
    from types import SimpleNamespace
    from fjax.tasks.credit.run import out_of_time_facts
    pd_raw, y, folds = _oof_case(seed=0)
    oof = analyse(pd_raw, y, folds, "none", cost_fn=5.0, cost_fp=1.0)
    assert oof.summary["threshold_rule"] == "fitted"

    def cost(p, yy, t):
        return (5.0 * np.sum((p < t) & (yy == 1)) + np.sum((p >= t) & (yy == 0))) / len(p)

    by_hand = sum(cost(pd_raw[oof.fold == j], y[oof.fold == j], oof.per_fold["threshold"][j])
                  * np.sum(oof.fold == j) for j in range(folds.k)) / len(y)
    assert by_hand > cost(pd_raw, y, oof.threshold) + 0.02
    later_y = np.array([0.0, 1.0, 0.0])
    data = SimpleNamespace(y=y, later_y=later_y, later=pd.DataFrame(), later_seen_earlier=0,
                           date_spans={"earlier": ["a", "b"], "later": ["c", "d"]})
    final = SimpleNamespace(encoder=SimpleNamespace(unseen=lambda frame: {}))
    later = pd.DataFrame({"pd": [0.1, 0.8, 0.3], "score": [600.0, 500.0, 550.0]})
    cfg = Config(data=CreditDataConfig(path="loans.csv", date_column="applied"))
    facts = out_of_time_facts(cfg, data, oof, final, pd.DataFrame({"score": pd_raw}), later,
                              later["pd"].to_numpy(), Gains.of(later["pd"].to_numpy(),
                                                               data.later_y))
    assert facts["earlier_out_of_fold"]["cost_per_applicant"] == pytest.approx(by_hand)
    # Its confusion counts are those same cross-fitted decisions (by hand: each fold's rows
    # rejected at its own t), so 5 FN + FP over n is the cost; they were at the deployed t.
    t_row = oof.per_fold["threshold"].to_numpy()[oof.fold]
    reject, bad = pd_raw >= t_row, y == 1
    want = {"tp": int(np.sum(reject & bad)), "fp": int(np.sum(reject & ~bad)),
            "fn": int(np.sum(~reject & bad)), "tn": int(np.sum(~reject & ~bad))}
    assert facts["earlier_out_of_fold"]["confusion"] == want
    assert (5.0 * want["fn"] + want["fp"]) / len(y) == pytest.approx(by_hand)
    assert facts["later"]["cost_per_applicant"] == pytest.approx(cost(later["pd"], later_y,
                                                                      oof.threshold))


@pytest.mark.parametrize("calibration, rule", [("none", "fitted"), ("platt", "bayes")])
def test_the_out_of_time_cost_column_says_at_which_t_each_row_is_costed(calibration, rule):
    """The earlier row's cost is at each fold's t: under the fitted rule a t fitted on the
    other folds, not the t shown (the header said 'cost at t', then 'each fold's own t', and
    the text 'each fold at the t of the other folds' under either rule); under the Bayes
    rule the fixed Bayes t, the t shown, for both rows. Costs by hand (numpy) on the
    deployed PDs."""
    from types import SimpleNamespace
    from fjax.tasks.credit.report import out_of_time_lines
    from fjax.tasks.credit.run import out_of_time_facts
    pd_raw, y, folds = _oof_case(seed=0)
    oof = analyse(pd_raw, y, folds, calibration, cost_fn=5.0, cost_fp=1.0)
    assert oof.summary["threshold_rule"] == rule

    def cost(p, yy, t):
        return (5.0 * np.sum((p < t) & (yy == 1)) + np.sum((p >= t) & (yy == 0))) / len(p)

    t_row = oof.per_fold["threshold"].to_numpy()[oof.fold] if rule == "fitted" else 1 / 6
    by_hand = (5.0 * np.sum((oof.pd < t_row) & (y == 1))
               + np.sum((oof.pd >= t_row) & (y == 0))) / len(y)
    data = SimpleNamespace(y=y, later_y=np.array([0.0, 1.0]), later=pd.DataFrame(),
                           later_seen_earlier=0,
                           date_spans={"earlier": ["a", "b"], "later": ["c", "d"]})
    final = SimpleNamespace(encoder=SimpleNamespace(unseen=lambda frame: {}))
    later = pd.DataFrame({"pd": [0.1, 0.8], "score": [600.0, 500.0]})
    cfg = Config(data=CreditDataConfig(path="loans.csv", date_column="applied"))
    facts = out_of_time_facts(cfg, data, oof, final, pd.DataFrame({"score": pd_raw}), later,
                              later["pd"].to_numpy(), Gains.of(later["pd"].to_numpy(),
                                                               data.later_y))
    assert facts["earlier_out_of_fold"]["cost_per_applicant"] == pytest.approx(by_hand)
    text = "\n".join(out_of_time_lines(facts))
    if rule == "fitted":
        assert by_hand != pytest.approx(cost(oof.pd, y, oof.threshold))
        assert "| cost at t (earlier: each fold's t fitted on the other folds) |" in text
        assert "own t" not in text
        assert "each fold at the t fitted on the other folds" in text
    else:
        assert oof.threshold == 1 / 6 and by_hand == pytest.approx(cost(oof.pd, y, 1 / 6))
        assert "| cost at t |" in text and "both rows' cost at the Bayes t shown" in text
        assert "other folds" not in text
    assert "The AUC's 95% interval is DeLong's" in text


def _out_of_time_case(calibration, later, later_y):
    """(y, the out-of-fold analysis, `out_of_time_facts`) of `_oof_case(seed=1)` as the
    earlier applicants and `later` (pd, score) with labels `later_y` as the later ones."""
    from types import SimpleNamespace
    from fjax.tasks.credit.run import out_of_time_facts
    pd_raw, y, folds = _oof_case(seed=1)
    oof = analyse(pd_raw, y, folds, calibration, cost_fn=5.0, cost_fp=1.0)
    data = SimpleNamespace(y=y, later_y=later_y, later=pd.DataFrame(), later_seen_earlier=0,
                           date_spans={"earlier": ["a", "b"], "later": ["c", "d"]})
    final = SimpleNamespace(encoder=SimpleNamespace(unseen=lambda frame: {}))
    cfg = Config(data=CreditDataConfig(path="loans.csv", date_column="applied"))
    pds = later["pd"].to_numpy()
    return y, oof, out_of_time_facts(cfg, data, oof, final, pd.DataFrame({"score": pd_raw}),
                                     later, pds, Gains.of(pds, later_y))


def test_out_of_time_brier_scores_are_float64_as_the_cross_validations():
    """The out-of-time table's Brier scores (earlier and later rows) were fjax's float32
    metric beside the cross-validation's float64 ones (`pooled`, `cal_brier`): here float32
    read the later one 2.7e-7 off, relative. Oracle: scikit-learn's float64
    brier_score_loss (its 1 - (1 - p) for goods is exact to 1e-12 on PDs of 1e-3 and more)."""
    from sklearn.metrics import brier_score_loss
    from fjax import metrics
    later_y = np.array([0.0, 1.0, 0.0, 0.0])
    later = pd.DataFrame({"pd": [0.001234567, 0.998765432, 0.0021, 0.0123],
                          "score": [700.0, 400.0, 690.0, 650.0]})
    y, oof, facts = _out_of_time_case("none", later, later_y)
    want = brier_score_loss(later_y, later["pd"])
    assert facts["later"]["brier"] == pytest.approx(want, rel=1e-12, abs=0)
    assert float(metrics.brier(later["pd"].to_numpy(), later_y)) != pytest.approx(want, rel=1e-8)
    assert facts["earlier_out_of_fold"]["brier"] == pytest.approx(
        brier_score_loss(y, oof.pd), rel=1e-12, abs=0)


def test_out_of_time_calibration_slope_and_citl_are_of_the_deployed_pds():
    """Both rows of the out-of-time table carry the calibration slope (oracle: scikit-learn's
    unpenalised logistic regression on logit PD) and calibration-in-the-large (oracle:
    scipy's brentq on its score equation) of the deployed, Platt-calibrated PDs."""
    from scipy.optimize import brentq
    from scipy.special import expit, logit
    from sklearn.linear_model import LogisticRegression
    later_y = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 0.0])
    later = pd.DataFrame({"pd": [0.1, 0.2, 0.3, 0.05, 0.6, 1.0],
                          "score": [700.0, 600.0, 650.0, 690.0, 500.0, 300.0]})
    y, oof, facts = _out_of_time_case("platt", later, later_y)
    pd_raw = _oof_case(seed=1)[0]

    def oracle(p, y):
        s = logit(np.clip(p, 1e-7, 1 - 1e-7))
        fit = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(s[:, None], y)
        return fit.coef_[0, 0], brentq(lambda a: np.sum(expit(a + s) - y), -50, 50,
                                       xtol=1e-14)

    for got, p, labels in ((facts["later"], later["pd"].to_numpy(), later_y),
                           (facts["earlier_out_of_fold"], oof.pd, y)):
        slope, citl = oracle(p, labels)
        assert got["calibration_slope"] == pytest.approx(slope, abs=1e-6)
        assert got["calibration_in_the_large"] == pytest.approx(citl, abs=1e-6)
    assert oracle(pd_raw, y)[0] != pytest.approx(oracle(oof.pd, y)[0], abs=1e-3)


def test_deployed_calibrator_threshold_and_summary_against_scikit_learn_and_numpy():
    """The deployed calibrator is fitted on every raw out-of-fold PD; the threshold is the
    cost minimum on its calibrated PDs; the CV summary reads the cross-fitted PDs."""
    pd_raw, y, folds = _oof_case(seed=2)
    got = analyse(pd_raw, y, folds, "isotonic", cost_fn=5.0, cost_fp=1.0)
    cal = fit_isotonic(pd_raw, y)(pd_raw)             # scikit-learn's, shrunk: test_scorecard
    np.testing.assert_allclose(got.calibrator(pd_raw), cal, atol=1e-12)
    held_out = [folds.val[j] > 0 for j in range(folds.k)]   # the sample per split
    assert list(got.per_fold["applicants"]) == [int(v.sum()) for v in held_out]
    assert list(got.per_fold["bads"]) == [int(y[v].sum()) for v in held_out]

    def cost(p, yy, t):
        return (5.0 * np.sum((p < t) & (yy == 1)) + 1.0 * np.sum((p >= t) & (yy == 0))) / len(p)

    best = min(cost(cal, y, t) for t in np.r_[np.unique(cal), 2.0])
    s = got.summary
    assert cost(cal, y, s["fitted_threshold"]) == pytest.approx(best, abs=1e-12)
    # Deployed: the rule of lower cross-fitted cost; its cost and confusion read the
    # cross-fitted PDs that scores.csv holds as pd_oof.
    fitted_wins = s["cost_per_applicant_cv_mean"] < s["cost_bayes_threshold_cv_mean"]
    assert s["threshold_rule"] == ("fitted" if fitted_wins else "bayes")
    assert got.threshold == s["threshold"] == (s["fitted_threshold"] if fitted_wins else 1 / 6)
    assert s["cost_per_applicant_oof"] == pytest.approx(cost(got.pd, y, got.threshold))
    assert s["confusion_oof"]["tp"] == int(np.sum((got.pd >= got.threshold) & (y == 1)))
    per_fold = [cost(got.pd[got.fold == j], y[got.fold == j], got.per_fold["threshold"][j])
                for j in range(folds.k)]
    bayes = [cost(got.pd[got.fold == j], y[got.fold == j], 1 / 6) for j in range(folds.k)]
    np.testing.assert_allclose(got.per_fold["cost"], per_fold, atol=1e-12)
    np.testing.assert_allclose(got.per_fold["cost_bayes"], bayes, atol=1e-12)
    assert s["cost_per_applicant_cv_mean"] == pytest.approx(np.mean(per_fold))
    assert s["cost_per_applicant_cv_std"] == pytest.approx(np.std(per_fold, ddof=1))
    assert s["cost_bayes_threshold_cv_mean"] == pytest.approx(np.mean(bayes))
    assert s["cost_bayes_threshold_cv_std"] == pytest.approx(np.std(bayes, ddof=1))
    bins = np.minimum((got.pd * 10).astype(int), 9)
    ece = sum(abs(got.pd[bins == b].mean() - y[bins == b].mean()) * (bins == b).sum()
              for b in np.unique(bins)) / len(y)
    assert s["ece_oof_calibrated_cv"] == pytest.approx(ece, abs=1e-12)
    raw = analyse(pd_raw, y, folds, "none", cost_fn=5.0, cost_fp=1.0)   # pd = pd_raw
    np.testing.assert_allclose(raw.per_fold["cost_bayes"],
                               [cost(pd_raw[raw.fold == j], y[raw.fold == j], 1 / 6)
                                for j in range(folds.k)], atol=1e-12)


def test_the_logistic_model_starts_from_zero_weights_and_the_bad_rates_log_odds():
    """Columns a fold never sees then keep weight exactly 0 (module docstring)."""
    import jax
    from fjax.tasks.credit.data import Shape
    cfg = Config()
    params = trainable(cfg, Shape(n_numeric=5, cardinalities=()), bad_rate=0.03).init_fn(
        jax.random.PRNGKey(3))["params"]["dense"]
    assert np.all(np.asarray(params["kernel"]) == 0)
    np.testing.assert_allclose(params["bias"], [np.log(0.03 / 0.97)], rtol=1e-6)


def test_a_low_default_portfolios_pds_average_its_bad_rate(tmp_path):
    """A logistic fit with an undecayed intercept has mean PD = bad rate in sample. From a
    bias of 0 (PD 0.5) the default run left a 3% portfolio's intercept short: its PDs
    averaged about 25% above the bad rate."""
    rng = np.random.default_rng(5)
    n = 3000
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                          "grade": rng.choice(list("abcd"), n)})
    z = -3.6 + 0.6 * frame["x1"] - 0.4 * frame["x2"]
    frame["label"] = np.where(rng.random(n) < 1 / (1 + np.exp(-z)), "bad", "good")
    frame.to_csv(tmp_path / "loans.csv", index=False)
    cfg = Config(data=CreditDataConfig(path=str(tmp_path / "loans.csv"), target="label"))
    data = load(cfg)
    final = refit(cfg, data, progress=False)
    pd_ = 1 / (1 + np.exp(-final.logits(final.x)))
    assert abs(pd_.mean() / data.y.mean() - 1) < 0.02


def test_summary_counts_diverged_members_and_averages_over_folds_and_seeds():
    from fjax.tasks.credit.members import METRICS
    from fjax.tasks.credit.search import summarize
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"config": [0, 0, 0, 1, 1, 1], "encoding": 0, "group": 0,
                          "fold": [0, 1, 2] * 2, "diverged_epoch": [0, 4, 0, 0, 0, 0],
                          **{m: rng.uniform(size=6) for m in METRICS}})
    s = summarize(table, ["encoding", "group"])
    assert s["config"].tolist() == [0, 1] and s["members"].tolist() == [3, 3]
    assert s["diverged"].tolist() == [1, 0]
    for c in (0, 1):
        auc = table.loc[table["config"] == c, "auc"]
        assert s["auc_mean"][c] == pytest.approx(auc.mean())
        assert s["auc_std"][c] == pytest.approx(np.std(auc.to_numpy(), ddof=1))


WIDE = ScoreScale(pdo=2000.0)
"""100 times pdo 20's points: most attributes of the 3-epoch model below cost under 0.5
points at pdo 20 (the reason floor, MATERIAL_POINTS), at most about 1."""


@pytest.fixture(scope="module")
def final_with_holes(csv_path, tmp_path_factory):
    """The logistic model refitted on applicants with a few missing credit amounts."""
    frame = pd.read_csv(csv_path)
    frame.loc[[3, 50, 100], "credit_amount"] = np.nan
    path = tmp_path_factory.mktemp("holes") / "holes.csv"
    frame.to_csv(path, index=False)
    cfg = small_config(path)
    data = load(cfg)
    return cfg, data, refit(cfg, data, progress=False)


def test_the_final_encoder_is_fitted_on_every_labelled_row(final_with_holes):
    cfg, data, final = final_with_holes
    amount = data.frame["credit_amount"].to_numpy(float)
    j = final.encoder.standardized.index("credit_amount")
    assert final.encoder.fill[j] == np.nanmedian(amount)
    everyone = fit_encoder(data.frame, data.schema, data.y, np.ones(len(data.frame), bool))
    assert final.encoder.to_dict() == everyone.to_dict()


def test_scored_pd_score_decision_and_reason_values(final_with_holes):
    """PD = calibrator(sigmoid(logit)); score from the logit (not the calibrated PD);
    reject when PD >= t, ties included; value_i is the applicant's own value."""
    from scipy.special import expit

    from fjax.tasks.credit.scoring import scored
    cfg, data, final = final_with_holes
    frame = data.frame.iloc[:40]
    z = final.logits(final.encode(frame))
    pd_ = expit(z) / 2
    t = float(np.sort(pd_)[20])
    scale = ScoreScale()
    out, *_ = scored(final, frame, lambda p: np.asarray(p) / 2, t, scale, k=2)
    np.testing.assert_allclose(out["pd"], pd_, rtol=1e-12)
    np.testing.assert_allclose(out["score"], scale.from_logit(z), rtol=1e-12)
    np.testing.assert_array_equal(out["decision"] == "reject", pd_ >= t)
    assert out["decision"][int(np.argmin(np.abs(pd_ - t)))] == "reject"
    for i in range(len(frame)):
        for r in (1, 2):
            a = out[f"reason_{r}"][i]
            assert out[f"value_{r}"][i] == (str(frame[a].iloc[i]) if a else "")


def test_a_missing_value_the_training_data_never_held_is_no_reason(final_with_holes):
    """Such a value scores as the training applicants' mix: 0 points up to rounding (about
    1e-9 here), which used to be listed as a reason (this test's older form, that its value
    reads "<missing>", passed on those alone); under the 0.5-point floor it never is.
    ("<missing>" as a reason's value: test_reason_values_read_each_column_once...)"""
    from fjax.tasks.credit.scoring import scored
    cfg, data, final = final_with_holes
    k = len(data.schema.features)
    for column in data.schema.numeric:
        if data.frame[column].isna().any():
            continue
        frame = data.frame.iloc[:5].copy()
        frame[column] = np.nan
        out, contrib, names, *_ = scored(final, frame, lambda p: p, 0.5, ScoreScale(), k=k)
        np.testing.assert_allclose(ScoreScale().points(contrib[:, names.index(column)]), 0,
                                   atol=1e-6)
        assert not out[[f"reason_{r + 1}" for r in range(k)]].isin([column]).any().any()


def test_attributions_of_any_rows_are_against_the_mean_training_applicant(final_with_holes):
    cfg, data, final = final_with_holes
    dense = final.params["params"]["dense"]
    w = np.asarray(dense["kernel"], np.float64)[:, 0]
    ref_logit = float(np.asarray(dense["bias"], np.float64)[0]
                      + final.x.astype(np.float64).mean(axis=0) @ w)
    names, all_rows, ref_all = attributions(final, final.x)
    names_few, few, ref_few = attributions(final, final.x[:7])
    assert names_few == names
    assert ref_few == pytest.approx(ref_logit) and ref_all == pytest.approx(ref_logit)
    np.testing.assert_allclose(few, all_rows[:7], rtol=1e-9, atol=1e-12)


def test_points_table_lists_unknown_categories_and_missing_numbers(final_with_holes):
    """The points of "<unknown>" and "<missing>" are those of an applicant with an unseen
    category or a missing value."""
    cfg, data, final = final_with_holes
    scale = ScoreScale()
    points = points_table(final, data.frame, scale)
    table = points.set_index(["attribute", "value"])["points"]
    odd = data.frame.iloc[[0, 0]].reset_index(drop=True)
    odd.loc[0, "purpose"] = "a purpose never seen"
    odd.loc[1, "credit_amount"] = np.nan
    names, contrib, _ = attributions(final, final.encode(odd))
    assert table[("purpose", "<unknown>")] == pytest.approx(
        scale.points(contrib[0, names.index("purpose")]), abs=1e-6)
    assert table[("credit_amount", "<missing>")] == pytest.approx(
        scale.points(contrib[1, names.index("credit_amount")]), abs=1e-6)


def test_withheld_characteristics_are_never_reason_codes(final_with_holes):
    """scorecard.no_reasons: per applicant the reasons are the most adverse of the other
    attributes (numpy on the exact contributions); the withheld ones still score, and a
    rejected applicant they were a principal reason for is counted and noted."""
    from fjax.tasks.credit.run import report_notes, withheld
    from fjax.tasks.credit.scoring import scored
    cfg, data, final = final_with_holes
    frame, skip, k = data.frame.iloc[:60], ("purpose", "duration_in_month"), 3
    full, contrib, names, *_ = scored(final, frame, lambda p: p, 0.3, WIDE, k=k)
    out, *_ = scored(final, frame, lambda p: p, 0.3, WIDE, k=k, skip=skip)
    np.testing.assert_array_equal(out["score"], full["score"])
    floor = 0.5 * np.log(2) / 2000   # 0.5 points at pdo 2000, in logit
    for i, row in enumerate(contrib):
        allowed = [(row[a], n) for a, n in enumerate(names) if n not in skip and row[a] >= floor]
        want = [n for _, n in sorted(allowed, key=lambda t: -t[0])[:k]]
        assert [out[f"reason_{r + 1}"][i] for r in range(len(want))] == want
        assert all(out[f"reason_{r + 1}"][i] == "" for r in range(len(want), k))
    rejected = full["decision"] == "reject"
    principal = [any(full[f"reason_{r + 1}"][i] in skip for r in range(k))
                 for i in range(len(frame))]
    count = int(np.sum(np.asarray(principal) & rejected))
    assert count > 0
    sc = ScorecardConfig(reasons=k, no_reasons=skip)
    assert withheld(contrib, names, sc, rejected, floor) == count
    noted = report_notes(dataclasses.replace(cfg, scorecard=sc), 5, 1, 1, withheld=count)
    assert any(f"for {count} rejected applicant(s) one of them" in n
               and "--data.drop purpose duration_in_month" in n for n in noted)


def test_a_withheld_name_that_is_no_feature_is_refused_before_training(csv_path):
    cfg = small_config(csv_path, scorecard=ScorecardConfig(no_reasons=("zip3",)))
    with pytest.raises(ValueError, match=r"scorecard.no_reasons names \['zip3'\].*not a "
                       r"feature column.*--scorecard.no-reasons"):
        load(cfg)
    for name in ("creditability", "PURPOSE"):   # the target; another spelling of a feature
        cfg = small_config(csv_path, scorecard=ScorecardConfig(no_reasons=(name,)))
        if name == "PURPOSE":
            assert "PURPOSE" in load(cfg).schema.features
        else:
            with pytest.raises(ValueError, match="not a feature column"):
                load(cfg)


def hand_pd(score, base_score=600.0, base_odds=50.0, pdo=20.0):
    """The PD a score promises, by hand: odds = base_odds 2^((score - base_score) / pdo)."""
    odds = base_odds * 2.0 ** ((np.asarray(score, np.float64) - base_score) / pdo)
    return 1 / (1 + odds)


def test_platt_calibrated_points_read_as_the_deployed_odds(final_with_holes):
    """With Platt calibration a score's odds are the deployed (calibrated) PD's, and the
    score is still the base plus each attribute's points (scorecard.csv's)."""
    from scipy.special import expit

    from fjax.calibration import fit_platt
    from fjax.tasks.credit.scoring import deployed_scale, scored
    cfg, data, final = final_with_holes
    z = final.logits(final.x)
    platt = fit_platt(expit(np.asarray(z, np.float64) / 2 - 1), data.y)  # a far from 1
    assert abs(platt.a - 1) > 0.3
    scale = deployed_scale(ScorecardConfig(calibration="platt"), platt)
    out, contrib, names, ref_logit, *_ = scored(final, data.frame, platt, 0.5, scale, k=2)
    np.testing.assert_allclose(hand_pd(out["score"]), out["pd"], rtol=1e-9)
    points, base = points_table(final, data.frame, scale), scale.from_logit(ref_logit)
    np.testing.assert_allclose(base + scale.points(contrib).sum(axis=1), out["score"],
                               atol=1e-3)
    table = points.set_index(["attribute", "value"])["points"]
    for i in range(5):
        value = str(data.frame["purpose"].iloc[i])
        assert table[("purpose", value)] == pytest.approx(
            scale.points(contrib[i, names.index("purpose")]), abs=1e-6)
    # Isotonic is not affine: the points stay the model's own log-odds.
    iso = deployed_scale(ScorecardConfig(calibration="isotonic"), lambda p: p)
    np.testing.assert_allclose(hand_pd(iso.from_logit(z)), expit(np.asarray(z, np.float64)),
                               rtol=1e-9)
    from fjax.tasks.credit.run import report_notes
    isotonic = dataclasses.replace(cfg, scorecard=ScorecardConfig(calibration="isotonic"))
    assert any("not of the deployed isotonic PD" in n for n in report_notes(isotonic, 5, 1, 1))
    shrunk = "shrunk to (bads + 0.5) / (applicants + 1)"
    assert any(shrunk in n for n in report_notes(isotonic, 5, 1, 1))
    assert not any(shrunk in n for n in report_notes(cfg, 5, 1, 1))


def test_a_platt_runs_scores_read_as_its_deployed_pds(logistic_run):
    """scores.csv and new_scores.csv: each score's odds (by hand) are its calibrated PD."""
    cfg, path = logistic_run
    for name in ("scores.csv", "new_scores.csv"):
        scores = pd.read_csv(path / name)
        np.testing.assert_allclose(hand_pd(scores["score"]), scores["pd"], rtol=1e-9)
    assert "deployed (Platt-calibrated) PD" in (path / "report.md").read_text()


def test_member_logits_read_each_members_own_fold_block(full_batch):
    """Member j predicts block j (every applicant encoded with fold j's statistics)."""
    from fjax.tasks.credit.members import member_logits
    cfg, data, design, t, pop = full_batch
    fold = pop.members["fold"].to_numpy()
    z = member_logits(cfg, design, pop.params, fold)
    x = design.stack.data["x"]
    for m, j in enumerate(fold):
        want = predict(cfg, design.shape, pop.member_params(m), x[design.stack.block_rows(j)])
        np.testing.assert_allclose(z[m], want, rtol=1e-5, atol=1e-6)


def test_member_logits_of_a_rebuilt_equal_run_compile_nothing(full_batch):
    """member_logits jitted a closure over the model on every call, so every credit run
    compiled its program again (~0.9 s); an equal config and design now find it."""
    from fjax.tasks.credit.members import member_logits
    cfg, data, design, t, pop = full_batch
    fold = pop.members["fold"].to_numpy()
    first = member_logits(cfg, design, pop.params, fold)
    with CompileMeter() as meter:
        again = member_logits(dataclasses.replace(cfg), design, pop.params, fold)
    assert meter.compilations == 0
    np.testing.assert_array_equal(again, first)


def test_run_metrics_importance_and_base_points_agree_with_the_scores(logistic_run):
    """Against scores.csv (numpy, scikit-learn): the base points are the mean applicant's
    score (= the mean score for a linear logit); importance is in points, sorted, and at
    least what the reasons and the triangle inequality imply; pooled Gini = 2 AUC - 1."""
    from sklearn.metrics import roc_auc_score

    from fjax.stability import psi
    cfg, path = logistic_run
    metrics = json.loads((path / "metrics.json").read_text())
    scores = pd.read_csv(path / "scores.csv")
    new = pd.read_csv(path / "new_scores.csv")
    base = metrics["final"]["base_points"]
    assert base == pytest.approx(scores["score"].mean(), abs=1e-3)
    imp = pd.read_csv(path / "importance.csv")
    assert (np.diff(imp["mean_abs_points"]) <= 0).all()
    assert imp["mean_abs_points"].sum() >= np.mean(np.abs(scores["score"] - base)) - 1e-6
    by_reason = {}
    for r in (1, 2, 3):
        for a, p in zip(scores[f"reason_{r}"], scores[f"points_{r}"]):
            if isinstance(a, str):
                by_reason[a] = by_reason.get(a, 0.0) + abs(p) / len(scores)
    importance = imp.set_index("attribute")["mean_abs_points"]
    for a, bound in by_reason.items():
        assert importance[a] >= bound - 1e-6
    y = (scores["creditability"] == "bad").to_numpy(float)
    assert metrics["final"]["in_sample_auc"] == pytest.approx(roc_auc_score(y, scores["pd"]),
                                                              abs=1e-12)   # float64
    pooled = metrics["cv"]["pooled_out_of_fold"]
    assert pooled["gini"] == pytest.approx(2 * pooled["auc"] - 1)
    per_fold_psi = [f["psi"] for f in metrics["cv"]["per_fold"]]
    assert metrics["stability"]["psi_train_vs_val_std"] == pytest.approx(
        np.std(per_fold_psi, ddof=1))
    assert metrics["stability"]["psi_new_applicants"] == pytest.approx(
        psi(scores["score"].to_numpy(), new["score"].to_numpy()))


def test_the_report_gives_the_new_applicants_psi_beside_its_chance_reference(logistic_run):
    """With data.score-path, metrics.json had stability.psi_new_applicants and its chance
    reference but report.md never said it: the Data line now gives the PSI (recomputed from
    scores.csv and new_scores.csv) with what same-size samples reach by chance."""
    from fjax.stability import psi, psi_verdict
    _, path = logistic_run
    stability = json.loads((path / "metrics.json").read_text())["stability"]
    value = psi(pd.read_csv(path / "scores.csv")["score"].to_numpy(),
                pd.read_csv(path / "new_scores.csv")["score"].to_numpy())
    assert stability["psi_new_applicants"] == pytest.approx(value)
    verdict = psi_verdict(value, stability["psi_new_applicants_chance_95"])
    assert (f"(`new_scores.csv`); PSI of their scores against the training applicants' "
            f"{value:.3f} ({verdict}).") in (path / "report.md").read_text()


def test_the_report_reads_the_train_vs_validation_psi_as_k_folds(logistic_run):
    """The 'PSI train vs validation' line read the folds' mean PSI against one fold's chance
    level, which a mean of k folds passes 1 time in hundreds, and never looked at the
    worst fold: it now reads the mean (recomputed from the per-fold PSIs) against k folds'
    mean and the largest against the largest of k, both `psi_chance_folds` of the
    training scores."""
    from fjax.stability import psi_chance_folds, psi_verdict
    _, path = logistic_run
    metrics = json.loads((path / "metrics.json").read_text())
    stability = metrics["stability"]
    fold_psi = np.array([f["psi"] for f in metrics["cv"]["per_fold"]])
    k = len(fold_psi)
    n = pd.read_csv(path / "scores.csv")["fold"].value_counts()
    chance = psi_chance_folds(pd.read_csv(path / "scores.csv")["score"].to_numpy(),
                              round(n.mean()), round(n.sum() - n.mean()), k)
    assert (stability["psi_train_vs_val_mean_chance_95"],
            stability["psi_train_vs_val_max_chance_95"]) == pytest.approx(chance)
    assert stability["psi_train_vs_val_max"] == pytest.approx(fold_psi.max())
    assert sorted(key for key in stability if key.startswith("psi_train_vs_val")) == [
        "psi_train_vs_val_max", "psi_train_vs_val_max_chance_95", "psi_train_vs_val_mean",
        "psi_train_vs_val_mean_chance_95", "psi_train_vs_val_std"]   # no one-fold level
    line = next(x for x in (path / "report.md").read_text().splitlines()
                if "PSI train vs validation" in x)
    mean = psi_verdict(fold_psi.mean(), chance[0],
                       f"{k} folds of same-size samples of the training scores reach a mean of")
    worst = psi_verdict(fold_psi.max(), chance[1], f"the largest of {k} such folds reaches")
    assert line.endswith(f"(mean of {k} folds: {mean}; largest, fold {fold_psi.argmax()}'s "
                         f"{fold_psi.max():.4f}: {worst}).")


def test_one_fold_far_off_or_every_fold_shifted_is_not_read_as_stable():
    """Four folds at PSI 0.02 and one at 0.25 average 0.066, under one fold's chance
    level (0.112 for folds of 200 against 800), which read 'no evidence of a shift';
    five folds at 0.09 too. The largest fold, and the mean against k folds' mean, say it."""
    from fjax.stability import psi_chance, psi_chance_folds
    from fjax.tasks.credit.report import fold_psi_words
    train = np.random.default_rng(0).normal(size=1000)
    chance_mean, chance_max = psi_chance_folds(train, 200, 800, 5)
    for fold_psi, beyond in (([0.02] * 4 + [0.25], "largest"), ([0.09] * 5, "mean")):
        assert np.mean(fold_psi) < psi_chance(train, 200, 800)   # the old reading: no shift
        per_fold = pd.DataFrame({"fold": range(5), "psi": fold_psi})
        stability = {"psi_train_vs_val_mean": np.mean(fold_psi),
                     "psi_train_vs_val_mean_chance_95": chance_mean,
                     "psi_train_vs_val_max": np.max(fold_psi),
                     "psi_train_vs_val_max_chance_95": chance_max}
        mean_words, worst_words = fold_psi_words(stability, per_fold).split("; largest")
        assert ("beyond chance" in mean_words) == (beyond == "mean")
        assert ("beyond chance" in worst_words) == (beyond == "largest")


def test_a_fold_without_a_psi_is_not_counted_among_the_k():
    """A fold whose every member diverged has no PSI: the mean reads the other 4 folds and
    says so (it said "mean of 5 folds" over 4), and with none the sentence says why."""
    from fjax.tasks.credit.report import fold_psi_words
    stability = {"psi_train_vs_val_mean": 0.02, "psi_train_vs_val_mean_chance_95": 0.08,
                 "psi_train_vs_val_max": 0.02, "psi_train_vs_val_max_chance_95": 0.14}
    per_fold = pd.DataFrame({"fold": range(5), "psi": [0.02, 0.02, np.nan, 0.02, 0.02]})
    words = fold_psi_words(stability, per_fold)
    assert words.startswith("mean of 4 folds (1 without a PSI: every member diverged): ")
    assert "the largest of 4 such folds" in words
    none = per_fold.assign(psi=np.nan)
    assert fold_psi_words(stability, none) == "no fold has a PSI (every member diverged)"


def test_notes_say_which_numbers_carry_selection_optimism(csv_path):
    from fjax.tasks.credit.run import report_notes
    own = small_config(csv_path)
    chosen_here = "chosen by 5-fold cross-validation on this same German credit data"
    assert any(chosen_here in n for n in report_notes(Config(), 5, 1, 1))
    assert not any(chosen_here in n for n in report_notes(own, 5, 1, 1))
    # Settings of the user's own on the embedded data: not the ones chosen there.
    other = dataclasses.replace(Config(), optim=OptimConfig(learning_rate=0.5))
    assert not any(chosen_here in n for n in report_notes(other, 5, 1, 1))
    swept = report_notes(own, 10, 2, 1)
    assert any("chosen on the same folds it is scored on" in n for n in swept)
    assert any(n.startswith("7 applicants (") and "kept in one fold" in n
               for n in report_notes(own, 5, 1, 1, repeated_ids=7))
    assert not any("kept in one fold" in n for n in report_notes(own, 5, 1, 1))
    # Reweighted classes without calibration: PDs that are not probabilities, said.
    from fjax.config import LossConfig
    said = "so the model's logit is not the log-odds"
    assert not any(said in n for n in report_notes(own, 5, 1, 1))
    weighted = dataclasses.replace(own, loss=LossConfig(name="bce", pos_weight=3.0))
    notes = report_notes(own, 5, 1, 1, chosen=weighted, mean_pd=0.518, bad_rate=0.3)
    assert any(f"(pos_weight 3), {said}" in n and "PD is 0.518 against a bad rate of 0.300" in n
               for n in notes)
    focal = dataclasses.replace(own, loss=LossConfig(name="focal"))
    assert any("(focal loss)" in n for n in report_notes(focal, 5, 1, 1))
    calibrated = dataclasses.replace(weighted, scorecard=ScorecardConfig(calibration="platt"))
    assert not any(said in n for n in report_notes(calibrated, 5, 1, 1))


def test_column_names_match_a_file_spelled_in_another_case(csv_path, tmp_path):
    """Config names find a file's columns ignoring case (as forecast's do): the loaded
    data, the schema and the applicants to score equal those of the file as configured."""
    frame = pd.read_csv(csv_path)
    upper = tmp_path / "upper.csv"
    frame.rename(columns=str.upper).to_csv(upper, index=False)
    pd.read_csv(csv_path.with_name("new.csv")).rename(columns=str.title).to_csv(
        tmp_path / "new.csv", index=False)
    declared = dict(target="creditability", categorical=("age_in_years",), drop=("job",))
    base = load(small_config(csv_path, data=CreditDataConfig(path=str(csv_path), **declared)))
    cased = load(small_config(csv_path, data=CreditDataConfig(
        path=str(upper), score_path=str(tmp_path / "new.csv"), **declared)))
    assert "age_in_years" in cased.schema.categorical         # the config's spelling
    lower = lambda names: tuple(n.lower() for n in names)  # noqa: E731
    assert lower(cased.schema.numeric) == base.schema.numeric
    assert lower(cased.schema.categorical) == base.schema.categorical
    np.testing.assert_array_equal(cased.y, base.y)
    pd.testing.assert_frame_equal(cased.frame.rename(columns=str.lower), base.frame)
    assert set(cased.schema.features) <= set(cased.new.columns)   # a third spelling
    both = frame.assign(AGE_IN_YEARS=frame["age_in_years"])   # two spellings: exact wins
    both.to_csv(tmp_path / "both.csv", index=False)
    assert "AGE_IN_YEARS" in load(small_config(csv_path, data=CreditDataConfig(
        path=str(tmp_path / "both.csv"), categorical=("age_in_years",)))).schema.numeric


def test_the_deployed_threshold_rule_is_the_one_that_cost_less_cross_fitted():
    """On German credit the fitted threshold cost more out of sample than 1/6 in every run
    a reviewer made (0.579 vs 0.555 per applicant), yet was deployed. PDs scaled down
    tenfold make the Bayes rule accept nearly everyone: there the fitted rule wins."""
    rng = np.random.default_rng(3)
    n = 400
    true_pd = rng.uniform(0.02, 0.9, n)
    y = (rng.uniform(size=n) < true_pd).astype(float)
    folds = stratified_kfold(y, 4, seed=0)
    calibrated = analyse(true_pd, y, folds, "none", cost_fn=5.0, cost_fp=1.0)
    shrunk = analyse(true_pd / 10, y, folds, "none", cost_fn=5.0, cost_fp=1.0)
    for got in (calibrated, shrunk):
        s = got.summary
        lower = ("fitted" if s["cost_per_applicant_cv_mean"] < s["cost_bayes_threshold_cv_mean"]
                 else "bayes")
        assert s["threshold_rule"] == lower
    assert calibrated.summary["threshold_rule"] == "bayes" and calibrated.threshold == 1 / 6
    assert shrunk.summary["threshold_rule"] == "fitted"
    assert shrunk.threshold == shrunk.summary["fitted_threshold"] < 1 / 6


def test_the_per_fold_table_says_whose_pds_and_how_calibration_did():
    from fjax.tasks.credit.report import per_fold_text
    plain = pd.DataFrame({"fold": [0, 1], "brier": [0.2, 0.2]})
    assert "the models' own PDs" in per_fold_text({"cv": {"seeds": 1}}, plain)
    assert "the mean of the 3 seeds' own" in per_fold_text({"cv": {"seeds": 3}}, plain)
    plain = plain.assign(log_loss=[0.6, 0.6])
    calibrated = {"cv": {"seeds": 1}, "decision": {"cal_log_loss_clipped": 0}}
    for ll, verdict in (([0.61, 0.62], "did not help"), ([0.5, 0.5], "helped the log-loss only")):
        worse = plain.assign(oof_brier=[0.2, 0.2], oof_log_loss=[0.6, 0.6],
                             cal_brier=[0.21, 0.22], cal_log_loss=ll)
        text = per_fold_text(calibrated, worse)
        assert (f"mean Brier 0.2150 against 0.2000 uncalibrated, log-loss {np.mean(ll):.4f} "
                f"against 0.6000, so calibration {verdict}") in text
        assert "clipped" not in text
    for clipped, said in ((1, "1 calibrated PD was clipped"), (2, "2 calibrated PDs were clipped")):
        calibrated["decision"]["cal_log_loss_clipped"] = clipped
        assert said in per_fold_text(calibrated, worse)


def test_calibration_verdict_compares_the_pds_it_calibrated():
    """With 2 seeds the table's `brier` and `log_loss` are the mean of each seed's own;
    the calibrator reads the seeds' mean PD, whose scores are lower (both are convex), so
    the verdict set calibration against a weaker baseline and called it helpful here. It
    compares `oof_brier`/`oof_log_loss` (the seed-mean PDs' scores, on the same rows)
    with the calibrated ones. Oracle: scikit-learn's float64 brier_score_loss, log_loss."""
    from sklearn.metrics import brier_score_loss
    from sklearn.metrics import log_loss as sk_log_loss

    from fjax.tasks.credit.report import per_fold_text
    pd_raw, y, folds = _oof_case(seed=1)
    got = analyse(pd_raw, y, folds, "platt", cost_fn=5.0, cost_fp=1.0)
    for j in range(folds.k):
        inside = got.fold == j
        row = got.per_fold.iloc[j]
        assert row["oof_brier"] == pytest.approx(
            brier_score_loss(y[inside], pd_raw[inside]), rel=1e-12)
        assert row["oof_log_loss"] == pytest.approx(
            sk_log_loss(y[inside], pd_raw[inside]), rel=1e-12)
    # by hand: seed-mean PDs 0.19 / 0.55, calibrated 0.20 / 0.58, the seeds' own 0.25 / 0.70
    table = pd.DataFrame({"fold": [0, 1], "brier": [0.25, 0.25], "log_loss": [0.7, 0.7],
                          "oof_brier": [0.19, 0.19], "oof_log_loss": [0.55, 0.55],
                          "cal_brier": [0.2, 0.2], "cal_log_loss": [0.58, 0.58]})
    text = per_fold_text({"cv": {"seeds": 2}, "decision": {"cal_log_loss_clipped": 0}}, table)
    assert ("mean Brier 0.2000 against 0.1900 uncalibrated, log-loss 0.5800 against 0.5500, "
            "so calibration did not help") in text


def test_one_encodings_sweep_diverging_leaves_the_other_to_be_chosen(csv_path, tmp_path):
    """Credit sweeps each encoding apart: when every MLP member diverged, the sweep-wide
    stop of the other tasks ended the run before the logistic members were scored. Four
    columns (two categorical) keep the MLP's embeddings, and so its compile, small."""
    from fjax.tasks.credit.search import best_config_id, cross_validate
    from fjax.tasks.credit.data import load
    keep = {"duration_in_month", "credit_amount", "purpose", "credit_history",
            "creditability"}
    drop = tuple(c for c in pd.read_csv(csv_path, nrows=0).columns if c not in keep)
    cfg = small_config(csv_path, optim=OptimConfig(name="sgd", learning_rate=1e6),
                       data=CreditDataConfig(path=str(csv_path), drop=drop))
    for grid in ({"model.kind": ["logistic", "mlp"], "optim.learning_rate": [1e6, 1e7]},
                 {"model.kind": ["mlp", "logistic"]}):    # the encodings alone: no inner grid
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            search = cross_validate(cfg, grid, load(cfg), None, False)
        diverged = search.table.groupby("model.kind")["diverged_epoch"].apply(
            lambda d: (d > 0).all())
        assert diverged["mlp"] and not diverged["logistic"]
        assert search.configs[best_config_id(search.summary)].model.kind == "logistic"


def test_a_sweep_of_bce_and_focal_varies_gamma_only_in_the_focal_group(csv_path):
    """bce x focal_gamma was refused ('has no effect with loss.name=bce'): bce trains once
    (1 + 3 configurations, not 3 + 3), its gamma n/a; focal with gamma 0 is bce
    (`losses.focal`), so the two score the same, fold by fold."""
    from fjax.config import BinaryLossConfig
    from fjax.tasks.credit.search import cross_validate
    cfg = small_config(csv_path)
    gammas = [0.0, 1.0, 2.0]
    search = cross_validate(cfg, {"loss.name": ["bce", "focal"], "loss.focal_gamma": gammas},
                            load(cfg), None, False)
    summary = search.summary
    assert summary["members"].tolist() == [3] * 4 and len(search.table) == 4 * 3
    assert summary["loss.name"].tolist() == ["bce"] + ["focal"] * 3
    assert summary["loss.focal_gamma"].isna().tolist() == [True, False, False, False]
    assert summary["loss.focal_gamma"].iloc[1:].tolist() == gammas
    assert [search.configs[i].loss for i in summary["config"]] == [
        BinaryLossConfig(name="bce"), *(BinaryLossConfig(name="focal", focal_gamma=g)
                                        for g in gammas)]
    auc = search.table.pivot(index="fold", columns="config", values="auc")
    np.testing.assert_allclose(auc[0], auc[1], rtol=1e-4)


def test_the_deployed_rule_is_described_as_it_was_chosen():
    from fjax.tasks.credit.report import deployed_words
    d = {"threshold_rule": "bayes", "cost_per_applicant_cv_mean": 0.3225,
         "cost_bayes_threshold_cv_mean": 0.3225}
    assert deployed_words(d) == "the Bayes rule (the two rules tied: nothing fitted)"
    assert deployed_words({**d, "cost_per_applicant_cv_mean": 0.33}) == \
        "the Bayes rule, which cost less"
    assert deployed_words({**d, "threshold_rule": "fitted", "cost_per_applicant_cv_mean": 0.3}) \
        == "the fitted rule, which cost less"


def test_the_deployed_rules_lead_is_weighed_against_its_fold_noise():
    """The default German run said the Bayes rule 'cost less' than the fitted one: 0.5550
    against 0.5560, a lead of 0.001 per applicant where the rules' fold-paired cost
    difference has a std of 0.041. The words now give the lead and its p-value by the
    corrected resampled t (scipy's t over numpy's variance times 1/k + n_val/n_train)."""
    from fjax.tasks.credit.report import deployed_words
    per_fold = pd.DataFrame({"cost": [0.465, 0.555, 0.565, 0.61, 0.585],
                             "cost_bayes": [0.445, 0.565, 0.625, 0.56, 0.58],
                             "applicants": [200] * 5})
    d = {"threshold_rule": "bayes", "cost_per_applicant_cv_mean": per_fold["cost"].mean(),
         "cost_bayes_threshold_cv_mean": per_fold["cost_bayes"].mean()}

    def p_value(diff):
        t = diff.mean() / np.sqrt((1 / 5 + 200 / 800) * diff.var(ddof=1))
        return 2 * scipy.stats.t.sf(abs(t), 4)

    diff = np.array([0.02, -0.01, -0.06, 0.05, 0.005])
    assert deployed_words(d, per_fold) == (
        f"the Bayes rule, which cost less, by {diff.mean():.4f} per applicant (within "
        f"chance at 5%: p = {p_value(diff):.3g} by the corrected resampled t of the rules' "
        f"fold-paired difference, std {diff.std(ddof=1):.4f} over 5 folds)")
    clear = per_fold.assign(cost=per_fold["cost_bayes"] + [0.05, 0.06, 0.05, 0.07, 0.06])
    assert "(beyond chance" in deployed_words(
        {**d, "cost_per_applicant_cv_mean": clear["cost"].mean()}, clear)


def test_a_lead_of_two_plain_standard_errors_over_overlapping_folds_is_within_chance():
    """The threshold rules' lead was judged by mean > 1.96 sd / sqrt(k): a normal quantile
    for 4 degrees of freedom and a plain standard error over folds whose training rows
    overlap, where the selection's comparison of the same folds uses Nadeau and Bengio's
    corrected t. Leads 0.02, -0.01, 0.03, 0.04, 0.01 (mean 2.09 plain standard errors)
    were called beyond the noise; their corrected p (scipy) is 0.24."""
    from fjax.tasks.credit.report import deployed_words
    diff = np.array([0.02, -0.01, 0.03, 0.04, 0.01])
    assert diff.mean() > 1.96 * diff.std(ddof=1) / np.sqrt(5)
    t = diff.mean() / np.sqrt((1 / 5 + 200 / 800) * diff.var(ddof=1))
    p = 2 * scipy.stats.t.sf(t, 4)
    assert p > 0.05
    per_fold = pd.DataFrame({"cost": 0.5 + diff, "cost_bayes": [0.5] * 5,
                             "applicants": [200] * 5})
    d = {"threshold_rule": "bayes", "cost_per_applicant_cv_mean": per_fold["cost"].mean(),
         "cost_bayes_threshold_cv_mean": 0.5}
    assert f"(within chance at 5%: p = {p:.3g} " in deployed_words(d, per_fold)


def test_an_applicants_rows_stay_in_one_fold(csv_path, tmp_path):
    """Folds drawn by row put one applicant's two loans in training and validation of
    the same model: cross-validated metrics that read the applicant twice."""
    frame = pd.read_csv(csv_path).assign(applicant=np.arange(N) // 2)   # two rows each
    frame.to_csv(tmp_path / "twice.csv", index=False)
    data = load(small_config(csv_path, data=CreditDataConfig(path=str(tmp_path / "twice.csv"),
                                                             id_column="applicant")))
    fold_of_row = np.argmax(data.folds.val, axis=0)
    per_applicant = pd.Series(fold_of_row).groupby(frame["applicant"]).nunique()
    assert (per_applicant == 1).all() and data.folds.val.sum(axis=0).tolist() == [1.0] * N
    assert data.repeated_ids == N // 2
    once = load(small_config(csv_path, data=CreditDataConfig(path=str(csv_path))))
    np.testing.assert_array_equal(once.folds.val, stratified_kfold(once.y, 3, seed=0).val)


def test_pooled_metrics_match_scikit_learn():
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score, roc_curve
    from fjax.tasks.credit.run import pooled
    rng = np.random.default_rng(4)
    y = (rng.random(300) < 0.3).astype(np.float32)
    pd_ = np.clip(0.3 + 0.25 * (y - 0.3) + 0.15 * rng.standard_normal(300), 0.01, 0.99)
    got = pooled(pd_, y)
    fpr, tpr, _ = roc_curve(y, pd_)
    assert got["auc"] == pytest.approx(roc_auc_score(y, pd_), abs=1e-6)
    assert got["gini"] == pytest.approx(2 * roc_auc_score(y, pd_) - 1, abs=1e-6)
    assert got["ks"] == pytest.approx(np.max(tpr - fpr), abs=1e-6)
    assert got["brier"] == pytest.approx(brier_score_loss(y, pd_), rel=1e-5)
    assert got["log_loss"] == pytest.approx(log_loss(y, pd_), rel=1e-5)
    # DeLong's 95% interval from every (bad, good) pair: V10, V01 and their variances.
    pos, neg = pd_[y == 1], pd_[y == 0]
    kernel = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    se = np.sqrt(kernel.mean(axis=1).var(ddof=1) / len(pos)
                 + kernel.mean(axis=0).var(ddof=1) / len(neg))
    auc = roc_auc_score(y, pd_)
    assert got["auc_95"] == pytest.approx([auc - 1.959964 * se, auc + 1.959964 * se],
                                          rel=1e-6)
    assert pooled(pd_[:4], np.array([1, 0, 0, 0.0]))["auc_95"] is None   # one bad


def test_the_pooled_auc_is_the_centre_of_its_interval_in_float64():
    """PDs 1e-9 apart are one value in float32 (AUC 0.5); the reported AUC is the float64
    one its DeLong interval is centred on, as scikit-learn's."""
    from sklearn.metrics import roc_auc_score
    from fjax.tasks.credit.run import pooled
    rng = np.random.default_rng(5)
    y = (rng.random(200) < 0.3).astype(np.float64)
    pd_ = 0.2 + 1e-9 * (np.arange(200) + 80 * y)
    got = pooled(pd_, y)
    assert got["auc"] == pytest.approx(roc_auc_score(y, pd_), abs=1e-12)
    assert got["auc"] > 0.8
    assert np.mean(got["auc_95"]) == pytest.approx(got["auc"], abs=1e-12)


def test_the_pooled_ks_tells_near_tied_pds_apart():
    """PDs 1e-9 apart in groups of 7: float32 merges each group, so its KS was 0; the
    reported KS is scipy's two-sample statistic of the bads' vs goods' PDs."""
    from scipy.stats import ks_2samp
    from fjax.tasks.credit.run import pooled
    rng = np.random.default_rng(7)
    y = (rng.random(300) < 0.3).astype(np.float64)
    pd_ = 0.2 + 1e-9 * (np.arange(300) % 7 + 3 * y)
    want = ks_2samp(pd_[y == 1], pd_[y == 0]).statistic
    assert want > 0.3 and pooled(pd_, y)["ks"] == pytest.approx(want, abs=1e-12)


def test_an_unseen_category_scores_as_the_average_applicant(csv_path):
    """One-hot blocks without a reference level split the intercept among their
    categories, so an all-zero (unseen) row scored whatever that split left: a review saw
    -18.7 points for a new loan purpose whose risk was average. It is now the training
    mix: 0 points against the reference applicant, like an unseen category's WOE."""
    cfg = small_config(csv_path)
    data = load(cfg)
    final = refit(cfg, data, progress=False)
    scale = ScoreScale()
    points = points_table(final, data.frame, scale)
    unknown = points[points["value"] == "<unknown>"]
    assert len(unknown) == len(data.schema.categorical) > 0
    np.testing.assert_allclose(unknown["points"], 0.0, atol=1e-6)
    fresh = data.frame.iloc[:3].copy()
    fresh["purpose"] = "a purpose no one had"
    names, contrib, _ = attributions(final, final.encode(fresh))
    np.testing.assert_allclose(contrib[:, names.index("purpose")], 0.0, atol=1e-9)
    # The MLP: its never-trained unknown embedding slot is set to the mean embedding. On
    # four columns (two categorical): smaller embedding programs to compile.
    keep = {"duration_in_month", "credit_amount", "purpose", "credit_history",
            "creditability"}
    drop = tuple(c for c in data.frame.columns if c not in keep)
    mlp = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, kind="mlp"),
                              data=dataclasses.replace(cfg.data, drop=drop))
    final = refit(mlp, load(mlp), progress=False)
    names, contrib, _ = attributions(final, final.encode(fresh))
    np.testing.assert_allclose(contrib[:, names.index("purpose")], 0.0, atol=1e-5)
    known = attributions(final, final.encode(data.frame.iloc[:3]))[1]
    assert np.abs(known[:, names.index("purpose")]).max() > 1e-3   # known ones do move it


def test_a_killed_run_resumes_to_the_results_of_one_that_never_stopped(csv_path, tmp_path,
                                                                       monkeypatch, run_killed_at):
    from fjax.report.callbacks import JsonlLogger

    grid = {"optim.weight_decay": [1e-3, 1e-2]}
    full = run(small_config(csv_path, out=str(tmp_path / "full")), grid=grid, progress=False)
    cut = small_config(csv_path, out=str(tmp_path / "cut"))
    run_killed_at(3, lambda: run(cut, grid=grid, progress=False), every_s=0.0)
    assert not (tmp_path / "cut" / "metrics.json").exists()
    trained, logged = [], JsonlLogger.on_epoch_end
    with monkeypatch.context() as m:
        m.setattr(JsonlLogger, "on_epoch_end", lambda self, epoch, logs, loop: (
            trained.append(epoch), logged(self, epoch, logs, loop)))
        resumed = run(dataclasses.replace(cut, resume=True), grid=grid, progress=False)
    assert trained == [3]    # from the checkpoint of epoch 2
    for name in ("scores.csv", "cv_table.csv", "cv_summary.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(resumed / name), pd.read_csv(full / name))
    timings = [json.loads((p / "metrics.json").read_text())["timings_s"] for p in (full, resumed)]
    assert [t["resumed_epochs"] for t in timings] == [{"group 0": 0}, {"group 0": 2}]
    assert "resumed from a checkpoint of epoch 2" in (resumed / "report.md").read_text()


def test_a_backward_platt_slope_is_refused_naming_the_out_of_fold_auc():
    """PDs that rank the bads backwards fit a Platt slope < 0, which would flip every
    attribute's points: the run stops, naming scikit-learn's AUC of those PDs and the
    fix. A forward slope, and isotonic, pass."""
    from scipy.special import expit
    from sklearn.metrics import roc_auc_score

    from fjax.calibration import Platt, fit_platt
    from fjax.tasks.credit.scoring import refuse_backward_platt
    rng = np.random.default_rng(8)
    y = (rng.random(400) < 0.3).astype(np.float64)
    backward = expit(rng.normal(-1.0 * y, 1.0))
    platt = fit_platt(backward, y)
    auc = roc_auc_score(y, backward)
    assert platt.a < 0 and auc < 0.5
    with pytest.raises(ValueError, match=rf"slope of -.*AUC {auc:.3f}.*--model logistic"):
        refuse_backward_platt(platt, auc)
    with pytest.raises(ValueError, match="slope of 0"):
        refuse_backward_platt(Platt(a=0.0, b=-1.0), 0.5)
    refuse_backward_platt(fit_platt(1 - backward, y), 1 - auc)
    refuse_backward_platt(lambda p: p, auc)   # isotonic or none: no slope to flip


def test_a_run_whose_platt_slope_is_backward_stops_before_any_scorecard(csv_path, tmp_path,
                                                                       monkeypatch):
    """The deployed Platt fit is negated, as a model ranking backwards out of fold fits:
    the run refuses before scoring, so no scorecard.csv or scores.csv is written."""
    import importlib

    from fjax.calibration import Platt
    oof_module = importlib.import_module("fjax.tasks.credit.oof")
    fit = oof_module.fit_calibrator

    def backward(kind, pd_, y):
        cal = fit(kind, pd_, y)
        return Platt(a=-abs(cal.a), b=cal.b)

    monkeypatch.setattr(oof_module, "fit_calibrator", backward)
    cfg = small_config(csv_path, out=str(tmp_path),
                       scorecard=ScorecardConfig(calibration="platt"))
    with pytest.raises(ValueError, match="pooled out-of-fold AUC 0"):
        run(cfg, progress=False)
    assert not list(tmp_path.rglob("scorecard.csv")) and not list(tmp_path.rglob("scores.csv"))


def test_the_epoch_selection_note_reads_the_chosen_configuration(csv_path):
    """A run with restore_best off that sweeps train.patience [1, 3] (or restore_best)
    chose patience 1, which stopped each member on its validation fold, yet the report
    read the run's own train section and did not say its metrics are optimistic."""
    from fjax.tasks.credit.run import report_notes
    own = small_config(csv_path)   # restore_best False, no patience
    note = "select epochs on the validation fold"
    assert not any(note in n for n in report_notes(own, 6, 2, 2, chosen=own))
    for train in (dict(patience=1), dict(restore_best=True)):
        chosen = dataclasses.replace(own, train=dataclasses.replace(own.train, **train))
        assert any(note in n for n in report_notes(own, 6, 2, 2, chosen=chosen))
        assert not any(note in n for n in report_notes(chosen, 6, 2, 2, chosen=own))


@pytest.fixture(scope="module")
def train_grid_search(csv_path):
    """A search over train fields the hand-written description did not name, with the
    run's own restore_best off and one group restoring its best epoch."""
    from fjax.tasks.credit.search import cross_validate
    cfg = small_config(csv_path, train=TrainConfig(epochs=2, batch_size=64, restore_best=False))
    data = load(cfg)
    grid = {"train.batch_size": [64, 128], "train.restore_best": [True, False]}
    return cfg, grid, data, cross_validate(cfg, grid, data, progress=False)


def test_descriptions_name_every_swept_train_field(train_grid_search):
    """metrics.json described configurations differing only in batch_size or restore_best
    alike ('logistic, woe=none, adam lr=..., epochs=2'): it named epochs alone."""
    from fjax.tasks.credit.run import selection_facts
    from fjax.tasks.credit.search import best_config_id
    _, grid, data, search = train_grid_search
    best = best_config_id(search.summary)
    facts = selection_facts(search, best, data, list(grid))
    for c in facts["comparisons"]:
        cfg = search.configs[c["config"]]
        assert f"train.batch_size={cfg.train.batch_size}" in c["description"]
        assert f"train.restore_best={cfg.train.restore_best}" in c["description"]
    from fjax.tasks.credit.run import describe
    described = {describe(cfg, list(grid)) for cfg in search.configs.values()}
    assert len(search.configs) == 4 and len(described) == 4


def test_best_epoch_columns_follow_each_groups_restore_best(train_grid_search):
    """cv_table.csv dropped every best_* column because the run's own restore_best was off,
    though the restore_best=True groups chose their epoch; with it on, the False groups
    kept best-epoch figures chosen on the fold that scores them."""
    from fjax.tasks.credit.search import cross_validate
    cfg, grid, data, search = train_grid_search
    for table in (search.table, cross_validate(
            dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, restore_best=True)),
            {"train.restore_best": [True, False]}, data, progress=False).table):
        restores = table["train.restore_best"].astype(str) == "True"
        assert restores.any() and (~restores).any()
        for col in ("best_epoch", "best_val_auc"):
            assert table.loc[restores, col].notna().all(), col
            assert table.loc[~restores, col].isna().all(), col


def hand_scored(run_dir, frame: pd.DataFrame) -> np.ndarray:
    """Each applicant's score from a finished logistic run's files alone: base points
    (metrics.json) plus each attribute's points in scorecard.csv, a categorical value's
    row (`<unknown>` for a category training never held), a numeric value on the line
    through its attribute's rows (its points are linear in the value)."""
    base = json.loads((run_dir / "metrics.json").read_text())["final"]["base_points"]
    card = pd.read_csv(run_dir / "scorecard.csv", dtype={"value": str})
    total = np.full(len(frame), base)
    for attribute, rows in card.groupby("attribute", sort=False):
        if pd.api.types.is_numeric_dtype(frame[attribute]):
            slope, intercept = np.polyfit(rows["value"].astype(float), rows["points"], 1)
            total += intercept + slope * frame[attribute].to_numpy(np.float64)
        else:
            points = dict(zip(rows["value"], rows["points"]))
            total += [points.get(str(v), points["<unknown>"]) for v in frame[attribute]]
    return total


def test_a_rerun_from_config_json_scores_new_applicants_with_the_same_model(csv_path,
                                                                          tmp_path):
    """Scoring next month's applicants with a model trained today: `fjax run credit
    --config DIR/config.json --data.score-path new.csv` retrains the same configuration
    with the same seed, so it must give the same model bit for bit (the README says so),
    and score the new file as the first run's scorecard.csv does by hand."""
    from fjax import cli

    first = tmp_path / "first"
    run(small_config(csv_path, out=str(first)), progress=False)
    new = pd.read_csv(csv_path).drop(columns="creditability").iloc[:6].copy()
    new["credit_amount"] = [800, 30000, 2500, 1200, 9000, 400]   # 30000: above training's
    new["age_in_years"] = [19, 45, 80, 33, 52, 27]
    new.loc[2, "purpose"] = "crypto"                             # a category never seen
    new.to_csv(tmp_path / "new.csv", index=False)
    assert cli.main(["run", "credit", "--config", str(first / "config.json"),
                     "--data.score-path", str(tmp_path / "new.csv"),
                     "--out", str(tmp_path / "later")]) == 0
    later = tmp_path / "later"
    for name in ("scorecard.csv", "encoder.json", "cv_table.csv", "scores.csv"):
        assert (later / name).read_bytes() == (first / name).read_bytes(), name
    cv = [json.loads((d / "metrics.json").read_text())["cv"] for d in (first, later)]
    assert cv[0] == cv[1]
    scored = pd.read_csv(later / "new_scores.csv")
    assert len(scored) == 6
    np.testing.assert_allclose(scored["score"], hand_scored(first, new), atol=1e-3)


def test_report_gives_the_pooled_gini_with_its_delong_interval():
    """The pooled out-of-fold Gini (2 AUC - 1), the figure a validator quotes, was in
    metrics.json but not in the report, and had no interval (German default: 0.567,
    95% 0.507 to 0.627). Oracle: DeLong's variance from pairwise comparisons in numpy."""
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.3).astype(float)
    p = 1 / (1 + np.exp(-(rng.normal(size=300) + 1.2 * y - 1)))
    pos, neg = p[y == 1], p[y == 0]
    wins = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    auc = wins.mean()
    se = np.sqrt(wins.mean(1).var(ddof=1) / len(pos) + wins.mean(0).var(ddof=1) / len(neg))
    low, high = 2 * (auc - 1.959964 * se) - 1, 2 * (auc + 1.959964 * se) - 1
    line = pooled_auc_line({"cv": {"pooled_out_of_fold": pooled(p, y)}})
    assert f"Gini {2 * auc - 1:.4f}, 95% interval {low:.3f} to {high:.3f}" in line


def test_pooled_brier_and_log_loss_are_float64_and_clipped_as_the_calibrated_ones():
    """`pooled`'s `brier` and `log_loss` (metrics.json's `pooled_out_of_fold`) are computed
    as the calibrated PDs' are (float64; the log-loss `log_loss_f64`'s, PDs clipped to
    [1e-7, 1 - 1e-7]); float32 read them 1e-7 apart, and a good's PD of 1 - 1e-12 at
    -log(1.19e-7) = 15.94 (float32's 1 - 1e-7) where float64 clips it to -log(1e-7) = 16.12.
    Oracle: scikit-learn's float64 brier_score_loss and log_loss."""
    from sklearn.metrics import brier_score_loss
    from sklearn.metrics import log_loss as sk_log_loss
    rng = np.random.default_rng(3)
    y = (rng.random(300) < 0.3).astype(float)
    p = 1 / (1 + np.exp(-(rng.normal(size=300) + 1.2 * y - 1)))
    got = pooled(p, y)
    assert got["brier"] == pytest.approx(brier_score_loss(y, p), rel=1e-12)
    assert got["log_loss"] == pytest.approx(sk_log_loss(y, p), rel=1e-12)
    y[0], p[0] = 0.0, 1 - 1e-12   # a sure good's PD: clipped
    got = pooled(p, y)
    clipped = np.clip(p, 1e-7, 1 - 1e-7)
    assert got["log_loss"] == pytest.approx(sk_log_loss(y, clipped), rel=1e-12)
    rest = sk_log_loss(y[1:], p[1:]) * 299
    assert got["log_loss"] == pytest.approx((rest - np.log(1e-7)) / 300, rel=1e-9)   # inexact
    assert got["brier"] == pytest.approx(brier_score_loss(y, p), rel=1e-12)


def test_mlp_reason_codes_meet_the_integration_tolerance(csv_path):
    """MLP attributions per attribute are within 2e-3 (logit) of a float64 20000-step
    midpoint integral of the refitted ReLU head's gradient: 64 fixed steps were not."""
    cfg = small_config(csv_path, model=dataclasses.replace(Config().model, kind="mlp",
                                                           hidden=(16,)))
    final = refit(cfg, load(cfg), progress=False)
    x = final.x[:40]
    names, contrib, _ = attributions(final, x)
    z, attrs = _space(final, x)
    ref = attribution_reference(final)
    layers = final.params["params"]["mlp"]
    mlp = {f"{layer}_{k[0]}": np.asarray(layers[layer][k], np.float64)
           for layer in ("hidden_0", "out") for k in ("kernel", "bias")}
    alphas = (np.arange(20000) + 0.5) / 20000
    exact = []
    for row in np.asarray(z, np.float64):   # d logit / d z of relu(z W0 + b0) W1 + b1
        path = ref + alphas[:, None] * (row - ref)
        on = path @ mlp["hidden_0_k"] + mlp["hidden_0_b"] > 0
        grad = (on * mlp["out_k"][:, 0]) @ mlp["hidden_0_k"].T
        exact.append((row - ref) * grad.mean(axis=0))
    np.testing.assert_allclose(contrib, by_attribute(exact, attrs)[1], atol=2e-3)


def test_default_costs_on_a_users_own_file_are_noted_as_german_credits():
    """A file of one's own run at the default 5:1 costs is told the threshold follows
    German credit's costs, not the lender's; set costs, or the German data, are not."""
    from fjax.tasks.credit.run import report_notes

    def cost_notes(data: CreditDataConfig) -> list[str]:
        return [n for n in report_notes(Config(data=data), 5, 1, 1, bad_rate=0.067)
                if "--data.cost-fn" in n]

    noted = cost_notes(CreditDataConfig(path="loans.csv"))
    assert len(noted) == 1 and "German credit" in noted[0] and "0.067" in noted[0]
    assert not cost_notes(CreditDataConfig(path="loans.csv", cost_fn=12.0))
    assert not cost_notes(CreditDataConfig(path="loans.csv", cost_fp=0.5))
    assert not cost_notes(CreditDataConfig())
    assert not cost_notes(CreditDataConfig(path="german_credit"))   # the embedded data by name


def test_reason_values_read_each_column_once_and_match_the_rows():
    """A reason code's value is its row's own value of the attribute named ("<missing>" for
    a missing one), read by column: per row and reason through pandas it took 11 s of a
    30,000-applicant run. Oracle: the values by hand."""
    from fjax.tasks.credit.scoring import reason_values

    class Counting(pd.DataFrame):
        reads = 0

        def __getitem__(self, key):
            Counting.reads += 1
            return super().__getitem__(key)

    n = 300
    frame = Counting({"income": np.where(np.arange(n) % 7 == 0, np.nan, np.arange(n) * 1.5),
                      "purpose": pd.Categorical(np.array(["car", "tv", "other"])[np.arange(n) % 3]),
                      "lines": np.arange(n) % 4})
    attrs = np.array(["income", "purpose", "lines", ""])[np.arange(n) % 4].tolist()
    got = reason_values(frame, attrs)
    want = ["" if a == "" else
            "<missing>" if a == "income" and r % 7 == 0 else
            str(r * 1.5) if a == "income" else
            ["car", "tv", "other"][r % 3] if a == "purpose" else str(r % 4)
            for r, a in enumerate(attrs)]
    assert got == want
    assert Counting.reads <= 3


def test_woe_attributes_whose_points_fall_as_their_woe_rises_are_named(tmp_path):
    """b is a noisy copy of a whose own effect, given a, runs the other way: alone its
    'on' level holds more bads (lower WOE), given a fewer. A WOE scorecard trained to near
    its optimum turns b's weight, so b's points fall as its WOE rises, which scorecard
    validation rejects; metrics.json and the report name it with the points its bins span.
    Oracles: scikit-learn's unpenalised fit on the WOE design (encoder.json) turns b too and
    not a; the span and the sign from scorecard.csv beside encoder.json, in numpy (the span
    exactly: it once came from the kernel and the float64 WOE, 1e-8 off the points shown)."""
    rng = np.random.default_rng(0)
    n = 800
    a = rng.random(n) < 0.4
    b = np.where(rng.random(n) < 0.8, a, ~a)
    bad = rng.random(n) < np.select([a & b, a & ~b, ~a & b], [0.45, 0.9, 0.03], 0.2)
    frame = pd.DataFrame({"a": np.where(a, "yes", "no"), "b": np.where(b, "on", "off"),
                          "x": rng.normal(size=n).round(3),
                          "status": np.where(bad, "bad", "good")})
    frame.to_csv(tmp_path / "loans.csv", index=False)
    cfg = Config(out=str(tmp_path / "run"),
                 data=CreditDataConfig(path=str(tmp_path / "loans.csv"), target="status",
                                       woe="all"),
                 optim=OptimConfig(name="adam", learning_rate=0.05, weight_decay=0.0,
                                   schedule="cosine"),
                 sweep=Config().sweep.__class__(folds=2),
                 train=TrainConfig(epochs=100, batch_size=256, restore_best=False))
    path = run(cfg, progress=False)
    woe = json.loads((path / "encoder.json").read_text())["woe"]
    design = np.column_stack([frame[c].map(dict(zip(woe[c]["categories"], woe[c]["woe"])))
                              for c in ("a", "b")])
    sk = LogisticRegression(C=1e6).fit(design, bad).coef_[0]
    assert sk[0] < 0 < sk[1]                       # the PD falls with a's WOE, rises with b's
    card = pd.read_csv(path / "scorecard.csv", keep_default_na=False)
    want = {}
    for column in ("a", "b", "x"):
        known = card[(card["attribute"] == column)
                     & ~card["value"].isin(["<unknown>", "<missing>"])]
        levels = woe[column]["woe"]
        slope = np.polyfit(levels, known["points"].to_numpy(), 1)[0]
        if slope < 0:
            want[column] = np.ptp(known["points"].to_numpy())
    assert list(want) == ["b"]
    got = json.loads((path / "metrics.json").read_text())["final"]["woe_reversed_points"]
    assert got.keys() == want.keys()
    assert got["b"] == want["b"]        # scorecard.csv's own points: one source of truth
    note = [line for line in (path / "report.md").read_text().splitlines()
            if line.startswith("- Reversed signs")]
    assert len(note) == 1 and f"b ({want['b']:.2g} points across its bins)" in note[0]
