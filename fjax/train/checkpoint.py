"""Checkpoints of a whole run (`LoopState`) with orbax, for exact resume.

`Checkpointer` is a callback: it saves the loop state every `every` epochs (orbax
writes to a temporary directory and renames it, so a checkpoint is either complete or
absent) and, with `resume=True`, replaces the starting state with the latest saved one.
Resuming runs the same compiled program from the same state, so a resumed run is
bit-identical to one that never stopped.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from fjax.train.callbacks import Callback


class Checkpointer(Callback):
    def __init__(self, directory: str, *, every: int = 1, keep: int = 2, resume: bool = True):
        self.directory = os.path.abspath(directory)
        self.every = every
        self.resume = resume
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                                 enable_async_checkpointing=False))

    def latest_epoch(self) -> int | None:
        return self.manager.latest_step()

    def restore(self, template: Any, epoch: int | None = None) -> Any:
        """The saved loop state at `epoch` (default: latest), shaped like `template`."""
        epoch = self.latest_epoch() if epoch is None else epoch
        if epoch is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        return self.manager.restore(epoch, args=ocp.args.StandardRestore(abstract))

    def on_train_begin(self, loop: Any) -> Any | None:
        if self.resume and self.latest_epoch() is not None:
            return self.restore(loop)
        return None

    def on_epoch_end(self, epoch: int, logs: dict, loop: Any) -> None:
        stopped = bool(np.all(np.asarray(loop.stopped)))
        if epoch % self.every == 0 or stopped:
            self.manager.save(epoch, args=ocp.args.StandardSave(loop))
            self.manager.wait_until_finished()

    def on_train_end(self, loop: Any) -> None:
        epoch = int(np.max(np.asarray(loop.epoch)))
        if epoch and self.latest_epoch() != epoch:
            self.manager.save(epoch, args=ocp.args.StandardSave(loop))
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
