"""A forecast run's deployed model as one file, `model.msgpack` in the run folder: what
`fjax score forecast` needs to forecast after a newer file's last row exactly as the
run's ahead step did, without training.

It holds the model that made `ahead.csv`: the latest origin's reported grid point, all
its seeds' parameters (stacked `[S, ...]`), its compile group's config (model, loss and
its output reading, window, horizon, transform, features and their transforms, the
file's columns and missing-value policy), that origin's scaler (fitted on its training
rows), the interval level, the run's last rows (dates and values, to check a newer
file agrees with them) and their clock's UTC offset (`dates_offset`), its largest and
median spacing between dates and its share of weekend rows (to warn of a file of newer
rows only that starts after a gap, by the run's rules), the MASE scale of that origin's
training span and the backtest's per-step test errors that `ahead.csv` sets beside each
step. One msgpack file
(`flax.serialization`, as `Population.save` and the credit model), written atomically by
the run; configs are JSON text inside it, arrays keep every float64 digit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
from flax import serialization

from fjax.config import from_json, to_json
from fjax.data.scalers import Scaler
from fjax.data.timeseries import median_spacing
from fjax.tasks.forecast.config import Config
from fjax.tasks.forecast.data import dates_offset
from fjax.tasks.frozen import read_saved

FORMAT, VERSION = "fjax.ForecastModel", 2


@dataclass(frozen=True)
class SavedForecaster:
    """The latest origin's reported members of a forecast run and what applies them."""

    config: Config            # the compile group's (the grid point's structure)
    params: dict              # f32[S, ...]: one member per seed
    scaler: Scaler            # the latest origin's, per input column
    origin: int               # that origin, from 0
    facts: dict               # settings, train_last_date, seeds, point (None: no sweep)
    tail_dates: np.ndarray    # i64[R]: the run's last rows' dates (ns), or row numbers
    tail_values: np.ndarray   # f64[R, C]: their values, the target's first
    dated: bool               # dates are datetimes, not row numbers
    offset: int | None        # their clock's UTC offset, seconds (None: none written)
    largest_step: int         # the run's largest spacing between consecutive dates (ns)
    median_step: int          # its median spacing (ns; rows: 1)
    weekend_share: float      # its share of rows on a Saturday or Sunday (`outage_note`)
    naive_scale: float        # MASE denominator of that origin's training span
    trust: dict               # per_horizon test RMSEs and interval coverage (`ahead_frame`)

    @property
    def last_date(self) -> int:
        return int(self.tail_dates[-1])


def forecaster_bytes(model: SavedForecaster) -> bytes:
    """`model` as msgpack bytes (see the module's docstring)."""
    return serialization.msgpack_serialize({
        "format": FORMAT, "version": VERSION, "config": to_json(model.config),
        "params": jax.tree.map(np.asarray, model.params),
        "scaler": json.dumps(model.scaler.to_dict()),
        "origin": model.origin, "facts": json.dumps(model.facts),
        "tail_dates": np.asarray(model.tail_dates, np.int64),
        "tail_values": np.asarray(model.tail_values, np.float64), "dated": model.dated,
        "offset": model.offset,
        "largest_step": int(model.largest_step), "median_step": int(model.median_step),
        "weekend_share": float(model.weekend_share),
        "naive_scale": float(model.naive_scale), "trust": json.dumps(model.trust)})


def read_forecaster(path: Path) -> SavedForecaster:
    """The model saved at `path` (`fjax.tasks.frozen.read_saved`: a damaged file or
    another format's is refused)."""
    saved = read_saved(path, FORMAT, VERSION, "forecast")
    return SavedForecaster(
        config=from_json(Config, saved["config"]), params=saved["params"],
        scaler=Scaler.from_dict(json.loads(saved["scaler"])),
        origin=int(saved["origin"]), facts=json.loads(saved["facts"]),
        tail_dates=np.asarray(saved["tail_dates"], np.int64),
        tail_values=np.asarray(saved["tail_values"], np.float64), dated=bool(saved["dated"]),
        offset=saved["offset"],
        largest_step=int(saved["largest_step"]), median_step=int(saved["median_step"]),
        weekend_share=float(saved["weekend_share"]),
        naive_scale=float(saved["naive_scale"]), trust=json.loads(saved["trust"]))


def date_numbers(dates: np.ndarray, dated: bool) -> np.ndarray:
    """`i64[n]`: datetimes as nanoseconds, row numbers as they are; the run's dates as
    saved (`deployed`) and a newer file's as compared with them (`frozen`)."""
    return dates.astype("datetime64[ns]").astype(np.int64) if dated else dates.astype(np.int64)


AHEAD_FACTS = ("issued", "origin", "point", "settings", "seeds", "train_last_date",
               "val_last_date")


def deployed(cfg: Config, params, data, ahead: dict, m: dict) -> SavedForecaster:
    """The model that made the run's `ahead` record (`ahead.latest_members`' `cfg` and
    `params`) with what applies and judges it, from the run's `data` (a `ForecastData`)
    and metrics `m`."""
    k = data.plan.k - 1
    tail = slice(max(0, data.series.n - data.plan.window - data.first), None)
    dated = np.issubdtype(data.series.dates.dtype, np.datetime64)
    dates = date_numbers(data.series.dates, dated)
    trust = {"per_horizon": {name: {"rmse": m["per_horizon"][name]["rmse"]}
                             for name in ("model", "naive")}}
    if "interval" in m:
        trust["interval"] = {"coverage_by_step": m["interval"]["coverage_by_step"]}
    return SavedForecaster(
        config=cfg, params=params, scaler=data.scalers[k], origin=k,
        facts={key: ahead[key] for key in AHEAD_FACTS if key in ahead},
        tail_dates=dates[tail], tail_values=data.series.values[tail], dated=bool(dated),
        offset=dates_offset(data.series),
        largest_step=int(np.diff(dates).max(initial=0)),
        median_step=median_spacing(dates) if len(dates) > 1 else 0,
        weekend_share=data.spacing["weekend_rows"] if data.spacing else 0.0,
        naive_scale=data.naive_scale(k), trust=trust)
