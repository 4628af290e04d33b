"""Plots: a log-scaled loss plot of losses that can be negative stays linear, quietly."""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest

from fjax.report import plots


@pytest.mark.parametrize("losses, scale", [([0.5, 0.2, 0.1], "log"), ([0.5, -0.2, -0.9], "linear")])
def test_loss_curves_use_a_log_scale_only_for_positive_values(losses, scale, tmp_path,
                                                               monkeypatch):
    scales = []
    monkeypatch.setattr(plots, "save_figure",
                        lambda fig, path: (scales.append(fig.axes[0].get_yscale()), plt.close(fig)))
    history = [{"epoch": i + 1, "loss": np.float32(v)} for i, v in enumerate(losses)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.loss_curves(history, tmp_path / "loss.png", keys=("loss",), log_scale=True)
    assert scales == [scale]
