"""`fjax score fraud`: a finished run's deployable model (model.msgpack) scores the last
days of a transactions file without training, exactly as the run scored them, and refuses
what it cannot score."""

import dataclasses
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from flax import serialization

from fjax import cli
from fjax.data.checks import DataSettingError
from fjax.data.fraud_simulator import simulate
from fjax.datasets import read_csv
from fjax.tasks.fraud.frozen import ScoreConfig, score
from fjax.tasks.fraud.model_file import read_model
from fjax.tasks.frozen import MODEL_FILE, as_run_read, run_settings_note

TINY = ["--data.train-start", "None", "--data.top-k", "20", "--train.epochs", "2",
        "--train.batch-size", "256", "--cv", "2"]
# Test periods 14 days apart: the last one's FPR thresholds are set in advance on the first's.
APART = ["--data.step-days", "14"]
RENAMED = {"TX_AMOUNT": "amount_eur", "CUSTOMER_ID": "card"}


@pytest.fixture(scope="module")
def logistic_run(tmp_path_factory):
    """A logistic run on a user's file (its own column names), and that file."""
    folder = tmp_path_factory.mktemp("fraud_frozen")
    tx = simulate(n_customers=150, n_terminals=300, n_days=75, seed=7)
    frame = tx.to_frame().rename(columns=RENAMED)
    frame = frame.drop(columns=["TX_FRAUD_SCENARIO", "TX_TIME_SECONDS", "TX_TIME_DAYS"])
    frame.to_csv(folder / "all.csv", index=False)
    out = folder / "run"
    assert cli.main(["run", "fraud", "--out", str(out), "--data.path", str(folder / "all.csv"),
                     "--data.amount-column", "amount_eur", "--data.customer-column", "card",
                     "--model", "logistic", "--compare", "rule", *TINY, *APART]) == 0
    return out, read_csv(folder / "all.csv")


def last_period(run):
    """The run's own scores of its last test week (first seed) and that week's period row."""
    scores = read_csv(run / "scores.csv.gz")
    last = scores[(scores["period"] == scores["period"].max())
                  & (scores["seed"] == scores["seed"].min())]
    period = read_csv(run / "periods.csv").iloc[-1]
    return last, period


def window(frame, first, last, history=37, blank_scored=True):
    """The file's rows from `history` days before day `first` to day `last` (dates), the
    labels of the days from `first` on blanked (unknown when they are scored)."""
    day = pd.to_datetime(frame["TX_DATETIME"]).dt.normalize()
    first, last = pd.Timestamp(first), pd.Timestamp(last)
    out = frame[(day >= first - pd.Timedelta(days=history)) & (day <= last)].copy()
    if blank_scored:
        out.loc[day[out.index] >= first, "TX_FRAUD"] = np.nan
    return out


def score_file(run, frame, tmp_path, days=7, out="scored", **options):
    """`frame`'s last `days` days scored with `run`'s saved model into tmp_path / `out`
    (`options`: ScoreConfig's other fields, such as target)."""
    frame.to_csv(tmp_path / "tx.csv", index=False)
    return score(ScoreConfig(run=str(run), data=str(tmp_path / "tx.csv"), days=days,
                             out=str(tmp_path / out), **options))


def in_advance(thresholds, target, period):
    """thresholds.csv's row for `target` set in advance for the deployed model (logistic,
    seed 0) of test period `period`."""
    return thresholds[(thresholds["model"] == "logistic") & (thresholds["seed"] == 0)
                      & (thresholds["period"] == period) & (thresholds["target"] == target)
                      & (thresholds["set_on"] == "in advance")].iloc[0]


def test_scoring_the_last_test_week_reproduces_the_runs_scores(logistic_run, tmp_path):
    """The run's own logits of its last test week, bit for bit, from 37 days of history
    and the week's transactions with blank labels; the alerts at the saved threshold are
    the run's (thresholds.csv's alerts a day), the known compromised cards' rows the
    ones the run left out."""
    run, frame = logistic_run
    last, period = last_period(run)
    out = score_file(run, window(frame, period["test_start"], period["test_end"]), tmp_path)
    new = read_csv(out / "scores.csv")
    both = last.merge(new, on="transaction_id", suffixes=("_run", "_new"))
    assert len(both) == len(last) == period["test_tx"]
    np.testing.assert_array_equal(both["logit_new"].to_numpy(), both["logit_run"].to_numpy())
    np.testing.assert_array_equal(both["score_new"].to_numpy(), both["score_run"].to_numpy())
    assert len(new) == period["test_tx"] + period["removed_known_cards_tx"]
    assert (both["known_compromised"] == 0).all()
    assert new["known_compromised"].sum() == period["removed_known_cards_tx"]
    thresholds = read_csv(run / "thresholds.csv")
    row = in_advance(thresholds, "20 alerts a day", period["period"])
    assert read_model(run / MODEL_FILE).threshold == row["threshold"]
    assert new["alert"].sum() / 7 == pytest.approx(row["alerts_per_day"], abs=1e-12)
    facts = json.loads((out / "score.json").read_text())
    assert facts["model"] == "logistic" and facts["period"] == period["period"]
    assert "not retrained" in (out / "report.md").read_text()


