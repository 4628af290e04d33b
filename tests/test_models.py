"""Tests for fjax.models: shapes, gradients, jit, dropout, causality, reference math."""

from __future__ import annotations

import dataclasses
import functools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fjax.models import (
    ACTIVATION_NAMES,
    CNN1D,
    GRU,
    LSTM,
    MLP,
    MODEL_KINDS,
    Autoencoder,
    LinearRegression,
    LogisticRegression,
    build_model,
    reconstruction_error,
)

# Tiny sizes, and the same width (4) almost everywhere: eager-mode XLA compilations are
# cached per primitive and shape, so shared shapes keep this file fast on a small CPU.
BATCH, TIME, FEATURES, OUT = 3, 9, 4, 2
SEQUENCE_KINDS = ("lstm", "gru", "cnn")
DROPOUT_KINDS = ("mlp", "lstm", "gru", "cnn", "autoencoder")


@dataclasses.dataclass(frozen=True)
class StandInConfig:
    """Duck-typed stand-in for fjax.config.ModelConfig, with tiny sizes."""

    kind: str
    hidden: tuple[int, ...] = (4, 4)
    head: tuple[int, ...] = (4,)
    activation: str = "tanh"
    head_activation: str = "relu"
    dropout: float = 0.0
    kernel_size: int = 3
    dilations: tuple[int, ...] | None = None
    bottleneck: int = 2


def _input(kind: str, seed: int = 0) -> jax.Array:
    """f32[batch, time, features] for sequence kinds, else f32[batch, 2, 2] (flattened to 4)."""
    shape = (BATCH, TIME, FEATURES) if kind in SEQUENCE_KINDS else (BATCH, 2, 2)
    return jax.random.normal(jax.random.key(seed), shape, jnp.float32)


def _expected_shape(kind: str, x: jax.Array) -> tuple[int, ...]:
    return x.shape if kind == "autoencoder" else (BATCH, OUT)


@functools.cache
def _params(kind: str):
    """Params for ``kind`` (dropout does not change them), initialised once per session."""
    x = _input(kind)
    return build_model(StandInConfig(kind=kind), out_dim=OUT).init(jax.random.key(1), x)


def _model_and_params(kind: str, dropout: float = 0.0):
    model = build_model(StandInConfig(kind=kind, dropout=dropout), out_dim=OUT)
    return model, _params(kind), _input(kind)


def _np(tree):
    return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), tree)


# --------------------------------------------------------------------------- build_model


def test_models_build_exactly_the_kinds_and_activations_that_configs_accept():
    from fjax import config

    assert MODEL_KINDS == config.MODEL_KINDS
    assert set(ACTIVATION_NAMES) == set(config.ACTIVATIONS)


def test_build_model_types():
    expected = {
        "linear": LinearRegression,
        "logistic": LogisticRegression,
        "mlp": MLP,
        "lstm": LSTM,
        "gru": GRU,
        "cnn": CNN1D,
        "autoencoder": Autoencoder,
    }
    for kind in MODEL_KINDS:
        assert type(build_model(StandInConfig(kind=kind), out_dim=OUT)) is expected[kind]


def test_build_model_accepts_lists():
    """Duck typing: any object with the attributes works; sequences become tuples."""

    class Loose:
        kind = "cnn"
        hidden = [4, 4]
        head = []
        activation = "relu"
        head_activation = "linear"
        dropout = 0
        kernel_size = 2
        dilations = [1, 3]
        bottleneck = 2

    model = build_model(Loose(), out_dim=1)
    assert model.channels == (4, 4) and model.dilations == (1, 3) and model.head == ()
    x = _input("cnn")
    params = jax.eval_shape(model.init, jax.random.key(0), x)  # Shapes only: no compile.
    chex.assert_shape(params["params"]["conv_1"]["kernel"], (2, 4, 4))
    chex.assert_shape(jax.eval_shape(model.apply, params, x), (BATCH, 1))


