"""The README's Python examples run as written (the second with small data), its
command lines parse, and every file it or docs/DEVELOPING.md names exists."""

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import tyro

from fjax import cli
from fjax.tasks import get_task

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_research_reuse_example_runs():
    scope: dict = {}
    exec(BLOCKS[0], scope)
    assert int(scope["state"].step) == 1
    losses = np.asarray(scope["metrics"]["loss"])
    assert losses.shape == (8,) and np.all(np.isfinite(losses))


def test_population_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # it saves the population to a file
    scope: dict = {}   # as written: it makes its own X and y
    exec(BLOCKS[0] + "\n" + BLOCKS[1].replace("epochs=20", "epochs=2"), scope)
    table = scope["pop"].table()
    assert len(table) == 3 * 2 * 3 * 5
    assert set(scope["pop"].best_config()) == {"learning_rate", "weight_decay"}


def readme_commands(program: str) -> list[list[str]]:
    """The README's shell lines that start with `program`, continuations joined and
    comments dropped, split into words."""
    shell = "\n".join(re.findall(r"```bash\n(.*?)```", README, flags=re.S))
    lines = shell.replace("\\\n", " ").splitlines()
    return [shlex.split(line, comments=True) for line in lines
            if line.startswith(program + " ")]


def test_every_fjax_command_in_the_readme_parses(calls, capsys):
    """Each `fjax run|sweep` line of the README reaches its task with the settings it
    names: an option renamed in the code but not in the README fails here."""
    commands = readme_commands("fjax")
    assert len(commands) >= 10
    for words in commands:
        if "--help" in words:
            with pytest.raises(SystemExit) as exit_:
                cli.main(words[1:])
            assert exit_.value.code == 0 and "--data.path" in capsys.readouterr().out
            continue
        assert cli.main(words[1:]) == 0, (words, capsys.readouterr().err)
    sweeps = [grid for config, grid in calls if grid]
    assert sweeps == [{"optim.learning_rate": (1e-4, 3e-4, 1e-3)},
                      {"model.kind": ("logistic", "mlp")}]


def test_the_readme_experiment_script_flags_parse():
    for words in readme_commands("python"):
        assert words[1] == "experiments/forecast_sp500.py"
        config = tyro.cli(get_task("forecast").Config, args=words[2:])
        assert config.train.epochs == int(words[words.index("--train.epochs") + 1])


# A repository path (`fjax/train/`, `scripts/bench.py`), a bare module or kernel file name
# (the architecture's `calibration.py`), or a top-level document (`BENCHMARKS.md`).
NAMED_PATH = re.compile(r"(?<![\w./~$-])((?:fjax|scripts|experiments|docs|tests)/[\w./-]*\w/?"
                        r"|\w+\.(?:py|cc)|[A-Z_]+\.md)(?![\w<])")


@pytest.mark.parametrize("doc", ["README.md", "docs/DEVELOPING.md"])
def test_every_file_the_docs_name_exists(doc):
    """A module renamed or deleted in the code but not in the docs fails here."""
    missing = []
    for name in sorted(set(NAMED_PATH.findall((ROOT / doc).read_text()))):
        found = ((ROOT / name.rstrip("/")).exists() if "/" in name or name.endswith(".md")
                 else any(ROOT.glob(f"[fes]*/**/{name}")))
        if not found:
            missing.append(name)
    assert not missing, f"{doc} names files that do not exist: {missing}"


def test_the_readme_install_extras_exist():
    """`pip install -e ".[dev]"` and `.[cuda]` (jax[cuda12]) name extras pyproject has."""
    import tomllib
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    named = set(re.findall(r"\.\[(\w+)\]", README))
    assert named and named <= set(extras), (named, set(extras))
    assert "`jax[cuda12]`" in README and any(d.startswith("jax[cuda12]") for d in extras["cuda"])
