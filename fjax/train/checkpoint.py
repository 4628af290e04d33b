"""Checkpoints of a whole run (`LoopState`) with orbax, for exact resume.

`Checkpointer` is a callback: it saves the loop state and the history of the epochs so
far every `every` epochs (orbax writes to a temporary directory and renames it, so a
checkpoint is either complete or absent) and, with `resume=True`, replaces the starting
state and history with the latest saved ones. Resuming runs the same compiled program
from the same state, so a resumed run is bit-identical to one that never stopped, and
its history (hence a population's `table()`) is the same too.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from fjax.train.callbacks import Callback, Resumed


def _encode(logs: dict) -> dict:
    """One epoch's logs as JSON: arrays keep their dtype and shape, scalars stay."""
    return {k: v if isinstance(v, (int, float)) else
            {"dtype": str(np.asarray(v).dtype), "value": np.asarray(v).tolist()}
            for k, v in logs.items()}


def _shapes(tree: Any) -> dict:
    """Leaf path ("train/params/Dense_0/kernel") -> shape, for a state or its metadata."""
    def name(key):
        return str(getattr(key, "key", getattr(key, "name", getattr(key, "idx", key))))
    return {"/".join(name(k) for k in path): tuple(leaf.shape)
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _decode(logs: dict) -> dict:
    return {k: np.asarray(v["value"], v["dtype"]) if isinstance(v, dict) else v
            for k, v in logs.items()}


class Checkpointer(Callback):
    def __init__(self, directory: str, *, every: int = 1, keep: int = 2, resume: bool = True):
        self.directory = os.path.abspath(directory)
        self.every = every
        self.resume = resume
        self.history: list[dict] = []   # logs of the epochs the latest checkpoint holds
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                                 enable_async_checkpointing=False),
            item_handlers={"loop": ocp.StandardCheckpointHandler(),
                           "history": ocp.JsonCheckpointHandler()})

    def latest_epoch(self) -> int | None:
        return self.manager.latest_step()

    def restore(self, template: Any, epoch: int | None = None) -> Resumed:
        """The saved loop state at `epoch` (default: latest), shaped like `template`,
        with the logs of the epochs up to it."""
        epoch = self.latest_epoch() if epoch is None else epoch
        if epoch is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        try:
            stored = _shapes(self.manager.item_metadata(epoch)["loop"])
        except KeyError as err:  # no "loop" item: written by an fjax before the history
            raise ValueError(f"the checkpoint of epoch {epoch} in {self.directory} is in an "
                             "older format (no saved history); finish that run with the "
                             "fjax that wrote it, or start again in a new directory") from err
        wanted = _shapes(template)
        if stored != wanted:
            diff = sorted(set(stored.items()) ^ set(wanted.items()))[:4]
            raise ValueError(
                f"the checkpoint of epoch {epoch} in {self.directory} does not fit this run's "
                "state (another model, optimizer or population size?); resume with the run "
                "that wrote it, or use a new directory. Leaves (path, shape) "
                f"that differ: {diff}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        saved = self.manager.restore(epoch, args=ocp.args.Composite(
            loop=ocp.args.StandardRestore(abstract), history=ocp.args.JsonRestore()))
        return Resumed(saved["loop"], [_decode(logs) for logs in saved["history"]])

    def on_train_begin(self, loop: Any) -> Resumed | None:
        self.history = []
        if not self.resume and self.latest_epoch() is not None:
            # orbax keeps the later epochs and skips saving earlier ones: two runs would mix.
            raise ValueError(f"{self.directory} already holds checkpoints (up to epoch "
                             f"{self.latest_epoch()}) and resume=False would start a second run "
                             "among them; use a new directory, delete it, or resume=True")
        if self.resume and self.latest_epoch() is not None:
            resumed = self.restore(loop)
            self.history = list(resumed.history)
            return resumed
        return None

    def _save(self, epoch: int, loop: Any) -> None:
        self.manager.save(epoch, args=ocp.args.Composite(
            loop=ocp.args.StandardSave(loop),
            history=ocp.args.JsonSave([_encode(logs) for logs in self.history])))
        self.manager.wait_until_finished()

    def on_epoch_end(self, epoch: int, logs: dict, loop: Any) -> None:
        if self.history and set(logs) != set(self.history[-1]):
            raise ValueError(
                f"this run logs {sorted(logs)} but the run checkpointed in {self.directory} "
                f"logged {sorted(self.history[-1])}: validation data or metrics changed "
                "between the runs; resume with the same settings, or use a new directory")
        self.history.append(logs)
        if epoch % self.every == 0 or bool(np.all(np.asarray(loop.stopped))):
            self._save(epoch, loop)

    def on_train_end(self, loop: Any) -> None:
        epoch = int(np.max(np.asarray(loop.epoch)))
        if epoch and self.latest_epoch() != epoch:
            self._save(epoch, loop)
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
