"""The fraud task end to end (CLI, user file, validation search, run folder), its
config checks and its losses."""

import dataclasses
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from fjax import cli
from fjax.config import ModelConfig, from_dict
from fjax.data.fraud_simulator import simulate
from fjax.tasks.fraud import Config, FraudDataConfig
from fjax.tasks.fraud.report import immature_label_periods, immature_labels_note

TINY = ["--data.train-start", "None", "--data.top-k", "20", "--train.epochs", "2",
        "--train.batch-size", "256", "--cv", "2"]


@pytest.fixture(scope="module")
def user_file(tmp_path_factory):
    """A small simulation written as a user's CSV with its own column names."""
    tx = simulate(n_customers=150, n_terminals=300, n_days=75, seed=7)
    frame = tx.to_frame().rename(columns={"TX_AMOUNT": "amount_eur", "CUSTOMER_ID": "card"})
    path = tmp_path_factory.mktemp("data") / "transactions.csv"
    extra = ["TX_FRAUD_SCENARIO", "TX_TIME_SECONDS", "TX_TIME_DAYS"]
    frame.drop(columns=extra).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def user_sweep(user_file, tmp_path_factory):
    """One sweep over the user's file (2 learning rates, mlp and the rule), shared by the
    tests that read its folder, with spies on `select` (its return) and `threshold_rows`
    (its calls), which pass everything through."""
    from fjax.tasks import fraud
    from fjax.tasks.fraud import training
    spied, calls = {}, []
    select, rows_of = training.select, fraud.threshold_rows
    out = tmp_path_factory.mktemp("user_sweep") / "run"
    argv = ["sweep", "fraud", "--out", str(out), "--data.path", str(user_file),
            "--data.amount-column", "amount_eur", "--data.customer-column", "card",
            "--compare", "rule", "--optim.learning-rate", "1e-3", "1e-2", *TINY]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training, "select",
                      lambda *a, **k: spied.setdefault("out", select(*a, **k)))
        patch.setattr(fraud, "threshold_rows", lambda *a: calls.append(a) or rows_of(*a))
        assert cli.main(argv) == 0
    return out, spied, calls, argv


def test_sweep_on_a_users_file_writes_the_run_folder(user_file, user_sweep, undescribed,
                                                      tmp_path):
    out, *_, argv = user_sweep
    config = from_dict(Config, json.loads((out / "config.json").read_text()))
    assert config.data.path == str(user_file) and config.sweep.folds == 2
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["primary"] == "mlp" and set(metrics["models"]) == {"mlp", "rule"}
    assert "handbook" not in metrics and "handbook_data" not in metrics   # its simulation's
    periods = {}      # every model's threshold summary averages its target's same periods
    for model in metrics["models"].values():
        for row in model["thresholds"]:
            periods.setdefault(row["target"], set()).add(tuple(row["periods"]))
    assert periods and all(len(p) == 1 for p in periods.values())
    chosen = metrics["models"]["mlp"]["chosen"]
    assert chosen["hyperparameters"]["optim.learning_rate"] in (1e-3, 1e-2)
    assert 1 <= chosen["epochs"] <= 2
    validation = pd.read_csv(out / "validation.csv")
    assert len(validation) == 2 * 2                   # 2 learning rates x 2 periods
    members = pd.read_csv(out / "members.csv")
    assert len(members) == 2 * 2 and members["auc"].between(0, 1).all()
    periods_tx = pd.read_csv(out / "periods.csv")["test_tx"]
    # The card metrics recompute from daily.csv (they could not from the files before).
    daily = pd.read_csv(out / "daily.csv")
    for (model, seed, period), days in daily.groupby(["model", "seed", "period"]):
        m = members[(members.model == model) & (members.seed == seed)
                    & (members.period == period)].iloc[0]
        assert days["card_precision"].mean() == pytest.approx(m["card_precision"])
        assert days["found"].sum() / days["compromised"].sum() == pytest.approx(m["card_recall"])
        missed = days["compromised"].sum() - days["found"].sum()
        assert 5 * days["alerted"].sum() + 100 * missed == pytest.approx(m["cost"])
    # AUC and AP recompute from scores.csv.gz with scikit-learn.
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve
    scores = pd.read_csv(out / "scores.csv.gz")
    raw = pd.read_csv(user_file)
    assert set(scores["transaction_id"]) <= set(raw["TRANSACTION_ID"])
    truth = raw.set_index("TRANSACTION_ID")["TX_FRAUD"]
    np.testing.assert_array_equal(scores["fraud"], truth.loc[scores["transaction_id"]])
    for (seed, period), rows in scores.groupby(["seed", "period"]):
        m = members[(members.model == "mlp") & (members.seed == seed)
                    & (members.period == period)].iloc[0]
        assert len(rows) == periods_tx.loc[period]
        # exactly, from the logits (the probabilities can round to ties)
        assert abs(roc_auc_score(rows["fraud"], rows["logit"]) - m["auc"]) < 1e-12
        assert abs(average_precision_score(rows["fraud"], rows["logit"])
                   - m["average_precision"]) < 1e-12
        np.testing.assert_allclose(rows["score"], 1 / (1 + np.exp(-rows["logit"])))
        # recall at FPR 1%: the largest TPR of a roc_curve point with FPR <= 1%
        fpr, tpr, _ = roc_curve(rows["fraud"], rows["logit"], drop_intermediate=False)
        assert abs(m["recall_at_fpr_1pct"] - tpr[fpr <= 0.01].max()) < 1e-12
    summary = metrics["models"]["mlp"]["summary"]
    mlp = members[members.model == "mlp"]
    assert summary["recall_at_fpr_1pct_mean"] == pytest.approx(mlp["recall_at_fpr_1pct"].mean())
    assert "recall@FPR 1%" in (out / "report.md").read_text()
    alerts = pd.read_csv(out / "alerts.csv")
    assert list(alerts.columns) == ["seed", "period", "date", "rank", "card", "score", "fraud"]
    assert alerts.groupby(["period", "date"]).size().max() <= 20
    assert alerts["score"].between(0, 1).all()
    # Nothing silently dropped: kept + removed (known compromised cards) = the test week.
    periods = pd.read_csv(out / "periods.csv")
    dates = pd.to_datetime(pd.read_csv(user_file)["TX_DATETIME"]).dt.normalize()
    for _, p in periods.iterrows():
        first, last = pd.Timestamp(p["test_start"]), pd.Timestamp(p["test_end"])
        in_week = int(((dates >= first) & (dates <= last)).sum())
        assert p["test_tx"] + p["removed_known_cards_tx"] == in_week
    # The validation periods' sizes, recounted from the file: a card is removed from a
    # test day once a fraud of it (from its training start) is known, delay + 1 days on.
    val = pd.DataFrame(metrics["validation_periods"])
    assert list(val["period"]) == sorted(validation["fold"].unique())
    assert val["test_end"].iloc[-1] == periods["train_end"].iloc[0]   # ends where test begins
    fraud, card = raw["TX_FRAUD"].to_numpy(), raw["card"]
    for _, p in val.iterrows():
        train = dates.between(p["train_start"], p["train_end"])
        week = dates.between(p["test_start"], p["test_end"])
        first = dates[(fraud == 1) & (dates >= p["train_start"])].groupby(card).min()
        known = card.map(first) <= dates - pd.Timedelta(days=config.data.delay_days + 1)
        assert (p["train_tx"], p["train_frauds"]) == (train.sum(), fraud[train].sum())
        assert (p["test_tx"], p["test_frauds"]) == ((week & ~known).sum(),
                                                   fraud[week & ~known].sum())
        assert p["removed_known_cards_tx"] == (week & known).sum()
    selection_text = (out / "report.md").read_text().split("## Selection")[1]
    assert (f"hold {val['test_tx'].sum()} scored transactions and {val['test_frauds'].sum()} "
            f"frauds, {val['test_frauds'].min()} in the fewest") in selection_text
    assert "| train_tx | train_frauds | test_tx | test_frauds |" in selection_text
    # The spread over validation periods of the chosen and the runner-up, from validation.csv.
    lr, ap = "optim.learning_rate", "best_val_average_precision"
    by_period = validation.groupby([lr, "fold"])[ap].mean().unstack()
    spread = chosen["spread"]
    mine = chosen["hyperparameters"][lr]
    [other] = {1e-3, 1e-2} - {mine}
    np.testing.assert_allclose(spread["chosen"]["by_period"], by_period.loc[mine], rtol=1e-6)
    np.testing.assert_allclose(spread["runner_up"]["by_period"], by_period.loc[other],
                               rtol=1e-6)
    assert spread["runner_up"]["std"] == pytest.approx(by_period.loc[other].std(), rel=1e-6)
    assert spread["chosen_ahead_in"] == (by_period.loc[mine] > by_period.loc[other]).sum()
    d = (by_period.loc[mine] - by_period.loc[other]).to_numpy(np.float64)
    assert spread["paired"]["difference"] == pytest.approx(d.mean(), rel=1e-6, abs=1e-9)
    assert spread["paired"]["se"] == pytest.approx(d.std(ddof=1) / np.sqrt(len(d)), rel=1e-6)
    assert f"is {d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(len(d)):.4f}" in selection_text
    assert (f"the chosen {by_period.loc[mine].min():.3f} to {by_period.loc[mine].max():.3f}, "
            f"std {by_period.loc[mine].std():.3f}; the runner-up ({lr} = {other:g}, "
            f"mean {by_period.loc[other].mean():.4f})") in selection_text
    for name in ("pr_curve.png", "roc_curve.png", "score_distributions.png",
                 "daily_card_precision.png", "report.md", "models/mlp/config.json"):
        assert (out / name).exists(), name
    report = (out / "report.md").read_text()
    assert report.startswith(f"# Fraud detection: {str(user_file)!r}\n")   # not "run"
    # The handbook's figures are for its simulation, not for a user's file.
    assert "handbook" not in report.split("## Results")[1].split("## Selection")[0]
    assert "## The handbook's published figures" not in report
    assert "| handbook (ch. 3.2) |" not in report
    assert "| mlp | " in report and "| trained with |" in report
    assert "Selection on the validation periods" in report
    assert "{'" not in report   # no Python dict reprs
    assert "with optim.learning_rate = 0.001" in report or \
        "with optim.learning_rate = 0.01" in report
    assert json.loads((out / "grid.json").read_text()) == {"optim.learning_rate": [1e-3, 1e-2]}
    assert not undescribed(out)

    # A rerun in the same folder that fails on its data writes nothing (the old config
    # still describes the old results); one that succeeds leaves nothing of the sweep.
    # (On a copy of the shared sweep's folder, which other tests read.)
    import shutil
    out = shutil.copytree(out, tmp_path / "run")
    argv = [str(out) if a == str(user_sweep[0]) else a for a in argv]
    before = (out / "config.json").read_text()
    assert cli.main([*argv[:-len(TINY)], *TINY[:-2], "--cv", "40"]) == 2
    assert (out / "config.json").read_text() == before
    plain = [a for a in argv if a not in ("sweep", "1e-2")]
    (out / "models" / "mine").mkdir()
    for name in ("models/mine/config.json", "notes.txt"):   # the user's own files stay
        (out / name).write_text("mine")
    assert cli.main(["run", *plain]) == 0
    assert (out / "models/mine/config.json").read_text() == (out / "notes.txt").read_text()
    assert not (out / "grid.json").exists() and not (out / "validation.csv").exists()
    assert not (out / "models" / "mlp" / "validation").exists()
    log = (out / "models" / "mlp" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in log] == [1, 2]   # replaced, not appended
    assert not undescribed(out)   # a plain run



def _model_scores(folder, model):
    """`model`'s test scores in run `folder`, by member (members.csv: seed and period)."""
    members = pd.read_csv(folder / "members.csv")
    return members[members.model == model].drop(columns="model").reset_index(drop=True)


