"""Host-side callbacks that write files: the per-epoch JSONL log. (`ProgressBar` lives
beside the callback protocol in `fjax.train.callbacks`, as `fit`'s default.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


from fjax.report.files import to_jsonable, write_atomic
from fjax.train.callbacks import Callback


class JsonlLogger(Callback):
    """Appends one JSON line per epoch to `path` (lists for population metrics). When a
    run resumes from a checkpoint, the lines this logger wrote after the checkpointed
    epoch are dropped first, so no epoch is logged twice."""

    def __init__(self, path: str | Path, extra: dict | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.extra = extra or {}

    def on_epoch_end(self, epoch: int, logs: dict, loop: Any) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(to_jsonable({**self.extra, **logs})) + "\n")

    def on_resumed(self, epoch: int) -> None:
        if not self.path.exists():
            return
        lines = self.path.read_text().splitlines()
        kept = [line for line in lines if not self._later(line, epoch)]
        if len(kept) < len(lines):
            write_atomic(self.path, "".join(line + "\n" for line in kept))

    def _later(self, line: str, epoch: int) -> bool:
        """Written by this logger's run (same extra fields) for an epoch after `epoch`, or
        cut short by the interruption."""
        try:
            logs = json.loads(line)
        except json.JSONDecodeError:
            return True
        return all(logs.get(k) == v for k, v in self.extra.items()) and logs["epoch"] > epoch

