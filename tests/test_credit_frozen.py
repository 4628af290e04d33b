"""`fjax score credit`: a finished run's saved model (model.msgpack) scores new applicants
without training, exactly as the run scored them, and refuses what it cannot score."""

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fjax import cli
from fjax.config import TrainConfig
from fjax.datasets import load_dataset
from fjax.stability import psi
from fjax.tasks.credit import Config, CreditDataConfig, ScorecardConfig, run
from fjax.tasks.credit.frozen import ScoreConfig, score
from fjax.tasks.frozen import MODEL_FILE, out_folder, run_settings_note

from test_credit import hand_scored


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """240 labelled applicants, and 8 new ones: amounts beyond training's, a category
    never seen, a missing amount (none in training)."""
    folder = tmp_path_factory.mktemp("frozen")
    frame = load_dataset("german_credit").sample(240, random_state=1).reset_index(drop=True)
    frame.to_csv(folder / "applicants.csv", index=False)
    frame.iloc[:8].drop(columns="creditability").to_csv(folder / "new.csv", index=False)
    new = pd.read_csv(folder / "new.csv")
    new["credit_amount"] = [800, 30000, 2500, 1200, 9000, 400, 3000, np.nan]
    new.loc[2, "purpose"] = "crypto"
    new.to_csv(folder / "new.csv", index=False)
    return folder


def small_run(folder, out, grid=None, **kw):
    """A 3-fold, 3-epoch run that also scores new.csv (the retraining route's output)."""
    cfg = Config(data=CreditDataConfig(path=str(folder / "applicants.csv"),
                                       score_path=str(folder / "new.csv")),
                 sweep=Config().sweep.__class__(folds=3), out=str(out),
                 train=TrainConfig(epochs=3, batch_size=64, restore_best=False))
    return run(dataclasses.replace(cfg, **kw), grid=grid, progress=False)


@pytest.fixture(scope="module")
def logistic_sweep(files, tmp_path_factory):
    """A logistic sweep (the chosen weight decay is not the config's), Platt-calibrated."""
    return small_run(files, tmp_path_factory.mktemp("logistic"),
                     grid={"optim.weight_decay": [1e-3, 3e-2]},
                     scorecard=ScorecardConfig(calibration="platt", reasons=3))


def score_with(run_dir, folder, out):
    assert cli.main(["score", "credit", "--run", str(run_dir), "--data",
                     str(folder / "new.csv"), "--out", str(out)]) == 0
    return out


def test_the_saved_logistic_model_scores_as_the_run_and_as_its_scorecard(
        logistic_sweep, files, tmp_path):
    """Bit for bit the run's new_scores.csv (PD, score, decision, reasons: the same bytes),
    and each score is the base plus scorecard.csv's points, summed by hand (rows with
    every amount known: a missing one has no point on the amount's line). The values the
    run never saw get one line, the same, in both report.md's."""
    out = score_with(logistic_sweep, files, tmp_path / "scored")
    assert (out / "new_scores.csv").read_bytes() == \
        (logistic_sweep / "new_scores.csv").read_bytes()
    scored = pd.read_csv(out / "new_scores.csv")
    new = pd.read_csv(files / "new.csv")
    known = new["credit_amount"].notna().to_numpy()
    np.testing.assert_allclose(scored["score"][known],
                               hand_scored(logistic_sweep, new)[known], atol=1e-3)
    facts = json.loads((out / "score.json").read_text())
    metrics = json.loads((logistic_sweep / "metrics.json").read_text())
    assert facts["model"] == metrics["best"]["description"]   # the sweep's choice, saved
    stability = metrics["stability"]
    assert facts["psi_vs_training"] == stability["psi_new_applicants"]
    assert facts["unseen_values"] == stability["new_applicants_unseen_values"] == \
        {"purpose": 1, "credit_amount": 1}
    assert facts["applicants"] == 8 and facts["setup_changed"] == {}
    line = ("- Values the run never saw (scored as the training applicants' mix, 0 points "
            "against the reference): purpose 1 row(s), credit_amount 1 row(s).")
    for folder in (out, logistic_sweep):   # the score route's line, word for word, in both
        assert line in (folder / "report.md").read_text().splitlines()
    assert json.loads((out / "config.json").read_text())["run"] == str(logistic_sweep)


def test_a_small_batch_is_judged_against_the_psi_of_same_size_samples(
        logistic_sweep, files, tmp_path):
    """20 applicants drawn at random from the training ones reach a PSI far above the rule
    of thumb's 0.25 by chance (empty bins): not called shifted, while the 20 riskiest are;
    score.json's reference is `psi_chance` of the run's training scores (the 95th
    percentile of a brute-force loop of `psi` over such draws)."""
    train = pd.read_csv(files / "applicants.csv").drop(columns="creditability")
    score = pd.read_csv(logistic_sweep / "scores.csv")["score"].to_numpy()
    said = {}
    for name, rows in (("random", np.random.default_rng(0).choice(len(train), 20, False)),
                       ("riskiest", np.argsort(score)[:20])):
        folder = tmp_path / name
        folder.mkdir()
        train.iloc[rows].to_csv(folder / "new.csv", index=False)
        out = score_with(logistic_sweep, folder, tmp_path / f"{name}_scored")
        facts = json.loads((out / "score.json").read_text())
        said[name] = ((out / "report.md").read_text(), facts)
    text, facts = said["random"]
    assert facts["psi_vs_training"] > 0.25 and "shifted" not in text
    assert "no evidence of a shift" in text
    rng = np.random.default_rng(1)
    loop = [psi(rng.choice(score, len(score)), rng.choice(score, 20)) for _ in range(2000)]
    assert facts["psi_chance_95"] == pytest.approx(np.quantile(loop, 0.95), rel=0.15)
    text, facts = said["riskiest"]
    assert facts["psi_vs_training"] > facts["psi_chance_95"] and "shifted" in text


