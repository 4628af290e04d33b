"""Protected characteristics (data.protected) are never model inputs, and the run reports
approval rates, adverse impact ratios, AUC and calibration per group, out of fold."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import tyro
from sklearn.metrics import roc_auc_score

from fjax.config import TrainConfig, from_json, to_json
from fjax.datasets import load_dataset
from fjax.tasks.credit import Config, CreditDataConfig, ScorecardConfig, run
from fjax.tasks.credit.data import load
from fjax.tasks.credit.run import report_notes

GERMAN = ("personal_status_and_sex", "foreign_worker")


def quick(data: CreditDataConfig, **kw) -> Config:
    return Config(data=data, sweep=Config().sweep.__class__(folds=3),
                  train=TrainConfig(epochs=3, batch_size=64, restore_best=False), **kw)


@pytest.fixture(scope="module")
def german_run(tmp_path_factory):
    """The embedded data with its default data.protected (Platt: pd_oof differs from
    pd_oof_raw)."""
    cfg = quick(CreditDataConfig(), out=str(tmp_path_factory.mktemp("fair")),
                scorecard=ScorecardConfig(calibration="platt"))
    return run(cfg, progress=False)


def by_group(groups: pd.Series, pd_: pd.Series, raw: pd.Series, bad: np.ndarray,
             t: float) -> dict:
    """The fair-lending figures per group, by pandas and scikit-learn."""
    frame = pd.DataFrame({"group": groups.to_numpy(), "approved": pd_.to_numpy() < t,
                          "pd": pd_.to_numpy(), "raw": raw.to_numpy(), "bad": bad})
    out = {}
    for g, part in frame.groupby("group"):
        two = min(part["bad"].sum(), (~part["bad"]).sum()) >= 2
        out[g] = {"applicants": len(part), "approval_rate": part["approved"].mean(),
                  "auc": roc_auc_score(part["bad"], part["raw"]) if two else None,
                  "mean_pd": part["pd"].mean(), "bad_rate": part["bad"].mean()}
    best = max(f["approval_rate"] for f in out.values())
    for f in out.values():
        f["adverse_impact_ratio"] = f["approval_rate"] / best
        f["below_four_fifths"] = f["adverse_impact_ratio"] < 0.8
    return out


def check_rows(rows: list[dict], expected: dict) -> None:
    assert {r["group"] for r in rows} == set(expected)
    for r in rows:
        e = expected[r["group"]]
        assert r["applicants"] == e["applicants"]
        assert r["below_four_fifths"] == e["below_four_fifths"]
        for key in ("approval_rate", "adverse_impact_ratio", "mean_pd", "bad_rate"):
            assert r[key] == pytest.approx(e[key], abs=1e-12), (r["group"], key)
        if e["auc"] is None:
            assert r["auc"] is None
        else:
            assert r["auc"] == pytest.approx(e["auc"], abs=1e-12)


def test_the_default_protected_columns_follow_the_data_source():
    assert CreditDataConfig().protected_columns == GERMAN
    assert CreditDataConfig(path="loans.csv").protected_columns == ()
    assert CreditDataConfig(protected=()).protected_columns == ()
    cfg = tyro.cli(Config, args=["--data.path", "loans.csv", "--data.protected", "sex", "age"])
    assert cfg.data.protected_columns == ("sex", "age")
    assert from_json(Config, to_json(cfg)) == cfg and from_json(Config, to_json(Config())) \
        == Config()
    file_cfg = quick(CreditDataConfig(path="loans.csv"))
    assert any("No data.protected columns" in n for n in report_notes(file_cfg, 3, 1, 1))
    assert not any("No data.protected" in n for n in report_notes(quick(CreditDataConfig()),
                                                                   3, 1, 1))


def test_the_embedded_data_by_name_is_the_embedded_data():
    """`--data.path german_credit` loads the embedded data, yet only its cost note knew:
    its sex and nationality columns were scored, unprotected, as a file's would be."""
    from fjax.tasks.credit.report import report_title
    named, default = CreditDataConfig(path="german_credit"), CreditDataConfig()
    assert named.protected_columns == default.protected_columns == GERMAN
    assert not set(GERMAN) & set(load(quick(named)).schema.features)
    assert report_notes(Config(data=named), 5, 1, 1) == report_notes(Config(data=default), 5, 1, 1)
    assert named.embedded and default.embedded and not CreditDataConfig(path="x.csv").embedded
    assert report_title(named) == report_title(default) != report_title(
        CreditDataConfig(path="german_credit.csv"))


