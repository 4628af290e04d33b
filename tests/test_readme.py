"""The README's Python examples run as written (the second with small data), its
command lines parse, every file it or docs/ names exists, the migration guides name fjax's
losses, optimizers and parameters as they are, and imports follow its architecture block."""

import ast
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


@pytest.fixture(scope="module")
def first_block() -> dict:
    """The names the README's first block defines, run once for the tests that read them
    (a test that runs more code takes a copy)."""
    scope: dict = {}
    exec(BLOCKS[0], scope)
    return scope


def test_research_reuse_example_runs(first_block):
    scope = first_block
    assert int(scope["state"].step) == 1
    losses = np.asarray(scope["metrics"]["loss"])
    assert losses.shape == (8,) and np.all(np.isfinite(losses))


def test_research_reuse_learning_rates_are_per_member(first_block):
    """The README's vmapped learning rates: member i takes the step that one model with
    rate i takes alone, and Adam's first step (m/sqrt(v) = sign(g), no decay) moves each
    parameter by its rate times the same amount."""
    import jax
    scope = first_block
    lrs, states, model, tx = (np.asarray(scope["lrs"]), scope["states"], scope["model"],
                              scope["tx"])
    init = scope["init_member"](lambda key: model.init(key, scope["x"]), tx, 0)
    one = jax.jit(scope["step"])
    moved = []
    for i in (0, 7):
        alone = scope["TrainState"].create(params=init.params, tx=tx, rng=init.rng,
                                           hyperparams={"learning_rate": lrs[i]})
        alone, _ = one(alone, scope["batch"])
        for a, b in zip(jax.tree.leaves(alone.params), jax.tree.leaves(states.params)):
            np.testing.assert_allclose(b[i], a, rtol=1e-6, atol=1e-7)
        moved.append(np.concatenate([(np.asarray(b[i]) - np.asarray(p)).ravel() / lrs[i]
                                     for b, p in zip(jax.tree.leaves(states.params),
                                                     jax.tree.leaves(init.params))]))
    np.testing.assert_allclose(moved[0], moved[1], rtol=1e-3, atol=1e-4)
    assert np.abs(moved[0]).max() > 0.5   # a step of about one rate per parameter


def test_population_example_runs(first_block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # it saves the population to a file
    scope = dict(first_block)   # after the first block, as written: it makes its own X and y
    exec(BLOCKS[1].replace("epochs=20", "epochs=2"), scope)
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


def test_every_fjax_command_in_the_readme_parses(calls, capsys, tmp_path, monkeypatch):
    """Each `fjax run|sweep` line of the README reaches its task with the settings it
    names: an option renamed in the code but not in the README fails here. The
    `--config runs/credit/config.json` line reads a default credit run's settings."""
    from fjax.config import to_json
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "credit").mkdir(parents=True)
    (tmp_path / "runs" / "credit" / "config.json").write_text(to_json(get_task("credit").Config()))
    from fjax.tasks.credit import frozen
    from fjax.tasks.fraud import frozen as fraud_frozen
    scored = []   # `fjax score credit|fraud` lines: the ScoreConfig each reaches
    monkeypatch.setattr(frozen, "score", lambda cfg: scored.append(cfg) or tmp_path)
    from fjax.tasks.forecast import frozen as forecast_frozen
    monkeypatch.setattr(forecast_frozen, "score", lambda cfg: scored.append(cfg) or tmp_path)
    monkeypatch.setattr(fraud_frozen, "score", lambda cfg: scored.append(cfg) or tmp_path)
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
    assert scored == [forecast_frozen.ScoreConfig(run="runs/forecast", data="prices.csv",
                                                  out="runs/forecast_new"),
                      frozen.ScoreConfig(run="runs/credit", data="new.csv", out="runs/scored"),
                      fraud_frozen.ScoreConfig(run="runs/fraud", data="tx.csv", days=1,
                                               out="runs/fraud_scored")]


