"""Plots and run-folder files: a log-scaled loss plot of losses that can be negative stays
linear, quietly; files are written whole or not at all."""

import warnings
from pathlib import Path

import jax.numpy as jnp
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pytest

from fjax import metrics
from fjax.report import plots


@pytest.mark.parametrize("losses, scale", [([5.0, 0.2, 0.1], "log"), ([0.5, -0.2, -0.9], "linear"),
                                           ([0.616, 0.612, 0.609], "linear")])
def test_loss_curves_use_a_log_scale_only_for_positive_values(losses, scale, tmp_path,
                                                               monkeypatch):
    """The y label says "log scale" where the axis is one (it did not). Losses within a
    factor of 10 stay linear: on a log axis 0.609-0.616 read "6.16x10^-1" at each tick. A
    log axis labels its ticks plainly (0.2, not 2x10^-1)."""
    axes = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: (
        axes.append(fig.axes[0]), plt.close(fig)))
    history = [{"epoch": i + 1, "loss": np.float32(v)} for i, v in enumerate(losses)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.loss_curves(history, tmp_path / "loss.png", keys=("loss",), log_scale=True)
    (ax,) = axes
    assert (ax.get_yscale(), ax.get_ylabel()) == (
        scale, "loss, log scale" if scale == "log" else "loss")
    if scale == "log":
        assert [ax.yaxis.get_major_formatter()(v, 0) for v in (0.1, 1.0)] == ["0.1", "1"]
        assert [ax.yaxis.get_minor_formatter()(v, 0) for v in (0.2, 0.4, 3.0)] == [
            "0.2", "", "3"]


def test_a_loss_that_was_never_finite_is_drawn_on_a_linear_scale(tmp_path, monkeypatch):
    """A sweep whose members all diverged failed in matplotlib: "Data cannot be
    log-scaled because all values are <= 0"."""
    scales = []
    monkeypatch.setattr(plots, "save_figure",
                        lambda fig, path: (scales.append(fig.axes[0].get_yscale()), plt.close(fig)))
    history = [{"epoch": e, "loss": np.array([np.nan, np.inf])} for e in (1, 2)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # numpy: all-NaN medians
        plots.loss_curves(history, tmp_path / "loss.png", keys=("loss",), log_scale=True)
    assert scales == ["linear"]


def test_a_log_scaled_plot_of_no_drawn_curve_stays_linear(tmp_path, monkeypatch):
    """With no key of `keys` in the history (or no history), nothing is drawn: the plot
    stays linear, without a legend or matplotlib's warning of one with no entry; it
    raised "need at least one array to concatenate"."""
    scales = []
    monkeypatch.setattr(plots, "save_figure",
                        lambda fig, path: (scales.append(fig.axes[0].get_yscale()), plt.close(fig)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for history in ([{"epoch": 1, "loss": 1.0}], []):
            plots.loss_curves(history, tmp_path / "loss.png", keys=("val_loss",),
                              log_scale=True)
    assert scales == ["linear", "linear"]


def test_epochs_after_every_member_stopped_early_are_drawn_without_a_warning(tmp_path,
                                                                          monkeypatch):
    """With train.patience, members that stopped log NaN; once all had, numpy warned "All-NaN
    slice encountered" drawing loss.png. The median and 10-90% band are drawn for the epochs
    some member kept (numpy over the kept members), and only those."""
    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.append(fig))
    loss = np.array([[0.9, 0.8, 0.7], [0.6, 0.5, np.nan], [0.4, np.nan, np.nan],
                     [np.nan] * 3, [np.nan] * 3])
    history = [{"epoch": e + 1, "loss": row} for e, row in enumerate(loss)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.loss_curves(history, tmp_path / "loss.png", keys=("loss",))
    [line] = figures[0].axes[0].get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(line.get_ydata(), [0.8, 0.55, 0.4])
    [band] = figures[0].axes[0].collections
    top = band.get_paths()[0].vertices[:, 1]
    assert np.isclose(top, np.percentile([0.9, 0.8, 0.7], 90)).any()
    plt.close(figures[0])


def test_the_loss_legend_sits_below_the_axes_off_the_bands(tmp_path, monkeypatch):
    """A forecast run over 3 origins drew its legend (loc best, which weighs lines only)
    over the test-block loss's 10-90% band. It sits below the axes now, inside the
    figure."""
    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.append(fig))
    history = [{"epoch": e, "loss": np.array([1.0, 1.01, 0.99]) / e,
                "val_loss": np.array([0.3, 0.6, 0.61])} for e in (1, 2)]
    plots.loss_curves(history, tmp_path / "loss.png",
                      {"loss": "training loss", "val_loss": "test-block loss (monitor only)"},
                      "Loss per epoch of the 3 reported members\n(3 origin(s) x 1 seed(s))",
                      log_scale=True)
    fig = figures[0]
    ax = fig.axes[0]
    fig.tight_layout()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    below = ax.get_legend().get_window_extent(renderer).y1 <= ax.get_window_extent(renderer).y0
    clipped = clipped_texts(fig)
    plt.close(fig)
    assert below and clipped == []


def test_files_are_written_whole_or_not_at_all(tmp_path):
    """A write that fails midway leaves neither a partial file nor its temporary file;
    a rerun removes temporaries that a killed run left behind."""
    from fjax.report.files import RunDir, write_atomic
    from fjax.runtime import atomic_path

    target = tmp_path / "metrics.json"
    write_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == [
        "metrics.json"]
    stale = tmp_path / "sub" / ".forecast.csv.abc123.tmp"
    stale.parent.mkdir()
    stale.write_text("partial")
    users = tmp_path / "sub" / ".notes.txt.tmp"   # not the twin of an output: stays
    users.write_text("mine")
    RunDir(tmp_path).remove("report.md", "sub/forecast.csv")
    assert not stale.exists() and users.exists() and target.exists()


def test_plots_are_written_through_a_temporary_file(tmp_path, monkeypatch):
    seen = []
    real = plt.Figure.savefig
    monkeypatch.setattr(plt.Figure, "savefig", lambda self, path, **kw: (
        seen.append(Path(path).name), real(self, path, **kw)))
    plots.loss_curves([{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.5}],
                      tmp_path / "loss.png", keys=("loss",))
    assert seen and seen[0].startswith(".loss.png.") and seen[0].endswith(".tmp")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.png"]


@pytest.mark.parametrize("scores, labels", [
    ([.2, .2, .2, .2, .5, .5], [0, 0, 1, 1, 0, 1]),      # the plot once said 0.667 for 0.0
    (np.round(np.random.default_rng(0).random(500), 1),
     np.random.default_rng(1).random(500) < 0.3)])
def test_the_ks_plot_counts_ties_as_the_metric_does(scores, labels):
    scores, labels = np.asarray(scores), np.asarray(labels, float)
    _, cum_neg, cum_pos, i = plots.ks_points(scores, labels)
    assert abs(cum_pos[i] - cum_neg[i]) == pytest.approx(
        float(metrics.ks_statistic(jnp.asarray(scores), jnp.asarray(labels))), abs=1e-6)


def test_markdown_tables_print_missing_values_as_n_a_and_no_negative_zero():
    """A forecast sweep's table printed "None"; WOE scorecards printed "-0" points."""
    import pandas as pd

    from fjax.report.files import markdown_table
    table = markdown_table(pd.DataFrame({"a": [None, -0.0, -1e-9, -0.5, np.nan]}, dtype=object))
    assert table.splitlines()[2:] == ["| n/a |", "| 0 |", "| -1e-09 |", "| -0.5 |", "| n/a |"]
    assert markdown_table(pd.DataFrame({"p": [-0.001]}), "{:.2f}").splitlines()[2] == "| 0.00 |"


def test_a_gzipped_csv_is_the_same_bytes_every_time(tmp_path):
    """The gzip header held the temporary file's random name: three writes of one frame
    gave three different files."""
    import gzip

    import pandas as pd

    from fjax.report.files import write_csv
    frame = pd.DataFrame({"seed": [0, 0, 1], "score": [0.25, 0.5, 0.125]})
    written = {write_csv(tmp_path / f"{i}" / "scores.csv.gz", frame).read_bytes() for i in range(3)}
    assert len(written) == 1
    assert gzip.decompress(written.pop()).decode() == frame.to_csv(index=False)
    assert pd.read_csv(tmp_path / "0" / "scores.csv.gz").equals(frame)


@pytest.mark.parametrize("zoom", [7, 9])   # 7 is not a multiple of the horizon, 9 is
def test_the_zoomed_actual_line_covers_every_forecast_path(tmp_path, monkeypatch, zoom):
    """Paths drawn from every third of the last `zoom` windows ran up to two steps past
    the actual line, which ended at the last window's first target date."""
    from fjax.tasks.forecast import plots as forecast_plots

    figures = []
    monkeypatch.setattr(forecast_plots, "save_figure", lambda fig, path: figures.append(fig))
    n, horizon = 20, 3
    steps = np.arange(n)[:, None] + np.arange(horizon)[None, :]
    dates = np.datetime64("2024-01-01T00", "h") + steps
    actual = 100.0 + steps
    forecast_plots.forecast_plot(tmp_path / "f.png", dates, actual, actual + 1, actual - 1,
                                 None, None, zoom=zoom)
    lines = {ln.get_label(): ln for ln in figures[0].axes[1].get_lines()}
    shown = np.asarray(lines["actual"].get_xdata(), "datetime64[h]")
    paths = [np.asarray(ln.get_xdata(), "datetime64[h]")
             for ln in figures[0].axes[1].get_lines() if ln.get_marker() == "."]
    plt.close(figures[0])
    assert all(np.isin(p, shown).all() for p in paths)
    np.testing.assert_array_equal(paths[-1], dates[-1])        # the newest forecast is drawn
    np.testing.assert_array_equal(shown, np.unique(dates[n - zoom:]))


def test_a_held_runs_sub_folders_hold_their_records_and_hold_is_set_on_the_run_only(tmp_path):
    """Records of a held run's sub folders (config.json included) wait for the run's
    release. A folder built with hold=True inside another (within=) ignored its hold, so
    that combination is gone: only the run's own folder holds."""
    import dataclasses
    import json
    from fjax.report.files import RunDir

    @dataclasses.dataclass
    class Cfg:
        lr: float = 0.1

    run = RunDir(tmp_path, Cfg(), hold=True)
    models = run.sub("models", Cfg(0.5))
    models.sub("mlp").record("facts.json", {"epochs": 3})
    assert not list(tmp_path.rglob("*.json"))
    run.release()
    assert json.loads((tmp_path / "config.json").read_text()) == {"lr": 0.1}
    assert json.loads((tmp_path / "models" / "config.json").read_text()) == {"lr": 0.5}
    assert json.loads((tmp_path / "models" / "mlp" / "facts.json").read_text()) == {"epochs": 3}
    with pytest.raises(TypeError, match="within"):
        RunDir(tmp_path / "other", hold=True, within=run)


def test_the_horizon_bars_are_labelled_with_the_reports_digits(tmp_path, monkeypatch):
    """The bars read 141 and 20 where report.md's table says 140.5 and 19.97, and (with
    the table's large numbers written whole) 3.091e+04 where it says 30912."""
    import pandas as pd

    from fjax.report.files import markdown_table
    from fjax.tasks.forecast import plots as forecast_plots
    from fjax.tasks.forecast.report import PRICE

    figures = []
    monkeypatch.setattr(forecast_plots, "save_figure", lambda fig, path: figures.append(fig))
    rmse = {"model": 140.53197, "naive": 19.973488, "drift": 19.971839,
            "moving_average": 30912.37}
    forecast_plots.horizon_plot(tmp_path / "h.png", {k: {"rmse": [v]} for k, v in rmse.items()})
    shown = [t.get_text() for t in figures[0].axes[0].texts]
    plt.close(figures[0])
    table = markdown_table(pd.DataFrame({"rmse": list(rmse.values())}), PRICE).splitlines()[2:]
    assert shown == [row.strip("| ") for row in table] == ["140.5", "19.97", "19.97",
                                                           "30912"]


def clipped_texts(fig) -> list[str]:
    """Titles, axis labels and legends of `fig` that run past its edges once laid out as
    `save_figure` lays it out."""
    fig.tight_layout()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    texts = [t for ax in fig.axes for t in (ax.title, ax.xaxis.label, ax.yaxis.label)]
    texts += [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    out = []
    for t in texts:
        box = t.get_window_extent(renderer)
        if box.x0 < -1 or box.y0 < -1 or box.x1 > width + 1 or box.y1 > height + 1:
            out.append(getattr(t, "get_text", lambda: "legend")())
    return out


def credit_sample() -> tuple[np.ndarray, np.ndarray]:
    """(labels, out-of-fold PDs) of 200 made-up applicants, 1 for bad."""
    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.3).astype(float)
    return y, np.clip(0.3 + 0.3 * (y - 0.3) + 0.15 * rng.standard_normal(200), 0.01, 0.99)


def credit_figures(monkeypatch, tmp_path) -> dict:
    """The figures of credit's `write_plots` on a small made-up out-of-fold sample, by file
    name, not saved; the chosen configuration trained with a focal loss."""
    from types import SimpleNamespace

    from fjax.config import LossConfig, to_dict
    from fjax.tasks.credit import report as credit_report
    from fjax.tasks.experiment import loss_text

    figures = {}
    monkeypatch.setattr(plots, "save_figure",
                        lambda fig, path: figures.setdefault(Path(path).name, fig))
    y, pd_raw = credit_sample()
    oof = SimpleNamespace(pd_raw=pd_raw, pd=pd_raw, fold=np.arange(200) % 5)
    # a group of 10 members, the chosen configuration's the even ones (a 2-value lr grid)
    loss = np.where(np.arange(10) % 2 == 0, 1.0, 3.0)
    history = [{"epoch": e, "loss": loss / e, "val_loss": np.full(10, 1.2 / e)}
               for e in (1, 2, 3)]
    credit_report.write_plots(SimpleNamespace(path=tmp_path), y, oof,
                              500 + 50 * np.log((1 - pd_raw) / pd_raw), history,
                              np.arange(0, 10, 2), False,
                              loss_text(to_dict(LossConfig(name="focal", focal_gamma=2.0))))
    return figures


def test_credit_figures_keep_their_titles_inside_and_name_goods_and_bads(tmp_path,
                                                                         monkeypatch):
    """ks.png's one-line title ran past both edges of the figure ("umulative share ...
    the r"), and its legend called the bads "positives"."""
    figures = credit_figures(monkeypatch, tmp_path)
    clipped = {name: clipped_texts(fig) for name, fig in figures.items()}
    legend = [t.get_text() for t in figures["ks.png"].axes[0].get_legend().get_texts()]
    for fig in figures.values():
        plt.close(fig)
    assert {k: v for k, v in clipped.items() if v} == {}
    assert legend[:2] == ["goods", "bads"]


def test_the_credit_roc_legend_gives_each_curves_auc(tmp_path, monkeypatch):
    """roc.png's legend named folds only ("fold 0", ..., "all (out of fold)"): nothing on it
    to hold against the report's AUCs. Each entry now gives its curve's AUC (scikit-learn's
    here), the pooled one to the report's 4 digits."""
    from sklearn.metrics import roc_auc_score

    figures = credit_figures(monkeypatch, tmp_path)
    legend = [t.get_text() for t in figures["roc.png"].axes[0].get_legend().get_texts()]
    for fig in figures.values():
        plt.close(fig)
    y, pd_raw = credit_sample()
    fold = np.arange(200) % 5
    want = [f"fold {j}: AUC {roc_auc_score(y[fold == j], pd_raw[fold == j]):.4f}"
            for j in range(5)]
    assert legend == want + [f"all (out of fold): AUC {roc_auc_score(y, pd_raw):.4f}"]


def test_markdown_tables_write_large_numbers_whole():
    """The fraud report's periods table gave the cost of raising no alerts as 3.09e+04 beside
    an oracle cost of 3500."""
    import pandas as pd

    from fjax.report.files import markdown_table
    table = markdown_table(pd.DataFrame({"cost": [30900.0, 3500.0, 1234567.8, 2.5e-5]}))
    assert table.splitlines()[2:] == ["| 30900 |", "| 3500 |", "| 1234568 |", "| 2.5e-05 |"]


def test_the_ks_plot_gives_the_reports_digits(tmp_path, monkeypatch):
    """ks.png's legend said KS = 0.448 where report.md says KS 0.4481 ({:.4f})."""
    from sklearn.metrics import roc_curve

    figures = credit_figures(monkeypatch, tmp_path)
    legend = [t.get_text() for t in figures["ks.png"].axes[0].get_legend().get_texts()]
    for fig in figures.values():
        plt.close(fig)
    fpr, tpr, _ = roc_curve(*credit_sample())
    assert legend[2] == f"KS = {np.max(tpr - fpr):.4f}"


def points_under_legend(ax) -> int:
    """How many vertices of `ax`'s lines the legend's box covers, once laid out."""
    fig = ax.figure
    fig.tight_layout()
    fig.canvas.draw()
    box = ax.get_legend().get_window_extent(fig.canvas.get_renderer())
    return sum(int(box.count_contains(ln.get_transform().transform(ln.get_xydata())))
               for ln in ax.get_lines())


def test_the_precision_recall_legend_covers_no_curve(tmp_path, monkeypatch):
    """In a default fraud run's pr_curve.png the upper-right legend lay over the mlp's
    curve, whose precision holds near 1 up to recall 0.5."""
    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.append(fig))
    rng = np.random.default_rng(0)
    y = (rng.random(4000) < 0.05).astype(float)
    found = (y > 0) & (rng.random(y.size) < 0.8)      # precision near 1 to recall 0.8
    good = np.where(found, rng.normal(6, 1, y.size), rng.normal(0, 1, y.size))
    rule = np.where((y > 0) & (rng.random(y.size) < 0.2), 10.0, rng.random(y.size))
    plots.pr_curve({"mlp": (good, y), "rule": (rule, y), "logistic": (good / 2, y)},
                   tmp_path / "pr.png")
    covered = points_under_legend(figures[0].axes[0])
    plt.close(figures[0])
    assert covered == 0


@pytest.mark.parametrize("fraud", [
    "fraud (15% above 7.8 in the last bin)",
    "fraud (3% below -3.1 in the first bin, 15% above 7.8 in the last bin)"])
def test_the_score_distributions_legend_covers_no_bar(tmp_path, monkeypatch, fraud):
    """In a default fraud run the legend, placed where matplotlib found most room, lay over
    the fraud's tallest bar (the pile-up of clipped scores at the right edge) once its entry
    said what share of the frauds that bar gathers. It sits below the axes now, inside the
    figure: with both end bins named, two entries side by side ran past its edges and
    tight_layout gave up, saving a figure whose legend was cut off."""
    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.append(fig))
    rng = np.random.default_rng(0)
    y = (np.arange(20_000) < 400).astype(float)
    scores = np.where(y > 0, rng.uniform(2, 7.8, y.size), rng.normal(0, 0.75, y.size))
    scores[:100] = rng.normal(0, 1, 100)               # a quarter of the frauds look legitimate
    scores[100:160] = 7.8                              # 15% of them piled at the top
    plots.score_distributions(scores, y, tmp_path / "s.png",
                              names=("legitimate", fraud))
    fig = figures[0]
    ax = fig.axes[0]
    fig.tight_layout()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = ax.get_legend().get_window_extent(renderer)
    below = box.y1 <= ax.get_window_extent(renderer).y0      # no bar can lie under it
    clipped = clipped_texts(fig)
    plt.close(fig)
    assert below and clipped == []


def test_score_distributions_of_a_class_without_scores(tmp_path, monkeypatch):
    """A fraud run whose test weeks hold no fraud drew the fraud class as a density of no
    scores: numpy's 0/0 RuntimeWarning reached the user and its bars were NaN. Its bars
    are flat now and the legend says it has none."""
    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.append(fig))
    scores = np.random.default_rng(0).normal(size=500)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.score_distributions(scores, np.zeros(500), tmp_path / "s.png",
                                  names=("legitimate", "fraud"))
    ax = figures[0].axes[0]
    heights = np.array([p.get_height() for p in ax.patches])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close(figures[0])
    assert np.isfinite(heights).all() and heights.sum() > 0
    assert labels == ["legitimate", "fraud (none)"]