def test_a_models_saved_config_reruns_it_from_the_command_line(user_file, user_sweep,
                                                              tmp_path):
    """models/<m>/config.json reruns as given (`fjax run fraud --config`, no other flag)
    and gives that model's test scores bit for bit: the sweep's chosen mlp and a plain
    run's compared logistic model. Both were refused: the test stage saved its own loop
    settings (monitor loss, no restore_best), which a plain run rejects."""
    out = user_sweep[0]
    rerun = tmp_path / "mlp"
    assert cli.main(["run", "fraud", "--config", str(out / "models/mlp/config.json"),
                     "--out", str(rerun)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(rerun / "scores.csv.gz"),
                                  pd.read_csv(out / "scores.csv.gz"), check_exact=True)
    chosen = json.loads((out / "metrics.json").read_text())["models"]["mlp"]["chosen"]
    saved = from_dict(Config, json.loads((out / "models/mlp/config.json").read_text()))
    assert saved.train.epochs == chosen["epochs"]
    assert saved.optim.learning_rate == chosen["hyperparameters"]["optim.learning_rate"]
    plain = tmp_path / "plain"
    assert cli.main(["run", "fraud", "--out", str(plain), "--data.path", str(user_file),
                     "--data.amount-column", "amount_eur", "--data.customer-column", "card",
                     "--compare", "logistic", *TINY]) == 0
    rerun = tmp_path / "logistic"
    assert cli.main(["run", "fraud", "--config", str(plain / "models/logistic/config.json"),
                     "--out", str(rerun)]) == 0
    assert json.loads((rerun / "metrics.json").read_text())["primary"] == "logistic"
    pd.testing.assert_frame_equal(_model_scores(rerun, "logistic"),
                                  _model_scores(plain, "logistic"), check_exact=True)

def test_a_run_on_the_simulation_sets_the_handbooks_figures_beside_its_own(tmp_path):
    out = tmp_path / "run"
    assert cli.main(["run", "fraud", "--out", str(out), "--data.n-customers", "200",
                     "--data.n-terminals", "400", "--data.n-days", "40", "--compare",
                     "rule", "logistic", *TINY]) == 0
    report = (out / "report.md").read_text()
    assert "| handbook (ch. 3.2) | 1754155 |" in report
    assert "## The handbook's published figures" in report
    assert "feed-forward network: 0.876 / 0.675 / 0.303" in report
    assert "handbook: 4 prequential test periods (training weeks from 2018-07-25" in report
    # The compared models' own training, which the run's flags do not change.
    assert "| mlp | " in report and "adam lr 0.003, 2 epochs" in report
    # The logistic preset's optimum, per period (`optimum_rows`), and its report line.
    models = json.loads((out / "metrics.json").read_text())["models"]
    optimum = pd.DataFrame(models["logistic"]["optimum"])
    assert optimum["period"].tolist() == [0, 1] and "optimum" not in models["mlp"]   # --cv 2
    assert (optimum["train_loss"] > optimum["optimum_train_loss"]).all()
    assert "logistic stops short of the optimum of its own objective" in report
    assert "adam lr 0.01, 14 epochs" in report and "| no training |" in report
    assert "Only mlp trains with this run's settings" in report
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["handbook_data"]["transactions"] == 1754155 and len(metrics["handbook"]) > 0
    assert metrics["models"]["mlp"]["timing"]["resumed_epochs"] == {"test": 0}
    assert "Resumed (--resume)" not in report
    # the report's paired comparison is metrics.json's `paired`, computed once
    from fjax.tasks.fraud.report import paired_note
    paired = pd.DataFrame(metrics["paired"])
    assert set(paired["model"]) == {"rule", "logistic"}
    assert "\n".join(paired_note(paired, "mlp", 20)) in report   # TINY: top-k 20


@pytest.mark.parametrize("make, field", [
    (lambda: Config(compare=("rule", "forest")), "Config.compare"),
    (lambda: Config(model=ModelConfig(kind="linear")), "FraudModelConfig.kind"),
    (lambda: FraudDataConfig(top_k=0), "FraudDataConfig.top_k"),
    (lambda: FraudDataConfig(train_start="someday"), "FraudDataConfig.train_start"),
    (lambda: FraudDataConfig(scaler="zscore"), "FraudDataConfig.scaler"),
    (lambda: FraudDataConfig(path="tx.csv", timezone="Eastern"),
     "FraudDataConfig.timezone is not a time zone: 'Eastern'; use an IANA name such as "
     "America/New_York"),
    (lambda: FraudDataConfig(path="tx.csv", timezone="Mars/Olympus"),
     "FraudDataConfig.timezone is not a time zone"),
    (lambda: FraudDataConfig(timezone="Europe/Paris"),
     "FraudDataConfig.timezone is 'Europe/Paris' but data.path is None"),
])
def test_bad_config_names_the_field(make, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        make()


def test_patience_without_a_validation_search_is_refused(tmp_path, capsys):
    assert cli.main(["run", "fraud", "--out", str(tmp_path), "--train.patience", "2"]) == 2
    assert ("TrainConfig.patience is 2, but has nothing to select on in a plain run"
            in capsys.readouterr().err)
    assert not (tmp_path / "config.json").exists()


@pytest.mark.parametrize("field, value", [("restore_best", False), ("monitor", "val_auc"),
                                          ("mode", "max"), ("min_delta", 0.01)])
def test_epoch_selection_settings_of_a_plain_run_are_refused(monkeypatch, field, value):
    """A plain run's test stage trains train.epochs and keeps the last epoch, monitoring
    nothing (presets.test_stage_train): `--train.no-restore-best` or another monitor
    was accepted and changed nothing. A sweep reads them, so there they are accepted."""
    from fjax.tasks import fraud
    monkeypatch.setattr(fraud, "prepare", lambda *a, **k: pytest.fail("data was prepared"))
    config = Config(train=dataclasses.replace(Config().train, **{field: value}))
    with pytest.raises(ValueError, match=rf"TrainConfig\.{field} is .* nothing to select on "
                                         "in a plain run.*median best epoch"):
        fraud.run(config, progress=False)
    fraud._check_grid(config, {"optim.learning_rate": [1e-3, 3e-3]})
    fraud._check_grid(Config(), {})


def test_periods_that_do_not_fit_the_data_say_how_to_fix_it(user_file, tmp_path, capsys):
    argv = ["run", "fraud", "--out", str(tmp_path / "r"), "--data.path", str(user_file),
            "--data.amount-column", "amount_eur", "--data.customer-column", "card",
            "--data.train-start", "2018-06-01", "--cv", "4"]
    assert cli.main(argv) == 2
    assert "test period 0 spans days [61, 82) but the data has days [0, 75); move " \
           "data.train_start" in capsys.readouterr().err


def ulb_shaped(n: int = 400) -> pd.DataFrame:
    """A table shaped as the ULB/Kaggle creditcard.csv: Time (seconds elapsed over two
    days), V1..V28, Amount, Class; no card, terminal or transaction ids."""
    rng = np.random.default_rng(0)
    v = rng.normal(size=(n, 28))
    return pd.DataFrame({"Time": np.sort(rng.integers(0, 2 * 86_400, n)).astype(float),
                         **{f"V{i + 1}": v[:, i] for i in range(28)},
                         "Amount": rng.lognormal(3.0, 1.0, n).round(2),
                         "Class": (v[:, 0] - v[:, 1] > 3.0).astype(int)})


ULB_FLAGS = ["--data.timestamp-column", "Time", "--data.amount-column", "Amount",
             "--data.label-column", "Class", "--data.train-start", "None",
             "--data.train-days", "1", "--data.delay-days", "0", "--data.test-days", "1",
             "--cv", "1", "--data.top-k", "10", "--train.epochs", "3",
             "--train.batch-size", "128"]


@pytest.fixture(scope="module")
def ulb_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ulb") / "creditcard.csv"
    ulb_shaped(2000).to_csv(path, index=False)
    return path


def test_a_file_without_card_ids_trains_on_its_own_columns(ulb_file, tmp_path):
    """The ULB/Kaggle file (no card, terminal or transaction ids; Time in seconds elapsed)
    was refused for lacking ids. It now trains on its numeric columns, day 0 against day
    1, and its AUC and AP are scikit-learn's on the run's saved scores."""
    from sklearn.metrics import average_precision_score, roc_auc_score
    out = tmp_path / "r"
    assert cli.main(["run", "fraud", "--out", str(out), "--data.path", str(ulb_file),
                     *ULB_FLAGS]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["cardless"] and metrics["data"]["times_elapsed_seconds"]
    assert metrics["features"]["handbook"] == []    # the amount is one of the file's columns
    assert [c["column"] for c in metrics["features"]["columns"]] == [
        "Amount", *(f"V{i}" for i in range(1, 29))]
    frame = pd.read_csv(ulb_file)
    scores = pd.read_csv(out / "scores.csv.gz")
    test = frame["Time"] >= 86_400            # day 1: the test day, every row scored
    assert scores["transaction_id"].tolist() == np.nonzero(test.to_numpy())[0].tolist()
    np.testing.assert_array_equal(scores["fraud"], frame["Class"][test])
    for name in ("mlp", "logistic"):
        member = metrics["models"][name]["members"][0]
        if name == "mlp":
            assert member["auc"] == pytest.approx(roc_auc_score(scores["fraud"],
                                                                scores["logit"]), abs=1e-12)
            assert member["average_precision"] == pytest.approx(
                average_precision_score(scores["fraud"], scores["logit"]), abs=1e-12)
        assert member["auc"] > {"mlp": 0.75, "logistic": 0.95}[name]   # V1 - V2 decides
    # Each transaction is its own card: CP@10 is the precision of the day's top 10 scores,
    # and card recall@10 their share of the day's frauds, named so (daily_precision_at_k: a
    # mean over days, not fjax.metrics.precision_at_k's pooled top k; recall_at_k): no name
    # in metrics.json or a CSV says card or compromised (but data.cardless).
    top = scores.sort_values(["logit", "transaction_id"], ascending=[False, True]).head(10)
    member = metrics["models"]["mlp"]["members"][0]
    assert member["daily_precision_at_k"] == top["fraud"].mean()
    assert member["recall_at_k"] == top["fraud"].sum() / scores["fraud"].sum()
    assert member["cost"] == 5 * 10 + 100 * (scores["fraud"].sum() - top["fraud"].sum())
    summary = metrics["models"]["mlp"]["summary"]
    assert (summary["daily_precision_at_k_mean"], summary["recall_at_k_mean"]) == (
        member["daily_precision_at_k"], member["recall_at_k"])
    paired = {(p["model"], p["metric"]): p["difference"] for p in metrics["paired"]}
    for name in ("logistic", "rule"):
        other = metrics["models"][name]["members"][0]
        for metric in ("daily_precision_at_k", "recall_at_k"):
            assert paired[(name, metric)] == pytest.approx(member[metric] - other[metric],
                                                           abs=1e-15)
    assert metrics["periods"][0]["frauds_per_day"] == scores["fraud"].sum()
    assert metrics["periods"][0]["oracle_precision@10"] == min(scores["fraud"].sum(), 10) / 10
    daily = pd.read_csv(out / "daily.csv")
    assert daily.loc[daily["model"] == "mlp", "daily_precision_at_k"].tolist() == [
        member["daily_precision_at_k"]]
    def keys(value):
        if isinstance(value, dict):
            return [k for k, v in value.items() if k != "config" for k in [k, *keys(v)]]
        return [k for v in value for k in keys(v)] if isinstance(value, list) else []
    names = [*keys(metrics), *(p["metric"] for p in metrics["paired"]),
             *(c for f in out.glob("*.csv*") for c in pd.read_csv(f).columns)]
    assert [n for n in names if "card" in n or "compromised" in n] == ["cardless"]
    # No period has an earlier labelled one or a delay week to set a threshold on: the
    # file holds no rows, but its header (it was one blank line, which pandas refuses).
    thresholds = pd.read_csv(out / "thresholds.csv")
    assert len(thresholds) == 0 and {"target", "set_on", "threshold", "fpr"} <= set(
        thresholds.columns)
    report = (out / "report.md").read_text()
    assert "**No card or terminal ids**: each transaction counts as its own card" in report
    assert "Its times are seconds elapsed, not dates" in report
    assert metrics["periods"][0]["oracle_missed"] > 0     # over 10 frauds on the test day
    assert "a perfect ranking still leaves" not in report   # yet its one day: the best
    assert "cards with a known fraud are removed" not in report   # left out, as it says
    # The Results legend says what CP@10 is here: no card is removed from later days.
    assert "detected cards removed from later days" not in report
    assert "The models read these columns of the file (its amount and numeric ones" in report
    assert "| Amount | number, standard scaler |" in report
    assert "TX_AMOUNT" not in report
    assert ("daily precision@10: the precision of each day's 10 highest-scored transactions"
            in report)
    # Its tables' headings (Periods, Results, Paired) and its daily figure name no card.
    assert [line for line in report.splitlines() if line.startswith("| ")
            and "card" in line.lower()] == []
    assert "| daily precision@10 | recall@10 | cost |" in report
    assert "| oracle_precision@10 | frauds_per_day |" in report
    assert "oracle_precision@10 and oracle_cost:" in report    # its legend names them so
    assert "frauds_per_day: frauds over test days" in report
    assert (out / "daily_precision.png").exists()
    assert not (out / "daily_card_precision.png").exists()
    assert "![daily_precision](daily_precision.png)" in report
    # Nor do the Periods, card recall@10 and cost legends speak of removed cards or
    # card-days: each transaction is its own card, its compromised card-days its frauds.
    assert "cards with a fraud known by that day" not in report
    assert "removed cards included" not in report
    assert "card-day" not in report
    # Nor its tables a removed_known_cards_tx column, always 0 there: none is removed.
    assert all("removed_known_cards_tx" not in p for p in metrics["periods"])
    assert "removed_known_cards_tx" not in pd.read_csv(out / "periods.csv").columns
    assert "removed_known_cards_tx" not in report
    assert metrics["periods"][0]["test_tx"] == test.sum()     # every test-day row scored
    assert "Recall@10: alerted frauds / frauds" in report
    assert "100 per fraud not alerted" in report
    # Its alerts are transactions: alerts.csv's transaction_id column holds the day's 10
    # highest-scored transaction ids, and the file list and figure caption say so.
    alerts = pd.read_csv(out / "alerts.csv")
    assert alerts["transaction_id"].tolist() == top["transaction_id"].tolist()
    assert "`alerts.csv`: its daily top-10 transactions (transaction_id, score, fraud)" \
        in report
    assert "every model's alerted transactions, frauds among them and frauds per day" in report
    assert "the share of frauds among the 10 transactions a model alerts on" in report
    assert "top-10 cards" not in report and "compromised cards per day" not in report
    assert "10 cards a model" not in report


def test_a_file_without_card_ids_renames_whole_names_only():
    """`cardless_name` renames each name its outputs give a card metric (written out by
    hand here), and no name that only holds one: "compromised" was a substring rule, which
    renamed known_compromised to known_frauds."""
    from fjax.tasks.fraud.report import cardless_name
    renamed = {"card_precision": "daily_precision_at_k", "card_recall": "recall_at_k",
               "card_precision_mean": "daily_precision_at_k_mean",
               "card_precision_std": "daily_precision_at_k_std",
               "card_precision_count": "daily_precision_at_k_count",
               "card_recall_mean": "recall_at_k_mean", "card_recall_std": "recall_at_k_std",
               "card_recall_count": "recall_at_k_count",
               "oracle_cp@10": "oracle_precision@10", "oracle_cp@100": "oracle_precision@100",
               "compromised_cards_per_day": "frauds_per_day", "compromised": "frauds"}
    assert {name: cardless_name(name) for name in renamed} == renamed
    kept = ["known_compromised", "compromised_total", "card_precision_at_100", "cardless",
            "removed_known_cards_tx", "card", "oracle_cost", "oracle_missed", "auc_mean"]
    assert [cardless_name(name) for name in kept] == kept


def test_a_file_without_card_ids_averages_each_test_days_precision(tmp_path):
    """Over two test days, daily precision@10 is the mean of each day's top-10 precision,
    not the pooled top 10 of `fjax.metrics.precision_at_k`: day 1 has many frauds, day 2
    three, so the two differ. Each day's counts, recall@10, cost and frauds per day
    recompute with pandas from scores.csv.gz; daily.csv names its fraud count `frauds`."""
    from fjax.metrics import precision_at_k
    rng = np.random.default_rng(1)
    n = 1500                                       # 500 a day over three days
    v = rng.normal(size=(n, 28))
    time = np.sort(rng.integers(0, 3 * 86_400, n)).astype(float)
    day2 = np.nonzero(time >= 2 * 86_400)[0]
    v[day2, 0] -= 3.0                              # day 2 scores low: the pooled top 10
    margin = v[:, 0] - v[:, 1]                     # falls on day 1
    fraud = margin > 2.0
    fraud[day2] = np.isin(day2, day2[np.argsort(-margin[day2])[:3]])   # day 2: 3 frauds
    frame = pd.DataFrame({"Time": time, **{f"V{i + 1}": v[:, i] for i in range(28)},
                          "Amount": rng.lognormal(3.0, 1.0, n).round(2),
                          "Class": fraud.astype(int)})
    path, out = tmp_path / "creditcard.csv", tmp_path / "r"
    frame.to_csv(path, index=False)
    assert cli.main(["run", "fraud", "--out", str(out), "--data.path", str(path),
                     *ULB_FLAGS, "--data.test-days", "2", "--train.epochs", "30",
                     "--compare", "rule"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    member = metrics["models"]["mlp"]["members"][0]
    scores = pd.read_csv(out / "scores.csv.gz")
    assert len(scores) == (time >= 86_400).sum() and scores["date"].nunique() == 2
    ranked = scores.sort_values(["logit", "transaction_id"], ascending=[False, True])
    top = ranked.groupby("date", sort=True).head(10)
    per_day = pd.DataFrame({"alerted": top.groupby("date").size(),
                            "found": top.groupby("date")["fraud"].sum(),
                            "frauds": scores.groupby("date")["fraud"].sum()})
    per_day["daily_precision_at_k"] = per_day["found"] / 10
    assert per_day["frauds"].tolist()[1] == 3 and per_day["frauds"].tolist()[0] > 10
    daily = pd.read_csv(out / "daily.csv")
    assert daily.columns.tolist() == ["model", "seed", "period", "date", "alerted", "found",
                                      "frauds", "daily_precision_at_k"]
    mlp = daily[daily["model"] == "mlp"].set_index("date")[per_day.columns]
    pd.testing.assert_frame_equal(mlp, per_day, check_names=False, check_dtype=False)
    daily_precision = per_day["daily_precision_at_k"].mean()
    pooled = ranked.head(10)["fraud"].mean()       # the period's top 10, in pandas
    assert float(precision_at_k(scores["logit"].to_numpy(), scores["fraud"].to_numpy(),
                                10)) == pytest.approx(pooled)
    assert abs(pooled - daily_precision) > 0.1
    assert member["daily_precision_at_k"] == pytest.approx(daily_precision, abs=1e-15)
    assert member["recall_at_k"] == pytest.approx(
        per_day["found"].sum() / per_day["frauds"].sum(), abs=1e-15)
    assert member["cost"] == 5 * 20 + 100 * (per_day["frauds"] - per_day["found"]).sum()
    assert metrics["periods"][0]["frauds_per_day"] == per_day["frauds"].mean()
    assert metrics["periods"][0]["oracle_precision@10"] == pytest.approx(
        np.minimum(per_day["frauds"], 10).mean() / 10, abs=1e-15)
    assert "(columns alerted, found, frauds;" in (out / "report.md").read_text()


def test_a_two_day_file_without_card_ids_is_told_what_a_sweep_needs(ulb_file, tmp_path,
                                                                      capsys):
    """Its two days fit a run's one period, not a sweep's validation period before it:
    the refusal said to use fewer periods or shorter spans (already the least), and now
    names a file of 3 days or `fjax run fraud`, before anything is written."""
    out = tmp_path / "r"
    assert cli.main(["sweep", "fraud", "--out", str(out), "--data.path", str(ulb_file),
                     *ULB_FLAGS, "--optim.learning-rate", "1e-3", "3e-3"]) == 2
    err = capsys.readouterr().err
    assert "the validation and test periods need at least 3 days" in err
    assert "use a file spanning at least 3 days, or `fjax run fraud`" in err
    assert "fewer periods" not in err and "shorter data.train_days" not in err
    assert not out.exists()


@pytest.mark.parametrize("days", [1, 2])
def test_a_too_short_file_swept_with_the_default_spans_is_told_the_days(days, tmp_path,
                                                                         capsys):
    """With the default 7-day spans too, a one- or two-day file is first told the 3 days
    a sweep needs, not to shorten the spans; `fjax run fraud` is offered only where the
    file holds the 2 days a run needs (a one-day file fits no run either)."""
    frame = ulb_shaped(400)
    frame["Time"] = frame["Time"] * days / 2          # seconds elapsed over `days` days
    path = tmp_path / "creditcard.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "r"
    assert cli.main(["sweep", "fraud", "--out", str(out), "--data.path", str(path),
                     *ULB_FLAGS[:8], "--optim.learning-rate", "1e-3", "3e-3"]) == 2
    err = capsys.readouterr().err
    assert ("the validation and test periods need at least 3 days whatever --cv" in err
            and f"more than the data's {days}; use a file spanning at least 3 days" in err)
    assert ("or `fjax run fraud`" in err) == (days == 2)
    assert "fewer periods" not in err and "shorter data.train_days" not in err
    assert not out.exists()


def test_a_sweep_of_a_file_without_card_ids_has_no_removed_cards_column(tmp_path):
    """A four-day file fits a sweep's validation period (days 1-2) before its test period
    (days 2-3, the latest start): neither table, in metrics.json, periods.csv or the
    report, carries the removed_known_cards_tx column that is always 0 without card ids;
    the validation table gives day 2's rows and frauds, counted here with pandas."""
    frame = ulb_shaped(1200)
    frame["Time"] = frame["Time"] * 2                # seconds elapsed over four days
    path = tmp_path / "creditcard.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "r"
    assert cli.main(["sweep", "fraud", "--out", str(out), "--data.path", str(path),
                     *ULB_FLAGS, "--train.epochs", "2", "--optim.learning-rate", "1e-3",
                     "3e-3"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    report = (out / "report.md").read_text()
    assert "removed_known_cards_tx" not in report
    assert "removed_known_cards_tx" not in pd.read_csv(out / "periods.csv").columns
    assert all("removed_known_cards_tx" not in p for p in metrics["periods"])
    day2 = frame[(frame["Time"] >= 2 * 86_400) & (frame["Time"] < 3 * 86_400)]
    assert (f"hold {len(day2)} scored transactions and {day2['Class'].sum()} frauds"
            in report)
    assert ("| period | train_start | train_end | test_start | test_end | train_tx | "
            "train_frauds | test_tx | test_frauds |\n") in report


def test_a_file_without_card_ids_scales_on_its_training_day_only(ulb_file):
    """The models' inputs are scaled with day 0's means and standard deviations (float64
    numpy), not the whole file's."""
    from fjax.tasks.fraud.dataset import prepare
    cfg = FraudDataConfig(path=str(ulb_file), timestamp_column="Time", amount_column="Amount",
                          label_column="Class", train_start=None, train_days=1, delay_days=0,
                          test_days=1)
    data = prepare(cfg, 1)
    frame = pd.read_csv(ulb_file)
    raw = frame[["Amount", *(f"V{i}" for i in range(1, 29))]].to_numpy(np.float64)
    train = (frame["Time"] < 86_400).to_numpy()
    stack = data.stack("test")
    rows = stack.row[stack.val_rows(0)]
    expected = (raw[rows] - raw[train].mean(0)) / raw[train].std(0)
    np.testing.assert_allclose(stack.data["x"][stack.val_rows(0)], expected, rtol=1e-5,
                               atol=1e-5)
    whole = (raw[rows] - raw.mean(0)) / raw.std(0)
    assert np.abs(stack.data["x"][stack.val_rows(0)] - whole).max() > 1e-3


def test_a_file_without_card_ids_warns_of_a_heavy_tailed_amount(ulb_file, tmp_path):
    """The amount is scaled raw beside the file's columns, so a heavy-tailed one is warned
    of as they are: skewness on the training day as scipy's; the fixture's lognormal
    amount with sigma 1 is not (its skewness is under 10)."""
    from scipy.stats import skew
    from fjax.tasks.fraud.dataset import prepare
    frame = pd.read_csv(ulb_file)
    heavy = frame.assign(Amount=np.random.default_rng(1).lognormal(0.0, 2.5, len(frame)))
    path = tmp_path / "heavy.csv"
    heavy.to_csv(path, index=False)
    cfg = FraudDataConfig(path=str(path), timestamp_column="Time", amount_column="Amount",
                          label_column="Class", train_start=None, train_days=1, delay_days=0,
                          test_days=1)
    with pytest.warns(UserWarning) as caught:
        data = prepare(cfg, 1)
    skewed = [str(w.message) for w in caught if "skewness" in str(w.message)]
    assert len(skewed) == 1 and "'Amount'" in skewed[0] and "log1p(Amount)" in skewed[0]
    train = (heavy["Time"] < 86_400).to_numpy()
    oracle = skew(heavy["Amount"].to_numpy(np.float64)[train])
    assert oracle > 10
    assert data.training_skews()["Amount"] == pytest.approx(oracle, rel=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = prepare(dataclasses.replace(cfg, path=str(ulb_file)), 1)
    assert abs(plain.training_skews()["Amount"]) < 10


def test_a_file_without_card_ids_reads_its_numeric_columns_once_each(ulb_file):
    """The models' inputs are the file's numeric columns but time and label, the amount
    among them by its own name (not the handbook's TX_AMOUNT beside it), none twice, each
    holding the file's values (float32)."""
    from fjax.tasks.fraud.dataset import prepare
    cfg = FraudDataConfig(path=str(ulb_file), timestamp_column="Time", amount_column="Amount",
                          label_column="Class", train_start=None, train_days=1, delay_days=0,
                          test_days=1)
    data = prepare(cfg, 1)
    frame = pd.read_csv(ulb_file)
    numeric = [c for c in frame.select_dtypes("number").columns if c not in ("Time", "Class")]
    assert len(data.names) == len(set(data.names)) == data.features.shape[1]
    assert sorted(data.names) == sorted(numeric) and "Amount" in data.names
    order = np.argsort(frame["Time"].to_numpy(), kind="stable")
    np.testing.assert_array_equal(data.features,
                                  frame[data.names].to_numpy(np.float32)[order])


def test_a_file_without_card_ids_but_with_dates_keeps_night_and_weekend():
    """The weekend and night flags read the transaction's own clock, not a card's history:
    a file without card ids whose times are dates keeps them (by hand: Saturday 2024-01-06
    03:00 is both, Monday 12:00 neither); only seconds elapsed, without a clock, leave them
    out, as the report said of every such file."""
    from fjax.data.transactions import from_frame
    from fjax.tasks.fraud.dataset import own_features
    frame = pd.DataFrame({"TX_DATETIME": ["2024-01-06 03:00", "2024-01-08 12:00"],
                          "TX_AMOUNT": [5.0, 7.0], "TX_FRAUD": [1, 0]})
    names, values = own_features(from_frame(frame), 0)
    assert names == ["TX_DURING_WEEKEND", "TX_DURING_NIGHT"]   # the amount: a user column
    np.testing.assert_array_equal(values, [[1, 1], [0, 0]])
    elapsed = own_features(from_frame(frame.assign(TX_DATETIME=[0.0, 90_000.0])), 0)
    assert elapsed[0] == [] and elapsed[1].shape == (2, 0)


def test_a_file_without_card_ids_refuses_sequence_models(ulb_file, tmp_path, capsys,
                                                          monkeypatch):
    """Refused from the file's header, before the file is loaded and featurised (on the
    full ULB file that took 11.7 s and 650 MB), for a CSV and a Parquet file alike."""
    import fjax.tasks.fraud as fraud_task

    def loaded(*args, **kwargs):
        raise AssertionError("the file was loaded before the sequence model was refused")
    monkeypatch.setattr(fraud_task, "prepare", loaded)
    parquet = tmp_path / "creditcard.parquet"
    pd.read_csv(ulb_file).rename(columns={"Amount": "amount"}).to_parquet(parquet)
    for path in (ulb_file, parquet):
        assert cli.main(["run", "fraud", "--out", str(tmp_path / "r"), "--data.path",
                         str(path), *ULB_FLAGS, "--compare", "gru"]) == 2
        assert ("gru read(s) each card's last transactions, but " f"{path} has no card ids"
                in capsys.readouterr().err)
        assert not (tmp_path / "r").exists()


def test_the_default_start_outside_a_users_file_names_both_dates(user_file, tmp_path, capsys):
    """The default train_start is the handbook simulation's; a user's file of other dates
    was told only that 'test period 0 spans days [-2000, ...)'."""
    argv = ["run", "fraud", "--out", str(tmp_path / "r"), "--data.path", str(user_file),
            "--data.amount-column", "amount_eur", "--data.customer-column", "card"]
    assert cli.main(argv) == 2
    assert ("data.train_start 2018-07-25 (the default: the handbook simulation's first "
            "training day) is outside the data, which runs from 2018-04-01 to 2018-06-14; "
            "pass --data.train-start None") in capsys.readouterr().err


def test_a_sweep_that_no_start_can_fit_says_so_before_training(user_file, tmp_path, capsys):
    """A sweep's validation periods lie before its test periods: on a 75-day file, 4 of
    each need 77 days, which the test periods alone (42 days) did not show."""
    argv = ["sweep", "fraud", "--out", str(tmp_path / "r"), "--data.path", str(user_file),
            "--data.amount-column", "amount_eur", "--data.customer-column", "card",
            "--optim.learning-rate", "1e-3", "1e-2", *TINY[:-2], "--cv", "4"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "the validation and test periods need 77 days from the first training day to the " \
           "last test day, more than the data's 75" in err
    assert not (tmp_path / "r").exists()


def test_the_briefs_sweep_is_one_compile_group_of_every_combination():
    import tyro

    from fjax.tasks.fraud import _check_grid
    from fjax.train.sweep import group_grid
    args = ["--optim.learning-rate", "1e-4", "3e-4", "1e-3", "--loss.focal-gamma", "0", "1",
            "2", "--loss.pos-weight", "1", "5", "--loss.name", "focal", "--seeds", "8"]
    config, grid = cli.split_sweep(Config, tyro.cli(cli.sweep_view(Config), args=args))
    [group] = group_grid(config, grid)
    assert group.hparams == {"learning_rate": [1e-4, 3e-4, 1e-3], "focal_gamma": [0.0, 1.0, 2.0],
                             "pos_weight": [1.0, 5.0]}
    assert config.sweep.seeds == 8
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_grid(config, grid)                      # focal: every entry matters
    with pytest.raises(ValueError, match=r"\(loss.focal_gamma\) has no effect with "
                                         r"loss.name='bce'.* \(--loss.name focal\)"):
        _check_grid(Config(), grid)
    with pytest.raises(ValueError, match="no effect on the autoencoder"):
        _check_grid(Config(model=ModelConfig(kind="autoencoder", hidden=(8,))), grid)


AUTOENCODER = ["--model", "autoencoder", "--model.hidden", "8", "--compare", "rule", "mlp"]


@pytest.mark.parametrize("flags, field, default", [
    (["--loss.pos-weight", "5"], "pos_weight", "1.0"),
    (["--loss.name", "focal"], "name", "'bce'"),
    (["--loss.name", "focal", "--loss.focal-gamma", "1"], "name", "'bce'"),
    (["--loss.focal-gamma", "1"], "focal_gamma", "2.0"),
    (["--loss.focal-alpha", "0.25"], "focal_alpha", "-1.0")])
def test_a_loss_setting_that_the_autoencoder_ignores_is_refused(tmp_path, capsys, flags, field,
                                                                 default):
    """The autoencoder trains on reconstruction error and the compared models (mlp here)
    on their presets' loss: nothing reads --loss.*, so it is refused before the run
    folder is touched, naming the field and the fix."""
    out = tmp_path / "r"
    assert cli.main(["run", "fraud", *AUTOENCODER, *TINY, *flags, "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"BinaryLossConfig.{field} is " in err
    assert "the autoencoder (model.kind='autoencoder') minimises reconstruction error and " \
           "ignores the loss" in err
    assert f"leave it out (default {default}), or train a supervised model " \
           "(--model.kind mlp)" in err
    assert not out.exists()


def test_the_loss_is_checked_against_the_kinds_that_read_it():
    """Defaults pass with the autoencoder; a supervised model, or a grid over model.kind
    with one, reads the loss; a swept loss field under the autoencoder alone is refused."""
    from fjax.config import BinaryLossConfig
    from fjax.tasks.fraud import _check_grid
    ae = ModelConfig(kind="autoencoder", hidden=(8,))
    _check_grid(Config(model=ae), {})
    _check_grid(Config(model=ae), {"optim.learning_rate": [1e-3, 3e-3]})
    weighted = BinaryLossConfig(pos_weight=5.0)
    _check_grid(Config(loss=weighted), {})
    _check_grid(Config(model=ae, loss=weighted), {"model.kind": ["autoencoder", "mlp"]})
    with pytest.raises(ValueError, match="grid entry loss.pos_weight has no effect on the "
                                         "autoencoder.*drop it from the sweep"):
        _check_grid(Config(model=ae, loss=weighted), {"loss.pos_weight": [5.0, 1.0]})


def test_a_grid_over_a_data_field_is_refused_before_the_data_is_prepared(sweep_saved_grid,
                                                                           monkeypatch):
    """The stacks are built once, from the run's data.history: a grid.json over it trained
    every gru member on 5-transaction stacks (x f32[N, 5, 15] in each group) while
    validation.csv named 2 and 4, and the chosen 2 was reported. Any data field alike."""
    from fjax.tasks import fraud
    monkeypatch.setattr(fraud, "prepare", lambda *a, **k: pytest.fail("data was prepared"))
    gru = Config(model=ModelConfig(kind="gru", hidden=(8,)))
    status, err, out = sweep_saved_grid("fraud", gru, {"data.history": [2, 4]})
    assert status == 2
    assert "grid entry data.history cannot be swept: the fraud data is prepared once, from " \
           "data.history=5, for every member (a grid may vary model.*, loss.*, optim.*, " \
           "train.*); run one sweep per value instead (`fjax sweep fraud ... " \
           "--data.history VALUE`)" in err
    assert not out.exists()
    for grid in ({"data.top_k": [20, 50]}, {"data.history": [3, 5]}):  # an mlp's too
        with pytest.raises(ValueError, match=f"grid entry {list(grid)[0]} cannot be swept"):
            fraud.run(Config(), grid, progress=False)


def test_a_grid_outside_model_loss_optim_train_is_refused(monkeypatch):
    """prepare() reads sweep.folds once and train_grid the run's own seed: a grid.json
    over sweep.folds [2, 3] gave both groups the same 2 periods and identical validation
    scores, and one over seed crashed after the run folder was written. Any other
    top-level field (compare, sweep.seeds) is read once too."""
    from fjax.tasks import fraud
    monkeypatch.setattr(fraud, "prepare", lambda *a, **k: pytest.fail("data was prepared"))
    for grid in ({"sweep.folds": [2, 3]}, {"seed": [0, 5]}, {"sweep.seeds": [1, 2]},
                 {"compare": [["rule"], ["logistic"]]}):
        path = list(grid)[0]
        with pytest.raises(ValueError, match=rf"grid entry {path} cannot be swept: the fraud "
                                             rf"run reads it once, from {path}="):
            fraud.run(Config(), grid, progress=False)


def test_a_history_that_no_sequence_model_reads_is_refused(tmp_path, capsys):
    """Only gru and lstm read a card's last data.history transactions: with the mlp, rule
    and logistic it changed nothing, so it is refused before the folder is touched; a
    compared gru or an lstm of the run's own reads it."""
    from fjax.tasks.fraud import _check_grid
    out = tmp_path / "r"
    assert cli.main(["run", "fraud", *TINY, "--data.history", "10", "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "FraudDataConfig.history is 10, but only the sequence models (gru, lstm) read it " \
           "and no model this run trains (mlp, rule, logistic) reads it; leave it out " \
           "(default 5)" in err
    assert not out.exists()
    ten = FraudDataConfig(history=10)
    _check_grid(Config(data=ten, compare=("gru",)), {})
    _check_grid(Config(data=ten, model=ModelConfig(kind="lstm", hidden=(8,))), {})
    _check_grid(Config(compare=("combined",)), {})


def test_a_validation_week_without_fraud_is_named():
    from fjax.tasks.fraud.dataset import FraudData, assessment_periods
    tx = simulate(n_customers=150, n_terminals=300, n_days=75, seed=7)
    cfg = FraudDataConfig(train_start=None)
    periods = assessment_periods(cfg, tx, 2)
    data = FraudData(cfg=cfg, tx=tx, names=[], features=np.zeros((len(tx), 2), np.float32),
                     periods=periods)
    week = data.validation_periods[1]
    in_week = (tx.day >= week.test_start) & (tx.day < week.test_end)
    assert tx.fraud[in_week].any()
    data.tx = dataclasses.replace(tx, fraud=np.where(in_week, 0, tx.fraud).astype(tx.fraud.dtype))
    with pytest.warns(UserWarning, match="validation period 1: its test week has no fraud"):
        data.stack("validation")


def test_the_results_table_states_each_comparisons_protocol():
    from fjax.tasks.fraud.evaluation import summarize
    from fjax.tasks.fraud.report import results_table
    starts = ["2018-07-25", "2018-08-01", "2018-08-08", "2018-08-15"]
    periods = pd.DataFrame({
        "period": range(4),
        "train_start": starts,
        "test_start": [str((pd.Timestamp(d) + pd.Timedelta(days=14)).date()) for d in starts]})
    members = pd.DataFrame([{"model": m, "seed": 0, "period": p, "auc": 0.8 + 0.01 * p,
                             "average_precision": 0.5 + 0.01 * p, "card_precision": 0.2,
                             "recall_at_fpr_1pct": 0.6, "recall_at_fpr_0_1pct": 0.3,
                             "card_recall": 0.5, "cost": 100.0 * (p + 1)}
                            for m in ("logistic", "mlp", "autoencoder", "rule")
                            for p in range(4)])
    table = results_table(summarize(members), 100, members, periods).set_index("model")
    protocol = table["protocol (fjax; handbook)"]
    mean_of_4 = "fjax: mean of 4 prequential test periods (training weeks from 2018-07-25 " \
                "to 2018-08-15)"
    assert all(p.startswith(mean_of_4) for p in protocol)
    # a one-split figure is set beside fjax's figure on that same split
    assert ("handbook: one split (ch. 3.4): training week from 2018-07-25, test week from "
            "2018-08-08; fjax on that split (period 0): 0.800 / 0.500 / 0.200"
            in protocol["logistic"])
    assert table.loc["logistic", "AUC"] == "0.815 ± 0.013"   # the mean; the sample std
    # cost too (100 to 400: mean 250, sample std 129.1), as the table's heading promises
    assert table.loc["logistic", "cost"] == \
        f"250 ± {np.std([100, 200, 300, 400], ddof=1):.0f}" == "250 ± 129"
    assert protocol["mlp"].endswith("; same periods (on fjax's own simulation run)")
    assert "one split (ch. 7.3)" in protocol["autoencoder"]
    assert "not this run's: compare with care" in protocol["autoencoder"]
    assert "fjax's on the legitimate ones" in protocol["autoencoder"]
    assert protocol["rule"].endswith("; no handbook figure")
    shifted = periods.assign(train_start=[f"2018-09-0{i + 1}" for i in range(4)])
    other = results_table(summarize(members), 20, members, shifted).set_index("model")
    assert "compare with care; fjax ranks 20 cards a day, the handbook 100" in \
        other.loc["logistic", "protocol (fjax; handbook)"]


def test_the_combined_model_runs_on_cross_fitted_anomaly_errors(user_file, tmp_path):
    out = tmp_path / "run"
    argv = ["run", "fraud", "--out", str(out), "--data.path", str(user_file),
            "--data.amount-column", "amount_eur", "--data.customer-column", "card",
            "--compare", "combined", *TINY]
    assert cli.main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["models"]) == {"mlp", "combined"}
    members = pd.read_csv(out / "members.csv")
    assert members.loc[members.model == "combined", "auc"].between(0, 1).all()
    # the day-fold autoencoders: 2 periods x 7 days, one seed
    log = pd.read_json(out / "models" / "autoencoder_crossfit" / "history.jsonl", lines=True)
    assert len(log["loss"].iloc[0]) == 2 * 7                  # one loss per member
    assert not (out / "models" / "autoencoder").exists()     # no whole-week autoencoder
    # combined is an mlp on more inputs: its files stay its own, the run's mlp's stay its
    for name in ("mlp", "combined"):
        saved = json.loads((out / "models" / name / "config.json").read_text())
        assert saved["model"]["kind"] == "mlp"
        assert (out / "models" / name / "history.jsonl").exists()


USER = ["--data.amount-column", "amount_eur", "--data.customer-column", "card"]


def test_the_combined_models_autoencoders_are_the_reports_or_the_preset():
    """`anomaly_config`: combined's day-fold autoencoders train as the model the report
    names autoencoder (compared, or the run's own where it is or a sweep chose one), else
    as the autoencoder preset (100 -> 20, Adam 1e-3, 2 epochs; presets.py), also where the
    run's own model.kind is autoencoder but its sweep chose another kind."""
    from types import SimpleNamespace

    from fjax.tasks.fraud import anomaly_config
    config = Config(model=ModelConfig(kind="autoencoder"), compare=("combined",))
    ran = lambda kind, lr: SimpleNamespace(config=dataclasses.replace(   # noqa: E731
        config, model=ModelConfig(kind=kind), optim=dataclasses.replace(
            config.optim, learning_rate=lr)))
    own, chose_mlp = ran("autoencoder", 0.5), ran("mlp", 0.5)
    assert anomaly_config(config, {"autoencoder": own}, ["autoencoder", "combined"]) \
        is own.config
    mlp = dataclasses.replace(config, model=ModelConfig(kind="mlp"))
    assert anomaly_config(mlp, {"mlp": own}, ["mlp", "combined"]) is own.config
    compared = ran("autoencoder", 0.25)
    assert anomaly_config(mlp, {"mlp": own, "autoencoder": compared},
                          ["mlp", "autoencoder", "combined"]) is compared.config
    for runs in ({"autoencoder": chose_mlp}, {}):
        got = anomaly_config(config, runs, ["autoencoder", "combined"])
        assert (got.model.kind, got.model.hidden, got.model.bottleneck) == (
            "autoencoder", (100,), 20)
        assert (got.optim.learning_rate, got.train.epochs) == (1e-3, 2)
        assert got.compare == ("combined",)


def test_a_kind_sweep_compared_with_combined_reruns_combined_from_its_config(user_file,
                                                                             tmp_path):
    """A sweep over model.kind (autoencoder, mlp) with combined compared stopped, after
    training, when it chose mlp: combined took the run's own "autoencoder" run for its
    anomaly feature and refused its mlp. It now takes the autoencoder preset, and
    models/combined/config.json reruns combined's test scores bit for bit."""
    out = tmp_path / "sweep"
    assert cli.main(["sweep", "fraud", "--out", str(out), "--data.path", str(user_file),
                     *USER, "--model.kind", "autoencoder", "mlp", "--compare", "combined",
                     *TINY]) == 0
    # This file's sweep chooses mlp: the case that stopped.
    assert json.loads((out / "metrics.json").read_text())["primary"] == "mlp"
    crossfit = json.loads((out / "models/autoencoder_crossfit/config.json").read_text())
    assert (crossfit["model"]["hidden"], crossfit["optim"]["learning_rate"]) == ([100], 1e-3)
    rerun = tmp_path / "rerun"
    assert cli.main(["run", "fraud", "--config", str(out / "models/combined/config.json"),
                     "--out", str(rerun)]) == 0
    pd.testing.assert_frame_equal(_model_scores(rerun, "combined"),
                                  _model_scores(out, "combined"), check_exact=True)


def test_combined_on_the_runs_own_autoencoder_reruns_from_the_autoencoders_config(
        user_file, tmp_path):
    """Where combined's anomaly feature came from the run's own autoencoder (here not
    the preset's settings), models/autoencoder/config.json, which keeps `compare`, reruns
    combined's test scores bit for bit (combined's own config holds the mlp's only)."""
    own = tmp_path / "own"
    assert cli.main(["run", "fraud", "--out", str(own), "--data.path", str(user_file),
                     *USER, "--model", "autoencoder", "--compare", "combined", *TINY]) == 0
    crossfit = json.loads((own / "models/autoencoder_crossfit/config.json").read_text())
    assert crossfit["model"]["hidden"] == [100, 100]     # the run's, not the preset's [100]
    rerun = tmp_path / "own_rerun"
    assert cli.main(["run", "fraud", "--config", str(own / "models/autoencoder/config.json"),
                     "--out", str(rerun)]) == 0
    pd.testing.assert_frame_equal(_model_scores(rerun, "combined"),
                                  _model_scores(own, "combined"), check_exact=True)


def test_the_presets_note_names_what_this_runs_settings_train():
    from fjax.tasks.fraud.report import ModelResult, _presets_note

    def result(name, trained=True):
        return ModelResult(name, pd.DataFrame(), {}, {}, {}, True,
                           config={"optim": {}} if trained else None)

    assert _presets_note([result("mlp"), result("rule", trained=False)]) == ""
    note = _presets_note([result("mlp"), result("logistic")])
    assert "Only mlp trains with this run's settings" in note and "except" not in note
    note = _presets_note([result("autoencoder"), result("combined")])
    assert "except combined, whose anomaly feature comes from this run's autoencoder" in note


def test_a_training_week_with_less_history_than_the_windows_is_warned_of():
    """Starting 7 days into the data, the 30-day card windows (37 with the terminal
    delay) of the training week see a week of history; the test weeks see more."""
    from fjax.tasks.fraud.dataset import assessment_periods
    tx = simulate(n_customers=50, n_terminals=100, n_days=60, seed=1)
    with pytest.warns(UserWarning, match=r"starts on day 7 of the data .* need 37 days"):
        assessment_periods(FraudDataConfig(train_start="2018-04-08"), tx, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assessment_periods(FraudDataConfig(train_start="2018-05-08"), tx, 1)   # day 37


@pytest.mark.parametrize("make, field, column", [
    (lambda: FraudDataConfig(features=("mcc",)), "features", "mcc"),   # the simulation
    (lambda: FraudDataConfig(path="tx.csv", features=("mcc", "risk", "mcc")), "features",
     "mcc"),
    (lambda: FraudDataConfig(path="tx.csv", features=("tx_amount",)), "features", "tx_amount"),
    (lambda: FraudDataConfig(path="tx.csv", features=("card",), customer_column="card"),
     "features", "card"),
    (lambda: FraudDataConfig(path="tx.csv", features=("risk",), categorical=("mcc",)),
     "categorical", "mcc"),
])
def test_bad_feature_settings_name_the_field_and_column(make, field, column):
    with pytest.raises(ValueError, match=rf"FraudDataConfig\.{field} ") as err:
        make()
    assert repr(column) in str(err.value)


@pytest.fixture(scope="module")
def signal_file(tmp_path_factory):
    """The small simulation with columns of the file's own: `channel` (text) and
    `device_risk` (numbers) carry much of the fraud label; `country` carries nothing."""
    tx = simulate(n_customers=150, n_terminals=300, n_days=75, seed=7)
    frame = tx.to_frame().drop(columns=["TX_FRAUD_SCENARIO", "TX_TIME_SECONDS", "TX_TIME_DAYS"])
    rng = np.random.default_rng(0)
    fraud, n = frame["TX_FRAUD"].to_numpy() == 1, len(frame)
    web = rng.random(n) < np.where(fraud, 0.7, 0.05)
    frame["channel"] = np.where(web, "web", rng.choice(["pos", "app"], n))
    frame["device_risk"] = rng.normal(size=n) + 1.5 * fraud
    frame["country"] = rng.choice(["FR", "DE", "BE"], n)
    path = tmp_path_factory.mktemp("signal") / "transactions.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_users_columns_that_carry_fraud_raise_every_models_auc(signal_file, tmp_path):
    """Each kind of input the models read: the row (mlp; logistic reads the same
    stack), its reconstruction (autoencoder) and the card's previous rows (gru)."""
    from sklearn.metrics import roc_auc_score

    def run(name, *features):
        out = tmp_path / name
        argv = ["run", "fraud", "--out", str(out), "--data.path", str(signal_file),
                "--compare", "autoencoder", "gru", *TINY, *features]
        assert cli.main(argv) == 0
        metrics = json.loads((out / "metrics.json").read_text())
        scores = pd.read_csv(out / "scores.csv.gz")
        pooled = roc_auc_score(scores["fraud"], scores["score"])   # the mlp's own scores
        return out, metrics, pooled

    _, without, mlp_without = run("without")
    out, with_, mlp_with = run("with", "--data.features", "channel", "device_risk")
    aucs = {name: (without["models"][name]["summary"]["auc_mean"],
                   with_["models"][name]["summary"]["auc_mean"])
            for name in ("mlp", "autoencoder", "gru")}   # plain, reconstruction, sequence
    for name, (before, after) in aucs.items():
        assert after > before + 0.05, (name, aucs)
    assert mlp_with > mlp_without + 0.05
    assert without["data"]["unused_columns"] == ["channel", "device_risk", "country"]
    assert with_["data"]["unused_columns"] == ["country"]
    columns = with_["features"]["columns"]
    assert [c.pop("auc_alone") > 0.7 for c in columns] == [True, True]   # carry fraud
    assert abs(columns[1].pop("training_skew")) < 1                    # a normal column
    assert columns == [
        {"column": "channel", "encoding": "one-hot", "levels": [3, 3],
         "unseen_test_rows": [0, 0]},
        {"column": "device_risk", "encoding": "numeric", "scaler": "standard"}]
    assert len(with_["features"]["handbook"]) == 15
    config = from_dict(Config, json.loads((out / "config.json").read_text()))
    assert config.data.features == ("channel", "device_risk")
    report = (out / "report.md").read_text()
    assert "Not used: the file's column(s) country. " in report
    assert "| channel | one-hot, 3 / 3 levels | 0 / 0 | 0." in report
    assert "| device_risk | number, standard scaler | - | 0." in report
    assert "leak" not in report.lower()


def test_a_users_columns_in_the_test_weeks_leave_training_unchanged(signal_file, tmp_path):
    """New values and new levels only after the training weeks change neither the
    scalers nor the encoders nor the trained parameters; the report counts the rows of
    a level training never held."""
    import jax

    from fjax.tasks.fraud.dataset import prepare
    from fjax.tasks.fraud.training import fit_periods
    cfg = FraudDataConfig(path=str(signal_file), train_start=None,
                          features=("channel", "device_risk"))
    data = prepare(cfg, 2)
    first_test = data.tx.date_of(data.periods[0].test_start)   # after both training weeks
    frame = pd.read_csv(signal_file)
    later = (pd.to_datetime(frame["TX_DATETIME"]) >= first_test).to_numpy()
    rng = np.random.default_rng(1)
    frame.loc[later, "device_risk"] += rng.normal(size=later.sum()) * 100
    frame.loc[later & (rng.random(len(frame)) < 0.5), "channel"] = "atm"
    changed_path = tmp_path / "changed.csv"
    frame.to_csv(changed_path, index=False)
    changed = prepare(dataclasses.replace(cfg, path=str(changed_path)), 2)

    assert [e.to_dict() for e in changed.encoders()] == [e.to_dict() for e in data.encoders()]
    for sequence in (False, True):
        a, b = data.stack(sequence=sequence), changed.stack(sequence=sequence)
        train = a.folds.train.sum(axis=0) > 0
        np.testing.assert_array_equal(a.data["x"][train], b.data["x"][train])
        assert not np.array_equal(a.data["x"][~train], b.data["x"][~train])
    config = Config(data=cfg, model=ModelConfig(kind="logistic"),
                    train=dataclasses.replace(Config().train, epochs=1, batch_size=256),
                    sweep=dataclasses.replace(Config().sweep, folds=2))
    runs = [fit_periods("logistic", config, d.stack(), progress=False) for d in (data, changed)]
    for p, q in zip(*(jax.tree.leaves(r.params) for r in runs)):
        np.testing.assert_array_equal(np.asarray(p), np.asarray(q))
    assert [e["unseen_test_rows"] for e in data.encodings()[:1]] == [[0, 0]]
    unseen = changed.encodings()[0]["unseen_test_rows"]
    tests = changed.masks(changed.periods)[1]
    assert unseen == [int(np.sum(changed.tx.user_columns["channel"][te] == "atm"))
                      for te in tests] and min(unseen) > 0


def test_a_file_of_dates_without_times_is_warned_of_and_noted(user_file, tmp_path):
    """Dates alone read as midnight: the night feature is then 1 everywhere."""
    from fjax.data.transactions import summary
    from fjax.tasks.fraud.dataset import prepare
    from fjax.tasks.fraud.report import _dates_note
    frame = pd.read_csv(user_file)
    frame["TX_DATETIME"] = pd.to_datetime(frame["TX_DATETIME"]).dt.strftime("%Y-%m-%d")
    path = tmp_path / "dates.csv"
    frame.to_csv(path, index=False)
    cfg = FraudDataConfig(path=str(path), train_start=None, amount_column="amount_eur",
                          customer_column="card")
    with pytest.warns(UserWarning, match="'TX_DATETIME' is 00:00:00 .*TX_DURING_NIGHT is 1"):
        data = prepare(cfg, 2)
    assert np.all(data.features[:, data.names.index("TX_DURING_NIGHT")] == 1)
    assert summary(data.tx)["dates_only"] is True
    assert _dates_note(summary(data.tx))[0].startswith("Dates only: every timestamp is 00:00:00")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        timed = prepare(dataclasses.replace(cfg, path=str(user_file)), 2)
    assert "dates_only" not in summary(timed.tx) and _dates_note(summary(timed.tx)) == []


def test_a_resumed_run_says_its_times_are_this_sessions(user_file, tmp_path, run_killed_at):
    argv = ["run", "fraud", "--out", str(tmp_path / "cut"), "--data.path", str(user_file),
            "--data.amount-column", "amount_eur", "--data.customer-column", "card",
            "--compare", "rule", *TINY]
    run_killed_at(2, lambda: cli.main(argv), every_s=0.0)   # after epoch 2's log, unsaved
    assert cli.main([*argv, "--resume"]) == 0
    metrics = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert metrics["models"]["mlp"]["timing"]["resumed_epochs"] == {"test": 1}
    assert ("Resumed (--resume): mlp from a checkpoint of epoch 1; the times above are "
            "this session's") in (tmp_path / "cut" / "report.md").read_text()


def test_auc_alone_is_scikit_learns_auc_of_values_or_of_level_fraud_shares():
    """Numbers with ties, either direction; categories ranked by their fraud share."""
    from sklearn.metrics import roc_auc_score

    from fjax.tasks.fraud.dataset import auc_alone
    rng = np.random.default_rng(0)
    y = (rng.random(600) < 0.05).astype(int)
    x = np.round(rng.normal(size=600) + y, 1)                         # ties
    assert auc_alone(x, y, False) == pytest.approx(roc_auc_score(y, x))
    assert auc_alone(-x, y, False) == pytest.approx(roc_auc_score(y, x))
    levels = rng.choice(list("abcdef"), 600)
    levels[0:100:5] = "z"               # a level only fold 0 (rows i % 5 == 0) holds
    fold = np.arange(600) % 5
    frame = pd.DataFrame({"level": levels, "y": y, "fold": fold})
    share = np.empty(600)
    for j in range(5):                  # each fold's levels scored by the other folds' shares
        other = frame[frame["fold"] != j]
        rates = other.groupby("level")["y"].mean()
        inside = fold == j
        share[inside] = frame.loc[inside, "level"].map(rates).fillna(other["y"].mean())
    pairs = [(y[fold == j].sum() * (1 - y[fold == j]).sum(),     # pairs within fold j
              roc_auc_score(y[fold == j], share[fold == j])) for j in range(5)]
    auc = sum(n * a for n, a in pairs) / sum(n for n, _ in pairs)
    assert auc_alone(levels, y, True) == pytest.approx(max(auc, 1 - auc), abs=1e-12)
    assert auc_alone(x, np.zeros(600), False) is None


def test_auc_alone_of_a_binary_category_is_its_auc_as_a_number():
    """Two levels rank the same in every fold: cross-fitting must not bias the AUC. Pooled
    over folds, a fold with more of a level's frauds got a lower share from the others
    (0.623 for scikit-learn's 0.658 here)."""
    from sklearn.metrics import roc_auc_score

    from fjax.tasks.fraud.dataset import auc_alone
    rng = np.random.default_rng(0)
    y = rng.random(20_000) < 0.01
    web = rng.random(20_000) < np.where(y, 0.35, 0.05)
    direct = roc_auc_score(y, web)
    assert auc_alone(np.where(web, "web", "pos"), y, True) == pytest.approx(direct, abs=0.005)


def test_an_id_like_column_of_random_levels_is_no_leak():
    """Many rare random levels: in sample each level's share is its own rows' labels and
    ranked the frauds with AUC 0.99; cross-fitted they carry no signal."""
    from fjax.tasks.fraud.dataset import LEAK_AUC, auc_alone
    rng = np.random.default_rng(0)
    y = rng.random(20_000) < 0.01
    ids = rng.integers(0, 10_000, 20_000).astype(str)
    assert abs(auc_alone(ids, y, True) - 0.5) < 0.05 < LEAK_AUC - 0.5
    leak = np.where(y, rng.integers(0, 50, 20_000), rng.integers(50, 10_000, 20_000))
    assert auc_alone(leak.astype(str), y, True) > LEAK_AUC


def test_a_column_that_leaks_the_label_is_warned_of_and_flagged(user_file, tmp_path):
    """A chargeback-style column (0 for legitimate rows, days to chargeback for frauds)
    is accepted, as it could be a real feature, but warned of before training and
    flagged in the report with its training AUC; an honest noisy column is not."""
    from sklearn.metrics import roc_auc_score

    from fjax.tasks.fraud.dataset import prepare
    from fjax.data.fraud_features import feature_names
    from fjax.tasks.fraud.report import _features_section
    frame = pd.read_csv(user_file)
    rng = np.random.default_rng(0)
    fraud = frame["TX_FRAUD"].to_numpy()
    frame["days_to_chargeback"] = np.where(fraud == 1, rng.integers(20, 60, len(frame)), 0)
    frame["chargeback_date"] = np.where(fraud == 1, rng.choice(["2018-09-01", "2018-09-02"],
                                                               len(frame)), "none")
    frame["noise"] = rng.normal(size=len(frame)) + 0.5 * fraud
    path = tmp_path / "leaky.csv"
    frame.to_csv(path, index=False)
    cfg = FraudDataConfig(path=str(path), train_start=None, amount_column="amount_eur",
                          customer_column="card",
                          features=("days_to_chargeback", "chargeback_date", "noise"))
    with pytest.warns(UserWarning) as caught:
        data = prepare(cfg, 2)
    leaks = [str(w.message) for w in caught if "nearly is the label" in str(w.message)]
    assert [m.split("'")[1] for m in leaks] == ["days_to_chargeback", "chargeback_date"]
    trains = np.any(data.masks(data.periods)[0], axis=0)
    noise = data.training_aucs()["noise"]
    assert noise == pytest.approx(roc_auc_score(data.tx.fraud[trains],
                                                data.tx.user_columns["noise"][trains]))
    assert noise < 0.99
    text = "\n".join(_features_section(data.encodings(), feature_names()))
    assert "| days_to_chargeback | number, standard scaler | - | 1.000 (leak?) |" in text
    assert "Likely label leak: days_to_chargeback, chargeback_date" in text


def test_a_training_week_without_fraud_is_refused_for_supervised_models(
        user_file, tmp_path, capsys):
    """A model trained on a week without fraud scored the next test week at random (AUC
    0.001 seen) and that figure entered the means; now the run stops before writing,
    naming the week, unless only models that need no frauds train."""
    from fjax.tasks.fraud import UNSUPERVISED
    from fjax.tasks.fraud.dataset import prepare
    frame = pd.read_csv(user_file)
    cfg = FraudDataConfig(path=str(user_file), train_start=None, amount_column="amount_eur",
                          customer_column="card")
    week = prepare(cfg, 2).periods[1]
    start = pd.Timestamp(frame["TX_DATETIME"].min()).normalize()
    day = (pd.to_datetime(frame["TX_DATETIME"]) - start).dt.days
    in_week = (day >= week.train_start) & (day < week.train_start + week.train_days)
    frame.loc[in_week, "TX_FRAUD"] = 0
    path = tmp_path / "quiet_week.csv"
    frame.to_csv(path, index=False)
    base = ["run", "fraud", "--data.path", str(path), "--data.amount-column", "amount_eur",
            "--data.customer-column", "card", *TINY]
    assert cli.main([*base, "--out", str(tmp_path / "r"), "--compare", "rule"]) == 2
    err = capsys.readouterr().err
    first = start + pd.Timedelta(days=week.train_start)
    assert (f"test period 1's training week ({first.date()} to "
            f"{(first + pd.Timedelta(days=6)).date()}, {int(in_week.sum())} transactions) "
            "holds no fraud") in err
    assert not (tmp_path / "r").exists()
    assert set(UNSUPERVISED) == {"rule", "autoencoder"}
    argv = [*base, "--out", str(tmp_path / "ae"), "--model", "autoencoder", "--compare", "rule"]
    assert cli.main(argv) == 0


def test_the_periods_table_gives_the_cost_without_alerts_and_of_a_perfect_ranking():
    """By hand, k = 1: day 0 cards a, b compromised and c not; day 1 a again and c; day 2
    b. No alerts: 4 compromised card-days = 400. Perfect ranking: day 0 alerts a (tie
    broken by card code), misses b; day 1 a is blocked, alerts c; day 2 finds b: 3 alerts
    (15) + 1 missed card-day (100) = 115."""
    from fjax.data.fraud_protocol import Period
    from fjax.data.transactions import from_frame
    from fjax.tasks.fraud.report import alert_budget_note, periods_table
    frame = pd.DataFrame({
        "TRANSACTION_ID": range(6), "CUSTOMER_ID": list("abcacb"),
        "TX_DATETIME": ["2024-01-01 10:00", "2024-01-01 11:00", "2024-01-01 12:00",
                        "2024-01-02 10:00", "2024-01-02 11:00", "2024-01-03 10:00"],
        "TERMINAL_ID": 1, "TX_AMOUNT": 10.0, "TX_FRAUD": [1, 1, 0, 1, 0, 1]})
    tx = from_frame(frame)
    every = np.ones(len(tx), bool)
    table = periods_table(tx, [Period(0, 1, 0, 3)], [every], [every], [~every], top_k=1,
                          cost_alert=5.0, cost_missed=100.0)
    assert table.loc[0, "cost_no_alerts"] == 400.0
    assert table.loc[0, "oracle_cost"] == 115.0
    assert table.loc[0, "oracle_missed"] == 1   # b on day 0
    assert alert_budget_note(table, 1, 5.0) == ""
    # At 200 an alert, the perfect ranking's 3 alerts + 1 miss cost 700 > 400; 4
    # compromised card-days over 3 test days: 1.3 a day.
    table = periods_table(tx, [Period(0, 1, 0, 3)], [every], [every], [~every], top_k=1,
                          cost_alert=200.0, cost_missed=100.0)
    assert table.loc[0, "compromised_cards_per_day"] == pytest.approx(4 / 3)
    note = alert_budget_note(table, 1, 200.0)
    assert "period(s) 0 (700 against 400)" in note and "1.3 compromised cards a day" in note
    assert "data.top_k" in note
    # A file without card ids: each transaction its own card, its card-days its frauds.
    note = alert_budget_note(table, 1, 200.0, cardless=True)
    assert "1.3 frauds a day" in note and "near the daily frauds" in note
    assert "card" not in note


def test_a_perfect_ranking_that_misses_cards_is_not_called_the_best():
    """By hand, k = 1: day 0 cards a and b compromised, day 1 b and c. The perfect ranking
    (ties by card code) alerts a on day 0 and misses b; on day 1 b is still open and comes
    before c, which it misses: 2 alerts (10) + 2 missed card-days (200) = 210. Alerting b
    on day 0 (a missed) and c on day 1 (b blocked) misses 1: 110, less than the 'best'. So
    the report names the period instead of calling the perfect ranking the best; with
    k = 2 it misses nothing and no note is given."""
    from fjax.data.fraud_protocol import Period
    from fjax.data.transactions import from_frame
    from fjax.fraud_metrics import daily_alerts
    from fjax.tasks.fraud.report import oracle_note, periods_table
    frame = pd.DataFrame({
        "TRANSACTION_ID": range(4), "CUSTOMER_ID": list("abbc"),
        "TX_DATETIME": ["2024-01-01 10:00", "2024-01-01 11:00", "2024-01-02 10:00",
                        "2024-01-02 11:00"],
        "TERMINAL_ID": 1, "TX_AMOUNT": 10.0, "TX_FRAUD": 1})
    tx = from_frame(frame)
    every = np.ones(len(tx), bool)
    table = periods_table(tx, [Period(0, 1, 0, 2)], [every], [every], [~every], top_k=1,
                          cost_alert=5.0, cost_missed=100.0)
    assert (table.loc[0, "oracle_cost"], table.loc[0, "oracle_missed"]) == (210.0, 2)
    smarter = daily_alerts(tx.day, tx.customer, np.array([0.0, 1.0, 0.0, 1.0]), tx.fraud, 1)
    assert smarter.expected_cost(5.0, 100.0) == 110.0 < table.loc[0, "oracle_cost"]
    note = oracle_note(table, 1)
    assert "period(s) 0 a perfect ranking still leaves 2 compromised card-day(s)" in note
    assert "data.top_k" in note
    wide = periods_table(tx, [Period(0, 1, 0, 2)], [every], [every], [~every], top_k=2)
    assert wide.loc[0, "oracle_missed"] == 0 and oracle_note(wide, 2) == ""


def test_a_perfect_ranking_of_cards_that_never_recur_is_the_best():
    """By hand, k = 1, a file without card ids (each transaction its own card): two
    frauds on each of days 0 and 1. Any ranking finds at most one a day, so the perfect
    ranking's 2 alerts (10) + 2 missed (200) = 210 is the least cost (every ranking of the
    day's scores checked); the report called it possibly beatable 'blocking one that would
    defraud again', which no card here can."""
    from itertools import permutations

    from fjax.data.fraud_protocol import Period
    from fjax.data.transactions import from_frame
    from fjax.fraud_metrics import daily_alerts
    from fjax.tasks.fraud.report import oracle_note, periods_table
    frame = pd.DataFrame({"TX_DATETIME": [0.0, 10.0, 86_400.0, 86_410.0],
                          "TX_AMOUNT": 10.0, "TX_FRAUD": 1})
    tx = from_frame(frame)
    assert tx.cardless
    every = np.ones(len(tx), bool)
    table = periods_table(tx, [Period(0, 1, 0, 2)], [every], [every], [~every], top_k=1)
    assert (table.loc[0, "oracle_cost"], table.loc[0, "oracle_missed"]) == (210.0, 2)
    costs = [daily_alerts(tx.day, tx.customer, np.array(s, float), tx.fraud, 1)
             .expected_cost(5.0, 100.0) for s in permutations(range(4))]
    assert min(costs) == 210.0
    assert oracle_note(table, 1, cards_recur=False) == ""


def _periods_frame(train, test):
    """periods.csv's columns `immature_label_periods` reads: (frauds, transactions) of
    every training week and of each whole test week."""
    return pd.DataFrame({"train_frauds": train[0], "train_tx": train[1],
                         "test_week_frauds": [f for f, _ in test],
                         "test_tx": [n - 10 for _, n in test], "removed_known_cards_tx": 10,
                         "test_fraud_rate": [f / n for f, n in test],
                         "test_start": [f"2024-02-0{k + 1}" for k in range(len(test))],
                         "test_end": [f"2024-02-1{k + 1}" for k in range(len(test))]})


def test_immature_labels_flag_the_last_test_weeks_only_when_far_and_clearly_below():
    """Training weeks at 1% (400 of 40,000). Hand: a last week of 10,000 with 30 frauds
    (0.3%, expected 100) is flagged; one of 1,000 with 4 (0.4%, expected 10: P(X <= 4) =
    0.029 > 0.01) is not; a low week followed by a normal one is not (not the data's
    end); 60 of 10,000 (0.6%) is above half the rate."""
    train = (100, 10000)
    normal = (100, 10000)
    flag = lambda test: immature_label_periods(_periods_frame(train, test))  # noqa: E731
    assert flag([normal, normal, (30, 10000), (20, 10000)]) == [2, 3]
    assert flag([normal, normal, normal, (30, 10000)]) == [3]
    assert flag([normal, normal, normal, (4, 1000)]) == []
    assert flag([normal, normal, (30, 10000), normal]) == []
    assert flag([normal, normal, normal, (60, 10000)]) == []
    from scipy.stats import binom
    assert binom.cdf(4, 1000, 0.01) > 0.01 > binom.cdf(30, 10000, 0.01)   # the hand figures
    note = immature_labels_note(_periods_frame(train, [normal, (30, 10000)]), delay_days=7)
    assert "Test period(s) 1 (2024-02-02 to 2024-02-12)" in note and "0.300%" in note
    assert "data.train_start earlier" in note and "data.delay_days" in note
    assert immature_labels_note(_periods_frame(train, [normal, normal]), delay_days=7) == ""


def test_a_file_whose_last_weeks_lack_most_labels_is_warned_of(tmp_path):
    """Chargebacks not yet in: 80% of the frauds of the last 10 days are labelled 0. The
    run warns before training, naming the last period and the fix, and so does the
    report; the full labels flag nothing."""
    from fjax.tasks.fraud.dataset import prepare
    from fjax.tasks.fraud.report import periods_table
    tx = simulate(n_customers=500, n_terminals=1000, n_days=70, seed=3)
    frame = tx.to_frame()
    late = pd.to_datetime(frame["TX_DATETIME"]) >= pd.Timestamp(tx.date_of(60))
    rng = np.random.default_rng(0)
    immature = frame.assign(TX_FRAUD=np.where(late & (rng.random(len(frame)) < 0.8), 0,
                                              frame["TX_FRAUD"]))
    paths = {name: tmp_path / f"{name}.csv" for name in ("full", "immature")}
    frame.to_csv(paths["full"], index=False)
    immature.to_csv(paths["immature"], index=False)
    data = prepare(FraudDataConfig(path=str(paths["full"]), train_start=None), 3)
    table = periods_table(data.tx, data.periods, *data.masks(data.periods), top_k=100)
    assert immature_label_periods(table) == []
    argv = ["run", "fraud", "--data.path", str(paths["immature"]), "--out",
            str(tmp_path / "run"), "--data.train-start", "None", "--cv", "3", "--model",
            "logistic", "--compare", "rule", "--train.epochs", "1"]
    with pytest.warns(UserWarning, match=r"Test period\(s\) 2 .* immature labels"):
        assert cli.main(argv) == 0
    assert "immature labels" in (tmp_path / "run" / "report.md").read_text()
    periods = pd.read_csv(tmp_path / "run" / "periods.csv")
    assert periods["test_fraud_rate"].iloc[-1] < 0.5 * periods["train_fraud_rate"].mean()


def test_a_heavy_tailed_user_column_is_warned_of_with_a_log_fix(user_file, tmp_path):
    """Skewness on the training weeks, hand-computed in float64: a lognormal column
    (sigma 2.5) is warned of and marked in the report's features table; a normal one is
    not."""
    from fjax.tasks.fraud.dataset import prepare
    from fjax.data.fraud_features import feature_names
    from fjax.tasks.fraud.report import _features_section
    frame = pd.read_csv(user_file)
    rng = np.random.default_rng(0)
    frame["balance"] = rng.lognormal(0.0, 2.5, len(frame))
    frame["score"] = rng.normal(size=len(frame))
    path = tmp_path / "tails.csv"
    frame.to_csv(path, index=False)
    cfg = FraudDataConfig(path=str(path), train_start=None, amount_column="amount_eur",
                          customer_column="card", features=("balance", "score"))
    with pytest.warns(UserWarning) as caught:
        data = prepare(cfg, 2)
    skewed = [str(w.message) for w in caught if "skewness" in str(w.message)]
    assert len(skewed) == 1 and "'balance'" in skewed[0] and "log1p(balance)" in skewed[0]
    trains = np.any(data.masks(data.periods)[0], axis=0)
    x = frame["balance"].to_numpy(np.float64)[trains]
    hand = np.mean((x - x.mean()) ** 3) / np.mean((x - x.mean()) ** 2) ** 1.5
    assert data.training_skews()["balance"] == pytest.approx(hand, rel=1e-9)
    assert hand > 10 and abs(data.training_skews()["score"]) < 1
    section = "\n".join(_features_section(data.encodings(), feature_names()))
    assert f"| balance | number, standard scaler, skewness {hand:.0f}: write its log1p" in section
    assert "| score | number, standard scaler | - |" in section


def test_the_selection_spread_is_per_period_over_seeds_with_the_next_finite_runner_up():
    """By hand, 2 seeds x 2 periods. lr 1 (chosen): periods 0.7 and 0.6 (means of 0.6,
    0.8 and 0.5, 0.7). lr 2 has the best values but a diverged member, so it is never
    the runner-up. lr 3: periods 0.5 and 0.7, mean 0.6; the chosen leads in period 0
    only."""
    from fjax.tasks.fraud.training import period_spread
    values = {1: [0.6, 0.8, 0.5, 0.7], 2: [0.9, 0.9, 0.9, 0.95], 3: [0.4, 0.6, 0.7, 0.7]}
    table = pd.DataFrame([{"optim.learning_rate": float(lr), "seed": i % 2, "fold": i // 2,
                           "best_val_auc": v, "diverged_epoch": int(lr == 2 and i == 3)}
                          for lr, vs in values.items() for i, v in enumerate(vs)])
    chosen = (table["optim.learning_rate"] == 1).to_numpy()
    s = period_spread(table, ["optim.learning_rate"], chosen, "val_auc", "max")
    assert s["periods"] == 2 and s["chosen_ahead_in"] == 1
    np.testing.assert_allclose(s["chosen"]["by_period"], [0.7, 0.6])
    assert s["chosen"]["std"] == pytest.approx(0.1 / np.sqrt(2))
    r = s["runner_up"]
    assert r["hyperparameters"] == {"optim.learning_rate": 3.0}
    assert r["mean"] == pytest.approx(0.6) and (r["min"], r["max"]) == pytest.approx((0.5, 0.7))
    assert period_spread(table[chosen], ["optim.learning_rate"], chosen[chosen], "val_auc",
                         "max")["runner_up"] is None


def test_the_selection_says_when_the_chosen_is_not_distinguishable_from_the_runner_up():
    """A lead of 0.0002 in validation AP, ahead in 4 of 4 periods whose values move by
    about 0.1, but within the noise of the difference: the Selection line gives the paired
    difference ± its standard error (numpy, float64, from the validation.csv rows: seeds
    averaged within a period, then sd / sqrt(periods)) and says the two are not
    distinguishable; a lead of ten standard errors is not flagged."""
    from fjax.tasks.fraud.report import spread_note
    from fjax.tasks.fraud.training import period_spread
    rng = np.random.default_rng(0)
    base = rng.uniform(0.3, 0.7, size=(4, 2))                  # [period, seed]

    def line(lead_by_period):
        rows = [{"optim.learning_rate": lr, "seed": seed, "fold": p, "diverged_epoch": 0,
                 "best_val_average_precision": base[p, seed] + (lead_by_period[p] if lr == 1.0
                                                                else 0.0)}
                for lr in (1.0, 2.0) for p in range(4) for seed in range(2)]
        table = pd.DataFrame(rows)
        chosen = (table["optim.learning_rate"] == 1.0).to_numpy()
        s = period_spread(table, ["optim.learning_rate"], chosen, "val_average_precision",
                          "max")
        by = table.pivot_table("best_val_average_precision", "fold", "optim.learning_rate")
        d = by[1.0].to_numpy(np.float64) - by[2.0].to_numpy(np.float64)
        se = d.std(ddof=1) / np.sqrt(len(d))
        assert s["paired"]["difference"] == pytest.approx(d.mean(), abs=1e-12)
        assert s["paired"]["se"] == pytest.approx(se, rel=1e-9)
        text = spread_note({"metric": "val_average_precision", "spread": s})[0]
        assert f"is {d.mean():+.4f} ± {se:.4f} (standard error over periods)" in text
        return text, d, se

    text, d, se = line(np.array([1e-5, 1e-5, 1e-5, 7.7e-4]))    # mean 0.0002, se 0.00019
    assert (d > 0).all() and 0 < d.mean() < 2 * se                  # ahead in 4 of 4, a tie
    assert "ahead in 4 of 4 period(s)" in text
    assert "**Not distinguishable from the runner-up**" in text
    text, d, se = line(np.array([0.05, 0.051, 0.049, 0.05]))
    assert d.mean() > 10 * se and "Not distinguishable" not in text


def _members(model, seeds, values):
    """members.csv rows of `model`: values[metric][seed][period]; other metrics 0.5."""
    from fjax.tasks.fraud.evaluation import METRICS
    periods = len(next(iter(values.values()))[0])
    return [{"model": model, "seed": s, "period": p,
             **{m: values[m][i][p] if m in values else 0.5 for m in METRICS}}
            for i, s in enumerate(seeds) for p in range(periods)]


def test_models_are_compared_period_by_period_not_by_their_spreads():
    """By hand: mlp's AUC by period is (0.80, 0.90, 0.85) (seeds 0.79/0.81, 0.89/0.91,
    0.84/0.86), the logistic's 0.01 lower in each: a lead of 0.01 within both models'
    ± spread (0.05), ahead in 3 of 3 periods with standard error 0. Cost: mlp 100, 300,
    200 against the rule's 150, 250, 260 (one seed): differences -50, 50, -60, mean -20,
    sd 61.4; lower is better, so ahead in 2. The rule's AUC is undefined in period 2, so
    that period is left out of its AUC row."""
    from fjax.tasks.fraud.evaluation import paired_differences
    from fjax.tasks.fraud.report import paired_note
    table = pd.DataFrame(
        _members("mlp", [0, 1], {"auc": [[0.79, 0.89, 0.84], [0.81, 0.91, 0.86]],
                                 "cost": [[90, 310, 200], [110, 290, 200]]})
        + _members("logistic", [0, 1], {"auc": [[0.78, 0.88, 0.83], [0.80, 0.90, 0.85]]})
        + _members("rule", [0], {"auc": [[0.6, 0.7, None]], "cost": [[150, 250, 260]]}))
    paired = paired_differences(table, "mlp").set_index(["model", "metric"])
    auc = paired.loc[("logistic", "auc")]
    assert (auc["difference"], auc["se"]) == pytest.approx((0.01, 0.0), abs=1e-12)
    assert (auc["ahead_in"], auc["periods"]) == (3, 3)
    spread = table[table.model == "mlp"].groupby("period")["auc"].mean().std(ddof=1)
    assert spread == pytest.approx(0.05) and auc["difference"] < spread
    d = np.array([100, 300, 200]) - np.array([150, 250, 260])
    cost = paired.loc[("rule", "cost")]
    assert cost["difference"] == pytest.approx(d.mean())
    assert cost["se"] == pytest.approx(d.std(ddof=1) / np.sqrt(3))
    assert (cost["ahead_in"], cost["periods"]) == (2, 3)
    rule_auc = paired.loc[("rule", "auc")]
    assert rule_auc["periods"] == 2 and rule_auc["difference"] == pytest.approx(0.2)
    text = "\n".join(paired_note(paired_differences(table, "mlp"), "mlp", 100))
    assert "| logistic | +0.010 ± 0.000 (3/3) |" in text
    assert f"-20 ± {d.std(ddof=1) / np.sqrt(3):.0f} (2/3) |" in text
    assert "not by the Results table's ±" in text
    alone = table[table.model == "mlp"]
    assert paired_note(paired_differences(alone, "mlp"), "mlp", 100) == []


def test_a_grid_over_model_kind_is_checked_against_the_kinds_it_trains():
    """Every member trains on one stack, built for the run's kind: a grid mixing gru with
    per-row kinds crashed mid-run (GRU expects [batch, time, features]), so it is refused
    up front; and a grid over model.kind replaces the run's kind, so a loss or history
    only the replaced kind read is refused too."""
    from fjax.config import BinaryLossConfig
    from fjax.tasks.fraud import _check_grid
    ten = FraudDataConfig(history=10)
    gru = ModelConfig(kind="gru", hidden=(8,))
    with pytest.raises(ValueError, match="grid entry model.kind has gru, which read a card's "
                                         "sequence, unlike the run's model.kind='mlp'"):
        _check_grid(Config(data=ten), {"model.kind": ["mlp", "gru"]})
    with pytest.raises(ValueError, match="grid entry model.kind has mlp, logistic, which do "
                                         "not read a card's sequence"):
        _check_grid(Config(model=gru, data=ten), {"model.kind": ["mlp", "logistic"]})
    with pytest.raises(ValueError, match="ignores the loss"):
        _check_grid(Config(loss=BinaryLossConfig(pos_weight=5.0)),
                    {"model.kind": ["autoencoder"]})
    _check_grid(Config(model=gru, data=ten), {"model.kind": ["gru", "lstm"]})
    _check_grid(Config(), {"model.kind": ["mlp", "logistic", "autoencoder"]})


@pytest.mark.parametrize("grid, named", [
    ({"model.kind": ["autoencoder", "mlp"]}, r"model.kind \(autoencoder, mlp\) mixes"),
    ({"model.kind": ["mlp", "autoencoder"]}, r"model.kind \(mlp, autoencoder\) mixes"),
    ({"loss.pos_weight": [1.0, 10.0]}, "loss.pos_weight changes the loss")])
def test_a_loss_monitor_refuses_a_grid_of_different_losses(grid, named):
    """Under train.monitor loss, selection ranks groups by training loss: the autoencoder's
    reconstruction error beside mlp's BCE (or BCE at two pos_weights) is no comparison, so
    the grid is refused; a validation monitor, or one kind and loss, is accepted."""
    from fjax.tasks.fraud import _check_grid
    loss = Config(train=dataclasses.replace(Config().train, monitor="loss"))
    with pytest.raises(ValueError, match=named + ".*train.monitor='loss'.*--train.monitor "
                                         "val_average_precision"):
        _check_grid(loss, grid)
    _check_grid(Config(), grid)
    _check_grid(loss, {"model.kind": ["mlp", "logistic"]})
    _check_grid(loss, {"optim.learning_rate": [1e-3, 3e-3]})


@pytest.mark.parametrize("loss, text", [
    ({}, "bce loss"),
    ({"pos_weight": 10.0}, "bce loss (pos_weight 10)"),
    ({"name": "focal"}, "focal loss (gamma 2)"),
    ({"name": "focal", "focal_alpha": 0.25}, "focal loss (gamma 2, alpha 0.25)"),
    (None, "reconstruction error of legitimate rows")])
def test_trained_with_names_the_loss_so_loss_runs_tell_apart(loss, text):
    from fjax.config import to_dict
    from fjax.tasks.fraud.report import trained_with

    config = Config()
    if loss is None:
        config = dataclasses.replace(config, model=dataclasses.replace(config.model,
                                                                       kind="autoencoder"))
    else:
        config = dataclasses.replace(config, loss=dataclasses.replace(config.loss, **loss))
    assert trained_with(to_dict(config)) == f"adam lr 0.003, 16 epochs, {text}"


def test_the_alert_volume_note_turns_false_positive_rates_into_alerts_a_day():
    """By hand: 7000 and 7000 legitimate scored transactions over 2 weeks of 7 days are
    1000 a day; FPR 1% flags 10 of them a day, 0.1% flags 1."""
    from fjax.tasks.fraud.evaluation import THRESHOLD_COLUMNS
    from fjax.tasks.fraud.report import fpr_volume_note
    periods = pd.DataFrame({"test_tx": [7000, 7140], "test_frauds": [0, 140]})
    none = pd.DataFrame(columns=THRESHOLD_COLUMNS)
    note = fpr_volume_note(periods, 7, none)
    assert "score 1000 legitimate transactions a day" in note
    assert "FPR 1% flags about 10 legitimate" in note
    assert "FPR 0.1% flags about 1 legitimate" in note
    assert "hindsight" in note
    assert "near that rate" not in note
    big = fpr_volume_note(pd.DataFrame({"test_tx": [8_642_100], "test_frauds": [0]}), 7, none)
    assert "FPR 1% flags about 12346 legitimate" in big     # 1% of 1234585.7, not 1.23e+04


def test_the_alert_volume_note_gives_the_rates_thresholds_set_in_advance_realised():
    """It said a threshold set in advance 'flags near that rate'; a default 3-epoch run's
    mlp realised 0.35-0.58% for FPR 1%. The note now gives the realised range of
    thresholds.csv's in-advance FPR rows (hand oracle: min and max of the rows)."""
    from fjax.tasks.fraud.report import fpr_volume_note
    periods = pd.DataFrame({"test_tx": [7000], "test_frauds": [0]})
    table = _hand_thresholds()
    table.loc[(table.target == "FPR 1%") & (table.set_on == "in advance"), "fpr"] = (
        [0.0035, 0.02, 0.01, 0.004, 0.012, 0.009])
    note = fpr_volume_note(periods, 7, table)
    assert "FPR 1% flagged 0.35% to 2% of a test week's legitimate" in note
    assert "((" not in note and ") (" not in note
    assert "FPR 0.1%" not in note.split("hindsight")[1]    # no in-advance rows for it
    assert "another rate" in fpr_volume_note(periods, 7, table.iloc[:0])


def test_a_model_without_thresholds_has_the_header_of_thresholds_csv():
    """ModelResult's thresholds default to `threshold_rows`' header without rows (it was a
    frame without columns, which the report had to guard), read as none set in advance."""
    from fjax.tasks.fraud.evaluation import THRESHOLD_COLUMNS
    from fjax.tasks.fraud.report import ModelResult, advance_fpr_text
    none = ModelResult("mlp", pd.DataFrame(), {}, {}, {}, True).thresholds
    assert tuple(none.columns) == THRESHOLD_COLUMNS and none.empty
    assert advance_fpr_text(none) == ("one set in advance on earlier labelled weeks flags "
                                      "another rate")


def test_the_rule_is_described_only_when_the_run_scores_it():
    from fjax.tasks.fraud.report import ModelResult, _rule_note

    def result(name):
        return ModelResult(name, pd.DataFrame(), {}, {}, {}, True)

    assert _rule_note([result("mlp"), result("autoencoder")]) == ""
    assert _rule_note([result("mlp"), result("rule")]) == " The rule ranks by amount."


def _threshold_rows(fraud, score, delay=None):
    """`threshold_rows` of one seed on 4 weekly periods of 50 transactions each."""
    from types import SimpleNamespace
    from fjax.data.fraud_protocol import Period, rolling_periods
    from fjax.tasks.fraud.evaluation import threshold_rows
    stack = SimpleNamespace(row=np.arange(200), val_rows=lambda k: np.arange(50 * k, 50 * k + 50))
    members = pd.DataFrame({"seed": 0, "fold": range(4)})
    cfg = SimpleNamespace(top_k=3, test_days=7, delay_days=7)
    return threshold_rows("m", SimpleNamespace(fraud=fraud), stack, members,
                          [score[50 * k:50 * k + 50] for k in range(4)],
                          rolling_periods(Period(0), 4, 7), cfg, delay=delay)


def test_the_alert_budget_is_set_on_the_delay_weeks_unlabelled_scores():
    """Hand case: 3 alerts a day over a 7-day delay week allow 21 alerts, so of the delay
    scores 1..30 the threshold is 10 (flagging 10..30); every period gets it, the first
    two too (no labelled week is in by then), and FPR targets keep their labelled source."""
    rng = np.random.default_rng(1)
    fraud = (rng.random(200) < 0.1).astype(np.int8)
    score = rng.normal(size=200)
    delay = [np.arange(1.0, 31.0) + 100 * k for k in range(4)]     # per member
    table = _threshold_rows(fraud, score, delay)
    advance = table[table.set_on == "in advance"]
    budget = advance[advance.target == "3 alerts a day"].set_index("period")
    assert list(budget.index) == [0, 1, 2, 3]
    np.testing.assert_array_equal(budget["threshold"], [10, 110, 210, 310])
    assert (budget["set_on_stage"] == "delay").all()
    assert (budget["set_on_period"] == budget.index).all()
    fpr = advance[advance.target != "3 alerts a day"]
    assert sorted(set(zip(fpr.period, fpr.set_on_stage, fpr.set_on_period))) \
        == [(2, "test", 0), (3, "test", 1)]
    # Realised alerts a day on each test week at that threshold (numpy oracle).
    for k, row in budget.iterrows():
        assert row["alerts_per_day"] == pytest.approx(
            (score[50 * k:50 * k + 50] >= row["threshold"]).sum() / 7)


def test_thresholds_set_in_advance_do_not_read_the_test_weeks_labels():
    rng = np.random.default_rng(0)
    fraud = (rng.random(200) < 0.1).astype(np.int8)
    score = rng.normal(size=200) + 2.0 * fraud
    table = _threshold_rows(fraud, score)
    advance = table[table.set_on == "in advance"].set_index(["period", "target"])
    assert sorted(set(zip(advance.index.get_level_values(0), advance["set_on_period"]))) \
        == [(2, 0), (3, 1)]
    shuffled = fraud.copy()
    shuffled[100:200] = rng.permutation(shuffled[100:200])   # periods 2 and 3's test labels
    again = _threshold_rows(shuffled, score)
    again_advance = again[again.set_on == "in advance"].set_index(["period", "target"])
    np.testing.assert_array_equal(advance["threshold"], again_advance["threshold"])
    hindsight = lambda t: t[t.set_on == "hindsight"]["threshold"].to_numpy()   # noqa: E731
    assert not np.array_equal(hindsight(table), hindsight(again))   # these read them
    # The realised rates are the test week's at that threshold (a float64 numpy oracle).
    for (k, _), row in advance.iterrows():
        flag, y = score[50 * k:50 * k + 50] >= row["threshold"], fraud[50 * k:50 * k + 50] == 1
        assert row["fpr"] == pytest.approx((flag & ~y).sum() / (~y).sum())
        assert row["recall"] == pytest.approx((flag & y).sum() / y.sum())
        assert row["alerts_per_day"] == pytest.approx(flag.sum() / 7)


def _hand_thresholds():
    """thresholds.csv rows as a sweep writes them: its own model "mlp" has FPR thresholds
    on periods 0-3 (0 and 1 set on validation weeks), "rule" on 2-3; both have the alert
    budget on every period; one seed, recall = period / 10 + a model offset."""
    rows = [{"model": model, "seed": 0, "period": k, "target": target, "set_on": set_on,
             "fpr": 0.01, "recall": k / 10 + offset, "precision": 0.5, "alerts_per_day": 20}
            for model, offset, fpr_periods in [("mlp", 0.0, range(4)), ("rule", 0.05, (2, 3))]
            for target, periods in [("FPR 1%", fpr_periods), ("20 alerts a day", range(4))]
            for k in periods for set_on in ("in advance", "hindsight")]
    return pd.DataFrame(rows)


def test_threshold_summaries_compare_models_on_the_same_periods():
    """The sweep's own model had FPR thresholds on 4 periods, the rule on 2, and the
    summary averaged each over its own: the rows compared different weeks. Now each
    target's rows average the periods every model has (hand oracle: mean recall over
    periods 2 and 3), and the sweep model's periods 0 and 1 are summarised apart."""
    from fjax.tasks.fraud.evaluation import split_common, summarize_thresholds
    common, other = map(summarize_thresholds, split_common(_hand_thresholds()))
    for _, rows in common.groupby("target"):
        assert len({tuple(p) for p in rows["periods"]}) == 1
    fpr = common[(common.target == "FPR 1%") & (common.set_on == "in advance")]
    assert fpr.set_index("model")["recall_mean"].to_dict() == pytest.approx(
        {"mlp": (0.2 + 0.3) / 2, "rule": (0.25 + 0.35) / 2})
    assert list(fpr["periods"]) == [[2, 3], [2, 3]]
    budget = common[common.target == "20 alerts a day"]
    assert all(p == [0, 1, 2, 3] for p in budget["periods"])
    assert other[["model", "target"]].drop_duplicates().values.tolist() == [["mlp", "FPR 1%"]]
    assert other["periods"].tolist() == [[0, 1], [0, 1]]
    assert other["recall_mean"].tolist() == pytest.approx([0.05, 0.05])


def test_the_note_on_periods_apart_gives_only_the_reasons_its_rows_have():
    """A sweep without the combined model read that its periods apart included 'an alert
    budget set on delay weeks, which the combined model sets on labelled periods'."""
    from fjax.tasks.fraud.evaluation import split_common
    from fjax.tasks.fraud.report import apart_why
    table = _hand_thresholds()          # mlp's FPR thresholds on periods 0, 1 apart
    text = apart_why(split_common(table)[1], 20)
    assert "set on its validation weeks" in text and "combined" not in text
    budget = table[table.target == "20 alerts a day"]     # combined has periods 2, 3 only
    combined = budget[(budget.model == "rule") & (budget.period >= 2)].assign(
        model="combined")
    text = apart_why(split_common(pd.concat([budget, combined]))[1], 20)
    assert "which the combined model sets on labelled periods" in text
    assert "validation weeks" not in text


def test_the_alert_budget_note_says_how_each_model_set_it():
    """The report said "the alert budget needs no labels" of every model beside the
    combined model's budget set on a labelled period; each model is now named with its
    source, and a run without a delay week names none as set on it."""
    from fjax.tasks.fraud.report import budget_text
    table = _hand_thresholds()
    table["set_on_stage"] = np.where(table.target == "20 alerts a day", "delay", "test")
    combined = table[table.model == "rule"].assign(model="combined", set_on_stage="test")
    text = budget_text(pd.concat([table, combined]), 20, 7)
    assert "The alert budget of mlp, rule needs no labels" in text
    assert "times the budget" not in text   # a ratio once measured, not this run's
    assert "combined sets the alert budget as the FPR targets" in text
    assert "anomaly feature" in text
    table["set_on_stage"] = "test"
    text = budget_text(table, 20, 0)
    assert "needs no labels" not in text
    assert "mlp, rule set the alert budget as the FPR targets" in text
    assert "no delay week (data.delay_days 0)" in text
    # Nothing is removed from a file without card ids' delay week: no card recurs.
    table["set_on_stage"] = np.where(table.target == "20 alerts a day", "delay", "test")
    assert "known compromised cards removed" in budget_text(table, 20, 7)
    text = budget_text(table, 20, 7, cardless=True)
    assert "(transactions in, labels not yet) and takes the lowest" in text
    assert "card" not in text


def test_the_threshold_note_reads_right_with_only_delay_week_budgets():
    """A run whose only thresholds set in advance are alert budgets on delay weeks (no
    labelled source for any FPR target) read "(; periods without such a source ...)"."""
    from fjax.tasks.fraud.evaluation import split_common, summarize_thresholds
    from fjax.tasks.fraud.report import threshold_note
    table = _hand_thresholds()
    table = table[table.target == "20 alerts a day"].assign(set_on_stage="delay")
    summaries = tuple(map(summarize_thresholds, split_common(table)))
    text = " ".join(threshold_note(table, summaries, 20, 7))
    assert "(;" not in text
    assert "(no test period has one; periods without such a source" in text


def test_the_threshold_note_says_a_validation_weeks_threshold_is_judged_on_the_test_week():
    """A sweep's first test periods set their FPR thresholds on a validation week scored
    at the epoch chosen on its own labels: the report now names those periods and says
    every rate beside them is the test week's; a run without such a source says nothing."""
    from fjax.tasks.fraud.evaluation import split_common, summarize_thresholds
    from fjax.tasks.fraud.report import threshold_note
    table = _hand_thresholds()
    fpr_early = (table.model == "mlp") & table.target.str.startswith("FPR") & (table.period < 2)
    table["set_on_stage"] = np.where(fpr_early & (table.set_on == "in advance"), "validation",
                                     np.where(table.target.str.startswith("FPR"), "test",
                                              "delay"))
    table["set_on_period"] = np.where(table["set_on_stage"] == "validation", 3, 0)
    note = lambda t: " ".join(threshold_note(  # noqa: E731
        t, tuple(map(summarize_thresholds, split_common(t))), 20, 7))
    assert ("Set on a validation week (mlp: test period(s) 0, 1): its scores are at the epoch "
            "the validation search chose on that week's own labels") in note(table)
    assert "never on its source" in note(table)
    plain = table[table.set_on_stage != "validation"]
    assert "Set on a validation week" not in note(plain)


def test_a_sweeps_first_test_periods_thresholds_are_set_on_its_validation_weeks(user_sweep):
    """Test periods 0 and 1 have no earlier test week labelled in time: their thresholds
    come from the last validation week, scored by the chosen configuration (recovered by
    a spy on `select`, checked against validation.csv's AUC and the file's frauds), and
    the test weeks' labels cannot move them."""
    from types import SimpleNamespace
    from sklearn.metrics import roc_auc_score
    from fjax.fraud_metrics import threshold_at_fpr
    from fjax.tasks import fraud
    out, spied, calls, _ = user_sweep
    rows_of = fraud.threshold_rows
    table = pd.read_csv(out / "thresholds.csv")
    advance = table[(table.set_on == "in advance") & table.target.str.startswith("FPR")]
    assert sorted(set(zip(advance.period, advance.set_on_stage, advance.set_on_period))) \
        == [(0, "validation", 1), (1, "validation", 1)]          # 2 periods (--cv 2)
    scores, labels = spied["out"][4][(0, 1)]                   # seed 0, validation period 1
    val = pd.DataFrame(json.loads((out / "metrics.json").read_text())["validation_periods"])
    assert (len(labels), labels.sum()) == (val["test_tx"].iloc[1], val["test_frauds"].iloc[1])
    validation = pd.read_csv(out / "validation.csv")
    lr = spied["out"][2]["hyperparameters"]["optim.learning_rate"]
    chosen = validation[np.isclose(validation["optim.learning_rate"], lr)
                        & (validation.fold == 1)].iloc[0]
    assert roc_auc_score(labels, scores) == pytest.approx(chosen["best_val_auc"], abs=1e-6)
    first = advance[(advance.period == 0) & (advance.target == "FPR 1%")].iloc[0]
    assert first["threshold"] == threshold_at_fpr(scores, labels, 0.01)
    assert "test period 0 on validation 1, 1 on validation 1;" in (out / "report.md").read_text()
    # The same rows with the test weeks' labels shuffled: in advance unchanged.
    name, tx, stack, *rest = calls[0]
    test_rows = stack.row[np.concatenate([stack.val_rows(k) for k in range(stack.k)])]
    shuffled = tx.fraud.copy()
    shuffled[test_rows] = np.random.default_rng(0).permutation(shuffled[test_rows])
    again = rows_of(name, SimpleNamespace(fraud=shuffled), stack, *rest)
    np.testing.assert_array_equal(again[(again.set_on == "in advance")
                                        & again.target.str.startswith("FPR")]["threshold"],
                                  advance["threshold"])
    assert not np.array_equal(again[again.set_on == "hindsight"]["recall"],
                              table[table.set_on == "hindsight"]["recall"])


def test_a_grid_over_restore_best_is_refused(monkeypatch):
    """Selection reads each validation member's monitor at its best epoch and the test
    periods train the median best epoch, restored or not: a grid over train.restore_best
    [True, False] gave both groups the same best_val_average_precision and best epochs
    (folds' best epochs 8, 1, 1, 7), so it is refused before the data is prepared."""
    from fjax.tasks import fraud
    monkeypatch.setattr(fraud, "prepare", lambda *a, **k: pytest.fail("data was prepared"))
    with pytest.raises(ValueError, match="grid entry train.restore_best cannot be swept: no "
                                         "fraud member reads it"):
        fraud.run(Config(), {"train.restore_best": [True, False]}, progress=False)
    fraud._check_grid(Config(), {"train.batch_size": [32, 512], "train.epochs": [2, 6]})


@pytest.mark.parametrize("path, values", [("train.monitor", ["val_average_precision", "loss"]),
                                          ("train.mode", ["min", "max"])])
def test_a_grid_over_the_monitor_is_refused(monkeypatch, path, values):
    """Selection ranks every group on the run's own train.monitor and mode: a group
    monitoring the training loss chose its epoch by it and was ranked on validation AP."""
    from fjax.tasks import fraud
    monkeypatch.setattr(fraud, "prepare", lambda *a, **k: pytest.fail("data was prepared"))
    with pytest.raises(ValueError, match=rf"grid entry {path} cannot be swept: the "
                                         "validation search ranks every group by the run's "
                                         "own train.monitor"):
        fraud.run(Config(), {path: values}, progress=False)


def test_a_refused_resume_keeps_each_models_config_of_the_run_that_wrote_its_checkpoints(
        user_file, tmp_path, run_killed_at, capsys):
    """models/<name>/config.json was rewritten (resume: true) as a resume started, before
    any checkpoint was read: a resume refused then left it saying the model resumed,
    while the run's own config.json (held until a restore) still said it had not."""
    import shutil
    argv = ["run", "fraud", "--data.path", str(user_file), "--data.amount-column",
            "amount_eur", "--data.customer-column", "card", "--compare", "rule", *TINY]
    run_killed_at(2, lambda: cli.main([*argv, "--out", str(tmp_path / "r")]), every_s=0.0)
    shutil.copytree(tmp_path / "r", tmp_path / "ok")
    for item in (tmp_path / "r").glob("models/mlp/checkpoints/group_0/[0-9]*/run"):
        shutil.rmtree(item)   # as an older fjax's checkpoint reads: the resume is refused
    records = ["config.json", "environment.json", "models/mlp/config.json"]
    before = {name: (tmp_path / "r" / name).read_bytes() for name in records}
    assert json.loads(before["models/mlp/config.json"])["resume"] is False
    assert cli.main([*argv, "--out", str(tmp_path / "r"), "--resume"]) == 2
    assert "is in an older format" in capsys.readouterr().err
    assert {name: (tmp_path / "r" / name).read_bytes() for name in records} == before
    # A resume that restores records itself, the model's config too.
    assert cli.main([*argv, "--out", str(tmp_path / "ok"), "--resume"]) == 0
    for name in ("config.json", "models/mlp/config.json"):
        assert json.loads((tmp_path / "ok" / name).read_text())["resume"] is True


def test_a_sweep_over_the_model_kind_names_the_results_by_the_kind_it_chose(user_file,
                                                                            tmp_path):
    """`--model mlp logistic`: when the validation periods chose logistic, every result
    was still labelled mlp (the first kind swept), beside the feed-forward network's
    published figures. The kind is recomputed from validation.csv with pandas."""
    out = tmp_path / "run"
    assert cli.main(["sweep", "fraud", "--out", str(out), "--data.path", str(user_file),
                     "--data.amount-column", "amount_eur", "--data.customer-column", "card",
                     "--compare", "rule", "--model", "mlp", "logistic",
                     "--optim.learning-rate", "1e-3", "0.3", *TINY]) == 0
    validation = pd.read_csv(out / "validation.csv")
    means = validation.groupby(["model.kind", "optim.learning_rate"])[
        "best_val_average_precision"].mean()
    kind = means.idxmax()[0]
    assert kind == "logistic"     # not the first kind: the case that was mislabelled
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["primary"] == kind and set(metrics["models"]) == {kind, "rule"}
    assert metrics["models"][kind]["config"]["model"]["kind"] == kind
    assert set(pd.read_csv(out / "members.csv")["model"]) == {kind, "rule"}
    report = (out / "report.md").read_text()
    assert f"{kind}: best mean val_average_precision" in report
    # Its test-stage training logs in its own folder (they were in models/mlp), the search
    # in the first kind's, as the report's file list says.
    models = out / "models"
    assert json.loads((models / kind / "config.json").read_text())["model"]["kind"] == kind
    assert (models / kind / "history.jsonl").exists()
    assert sorted(p.name for p in (models / "mlp").iterdir()) == ["validation"]
    assert (models / "mlp" / "validation" / "history.jsonl").exists()
    assert "validation runs in `models/mlp/validation/`" in report


def test_a_chosen_kind_that_is_also_compared_is_told_apart():
    from fjax.tasks.fraud import chosen_name
    assert chosen_name("mlp", "mlp", ["mlp", "logistic"]) == "mlp"
    assert chosen_name("mlp", "logistic", ["mlp", "rule"]) == "logistic"
    assert chosen_name("mlp", "logistic", ["mlp", "logistic"]) == "logistic (swept)"


def test_the_reports_are_titled_by_their_data_not_the_run_name():
    """"# Fraud detection: fraud" and "# Credit scoring: credit" repeated the run's name,
    its folder's already; forecast's title names its series."""
    from fjax.tasks.credit.config import CreditDataConfig
    from fjax.tasks.credit.report import report_title as credit_title
    from fjax.tasks.fraud.report import report_title as fraud_title
    assert fraud_title(Config().data) == ("Fraud detection: simulated transactions "
                                          "(handbook generator, seed "
                                          f"{Config().data.simulation_seed})")
    assert credit_title(CreditDataConfig()) == (
        "Credit scoring: embedded German credit (fjax/datasets/data/germancredit.csv)")


def test_a_logistic_models_optimum_is_scikit_learns_unpenalised_fit():
    """The logistic preset stops short of its objective's optimum (default run, period 2:
    AP 0.533 against scikit-learn's 0.571 on the same features). `optimum_rows` gives
    each member's training loss and test AP beside the optimum's, which equal those of
    scikit-learn's unpenalised LogisticRegression on the same training rows; the report
    states the means. Other models have none."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, log_loss

    from fjax.data.split_stack import SplitStack
    from fjax.data.splits import Folds
    from fjax.tasks.fraud.evaluation import optimum_rows
    from fjax.tasks.fraud.presets import preset
    from fjax.tasks.fraud.report import ModelResult, optimum_note
    rng = np.random.default_rng(0)
    n = 1200
    x = rng.standard_normal((n, 3)).astype(np.float32)
    y = (rng.random(n) < 1 / (1 + np.exp(3 - x @ [1.0, -0.5, 0.3]))).astype(np.float32)
    train = np.zeros((2, n), np.float32)
    val = np.zeros((2, n), np.float32)
    for k in (0, 1):      # period k trains on its 400 rows, tests on the next 200
        train[k, 600 * k:600 * k + 400], val[k, 600 * k + 400:600 * k + 600] = 1, 1
    stack = SplitStack({"x": x, "y": y[:, None]}, Folds(train, val), np.arange(n),
                       np.repeat([0, 1], 600))
    theta = np.array([[0.2, 0.1, 0.0, -1.0], [0.5, -0.9, 0.4, -2.5]])   # unconverged fits
    params = {"params": {"dense": {"kernel": theta[:, :3, None], "bias": theta[:, 3:]}}}
    members = pd.DataFrame({"member": [0, 1], "seed": 0, "fold": [0, 1]})
    scores = [x[val[k] > 0] @ theta[k, :3] + theta[k, 3] for k in (0, 1)]
    table = optimum_rows("logistic", preset(Config(), "logistic"), members, params, stack,
                         scores)
    for k, row in table.iterrows():
        tr, te = train[k] > 0, val[k] > 0
        ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(x[tr], y[tr])
        assert row["optimum_train_loss"] == pytest.approx(
            log_loss(y[tr], ref.predict_proba(x[tr])[:, 1]), abs=1e-7)
        assert row["train_loss"] == pytest.approx(
            log_loss(y[tr], 1 / (1 + np.exp(-(x[tr] @ theta[k, :3] + theta[k, 3])))), abs=1e-9)
        assert row["optimum_average_precision"] == pytest.approx(
            average_precision_score(y[te], ref.decision_function(x[te])), abs=1e-9)
        assert row["average_precision"] == pytest.approx(
            average_precision_score(y[te], scores[k]), abs=1e-9)
        assert row["train_loss"] > row["optimum_train_loss"] + 0.01
    result = ModelResult("logistic", pd.DataFrame(), {}, {}, {}, True,
                         config={"optim": {"name": "adam", "learning_rate": 0.01,
                                           "schedule": "constant"},
                                 "train": {"epochs": 14, "batch_size": 64}},
                         optimum=table)
    note = optimum_note(result)[0]
    assert (f"its test AP {table['average_precision'].mean():.3f} against the optimum's "
            f"{table['optimum_average_precision'].mean():.3f}") in note
    assert optimum_rows("mlp", Config(), members, params, stack, scores).empty


def test_a_chosen_configuration_behind_its_runner_up_is_not_distinguishable():
    """The verdict took the paired difference's size (abs) and not its direction, so a
    chosen configuration behind the runner-up by ten standard errors (a choice by one
    mean can trail on the period-paired one, e.g. where a metric is undefined in some
    periods) was passed as a clear lead. Here a loss ("min") 0.05 higher in each of 4
    periods (numpy: difference +0.05, se ~5e-4) is flagged, in words that name being
    behind (they named a lead of none or under two standard errors only); 0.05 lower is
    not."""
    from fjax.tasks.fraud.report import spread_note
    from fjax.tasks.fraud.training import period_spread

    def text(offset):
        rows = [{"optim.learning_rate": lr, "seed": 0, "fold": p, "diverged_epoch": 0,
                 "best_val_loss": 0.3 + 0.1 * p + (offset[p] if lr == 1.0 else 0.0)}
                for lr in (1.0, 2.0) for p in range(4)]
        table = pd.DataFrame(rows)
        chosen = (table["optim.learning_rate"] == 1.0).to_numpy()
        s = period_spread(table, ["optim.learning_rate"], chosen, "val_loss", "min")
        d = np.asarray(offset, np.float64)
        assert s["paired"]["difference"] == pytest.approx(d.mean(), abs=1e-12)
        assert s["paired"]["lead"] == pytest.approx(-d.mean(), abs=1e-12)
        return spread_note({"metric": "val_loss", "spread": s})[0]

    behind = text([0.05, 0.051, 0.049, 0.05])
    assert "ahead in 0 of 4" in behind and "**Not distinguishable" in behind
    assert "a lead of none, under two standard errors, or behind" in behind   # the rule's 3
    ahead = text([-0.05, -0.051, -0.049, -0.05])
    assert "ahead in 4 of 4" in ahead and "Not distinguishable" not in ahead


def test_the_report_says_why_the_autoencoder_trails_by_the_paired_verdict():
    """By hand: the autoencoder's AP by period (0.20, 0.30, 0.25) against the logistic's
    (0.50, 0.55, 0.52) trails by 0.273 with standard error 0.015, in 3 of 3 periods: behind;
    against mlp's (0.21, 0.28, 0.27) the differences (-0.01, 0.02, -0.02) are within two
    standard errors: not distinguishable. The rule is no supervised model."""
    from fjax.tasks.fraud.evaluation import paired_differences
    from fjax.tasks.fraud.report import autoencoder_note
    ap = {"autoencoder": [0.20, 0.30, 0.25], "logistic": [0.50, 0.55, 0.52],
          "mlp": [0.21, 0.28, 0.27], "rule": [0.1, 0.1, 0.1]}
    table = pd.DataFrame([r for m, v in ap.items() for r in _members(m, [0], {
        "average_precision": [v], "cost": [[100, 200, 300]]})])
    d = np.subtract(ap["autoencoder"], ap["logistic"])
    se = d.std(ddof=1) / np.sqrt(3)
    assert abs(d.mean()) > 2 * se
    e = np.subtract(ap["autoencoder"], ap["mlp"])
    assert abs(e.mean()) < 2 * e.std(ddof=1) / np.sqrt(3)
    text = autoencoder_note(paired_differences(table, "autoencoder"), "autoencoder",
                            "autoencoder", ["logistic", "mlp"])[0]
    assert "learns from no fraud" in text and "reconstruction error" in text
    assert "expected to trail supervised models where labels exist" in text
    assert (f"it is behind logistic (autoencoder minus logistic: AP {d.mean():+.3f} ± "
            f"{se:.3f} (0/3), cost +0 ± 0 (0/3)); not distinguishable from mlp" in text)
    # compared beside a supervised run's model: the same verdict, read from its row
    text = autoencoder_note(paired_differences(table, "logistic"), "logistic",
                            "autoencoder", ["logistic", "mlp"])[0]
    assert f"it is behind logistic (logistic minus autoencoder: AP {-d.mean():+.3f}" in text
    alone = table[table.model.isin(["autoencoder", "rule"])]
    assert autoencoder_note(paired_differences(alone, "autoencoder"), "autoencoder",
                            "autoencoder", []) == []
    assert autoencoder_note(paired_differences(table, "mlp"), "mlp", None, ["mlp"]) == []


@pytest.mark.parametrize("monitor", ["val_average_precision", "val_auc", "loss"])
def test_the_selection_sentence_follows_the_monitor(monitor):
    """The Selection mean is a validation metric at each member's best epoch (optimistic),
    or, under train.monitor loss, the training loss: the sentence said "on the validation
    weeks themselves, so this mean is optimistic" of a training loss too."""
    from fjax.tasks.fraud.report import scored_text
    text = scored_text(monitor)
    assert ("on the validation weeks themselves, so this mean is optimistic" in text) == (
        monitor != "loss")
    assert ("scored by its training loss" in text) == (monitor == "loss")


@pytest.mark.parametrize("monitor", ["val_average_precision", "loss"])
def test_an_autoencoders_selection_says_whether_validation_labels_chose_it(user_file, tmp_path,
                                                                         monitor):
    """A sweep of the autoencoder beside logistic: its Selection says validation-week labels
    chose its settings, or (monitoring its training loss) that none did; validation.csv
    holds the chosen members' monitor, and the Paired comparison's sentence follows."""
    out = tmp_path / "run"
    argv = ["sweep", "fraud", "--out", str(out), "--data.path", str(user_file),
            "--data.amount-column", "amount_eur", "--data.customer-column", "card",
            "--model", "autoencoder", "--model.hidden", "8", "--compare", "logistic",
            "--optim.learning-rate", "1e-3", "1e-2", "--train.monitor", monitor, *TINY]
    assert cli.main(argv) == 0
    report = (out / "report.md").read_text()
    selection = report.split("## Selection")[1].split("## Timings")[0]
    labelled = "chosen by val_average_precision on the validation weeks' labels"
    assert (labelled in selection) == (monitor != "loss")
    assert ("so no validation-week label chose them" in selection) == (monitor == "loss")
    assert ("so this mean is optimistic" in selection) == (monitor != "loss")
    assert ("scored by its training loss" in selection) == (monitor == "loss")
    assert "The autoencoder learns from no fraud: it trains on" in report
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["models"]["autoencoder"]["chosen"]["metric"] == monitor


def test_period_masks_are_built_once_and_read_only(user_file):
    """The run, its test stack and its report each asked for the test periods' masks, and
    each call rebuilt them (three known-card look-backs over every row per period). Now
    each period's are built once and shared, read-only so no reader can change another's;
    they equal `fraud_protocol`'s own masks for the period."""
    from fjax.data.fraud_protocol import assessment_mask, train_mask
    from fjax.tasks.fraud.dataset import prepare
    data = prepare(FraudDataConfig(path=str(user_file), amount_column="amount_eur",
                                   customer_column="card", train_start=None), 2)
    trains, kept, removed = data.masks(data.periods)
    tx = data.tx
    for p, tr, te, gone in zip(data.periods, trains, kept, removed):
        np.testing.assert_array_equal(tr, train_mask(tx.day, p))
        want = assessment_mask(tx.day, tx.customer, tx.fraud, p, len(tx.customer_ids))
        np.testing.assert_array_equal(te, want[0])
        np.testing.assert_array_equal(gone, want[1])
        assert not (tr.flags.writeable or te.flags.writeable or gone.flags.writeable)
    again = data.masks(data.periods)
    assert all(a is b for old, new in zip((trains, kept, removed), again)
               for a, b in zip(old, new))
    assert all(a is b for a, b in zip(data.train_masks(data.periods), trains))


def test_delay_week_masks_are_built_once_for_the_check_and_the_stack(user_file, monkeypatch):
    """check_scored and stack("delay") each built every delay week's mask (known-card
    look-backs over every row); now they read one, equal to `fraud_protocol.delay_mask`."""
    from fjax.data import fraud_protocol
    from fjax.tasks.fraud import dataset
    calls = []
    monkeypatch.setattr(dataset, "delay_mask",
                        lambda *a, **k: calls.append(1) or fraud_protocol.delay_mask(*a, **k))
    data = dataset.prepare(FraudDataConfig(path=str(user_file), amount_column="amount_eur",
                                           customer_column="card", train_start=None), 2)
    data.check_scored("test")
    stack = data.stack("delay")
    assert len(calls) == len(data.periods) == 2
    tx = data.tx
    for k, p in enumerate(data.periods):
        want = fraud_protocol.delay_mask(tx.day, tx.customer, tx.fraud, p, len(tx.customer_ids))
        np.testing.assert_array_equal(stack.row[stack.val_rows(k)], np.flatnonzero(want))


def test_a_stack_of_an_empty_week_is_refused_as_the_run_refuses_it(tmp_path):
    """FraudData.stack, reached from Python without check_scored, refuses an empty delay
    week with check_scored's words (it said "delay period 1 has no test transactions
    left", naming no week and no setting)."""
    from fjax.data.checks import DataSettingError
    from fjax.tasks.fraud.dataset import prepare
    tx = simulate(n_customers=150, n_terminals=300, n_days=75, seed=7)
    frame = tx.to_frame().drop(columns=["TX_FRAUD_SCENARIO", "TX_TIME_SECONDS",
                                        "TX_TIME_DAYS"])
    when = pd.to_datetime(frame["TX_DATETIME"])
    path = tmp_path / "gap.csv"
    frame[(when < "2018-06-01") | (when >= "2018-06-08")].to_csv(path, index=False)
    data = prepare(FraudDataConfig(path=str(path), train_start=None, step_days=14), 2)
    data.stack("test")
    with pytest.raises(DataSettingError, match=r"test period 1's delay week \(2018-06-01 to "
                                               r"2018-06-07\) has no transaction to score"):
        data.stack("delay")


def test_the_threshold_table_says_when_a_rate_is_defined_in_only_some_periods():
    """A threshold that flagged nothing in one of two test weeks has no precision there;
    the table printed the other week's 1.000 beside "periods 0, 1" as if both had it.
    It now says "(1 of 2)", as the Results table does (hand oracle: the one value)."""
    from fjax.tasks.fraud.evaluation import summarize_thresholds
    from fjax.tasks.fraud.report import threshold_table
    table = pd.DataFrame([{"model": "mlp", "seed": 0, "period": k, "target": "FPR 0.1%",
                           "set_on": "hindsight", "fpr": 0.0, "recall": r,
                           "precision": p, "alerts_per_day": a}
                          for k, r, p, a in [(0, 0.15, 1.0, 1.0), (1, 0.0, None, 0.0)]])
    row = threshold_table(summarize_thresholds(table)).iloc[0]
    assert row["precision"] == "1.000 (1 of 2)"
    assert row["recall"] == "0.075 ± 0.106" and row["periods"] == "0, 1"


@pytest.mark.parametrize("step, refused", [
    ("7", "test period 0's test week (2018-06-01 to 2018-06-07) has nothing to score: the "
          "data has no transaction on those days"),
    ("14", "test period 1's delay week (2018-06-01 to 2018-06-07) has no transaction to "
           "score")])
def test_a_week_without_transactions_is_refused_before_training(tmp_path, capsys, step,
                                                                refused):
    """A file with no transaction in a test week (an export's gap) crashed the periods
    table with "TypeError: type NoneType doesn't define __round__ method" (its oracle
    CP@k is None); in a delay week (step 14), which the alert budget is set on, the run
    failed after training with "delay period 1 has no test transactions left". Both are
    refused now, before training, naming the week and why."""
    tx = simulate(n_customers=150, n_terminals=300, n_days=75, seed=7)
    frame = tx.to_frame().drop(columns=["TX_FRAUD_SCENARIO", "TX_TIME_SECONDS",
                                        "TX_TIME_DAYS"])
    when = pd.to_datetime(frame["TX_DATETIME"])
    gap = (when >= "2018-06-01") & (when < "2018-06-08")
    path = tmp_path / "gap.csv"
    frame[~gap].to_csv(path, index=False)
    out = tmp_path / "run"
    argv = ["run", "fraud", "--out", str(out), "--data.path", str(path), "--compare", "rule",
            "--data.step-days", step, *TINY]
    assert cli.main(argv) == 2
    assert refused in capsys.readouterr().err
    assert not (out / "models").exists()