def test_the_readme_commands_run_in_order_into_their_folders():
    """A `fjax run|sweep` line never writes into a folder a `fjax score` line wrote (a run
    refuses a folder of score outputs), so the README's lines run one after another."""
    def out(words):
        return words[words.index("--out") + 1] if "--out" in words else None
    commands = readme_commands("fjax")
    scored = {out(words) for words in commands if words[1] == "score"}
    assert None not in scored and len(scored) == 3
    runs = {out(words) for words in commands if words[1] in ("run", "sweep")}
    assert not scored & runs, scored & runs


def test_every_fjax_help_example_parses(calls, tmp_path, monkeypatch):
    """`fjax --help`'s example lines (their descriptions cut at two spaces) reach their
    task as the README's lines do: an option renamed in the code fails here too."""
    from fjax.config import to_json
    from fjax.tasks.credit import frozen
    from fjax.tasks.forecast import frozen as forecast_frozen
    from fjax.tasks.fraud import frozen as fraud_frozen
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "forecast").mkdir(parents=True)
    (tmp_path / "runs" / "forecast" / "config.json").write_text(
        to_json(get_task("forecast").Config()))
    scored = []
    for module in (frozen, forecast_frozen, fraud_frozen):
        monkeypatch.setattr(module, "score", lambda cfg: scored.append(cfg) or tmp_path)
    examples = [re.split(r"\s{2,}", line.strip())[0].split()
                for line in cli.USAGE.splitlines() if line.startswith("  fjax ")]
    assert len(examples) >= 9
    for words in examples:
        assert cli.main(words[1:]) == 0, words
    assert len(calls) + len(scored) == len(examples)
    assert {"model.kind": ("lstm", "gru", "cnn")} in [grid for _, grid in calls]


def test_the_readme_experiment_script_flags_parse():
    for words in readme_commands("python"):
        assert words[1] == "experiments/forecast_sp500.py"
        config = tyro.cli(get_task("forecast").Config, args=words[2:])
        assert config.train.epochs == int(words[words.index("--train.epochs") + 1])


# A repository path (`fjax/train/`, `scripts/bench.py`), a bare module or kernel file name
# (the architecture's `calibration.py`), or a top-level document (`BENCHMARKS.md`).
NAMED_PATH = re.compile(r"(?<![\w./~$-])((?:fjax|scripts|experiments|docs|tests)/[\w./-]*\w/?"
                        r"|\w+\.(?:py|cc)|[A-Z_]+\.md)(?![\w<])")


@pytest.mark.parametrize("doc", ["README.md", "docs/DEVELOPING.md", "docs/FROM_PYTORCH.md",
                                 "docs/FROM_KERAS.md"])
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


def readme_layers() -> dict[str, int]:
    """The README's architecture block as {module or package under fjax: level}, 0 at the
    top; a line indented under another continues its level."""
    block = re.search(r"## Architecture.*?```\n(.*?)```", README, flags=re.S).group(1)
    layers: dict[str, int] = {}
    level = -1
    for line in block.splitlines():
        level += not line.startswith(" ")
        for word in line.split():
            name = word.removeprefix("fjax/").rstrip("/").removesuffix(".py")
            if not re.fullmatch(r"\w+", name) or not (ROOT / "fjax" / name).exists() \
                    and not (ROOT / "fjax" / f"{name}.py").exists():
                break
            layers[name] = level
    return layers


def fjax_imports(path: Path) -> set[str]:
    """The fjax modules `path` imports, absolute or relative, as dotted names."""
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]) \
                if node.level else ""
            found.add(".".join(filter(None, [base, node.module])))
    return {name for name in found if name == "fjax" or name.startswith("fjax.")}


