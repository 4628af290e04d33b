"""Each characteristic on its own (characteristics.csv): information value, cross-fitted
AUC that flags a leaking column, and CSI that names a drifting one beyond chance."""

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from fjax.config import TrainConfig
from fjax.data.columns import infer_schema
from fjax.data.woe import information_value
from fjax.datasets import load_dataset
from fjax.tasks.credit import Config, CreditDataConfig, run
from fjax.tasks.credit.characteristics import characteristics
from fjax.tasks.credit.report import characteristics_lines


def test_information_value_matches_a_hand_computed_table():
    # bin 0: 6 good 1 bad, bin 1: 2 good 3 bad, bin 2: 2 good 0 bad (G = 10, B = 4)
    bins = np.array([0] * 7 + [1] * 5 + [2] * 2)
    y = np.array([0] * 6 + [1] + [0, 0, 1, 1, 1] + [0, 0], np.float64)
    g = (np.array([6, 2, 2]) + 0.5) / (10 + 1.5)
    b = (np.array([1, 3, 0]) + 0.5) / (4 + 1.5)
    assert information_value(bins, y, 3) == np.sum((g - b) * np.log(g / b))


def _book(rng, n, shift=0.0):
    """Applicants: a shares-shifted category, a noise code of 300 levels, a stable number."""
    p = np.array([0.5, 0.3, 0.2]) if not shift else np.array([0.2, 0.3, 0.5])
    return pd.DataFrame({"kind": rng.choice(list("abc"), n, p=p),
                         "code": rng.choice([f"z{i}" for i in range(300)], n),
                         "amount": rng.normal(100, 10, n).round(1),
                         "label": rng.choice(["bad", "good"], n, p=[0.1, 0.9])})


def test_csi_is_the_psi_of_the_bins_and_flags_only_a_shift_beyond_chance():
    rng = np.random.default_rng(3)
    early, late = _book(rng, 4000), _book(rng, 600, shift=1.0)
    schema = infer_schema(early, "label", "bad")
    y = (early["label"] == "bad").to_numpy(np.float64)
    chars = characteristics(early, schema, y, 5, np.arange(len(y)) % 5,
                            {"later": late}).set_index("attribute")
    e = early["kind"].value_counts(normalize=True).sort_index().to_numpy()
    a = late["kind"].value_counts(normalize=True).sort_index().to_numpy()
    np.testing.assert_allclose(chars.loc["kind", "csi_later"], np.sum((a - e) * np.log(a / e)))
    assert chars.loc["kind", "shifted_later"]
    # 300 random codes: CSI and IV are high by chance alone, the cross-fitted AUC is not;
    # 2 later applicants a code, most bins empty in one sample: CSI 0.91, beyond the
    # chi-square approximation's 99.9th percentile (0.73), within the simulated one
    assert chars.loc["code", "csi_later"] > 0.1 and not chars.loc["code", "shifted_later"]
    assert chars.loc["code", "iv"] > 0.3 and abs(chars.loc["code", "auc_alone"] - 0.5) < 0.1
    assert not chars.loc["amount", "shifted_later"]


def _woe_by_hand(train: pd.Series, y: np.ndarray, test: pd.Series) -> np.ndarray:
    cats = sorted(set(train))
    good = np.array([np.sum((train == c) & (y == 0)) for c in cats]) + 0.5
    bad = np.array([np.sum((train == c) & (y == 1)) for c in cats]) + 0.5
    woe = dict(zip(cats, np.log(good / good.sum()) - np.log(bad / bad.sum())))
    return test.map(woe).fillna(0.0).to_numpy()


