"""The `fjax` command line around a task: saved configs and grids, where a rerun writes,
what `sweep` accepts, and help. The task's own run is replaced by a recorder, so these
tests train nothing."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fjax import cli
from fjax.config import get_path, to_dict, to_json
from fjax.tasks import get_task
from fjax.tasks.experiment import default_run_dir


def saved_run(folder: Path, task: str, grid: dict | None = None, **fields) -> str:
    """A finished run's config.json (and grid.json) in `folder`."""
    folder.mkdir(parents=True)
    config = get_task(task).Config(**fields)
    (folder / "config.json").write_text(to_json(config))
    if grid:
        (folder / "grid.json").write_text(json.dumps(grid))
    return str(folder / "config.json")


def test_a_saved_grid_over_structure_reruns_unless_a_flag_sets_that_field(tmp_path, calls):
    """An experiment script's grid.json may sweep model.kind: `--config` used to fail with
    "CreditModelConfig.kind is ('logistic', 'mlp')"."""
    saved = saved_run(tmp_path / "a", "credit", {"model.kind": ["logistic", "mlp"],
                                                 "optim.learning_rate": [1e-3, 1e-2]})
    assert cli.main(["sweep", "credit", "--config", saved, "--out", str(tmp_path / "b")]) == 0
    config, grid = calls[-1]
    assert grid == {"model.kind": ("logistic", "mlp"), "optim.learning_rate": (1e-3, 1e-2)}
    assert list(grid) == ["model.kind", "optim.learning_rate"]   # as saved
    assert config.model.kind == "logistic" and config.out == str(tmp_path / "b")
    # A flag for the field (or its alias) sets it, and the saved values of it go.
    for flag in ("--model", "--model.kind"):
        assert cli.main(["sweep", "credit", "--config", saved, flag, "mlp",
                         "--out", str(tmp_path / "b")]) == 0
        config, grid = calls[-1]
        assert grid == {"optim.learning_rate": (1e-3, 1e-2)} and config.model.kind == "mlp"


