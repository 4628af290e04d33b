"""fjax.data.windows: window geometry, chronological spans without leakage, walk-forward."""

import math

import numpy as np
import pytest

from fjax.data.windows import gather_inputs, input_rows, plan_windows, target_rows

CASES = [
    dict(n=300, window=10, horizon=1),
    dict(n=300, window=10, horizon=7, stride=3),
    dict(n=300, window=5, horizon=4, gap=6, val_fraction=0.15),
    dict(n=400, window=12, horizon=5, origins=4, val_fraction=0.1, gap=2),
    dict(n=400, window=12, horizon=3, origins=3, training="rolling", rolling_rows=80),
    dict(n=250, window=8, horizon=2, origins=5, first=1, stride=2),
]


def rows(plan, mask, which):
    origins = plan.origins[mask > 0]
    if which == "inputs":
        return set(input_rows(origins, plan.window).ravel())
    return set(target_rows(origins, plan.horizon).ravel())


@pytest.mark.parametrize("case", CASES)
def test_no_target_of_a_later_span_is_read_earlier(case):
    plan = plan_windows(**case)
    gap = case.get("gap", 0)
    for k in range(plan.k):
        train_seen = rows(plan, plan.train[k], "inputs") | rows(plan, plan.train[k], "targets")
        test_targets = rows(plan, plan.test[k], "targets")
        assert not test_targets & train_seen
        assert min(test_targets) >= max(rows(plan, plan.train[k], "targets")) + 1 + gap
        if plan.has_val:
            val_targets = rows(plan, plan.val[k], "targets")
            val_seen = rows(plan, plan.val[k], "inputs") | val_targets
            assert not val_targets & train_seen
            assert not test_targets & val_seen
            assert min(val_targets) >= max(rows(plan, plan.train[k], "targets")) + 1 + gap
            assert min(test_targets) >= max(val_targets) + 1 + gap


@pytest.mark.parametrize("case", CASES)
def test_windows_stay_inside_the_data_and_spans(case):
    plan = plan_windows(**case)
    first = case.get("first", 0)
    assert plan.origins.min() - plan.window >= first
    assert plan.origins.max() + plan.horizon == case["n"]   # the last row is always tested
    assert np.all(np.diff(plan.origins) == case.get("stride", 1))
    for k, span in enumerate(plan.spans):
        lo, hi = span["train"]
        t = plan.origins[plan.train[k] > 0]
        assert t.min() >= lo and t.max() + plan.horizon <= hi


def test_strided_windows_are_anchored_at_the_last_row():
    """Windows were counted from the first row, so with a stride the last rows could never
    be tested: hourly bars at stride 24, horizon 24, left the latest 11 hours unforecast.
    The grid now ends at the last row and the rows left out are the oldest ones."""
    n, window, horizon, stride = 24 * 12 + 11, 24, 24, 24
    plan = plan_windows(n, window=window, horizon=horizon, stride=stride, origins=2)
    want = np.arange(n - horizon, window - 1, -stride)[::-1]   # 35, 59, ..., 275
    np.testing.assert_array_equal(plan.origins, want)
    assert want[0] == window + 11 and want[-1] + horizon == n
    tested = target_rows(plan.origins[plan.test[-1] > 0], horizon)
    assert tested.max() == n - 1
    single = plan_windows(n, window=window, horizon=horizon)   # stride 1 as before
    np.testing.assert_array_equal(single.origins, np.arange(window, n - horizon + 1))


def test_tutorial_split_matches_the_peers_recipe():
    """common.py: train_len = ceil(0.8 n); train windows range(W, train_len - H + 1);
    test windows range(train_len, n - H + 1); the scaler sees close[:train_len]."""
    n = 5031
    for w, h in ((60, 1), (60, 60)):
        plan = plan_windows(n, window=w, horizon=h)
        train_len = math.ceil(n * 0.8)
        np.testing.assert_array_equal(plan.origins[plan.train[0] > 0],
                                      np.arange(w, train_len - h + 1))
        np.testing.assert_array_equal(plan.origins[plan.test[0] > 0],
                                      np.arange(train_len, n - h + 1))
        assert plan.spans[0]["train"] == (0, train_len)


