"""The forecast after the data: the H rows after the file's last row, by the model the
backtest scored.

The latest origin's reported grid point (its seed ensemble, as its test block's
forecasts) reads the window ending at the last row (`ForecastData.last_window`, scaled
by that origin's scalers) and its outputs go back to prices from the last price exactly
as the test forecasts do (`raw_prices`). Nothing is retrained: the model is the one
whose per-step test errors measure how far to trust each step, trained on rows that end
where its test block begins.
"""

from __future__ import annotations

import jax
import numpy as np

from fjax.tasks.experiment import GroupResult
from fjax.tasks.forecast.config import Config
from fjax.tasks.forecast.data import ForecastData, date_texts
from fjax.tasks.forecast.evaluate import PriceForecast, ensemble, raw_prices
from fjax.tasks.forecast.members import Candidate
from fjax.tasks.forecast.training import apply_fn_of
from fjax.train.population import predict_members


def ahead_forecast(results: list[GroupResult], cand: Candidate, config: Config,
                   data: ForecastData) -> PriceForecast:
    """`f64[1, H]` prices after the last row: the mean over seeds of `cand`'s members of
    the latest origin on `data.last_window`, bounds where the head has them."""
    k = data.plan.k - 1
    cfg, params = latest_members(results, cand, k)
    return forecast_windows(cfg, params, data.last_window, data.prices[-1:], data, k,
                            config.evaluation.interval, config.train.eval_batch_size)


def latest_members(results: list[GroupResult], cand: Candidate, k: int) -> tuple[Config, dict]:
    """The config of `cand`'s compile group and its members' params at origin `k`,
    stacked `[S, ...]` (one per seed): the model `ahead_forecast` applies, and the one a
    run saves (`model_file`)."""
    result = results[cand.group]
    members = cand.members[:, k]                       # one per seed
    return result.group.config, jax.tree.map(lambda p: p[members], result.population.params)


def forecast_windows(cfg: Config, params, x: np.ndarray, last: np.ndarray,
                     data: ForecastData, k: int, level: float,
                     batch_size: int) -> PriceForecast:
    """`f64[N, H]` prices: the mean over the stacked members `params` of their forecasts
    of windows `x f32[N, W, C]` (scaled by origin `k`'s scalers) whose last prices are
    `last f64[N]`; the ahead forecast's and `fjax score forecast`'s alike."""
    raw = predict_members(apply_fn_of(cfg), params, x, batch_size)()
    return ensemble([raw_prices(r, cfg.loss, data, last, np.full(len(last), k), level)
                     for r in raw])


def outside_training_inputs(data: ForecastData) -> float:
    """Share of the last window's scaled input values outside the range the latest
    origin's training windows' inputs covered, per column: where the model extrapolates
    (min-max prices past their training high)."""
    k = data.plan.k - 1
    seen = data.x[data.rows(np.nonzero(data.plan.train[k] > 0)[0], k)]   # [N, W, C]
    low, high = seen.min(axis=(0, 1)), seen.max(axis=(0, 1))
    window = data.last_window[0]
    return float(np.mean((window < low) | (window > high)))


def ahead_record(fc: PriceForecast, data: ForecastData, cand: Candidate,
                 point: int | None) -> dict:
    """`ahead` in metrics.json: the forecast, its naive twin and what made it (`point`:
    the reported grid point, from 0, in a sweep; None in a plain run)."""
    k, n = data.plan.k - 1, data.series.n
    text = date_texts(data.series.dates)
    span = data.plan.spans[k]
    train_end = span["train"][1]
    made = data.series.made
    seen = np.nonzero(~made)[0][-1] if made is not None else n - 1
    return {"issued": text[-1], "last_value": float(data.prices[-1]),
           "last_observed_date": text[seen],   # the issued date's, unless forward-filled
           "steps": int(data.plan.horizon), "origin": k + 1,
           **({} if point is None else {"point": point + 1, "settings": {
               p: list(v) if isinstance(v, tuple) else v for p, v in cand.hparams.items()}}),
           "seeds": int(len(cand.members)), "train_last_date": text[train_end - 1],
           "rows_after_training": int(n - train_end),
           **({} if span["val"] is None else {"val_last_date": text[span["val"][1] - 1]}),
           "window_dates": [text[n - data.plan.window], text[-1]],
           "inputs_outside_training_range": outside_training_inputs(data),
           **forecast_fields(fc, float(data.prices[-1]))}


def forecast_fields(fc: PriceForecast, last: float) -> dict:
    """The forecast of one window `fc` (`f64[1, H]`) and its naive twin, `last` repeated,
    as `ahead` records them and `report.ahead_frame` writes them."""
    horizon = fc.point.shape[1]
    out = {"forecast": fc.point[0].tolist(), "naive": [last] * horizon}
    if fc.lower is not None:
        out.update(lower=fc.lower[0].tolist(), upper=fc.upper[0].tolist(),
                   nominal=fc.nominal, bound_levels=list(fc.bound_levels))
    if fc.spread is not None:
        out["seed_spread"] = fc.spread[0].tolist()
    return out
