"""Age in the score (data.age_column): the final model must not score applicants of 62
or more under the most favoured age below 62 (US Regulation B); the run checks it."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from fjax.config import TrainConfig
from fjax.datasets import load_dataset
from fjax.scorecard import ScoreScale
from fjax.tasks.credit import Config, CreditDataConfig, run
from fjax.tasks.credit import age as age_module
from fjax.tasks.credit.age import age_check, age_grid
from fjax.tasks.credit.data import full_design, load
from fjax.tasks.credit.final import FinalModel, points_table
from fjax.tasks.credit.report import age_lines, age_warning
from fjax.tasks.credit.run import report_notes

AGE = "age_in_years"


def quick(data: CreditDataConfig) -> Config:
    return Config(data=data, sweep=Config().sweep.__class__(folds=3),
                  train=TrainConfig(epochs=3, batch_size=64, restore_best=False))


def hand_set(cfg: Config, weight: float) -> FinalModel:
    """A logistic scorecard of the German data whose only weight is `weight` on age."""
    data = load(cfg)
    encoder, x, shape = full_design(cfg, data)
    kernel = np.zeros((shape.width, 1), np.float32)
    kernel[np.array(encoder.num_attributes) == AGE] = weight
    params = {"params": {"dense": {"kernel": kernel, "bias": np.zeros(1, np.float32)}}}
    return FinalModel(config=cfg, encoder=encoder, shape=shape, params=params, x=x)


@pytest.mark.parametrize("weight, monotone, flagged", [(-1.0, False, True),
                                                      (-1.0, True, False),
                                                      (1.0, False, True)])
def test_age_bands_scored_against_the_best_band_under_62_match_the_scorecard(
        weight, monotone, flagged):
    """WOE bins of age, weighted as a scorecard is (-1: a higher WOE, a lower PD) or
    backwards (+1). German credit's oldest WOE bin, [45, inf), has a WOE a little
    under [36, 45)'s, so even the usual sign scores 62+ under ages 36-44; pooled to a
    monotone bad rate (data.woe_monotone) the two share a band and nobody is scored down.
    The oracle is scorecard.csv's points per bin."""
    cfg = quick(CreditDataConfig(woe="numeric", woe_monotone=monotone))
    final = hand_set(cfg, weight)
    frame = load(cfg).frame
    scale = ScoreScale(600.0, 50.0, 20.0)
    age = age_check(final, frame, AGE, scale)
    card = points_table(final, frame, scale)
    card = card[card["attribute"] == AGE].set_index("value")["points"].drop("<missing>")
    woe = final.encoder.woe[AGE]
    ages = np.asarray(age["ages"])
    label = np.array(woe.labels())[woe.bin_or_missing(ages)]
    under = card[sorted(set(label[ages < 62]))].max()
    np.testing.assert_allclose(age["points"], card[label].to_numpy() - under, atol=1e-4)
    elderly = card[sorted(set(label[ages >= 62]))].min()
    assert age["negative_factor"] == (elderly < under - 1e-3) == flagged
    assert age["applicants_scored_down"] == (1.0 if flagged else 0.0)
    if flagged:
        assert age["worst_elderly"]["points"] == pytest.approx(elderly - under, abs=1e-4)
        assert age["worst_elderly"]["band"] == label[ages >= 62][0]
        warning = "\n".join(age_warning(age))
        assert f"`{AGE}`" in warning and age["worst_elderly"]["band"] in warning
        assert f"{elderly - under:.2f} points" in warning and f"--data.drop {AGE}" in warning
    else:
        assert age_warning(age) == [] and "No age of 62 or more" in "\n".join(age_lines(age))