def test_a_rerun_writes_to_its_own_folder_never_over_the_run_it_reads(tmp_path, calls,
                                                                      monkeypatch, capsys):
    """The saved `out` was carried over, so `--name experiment2` still wrote into the
    folder the config came from, replacing that run."""
    monkeypatch.chdir(tmp_path)
    elsewhere = saved_run(tmp_path / "mine", "credit", out=str(tmp_path / "mine"))
    assert cli.main(["run", "credit", "--config", elsewhere, "--name", "experiment2"]) == 0
    assert calls[-1][0].run_dir == "runs/experiment2"
    # runs/<name> is the folder it came from: refused, nothing run.
    source = saved_run(tmp_path / "runs" / "credit", "credit")
    assert cli.main(["run", "credit", "--config", source, "--train.epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert f"would write into {tmp_path / 'runs' / 'credit'} and replace the run it reads" in err
    assert len(calls) == 1
    # Asked for by name, or to resume it: allowed.
    assert cli.main(["run", "credit", "--config", source, "--out", "runs/credit"]) == 0
    assert calls[-1][0].run_dir == "runs/credit"
    assert cli.main(["run", "credit", "--config", elsewhere, "--resume"]) == 0
    assert calls[-1][0].resume and calls[-1][0].run_dir == str(tmp_path / "mine")
    # Resuming another run from these settings: --name or --out says which.
    assert cli.main(["run", "credit", "--config", elsewhere, "--name", "b", "--resume"]) == 0
    assert calls[-1][0].resume and calls[-1][0].run_dir == "runs/b"
    assert cli.main(["run", "credit", "--config", elsewhere, "--out=runs/c", "--resume"]) == 0
    assert calls[-1][0].run_dir == "runs/c"


def test_a_saved_grid_over_the_schedule_and_warmup_reruns(tmp_path, calls):
    """A script's grid.json over optim.schedule and optim.warmup_steps: `--config` refused
    it, as warmup_steps was checked alone on the default constant schedule."""
    grid = {"optim.schedule": ["warmup_cosine", "cosine"], "optim.warmup_steps": [5, 7]}
    saved = saved_run(tmp_path / "a", "forecast", grid)
    assert cli.main(["sweep", "forecast", "--config", saved, "--out", str(tmp_path / "b")]) == 0
    assert calls[-1][1] == {path: tuple(values) for path, values in grid.items()}


def test_a_saved_grid_over_an_unknown_field_is_named(tmp_path, calls, capsys):
    saved = saved_run(tmp_path / "a", "credit", {"model.nosuch": [1, 2]})
    assert cli.main(["sweep", "credit", "--config", saved, "--out", str(tmp_path / "b")]) == 2
    assert "unknown config key 'model.nosuch'" in capsys.readouterr().err and calls == []


def test_run_from_a_sweeps_config_says_it_reruns_the_first_values(tmp_path, calls, capsys):
    saved = saved_run(tmp_path / "a", "credit", {"optim.learning_rate": [1e-3, 1e-2]})
    assert cli.main(["run", "credit", "--config", saved, "--out", str(tmp_path / "b")]) == 0
    assert calls[-1][1] == {}
    assert "holds a sweep; `fjax run` reruns its config.json" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--model.hidden", "16", "32"], ["--seeds", "3"]])
def test_a_sweep_with_nothing_to_sweep_is_refused(args, calls, capsys):
    """`--model.hidden 16 32` is one model's two layers, not a sweep of widths: it trained
    one model and said nothing."""
    assert cli.main(["sweep", "forecast", *args]) == 2
    assert "nothing to sweep: no swept field has several values" in capsys.readouterr().err
    assert calls == []


def test_a_field_the_flags_do_not_sweep_is_named_with_how_to_sweep_it(tmp_path, calls,
                                                                      capsys):
    """`--model.dropout 0.1 0.3` failed with tyro's 'Unrecognized options: 0.3', and
    `--model.hidden 16 32` alone with 'nothing to sweep', neither saying how to sweep
    them; both now name the flag and the grid.json route, which this test then takes:
    a grid.json beside a config.json of {} sweeps the widths."""
    assert cli.main(["sweep", "credit", "--model", "mlp", "--model.dropout", "0.1",
                     "0.3"]) == 2
    err = capsys.readouterr().err
    assert "--model.dropout takes one value in `fjax sweep`, got 0.1 0.3" in err
    assert "grid.json" in err and calls == []
    assert cli.main(["sweep", "forecast", "--model.hidden", "16", "32"]) == 2
    err = capsys.readouterr().err
    assert "--model.hidden 16 32 is one value, not a grid" in err and "grid.json" in err
    assert cli.main(["sweep", "forecast", "--data.window", "10", "20"]) == 2
    assert "run one sweep per value" in capsys.readouterr().err
    folder = tmp_path / "widths"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "grid.json").write_text('{"model.hidden": [[16], [32, 32]]}')
    assert cli.main(["sweep", "credit", "--config", str(folder / "config.json"), "--model",
                     "mlp", "--out", str(tmp_path / "out")]) == 0
    assert calls[-1][1] == {"model.hidden": ([16], [32, 32])}


@pytest.mark.parametrize("task, args, path", [
    ("fraud", ["--train.restore-best", "true", "false"], "train.restore_best"),
    ("fraud", ["--train.mode", "auto", "max"], "train.mode"),
    ("forecast", ["--train.restore-best", "true", "false"], "train.restore_best")])
def test_a_flag_no_grid_may_vary_gets_the_grid_check_reason(tmp_path, calls, capsys, task,
                                                            args, path):
    """`fjax sweep fraud --train.restore-best true false` pointed to a grid.json, which the
    fraud run then refused (no fraud member reads it); forecast's train.restore_best
    likewise where no validation span chooses epochs. The flag's refusal now gives the reason the
    task's own grid check gives that grid.json, which this test runs too."""
    assert cli.main(["sweep", task, *args]) == 2
    err = capsys.readouterr().err
    assert f"{args[0]} takes one value in `fjax sweep`, got {' '.join(args[1:])}" in err
    assert "DIR/grid.json" not in err and calls == []
    folder = tmp_path / "g"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "grid.json").write_text(json.dumps({path: [cli.json_value(v)
                                                         for v in args[1:]]}))
    with pytest.raises(ValueError) as refused:
        get_task(task).check_sweep_paths(get_task(task).Config(),
                                         cli.read_grid(folder / "grid.json"))
    assert f"grid entry {path} cannot be swept" in str(refused.value)
    assert str(refused.value) in err


def test_a_flag_given_a_validation_span_gets_the_grid_file_route(calls, capsys):
    """The check reads the config the other flags give: with --data.val-fraction 0.1 a
    forecast grid may vary train.monitor, so the refusal names the grid.json route."""
    assert cli.main(["sweep", "forecast", "--data.val-fraction", "0.1", "--train.monitor",
                     "val_loss", "loss"]) == 2
    err = capsys.readouterr().err
    assert '{"train.monitor": ["val_loss", "loss"]}' in err and "cannot be swept" not in err


