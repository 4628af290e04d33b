"""Score forecasts in price units on the test windows: model (a seed ensemble) next to
every baseline on exactly the same windows, overall, per horizon step and per origin.

Raw model outputs are unscaled, inverted to prices (`fjax.data.series`), then averaged
over seeds: the ensemble point is the mean of the members' points, its interval the
mean of their bounds, its spread the standard deviation of their points. Quantile
outputs are sorted per step before inversion (rearrangement, Chernozhukov et al. 2010),
so bounds never cross; how often the raw ones crossed is reported (`crossed`). Metrics
come from `fjax.metrics` and `fjax.intervals`, run in float64 (`in_float64`), as are
the baselines: float32 keeps about 7 digits, so at a price level of 3e7 moving by about
2 a naive RMSE read 2.321 for 2.120.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from fjax import baselines, intervals, metrics
from fjax.config import LossConfig
from fjax.data.series import gaussian_prices, to_prices
from fjax.tasks.forecast.config import EvaluationConfig
from fjax.tasks.forecast.data import ForecastData
from fjax.tasks.forecast.significance import (diebold_mariano, holm, independent_windows,
                                              loss_difference_test, overlap_lags)
from fjax.train.objective import read_output

POINT_METRICS = ("mae", "rmse", "mape", "smape", "mase", "directional_accuracy")


@dataclass(frozen=True)
class PriceForecast:
    """A forecast in prices on the test windows, `f64[Nt, H]`."""

    point: np.ndarray
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    members: np.ndarray | None = None    # f64[S, Nt, H]: each seed's point forecast
    nominal: float | None = None         # the interval's intended coverage
    crossed: np.ndarray | None = None    # f64[Nt, H]: share of seeds whose raw quantiles
                                         # crossed there (a quantile head's only)
    levels: tuple[float, float] | None = None   # the bounds' quantile levels where they are
                                                # not central (a quantile head's outer ones)

    @property
    def bound_levels(self) -> tuple[float, float]:
        """The quantile levels of the lower and upper bounds: `levels`, else those of the
        central interval, (1 -/+ nominal) / 2."""
        return self.levels or ((1.0 - self.nominal) / 2, (1.0 + self.nominal) / 2)

    @property
    def scored_levels(self) -> tuple[float, float, float]:
        """The levels its pinball loss is scored at: the lower bound's, 0.5 (the point,
        the median of every head that has bounds) and the upper bound's."""
        low, high = self.bound_levels
        return low, 0.5, high

    @property
    def spread(self) -> np.ndarray | None:
        """Standard deviation of the seeds' point forecasts (None for one seed)."""
        if self.members is None or len(self.members) < 2:
            return None
        return self.members.std(axis=0)


def member_prices(raw: np.ndarray, loss: LossConfig, data: ForecastData, index: np.ndarray,
                  origin: np.ndarray, level: float) -> PriceForecast:
    """One member's raw outputs `f32[Nt, out]` on windows `index`, read from (and so
    unscaled with) the scalers of `origin` (one per window), as prices."""
    return raw_prices(raw, loss, data, data.last_price[index], origin, level)


def raw_prices(raw: np.ndarray, loss: LossConfig, data: ForecastData, last: np.ndarray,
               origin: np.ndarray, level: float) -> PriceForecast:
    """One member's raw outputs `f32[N, out]` on windows whose last observed prices are
    `last f64[N]`, unscaled with the scalers of `origin` (one per window), as prices: the
    test windows' (`member_prices`) and the window after the data's (`ahead`) alike."""
    horizon = data.plan.horizon
    pred = read_output(loss, np.asarray(raw, np.float32), (horizon,))   # numpy: no program
    if loss.name == "pinball":
        levels = np.sort(np.asarray(loss.quantiles, np.float64))
        zq = np.sort(data.unscale_target(np.asarray(pred), origin), axis=-1)
        pq = to_prices(zq, last, data.transform)
        return PriceForecast(median(pq, levels), pq[..., 0], pq[..., -1],
                             nominal=float(levels[-1] - levels[0]),
                             crossed=crossed(np.asarray(pred), loss.quantiles),
                             levels=(float(levels[0]), float(levels[-1])))
    if loss.name == "gaussian_nll":
        mean, log_scale = (np.asarray(p, np.float64) for p in pred)
        sigma = np.exp(log_scale) * data.target_scale(origin, log_scale.ndim)
        point, lo, hi = gaussian_prices(data.unscale_target(mean, origin), sigma, last,
                                        data.transform, intervals.gaussian_z(level))
        return PriceForecast(point, lo, hi, nominal=level)
    return PriceForecast(to_prices(data.unscale_target(np.asarray(pred), origin), last,
                                   data.transform))