def test_scoring_the_end_of_the_last_test_week_blocks_the_cards_the_run_blocked(
        logistic_run, tmp_path):
    """Scoring the last 3 days of the run's last test week marks known compromised the
    rows of cards with a fraud labelled since the deployed model's training week began
    (to delay_days + 1 days before the row), as the handbook's get_train_test_set (pandas,
    by hand) and the run removed them, not only those since 14 days before the first day
    scored: those others' cards were blocked in the run, yet drew alerts."""
    run, frame = logistic_run
    last, period = last_period(run)
    first = pd.Timestamp(period["test_end"]) - pd.Timedelta(days=2)
    out = score_file(run, window(frame, first, period["test_end"]), tmp_path, days=3)
    new = read_csv(out / "scores.csv")
    day = pd.to_datetime(frame["TX_DATETIME"]).dt.normalize()
    start = pd.Timestamp(period["train_start"])
    known = set()
    for d in pd.date_range(start, first - pd.Timedelta(days=8)):   # labelled by `first`
        known |= set(frame["card"][(day == d) & (frame["TX_FRAUD"] == 1)])
    blocked = set()
    for d in pd.date_range(first, period["test_end"]):
        known |= set(frame["card"][(day == d - pd.Timedelta(days=8))
                                   & (frame["TX_FRAUD"] == 1)])
        rows = (day == d) & frame["card"].isin(known)
        blocked |= set(frame["TRANSACTION_ID"][rows])
    assert set(new["transaction_id"][new["known_compromised"] == 1]) == blocked
    kept = last[pd.to_datetime(last["date"]) >= first]
    assert set(new["transaction_id"][new["known_compromised"] == 0]) == set(
        kept["transaction_id"])


def test_an_operating_point_set_in_advance_chosen_at_scoring_time(logistic_run, tmp_path):
    """--target alerts at another threshold the run set in advance for the deployed model
    (thresholds.csv's row for its seed and period, set on an earlier test week's labels,
    not on the days scored): on the run's last test week it flags the share of legitimate
    transactions thresholds.csv measured, and it is the lowest threshold flagging at most
    1% of the source week's legitimate transactions (scikit-learn's ROC corners)."""
    from sklearn.metrics import roc_curve
    run, frame = logistic_run
    last, period = last_period(run)
    thresholds = read_csv(run / "thresholds.csv")
    row = in_advance(thresholds, "FPR 1%", period["period"])
    assert row["set_on_stage"] == "test" and row["set_on_period"] < period["period"]
    scores = read_csv(run / "scores.csv.gz")
    source = scores[(scores["period"] == row["set_on_period"]) & (scores["seed"] == 0)]
    fpr, _, cut = roc_curve(source["fraud"], source["logit"], drop_intermediate=False)
    assert row["threshold"] == cut[fpr <= 0.01].min()
    frame = window(frame, period["test_start"], period["test_end"])
    out = score_file(run, frame, tmp_path, target="FPR 1%")
    new = read_csv(out / "scores.csv")
    alert = (new["logit"] >= row["threshold"]) & (new["known_compromised"] == 0)
    np.testing.assert_array_equal(new["alert"].to_numpy(), alert.astype(int).to_numpy())
    both = last.merge(new, on="transaction_id")
    legit = both["fraud"] == 0
    assert (both["alert"][legit] == 1).mean() == pytest.approx(row["fpr"], abs=1e-12)
    facts = json.loads((out / "score.json").read_text())
    assert facts["target"] == "FPR 1%" and facts["threshold"] == row["threshold"]
    assert "FPR 1%" in (out / "report.md").read_text()
    with pytest.raises(ValueError, match="'FPR 5%'.*FPR 1%"):
        score_file(run, frame, tmp_path, out="other", target="FPR 5%")
    # A model file saved before operating points (no such key): its alert budget only.
    old = tmp_path / "old_run"
    shutil.copytree(run, old)
    saved = serialization.msgpack_restore((run / MODEL_FILE).read_bytes())
    del saved["operating_points"]
    (old / MODEL_FILE).write_bytes(serialization.msgpack_serialize(saved))
    assert read_model(old / MODEL_FILE).threshold == read_model(run / MODEL_FILE).threshold
    budget = score_file(old, frame, tmp_path, out="budget")
    assert read_csv(budget / "scores.csv")["alert"].sum() / 7 == pytest.approx(
        in_advance(thresholds, "20 alerts a day", period["period"])["alerts_per_day"],
        abs=1e-12)
    with pytest.raises(ValueError, match="'FPR 1%'.*it set: '20 alerts a day' "):
        score_file(old, frame, tmp_path, out="other", target="FPR 1%")


