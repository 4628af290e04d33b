"""The hand-derived LSTM backward pass equals autodiff through the plain recurrence, and
the layer equals flax's OptimizedLSTMCell given the same weights."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fjax.models.lstm_layer import LSTMLayer, _forward, lstm_final, lstm_sequence, sigmoid

T, B, F, H = 7, 3, 2, 5


def _inputs(seed=0):
    k = jax.random.split(jax.random.PRNGKey(seed), 6)
    x = jax.random.normal(k[0], (T, B, F))
    w_ih = jax.random.normal(k[1], (F, 4 * H))
    b = 0.3 * jax.random.normal(k[2], (4 * H,))
    w_hh = 0.5 * jax.random.normal(k[3], (H, 4 * H))
    return (x, w_ih, b, w_hh), jax.random.normal(k[4], (T, B, H)), jax.random.normal(k[5], (B, H))


def textbook_lstm(x, w_ih, b, w_hh):
    """The same recurrence written with jax.nn.sigmoid, differentiated by JAX (also the
    float64 oracle of test_lstm_kernel.py)."""
    def step(carry, x_t):
        h, c = carry
        i, f, g, o = jnp.split(x_t @ w_ih + b + h @ w_hh, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h
    zero = jnp.zeros((x.shape[1], w_hh.shape[0]), x.dtype)
    return jax.lax.scan(step, (zero, zero), x)[1]


# All four inputs (the input gradient dx is computed), or the weights only (x is data:
# the backward pass skips dx).
WRT = [(0, 1, 2, 3), (1, 2, 3)]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("wrt", WRT)
def test_sequence_gradients_equal_autodiff(seed, wrt, recurrence):
    args, ct, _ = _inputs(seed)
    grad = jax.grad(lambda *a: jnp.sum(lstm_sequence(*a) * ct), wrt)
    assert ("fjax_lstm" in str(jax.make_jaxpr(grad)(*args))) == (recurrence == "kernel")
    ours = grad(*args)
    ref = jax.grad(lambda *a: jnp.sum(textbook_lstm(*a) * ct), wrt)(*args)
    assert len(ours) == len(wrt)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("wrt", WRT)
def test_final_state_gradients_equal_autodiff(wrt, recurrence):
    args, _, ct = _inputs(2)
    ours = jax.grad(lambda *a: jnp.sum(lstm_final(*a) * ct), wrt)(*args)
    ref = jax.grad(lambda *a: jnp.sum(textbook_lstm(*a)[-1] * ct), wrt)(*args)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(lstm_final(*args), textbook_lstm(*args)[-1], atol=1e-6)


def test_tanh_form_is_the_logistic_function():
    z = jnp.linspace(-30, 30, 101)
    np.testing.assert_allclose(sigmoid(z), jax.nn.sigmoid(z), rtol=1e-6, atol=1e-7)


def test_layer_equals_flax_optimized_lstm_cell():
    """Copy the layer's weights into flax's cell layout: identical hidden states."""
    x = jax.random.normal(jax.random.PRNGKey(4), (T, B, F))
    layer = LSTMLayer(H)
    params = layer.init(jax.random.PRNGKey(5), x)["params"]
    params = {**params, "b": params["b"] + 0.1}
    ours = layer.apply({"params": params}, x)
    rnn = nn.RNN(nn.OptimizedLSTMCell(H), time_major=True)
    flax_params = rnn.init(jax.random.PRNGKey(6), x)
    cell = {}
    for j, g in enumerate("ifgo"):
        cols = slice(j * H, (j + 1) * H)
        cell[f"i{g}"] = {"kernel": params["w_ih"][:, cols]}
        cell[f"h{g}"] = {"kernel": params["w_hh"][:, cols], "bias": params["b"][cols]}
    flax_params = {"params": {"cell": cell}}
    np.testing.assert_allclose(ours, rnn.apply(flax_params, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.apply({"params": params}, x, sequence=False), ours[-1],
                               rtol=1e-6, atol=1e-7)


def test_recurrent_kernel_blocks_are_orthogonal():
    params = LSTMLayer(H).init(jax.random.PRNGKey(0), jnp.zeros((T, B, F)))["params"]
    for j in range(4):
        block = np.asarray(params["w_hh"][:, j * H:(j + 1) * H], np.float64)
        np.testing.assert_allclose(block.T @ block, np.eye(H), atol=1e-5)
    hs, cs, _ = _forward(jnp.zeros((T, B, F)), params["w_ih"], params["b"], params["w_hh"])
    assert hs.shape == cs.shape == (T, B, H)
