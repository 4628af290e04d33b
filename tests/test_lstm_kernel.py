"""The C++ CPU kernels of the LSTM recurrence equal the pure-JAX scan they replace, the
layer uses them on CPUs, and a machine without a compiler falls back with a warning."""

import os
import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fjax import kernels
from test_lstm_layer import textbook_lstm

from fjax.models.lstm_layer import (kernel_backward, kernel_forward, lstm_final,
                                    scan_backward, scan_forward)

# Odd sizes (a row tail, a hidden size that is no multiple of 16) and the reference
# model's (64 rows split across threads, 4H = 200 columns in panels).
SHAPES = [(7, 3, 5), (9, 64, 50), (4, 13, 33)]


def _inputs(shape, seed=0):
    steps, batch, hidden = shape
    k = jax.random.split(jax.random.PRNGKey(seed), 4)
    xw = 2.0 * jax.random.normal(k[0], (steps, batch, 4 * hidden))
    w_hh = jax.random.normal(k[1], (hidden, 4 * hidden)) / np.sqrt(hidden)
    return xw, w_hh, jax.random.normal(k[2], (steps, batch, hidden)), \
        jax.random.normal(k[3], (batch, hidden))


def test_kernel_builds_on_this_machine():
    """CI and development machines have a C++ compiler: the fast path must be live."""
    assert kernels.lstm_kernel()


@pytest.mark.parametrize("shape", SHAPES)
def test_forward_kernel_equals_scan(shape):
    xw, w_hh, _, _ = _inputs(shape)
    ours = jax.jit(kernel_forward)(xw, w_hh)
    ref = jax.jit(scan_forward)(xw, w_hh)
    steps, batch, hidden = shape
    chex.assert_shape(ours, [(steps, batch, hidden)] * 2 + [(steps, batch, 4 * hidden)])
    chex.assert_type(ours, jnp.float32)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("shape", SHAPES)
def test_backward_kernel_equals_scan(shape):
    xw, w_hh, dhs, dh_last = _inputs(shape, seed=1)
    _, cs, gates = scan_forward(xw, w_hh)
    ours = jax.jit(kernel_backward)(w_hh, cs, gates, dhs, dh_last)
    ref = jax.jit(scan_backward)(w_hh, cs, gates, dhs, dh_last)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=2e-6)


def test_kernel_gradients_equal_float64_autodiff():
    """The whole custom_vjp on the kernel path against JAX autodiff of the textbook
    recurrence in float64 (an independent oracle)."""
    xw, w_hh, _, ct = _inputs((9, 64, 50), seed=2)
    grad = jax.grad(lambda a, b: jnp.sum(lstm_final(a, b) * ct), (0, 1))
    program = str(jax.make_jaxpr(grad)(xw, w_hh))
    assert "fjax_lstm_forward" in program and "fjax_lstm_backward" in program
    ours = jax.jit(grad)(xw, w_hh)
    with jax.enable_x64():
        ref = jax.grad(lambda a, b: jnp.sum(textbook_lstm(a, b)[-1] * ct), (0, 1))(
            np.asarray(xw, np.float64), np.asarray(w_hh, np.float64))
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_vmapped_kernel_equals_one_call_per_member():
    xw, w_hh, _, _ = _inputs((5, 8, 6))
    xws = jnp.stack([xw, -xw, 0.5 * xw])
    w_hhs = jnp.stack([w_hh, 0.5 * w_hh, -w_hh])
    batched = jax.jit(jax.vmap(kernel_forward))(xws, w_hhs)
    for m in range(3):
        for a, b in zip(batched, scan_forward(xws[m], w_hhs[m])):
            np.testing.assert_allclose(a[m], b, rtol=1e-5, atol=2e-6)


def test_build_is_cached_and_atomic(tmp_path):
    compiler = kernels.find_compiler()
    first = kernels.build(kernels.SOURCE, tmp_path, compiler)
    stamp = first.stat().st_mtime_ns
    assert kernels.build(kernels.SOURCE, tmp_path, compiler) == first
    assert first.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name]   # no temporary left


def test_compiler_errors_are_reported(tmp_path):
    broken = tmp_path / "broken.cc"
    broken.write_text("this is not C++")
    with pytest.raises(RuntimeError, match="broken.cc"):
        kernels.build(broken, tmp_path / "cache", kernels.find_compiler())


def test_no_compiler_falls_back_to_the_scan_with_a_warning(monkeypatch):
    monkeypatch.setenv("CXX", os.path.join(os.sep, "nonexistent", "c++"))
    kernels.lstm_kernel.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="pure-JAX scan"):
            assert not kernels.lstm_kernel()
        xw, w_hh, _, _ = _inputs((4, 3, 5))
        assert "fjax_lstm" not in str(jax.make_jaxpr(lstm_final)(xw, w_hh))
    finally:
        monkeypatch.undo()
        kernels.lstm_kernel.cache_clear()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert kernels.lstm_kernel()