def test_the_saved_mlp_model_scores_as_the_run(files, tmp_path):
    """An MLP (embeddings, integrated-gradient reasons) with isotonic calibration: the
    saved parameters, reference applicant and calibrator give the run's bytes. new.csv's
    30,000 lies beyond the training amounts: both reports say an MLP extrapolates there,
    not that a logistic scorecard's points grow linearly."""
    model = dataclasses.replace(Config().model, kind="mlp", hidden=(8,))
    run_dir = small_run(files, tmp_path / "mlp", model=model,
                        scorecard=ScorecardConfig(calibration="isotonic", reasons=2))
    out = score_with(run_dir, files, tmp_path / "scored")
    assert (out / "new_scores.csv").read_bytes() == (run_dir / "new_scores.csv").read_bytes()
    for folder in (run_dir, out):
        line = [x for x in (folder / "report.md").read_text().splitlines()
                if x.startswith("- Numbers beyond the range the model was fitted on: ")]
        assert len(line) == 1 and "credit_amount 1 row(s)" in line[0]
        assert "an MLP" in line[0] and "logistic" not in line[0]


def test_a_bad_file_or_a_run_without_a_model_is_refused_before_writing(
        logistic_sweep, files, tmp_path, capsys):
    """Missing columns and text in a numeric column name the field and the column; a run
    folder without model.msgpack (an older run) says how to get scores; nothing is
    written."""
    out = tmp_path / "out"
    new = pd.read_csv(files / "new.csv")
    new.drop(columns=["purpose"]).to_csv(tmp_path / "lacking.csv", index=False)
    with pytest.raises(ValueError, match=r"--data .*lacking.csv.* lacks the column\(s\) "
                                         r"\['purpose'\]"):
        score(ScoreConfig(run=str(logistic_sweep), data=str(tmp_path / "lacking.csv"),
                          out=str(out)))
    text = new.astype({"duration_in_month": object})
    text.loc[3, "duration_in_month"] = "abc"
    text.to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(ValueError, match=r"--data .*text.csv.*'duration_in_month' has "
                                         r"non-numeric text 'abc'") as err:
        score(ScoreConfig(run=str(logistic_sweep), data=str(tmp_path / "text.csv"),
                          out=str(out)))
    # Its fix names a training setting, which the score cannot change: the note says so.
    assert str(err.value).endswith(
        "or list 'duration_in_month' in data.categorical"
        + run_settings_note(repr(str(tmp_path / "text.csv")), "credit"))
    text.loc[3, "duration_in_month"] = np.inf      # a refusal naming no setting: no note
    text.to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(ValueError, match=r"infinite value at row 3; replace it with a finite "
                                         r"number or leave it empty \(missing\)$"):
        score(ScoreConfig(run=str(logistic_sweep), data=str(tmp_path / "text.csv"),
                          out=str(out)))
    older = tmp_path / "older"
    shutil.copytree(logistic_sweep, older)
    (older / MODEL_FILE).unlink()
    assert cli.main(["score", "credit", "--run", str(older), "--data", str(files / "new.csv"),
                     "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "has no saved model (model.msgpack)" in err and "--data.score-path" in err
    with pytest.raises(ValueError, match="holds a training run"):
        score(ScoreConfig(run=str(logistic_sweep), data=str(files / "new.csv"),
                          out=str(logistic_sweep)))
    (older / "environment.json").write_text(json.dumps(
        {"config_class": "fjax.tasks.forecast.config.Config"}))
    with pytest.raises(ValueError, match="not a credit run"):
        score(ScoreConfig(run=str(older), data=str(files / "new.csv"), out=str(out)))
    assert not out.exists()
    assert cli.main(["score", "forecast", "--run", str(older), "--data", "x.csv"]) == 2
    assert "has no saved model (model.msgpack)" in capsys.readouterr().err   # forecast's own


def test_scoring_on_another_setup_than_the_runs_is_warned_and_recorded(logistic_sweep, files,
                                                                      tmp_path):
    """The scores equal the run's on the run's setup only (another jax can round float32
    sums otherwise): a changed version is warned of and kept in score.json."""
    moved = tmp_path / "moved"
    shutil.copytree(logistic_sweep, moved)
    env = json.loads((moved / "environment.json").read_text())
    env["versions"]["jax"] = "0.0.1"
    (moved / "environment.json").write_text(json.dumps(env))
    with pytest.warns(UserWarning, match=r"versions.jax '0.0.1' then"):
        out = score(ScoreConfig(run=str(moved), data=str(files / "new.csv"),
                                out=str(tmp_path / "out")))
    facts = json.loads((out / "score.json").read_text())
    assert facts["setup_changed"]["versions.jax"][0] == "0.0.1"
    assert "float32's last digits" in (out / "report.md").read_text()


def test_a_sweep_without_a_model_is_told_to_rerun_the_sweep(logistic_sweep, files, tmp_path):
    """The rerun a sweep's folder was told, `fjax run credit --config DIR/config.json`,
    trains the config's first weight decay, not the sweep's chosen one that the run
    saved; `fjax sweep` (with the grid.json beside it) trains the chosen one again."""
    older = tmp_path / "older"
    shutil.copytree(logistic_sweep, older)
    (older / MODEL_FILE).unlink()
    assert (older / "grid.json").is_file()
    with pytest.raises(ValueError) as err:
        score(ScoreConfig(run=str(older), data=str(files / "new.csv"),
                          out=str(tmp_path / "out")))
    assert f"`fjax sweep credit --config {older / 'config.json'} --out DIR`" in str(err.value)
    assert "fjax run credit" not in str(err.value)
    (older / "grid.json").unlink()   # a plain run's folder: `fjax run`
    with pytest.raises(ValueError, match="`fjax run credit --config "):
        score(ScoreConfig(run=str(older), data=str(files / "new.csv"),
                          out=str(tmp_path / "out")))


@pytest.mark.parametrize("given", [".", "runs/.."])
def test_the_default_out_folder_lies_beside_the_run_not_inside_it(given, tmp_path,
                                                                  monkeypatch):
    """`--run .` (run from inside the run's folder) or `--run runs/..` names the run by a
    path whose `.parent` is not the folder above it: the scores still go beside the run,
    `<parent>/<run name>_scored`, never into the run's folder."""
    run = tmp_path / "credit"
    (run / "runs").mkdir(parents=True)
    monkeypatch.chdir(run)
    assert out_folder(None, Path(given)).resolve() == tmp_path / "credit_scored"


def holdout(tmp_path, rows=300):
    """German credit applicants the fixture's run never saw, labels kept."""
    full = load_dataset("german_credit")
    return full.drop(full.sample(240, random_state=1).index).iloc[:rows].reset_index(drop=True)


def own_pds(run_dir, csv):
    """f64[n] the saved model's own (uncalibrated) PDs of the file's applicants: the raw
    scores AUC, Gini and KS rank, read from model.msgpack's parameters."""
    from scipy.special import expit
    from fjax.tasks.credit.model_file import read_model
    final = read_model(run_dir / MODEL_FILE).final
    return expit(np.asarray(final.logits(final.encode(pd.read_csv(csv))), np.float64))


def delong_95(scores, y):
    """DeLong's 95% AUC interval from the pairwise comparison matrix (numpy, float64)."""
    pos, neg = scores[y == 1], scores[y == 0]
    psi_ = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    auc = psi_.mean()
    half = 1.959963984540054 * np.sqrt(psi_.mean(1).var(ddof=1) / len(pos)
                                       + psi_.mean(0).var(ddof=1) / len(neg))
    return [auc - half, auc + half]


def test_a_labelled_file_is_measured_on_its_own_labels(logistic_sweep, files, tmp_path):
    """A holdout with the run's label column (spelled in another case): score.json's
    `labelled` and report.md give rows, bads, bad rate, mean PD, AUC with DeLong's interval,
    Gini, KS, Brier and log-loss, each as scikit-learn or numpy computes it: the ranks from
    the model's own PDs (as the code ranks them), the rest from new_scores.csv's PDs; the
    scores are those of the same file without labels, whose outputs say nothing of
    them."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
    frame = holdout(tmp_path)
    frame.drop(columns="creditability").to_csv(tmp_path / "new.csv", index=False)
    bare = score_with(logistic_sweep, tmp_path, tmp_path / "bare")
    frame.rename(columns={"creditability": "Creditability"}).to_csv(tmp_path / "new.csv",
                                                                     index=False)
    out = score_with(logistic_sweep, tmp_path, tmp_path / "labelled")
    assert (out / "new_scores.csv").read_bytes() == (bare / "new_scores.csv").read_bytes()
    assert "labelled" not in json.loads((bare / "score.json").read_text())
    assert "own labels" not in (bare / "report.md").read_text()
    m = json.loads((out / "score.json").read_text())["labelled"]
    y = (frame["creditability"] == "bad").to_numpy(np.float64)
    p = pd.read_csv(out / "new_scores.csv")["pd"].to_numpy(np.float64)
    assert (m["label_column"], m["bad_label"]) == ("creditability", "bad")
    assert (m["applicants"], m["bads"]) == (300, int(y.sum())) and 0 < y.sum() < 300
    assert m["bad_rate"] == pytest.approx(int(y.sum()) / 300, rel=1e-12)   # a hand count
    assert m["mean_pd"] == pytest.approx(p.mean(), rel=1e-12)
    raw = own_pds(logistic_sweep, tmp_path / "new.csv")
    auc = roc_auc_score(y, raw)
    assert m["auc"] == pytest.approx(auc, abs=1e-12)
    assert m["gini"] == pytest.approx(2 * auc - 1, abs=1e-12)
    np.testing.assert_allclose(m["auc_95"], delong_95(raw, y), atol=1e-12)
    cuts = np.unique(raw)
    ks = np.max(np.abs((raw[y == 1][:, None] <= cuts).mean(0)
                       - (raw[y == 0][:, None] <= cuts).mean(0)))
    assert m["ks"] == pytest.approx(ks, abs=1e-12)
    assert m["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert m["log_loss"] == pytest.approx(log_loss(y, p), abs=1e-12)
    text = (out / "report.md").read_text()
    assert "measured on this file's own labels (`creditability`" in text
    assert f"{m['bads']} bads" in text and f"log-loss {m['log_loss']:.4f}" in text


@pytest.mark.parametrize("labels, said", [
    (["bad", "good", "unknown"], r"holds 'unknown' in 10 row\(s\), which the run never saw: "
     r"its labels are 'bad' \(bad\) and 'good' \(good\); map those values to one of them"),
    (["bad", "pending", "bad"], r"holds 'pending' in 10 row\(s\), which the run never saw"),
    (["pending"] * 3, r"holds 'pending' in 30 row\(s\), which the run never saw"),
    (["bad", "pending", None], r"holds 'pending' in 10 row\(s\), which the run never saw"),
])
def test_a_label_the_run_never_saw_is_refused_before_writing(
        labels, said, logistic_sweep, tmp_path):
    """Labels are the run's bad one or its good one, whatever the file's count of values: a
    third value, a value beside the bad one, or one value on every row that is neither is
    refused, naming the file, the column, the values and the fix; nothing is written."""
    frame = holdout(tmp_path, 30)
    frame["creditability"] = [labels[i % 3] for i in range(len(frame))]
    frame.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"--data .*new.csv.*: label column 'creditability' "
                                         + said + r".*remove the column to score"):
        score(ScoreConfig(run=str(logistic_sweep), data=str(tmp_path / "new.csv"),
                          out=str(out)))
    assert not out.exists()


@pytest.mark.parametrize("value", ["bad", "good"])
def test_a_label_column_of_one_class_is_scored_and_says_what_it_leaves_out(
        value, logistic_sweep, tmp_path):
    """A file whose labels hold one class on every row is scored as the same file without
    them (the same bytes); AUC, Gini and KS, which need both classes, are left out with the
    reason in score.json and report.md; the bads, bad rate, mean PD, Brier and log-loss
    stand (numpy's), all bad or all good."""
    frame = holdout(tmp_path, 40)
    frame.drop(columns="creditability").to_csv(tmp_path / "new.csv", index=False)
    bare = score_with(logistic_sweep, tmp_path, tmp_path / "bare")
    frame.assign(creditability=value).to_csv(tmp_path / "new.csv", index=False)
    out = score_with(logistic_sweep, tmp_path, tmp_path / "one")
    assert (out / "new_scores.csv").read_bytes() == (bare / "new_scores.csv").read_bytes()
    m = json.loads((out / "score.json").read_text())["labelled"]
    text = (out / "report.md").read_text()
    said = (f"the label column 'creditability' holds one class ({value!r}) on every "
            "labelled row")
    assert said in m["not_measured"] and said in text
    assert "AUC, Gini and KS" in text and "need both classes" in text and "ROC-AUC" not in text
    p = pd.read_csv(out / "new_scores.csv")["pd"].to_numpy(np.float64)
    y = float(value == "bad")
    assert (m["applicants"], m["bads"], m["bad_rate"]) == (40, 40 * y, y)
    assert m["auc"] is None and m["gini"] is None and m["ks"] is None
    assert m["mean_pd"] == pytest.approx(p.mean(), rel=1e-12)
    assert m["brier"] == pytest.approx(np.mean((y - p) ** 2), rel=1e-12)
    assert m["log_loss"] == pytest.approx(-np.mean(np.log(p if y else 1 - p)), rel=1e-12)
    assert f"bad = 'bad', good = 'good'): 40 applicants, {40 * int(y)} bads; bad rate {y:.4f}" \
        in text


def older_model(run_dir, tmp, key):
    """A copy of `run_dir` in `tmp`/old_run whose model.msgpack lacks `key`, as one saved
    by an older fjax."""
    from flax import serialization
    old = tmp / "old_run"
    shutil.copytree(run_dir, old)
    saved = serialization.msgpack_restore((old / MODEL_FILE).read_bytes())
    del saved[key]
    (old / MODEL_FILE).write_bytes(serialization.msgpack_serialize(saved))
    return old


def test_the_model_file_records_the_good_label_and_an_older_one_reads_the_other_value(
        logistic_sweep, tmp_path):
    """The run records training's good label; a model file without it (an older fjax's)
    reads a file's one value beside the bad label as good, and says so, but refuses two,
    and does not read one value alone as good (it may be an outcome not known yet)."""
    from fjax.tasks.credit.model_file import read_model
    assert read_model(logistic_sweep / MODEL_FILE).good_label == "good"
    old = older_model(logistic_sweep, tmp_path, "good_label")
    assert read_model(old / MODEL_FILE).good_label is None
    frame = holdout(tmp_path, 40)
    y = (frame["creditability"] == "bad").to_numpy(np.float64)
    frame.assign(creditability=np.where(y == 1, "bad", "repaid")).to_csv(tmp_path / "new.csv",
                                                                       index=False)
    out = score_with(old, tmp_path, tmp_path / "out")
    m = json.loads((out / "score.json").read_text())["labelled"]
    assert (m["good_label"], m["good_label_recorded"], m["bads"]) == ("repaid", False, y.sum())
    assert "records no good label: the file's one other value is read as good" in \
        (out / "report.md").read_text()
    frame.assign(creditability=["bad", "repaid", "other", "bad"] * 10).to_csv(
        tmp_path / "new.csv", index=False)
    with pytest.raises(ValueError, match="holds 'other', 'repaid' besides the bad label 'bad'"
                                         ".*records no good label"):
        score(ScoreConfig(run=str(old), data=str(tmp_path / "new.csv"),
                          out=str(tmp_path / "refused")))
    frame.assign(creditability="pending").to_csv(tmp_path / "new.csv", index=False)
    out = score_with(old, tmp_path, tmp_path / "alone")
    m = json.loads((out / "score.json").read_text())["labelled"]
    assert (m["applicants"], m["unlabelled"]) == (0, 0) and "bads" not in m and "brier" not in m
    assert "holds 'pending' on every labelled row, not the bad label 'bad'" in m["not_measured"]


def test_a_blank_label_column_scores_as_none_with_a_note(logistic_sweep, tmp_path):
    """Outcomes not known yet: a label column blank on every row scores the file as the
    same file without it (the same bytes), and says in one line that nothing was measured."""
    frame = holdout(tmp_path, 40)
    frame.drop(columns="creditability").to_csv(tmp_path / "new.csv", index=False)
    bare = score_with(logistic_sweep, tmp_path, tmp_path / "bare")
    frame.assign(creditability=np.nan).to_csv(tmp_path / "new.csv", index=False)
    out = score_with(logistic_sweep, tmp_path, tmp_path / "blank")
    assert (out / "new_scores.csv").read_bytes() == (bare / "new_scores.csv").read_bytes()
    m = json.loads((out / "score.json").read_text())["labelled"]
    said = "the label column 'creditability' is blank on every row (outcomes not known yet)"
    assert said in m["not_measured"] and (m["applicants"], m["unlabelled"]) == (0, 40)
    lines = [line for line in (out / "report.md").read_text().splitlines() if said in line]
    assert lines == [f"- Performance not measured: {m['not_measured']}."]


def test_a_partly_blank_label_column_is_measured_on_its_labelled_rows(logistic_sweep,
                                                                      tmp_path):
    """Every row is scored (the same bytes as without labels); the measures are those of
    the labelled rows only (scikit-learn's), and the blank rows are counted and said."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
    frame = holdout(tmp_path, 200)
    frame.drop(columns="creditability").to_csv(tmp_path / "new.csv", index=False)
    bare = score_with(logistic_sweep, tmp_path, tmp_path / "bare")
    known = np.arange(200) % 5 != 0
    frame.loc[~known, "creditability"] = np.nan
    frame.to_csv(tmp_path / "new.csv", index=False)
    out = score_with(logistic_sweep, tmp_path, tmp_path / "part")
    assert (out / "new_scores.csv").read_bytes() == (bare / "new_scores.csv").read_bytes()
    m = json.loads((out / "score.json").read_text())["labelled"]
    y = (frame["creditability"][known] == "bad").to_numpy(np.float64)
    p = pd.read_csv(out / "new_scores.csv")["pd"].to_numpy(np.float64)[known]
    assert (m["applicants"], m["unlabelled"], m["bads"]) == (160, 40, int(y.sum()))
    assert m["bad_rate"] == pytest.approx(int(y.sum()) / 160, rel=1e-12)
    raw = own_pds(logistic_sweep, tmp_path / "new.csv")[known]
    assert m["auc"] == pytest.approx(roc_auc_score(y, raw), abs=1e-12)
    assert m["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert m["log_loss"] == pytest.approx(log_loss(y, p), abs=1e-12)
    assert ("160 applicants (40 more, whose label is blank (outcomes not known yet), scored "
            "but left out of these measures)") in (out / "report.md").read_text()


def test_an_isotonic_models_auc_ranks_its_own_pds_not_the_tied_deployed_ones(files, tmp_path):
    """Isotonic calibration ties the deployed PDs (a step function), so their AUC differs:
    the labelled AUC, Gini and KS are scikit-learn's on the model's own PDs, as the run's."""
    from sklearn.metrics import roc_auc_score
    run_dir = small_run(files, tmp_path / "iso", scorecard=ScorecardConfig(calibration="isotonic"))
    holdout(tmp_path).to_csv(tmp_path / "new.csv", index=False)
    out = score_with(run_dir, tmp_path, tmp_path / "out")
    m = json.loads((out / "score.json").read_text())["labelled"]
    y = (holdout(tmp_path)["creditability"] == "bad").to_numpy(np.float64)
    p = pd.read_csv(out / "new_scores.csv")["pd"].to_numpy(np.float64)
    raw = own_pds(run_dir, tmp_path / "new.csv")
    assert len(np.unique(p)) < len(np.unique(raw))   # the deployed PDs tie
    assert m["auc"] == pytest.approx(roc_auc_score(y, raw), abs=1e-12)
    assert abs(roc_auc_score(y, p) - m["auc"]) > 1e-6
    assert m["gini"] == pytest.approx(2 * roc_auc_score(y, raw) - 1, abs=1e-12)


def test_a_labelled_file_is_encoded_once(logistic_sweep, tmp_path, monkeypatch):
    """The scores and the labelled measures share one encoding of the file (the model's own
    PDs come with the scores), not one each."""
    from fjax.tasks.credit.final import FinalModel
    calls = []
    encode = FinalModel.encode
    monkeypatch.setattr(FinalModel, "encode", lambda self, frame: calls.append(len(frame))
                        or encode(self, frame))
    holdout(tmp_path, 50).to_csv(tmp_path / "new.csv", index=False)
    out = score_with(logistic_sweep, tmp_path, tmp_path / "out")
    assert "bads" in json.loads((out / "score.json").read_text())["labelled"]
    assert calls == [50]


@pytest.fixture(scope="module")
def binary_runs(files, tmp_path_factory):
    """Runs of the fixture's applicants with a 0/1 label column (bad = 1): one read from a
    CSV as integers, one from a parquet file as text "1"/"0"."""
    folder = tmp_path_factory.mktemp("binary")
    shutil.copy(files / "new.csv", folder / "new.csv")
    frame = pd.read_csv(files / "applicants.csv")
    bad = (frame["creditability"] == "bad").astype(int)
    frame.assign(creditability=bad).to_csv(folder / "integers.csv", index=False)
    frame.assign(creditability=bad.astype(str)).to_parquet(folder / "text.parquet")
    return {kind: small_run(folder, folder / kind, data=CreditDataConfig(
        path=str(folder / path), score_path=str(folder / "new.csv"), positive="1"))
        for kind, path in (("integers", "integers.csv"), ("text", "text.parquet"))}


@pytest.mark.parametrize("trained", ["integers", "text"])
@pytest.mark.parametrize("spelled, suffix, dtype", [
    (lambda y: y.astype(float), "csv", "float64"),   # blanks: pandas reads 0.0/1.0, NaN
    (lambda y: y.map({1.0: "1.0", 0.0: "0.0"}).astype("string"), "parquet", "string"),
    (lambda y: y.map({1.0: "1", 0.0: "0"}).astype("string"), "parquet", "string"),
], ids=["floats", "text-1.0", "text-1"])
def test_0_1_labels_match_the_runs_whether_read_as_numbers_or_text(
        trained, spelled, suffix, dtype, binary_runs, tmp_path):
    """A run trained on 0/1 labels (integers or text) measures a file whose labels are 1/0
    with blanks, which pandas reads as floats 1.0/0.0 and NaN, or text "1.0"/"0.0" or
    "1"/"0": each matches the run's bad label '1' and good label '0' by number, as
    training's `binary_target` does, and the measures on the labelled rows are scikit-
    learn's; the blank rows are scored, counted and left out."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
    run_dir = binary_runs[trained]
    frame = holdout(tmp_path, 200)
    frame.drop(columns="creditability").to_csv(tmp_path / "bare.csv", index=False)
    known = np.arange(200) % 4 != 0
    y = (frame["creditability"] == "bad").astype(float).where(known)
    path = tmp_path / f"new.{suffix}"
    labelled = frame.assign(creditability=spelled(y))
    labelled.to_csv(path, index=False) if suffix == "csv" else labelled.to_parquet(path)
    assert str(pd.read_csv(path)["creditability"].dtype if suffix == "csv"
               else pd.read_parquet(path)["creditability"].dtype) == dtype
    out = tmp_path / "out"
    assert cli.main(["score", "credit", "--run", str(run_dir), "--data", str(path),
                     "--out", str(out)]) == 0
    m = json.loads((out / "score.json").read_text())["labelled"]
    y = y[known].to_numpy(np.float64)
    p = pd.read_csv(out / "new_scores.csv")["pd"].to_numpy(np.float64)[known]
    assert (m["bad_label"], m["good_label"], m["good_label_recorded"]) == ("1", "0", True)
    assert (m["applicants"], m["unlabelled"], m["bads"]) == (150, 50, int(y.sum()))
    assert 0 < y.sum() < 150
    raw = own_pds(run_dir, tmp_path / "bare.csv")[known]
    assert m["auc"] == pytest.approx(roc_auc_score(y, raw), abs=1e-12)
    assert m["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert m["log_loss"] == pytest.approx(log_loss(y, p), abs=1e-12)
    assert "bad = '1', good = '0'): 150 applicants (50 more" in (out / "report.md").read_text()


def beyond_range_file(files, folder, encoding):
    """`folder`/new.csv: 10 training applicants, credit_amount beyond training's max once
    and its min once, at both bounds once each (in range), ages 15 and 18 (below training's
    min) and 111 (above its max), a duration missing (not out of range); the out_of_range
    counted by hand on pandas' min and max of applicants.csv (the farthest age, 111, is 36
    above its max of 75, 15 at most 5 below its min), and the ages below 18 or above 110,
    15 and 111 at rows 4 and 6 (18 is plausible)."""
    train = pd.read_csv(files / "applicants.csv")
    amount, age = train["credit_amount"], train["age_in_years"]
    new = train.iloc[:10].drop(columns="creditability").copy()
    new.loc[0, "credit_amount"] = 10 * amount.max()        # above
    new.loc[1, "credit_amount"] = amount.max()             # at the bound: in range
    new.loc[2, "credit_amount"] = amount.min()             # at the bound: in range
    new.loc[3, "credit_amount"] = amount.min() - 1         # below
    new.loc[[4, 6, 7], "age_in_years"] = [15, 111, 18]      # below, above, below
    new.loc[5, "duration_in_month"] = np.nan               # missing: not out of range
    new.to_csv(folder / "new.csv", index=False)
    return {"credit_amount": {"rows": 2, "below": 1, "above": 1,
                              "most_extreme": 10 * amount.max(), "training_min": amount.min(),
                              "training_max": amount.max(), "encoding": encoding,
                              "model_kind": "logistic"},
            "age_in_years": {"rows": 3, "below": 2, "above": 1, "most_extreme": 111.0,
                             "training_min": age.min(), "training_max": age.max(),
                             "encoding": encoding, "model_kind": "logistic"}}


IMPLAUSIBLE = {"column": "age_in_years", "plausible": [18, 110], "rows": 2, "below": 1,
               "above": 1, "min": 15.0, "max": 111.0, "first_rows": [4, 6]}
IMPLAUSIBLE_LINE = ("- Ages implausible for a credit applicant (below 18 or above 110): "
                    "age_in_years 2 row(s) (1 below, 1 above; 15 to 111; first at row(s) 4, "
                    "6); scored as given. Check them for errors (months for years, a typo, a "
                    "code for 'unknown') before trusting their scores.")


@pytest.mark.parametrize("woe", ["none", "numeric"])
def test_numbers_beyond_the_training_range_are_counted_and_leave_the_scores_alone(
        woe, logistic_sweep, files, tmp_path):
    """The model file records each numeric feature's min and max over the rows it was
    fitted on (pandas' own, on applicants.csv); a file with a few values beyond them gets
    exactly the hand-counted rows, the farthest value and one report line naming the
    encoding, and the same scores as with a model file without the range (an older fjax's,
    which says it checked none). Values at the bounds and missing ones are not counted.
    The WOE run scores the same file as its --data.score-path: it records the same counts
    in metrics.json beside the unseen values, and its report.md carries score credit's
    line, word for word."""
    from fjax.tasks.credit.model_file import read_model
    encoding = "standardised" if woe == "none" else "woe"
    expected = beyond_range_file(files, tmp_path, encoding)
    run_dir = logistic_sweep if woe == "none" else small_run(
        files, tmp_path / "woe", data=CreditDataConfig(
            path=str(files / "applicants.csv"), score_path=str(tmp_path / "new.csv"), woe=woe))
    train = pd.read_csv(files / "applicants.csv")
    numeric = ["duration_in_month", "credit_amount", "installment_rate_in_percentage_of_"
               "disposable_income", "present_residence_since", "age_in_years",
               "number_of_existing_credits_at_this_bank", "number_of_people_being_liable_"
               "to_provide_maintenance_for"]
    assert read_model(run_dir / MODEL_FILE).ranges == {
        c: (float(train[c].min()), float(train[c].max())) for c in numeric}
    amount, age = train["credit_amount"], train["age_in_years"]
    out = score_with(run_dir, tmp_path, tmp_path / "scored")
    facts = json.loads((out / "score.json").read_text())
    assert facts["out_of_range"] == expected and facts["implausible_ages"] == IMPLAUSIBLE
    if woe == "numeric":
        stability = json.loads((run_dir / "metrics.json").read_text())["stability"]
        assert stability["new_applicants_out_of_range"] == expected
        assert stability["new_applicants_implausible_ages"] == IMPLAUSIBLE
        assert stability["new_applicants_unseen_values"] == {"duration_in_month": 1}
    text = (out / "report.md").read_text()
    assert (f"- Numbers beyond the range the model was fitted on: credit_amount 2 row(s) "
            f"(most extreme {10 * amount.max()}; trained on {amount.min()} to {amount.max()}), "
            f"age_in_years 3 row(s) (most extreme 111; trained on {age.min()} to {age.max()}); "
            + ("standardised inputs: the model extrapolates there, beyond every applicant "
               "it was fitted on (a logistic scorecard's points keep growing linearly with "
               "the value)" if woe == "none" else
               "WOE bins: each is scored in its end bin")) in text
    line = [x for x in text.splitlines()
            if x.startswith("- Numbers beyond the range the model was fitted on: ")]
    assert len(line) == 1 and "credit_amount 2 row(s)" in line[0]
    assert IMPLAUSIBLE_LINE in text.splitlines()
    if woe == "numeric":
        run_lines = (run_dir / "report.md").read_text().splitlines()
        assert line[0] in run_lines and IMPLAUSIBLE_LINE in run_lines
    old = older_model(run_dir, tmp_path, "ranges")
    older = score_with(old, tmp_path, tmp_path / "older")
    assert (older / "new_scores.csv").read_bytes() == (out / "new_scores.csv").read_bytes()
    assert json.loads((older / "score.json").read_text())["out_of_range"] is None
    assert "not checked; the model file, saved by an older fjax, records no training range" \
        in (older / "report.md").read_text()
    fixture = score_with(run_dir, files, tmp_path / "fixture")  # new.csv: 30000 > max
    assert "Numbers beyond" in (fixture / "report.md").read_text()
    train.iloc[:10].drop(columns="creditability").to_csv(tmp_path / "new.csv", index=False)
    own = score_with(run_dir, tmp_path, tmp_path / "own")
    own_facts = json.loads((own / "score.json").read_text())
    assert own_facts["out_of_range"] == {}
    assert own_facts["implausible_ages"] == {**IMPLAUSIBLE, "rows": 0, "below": 0, "above": 0,
                                             "min": None, "max": None, "first_rows": []}
    assert "beyond the range" not in (own / "report.md").read_text()
    assert "- Ages implausible" not in (own / "report.md").read_text()


def test_the_range_line_says_how_each_entrys_encoding_and_model_score_it():
    """`beyond_range`'s entries carry the model kind beside the encoding, so the report line
    reads both from them alone: an MLP's standardised input follows its hidden units, a
    logistic one's grows linearly, a WOE one's takes its end bin, each said once."""
    from fjax.tasks.credit.model_file import beyond_range
    from fjax.tasks.credit.report import range_lines
    frame = pd.DataFrame({"a": [5.0, -3.0], "b": [9.0, 0.5], "c": [1.0, 2.0]})
    ranges = {"a": (0.0, 1.0), "b": (0.0, 1.0), "c": (0.0, 4.0)}
    mlp = beyond_range(ranges, frame, {}, "mlp")
    assert list(mlp) == ["a", "b"] and {f["model_kind"] for f in mlp.values()} == {"mlp"}
    line = range_lines(mlp)[0]
    assert line.count("an MLP's PD there follows its hidden units beyond the data") == 1
    assert "linearly" not in line
    line = range_lines(beyond_range(ranges, frame, {"b": None}, "logistic"))[0]
    assert "a logistic scorecard's points keep growing linearly" in line
    assert "WOE bins: each is scored in its end bin" in line and "MLP" not in line


def test_a_negative_age_is_refused_before_scoring(logistic_sweep, files, tmp_path):
    """Age -3 at file row 5 of the scored file: refused naming the column, the row, its
    value and the fixes (a blank age scores as the training applicants' mix); nothing is
    written."""
    new = pd.read_csv(files / "new.csv")
    new.loc[5, "age_in_years"] = -3
    new.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "out"
    with pytest.raises(ValueError) as err:
        score(ScoreConfig(run=str(logistic_sweep), data=str(tmp_path / "new.csv"),
                          out=str(out)))
    assert (f"column 'age_in_years' (data.age_column) of --data '{tmp_path / 'new.csv'}' "
            "holds 1 negative age(s): row 5 (-3); an age cannot be negative: "
            "correct them, or blank them to mark them missing (a blank age scores as the "
            "training applicants' mix, 0 points") in str(err.value)
    assert not out.exists()


def test_a_labelled_files_pds_are_tested_by_band(logistic_sweep, tmp_path, gains_by_hand):
    """A labelled holdout gets the run's gains table: its deployed PDs by decile in
    gains.csv, each band's binomial test, and Hosmer-Lemeshow on as many degrees of
    freedom as bands in score.json and report.md, whose verdict counts the binomial tests
    under 5%; a file without labels gets none.
    Oracle: pandas' qcut of new_scores.csv's PDs, scipy's binomial test and chi-squared,
    the statistic by hand. All 760 applicants the run never saw: enough expected bads and
    goods per band for HL's p-value (Cochran's rule, checked here by hand)."""
    import scipy.stats
    frame = holdout(tmp_path, 760)
    frame.drop(columns="creditability").to_csv(tmp_path / "new.csv", index=False)
    bare = score_with(logistic_sweep, tmp_path, tmp_path / "bare")
    assert not (bare / "gains.csv").exists()
    frame.to_csv(tmp_path / "new.csv", index=False)
    out = score_with(logistic_sweep, tmp_path, tmp_path / "labelled")
    p = pd.read_csv(out / "new_scores.csv")["pd"].to_numpy(np.float64)
    y = (frame["creditability"] == "bad").to_numpy()
    want, stat, cells = gains_by_hand(p, y)
    got = pd.read_csv(out / "gains.csv")
    pd.testing.assert_frame_equal(got[want.columns], want, check_dtype=False, rtol=1e-9)
    hl = json.loads((out / "score.json").read_text())["labelled"]["hosmer_lemeshow"]
    assert hl["statistic"] == pytest.approx(stat, rel=1e-9) and hl["dof"] == 10
    assert (cells >= 5).mean() >= 0.8 and (cells >= 1).all() and "too_few" not in hl
    assert hl["p_value"] == pytest.approx(scipy.stats.chi2.sf(stat, 10), rel=1e-9)
    text = (out / "report.md").read_text()
    assert f"Hosmer-Lemeshow: {stat:.2f} on 10 degrees" in text
    # The verdict the run's gains table gets (`band_verdict`), its binomial tests too: it
    # gave rank ordering and Hosmer-Lemeshow only. The count from scipy's p-values.
    assert got["binomial_p"].notna().all()
    small = int((want["binomial_p"] < 0.05).sum())
    assert f"Binomial tests under 5%: {small} of the 10 bands, where 0.5 would be" in text


def test_a_small_labelled_files_bands_are_pooled_for_hosmer_lemeshow(
        logistic_sweep, tmp_path, gains_by_hand):
    """A labelled holdout of 150 expects under 5 bads in its safer bands (Cochran's rule
    fails): Hosmer-Lemeshow is read on adjacent bands pooled until it holds, one df each,
    where it gave no p-value before. Oracle: pandas' qcut of new_scores.csv's PDs, the
    rule checked by hand before and after pooling, HL by hand, scipy's chi2.sf."""
    import scipy.stats
    frame = holdout(tmp_path, 150)
    frame.to_csv(tmp_path / "new.csv", index=False)
    out = score_with(logistic_sweep, tmp_path, tmp_path / "labelled")
    p = pd.read_csv(out / "new_scores.csv")["pd"].to_numpy(np.float64)
    y = (frame["creditability"] == "bad").to_numpy()
    want, _, cells = gains_by_hand(p, y)
    hl = json.loads((out / "score.json").read_text())["labelled"]["hosmer_lemeshow"]
    groups = hl["pooled"]
    assert [b for g in groups for b in g] == list(range(1, 11)) and 3 <= len(groups) < 10
    e, n, o = (np.array([c[[b - 1 for b in g]].sum() for g in groups]) for c in
               (want["applicants"] * want["mean_pd"], want["applicants"], want["bads"]))

    def cochran(cells):
        return (cells >= 5).mean() >= 0.8 and (cells >= 1).all()
    assert not cochran(cells) and cochran(np.concatenate([e, n - e]))
    stat = np.sum((o - e) ** 2 / (e * (1 - e / n)))
    assert hl["statistic"] == pytest.approx(stat, rel=1e-9) and hl["dof"] == len(groups)
    assert hl["p_value"] == pytest.approx(scipy.stats.chi2.sf(stat, len(groups)), rel=1e-9)
    assert "too_few" not in hl
    text = (out / "report.md").read_text()
    assert (f"Hosmer-Lemeshow: {stat:.2f} on {len(groups)} degrees of freedom (the 10 bands "
            f"pooled into {len(groups)}: bands ") in text


def test_a_labelled_score_path_is_measured_as_score_credit_measures_it(files, tmp_path):
    """A run's `--data.score-path` file that holds the run's labels (one blank: not known
    yet) is measured on them by `fjax score credit`'s code: metrics.json's
    `new_applicants_labelled` is score.json's `labelled`, new_gains.csv its gains.csv byte
    for byte, and the report carries the same performance line; the AUC is scikit-learn's
    on the saved model's own PDs, the Brier score its on new_scores.csv's. A label the run
    never saw is refused before anything is written (the run measured nothing before)."""
    from sklearn.metrics import brier_score_loss, roc_auc_score
    frame = holdout(tmp_path, rows=200)
    frame["creditability"] = frame["creditability"].astype(object)
    frame.loc[0, "creditability"] = None
    frame.to_csv(tmp_path / "new.csv", index=False)
    data = CreditDataConfig(path=str(files / "applicants.csv"),
                            score_path=str(tmp_path / "new.csv"))
    run_dir = small_run(files, tmp_path / "run", data=data)
    out = score_with(run_dir, tmp_path, tmp_path / "scored")
    m = json.loads((run_dir / "metrics.json").read_text())["new_applicants_labelled"]
    assert m == json.loads((out / "score.json").read_text())["labelled"]
    y = (frame["creditability"][1:] == "bad").to_numpy(np.float64)
    assert (m["applicants"], m["unlabelled"], m["bads"]) == (199, 1, int(y.sum()))
    raw = own_pds(run_dir, tmp_path / "new.csv")[1:]
    assert m["auc"] == pytest.approx(roc_auc_score(y, raw), abs=1e-12)
    p = pd.read_csv(run_dir / "new_scores.csv")["pd"].to_numpy(np.float64)[1:]
    assert m["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert (run_dir / "new_gains.csv").read_bytes() == (out / "gains.csv").read_bytes()
    line = [x for x in (out / "report.md").read_text().splitlines()
            if x.startswith("- Performance, measured on this file's own labels")]
    assert len(line) == 1 and line[0] in (run_dir / "report.md").read_text().splitlines()
    assert "- By PD band (new_gains.csv: " in (run_dir / "report.md").read_text()
    frame.loc[1, "creditability"] = "unknown"
    frame.to_csv(tmp_path / "new.csv", index=False)
    with pytest.raises(ValueError, match=r"data.score_path .*label column 'creditability' "
                                         r"holds 'unknown' in 1 row\(s\), which the run never"):
        small_run(files, tmp_path / "refused", data=data)
    assert not (tmp_path / "refused").exists()