def test_unknown_kind_raises():
    with pytest.raises(ValueError, match="transformer") as info:
        build_model(StandInConfig(kind="transformer"), out_dim=OUT)
    for kind in MODEL_KINDS:
        assert kind in str(info.value)


@pytest.mark.parametrize("kind", ["mlp", "cnn", "autoencoder"])
def test_unknown_activation_raises(kind):
    with pytest.raises(ValueError, match="swish") as info:
        build_model(StandInConfig(kind=kind, activation="swish"), out_dim=OUT)
    for name in ACTIVATION_NAMES:
        assert name in str(info.value)


def test_unknown_head_activation_raises_from_module():
    model = LSTM(hidden=(3,), out_dim=1, head=(2,), head_activation="softplus")
    with pytest.raises(ValueError, match="softplus"):
        model.init(jax.random.key(0), _input("lstm"))


def test_sequence_model_rejects_flat_input():
    model = LSTM(hidden=(3,), out_dim=1)
    with pytest.raises(ValueError, match=r"\[batch, time, features\]"):
        model.init(jax.random.key(0), jnp.ones((BATCH, FEATURES)))


def test_cnn_rejects_mismatched_dilations():
    model = CNN1D(channels=(3, 3), out_dim=1, dilations=(1,))
    with pytest.raises(ValueError, match="one dilation per layer"):
        model.init(jax.random.key(0), _input("cnn"))


# ------------------------------------------------------------------ every kind, generic


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_shape_dtype_grad_and_jit(kind):
    model, params, x = _model_and_params(kind)
    y = model.apply(params, x)
    chex.assert_shape(y, _expected_shape(kind, x))
    chex.assert_type(y, jnp.float32)
    chex.assert_tree_all_finite(y)

    y_jit = jax.jit(model.apply)(params, x)
    np.testing.assert_allclose(y_jit, y, rtol=1e-5, atol=1e-6)
    if kind not in SEQUENCE_KINDS:  # (Skipped there only to save a compile.)
        # deterministic=False without dropout is accepted, needs no rng, changes nothing.
        y_train = model.apply(params, x, deterministic=False)
        np.testing.assert_allclose(y_train, y, rtol=1e-6, atol=1e-7)

    grads = jax.jit(jax.grad(lambda p: jnp.sum(model.apply(p, x) ** 2)))(params)
    chex.assert_trees_all_equal_shapes(grads, params)
    chex.assert_tree_all_finite(grads)
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
        assert np.any(np.asarray(g) != 0), f"all-zero gradient at {jax.tree_util.keystr(path)}"


@pytest.mark.parametrize("kind", DROPOUT_KINDS)
def test_dropout(kind):
    model, params, x = _model_and_params(kind, dropout=0.5)
    apply = jax.jit(model.apply, static_argnames="deterministic")
    y1 = apply(params, x)
    y2 = apply(params, x, deterministic=True)
    np.testing.assert_array_equal(y1, y2)

    def train(seed):
        return apply(params, x, deterministic=False, rngs={"dropout": jax.random.key(seed)})

    a, a_again, b = train(0), train(0), train(1)
    np.testing.assert_array_equal(a, a_again)
    assert not np.allclose(a, b)
    assert not np.allclose(a, y1)


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_vmap_population_matches_separate_applies(kind):
    model = build_model(StandInConfig(kind=kind), out_dim=OUT)
    x = _input(kind)
    keys = jax.random.split(jax.random.key(7), 4)
    pop_params = jax.vmap(model.init, in_axes=(0, None))(keys, x)
    chex.assert_trees_all_equal_structs(pop_params, _params(kind))
    chex.assert_tree_shape_prefix(pop_params, (4,))
    pop_out = jax.jit(jax.vmap(model.apply, in_axes=(0, None)))(pop_params, x)
    chex.assert_shape(pop_out, (4, *_expected_shape(kind, x)))
    apply = jax.jit(model.apply)  # One compile for the four separate applies.
    for i in range(4):
        member = jax.tree_util.tree_map(lambda a, i=i: a[i], pop_params)
        np.testing.assert_allclose(pop_out[i], apply(member, x), rtol=1e-5, atol=1e-6)
    assert not np.allclose(pop_out[0], pop_out[1])  # Members differ: keys were used.