def test_the_scores_psi_against_the_training_weeks_scores(logistic_run, tmp_path):
    """`fjax score fraud` reported no drift; the model file now holds the deployed model's
    raw scores of its training week (the same logits `fjax score fraud` gives that week's
    transactions), and score.json / report.md give the new scores' PSI against them
    (stability.psi by hand), with the chance level and its reading."""
    from fjax.stability import psi, psi_chance, psi_verdict
    run, frame = logistic_run
    last, period = last_period(run)
    saved = read_model(run / MODEL_FILE).train_scores
    (tmp_path / "train").mkdir()
    week = score_file(run, window(frame, period["train_start"], period["train_end"]),
                      tmp_path / "train")
    np.testing.assert_array_equal(np.sort(saved),
                                  np.sort(read_csv(week / "scores.csv")["logit"]))
    out = score_file(run, window(frame, period["test_start"], period["test_end"]), tmp_path)
    new = read_csv(out / "scores.csv")["logit"].to_numpy()
    facts = json.loads((out / "score.json").read_text())
    assert facts["psi_vs_training"] == pytest.approx(psi(saved, new), rel=1e-12)
    assert facts["psi_chance_95"] == psi_chance(saved, len(new))
    assert (f"{facts['psi_vs_training']:.3f}; "
            f"{psi_verdict(psi(saved, new), psi_chance(saved, len(new)))}."
            ) in (out / "report.md").read_text()


def hand_features(frame, i):
    """The handbook's 15 features of row `i` of a time-ordered file, by hand: the card's
    rows in (t - w days, t] up to row i, the terminal's in (t - 7 - w days, t - 7 days]."""
    t = pd.to_datetime(frame["TX_DATETIME"])
    now, card, terminal = t.iloc[i], frame["card"].iloc[i], frame["TERMINAL_ID"].iloc[i]
    out = [frame["amount_eur"].iloc[i], float(now.weekday() >= 5), float(now.hour <= 6)]
    upto = frame.index <= frame.index[i]
    for w in (1, 7, 30):
        own = frame[upto & (frame["card"] == card) & (t > now - pd.Timedelta(days=w))
                    & (t <= now)]
        out += [len(own), own["amount_eur"].mean()]
    for w in (1, 7, 30):
        seen = frame[(frame["TERMINAL_ID"] == terminal) & (t > now - pd.Timedelta(days=7 + w))
                     & (t <= now - pd.Timedelta(days=7))]
        out += [len(seen), seen["TX_FRAUD"].mean() if len(seen) else 0.0]
    return np.array(out, np.float64)


def test_a_logistic_score_by_hand_from_the_saved_parameters(logistic_run, tmp_path):
    """Features counted by hand in pandas, scaled by the saved scaler, times the saved
    weights: the scored logit to float32 rounding. The scaler's TX_AMOUNT mean is the
    mean amount of the last training week (the deployed model's; float32 amounts), not
    another's."""
    run, frame = logistic_run
    _, period = last_period(run)
    part = window(frame, period["test_start"], period["test_end"]).reset_index(drop=True)
    new = read_csv(score_file(run, part, tmp_path) / "scores.csv")
    model = read_model(run / MODEL_FILE)
    day = pd.to_datetime(frame["TX_DATETIME"]).dt.normalize()
    week = frame[(day >= period["train_start"]) & (day <= period["train_end"])]
    assert model.scaler.offset[0] == pytest.approx(week["amount_eur"].mean(), rel=1e-6)
    dense = model.params["params"]["dense"]
    kernel, bias = (np.asarray(dense[k], np.float64) for k in ("kernel", "bias"))
    ids = part["TRANSACTION_ID"].to_numpy()
    for tid in new["transaction_id"].iloc[::97]:
        i = int(np.nonzero(ids == tid)[0][0])
        x = (hand_features(part, i) - model.scaler.offset) / model.scaler.scale
        logit = float(x @ kernel[:, 0] + bias[0])
        got = new.loc[new["transaction_id"] == tid, "logit"].iloc[0]
        assert got == pytest.approx(logit, rel=1e-5, abs=1e-5)


