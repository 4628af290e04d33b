"""A file's missing values (Give Me Some Credit's MonthlyIncome, 20% empty) are encoded
per fold, but the report said nothing of how many there were or what was done with them;
its notes now count each input's and name the treatment of the run's encoding."""

import numpy as np
import pandas as pd

from fjax.data.columns import infer_schema
from fjax.tasks.credit import Config
from fjax.tasks.credit.data import missing_counts
from fjax.tasks.credit.run import report_notes

from test_credit_outliers import book_notes


def book(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    income = rng.lognormal(8.5, 0.7, n)
    income[rng.random(n) < 0.2] = np.nan
    dependents = rng.poisson(0.8, n).astype(float)
    dependents[:7] = np.nan
    home = rng.choice(["own", "rent"], n).astype(object)
    home[10:13] = None
    return pd.DataFrame({"bad": rng.integers(0, 2, n), "income": income,
                         "dependents": dependents, "age": rng.normal(50, 14, n).round(),
                         "home": home})


def test_each_inputs_missing_values_are_counted():
    frame = book()
    schema = infer_schema(frame, "bad", "1")
    oracle = {c: int(np.sum([v is None or v != v for v in frame[c]]))   # NaN != NaN
              for c in ("income", "dependents", "home")}
    assert oracle["income"] > 50 and oracle["dependents"] == 7 and oracle["home"] == 3
    assert missing_counts(frame, schema) == oracle


def test_the_report_says_how_many_and_what_the_encoding_does_with_them():
    frame = book()
    counts = missing_counts(frame, infer_schema(frame, "bad", "1"))

    def noted(woe: str) -> list[str]:
        return book_notes(woe, "missing", missing=counts, rows=len(frame))

    share = counts["income"] / len(frame)
    assert len(noted("none")) == 1
    assert f"'income' {counts['income']} of 400 ({share:.1%})" in noted("none")[0]
    assert "median" in noted("none")[0] and "was missing" in noted("none")[0]
    assert "own bin" in noted("numeric")[0] and "median" not in noted("numeric")[0]
    assert not [n for n in report_notes(Config(), 5, 1, 1) if "missing values" in n]


def test_a_file_to_score_without_the_id_column_is_not_told_it_lacks_a_feature(tmp_path):
    """A run with --data.id-column 'Unnamed: 0' (pandas' index) refused a file to score
    without that column as lacking 'every feature column the model trains on', though the
    model never reads it: the message now names it as the id column."""
    import pytest

    from fjax.tasks.credit.data import read_applicants
    frame = book()
    schema = infer_schema(frame, "bad", "1")
    frame.drop(columns="bad").to_csv(tmp_path / "new.csv", index=False)
    with pytest.raises(ValueError) as err:
        read_applicants(str(tmp_path / "new.csv"), schema, "Unnamed: 0", "--data")
    assert "id column 'Unnamed: 0'" in str(err.value) and "feature" not in str(err.value)
    frame.drop(columns=["bad", "age"]).to_csv(tmp_path / "lacking.csv", index=False)
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['age'\]; it needs every "
                                         r"feature column.* and the id column 'Unnamed: 0'"):
        read_applicants(str(tmp_path / "lacking.csv"), schema, "Unnamed: 0", "--data")
    frame.drop(columns=["bad", "age"]).assign(**{"Unnamed: 0": 1}).to_csv(
        tmp_path / "with_id.csv", index=False)
    with pytest.raises(ValueError) as err:
        read_applicants(str(tmp_path / "with_id.csv"), schema, "Unnamed: 0", "--data")
    assert "['age']" in str(err.value) and "id column" not in str(err.value)


def test_blank_applicant_ids_are_refused_in_training_and_scoring(tmp_path):
    """Blank ids were scored under a blank `applicant`, and the grouped folds took them
    all for one applicant: here 120 blank ids of 400 rows, pairs of rows sharing the
    others, went to one validation fold (174 rows against 56)."""
    import dataclasses

    import pytest

    from fjax.data.splits import grouped_stratified_kfold
    from fjax.tasks.credit.config import CreditDataConfig
    from fjax.tasks.credit.data import load, read_applicants
    frame = book().assign(loan=np.arange(400) // 2)
    frame.to_csv(tmp_path / "book.csv", index=False)
    cfg = Config(data=CreditDataConfig(path=str(tmp_path / "book.csv"), target="bad",
                                       positive="1", id_column="loan", age_column=None))
    data = load(cfg)
    assert data.repeated_ids == 200
    ids = np.where(np.arange(400) < 120, np.nan, np.arange(400) // 2)
    folds = grouped_stratified_kfold(data.y, ids, 5, seed=0)
    assert np.asarray(folds.val).sum(axis=1).max() > 150   # what blank ids did (numpy)
    frame.loc[[3, 8], "loan"] = np.nan
    frame.to_csv(tmp_path / "blank.csv", index=False)
    with pytest.raises(ValueError, match="'loan' .* has 2 blank id.*first at row 3"):
        load(dataclasses.replace(cfg, data=dataclasses.replace(
            cfg.data, path=str(tmp_path / "blank.csv"))))
    with pytest.raises(ValueError, match="'loan' .* has 2 blank id"):
        read_applicants(str(tmp_path / "blank.csv"), data.schema, "loan", "--data")
