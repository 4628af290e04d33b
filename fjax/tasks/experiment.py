"""What every task does around training: a run folder, config grids split into compile
groups, a population per group with a progress bar and a JSONL log, and one table.

A task supplies `build(config) -> Trainable` for a group's structure; the rest is here.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from fjax.config import (ExperimentConfig, OptimConfig, check_grid_values, from_dict, get_path,
                         read_values, replace_path, replace_paths, to_dict)
from fjax.config_fields import check_read
from fjax.data.splits import Folds
from fjax.kernels import kernel_state
from fjax.report.callbacks import JsonlLogger
from fjax.report.files import RunDir, to_jsonable
from fjax.runtime import environment
from fjax.train import Population, TrainingDiverged, train_population
from fjax.train.callbacks import Callback, ProgressBar
from fjax.train.checkpoint import Checkpointer
from fjax.train.objective import check_loss_grid as check_loss_keys
from fjax.train.population import (RANKED, BlownUpWarning, DivergedWarning, best_row,
                                   blown_up, diverged_message)
from fjax.train.sweep import Group, group_grid


CHECKPOINT_EVERY_S = 30.0   # a save costs ~0.1 s; a resume repeats at most this much training
FINISHED = ("metrics.json", "report.md")   # every task writes them last (report.md last of
# all) and removes them as a run (or resume) starts


class RunFinished(Exception):
    """`--resume` of a run whose results are complete: there is nothing to train."""

    def __init__(self, folder: Path, cleaned: bool = False):
        self.folder = folder
        super().__init__(f"--resume: {folder} holds this run, finished: its results are in "
                         f"{folder} (report: {folder / FINISHED[-1]}); nothing to resume"
                         + ("; the checkpoints it left (it stopped before deleting them) are "
                            "deleted" if cleaned else "") + ". To train it again, run without "
                         "--resume")


def finished(folder: Path) -> bool:
    """Whether the run in `folder` finished: its metrics.json and report.md (written last)
    are there. A report alone (metrics.json deleted by hand) is no finished run: its
    results are not all in the folder, so a resume trains again."""
    return all((folder / name).is_file() for name in FINISHED)


@dataclass(frozen=True)
class Trainable:
    """One compile group's model and objective."""

    init_fn: Callable            # key -> params
    loss_fn: Callable            # (params, batch, rng, hparams=None) -> (loss, aux)
    eval_fn: Callable | None = None  # (params, val_data, val_weights) -> metrics


@dataclass
class GroupResult:
    group: Group
    population: Population
    blown_up: str | None = None   # `blown_up_points`: a plain run's note, or a sweep's
                                  # naming the points that blew up
    blown_points: list[dict] = dataclasses.field(default_factory=list)   # those points'
                                  # hyperparameters by short name (a plain run's: {})


def seeds_of(config: ExperimentConfig) -> list[int]:
    return [config.seed + i for i in range(config.sweep.seeds)]