@pytest.fixture
def fraud_figures(monkeypatch) -> dict:
    """The figures that fraud's plots save, by file name, kept instead of written."""
    from fjax.tasks.fraud import plots as fraud_plots

    figures = {}
    keep = lambda fig, path: figures.setdefault(Path(path).name, fig)  # noqa: E731
    monkeypatch.setattr(plots, "save_figure", keep)
    monkeypatch.setattr(fraud_plots, "save_figure", keep)
    return figures


def test_fraud_figures_of_several_seeds_keep_their_titles_inside(tmp_path, fraud_figures):
    """With --seeds 2 the ROC and precision-recall titles ("ROC (test periods pooled, the
    first of 2 seeds (seed 0))") ran past both edges of their 4.5-inch figures."""
    from types import SimpleNamespace

    import pandas as pd

    from fjax.tasks.fraud import evaluation as fraud_evaluation
    from fjax.tasks.fraud import report as fraud_report

    rng = np.random.default_rng(0)
    labels = {p: (rng.random(300) < 0.1).astype(float) for p in (0, 1)}
    scores = {p: 2 * y + rng.standard_normal(300) for p, y in labels.items()}
    dates = pd.date_range("2018-08-08", periods=4)
    daily = pd.DataFrame({"model": "mlp", "period": [0, 0, 1, 1], "date": dates,
                          "card_precision": [0.3, 0.2, 0.25, 0.35]})
    mlp = SimpleNamespace(name="mlp", scores=scores, labels=labels, logits=True,
                          alerts={(0, 0): None, (1, 0): None},
                          history=[{"epoch": e, "loss": np.arange(1.0, 5.0) / e} for e in (1, 2)],
                          config={"model": {"kind": "mlp"}, "loss": {
                              "name": "bce", "pos_weight": 10.0, "focal_gamma": 2.0,
                              "focal_alpha": -1.0}})
    members = pd.DataFrame({"model": "mlp", "seed": [0, 0, 1, 1], "period": [0, 1, 0, 1],
                            **{m: 0.5 for m in fraud_evaluation.METRICS}})
    fraud_report._plots(SimpleNamespace(file=lambda name: tmp_path / name), [mlp], 100, daily,
                        fraud_evaluation.summarize(members))
    clipped = {name: clipped_texts(fig) for name, fig in fraud_figures.items()}
    loss_title = fraud_figures["training_loss.png"].axes[0].get_title()
    loss_axis = fraud_figures["training_loss.png"].axes[0].get_ylabel()
    for fig in fraud_figures.values():
        plt.close(fig)
    assert "roc_curve.png" in clipped and {k: v for k, v in clipped.items() if v} == {}
    # it said "(median over periods)" of 2 periods x 2 seeds, its legend "over members"
    assert loss_title == "mlp: training loss per epoch, 2 test periods x 2 seed(s)"
    assert loss_axis == "bce loss (pos_weight 10)"     # it said "loss": which one?


