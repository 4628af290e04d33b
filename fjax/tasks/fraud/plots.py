"""The fraud report's own figure: daily card precision@k of every model (the shared
ROC, precision-recall and score-distribution plots live in `fjax.report.plots`)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from fjax.report.plots import save_figure  # noqa: E402


def daily_card_precision(series: Mapping[str, tuple[np.ndarray, np.ndarray]], k: int,
                         path: str | Path, note: str = "") -> Path:
    """`series` maps a model to (dates, daily CP@k) over the test days of all periods;
    `note` ends the title (e.g. "mean over 3 seeds")."""
    fig, ax = plt.subplots(figsize=(8, 4.4))
    for name, (dates, values) in series.items():
        order = np.argsort(dates)
        ax.plot(pd.to_datetime(np.asarray(dates)[order]), np.asarray(values)[order],
                marker="o", ms=3, lw=1.2, label=f"{name} (mean {np.mean(values):.3f})")
    ax.set_ylabel(f"card precision@{k}")
    ax.set_ylim(0, max(0.05, ax.get_ylim()[1]))
    ax.set_title(f"Daily card precision@{k} on the test days" + (f" ({note})" if note else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3,
              frameon=False)
    fig.autofmt_xdate()
    return save_figure(fig, path)