def test_an_age_scored_down_for_some_applicants_only_is_worded_per_applicant(monkeypatch):
    """An MLP scores age differently per applicant: here age 62 is scored down for 1 of 3
    applicants (by 0.7 points) while on average it scores +0.77 against the best age under
    62 (both by numpy from the score matrix). The warning leads with the share scored
    down and says the average hides them; it said "scores 0.77 points ... 33% of them are
    scored down" side by side, and called an age the model does not bin "band 62"."""
    from types import SimpleNamespace
    ages = np.array([30.0, 50.0, 62.0, 70.0])
    scores = np.array([[600.0, 601.0, 600.3, 602.0],     # 62 under its best (50) by 0.7
                       [600.0, 600.0, 601.0, 601.0],
                       [600.0, 599.0, 601.0, 601.5]])
    monkeypatch.setattr(age_module, "age_scores", lambda *args: scores)
    frame = pd.DataFrame({AGE: [30.0, 50.0, 70.0]})
    final = SimpleNamespace(encoder=SimpleNamespace(woe={}))
    age = age_check(final, frame, AGE, ScoreScale(600.0, 50.0, 20.0))
    np.testing.assert_array_equal(age["ages"], ages)
    young, old = scores[:, :2], scores[:, 2:]
    shortfall = young.max(axis=1) - old.min(axis=1)
    mean = scores.mean(axis=0)
    assert age["applicants_scored_down"] == pytest.approx(np.mean(shortfall > 1e-3)) == 1 / 3
    assert age["shortfall_max"] == pytest.approx(shortfall.max()) == pytest.approx(0.7)
    assert age["worst_elderly"]["points"] == pytest.approx(mean[2] - mean[:2].max())
    assert age["worst_elderly"]["band"] is None and age["negative_factor"]
    warning = " ".join(age_warning(age))
    assert "33% of the applicants score lower at an age of 62 or more" in warning
    assert "by up to 0.70 points" in warning and "(band" not in warning
    assert (f"no age of 62 or more is scored down (`{AGE}` = 62 scores "
            f"{mean[2] - mean[:2].max():+.2f} points against the age under 62 that scores "
            "best on average (30)): the model scores age differently") in warning


def test_one_applicant_in_a_thousand_scored_down_is_not_worded_as_none(monkeypatch):
    """Age 62 scored down for 1 of 1,000 applicants (an MLP's): the warning, headed 'Age is
    a negative factor', read '0% of the applicants score lower at an age of 62 or more'."""
    from types import SimpleNamespace
    scores = np.tile([600.0, 601.0, 602.0], (1000, 1))   # ages 30, 50, 62
    scores[0, 2] = 600.5                                  # 62 under 50 by 0.5 for one
    monkeypatch.setattr(age_module, "age_scores", lambda *args: scores)
    frame = pd.DataFrame({AGE: np.where(np.arange(1000) % 2, 30.0, 50.0)})
    age = age_check(SimpleNamespace(encoder=SimpleNamespace(woe={})), frame, AGE,
                    ScoreScale(600.0, 50.0, 20.0))
    shortfall = scores[:, :2].max(axis=1) - scores[:, 2:].min(axis=1)
    assert age["applicants_scored_down"] == np.mean(shortfall > 1e-3) == 0.001
    warning = " ".join(age_warning(age))
    assert age["negative_factor"] and "0% of the applicants" not in warning
    assert "under 0.5% of the applicants score lower at an age of 62" in warning


def test_the_ages_checked_are_whole_ages_62_and_the_bin_edges():
    from fjax.data.woe import NumericWoe
    woe = NumericWoe(edges=np.array([10.0, 25.5, 80.0]), woe=np.zeros(4), missing_woe=0.0)
    np.testing.assert_array_equal(age_grid(np.array([19.5, 30.2, 70.9, 30.7]), woe),
                                  [19, 25.5, 30, 62, 70])
    np.testing.assert_array_equal(age_grid(np.array([19.5, 30.2]), None), [19, 30, 62])


