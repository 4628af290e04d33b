"""A few extreme values (a utilization of 50,708, sentinel codes 96 and 98 in a count of
late payments) set a standardized column's scale, so its bulk barely moves a linear score;
WOE-binned, they fall into the top bin: harmless for genuine values, but a code for
'unknown' is scored as the most late payments. The report names such columns, what the
encoding does and the fixes."""

import numpy as np
import pandas as pd

from fjax.config import TrainConfig
from fjax.data.columns import infer_schema
from fjax.datasets import load_dataset, read_csv
from fjax.tasks.credit import Config, CreditDataConfig, run
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


def test_the_report_names_them_with_what_the_encoding_does():
    frame = book()
    found = outlying_numbers(frame, infer_schema(frame, "bad", "1"))

    def noted(woe: str) -> list[str]:
        return book_notes(woe, "extreme values", outlying=found)

    for woe in ("none", "numeric", "all"):
        assert len(noted(woe)) == 1
        assert "'utilization'" in noted(woe)[0] and "'late'" in noted(woe)[0]
    assert "--data.woe numeric" in noted("none")[0] and "standardized" in noted("none")[0]
    assert "missing first either way" in noted("none")[0]   # binning does not fix a code
    for woe in ("numeric", "all"):
        assert "harmless where they are genuine large values" in noted(woe)[0]
        assert "(such as 96 or 98 in a count of late payments) share the top bin's WOE" \
            in noted(woe)[0]
        assert "set such codes missing" in noted(woe)[0]
        assert "standardized" not in noted(woe)[0]


def test_a_woe_note_on_genuine_extremes_alone_does_not_call_them_codes():
    """Utilization's few huge values are genuine (no code among them): the WOE note fired
    for them too, yet said the column's extremes were codes binned with the highest counts,
    two populations behind one WOE. It now says the top bin is harmless for such values."""
    frame = book().drop(columns="late")
    found = outlying_numbers(frame, infer_schema(frame, "bad", "1"))
    assert list(found) == ["utilization"]
    [note] = book_notes("numeric", "extreme values", outlying=found)
    assert ("'utilization' (standard deviation" in note
            and "they sit in the column's top bin, which is harmless where they are genuine "
                "large values" in note)
    assert "two populations" not in note and "binned with the highest counts" not in note


PAST_DUE = "NumberOfTime30-59DaysPastDueNotWorse"


def gmsc_file(tmp_path, codes: bool) -> str:
    """book() as Give Me Some Credit names it, its past-due count holding the codes 96 and
    98 ('unknown') or, recoded as the note advises, missing values; no other extreme."""
    frame = book().drop(columns="utilization").rename(columns={
        "bad": "SeriousDlqin2yrs", "late": PAST_DUE, "income": "MonthlyIncome"})
    frame.loc[3:5, PAST_DUE] = 96
    if not codes:
        frame.loc[frame[PAST_DUE] >= 96, PAST_DUE] = np.nan
    path = tmp_path / f"gmsc_{codes}.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_a_woe_run_on_past_due_codes_warns_that_they_share_the_top_bin(tmp_path):
    def woe_run(codes: bool):
        cfg = Config(data=CreditDataConfig(path=gmsc_file(tmp_path, codes),
                                           target="SeriousDlqin2yrs", positive="1",
                                           woe="numeric"),
                     sweep=Config().sweep.__class__(folds=3), out=str(tmp_path / f"run_{codes}"),
                     train=TrainConfig(epochs=2, batch_size=256, restore_best=False))
        folder = run(cfg, progress=False)
        return (folder / "report.md").read_text(), read_csv(folder / "scorecard.csv")

    report, card = woe_run(codes=True)
    late = card.loc[card["attribute"] == PAST_DUE, "value"].tolist()
    assert late[-2:] == ["[1, inf)", "<missing>"]          # 96 and 98 join the late payers
    notes = [line for line in report.splitlines() if "extreme values" in line]
    assert len(notes) == 1 and f"'{PAST_DUE}'" in notes[0]
    assert "share the top bin's WOE" in notes[0] and "MonthlyIncome" not in notes[0]
    report, _ = woe_run(codes=False)
    assert "extreme values" not in report and f"'{PAST_DUE}' 6 of 2000" in report
