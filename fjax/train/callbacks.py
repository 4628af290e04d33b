"""The callback protocol of the host loops. Concrete callbacks that print or write
(progress bars, loggers) live in `fjax.report`; `Checkpointer` in `fjax.train.checkpoint`.
"""

from __future__ import annotations

from typing import Any


class Callback:
    """Called by `fit` and `train_population` on the host, once per epoch.

    `loop` is the `LoopState` (stacked over members in a population); `logs` maps metric
    names to numpy values (arrays of shape [members] in a population) plus "epoch" and
    "time_s". `on_train_begin` may return a replacement loop state (to resume a run).
    """

    def on_train_begin(self, loop: Any) -> Any | None:
        return None

    def on_epoch_end(self, epoch: int, logs: dict, loop: Any) -> None:
        return None

    def on_train_end(self, loop: Any) -> None:
        return None