def train_grid(config: ExperimentConfig, grid: Mapping[str, Sequence[Any]],
               build: Callable[[Any], Trainable], data: dict, *,
               folds: Folds | Callable[[Any], Folds] | None = None,
               run_dir: RunDir | None = None, progress: bool = True, plain: bool | None = None,
               ranked: str = RANKED) -> list[GroupResult]:
    """Train every member of `grid` x seeds x folds, one compiled population per group.

    A plain run (default: an empty grid) stops when a member diverges; a sweep warns and
    keeps the member, ranked last (`check_sweep_divergence` stops one in which all did).
    `ranked`: the warning's sentence on where they rank and which file lists them (a
    task's, as its user reads files; by default the `Population` methods').
    `folds` may be a function of a group's config, for groups that
    train on other rows (a fraud sweep's autoencoder: legitimate rows only).
    """
    plain = not grid if plain is None else plain
    results = []
    groups = group_grid(config, grid or {})
    for g, group in enumerate(groups):
        trainable = build(group.config)
        callbacks = [ProgressBar(group.config.train.epochs, desc=f"group {g + 1}/{len(groups)}",
                                 disable=None if progress else True)]
        checkpoints = None
        if run_dir is not None:
            log = JsonlLogger(run_dir.file("history.jsonl"), extra={"group": g})
            checkpoints = Checkpointer(run_dir.file(f"checkpoints/group_{g}"),
                                       every_s=CHECKPOINT_EVERY_S, resume=config.resume)
            if config.resume and checkpoints.latest_epoch() is None:
                log.on_resumed(0)   # stopped before its first save: it starts again
            callbacks += [log, checkpoints, RecordResumed(run_dir)]
        try:
            with warnings.catch_warnings():
                if plain:   # raised below, naming the run's learning rate and clipping
                    warnings.simplefilter("ignore", DivergedWarning)
                warnings.simplefilter("ignore", BlownUpWarning)   # said below, with flags
                pop = train_population(trainable.loss_fn, trainable.init_fn, data,
                                       optim=group.config.optim, train=group.config.train,
                                       hparams=group.hparams, seeds=seeds_of(config),
                                       folds=folds(group.config) if callable(folds) else folds,
                                       eval_fn=trainable.eval_fn, callbacks=callbacks,
                                       ranked=ranked)
        finally:
            if checkpoints is not None:
                checkpoints.close()
        if plain:
            check_divergence(pop, group.config.optim)
        points = blown_up(pop)
        note = blown_up_points(points, group, grid if not plain else {})
        if note:
            warnings.warn(note, stacklevel=2)
        results.append(GroupResult(group, pop, note, [values for values, _, _ in points]))
    return results


def check_sweep_divergence(results: Sequence[GroupResult], grid: Mapping[str, Sequence[Any]]
                           ) -> None:
    """A sweep in which every member diverged has nothing to report: stop, and say how
    to fix it (credit, which sweeps per encoding, decides over all of them itself)."""
    if grid and all(np.all(np.asarray(r.population.loop.diverged_epoch) > 0) for r in results):
        raise TrainingDiverged("every member of the sweep diverged (its loss or validation "
                               "loss became NaN or infinite); lower --optim.learning-rate or "
                               "set --optim.clip-norm", combined_table(results, grid))


def check_divergence(pop: Population, optim: OptimConfig) -> None:
    """A member whose loss became NaN or infinite stops a plain run with an error naming
    it and the run's learning rate and clipping (in a sweep, where large learning rates
    are expected to fail, `train_population` warns and the member stays in the table with
    its `diverged_epoch`)."""
    message = diverged_message(pop.members, np.asarray(pop.loop.diverged_epoch))
    if message:
        raise TrainingDiverged(f"{message} (this run's optim.learning_rate is "
                               f"{optim.learning_rate:g}, optim.clip_norm {optim.clip_norm}).",
                               pop)


def resumed_epochs(results: Sequence[GroupResult], prefix: str = "") -> dict[str, int]:
    """"<prefix>group <g>" -> the epoch its checkpoint restored (0: it trained from epoch 1):
    each population resumes from its own (one finished before the run stopped restores
    its last epoch), so no one number says where a sweep resumed."""
    return {f"{prefix}group {g}": r.population.resumed_epoch for g, r in enumerate(results)}


def resumed_from(epochs: Mapping[str, int]) -> str:
    """Where the populations of `resumed_epochs` resumed: "a checkpoint of epoch 2" (one
    population), "checkpoints of epoch 20 (group 0), 7 (group 1)"; "" where none did."""
    done = {name: epoch for name, epoch in epochs.items() if epoch}
    if not done:
        return ""
    where = ", ".join(f"{epoch} ({name})" if len(epochs) > 1 else str(epoch)
                      for name, epoch in done.items())
    return f"{'a checkpoint' if len(done) == 1 else 'checkpoints'} of epoch {where}"


