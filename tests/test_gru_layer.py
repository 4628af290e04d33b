"""The GRU layer: its C++ CPU kernels equal the pure-JAX scan, its hand-derived backward
pass equals autodiff of the textbook recurrence (float64 too) on both paths, and the
layer equals flax's GRUCell given the same weights."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fjax.models.gru_layer import (GRULayer, gru_final, gru_sequence, kernel_backward,
                                   kernel_backward_dx, kernel_forward, scan_backward,
                                   scan_backward_dx, scan_forward)

# Odd sizes (a row tail, a hidden size that is no multiple of 16), the reference
# model's (64 rows split across threads), and a hidden size that is.
SHAPES = [(7, 3, 5), (9, 64, 50), (4, 13, 33), (3, 16, 32)]


def _inputs(shape, seed=0, inputs=3):
    """(x, w_ih, b_ih, w_hh, b_hn), hidden-state gradients dhs and one of h_T."""
    steps, batch, hidden = shape
    k = jax.random.split(jax.random.PRNGKey(seed), 7)
    x = jax.random.normal(k[0], (steps, batch, inputs))
    w_ih = 2.0 * jax.random.normal(k[1], (inputs, 3 * hidden)) / np.sqrt(inputs)
    b_ih = jax.random.normal(k[2], (3 * hidden,))
    w_hh = jax.random.normal(k[3], (hidden, 3 * hidden)) / np.sqrt(hidden)
    b_hn = jax.random.normal(k[4], (hidden,))
    return (x, w_ih, b_ih, w_hh, b_hn), jax.random.normal(k[5], (steps, batch, hidden)), \
        jax.random.normal(k[6], (batch, hidden))


def textbook_gru(x, w_ih, b_ih, w_hh, b_hn):
    """flax's GRUCell equations with jax.nn.sigmoid, differentiated by JAX."""
    hidden = w_hh.shape[0]

    def step(h, x_t):
        a_r, a_z, a_n = jnp.split(x_t @ w_ih + b_ih, 3, axis=-1)
        g_r, g_z, g_n = jnp.split(h @ w_hh, 3, axis=-1)
        r, z = jax.nn.sigmoid(a_r + g_r), jax.nn.sigmoid(a_z + g_z)
        n = jnp.tanh(a_n + r * (g_n + b_hn))
        h = (1 - z) * n + z * h
        return h, h
    return jax.lax.scan(step, jnp.zeros((x.shape[1], hidden), x.dtype), x)[1]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("inputs", [1, 50])
def test_forward_kernel_equals_scan(shape, inputs, built):
    args, _, _ = _inputs(shape, inputs=inputs)
    ours = jax.jit(kernel_forward)(*args)
    ref = jax.jit(scan_forward)(*args)
    steps, batch, hidden = shape
    chex.assert_shape(ours, [(steps, batch, hidden), (steps, batch, 4 * hidden)])
    chex.assert_type(ours, jnp.float32)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(ref[0], textbook_gru(*args), rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("inputs", [1, 50])
@pytest.mark.parametrize("with_dx", [False, True])
def test_backward_kernels_equal_scan(shape, inputs, with_dx, built):
    args, dhs, dh_last = _inputs(shape, seed=1, inputs=inputs)
    w_ih, w_hh = args[1], args[3]
    hs, saved = scan_forward(*args)
    if with_dx:
        ours = jax.jit(kernel_backward_dx)(w_hh, w_ih, hs, saved, dhs, dh_last)
        ref = jax.jit(scan_backward_dx)(w_hh, w_ih, hs, saved, dhs, dh_last)
        chex.assert_shape(ours[1], shape[:2] + (inputs,))
    else:
        ours = (jax.jit(kernel_backward)(w_hh, hs, saved, dhs, dh_last),)
        ref = (jax.jit(scan_backward)(w_hh, hs, saved, dhs, dh_last),)
    chex.assert_shape(ours[0], shape[:2] + (4 * shape[2],))
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-5)


# All five inputs (the input gradient dx is computed), or the weights only (x is data:
# the backward pass skips dx).
WRT = [(0, 1, 2, 3, 4), (1, 2, 3, 4)]


@pytest.mark.parametrize("wrt", WRT)
def test_gradients_equal_autodiff(wrt, recurrence):
    args, dhs, dh_last = _inputs((7, 3, 5), seed=2)

    def ours(*a):
        return jnp.sum(gru_sequence(*a) * dhs) + jnp.sum(gru_final(*a) * dh_last)

    def ref(*a):
        h = textbook_gru(*a)
        return jnp.sum(h * dhs) + jnp.sum(h[-1] * dh_last)
    grad = jax.grad(ours, wrt)
    assert ("fjax_gru" in str(jax.make_jaxpr(grad)(*args))) == (recurrence == "kernel")
    for a, b in zip(grad(*args), jax.grad(ref, wrt)(*args)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gru_final(*args), textbook_gru(*args)[-1], atol=1e-6)