def test_the_embedded_data_is_scored_without_sex_marital_status_or_origin(german_run):
    assert not set(GERMAN) & set(load(quick(CreditDataConfig())).schema.features)
    encoder = (german_run / "encoder.json").read_text()
    scorecard = pd.read_csv(german_run / "scorecard.csv")
    scores = pd.read_csv(german_run / "scores.csv")
    reasons = scores[[c for c in scores.columns if c.startswith("reason_")]]
    for column in GERMAN:
        assert column not in encoder
        assert column not in set(scorecard.iloc[:, 0])
        assert not (reasons == column).any().any()
    assert "purpose" in encoder   # the other columns are still scored


def test_fair_lending_figures_match_pandas_and_scikit_learn(german_run):
    metrics = json.loads((german_run / "metrics.json").read_text())
    fair = metrics["fair_lending"]
    t = metrics["decision"]["threshold"]
    assert fair["threshold"] == t and fair["columns"] == list(GERMAN)
    scores = pd.read_csv(german_run / "scores.csv")
    applicants = load_dataset("german_credit").iloc[scores["applicant"]].reset_index(drop=True)
    bad = (scores["creditability"] == "bad").to_numpy()
    groups = {**{c: applicants[c].astype(str) for c in GERMAN},
              "personal_status_and_sex (sex)":
                  applicants["personal_status_and_sex"].str.split(" :").str[0]}
    assert set(fair["out_of_fold"]) == set(groups)
    lowest = 1.0
    for name, labels in groups.items():
        expected = by_group(labels, scores["pd_oof"], scores["pd_oof_raw"], bad, t)
        check_rows(fair["out_of_fold"][name], expected)
        lowest = min(lowest, *(e["adverse_impact_ratio"] for e in expected.values()))
    report = (german_run / "report.md").read_text()
    assert "## Fair lending" in report and "screen, not a legal test" in report
    assert f"The lowest AIR is {lowest:.3f}" in report
    # The proxy screen: the PD's AUC per group by scikit-learn, one input's by hand.
    proxies = pd.read_csv(german_run / "proxies.csv").set_index(["characteristic", "group",
                                                                "input"]).sort_index()
    origin = groups["foreign_worker"].to_numpy() == "no"     # the smaller of two groups
    screen = proxies.loc[("foreign_worker", "no")]
    assert screen.loc["model PD (out of fold)", "auc"] == pytest.approx(
        roc_auc_score(origin, scores["pd_oof_raw"]), abs=1e-12)
    assert ("foreign_worker", "yes") not in proxies.index.droplevel(2)
    woe = np.zeros(len(origin))
    for j in range(3):
        out = (scores["fold"] == j).to_numpy()
        woe[out] = _woe_by_hand(applicants["property"][~out].astype(str), origin[~out],
                                applicants["property"][out].astype(str))
    assert screen.loc["property", "auc"] == pytest.approx(roc_auc_score(origin, -woe),
                                                          abs=1e-12)
    assert set(screen.index) == {"model PD (out of fold)",
                                 *load(quick(CreditDataConfig())).schema.features}
    assert len(fair["proxies"]) == len(proxies)
    assert "### Proxy screen" in report and "business and legal decision" in report


def test_the_out_of_time_applicants_are_reported_per_group_too(tmp_path):
    frame = load_dataset("german_credit").sample(200, random_state=1).reset_index(drop=True)
    frame.insert(0, "applied", pd.date_range("2023-01-01", periods=200).astype(str))
    frame.to_csv(tmp_path / "loans.csv", index=False)
    cfg = quick(CreditDataConfig(path=str(tmp_path / "loans.csv"), date_column="applied",
                                 protected=("foreign_worker",), cost_fn=2.0),
                out=str(tmp_path / "run"))   # t = 1/3: some approved after 3 epochs
    path = run(cfg, progress=False)
    fair = json.loads((path / "metrics.json").read_text())["fair_lending"]
    later = pd.read_csv(path / "out_of_time_scores.csv")
    groups = frame["foreign_worker"].iloc[later["applicant"]]
    bad = (later["creditability"] == "bad").to_numpy()
    expected = by_group(groups, later["pd"], later["pd"], bad, fair["threshold"])
    assert 0 < max(e["approval_rate"] for e in expected.values())
    check_rows(fair["out_of_time"]["foreign_worker"], expected)
    assert "personal_status_and_sex" in load(cfg).schema.features   # a file: only as named


