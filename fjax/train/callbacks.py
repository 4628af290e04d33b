"""The callback protocol of the host loops, and the default progress bar. Callbacks that
write files (loggers) live in `fjax.report`; `Checkpointer` in `fjax.train.checkpoint`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm


@dataclass(frozen=True)
class Resumed:
    """A run to continue: its saved loop state and the logs of the epochs before it, so
    that the resumed run's history is whole (as `Checkpointer` restores it)."""

    loop: Any
    history: list[dict]


class Callback:
    """Called by `fit` and `train_population` on the host, once per epoch.

    `loop` is the `LoopState` (stacked over members in a population); `logs` maps metric
    names to numpy values (arrays of shape [members] in a population) plus "epoch" and
    "time_s". `on_train_begin` may return a replacement loop state, or a `Resumed` (a
    saved state and the history of its epochs) to resume a run. On Ctrl-C,
    `on_interrupt` gets the state of the last finished epoch before the interrupt
    propagates.
    """

    def on_train_begin(self, loop: Any) -> Any | None:
        return None

    def on_epoch_end(self, epoch: int, logs: dict, loop: Any) -> None:
        return None

    def on_train_end(self, loop: Any) -> None:
        return None

    def on_interrupt(self, loop: Any) -> None:
        """The run was interrupted (Ctrl-C) after the last `on_epoch_end`; `loop` is the
        state after that epoch."""
        return None


def _summary(value: Any) -> float:
    """A scalar for display: the value, or the median over population members."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return float(arr)
    return float(np.nanmedian(arr)) if np.isfinite(arr).any() else float("nan")


class ProgressBar(Callback):
    """A tqdm bar over epochs with the loss and validation loss (medians over members
    in a population). `fit` and `train_population` use one when given no callbacks.
    `disable=None` shows it on a terminal unless TQDM_DISABLE=1; True or False decide."""

    def __init__(self, total: int, desc: str = "train",
                 keys: tuple[str, ...] = ("loss", "val_loss"), disable: bool | None = None):
        self.total, self.desc, self.keys, self.disable = total, desc, keys, disable
        self.bar = None

    def on_train_begin(self, loop: Any) -> None:
        disable = self.disable
        if disable is None and os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true"):
            disable = True
        self.bar = tqdm(total=self.total, desc=self.desc, unit="epoch", disable=disable,
                        initial=int(np.max(np.asarray(loop.epoch))), leave=False)

    def on_epoch_end(self, epoch: int, logs: dict, loop: Any) -> None:
        shown = {k: f"{_summary(logs[k]):.4g}" for k in self.keys if k in logs}
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update(1)

    def on_train_end(self, loop: Any) -> None:
        if self.bar is not None:
            self.bar.close()