def loss_text(loss: Mapping) -> str:
    """"bce loss (pos_weight 10)", "focal loss (gamma 2)": the loss a model minimised
    (`LossConfig` as a dict), with its non-default settings, for reports and axes."""
    settings = [f"gamma {loss['focal_gamma']:g}"] if loss["name"] == "focal" else []
    if loss["name"] == "focal" and loss["focal_alpha"] >= 0:
        settings.append(f"alpha {loss['focal_alpha']:g}")
    if loss["pos_weight"] != 1:
        settings.append(f"pos_weight {loss['pos_weight']:g}")
    return f"{loss['name']} loss" + (f" ({', '.join(settings)})" if settings else "")


def median_loss(logs: Mapping) -> float | None:
    """An epoch's training loss: the median of its members' finite losses; None where
    none is finite."""
    loss = np.atleast_1d(np.asarray(logs["loss"], float))
    loss = loss[np.isfinite(loss)]
    return float(np.median(loss)) if loss.size else None


def rising_loss_note(history: Sequence[Mapping]) -> str | None:
    """A sentence when the training loss (the median over members) ended above its first
    epoch's: such a model learned nothing, however its metrics read (a learning rate far
    too high can keep the loss finite and huge, which no divergence check catches)."""
    if len(history) < 2:
        return None
    first, last = median_loss(history[0]), median_loss(history[-1])
    if first is None or last is None or last <= first:
        return None
    return (f"The training loss rose from {first:.4g} (epoch 1) to {last:.4g} (epoch "
            f"{len(history)}): the model did not learn. Lower --optim.learning-rate.")


def blown_up_note(end: float, start: float) -> str:
    """The sentence for a training loss (a plain run's, or a sweep point's) that ended at
    `end`, over `BLOWN_UP_FACTOR` times `start`, the loss at the initial parameters
    (`fjax.train.population.blown_up` judges it)."""
    return (f"The training loss ended at {end:.4g}, {end / start:.3g} times its {start:.4g} "
            "at the initial parameters: training blew up (the loss stayed finite, so no "
            "divergence check stopped it) and the metrics are a broken model's. Lower "
            "--optim.learning-rate or set --optim.clip-norm.")


def not_distinguishable(lead: float, se: float | None) -> bool:
    """Whether a sweep's choice leads its runner-up by too little to tell them apart:
    `lead` is the chosen one's paired advantage (positive: it is better), `se` its
    standard error (None: one pair). None, under two standard errors, or behind (a
    choice by one mean can trail on the paired one) all count; the forecast and fraud
    sweeps' verdict, so the two tasks judge alike."""
    return lead <= 0 or (se is not None and lead < 2 * se)


def blown_up_points(points: list[tuple[dict, float, float]], group: Group,
                    grid: Mapping[str, Sequence[Any]]) -> str | None:
    """`blown_up_note` per grid point of a sweep's population (`blown_up`'s `points`: its
    seeds' and folds' members' median of their last finite losses), named by the grid's
    fields; a plain run's single point, without a name."""
    if not points:
        return None
    if not grid:
        return blown_up_note(*points[0][1:])
    fixed = read_values(group.config, [p for p in grid if p not in group.paths.values()])
    names = [", ".join([*(f"{p} {v}" for p, v in fixed.items()),
                        *(f"{group.paths[k]} {v:g}" for k, v in values.items())])
             for values, _, _ in points]
    return (f"Sweep grid point(s) that blew up: {'; '.join(names)}. At {names[0]}: "
            f"{blown_up_note(*points[0][1:])}")