def test_an_unknown_protected_column_is_refused_with_the_columns(tmp_path):
    with pytest.raises(ValueError, match=r"data.protected names \['gender'\].*columns are "
                       r"\[.*'personal_status_and_sex'"):
        load(quick(CreditDataConfig(protected=("gender",))))


@pytest.mark.parametrize("role", ["target", "id_column", "date_column", "numeric",
                                  "categorical", "drop"])
def test_a_protected_column_with_another_role_is_refused(role):
    value = "foreign_worker" if role in ("target", "id_column", "date_column") \
        else ("foreign_worker",)
    with pytest.raises(ValueError, match=rf"CreditDataConfig.protected names 'foreign_worker'"
                       rf".*also data.{role}"):
        CreditDataConfig(protected=("foreign_worker",), **{role: value})
    # The embedded data's default clashes too, and the message says it is the default.
    with pytest.raises(ValueError, match="by default for the embedded German data"):
        CreditDataConfig(**{role: value})
    assert dataclasses.replace(CreditDataConfig(protected=()), **{role: value})


def _woe_by_hand(train: pd.Series, member: np.ndarray, test: pd.Series) -> np.ndarray:
    """Categorical WOE of membership (members as the 'bads', smoothing 0.5), by pandas."""
    cats = sorted(set(train))
    rest = np.array([np.sum((train == c) & ~member) for c in cats]) + 0.5
    inside = np.array([np.sum((train == c) & member) for c in cats]) + 0.5
    woe = dict(zip(cats, np.log(rest / rest.sum()) - np.log(inside / inside.sum())))
    return test.map(woe).fillna(0.0).to_numpy()


def test_the_proxy_screen_flags_a_deliberate_proxy_and_not_independent_inputs():
    from fjax.data.columns import infer_schema
    from fjax.tasks.credit.fairness import PD_INPUT, proxy_screen
    rng = np.random.default_rng(0)
    n = 600
    origin = rng.choice(["x", "y", "z"], n, p=[0.6, 0.25, 0.15])   # protected, 3 levels
    sex = rng.choice(["f", "m"], n, p=[0.3, 0.7])                  # protected, 2 levels
    # district: mostly 'd<origin>' (a deliberate proxy of origin); the rest independent
    district = np.where(rng.random(n) < 0.8, np.char.add("d", origin),
                        rng.choice(["dx", "dy", "dz"], n))
    frame = pd.DataFrame({"origin": origin, "sex": sex, "district": district,
                          "kind": rng.choice(list("abcd"), n),
                          "amount": rng.normal(100, 10, n),
                          "label": rng.choice(["bad", "good"], n, p=[0.3, 0.7])})
    schema = infer_schema(frame, "label", "bad", drop=("origin", "sex"))
    fold = np.arange(n) % 4
    pd_raw = rng.random(n) + 0.3 * (origin == "z")     # the PD leans on origin z
    table = proxy_screen(frame, schema, ("origin", "sex"), 5, fold, pd_raw)
    # three groups of origin (one vs rest), the smaller of sex's two; a PD row and 3 inputs
    assert sorted(set(zip(table["characteristic"], table["group"]))) == [
        ("origin", "x"), ("origin", "y"), ("origin", "z"), ("sex", "f")]
    assert len(table) == 4 * 4
    for (name, group), rows in table.groupby(["characteristic", "group"]):
        member = frame[name].to_numpy() == group
        rows = rows.set_index("input")
        assert rows.loc[PD_INPUT, "auc"] == pytest.approx(roc_auc_score(member, pd_raw),
                                                          abs=1e-12)
        assert rows.loc[PD_INPUT, "members"] == member.sum()
        woe = np.zeros(n)
        for j in range(4):
            out = fold == j
            woe[out] = _woe_by_hand(frame["district"][~out], member[~out],
                                    frame["district"][out])
        assert rows.loc["district", "auc"] == pytest.approx(roc_auc_score(member, -woe),
                                                            abs=1e-12)
        assert rows.loc["district", "proxy"] == (name == "origin")
        assert not rows.loc["kind", "proxy"] and not rows.loc["amount", "proxy"]
        # cross-fitted noise: near or below 0.5 (its direction is learned on other folds)
        assert rows.loc["kind", "auc"] < 0.6 and rows.loc["amount", "auc"] < 0.6
    assert table.set_index(["group", "input"]).loc[("z", PD_INPUT), "proxy"]