def test_fraud_roc_and_pr_curves_draw_each_period_and_give_the_reports_means(tmp_path,
                                                                            fraud_figures):
    """Each test period has its own model and score scale (here period 1's scores are
    shifted by 4): the curves pooled them into one, whose area (the mlp's AUC 0.740 here)
    was no period's and not the report's mean of the periods' (0.986). One line per period and
    model now, equal to scikit-learn's curve, and the legend gives the Results table's
    mean."""
    from types import SimpleNamespace

    import pandas as pd
    from sklearn.metrics import (average_precision_score, precision_recall_curve,
                                 roc_auc_score, roc_curve)

    from fjax.tasks.fraud import evaluation as fraud_evaluation
    from fjax.tasks.fraud import report as fraud_report

    rng = np.random.default_rng(0)
    labels = {p: (rng.random(400) < 0.1).astype(float) for p in (0, 1)}
    models, rows = [], []
    for name, signal in (("mlp", 3.0), ("rule", 1.0)):
        scores = {p: signal * y + rng.standard_normal(400) + 4 * p for p, y in labels.items()}
        models.append(SimpleNamespace(name=name, scores=scores, labels=labels, logits=True,
                                      alerts={(0, 0): None, (0, 1): None}, history=None))
        rows += [{"model": name, "seed": 0, "period": p,
                  **{m: 0.5 for m in fraud_evaluation.METRICS},
                  "auc": roc_auc_score(labels[p], scores[p]),
                  "average_precision": average_precision_score(labels[p], scores[p])}
                 for p in (0, 1)]
    summary = fraud_evaluation.summarize(pd.DataFrame(rows))
    daily = pd.DataFrame({"model": np.repeat(["mlp", "rule"], 2), "period": [0, 1, 0, 1],
                          "date": pd.to_datetime(["2018-08-08", "2018-08-09"] * 2),
                          "card_precision": 0.3})
    fraud_report._plots(SimpleNamespace(file=lambda name: tmp_path / name), models, 100, daily,
                        summary)
    table = fraud_report.results_table(summary, 100, handbook_column=False)
    for file, metric, column in (("roc_curve.png", "auc", "AUC"),
                                 ("pr_curve.png", "average_precision", "AP")):
        ax = fraud_figures[file].axes[0]
        lines = [ln for ln in ax.get_lines() if ln.get_linestyle() != ":"]
        assert len(lines) == 4                         # 2 models x 2 periods
        for line, (model, p) in zip(lines, [(m.name, p) for m in models for p in (0, 1)]):
            s = next(m for m in models if m.name == model).scores[p]
            if metric == "auc":
                fpr, tpr, _ = roc_curve(labels[p], s, drop_intermediate=False)
                expected = np.c_[fpr, tpr]
            else:
                precision, recall, _ = precision_recall_curve(labels[p], s)
                expected = np.c_[recall[::-1], precision[::-1]]   # from (0, 1) on
            np.testing.assert_allclose(line.get_xydata(), expected, atol=1e-12)
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        for text, model in zip(legend, ("mlp", "rule")):
            mean = np.mean([r[metric] for r in rows if r["model"] == model])
            shown = table.loc[table["model"] == model, column].item()
            assert text == f"{model}: {column} {mean:.3f} (mean of 2 periods)"
            assert shown.startswith(f"{mean:.3f} ")    # the Results table's figure
    for fig in fraud_figures.values():
        plt.close(fig)