def test_refuses_a_run_without_a_saved_model(logistic_run, tmp_path):
    run, frame = logistic_run
    older = tmp_path / "older"
    shutil.copytree(run, older)
    (older / MODEL_FILE).unlink()
    with pytest.raises(ValueError, match=r"has no saved model \(model.msgpack\).*"
                                         r"fjax run fraud --config"):
        score_file(older, frame, tmp_path)


def test_refuses_a_file_without_the_runs_columns(logistic_run, tmp_path):
    run, frame = logistic_run
    with pytest.raises(ValueError, match=r"--data .*tx.csv lacks the column\(s\) "
                                         r"terminal -> 'TERMINAL_ID'"):
        score_file(run, frame.drop(columns="TERMINAL_ID"), tmp_path)


def test_a_refusal_that_names_a_data_option_says_the_score_reads_the_runs(logistic_run,
                                                                           tmp_path):
    """`fjax score fraud` has no --data.* options: a file refused with a run's fix
    (--data.amount-column) says the run's column settings read it, changed by a new run,
    and nothing is written."""
    run, frame = logistic_run
    with pytest.raises(ValueError, match=r"lacks the column\(s\) amount -> 'amount_eur'.*"
                       r"--data.amount-column MY_AMOUNT .*\(the saved model reads '.*tx.csv' "
                       r"with its run's data settings: changing them takes a new "
                       r"`fjax run fraud`\)$"):
        score_file(run, frame.drop(columns="amount_eur"), tmp_path)
    assert not (tmp_path / "scored").exists()


def test_refuses_a_file_without_card_ids(logistic_run, tmp_path, monkeypatch):
    """Without both id columns a file reads as one card per transaction (a run may train
    on it), which the run's card and terminal windows cannot score: refused from the
    header, before the file is loaded."""
    run, frame = logistic_run

    def unread(path):
        raise AssertionError(f"{path} loaded before its header was judged")

    monkeypatch.setattr("fjax.tasks.fraud.frozen.read_table", unread)
    with pytest.raises(ValueError, match=r"--data .*tx.csv has no card ids \(data."
                                         r"customer_column 'card'\) nor terminal ids: `fjax "
                                         r"score fraud` scores a run trained on"):
        score_file(run, frame.drop(columns=["card", "TERMINAL_ID"]), tmp_path)
    # refused as such before its rows are read: not as a column that counts the rows, which
    # would matter only to a run on it
    counted = frame.drop(columns=["card", "TERMINAL_ID"]).assign(row=np.arange(len(frame)))
    with pytest.raises(ValueError, match=r"has no card ids"):
        score_file(run, counted, tmp_path)


def test_refuses_too_little_history(logistic_run, tmp_path):
    """36 days before the week scored: the terminal windows behind the delay read 37."""
    run, frame = logistic_run
    _, period = last_period(run)
    short = window(frame, period["test_start"], period["test_end"], history=36)
    with pytest.raises(ValueError, match=r"holds 36 day\(s\) before the first day scored "
                                         r".*but the features read 37.*give the "
                                         r"transactions of the 37 days before it"):
        score_file(run, short, tmp_path)


def test_refuses_blank_labels_that_terminal_risk_reads(logistic_run, tmp_path):
    """Scoring 8 days with the last 8 unlabelled: the first one's labels are 7 days old
    for the last day's terminal risk."""
    run, frame = logistic_run
    _, period = last_period(run)
    start = pd.Timestamp(period["test_start"]) - pd.Timedelta(days=1)
    part = window(frame, start, period["test_end"])
    with pytest.raises(ValueError, match=r"column 'TX_FRAUD' \(label\) of --data .* has \d+ "
                                         r"blank label\(s\) .*fill them"):
        score_file(run, part, tmp_path, days=8)


