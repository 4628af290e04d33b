"""A file's missing values (Give Me Some Credit's MonthlyIncome, 20% empty) are encoded
per fold, but the report said nothing of how many there were or what was done with them;
its notes now count each input's and name the treatment of the run's encoding."""

import numpy as np
import pandas as pd

from fjax.data.columns import infer_schema
from fjax.tasks.credit import Config, CreditDataConfig
from fjax.tasks.credit.data import missing_counts
from fjax.tasks.credit.run import report_notes


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
        cfg = Config(data=CreditDataConfig(path="book.csv", target="bad", positive="1",
                                           woe=woe))
        return [n for n in report_notes(cfg, 5, 1, 1, chosen=cfg, missing=counts,
                                        rows=len(frame))
                if "missing" in n.lower()]

    share = counts["income"] / len(frame)
    assert len(noted("none")) == 1
    assert f"'income' {counts['income']} of 400 ({share:.1%})" in noted("none")[0]
    assert "median" in noted("none")[0] and "was missing" in noted("none")[0]
    assert "own bin" in noted("numeric")[0] and "median" not in noted("numeric")[0]
    assert not [n for n in report_notes(Config(), 5, 1, 1) if "missing values" in n]
