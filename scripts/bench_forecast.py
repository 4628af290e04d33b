"""Benchmark: the default forecast run end to end (S&P 500, LSTM 50-50-25, W=60, H=1).

    python scripts/bench_forecast.py            # the default epochs
    python scripts/bench_forecast.py --quick    # 2 epochs

`SECTIONS["forecast_e2e"](quick)` returns six rows: wall time, compile time, seconds per
epoch, evaluation time, test windows forecast per second, and the test error over the
naive forecast's. For comparisons with the peers in ../shared/peers, run every side with the
same MALLOC_* settings (see the peers' README).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fjax.config import TrainConfig
from fjax.tasks.forecast import Config, run


def forecast_e2e(quick: bool) -> list[dict]:
    base = Config()
    epochs = 2 if quick else base.train.epochs
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(out=str(Path(tmp) / "run"),
                        train=TrainConfig(epochs=epochs, batch_size=base.train.batch_size))
        t0 = time.perf_counter()
        out = run(config, progress=False)
        wall = time.perf_counter() - t0
        m = json.loads((out / "metrics.json").read_text())
        history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    epoch_s = [h["time_s"] for h in history]
    timing = m["timing"]
    bench = f"fjax run forecast ({epochs} epochs)"

    def row(metric, value, note=""):
        return {"bench": bench, "metric": metric, "value": value, "note": note}

    return [
        row("wall s (train + evaluate + report)", wall),
        row("compile s", timing["compile_s"]),
        row("s/epoch (median after the first)", float(np.median(epoch_s[1:]))
            if len(epoch_s) > 1 else float("nan")),
        row("evaluate + report s", wall - timing["compile_s"] - timing["train_s"]),
        row("test windows scored per s", float(timing["windows_per_s"]),
            f"{m['test_windows']} test windows"),
        row("test RMSE / naive RMSE", m["model"]["rmse"] / m["baselines"]["naive"]["rmse"],
            f"model {m['model']['rmse']:.2f}, naive {m['baselines']['naive']['rmse']:.2f}"),
    ]


SECTIONS = {"forecast_e2e": forecast_e2e}


if __name__ == "__main__":
    for row in forecast_e2e("--quick" in sys.argv[1:]):
        print(json.dumps(row))
