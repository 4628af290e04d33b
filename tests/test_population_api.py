"""A trained population as research code uses it: predicting with any apply function, and
the training core's names importable from `fjax.train`, saving and loading a trained one."""

import copy
import dataclasses
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
import pytest
from flax import serialization

from fjax.config import LossConfig, OptimConfig, TrainConfig
from fjax.data.splits import kfold
from fjax.train import population_file, train_population
from fjax.train.members import init_population, member_grid
from fjax.train.objective import supervised_loss
from fjax.train.population import Population

RNG = np.random.default_rng(0)
X = RNG.normal(size=(37, 3)).astype(np.float32)
KEYS = jax.random.split(jax.random.PRNGKey(0), 3)


def tree_equal(a, b) -> bool:
    return jax.tree.structure(a) == jax.tree.structure(b) and all(
        np.array_equal(u, v) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


class Plain(nn.Module):
    """A flax module without a `deterministic` argument (no dropout)."""

    @nn.compact
    def __call__(self, x):
        return nn.Dense(2)(x)


class Dropping(nn.Module):
    """Dropout that is on unless told otherwise: predicting must turn it off."""

    @nn.compact
    def __call__(self, x, deterministic: bool = False):
        return nn.Dropout(0.5, deterministic=deterministic)(nn.Dense(2)(x))


COUNTING_TRACES = []


class Counting(Plain):
    """Plain, counting the times it runs in Python (traced)."""

    def __call__(self, x):
        COUNTING_TRACES.append(x.shape)
        return super().__call__(x)


def population(params) -> Population:
    """A population holding only stacked `params` (all `predict` reads)."""
    size = jax.tree.leaves(params)[0].shape[0]
    return Population(loop=None, params=params, members=pd.DataFrame({"member": range(size)}),
                      history=[], monitor="loss", mode="min", compile_s=0.0, compilations=0,
                      train_s=0.0, epoch_s=[])


def float64_dense(params, x):
    kernel = np.asarray(params["params"]["Dense_0"]["kernel"], np.float64)
    bias = np.asarray(params["params"]["Dense_0"]["bias"], np.float64)
    return x.astype(np.float64) @ kernel + bias


def test_predict_takes_a_module_without_deterministic_and_a_function_of_your_own():
    """A plain module's `model.apply`, a lambda and a def, each against float64 numpy."""
    model = Plain()
    pop = population(jax.vmap(lambda k: model.init(k, X[:1]))(KEYS))

    def mine(params, rows):
        dense = params["params"]["Dense_0"]
        return rows @ dense["kernel"] + dense["bias"]

    for apply_fn in (model.apply, lambda p, rows: model.apply(p, rows), mine):
        out = pop.predict(apply_fn, X, batch_size=16)   # 37 rows: a partial last batch
        assert out.shape == (3, 37, 2)
        for i in range(3):
            np.testing.assert_allclose(out[i], float64_dense(pop.member_params(i), X),
                                       rtol=1e-5, atol=1e-5)


def test_predict_refuses_rows_it_cannot_score_naming_the_fix():
    """Rows of another width raised flax's ScopeParamShapeError, a NaN row got a NaN
    prediction silently, and batch_size=0 was taken as 1."""
    model = Plain()
    pop = population(jax.vmap(lambda k: model.init(k, X[:1]))(KEYS))
    with pytest.raises(ValueError, match=rf"parameters do not fit rows of x of shape "
                                         rf"\({X.shape[1] - 1},\).*model.init\(key, x\[:1\]\)"):
        pop.predict(model.apply, X[:, 1:])
    holes = X.copy()
    holes[[4, 9], 0] = [np.nan, np.inf]
    with pytest.raises(ValueError, match=r"x has NaN or infinite values in 2 row\(s\) "
                                         r"\(first at row 4\); impute or remove them"):
        pop.predict(model.apply, holes)
    with pytest.raises(ValueError, match=r"x\['a'\] has NaN"):
        pop.predict(lambda p, rows: model.apply(p, rows["a"]), {"a": holes})
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        pop.predict(model.apply, X, batch_size=0)
    assert pop.predict(model.apply, X.astype(np.int32)).shape == (3, 37, 2)   # ints: cast


def test_predict_passes_deterministic_where_the_model_takes_it():
    """Dropout on by default: without deterministic=True it would need a key (an error) or
    zero half the outputs; predictions equal the dropout-free float64 layer."""
    model = Dropping()
    pop = population(jax.vmap(lambda k: model.init(k, X[:1]))(KEYS))
    out = pop.predict(model.apply, X)
    for i in range(3):
        np.testing.assert_allclose(out[i], float64_dense(pop.member_params(i), X),
                                   rtol=1e-5, atol=1e-5)


class TwoHeads(nn.Module):
    """Several outputs: a dict holding a tuple."""

    @nn.compact
    def __call__(self, x):
        return {"both": (nn.Dense(2)(x), 2 * x)}


def test_predict_returns_each_output_of_a_model_with_several():
    """It raised AttributeError: 'dict' object has no attribute 'reshape'."""
    model = TwoHeads()
    pop = population(jax.vmap(lambda k: model.init(k, X[:1]))(KEYS))
    out = pop.predict(model.apply, X, batch_size=16)   # 37 rows: a partial last batch
    dense, doubled = out["both"]
    assert dense.shape == (3, 37, 2) and doubled.shape == (3, 37, 3)
    for i in range(3):
        np.testing.assert_allclose(dense[i], float64_dense(pop.member_params(i), X),
                                   rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(doubled[i], 2 * X)


def test_predict_takes_several_inputs_as_a_pytree_of_rows():
    """A model of two inputs: `x` as a dict or a tuple of arrays. Before, np.asarray(x)
    raised (a tuple of arrays of other widths) or made a scalar of the dict (IndexError)."""
    model = Plain()
    pop = population(jax.vmap(lambda k: model.init(k, X[:1]))(KEYS))
    first, rest = X[:, :1], X[:, 1:]
    by_name = pop.predict(lambda p, r: model.apply(p, jnp.concatenate([r["a"], r["b"]], 1)),
                          {"a": first, "b": rest}, batch_size=16)
    by_place = pop.predict(lambda p, r: model.apply(p, jnp.concatenate(r, 1)), (first, rest),
                           batch_size=16)
    for out in (by_name, by_place):
        assert out.shape == (3, 37, 2)
        for i in range(3):
            np.testing.assert_allclose(out[i], float64_dense(pop.member_params(i), X),
                                       rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"x holds arrays of \[37, 36\] rows"):
        pop.predict(lambda p, r: r[0], (first, rest[1:]))


def test_an_apply_functions_own_type_error_is_not_hidden():
    def broken(params, rows, deterministic=True):
        raise TypeError("a bug of its own")
    pop = population({"w": jnp.ones((2, 3))})
    with pytest.raises(TypeError, match="a bug of its own"):
        pop.predict(broken, X)


def test_predicting_again_with_the_same_structure_traces_nothing():
    """A loop of predict calls pays tracing and compilation once: the model runs in Python
    only while it is traced. New parameter values (same shapes) are used, not stale ones;
    a fresh program (a wrapper jax has not seen) gives bit-identical outputs."""
    model = Plain()
    traces = []

    def counted(params, rows):
        traces.append(rows.shape)
        return model.apply(params, rows)

    first = population(jax.vmap(lambda k: model.init(k, X[:1]))(KEYS))
    other = population(jax.vmap(lambda k: model.init(k, X[:1]))(KEYS + 1))
    out = first.predict(counted, X, batch_size=16)
    assert len(traces) == 1
    again, moved = first.predict(counted, X, batch_size=16), other.predict(counted, X, 16)
    assert len(traces) == 1
    assert np.array_equal(out, again)
    assert np.array_equal(out, first.predict(lambda p, r: counted(p, r), X, batch_size=16))
    for i in range(3):
        np.testing.assert_allclose(moved[i], float64_dense(other.member_params(i), X),
                                   rtol=1e-5, atol=1e-5)
    assert first.predict(counted, X[:20], batch_size=16).shape == (3, 20, 2)   # new n: traced
    assert len(traces) == 3   # and once in the lambda
    model = Counting()   # `model.apply` is a new bound method each time: the same function
    first.predict(model.apply, X), first.predict(model.apply, X)
    assert len(COUNTING_TRACES) == 1


def test_predict_takes_an_apply_function_that_cannot_be_hashed():
    """A dataclass with `__call__` (eq, so no hash) predicts as a function does."""

    @dataclasses.dataclass
    class Apply:
        model: nn.Module

        def __call__(self, params, rows):
            return self.model.apply(params, rows)

    model = Plain()
    pop = population(jax.vmap(lambda k: model.init(k, X[:1]))(KEYS))
    assert np.array_equal(pop.predict(Apply(model), X), pop.predict(model.apply, X))


def test_checkpointer_is_exported_without_importing_orbax_with_fjax_train():
    """`import fjax.train` leaves orbax unloaded (it is slow to import); the name
    `fjax.train.Checkpointer` loads it on first use. In a fresh interpreter."""
    code = ("import sys, fjax.train\n"
            "loaded = lambda: sorted(m for m in sys.modules if m.split('.')[0] == 'orbax')\n"
            "assert not loaded(), loaded()[:3]\n"
            "from fjax.train import Checkpointer\n"
            "from fjax.train.checkpoint import Checkpointer as direct\n"
            "assert Checkpointer is direct and loaded() and 'Checkpointer' in dir(fjax.train)\n")
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


class Net(nn.Module):
    @nn.compact
    def __call__(self, x, deterministic: bool = True):
        h = nn.Dropout(0.2, deterministic=deterministic)(nn.tanh(nn.Dense(5)(x)))
        return nn.Dense(1)(h)


@pytest.fixture(scope="module")
def trained() -> Population:
    """2 seeds x 2 folds x 2 learning rates, validated on their folds: every field set."""
    y = (X[:, :1] - X[:, 1:2] > 0).astype(np.float32)
    model = Net()
    loss = supervised_loss(model.apply, LossConfig(name="bce"))
    return train_population(loss, lambda k: model.init(k, X[:1]), {"x": X, "y": y},
                            optim=OptimConfig(learning_rate=1e-2),
                            train=TrainConfig(epochs=3, batch_size=8, patience=1),
                            hparams={"learning_rate": [1e-2, 3e-1]}, seeds=[0, 3],
                            folds=kfold(len(X), 2, seed=0), callbacks=())


def assert_same_population(a: Population, b: Population) -> None:
    """Every field equal, bit for bit; the loaded loop has no optimizer state."""
    assert tree_equal(a.params, b.params)
    assert tree_equal(a.loop.best_params, b.loop.best_params)
    assert tree_equal(a.loop.train.params, b.loop.train.params)
    for name in ("best_score", "best_epoch", "bad_epochs", "stopped", "diverged_epoch", "epoch"):
        assert np.array_equal(getattr(a.loop, name), getattr(b.loop, name)), name
    assert np.array_equal(a.loop.train.step, b.loop.train.step)
    assert np.array_equal(a.loop.train.rng, b.loop.train.rng)
    assert b.loop.train.opt_state is None and b.loop.train.tx is None
    pd.testing.assert_frame_equal(a.members, b.members)
    assert len(a.history) == len(b.history)
    for old, new in zip(a.history, b.history):
        assert old.keys() == new.keys()
        for key in old:
            np.testing.assert_array_equal(old[key], new[key], err_msg=key)
    for name in ("monitor", "mode", "compile_s", "compilations", "train_s", "epoch_s",
                 "resumed_epoch"):
        assert getattr(a, name) == getattr(b, name), name
    pd.testing.assert_frame_equal(a.table(), b.table())
    assert a.best_config() == b.best_config()


def test_a_saved_population_loads_whole_and_predicts_bit_identically(trained, tmp_path):
    path = trained.save(tmp_path / "runs" / "pop.msgpack")
    assert sorted(p.name for p in path.parent.iterdir()) == ["pop.msgpack"]  # no temporary
    loaded = Population.load(path)
    assert_same_population(trained, loaded)
    model = Net()
    assert np.array_equal(loaded.predict(model.apply, X), trained.predict(model.apply, X))
    like = model.init(jax.random.PRNGKey(9), X[:1])
    assert tree_equal(Population.load(path, like=like).params, loaded.params)


def test_a_pickled_population_is_the_saved_one(trained):
    copied = pickle.loads(pickle.dumps(trained))
    assert_same_population(trained, copied)
    assert np.array_equal(copied.predict(Net().apply, X), trained.predict(Net().apply, X))


def test_copies_keep_the_optimizer_state_that_pickling_leaves_out(trained):
    for copied in (copy.copy(trained), copy.deepcopy(trained)):
        assert tree_equal(copied.loop.train.opt_state, trained.loop.train.opt_state)
        assert copied.loop.train.tx == trained.loop.train.tx  # the same functions
    deep = copy.deepcopy(trained)
    assert deep.members is not trained.members
    pd.testing.assert_frame_equal(deep.members, trained.members)


def test_a_failed_save_leaves_the_earlier_file_whole(trained, tmp_path, monkeypatch):
    path = trained.save(tmp_path / "pop.msgpack")
    before = path.read_bytes()

    def killed(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(population_file.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        trained.save(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize("umask", [0o027, 0o002])
def test_saved_files_are_created_0666_less_the_umask_in_force(trained, tmp_path, umask):
    """A population file and a run's report file alike, under the umask set after import
    (as `open` would create them), not 0600 nor the umask fjax was imported under."""
    from fjax.report.files import RunDir
    previous = os.umask(umask)
    try:
        paths = [trained.save(tmp_path / "pop.msgpack"), RunDir(tmp_path).text("a.md", "x"),
                 RunDir(tmp_path).bytes("b.bin", b"x")]
    finally:
        os.umask(previous)
    assert [oct(p.stat().st_mode & 0o777) for p in paths] == [oct(0o666 & ~umask)] * 3


def test_run_files_are_utf8_whatever_the_locale(tmp_path):
    """Under a locale that is not UTF-8 (here C, with Python's UTF-8 mode off), a report or
    CSV with a character outside ASCII (a "±", a user's column "Préstamo") failed to write,
    and in a Latin-1 locale was written in Latin-1, which pandas (UTF-8) misreads. Oracle:
    Python's own UTF-8 encoding of the text, and pandas reading the CSV back."""
    code = ("import sys, pandas as pd; from fjax.report.files import write_atomic, write_csv; "
            "write_atomic(sys.argv[1] + '/a.md', 'AUC 0.7 \\u00b1 0.1'); "
            "write_csv(sys.argv[1] + '/b.csv', pd.DataFrame({'Pr\\u00e9stamo': [1]}))")
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    subprocess.run([sys.executable, "-X", "utf8=0", "-c", code, str(tmp_path)], env=env,
                   check=True, capture_output=True)
    assert (tmp_path / "a.md").read_bytes() == "AUC 0.7 \u00b1 0.1".encode("utf-8")
    assert list(pd.read_csv(tmp_path / "b.csv").columns) == ["Pr\u00e9stamo"]


def test_a_gzipped_csv_is_written_fast_and_reads_back_as_its_frame(tmp_path):
    """fraud's scores.csv.gz was gzipped at level 9 (2.1-2.7 s of a default run); it is
    written at level 1 (the gzip header's XFL byte 4, "fastest"; 9 writes 2), and its text
    is the frame's CSV byte for byte. Oracle: gzip's own decompression, pandas' to_csv,
    and the frame read back to the bit."""
    import gzip

    from fjax.datasets import read_csv
    from fjax.report.files import write_csv
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"seed": np.repeat([0, 1], 500), "date": ["2018-08-08"] * 1000,
                          "score": rng.random(1000),
                          "logit": rng.normal(size=1000).astype(np.float32).astype(float),
                          "fraud": rng.integers(0, 2, 1000)})
    data = write_csv(tmp_path / "scores.csv.gz", frame).read_bytes()
    assert data[:2] == b"\x1f\x8b" and data[8] == 4
    assert gzip.decompress(data) == frame.to_csv(index=False).encode()
    pd.testing.assert_frame_equal(read_csv(tmp_path / "scores.csv.gz"), frame, check_exact=True)


def stub_population(init_fn, size=3) -> Population:
    """Untrained members of `init_fn`'s parameters: for what `load` checks."""
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    loop = init_population(init_fn, tx, jnp.arange(size, dtype=jnp.uint32), {})
    return Population(loop=loop, params=loop.train.params,
                      members=member_grid({}, list(range(size)), 1), history=[],
                      monitor="loss", mode="min", compile_s=0.0, compilations=1, train_s=0.0,
                      epoch_s=[])


def test_loading_names_the_path_and_what_is_wrong(tmp_path):
    missing = tmp_path / "absent.msgpack"
    with pytest.raises(FileNotFoundError, match=f"no population file at {missing}"):
        Population.load(missing)
    path = stub_population(lambda k: Net().init(k, X[:1])).save(tmp_path / "pop.msgpack")
    cut = tmp_path / "cut.msgpack"
    cut.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(ValueError, match=f"{cut} is not a readable population file"):
        Population.load(cut)
    other = tmp_path / "other.msgpack"
    other.write_bytes(serialization.to_bytes({"params": np.ones(3)}))
    with pytest.raises(ValueError, match=f"{other} is not a file written by Population.save"):
        Population.load(other)
    wider = Net().init(jax.random.PRNGKey(0), np.ones((1, 4)))   # for rows of 4 features
    with pytest.raises(ValueError, match=r"params in .*pop.msgpack do not fit `like` .* 1 leaves"
                                         r".* params/Dense_0/kernel: \(\(3, 5\), 'float32'\) "
                                         r"in the file, \(\(4, 5\), 'float32'\) in like"):
        Population.load(path, like=wider)
    with pytest.raises(ValueError, match=r"6 leaves .* params/Dense_0/bias: \(\(5,\), "
                                         r"'float32'\) in the file, absent in like"):
        Population.load(path, like=nn.Dense(7).init(jax.random.PRNGKey(0), X[:1]))


def test_parameters_that_are_not_nested_dicts_load_with_like(tmp_path):
    def init_fn(key):
        return (jax.random.normal(key, (3, 2)), jnp.zeros(2))
    pop = stub_population(init_fn)
    path = pop.save(tmp_path / "pop.msgpack")
    with pytest.raises(ValueError, match=r"are not nested dicts.*pass like="):
        Population.load(path)
    loaded = Population.load(path, like=jax.eval_shape(init_fn, jax.random.PRNGKey(0)))
    assert isinstance(loaded.params, tuple) and tree_equal(loaded.params, pop.params)
    linear = lambda p, rows: rows @ p[0] + p[1]  # noqa: E731
    assert np.array_equal(loaded.predict(linear, X), pop.predict(linear, X))


def test_a_pickled_population_keeps_parameters_that_are_not_nested_dicts():
    """Pickling cannot take `like`: it keeps the structure itself (a tuple, a flax
    struct), so the copy unpickles, as what was pickled."""
    def init_fn(key):
        return (jax.random.normal(key, (3, 2)), {"bias": jnp.zeros(2)})
    pop = stub_population(init_fn)
    copied = pickle.loads(pickle.dumps(pop))
    assert jax.tree.structure(copied.params) == jax.tree.structure(pop.params)
    assert tree_equal(copied.params, pop.params)
    assert tree_equal(copied.loop.best_params, pop.loop.best_params)
    linear = lambda p, rows: rows @ p[0] + p[1]["bias"]  # noqa: E731
    assert np.array_equal(copied.predict(linear, X), pop.predict(linear, X))


def test_table_holds_an_aux_metric_of_several_values_per_member():
    """A loss reporting one value per class: `table()` raised "Expected a 1D array, got
    an array with shape (2, 3)". Its best validation values are those of the selected
    parameters, against float64 numpy."""
    model = nn.Dense(3)
    labels = np.arange(37) % 3

    def per_class_loss(params, batch, rng):
        logp = jax.nn.log_softmax(model.apply(params, batch["x"]))
        nll = -jnp.take_along_axis(logp, batch["y"][:, None], axis=1)[:, 0]
        w = batch["weight"]
        rows = [(batch["y"] == c) * w for c in range(3)]
        per_class = jnp.stack([jnp.sum(r * nll) / jnp.maximum(r.sum(), 1e-12) for r in rows])
        return jnp.sum(w * nll) / jnp.maximum(w.sum(), 1e-12), {"per_class": per_class}

    data = {"x": X, "y": labels}
    pop = train_population(per_class_loss, lambda k: model.init(k, X[:1]), data,
                           val_data=data, optim=OptimConfig(name="adam", learning_rate=0.1),
                           train=TrainConfig(epochs=3, batch_size=37), seeds=[0, 1],
                           callbacks=())
    table = pop.table()
    for i in range(2):
        params = pop.member_params(i)["params"]
        logits = X.astype(np.float64) @ np.asarray(params["kernel"], np.float64) + np.asarray(
            params["bias"], np.float64)
        logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        nll = -logp[np.arange(37), labels]
        want = [nll[labels == c].mean() for c in range(3)]
        np.testing.assert_allclose(table["best_val_per_class"][i], want, rtol=1e-5)
        assert table["final_per_class"][i].shape == (3,)


@pytest.mark.parametrize("kwargs, message", [
    (dict(train={"epochs": 1}), r"population.s train must be an instance of TrainConfig, got dict"),
    (dict(optim=None), r"train_population's optim must be an instance of OptimConfig or Gradient"),
    (dict(data=(X, X[:, :1])), r"data must be a dict of arrays.*got a tuple"),
    (dict(folds=5), r"folds must be a Folds .*got int 5; build one, e.g. "
                    r"fjax.data.splits.stratified_kfold\(labels, 5\)"),
])
def test_wrong_argument_types_are_named(kwargs, message):
    """A dict, None or tuple where a config or the data dict belongs failed deep inside
    training with an AttributeError ('dict' object has no attribute 'batch_size')."""
    model = Plain()
    args = dict(optim=OptimConfig(), train=TrainConfig(epochs=1), data={"x": X, "y": X[:, :2]})
    args.update(kwargs)
    with pytest.raises(TypeError, match=message):
        train_population(supervised_loss(model.apply, LossConfig()),
                         lambda key: model.init(key, X[:1]), args.pop("data"), callbacks=(),
                         **args)


def test_fit_names_a_config_of_the_wrong_type():
    from fjax.train import TrainState, fit
    model = Plain()
    state = TrainState.create(params=model.init(KEYS[0], X[:1]), tx=optax.sgd(0.1), rng=KEYS[1])
    with pytest.raises(TypeError, match=r"fit's config must be an instance of TrainConfig, got "
                                        r"OptimConfig"):
        fit(state, supervised_loss(model.apply, LossConfig()), {"x": X, "y": X[:, :2]},
            config=OptimConfig(), callbacks=())


def test_member_params_refuses_a_member_past_the_end():
    """jax clamps an index past the end, so member_params(size) returned the last member's
    parameters as if it were another member."""
    params = {"w": jnp.arange(3.0)[:, None]}
    pop = population(params)
    assert float(pop.member_params(-1)["w"][0]) == 2.0
    with pytest.raises(IndexError, match=r"member 3 is out of range: the population has 3"):
        pop.member_params(3)
    with pytest.raises(IndexError, match=r"member -4 is out of range"):
        pop.member_params(-4)


def test_summary_names_the_metrics_a_population_has(trained):
    """summary('val_auc') of a population that logged no AUC raised a bare
    KeyError('best_val_auc')."""
    with pytest.raises(ValueError, match=r"'val_auc' is not a metric of this population; "
                                         r"choose one of \['loss', 'val_loss'\]"):
        trained.best_config("val_auc")


def test_best_config_names_the_configs_tied_at_the_best_mean():
    """By hand: lr 1e-3 and 1e-2 both average val_loss 0.25 over two seeds (0.2, 0.3 and
    0.3, 0.2), lr 1e-1 0.4: best_config returned 1e-3 with no word of 1e-2's tie."""
    import types
    members = member_grid({"learning_rate": [1e-3, 1e-2, 1e-1]}, seeds=[0, 1], n_folds=1)
    by = {(1e-3, 0): 0.2, (1e-3, 1): 0.3, (1e-2, 0): 0.3, (1e-2, 1): 0.2,
          (1e-1, 0): 0.4, (1e-1, 1): 0.4}
    val = np.array([by[(lr, s)] for lr, s in zip(members["learning_rate"], members["seed"])])
    ones = np.ones(len(members), int)
    loop = types.SimpleNamespace(epoch=ones, best_epoch=ones, diverged_epoch=0 * ones)
    pop = Population(loop=loop, params=None, members=members,
                     history=[{"val_loss": val, "epoch": 1, "time_s": 0.0}],
                     monitor="val_loss", mode="min", compile_s=0.0, compilations=0,
                     train_s=0.0, epoch_s=[])
    with pytest.warns(UserWarning, match=r"2 configs tie at the best mean val_loss = 0\.25: "
                                         r"\{'learning_rate': 0\.001\}; "
                                         r"\{'learning_rate': 0\.01\}; best_config returns"):
        assert pop.best_config() == {"learning_rate": 1e-3}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pop.best_config("val_loss", "max") == {"learning_rate": 1e-1}   # no tie


def test_train_population_warns_of_a_grid_point_whose_loss_blew_up(tmp_path):
    """`train_grid` warned of a grid point whose training loss ended finite but far above
    its start (lr 1000 with Adam); `train_population` called directly said nothing. The
    rule lives in `train_population` now. Oracle: numpy's float64 MSE of seed 0's initial
    linear model over every row."""
    from fjax.train.members import member_keys
    from fjax.train.population import BlownUpWarning
    y = (X @ np.ones(3) * 10)[:, None].astype(np.float32)
    model = nn.Dense(1)
    init = lambda k: model.init(k, X[:1])  # noqa: E731
    run = lambda lrs: train_population(  # noqa: E731
        supervised_loss(model.apply, LossConfig()), init, {"x": X, "y": y},
        optim=OptimConfig(name="adam"), train=TrainConfig(epochs=3, batch_size=16),
        hparams={"learning_rate": lrs}, seeds=[0, 1], callbacks=())
    with pytest.warns(BlownUpWarning, match="training blew up at 1 grid point") as caught:
        pop = run([1e-2, 1e3])
    p = init(member_keys(0)[0])["params"]
    start = np.mean((X @ np.asarray(p["kernel"], np.float64) + np.asarray(p["bias"]) - y) ** 2)
    np.testing.assert_allclose(pop.initial_loss, start, rtol=1e-5)
    final = np.asarray(pop.history[-1]["loss"], np.float64)
    lr = pop.members["learning_rate"].to_numpy()
    end, calm = np.median(final[lr == 1e3]), np.median(final[lr == 1e-2])
    assert end > 10 * start > calm
    message = str(caught[0].message)
    assert f"learning_rate=1000: {end:.4g} ({end / start:.3g} times its {start:.4g})" in message
    assert "0.01" not in message
    np.testing.assert_array_equal(
        Population.load(pop.save(tmp_path / "pop.msgpack")).initial_loss, pop.initial_loss)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run([1e-2])


def test_each_grid_point_is_judged_against_its_own_loss_at_the_initial_parameters():
    """A grid over focal gamma [5, 0] judged every point against gamma 5's start (about
    0.02): gamma 0, a BCE that learned (0.68, under its own start of 0.69), was warned of
    as blown up 32 times over. Oracle: numpy's float64 focal loss of seed 0's initial
    model, -(1 - p_t)^gamma log p_t, at each gamma."""
    from fjax.train.members import member_keys
    x = (0.05 * np.random.default_rng(0).normal(size=(400, 3))).astype(np.float32)
    y = (np.random.default_rng(1).random(400) < 1 / (1 + np.exp(-10 * x[:, 0])))
    y = y.astype(np.float32)[:, None]
    model = nn.Dense(1)
    init = lambda k: model.init(k, x[:1])  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pop = train_population(supervised_loss(model.apply, LossConfig(name="focal")), init,
                               {"x": x, "y": y}, optim=OptimConfig(name="adam", learning_rate=1e-2),
                               train=TrainConfig(epochs=20, batch_size=32),
                               hparams={"focal_gamma": [5.0, 0.0]}, callbacks=())
    p = init(member_keys(0)[0])["params"]
    z = x @ np.asarray(p["kernel"], np.float64) + np.asarray(p["bias"], np.float64)
    p_t = np.where(y > 0, 1 / (1 + np.exp(-z)), 1 / (1 + np.exp(z)))
    want = [np.mean(-(1 - p_t) ** g * np.log(p_t)) for g in (5.0, 0.0)]
    np.testing.assert_allclose(pop.initial_loss, want, rtol=1e-5)
    end = np.asarray(pop.history[-1]["loss"], np.float64)
    assert end[1] > 10 * want[0] and end[1] < want[1]   # over gamma 5's start, under its own


def test_a_loss_that_only_trains_is_never_asked_to_evaluate():
    """Without validation, training never calls the loss in eval mode (rng None), but the
    blow-up check's initial loss did: a loss written for training only failed where it
    had trained before. The start is the training-mode loss at the initial parameters
    (here without dropout): numpy's float64 MSE of seed 3's initial linear model."""
    from fjax.train.members import member_keys
    model = nn.Dense(1)
    y = (X @ np.ones(3))[:, None].astype(np.float32)

    def loss(params, batch, rng):
        if rng is None:
            raise AssertionError("asked to evaluate")
        err = model.apply(params, batch["x"]) - batch["y"]
        return jnp.sum(batch["weight"] * err[:, 0] ** 2) / jnp.sum(batch["weight"]), {}
    init = lambda k: model.init(k, X[:1])  # noqa: E731
    pop = train_population(loss, init, {"x": X, "y": y}, optim=OptimConfig(),
                           train=TrainConfig(epochs=1), seeds=[3], callbacks=())
    p = init(member_keys(3)[0])["params"]
    start = np.mean((X @ np.asarray(p["kernel"], np.float64) + np.asarray(p["bias"]) - y) ** 2)
    np.testing.assert_allclose(pop.initial_loss, start, rtol=1e-5)


def test_predicting_with_a_model_that_needs_its_mode_names_the_fix():
    """A module whose `train` argument has no default failed in predict with a bare
    TypeError (missing argument 'train'): fjax passes `deterministic` only. The error
    names the fix, which predicts as the model applied in eval mode by hand."""
    import functools

    class NeedsMode(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool):
            return nn.Dropout(0.5, deterministic=not train)(nn.Dense(2)(x))
    model = NeedsMode()
    pop = train_population(lambda p, b, r: (jnp.sum(b["weight"]) * 0.0, {}),
                           lambda k: model.init(k, X[:1], False), {"x": X}, optim=OptimConfig(),
                           train=TrainConfig(epochs=1), seeds=[0, 1], callbacks=())
    with pytest.raises(ValueError, match=r"missing 1 required positional argument: 'train'.*"
                                         r"functools.partial\(model.apply, train=False\)"):
        pop.predict(model.apply, X)
    want = np.stack([model.apply(pop.member_params(i), X, train=False) for i in range(2)])
    np.testing.assert_array_equal(pop.predict(functools.partial(model.apply, train=False), X),
                                  want)


def test_summary_refuses_a_mode_other_than_min_or_max(trained):
    # mode='maximum' was taken for min where it set a diverged member's worst value
    for mode in ("maximum", "Max", ""):
        with pytest.raises(ValueError, match="mode must be 'min' or 'max', got"):
            trained.summary("val_loss", mode=mode)
    table = trained.table()
    means = table.groupby("learning_rate", sort=False)["best_val_loss"].mean().to_numpy()
    np.testing.assert_allclose(trained.summary("val_loss", "max")["val_loss_mean"], means)
