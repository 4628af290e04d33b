"""Checkpoints of a whole run (`LoopState`) with orbax, for exact resume.

`Checkpointer` is a callback: it saves the loop state, the history of the epochs so
far and a digest of the run's inputs every `every` epochs and on Ctrl-C (orbax writes
to a temporary directory and renames it, so a checkpoint is either complete or absent)
and, with `resume=True`, replaces the starting state and history with the latest saved
ones.
Resuming runs the same compiled program from the same state, so a resumed run is
bit-identical to one that never stopped, and its history (hence a population's
`table()`) is the same too.

In a loop of your own (a jitted `make_train_step`), call it directly: the step's
randomness comes from `state.step`, so a resumed loop equals one that never stopped:

    ckpt = Checkpointer(directory)
    if ckpt.latest_epoch() is not None:
        state = ckpt.restore(state).loop    # shaped like the fresh state
    for epoch in range((ckpt.latest_epoch() or 0) + 1, epochs + 1):
        ...                                 # state, metrics = step(state, batch)
        ckpt.save(epoch, state)
"""

from __future__ import annotations

import os
import time
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
import tensorstore as ts

from fjax.runtime import deferred_interrupts, to_device
from fjax.train.callbacks import Callback, Resumed


def _encode(logs: dict) -> dict:
    """One epoch's logs as JSON: arrays keep their dtype and shape, scalars stay."""
    return {k: v if isinstance(v, (int, float)) else
            {"dtype": str(np.asarray(v).dtype), "value": np.asarray(v).tolist()}
            for k, v in logs.items()}


