"""The forecast run's own figures (PNG): forecast vs actual with intervals and the naive
line, and error by horizon step next to every baseline (loss curves are the shared
`fjax.report.plots.loss_curves`)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402

from fjax.report.plots import plain_log_axis, save_figure, spans_a_decade  # noqa: E402
from fjax.tasks.forecast.data import date_texts  # noqa: E402
from fjax.tasks.forecast.report import price  # noqa: E402

COLORS = {"model": "tab:blue", "naive": "tab:orange", "drift": "tab:green",
          "seasonal_naive": "tab:purple", "moving_average": "tab:brown"}


def _panel(ax, dates, actual, model, naive, lower, upper, label: str) -> None:
    ax.plot(dates, actual, color="black", lw=1.0, label="actual")
    if lower is not None:
        ax.fill_between(dates, lower, upper, color=COLORS["model"], alpha=0.2, lw=0,
                        label="model interval")
    ax.plot(dates, naive, color=COLORS["naive"], lw=1.0, ls="--", label="naive (last value)")
    ax.plot(dates, model, color=COLORS["model"], lw=1.0, label=label)


def wrapped(label: str, width: int = 36) -> str:
    """`label` broken into lines of at most `width` characters (a sweep's grid point and
    its settings would otherwise widen a legend over the axes)."""
    return textwrap.fill(label, width)


def span_text(first, last) -> str:
    """'2018-07-09 to 2018-12-31', each end as the report writes dates (`date_texts`): with
    times of day where either has one, row numbers where the file has no date column."""
    return " to ".join(date_texts(np.array([first, last])))


def forecast_plot(path: str | Path, dates: np.ndarray, actual: np.ndarray, model: np.ndarray,
                  naive: np.ndarray, lower: np.ndarray | None, upper: np.ndarray | None, *,
                  zoom: int, boundaries: Sequence = (), title: str = "",
                  ylabel: str = "price", name: str = "model") -> Path:
    """Forecasts `[N, H]` of N test windows with target dates `[N, H]`.

    Top: the whole test span at step 1. Bottom: the last `zoom` test dates close up (its
    title gives their span), where a forecast that copies yesterday's value shows as a
    one-step lag; for H > 1 it draws whole H-step paths from every H-th window back from
    the last one, and the actuals through the last window's H steps, so no path runs past
    the actual line. Legends sit right of the axes: a price series can fill any corner.
    `name` labels the forecast (a sweep's grid point), wrapped to keep the legend narrow.
    """
    horizon = actual.shape[1]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11.5, 7))
    name = wrapped(name)
    label = name if horizon == 1 else f"{name}, step 1 of {horizon}"
    col = lambda a: None if a is None else a[:, 0]  # noqa: E731
    _panel(top, dates[:, 0], actual[:, 0], model[:, 0], naive[:, 0], col(lower), col(upper),
           label)
    for b in boundaries:
        top.axvline(b, color="grey", lw=0.8, ls=":")
    top.set_title(title or f"Test span: {label}")
    z = slice(max(0, len(dates) - zoom), len(dates))
    span = span_text(dates[z.start, 0], dates[-1, -1])
    if horizon == 1:
        _panel(bottom, dates[z, 0], actual[z, 0], model[z, 0], naive[z, 0],
               col(None if lower is None else lower[z]), col(None if upper is None else upper[z]),
               label)
        bottom.set_title(f"Close up: the last {len(dates[z])} test dates, {span}")
    else:
        bottom.plot(np.r_[dates[z, 0], dates[-1, 1:]], np.r_[actual[z, 0], actual[-1, 1:]],
                    color="black", lw=1.0, label="actual")
        for j, i in enumerate(range(len(dates) - 1, z.start - 1, -horizon)[::-1]):
            first = j == 0
            if lower is not None:
                bottom.fill_between(dates[i], lower[i], upper[i], color=COLORS["model"],
                                    alpha=0.2, lw=0, label="model interval" if first else None)
            bottom.plot(dates[i], naive[i], color=COLORS["naive"], lw=1.0, ls="--",
                        label="naive (last value)" if first else None)
            bottom.plot(dates[i], model[i], color=COLORS["model"], lw=1.2, marker=".", ms=3,
                        label=f"{name}, {horizon}-step paths" if first else None)
        bottom.set_title(f"Close up: the last {len(dates[z])} test windows, {span}: one "
                         f"{horizon}-step forecast path every {horizon} windows")
    for ax in (top, bottom):
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        ax.set_xlabel("target date")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    return save_figure(fig, path)


def horizon_plot(path: str | Path, per_step: Mapping[str, Mapping[str, Sequence[float]]],
                 name: str = "model") -> Path:
    """Test RMSE by forecast step for the model and each baseline (bars when H = 1, each
    labelled with its RMSE to the digits of report.md's table); `name` labels the model
    (a sweep's grid point). Lines spanning over a factor of 10 are drawn on a log scale:
    a model 15 times naive's error flattened every baseline into one line at the bottom."""
    metric = "rmse"
    logged = False
    fig, ax = plt.subplots(figsize=(7, 4))
    names = list(per_step)
    horizon = len(per_step[names[0]][metric])
    if horizon == 1:
        values = [per_step[n][metric][0] for n in names]
        bars = ax.bar([wrapped(name, 24) if n == "model" else n for n in names], values,
                      color=[COLORS.get(n, "grey") for n in names])
        # the digits of report.md's test metrics table
        ax.bar_label(bars, labels=[price(v) for v in values], fontsize=8)
        ax.set_xlabel("method")
        ax.tick_params(axis="x", labelsize=8)
    else:
        steps = np.arange(1, horizon + 1)
        for n in names:   # naive dashed on top: drift often lies right under it
            ax.plot(steps, per_step[n][metric], marker="o", ms=3, color=COLORS.get(n),
                    lw=2.0 if n == "model" else 1.0, label=wrapped(name) if n == "model" else n,
                    ls="--" if n == "naive" else "-", zorder=3 if n == "naive" else 2)
        ax.set_xlabel("forecast step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
        logged = spans_a_decade(np.array([per_step[n][metric] for n in names], dtype=float))
        if logged:
            plain_log_axis(ax)
    ax.set_ylabel(f"test {metric.upper()} (price units" + (", log scale)" if logged else ")"))
    ax.set_title(f"Test {metric.upper()} by horizon step" if horizon > 1 else
                 f"Test {metric.upper()} of one-step forecasts, model and baselines")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
