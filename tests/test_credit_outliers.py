"""A few extreme values (a utilization of 50,708, sentinel codes 96 and 98 in a count of
late payments) set a standardized column's scale, so its bulk barely moves a linear score;
the report names such columns and the fixes where the model standardizes them."""

import numpy as np
import pandas as pd

from fjax.data.columns import infer_schema
from fjax.datasets import load_dataset
from fjax.tasks.credit import Config, CreditDataConfig
from fjax.tasks.credit.data import outlying_numbers
from fjax.tasks.credit.run import report_notes


def book(n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    utilization = rng.beta(0.6, 1.6, n)
    utilization[:3] = [5000.0, 20514.0, 50708.0]
    late = rng.poisson(0.3, n).astype(float)
    late[3:9] = 98
    return pd.DataFrame({"bad": rng.integers(0, 2, n), "utilization": utilization,
                         "late": late, "income": rng.lognormal(8.5, 0.7, n),
                         "age": rng.normal(50, 14, n).round()})


def scale_ratio(x: np.ndarray) -> float:
    """Oracle: standard deviation over that of the values capped at their 1st and 99th
    percentiles, in float64 numpy."""
    lo, hi = np.percentile(x, [1, 99])
    return float(np.std(x) / np.std(np.clip(x, lo, hi)))


def test_columns_whose_scale_a_few_values_set_are_found():
    frame = book()
    for column, ratio in [("utilization", 1000), ("late", 5)]:
        assert scale_ratio(frame[column].to_numpy()) > ratio
    for column in ("income", "age"):
        assert scale_ratio(frame[column].to_numpy()) < 2
    found = outlying_numbers(frame, infer_schema(frame, "bad", "1"))
    assert list(found) == ["utilization", "late"]
    assert found["utilization"]["max"] == 50708.0
    assert np.isclose(found["late"]["std"], np.std(frame["late"]))


def test_german_credit_has_none():
    frame = load_dataset("german_credit")
    assert outlying_numbers(frame, infer_schema(frame, "creditability", "bad")) == {}


def book_notes(woe: str, about: str, **facts) -> list[str]:
    """report_notes' notes holding `about` (lower case, matched in any case) for a run on
    book.csv encoded `woe`, given the data's `facts` (report_notes' keywords)."""
    cfg = Config(data=CreditDataConfig(path="book.csv", target="bad", positive="1", woe=woe))
    return [n for n in report_notes(cfg, 5, 1, 1, chosen=cfg, **facts) if about in n.lower()]


def test_the_report_names_them_only_where_the_model_standardizes_them():
    frame = book()
    found = outlying_numbers(frame, infer_schema(frame, "bad", "1"))

    def noted(woe: str) -> list[str]:
        return book_notes(woe, "extreme values", outlying=found)

    assert len(noted("none")) == 1
    assert "'utilization'" in noted("none")[0] and "'late'" in noted("none")[0]
    assert "--data.woe numeric" in noted("none")[0]
    assert noted("numeric") == [] and noted("all") == []
