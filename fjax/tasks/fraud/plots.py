"""The fraud report's own figures: daily card precision@k of every model, and ROC and
precision-recall curves one line per test period, and the scores standardised within
their period for the shared score-distribution plot of `fjax.report.plots`, clipped to
their percentiles with the share of each class the end bins gather in the legend."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from fjax.report.plots import pr_points, roc_points, save_figure  # noqa: E402


def daily_card_precision(series: Mapping[str, Sequence[tuple[np.ndarray, np.ndarray]]],
                         measure: str, path: str | Path, note: str = "") -> Path:
    """`series` maps a model to its test periods' (dates, daily CP@k), each drawn as its
    own line in the model's colour: periods stepped by fewer days than a test week share
    days, which one line through all of them zigzagged between; `measure` names it (the
    report's `daily_figure`), `note` ends the title (e.g. "mean over 3 seeds"). The
    legend gives each model's mean over all its days."""
    fig, ax = plt.subplots(figsize=(8, 4.4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    days = pd.to_datetime(np.concatenate([d for periods in series.values() for d, _ in periods]))
    if len(days) and days.min() == days.max():
        # One test day: matplotlib widens a single date to four years either side.
        ax.set_xlim(days.min() - pd.Timedelta(days=1), days.min() + pd.Timedelta(days=1))
    for color, (name, periods) in zip(colors, series.items()):
        values = np.concatenate([v for _, v in periods])
        for i, (dates, daily) in enumerate(periods):
            order = np.argsort(dates)
            ax.plot(pd.to_datetime(np.asarray(dates)[order]), np.asarray(daily)[order],
                    marker="o", ms=3, lw=1.2, color=color,
                    label=f"{name} (mean {np.mean(values):.3f})" if i == 0 else "_nolegend_")
    ax.set_ylabel(measure)
    ax.set_ylim(0, max(0.05, ax.get_ylim()[1]))
    ax.set_title(f"Daily {measure} on the test days, one line per period"
                 + (f" ({note})" if note else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3,
              frameon=False)
    fig.autofmt_xdate()
    return save_figure(fig, path)


def period_curves(kind: str, curves: Mapping[str, Sequence[tuple[np.ndarray, np.ndarray]]],
                  legend: Mapping[str, str], path: str | Path, title: str) -> Path:
    """ROC (`kind` "roc") or precision-recall ("pr") curves: `curves` maps a model to its
    test periods' (scores, labels), each drawn as its own thin line in the model's colour,
    and `legend` a model to its legend text. Each period is scored by its own retrained
    model, on its own scale, so scores pooled over periods draw no model's curve, and
    that curve's area is not the mean over periods the report gives."""
    fig, ax = plt.subplots(figsize=(4.5, 5.0))
    for color, (name, periods) in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"],
                                      curves.items()):
        for i, (scores, labels) in enumerate(periods):
            label = legend[name] if i == 0 else "_nolegend_"
            if kind == "roc":
                ax.plot(*roc_points(scores, labels), color=color, lw=0.9, label=label)
            else:
                ax.step(*pr_points(scores, labels), where="post", color=color, lw=0.9,
                        label=label)
    if kind == "roc":
        ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set_xlabel("false positive rate" if kind == "roc" else "recall")
    ax.set_ylabel("true positive rate" if kind == "roc" else "precision")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1, frameon=False,
              fontsize=8)
    return save_figure(fig, path)


def standardised_by_period(periods: Sequence[tuple[np.ndarray, np.ndarray]]
                           ) -> tuple[np.ndarray, np.ndarray]:
    """(scores, labels) of all test periods, each period's scores minus their mean over
    their standard deviation (a constant period's only centred). Each period is scored by
    its own retrained model on its own scale (default mlp median logits -8.9 to -6.5), so
    raw scores pooled over periods mix the scales instead of showing how classes part."""
    scores = []
    for s, _ in periods:
        s = np.asarray(s, np.float64)
        scores.append((s - s.mean()) / (s.std() or 1.0))
    return np.concatenate(scores), np.concatenate([np.asarray(y) for _, y in periods])


def clipped_to_percentiles(scores: np.ndarray, labels: np.ndarray, names: Sequence[str],
                           q: tuple[float, float] = (0.1, 99.9)
                           ) -> tuple[np.ndarray, list[str]]:
    """(scores clipped to their pooled `q` percentiles, `names` of classes 0 and 1, each
    saying what share of its class the end bins gather where that is 1% or more). A few
    extreme scores would squeeze every bin into one; but at a fraud rate under 1%, the
    0.1% of rows past the top can be 15% of the frauds: one tall last bar, a pile-up that
    reads as a mode unless the legend says so."""
    scores, labels = np.asarray(scores), np.asarray(labels)
    lo, hi = np.percentile(scores, q)
    out = []
    for value, name in enumerate(names):
        s = scores[labels == value]
        ends = [(np.mean(s < lo) if s.size else 0.0, f"below {lo:.1f} in the first bin"),
                (np.mean(s > hi) if s.size else 0.0, f"above {hi:.1f} in the last bin")]
        piled = [f"{share:.0%} {where}" for share, where in ends if share >= 0.01]
        out.append(name + (f" ({', '.join(piled)})" if piled else ""))
    return np.clip(scores, lo, hi), out