# ------------------------------------------------------------------------------ linear


@pytest.mark.parametrize("cls", [LinearRegression, LogisticRegression])
def test_linear_is_affine(cls):
    model = cls(out_dim=OUT)
    x = _input("linear")  # [batch, 2, 2]: flattened to [batch, 4]
    params = model.init(jax.random.key(0), x)
    w = np.asarray(params["params"]["dense"]["kernel"], np.float64)
    b = np.asarray(params["params"]["dense"]["bias"], np.float64)
    chex.assert_shape(w, (4, OUT))
    expected = np.asarray(x, np.float64).reshape(BATCH, -1) @ w + b
    np.testing.assert_allclose(model.apply(params, x), expected, rtol=1e-5, atol=1e-5)


def test_logistic_default_out_dim():
    model = LogisticRegression()
    x = jnp.ones((BATCH, FEATURES))
    chex.assert_shape(model.apply(model.init(jax.random.key(0), x), x), (BATCH, 1))


# ------------------------------------------------------------------------------ MLP


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_mlp_matches_numpy(activation):
    np_act = {
        "relu": lambda z: np.maximum(z, 0.0),
        "gelu": lambda z: z * 0.5 * (1.0 + np.vectorize(math.erf)(z / np.sqrt(2.0))),
        "tanh": np.tanh,
        "silu": lambda z: z / (1.0 + np.exp(-z)),
        "linear": lambda z: z,
    }[activation]
    model = MLP(hidden=(4, 4), out_dim=OUT, activation=activation)
    x = jax.random.normal(jax.random.key(0), (BATCH, FEATURES))
    params = model.init(jax.random.key(1), x)
    p = _np(params)["params"]
    h = np.asarray(x, np.float64)
    for i in range(2):
        h = np_act(h @ p[f"hidden_{i}"]["kernel"] + p[f"hidden_{i}"]["bias"])
    expected = h @ p["out"]["kernel"] + p["out"]["bias"]
    np.testing.assert_allclose(model.apply(params, x), expected, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------- recurrent


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


GATES = "ifgo"


def _np_lstm(layer, x):
    """float64 LSTM over x[batch, time, in]; params w_ih [in, 4H], w_hh [H, 4H], b [4H]
    with gates side by side in the order i, f, g, o."""
    hidden = layer["w_hh"].shape[0]
    block = lambda a, g: a[..., GATES.index(g) * hidden:(GATES.index(g) + 1) * hidden]  # noqa: E731
    w = lambda g: block(layer["w_ih"], g)  # noqa: E731
    u = lambda g: block(layer["w_hh"], g)  # noqa: E731
    b = lambda g: block(layer["b"], g)  # noqa: E731
    h = np.zeros((x.shape[0], hidden))
    c = np.zeros_like(h)
    out = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        i = _sigmoid(xt @ w("i") + h @ u("i") + b("i"))
        f = _sigmoid(xt @ w("f") + h @ u("f") + b("f"))
        g = np.tanh(xt @ w("g") + h @ u("g") + b("g"))
        o = _sigmoid(xt @ w("o") + h @ u("o") + b("o"))
        c = f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    return np.stack(out, axis=1)


def _np_gru(layer, x):
    """float64 GRU over x[batch, time, in]; params w_ih [in, 3H], b_ih [3H], w_hh [H, 3H]
    and b_hn [H] with gates side by side in the order r, z, n (flax's GRUCell equations)."""
    hidden = layer["w_hh"].shape[0]
    block = lambda a, g: a[..., "rzn".index(g) * hidden:("rzn".index(g) + 1) * hidden]  # noqa: E731
    w = lambda g: block(layer["w_ih"], g)  # noqa: E731
    u = lambda g: block(layer["w_hh"], g)  # noqa: E731
    b = lambda g: block(layer["b_ih"], g)  # noqa: E731
    h = np.zeros((x.shape[0], hidden))
    out = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        r = _sigmoid(xt @ w("r") + b("r") + h @ u("r"))
        z = _sigmoid(xt @ w("z") + b("z") + h @ u("z"))
        n = np.tanh(xt @ w("n") + b("n") + r * (h @ u("n") + layer["b_hn"]))
        h = (1.0 - z) * n + z * h
        out.append(h)
    return np.stack(out, axis=1)


@pytest.mark.parametrize("cls, reference", [(LSTM, _np_lstm), (GRU, _np_gru)])
def test_single_layer_recurrent_matches_numpy(cls, reference):
    model = cls(hidden=(4,), out_dim=OUT)
    x = _input("lstm")
    params = model.init(jax.random.key(3), x)
    # Non-zero biases so the bias terms are exercised too.
    params = jax.tree_util.tree_map_with_path(
        lambda path, a: a + 0.1
        if jax.tree_util.keystr(path).endswith(("['bias']", "['b']", "['b_ih']", "['b_hn']"))
        else a,
        params,
    )
    p = _np(params)["params"]
    expected_h = reference(p["rnn_0"], np.asarray(x, np.float64))
    h = model.apply(params, x, method="features")
    chex.assert_shape(h, (BATCH, TIME, 4))
    np.testing.assert_allclose(h, expected_h, rtol=1e-5, atol=1e-5)
    expected_y = expected_h[:, -1] @ p["head"]["out"]["kernel"] + p["head"]["out"]["bias"]
    np.testing.assert_allclose(model.apply(params, x), expected_y, rtol=1e-5, atol=1e-5)


def test_reference_lstm_layout():
    """LSTM 50 -> LSTM 50 -> Dense 25 -> Dense H, as in the Keras tutorial."""
    model = LSTM(hidden=(50, 50), head=(25,), out_dim=5)
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((2, 60, 1)))["params"]
    assert shapes["rnn_0"]["w_ih"].shape == (1, 200)
    assert shapes["rnn_1"]["w_ih"].shape == (50, 200)
    assert shapes["rnn_1"]["w_hh"].shape == (50, 200)
    assert shapes["rnn_1"]["b"].shape == (200,)
    assert shapes["head"]["hidden_0"]["kernel"].shape == (50, 25)
    assert shapes["head"]["out"]["kernel"].shape == (25, 5)
    assert set(shapes) == {"rnn_0", "rnn_1", "head"}