@pytest.mark.parametrize("name", ["mlp", "autoencoder"])
def test_fraud_score_distributions_standardise_each_periods_scores(tmp_path, fraud_figures,
                                                                   name):
    """Each test period has its own model and score scale (here period 1's scores are
    shifted by 6): the histograms pooled the raw scores, two humps per class that showed
    the periods' scales, not how the classes part. Each period's scores are now
    standardised on their own (float64 numpy here), and the title and axis say so."""
    from types import SimpleNamespace

    import pandas as pd

    from fjax.tasks.fraud import evaluation as fraud_evaluation
    from fjax.tasks.fraud import plots as fraud_plots
    from fjax.tasks.fraud import report as fraud_report

    rng = np.random.default_rng(0)
    labels = {p: (rng.random(500) < 0.1).astype(float) for p in (0, 1)}
    scores = {p: 3 * y + (1 + p) * rng.standard_normal(500) + 6 * p for p, y in labels.items()}
    model = SimpleNamespace(name=name, scores=scores, labels=labels, logits=name == "mlp",
                            alerts={(0, 0): None, (1, 0): None}, history=None)
    members = pd.DataFrame({"model": name, "seed": 0, "period": [0, 1],
                            **{m: 0.5 for m in fraud_evaluation.METRICS}})
    daily = pd.DataFrame({"model": name, "period": [0, 1], "card_precision": 0.3,
                          "date": pd.to_datetime(["2018-08-08", "2018-08-09"])})
    fraud_report._plots(SimpleNamespace(file=lambda f: tmp_path / f), [model], 100, daily,
                        fraud_evaluation.summarize(members))
    fig = fraud_figures["score_distributions.png"]
    ax = fig.axes[0]
    z = np.concatenate([(scores[p] - scores[p].mean()) / scores[p].std() for p in (0, 1)])
    y = np.concatenate([labels[p] for p in (0, 1)])
    z = np.clip(z, *np.percentile(z, [0.1, 99.9]))
    edges = np.histogram_bin_edges(z, bins=40)
    for bars, value in zip(ax.containers, (0, 1)):
        heights = [b.get_height() for b in bars]
        np.testing.assert_allclose(heights, np.histogram(z[y == value], edges, density=True)[0],
                                   rtol=1e-9)
        np.testing.assert_allclose([b.get_x() for b in bars], edges[:-1], rtol=1e-9,
                                   atol=1e-12)
    kind = "logit" if name == "mlp" else "reconstruction error"
    assert ax.get_title().startswith(f"{name}: test scores standardised within each period\n"
                                     "(each period's own model and scale;")
    assert ax.get_xlabel() == f"{kind} minus its test period's mean, over its std"
    assert clipped_texts(fig) == []
    for f in fraud_figures.values():
        plt.close(f)
    constant = fraud_plots.standardised_by_period([(np.full(3, 2.0), np.zeros(3))])[0]
    assert np.array_equal(constant, np.zeros(3))   # centred, not 0/0