def test_a_sweep_takes_an_optional_list_field_as_one_value(calls):
    """`--model.dilations 1 2` (a `tuple[int, ...] | None`) is one CNN's dilations, but
    the check for numbers given several values read only plain tuple annotations and
    refused it: 'takes one value in `fjax sweep`, got 1 2'."""
    assert cli.main(["sweep", "forecast", "--model", "cnn", "--model.dilations", "1", "2",
                     "--optim.learning-rate", "1e-3", "3e-3"]) == 0
    config, grid = calls[-1]
    assert config.model.dilations == (1, 2) and grid == {"optim.learning_rate": (1e-3, 3e-3)}


def test_run_given_several_values_names_the_flag_and_fjax_sweep(calls, capsys):
    """`fjax run forecast --model gru cnn --optim.learning-rate 1e-3 3e-3`, a sweep typed
    as a run, failed with tyro's 'Unrecognized options: cnn, 3e-3', which names neither
    the flag nor `fjax sweep`; a field no sweep varies is named too."""
    assert cli.main(["run", "forecast", "--model", "gru", "cnn", "--optim.learning-rate",
                     "1e-3", "3e-3"]) == 2
    err = capsys.readouterr().err
    assert "--model takes one value in `fjax run`, got gru cnn" in err
    assert "fjax sweep forecast" in err
    assert cli.main(["run", "forecast", "--optim.learning-rate", "1e-3", "3e-3"]) == 2
    err = capsys.readouterr().err
    assert "--optim.learning-rate takes one value in `fjax run`, got 1e-3 3e-3" in err
    assert cli.main(["run", "forecast", "--data.window", "10", "20"]) == 2
    err = capsys.readouterr().err
    assert "--data.window takes one value in `fjax run`, got 10 20" in err
    assert "fjax sweep" not in err
    assert cli.main(["run", "forecast", "--model", "cnn", "--model.hidden", "16", "32",
                     "--model.dilations", "1", "2"]) == 0   # lists
    assert calls[-1][0].model.hidden == (16, 32) and calls[-1][0].model.dilations == (1, 2)


def test_sweep_help_names_the_swept_fields(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["sweep", "credit", "--help"])
    assert done.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--optim.learning-rate" in out.split("Every other field")[0]
    assert "--model.kind" in out.split("Choices:")[1].split("Every other field")[0]
    assert "--model.hidden" not in out.split("Every other field")[0]
    assert "--model.kind [{logistic,mlp} [{logistic,mlp} ...]]" in out   # several values


@pytest.mark.parametrize("task, args, grid", [
    ("fraud", ["--model.kind", "mlp", "logistic"], {"model.kind": ("mlp", "logistic")}),
    ("forecast", ["--model", "lstm", "gru", "cnn"], {"model.kind": ("lstm", "gru", "cnn")}),
    ("credit", ["--loss.name", "bce", "focal", "--loss.focal-gamma", "1", "2"],
     {"loss.name": ("bce", "focal"), "loss.focal_gamma": (1.0, 2.0)}),
    ("credit", ["--optim.schedule", "constant", "cosine"],
     {"optim.schedule": ("constant", "cosine")})])
def test_a_sweep_takes_several_values_of_a_choice(task, args, grid, calls):
    """A choice (model.kind, loss.name) swept like a number: tyro refused the second value
    as an unrecognised option, so only Python or a grid.json could sweep it. The config
    holds the first value."""
    assert cli.main(["sweep", task, *args]) == 0
    config, swept = calls[-1]
    assert swept == grid
    assert all(get_path(config, path) == values[0] for path, values in grid.items())


@pytest.mark.parametrize("args, field, value, readers", [
    (["--optim.schedule", "constant", "warmup_cosine", "--optim.warmup-steps", "20"],
     "warmup_steps", 20, {"warmup_cosine"}),
    (["--optim.schedule", "cosine", "exponential", "--optim.decay-rate", "0.9"],
     "decay_rate", 0.9, {"exponential"})])
def test_a_sweep_over_a_choice_takes_a_field_only_some_of_its_values_read(args, field, value,
                                                                         readers, calls):
    """`--optim.schedule constant warmup_cosine --optim.warmup-steps 20` was refused
    ("schedule='constant' ignores it; choose warmup_cosine"): the base config held the
    first schedule. Each point now reads the field where its schedule does."""
    from fjax.train.sweep import group_grid
    assert cli.main(["sweep", "credit", "--model", "mlp", *args]) == 0
    config, grid = calls[-1]
    got = {g.config.optim.schedule: getattr(g.config.optim, field)
           for g in group_grid(config, grid)}
    default = getattr(type(config.optim)(), field)
    assert got == {s: value if s in readers else default for s in grid["optim.schedule"]}


