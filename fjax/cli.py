"""The `fjax` command line: tyro over the task config dataclasses.

    fjax run forecast --train.epochs 50
    fjax run credit --model mlp --cv 5
    fjax sweep fraud --optim.learning-rate 1e-4 3e-4 1e-3 --seeds 8

`run` takes one value per field. `sweep` takes several values for every field declared
with `hyper(...)` (learning rate, weight decay, momentum and the loss parameters pos_weight,
focal_gamma, focal_alpha, huber_delta), which vary inside one compiled population, and for
the model's, loss's and optimizer's choices (model.kind, loss.name, optim.schedule, ...),
each value of which is a population of its own; every combination trains. `--config
DIR/config.json` starts from a saved run's config (and, for `sweep`, its grid.json); other
flags override it, and the rerun never writes over DIR unless `--out` names it (or
`--resume` continues it). `score credit --run DIR --data new.csv` scores a file with the
model a credit run saved, without training; `score forecast` forecasts after a newer price
file's last row with the model a forecast run saved; `score fraud --run DIR --data tx.csv
--days N` the last N days of transactions with a fraud run's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib
import inspect
import itertools
import json
import shutil
import signal
import sys
import textwrap
import typing
import warnings
from pathlib import Path
from typing import Any, Callable, Literal

import tyro

from fjax.config import (check_grid_values, from_dict, get_path, hyperparameters, in_json,
                         refused_null)
from fjax.config_fields import literal_choices, unwrap_annotation
from fjax.runtime import enable_compilation_cache, reliable_interrupts
from fjax.tasks import TASKS, get_task
from fjax.tasks.experiment import (CHECKPOINT_EVERY_S, RunFinished,
                                   changed_data_files, changed_environment, finished,
                                   saved_environment)
from fjax.train import TrainingDiverged

USAGE = f"""usage: fjax {{run,sweep,score}} {{{",".join(TASKS)}}} [OPTIONS]

  fjax run forecast                      S&P 500 LSTM on the embedded data
  fjax run credit --model mlp --cv 5     German credit, 5-fold CV in one program
  fjax run fraud                         simulated transactions, MLP, handbook protocol
  fjax sweep credit --optim.learning-rate 1e-3 3e-3 1e-2 --seeds 3
  fjax sweep forecast --model.kind lstm gru cnn
  fjax run forecast --config runs/forecast/config.json --out runs/again
  fjax score credit --run runs/credit --data new.csv          a run's saved model, no training
  fjax score forecast --run runs/forecast --data prices.csv   the same, after the new last row
  fjax score fraud --run runs/fraud --data tx.csv --days 1    the file's last day, as well