def test_fraud_score_distributions_say_what_share_of_a_class_the_end_bins_pile_up(
        tmp_path, fraud_figures):
    """The scores are clipped to their pooled 0.1-99.9 percentiles; at a 1% fraud rate the
    0.1% of rows past the top were 10% of the frauds (15% in a default run), drawn as the
    tallest fraud bar at the right edge with nothing saying it was a pile-up. The legend now
    gives each class's share in the end bins (counted here in numpy), where it is 1% or
    more."""
    from types import SimpleNamespace

    import pandas as pd

    from fjax.tasks.fraud import evaluation as fraud_evaluation
    from fjax.tasks.fraud import report as fraud_report

    rng = np.random.default_rng(1)
    labels = (np.arange(10_000) < 100).astype(float)        # 1% fraud
    scores = rng.standard_normal(10_000) + 3 * labels
    scores[:10] = 30 + rng.random(10)                        # 10 of the 100 frauds far out
    model = SimpleNamespace(name="mlp", scores={0: scores}, labels={0: labels}, logits=True,
                            alerts={(0, 0): None}, history=None)
    members = pd.DataFrame({"model": "mlp", "seed": 0, "period": [0],
                            **{m: 0.5 for m in fraud_evaluation.METRICS}})
    daily = pd.DataFrame({"model": "mlp", "period": [0], "card_precision": 0.3,
                          "date": pd.to_datetime(["2018-08-08"])})
    fraud_report._plots(SimpleNamespace(file=lambda f: tmp_path / f), [model], 100, daily,
                        fraud_evaluation.summarize(members))
    ax = fraud_figures["score_distributions.png"].axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    z = (scores - scores.mean()) / scores.std()
    hi = np.percentile(z, 99.9)
    share = np.mean(z[labels == 1] > hi)
    for f in fraud_figures.values():
        plt.close(f)
    assert share == 0.1
    assert legend == ["legitimate", f"fraud (10% above {hi:.1f} in the last bin)"]