def test_a_sample_of_a_large_book_checks_a_logistic_age_exactly(monkeypatch):
    """Above MAX_APPLICANTS applicants a seeded sample is rescored: for logistic regression
    (the same points of age for everyone) the figures do not change."""
    cfg = quick(CreditDataConfig(woe="numeric"))
    final, frame = hand_set(cfg, -1.0), load(cfg).frame
    scale = ScoreScale(600.0, 50.0, 20.0)
    whole = age_check(final, frame, AGE, scale)
    monkeypatch.setattr(age_module, "MAX_APPLICANTS", 50)
    sampled = age_check(final, frame, AGE, scale)
    np.testing.assert_allclose(sampled["points"], whole["points"], atol=1e-4)
    assert sampled["negative_factor"] == whole["negative_factor"]
    assert sampled["sample"] == {"applicants": 50, "of": len(frame)}
    assert len(frame) == 1000
    assert "sample" not in whole                      # the report says which it checked
    assert ("of the applicants (a seeded sample of 50 of the 1,000) score lower at an age "
            "of 62") in " ".join(age_warning(sampled))
    assert "Each applicant (a seeded sample of 50 of the 1,000) is scored again" in \
        " ".join(age_lines(sampled))
    assert "Each applicant is scored again" in " ".join(age_lines(whole))


def test_a_linear_age_is_checked_from_its_slope():
    """Raw age (no WOE): points are linear in age, so the best age under 62 is 61 where
    points rise with age, and 62+ is scored down where they fall."""
    cfg = quick(CreditDataConfig())
    frame = load(cfg).frame
    scale = ScoreScale(600.0, 50.0, 20.0)
    for weight in (1.0, -1.0):
        final = hand_set(cfg, weight)
        age = age_check(final, frame, AGE, scale)
        card = points_table(final, frame, scale)
        card = card[card["attribute"] == AGE]
        values, points = card["value"].astype(float).to_numpy(), card["points"].to_numpy()
        slope = np.polyfit(values, points, 1)[0]
        ages = np.asarray(age["ages"])
        best = 61.0 if slope > 0 else ages.min()
        np.testing.assert_allclose(age["points"], slope * (ages - best), atol=1e-3)
        assert age["negative_factor"] == (slope < 0) == (weight > 0)


def test_the_age_column_is_checked_only_where_scored_and_a_wrong_name_is_refused(tmp_path):
    assert load(quick(CreditDataConfig())).age == AGE
    assert load(quick(CreditDataConfig(age_column=None))).age is None
    assert load(quick(CreditDataConfig(drop=(AGE,)))).age is None           # not scored
    with pytest.raises(ValueError, match=r"data.age_column names 'age'.*columns are \[.*"
                       r"'age_in_years'.*--data.age-column None"):
        load(quick(CreditDataConfig(age_column="age")))
    # Age read as categories (age bands): no check, and the note says how to have one.
    assert load(quick(CreditDataConfig(categorical=(AGE,)))).age is None
    # A file without the default column: no check, and a note says so.
    frame = load_dataset("german_credit").drop(columns=AGE)
    frame.to_csv(tmp_path / "loans.csv", index=False)
    cfg = quick(CreditDataConfig(path=str(tmp_path / "loans.csv")))
    assert load(cfg).age is None
    notes = report_notes(cfg, 3, 1, 1, age_unchecked=AGE)
    assert any("No age check" in n and "--data.age-column" in n and "categories" in n
               and "--data.numeric" in n for n in notes)
    assert not any("No age check" in n for n in report_notes(cfg, 3, 1, 1))
    # The case of a file's name is forgiven, as for every column option.
    frame = load_dataset("german_credit").rename(columns={AGE: "Age"})
    frame.to_csv(tmp_path / "aged.csv", index=False)
    assert load(quick(CreditDataConfig(path=str(tmp_path / "aged.csv"),
                                       age_column="age"))).age == "age"


