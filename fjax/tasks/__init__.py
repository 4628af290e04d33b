"""The three domains. Each task module defines `Config` (an `ExperimentConfig` whose
defaults run the standard job) and `run(config, grid=None) -> Path` (the run folder)."""

from __future__ import annotations

import importlib
from types import ModuleType

TASKS = {
    "forecast": "fjax.tasks.forecast",
    "credit": "fjax.tasks.credit",
    "fraud": "fjax.tasks.fraud",
}


def get_task(name: str) -> ModuleType:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return importlib.import_module(TASKS[name])