def _shapes(tree: Any) -> dict:
    """Leaf path ("train/params/Dense_0/kernel") -> shape, for a state or its metadata."""
    return {jax.tree_util.keystr(path, simple=True, separator="/"): tuple(leaf.shape)
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _state_diff(stored: dict, wanted: dict, most: int = 4) -> str:
    """Which leaves (path -> shape, from `_shapes`) a checkpoint and this run's state do
    not share, and which they shape differently: the first `most` of each."""
    def first(items):
        items = sorted(items)
        return ", ".join(items[:most]) + (" ..." if len(items) > most else "")
    groups = (("only in the checkpoint", stored.keys() - wanted.keys()),
              ("only in this run", wanted.keys() - stored.keys()),
              ("other shapes", [f"{k} {stored[k]} saved, {wanted[k]} now"
                                for k in stored.keys() & wanted.keys() if stored[k] != wanted[k]]))
    return "; ".join(f"{what}: {first(items)}" for what, items in groups if items)


def _placed_like(restored: jax.Array, like: Any) -> jax.Array:
    """A restored array, uncommitted where the template's is: orbax commits every array
    to a device, and jit compiles committed arguments apart from uncommitted ones, so a
    run resumed in the same process would compile its whole program a second time."""
    if isinstance(like, jax.Array) and not like.committed:
        return to_device(np.asarray(restored))   # no copy program per shape
    return restored


def _read_arrays(directory: str) -> None:
    """Read every array of a saved item (orbax's OCDBT database), one at a time (one
    array's memory at a time), raising where one cannot be read. orbax reads them
    concurrently but, at the first failure, closes its event loop under the reads still
    in flight: each then printed a traceback ("Event loop is closed") as it finished."""
    if not os.path.isfile(os.path.join(directory, "manifest.ocdbt")):
        return   # another layout: orbax reads it alone
    base = {"driver": "ocdbt", "base": f"file://{directory}/"}
    for key in ts.KvStore.open(base).result().list().result():
        for suffix, driver in ((b"/.zarray", "zarr"), (b"/zarr.json", "zarr3")):
            if key.endswith(suffix):
                spec = {"driver": driver, "kvstore": {**base, "path": key[:-len(suffix)].decode()}}
                ts.open(spec, open=True).result().read().result()


def _decode(logs: dict) -> dict:
    return {k: np.asarray(v["value"], v["dtype"]) if isinstance(v, dict) else v
            for k, v in logs.items()}


class Checkpointer(Callback):
    """Save the run every `every` epochs, at most once in `every_s` seconds (a save takes
    tens of milliseconds), and when it ends into `directory` (the latest `keep` saves), and
    resume from the latest one when `resume` is true. The run's inputs are saved too (a
    digest from `fjax.train.loop.run_digest`): a run with another initial state, data,
    hyperparameters, optimizer (schedule length, clipping) or loop settings is refused
    instead of silently continuing the old one. The model and loss are in it where the
    loss function has a `structure` (fjax's `supervised_loss` holds the loss config and
    the flax module's attributes). Not detected: another model with the same parameter
    shapes behind a loss function of your own, an optimizer of your own (not from
    `build_optimizer`) with other settings but the same state shapes, or a module
    attribute that is a function only its code tells apart (every lambda reads
    `<lambda>`). `fjax run --resume` compares whole configs."""

    def __init__(self, directory: str, *, every: int = 1, every_s: float = 0.0, keep: int = 2,
                 resume: bool = True):
        for name, value in (("every", every), ("keep", keep)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Checkpointer {name} must be an integer >= 1, got {value!r}")
        if not every_s >= 0:
            raise ValueError(f"Checkpointer every_s must be >= 0 seconds, got {every_s!r}")
        self.directory = os.path.abspath(directory)
        self.every = every
        self.every_s = every_s   # and at least this long since the last save
        self.saved_at = time.monotonic()
        self.resume = resume
        self.inputs: str | None = None  # this run's digest, from run_epochs
        self.history: list[dict] = []   # logs of the epochs the latest checkpoint holds
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                                 enable_async_checkpointing=False,
                                                 cleanup_tmp_directories=True),
            item_handlers={"loop": ocp.StandardCheckpointHandler(),
                           "history": ocp.JsonCheckpointHandler(),
                           "run": ocp.JsonCheckpointHandler()})

    def on_run_inputs(self, digest: str) -> None:
        self.inputs = digest

    def latest_epoch(self) -> int | None:
        return self.manager.latest_step()

    def restore(self, template: Any, epoch: int | None = None) -> Resumed:
        """The saved loop state at `epoch` (default: latest), shaped like `template`,
        with the logs of the epochs up to it."""
        epoch = self.latest_epoch() if epoch is None else epoch
        if epoch is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        try:   # the arrays before any orbax read: on a damaged item, those print tracebacks
            _read_arrays(os.path.join(self.directory, str(epoch), "loop"))
            stored = _shapes(self.manager.item_metadata(epoch)["loop"])
            run = self.manager.restore(epoch, args=ocp.args.Composite(
                run=ocp.args.JsonRestore()))["run"]
        except Exception as err:   # orbax and tensorstore raise plain Exception too
            if os.path.isdir(os.path.join(self.directory, str(epoch), "run")):
                raise self._damaged(epoch, err) from err
            raise ValueError(f"the checkpoint of epoch {epoch} in {self.directory} is in an "
                             "older format (items of another fjax); finish that run with the "
                             "fjax that wrote it, or start again in a new directory") from err
        if not stored:   # its metadata is gone: not another run's state, a damaged one
            raise self._damaged(epoch, ValueError("its loop state has no metadata"))
        wanted = _shapes(template)
        if stored != wanted:   # before the digest, which differs too but cannot say where
            raise ValueError(
                f"the checkpoint of epoch {epoch} in {self.directory} does not fit this run's "
                "state (another model, optimizer or population size, or an fjax version "
                f"whose optimizer state has other fields): {_state_diff(stored, wanted)}. "
                "Resume it with the settings and fjax that wrote it, or start again in a new "
                "directory (fjax run: without --resume, or with --out elsewhere)")
        if self.inputs is not None and run["inputs"] != self.inputs:
            raise ValueError(
                f"the checkpoint in {self.directory} was written by a run with other inputs "
                "(initial weights or seed, data, hyperparameters, schedule, loop "
                "settings, or the model and loss; or it is the fit that this `fit(result, "
                "...)` continues, whose checkpoints a continuation does not extend); resuming "
                "it would continue that run, not this one. Rerun with exactly the settings "
                "and data that wrote it, or use a new directory")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        try:
            saved = self.manager.restore(epoch, args=ocp.args.Composite(
                loop=ocp.args.StandardRestore(abstract), history=ocp.args.JsonRestore()))
        except Exception as err:   # damaged array data: a plain Exception from tensorstore
            raise self._damaged(epoch, err) from err
        loop = jax.tree.map(_placed_like, saved["loop"], template)
        return Resumed(loop, [_decode(logs) for logs in saved["history"]])

    def _damaged(self, epoch: int, err: Exception) -> ValueError:
        """The error for a checkpoint that cannot be read: orbax renames a save into place
        only once it is complete, so its files were changed or lost afterwards. Says
        which folder to delete to resume from the save before it; deletes nothing."""
        while err.__cause__ or err.__context__:   # tensorstore's own words are innermost
            err = err.__cause__ or err.__context__
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        earlier = [e for e in self.manager.all_steps() if e < epoch]
        fix = (f"delete {os.path.join(self.directory, str(epoch))} to resume from the "
               f"checkpoint of epoch {max(earlier)}" if earlier else
               "start again in a new directory (or delete this one)")
        return ValueError(f"the checkpoint of epoch {epoch} in {self.directory} cannot be "
                          f"read ({reason}): its files were changed or lost after it was "
                          f"saved; {fix}")

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

    def save(self, epoch: int, state: Any) -> None:
        """Save `state` (a `LoopState`, or in a loop of your own any pytree such as a
        `TrainState`) as checkpoint `epoch`, atomically (complete or absent); `restore`
        reads it back. The callback's own saves go through here too; a Ctrl-C during
        one is raised once it is complete."""
        with deferred_interrupts():
            self.manager.save(epoch, args=ocp.args.Composite(
                loop=ocp.args.StandardSave(state),
                history=ocp.args.JsonSave([_encode(logs) for logs in self.history]),
                run=ocp.args.JsonSave({"inputs": self.inputs})))
            self.manager.wait_until_finished()
        self.saved_at = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict, loop: Any) -> None:
        self.history.append(logs)
        due = epoch % self.every == 0 and time.monotonic() - self.saved_at >= self.every_s
        if due or bool(np.all(np.asarray(loop.stopped))):
            self.save(epoch, loop)

    def on_interrupt(self, loop: Any) -> None:
        """Ctrl-C: save the last finished epoch now, so a resume loses no epoch. `loop`
        is the last epoch every callback saw; logs of a later one (a Ctrl-C among the
        callbacks after this one) are dropped, as the state does not hold that epoch."""
        epoch = int(np.max(np.asarray(loop.epoch)))
        logged = [logs["epoch"] for logs in self.history]
        if epoch in logged and (self.latest_epoch() or 0) < epoch:
            del self.history[logged.index(epoch) + 1:]
            self.save(epoch, loop)

    def on_train_end(self, loop: Any) -> None:
        epoch = int(np.max(np.asarray(loop.epoch)))
        if epoch and self.latest_epoch() != epoch:
            self.save(epoch, loop)
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