Add --help after the task for every option."""


# Sections whose choice fields (Literal-typed: model.kind, loss.name, optim.schedule) a
# sweep varies: each value builds its own compile group on the data every member shares.
CHOICE_SECTIONS = ("model", "loss", "optim")


def is_choice(tp: Any, path: str) -> bool:
    """Whether field `path` (of annotation `tp`) is a choice that `fjax sweep` varies."""
    return path.split(".")[0] in CHOICE_SECTIONS and literal_choices(tp) is not None


def takes_several(field: dataclasses.Field, tp: Any, path: str) -> bool:
    """Whether `fjax sweep` gives config field `path` several values: a hyper or a choice."""
    return bool(field.metadata.get("hyper")) or is_choice(tp, path)


def sweep_view(cls: type, base: Any = None, prefix: str = "") -> type:
    """A copy of config class `cls` whose hyper and choice fields take tuples of values.
    Defaults come from `base` (an instance of `cls`) when given, so a task's overridden
    nested defaults (e.g. `loss: LossConfig = LossConfig(name="bce")`) carry over."""
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = []
    for f in dataclasses.fields(cls):
        tp, default = hints[f.name], f.default
        if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        if base is not None:
            default = getattr(base, f.name)
        path = prefix + f.name
        if dataclasses.is_dataclass(tp):
            view = sweep_view(tp, default if dataclasses.is_dataclass(default) else None,
                              path + ".")
            fields.append((f.name, view, dataclasses.field(default=view())))
        elif takes_several(f, tp, path):
            values = () if default is None else (default,)
            one = float if f.metadata.get("hyper") else Literal[literal_choices(tp)]
            several = tuple[one, ...]
            if typing.get_origin(tp) is typing.Annotated:   # keep aliases, Suppress
                several = typing.Annotated[(several, *tp.__metadata__)]
            fields.append((f.name, several, dataclasses.field(default=values)))
        else:
            fields.append((f.name, tp, dataclasses.field(default=default)))
    # A subclass, so that tyro finds each field's docstring (the help text) on `cls`; its
    # checks run when `split_sweep` builds the real configs, not on tuples of values.
    return dataclasses.make_dataclass(f"{cls.__name__}Sweep", fields, bases=(cls,), frozen=True,
                                      namespace={"__doc__": cls.__doc__,
                                                 "__post_init__": lambda self: None})


def several_paths(cls: type, prefix: str = "") -> list[str]:
    """The fields of `cls` that `fjax sweep` gives several values: hyper and choice."""
    hints = typing.get_type_hints(cls, include_extras=True)
    paths = []
    for f in dataclasses.fields(cls):
        tp, path = hints[f.name], prefix + f.name
        if dataclasses.is_dataclass(tp):
            paths += several_paths(tp, path + ".")
        elif takes_several(f, tp, path):
            paths.append(path)
    return paths


def with_values(view: Any, path: str, values: tuple) -> Any:
    """A parsed-or-default sweep view with field `path` set to `values` as is (no config
    checks, nor `replace_path`'s reset of fields a choice does not read)."""
    head, _, rest = path.partition(".")
    value = with_values(getattr(view, head), rest, values) if rest else values
    return dataclasses.replace(view, **{head: value})


def split_sweep(cls: type, parsed: Any, prefix: str = "") -> tuple[Any, dict[str, tuple]]:
    """(base config, grid) from a parsed sweep view: the grid holds the hyper and choice
    fields given several values; the config, the first value of each."""
    hints = typing.get_type_hints(cls, include_extras=True)
    kwargs, grid = {}, {}
    for f in dataclasses.fields(cls):
        value, path = getattr(parsed, f.name), prefix + f.name
        if dataclasses.is_dataclass(hints[f.name]):
            kwargs[f.name], sub = split_sweep(hints[f.name], value, path + ".")
            grid.update(sub)
        elif takes_several(f, hints[f.name], path):
            if value:   # (): a hyper field without a default; no_value_given refuses a flag
                kwargs[f.name] = value[0]
                if len(value) > 1:
                    grid[path] = tuple(value)
        else:
            kwargs[f.name] = value
    # A field set that the first value of a swept choice does not read (warmup_steps under
    # schedules constant and warmup_cosine) is a one-value grid entry where the base config
    # would refuse it: each point reads it where its choice does (`replace_paths`).
    unread = [name for name, (choice, readers) in getattr(cls, "READ_BY", {}).items()
              if prefix + choice in grid and prefix + name not in grid
              and choice in kwargs and kwargs[choice] not in readers]
    try:
        return cls(**kwargs), grid
    except ValueError:
        if not unread:
            raise
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    grid.update({prefix + name: (kwargs.pop(name),) for name in unread
                 if kwargs[name] != defaults[name]})
    return cls(**kwargs), grid


def load_saved(cls: type, args: list[str], command: str
               ) -> tuple[list[str], Any, dict, Path | None]:
    """`--config DIR/config.json` (anywhere in `args`): (the other args, the saved run's
    config as the defaults, which other flags override, for `sweep` the grid.json beside
    it, DIR). Where the saved run was written is not carried over: a rerun goes to
    runs/<name> or --out, except that `--resume` without them continues the run in DIR."""
    args = [part for a in args for part in
            (a.split("=", 1) if a.startswith("--config=") else [a])]
    if "--config" not in args:
        return args, None, {}, None
    i = args.index("--config")
    if i + 1 == len(args) or args[i + 1].startswith("--"):   # `--config --out x`
        raise ValueError("--config needs a path: a run folder's config.json")
    path, args = Path(args[i + 1]), args[:i] + args[i + 2:]
    if path.is_dir() and (path / "config.json").is_file():
        path = path / "config.json"   # the run folder itself
    if not path.is_file():
        raise ValueError(f"--config {path}: no such file; give a run folder's config.json")
    task = saved_task(path)
    if task is not None and not cls.__module__.startswith(TASKS[task] + "."):
        raise ValueError(f"--config {path} holds a {task} run's settings; rerun it with "
                         f"`fjax {command} {task} --config {path}`")
    flags = flags_in(args)
    resumes_source = "--resume" in flags and not flags & {"--name", "--out"}
    saved = dataclasses.replace(from_dict(cls, read_json(path)), resume=False,
                                out=str(path.parent) if resumes_source else None)
    grid_file = path.with_name("grid.json")
    grid = read_grid(grid_file) if grid_file.exists() else {}
    if command == "sweep":
        check_grid_nulls(cls, grid, grid_file)
    if command == "run" and grid:
        print(f"note: {grid_file} holds a sweep; `fjax run` reruns its config.json, the first "
              f"value of each swept field ({', '.join(grid)}); `fjax sweep` reruns the sweep",
              file=sys.stderr)
    return args, saved, grid if command == "sweep" else {}, path.parent


def saved_task(path: Path) -> str | None:
    """The task whose run wrote config.json `path`, from the environment.json beside it
    (None where there is none, or it does not say)."""
    saved = saved_environment(path.parent).get("config_class")
    if saved is None:
        return None
    return next((t for t, module in TASKS.items() if str(saved).startswith(module + ".")), None)


def check_not_source(config: Any, source: Path | None) -> None:
    """A `--config` rerun must not replace the run it was read from, unless asked to
    (`--out` naming that folder, or `--resume`)."""
    if source is None or config.resume or config.out is not None:
        return
    if Path(config.run_dir).resolve() == source.resolve():
        raise ValueError(f"--config {source / 'config.json'}: this rerun would write into "
                         f"{source} and replace the run it reads; pass --out DIR or --name "
                         f"NAME for the rerun, or --out {source} to replace that run")


def warn_changed_data(config: Any, saved: Any, source: Path | None) -> None:
    """A `--config` rerun that reads a data file of the saved run (the same data.path)
    whose contents changed since (a file edited, or another one at a relative path) gives
    other numbers: say so, naming the file. One of its own (--data.path new.csv) is not
    compared, nor is a resume (`check_resumable` refuses one on changed data)."""
    if source is None or config.resume:
        return
    same = [f"{name} ({why})" for name, why in changed_data_files(config, source).items()
            if get_path(config, name) == get_path(saved, name)]
    if same:
        warnings.warn(f"--config {source / 'config.json'}: the data changed since that run, "
                      f"so the numbers will differ: {'; '.join(same)}", stacklevel=2)


def warn_changed_environment(config: Any, source: Path | None) -> None:
    """A `--config` rerun, or a resume, under another jax setting, library version,
    machine or fjax revision than the run it repeats or continues: the same config and
    seed give the same numbers only on the same setup, so say what differs. A resume of
    a finished run trains nothing (`RunFinished`): nothing to say."""
    folder = Path(config.run_dir) if config.resume else source
    if config.resume and finished(folder):
        return
    changes = changed_environment(folder) if folder is not None else {}
    if changes:
        what = "; ".join(f"{key} {then!r} then, {now!r} now"
                         for key, (then, now) in changes.items())
        action = "--resume" if config.resume else f"--config {source / 'config.json'}"
        warnings.warn(f"{action}: the setup differs from that run's ({what}), so the numbers "
                      "may differ from it", stacklevel=2)


def flags_in(args: list[str]) -> set[str]:
    """The flags that `args` give ("--optim.learning-rate"), spelled with hyphens."""
    return {a.split("=", 1)[0].replace("_", "-") for a in args if a.startswith("--")}


def field_hint(cls: type, path: str) -> Any:
    """The annotation of config field `path` ("model.kind"), with its tyro markers."""
    return typing.get_type_hints(cls_of(cls, path), include_extras=True)[path.split(".")[-1]]


def flags_of(cls: type, path: str) -> set[str]:
    """Every flag that sets config field `path` ("model.kind": --model.kind, --model)."""
    aliases = [a for meta in getattr(field_hint(cls, path), "__metadata__", ())
               for a in (getattr(meta, "aliases", None) or ())]
    return {"--" + path.replace("_", "-"), *aliases}


def has_flag(cls: type, path: str) -> bool:
    """Whether config field `path` is on the command line: a task hides (with
    tyro.conf.Suppress) the fields it never reads, such as forecasting's loss.pos_weight."""
    return tyro.conf.Suppress not in getattr(field_hint(cls, path), "__metadata__", ())


def parse_sweep(cls: type, args: list[str], prog: str, saved: Any = None,
                saved_grid: dict | None = None, *,
                check_paths: Callable[[Any, dict], None]) -> tuple[Any, dict[str, tuple]]:
    """(base config, grid) of `fjax sweep`: flags over the saved config and grid. A saved
    grid over other structure (an experiment script's model.hidden), which flags cannot
    give, is kept as saved unless a flag sets that field; the grid keeps the saved order.
    `check_paths(config, grid)` is the task's rule for which fields a grid may vary (its
    `check_sweep_paths`), asked for a field the flags take one value of."""
    saved_grid = saved_grid or {}
    view, swept = sweep_view(cls, saved), several_paths(cls)
    default, structural = view(), {}
    check_grid_values(cls(), saved_grid)   # an unknown field or a bad value: named
    for path, values in saved_grid.items():
        if path in swept:
            default = with_values(default, path, tuple(values))
        else:
            structural[path] = tuple(values)
    no_value_given(cls, args, swept, saved)
    several = [given for given in several_given(cls, args, swept) if not is_list(cls, given[1])]
    parsed = tyro.cli(view, args=without_flags(args, {flag for flag, _, _ in several}),
                      prog=prog, default=default,
                      description=sweep_help(cls, [p for p in swept if has_flag(cls, p)]))
    config, grid = split_sweep(cls, parsed)
    if several:   # refused once the other flags give the config the task's check reads
        raise one_value_error(*several[0], config, check_paths)
    given = flags_in(args)
    grid.update({p: v for p, v in structural.items() if not flags_of(cls, p) & given})
    grid = {p: grid[p] for p in [*saved_grid, *grid] if p in grid}
    if not grid:
        lists = [f"{flag} {' '.join(values)} is one value, not a grid"
                 for flag, path, values in several_given(cls, args, swept)]
        raise ValueError("nothing to sweep: no swept field has several values"
                         + (f" ({'; '.join(lists)})" if lists else "") + "; give one several "
                         "(see --help), or use `fjax run`. " + GRID_FILE_HINT)
    return config, grid


def no_value_given(cls: type, args: list[str], swept: list[str], saved: Any = None) -> None:
    """Refuse a swept field's flag given no value (`--optim.learning-rate` then another
    flag or nothing), which read as no sweep ("nothing to sweep"): name the flag and what
    it takes, its example from `saved` (the `--config` run) or the task's defaults."""
    for flag, path, values in flag_values(cls, args, swept):
        if values:
            continue
        choices = literal_choices(unwrap_annotation(field_hint(cls, path))[0])
        default = get_path(cls() if saved is None else saved, path)
        if choices:
            fix = f"one or several of {', '.join(choices)} after it"
        elif isinstance(default, float):
            fix = f"one number or several after it, e.g. {flag} {default:g} {3 * default:g}"
        else:
            fix = "one number or several after it"
        raise ValueError(f"{flag} was given no value; give {fix}")


def grid_file_hint(what: str, example: dict) -> str:
    """How to sweep `what` where the flags take one value of it (a list field such as
    model.hidden, a structural number, credit's encodings): `--config` reads a grid.json."""
    return (f"To sweep {what}, write DIR/grid.json, e.g. {json.dumps(example)}, beside "
            "DIR/config.json (a run's, or {} for the defaults) and pass --config "
            "DIR/config.json")


GRID_FILE_HINT = grid_file_hint("a field the flags take one value of, such as model.hidden",
                                {"model.hidden": [[16], [32, 32]],
                                 "optim.learning_rate": [0.001, 0.01]})


def leaf_paths(cls: type, prefix: str = "") -> list[str]:
    """Every config field of `cls` that takes a value ("model.hidden"), nested ones named
    by their path."""
    hints = typing.get_type_hints(cls)
    return [path for f in dataclasses.fields(cls)
            for path in (leaf_paths(hints[f.name], prefix + f.name + ".")
                         if dataclasses.is_dataclass(hints[f.name]) else [prefix + f.name])]


def flag_values(cls: type, args: list[str], paths: list[str]
                ) -> list[tuple[str, str, list[str]]]:
    """(flag, path, values) of each flag in `args` (given without `=`) that sets one of
    config fields `paths`, with the values that follow it up to the next flag."""
    by_flag = {flag: path for path in paths for flag in flags_of(cls, path)}
    out = []
    for i, arg in enumerate(args):
        flag = arg.replace("_", "-")
        if flag in by_flag:
            values = list(itertools.takewhile(lambda a: not a.startswith("--"), args[i + 1:]))
            out.append((flag, by_flag[flag], values))
    return out


def several_given(cls: type, args: list[str], swept: list[str]
                  ) -> list[tuple[str, str, list[str]]]:
    """(flag, path, values) of each flag in `args` that gives a field `fjax sweep` does not
    sweep (not in `swept`) more than one value: a list field's one value (--model.hidden
    16 32), or a number given several by mistake (--model.dropout 0.1 0.3)."""
    return [given for given in flag_values(cls, args, [p for p in leaf_paths(cls)
                                                       if p not in swept])
            if len(given[2]) > 1]


def is_list(cls: type, path: str) -> bool:
    """Whether config field `path` holds a list (model.hidden, model.dilations), whose
    several values on the command line are one value."""
    tp, _ = unwrap_annotation(typing.get_type_hints(cls_of(cls, path))[path.split(".")[-1]])
    return typing.get_origin(tp) in (tuple, list)


def check_one_value(cls: type, args: list[str], prog: str) -> None:
    """Refuse several values for a field in `fjax run` (no list: --model.dropout 0.1 0.3),
    naming it and how to get one model per value; tyro said only 'Unrecognized options:
    0.3'."""
    for flag, path, values in several_given(cls, args, []):
        if is_list(cls, path):   # one value of a list (model.dilations)
            continue
        how = (f"`{prog.replace(' run ', ' sweep ')}` with the same flags trains one per "
               "value" if path in several_paths(cls) else "Run once per value")
        raise ValueError(f"{flag} takes one value in `fjax run`, got {' '.join(values)}. "
                         + how)


def one_value_error(flag: str, path: str, values: list[str], config: Any,
                    check_paths: Callable[[Any, dict], None]) -> ValueError:
    """Several values in `fjax sweep` for field `path`, which the flags take one of: a
    value the field refuses, named with its valid range (the grid.json route offered
    that value too), else the grid.json route to sweep it, or, where the task's grid check
    (`check_paths`, on the config the other flags give) would refuse that grid.json, its
    reason."""
    grid = {path: [json_value(v) for v in values]}
    try:
        check_grid_values(config, grid)
    except ValueError as err:
        return ValueError(f"{flag} {' '.join(values)}: {err}")
    given = (f"{flag} takes one value in `fjax sweep`, got {' '.join(values)} (--help "
             "lists the fields that take several)")
    try:
        check_paths(config, grid)
    except ValueError as err:
        return ValueError(f"{given}, and a grid.json could not sweep it either: {err}")
    return ValueError(f"{given}. " + grid_file_hint("it", grid))


def without_flags(args: list[str], flags: set[str]) -> list[str]:
    """`args` less each of `flags` (spelled with hyphens, given without `=`) and the
    values that follow it."""
    out, skipping = [], False
    for arg in args:
        if arg.startswith("--"):
            skipping = "=" not in arg and arg.replace("_", "-") in flags
        if not skipping:
            out.append(arg)
    return out


def json_value(text: str) -> Any:
    """A flag's value as grid.json would hold it: 8 a number, None null, True true, none
    a string."""
    if text in ("None", "True", "False"):   # the command line's spellings of JSON's
        return {"None": None, "True": True, "False": False}[text]
    try:
        return json.loads(text)
    except ValueError:
        return text


def cls_of(cls: type, path: str) -> type:
    """The config class that holds field `path` ("model.dropout": the task's ModelConfig)."""
    for name in path.split(".")[:-1]:
        cls = typing.get_type_hints(cls)[name]
    return cls


def prose(doc: str | None) -> str:
    """A docstring's paragraphs wrapped to the terminal, never inside a word: a flag
    (--optim.learning-rate) stays whole. tyro prints a description as is, except that it
    joins a line that starts with a letter to the one before, so continuation lines are
    indented."""
    width = min(shutil.get_terminal_size().columns, 100) - 1
    paragraphs = inspect.cleandoc(doc or "").split("\n\n")
    return "\n\n".join(textwrap.fill(" ".join(p.split()), width, subsequent_indent="  ",
                                     break_on_hyphens=False, break_long_words=False)
                       for p in paragraphs)


def _dedent_field_docs() -> None:
    """tyro (1.0) joins a field docstring's continuation lines only when they start with
    a letter, and looks before dedenting them, so source line breaks stayed in `--help`.
    Join each paragraph's lines first; a tyro without this private hook is left as is."""
    from tyro import _docstrings
    parse = getattr(_docstrings, "parse_docstring_from_object", None)
    if parse is None or getattr(parse, "fjax_dedents", False):
        return

    def joined(doc: str) -> str:
        return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n"))

    def dedented(obj: object) -> dict[str, str]:
        return {name: joined(doc) for name, doc in parse(obj).items()}

    dedented.fjax_dedents = True
    _docstrings.parse_docstring_from_object = dedented


def sweep_help(cls: type, swept: list[str]) -> str:
    """The help's preamble for `fjax sweep`: which fields take several values."""
    def flags(paths: list[str]) -> str:
        return ", ".join(f"--{path.replace('_', '-')}" for path in paths)

    hyper = hyperparameters(cls())
    return prose(f"{cls.__doc__ or ''}\n\nSwept fields take several values, and every "
                 "combination trains: the numbers as members of one compiled population, "
                 f"each choice as a population of its own. Numbers: "
                 f"{flags([p for p in swept if p in hyper])}. Choices: "
                 f"{flags([p for p in swept if p not in hyper])}. Every other field takes "
                 "one value, as in `fjax run` (a list field such as --model.hidden 16 32 is "
                 "one model's layer widths); sweep those with a grid.json: "
                 'write DIR/grid.json, e.g. {"model.hidden": [[16], [32, 32]]}, beside '
                 "DIR/config.json (a run's, or {} for the defaults) and pass --config "
                 "DIR/config.json, or from Python (fjax.tasks.experiment.train_grid). --config "
                 "DIR/config.json starts from a saved run's config and grid.json; other "
                 "flags override them.")


@contextlib.contextmanager
def plain_warnings(prog: str):
    """fjax's warnings (UserWarning) as one line for the reader of a terminal ("fjax sweep
    credit: warning: 5 of 10 members diverged ..."), not the file and source line that
    raised them; others (numpy's RuntimeWarning) keep where they came from."""
    before = warnings.formatwarning
    warnings.formatwarning = lambda message, category, *_, **__: (
        f"{prog}: warning: {message}\n" if issubclass(category, UserWarning)
        else before(message, category, *_, **__))
    try:
        yield
    finally:
        warnings.formatwarning = before


def read_grid(path: Path) -> dict[str, list]:
    """A saved sweep's grid.json: {field: [values, ...]}, each list non-empty."""
    grid = read_json(path)
    if not isinstance(grid, dict):
        raise ValueError(f"--config: {path} must be an object of swept fields, e.g. "
                         f'{{"optim.learning_rate": [0.001, 0.01]}}, got {json.dumps(grid)}')
    for field, values in grid.items():
        if not isinstance(values, list):
            value = json.dumps(values)
            raise ValueError(f"--config: {path} gives {field!r} the value {value}; write "
                             f"a list, e.g. [{value}]")
        if not values:
            raise ValueError(f"--config: {path} gives {field!r} no values; give it one or "
                             "more, or remove that entry")
    return grid


def check_grid_nulls(cls: type, grid: dict[str, list], path: Path) -> None:
    """Refuse grid.json `path`'s null values (or lists holding one) of fields that take
    none, in JSON's words (they were told "got None"); an unknown field is left to
    `check_grid_values`, which names it."""
    for field, values in grid.items():
        try:
            tp = field_hint(cls, field)
        except (AttributeError, KeyError, TypeError):
            continue
        if any(refused_null(tp, v) for v in values):
            raise ValueError(f"--config: {path} gives {field!r} the values "
                             f"{json.dumps(values)}, but it takes {in_json(tp)}: give one "
                             "in place of each null, or remove it")


def read_json(path: Path) -> Any:
    """A saved run's JSON file, with its name in the error if it does not parse."""
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"--config {path} is not valid JSON ({err}); give the config.json "
                         "a run wrote") from None