# ------------------------------------------------------------------------------- CNN


def test_cnn_features_are_causal():
    """Perturbing inputs at times >= t0 leaves the features at times < t0 unchanged."""
    model, params, x = _model_and_params("cnn")  # kernel 3, dilations (1, 2), tanh
    t = jnp.arange(TIME)
    # One perturbed copy of x per t0 in 0..TIME-1, all pushed through one compiled call.
    noise = jax.random.normal(jax.random.key(10), (TIME, *x.shape))
    mask = (t[None, :] >= t[:, None]).astype(x.dtype)  # [t0, time]
    perturbed = x[None] + noise * mask[:, None, :, None]
    features = jax.jit(jax.vmap(lambda v: model.apply(params, v, method="features")))
    base = model.apply(params, x, method="features")
    chex.assert_shape(base, (BATCH, TIME, 4))
    changed = np.asarray(features(perturbed))
    for t0 in range(TIME):
        np.testing.assert_allclose(changed[t0, :, :t0], base[:, :t0], rtol=1e-6, atol=1e-7)
        assert not np.allclose(changed[t0, :, t0:], base[:, t0:])


def test_cnn_receptive_field_uses_dilations():
    """Default dilations (1, 2) with kernel 3: the last step sees 1 + 2 * (1 + 2) = 7 steps."""
    model, params, x = _model_and_params("cnn")
    assert (model.channels, model.kernel_size, model.dilations) == ((4, 4), 3, None)
    grad = jax.grad(lambda v: model.apply(params, v, method="features")[:, -1].sum())(x)
    seen = np.any(np.asarray(grad) != 0, axis=(0, 2))
    np.testing.assert_array_equal(seen, np.arange(TIME) >= TIME - 7)