def price_csv(path: Path, n: int = 120) -> None:
    """A random-walk price series of `n` business days: a small forecast run's data."""
    prices = 30 + np.cumsum(np.random.default_rng(0).standard_normal(n))
    pd.DataFrame({"Date": pd.bdate_range("2021-01-04", periods=n), "price": prices}).to_csv(
        path, index=False)


def boxed(text: str) -> str:
    """tyro's error box as one line: its borders and line breaks gone."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def test_a_swept_choice_is_still_checked_and_run_still_takes_one(calls, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["sweep", "fraud", "--model.kind", "mlp", "tree"])
    assert done.value.code == 2
    assert ("invalid choice 'tree' for argument '--model/--model.kind'. Expected one of "
            "('logistic', 'mlp', 'autoencoder', 'gru', 'lstm')") in boxed(capsys.readouterr().err)
    assert cli.main(["run", "fraud", "--model.kind", "mlp", "logistic"]) == 2
    assert "--model.kind takes one value in `fjax run`" in capsys.readouterr().err
    assert cli.main(["sweep", "fraud", "--model.kind", "--optim.learning-rate", "1", "2"]) == 2
    assert "--model.kind was given no value" in capsys.readouterr().err
    assert calls == []


def test_a_sweep_over_sequence_and_per_row_fraud_kinds_is_refused(tmp_path, capsys):
    """Every fraud member trains on one stack, built for the run's kind (the first)."""
    assert cli.main(["sweep", "fraud", "--model.kind", "mlp", "gru", "--out",
                     str(tmp_path / "run")]) == 2
    assert ("grid entry model.kind has gru, which read a card's sequence, unlike the run's "
            "model.kind='mlp'; sweep sequence kinds (gru, lstm) and per-row kinds in separate "
            "runs") in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_sweep_over_model_kind_trains_and_reports_each_kind(tmp_path):
    """The sweep's table has one row per kind, and the kinds are its grid.json's."""
    price_csv(tmp_path / "p.csv")
    out = tmp_path / "run"
    assert cli.main(["sweep", "forecast", "--model.kind", "linear", "mlp", "--model.hidden",
                     "4", "--data.path", str(tmp_path / "p.csv"), "--data.target", "price",
                     "--data.window", "5", "--train.epochs", "1", "--out", str(out)]) == 0
    assert json.loads((out / "grid.json").read_text()) == {"model.kind": ["linear", "mlp"]}
    assert json.loads((out / "config.json").read_text())["model"]["kind"] == "linear"
    rows = json.loads((out / "metrics.json").read_text())["sweep"]
    assert [row["model.kind"] for row in rows] == ["linear", "mlp"]
    assert len({row["group"] for row in rows}) == 2   # a compiled population per kind
    assert rows[0]["test_rmse"] != rows[1]["test_rmse"]


@pytest.mark.parametrize("argv, code", [(["--help"], 0), (["run", "--help"], 0), ([], 2),
                                        (["run"], 2), (["walk", "credit"], 2),
                                        (["walk", "--help"], 2), (["run", "cedit", "-h"], 2)])
def test_usage_goes_to_stdout_when_asked_for(argv, code, capsys):
    assert cli.main(argv) == code
    out, err = capsys.readouterr()
    assert ("usage: fjax" in out) == (code == 0) and ("usage: fjax" in err) == (code != 0)


def test_a_folder_that_holds_another_tasks_run_is_refused_untouched(tmp_path):
    """`fjax run forecast --out runs/credit_full` left credit's scores.csv, roc.png ...
    beside the forecast's report."""
    folder = tmp_path / "run"
    credit = get_task("credit").Config(out=str(folder))
    default_run_dir(credit, None, ("scores.csv",))
    assert json.loads((folder / "environment.json").read_text())["config_class"] == \
        "fjax.tasks.credit.config.Config"
    (folder / "scores.csv").write_text("kept")
    forecast = get_task("forecast").Config(out=str(folder))
    with pytest.raises(ValueError, match=r"holds a run of another task "
                                         r"\(fjax.tasks.credit.config.Config\)"):
        default_run_dir(forecast, None, ("scores.csv", "report.md"))
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "environment.json",
                                                        "scores.csv"]
    # The same task's earlier run is replaced, as before, and so is a folder whose
    # environment.json does not say (a run of an older fjax, or not fjax's).
    default_run_dir(credit, None, ("scores.csv",))
    assert not (folder / "scores.csv").exists()
    (folder / "environment.json").write_text("[]")
    default_run_dir(forecast, None, ("scores.csv",))