def test_daily_card_precision_draws_overlapping_periods_as_separate_lines(tmp_path,
                                                                         fraud_figures):
    """With data.step_days 2 and 4-day test weeks, periods 0 and 1 share two days: one
    line per model through the days sorted by date zigzagged between the periods'
    values of each shared day. One line per period now, each its own days in order."""
    from types import SimpleNamespace

    import pandas as pd

    from fjax.tasks.fraud import evaluation as fraud_evaluation
    from fjax.tasks.fraud import report as fraud_report

    rng = np.random.default_rng(0)
    labels = {p: (rng.random(200) < 0.1).astype(float) for p in (0, 1)}
    mlp = SimpleNamespace(name="mlp", scores={p: y + rng.standard_normal(200)
                                              for p, y in labels.items()},
                          labels=labels, logits=True, alerts={(0, 0): None, (0, 1): None},
                          history=None)
    days = {0: pd.date_range("2018-08-08", periods=4), 1: pd.date_range("2018-08-10", periods=4)}
    values = {0: [0.1, 0.2, 0.3, 0.4], 1: [0.6, 0.7, 0.8, 0.9]}
    daily = pd.DataFrame({"model": "mlp", "period": np.repeat([0, 1], 4),
                          "date": np.r_[days[0], days[1]], "card_precision": values[0] + values[1]})
    members = pd.DataFrame({"model": "mlp", "seed": 0, "period": [0, 1],
                            **{m: 0.5 for m in fraud_evaluation.METRICS}})
    fraud_report._plots(SimpleNamespace(file=lambda name: tmp_path / name), [mlp], 100, daily,
                        fraud_evaluation.summarize(members))
    ax = fraud_figures["daily_card_precision.png"].axes[0]
    lines = ax.get_lines()
    drawn = [([d.date() for d in mdates.num2date(ln.get_xdata(orig=False))],
              list(ln.get_ydata())) for ln in lines]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    for fig in fraud_figures.values():
        plt.close(fig)
    assert len(lines) == 2
    for (x, y), p in zip(drawn, (0, 1)):
        assert x == [d.date() for d in days[p]] and y == values[p]
    assert legend == [f"mlp (mean {np.mean(values[0] + values[1]):.3f})"]


