"""Tabular preprocessing: fitted on training rows only, per fold, with errors that name
the column."""

import json
import shlex

import numpy as np
import pandas as pd
import pytest
import tyro
from scipy.stats import spearmanr

from fjax.data.columns import TableSchema, binary_target, check_class_counts, infer_schema
from fjax.data.splits import stratified_kfold
from fjax.data.tabular import TabularEncoder, fit_encoder
from fjax.data.woe import fit_categorical_woe, fit_numeric_woe
from fjax.datasets import load_dataset
from fjax.tasks.credit import Config
from fjax.tasks.credit.data import CreditData, fold_design

GERMAN = load_dataset("german_credit").iloc[:120].reset_index(drop=True)


def small_frame():
    return pd.DataFrame({
        "amount": [100.0, np.nan, 300.0, 400.0, 500.0, 600.0],
        "city": ["a", "b", "a", None, "c", "b"],
        "y": ["bad", "good", "good", "bad", "good", "good"],
    })


def german_data(frame, k=3):
    schema = infer_schema(frame, "creditability", "bad")
    y = binary_target(frame, schema)
    return CreditData(frame=frame, schema=schema, y=y, ids=np.arange(len(frame)),
                      folds=stratified_kfold(y, k, seed=0))


def test_statistics_come_from_training_rows_only():
    df = small_frame()
    schema = infer_schema(df, "y", "bad")
    assert schema.numeric == ("amount",) and schema.categorical == ("city",)
    y = binary_target(df, schema)
    rows = np.array([True, True, True, True, False, False])
    enc = fit_encoder(df, schema, y, rows)
    train = np.array([100.0, 300.0, 400.0])  # the training rows' present values
    fill = np.median(train)
    imputed = np.array([100.0, fill, 300.0, 400.0])
    np.testing.assert_allclose(enc.fill, [fill])
    np.testing.assert_allclose(enc.scaler.offset, [imputed.mean()])
    np.testing.assert_allclose(enc.scaler.scale, [imputed.std()])
    assert enc.indicators == ("amount",)
    assert enc.vocab == {"city": ("<missing>", "a", "b")}  # "c" is only in row 4 (validation)
    out = enc.transform(df)
    names = enc.num_names
    assert names == ("amount", "amount:missing", "city=<unknown>", "city=<missing>",
                     "city=a", "city=b")
    np.testing.assert_allclose(out.num[:, 0], (np.r_[imputed, 500, 600] - imputed.mean())
                               / imputed.std(), rtol=1e-6)
    np.testing.assert_array_equal(out.num[:, 1], [0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(out.num[:, 2:].sum(axis=1), np.ones(6))  # one slot each
    # unseen "c" -> the training rows' mix of cities (<missing> 1, a 2, b 1 of 4): it
    # scores as the average applicant, whatever share of the intercept each city took
    np.testing.assert_allclose(out.num[4, 2:], [0, 0.25, 0.5, 0.25])
    idx = fit_encoder(df, schema, y, rows, categorical="index").transform(df)
    np.testing.assert_array_equal(idx.cat[:, 0], [2, 3, 2, 1, 0, 3])


def test_planted_validation_value_does_not_change_the_training_transform():
    data = german_data(GERMAN)
    j = 1
    row = int(np.nonzero(data.folds.val[j])[0][0])
    planted = GERMAN.copy()
    for column in planted.columns:
        planted[column] = planted[column].astype(object)
    planted.loc[row, "credit_amount"] = 1e9
    planted.loc[row, "age_in_years"] = np.nan
    planted.loc[row, "purpose"] = "a brand new purpose"
    other = german_data(planted)
    cfg = Config()
    clean, dirty = fold_design(cfg, data), fold_design(cfg, other)
    assert clean.encoders[j].to_dict() == dirty.encoders[j].to_dict()
    width = len(clean.encoders[j].num_names)  # fold j's columns, before padding
    train = clean.stack.folds.train[j] > 0
    a, b = clean.stack.data["x"][train], dirty.stack.data["x"][train]
    np.testing.assert_array_equal(a[:, :width], b[:, :width])
    assert not b[:, width:].any()  # padding only
    # the other folds trained on the planted row, so their statistics did move
    assert clean.encoders[0].to_dict() != dirty.encoders[0].to_dict()
    # the planted row is still encoded, with fold j's statistics
    x_row = dirty.stack.data["x"][dirty.stack.block_rows(j)][row]
    names = dirty.encoders[j].num_names
    block = [i for i, n in enumerate(names) if n.startswith("purpose=")]
    fold_train = other.frame["purpose"][other.folds.train[j] > 0].astype(str)
    shares = fold_train.value_counts(normalize=True)   # fold j's training rows, by hand
    want = [0.0] + [shares.get(n.split("=", 1)[1], 0.0) for n in
                    (names[i] for i in block[1:])]
    np.testing.assert_allclose(x_row[block], want, rtol=1e-6)
    assert x_row[names.index("credit_amount")] > 1e4


def test_weight_of_evidence_matches_a_hand_computed_table():
    # categories a: 3 good / 1 bad, b: 1 good / 3 bad  (G = 4, B = 4, smoothing 0.5)
    values = np.array(list("aaaabbbb"))
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1], np.float64)
    woe = fit_categorical_woe(values, y)
    expect_a = np.log((3.5 / 5) / (1.5 / 5))
    np.testing.assert_allclose(woe.woe, [expect_a, -expect_a])
    np.testing.assert_allclose(woe.transform(np.array(["b", "zzz"])), [-expect_a, 0.0])
    x = np.array([1.0, 2, 3, 4, 5, 6, 7, 8, np.nan, np.nan])
    yn = np.array([0, 0, 0, 0, 1, 1, 1, 0, 1, 1], np.float64)
    num = fit_numeric_woe(x, yn, n_bins=2)
    np.testing.assert_allclose(num.edges, [5.0])   # the median, as the observed value above
    # bins: low 4 good 0 bad, high 1 good 3 bad, missing 0 good 2 bad; G=5, B=5, 3 bins
    g, b = np.array([4, 1, 0]) + 0.5, np.array([0, 3, 2]) + 0.5
    expect = np.log((g / g.sum()) / (b / b.sum()))
    np.testing.assert_allclose(num.transform(np.array([4.9, 5.0, np.nan])), expect)