def test_a_folder_without_a_run_keeps_files_of_the_names_a_run_writes(tmp_path):
    """`fjax run forecast --out .` in a project replaced its own config.json and
    report.md; a hand-written config.json of the task (for --config) may be replaced."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "config.json").write_text('{"mine": 1}')
    (project / "report.md").write_text("my notes")
    forecast = get_task("forecast").Config(out=str(project))
    with pytest.raises(ValueError, match=r"project holds config.json, report.md, but no fjax "
                                         r"run \(no environment.json\).*choose another folder"):
        default_run_dir(forecast, None, ("report.md", "metrics.json"))
    assert (project / "config.json").read_text() == '{"mine": 1}'
    assert sorted(p.name for p in project.iterdir()) == ["config.json", "report.md"]
    with pytest.raises(ValueError, match=r"--out .*afile is a file, not a folder"):
        (tmp_path / "afile").write_text("data")
        default_run_dir(get_task("forecast").Config(out=str(tmp_path / "afile")), None, ())
    (project / "report.md").unlink()
    (project / "config.json").write_text(json.dumps(to_dict(forecast)))
    default_run_dir(forecast, None, ("report.md",))   # the task's own config: a run folder
    assert (project / "environment.json").exists()


def test_warnings_read_as_one_line_during_a_command():
    """A diverged member's warning printed fjax's file, line and source line."""
    import warnings
    before = warnings.formatwarning
    with cli.plain_warnings("fjax sweep credit"):
        assert warnings.formatwarning("5 of 10 members diverged", UserWarning, "/x/fjax/e.py",
                                      77, "pop = train(...)") == \
            "fjax sweep credit: warning: 5 of 10 members diverged\n"
        assert "/x/n.py:42" in warnings.formatwarning("All-NaN slice encountered",
                                                      RuntimeWarning, "/x/n.py", 42)
        assert "/x/e.py:3" in warnings.formatwarning("old", DeprecationWarning, "/x/e.py", 3)
    assert warnings.formatwarning is before


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_help_descriptions_wrap_to_the_terminal(command, capsys, monkeypatch):
    """tyro prints a description as it is given (joining lines that start with a letter),
    so the task's docstring must arrive wrapped, its words all there and in order."""
    monkeypatch.setenv("COLUMNS", "60")
    with pytest.raises(SystemExit):
        cli.main([command, "credit", "--help"])
    preamble = capsys.readouterr().out.split("╭")[0].splitlines()[1:]
    assert max(len(line) for line in preamble) <= 60
    doc = " ".join(get_task("credit").Config.__doc__.split())
    assert doc in " ".join(" ".join(preamble).split())


@pytest.mark.parametrize("columns", range(20, 60))
def test_help_descriptions_never_split_a_flag(columns, monkeypatch):
    """`fjax sweep credit --help` listed "--optim.learning-" at one line's end and "rate" on
    the next: textwrap broke the flag at its hyphen."""
    monkeypatch.setenv("COLUMNS", str(columns))
    flags = ["--optim.learning-rate", "--loss.focal-gamma", "--data.val-fraction"]
    words = cli.prose("Swept fields take several values: " + ", ".join(flags)).split()
    assert all(f"{flag}," in words or flag in words for flag in flags)


def test_field_help_flows_as_one_paragraph(capsys, monkeypatch):
    """A field's docstring broke at every source line in --help (tyro looked for
    continuation lines before dedenting them), leaving short ragged lines: each line
    but a paragraph's last now fills the width."""
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit):
        cli.main(["run", "credit", "--help"])
    lines = [line.strip("│ ") for line in capsys.readouterr().out.splitlines()]
    start = lines.index("--data.path {None}|STR") + 1
    block = lines[start:start + [line.startswith("--") for line in lines[start:]].index(True)]
    assert block[-1].endswith("(default: None)") and len(block) == 2
    assert " ".join(block).startswith("A CSV or Parquet file; None uses the embedded German "
                                      "credit data. Column names below match the file's")
    assert len(block[0]) >= 85


def early_breaks(help_text: str) -> list[str]:
    """Lines of help text (an option's or a group's) that end while the next line's first
    word would still fit on them: a docstring's source line break showing through."""
    rows = [line[1:-2] if line.startswith("│") else line for line in help_text.splitlines()]
    found = []
    for row, below in zip(rows, rows[1:]):
        text, next_text = row.strip(), below.strip()
        indent = len(row) - len(row.lstrip())
        if (not text or not next_text or indent != len(below) - len(below.lstrip())
                or text[0] in "-─" or next_text[0] in "-─"):
            continue
        room = len(row) - len(row.rstrip())
        if len(next_text.split()[0]) + 1 <= room:
            found.append(text)
    return found