def test_cnn_output_is_head_of_last_step():
    model = CNN1D(channels=(4,), out_dim=OUT, dilations=(2,))
    x = _input("cnn")
    params = model.init(jax.random.key(0), x)
    last = model.apply(params, x, method="features")[:, -1]
    p = params["params"]["head"]["out"]
    np.testing.assert_allclose(
        model.apply(params, x), last @ p["kernel"] + p["bias"], rtol=1e-5, atol=1e-6
    )


# ----------------------------------------------------------------------- autoencoder


def test_autoencoder_matches_numpy_and_scores_rows():
    model = Autoencoder(hidden=(6, 4), bottleneck=2, activation="relu")
    x = _input("autoencoder")  # [batch, 2, 2]
    params = model.init(jax.random.key(0), x)
    recon = model.apply(params, x)
    chex.assert_equal_shape([recon, x])
    chex.assert_shape(model.apply(params, x, method="encode"), (BATCH, 2))

    p = _np(params)["params"]

    def dense_stack(tree, h, n_hidden):
        for i in range(n_hidden):
            h = np.maximum(h @ tree[f"hidden_{i}"]["kernel"] + tree[f"hidden_{i}"]["bias"], 0)
        return h @ tree["out"]["kernel"] + tree["out"]["bias"]

    flat = np.asarray(x, np.float64).reshape(BATCH, -1)
    assert p["decoder"]["hidden_0"]["kernel"].shape == (2, 4)  # mirrored widths
    assert p["decoder"]["out"]["kernel"].shape == (6, flat.shape[1])
    expected = dense_stack(p["decoder"], dense_stack(p["encoder"], flat, 2), 2)
    np.testing.assert_allclose(recon.reshape(BATCH, -1), expected, rtol=1e-5, atol=1e-5)

    err = reconstruction_error(model, params, x)
    chex.assert_shape(err, (BATCH,))
    chex.assert_type(err, jnp.float32)
    np.testing.assert_allclose(err, ((expected - flat) ** 2).mean(axis=1), rtol=1e-5, atol=1e-6)
    err_jit = jax.jit(lambda p_, x_: reconstruction_error(model, p_, x_))(params, x)
    np.testing.assert_allclose(err_jit, err, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("out_dim", [0, -1, 1.7, True])
def test_out_dim_must_be_a_positive_integer(out_dim):
    from fjax.config import ModelConfig

    with pytest.raises(ValueError, match="out_dim must be a positive integer"):
        build_model(ModelConfig(kind="mlp", hidden=(4,)), out_dim=out_dim)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_recurrent_models_train_in_float32_with_x64_enabled(kind):
    """Their input weights were created in float64 under jax_enable_x64, so the
    optimizer state changed dtype inside the epoch's scan and training failed."""
    from fjax.config import LossConfig, ModelConfig, OptimConfig, TrainConfig
    from fjax.optim import build_optimizer
    from fjax.train import TrainState, fit
    from fjax.train.objective import supervised_loss

    x = np.random.default_rng(0).normal(size=(32, 6, 1)).astype(np.float32)
    with jax.enable_x64(True):
        model = build_model(ModelConfig(kind=kind, hidden=(4,)), out_dim=1)
        state = TrainState.create(params=model.init(jax.random.PRNGKey(0), x[:1]),
                                  tx=build_optimizer(OptimConfig(), 10), rng=jax.random.PRNGKey(1))
        result = fit(state, supervised_loss(model.apply, LossConfig()), {"x": x, "y": x[:, -1]},
                     config=TrainConfig(epochs=1, batch_size=16), callbacks=())
    assert {leaf.dtype for leaf in jax.tree.leaves(result.state.params)} == {np.dtype("float32")}
