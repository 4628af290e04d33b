"""The README's Python examples run as written (the second with small data)."""

import re
from pathlib import Path

import numpy as np

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_research_reuse_example_runs():
    scope: dict = {}
    exec(BLOCKS[0], scope)
    assert int(scope["state"].step) == 1
    losses = np.asarray(scope["metrics"]["loss"])
    assert losses.shape == (8,) and np.all(np.isfinite(losses))


def test_population_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # it saves the population to a file
    scope: dict = {}   # as written: it makes its own X and y
    exec(BLOCKS[0] + "\n" + BLOCKS[1].replace("epochs=20", "epochs=2"), scope)
    table = scope["pop"].table()
    assert len(table) == 3 * 2 * 3 * 5
    assert set(scope["pop"].best_config()) == {"learning_rate", "weight_decay"}
