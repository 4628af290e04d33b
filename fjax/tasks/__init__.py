"""The three domains. Each task module defines `Config` (an `ExperimentConfig` whose
defaults run the standard job), `run(config, grid=None) -> Path` (the run folder) and
`check_sweep_paths(config, grid)`, which refuses a grid field the run cannot vary (`run`
calls it, and `fjax sweep` before it for a flag given several values)."""

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