@pytest.mark.parametrize("command", ["run", "sweep"])
@pytest.mark.parametrize("task", ["forecast", "credit", "fraud"])
def test_help_text_fills_its_lines(command, task, capsys, monkeypatch):
    """tyro keeps a docstring's line break where the next line starts with a character
    other than a letter ("10% inserted rows", "`fjax sweep`"), so those help texts
    broke mid-sentence; every line of help now fills the width before it wraps."""
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit):
        cli.main([command, task, "--help"])
    help_text = capsys.readouterr().out
    assert "--data.path" in help_text and early_breaks(help_text) == []


def test_a_config_that_is_not_json_or_a_folder_given_for_it(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{not json")
    assert cli.main(["run", "credit", "--config", str(tmp_path / "config.json")]) == 2
    assert "is not valid JSON" in capsys.readouterr().err
    (tmp_path / "config.json").write_text('{"name": "a"}')
    args, saved, _, source = cli.load_saved(get_task("credit").Config,
                                            ["--config", str(tmp_path)], "run")
    assert saved.name == "a" and source == tmp_path   # the run folder itself


def test_another_tasks_config_names_the_task_to_rerun_it_with(tmp_path, calls, capsys):
    """`fjax run credit --config runs/forecast/config.json` said only "unknown config key
    'data.features'"."""
    saved = saved_run(tmp_path / "f", "forecast")
    default_run_dir(get_task("forecast").Config(out=str(tmp_path / "f")), None, ())
    assert cli.main(["run", "credit", "--config", saved]) == 2
    assert f"--config {saved} holds a forecast run's settings; rerun it with `fjax run " \
        f"forecast --config {saved}`" in capsys.readouterr().err and calls == []


@pytest.mark.parametrize("grid, message", [
    ({"optim.learning_rate": []}, "gives 'optim.learning_rate' no values"),
    ({"optim.learning_rate": 0.001}, r"gives 'optim.learning_rate' the value 0.001; write a "
                                     r"list, e.g. \[0.001\]"),
    ({"optim.learning_rate": None}, r"the value null; write a list, e.g. \[null\]"),
    ({"model.kind": "mlp"}, r'the value "mlp"; write a list, e.g. \["mlp"\]'),
    ([0.001, 0.01], r"must be an object of swept fields.*got \[0.001, 0.01\]"),
    ({"optim.learning_rate": [0.001, None]}, r"gives 'optim.learning_rate' the values "
                                             r"\[0.001, null\], but it takes a finite number"),
    ({"model.hidden": [[16], [32, None]]}, r"gives 'model.hidden' the values \[\[16\], "
                                           r"\[32, null\]\], but it takes a list of integers"),
])
def test_a_saved_grids_values_not_lists_or_null_are_named(tmp_path, calls, capsys, grid,
                                                          message):
    """An empty list ended in an IndexError, a number in a TypeError; values are told in
    JSON: a null among them was told "OptimConfig.learning_rate must be a finite number,
    got None" (a list holding one "got [32, None]"), Python for someone editing JSON."""
    saved = saved_run(tmp_path / "a", "credit")
    (tmp_path / "a" / "grid.json").write_text(json.dumps(grid))
    assert cli.main(["sweep", "credit", "--config", saved, "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert f"--config: {tmp_path / 'a' / 'grid.json'}" in err and calls == []
    assert re.search(message, err) and "None" not in err, err


@pytest.mark.parametrize("after", [[], ["--out", "elsewhere"]])
def test_config_without_a_path_says_so(after, calls, capsys):
    """`--config --out DIR` read '--out' as the path: '--config --out: no such file'."""
    assert cli.main(["run", "forecast", "--config", *after]) == 2
    assert "error: --config needs a path: a run folder's config.json" in capsys.readouterr().err
    assert calls == []


def test_os_errors_are_one_line_naming_the_path(capsys):
    """`--out afile` (a file) and read-only folders ended in tracebacks."""
    def fails():
        raise FileExistsError(17, "File exists", "/tmp/afile")
    assert cli.report_errors("fjax run forecast", fails) == 2
    err = capsys.readouterr().err
    assert err.startswith("fjax run forecast: error: File exists: '/tmp/afile'")
    assert "Traceback" not in err


def test_running_out_of_device_memory_is_one_line_naming_the_settings(capsys):
    """`fjax run fraud --model gru --data.history 1000` trained for minutes, then its
    prediction (8192 rows a call) asked for 39 GB and ended in jax's traceback."""
    import jax

    def fails():   # jax's own error, raised, not provoked: an allocation of this size could
        # succeed on a host that overcommits memory, and then fill it
        raise jax.errors.JaxRuntimeError(
            "RESOURCE_EXHAUSTED: Out of memory allocating 17592186044416 bytes.\nmore")
    assert cli.report_errors("fjax run fraud", fails) == 2
    err = capsys.readouterr().err
    assert err.startswith("fjax run fraud: error: out of memory (RESOURCE_EXHAUSTED: Out of "
                          "memory allocating 17592186044416 bytes.); lower "
                          "--train.eval-batch-size")
    with pytest.raises(RuntimeError, match="other"):   # other runtime errors are not hidden
        cli.report_errors("fjax run fraud", lambda: (_ for _ in ()).throw(RuntimeError("other")))


def test_a_resume_of_a_finished_run_on_another_setup_is_not_told_its_numbers_may_differ(
        tmp_path, monkeypatch, capsys):
    """It trains nothing, yet the setup check ran before the finished check and warned
    "the numbers may differ from it"."""
    import warnings

    from fjax.tasks.experiment import FINISHED

    folder = tmp_path / "run"
    config = get_task("credit").Config(out=str(folder))
    monkeypatch.setattr(get_task("credit"), "run",
                        lambda cfg, grid=None, **_: default_run_dir(cfg, grid, FINISHED))
    args = ["run", "credit", "--out", str(folder), "--resume"]

    def resume_elsewhere() -> list[str]:
        """The warnings of a resume, its environment.json written on another machine."""
        env = json.loads((folder / "environment.json").read_text())
        env["versions"]["jax"] = "0.0.1"
        (folder / "environment.json").write_text(json.dumps(env))
        with warnings.catch_warnings(record=True) as told:
            warnings.simplefilter("always")
            assert cli.main(args) == 0
        return [str(w.message) for w in told]

    default_run_dir(config, None, FINISHED)
    told = resume_elsewhere()   # not finished: it would train, so it is told
    assert any("setup differs" in m and "versions.jax '0.0.1' then" in m for m in told)
    for name in FINISHED:
        (folder / name).write_text("done")
    capsys.readouterr()
    assert not [m for m in resume_elsewhere() if "setup differs" in m]
    assert "holds this run, finished" in capsys.readouterr().err


def test_a_sweep_trains_a_kind_once_over_a_field_it_ignores_and_shows_it_n_a(tmp_path):
    """--model.kind linear mlp --model.activation relu tanh trained linear twice, its rows
    showing relu: 3 grid points by hand (linear; mlp with relu and tanh), linear's
    activation n/a in the table and the report, and one point reported."""
    price_csv(tmp_path / "p.csv")
    out = tmp_path / "run"
    assert cli.main(["sweep", "forecast", "--model.kind", "linear", "mlp", "--model.activation",
                     "relu", "tanh", "--model.hidden", "4", "--data.path", str(tmp_path / "p.csv"),
                     "--data.target", "price", "--data.window", "5", "--train.epochs", "1",
                     "--out", str(out)]) == 0
    rows = json.loads((out / "metrics.json").read_text())["sweep"]
    assert [(row["model.kind"], row["model.activation"]) for row in rows] == [
        ("linear", None), ("mlp", "relu"), ("mlp", "tanh")]
    assert len({row["group"] for row in rows}) == 3
    table = (out / "report.md").read_text().split("| model.kind")[1]
    assert re.search(r"\| linear \| n/a \|", table)


@pytest.mark.parametrize("task", ["forecast", "credit", "fraud"])
def test_a_sweep_repeating_a_value_is_refused_before_the_folder_is_touched(task, tmp_path,
                                                                            capsys):
    """`fjax sweep credit --optim.learning-rate 1e-3 1e-3 --out DIR` deleted DIR's earlier
    run (scores.csv, report.md ...), wrote config.json and grid.json, and only then was
    refused (by the population's hparams check)."""
    folder = tmp_path / "run"
    default_run_dir(get_task(task).Config(out=str(folder)), None, ("report.md",))
    (folder / "report.md").write_text("the earlier run's")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    argv = ["sweep", task, "--out", str(folder), "--optim.learning-rate", "1e-3", "0.001"]
    assert cli.main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "grid entry optim.learning_rate (--optim.learning-rate) repeats the value 0.001" \
        in err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_an_interrupted_score_is_not_told_to_resume(monkeypatch, capsys):
    """Ctrl-C in `fjax score credit` told the user to rerun with --resume, a flag score
    does not have (its ScoreConfig refuses it)."""
    from fjax.tasks.credit import frozen

    def interrupted(cfg):
        raise KeyboardInterrupt
    monkeypatch.setattr(frozen, "score", interrupted)
    assert cli.main(["score", "credit", "--run", "r", "--data", "d.csv"]) == 130
    err = capsys.readouterr().err
    assert "fjax score credit: interrupted. Nothing trains here" in err
    assert "--resume" not in err


def test_a_credit_encoding_given_several_values_names_the_grid_file_route(tmp_path, calls,
                                                                          capsys):
    """`fjax sweep credit --data.woe none numeric` said 'The data is prepared once per run:
    run one sweep per value', though a grid.json may vary data.woe (credit encodes its data
    again per value); the message now gives that grid.json, which the credit run accepts."""
    from fjax.tasks.credit.search import ENCODING_DATA
    from fjax.tasks.experiment import check_grid_paths
    assert cli.main(["sweep", "credit", "--data.woe", "none", "numeric"]) == 2
    err = capsys.readouterr().err
    assert "run one sweep per value" not in err
    assert '{"data.woe": ["none", "numeric"]}' in err and calls == []
    folder = tmp_path / "woe"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "grid.json").write_text('{"data.woe": ["none", "numeric"]}')
    assert cli.main(["sweep", "credit", "--config", str(folder / "config.json"),
                     "--out", str(tmp_path / "out")]) == 0
    config, grid = calls[-1]
    assert grid == {"data.woe": ("none", "numeric")}
    check_grid_paths("credit", config, grid, varied=ENCODING_DATA)   # the run's own check
    assert cli.main(["sweep", "credit", "--data.cost-fn", "5", "10"]) == 2
    assert "run one sweep per value" in capsys.readouterr().err


@pytest.mark.parametrize("task, header", [
    ("credit", "age,amount,creditability"), ("forecast", "Date,Close"),
    ("fraud", "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_FRAUD")])
def test_a_header_only_file_names_the_option_and_the_fix(tmp_path, capsys, task, header):
    """A CSV of column names only was refused with "'h.csv' has no rows", naming neither
    the option that gave it nor what to give instead."""
    (tmp_path / "h.csv").write_text(header + "\n")
    out = tmp_path / "run"
    assert cli.main(["run", task, "--data.path", str(tmp_path / "h.csv"), "--out",
                     str(out)]) == 2
    err = capsys.readouterr().err
    assert f"data.path {str(tmp_path / 'h.csv')!r} has no rows" in err
    assert "at least one data row" in err and not out.exists()


def test_a_bad_value_of_a_one_value_flag_is_refused_before_the_grid_file_route(calls,
                                                                             capsys):
    """`fjax sweep credit --train.epochs 2 0` suggested a grid.json holding the 0 that the
    field refuses; the value is now refused first, naming the field and its range. The
    grid.json suggested for good values is one the grid check accepts (None as null)."""
    assert cli.main(["sweep", "credit", "--train.epochs", "2", "0"]) == 2
    err = capsys.readouterr().err
    assert "--train.epochs 2 0: CreditTrainConfig.epochs must be an integer >= 1, got 0" in err
    assert "grid.json" not in err and calls == []
    assert cli.main(["sweep", "credit", "--train.patience", "3", "None"]) == 2
    err = capsys.readouterr().err
    suggested = json.loads(re.search(r"e\.g\. (\{.*?\}), beside", err).group(1))
    assert suggested == {"train.patience": [3, None]} and calls == []
    from fjax.config import check_grid_values
    check_grid_values(get_task("credit").Config(), suggested)


@pytest.mark.parametrize("args, fix", [
    (["--optim.learning-rate"], "one number or several after it, e.g. --optim.learning-rate "
                                "0.003 0.009"),
    (["--optim.learning-rate", "--seeds", "2"], "one number or several after it"),
    (["--model", "--optim.learning-rate", "1e-3", "3e-3"], "one or several of logistic, mlp")])
def test_a_swept_flag_given_no_value_is_named(calls, capsys, args, fix):
    """`fjax sweep credit --optim.learning-rate` with no values said "nothing to sweep",
    not that the flag was given none."""
    assert cli.main(["sweep", "credit", *args]) == 2
    err = capsys.readouterr().err
    assert f"{args[0]} was given no value; give {fix}" in err
    assert "nothing to sweep" not in err and calls == []


def test_a_swept_flag_given_no_value_takes_its_example_from_the_saved_config(calls, capsys,
                                                                             tmp_path):
    """With `--config`, the example of a flag given no value is the saved run's value,
    the one the sweep starts from, not the task's default (0.003)."""
    saved = tmp_path / "config.json"
    saved.write_text(json.dumps({"optim": {"learning_rate": 0.02}}))
    assert cli.main(["sweep", "credit", "--config", str(saved), "--optim.learning-rate"]) == 2
    err = capsys.readouterr().err
    assert "--optim.learning-rate was given no value; give one number or several after it, " \
        "e.g. --optim.learning-rate 0.02 0.06" in err and calls == []
