"""What `fjax score <task>` shares between tasks: finding a finished run's saved model,
the scores' folder, file digests, the note that the file is read with the run's settings
(`fjax score` has no --data options), and reading a saved model's msgpack back (each task's
`model.msgpack`: credit's, fraud's, forecast's), refusing another task's run, a folder that
holds no model, a damaged file or another format's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, TypeVar

from flax import serialization

from fjax.data.checks import DataSettingError
from fjax.tasks.experiment import saved_environment, sha256_of

MODEL_FILE = "model.msgpack"
T = TypeVar("T")


def model_path(run: Path, task: str, retrain: str) -> Path:
    """`run`'s saved model file, refusing a missing folder, another task's run, or a
    folder that holds none (an unfinished run's, or one written before runs saved their
    model); `retrain` (a sentence) says how to score without one."""
    if not run.is_dir():
        raise ValueError(f"--run {str(run)!r}: no such folder; give the folder a `fjax run "
                         f"{task}` wrote, e.g. --run runs/{task}")
    kind = saved_environment(run).get("config_class")
    if kind is not None and not str(kind).startswith(f"fjax.tasks.{task}."):
        raise ValueError(f"--run {str(run)!r} holds a run of {kind}, not a {task} run; "
                         f"`fjax score {task}` scores with a {task} run's saved model")
    if not (run / MODEL_FILE).is_file() and (run / "score.json").is_file():
        raise ValueError(f"--run {str(run)!r} is the output of `fjax score`, not a "
                         f"run: give the run it scored{scored_run(run)}")
    if not (run / MODEL_FILE).is_file():
        rerun = (f"rerun it (`{rerun_command(run, task)} --out DIR`) to save one, or "
                 f"{retrain}") if (run / "config.json").is_file() \
            else f"give the folder of a finished `fjax run {task}`"
        raise ValueError(f"--run {str(run)!r} has no saved model ({MODEL_FILE}): the run "
                         f"is unfinished or was written by an fjax that saved none; {rerun}")
    return run / MODEL_FILE


def scored_run(folder: Path) -> str:
    """", --run DIR": the run a `fjax score` output folder scored (its config.json's
    `run`), or "" where that cannot be read."""
    try:
        run = json.loads((folder / "config.json").read_text()).get("run")
    except (OSError, ValueError, AttributeError):
        return ""
    return f", --run {run}" if isinstance(run, str) else ""


def rerun_command(run: Path, task: str) -> str:
    """The command that trains `run`'s model again: a sweep's (its folder holds grid.json)
    is `fjax sweep`, whose chosen configuration `fjax run` would not train."""
    command = "sweep" if (run / "grid.json").is_file() else "run"
    return f"fjax {command} {task} --config {run / 'config.json'}"


def read_saved(path: Path, fmt: str, version: int, task: str) -> dict:
    """The msgpack dict saved at `path` in format `fmt`, `version`."""
    try:
        saved = serialization.msgpack_restore(path.read_bytes())
    except Exception as err:   # msgpack raises several types for damaged bytes
        raise ValueError(f"{path} is not a readable {task} model (damaged or cut short?): "
                         f"{type(err).__name__}: {err}; rerun the {task} run to write it "
                         "again") from None
    if not isinstance(saved, dict) or saved.get("format") != fmt:
        raise ValueError(f"{path} is not a {task} model written by `fjax run {task}`")
    if saved.get("version") != version:
        run = path.parent
        again = (f"`{rerun_command(run, task)} --out DIR`" if (run / "config.json").is_file()
                 else f"a rerun of the {task} run")
        raise ValueError(f"{path} is in {task} model format {saved.get('version')!r}; this "
                         f"fjax reads format {version}: score with the fjax that saved it, "
                         f"or save it again with this one: {again}")
    return saved


def as_run_read(read: Callable[[], T], source: str, task: str) -> T:
    """`read()`, whose refusal naming a data setting as its fix (a `DataSettingError`)
    says that `fjax score {task}` has none: the run's settings read `source`
    (`run_settings_note`)."""
    try:
        return read()
    except DataSettingError as error:
        raise ValueError(f"{error}{run_settings_note(source, task)}") from None


def run_settings_note(source: str, task: str, settings: str = "data settings") -> str:
    """What a `fjax score` message adds where it names a run's --data option, which the
    score has none of: the saved model reads `source` with its run's `settings`."""
    return (f" (the saved model reads {source} with its run's {settings}: changing them "
            f"takes a new `fjax run {task}`)")


def out_folder(out: str | None, run: Path) -> Path:
    """The folder for the scores (default: the run's folder name + _scored beside it),
    which must not be a run's own (its files are the run's results)."""
    folder = Path(out) if out else run.resolve().parent / f"{run.resolve().name}_scored"
    if folder.exists() and (folder.resolve() == run.resolve()
                            or (folder / "environment.json").exists()):
        raise ValueError(f"--out {str(folder)!r} holds a training run, whose files the scores "
                         "would replace; give another folder, e.g. --out runs/scored")
    return folder


def sha256(path: Path) -> str:
    """The file's SHA-256 (`sha256_of`'s, read once per path, size and modification time)."""
    stat = path.stat()
    return sha256_of(path.resolve(), stat.st_size, stat.st_mtime_ns)