def test_a_sequence_model_with_the_users_columns_reproduces_the_run(tmp_path):
    """A gru reading each card's last 3 transactions, with a numeric and a categorical
    column of the user's (one-hot by the last training week's encoder): 37 days of history
    are refused (a sequence reads an earlier row whose own windows need more; unchecked,
    logits came out up to 0.12 off), and with the days the message asks for, the run's
    own logits of its last test week, bit for bit."""
    tx = simulate(n_customers=120, n_terminals=240, n_days=70, seed=3)
    frame = tx.to_frame().drop(columns=["TX_FRAUD_SCENARIO", "TX_TIME_SECONDS",
                                        "TX_TIME_DAYS"])
    rng = np.random.default_rng(0)
    frame["channel"] = rng.choice(["web", "pos", "atm"], len(frame))
    frame["risk"] = rng.normal(size=len(frame)).round(3)
    frame.to_csv(tmp_path / "all.csv", index=False)
    run = tmp_path / "run"
    assert cli.main(["run", "fraud", "--out", str(run), "--data.path", str(tmp_path / "all.csv"),
                     "--data.features", "channel", "risk", "--data.categorical", "channel",
                     "--model", "gru", "--data.history", "3", "--compare", "rule",
                     *TINY]) == 0
    last, period = last_period(run)
    frame = frame.rename(columns=RENAMED)   # `window` reads the file's dates only

    def part(history):
        return window(frame, period["test_start"], period["test_end"], history).rename(
            columns={v: k for k, v in RENAMED.items()})

    with pytest.raises(ValueError, match=r"the gru model reads each card's last 3 "
                                         r"transactions \(data.history\).*give the "
                                         r"transactions of the (\d+) day") as refused:
        score_file(run, part(37), tmp_path)
    more = int(re.search(r"of the (\d+) day", str(refused.value)).group(1))
    new = read_csv(score_file(run, part(37 + more), tmp_path) / "scores.csv")
    both = last.merge(new, on="transaction_id", suffixes=("_run", "_new"))
    assert len(both) == len(last) and read_model(run / MODEL_FILE).encoder is not None
    np.testing.assert_array_equal(both["logit_new"].to_numpy(), both["logit_run"].to_numpy())


def test_the_saved_models_operating_point_is_one_lookup():
    """`SavedModel.point` is the one lookup of a saved threshold: its budget (no target) is
    the `threshold` the model file writes and `fjax score fraud` alerts at by default; a
    named target is its own row, and one the run set none for is refused."""
    from fjax.tasks.fraud import Config
    from fjax.tasks.fraud.model_file import SavedModel
    points = {"FPR 1%": {"threshold": 2.5}, "7 alerts a day": {"threshold": -0.25}}
    config = dataclasses.replace(Config(), data=dataclasses.replace(Config().data, top_k=7))
    model = SavedModel(config=config, model_config=config, period=0, seed=0, names=(),
                       scaler=None, encoder=None, params={}, train_scores=np.zeros(0),
                       operating_points=points)
    assert model.point() == ("7 alerts a day", {"threshold": -0.25})
    assert model.threshold == -0.25
    assert model.point("FPR 1%") == ("FPR 1%", {"threshold": 2.5})
    with pytest.raises(ValueError, match="'FPR 5%'.*it set: 'FPR 1%', '7 alerts a day' "):
        model.point("FPR 5%")
    none = SavedModel(config=config, model_config=config, period=0, seed=0, names=(),
                      scaler=None, encoder=None, params={}, train_scores=np.zeros(0))
    assert none.point() == ("7 alerts a day", None) and none.threshold is None


def test_every_score_reader_refusal_naming_a_data_setting_says_the_run_sets_it():
    """A reader's refusal whose fix is a run's data setting (a `DataSettingError`), as a
    flag (--data.*) or as a field (numeric_values' "or list it in data.categorical", which
    fraud's user feature columns reach as credit's do) gets the note that `fjax score`
    cannot change it; any other refusal passes unchanged, whatever names it quotes."""
    def refusing(message, kind=ValueError):
        def read():
            raise kind(message)
        return read

    for named in ("name yours with e.g. `--data.amount-column MY_AMOUNT`",
                  "mark them missing, or list 'x' in data.categorical"):
        with pytest.raises(ValueError) as refused:
            as_run_read(refusing(named, DataSettingError), "'tx.csv'", "fraud")
        assert str(refused.value) == named + run_settings_note("'tx.csv'", "fraud")
        assert str(refused.value).endswith("takes a new `fjax run fraud`)")
    # a file's or a column's name is no setting: its refusal's fix is in the file
    for plain, source in (("scores must be finite", "'tx.csv'"),
                          ("--data 'data.csv' lacks the column(s) ['age']", "'data.csv'"),
                          ("--data '/home/me/new_data.csv' lacks 'age'", "'other.csv'"),
                          ("--data 'data.csv' lacks 'age'", "'other.csv'"),
                          # as fraud's from_frame names it, unquoted
                          ("--data data.csv lacks the column(s) amount", "'data.csv'"),
                          ("column 'price' is not numeric (first at row 3 (data.date "
                           "'2020-01-04'): 'abc'); clean the column", "'new.csv'")):
        with pytest.raises(ValueError) as refused:
            as_run_read(refusing(plain), source, "fraud")
        assert str(refused.value) == plain
    assert as_run_read(lambda: 3, "'tx.csv'", "fraud") == 3