def combined_table(results: Sequence[GroupResult],
                   grid: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """Every member of every group, with the grid's structural values as columns; a swept
    hyperparameter that a group's choice does not read (focal_gamma with bce) is NaN there,
    a structural field (linear's dropout) "n/a"."""
    frames = []
    hyper = {p for r in results for p in r.group.paths.values()}
    structural = [p for p in (grid or {}) if p not in hyper]
    for g, result in enumerate(results):
        table = result.population.table()
        table.insert(0, "group", g)
        values = read_values(result.group.config, structural)
        for path in structural:
            table.insert(1, path, str(values[path]) if path in values else "n/a")
        table = table.rename(columns={s: p for s, p in result.group.paths.items()})
        frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def best_result(results: Sequence[GroupResult], metric: str, mode: str) -> tuple[GroupResult, dict]:
    """The group and hyperparameters with the best mean `best_<metric>` over folds and
    seeds, among configs with a finite mean (`fjax.train.population.best_row`)."""
    summaries = pd.concat([r.population.summary(metric, mode).assign(group=g)
                           for g, r in enumerate(results)], ignore_index=True)
    row = summaries.loc[best_row(summaries[f"{metric}_mean"], mode)]
    best = results[int(row["group"])]
    return best, {k: float(row[k]) for k in best.group.hparams}


def config_with(result: GroupResult, hparams: Mapping[str, float]) -> ExperimentConfig:
    """The group's config with hyperparameter values set (e.g. the best ones, to refit)."""
    cfg = result.group.config
    for short, value in hparams.items():
        cfg = replace_path(cfg, result.group.paths[short], value)
    return cfg


def default_run_dir(config: ExperimentConfig, grid: Mapping[str, Sequence[Any]] | None = None,
                    outputs: Sequence[str] = ()) -> RunDir:
    """The run folder, ready for this run: an earlier run's `outputs` (glob patterns) and
    checkpoints removed, then `config.json` and `environment.json` (versions, machine)
    written; a sweep also writes `grid.json`, the swept values of each field
    (`config.json` holds the first of them). Every grid value is checked first (a config
    is built with it), so a bad one writes nothing. A folder that holds another task's
    run is refused.

    With `config.resume` the folder must hold the same run (its config.json and
    grid.json), and its checkpoints and history logs stay for the populations to resume;
    a run of them that finished raises `RunFinished` instead of training again (its
    checkpoints deleted, where a kill left them after its report). Its
    config.json and environment.json are written once the first population restored
    (`RunDir.release`): a refused resume leaves those of the run that saved the checkpoints.
    """
    check_grid_values(config, grid or {})
    check_loss_grid(config, grid or {})
    check_model_grid(config, grid or {})
    grid_json = {k: list(v) for k, v in grid.items()} if grid else None
    # config.json holds the grid's first point whichever way the grid came (flags, a
    # grid.json over structure, Python): the config `fjax run --config` reruns
    recorded = replace_paths(config, {k: v[0] for k, v in grid.items()}) if grid else config
    if config.resume:
        check_resumable(Path(config.run_dir), recorded, grid_json)
        if finished(Path(config.run_dir)):
            raise RunFinished(Path(config.run_dir), remove_checkpoints(Path(config.run_dir),
                                                                       outputs))
    else:
        check_replaceable(Path(config.run_dir), config, outputs)
    run_dir = RunDir(Path(config.run_dir), hold=config.resume)
    if config.resume:
        saved = [c for p in checkpoint_dirs(outputs) for c in run_dir.path.glob(f"{p}/[0-9]*")
                 if c.name.isdigit()]    # a finished save's step folder
        if not saved:
            warnings.warn(f"--resume: {run_dir.path} holds no finished results and no "
                          "checkpoint (the run stopped before its first save), so it trains "
                          "again from epoch 1", stacklevel=2)
        # The logs go on; a model's config.json (fraud's) is rewritten once it restores.
        run_dir.remove(*(p for p in outputs if not p.endswith(("history.jsonl", "config.json"))))
    else:
        run_dir.remove(*outputs, "grid.json")
        run_dir.remove_trees(*checkpoint_dirs(outputs))
    run_dir.record("config.json", to_dict(recorded))   # a resume's wait for a restore
    run_dir.record("environment.json", {"config_class": config_class(config), **environment(),
                                        "data_files": data_files(config)})
    if grid_json:
        run_dir.json("grid.json", grid_json)
    return run_dir


class RecordResumed(Callback):
    """Write the run's held records (`RunDir.release`) once training begins: after the
    `Checkpointer` before it in the callbacks restored, before any epoch is saved."""

    def __init__(self, run_dir: RunDir):
        self.run_dir = run_dir

    def on_train_begin(self, loop: Any) -> None:
        self.run_dir.release()


def check_loss_grid(config: ExperimentConfig, grid: Mapping[str, Sequence[Any]]) -> None:
    """Swept `loss.*` values must be read by each compile group's loss: training refuses
    the others (`fjax.train.objective.check_loss_grid`), but only after the run folder
    was cleared; this runs the same check before anything is written or removed."""
    for group in group_grid(config, grid):
        check_loss_keys(group.config.loss, {key: values for key, values in group.hparams.items()
                                            if group.paths[key].startswith("loss.")})


def check_model_grid(config: ExperimentConfig, grid: Mapping[str, Sequence[Any]]) -> None:
    """Refuse a model field that every kind the run trains ignores (`--model.dropout 0.3`
    with a logistic model), set away from the task's default model (its Config's: a
    logistic run keeps the task's MLP widths) and from the class's defaults, or swept; the
    kinds are `trained_kinds`. Only the run's own model reads `config.model`."""
    kinds = trained_kinds(config, grid)
    swept = [path.split(".", 1)[1] for path in grid if path.startswith("model.")]
    check_read(config.model, "model", chosen=kinds, usual=task_default(config, "model"),
               swept=swept)


GRID_SECTIONS = ("model", "loss", "optim", "train")   # what varies per member in every task


def check_grid_paths(task: str, config: ExperimentConfig, grid: Mapping[str, Sequence[Any]],
                     varied: Sequence[str] = (), unread: Mapping[str, str] | None = None
                     ) -> None:
    """Refuse a grid path outside `GRID_SECTIONS` and the task's own `varied` ones (credit
    encodes its data again per data.woe value): the run reads the others once, from its
    own value (data prepared, folds and seeds counted, compared models and scorecard
    chosen), so every member would get that while the table named the swept ones.
    `unread` maps a path of those sections that this run does not read to why."""
    for path, why in (unread or {}).items():
        if path in grid:
            raise ValueError(f"grid entry {path} cannot be swept: {why}")
    for path in grid:
        if path.split(".")[0] in GRID_SECTIONS or path in varied:
            continue
        read = (f"the {task} data is prepared" if path.startswith("data.")
                else f"the {task} run reads it")
        may = ", ".join([*(f"{section}.*" for section in GRID_SECTIONS), *varied])
        flag = "--" + path.replace("_", "-")
        raise ValueError(f"grid entry {path} cannot be swept: {read} once, from "
                         f"{path}={get_path(config, path)!r}, for every member (a grid may "
                         f"vary {may}); run one sweep per value instead (`fjax sweep {task} "
                         f"... {flag} VALUE`)")


def trained_kinds(config: ExperimentConfig, grid: Mapping[str, Sequence[Any]]) -> list[str]:
    """The model kinds a run trains from its config: a grid over model.kind replaces the
    run's own (each grid point sets it)."""
    return list(dict.fromkeys(grid.get("model.kind", ()) or [config.model.kind]))


def task_default(config: ExperimentConfig, section: str) -> Any:
    """The default of `section` in `config`'s class (fraud's model: its 100 x 100 MLP),
    which may differ from the default of the section's own class."""
    return getattr(type(config)(), section)


def config_class(config: ExperimentConfig) -> str:
    """"fjax.tasks.credit.config.Config": which task's run a folder holds."""
    return f"{type(config).__module__}.{type(config).__qualname__}"


def check_replaceable(folder: Path, config: ExperimentConfig, outputs: Sequence[str] = ()
                      ) -> None:
    """A run replaces only an earlier run of its own task: a folder whose
    environment.json names another task's config is refused before anything is removed
    (the two runs' files would mix), and so is a folder without a run (no
    environment.json, nor a config.json of this task) that holds files of the names this
    run writes (`--out .` in a project would replace its own config.json). Other files
    of a folder are kept."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--out {folder} is a file, not a folder; name a folder for the "
                         "run's files")
    if not (folder / "environment.json").exists():
        if holds_own_config(folder, config):
            return
        names = ("config.json", "environment.json", "grid.json", *outputs)
        clash = sorted({str(p.relative_to(folder)) for name in names
                        for p in folder.glob(name) if p.is_file()})
        if clash:
            raise ValueError(f"{folder} holds {', '.join(clash[:5])}"
                             f"{' ...' if len(clash) > 5 else ''}, but no fjax run (no "
                             "environment.json): this run would replace them; choose another "
                             "folder with --out, or move them")
        return
    saved = saved_environment(folder).get("config_class")   # none: nothing to compare
    if saved is not None and saved != config_class(config):
        raise ValueError(f"{folder} holds a run of another task ({saved}); choose another "
                         "folder with --out, or delete that one")


def holds_own_config(folder: Path, config: ExperimentConfig) -> bool:
    """Whether the folder's config.json is a config of this task: a run of it (of an
    fjax without environment.json, or stopped before writing one), or one written by
    hand for `--config`."""
    try:
        from_dict(type(config), json.loads((folder / "config.json").read_text()))
    except (OSError, ValueError, TypeError):
        return False
    return True


def data_files(config: ExperimentConfig) -> dict[str, dict]:
    """Each file that `config.data` names (`path`, credit's `score_path`): its absolute
    path, size and SHA-256. config.json holds a path only, as given; these say which
    bytes the run read, so that a rerun or a resume can tell when the file changed."""
    files = {}
    for field in dataclasses.fields(config.data):
        given = getattr(config.data, field.name)
        if (field.name == "path" or field.name.endswith("_path")) and given \
                and Path(given).is_file():
            path, stat = Path(given).resolve(), Path(given).stat()
            files[f"data.{field.name}"] = {"path": str(path), "bytes": stat.st_size,
                                           "sha256": sha256_of(path, stat.st_size,
                                                               stat.st_mtime_ns)}
    return files


@functools.lru_cache(maxsize=16)
def sha256_of(path: Path, size: int, mtime_ns: int) -> str:
    """The file's SHA-256, read once per path, size and modification time: a rerun's
    check and the run's environment.json ask for the same file's."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def saved_environment(folder: Path) -> dict:
    """The environment.json that the run in `folder` wrote; {} where there is none, or
    it is not fjax's (unreadable, not a JSON object): then there is nothing to compare."""
    try:
        saved = json.loads((folder / "environment.json").read_text())
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def changed_data_files(config: ExperimentConfig, folder: Path) -> dict[str, str]:
    """The data files of `config` whose contents differ from the ones the run in `folder`
    read (its environment.json's `data_files`): {"data.path": "sha256 ... then, ... now;
    it read /abs/path"}; empty for a run that recorded none (an older fjax)."""
    return data_changes(saved_environment(folder).get("data_files") or {}, data_files(config))


def data_changes(saved: dict, now: dict) -> dict[str, str]:
    """`changed_data_files` of the files a run read (`saved`) and `data_files` now."""
    return {name: f"sha256 {then['sha256'][:12]}... then, "
                  f"{now[name]['sha256'][:12] + '...' if name in now else 'no file'} now; "
                  f"it read {then['path']}"
            for name, then in saved.items()
            if now.get(name, {}).get("sha256") != then.get("sha256")}


def changed_environment(folder: Path) -> dict[str, tuple]:
    """What of `fjax.runtime.environment` that changes numbers (machine, library versions,
    fjax's revision, XLA_FLAGS, jax's numeric settings) differs from the run in `folder`:
    {"jax_config.jax_enable_x64": (False, True)}, the value then and now. Entries the run
    did not record (an older fjax) are not compared."""
    saved = _flat(saved_environment(folder))
    now = _flat(to_jsonable(environment()))
    return {key: (saved[key], now.get(key)) for key in saved
            if key.split(".")[0] in ("backend", "devices", "versions", "fjax_commit",
                                     "XLA_FLAGS", "jax_config") and saved[key] != now.get(key)}


def setup_words(changed: dict) -> str:
    """The settings that differ from the run's, then and now."""
    return "differs from the run's: " + "; ".join(
        f"{key} {then!r} then, {now!r} now" for key, (then, now) in changed.items())


def setup_lines(changed: dict, what: str) -> list[str]:
    """A score report's bullet naming a setup that differs from the run's (none if same)."""
    return [f"- Setup: {setup_words(changed)}; the same model on another setup can differ "
            f"from the run's {what} in float32's last digits."] if changed else []


def warned_setup_changes(run: Path, what: str) -> dict[str, list]:
    """`changed_environment(run)` as a `fjax score` records it ({key: [then, now]}), and
    warned of on the command line: `what` (the scores, the forecast) equals the run's on
    the run's setup only (another jax or machine can round float32 sums otherwise)."""
    changed = changed_environment(run)
    if changed:
        warnings.warn(f"--run {run}: the setup {setup_words(changed)}, so {what} may differ "
                      "from the run's in float32's last digits", stacklevel=3)
    return {key: list(pair) for key, pair in changed.items()}


def check_resumable(folder: Path, config: ExperimentConfig, grid: dict | None) -> None:
    """The interrupted run in `folder` had this config and grid (apart from `resume`),
    and its data files had the contents they have now."""
    saved = folder / "config.json"
    if not saved.exists():
        raise ValueError(f"--resume: {folder} holds no run to resume (no config.json); "
                         "run without --resume")
    before = _flat(json.loads(saved.read_text()))
    now = _flat(to_dict(config))
    read, now_files = saved_environment(folder).get("data_files") or {}, data_files(config)
    differ = sorted(k for k in before.keys() | now.keys()   # name and out only say where
                    if k not in ("resume", "name", "out") and before.get(k) != now.get(k)
                    and not (k in read   # one file by another path: its absolute one
                             and read[k].get("path") == now_files.get(k, {}).get("path")))
    grid_file = folder / "grid.json"
    if (json.loads(grid_file.read_text()) if grid_file.exists() else None) != to_jsonable(grid):
        differ.append("the swept values (grid.json)")
    differ += [f"the contents of {name} ({why})"
               for name, why in data_changes(read, now_files).items()]
    if differ:
        raise ValueError(f"--resume: this run differs from the one in {folder} in "
                         f"{', '.join(differ)}; resume with its settings, or run without "
                         "--resume to start again")


def _flat(tree: dict, prefix: str = "") -> dict:
    """{"train": {"epochs": 2}} -> {"train.epochs": 2}."""
    flat = {}
    for k, v in tree.items():
        flat.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return flat


def checkpoint_dirs(outputs: Sequence[str]) -> list[str]:
    """The checkpoint folders of a task whose `outputs` name its history logs: each
    population checkpoints beside its log (`train_grid`), in `checkpoints/group_<g>`."""
    return [str(PurePosixPath(p).parent / "checkpoints" / "group_[0-9]*")
            for p in outputs if PurePosixPath(p).name == "history.jsonl"]


def remove_checkpoints(folder: Path, outputs: Sequence[str]) -> bool:
    """Delete the checkpoints of the finished run in `folder` (one killed after its
    report, before `finish_run` deleted them); whether there were any."""
    left = [p for pattern in checkpoint_dirs(outputs) for p in folder.glob(pattern)]
    if left:
        RunDir(folder).remove_trees(*checkpoint_dirs(outputs))
    return bool(left)


def finish_run(run_dir: RunDir, outputs: Sequence[str]) -> None:
    """The run is complete: its checkpoints are no longer needed for a resume, and
    environment.json learns whether the CPU kernels were loaded (known only now)."""
    run_dir.release()   # a task that trained no population
    run_dir.remove_trees(*checkpoint_dirs(outputs))
    written = run_dir.file("environment.json")
    if written.exists():
        run_dir.json("environment.json", {**json.loads(written.read_text()),
                                          "cpu_kernels": kernel_state()})
