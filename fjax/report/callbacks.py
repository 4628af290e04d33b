"""Host-side callbacks that write files: the per-epoch JSONL log. (`ProgressBar` lives
beside the callback protocol in `fjax.train.callbacks`, as `fit`'s default.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


from fjax.report.files import to_jsonable
from fjax.train.callbacks import Callback


class JsonlLogger(Callback):
    """Appends one JSON line per epoch to `path` (lists for population metrics)."""

    def __init__(self, path: str | Path, extra: dict | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.extra = extra or {}

    def on_epoch_end(self, epoch: int, logs: dict, loop: Any) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(to_jsonable({**self.extra, **logs})) + "\n")