def test_a_column_that_leaks_the_label_is_named_first_in_the_report(tmp_path):
    frame = load_dataset("german_credit").sample(240, random_state=2).reset_index(drop=True)
    frame["in_collections"] = (frame["creditability"] == "bad").astype(int)   # after the fact
    path = tmp_path / "loans.csv"
    frame.to_csv(path, index=False)
    cfg = Config(data=CreditDataConfig(path=str(path)), out=str(tmp_path / "run"),
                 sweep=Config().sweep.__class__(folds=3),
                 train=TrainConfig(epochs=3, batch_size=64, restore_best=False))
    out = run(cfg, progress=False)
    report = (out / "report.md").read_text()
    chars = pd.read_csv(out / "characteristics.csv").set_index("attribute")
    assert chars.loc["in_collections", "auc_alone"] == 1.0
    warning = report.index("**Check for leakage.**")
    assert warning < report.index("## Cross-validation")
    assert "`in_collections` (1.000)" in report and "--data.drop in_collections" in report
    # The other columns' cross-fitted AUC: each fold's WOE by hand, scikit-learn's AUC.
    fold = pd.read_csv(out / "scores.csv")["fold"].to_numpy()
    y = (frame["creditability"] == "bad").to_numpy(np.float64)
    woe = np.zeros(len(y))
    for j in range(3):
        inside = fold == j
        woe[inside] = _woe_by_hand(frame["purpose"][~inside], y[~inside],
                                   frame["purpose"][inside])
    # float64: two of these WOEs differ by under 1e-9, which float32 tied (0.5180 for 0.5182)
    np.testing.assert_allclose(chars.loc["purpose", "auc_alone"], roc_auc_score(y, -woe),
                               rtol=1e-12)
    assert (chars.drop(index="in_collections")["auc_alone"] < 0.9).all()


def test_characteristics_describe_the_monotone_bins_the_model_uses():
    """With data.woe_monotone the table's bins, trend and IV are the pooled bins' (those
    `fit_numeric_woe(monotone=True)` makes), not the unpooled bins."""
    from fjax.data.woe import fit_numeric_woe
    rng = np.random.default_rng(0)
    x = np.repeat(np.arange(5.0), 200)
    rate = np.array([0.1, 0.3, 0.2, 0.4, 0.5])[x.astype(int)]
    frame = pd.DataFrame({"x": x, "label": np.where(rng.random(1000) < rate, "bad", "good")})
    schema = infer_schema(frame, "label", "bad")
    y = (frame["label"] == "bad").to_numpy(np.float64)
    fold = np.arange(1000) % 5
    plain = characteristics(frame, schema, y, 5, fold, {}).set_index("attribute").loc["x"]
    pooled = characteristics(frame, schema, y, 5, fold, {},
                             monotone=True).set_index("attribute").loc["x"]
    woe = fit_numeric_woe(x, y, 5, monotone=True)
    slot = woe.bin_or_missing(x)
    assert plain["woe_trend"] == "not monotone" and plain["bins"] == 5
    assert pooled["woe_trend"] == "falling" and pooled["bins"] == len(woe.woe) < 5
    n = len(woe.woe)
    assert pooled["iv"] == information_value(slot, y, n + int((slot == n).any()))


def test_report_does_not_claim_smoothed_iv_is_under_the_raw_counts_iv():
    """German credit's `housing`: the 0.5-smoothed IV (0.0838) is above the IV of its
    raw counts (0.0833; so are other_installment_plans' and job's), so the report may
    not say smoothing puts IV under the raw counts' IV."""
    frame = load_dataset("german_credit")
    y = (frame["creditability"] == "bad").to_numpy(float)
    counts = pd.crosstab(frame["housing"].astype(str), y)
    good, bad = counts[0.0] / counts[0.0].sum(), counts[1.0] / counts[1.0].sum()
    raw_iv = float(np.sum((good - bad) * np.log(good / bad)))
    codes = pd.factorize(frame["housing"].astype(str))[0]
    smoothed = information_value(codes, y, counts.shape[0])
    assert round(smoothed, 4) == 0.0838 and round(raw_iv, 4) == 0.0833
    text = " ".join(characteristics_lines(pd.DataFrame({"attribute": ["housing"],
                                                        "iv": [smoothed],
                                                        "iv_inflated": [False]})))
    assert "under the IV of the raw counts" not in text
    assert "above or below the IV of the raw counts" in text