def test_a_negative_age_is_refused_naming_its_rows_and_a_blank_one_is_not(tmp_path):
    """Ages -5 and -1 (file rows 3 and 7) are data errors: the run refuses before writing,
    naming the column, the count, the rows with their values and both fixes; a blank age
    (row 2) is a missing value, not an error. Six negative ages name the first five."""
    from fjax import cli
    frame = load_dataset("german_credit").sample(240, random_state=2).reset_index(drop=True)
    frame[AGE] = frame[AGE].astype(float)
    frame.loc[2, AGE] = np.nan
    frame.loc[[3, 7], AGE] = [-5, -1]
    path = tmp_path / "applicants.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ValueError) as err:
        load(quick(CreditDataConfig(path=str(path))))
    assert (f"column '{AGE}' (data.age_column) of '{path}' holds 2 negative "
            "age(s): row 3 (-5), row 7 (-1); an age cannot be negative: correct them, or "
            "blank them to mark them missing (each fold imputes a blank number with its "
            "training median") in str(err.value)
    out = tmp_path / "out"
    assert cli.main(["run", "credit", "--data.path", str(path), "--out", str(out)]) == 2
    assert not out.exists()
    frame.loc[10:13, AGE] = -2
    frame.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"holds 6 negative .* row 10 \(-2\), row 11 "
                                         r"\(-2\), row 12 \(-2\), \.\.\.; an age"):
        load(quick(CreditDataConfig(path=str(path))))


@pytest.mark.parametrize("column", [AGE, "credit_amount"])
@pytest.mark.parametrize("bad, said", [
    ("abc", "has non-numeric text 'abc' in 1 row(s) (first at row 4)"),
    (np.inf, "has an infinite value at row 4")])
def test_an_unreadable_training_number_is_named_as_the_files(tmp_path, column, bad, said):
    """Text or an infinite number in a training applicant's numeric column (the age or
    another) is refused by the column roles' read of the training rows, which named the
    column and row but not the file; the refusal now starts with the file."""
    frame = load_dataset("german_credit").sample(240, random_state=2).reset_index(drop=True)
    frame[column] = frame[column].astype(object)
    frame.loc[4, column] = bad
    path = tmp_path / "loans.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ValueError) as err:
        load(quick(CreditDataConfig(path=str(path))))
    assert str(err.value).startswith(f"{str(path)!r}: numeric column {column!r} {said}")


def test_the_shipped_data_has_no_implausible_age():
    """German credit's ages (19 to 75 by pandas) are all plausible: a zero count, no line."""
    from fjax.tasks.credit.report import implausible_age_lines
    ages = load_dataset("german_credit")[AGE]
    assert (ages.min(), ages.max()) == (19, 75)
    found = load(Config()).implausible_ages
    assert found == {"column": AGE, "plausible": [18, 110], "rows": 0, "below": 0,
                     "above": 0, "min": None, "max": None, "first_rows": []}
    assert implausible_age_lines(found) == []


def test_implausible_ages_are_trained_on_counted_and_reported(tmp_path):
    """Ages 16 and 0 (below 18) and 111 (above 110) at file rows 5, 9 and 40, beside 18 and
    110 (rows 1 and 2: the bounds, plausible) and a blank one: counted by hand in
    metrics.json, with one report line; the run trains on them as given."""
    frame = load_dataset("german_credit").sample(240, random_state=3).reset_index(drop=True)
    frame[AGE] = frame[AGE].astype(float)
    frame.loc[[1, 2, 5, 9, 40, 50], AGE] = [18, 110, 16, 111, 0, np.nan]
    path = tmp_path / "applicants.csv"
    frame.to_csv(path, index=False)
    cfg = dataclasses.replace(quick(CreditDataConfig(path=str(path))), out=str(tmp_path / "r"))
    folder = run(cfg, progress=False)
    found = json.loads((folder / "metrics.json").read_text())["data"]["implausible_ages"]
    assert found == {"column": AGE, "plausible": [18, 110], "rows": 3, "below": 2,
                     "above": 1, "min": 0.0, "max": 111.0, "first_rows": [5, 9, 40]}
    lines = [x for x in (folder / "report.md").read_text().splitlines()
             if x.startswith("- Ages implausible")]
    assert lines == [f"- Ages implausible for a credit applicant (below 18 or above 110): {AGE} "
                     "3 row(s) (2 below, 1 above; 0 to 111; first at row(s) 5, 9, 40); scored "
                     "as given. Check them for errors (months for years, a typo, a code for "
                     "'unknown') before trusting their scores."]
