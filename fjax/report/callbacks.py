"""Host-side callbacks that print or write: progress bar and per-epoch JSONL log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from fjax.report.files import to_jsonable
from fjax.train.callbacks import Callback


def _summary(value: Any) -> float:
    """A scalar for display: the value, or the median over population members."""
    arr = np.asarray(value, dtype=np.float64)
    return float(arr) if arr.ndim == 0 else float(np.nanmedian(arr))


class ProgressBar(Callback):
    """A tqdm bar over epochs showing the loss and the monitored metrics (medians over
    members for a population)."""

    def __init__(self, total: int, desc: str = "train", keys: tuple[str, ...] = ("loss", "val_loss"),
                 disable: bool | None = None):
        self.total, self.desc, self.keys, self.disable = total, desc, keys, disable
        self.bar = None

    def on_train_begin(self, loop: Any) -> None:
        self.bar = tqdm(total=self.total, desc=self.desc, unit="epoch", disable=self.disable,
                        initial=int(np.max(np.asarray(loop.epoch))), leave=False)

    def on_epoch_end(self, epoch: int, logs: dict, loop: Any) -> None:
        shown = {k: f"{_summary(logs[k]):.4g}" for k in self.keys if k in logs}
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update(1)

    def on_train_end(self, loop: Any) -> None:
        if self.bar is not None:
            self.bar.close()


class JsonlLogger(Callback):
    """Appends one JSON line per epoch to `path` (lists for population metrics)."""

    def __init__(self, path: str | Path, extra: dict | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.extra = extra or {}

    def on_epoch_end(self, epoch: int, logs: dict, loop: Any) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(to_jsonable({**self.extra, **logs})) + "\n")