def test_numeric_woe_bins_all_hold_training_rows():
    """A count with most rows at its minimum: the quantile edges 1, 1, 2, 2 left the bins
    below 1 and [1, 1) empty (an empty bin's WOE is ln(Bad / G), about -0.85 at 30% bads).
    Its bins are its values 1, 2, 3 (60%, 25%, 15% of the rows), each holding rows."""
    x = np.array([1.0] * 12 + [2.0] * 5 + [3.0] * 3)
    y = np.array([0, 1] * 6 + [0, 0, 0, 1, 1] + [1, 0, 1], np.float64)
    num = fit_numeric_woe(x, y, n_bins=5)
    np.testing.assert_allclose(num.edges, [2.0, 3.0])
    counts = np.bincount(num.bin_of(x), minlength=len(num.edges) + 1)
    assert (counts > 0).all()
    # bins [.., 2): 6 good 6 bad; [2, 3): 3 good 2 bad; [3, ..): 1 good 2 bad (3 bins)
    g, b = np.array([6, 3, 1]) + 0.5, np.array([6, 2, 2]) + 0.5
    expect = np.log((g / g.sum()) / (b / b.sum()))
    np.testing.assert_allclose(num.transform(np.array([0.0, 1.0, 2.5, 9.0])),
                               expect[[0, 0, 1, 2]])


@pytest.mark.parametrize("rest, edges, good, bad", [
    (np.ones(10), [1.0], [80, 5], [10, 5]),                         # {0}, {1}
    (np.arange(1.0, 11.0), [1.0, 6.0], [80, 2, 3], [10, 3, 2])])    # {0}, {1..5}, {6..10}
def test_numeric_woe_keeps_a_flag_or_a_count_mostly_at_its_minimum(rest, edges, good, bad):
    """A 0/1 flag with 10% ones, and a count with 90% zeros: every quantile edge is 0, and
    dropping that edge left one bin (WOE 0 for every row), so the column was lost. The
    count's ones to tens (1% each) make two bins of the 5% minimum share."""
    x = np.r_[np.zeros(90), rest]
    y = np.r_[np.tile([1.0] + [0.0] * 8, 10), np.tile([1.0, 0.0], 5)]   # 10% vs 50% bad
    num = fit_numeric_woe(x, y, n_bins=5)
    np.testing.assert_allclose(num.edges, edges)
    g, b = np.array(good) + 0.5, np.array(bad) + 0.5
    expect = np.log((g / g.sum()) / (b / b.sum()))
    np.testing.assert_allclose(num.transform(x), expect[num.bin_of(x)])
    np.testing.assert_allclose(num.transform(np.array([0.0, 1.0, 70.0])), expect[[0, 1, -1]])


@pytest.mark.parametrize("n_bins, edges", [(5, [1.0, 2.0, 3.0]), (20, [1.0, 2.0, 3.0]),
                                            (2, [1.0])])
def test_numeric_woe_bins_a_count_mostly_zero_by_its_values(n_bins, edges):
    """A days-past-due count, 80% zeros, then 1, 2, 3 and the code 98: quantile edges, all 0,
    made bins {0} and {1+} whatever n_bins; a scorecard bins it {0}, {1}, {2}, {3+}, each
    bin holding at least 5% of the rows (10 of 200; {3, 98} holds exactly 10)."""
    x = np.repeat([0.0, 1.0, 2.0, 3.0, 98.0], [160, 20, 10, 6, 4])
    bad_per_value = [8, 4, 4, 3, 3]                  # bad rates 5%, 20%, 40%, 50%, 75%
    y = np.concatenate([np.arange(n) < b for n, b in zip([160, 20, 10, 6, 4], bad_per_value)])
    y = y.astype(np.float64)
    num = fit_numeric_woe(x, y, n_bins=n_bins)
    np.testing.assert_array_equal(num.edges, edges)
    # by hand: each value's bin, then goods and bads per bin in pandas
    top = len(edges)
    frame = pd.DataFrame({"bin": np.minimum(x, top).astype(int), "y": y})
    bad = frame.groupby("bin")["y"].sum().to_numpy()
    good = frame.groupby("bin")["y"].count().to_numpy() - bad
    g, b = good + 0.5, bad + 0.5
    expect = np.log((g / g.sum()) / (b / b.sum()))
    np.testing.assert_allclose(num.transform(np.array([0.0, 1.0, 2.0, 3.0, 98.0, 500.0])),
                               expect[np.minimum([0, 1, 2, 3, 3, 3], top)], rtol=1e-12)