def test_daily_precision_of_one_test_day_spans_days_not_years(fraud_figures):
    """A run whose test period holds one day drew that day on an axis from 1968 to 1972
    (matplotlib widens a single date by two years either side)."""
    import pandas as pd

    from fjax.tasks.fraud.plots import daily_card_precision

    day = pd.Timestamp("1970-01-01")
    daily_card_precision({"mlp": [(np.array([day.to_datetime64()]), np.array([0.3]))]},
                         "precision@10", "daily_precision.png")
    ax = fraud_figures["daily_precision.png"].axes[0]
    low, high = mdates.num2date(ax.get_xlim()[0]), mdates.num2date(ax.get_xlim()[1])
    plt.close(ax.figure)
    assert low.date() < day.date() < high.date()
    assert (high - low).days <= 2


@pytest.mark.parametrize("horizon", [1, 3])
def test_the_forecast_plot_says_its_close_ups_span_and_keeps_its_legends_off_the_lines(
        tmp_path, monkeypatch, horizon):
    """The close-up panel said only "Last 120 test dates, close up", and its upper-left
    legend lay over the actual and naive lines of a default S&P 500 run."""
    from fjax.tasks.forecast import plots as forecast_plots

    figures = []
    monkeypatch.setattr(forecast_plots, "save_figure", lambda fig, path: figures.append(fig))
    n = 200
    steps = np.arange(n)[:, None] + np.arange(horizon)[None, :]
    dates = np.datetime64("2018-01-01", "D") + steps
    actual = 2800.0 - 2.0 * steps + 10 * np.sin(steps)   # high on the left, where legends were
    forecast_plots.forecast_plot(tmp_path / "f.png", dates, actual, actual - 300, actual,
                                 None, None, zoom=120, ylabel="Close (price units)")
    fig = figures[0]
    covered = [points_under_legend(ax) for ax in fig.axes]
    titles = [ax.get_title() for ax in fig.axes]
    labels = [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes]
    clipped = clipped_texts(fig)
    plt.close(fig)
    first, last = str(dates[n - 120, 0]), str(dates[-1, -1])
    assert covered == [0, 0] and clipped == []
    assert f"{first} to {last}" in titles[1]
    assert labels == [("target date", "Close (price units)")] * 2


def test_the_credit_learning_curve_draws_the_chosen_configurations_members_only(
        tmp_path, monkeypatch):
    """A learning-rate sweep's learning_curve.png drew every member of the chosen
    configuration's compiled group, the other learning rate's too: its band spanned
    both configurations."""
    figures = credit_figures(monkeypatch, tmp_path)
    ax = figures["learning_curve.png"].axes[0]
    lines = {ln.get_label(): ln.get_ydata() for ln in ax.get_lines()}
    title = ax.get_title()
    for fig in figures.values():
        plt.close(fig)
    np.testing.assert_allclose(lines["training loss (median over members)"], [1, 1 / 2, 1 / 3])
    assert "chosen configuration (5 members" in title


def test_the_scorecard_table_gives_points_to_the_hundredth():
    """report.md listed an unseen category's 0 points as 1.192e-07 and 2.78e-07 (float32
    noise of the refit) beside 13.26 and -0.04693."""
    import pandas as pd

    from fjax.tasks.credit.report import scorecard_lines
    points = pd.DataFrame({"attribute": ["duration", "account", "job"],
                           "value": ["4", "<unknown>", "1365.5"],
                           "points": [13.255715, 1.192e-07, -0.0469]})
    rows = scorecard_lines(points)[2].splitlines()[2:]
    assert rows == ["| duration | 4 | 13.26 |", "| account | <unknown> | 0.00 |",
                    "| job | 1365.5 | -0.05 |"]
    assert scorecard_lines(None) == []


def test_the_calibration_plot_names_its_diagonal_bins_and_bad_rate(tmp_path, monkeypatch):
    """calibration.png had no legend (the dotted diagonal unexplained) and its y axis said
    "observed frequency" of a PD whose event is a bad."""
    figures = credit_figures(monkeypatch, tmp_path)
    ax = figures["calibration.png"].axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()] if ax.get_legend() else []
    ylabel, covered = ax.get_ylabel(), points_under_legend(ax) if legend else None
    for fig in figures.values():
        plt.close(fig)
    assert legend == ["perfect calibration", "10 equal-width bins"] and covered == 0
    assert ylabel == "observed bad rate"