def test_the_run_checks_the_scored_age_against_its_scorecard_points(german_run):
    """metrics.json's age check and the report's section: raw age is linear in the points
    of scorecard.csv, so 62+ is scored down exactly where they fall with age."""
    age = json.loads((german_run / "metrics.json").read_text())["age"]
    card = pd.read_csv(german_run / "scorecard.csv")
    card = card[card["attribute"] == "age_in_years"]
    slope = np.polyfit(card["value"].astype(float), card["points"], 1)[0]
    ages = np.asarray(age["ages"])
    best = 61.0 if slope > 0 else ages.min()
    np.testing.assert_allclose(age["points"], slope * (ages - best), atol=1e-3)
    assert age["column"] == "age_in_years" and age["negative_factor"] == (slope < 0)
    report = (german_run / "report.md").read_text()
    assert "## Age (US Regulation B" in report
    assert ("**Age is a negative factor" in report) == age["negative_factor"]


def test_a_protected_column_of_one_group_reports_no_proxy_screen():
    """A file whose protected column holds one value (every applicant 'yes') has no group
    to screen against the rest: the report says so (it raised KeyError: 'input')."""
    from fjax.data.columns import infer_schema
    from fjax.tasks.credit.fairness import fair_lending, proxy_screen
    from fjax.tasks.credit.report import fair_lending_lines
    rng = np.random.default_rng(0)
    n = 40
    frame = pd.DataFrame({"resident": ["yes"] * n, "amount": rng.normal(100, 10, n),
                          "label": rng.choice(["bad", "good"], n)})
    schema = infer_schema(frame, "label", "bad", drop=("resident",))
    pd_raw, y = rng.random(n), (frame["label"] == "bad").to_numpy(float)
    proxies = proxy_screen(frame, schema, ("resident",), 5, np.arange(n) % 4, pd_raw)
    assert proxies.empty
    fair = {"columns": ["resident"], "threshold": 0.5, "proxy_auc": 0.7,
            "out_of_fold": fair_lending(frame, ("resident",), 0.5, pd_raw, pd_raw, y),
            "proxies": proxies.to_dict(orient="records")}
    text = "\n".join(fair_lending_lines(fair))
    assert "### Proxy screen" in text and "single group" in text


def test_a_missing_value_is_never_the_reference_group():
    """Blanks in a protected column form a `<missing>` group, reported with its own figures
    but never the group every AIR is measured against (it was, as the most approved). By
    hand: A approved 2 of 4 (0.5), B 1 of 4 (0.25), blank 2 of 2 (1.0); the reference is
    A, so the AIRs are A 1, B 0.5 (flagged), blank 2; a column of blanks only (5 of 10
    approved) has no reference and no AIR."""
    from fjax.tasks.credit.fairness import fair_lending
    from fjax.tasks.credit.report import fair_lending_lines
    frame = pd.DataFrame({"origin": ["A", "A", "A", "A", "B", "B", "B", "B", None, np.nan],
                          "blank": [None] * 10})
    pd_ = np.array([0.1, 0.2, 0.6, 0.7, 0.1, 0.6, 0.7, 0.8, 0.1, 0.2])
    y = np.array([0, 0, 1, 0, 0, 1, 0, 1, 0, 1], float)
    fair = fair_lending(frame, ("origin", "blank"), 0.5, pd_, pd_, y)
    rows = {r["group"]: r for r in fair["origin"]}
    want = {"A": (0.5, 1.0, False, True), "B": (0.25, 0.5, True, False),
            "<missing>": (1.0, 2.0, False, False)}
    for group, (rate, air, flagged, reference) in want.items():
        r = rows[group]
        assert r["approval_rate"] == pytest.approx(rate, abs=1e-12)
        assert r["adverse_impact_ratio"] == pytest.approx(air, abs=1e-12)
        assert (r["below_four_fifths"], r["reference"]) == (flagged, reference)
    [only] = fair["blank"]
    assert (only["group"], only["approval_rate"]) == ("<missing>", 0.5)
    assert only["adverse_impact_ratio"] is None and not only["reference"]
    assert not only["below_four_fifths"]
    text = "\n".join(fair_lending_lines({
        "columns": ["origin", "blank"], "threshold": 0.5, "proxy_auc": 0.7,
        "out_of_fold": fair, "proxies": []}))
    assert "The lowest AIR is 0.500: origin = B" in text
    assert "never `<missing>`" in text and "Flagged (AIR < 0.8): origin = B. " in text