def test_imports_point_down_the_readme_architecture():
    """The README's claim: a module imports only from its own layer or those below it,
    but for fjax.data.checks, which any layer may import. A module the block does not
    place fails with a KeyError naming it."""
    layers = readme_layers()
    assert {"cli", "tasks", "train", "data", "losses", "optim", "kernels", "config"} <= set(
        layers)
    assert layers["tasks"] < layers["train"] < layers["models"] == layers["data"] \
        < layers["losses"] < layers["config"]
    upward = []
    for path in sorted((ROOT / "fjax").rglob("*.py")):
        own = path.relative_to(ROOT / "fjax").parts[0].removesuffix(".py")
        if own == "__init__":       # the package's face may gather from every layer
            continue
        for name in fjax_imports(path):
            target = name.split(".")[1] if "." in name else own
            if name == "fjax.data.checks" or target == own:
                continue
            if layers[target] < layers[own]:
                upward.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not upward, upward


def test_the_package_ships_its_types():
    """fjax's annotations reach a user's type checker (PEP 561): `fjax/py.typed` exists
    and is package data, so a wheel installs it. Without it mypy reported `import fjax`
    as an untyped module and checked nothing a researcher lifted from it."""
    import tomllib
    assert (ROOT / "fjax" / "py.typed").is_file()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]
    assert "py.typed" in data.get("fjax", [])


def test_the_migration_guides_name_fjax_as_it_is():
    """docs/FROM_PYTORCH.md's loss table names fjax.losses functions with their arguments,
    its optimizer table `--optim.name` values, docs/FROM_KERAS.md's `OptimConfig` fields,
    and both the parameter names of the LSTM, GRU and CNN: a rename fails here."""
    import dataclasses
    import inspect

    import jax
    import jax.numpy as jnp

    from fjax import losses
    from fjax.config import ModelConfig, OptimConfig
    from fjax.models import build_model
    torch_doc = (ROOT / "docs" / "FROM_PYTORCH.md").read_text()
    keras_doc = (ROOT / "docs" / "FROM_KERAS.md").read_text()
    calls = re.findall(r"^\| `(\w+)\(([^)]*)\)`", torch_doc, flags=re.M)
    assert len(calls) >= 5
    for name, args in calls:
        accepted = inspect.signature(getattr(losses, name)).parameters
        for arg in re.findall(r"(\w+)(?:=[^,]*)?(?:,|$)", args):
            assert arg in accepted, (name, arg)
    optimizers = torch_doc.split("## Optimizers")[1]
    names = re.findall(r"`(\w+)`", "".join(re.findall(r"^\| `\w+`.*?\|", optimizers,
                                                       flags=re.M)))
    assert set(names) >= {"sgd", "adam", "rmsprop"}
    for name in names:
        OptimConfig(name=name)   # a name the config does not take is refused
    fields = {f.name for f in dataclasses.fields(OptimConfig)}
    table = [line.split("|")[2] for line in keras_doc.split("## Optimizers")[1].splitlines()
             if line.startswith("| `")]
    named = set(re.findall(r"(\w+)=", "".join(table)))
    assert {"name", "momentum", "weight_decay", "clip_norm", "final_factor"} <= named <= fields
    shapes = {}
    for kind in ("lstm", "gru", "cnn"):
        model = build_model(ModelConfig(kind=kind, hidden=(4,)), out_dim=1)
        params = model.init(jax.random.PRNGKey(0), jnp.ones((1, 5, 3)))["params"]
        shapes[kind] = {f"{layer}/{leaf}" for layer, leaves in params.items()
                        for leaf in leaves}
    assert {"rnn_0/w_ih", "rnn_0/w_hh", "rnn_0/b"} <= shapes["lstm"]
    assert {"rnn_0/w_ih", "rnn_0/w_hh", "rnn_0/b_ih", "rnn_0/b_hn"} <= shapes["gru"]
    assert {"conv_0/kernel", "conv_0/bias"} <= shapes["cnn"]
    for doc in (torch_doc, keras_doc):
        assert "`conv_l/kernel f32[k, in, out]`" in doc and "`b_hn f32[H]`" in doc