def _zero_inflated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A count with 80% zeros and a logistic target whose log-odds rise with the count but
    dip at 2, so pooling to a monotone bad rate has bins to merge."""
    rng = np.random.default_rng(seed)
    x = np.where(rng.random(n) < 0.8, 0.0, rng.geometric(0.45, n).astype(np.float64))
    logit = -2.5 + 0.6 * np.minimum(x, 5) - 0.9 * (x == 2)
    return x, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float64)


@pytest.mark.parametrize("monotone", [False, True])
def test_numeric_woe_splits_a_tie_heavy_count_into_bins_of_the_minimum_share(monotone):
    x, y = _zero_inflated(20_000, 7)
    train = np.random.default_rng(8).random(len(x)) < 0.8
    num = fit_numeric_woe(x[train], y[train], n_bins=10, monotone=monotone)
    lo, hi = np.r_[-np.inf, num.edges], np.r_[num.edges, np.inf]
    share = np.array([((x[train] >= a) & (x[train] < b)).mean() for a, b in zip(lo, hi)])
    rate = np.array([y[train][(x[train] >= a) & (x[train] < b)].mean()
                     for a, b in zip(lo, hi)])
    assert len(num.woe) > 2 and num.edges[0] == 1.0
    assert share.min() >= 0.05
    assert np.isin(num.edges, x[train]).all()
    if monotone:   # the bad rate only rises with the count, and the WOE only falls
        assert (np.diff(rate) > 0).all() and (np.diff(num.woe) < 0).all()
    else:          # the dip at 2 is its own bin, below the bin of 1
        assert rate[2] < rate[1]
    assert num.bin_of(np.array([0.0]))[0] == 0


def test_numeric_woe_cuts_a_rare_flag_once_and_allows_many_bins():
    """A flag with 3% ones leaves its ones under the 5% minimum, yet one bin (WOE 0 for all)
    would lose it; 30 bins of a continuous column hold 1/30 of the rows each, not 5%."""
    x = np.r_[np.zeros(97), np.ones(3)]
    y = np.r_[np.zeros(90), np.ones(7), np.ones(3)]
    np.testing.assert_array_equal(fit_numeric_woe(x, y, n_bins=5).edges, [1.0])
    x = np.random.default_rng(1).normal(size=900)
    num = fit_numeric_woe(x, np.zeros(900), n_bins=30)
    np.testing.assert_array_equal(np.bincount(num.bin_of(x)), np.full(30, 30))


def test_numeric_woe_cuts_once_where_rare_values_sit_at_both_ends():
    """2% at 0, 96% at 1, 2% at 2: every cut leaves a bin under the 5% minimum, so the
    column is cut once, as a rare flag is; it was cut twice, two bins of 2% each.
    By hand: both cuts leave 2 rows on their small side, the first is taken."""
    x = np.repeat([0.0, 1.0, 2.0], [2, 96, 2])
    y = np.r_[np.zeros(50), np.ones(50)]
    np.testing.assert_array_equal(fit_numeric_woe(x, y, n_bins=5).edges, [1.0])
    np.testing.assert_array_equal(fit_numeric_woe(-x, y, n_bins=5).edges, [-1.0])


def test_numeric_woe_edges_are_observed_values_so_labels_tell_the_bin():
    """An interpolated edge 2997.0000000000014 printed as "2997" while the applicants with
    2997 fell in the bin below it: the scorecard gave them the other bin's points."""
    rng = np.random.default_rng(19)
    x = rng.integers(100, 5000, size=int(rng.integers(20, 200))).astype(np.float64)
    y = (rng.random(len(x)) < 0.3).astype(np.float64)
    interpolated = np.quantile(x, np.linspace(0, 1, 6)[1:-1])   # one is 2827.0000000000005
    assert not np.isin(interpolated, x).all() and np.isin(np.round(interpolated), x).all()
    num = fit_numeric_woe(x, y, n_bins=5)
    assert np.isin(num.edges, x).all()
    for j, edge in enumerate(num.edges):   # a value equal to an edge opens the bin labelled so
        assert num.labels()[num.bin_of(np.array([edge]))[0]].startswith(f"[{edge:.6g},")
        assert num.bin_of(np.array([edge]))[0] == j + 1


