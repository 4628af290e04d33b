"""Credit's out-of-time test (data.date_column): the latest applicants are held out of
everything the model is chosen and fitted on, and scored once."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from fjax import cli
from fjax.config import TrainConfig
from fjax.datasets import load_dataset
from fjax.stability import psi_chance, psi_verdict
from fjax.tasks.credit import Config, CreditDataConfig, run
from fjax.tasks.credit.data import load

N = 200


def loan_book(tmp_path, name="loans.csv", **changes):
    """German credit applicants with application dates over 200 days (one a day)."""
    frame = load_dataset("german_credit").sample(N, random_state=1).reset_index(drop=True)
    frame.insert(0, "applied", pd.date_range("2023-01-01", periods=N, freq="D").astype(str))
    for column, values in changes.items():
        frame[column] = values
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def config(path, **data):
    """A small run of the file at `path`, written beside it (not in the shared runs/credit,
    which parallel test workers would replace under each other)."""
    return Config(data=CreditDataConfig(path=str(path), date_column="applied", **data),
                  out=str(Path(path).parent / "run"),
                  sweep=Config().sweep.__class__(folds=3),
                  train=TrainConfig(epochs=3, batch_size=64, restore_best=False))


def test_the_latest_applicants_are_held_out_by_whole_dates(tmp_path):
    data = load(config(loan_book(tmp_path)))
    assert len(data.frame) == 160 and len(data.later) == 40
    assert data.frame["applied"].max() < data.later["applied"].min()
    assert data.date_spans == {"earlier": ["2023-01-01", "2023-06-09"],
                               "later": ["2023-06-10", "2023-07-19"]}
    assert "applied" not in data.schema.features and data.folds.n == 160
    # Ties on the cut date stay together, on the earlier side.
    dates = pd.date_range("2023-01-01", periods=N, freq="D").astype(str).to_numpy()
    dates[155:170] = "2023-06-05"
    data = load(config(loan_book(tmp_path, applied=dates)))
    assert len(data.later) == 30 and (data.later["applied"] > "2023-06-05").all()


def test_the_later_applicants_never_reach_cross_validation_or_the_final_model(tmp_path):
    """Flipping every later label changes nothing but the out-of-time figures; those
    recompute from out_of_time_scores.csv (scikit-learn's AUC, the cost by hand)."""
    first = run(config(loan_book(tmp_path)), progress=False)
    frame = pd.read_csv(loan_book(tmp_path))
    flipped = frame["creditability"].where(frame.index < 160, frame["creditability"].map(
        {"good": "bad", "bad": "good"}))
    cfg = dataclasses.replace(config(loan_book(tmp_path, "flipped.csv", creditability=flipped)),
                              out=str(tmp_path / "flipped"))
    second = run(cfg, progress=False)
    for name in ("scores.csv", "cv_table.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(first / name), pd.read_csv(second / name))
    one, two = (json.loads((p / "metrics.json").read_text()) for p in (first, second))
    assert one["cv"] == two["cv"] and one["decision"] == two["decision"]
    late = pd.read_csv(first / "out_of_time_scores.csv")
    assert len(late) == 40 and list(late.columns[:3]) == ["applicant", "creditability", "applied"]
    bad = (late["creditability"] == "bad").to_numpy()
    oot = one["out_of_time"]["later"]
    assert oot["auc"] == pytest.approx(roc_auc_score(bad, late["pd"]), abs=1e-6)
    # DeLong's 95% interval of the later AUC, from every (bad, good) pair.
    pos, neg = late["pd"][bad].to_numpy(), late["pd"][~bad].to_numpy()
    kernel = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    se = np.sqrt(kernel.mean(axis=1).var(ddof=1) / len(pos)
                 + kernel.mean(axis=0).var(ddof=1) / len(neg))
    auc = roc_auc_score(bad, late["pd"])
    assert oot["auc_95"] == pytest.approx([auc - 1.959964 * se, min(1, auc + 1.959964 * se)],
                                          abs=1e-5)
    assert two["out_of_time"]["later"]["auc"] == pytest.approx(1 - oot["auc"], abs=1e-6)
    t = one["decision"]["threshold"]
    reject = late["pd"] >= t
    cost = (5 * np.sum(bad & ~reject) + 1 * np.sum(~bad & reject)) / 40
    assert oot["cost_per_applicant"] == pytest.approx(cost)
    assert oot["bad_rate"] == pytest.approx(bad.mean())
    report = (first / "report.md").read_text()
    assert "## Out-of-time test" in report and "2023-06-10 to 2023-07-19" in report
    low, high = oot["auc_95"]
    assert f"{low:.3f} to {high:.3f}" in report
    low, high = one["cv"]["pooled_out_of_fold"]["auc_95"]
    assert f"95% interval {low:.3f} to {high:.3f} (DeLong" in report
    assert "(20%, whole days)" in report and one["out_of_time"]["share"] == 0.2
    assert "refit on every applicant before the out-of-time span" in report
    # Its PSI judged against what 40 of the earlier applicants reach by chance.
    shift = one["out_of_time"]
    earlier = pd.read_csv(first / "scores.csv")["score"].to_numpy()
    assert shift["psi_chance_95"] == psi_chance(earlier, 40)
    assert f"{shift['psi']:.3f} ({psi_verdict(shift['psi'], shift['psi_chance_95'])})" in report
    labels = pd.read_csv(loan_book(tmp_path))["creditability"]
    bads, later_bads = int((labels == "bad").sum()), int((labels[160:] == "bad").sum())
    assert (f"Data: {N} labelled rows read ({bads} bad, {N - bads} good); the latest 40 "
            f"({later_bads} bad) held out as the out-of-time test; none dropped (a missing "
            "label is refused). 3-fold cross-validation on 160: validation folds") in report


@pytest.mark.parametrize("change, data, match", [
    ({"applied": None}, {}, r"'applied' \(data.date_column\) .*200 missing dates"),
    ({"applied": np.arange(N)}, {}, r"'applied' \(data.date_column\) .*holds numbers"),
    ({"applied": ["2023-01-01"] * 150 + ["2023-02-01"] * 50}, {"out_of_time": 0.1},
     r"latest 0.1 .*all fall on its last date \(2023-02-01\).*larger --data.out-of-time"),
    ({}, {"date_column": "when"}, r"no column 'when' \(data.date_column\)"),
])
def test_bad_dates_are_named_before_anything_is_written(tmp_path, change, data, match):
    path = loan_book(tmp_path, **change)
    cfg = dataclasses.replace(config(path), data=dataclasses.replace(
        config(path).data, **data))
    with pytest.raises(ValueError, match=match):
        load(cfg)


def test_the_date_column_cannot_hold_another_role():
    with pytest.raises(ValueError, match=r"date_column.*also data.target"):
        CreditDataConfig(target="applied", date_column="applied")
    with pytest.raises(ValueError, match=r"out_of_time.*\(0, 1\)"):
        CreditDataConfig(out_of_time=1.0)


def test_text_in_a_later_applicants_age_is_named_as_a_later_applicants(tmp_path):
    """The age check read every row before the later rows' own check, so text in a held-out
    age lost the words saying it is one of the later applicants."""
    ages = load_dataset("german_credit").sample(N, random_state=1)["age_in_years"]
    ages = ages.astype(object).to_numpy().copy()
    ages[195] = "abc"
    path = loan_book(tmp_path, age_in_years=ages)
    with pytest.raises(ValueError, match=r"^the later applicants \(data.date_column\) of "
                                         r".*'age_in_years' has non-numeric text 'abc'"):
        load(config(path))


def test_the_cli_takes_a_date_column(tmp_path, capsys):
    out = tmp_path / "cli"
    assert cli.main(["run", "credit", "--data.path", str(loan_book(tmp_path)),
                     "--data.date-column", "applied", "--data.out-of-time", "0.25", "--cv", "3",
                     "--train.epochs", "2", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["out_of_time"]["later"]["applicants"] == 50


def test_column_roles_come_from_the_earlier_applicants_only(tmp_path):
    """A field only the later applicants hold would reach the model unscaled (a review:
    its raw values became top reason codes); it is refused as missing in training."""
    score = np.r_[np.full(160, np.nan), np.linspace(500, 800, 40)]
    with pytest.raises(ValueError, match="column 'bureau' is entirely missing"):
        load(config(loan_book(tmp_path, bureau=score)))
    text = np.r_[np.arange(160.0) % 7, ["unknown"] * 40].astype(object)
    with pytest.raises(ValueError, match=r"the later applicants \(data.date_column\).*'text'"):
        load(config(loan_book(tmp_path, text=text)))


def test_a_bad_value_is_named_by_its_row_in_the_file(tmp_path):
    """The earlier and later applicants were renumbered from 0 before their checks, so a
    bad value was named by its row in its part: file row 170 (the 11th later applicant)
    as 'row 10'; with the newest applicants first, file row 190 as 'row 150'."""
    amount = (np.arange(N) * 37 % 101 * 50 + 250).astype(object)
    amount[170] = "inf"
    with pytest.raises(ValueError, match=r"later applicants.*'credit_amount' has an infinite "
                                         r"value at row 170;"):
        load(config(loan_book(tmp_path, credit_amount=amount)))
    newest_first = pd.date_range("2023-01-01", periods=N, freq="D").astype(str).to_numpy()[::-1]
    amount[170], amount[190] = 1, "abc"
    with pytest.raises(ValueError, match=r"'abc' in 1 row\(s\) \(first at row 190\)"):
        load(config(loan_book(tmp_path, applied=newest_first, credit_amount=amount)))
    labels = load_dataset("german_credit")["creditability"].astype(str).to_numpy()[:N].copy()
    labels[190] = None
    with pytest.raises(ValueError, match=r"'creditability' \(data.target\) of data.path .* is "
                                         r"blank in 1 row\(s\) \(first at row 190"):
        load(config(loan_book(tmp_path, applied=newest_first, creditability=labels)))


def test_blank_labels_on_later_applicants_name_the_file_dates_and_fix(tmp_path, capsys):
    """Applicants whose outcome is not known yet, at the end of the book, were refused
    with "target column 'creditability' is missing in 40 row(s)", naming neither the file
    (data.path) nor the dates, nor how to score such applicants."""
    labels = load_dataset("german_credit")["creditability"].astype(str).to_numpy()[:N].copy()
    labels[160:] = None
    path = loan_book(tmp_path, creditability=labels)
    out = tmp_path / "run"
    assert cli.main(["run", "credit", "--data.path", str(path), "--data.date-column",
                     "applied", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert (f"'creditability' (data.target) of data.path {str(path)!r} is blank in 40 row(s) "
            "(first at row 160, dated 2023-06-10 to 2023-07-19 by data.date_column 'applied'; "
            "40 of them among the later applicants held out") in err
    assert "--data.score-path" in err and not out.exists()


@pytest.mark.parametrize("bads, cv, match", [
    ([170, 180], 3, r"'creditability' holds only 'good' among the 160 earlier applicants \(the "
                    r"40 from 2023-06-10 on are held out by data.date_column\): every 'bad' is "
                    r"held out.*hold out fewer \(--data.out-of-time\)"),
    ([5, 170], 2, r"only 1 positive row\(s\) among the 160 earlier applicants .*fewer than the 2 "
                  r"cross-validation folds; cross-validation needs at least 2 of each class "
                  r"\(--cv 2\), hold out fewer \(--data.out-of-time\), or add data"),
    ([5, 6, 170], 3, r"only 2 positive row\(s\) among the 160 earlier.*use --cv 2 or fewer"),
])
def test_too_few_bads_among_the_earlier_applicants_say_so(tmp_path, bads, cv, match):
    """All bads held out was refused as 'target column must have exactly two classes,
    found 1: good' (the file has two); one bad among the earlier ones for 2 folds
    suggested '--cv 2 or fewer folds', the setting that failed."""
    labels = np.full(N, "good", dtype=object)
    labels[bads] = "bad"
    cfg = config(loan_book(tmp_path, creditability=labels))
    with pytest.raises(ValueError, match=match):
        load(dataclasses.replace(cfg, sweep=dataclasses.replace(cfg.sweep, folds=cv)))


def test_bads_spelled_two_ways_all_held_out_are_named_as_one_class(tmp_path):
    """Bads written "1" and "1.0" (text), every one held out: the check of the earlier
    applicants' classes counted three classes in the file and let the target check say
    'found 1'; it reads labels as training and scoring do (`label_classes`)."""
    labels = np.full(N, "0", dtype=object)
    labels[[170, 180]] = ["1", "1.0"]
    frame = pd.read_csv(loan_book(tmp_path)).assign(creditability=labels)
    frame.to_parquet(tmp_path / "loans.parquet")   # text: a CSV's would read as numbers
    with pytest.raises(ValueError, match=r"holds only '0' among the 160 earlier applicants "
                                         r".*every '1' is held out"):
        load(config(tmp_path / "loans.parquet", positive="1"))


def test_no_feature_left_names_every_setting_that_leaves_columns_out(tmp_path):
    """The columns left were the date and protected ones, yet the error named only the
    target, the id and data.drop."""
    frame = pd.DataFrame({"applied": pd.date_range("2023-01-01", periods=20).astype(str),
                          "sex": ["f", "m"] * 10, "creditability": ["bad"] * 5 + ["good"] * 15})
    frame.to_csv(tmp_path / "two.csv", index=False)
    with pytest.raises(ValueError, match=r"no feature columns are left: .*the id or left out "
                                         r"\(data.drop, data.protected, data.date_column\)"):
        load(dataclasses.replace(config(tmp_path / "two.csv", protected=("sex",)),
                                 sweep=Config().sweep.__class__(folds=2)))


def test_applicants_keep_their_file_row_and_days_are_never_split(tmp_path):
    """Sorted by date for the split, each applicant is still numbered by its row in the
    file; applicants four hours apart are held out by whole days."""
    order = np.random.default_rng(0).permutation(N)
    path = loan_book(tmp_path)
    shuffled = pd.read_csv(path).iloc[order].reset_index(drop=True)
    shuffled.to_csv(path, index=False)
    data = load(config(path))
    np.testing.assert_array_equal(shuffled["applied"].to_numpy()[data.ids], data.frame["applied"])
    np.testing.assert_array_equal(shuffled["applied"].to_numpy()[data.later_ids],
                                  data.later["applied"])
    assert len(set(data.ids) | set(data.later_ids)) == N
    hours = pd.date_range("2023-01-01", periods=N, freq="4h").astype(str)
    data = load(config(loan_book(tmp_path, applied=hours)))
    assert data.date_spans["earlier"][1] < data.date_spans["later"][0]
    assert (pd.to_datetime(data.later["applied"]).dt.normalize()
            > pd.to_datetime(data.frame["applied"]).max()).all()


def test_later_applicants_with_earlier_rows_are_counted(tmp_path):
    ids = np.r_[np.arange(160), np.arange(30), np.arange(1000, 1010)]
    data = load(config(loan_book(tmp_path, loan_id=ids), id_column="loan_id"))
    assert data.later_seen_earlier == 30 and data.repeated_ids == 0


def test_a_share_without_a_date_column_is_refused():
    with pytest.raises(ValueError, match=r"out_of_time is 0.3, but no data.date_column"):
        CreditDataConfig(out_of_time=0.3)


def test_categories_only_later_applicants_hold_are_counted(tmp_path):
    frame = pd.read_csv(loan_book(tmp_path))
    purpose = frame["purpose"].where(frame.index < 170, "crypto mining")
    path = run(config(loan_book(tmp_path, "new_purpose.csv", purpose=purpose)), progress=False)
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["out_of_time"]["unseen_values"] == {"purpose": 30}
    assert "purpose 30. The model has learned nothing" in (path / "report.md").read_text()


def test_the_ks_plot_shows_the_reported_ks(tmp_path, monkeypatch):
    """ks.png's KS is the report's, of the out-of-fold PD before calibration: the
    cross-fitted calibrated PDs (one calibrator per fold) rank differently."""
    from types import SimpleNamespace

    from fjax.intervals import rank_ks
    from fjax.report import plots
    from fjax.report.files import RunDir
    from fjax.tasks.credit.report import write_plots
    drawn = {}
    monkeypatch.setattr(plots, "ks_curve", lambda s, y, path, **kw: drawn.update(s=s, y=y))
    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.3).astype(np.float64)
    pd_raw = np.clip(0.3 + 0.2 * (y - 0.3) + 0.2 * rng.normal(size=200), 0.01, 0.99)
    fold = np.arange(200) % 2
    calibrated = np.where(fold == 0, pd_raw, 1 - pd_raw)   # fold 1's calibrator reversed
    oof = SimpleNamespace(pd_raw=pd_raw, pd=calibrated, fold=fold)
    history = [{"epoch": 1, "loss": np.ones(2), "val_loss": np.ones(2)}]
    write_plots(RunDir(tmp_path), y, oof, pd_raw, history, np.arange(2), True)
    s, cum_neg, cum_pos, i = plots.ks_points(drawn["s"], drawn["y"])
    assert abs(cum_pos[i] - cum_neg[i]) == pytest.approx(rank_ks(pd_raw, y), abs=1e-12)
    assert rank_ks(calibrated, y) != pytest.approx(rank_ks(pd_raw, y), abs=1e-3)


def test_daily_dates_written_with_their_offsets_split_on_their_written_dates():
    """London midnights across its spring change (+00:00, then +01:00), as a tz-aware
    system exports them: read as UTC, 31 March fell on 30 March (23:00) and the split held
    out three of the latest four dates. The split now reads the written dates."""
    from fjax.tasks.credit.data import out_of_time
    days = pd.date_range("2025-03-27", periods=8, freq="D", tz="Europe/London")
    frame = pd.DataFrame({"applied": [d.isoformat() for d in days]})
    later, spans, _ = out_of_time(frame, "applied", 0.5, "t")
    dates = [d.date() for d in days]
    cut = sorted(dates)[3]                                        # the 4th of 8: half held out
    assert later.tolist() == [d > cut for d in dates]
    assert spans == {"earlier": [str(dates[0]), str(cut)],
                     "later": [str(min(d for d in dates if d > cut)), str(dates[-1])]}


def test_the_later_applicants_pds_are_tested_by_band(tmp_path, gains_by_hand):
    """The out-of-time sample gets the gains table the cross-validation gets: the later
    applicants' deployed PDs by decile (out_of_time_gains.csv), each band's binomial test
    and the Hosmer-Lemeshow statistic over as many bands, in metrics.json and the report.
    Oracle: pandas' qcut of out_of_time_scores.csv's PDs, scipy's binomial test, the
    statistic by hand. Its 40 applicants, 4 a band, expect under 5 bads and under 5 goods
    in every band: too few for HL's chi-squared p-value (Cochran's rule). Pooled (adjacent
    bands) until they meet it, they are under 3, too few for HL, so neither a p-value nor a
    verdict is given, and the report says why."""
    path = run(config(loan_book(tmp_path)), progress=False)
    later = pd.read_csv(path / "out_of_time_scores.csv")
    pd_, y = later["pd"].to_numpy(), (later["creditability"] == "bad").to_numpy()
    want, _, cells = gains_by_hand(pd_, y)
    got = pd.read_csv(path / "out_of_time_gains.csv")
    pd.testing.assert_frame_equal(got[want.columns], want, check_dtype=False, rtol=1e-9)
    want["expected"] = want["applicants"] * want["mean_pd"]
    hl = json.loads((path / "metrics.json").read_text())["out_of_time"]["later"][
        "hosmer_lemeshow"]
    groups = hl["pooled"]
    assert [b for g in groups for b in g] == list(range(1, 11)) and len(groups) < 3
    e, n, o = (np.array([want[c][[b - 1 for b in g]].sum() for g in groups]) for c in
               ("expected", "applicants", "bads"))
    assert hl["statistic"] == pytest.approx(np.sum((o - e) ** 2 / (e * (1 - e / n))), rel=1e-9)
    assert hl["dof"] == len(groups) and (cells < 5).all() and hl["p_value"] is None
    assert hl["too_few"].startswith(
        f"40 applicants ({int(y.sum())} bad(s)) in 10 bands expect 5 or more bads or goods "
        f"in 0 of the 20 cells and under 1 in {int((cells < 1).sum())};")
    section = (path / "report.md").read_text().split("## Out-of-time test")[1]
    assert "out_of_time_gains.csv" in section
    assert ("Hosmer-Lemeshow: no p-value and no verdict on calibration, too few applicants: "
            + hl["too_few"]) in section
    assert "calibration is not rejected" not in section


def test_blank_labels_in_a_file_of_several_offsets_read_its_dates_once(tmp_path):
    """The blank-label check parsed the date column again, under another name ('applied',
    not the file's column), so a file whose dates carry several UTC offsets was warned
    twice, the second time without the file. It now takes the out-of-time split's dates:
    one warning, naming the file, and the blank rows dated as that split read them."""
    labels = load_dataset("german_credit")["creditability"].astype(str).to_numpy()[:N].copy()
    labels[160:] = None
    days = pd.date_range("2023-01-01 12:00", periods=N, freq="D")
    applied = [f"{d:%Y-%m-%d %H:%M}{'+00:00' if i < 100 else '+01:00'}"
               for i, d in enumerate(days)]
    path = loan_book(tmp_path, applied=applied, creditability=labels)
    with pytest.warns(UserWarning) as warned, \
            pytest.raises(ValueError, match=r"blank in 40 row\(s\) \(first at row 160, dated "
                                            r"2023-06-10 to 2023-07-19 by data.date_column"):
        load(config(path))
    offsets = [str(w.message) for w in warned if "offset" in str(w.message)]
    assert len(offsets) == 1 and str(path) in offsets[0]
