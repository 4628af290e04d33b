"""Plots shared by the tasks, written as PNG files (matplotlib, no screen needed).

Each function takes plain numpy arrays, draws one figure, saves it and closes it.
Curves are computed here in numpy for drawing only; reported numbers come from
`fjax.metrics`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402

from fjax.calibration import reliability_bins  # noqa: E402
from fjax.runtime import atomic_path  # noqa: E402


def save_figure(fig, path: str | Path) -> Path:
    """Lay out, write as PNG and close `fig`."""
    path = Path(path)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def spans_a_decade(values: np.ndarray) -> bool:
    """Whether positive `values` span over a factor of 10: a log scale then keeps the small
    ones readable; under that it only relabels a linear-looking axis in powers of ten."""
    values = values[np.isfinite(values) & (values > 0)]
    return bool(values.size and values.max() > 10 * values.min())


def plain_log_axis(ax) -> None:
    """A log y axis labelled 20, 30, 50, 100, 200 ..., not 2 x 10^1 at every minor tick."""
    ax.set_yscale("log")
    lead = lambda v: round(v / 10 ** np.floor(np.log10(v)))  # noqa: E731
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(
        lambda v, _: f"{v:g}" if lead(v) in (2, 3, 5) else ""))


def loss_curves(history: Sequence[Mapping], path: str | Path,
                keys: Sequence[str] | Mapping[str, str] = ("loss", "val_loss"),
                title: str = "Loss per epoch", *, log_scale: bool = False,
                ylabel: str = "loss") -> Path:
    """Per-epoch curves of `keys` (or of a mapping key -> legend label); population
    values (arrays) are drawn as the median over members and a 10-90% band. `log_scale`
    applies where every value is positive (a Gaussian NLL, for one, can be negative) and
    the values span over a factor of 10, and the y label then says so. The legend sits
    below the axes: a 10-90% band can fill the corner matplotlib finds free of lines."""
    labels = dict(keys) if isinstance(keys, Mapping) else {k: k for k in keys}
    fig, ax = plt.subplots(figsize=(7, 4.6))
    epochs = np.array([h["epoch"] for h in history])
    drawn = []
    for key, label in labels.items():
        if not history or key not in history[0]:
            continue
        vals = np.array([np.atleast_1d(np.asarray(h[key], dtype=float)) for h in history])
        members = vals.shape[1] > 1
        finite = vals[np.isfinite(vals)]
        drawn.append(finite)
        # Epochs every member had stopped before (NaN for all: early stopping) are not
        # drawn: their median is nothing, and numpy warns of an all-NaN slice.
        kept = ~np.isnan(vals).all(axis=1)
        at, vals = epochs[kept], vals[kept]
        ax.plot(at, np.nanmedian(vals, axis=1), marker="o", ms=3,
                label=label + (" (median over members)" if members else ""))
        if members:
            ax.fill_between(at, np.nanpercentile(vals, 10, axis=1),
                            np.nanpercentile(vals, 90, axis=1), alpha=0.2,
                            label=f"{label}: 10-90% of members")
    logged = (log_scale and all(f.size and np.all(f > 0) for f in drawn)
              and spans_a_decade(np.concatenate([np.empty(0), *drawn])))
    if logged:
        plain_log_axis(ax)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel + (", log scale" if logged else ""))
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    if drawn:   # a legend of nothing makes matplotlib warn
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2,
                  frameon=False)
    return save_figure(fig, path)


def tie_groups(scores: np.ndarray, labels: np.ndarray, descending: bool = True
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct scores in order, positives and negatives counted up to each): a threshold
    moves past tied scores together, as the metrics count them."""
    scores, labels = np.asarray(scores), np.asarray(labels).astype(float)
    order = np.argsort(-scores if descending else scores, kind="stable")
    s, y = scores[order], labels[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    return s[last], np.cumsum(y)[last], np.cumsum(1 - y)[last]


def roc_points(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct threshold (ties move together)."""
    _, tp, fp = tie_groups(scores, labels)
    return np.r_[0, fp / max(fp[-1], 1)], np.r_[0, tp / max(tp[-1], 1)]


def pr_points(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision at every distinct threshold (ties move together), from
    (recall 0, precision 1): the steps whose area is average precision."""
    _, tp, fp = tie_groups(scores, labels)
    return np.r_[0, tp / max(tp[-1], 1)], np.r_[1, tp / (tp + fp)]


def ks_points(scores: np.ndarray, labels: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(distinct scores ascending, cumulative shares of negatives and of positives, the
    index of their largest gap: the KS statistic, ties counted as `metrics.ks_statistic`)."""
    s, pos, neg = tie_groups(scores, labels, descending=False)
    cum_pos, cum_neg = pos / max(pos[-1], 1), neg / max(neg[-1], 1)
    return s, cum_neg, cum_pos, int(np.argmax(np.abs(cum_pos - cum_neg)))


def roc_curve(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path,
              title: str = "ROC") -> Path:
    """`curves` maps a label to (scores, labels)."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for name, (scores, labels) in curves.items():
        fpr, tpr = roc_points(np.asarray(scores), np.asarray(labels))
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.legend(loc="lower right")
    return save_figure(fig, path)


def pr_curve(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path,
             title: str = "Precision-recall") -> Path:
    """`curves` maps a label to (scores, labels). The legend sits below the axes: a good
    model's curve fills the top right corner and a rule's drop can cross the lower left,
    so no corner inside is sure to be free."""
    fig, ax = plt.subplots(figsize=(4.5, 5.0))
    for name, (scores, labels) in curves.items():
        ax.step(*pr_points(scores, labels), where="post", label=name)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, frameon=False,
              fontsize=9)
    return save_figure(fig, path)


def score_distributions(scores: np.ndarray, labels: np.ndarray, path: str | Path,
                        names=("negative", "positive"), title: str = "Score distributions",
                        bins: int = 40, xlabel: str = "score") -> Path:
    """Histograms of each class's scores, each of area 1. The legend sits below the axes:
    either class can fill any corner, and a fraud run's legend is long (`names` may say
    what share of a class the end bins gather: one entry a row, or two ran past the
    figure's edges)."""
    fig, ax = plt.subplots(figsize=(6, 4.2))
    scores, labels = np.asarray(scores), np.asarray(labels)
    edges = np.histogram_bin_edges(scores, bins=bins)
    for value, name in enumerate(names):
        values = scores[labels == value]
        # a class with no scores (a test week without fraud) has no density (0/0): its
        # bars stay flat and its legend entry says so
        ax.hist(values, bins=edges, alpha=0.55, density=len(values) > 0,
                label=name if len(values) else f"{name} (none)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density (each class integrates to 1)")
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    return save_figure(fig, path)


def ks_curve(scores: np.ndarray, labels: np.ndarray, path: str | Path,
             title: str = "KS: cumulative share by score", xlabel: str = "score",
             names=("negatives", "positives")) -> Path:
    """Cumulative distributions of negatives and positives (legend `names`, the classes of
    label 0 and 1) over the score, and their gap."""
    s, cum_neg, cum_pos, i = ks_points(scores, labels)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(s, cum_neg, label=names[0])
    ax.plot(s, cum_pos, label=names[1])
    ax.vlines(s[i], cum_pos[i], cum_neg[i], colors="k", linestyles="--",
              label=f"KS = {abs(cum_pos[i] - cum_neg[i]):.4f}")   # as the credit report
    ax.set_xlabel(xlabel)
    ax.set_ylabel("cumulative share of the class")
    ax.set_title(title)
    ax.legend()
    return save_figure(fig, path)


def reliability(probs: np.ndarray, labels: np.ndarray, path: str | Path, bins: int = 10,
                title: str = "Calibration", ylabel: str = "observed frequency") -> Path:
    """Mean predicted probability vs observed frequency (`ylabel`: what label 1 is, such
    as a bad rate) per equal-width bin; the legend names the bins and the diagonal."""
    pred, obs, _ = reliability_bins(probs, labels, bins)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "k:", lw=1, label="perfect calibration")
    ax.plot(pred, obs, "o-", label=f"{bins} equal-width bins")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    return save_figure(fig, path)