def _frame(**cols):
    base = {"x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "y": ["bad", "good"] * 3}
    base.update(cols)
    return pd.DataFrame(base)


@pytest.mark.parametrize("frame, kwargs, match", [
    (_frame(y=["a", "b", "c", "a", "b", "c"]), {}, "target column 'y'.*three|exactly two"),
    (_frame(), {"positive": "default"}, "positive label 'default'.*'y'"),
    (_frame(empty=[np.nan] * 6), {}, "column 'empty' is entirely missing.*data.drop"),
    (_frame(const=[7] * 6), {}, "column 'const' has the single value.*data.drop"),
    (_frame(amount=["10", "20", "abc", "40", "50", "60"]), {}, "numeric column 'amount'.*'abc'"),
    (_frame(), {"numeric": ("nope",)}, "data.numeric names column.*'nope'"),
    (_frame(opened=["2023-01-31", "2023-02-01", "2023-02-01", None, "2023-03-15",
                    "2023-01-31"]), {},
     r"column 'opened' holds dates \(e.g. '2023-01-31'\).*data.drop"),
    (_frame(opened=["31/01/2023", "01/02/2023", "01/02/2023", "04/03/2023", "15/03/2023",
                    "31/01/2023"]), {}, "column 'opened' holds dates"),
    (_frame(opened=pd.to_datetime(["2023-01-31", "2023-02-01", "2023-02-01", "2023-03-04",
                                   "2023-03-15", "2023-01-31"])), {},
     "column 'opened' holds dates"),
    (_frame(opened=["2024-03-30 10:00+01:00", "2024-04-01 10:00+02:00"] * 3), {},   # DST change:
     "column 'opened' holds dates"),   # pandas 3 raised its own 'Mixed timezones detected'
])
def test_bad_input_names_the_column(frame, kwargs, match):
    kw = {"positive": "bad", **kwargs}
    with pytest.raises(ValueError, match=match):
        infer_schema(frame, "y", kw.pop("positive"), **kw)


def test_a_text_column_distinct_in_every_row_is_refused_as_an_identifier():
    """A user's applicant_id (600 values in 600 rows) was one-hot encoded silently and
    ranked second in importance."""
    n = 30
    frame = pd.DataFrame({"x": np.arange(n) % 7, "y": ["bad", "good"] * (n // 2),
                          "applicant_id": [f"A{i:03d}" for i in range(n)]})
    with pytest.raises(ValueError, match="column 'applicant_id' has a different value in every "
                                         "row .*data.id_column='applicant_id'"):
        infer_schema(frame, "y", "bad")
    with_gaps = frame.assign(applicant_id=frame["applicant_id"].where(frame.index > 2))
    with pytest.raises(ValueError, match=r"every row that has one \(27\)"):
        infer_schema(with_gaps, "y", "bad")
    assert infer_schema(frame, "y", "bad", id_column="applicant_id").categorical == ()
    assert infer_schema(frame, "y", "bad", drop=("applicant_id",)).categorical == ()
    kept = infer_schema(frame, "y", "bad", categorical=("applicant_id",))
    assert kept.categorical == ("applicant_id",)
    repeated = frame.assign(applicant_id=frame["applicant_id"].where(frame.index > 0, "A001"))
    assert infer_schema(repeated, "y", "bad").categorical == ("applicant_id",)
    assert infer_schema(frame.iloc[:19], "y", "bad").categorical == ("applicant_id",)


def test_fewer_rows_of_a_class_than_folds_names_the_target():
    with pytest.raises(ValueError, match="target column 'creditability' has only 2 positive"):
        check_class_counts(np.array([1, 1, 0, 0, 0, 0, 0]), 5, "creditability")


def test_missing_target_values_are_named():
    frame = _frame(y=["bad", None, "good", "bad", "good", "bad"])
    with pytest.raises(ValueError, match="target column 'y' is missing in 1 row"):
        infer_schema(frame, "y", "bad")


def test_an_unseen_category_gets_neutral_woe():
    woe = fit_categorical_woe(np.array(["a", "a", "b", "b", "b"]), np.array([1, 0, 0, 0, 0]))
    assert woe.transform(np.array(["c"])).tolist() == [0.0]


def test_an_unseen_category_under_woe_scores_as_the_training_applicants_mix():
    """woe="all": a category training never held encodes as the training rows' mean WOE
    (by hand with pandas), so a linear model gives it what it gives the average applicant
    (0 points against the reference, as an unseen one-hot category). WOE 0, the
    population's odds, scored it 0.10 WOE below the average applicant here."""
    df = pd.DataFrame({"city": ["a"] * 6 + ["b"] * 3 + ["c"] * 3 + ["new"] * 2,
                       "y": ["good"] * 5 + ["bad"] + ["good", "bad", "bad"]
                       + ["good", "good", "bad"] + ["bad", "good"]})
    schema = infer_schema(df, "y", "bad")
    y = binary_target(df, schema)
    rows = (df["city"] != "new").to_numpy()
    enc = fit_encoder(df, schema, y, rows, woe="all")
    train = df[rows].assign(bad=y[rows])
    woe = woe_by_hand(train, "city")
    mix = train["city"].map(woe).mean()
    assert mix > 0.1
    out = enc.transform(df).num[:, 0]
    np.testing.assert_allclose(out[:12], train["city"].map(woe), atol=1e-6)
    np.testing.assert_allclose(out[12:], mix, atol=1e-6)
    assert enc.to_dict()["woe"]["city"]["unseen"] == pytest.approx(mix)


def woe_by_hand(train: pd.DataFrame, column: str) -> pd.Series:
    """Each value's WOE over `train` (a 0/1 `bad` column), goods and bads smoothed by 0.5
    per value as fjax's encoder does: log(good share) - log(bad share)."""
    counts = train.groupby(column)["bad"].agg(bads="sum", n="size")
    good, bad, a, k = counts["n"] - counts["bads"], counts["bads"], 0.5, len(counts)
    return (np.log((good + a) / (good.sum() + a * k))
            - np.log((bad + a) / (bad.sum() + a * k)))


@pytest.mark.parametrize("categorical", ["onehot", "index"])
def test_a_missing_number_where_training_held_none_scores_as_the_training_mix(categorical):
    """A numeric column whole in the training rows, missing in a scored row: under WOE it
    encodes as the training rows' mean WOE (by hand with pandas: 0.335 here, where it got
    WOE 0, the population's odds), standardized as the training mean (scikit-learn's mean
    imputer and scaler: 0, where the median gave -0.56), in one-hot and index (MLP) mode
    alike, so it scores as the average applicant, as an unseen category does; `unseen`
    counts those rows."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler
    amount = [10.0] * 4 + [20.0] * 4 + [90.0] * 4
    df = pd.DataFrame({"amount": amount + [np.nan, np.nan],
                       "city": ["a", "b"] * 7,
                       "y": ["good"] * 9 + ["bad"] * 3 + ["good", "bad"]})
    schema = infer_schema(df, "y", "bad")
    y = binary_target(df, schema)
    rows = df["amount"].notna().to_numpy()
    train = df[rows].assign(bad=y[rows])
    woe = woe_by_hand(train, "amount")
    mix = train["amount"].map(woe).mean()
    assert abs(mix) > 0.05
    enc = fit_encoder(df, schema, y, rows, categorical=categorical, woe="numeric",
                      woe_bins=3)
    out = enc.transform(df).num[:, enc.num_names.index("amount:woe")]
    np.testing.assert_allclose(out[:12], train["amount"].map(woe), atol=1e-6)
    np.testing.assert_allclose(out[12:], mix, atol=1e-6)
    assert enc.unseen(df) == {"amount": 2}

    enc = fit_encoder(df, schema, y, rows, categorical=categorical)
    got = enc.transform(df).num[:, enc.num_names.index("amount")]
    imputer = SimpleImputer(strategy="mean").fit(df.loc[rows, ["amount"]])
    scaler = StandardScaler().fit(imputer.transform(df.loc[rows, ["amount"]]))
    want = scaler.transform(imputer.transform(df[["amount"]]))[:, 0]
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert want[-1] == pytest.approx(0.0, abs=1e-12) and "amount" not in enc.indicators
    assert enc.unseen(df) == {"amount": 2}


def _woe_frame():
    return pd.DataFrame({
        "amount": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, np.nan, 900.0, 950.0, 990.0, 999.0],
        "city": ["a", "a", "b", "b", "a", "b", "a", "b", "z", "z", "z", "z"],
        "y": ["good", "good", "good", "bad", "bad", "bad", "good", "bad",
              "bad", "bad", "bad", "bad"],
    })


@pytest.mark.parametrize("mode", ["numeric", "all"])
def test_woe_modes_replace_the_right_columns_with_training_row_woe(mode):
    """woe="numeric": numeric columns become WOE (not also standardized), categoricals stay
    one-hot; woe="all": categoricals become WOE too. Bins and WOE come from the training
    rows only, with `woe_bins` bins."""
    df = _woe_frame()
    schema = infer_schema(df, "y", "bad")
    y = binary_target(df, schema)
    rows = np.arange(len(df)) < 8           # rows 8-11 (wild amounts, city "z") validate
    enc = fit_encoder(df, schema, y, rows, woe=mode, woe_bins=2)
    amount, city = df["amount"].to_numpy(float), df["city"].to_numpy(object)
    expect_num = fit_numeric_woe(amount[rows], y[rows], n_bins=2)
    assert enc.standardized == () and enc.indicators == ()
    np.testing.assert_allclose(enc.woe["amount"].edges, expect_num.edges)
    np.testing.assert_allclose(enc.woe["amount"].woe, expect_num.woe)
    out = enc.transform(df).num
    np.testing.assert_allclose(out[:, 0], expect_num.transform(amount), rtol=1e-6)
    if mode == "numeric":
        assert "city" not in enc.woe and enc.vocab == {"city": ("a", "b")}
        assert enc.num_names == ("amount:woe", "city=<unknown>", "city=a", "city=b")
    else:
        expect_cat = fit_categorical_woe(city[rows], y[rows])
        assert enc.vocab == {} and enc.num_names == ("amount:woe", "city:woe")
        np.testing.assert_allclose(out[:, 1], expect_cat.transform(city), rtol=1e-6)
        # "z" unseen in training: the training rows' mix (a and b's WOE cancel here)
        np.testing.assert_allclose(out[8:, 1], np.mean(out[:8, 1]), atol=1e-7)


@pytest.mark.parametrize("woe", ["none", "numeric", "all"])
@pytest.mark.parametrize("categorical", ["onehot", "index"])
def test_an_encoder_read_back_from_its_json_encodes_bit_for_bit(woe, categorical):
    """A saved credit model keeps its encoder as to_dict's JSON: read back with from_dict,
    it encodes every row (missing numbers, unseen categories) exactly as the fitted one."""
    df = _woe_frame()
    df.loc[9, "amount"] = np.nan
    schema = infer_schema(df, "y", "bad")
    enc = fit_encoder(df, schema, binary_target(df, schema), np.arange(len(df)) < 8,
                      categorical=categorical, woe=woe, woe_bins=2)
    back = TabularEncoder.from_dict(json.loads(json.dumps(enc.to_dict())), schema)
    assert back.to_dict() == enc.to_dict()
    got, want = back.transform(df), enc.transform(df)
    for a, b in ((got.num, want.num), (got.cat, want.cat)):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_an_empty_training_mask_is_refused():
    df = small_frame()
    schema = infer_schema(df, "y", "bad")
    for woe in ("none", "all"):   # with woe="all" no scaler is fitted to notice
        with pytest.raises(ValueError, match="rows must be a boolean mask.*at least one"):
            fit_encoder(df, schema, binary_target(df, schema), np.zeros(len(df), bool),
                        woe=woe)


def test_a_column_missing_in_every_training_row_is_filled_with_zero_and_flagged():
    """No training median exists: the fill is 0, the column constant in training (scale
    1), so a validation value v encodes as v, and the indicator column is kept."""
    df = small_frame()
    df.loc[:3, "amount"] = np.nan
    schema = infer_schema(df, "y", "bad")
    rows = np.array([True, True, True, True, False, False])
    enc = fit_encoder(df, schema, binary_target(df, schema), rows)
    np.testing.assert_array_equal(enc.fill, [0.0])
    assert enc.indicators == ("amount",)
    out = enc.transform(df).num
    np.testing.assert_allclose(out[:, 0], [0, 0, 0, 0, 500, 600])
    np.testing.assert_array_equal(out[:, 1], [1, 1, 1, 1, 0, 0])


def test_a_column_at_least_half_numbers_is_numeric_so_its_text_is_an_error():
    """NUMERIC_SHARE = 0.5: 3 numbers of 6 values make the column numeric (and its text
    an error naming it); 2 of 6 leave it categorical."""
    half = _frame(code=["10", "20", "30", "abc", "def", "ghi"])
    with pytest.raises(ValueError, match="numeric column 'code' has non-numeric text"):
        infer_schema(half, "y", "bad")
    third = _frame(code=["10", "20", "abc", "def", "ghi", "jkl"])
    assert infer_schema(third, "y", "bad").categorical == ("code",)


def test_infer_schema_roles_of_special_columns():
    frame = _frame(
        applicant=[101, 102, 103, 104, 105, 106],                    # the id: never a feature
        flag=[True, False, True, True, False, True],                 # bool -> categorical
        grade=pd.Categorical(["1", "2", "1", "3", "2", "1"]),        # categorical dtype
        zip_code=[1000, 2000, 1000, 3000, 2000, 1000],               # declared categorical
        sparse=[5.0, np.nan, 5.0, np.nan, 5.0, 5.0])                 # one value + missing
    schema = infer_schema(frame, "y", "bad", categorical=("zip_code",), id_column="applicant")
    assert schema.numeric == ("x", "sparse")
    assert schema.categorical == ("flag", "grade", "zip_code")
    assert "applicant" not in schema.features and schema.id_column == "applicant"


def test_an_infinite_numeric_value_is_named():
    frame = _frame(amount=[1.0, 2.0, np.inf, 4.0, 5.0, 6.0])
    with pytest.raises(ValueError, match="numeric column 'amount' has an infinite value at row 2"):
        infer_schema(frame, "y", "bad")


def test_a_numeric_positive_label_matches_numbers_of_any_spelling():
    """positive "1" matches a target stored as 1.0 (text "1.0"), numerically."""
    frame = _frame(y=[1.0, 0.0, 0.0, 1.0, 0.0, 1.0])
    schema = infer_schema(frame, "y", "1")
    np.testing.assert_array_equal(binary_target(frame, schema), [1, 0, 0, 1, 0, 1])


def test_labels_spelled_as_text_and_as_numbers_are_one_class_as_scoring_reads_them():
    """Text "1" and "1.0" (a parquet string column, say) were two classes to training, so a
    0/1 column holding both was refused as three, while `fjax score credit` reads both as
    the bad label: training now groups labels by scoring's rule (`label_classes`); a
    genuinely third value is still refused, named. So is an older model file's good label
    (no recorded one: the file's one other value, "0" and "0.0" alike)."""
    from fjax.tasks.credit.labelled import file_labels
    frame = _frame(y=["1", "1.0", "0", "0.0", "1", "0"])
    schema = infer_schema(frame, "y", "1")
    np.testing.assert_array_equal(binary_target(frame, schema), [1, 1, 0, 0, 1, 0])
    with pytest.raises(ValueError, match=r"exactly two classes .*found 3: '0', '1', '2';"):
        infer_schema(_frame(y=["1", "1.0", "0", "2", "1", "0"]), "y", "1")
    labels = file_labels("--data 'new.csv'", schema, None, frame)
    assert labels.good == "0"
    np.testing.assert_array_equal(labels.y, [1, 1, 0, 0, 1, 0])


@pytest.mark.parametrize("frame, kwargs, match", [
    (_frame(y=["bad"] * 6), {}, "target column 'y' must have exactly two classes.*found 1"),
    (_frame(), {"numeric": ("x",), "categorical": ("x",)}, r"'x' are in both data.numeric"),
    (_frame(), {"numeric": ("y",)}, r"'y' are declared as features but are the target"),
    (_frame(k=list("abcdef")), {"categorical": ("k",), "drop": ("k",)},
     r"'k' are declared as features but are the target, the id or dropped"),
])
def test_contradictory_roles_and_a_single_class_are_refused(frame, kwargs, match):
    with pytest.raises(ValueError, match=match):
        infer_schema(frame, "y", "bad", **kwargs)


def test_as_many_rows_of_a_class_as_folds_is_enough():
    check_class_counts(np.array([1, 1, 1, 0, 0, 0, 0]), 3, "creditability")   # no error


def test_an_unnamed_index_column_is_named_as_the_field_and_the_flag_that_fix_it():
    """A pandas index saved with the file (`Unnamed: 0`) was told to set
    `data.id_column='Unnamed: 0'`, a config field the command line spells
    `--data.id-column`. The message names both, the flag quoted for the shell: oracle,
    the credit command line parsing the suggested flag to that id column."""
    n = 30
    frame = pd.DataFrame({"Unnamed: 0": np.arange(n), "x": np.arange(n) % 7,
                          "y": ["bad", "good"] * (n // 2)})
    with pytest.raises(ValueError, match="numbers the rows") as err:
        infer_schema(frame, "y", "bad")
    assert "data.id_column='Unnamed: 0' (--data.id-column 'Unnamed: 0')" in str(err.value)
    flag = str(err.value).split("(--data.id-column ", 1)[1].split(")", 1)[0]
    cfg = tyro.cli(Config, args=["--data.id-column", *shlex.split(flag)])
    assert cfg.data.id_column == "Unnamed: 0"
    assert infer_schema(frame, "y", "bad", id_column=cfg.data.id_column).numeric == ("x",)


def test_an_undeclared_column_that_numbers_the_rows_is_refused_as_an_identifier():
    """Numbers 1..n in any order, each once, are a row number: a model would learn the
    file's order. Declared, or with a gap, a repeat or a fraction, it is a feature."""
    n = 30
    ids = np.random.default_rng(0).permutation(n) + 1001
    frame = pd.DataFrame({"x": np.arange(n) % 7, "y": ["bad", "good"] * (n // 2), "id": ids})
    with pytest.raises(ValueError, match="column 'id' numbers the rows .*data.id_column='id'"):
        infer_schema(frame, "y", "bad")
    assert infer_schema(frame, "y", "bad", numeric=("id",)).numeric == ("x", "id")
    assert infer_schema(frame, "y", "bad", id_column="id").numeric == ("x",)
    for feature in (np.where(ids == 1001, 999, ids), np.where(ids == 1001, 1002, ids),
                    ids + 0.5, np.where(ids == 1001, np.nan, ids)):
        assert infer_schema(frame.assign(id=feature), "y", "bad").numeric == ("x", "id")
    assert infer_schema(frame.iloc[:19], "y", "bad").numeric == ("x", "id")
    assert infer_schema(frame.iloc[:20], "y", "bad", drop=("id",)).numeric == ("x",)
    with pytest.raises(ValueError, match="numbers the rows"):
        infer_schema(frame.assign(id=ids.astype(str)), "y", "bad")   # read as text
    # A sequential id with gaps (loan numbers issued in order) rises with every row.
    loans = 100_000 + np.cumsum(np.random.default_rng(1).integers(1, 50, n))
    for order, way in ((loans, "rises"), (loans[::-1], "falls")):
        with pytest.raises(ValueError, match=f"column 'loan' {way} with every row"):
            infer_schema(frame.assign(loan=order), "y", "bad", drop=("id",))
    shuffled = np.random.default_rng(2).permutation(loans)
    assert infer_schema(frame.assign(loan=shuffled), "y", "bad",
                        drop=("id",)).numeric == ("x", "loan")


def test_numbers_written_with_separators_huge_numbers_and_no_features_are_refused():
    """"1,037" made credit_amount a category of 296 values; 1e300 made its scale inf, so
    the column silently scored 0; dropping every column crashed with ZeroDivisionError."""
    n = 30
    frame = pd.DataFrame({"x": np.arange(n) % 7, "y": ["bad", "good"] * (n // 2),
                          "amount": [f"{1000 + 37 * i:,}" for i in range(n)]})
    with pytest.raises(ValueError, match=r"column 'amount' holds numbers written with "
                                         r"separators .*'1,000'.*data.categorical"):
        infer_schema(frame, "y", "bad")
    assert infer_schema(frame, "y", "bad", categorical=("amount",)).categorical == ("amount",)
    words = frame.assign(amount=["low", "high", "mid"] * (n // 3))    # real text: a category
    assert infer_schema(words, "y", "bad").categorical == ("amount",)
    codes = frame.assign(amount=["100 10", "114 55", "752 31"] * (n // 3))   # postcodes
    assert infer_schema(codes, "y", "bad").categorical == ("amount",)
    ranges = frame.assign(amount=["1,000-2,000", "2,000-5,000", "5,000+"] * (n // 3))
    assert infer_schema(ranges, "y", "bad").categorical == ("amount",)
    signs = frame.assign(amount=[f"${i}" for i in range(n)])          # a sign, no groups
    with pytest.raises(ValueError, match=r"separators or currency signs \(e.g. '\$0'\)"):
        infer_schema(signs, "y", "bad")
    three = frame.assign(amount=["0,125", "1,500", "2,750"] * (n // 3))   # 0,125 is 0.125
    with pytest.raises(ValueError, match=r"decimal commas \(e.g. '0,125'\)"):
        infer_schema(three, "y", "bad")
    commas = frame.assign(amount=[f"{i},5" for i in range(n)])    # "0,5" is not 5
    with pytest.raises(ValueError, match=r"decimal commas \(e.g. '0,5'\); write the decimal "
                                         r"comma as a point"):
        infer_schema(commas, "y", "bad")
    huge = frame.assign(amount=np.r_[1.0, np.full(n - 1, 2.0)] * 1e300)
    with pytest.raises(ValueError, match=r"column 'amount' holds 1e\+300 at row 0, beyond"):
        infer_schema(huge, "y", "bad")
    with pytest.raises(ValueError, match="no feature columns are left"):
        infer_schema(frame, "y", "bad", drop=("x", "amount"))


@pytest.mark.parametrize("categorical, woe", [("onehot", "none"), ("index", "none"),
                                              ("onehot", "all")])
def test_numeric_codes_read_as_floats_in_training_match_integers_in_new_files(categorical, woe):
    """A blank makes pandas read grade 1..3 as 1.0..3.0; the applicants' file without
    blanks reads 1..3. Both must be the same categories, not all '<unknown>'."""
    train = pd.DataFrame({"grade": [1.0, 2.0, np.nan, 3.0, 1.0, 2.0, 3.0, 2.0],
                          "y": ["bad", "good", "good", "bad", "good", "good", "bad", "good"]})
    schema = TableSchema(target="y", positive="bad", numeric=(), categorical=("grade",))
    enc = fit_encoder(train, schema, binary_target(train, schema), categorical=categorical,
                      woe=woe)
    fresh = pd.DataFrame({"grade": [3, 1, 2]})
    assert fresh["grade"].dtype.kind == "i" and train["grade"].dtype.kind == "f"
    want = enc.transform(train.iloc[[3, 0, 1]].reset_index(drop=True))
    got = enc.transform(fresh)
    np.testing.assert_array_equal(got.num, want.num)
    np.testing.assert_array_equal(got.cat, want.cat)


@pytest.mark.parametrize("months", [["Dec-2011", "Jan-2012", "Jan-2012", "Feb-2012",
                                     "Mar-2012", "Dec-2011"],       # Lending Club's issue_d
                                    ["2011-12", "2012-01", "2012-01", "2012-02", "2012-03",
                                     "2011-12"]])
def test_months_are_dates_too(months):
    with pytest.raises(ValueError, match="column 'issued' holds dates"):
        infer_schema(_frame(issued=months), "y", "bad")


def test_codes_that_only_resemble_dates_stay_categories():
    """Product codes such as 12-3-45 (which pandas reads as 2045-12-03) have no
    four-digit year, so they are not dates; declared date columns are kept."""
    frame = _frame(code=["12-3-45", "12-4-45", "12-5-45", "12-3-45", "12-5-45", "12-4-45"],
                   opened=["2023-01-31", "2023-02-01", "2023-02-01", "2023-03-04",
                           "2023-03-15", "2023-01-31"])
    schema = infer_schema(frame, "y", "bad", categorical=("opened",))
    assert schema.categorical == ("code", "opened")


def test_category_codes_keep_every_integer_and_read_negative_zero_as_zero():
    """Read through float64, 12345678901234567 and ...568 were one category, and -0.0
    was '-0' while a file of integers wrote '0'."""
    from fjax.data.columns import category_values
    big = pd.DataFrame({"g": [12345678901234567, 12345678901234568]})
    assert list(category_values(big, "g")) == ["12345678901234567", "12345678901234568"]
    zeros = pd.DataFrame({"g": [-0.0, 0.0, 2.0, np.nan]})
    assert list(category_values(zeros, "g")) == ["0", "0", "2", "<missing>"]
    assert list(category_values(pd.DataFrame({"g": [0, 2]}), "g")) == ["0", "2"]


def _binned_column(rates: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Values 1..5, ten rows each, value k's bad rate rates[k-1]; and two missing bads."""
    x = np.r_[np.repeat(np.arange(1.0, 6.0), 10), np.nan, np.nan]
    y = np.r_[np.concatenate([np.arange(10) < round(10 * r) for r in rates]), 1, 1]
    return x, y.astype(np.float64)


def _hand_woe(good: list[int], bad: list[int]) -> np.ndarray:
    g, b = np.array(good) + 0.5, np.array(bad) + 0.5
    return np.log((g / g.sum()) / (b / b.sum()))


def test_monotone_woe_pools_the_violating_bins_in_the_rising_direction():
    """Bad rates 0.1, 0.3, 0.2, 0.4, 0.5: the 0.3 and 0.2 bins pool to 0.25 (by hand)."""
    x, y = _binned_column([0.1, 0.3, 0.2, 0.4, 0.5])
    assert fit_numeric_woe(x, y, n_bins=5).edges.tolist() == [2.0, 3.0, 4.0, 5.0]
    num = fit_numeric_woe(x, y, n_bins=5, monotone=True)
    np.testing.assert_array_equal(num.edges, [2.0, 4.0, 5.0])
    bins = num.bin_of(x[:50])
    np.testing.assert_allclose([y[:50][bins == k].mean() for k in range(4)],
                               [0.1, 0.25, 0.4, 0.5])
    # goods and bads per bin, then the missing bin (0 good, 2 bad): 5 bins in the smoothing
    expect = _hand_woe([9, 15, 6, 5, 0], [1, 5, 4, 5, 2])
    np.testing.assert_allclose(num.woe, expect[:4])
    np.testing.assert_allclose(num.missing_woe, expect[4])
    assert (np.diff(num.woe) < 0).all()


def test_monotone_woe_pools_a_falling_trend_in_the_falling_direction():
    x, y = _binned_column([0.5, 0.4, 0.2, 0.3, 0.1])
    num = fit_numeric_woe(x, y, n_bins=5, monotone=True)
    np.testing.assert_array_equal(num.edges, [2.0, 3.0, 5.0])
    np.testing.assert_allclose(num.woe, _hand_woe([5, 6, 15, 9, 0], [5, 4, 5, 1, 2])[:4])
    assert (np.diff(num.woe) > 0).all()


def test_monotone_woe_leaves_a_monotone_column_unchanged():
    x, y = _binned_column([0.1, 0.2, 0.3, 0.4, 0.5])
    plain = fit_numeric_woe(x, y, n_bins=5)
    num = fit_numeric_woe(x, y, n_bins=5, monotone=True)
    np.testing.assert_array_equal(num.edges, plain.edges)
    np.testing.assert_allclose(num.woe, plain.woe)
    assert num.missing_woe == plain.missing_woe


def test_encoder_pools_monotone_woe_bins_on_its_training_rows_only():
    """The held-out rows (all bad at value 1) would reverse the trend if they were read."""
    x, y = _binned_column([0.1, 0.3, 0.2, 0.4, 0.5])
    x, y = np.r_[x, np.ones(40)], np.r_[y, np.ones(40)]
    frame = pd.DataFrame({"x": x})
    schema = TableSchema(target="y", positive="bad", numeric=("x",), categorical=())
    rows = np.arange(len(x)) < 52
    encoder = fit_encoder(frame, schema, y, rows, woe="numeric", woe_monotone=True)
    np.testing.assert_array_equal(encoder.woe["x"].edges, [2.0, 4.0, 5.0])


def test_pooled_bins_match_scikit_learn_isotonic_regression():
    from sklearn.isotonic import IsotonicRegression

    from fjax.calibration import pool_adjacent_violators
    rng = np.random.default_rng(3)
    for _ in range(100):
        n = int(rng.integers(2, 9))
        count = rng.integers(1, 30, n).astype(np.float64)
        bad = np.floor(rng.random(n) * count)
        rising = bool(rng.random() < 0.5)
        fit = IsotonicRegression(increasing=rising).fit_transform(
            np.arange(n), bad / count, sample_weight=count)
        starts = np.r_[0, np.flatnonzero(~np.isclose(np.diff(fit), 0)) + 1]
        got = pool_adjacent_violators(bad if rising else -bad, count)
        np.testing.assert_array_equal(got, starts)


@pytest.mark.parametrize("kwargs, match", [
    ({"target": "yy"}, r"data.target names column\(s\) 'yy' that the data does not have "
                      r"\(did you mean 'y'\?\)"),
    ({"numeric": ("amont", "nope")}, r"\(did you mean 'amount' for 'amont'\?\)"),
    ({"numeric": ("nope",)}, r"does not have; columns are"),   # nothing close: no guess
])
def test_a_mistyped_column_name_gets_the_closest_column(kwargs, match):
    kw = {"target": "y", **kwargs}
    with pytest.raises(ValueError, match=match):
        infer_schema(_frame(amount=[1.0, 5.0, 2.0, 8.0, 3.0, 4.0]), kw.pop("target"), "bad",
                     **kw)


def test_woe_bin_labels_bin_a_value_as_the_model_does():
    """scorecard.csv's bins, read back, must place every value where the model does: the
    labels wrote edges to 6 significant digits, so a loan amount edge of 1,234,567 read
    as 1.23457e+06 and the applicants at 1,234,567 to 1,234,569 fell in the bin below."""
    rng = np.random.default_rng(0)
    x = rng.integers(1_000_000, 2_000_000, 2000).astype(float)
    x[:200] = 1_234_567.0
    w = fit_numeric_woe(x, (rng.random(2000) < 0.3).astype(float), n_bins=5)
    assert any(float(f"{e:.6g}") != e for e in w.edges)   # 6 digits would move an edge
    lower = [float(label[1:].split(",")[0]) for label in w.labels()]    # [lo, hi)
    probe = np.concatenate([x, w.edges, np.nextafter(w.edges, -np.inf)])
    by_label = np.searchsorted(np.array(lower[1:]), probe, side="right")
    np.testing.assert_array_equal(by_label, w.bin_of(probe))


def test_among_hashes_values_and_finds_no_missing_one():
    """`found_in` (the fraud score's blank labels by id, credit's later applicants seen
    earlier, unseen WOE categories) answers as a Python set does, by hashing: np.isin
    compared text values pair by pair (130 s for a week's 27,000 blank labels among
    390,000 transactions), the comparisons counted here. A missing value is in no pool,
    not even one holding a missing value."""
    from fjax.data.columns import found_in

    class Counted(str):
        calls = 0

        def __eq__(self, other):
            Counted.calls += 1
            return str.__eq__(self, other)

        __hash__ = str.__hash__

    ids = np.array([Counted(f"T{i}") for i in range(3000)], dtype=object)
    pool = np.random.default_rng(0).permutation(ids)[:1000]
    np.testing.assert_array_equal(found_in(ids, pool), [i in set(pool) for i in ids])
    Counted.calls = 0
    found_in(ids, pool)
    assert Counted.calls <= 10 * (len(ids) + len(pool))
    values = np.array(["a", None, np.nan, "b"], dtype=object)
    np.testing.assert_array_equal(found_in(values, ["a", None, np.nan]),
                                  [True, False, False, False])


def test_monotone_woe_is_monotone_in_the_woe_the_points_read():
    """Raw bad rates 0/2 then 1/20 rise, but the smoothed ones the WOE reads fall (0.5/3 to
    1.5/21): pooled on raw rates the WOE rose against the rising risk. Checked by hand, and
    on random columns against WOE recomputed in numpy from each bin's counts."""
    x, y = np.r_[0.0, 0.0, np.ones(20)], np.r_[0.0, 0.0, 1.0, np.zeros(19)]
    assert fit_numeric_woe(x, y, 2).edges.tolist() == [1.0]
    assert fit_numeric_woe(x, y, 2, monotone=True).edges.size == 0
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(40, 300))
        x = rng.integers(0, int(rng.integers(3, 40)), n).astype(np.float64)
        y = (rng.random(n) < rng.uniform(0.05, 0.5)).astype(np.float64)
        num = fit_numeric_woe(x, y, int(rng.integers(2, 10)), monotone=True)
        bins = np.searchsorted(num.edges, x, side="right")
        bad = np.bincount(bins, weights=y, minlength=len(num.woe))
        woe = _hand_woe(np.bincount(bins, minlength=len(num.woe)) - bad, bad)
        np.testing.assert_allclose(num.woe, woe, rtol=1e-12)
        step = np.diff(woe) * (1 if spearmanr(x, y).statistic < 0 else -1)
        assert (step > 0).all(), (num.edges, woe)
