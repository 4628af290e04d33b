"""The training core: pure steps on one model, lifted to epochs, runs and populations.

    from fjax.train import TrainState, make_train_step, fit, train_population

`Checkpointer` is imported on first use (PEP 562): it needs orbax, which
`import fjax.train` alone does not load.
"""

from fjax.train.callbacks import Callback, ProgressBar, Resumed
from fjax.train.epoch import evaluate, train_epoch
from fjax.train.fit import FitResult, TrainingDiverged, fit
from fjax.train.loop import LoopState
from fjax.train.members import init_member, member_keys
from fjax.train.population import Population, train_population
from fjax.train.state import TrainState
from fjax.train.step import make_eval_step, make_train_step

__all__ = [
    "Callback", "Checkpointer", "FitResult", "ProgressBar", "LoopState", "Population", "Resumed",
    "TrainState", "TrainingDiverged",
    "evaluate", "fit", "init_member", "make_eval_step", "make_train_step", "member_keys",
    "train_epoch", "train_population",
]


def __getattr__(name: str):
    """`fjax.train.Checkpointer`, imported (with orbax) only when asked for."""
    if name == "Checkpointer":
        from fjax.train.checkpoint import Checkpointer
        return Checkpointer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"Checkpointer"})