def test_the_naive_line_by_horizon_shows_over_an_equal_drift_line(tmp_path, monkeypatch):
    """With H = 5 on the S&P 500, drift's RMSE by step equals naive's to 3 digits and its
    solid line, drawn later, hid the naive line the legend named."""
    from fjax.tasks.forecast import plots as forecast_plots

    figures = []
    monkeypatch.setattr(forecast_plots, "save_figure", lambda fig, path: figures.append(fig))
    rmse = [20.0, 28.0, 34.0]
    forecast_plots.horizon_plot(tmp_path / "h.png", {
        "model": {"rmse": [50.0, 60.0, 70.0]}, "naive": {"rmse": rmse},
        "drift": {"rmse": rmse}})
    lines = {ln.get_label(): ln for ln in figures[0].axes[0].get_lines()}
    plt.close(figures[0])
    naive, drift = lines["naive"], lines["drift"]
    assert naive.get_linestyle() != drift.get_linestyle()
    assert naive.get_zorder() > drift.get_zorder()


@pytest.mark.parametrize("model, scale", [([606.0, 660.0, 686.0], "log"),
                                          ([30.0, 40.0, 50.0], "linear")])
def test_a_model_far_off_the_baselines_leaves_them_readable_by_horizon(tmp_path, monkeypatch,
                                                                        model, scale):
    """With H = 5 (pinball loss, 3 epochs) the model's RMSE of 606-686 drew every baseline's
    (20-57) as one flat band at the bottom of a linear axis: past a factor of 10 between
    the lines the axis is logarithmic, and its label says so."""
    from fjax.tasks.forecast import plots as forecast_plots

    figures = []
    monkeypatch.setattr(forecast_plots, "save_figure", lambda fig, path: figures.append(fig))
    forecast_plots.horizon_plot(tmp_path / "h.png", {
        "model": {"rmse": model}, "naive": {"rmse": [20.0, 28.0, 34.0]},
        "moving_average": {"rmse": [46.0, 50.0, 57.0]}})
    ax = figures[0].axes[0]
    shown = (ax.get_yscale(), ax.get_ylabel())
    plt.close(figures[0])
    units = "price units, log scale" if scale == "log" else "price units"
    assert shown == (scale, f"test RMSE ({units})")


@pytest.mark.parametrize("horizon", [1, 3])
def test_a_sweeps_plots_name_the_reported_grid_point(tmp_path, monkeypatch, horizon):
    """A sweep's report.md named its forecast "grid point 1: model.kind lstm" while
    forecast.png and horizon.png called the line just "model"."""
    from fjax.tasks.forecast import plots as forecast_plots
    from fjax.tasks.forecast.report import model_label

    choices = [{"origin": 1, "point": 1, "val_mse": None, "model.kind": "lstm",
                "optim.learning_rate": 0.001, "loss.huber_delta": None}]
    name = model_label(choices)
    assert name == "model (grid point 1: model.kind lstm, optim.learning_rate 0.001)"
    assert model_label([*choices, {**choices[0], "origin": 2, "point": 3}]) == (
        "model (grid points 1, 3 by origin)")
    figures = []
    monkeypatch.setattr(forecast_plots, "save_figure", lambda fig, path: figures.append(fig))
    steps = np.arange(200)[:, None] + np.arange(horizon)[None, :]
    dates = np.datetime64("2018-01-01", "D") + steps
    actual = 2800.0 - 2.0 * steps
    forecast_plots.forecast_plot(tmp_path / "f.png", dates, actual, actual - 30, actual,
                                 None, None, zoom=30, name=name)
    forecast_plots.horizon_plot(tmp_path / "h.png", {
        "model": {"rmse": [50.0, 60.0, 70.0][:horizon]}, "naive": {"rmse": [20.0] * horizon}},
        name)
    clipped = [clipped_texts(fig) for fig in figures]     # draws the tick labels too
    texts = [" ".join(t.get_text().split()) for fig in figures for ax in fig.axes
             for t in [*(ax.get_legend().get_texts() if ax.get_legend() else []),
                       *ax.get_xticklabels()]]
    for fig in figures:
        plt.close(fig)
    assert sum(name in t for t in texts) == 3 and clipped == [[], []]


def test_the_credit_learning_curve_names_its_loss(tmp_path, monkeypatch):
    """learning_curve.png's y axis said "loss", not which: bce, or focal with its gamma."""
    figures = credit_figures(monkeypatch, tmp_path)
    ylabel = figures["learning_curve.png"].axes[0].get_ylabel()
    for fig in figures.values():
        plt.close(fig)
    assert ylabel == "focal loss (gamma 2)"


def test_the_forecast_plot_of_a_file_without_dates_names_its_close_ups_rows(
        tmp_path, monkeypatch):
    """A run on a file without a date column (row numbers for dates) crashed drawing
    forecast.png: the close-up's span converted row 80 to a datetime ("Could not convert
    object to NumPy datetime"). It names the rows as report.md does (`date_texts`)."""
    from fjax.tasks.forecast import plots as forecast_plots

    figures = []
    monkeypatch.setattr(forecast_plots, "save_figure", lambda fig, path: figures.append(fig))
    dates = np.arange(80, 280)[:, None]
    actual = np.linspace(100.0, 120.0, 200)[:, None]
    forecast_plots.forecast_plot(tmp_path / "f.png", dates, actual, actual + 1, actual,
                                 None, None, zoom=50)
    title = figures[0].axes[1].get_title()
    plt.close(figures[0])
    assert title == "Close up: the last 50 test dates, 230 to 279"