def crossed(quantiles: np.ndarray, levels) -> np.ndarray:
    """`f64[..., H]`: 1 where raw quantiles `[..., H, Q]` at `levels` (in the head's
    order) are out of order, a higher level below a lower one, else 0. Sorting hides
    it; a head that often crosses is undertrained or overfit. Outputs of one level given
    twice are in no order, so they never cross each other."""
    levels = np.asarray(levels)
    higher = levels[None, :] > levels[:, None]                     # [Q, Q]: j above i
    below = quantiles[..., None, :] < quantiles[..., :, None]      # [..., Q, Q]: q_j < q_i
    return np.any(higher & below, axis=(-2, -1)).astype(np.float64)


def median(quantiles: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """The 0.5 quantile from quantiles at sorted `levels` (last axis), interpolated linearly
    between the levels either side of 0.5 when it is not one of them (the config keeps
    0.5 within the levels)."""
    j = int(np.searchsorted(levels, 0.5))
    if levels[j] == 0.5:
        return quantiles[..., j]
    t = (0.5 - levels[j - 1]) / (levels[j] - levels[j - 1])
    return quantiles[..., j - 1] + t * (quantiles[..., j] - quantiles[..., j - 1])


def ensemble(forecasts: list[PriceForecast]) -> PriceForecast:
    """Mean over seeds of points, bounds and crossings; the members' points are kept for
    the spread."""
    points = np.stack([f.point for f in forecasts])
    mean = (lambda name: None if getattr(forecasts[0], name) is None  # noqa: E731
            else np.mean([getattr(f, name) for f in forecasts], axis=0))
    return PriceForecast(points.mean(axis=0), mean("lower"), mean("upper"), points,
                         forecasts[0].nominal, mean("crossed"), forecasts[0].levels)


def in_float64(fn):
    """`fn` with JAX in 64-bit mode (`jax.enable_x64`): price-unit numbers must not lose
    a high price level's small steps to float32."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with jax.enable_x64(True):
            return fn(*args, **kwargs)
    return wrapped


@in_float64
def baseline_forecasts(data: ForecastData, index: np.ndarray, cfg: EvaluationConfig) -> dict:
    """Every baseline on the windows `index`, `f64[Nt, H]` each."""
    prices = jnp.asarray(data.prices, jnp.float64)
    origins = jnp.asarray(data.plan.origins[index])
    h = data.plan.horizon
    out = {
        "naive": baselines.naive(prices, origins, h),
        "drift": baselines.drift(prices, origins, h, 0),   # the same for every transform
        "seasonal_naive": baselines.seasonal_naive(prices, origins, h, data.season),
        "moving_average": baselines.moving_average(prices, origins, h, cfg.moving_average),
    }
    return {k: np.asarray(v, np.float64) for k, v in out.items()}


def _point(p, a, last, scale, w) -> dict:
    return {"mae": metrics.mae(p, a, w), "rmse": metrics.rmse(p, a, w),
            "mape": metrics.mape(p, a, w), "smape": metrics.smape(p, a, w),
            "mase": metrics.mase(p, a, scale, w),
            "directional_accuracy": metrics.directional_accuracy(p, a, last, w)}


@jax.jit
def score_table(pred, actual, last, scale, weights) -> tuple[dict, dict]:
    """Every point metric of M forecasts `f32[M, N, H]` under G weightings `f32[G, N, H]`
    of the (window, step) targets (all windows, one origin's, ...; 0 on a filled target),
    in one program; `scale`, the MASE denominator, is one per window `[N, 1]` (its
    origin's) or a scalar.

    Returns (overall: name -> f32[M, G], by_step: name -> f32[H, M, G]).
    """
    over_w = jax.vmap(_point, in_axes=(None, None, None, None, 0))
    over_m = jax.vmap(over_w, in_axes=(0, None, None, None, None))
    overall = over_m(pred, actual, last, scale, weights)
    by_step = jax.vmap(lambda pc, ac, wc: over_m(pc[..., None], ac[:, None], last, scale,
                                                 wc[..., None]),
                       in_axes=(2, 1, 2))(pred, actual, weights)
    return overall, by_step


@jax.jit
def interval_table(lower, upper, actual, weights) -> dict:
    """Coverage and width `f32[N, H]` overall and per step, of the targets weighted by
    `weights f32[N, H]` (0 on a filled target)."""
    cols = lambda f, *xs: jax.vmap(lambda *c: f(*(v[:, None] for v in c)),  # noqa: E731
                                   in_axes=1)(*xs)
    return {"coverage": intervals.coverage(lower, upper, actual, weights),
            "width": intervals.width(lower, upper, weights),
            "coverage_by_step": cols(intervals.coverage, lower, upper, actual, weights),
            "width_by_step": cols(intervals.width, lower, upper, weights)}


def _f64(*arrays):
    """Arrays as float64 (inside `in_float64`)."""
    return tuple(jnp.asarray(a, jnp.float64) for a in arrays)


@in_float64
def point_metrics(pred: np.ndarray, actual: np.ndarray, last: np.ndarray, scale: float,
                  observed: np.ndarray) -> dict:
    """Overall metrics of one forecast `f[N, H]` over every observed (window, step) pair."""
    overall, _ = score_table(*_f64(pred[None], actual, last, scale, observed[None]))
    return {k: float(overall[k][0, 0]) for k in POINT_METRICS}


@in_float64
def interval_metrics(fc: PriceForecast, actual: np.ndarray, observed: np.ndarray,
                     stride: int) -> dict:
    """Coverage, mean and median width on the observed targets, and the 95% Wilson
    interval of the coverage, pooled and per step h, on the windows that share no target
    (`independent_windows`: a step-h error spans h moves, which windows `stride` apart
    share): the sampling noise a nominal level is judged against. A pooled coverage on
    nominal can average steps far too wide and far too narrow, and an interval is used at
    one step. The median is the typical width: exp maps a log-return bound to prices, so
    one wide Gaussian step can set the mean alone."""
    out = interval_table(*_f64(fc.lower, fc.upper, actual, observed))
    result = {"nominal": fc.nominal, **{k: np.asarray(out[k], np.float64).tolist()
                                        for k in ("coverage", "width", "coverage_by_step",
                                                  "width_by_step")},
              "median_width": float(np.median((fc.upper - fc.lower)[observed > 0]))}
    n, horizon = actual.shape
    windows = independent_windows(n, horizon, stride)
    by_step = [list(intervals.wilson(c, independent_windows(n, h, stride)))
               for h, c in enumerate(result["coverage_by_step"], 1)]
    return {**result, "independent_windows": windows,
            "coverage_interval": list(intervals.wilson(result["coverage"], windows)),
            "coverage_interval_by_step": by_step, **tail_shares(fc, actual, observed, windows)}


def tail_shares(fc: PriceForecast, actual: np.ndarray, observed: np.ndarray,
                windows: float) -> dict:
    """Each bound as the quantile it is: the share of observed targets below the lower
    bound and above the upper, their expected shares (the lower's level, one minus the
    upper's) and 95% Wilson intervals on `windows`. A coverage on nominal can hide a
    forecast biased to one side, whose misses all fall beyond one bound (the exceedance
    count of a VaR backtest, Kupiec 1995)."""
    seen = np.asarray(observed, bool)
    below = float(np.mean((actual < fc.lower)[seen]))
    above = float(np.mean((actual > fc.upper)[seen]))
    low, high = fc.bound_levels
    return {"below_lower": below, "above_upper": above,
            "expected_below": low, "expected_above": 1.0 - high,
            "below_lower_interval": list(intervals.wilson(below, windows)),
            "above_upper_interval": list(intervals.wilson(above, windows))}


def naive_interval(data: ForecastData, index: np.ndarray, origin: np.ndarray,
                   levels: tuple[float, ...]) -> np.ndarray:
    """The naive forecast's quantiles at `levels`, `f64[Nt, H, L]`: each test window's last
    price moved by the empirical quantiles of the same step's change over the windows
    its origin trained on (observed targets only; Hyndman & Athanasopoulos, FPP3, 5.5),
    so it needs no model and sees no test row. Changes are log changes (a move in
    proportion to the price, as an asset's) unless the target is `diff` or a price is not
    positive: then differences."""
    positive = data.transform != "diff" and bool(np.all(data.prices > 0))
    way = "log_return" if positive else "diff"
    past, last = data.actual, data.last_price[:, None]
    change = np.log(past / last) if way == "log_return" else past - last
    out = np.empty((len(index), data.plan.horizon, len(levels)))
    for k in range(data.plan.k):
        train, test = data.plan.train[k] > 0, origin == k
        for h in range(data.plan.horizon):
            seen = change[train & data.observed[:, h], h]   # none: every one was filled
            out[test, h] = np.quantile(seen, levels) if len(seen) else np.nan
    return to_prices(out, data.last_price[index], way)


def pinball(quantiles: np.ndarray, levels: tuple[float, ...], actual: np.ndarray) -> np.ndarray:
    """Pinball loss `f64[N, H]` of quantiles `f64[N, H, L]` at `levels` in price units, the
    mean over levels of max(q e, (q - 1) e), e = actual - quantile (Koenker & Bassett
    1978): a proper score, so an interval cannot earn it by width or coverage alone."""
    e = np.asarray(actual, np.float64)[..., None] - quantiles
    q = np.asarray(levels, np.float64)
    return np.maximum(q * e, (q - 1.0) * e).mean(axis=-1)


def observed_means(loss: np.ndarray, observed: np.ndarray) -> tuple[float, list[float]]:
    """Mean of `loss [N, H]` over the observed targets, overall and per step."""
    seen = np.asarray(observed, bool)
    return (float(loss[seen].mean()),
            [float(loss[:, h][seen[:, h]].mean()) for h in range(loss.shape[1])])


def interval_scores(model: PriceForecast, naive: np.ndarray, actual: np.ndarray,
                    observed: np.ndarray, lags: int) -> dict:
    """The model's pinball loss at its `scored_levels`, beside the naive interval's
    (`naive_interval` at the same levels) coverage, widths and pinball loss on the same
    targets, and the Diebold-Mariano test of the difference (`lags` as the point
    forecast's)."""
    levels = model.scored_levels
    ours = pinball(np.stack([model.lower, model.point, model.upper], axis=-1), levels, actual)
    theirs = pinball(naive, levels, actual)
    table = interval_table(*_f64(naive[..., 0], naive[..., -1], actual, observed))
    (mean, by_step), (naive_mean, naive_by_step) = (observed_means(v, observed)
                                                    for v in (ours, theirs))
    return {"levels": list(levels), "pinball": mean, "pinball_by_step": by_step,
            "naive": {"coverage": float(table["coverage"]), "width": float(table["width"]),
                      "coverage_by_step": np.asarray(table["coverage_by_step"]).tolist(),
                      "pinball": naive_mean, "pinball_by_step": naive_by_step},
            "diebold_mariano_vs_naive": loss_difference_test(ours, theirs, lags, observed)}


def origin_interval(fc: PriceForecast, actual: np.ndarray, observed: np.ndarray,
                    rows: np.ndarray) -> dict:
    """One origin's interval coverage and mean width on the observed targets of its test
    windows `rows` (none without an interval): each origin trains and scales on its own,
    so a pooled coverage near nominal can hide one origin far too narrow and another far
    too wide."""
    if fc.lower is None:
        return {}
    seen = observed[rows]
    lower, upper, target = fc.lower[rows][seen], fc.upper[rows][seen], actual[rows][seen]
    return {"model_coverage": float(np.mean((target >= lower) & (target <= upper))),
            "model_width": float(np.mean(upper - lower))}


def best_baseline_test(tests: dict, overall: dict) -> dict:
    """The DM `tests` against every baseline, their p-values Holm-adjusted over the
    baselines, and the baseline with the lowest test RMSE where that is not the naive
    forecast. That baseline is picked on the test windows, so its plain p-value ignores
    the pick (with four equally good baselines, 8% of 5% tests reject, simulated); the
    Holm-adjusted one holds its level. The naive test, chosen before looking, keeps its
    own p-value."""
    adjusted = holm([t["p_value"] for t in tests.values()])
    tests = {k: {**t, "p_value_holm": a} for (k, t), a in zip(tests.items(), adjusted)}
    out = {"diebold_mariano_vs_baselines": tests}
    best = min(tests, key=lambda k: overall[k]["rmse"])
    if best != "naive":
        out["diebold_mariano_vs_best_baseline"] = {"baseline": best, **tests[best]}
    return out


def constant_call(actual: np.ndarray, last: np.ndarray, observed: np.ndarray) -> dict:
    """The shares of observed test steps that rose and fell, and the better constant call:
    a forecast that always calls it hits its share, the mark a hit rate must beat (always
    a rise in a rising span, always a fall where more steps fell; a rise on a tie)."""
    rose = float(np.mean((actual > last[:, None])[observed]))
    fell = float(np.mean((actual < last[:, None])[observed]))
    return {"rising_share": rose, "falling_share": fell,
            "constant_call": "rise" if rose >= fell else "fall"}


def direction_test(point: np.ndarray, actual: np.ndarray, last: np.ndarray,
                   observed: np.ndarray, lags: int, call: str = "rise") -> dict | None:
    """The hit rate against always making `call` ("rise" or "fall"), tested: the DM test
    on each target's 0/1 miss, the model's against the constant call's on the same
    targets, with the point test's lags (Newey-West over the windows whose moves overlap).
    Paired, it needs no independent pairs (Pesaran-Timmermann does) and does not treat the
    constant's share, measured on these steps, as known (a binomial test would). Steps
    where the forecast is the last price in every window call no move and are left out,
    as from the hit rate; None where no step calls one. Statistic < 0: the model misses
    less. The result names the call."""
    called = ~np.all(point == last[:, None], axis=0)
    seen = np.asarray(observed, bool) & called[None, :]
    rows = seen.any(axis=1)
    if not rows.any():
        return None
    move = np.sign(actual - last[:, None])
    miss = (np.sign(point - last[:, None]) != move).astype(np.float64)
    miss_constant = (move != (1 if call == "rise" else -1)).astype(np.float64)
    return {"call": call, **loss_difference_test(miss[rows], miss_constant[rows], lags,
                                                 seen[rows])}


MAPE_FLOOR = 0.01   # a target under 1% of the mean |target| weighs 100x a typical one in MAPE


def mape_caveat(actual: np.ndarray, observed: np.ndarray) -> dict:
    """`mape_not_meaningful` where the smallest observed |target| is at most `MAPE_FLOOR`
    times their mean (a zero one included, where MAPE is infinite): MAPE divides each error
    by |target|, so a spread near zero makes it a few targets' ratio; {} otherwise."""
    scored = np.abs(actual[np.asarray(observed, bool)])
    if not scored.size or scored.min() > MAPE_FLOOR * scored.mean():
        return {}
    return {"mape_not_meaningful": {"min_abs_target": float(scored.min()),
                                    "mean_abs_target": float(scored.mean()),
                                    "floor": MAPE_FLOOR}}


@dataclass(frozen=True)
class Evaluation:
    index: np.ndarray          # i64[Nt]: the test windows
    origin: np.ndarray         # i64[Nt]: walk-forward origin scoring each
    actual: np.ndarray         # f64[Nt, H]
    last: np.ndarray           # f64[Nt]
    observed: np.ndarray       # bool[Nt, H]: scored; false where the target was filled
    model: PriceForecast
    baselines: dict
    metrics: dict
    naive_interval: np.ndarray | None = None   # f64[Nt, H, 3]: lower, median, upper


@in_float64
def evaluate(data: ForecastData, model: PriceForecast, cfg: EvaluationConfig,
             stride: int) -> Evaluation:
    """Model and baselines on the test windows: overall, per step, per origin, and the
    DM test against the naive forecast and against every baseline (Holm-adjusted: one is
    read, the lowest RMSE's, where not the naive). MASE scales each window by its own
    origin's naive MAE."""
    index, origin = data.test_index, data.test_origin
    actual, last = data.actual[index], data.last_price[index]
    observed = data.observed[index]
    base = baseline_forecasts(data, index, cfg)
    scales = [data.naive_scale(k) for k in range(data.plan.k)]
    several = data.plan.k > 1
    scale = np.asarray(scales)[origin][:, None] if several else scales[0]
    names = ["model", *base]
    pred = np.stack([model.point, *base.values()])
    weights = np.concatenate([np.ones((1, len(index))),
                              (origin[None, :] == np.arange(data.plan.k)[:, None])])
    weights = weights[:, :, None] * observed[None]   # filled targets are never scored
    table, steps = score_table(*_f64(pred, actual, last, scale, weights))
    table = {k: np.asarray(v, np.float64) for k, v in table.items()}
    steps = {k: np.asarray(v, np.float64) for k, v in steps.items()}
    overall = {n: {k: float(table[k][i, 0]) for k in POINT_METRICS} for i, n in enumerate(names)}
    by_step = {n: {k: steps[k][:, i, 0].tolist() for k in POINT_METRICS}
               for i, n in enumerate(names)}
    # A step whose forecast is the last price in every window (the naive forecast's, the
    # seasonal naive's at a multiple of its season) calls no direction: n/a, and left
    # out of the overall hit rate (the mean over steps: each step has the same windows).
    flat = np.all(pred == last[None, :, None], axis=1)
    for i, n in enumerate(names):
        if flat[i].any():
            hits = [None if flat[i, h] else v
                    for h, v in enumerate(by_step[n]["directional_accuracy"])]
            called = [v for v in hits if v is not None]
            by_step[n]["directional_accuracy"] = hits
            overall[n]["directional_accuracy"] = float(np.mean(called)) if called else None
    per_origin = [{"origin": k + 1, "windows": int((origin == k).sum()),
                   **{f"{n}_{m}": float(table[m][names.index(n), k + 1])
                      for n in ("model", "naive") for m in ("rmse", "mae")},
                   **({"naive_scale": scales[k]} if several else {}),
                   **origin_interval(model, actual, observed, origin == k)}
                  for k in range(data.plan.k)]
    lags = overlap_lags(data.plan.horizon, stride)
    tests = {k: diebold_mariano(model.point - actual, f - actual, lags, observed)
             for k, f in base.items()}
    result = {
        "split": "test", "test_windows": int(len(index)), "horizon": int(data.plan.horizon),
        "origins": int(data.plan.k), **({} if several else {"naive_scale": scales[0]}),
        "model": overall["model"],
        "baselines": {k: v for k, v in overall.items() if k != "model"},
        "per_horizon": by_step, "per_origin": per_origin,
        "beats_naive": {m: overall["model"][m] < overall["naive"][m] for m in ("rmse", "mae")},
        **constant_call(actual, last, observed),
        "diebold_mariano_vs_naive": tests["naive"],
    }
    result.update(best_baseline_test(tests, overall))
    result.update(mape_caveat(actual, observed))
    hits = direction_test(model.point, actual, last, observed, lags, result["constant_call"])
    if hits is not None:
        result["direction_vs_constant"] = hits
    naive = None
    if model.lower is not None:
        naive = naive_interval(data, index, origin, model.scored_levels)
        result["interval"] = {**interval_metrics(model, actual, observed, stride),
                              **interval_scores(model, naive, actual, observed, lags)}
    if model.crossed is not None:
        result["quantile_crossing"] = float(model.crossed.mean())
    if model.spread is not None:
        members, _ = score_table(*_f64(model.members, actual, last, scale, weights[:1]))
        result["ensemble"] = {"seeds": int(len(model.members)),
                              "spread_mean": float(model.spread.mean()),
                              "member_rmse": np.asarray(members["rmse"][:, 0]).tolist()}
    return Evaluation(index, origin, actual, last, observed, model, base, result, naive)