@pytest.mark.parametrize("wrt", WRT)
def test_kernel_gradients_equal_float64_autodiff(wrt, built):
    """The whole custom_vjp on the kernel path at the reference model's sizes against
    autodiff of the textbook recurrence in float64 (an independent oracle); dx comes from
    the kernel exactly when x is differentiated."""
    args, _, ct = _inputs((9, 64, 50), seed=3)
    grad = jax.grad(lambda *a: jnp.sum(gru_final(*a) * ct), wrt)
    program = str(jax.make_jaxpr(grad)(*args))
    assert "fjax_gru_forward" in program
    assert ("fjax_gru_backward_dx" in program) == (0 in wrt)
    ours = jax.jit(grad)(*args)
    with jax.enable_x64():
        ref = jax.grad(lambda *a: jnp.sum(textbook_gru(*a)[-1] * ct), wrt)(
            *(np.asarray(a, np.float64) for a in args))
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_vmapped_kernels_equal_one_call_per_member(built):
    """vmap (as populations use it) over the forward and the backward with dx."""
    args, dhs, _ = _inputs((5, 8, 6))
    signs = jnp.array([1.0, -1.0, 0.5])
    members = [jnp.stack([s * a for s in signs]) for a in args]
    batched = jax.jit(jax.vmap(kernel_forward))(*members)

    def grads(*a):
        return jax.grad(lambda *a: jnp.sum(gru_sequence(*a) * dhs), range(5))(*a)
    batched_grads = jax.jit(jax.vmap(grads))(*members)
    assert "fjax_gru_backward_dx" in str(jax.make_jaxpr(jax.vmap(grads))(*members))
    for m in range(3):
        one = [p[m] for p in members]
        for a, b in zip(batched, scan_forward(*one)):
            np.testing.assert_allclose(a[m], b, rtol=1e-5, atol=2e-6)
        ref = jax.grad(lambda *a: jnp.sum(textbook_gru(*a) * dhs), range(5))(*one)
        for a, b in zip(batched_grads, ref):
            np.testing.assert_allclose(a[m], b, rtol=1e-4, atol=1e-5)


def test_layer_equals_flax_gru_cell():
    """Copy the layer's weights into flax's cell layout: identical hidden states."""
    steps, batch, width, hidden = 7, 3, 2, 5
    x = jax.random.normal(jax.random.PRNGKey(4), (steps, batch, width))
    layer = GRULayer(hidden)
    params = layer.init(jax.random.PRNGKey(5), x)["params"]
    params = {**params, "b_ih": params["b_ih"] + 0.1, "b_hn": params["b_hn"] - 0.2}
    ours = layer.apply({"params": params}, x)
    cell = {}
    for j, g in enumerate("rzn"):
        cols = slice(j * hidden, (j + 1) * hidden)
        cell[f"i{g}"] = {"kernel": params["w_ih"][:, cols], "bias": params["b_ih"][cols]}
        cell[f"h{g}"] = {"kernel": params["w_hh"][:, cols]}
    cell["hn"]["bias"] = params["b_hn"]
    rnn = nn.RNN(nn.GRUCell(hidden), time_major=True)
    reference = jax.tree.map(jnp.shape, rnn.init(jax.random.PRNGKey(6), x)["params"]["cell"])
    assert jax.tree.map(jnp.shape, cell) == reference     # flax's exact layout
    np.testing.assert_allclose(ours, rnn.apply({"params": {"cell": cell}}, x),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.apply({"params": params}, x, sequence=False), ours[-1],
                               rtol=1e-6, atol=1e-7)



@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_half_precision_inputs_run_the_scan_as_flax_does(dtype):
    """Not float32: the scan path, its carry in the (float32) weights' dtype, as flax's."""
    x = jax.random.normal(jax.random.PRNGKey(4), (7, 3, 2))
    layer = GRULayer(5)
    params = layer.init(jax.random.PRNGKey(5), x)
    half = layer.apply(params, x.astype(dtype))
    assert half.dtype == jnp.float32
    np.testing.assert_allclose(half, layer.apply(params, x.astype(dtype).astype(jnp.float32)),
                               rtol=1e-5, atol=1e-6)

def test_init_is_flax_gru_cells():
    """Orthogonal recurrent blocks, lecun-normal input kernel, zero biases."""
    params = GRULayer(40).init(jax.random.PRNGKey(0), jnp.zeros((3, 2, 30)))["params"]
    chex.assert_shape([params["w_ih"], params["b_ih"], params["w_hh"], params["b_hn"]],
                      [(30, 120), (120,), (40, 120), (40,)])
    for j in range(3):
        block = np.asarray(params["w_hh"][:, j * 40:(j + 1) * 40], np.float64)
        np.testing.assert_allclose(block.T @ block, np.eye(40), atol=1e-5)
    assert not np.any(params["b_ih"]) and not np.any(params["b_hn"])
    assert 0.7 < float(np.std(params["w_ih"]) * np.sqrt(30)) < 1.2   # variance 1 / fan_in