def test_out_of_fold_iv_flags_a_noise_column_whose_in_sample_iv_reads_strong():
    """A 300-level column of random codes beside German credit's 1,000 applicants read IV
    0.82 in sample ("suspiciously strong") beside a cross-fitted AUC of 0.53, and nothing
    flagged it. Its out-of-fold IV (WOE fitted on the other folds, each held-out fold's
    goods' mean WOE minus its bads') is checked against numpy float64 by hand."""
    frame = load_dataset("german_credit")
    rng = np.random.default_rng(0)
    frame["noise"] = rng.choice([f"z{i}" for i in range(300)], len(frame))
    schema = infer_schema(frame, "creditability", "bad")
    y = (frame["creditability"] == "bad").to_numpy(np.float64)
    fold = np.arange(len(y)) % 5
    chars = characteristics(frame, schema, y, 5, fold, {}).set_index("attribute")
    for column in ("noise", "purpose", "status_of_existing_checking_account"):
        woe = np.zeros(len(y))
        for j in range(5):
            inside = fold == j
            woe[inside] = _woe_by_hand(frame[column][~inside], y[~inside],
                                       frame[column][inside])
        good, bad = woe[y == 0], woe[y == 1]
        np.testing.assert_allclose(chars.loc[column, "iv_out_of_fold"],
                                   good.mean() - bad.mean(), rtol=1e-12)
        np.testing.assert_allclose(chars.loc[column, "iv_out_of_fold_se"],
                                   np.sqrt(good.var(ddof=1) / len(good)
                                           + bad.var(ddof=1) / len(bad)), rtol=1e-12)
    noise, status = chars.loc["noise"], chars.loc["status_of_existing_checking_account"]
    assert noise["iv"] > 0.5 and noise["iv_out_of_fold"] < 2 * noise["iv_out_of_fold_se"]
    assert noise["iv_inflated"] and not status["iv_inflated"]
    assert status["iv_out_of_fold"] > 0.5 * status["iv"] > 0.3
    text = " ".join(characteristics_lines(chars.reset_index()))
    assert "In-sample IV overstates: `noise` (0.8" in text
    assert "`status_of_existing_checking_account` (" not in text


def test_out_of_fold_woe_equals_fits_on_the_whole_frames_rows():
    """Folds index the one column now, not the whole frame: each held-out fold's WOE is
    still, bit for bit, the WOE fitted on the other folds' rows of the whole frame (numeric
    with missing values, monotone or not, categorical text and number codes)."""
    from fjax.data.columns import category_values, numeric_values
    from fjax.data.woe import fit_categorical_woe, fit_numeric_woe
    from fjax.tasks.credit.characteristics import column_values, out_of_fold_woe
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame({"amount": np.where(rng.random(n) < 0.1, np.nan, rng.gamma(2, 500, n)),
                          "purpose": rng.choice(["car", "tv", "edu", "biz"], n),
                          "code": np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 6, n)),
                          "other": rng.normal(size=n), "bad": rng.choice(["bad", "good"], n)})
    schema = infer_schema(frame, "bad", "bad", categorical=["code"])
    y = (frame["bad"] == "bad").to_numpy(np.float64)
    fold = rng.integers(0, 5, n)
    for column, monotone in (("amount", False), ("amount", True), ("purpose", False),
                             ("code", False)):
        oracle = np.empty(n)
        for j in range(5):
            out = fold == j
            if column == "amount":
                woe = fit_numeric_woe(numeric_values(frame[~out], column), y[~out], 5,
                                      monotone=monotone)
                oracle[out] = woe.transform(numeric_values(frame[out], column))
            else:
                woe = fit_categorical_woe(category_values(frame[~out], column), y[~out])
                oracle[out] = woe.transform(category_values(frame[out], column))
        got = out_of_fold_woe(column_values(frame, schema, column), y, 5, fold, monotone)
        np.testing.assert_array_equal(got, oracle)