def test_walk_forward_blocks_tile_the_single_split_test_windows():
    single = plan_windows(400, window=10, horizon=3)
    for training in ("expanding", "rolling"):
        wf = plan_windows(400, window=10, horizon=3, origins=4, training=training)
        np.testing.assert_array_equal(wf.test.sum(axis=0), single.test[0])  # disjoint, complete
        np.testing.assert_array_equal(wf.train[0], single.train[0])
        starts = [s["test"][0] for s in wf.spans]
        assert starts == sorted(starts) and starts[0] == single.spans[0]["test"][0]
    expanding = plan_windows(400, window=10, horizon=3, origins=4)
    assert np.all(np.diff(expanding.train.sum(axis=1)) > 0)
    assert np.all(expanding.train[:-1] <= expanding.train[1:])  # each origin adds to the last
    rolling = plan_windows(400, window=10, horizon=3, origins=4, training="rolling",
                           rolling_rows=100)
    assert [s["train"][1] - s["train"][0] for s in rolling.spans] == [100] * 4
    assert np.all(rolling.train.sum(axis=1) == 100 - 3 + 1)


def test_gather_inputs_reads_the_rows_before_the_origin():
    values = np.arange(40, dtype=np.float64).reshape(20, 2)  # row r = (2r, 2r + 1)
    x = gather_inputs(values, np.array([3, 10]), window=3)
    np.testing.assert_array_equal(x[0], values[0:3])
    np.testing.assert_array_equal(x[1], values[7:10])
    assert x.dtype == np.float32
    np.testing.assert_array_equal(target_rows(np.array([3, 10]), 2), [[3, 4], [10, 11]])


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=50, window=60, horizon=1), r"too few for one window: window=60 \+ horizon=1"),
    (dict(n=100, window=60, horizon=5, test_fraction=0.5), r"origin 1 of 1 has no training"),
    (dict(n=100, window=10, horizon=1, origins=40), r"has no test window"),
    (dict(n=100, window=10, horizon=3, val_fraction=0.02), r"has no validation window"),
    (dict(n=100, window=0, horizon=1), r"ForecastDataConfig.window must be an integer >= 1"),
    (dict(n=100, window=5, horizon=0), r"ForecastDataConfig.horizon must be an integer >= 1"),
    (dict(n=100, window=5, horizon=1, test_fraction=1.0), r"test_fraction must be in"),
])
def test_impossible_geometry_names_the_fields(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plan_windows(**kwargs)


def test_rolling_training_keeps_the_first_origins_length_and_defined_rows():
    plan = plan_windows(300, window=10, horizon=2, origins=3, training="rolling",
                                first=20)
    lengths = [s["train"][1] - s["train"][0] for s in plan.spans]
    assert lengths == [lengths[0]] * 3 and plan.spans[0]["train"][0] == 20


def test_a_rolling_window_longer_than_the_first_origins_rows_is_refused():
    """n 300, test 0.2: origin 1 trains on rows [20, 240), 220 rows. A longer window
    once started at row 20 anyway: origin 1 (and any origin still short of it) trained
    as expanding, with no word; 220 is the most that rolls for every origin."""
    kw = dict(window=10, horizon=2, origins=3, training="rolling", first=20)
    with pytest.raises(ValueError, match=r"rolling_rows=221 is more than the 220 rows that "
                       r"origin 1 can train on \(rows 20 to 239.*--data.rolling-rows 220"):
        plan_windows(300, rolling_rows=221, **kw)
    plan = plan_windows(300, rolling_rows=220, **kw)
    assert [s["train"][1] - s["train"][0] for s in plan.spans] == [220] * 3


def test_spans_match_the_fractions_computed_independently():
    """n 300, test 0.2, validation 0.15, gap 6: validation targets [ceil(195), ceil(240)
    - 6), training targets end at 195 - 6; every window whose targets fit is kept."""
    n, window, horizon, gap = 300, 5, 4, 6
    plan = plan_windows(n, window=window, horizon=horizon, gap=gap, val_fraction=0.15,
                        test_fraction=0.2)
    a, b = math.ceil(n * 0.65), math.ceil(n * 0.8)
    assert (a, b) == (195, 240)
    np.testing.assert_array_equal(plan.origins[plan.train[0] > 0],
                                  np.arange(window, a - gap - horizon + 1))
    np.testing.assert_array_equal(plan.origins[plan.val[0] > 0],
                                  np.arange(a, b - gap - horizon + 1))
    np.testing.assert_array_equal(plan.origins[plan.test[0] > 0], np.arange(b, n - horizon + 1))


@pytest.mark.parametrize("origins", [[1, 5], [3, 11], [0]])
def test_gather_inputs_refuses_origins_without_a_full_window(origins):
    # origin 1 with window 3 read rows 8, 9, 0 (numpy's negative indices wrapped)
    values = np.arange(20.0).reshape(10, 2)
    with pytest.raises(ValueError, match=r"no full window of 3 rows.*3 <= t <= 10"):
        gather_inputs(values, np.array(origins), window=3)
    np.testing.assert_array_equal(gather_inputs(values, np.array([3, 10]), 3)[:, :, 0],
                                  [[0, 2, 4], [14, 16, 18]])