def report_errors(prog: str, run: Callable[[], Path], resumable: bool = True) -> int:
    """Call `run` (parse a config, run a task) and print where its report is. Bad config
    or data, and a diverged run, print one line naming the field and the fix instead of
    a traceback; the exit status is 2 (bad input, or settings too large for the device's
    memory) or 1 (diverged), and after Ctrl-C (130) or SIGTERM (143, a scheduler's
    preemption: the shell's 128 + signal), with how to resume (not `resumable`,
    `fjax score`: how to rerun). A resume of a finished run says so and exits 0."""
    _dedent_field_docs()   # before `run` parses flags, so its --help reads well too
    signals: list[int] = []
    try:
        with plain_warnings(prog), reliable_interrupts() as signals:
            run_dir = run()
    except RunFinished as err:   # nothing to do, and nothing wrong
        print(f"{prog}: {err}", file=sys.stderr)
        run_dir = err.folder
    except ValueError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 1
    except RuntimeError as err:   # jax's JaxRuntimeError; out of memory is the settings'
        if "RESOURCE_EXHAUSTED" not in str(err):
            raise
        print(f"{prog}: error: out of memory ({str(err).splitlines()[0]}); lower "
              "--train.eval-batch-size (rows per prediction call) or --train.batch-size, or "
              "shrink the model or its inputs (--model.hidden, a forecast's --data.window, "
              "fraud's --data.history)", file=sys.stderr)
        return 2
    except OSError as err:   # a folder that cannot be written, a file that cannot be read
        where = f" {err.filename!r}" if err.filename else ""
        print(f"{prog}: error: {err.strerror or err}:{where}; check the path and its "
              "permissions", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        stop = signals[0] if signals else signal.SIGINT
        print(f"\n{prog}: " + ("interrupted. " if stop == signal.SIGINT else
                              f"stopped by {signal.Signals(stop).name}. ") + (
            "To continue, rerun the same command with --resume: each population goes on "
            f"from the last epoch it saved (at this interrupt, or at most "
            f"{CHECKPOINT_EVERY_S:g} s before it); one that saved none starts again"
            if resumable else "Nothing trains here, so nothing resumes: rerun the same "
            "command, which replaces what it had written"), file=sys.stderr)
        return 128 + stop
    print(f"report: {run_dir}/report.md")
    return 0


COMMANDS = ("run", "sweep", "score")


def score(task_name: str, args: list[str], prog: str) -> int:
    """`fjax score <task> --run DIR --data FILE`: a run's saved model applied to a new
    file, without training (the task's `frozen` module: its ScoreConfig and score)."""
    frozen = importlib.import_module(TASKS[task_name] + ".frozen")
    enable_compilation_cache()
    return report_errors(prog, lambda: frozen.score(tyro.cli(
        frozen.ScoreConfig, args=args, prog=prog,
        description=prose(frozen.ScoreConfig.__doc__))), resumable=False)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0] not in COMMANDS or argv[1] not in TASKS:
        unknown = [(word, known) for word, known in zip(argv[:2], (COMMANDS, tuple(TASKS)))
                   if word not in known and not word.startswith("-")]
        wants_help = not unknown and any(a in ("-h", "--help") for a in argv[:2])
        print(USAGE, file=sys.stdout if wants_help else sys.stderr)
        for word, known in unknown[:1]:
            close = difflib.get_close_matches(word, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            print(f"\nfjax: error: unknown {'command' if known[0] == 'run' else 'task'} "
                  f"{word!r}{hint}", file=sys.stderr)
        return 0 if wants_help else 2
    command, task_name, rest = argv[0], argv[1], argv[2:]
    prog = f"fjax {command} {task_name}"
    if command == "score":
        return score(task_name, rest, prog)
    task = get_task(task_name)
    enable_compilation_cache()

    def run() -> Path:
        args, saved, saved_grid, source = load_saved(task.Config, rest, command)
        if command == "run":
            check_one_value(task.Config, args, prog)
            config = tyro.cli(task.Config, args=args, prog=prog, default=saved,
                              description=prose(f"{task.Config.__doc__ or ''}\n\nStart "
                                                "from a saved run's settings with --config "
                                                "DIR/config.json; other flags override "
                                                "them."))
            grid = {}
        else:
            config, grid = parse_sweep(task.Config, args, prog, saved, saved_grid,
                                       check_paths=task.check_sweep_paths)
        check_not_source(config, source)
        warn_changed_data(config, saved, source)
        warn_changed_environment(config, source)
        return task.run(config, grid=grid)

    return report_errors(prog, run)


if __name__ == "__main__":
    raise SystemExit(main())
